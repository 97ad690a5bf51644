//! Backfill: every tick of a past range runs once, in order, one at a time,
//! knowing it is a backfill; pauses hold it, cancelling stops it and its
//! run; bad ranges are refused with the reason. Paused time, in-process
//! lock; the fleet-wide version is `redis_backfill.rs`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::{Error, Job, JobContext, RunOutcome, Scheduler};
use cronlock_tests::paused::{Log, builder, second};

/// A run as the job saw it: tick, backfill, catch-up, start and end.
type Seen = (
    DateTime<Utc>,
    bool,
    bool,
    tokio::time::Instant,
    tokio::time::Instant,
);

/// A job due every minute (no scheduled tick comes within the tests) whose
/// runs take `run_for` unless cancelled.
fn minutely(log: &Log<Seen>, run_for: Duration) -> Job {
    let log = log.clone();
    Job::new(
        "report",
        "0 * * * * *",
        Duration::from_secs(30),
        move |ctx: JobContext| {
            let log = log.clone();
            async move {
                let began = tokio::time::Instant::now();
                tokio::select! {
                    () = tokio::time::sleep(run_for) => {}
                    () = ctx.cancelled() => {}
                }
                log.push((
                    ctx.tick(),
                    ctx.is_backfill(),
                    ctx.is_catch_up(),
                    began,
                    tokio::time::Instant::now(),
                ));
            }
        },
    )
}

/// One instance with the `report` job (runs of `run_for`), running for
/// `secs` of paused time.
async fn one_instance(
    log: &Log<Seen>,
    run_for: Duration,
    secs: u64,
) -> (Scheduler, cronlock_tests::fleet::Running) {
    let scheduler = builder().job(minutely(log, run_for)).build().await.unwrap();
    let running =
        cronlock_tests::fleet::start(std::slice::from_ref(&scheduler), Duration::from_secs(secs));
    (scheduler, running)
}

/// Ten minutes before the clock's start: ticks at minutes -10 … -1.
fn last_ten_minutes() -> (DateTime<Utc>, DateTime<Utc>) {
    (second(-600), second(-1))
}

