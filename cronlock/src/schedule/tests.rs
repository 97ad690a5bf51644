use chrono::{DateTime, Duration, LocalResult, TimeZone, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

use super::Schedule;

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

#[test]
fn every_counts_from_the_epoch() {
    let schedule = Schedule::parse("@every 7s").unwrap();
    let next = schedule.next_after(utc("2027-01-01T00:00:00Z")).unwrap();
    assert_eq!(next.timestamp() % 7, 0);
    assert!(next > utc("2027-01-01T00:00:00Z"));
    assert!(next <= utc("2027-01-01T00:00:07Z"));
}

#[test]
fn sub_second_instants_round_up_to_the_next_tick() {
    let schedule = Schedule::parse("* * * * * *").unwrap();
    let after = utc("2027-01-01T00:00:00.5Z");
    assert_eq!(
        schedule.next_after(after),
        Some(utc("2027-01-01T00:00:01Z"))
    );
}

#[test]
fn leap_day_spec_skips_to_the_next_leap_year() {
    let schedule = Schedule::parse("0 0 0 29 2 *").unwrap();
    let ticks: Vec<_> = schedule
        .upcoming(utc("2027-01-01T00:00:00Z"))
        .take(2)
        .collect();
    assert_eq!(
        ticks,
        vec![utc("2028-02-29T00:00:00Z"), utc("2032-02-29T00:00:00Z")]
    );
}

#[test]
fn prefix_zone_wins_over_the_default_and_explicit_zone() {
    let schedule = Schedule::parse("CRON_TZ=Asia/Tokyo 0 0 9 * * *")
        .unwrap()
        .with_timezone(Tz::Europe__Berlin)
        .with_default_timezone(Tz::America__New_York);
    assert_eq!(schedule.timezone(), Tz::Asia__Tokyo);
    let schedule = Schedule::parse("0 0 9 * * *")
        .unwrap()
        .with_default_timezone(Tz::America__New_York);
    assert_eq!(schedule.timezone(), Tz::America__New_York);
    assert_eq!(Schedule::parse("0 0 9 * * *").unwrap().timezone(), Tz::UTC);
}

fn field(values: std::ops::RangeInclusive<u8>) -> impl Strategy<Value = String> {
    let (lo, hi) = (*values.start(), *values.end());
    prop_oneof![
        Just("*".to_owned()),
        (1..=hi - lo).prop_map(|step| format!("*/{step}")),
        (lo..=hi).prop_map(|v| v.to_string()),
        (lo..=hi, lo..=hi).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        (lo..=hi, lo..=hi).prop_map(|(a, b)| format!("{a},{b}")),
        (lo..=hi, 1..=hi - lo).prop_map(|(a, step)| format!("{a}/{step}")),
    ]
}

/// Specs that fire often enough for a brute-force check of a few hours.
fn frequent_spec() -> impl Strategy<Value = String> {
    (
        field(0..=59),
        field(0..=59),
        prop_oneof![Just("*".to_owned()), field(0..=23)],
        field(1..=31),
        field(1..=12),
        field(0..=7),
    )
        .prop_map(|(s, m, h, dom, mon, dow)| format!("{s} {m} {h} {dom} {mon} {dow}"))
}

fn zone() -> impl Strategy<Value = Tz> {
    prop_oneof![
        Just(Tz::UTC),
        Just(Tz::America__New_York),
        Just(Tz::Europe__Berlin),
        Just(Tz::Australia__Lord_Howe),
        Just(Tz::Asia__Kolkata),
    ]
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 2000-01-01 .. 2060-01-01, with sub-second parts.
    (946_684_800i64..2_840_140_800, 0u32..1_000_000_000)
        .prop_map(|(secs, nanos)| Utc.timestamp_opt(secs, nanos).unwrap())
}

/// True when `instant` is the first instant after a spring-forward gap.
fn ends_a_gap(tz: Tz, instant: DateTime<Utc>) -> bool {
    use chrono::Offset;
    let before = (instant - Duration::seconds(1))
        .with_timezone(&tz)
        .offset()
        .fix();
    before != instant.with_timezone(&tz).offset().fix()
}

/// True when `instant` is the second pass of a repeated (fall-back) local time.
fn is_second_pass(tz: Tz, instant: DateTime<Utc>) -> bool {
    let local = instant.with_timezone(&tz).naive_local();
    matches!(tz.from_local_datetime(&local), LocalResult::Ambiguous(first, _) if first.with_timezone(&Utc) != instant)
}

/// The instants in `year` at which `tz` changes its UTC offset.
fn transitions(tz: Tz, year: i32) -> Vec<DateTime<Utc>> {
    use chrono::Offset;
    let offset = |t: i64| {
        Utc.timestamp_opt(t, 0)
            .unwrap()
            .with_timezone(&tz)
            .offset()
            .fix()
    };
    let start = Utc
        .with_ymd_and_hms(year, 1, 1, 0, 0, 0)
        .unwrap()
        .timestamp();
    let mut found = Vec::new();
    for day in 0..366 {
        let (mut low, mut high) = (start + day * 86_400, start + (day + 1) * 86_400);
        if offset(low) == offset(high) {
            continue;
        }
        while high - low > 1 {
            let middle = (low + high) / 2;
            if offset(middle) == offset(high) {
                high = middle;
            } else {
                low = middle;
            }
        }
        found.push(Utc.timestamp_opt(high, 0).unwrap());
    }
    found
}

/// Instants within three hours of a DST transition, where the rules of the
/// table on [`Schedule`] apply.
fn near_a_transition() -> impl Strategy<Value = (Tz, DateTime<Utc>)> {
    (
        prop_oneof![
            Just(Tz::America__New_York),
            Just(Tz::Europe__Berlin),
            Just(Tz::Australia__Lord_Howe),
        ],
        2000i32..2060,
        0usize..2,
        -3 * 3600i64..3 * 3600,
        0u32..1_000_000_000,
    )
        .prop_map(|(tz, year, which, offset, nanos)| {
            let transition = transitions(tz, year)[which];
            let secs = transition.timestamp() + offset;
            (tz, Utc.timestamp_opt(secs, nanos).unwrap())
        })
}

/// Specs that fire around the hours zones change at, fixed-time and not.
fn dst_spec() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("0"), Just("*/20")],
        prop_oneof![
            Just("0"),
            Just("15"),
            Just("30"),
            Just("45"),
            Just("*/15"),
            Just("10-50/20")
        ],
        prop_oneof![
            // 2 is inside the gap and the overlap of all three zones.
            3 => Just("2".to_owned()),
            1 => (0u8..=4).prop_map(|h| h.to_string()),
            1 => Just("*".to_owned()),
            1 => Just("1-3".to_owned()),
            1 => Just("*/2".to_owned()),
            1 => Just("0,5,12".to_owned()),
        ],
    )
        .prop_map(|(s, m, h)| format!("{s} {m} {h} * * *"))
}

