//! Next fire time per spec shape, cronlock next to its peers in one run:
//!
//! ```text
//! cargo bench -p cronlock-benchmarks --bench next_fire
//! ```
//!
//! - `cronlock`: `Schedule::next_after`;
//! - `tokio_cron_scheduler`: the computation tokio-cron-scheduler 0.15 does
//!   for each tick (croner 3 `find_next_occurrence` on the job's zone), called
//!   directly since the scheduler does not expose it synchronously;
//! - `cron`: the `cron` crate's `Schedule::after(..).next()`.
//!
//! The `cron` crate numbers days of the week from Sunday = 1, and has no
//! `@every`; the shapes below avoid the first and skip it for the second.

use std::hint::black_box;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

/// (name, cronlock spec, zone, spec for the peers when they can express it)
const SHAPES: &[(&str, &str, Tz, Option<&str>)] = &[
    (
        "every_5_minutes",
        "0 */5 * * * *",
        Tz::UTC,
        Some("0 */5 * * * *"),
    ),
    ("daily_at_2", "0 0 2 * * *", Tz::UTC, Some("0 0 2 * * *")),
    ("feb_29", "0 0 0 29 2 *", Tz::UTC, Some("0 0 0 29 2 *")),
    (
        "every_7_seconds",
        "*/7 * * * * *",
        Tz::UTC,
        Some("*/7 * * * * *"),
    ),
    (
        "berlin_2_30_across_dst",
        "CRON_TZ=Europe/Berlin 0 30 2 * * *",
        Tz::Europe__Berlin,
        Some("0 30 2 * * *"),
    ),
    ("every_30s_descriptor", "@every 30s", Tz::UTC, None),
];

fn after() -> DateTime<Utc> {
    // The day before Berlin's spring-forward, so the DST shape crosses the gap.
    Utc.with_ymd_and_hms(2027, 3, 27, 12, 34, 56).unwrap()
}

fn next_fire(c: &mut Criterion) {
    let after = after();
    let mut group = c.benchmark_group("next_fire");
    for &(name, spec, tz, peer_spec) in SHAPES {
        let schedule = cronlock::Schedule::parse(spec).expect("bench spec");
        group.bench_with_input(BenchmarkId::new("cronlock", name), &after, |b, after| {
            b.iter(|| schedule.next_after(black_box(*after)))
        });
        let Some(peer_spec) = peer_spec else {
            continue;
        };
        let tcs = croner3::parser::CronParser::builder()
            .seconds(croner3::parser::Seconds::Required)
            .build()
            .parse(peer_spec)
            .expect("croner 3 spec");
        group.bench_with_input(
            BenchmarkId::new("tokio_cron_scheduler", name),
            &after,
            |b, after| {
                b.iter(|| {
                    tcs.find_next_occurrence(&black_box(*after).with_timezone(&tz), false)
                        .map(|next| next.with_timezone(&Utc))
                })
            },
        );
        let cron = cron::Schedule::from_str(peer_spec).expect("cron crate spec");
        group.bench_with_input(BenchmarkId::new("cron", name), &after, |b, after| {
            b.iter(|| {
                cron.after(&black_box(*after).with_timezone(&tz))
                    .next()
                    .map(|next| next.with_timezone(&Utc))
            })
        });
    }
    group.finish();
}

/// The peers must agree with cronlock on these shapes, or the comparison is
/// not of the same work.
fn check_agreement() {
    let after = after();
    for &(name, spec, tz, peer_spec) in SHAPES {
        let Some(peer_spec) = peer_spec else { continue };
        let ours = cronlock::Schedule::parse(spec).unwrap().next_after(after);
        let tcs = croner3::parser::CronParser::builder()
            .seconds(croner3::parser::Seconds::Required)
            .build()
            .parse(peer_spec)
            .unwrap()
            .find_next_occurrence(&after.with_timezone(&tz), false)
            .ok()
            .map(|next| next.with_timezone(&Utc));
        let cron = cron::Schedule::from_str(peer_spec)
            .unwrap()
            .after(&after.with_timezone(&tz))
            .next()
            .map(|next| next.with_timezone(&Utc));
        println!("{name}: cronlock {ours:?}, tokio-cron-scheduler {tcs:?}, cron {cron:?}");
    }
}

fn benches(c: &mut Criterion) {
    check_agreement();
    next_fire(c);
}

criterion_group!(next_fire_benches, benches);
criterion_main!(next_fire_benches);
