//! IANA time-zone names, with suggestions for near misses.

use chrono_tz::{TZ_VARIANTS, Tz};

use crate::error::{SpecError, SpecErrorKind};

/// Looks up an IANA time-zone name such as `Asia/Shanghai` or `UTC`.
///
/// An unknown name is an error whose hint lists the closest known names.
///
/// ```
/// assert_eq!(cronlock_spec::parse_time_zone("Europe/Berlin").unwrap().name(), "Europe/Berlin");
/// let err = cronlock_spec::parse_time_zone("Europe/Berln").unwrap_err();
/// assert_eq!(err.hint(), Some("did you mean \"Europe/Berlin\"?"));
/// ```
pub fn parse_time_zone(name: &str) -> Result<Tz, SpecError> {
    name.parse::<Tz>().map_err(|_| {
        let err = SpecError::new(
            SpecErrorKind::UnknownTimeZone,
            None,
            0..name.len(),
            format!("unknown time zone `{name}`: expected an IANA name such as \"Europe/Berlin\""),
        )
        .with_input(name);
        let close = closest_time_zones(name);
        if close.is_empty() {
            err
        } else {
            let quoted: Vec<String> = close.iter().map(|n| format!("\"{n}\"")).collect();
            err.with_hint(format!("did you mean {}?", quoted.join(" or ")))
        }
    })
}

/// Up to three known zone names closest to `name`, by edit distance on the whole
/// name or on its last part (so `Shanghai` finds `Asia/Shanghai`).
pub(crate) fn closest_time_zones(name: &str) -> Vec<&'static str> {
    let wanted = name.to_ascii_lowercase();
    let whole_name = wanted.contains('/');
    let limit = (wanted.len() / 3).max(2);
    let scored: Vec<(usize, &'static str)> = TZ_VARIANTS
        .iter()
        .map(|tz| {
            let candidate = tz.name();
            let lower = candidate.to_ascii_lowercase();
            let compared = if whole_name {
                lower.as_str()
            } else {
                lower.rsplit('/').next().unwrap_or(&lower)
            };
            (edit_distance(&wanted, compared), candidate)
        })
        .filter(|(score, _)| *score <= limit)
        .collect();
    let Some(best) = scored.iter().map(|(score, _)| *score).min() else {
        return Vec::new();
    };
    let mut closest: Vec<&'static str> = scored
        .into_iter()
        .filter(|(score, _)| *score == best)
        .map(|(_, name)| name)
        .collect();
    closest.sort_unstable();
    closest.truncate(3);
    closest
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
///
/// ```
/// assert_eq!(cronlock_spec::closest_word("timout", &["cron", "timeout"]), Some("timeout"));
/// assert_eq!(cronlock_spec::closest_word("color", &["cron", "timeout"]), None);
/// ```
pub fn closest_word<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (word.len() / 3).max(1);
    candidates
        .iter()
        .map(|candidate| (edit_distance(word, candidate), *candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min()
        .map(|(_, candidate)| candidate)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// The position of `tz` in chrono-tz's list of zones: how generated code
/// names a zone in a `const` (`cronlock`'s `zone(index)` reads it back).
///
/// ```
/// let berlin = cronlock_spec::parse_time_zone("Europe/Berlin").unwrap();
/// assert_eq!(chrono_tz::TZ_VARIANTS[cronlock_spec::zone_index(berlin)], berlin);
/// ```
pub fn zone_index(tz: Tz) -> usize {
    chrono_tz::TZ_VARIANTS
        .iter()
        .position(|zone| *zone == tz)
        .unwrap_or(0)
}
