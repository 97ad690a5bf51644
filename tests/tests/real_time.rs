//! With the system clock and real sleeps: second-level specs fire on whole
//! seconds, never early.

use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use cronlock::{Job, JobContext, Scheduler};
use cronlock_tests::paused::Log;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_second_fires_on_whole_seconds_and_never_early() {
    let runs: Log<(DateTime<Utc>, DateTime<Utc>)> = Log::default();
    let log = runs.clone();
    let scheduler = Scheduler::builder()
        .registered_jobs(false)
        .job(Job::new(
            "tick",
            "* * * * * *",
            Duration::from_secs(1),
            move |ctx: JobContext| {
                let log = log.clone();
                async move { log.push((ctx.tick(), Utc::now())) }
            },
        ))
        .build()
        .await
        .unwrap();
    scheduler
        .run_until(tokio::time::sleep(Duration::from_millis(3_200)))
        .await
        .unwrap();
    let runs = runs.entries();
    assert!(
        runs.len() >= 2,
        "expected at least 2 runs in 3.2 s, got {runs:?}"
    );
    for pair in runs.windows(2) {
        assert_eq!(
            pair[1].0 - pair[0].0,
            chrono::Duration::seconds(1),
            "consecutive ticks: {runs:?}"
        );
    }
    for (tick, started) in &runs {
        assert_eq!(*tick, tick.trunc_subsecs(0), "ticks are whole seconds");
        assert!(started >= tick, "started {started} before its tick {tick}");
        assert!(
            *started - *tick < chrono::Duration::seconds(1),
            "started {started}, a second after its tick"
        );
    }
}
