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
    // Doubling backoff (1 s, then 2 s), each with up to ±20 % jitter.
    let within = |gap: Duration, base_ms: u64| {
        gap >= Duration::from_millis(base_ms * 8 / 10)
            && gap <= Duration::from_millis(base_ms * 12 / 10)
    };
    let (first_gap, second_gap) = (attempts[1].1 - attempts[0].1, attempts[2].1 - attempts[1].1);
    assert!(within(first_gap, 1_000), "{first_gap:?}");
    assert!(within(second_gap, 2_000), "{second_gap:?}");
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

#[tokio::test(start_paused = true)]
async fn a_failure_marked_permanent_is_not_retried() {
    let attempts: Log<u32> = Log::default();
    let log = attempts.clone();
    let scheduler = builder()
        .job(
            Job::new(
                "bad-config",
                "*/30 * * * * *",
                Duration::from_secs(20),
                move |ctx: JobContext| {
                    let log = log.clone();
                    async move {
                        log.push(ctx.attempt());
                        ctx.no_retry();
                        Err::<(), _>("bad configuration")
                    }
                },
            )
            .retries(5, Duration::from_secs(1)),
        )
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_secs(31)).await;
    assert_eq!(attempts.entries(), vec![1]);
}

#[tokio::test(start_paused = true)]
async fn retries_never_run_into_the_next_tick() {
    let attempts: Log<(u32, chrono::DateTime<chrono::Utc>)> = Log::default();
    let log = attempts.clone();
    let scheduler = builder()
        .job(
            // Ticks every 2 s; the timeout alone would allow retries for 10 s.
            Job::new(
                "frequent",
                "*/2 * * * * *",
                Duration::from_secs(10),
                move |ctx: JobContext| {
                    let log = log.clone();
                    async move {
                        log.push((ctx.attempt(), ctx.tick()));
                        Err::<(), _>("down")
                    }
                },
            )
            .retries(5, Duration::from_secs(1))
            .overlap(cronlock::Overlap::Allow),
        )
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_millis(1_600)).await;
    // Tick 2 s (start is 0.5): attempts at 2.0 and 2.8 to 3.2 (1 s ± 20 %);
    // the next wait (1.6 to 2.4 s) always lands past tick 4, so there is no
    // third attempt, although the 10 s timeout would allow several.
    let attempts = attempts.entries();
    let numbers: Vec<u32> = attempts.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, vec![1, 2], "{attempts:?}");
}