/// `next_after` returns a later instant that fires under the DST rules and
/// skips no fire time of the three hours after `after`.
fn check_next_after(spec: &str, tz: Tz, after: DateTime<Utc>) -> Result<(), TestCaseError> {
    let Ok(schedule) = Schedule::parse(spec) else {
        return Ok(());
    };
    let schedule = schedule.with_timezone(tz);
    let Some(next) = schedule.next_after(after) else {
        return Ok(());
    };
    let fixed = schedule.is_fixed_time();
    prop_assert!(next > after, "{spec} in {tz}: {next} is not after {after}");
    prop_assert!(
        schedule.matches_wall_clock(next) || (fixed && ends_a_gap(tz, next)),
        "{spec} in {tz}: {next} does not match"
    );
    prop_assert!(
        !(fixed && is_second_pass(tz, next)),
        "{spec} in {tz}: {next} repeats a fixed time on the second pass"
    );
    // Every whole second strictly between `after` and `next` (the first three
    // hours of it) must not be a fire time the engine skipped.
    let first = after.timestamp() + 1;
    let last = next.timestamp().min(first + 3 * 3600);
    for secs in first..last {
        let t = Utc.timestamp_opt(secs, 0).unwrap();
        let skipped_on_purpose = fixed && is_second_pass(tz, t);
        prop_assert!(
            skipped_on_purpose || !schedule.matches_wall_clock(t),
            "{spec} in {tz}: {t} matches but next_after({after}) = {next}"
        );
        // A fixed time skipped by a gap fires when the gap ends.
        if fixed && ends_a_gap(tz, t) {
            let local_before = (t - Duration::seconds(1)).with_timezone(&tz).naive_local();
            let local_at = t.with_timezone(&tz).naive_local();
            let mut skipped = local_before + Duration::seconds(1);
            while skipped < local_at {
                let fires = Schedule::parse(spec).unwrap().with_timezone(tz);
                prop_assert!(
                    !fires.matches_local(skipped),
                    "{spec} in {tz}: the gap at {t} skips a fire time but next_after({after}) = {next}"
                );
                skipped += Duration::seconds(1);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn next_is_later_matches_and_skips_nothing(spec in frequent_spec(), tz in zone(), after in instant()) {
        check_next_after(&spec, tz, after)?;
    }

    #[test]
    fn next_follows_the_dst_rules_near_transitions(spec in frequent_spec(), (tz, after) in near_a_transition()) {
        check_next_after(&spec, tz, after)?;
    }


    #[test]
    fn every_ticks_are_multiples_of_the_interval(secs in 1u64..100_000, after in instant()) {
        let schedule = Schedule::parse(&format!("@every {secs}s")).unwrap();
        let next = schedule.next_after(after).unwrap();
        prop_assert!(next > after);
        prop_assert!(next - after <= Duration::seconds(secs as i64));
        prop_assert!(schedule.matches_wall_clock(next));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn hourly_and_fixed_specs_follow_the_dst_rules(spec in dst_spec(), (tz, after) in near_a_transition()) {
        check_next_after(&spec, tz, after)?;
    }
}
