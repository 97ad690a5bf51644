//! Durations as attributes write them: `90s`, `2m`, `1h30m`, `500ms`, `1d`.

use std::time::Duration;

use crate::error::{SpecError, SpecErrorKind};

const UNITS: &str = "ms, s, m, h, d";

/// Parses a duration made of `<number><unit>` parts, largest unit first or not.
///
/// Units: `ms`, `s`, `m`, `h`, `d`. Zero is allowed here; callers that need a
/// positive duration check for it.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(cronlock_spec::parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(cronlock_spec::parse_duration("500ms").unwrap(), Duration::from_millis(500));
/// assert!(cronlock_spec::parse_duration("90").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, SpecError> {
    parse_parts(input).map_err(|err| err.with_input(input))
}

fn parse_parts(input: &str) -> Result<Duration, SpecError> {
    let bytes = input.as_bytes();
    if input.trim().is_empty() {
        return Err(bad(0..input.len(), "duration is empty")
            .with_hint("write a number and a unit, such as \"90s\", \"2m\" or \"1h30m\""));
    }
    let mut total = Duration::ZERO;
    let mut pos = 0;
    while pos < bytes.len() {
        let number_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        if pos == number_start {
            return Err(bad(
                pos..next_char_end(input, pos),
                format!("expected a number in duration `{input}`"),
            )
            .with_hint("write a number and a unit, such as \"90s\", \"2m\" or \"1h30m\""));
        }
        let number_text = &input[number_start..pos];
        if bytes.get(pos) == Some(&b'.') {
            return Err(bad(
                number_start..pos + 1,
                format!("duration `{input}` has a fraction"),
            )
            .with_hint("combine whole units instead, such as \"1m30s\" or \"1500ms\""));
        }
        if bytes.get(pos).is_some_and(|b| b.is_ascii_whitespace()) {
            return Err(bad(pos..pos + 1, format!("unexpected space in duration `{input}`"))
                .with_hint(format!("write the unit right after the number, with short units ({UNITS}), such as \"{number_text}m\"")));
        }
        let unit_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
            pos += 1;
        }
        let unit = &input[unit_start..pos];
        let millis_per_unit: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(
                    bad(number_start..pos, format!("duration `{input}` has no unit"))
                        .with_hint(format!("add a unit ({UNITS}), such as \"{number_text}s\"")),
                );
            }
            other => {
                return Err(bad(
                    unit_start..pos,
                    format!("unknown duration unit `{other}` in `{input}`"),
                )
                .with_hint(
                    match other.chars().next().map(|c| c.to_ascii_lowercase()) {
                        Some(first @ ('s' | 'm' | 'h' | 'd')) => {
                            format!("units are {UNITS}: write \"{number_text}{first}\"")
                        }
                        _ => format!("units are {UNITS}"),
                    },
                ));
            }
        };
        let part = number_text
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(millis_per_unit))
            .map(Duration::from_millis);
        total = match part.and_then(|part| total.checked_add(part)) {
            Some(sum) => sum,
            None => {
                return Err(bad(
                    number_start..pos,
                    format!("duration `{input}` is too large"),
                ));
            }
        };
    }
    Ok(total)
}

fn next_char_end(input: &str, pos: usize) -> usize {
    input[pos..]
        .chars()
        .next()
        .map_or(pos + 1, |ch| pos + ch.len_utf8())
}

fn bad(span: std::ops::Range<usize>, message: impl Into<String>) -> SpecError {
    SpecError::new(SpecErrorKind::BadDuration, None, span, message)
}

/// Writes a duration the way [`parse_duration`] reads it: `1h30m`, `500ms`, `0s`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(cronlock_spec::format_duration(Duration::from_secs(5400)), "1h30m");
/// ```
pub fn format_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if millis >= size {
            out.push_str(&format!("{}{unit}", millis / size));
            millis %= size;
        }
    }
    out
}
