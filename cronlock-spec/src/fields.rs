//! The six-field grammar: tokenizing, validating and the value sets it yields.

use std::ops::Range;

use crate::error::{Field, SpecError, SpecErrorKind};

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
pub(crate) const MONTH_LONG: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// Longest day of each month, February counted in a leap year.
const MONTH_DAYS: [u8; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/// The values each field of a valid spec matches, as bit sets.
///
/// Bit `n` of a field is set when the field matches value `n`; day-of-week uses
/// bits 0-6 with 0 for Sunday (a written 7 sets bit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CronFields {
    bits: [u64; 6],
    pub(crate) star_dom: bool,
    pub(crate) star_dow: bool,
}

impl CronFields {
    /// Parses six whitespace-separated fields; spans in errors are relative to `body`.
    pub(crate) fn parse(body: &str) -> Result<CronFields, SpecError> {
        let tokens = split_fields(body);
        if tokens.len() != 6 {
            return Err(field_count_error(body, &tokens));
        }
        let mut bits = [0u64; 6];
        let mut stars = [false; 6];
        let mut errors = Vec::new();
        for (index, (field, (text, span))) in Field::ALL.iter().zip(&tokens).enumerate() {
            match parse_field(*field, text, span.start) {
                Ok((set, star)) => {
                    bits[index] = set;
                    stars[index] = star;
                }
                Err(err) => errors.push(err),
            }
        }
        if let Some(first) = errors.into_iter().next() {
            return Err(first);
        }
        let fields = CronFields {
            bits,
            star_dom: stars[3],
            star_dow: stars[5],
        };
        fields.check_can_fire(&tokens[3].1, &tokens[4].1)?;
        Ok(fields)
    }

    /// Whether the field matches `value`.
    pub fn contains(&self, field: Field, value: u8) -> bool {
        let value = if field == Field::DayOfWeek && value == 7 {
            0
        } else {
            value
        };
        value < 64 && self.bits[field as usize] & (1u64 << value) != 0
    }

    /// The field's bit set: bit `n` is set when the field matches `n`
    /// (day-of-week in bits 0-6, Sunday = 0).
    pub fn bits(&self, field: Field) -> u64 {
        self.bits[field as usize]
    }

    /// True when a day matches if day-of-month *or* day-of-week does (both
    /// restricted, the Vixie cron rule); false when both must match (one of
    /// them is a star, so it matches every day anyway).
    pub fn days_either(&self) -> bool {
        !(self.star_dom || self.star_dow)
    }

