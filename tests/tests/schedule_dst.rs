//! Every row of the DST rule table in `Schedule`'s docs, in three zones:
//! America/New_York and Europe/Berlin (one-hour shifts) and
//! Australia/Lord_Howe (a 30-minute shift).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use cronlock::Schedule;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|err| panic!("{text}: {err}"))
        .with_timezone(&Utc)
}

/// Asserts the first fire instants of `spec` in `tz` after `after` (all written
/// in local time with their offsets, so a reader sees which pass is meant).
fn assert_fires(tz: Tz, spec: &str, after: &str, expected: &[&str]) {
    let schedule = Schedule::parse(spec).expect("valid spec").with_timezone(tz);
    let actual: Vec<DateTime<Utc>> = schedule.upcoming(at(after)).take(expected.len()).collect();
    let expected: Vec<DateTime<Utc>> = expected.iter().map(|text| at(text)).collect();
    let local = |v: &[DateTime<Utc>]| {
        v.iter()
            .map(|t| t.with_timezone(&tz).to_rfc3339())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        local(&actual),
        local(&expected),
        "{spec} in {tz} after {after}"
    );
}

// New York: 2027-03-14 02:00 EST -> 03:00 EDT; 2027-11-07 02:00 EDT -> 01:00 EST.
#[test]
fn new_york_gap_fixed_time_fires_at_the_transition() {
    assert_fires(
        Tz::America__New_York,
        "0 30 2 * * *",
        "2027-03-14T00:00:00-05:00",
        &["2027-03-14T03:00:00-04:00", "2027-03-15T02:30:00-04:00"],
    );
}
#[test]
fn new_york_gap_interval_skips_missing_times() {
    assert_fires(
        Tz::America__New_York,
        "0 */30 * * * *",
        "2027-03-14T01:00:00-05:00",
        &[
            "2027-03-14T01:30:00-05:00",
            "2027-03-14T03:00:00-04:00",
            "2027-03-14T03:30:00-04:00",
        ],
    );
    assert_fires(
        Tz::America__New_York,
        "0 0 1-4 * * *",
        "2027-03-14T00:00:00-05:00",
        &[
            "2027-03-14T01:00:00-05:00",
            "2027-03-14T03:00:00-04:00",
            "2027-03-14T04:00:00-04:00",
        ],
    );
}
#[test]
fn new_york_gap_day_outside_the_gap_is_ordinary() {
    assert_fires(
        Tz::America__New_York,
        "0 0 4 * * *",
        "2027-03-14T00:00:00-05:00",
        &["2027-03-14T04:00:00-04:00"],
    );
    assert_fires(
        Tz::America__New_York,
        "0 0 1 * * *",
        "2027-03-13T12:00:00-05:00",
        &["2027-03-14T01:00:00-05:00", "2027-03-15T01:00:00-04:00"],
    );
}
#[test]
fn new_york_overlap_fixed_time_fires_once_on_the_first_pass() {
    assert_fires(
        Tz::America__New_York,
        "0 30 1 * * *",
        "2027-11-07T00:00:00-04:00",
        &["2027-11-07T01:30:00-04:00", "2027-11-08T01:30:00-05:00"],
    );
}
#[test]
fn new_york_overlap_interval_fires_on_both_passes() {
    assert_fires(
        Tz::America__New_York,
        "0 */30 * * * *",
        "2027-11-07T00:45:00-04:00",
        &[
            "2027-11-07T01:00:00-04:00",
            "2027-11-07T01:30:00-04:00",
            "2027-11-07T01:00:00-05:00",
            "2027-11-07T01:30:00-05:00",
            "2027-11-07T02:00:00-05:00",
        ],
    );
}
#[test]
fn new_york_overlap_day_outside_the_overlap_is_ordinary() {
    assert_fires(
        Tz::America__New_York,
        "0 0 3 * * *",
        "2027-11-07T00:00:00-04:00",
        &["2027-11-07T03:00:00-05:00"],
    );
}

