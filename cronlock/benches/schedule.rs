//! Next-fire computation per spec shape: `cargo bench -p cronlock --bench schedule`.

use std::hint::black_box;

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use cronlock::Schedule;

fn next_fire(c: &mut Criterion) {
    let after = Utc.with_ymd_and_hms(2027, 3, 27, 12, 34, 56).unwrap();
    let mut group = c.benchmark_group("next_after");
    for (name, spec) in [
        ("every_5_minutes", "0 */5 * * * *"),
        ("daily_at_2", "0 0 2 * * *"),
        ("feb_29", "0 0 0 29 2 *"),
        ("every_7_seconds", "*/7 * * * * *"),
        (
            "berlin_2_30_across_dst",
            "CRON_TZ=Europe/Berlin 0 30 2 * * *",
        ),
        ("every_30s_descriptor", "@every 30s"),
    ] {
        let schedule = Schedule::parse(spec).expect("bench spec");
        group.bench_function(name, |b| b.iter(|| schedule.next_after(black_box(after))));
    }
    group.finish();

    c.bench_function("parse/0 */5 * * * *", |b| {
        b.iter(|| Schedule::parse(black_box("0 */5 * * * *")))
    });
}

criterion_group!(benches, next_fire);
criterion_main!(benches);