    /// The values the field matches, ascending (day-of-week 0-6).
    pub fn values(&self, field: Field) -> impl Iterator<Item = u8> + '_ {
        let bits = self.bits[field as usize];
        (0u8..64).filter(move |v| bits & (1u64 << v) != 0)
    }

    /// True when second, minute and hour each match exactly one value.
    ///
    /// Such a job fires at one wall-clock time of day, which decides how
    /// daylight-saving transitions treat it.
    pub fn is_fixed_time(&self) -> bool {
        self.bits[..3].iter().all(|bits| bits.count_ones() == 1)
    }

    #[doc(hidden)]
    /// Whether a wall-clock time matches, with the day-of-month/day-of-week rule
    /// of Vixie cron and robfig/cron: when both are restricted either may match.
    ///
    /// `weekday` counts from Sunday = 0.
    pub fn matches(
        &self,
        second: u32,
        minute: u32,
        hour: u32,
        day: u32,
        month: u32,
        weekday: u32,
    ) -> bool {
        let has = |field: Field, value: u32| {
            u8::try_from(value).is_ok_and(|value| self.contains(field, value))
        };
        let dom = has(Field::DayOfMonth, day);
        let dow = has(Field::DayOfWeek, weekday);
        let day_ok = if self.star_dom || self.star_dow {
            dom && dow
        } else {
            dom || dow
        };
        day_ok
            && has(Field::Second, second)
            && has(Field::Minute, minute)
            && has(Field::Hour, hour)
            && has(Field::Month, month)
    }

    /// The spec written with numbers only, one explicit list per field, for the engine.
    ///
    /// Day-of-month and day-of-week keep `*` exactly when robfig/cron sees a star
    /// there, so the engine applies the same day rule.
    #[cfg(test)]
    pub(crate) fn canonical(&self) -> String {
        Field::ALL
            .iter()
            .map(|&field| {
                let star = match field {
                    Field::DayOfMonth => self.star_dom,
                    Field::DayOfWeek => self.star_dow,
                    _ => self.values(field).count() == usize::from(field.max() - field.min()) + 1,
                };
                if star {
                    "*".to_owned()
                } else {
                    let values: Vec<String> = self.values(field).map(|v| v.to_string()).collect();
                    values.join(",")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn check_can_fire(
        &self,
        dom_span: &Range<usize>,
        month_span: &Range<usize>,
    ) -> Result<(), SpecError> {
        // Both restricted: either may match, and every month has every weekday.
        // Day-of-month a star: every day of some month exists.
        if self.star_dom || !self.star_dow {
            return Ok(());
        }
        let fires = self.values(Field::Month).any(|month| {
            self.values(Field::DayOfMonth)
                .any(|day| day <= MONTH_DAYS[usize::from(month - 1)])
        });
        if fires {
            return Ok(());
        }
        let days: Vec<String> = self
            .values(Field::DayOfMonth)
            .map(|d| d.to_string())
            .collect();
        let months: Vec<&str> = self
            .values(Field::Month)
            .map(|m| MONTH_LONG[usize::from(m - 1)])
            .collect();
        let (noun, verb) = if days.len() == 1 {
            ("day-of-month", "never occurs")
        } else {
            ("days-of-month", "never occur")
        };
        let longest = self
            .values(Field::Month)
            .map(|m| MONTH_DAYS[usize::from(m - 1)])
            .max()
            .unwrap_or(31);
        Err(SpecError::new(
            SpecErrorKind::NeverFires,
            Some(Field::DayOfMonth),
            dom_span.start..month_span.end,
            format!(
                "{noun} {} {verb} in {}: this spec can never fire",
                days.join(","),
                join_or(&months)
            ),
        )
        .with_hint(format!(
            "choose a day-of-month from 1 to {longest}, or add a month that has day {}",
            days[0]
        )))
    }
}

fn join_or(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Splits on white space, keeping each token's byte range.
pub(crate) fn split_fields(text: &str) -> Vec<(&str, Range<usize>)> {
    let mut tokens = Vec::new();
    let mut start = None;
    for (index, ch) in text.char_indices() {
        match (ch.is_whitespace(), start) {
            (true, Some(begin)) => {
                tokens.push((&text[begin..index], begin..index));
                start = None;
            }
            (false, None) => start = Some(index),
            _ => {}
        }
    }
    if let Some(begin) = start {
        tokens.push((&text[begin..], begin..text.len()));
    }
    tokens
}

fn field_count_error(body: &str, tokens: &[(&str, Range<usize>)]) -> SpecError {
    let span = match (tokens.first(), tokens.last()) {
        (Some(first), Some(last)) => first.1.start..last.1.end,
        _ => 0..body.len(),
    };
    let found = tokens.len();
    let err = SpecError::new(
        SpecErrorKind::FieldCount,
        None,
        span,
        format!(
            "expected 6 fields (second minute hour day-of-month month day-of-week), found {found}"
        ),
    );
    let words: Vec<&str> = tokens.iter().map(|(text, _)| *text).collect();
    match found {
        5 => err.with_hint(format!(
            "cronlock specs start with a seconds field: did you mean \"0 {}\"?",
            words.join(" ")
        )),
        7 => err.with_hint(format!(
            "cronlock has no year field: did you mean \"{}\"?",
            words[..6].join(" ")
        )),
        _ => err,
    }
}

/// Parses one field into its bit set and whether robfig/cron would call it a star.
fn parse_field(field: Field, text: &str, offset: usize) -> Result<(u64, bool), SpecError> {
    let mut bits = 0u64;
    let mut star = false;
    let mut start = 0;
    for piece in text.split(',') {
        let span = offset + start..offset + start + piece.len();
        if piece.is_empty() {
            return Err(SpecError::new(
                SpecErrorKind::Syntax,
                Some(field),
                span.start.saturating_sub(usize::from(start > 0))..span.start + 1,
                format!("{field} has an empty list item"),
            )
            .with_hint("remove the extra comma"));
        }
        let (piece_bits, piece_star) = parse_piece(field, piece, span.start)?;
        bits |= piece_bits;
        star |= piece_star;
        start += piece.len() + 1;
    }
    Ok((bits, star))
}

/// Parses `*`, `?`, `N`, `N-M`, each optionally followed by `/step`.
fn parse_piece(field: Field, piece: &str, offset: usize) -> Result<(u64, bool), SpecError> {
    let (range_text, step_text) = match piece.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (piece, None),
    };
    let step_offset = offset + range_text.len() + 1;
    let step = match step_text {
        None => 1,
        Some(text) => parse_step(field, text, step_offset)?,
    };

    let (low, high, star) = if range_text == "*" || range_text == "?" {
        (field.min(), field.wildcard_max(), true)
    } else if range_text.is_empty() {
        return Err(SpecError::new(
            SpecErrorKind::Syntax,
            Some(field),
            offset..offset + 1,
            format!("{field} step has no range before `/`"),
        )
        .with_hint(format!(
            "write `*/{}` for every step from the start",
            step_text.unwrap_or("N")
        )));
    } else {
        match range_text.split_once('-') {
            Some((low_text, high_text)) if low_text.is_empty() || high_text.is_empty() => {
                let missing = if low_text.is_empty() { "start" } else { "end" };
                return Err(SpecError::new(
                    SpecErrorKind::Syntax,
                    Some(field),
                    offset..offset + range_text.len(),
                    format!("{field} range `{range_text}` is missing its {missing}"),
                )
                .with_hint("a range is written START-END, such as 1-5"));
            }
            Some((low_text, high_text)) => {
                let low = parse_value(field, low_text, offset)?;
                let high_offset = offset + low_text.len() + 1;
                let high = parse_value(field, high_text, high_offset)?;
                // `FRI-SUN` ends on Sunday written as 0: read it as 7.
                let high = if field == Field::DayOfWeek && high == 0 && low > 0 {
                    7
                } else {
                    high
                };
                if low > high {
                    return Err(reversed_range(
                        field,
                        low,
                        high,
                        offset..offset + range_text.len(),
                    ));
                }
                (low, high, false)
            }
            // robfig/cron: `N/step` runs from N to the end of the field.
            None if step_text.is_some() => {
                // `7/2` in day-of-week starts on Sunday, which the walk to
                // Saturday (6) must reach as 0.
                let start = match parse_value(field, range_text, offset)? {
                    7 if field == Field::DayOfWeek => 0,
                    start => start,
                };
                (start, field.wildcard_max(), false)
            }
            None => {
                let value = parse_value(field, range_text, offset)?;
                (value, value, false)
            }
        }
    };

    let mut bits = 0u64;
    let mut value = low;
    while value <= high {
        let bit = if field == Field::DayOfWeek && value == 7 {
            0
        } else {
            value
        };
        bits |= 1u64 << bit;
        value = match value.checked_add(step) {
            Some(next) => next,
            None => break,
        };
    }
    if bits == 0 {
        return Err(SpecError::new(
            SpecErrorKind::Syntax,
            Some(field),
            offset..offset + piece.len(),
            format!("{field} `{piece}` matches no value ({})", field.allowed()),
        ));
    }
    // robfig/cron keeps the star only for `*` and `*/1`.
    Ok((bits, star && step == 1))
}

fn reversed_range(field: Field, low: u8, high: u8, span: Range<usize>) -> SpecError {
    let (min, max) = (field.min(), field.wildcard_max());
    SpecError::new(
        SpecErrorKind::ReversedRange,
        Some(field),
        span,
        format!("{field} range {low}-{high} is reversed: the start must not be above the end"),
    )
    .with_hint(format!(
        "a range cannot wrap around; list both parts: {low}-{max},{min}-{high}"
    ))
}

fn parse_step(field: Field, text: &str, offset: usize) -> Result<u8, SpecError> {
    // An empty step points at its `/`.
    let span = if text.is_empty() {
        offset - 1..offset
    } else {
        offset..offset + text.len()
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SpecError::new(
            SpecErrorKind::BadStep,
            Some(field),
            span,
            format!("{field} step must be a whole number, found `{text}`"),
        ));
    }
    // robfig/cron users write a step of the field's whole size (`*/60`
    // seconds, `*/24` hours) for "once per minute/day": it is accepted and
    // means the field's first value. Anything larger is a mistake.
    let largest = field.wildcard_max() - field.min() + 1;
    let step: Option<u8> = text.parse().ok();
    match step {
        Some(0) => Err(SpecError::new(
            SpecErrorKind::BadStep,
            Some(field),
            span,
            format!("{field} step must be at least 1, found 0"),
        )
        .with_hint(format!("`*/1` or `*` matches every {field}"))),
        Some(step) if step <= largest => Ok(step),
        _ => Err(SpecError::new(
            SpecErrorKind::BadStep,
            Some(field),
            span,
            format!(
                "{field} step {text} is too large: the {field} field ({}) allows steps from 1 to {largest}",
                field.allowed()
            ),
        )
        .with_hint(step_hint(field))),
    }
}

fn step_hint(field: Field) -> String {
    match field {
        Field::Second => {
            "to fire once a minute, put 0 in the second field and * in the minute field".into()
        }
        Field::Minute => {
            "to fire once an hour, put 0 in the minute field and * in the hour field".into()
        }
        Field::Hour => {
            "to fire once a day, put 0 in the hour field and * in the day-of-month field".into()
        }
        _ => format!(
            "a step larger than the {field} range matches only its first value; write that value"
        ),
    }
}

/// Parses one number or name and checks it against the field's range.
fn parse_value(field: Field, text: &str, offset: usize) -> Result<u8, SpecError> {
    let span = offset..offset + text.len().max(1);
    if text.is_empty() {
        return Err(SpecError::new(
            SpecErrorKind::Syntax,
            Some(field),
            span,
            format!("{field} has a range with a missing value"),
        ));
    }
    if is_other_dialect(text) {
        return Err(SpecError::new(
            SpecErrorKind::Unsupported,
            Some(field),
            span,
            format!("`{text}` is not supported in {field}: cronlock speaks robfig/cron, which has no L, W or #"),
        )
        .with_hint("list the days explicitly, such as 28-31 or MON-FRI"));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u16>() {
            Ok(value) if (u16::from(field.min())..=u16::from(field.max())).contains(&value) => {
                Ok(value as u8)
            }
            _ => Err(SpecError::new(
                SpecErrorKind::OutOfRange,
                Some(field),
                span,
                format!("{field} {text} is out of range ({})", field.allowed()),
            )
            .with_hint_opt(range_hint(field, text))),
        };
    }
    if text.bytes().all(|b| b.is_ascii_alphabetic()) {
        return parse_name(field, text, span);
    }
    Err(SpecError::new(
        SpecErrorKind::Syntax,
        Some(field),
        span,
        format!(
            "{field} value `{text}` is not a number ({})",
            field.allowed()
        ),
    ))
}

/// Quartz and Vixie extensions: `L`, `LW`, `15W`, `5L`, `5#3`.
fn is_other_dialect(text: &str) -> bool {
    let upper = text.to_ascii_uppercase();
    let digits_then = |suffix: &str| {
        upper
            .strip_suffix(suffix)
            .is_some_and(|head| head.bytes().all(|b| b.is_ascii_digit()))
    };
    upper.contains('#') || digits_then("L") || digits_then("W") || upper == "LW"
}

fn range_hint(field: Field, text: &str) -> Option<String> {
    match (field, text) {
        (Field::Hour, "24") => Some("midnight is hour 0".into()),
        (Field::Second | Field::Minute, "60") => Some(format!("the {field} after 59 is 0")),
        (Field::DayOfMonth | Field::Month, "0") => Some(format!("{field} counts from 1")),
        _ => None,
    }
}

fn parse_name(field: Field, text: &str, span: Range<usize>) -> Result<u8, SpecError> {
    let upper = text.to_ascii_uppercase();
    let month = MONTH_NAMES.iter().position(|n| *n == upper);
    let day = DAY_NAMES.iter().position(|n| *n == upper);
    match (field, month, day) {
        (Field::Month, Some(index), _) => return Ok(index as u8 + 1),
        (Field::DayOfWeek, _, Some(index)) => return Ok(index as u8),
        _ => {}
    }
    let (kind, names): (&str, &[&str]) = match field {
        Field::Month => ("month", &MONTH_NAMES),
        Field::DayOfWeek => ("day", &DAY_NAMES),
        _ => {
            return Err(SpecError::new(
                SpecErrorKind::Syntax,
                Some(field),
                span,
                format!(
                    "{field} must be a number ({}), found `{text}`",
                    field.allowed()
                ),
            )
            .with_hint_opt(match (month, day) {
                (Some(_), _) => Some(format!(
                    "`{text}` is a month name: months are the fifth field"
                )),
                (_, Some(_)) => Some(format!(
                    "`{text}` is a day name: days of the week are the sixth field"
                )),
                _ => None,
            }));
        }
    };
    let prefix = upper.get(..3).unwrap_or(&upper);
    let hint = if let Some(name) = names.iter().find(|n| **n == prefix) {
        Some(format!("names are three letters: write {name}"))
    } else if field == Field::Month && day.is_some() {
        Some(format!(
            "`{text}` is a day name; months are {}",
            names.join(" ")
        ))
    } else if field == Field::DayOfWeek && month.is_some() {
        Some(format!(
            "`{text}` is a month name; days are {}",
            names.join(" ")
        ))
    } else {
        Some(format!("{kind} names are {}", names.join(" ")))
    };
    Err(SpecError::new(
        SpecErrorKind::UnknownName,
        Some(field),
        span,
        format!(
            "unknown {kind} name `{text}` in {field} ({})",
            field.allowed()
        ),
    )
    .with_hint_opt(hint))
}

impl SpecError {
    fn with_hint_opt(self, hint: Option<String>) -> Self {
        match hint {
            Some(hint) => self.with_hint(hint),
            None => self,
        }
    }
}
