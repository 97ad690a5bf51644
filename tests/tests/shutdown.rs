//! Graceful shutdown waits for running jobs up to the grace period, then
//! cancels them and waits until they have stopped; no new tick is claimed.

use std::time::Duration;

use cronlock::{Job, JobContext, RunOutcome};
use cronlock_tests::paused::{Log, builder, run_for};

fn job(log: Log<&'static str>, run_for: Duration) -> Job {
    Job::new(
        "work",
        "*/10 * * * * *",
        Duration::from_secs(120),
        move |ctx: JobContext| {
            let log = log.clone();
            async move {
                log.push("started");
                tokio::select! {
                    () = tokio::time::sleep(run_for) => log.push("finished"),
                    () = ctx.cancelled() => log.push("cancelled"),
                }
            }
        },
    )
}

#[tokio::test(start_paused = true)]
async fn shutdown_waits_for_a_run_that_ends_within_the_grace_period() {
    let log = Log::default();
    let scheduler = builder()
        .shutdown_grace(Duration::from_secs(30))
        .job(job(log.clone(), Duration::from_secs(20)))
        .build()
        .await
        .unwrap();
    let began = tokio::time::Instant::now();
    // Tick at 10 s (start is 0.5): shutdown at 12 s, while the run goes on to 29.5 s.
    run_for(&scheduler, Duration::from_secs(12)).await;
    assert_eq!(log.entries(), vec!["started", "finished"]);
    assert_eq!(
        scheduler.list_jobs()[0]
            .last_run
            .as_ref()
            .map(|r| r.outcome.clone()),
        Some(RunOutcome::Completed)
    );
    // No tick at 20 s was claimed during the drain.
    assert_eq!(began.elapsed(), Duration::from_millis(29_500));
}

#[tokio::test(start_paused = true)]
async fn shutdown_cancels_a_run_that_outlasts_the_grace_period() {
    let log = Log::default();
    let scheduler = builder()
        .shutdown_grace(Duration::from_secs(5))
        .job(job(log.clone(), Duration::from_secs(100)))
        .build()
        .await
        .unwrap();
    let began = tokio::time::Instant::now();
    run_for(&scheduler, Duration::from_secs(12)).await;
    assert_eq!(log.entries(), vec!["started", "cancelled"]);
    assert_eq!(
        scheduler.list_jobs()[0]
            .last_run
            .as_ref()
            .map(|r| r.outcome.clone()),
        Some(RunOutcome::Cancelled)
    );
    assert_eq!(
        began.elapsed(),
        Duration::from_secs(17),
        "grace of 5 s after the shutdown at 12 s"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_handle_stops_a_running_scheduler() {
    let scheduler = builder()
        .job(Job::new(
            "idle",
            "0 0 0 * * *",
            Duration::from_secs(1),
            |_ctx| async {},
        ))
        .build()
        .await
        .unwrap();
    let handle = scheduler.clone();
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        handle.shutdown();
    });
    let began = tokio::time::Instant::now();
    scheduler.run_until(std::future::pending()).await.unwrap();
    stopper.await.unwrap();
    assert_eq!(began.elapsed(), Duration::from_secs(3));
}
