use super::*;
use crate::tz::closest_time_zones;
use proptest::prelude::*;

fn fields(spec: &str) -> CronFields {
    match parse_spec(spec)
        .unwrap_or_else(|err| panic!("{spec}: {}", err.report()))
        .body
    {
        SpecBody::Cron(fields) => fields,
        SpecBody::Every(_) => panic!("{spec} is not a six-field spec"),
    }
}

fn values(spec: &str, field: Field) -> Vec<u8> {
    fields(spec).values(field).collect()
}

fn error(spec: &str) -> SpecError {
    match parse_spec(spec) {
        Ok(parsed) => panic!("{spec} parsed as {parsed:?}"),
        Err(err) => err,
    }
}

/// The text the error's span covers.
fn marked(spec: &str) -> String {
    let err = error(spec);
    spec[err.span()].to_owned()
}

#[test]
fn star_and_question_mark_match_the_whole_field() {
    assert_eq!(
        values("* * * * * *", Field::Second),
        (0..=59).collect::<Vec<_>>()
    );
    assert_eq!(
        values("0 0 * ? * *", Field::DayOfMonth),
        (1..=31).collect::<Vec<_>>()
    );
    assert_eq!(
        values("0 0 * * * ?", Field::DayOfWeek),
        (0..=6).collect::<Vec<_>>()
    );
    assert_eq!(
        values("0 0 * * * *", Field::Hour),
        (0..=23).collect::<Vec<_>>()
    );
    assert_eq!(
        values("0 0 * * * *", Field::Month),
        (1..=12).collect::<Vec<_>>()
    );
}