#[tokio::test(start_paused = true)]
async fn every_tick_of_the_range_runs_once_in_order_one_at_a_time() {
    let log = Log::default();
    let (scheduler, running) = one_instance(&log, Duration::from_millis(300), 8).await;
    let (from, to) = last_ten_minutes();
    let backfill = scheduler.backfill("report", from, to).await.unwrap();
    assert_eq!(backfill.total, 10);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let err = scheduler.backfill("report", from, to).await.unwrap_err();
    assert!(
        matches!(&err, Error::InvalidBackfill { reason, .. } if reason.contains("under way")),
        "{err}"
    );
    running.finish().await;

    let runs = log.entries();
    let ticks: Vec<DateTime<Utc>> = runs.iter().map(|run| run.0).collect();
    let expected: Vec<DateTime<Utc>> = (1..=10).rev().map(|m| second(-60 * m)).collect();
    assert_eq!(ticks, expected, "each tick once, oldest first");
    assert!(
        runs.iter().all(|run| run.1 && !run.2),
        "backfill runs know it, and are no catch-ups: {runs:?}"
    );
    for pair in runs.windows(2) {
        assert!(pair[1].3 >= pair[0].4, "one at a time: {pair:?}");
    }
    // Finished: no longer under way, and the history says what ran.
    assert!(scheduler.fleet().backfills().await.unwrap().is_empty());
    let history = scheduler.history("report").await.unwrap();
    assert_eq!(history.len(), 10, "{history:?}");
    assert_eq!(history[0].tick, second(-60));
    assert!(
        history
            .iter()
            .all(|entry| entry.outcome == RunOutcome::Completed
                && entry.instance.contains("(backfill by ")),
        "{history:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_pause_holds_a_backfill_and_a_cancel_stops_it_and_its_run() {
    let log = Log::default();
    let (scheduler, running) = one_instance(&log, Duration::from_secs(4), 25).await;
    scheduler.pause("report").await.unwrap();
    let (from, to) = last_ten_minutes();
    scheduler.backfill("report", from, to).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(log.entries().is_empty(), "ran while paused");
    scheduler.resume("report").await.unwrap();
    // The first run (4 s) ends, the second starts; cancelled 1-2 s into it
    // (the driver sees the resume within a second).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let cancelled = scheduler.cancel_backfill("report").await.unwrap();
    assert!(cancelled.is_some_and(|b| b.done == 2), "two ticks taken");
    tokio::time::sleep(Duration::from_secs(6)).await;
    running.finish().await;

    let runs = log.entries();
    assert_eq!(runs.len(), 2, "no tick after the cancel: {runs:?}");
    assert_eq!((runs[0].0, runs[1].0), (second(-600), second(-540)));
    let second_run = runs[1].4 - runs[1].3;
    assert!(
        second_run < Duration::from_millis(3_500),
        "the run going was cancelled: it ran {second_run:?}"
    );
    let history = scheduler.history("report").await.unwrap();
    assert_eq!(
        history
            .iter()
            .filter(|entry| entry.instance.contains("backfill"))
            .map(|entry| entry.outcome.label())
            .collect::<Vec<_>>(),
        vec!["cancelled", "ok"],
        "{history:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn bad_ranges_are_refused_with_the_reason() {
    let scheduler = builder()
        .job(minutely(&Log::default(), Duration::ZERO))
        .build()
        .await
        .unwrap();
    let reason = |result: Result<cronlock::lock::Backfill, Error>| match result {
        Err(Error::InvalidBackfill { job, reason }) => {
            assert!(["report", "often"].contains(&job.as_str()), "{job}");
            reason
        }
        other => panic!("not refused as a bad range: {other:?}"),
    };
    let refused = reason(scheduler.backfill("report", second(-1), second(-600)).await);
    assert!(refused.contains("after it ends"), "{refused}");
    let refused = reason(scheduler.backfill("report", second(-600), second(60)).await);
    assert!(refused.contains("future"), "{refused}");
    let refused = reason(scheduler.backfill("report", second(-50), second(-10)).await);
    assert!(refused.contains("no tick"), "{refused}");
    let every_second = builder()
        .job(Job::new(
            "often",
            "* * * * * *",
            Duration::from_secs(1),
            |_ctx: JobContext| async {},
        ))
        .build()
        .await
        .unwrap();
    let far_back = second(-12 * 24 * 3600);
    let refused = reason(every_second.backfill("often", far_back, second(-1)).await);
    assert!(refused.contains("more than 1000000 ticks"), "{refused}");
    assert!(matches!(
        scheduler.backfill("nope", second(-600), second(-1)).await,
        Err(Error::UnknownJob { .. })
    ));
}

/// Two instances sharing a lock: each tick of the backfill runs once, to
/// its end (the instance not running the last tick does not end the
/// backfill under it), and the backfill ends after the last run.
#[tokio::test(start_paused = true)]
async fn two_instances_take_turns_and_the_last_run_is_not_cut_short() {
    let lock = std::sync::Arc::new(cronlock::lock::MemoryLock::new());
    let log = Log::default();
    let mut instances = Vec::new();
    for _ in 0..2 {
        instances.push(
            builder()
                .lock(std::sync::Arc::clone(&lock))
                .job(minutely(&log, Duration::from_secs(3)))
                .build()
                .await
                .unwrap(),
        );
    }
    let running = cronlock_tests::fleet::start(&instances, Duration::from_secs(20));
    instances[0]
        .backfill("report", second(-180), second(-1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert!(
        instances[1].fleet().backfills().await.unwrap().is_empty(),
        "ended after the last run"
    );
    running.finish().await;
    let runs = log.entries();
    assert_eq!(
        runs.iter().map(|run| run.0).collect::<Vec<_>>(),
        vec![second(-180), second(-120), second(-60)],
        "{runs:?}"
    );
    for run in &runs {
        assert_eq!(run.4 - run.3, Duration::from_secs(3), "cut short: {runs:?}");
    }
}

/// Runs that end at once (before the turn sees them start, were it not
/// told first) still count as started: each tick runs once.
#[tokio::test(start_paused = true)]
async fn runs_that_end_at_once_each_run_once() {
    let log = Log::default();
    let (scheduler, running) = one_instance(&log, Duration::ZERO, 8).await;
    let (from, to) = last_ten_minutes();
    scheduler.backfill("report", from, to).await.unwrap();
    running.finish().await;
    let ticks: Vec<DateTime<Utc>> = log.entries().iter().map(|run| run.0).collect();
    let expected: Vec<DateTime<Utc>> = (1..=10).rev().map(|m| second(-60 * m)).collect();
    assert_eq!(ticks, expected);
}
