//! A run that outlives its timeout is cancelled: `cancelled()` fires, the
//! outcome is TimedOut, and the next tick still runs.

use std::time::Duration;

use cronlock::{Job, JobContext, RunOutcome};
use cronlock_tests::paused::{Log, builder, run_for};

#[tokio::test(start_paused = true)]
async fn a_run_past_its_timeout_is_cancelled_and_logged_as_timed_out() {
    let events: Log<&str> = Log::default();
    let log = events.clone();
    let scheduler = builder()
        .job(Job::new(
            "slow",
            "*/5 * * * * *",
            Duration::from_secs(2),
            move |ctx: JobContext| {
                let log = log.clone();
                async move {
                    log.push("started");
                    tokio::select! {
                        () = ctx.cancelled() => log.push("saw cancellation"),
                        () = tokio::time::sleep(Duration::from_secs(60)) => log.push("finished"),
                    }
                }
            },
        ))
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_secs(7)).await;
    // Ticks at 5 and 10 (start is 0.5): the first timed out at 7, the second ran too.
    assert_eq!(events.entries(), vec!["started", "saw cancellation"]);
    let last = scheduler.list_jobs()[0].last_run.clone().expect("ran");
    assert_eq!(last.outcome, RunOutcome::TimedOut);
    assert_eq!(last.duration, Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_job_that_ignores_cancellation_is_dropped_after_the_cancel_grace() {
    let events: Log<&str> = Log::default();
    let log = events.clone();
    let scheduler = builder()
        .cancel_grace(Duration::from_millis(300))
        .job(Job::new(
            "stubborn",
            "*/5 * * * * *",
            Duration::from_secs(1),
            move |_ctx| {
                let log = log.clone();
                async move {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    log.push("should never finish");
                }
            },
        ))
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_secs(9)).await;
    assert!(events.entries().is_empty());
    let last = scheduler.list_jobs()[0].last_run.clone().expect("ran");
    assert_eq!(last.outcome, RunOutcome::TimedOut);
    assert_eq!(last.duration, Duration::from_millis(1_300));
}
