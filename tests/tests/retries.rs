//! Failed runs are retried with doubling backoff inside the timeout budget.

use std::time::Duration;

use cronlock::{Job, JobContext, RunOutcome};
use cronlock_tests::paused::{Log, builder, run_for};

#[tokio::test(start_paused = true)]
async fn failures_are_retried_with_doubling_backoff_until_success() {
    let attempts: Log<(u32, tokio::time::Instant)> = Log::default();
    let log = attempts.clone();
    let scheduler = builder()
        .job(
            Job::new(
                "flaky",
                "*/30 * * * * *",
                Duration::from_secs(20),
                move |ctx: JobContext| {
                    let log = log.clone();
                    async move {
                        log.push((ctx.attempt(), tokio::time::Instant::now()));
                        if ctx.attempt() < 3 {
                            Err(format!("attempt {} failed", ctx.attempt()))
                        } else {
                            Ok(())
                        }
                    }
                },
            )
            .retries(5, Duration::from_secs(1)),
        )
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_secs(31)).await;
    let attempts = attempts.entries();
    let numbers: Vec<u32> = attempts.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    assert_eq!(attempts[1].1 - attempts[0].1, Duration::from_secs(1));
    assert_eq!(attempts[2].1 - attempts[1].1, Duration::from_secs(2));
    assert_eq!(
        scheduler.list_jobs()[0]
            .last_run
            .as_ref()
            .map(|r| r.outcome.clone()),
        Some(RunOutcome::Completed)
    );
}

#[tokio::test(start_paused = true)]
async fn retries_stop_at_the_timeout_budget() {
    let attempts: Log<u32> = Log::default();
    let log = attempts.clone();
    let scheduler = builder()
        .job(
            Job::new(
                "always-fails",
                "*/30 * * * * *",
                Duration::from_secs(5),
                move |ctx: JobContext| {
                    let log = log.clone();
                    async move {
                        log.push(ctx.attempt());
                        Err::<(), _>("nope")
                    }
                },
            )
            .retries(10, Duration::from_secs(1)),
        )
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_secs(40)).await;
    // Attempts at 0, 1, 3 s; the next would start at 7 s, past the 5 s budget.
    assert_eq!(attempts.entries(), vec![1, 2, 3]);
    assert_eq!(
        scheduler.list_jobs()[0]
            .last_run
            .as_ref()
            .map(|r| r.outcome.clone()),
        Some(RunOutcome::Failed {
            error: "nope".into()
        })
    );
}