#[test]
fn lists_ranges_and_steps() {
    assert_eq!(values("1,2,5 * * * * *", Field::Second), vec![1, 2, 5]);
    assert_eq!(
        values("0 10-14 * * * *", Field::Minute),
        vec![10, 11, 12, 13, 14]
    );
    assert_eq!(values("0 0 */6 * * *", Field::Hour), vec![0, 6, 12, 18]);
    assert_eq!(values("0 0 1-10/3 * * *", Field::Hour), vec![1, 4, 7, 10]);
    assert_eq!(
        values("0 0 0 */10 * *", Field::DayOfMonth),
        vec![1, 11, 21, 31]
    );
    assert_eq!(values("0 0 0 1 */4 *", Field::Month), vec![1, 5, 9]);
    assert_eq!(
        values("0 0 0 * * 1-5", Field::DayOfWeek),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(values("0 0,30 8-9,17 * * *", Field::Hour), vec![8, 9, 17]);
}

#[test]
fn robfig_single_value_step_runs_to_the_end_of_the_field() {
    assert_eq!(values("5/15 * * * * *", Field::Second), vec![5, 20, 35, 50]);
    assert_eq!(values("0 0 3/8 * * *", Field::Hour), vec![3, 11, 19]);
    assert_eq!(values("0 0 0 * * 1/2", Field::DayOfWeek), vec![1, 3, 5]);
    // Found by the fuzzer: 7 is Sunday, so `7/2` starts there.
    assert_eq!(values("0 0 0 * * 7/2", Field::DayOfWeek), vec![0, 2, 4, 6]);
    assert_eq!(
        values("0 0 0 * * 7/1", Field::DayOfWeek),
        (0..=6).collect::<Vec<_>>()
    );
}

#[test]
fn names_are_case_insensitive_and_sunday_is_zero_and_seven() {
    assert_eq!(
        values("0 0 0 * JAN,mar,Dec *", Field::Month),
        vec![1, 3, 12]
    );
    assert_eq!(values("0 0 0 * jun-AUG *", Field::Month), vec![6, 7, 8]);
    assert_eq!(
        values("0 0 0 * * MON-fri", Field::DayOfWeek),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(values("0 0 0 * * 7", Field::DayOfWeek), vec![0]);
    assert_eq!(values("0 0 0 * * SUN", Field::DayOfWeek), vec![0]);
    assert_eq!(values("0 0 0 * * 5-7", Field::DayOfWeek), vec![0, 5, 6]);
    assert_eq!(values("0 0 0 * * FRI-SUN", Field::DayOfWeek), vec![0, 5, 6]);
    assert_eq!(
        values("0 0 0 * * 0-7", Field::DayOfWeek),
        (0..=6).collect::<Vec<_>>()
    );
}

#[test]
fn descriptors_expand_like_robfig() {
    for (descriptor, expansion) in DESCRIPTORS {
        assert_eq!(fields(descriptor), fields(expansion), "{descriptor}");
    }
    assert_eq!(fields("@DAILY"), fields("0 0 0 * * *"));
    assert_eq!(
        parse_spec("@every 30s").unwrap().body,
        SpecBody::Every(Duration::from_secs(30))
    );
    assert_eq!(
        parse_spec("@every 1h30m").unwrap().body,
        SpecBody::Every(Duration::from_secs(5400))
    );
}

#[test]
fn time_zone_prefix() {
    let parsed = parse_spec("CRON_TZ=Asia/Shanghai 0 0 2 * * *").unwrap();
    assert_eq!(parsed.tz, Some(chrono_tz::Asia::Shanghai));
    let parsed = parse_spec("TZ=Europe/Berlin @daily").unwrap();
    assert_eq!(parsed.tz, Some(chrono_tz::Europe::Berlin));
    assert_eq!(parse_spec("0 0 2 * * *").unwrap().tz, None);
}

#[test]
fn unknown_time_zone_marks_the_name_and_suggests() {
    let spec = "CRON_TZ=Asia/Shangai 0 0 2 * * *";
    let err = error(spec);
    assert_eq!(err.kind(), SpecErrorKind::UnknownTimeZone);
    assert_eq!(&spec[err.span()], "Asia/Shangai");
    assert_eq!(err.hint(), Some("did you mean \"Asia/Shanghai\"?"));
    assert_eq!(closest_time_zones("Shanghai"), vec!["Asia/Shanghai"]);
    let err = error("CRON_TZ= 0 0 2 * * *");
    assert_eq!(
        (err.kind(), err.span()),
        (SpecErrorKind::UnknownTimeZone, 0..8)
    );
}

#[test]
fn dom_dow_rule_is_or_when_both_are_restricted() {
    // 2027-01-01 is a Friday (weekday 5).
    let both = fields("0 0 0 13 * 5");
    assert!(both.matches(0, 0, 0, 13, 1, 3), "the 13th, not a Friday");
    assert!(both.matches(0, 0, 0, 1, 1, 5), "a Friday, not the 13th");
    assert!(!both.matches(0, 0, 0, 2, 1, 6));
    let dom_only = fields("0 0 0 13 * *");
    assert!(dom_only.matches(0, 0, 0, 13, 1, 3));
    assert!(!dom_only.matches(0, 0, 0, 1, 1, 5));
    let dow_only = fields("0 0 0 * * 5");
    assert!(dow_only.matches(0, 0, 0, 1, 1, 5));
    assert!(!dow_only.matches(0, 0, 0, 13, 1, 3));
    // robfig: `*/1` is still a star, `*/2` is not.
    assert!(!fields("0 0 0 */1 * 5").matches(0, 0, 0, 13, 1, 3));
    assert!(fields("0 0 0 */2 * 5").matches(0, 0, 0, 13, 1, 3));
}

#[test]
fn fixed_time_means_one_value_in_second_minute_and_hour() {
    assert!(fields("0 30 2 * * *").is_fixed_time());
    assert!(fields("@daily").is_fixed_time());
    assert!(fields("0 0 2 1-5 * MON").is_fixed_time());
    assert!(!fields("0 */30 2 * * *").is_fixed_time());
    assert!(!fields("0 0 * * * *").is_fixed_time());
    assert!(!fields("0,30 0 2 * * *").is_fixed_time());
}

#[test]
fn canonical_form_is_numeric_and_keeps_robfig_stars() {
    assert_eq!(
        fields("0 */20 * * JAN MON-WED").canonical(),
        "0 0,20,40 * * 1 1,2,3"
    );
    assert_eq!(
        fields("5/15 0 0 */1 * ?").canonical(),
        "5,20,35,50 0 0 * * *"
    );
    assert_eq!(
        fields("0 0 0 1-31 * 7").canonical(),
        format!(
            "0 0 0 {} * 0",
            (1..=31)
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )
    );
}

#[test]
fn field_count_errors_hint_at_the_six_field_form() {
    let err = error("*/5 * * * *");
    assert_eq!(err.kind(), SpecErrorKind::FieldCount);
    assert_eq!(
        err.message(),
        "expected 6 fields (second minute hour day-of-month month day-of-week), found 5"
    );
    assert_eq!(
        err.hint(),
        Some("cronlock specs start with a seconds field: did you mean \"0 */5 * * * *\"?")
    );
    let err = error("0 0 12 * * ? 2027");
    assert_eq!(
        err.hint(),
        Some("cronlock has no year field: did you mean \"0 0 12 * * ?\"?")
    );
    assert_eq!(error("0 0").kind(), SpecErrorKind::FieldCount);
    assert_eq!(error("   ").kind(), SpecErrorKind::Empty);
    assert_eq!(error("").kind(), SpecErrorKind::Empty);
}

#[test]
fn out_of_range_names_the_field_range_and_position() {
    for (spec, field, bad) in [
        ("60 * * * * *", Field::Second, "60"),
        ("0 61 * * * *", Field::Minute, "61"),
        ("0 0 24 * * *", Field::Hour, "24"),
        ("0 0 0 32 * *", Field::DayOfMonth, "32"),
        ("0 0 0 0 * *", Field::DayOfMonth, "0"),
        ("0 0 0 * 13 *", Field::Month, "13"),
        ("0 0 0 * * 8", Field::DayOfWeek, "8"),
        ("0 0 1-25 * * *", Field::Hour, "25"),
        ("0 0 0 * * 99999999999", Field::DayOfWeek, "99999999999"),
    ] {
        let err = error(spec);
        assert_eq!(err.kind(), SpecErrorKind::OutOfRange, "{spec}");
        assert_eq!(err.field(), Some(field), "{spec}");
        assert_eq!(&spec[err.span()], bad, "{spec}");
        assert!(err.message().contains(field.allowed()), "{}", err.message());
    }
    assert_eq!(error("0 0 24 * * *").hint(), Some("midnight is hour 0"));
}

#[test]
fn step_errors() {
    let err = error("*/0 * * * * *");
    assert_eq!(
        (err.kind(), err.field()),
        (SpecErrorKind::BadStep, Some(Field::Second))
    );
    assert_eq!(err.message(), "second step must be at least 1, found 0");
    assert_eq!(marked("0 */61 * * * *"), "61");
    assert_eq!(marked("*/61 * * * * *"), "61");
    assert_eq!(error("0 0 */25 * * *").kind(), SpecErrorKind::BadStep);
    assert_eq!(marked("0 0 0 */32 * *"), "32");
    assert_eq!(marked("0 0 0 * */13 *"), "13");
    assert_eq!(marked("0 0 0 * * */8"), "8");
    assert_eq!(marked("0 0 0 * * */x"), "x");
    assert_eq!(marked("0 0 0 * * */"), "/");
    assert!(parse_spec("*/59 * * * * *").is_ok());
}

/// robfig/cron accepts a step of the field's whole size; users write it
/// for "once per minute/hour/day…": it means the field's first value.
#[test]
fn a_step_of_the_whole_field_is_its_first_value() {
    let at = |spec: &str| parse_spec(spec).unwrap_or_else(|err| panic!("{spec}: {err}"));
    assert_eq!(at("*/60 * * * * *").body, at("0 * * * * *").body);
    assert_eq!(at("0 */60 * * * *").body, at("0 0 * * * *").body);
    assert_eq!(at("0 0 */24 * * *").body, at("0 0 0 * * *").body);
    assert_eq!(at("0 0 0 */31 * *").body, at("0 0 0 1 * *").body);
    assert_eq!(at("0 0 0 1 */12 *").body, at("0 0 0 1 1 *").body);
    assert_eq!(at("0 0 0 * * */7").body, at("0 0 0 * * 0").body);
}

#[test]
fn reversed_and_malformed_ranges() {
    let err = error("0 0 22-2 * * *");
    assert_eq!(err.kind(), SpecErrorKind::ReversedRange);
    assert_eq!(&"0 0 22-2 * * *"[err.span()], "22-2");
    assert_eq!(
        err.hint(),
        Some("a range cannot wrap around; list both parts: 22-23,0-2")
    );
    assert_eq!(error("0 0 0 * * 5-2").kind(), SpecErrorKind::ReversedRange);
    assert_eq!(error("0 0 1- * * *").kind(), SpecErrorKind::Syntax);
    assert_eq!(error("0 0 -1 * * *").kind(), SpecErrorKind::Syntax);
    assert_eq!(error("0 0 1-2-3 * * *").kind(), SpecErrorKind::Syntax);
    assert_eq!(error("0 0 1,,2 * * *").kind(), SpecErrorKind::Syntax);
    assert_eq!(error("0 0 /5 * * *").kind(), SpecErrorKind::Syntax);
}

#[test]
fn names_in_the_wrong_place_or_misspelled() {
    let err = error("0 0 0 * JANUARY *");
    assert_eq!(err.kind(), SpecErrorKind::UnknownName);
    assert_eq!(err.hint(), Some("names are three letters: write JAN"));
    let err = error("0 0 0 * MON *");
    assert_eq!(
        err.hint(),
        Some("`MON` is a day name; months are JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC")
    );
    let err = error("0 0 0 * * FOO");
    assert_eq!(
        err.message(),
        "unknown day name `FOO` in day-of-week (0-7 or SUN-SAT, 0 and 7 are Sunday)"
    );
    let err = error("0 0 MON * * *");
    assert_eq!(
        (err.kind(), err.field()),
        (SpecErrorKind::Syntax, Some(Field::Hour))
    );
}

#[test]
fn other_dialects_are_rejected_with_a_reason() {
    for spec in [
        "0 0 0 L * *",
        "0 0 0 15W * *",
        "0 0 0 * * 5#3",
        "0 0 0 * * 5L",
    ] {
        assert_eq!(error(spec).kind(), SpecErrorKind::Unsupported, "{spec}");
    }
}

#[test]
fn specs_that_can_never_fire() {
    let err = error("0 0 0 30 2 *");
    assert_eq!(err.kind(), SpecErrorKind::NeverFires);
    assert_eq!(
        err.message(),
        "day-of-month 30 never occurs in February: this spec can never fire"
    );
    assert_eq!(&"0 0 0 30 2 *"[err.span()], "30 2");
    assert_eq!(
        error("0 0 0 31 4,6,9,11 *").message(),
        "day-of-month 31 never occurs in April, June, September or November: this spec can never fire"
    );
    // Leap days do occur, and a weekday makes either day enough.
    assert!(parse_spec("0 0 0 29 2 *").is_ok());
    assert!(parse_spec("0 0 0 30 2 MON").is_ok());
    assert!(parse_spec("0 0 0 31 4,5 *").is_ok());
}

#[test]
fn descriptor_errors() {
    let err = error("@fortnightly");
    assert_eq!(err.kind(), SpecErrorKind::UnknownDescriptor);
    assert_eq!(error("@every 500ms").kind(), SpecErrorKind::BadInterval);
    assert_eq!(error("@every 1500ms").kind(), SpecErrorKind::BadInterval);
    assert_eq!(error("@every").kind(), SpecErrorKind::BadInterval);
    assert_eq!(error("@every").span(), 0..6);
    let spec = "@every 30x";
    assert_eq!(&spec[error(spec).span()], "x");
    assert_eq!(error("@daily 5").kind(), SpecErrorKind::Syntax);
}

#[test]
fn caret_points_under_the_mistake() {
    let err = error("0 0 0 * * 8");
    assert_eq!(err.caret(), "0 0 0 * * 8\n          ^");
    let err = error("CRON_TZ=UTC 0 70 * * * *");
    assert_eq!(err.caret(), "CRON_TZ=UTC 0 70 * * * *\n              ^^");
    assert_eq!(
        err.report(),
        "minute 70 is out of range (0-59)\n    CRON_TZ=UTC 0 70 * * * *\n                  ^^"
    );
}

#[test]
fn durations() {
    assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
    assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
    assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
    assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
    assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
    for (bad, marked) in [
        ("90", "90"),
        ("5x", "x"),
        ("1.5h", "1."),
        ("", ""),
        ("m", "m"),
        ("99999999999999999999d", "99999999999999999999d"),
    ] {
        let err = parse_duration(bad).unwrap_err();
        assert_eq!(err.kind(), SpecErrorKind::BadDuration, "{bad}");
        assert_eq!(bad.get(err.span()).unwrap_or(""), marked, "{bad}");
    }
    assert_eq!(
        parse_duration("90").unwrap_err().hint(),
        Some("add a unit (ms, s, m, h, d), such as \"90s\"")
    );
    for d in [
        Duration::from_secs(5400),
        Duration::from_millis(1500),
        Duration::from_secs(86_401),
    ] {
        assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
    }
}

proptest! {
    #[test]
    fn parser_never_panics(input in ".{0,40}") {
        let _ = parse_spec(&input);
        let _ = parse_duration(&input);
    }

    #[test]
    fn parser_never_panics_on_cron_like_input(input in "[0-9*?,/ LW#A-Za-z@-]{0,30}") {
        if let Err(err) = parse_spec(&input) {
            // The span always lies inside the input, on character boundaries.
            prop_assert!(err.span().end <= input.len().max(1));
            let _ = err.report();
        }
    }
}

#[test]
fn descriptions_read_as_english() {
    for (spec, english) in [
        ("* * * * * *", "every second, every day, every month"),
        (
            "0 0 2 * * *",
            "at second 0 of minute 0 of hour 2, every day, every month",
        ),
        (
            "0 30 9 1,15 * *",
            "at second 0 of minute 30 of hour 9, on day-of-month 1 and 15, every month",
        ),
        (
            "0 0 0 13 * FRI",
            "at second 0 of minute 0 of hour 0, on day-of-month 13 or on Friday, every month",
        ),
        (
            "0 0 12 * JAN-MAR,DEC SAT,SUN",
            "at second 0 of minute 0 of hour 12, on Sunday and Saturday, in January-March and December",
        ),
        (
            "* * 8 * * *",
            "every second of hour 8, every day, every month",
        ),
    ] {
        assert_eq!(fields(spec).describe(), english, "{spec}");
    }
}
