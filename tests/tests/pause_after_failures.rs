//! `pause_after_failures` and `history_len`: a job whose runs keep failing
//! pauses itself fleet-wide after N in a row (on whichever instances ran
//! them) until resumed by hand, and counts again from zero after that; a
//! job's own history length bounds its history.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::lock::RedisLockConfig;
use cronlock::{Job, JobContext, RunOutcome, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::paused::{Log, builder, second};

/// Fails every run, recording which instance ran which tick.
fn failing(log: &Log<(usize, DateTime<Utc>)>, instance: usize) -> Job {
    let log = log.clone();
    Job::new(
        "flaky",
        "* * * * * *",
        Duration::from_secs(5),
        move |ctx: JobContext| {
            let log = log.clone();
            async move {
                log.push((instance, ctx.tick()));
                Err::<(), _>("database refused")
            }
        },
    )
    .pause_after_failures(3)
}

#[tokio::test(start_paused = true)]
async fn three_failed_runs_pause_the_job_until_it_is_resumed() {
    let log = Log::default();
    let scheduler = builder().job(failing(&log, 0)).build().await.unwrap();
    let running = cronlock_tests::fleet::start(
        std::slice::from_ref(&scheduler),
        Duration::from_millis(12_000),
    );
    // Ticks 1, 2, 3 fail; then the job is paused and ticks 4-6 are skipped.
    tokio::time::sleep(Duration::from_millis(6_200)).await;
    assert!(scheduler.list_jobs()[0].paused, "paused after 3 failures");
    let ticks: Vec<DateTime<Utc>> = log.entries().into_iter().map(|(_, t)| t).collect();
    assert_eq!(ticks, [second(1), second(2), second(3)]);
    let history = scheduler.history("flaky").await.unwrap();
    let pause = history
        .iter()
        .find(|entry| !matches!(entry.outcome, RunOutcome::NotRun { .. }))
        .unwrap();
    assert!(
        matches!(&pause.outcome, RunOutcome::Skipped { reason } if reason.contains("paused after 3 consecutive failed runs")),
        "the pause shows in the history: {history:?}"
    );
    // Resumed by hand: three more failures are needed to pause it again.
    scheduler.resume("flaky").await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert!(
        !scheduler.list_jobs()[0].paused,
        "one or two failures after a resume do not pause"
    );
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert!(
        scheduler.list_jobs()[0].paused,
        "paused again after three more"
    );
    running.finish().await;
    assert_eq!(log.entries().len(), 6, "{:?}", log.entries());
    // The ticks the first pause skipped are in the history, once each.
    let history = scheduler.history("flaky").await.unwrap();
    let skipped = cronlock_tests::not_run_ticks(&history, cronlock::NotRun::Paused);
    assert!(
        [second(6), second(5), second(4)]
            .iter()
            .all(|tick| skipped.contains(tick)),
        "{history:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_success_in_between_starts_the_count_again() {
    let log: Log<DateTime<Utc>> = Log::default();
    let runs = log.clone();
    let job = Job::new(
        "sometimes",
        "* * * * * *",
        Duration::from_secs(5),
        move |ctx: JobContext| {
            let runs = runs.clone();
            async move {
                runs.push(ctx.tick());
                // Every third tick succeeds: never three failures in a row.
                if ctx.tick().timestamp() % 3 == 0 {
                    Ok(())
                } else {
                    Err("flaky")
                }
            }
        },
    )
    .pause_after_failures(3);
    let scheduler = builder().job(job).build().await.unwrap();
    cronlock_tests::paused::run_for(&scheduler, Duration::from_millis(9_000)).await;
    assert!(!scheduler.list_jobs()[0].paused);
    assert_eq!(
        log.entries().len(),
        9,
        "every tick ran: {:?}",
        log.entries()
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_keeps_its_own_history_length() {
    let short = Job::new(
        "short",
        "* * * * * *",
        Duration::from_secs(5),
        |_ctx| async {},
    )
    .history_len(3);
    let default = Job::new(
        "default",
        "* * * * * *",
        Duration::from_secs(5),
        |_ctx| async {},
    );
    let scheduler = builder()
        .history_len(5)
        .job(short)
        .job(default)
        .build()
        .await
        .unwrap();
    cronlock_tests::paused::run_for(&scheduler, Duration::from_millis(8_000)).await;
    assert_eq!(scheduler.history("short").await.unwrap().len(), 3);
    assert_eq!(scheduler.history("default").await.unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_on_different_instances_add_up_and_the_pause_is_fleet_wide() {
    let redis = RedisServer::start();
    let log = Log::default();
    let mut schedulers = Vec::new();
    for instance in 0..3 {
        schedulers.push(
            Scheduler::builder()
                .registered_jobs(false)
                .redis_config(RedisLockConfig::new(redis.url()))
                .job(failing(&log, instance))
                .build()
                .await
                .unwrap(),
        );
    }
    let running = cronlock_tests::fleet::start(&schedulers, Duration::from_secs(9));
    running.finish().await;
    let entries = log.entries();
    // Three failed runs, wherever they ran, then no more on any instance
    // (a run claimed while the pause was being written may make a fourth).
    assert!(
        (3..=4).contains(&entries.len()),
        "the fleet stopped after three failures: {entries:?}"
    );
    let paused = redis.bulk_array(&["HKEYS", "{cronlock:}:paused"]);
    assert_eq!(paused, ["flaky"], "paused fleet-wide in Redis");
    let note = redis.bulk(&["HGET", "{cronlock:}:paused", "flaky"]);
    assert!(
        note.contains("paused after 3 consecutive failed runs (last: database refused)"),
        "{note}"
    );
}
