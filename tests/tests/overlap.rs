//! `overlap = skip` (the default) never starts a run while the previous one is
//! going; `allow` starts every tick.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::{Job, JobContext, Overlap};
use cronlock_tests::paused::{Log, builder, run_for, second};

async fn ticks_of_a_slow_job(overlap: Overlap) -> Vec<DateTime<Utc>> {
    let ticks: Log<DateTime<Utc>> = Log::default();
    let log = ticks.clone();
    let scheduler = builder()
        .job(
            Job::new(
                "slow",
                "* * * * * *",
                Duration::from_secs(10),
                move |ctx: JobContext| {
                    let log = log.clone();
                    async move {
                        log.push(ctx.tick());
                        tokio::time::sleep(Duration::from_millis(2_500)).await;
                    }
                },
            )
            .overlap(overlap),
        )
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_millis(7_000)).await;
    ticks.entries()
}

#[tokio::test(start_paused = true)]
async fn skip_starts_no_run_while_one_is_going() {
    // A run of 2.5 s blocks the next two ticks.
    assert_eq!(
        ticks_of_a_slow_job(Overlap::Skip).await,
        vec![second(1), second(4), second(7)]
    );
}

#[tokio::test(start_paused = true)]
async fn allow_starts_every_tick() {
    assert_eq!(
        ticks_of_a_slow_job(Overlap::Allow).await,
        (1..=7).map(second).collect::<Vec<_>>()
    );
}