// Berlin: 2027-03-28 02:00 CET -> 03:00 CEST; 2027-10-31 03:00 CEST -> 02:00 CET.
#[test]
fn berlin_gap_fixed_time_fires_at_the_transition() {
    assert_fires(
        Tz::Europe__Berlin,
        "0 30 2 * * *",
        "2027-03-28T00:00:00+01:00",
        &["2027-03-28T03:00:00+02:00", "2027-03-29T02:30:00+02:00"],
    );
}
#[test]
fn berlin_gap_interval_skips_missing_times() {
    assert_fires(
        Tz::Europe__Berlin,
        "0 */30 * * * *",
        "2027-03-28T01:00:00+01:00",
        &[
            "2027-03-28T01:30:00+01:00",
            "2027-03-28T03:00:00+02:00",
            "2027-03-28T03:30:00+02:00",
        ],
    );
}
#[test]
fn berlin_gap_day_outside_the_gap_is_ordinary() {
    assert_fires(
        Tz::Europe__Berlin,
        "0 0 4 * * *",
        "2027-03-28T00:00:00+01:00",
        &["2027-03-28T04:00:00+02:00"],
    );
}
#[test]
fn berlin_overlap_fixed_time_fires_once_on_the_first_pass() {
    assert_fires(
        Tz::Europe__Berlin,
        "0 30 2 * * *",
        "2027-10-31T00:00:00+02:00",
        &["2027-10-31T02:30:00+02:00", "2027-11-01T02:30:00+01:00"],
    );
}
#[test]
fn berlin_overlap_interval_fires_on_both_passes() {
    assert_fires(
        Tz::Europe__Berlin,
        "0 */30 * * * *",
        "2027-10-31T01:45:00+02:00",
        &[
            "2027-10-31T02:00:00+02:00",
            "2027-10-31T02:30:00+02:00",
            "2027-10-31T02:00:00+01:00",
            "2027-10-31T02:30:00+01:00",
            "2027-10-31T03:00:00+01:00",
        ],
    );
}
#[test]
fn berlin_overlap_day_outside_the_overlap_is_ordinary() {
    assert_fires(
        Tz::Europe__Berlin,
        "0 0 4 * * *",
        "2027-10-31T00:00:00+02:00",
        &["2027-10-31T04:00:00+01:00"],
    );
}

// Lord Howe: 2027-10-03 02:00 +10:30 -> 02:30 +11:00; 2027-04-04 02:00 +11:00 -> 01:30 +10:30.
#[test]
fn lord_howe_gap_fixed_time_fires_at_the_transition() {
    assert_fires(
        Tz::Australia__Lord_Howe,
        "0 15 2 * * *",
        "2027-10-03T00:00:00+10:30",
        &["2027-10-03T02:30:00+11:00", "2027-10-04T02:15:00+11:00"],
    );
}
#[test]
fn lord_howe_gap_interval_skips_missing_times() {
    assert_fires(
        Tz::Australia__Lord_Howe,
        "0 */15 * * * *",
        "2027-10-03T01:30:00+10:30",
        &[
            "2027-10-03T01:45:00+10:30",
            "2027-10-03T02:30:00+11:00",
            "2027-10-03T02:45:00+11:00",
        ],
    );
}
#[test]
fn lord_howe_gap_day_outside_the_gap_is_ordinary() {
    assert_fires(
        Tz::Australia__Lord_Howe,
        "0 0 3 * * *",
        "2027-10-03T00:00:00+10:30",
        &["2027-10-03T03:00:00+11:00"],
    );
}
#[test]
fn lord_howe_overlap_fixed_time_fires_once_on_the_first_pass() {
    assert_fires(
        Tz::Australia__Lord_Howe,
        "0 45 1 * * *",
        "2027-04-04T00:00:00+11:00",
        &["2027-04-04T01:45:00+11:00", "2027-04-05T01:45:00+10:30"],
    );
}
#[test]
fn lord_howe_overlap_interval_fires_on_both_passes() {
    assert_fires(
        Tz::Australia__Lord_Howe,
        "0 */15 * * * *",
        "2027-04-04T01:10:00+11:00",
        &[
            "2027-04-04T01:15:00+11:00",
            "2027-04-04T01:30:00+11:00",
            "2027-04-04T01:45:00+11:00",
            "2027-04-04T01:30:00+10:30",
            "2027-04-04T01:45:00+10:30",
            "2027-04-04T02:00:00+10:30",
        ],
    );
}
#[test]
fn lord_howe_overlap_day_outside_the_overlap_is_ordinary() {
    assert_fires(
        Tz::Australia__Lord_Howe,
        "0 0 3 * * *",
        "2027-04-04T00:00:00+11:00",
        &["2027-04-04T03:00:00+10:30"],
    );
}
