//! The 58 worked examples of `tests/data/cron-practice.json` (14 across DST).

use chrono::{DateTime, Utc};
use cronlock::Schedule;
use serde_json::Value;

fn instant(value: &Value) -> DateTime<Utc> {
    let text = value.as_str().expect("instants are strings");
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

#[test]
fn every_worked_example_gives_its_next_five_instants() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/cron-practice.json");
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    assert_eq!(cases.len(), 58);
    assert_eq!(cases.iter().filter(|case| case["dst"] == true).count(), 14);
    let mut failures = Vec::new();
    for case in &cases {
        let spec = case["spec"].as_str().expect("spec");
        let tz = cronlock_spec_tz(case["tz"].as_str().expect("tz"));
        let schedule = Schedule::parse(spec).expect("valid spec").with_timezone(tz);
        let expected: Vec<DateTime<Utc>> = case["next"]
            .as_array()
            .expect("next")
            .iter()
            .map(instant)
            .collect();
        let actual: Vec<DateTime<Utc>> =
            schedule.upcoming(instant(&case["after"])).take(5).collect();
        if actual != expected {
            failures.push(format!(
                "{spec} in {tz} after {}: expected {expected:?}, got {actual:?}",
                case["after"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 58 cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn cronlock_spec_tz(name: &str) -> chrono_tz::Tz {
    name.parse()
        .unwrap_or_else(|_| panic!("unknown zone {name}"))
}
