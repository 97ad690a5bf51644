//! Parsing of cronlock's cron language, durations and time-zone names.
//!
//! This crate is internal: it is shared by the `cronlock` runtime and the
//! `#[scheduled]` macro so both accept exactly the same specs and report the
//! same errors. Use the `cronlock` crate instead.
//!
//! The language is robfig/cron v3 "with seconds": six fields
//! (`sec min hour day-of-month month day-of-week`), `* ? , - /`, robfig's
//! `N/step`, month and day names, the `@yearly`-style descriptors, `@every 30s`
//! and a `CRON_TZ=Area/City ` prefix.
//!
//! ```
//! use cronlock_spec::{parse_spec, SpecBody};
//! let spec = parse_spec("CRON_TZ=Asia/Shanghai 0 */5 * * * MON-FRI").unwrap();
//! assert_eq!(spec.tz.unwrap().name(), "Asia/Shanghai");
//! assert!(matches!(spec.body, SpecBody::Cron(_)));
//! ```

mod describe;
mod duration;
mod error;
mod fields;
mod options;
mod tz;

use std::time::Duration;

pub use chrono_tz::Tz;
pub use duration::{format_duration, parse_duration};
pub use error::{Field, SpecError, SpecErrorKind};
pub use fields::CronFields;
pub use options::{
    MAX_DURATION, MAX_HISTORY_LEN, MAX_JITTER, MAX_RETRIES, check_backoff, check_catch_up_window,
    check_history_len, check_jitter, check_lock_ttl, check_pause_after_failures, check_retries,
    check_timeout,
};
pub use tz::{closest_word, parse_time_zone, zone_index};

/// A spec that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSpec {
    /// The zone from a `CRON_TZ=` or `TZ=` prefix, if the spec has one.
    pub tz: Option<Tz>,
    /// What the spec matches.
    pub body: SpecBody,
}

/// The two shapes a spec can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecBody {
    /// Six fields (descriptors such as `@daily` expand to these).
    Cron(CronFields),
    /// `@every <duration>`: a whole number of seconds, at least one.
    Every(Duration),
}

const DESCRIPTORS: [(&str, &str); 7] = [
    ("@yearly", "0 0 0 1 1 *"),
    ("@annually", "0 0 0 1 1 *"),
    ("@monthly", "0 0 0 1 * *"),
    ("@weekly", "0 0 0 * * 0"),
    ("@daily", "0 0 0 * * *"),
    ("@midnight", "0 0 0 * * *"),
    ("@hourly", "0 0 * * * *"),
];

/// Parses and validates a spec; the error says which field is wrong and where.
///
/// ```
/// use cronlock_spec::{parse_spec, Field, SpecErrorKind};
/// let err = parse_spec("0 */0 * * * *").unwrap_err();
/// assert_eq!(err.kind(), SpecErrorKind::BadStep);
/// assert_eq!(err.field(), Some(Field::Minute));
/// assert_eq!(err.span(), 4..5);
/// ```
pub fn parse_spec(input: &str) -> Result<ParsedSpec, SpecError> {
    parse_inner(input).map_err(|err| err.with_input(input))
}

fn parse_inner(input: &str) -> Result<ParsedSpec, SpecError> {
    let start = input.len() - input.trim_start().len();
    let rest = &input[start..];
    if rest.trim().is_empty() {
        return Err(SpecError::new(
            SpecErrorKind::Empty,
            None,
            0..input.len(),
            "cron spec is empty",
        )
        .with_hint(
            "write six fields such as \"0 */5 * * * *\", or a descriptor such as \"@hourly\"",
        ));
    }

    let mut tz = None;
    let mut body_offset = start;
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(after) = rest.strip_prefix(prefix) {
            let name_len = after.find(char::is_whitespace).unwrap_or(after.len());
            let name_offset = start + prefix.len();
            if name_len == 0 {
                return Err(SpecError::new(
                    SpecErrorKind::UnknownTimeZone,
                    None,
                    start..name_offset,
                    format!("{prefix} has no time-zone name"),
                )
                .with_hint(format!(
                    "write the zone right after `=`, such as \"{prefix}Europe/Berlin 0 0 2 * * *\""
                )));
            }
            tz = Some(parse_time_zone(&after[..name_len]).map_err(|err| err.shifted(name_offset))?);
            body_offset = name_offset + name_len;
            break;
        }
    }

    let body = &input[body_offset..];
    let lead = body.len() - body.trim_start().len();
    let body_start = body_offset + lead;
    let parsed = if body.trim_start().starts_with('@') {
        parse_descriptor(body.trim_start()).map_err(|err| err.shifted(body_start))?
    } else {
        SpecBody::Cron(CronFields::parse(body).map_err(|err| err.shifted(body_offset))?)
    };
    Ok(ParsedSpec { tz, body: parsed })
}

fn parse_descriptor(text: &str) -> Result<SpecBody, SpecError> {
    let word_len = text.find(char::is_whitespace).unwrap_or(text.len());
    let word = &text[..word_len];
    let after = &text[word_len..];
    let arg_offset = word_len + (after.len() - after.trim_start().len());
    let arg = after.trim();

    if word.eq_ignore_ascii_case("@every") {
        if arg.is_empty() {
            return Err(SpecError::new(
                SpecErrorKind::BadInterval,
                None,
                0..word_len,
                "@every needs an interval",
            )
            .with_hint("write, for example, \"@every 30s\" or \"@every 1h30m\""));
        }
        let interval = parse_duration(arg).map_err(|err| err.shifted(arg_offset))?;
        let span = arg_offset..arg_offset + arg.len().max(1);
        if interval < Duration::from_secs(1) || interval.subsec_nanos() != 0 {
            return Err(SpecError::new(
                SpecErrorKind::BadInterval,
                None,
                span,
                format!(
                    "@every interval must be a whole number of seconds, at least 1s, found `{arg}`"
                ),
            )
            .with_hint(
                "ticks are whole seconds: write, for example, \"@every 1s\" or \"@every 1m30s\"",
            ));
        }
        return Ok(SpecBody::Every(interval));
    }

    let Some((_, expansion)) = DESCRIPTORS
        .iter()
        .find(|(name, _)| word.eq_ignore_ascii_case(name))
    else {
        let names: Vec<&str> = DESCRIPTORS.iter().map(|(name, _)| *name).collect();
        return Err(SpecError::new(
            SpecErrorKind::UnknownDescriptor,
            None,
            0..word_len,
            format!("unknown descriptor `{word}`"),
        )
        .with_hint(format!(
            "descriptors are {} and @every <duration>",
            names.join(" ")
        )));
    };
    if !arg.is_empty() {
        return Err(SpecError::new(
            SpecErrorKind::Syntax,
            None,
            arg_offset..arg_offset + arg.len(),
            format!("{word} takes no arguments, found `{arg}`"),
        ));
    }
    // The expansions are valid constants: parsing them cannot fail.
    CronFields::parse(expansion).map(SpecBody::Cron)
}

#[cfg(test)]
mod tests;
