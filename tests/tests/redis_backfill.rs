//! A backfill across a fleet sharing a real Redis: three instances run the
//! range's ticks once each, in order, never two at a time, and one of them
//! shutting down midway loses no tick; requested from outside (`Fleet`),
//! its progress is visible and it ends itself when every tick is taken.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use cronlock::lock::RedisLockConfig;
use cronlock::{Fleet, Job, JobContext, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::paused::Log;

/// A backfill run as seen by the job: instance, tick, start, end.
type Run = (usize, DateTime<Utc>, Instant, Instant);

async fn instance(redis: &RedisServer, log: &Log<Run>, index: usize) -> Scheduler {
    let log = log.clone();
    Scheduler::builder()
        .registered_jobs(false)
        .shutdown_grace(Duration::from_secs(5))
        .redis_config(RedisLockConfig::new(redis.url()))
        .job(Job::new(
            "rollup",
            "0 * * * * *",
            Duration::from_secs(10),
            move |ctx: JobContext| {
                let log = log.clone();
                async move {
                    if ctx.is_backfill() {
                        let began = Instant::now();
                        tokio::time::sleep(Duration::from_millis(80)).await;
                        log.push((index, ctx.tick(), began, Instant::now()));
                    }
                }
            },
        ))
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_run_each_tick_once_in_order_one_at_a_time() {
    let redis = RedisServer::start();
    let log = Log::default();
    let mut schedulers = Vec::new();
    for index in 0..3 {
        schedulers.push(instance(&redis, &log, index).await);
    }
    let first = schedulers.remove(0);
    // Instance 0 starts the backfill alone and leaves after 2.5 s
    // (gracefully, mid-backfill); the others come 1 s in and stay.
    let leaving =
        cronlock_tests::fleet::start(std::slice::from_ref(&first), Duration::from_millis(2_500));
    // The fleet has published the job: the command line's way in.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fleet = Fleet::connect(&redis.url(), cronlock::lock::DEFAULT_PREFIX)
        .await
        .unwrap();
    let to = Utc::now()
        .duration_trunc(chrono::Duration::minutes(1))
        .unwrap()
        - chrono::Duration::seconds(1);
    let from = to - chrono::Duration::minutes(40) + chrono::Duration::seconds(1);
    let requested = fleet
        .backfill("rollup", from, to, Some("ops"))
        .await
        .unwrap();
    assert_eq!(requested.total, 40);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let staying = cronlock_tests::fleet::start(&schedulers, Duration::from_secs(14));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let progress = fleet.backfills().await.unwrap();
    assert!(
        progress.len() == 1 && progress[0].done > 0 && progress[0].done < 40,
        "progress visible midway: {progress:?}"
    );
    leaving.finish().await;
    staying.finish().await;

    let runs = log.entries();
    let mut by_tick: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
    for run in &runs {
        *by_tick.entry(run.1).or_default() += 1;
    }
    let expected: Vec<DateTime<Utc>> = (0..40)
        .map(|m| from + chrono::Duration::minutes(m))
        .collect();
    assert_eq!(
        by_tick.keys().copied().collect::<Vec<_>>(),
        expected,
        "every tick of the range: {runs:?}"
    );
    assert!(
        by_tick.values().all(|&n| n == 1),
        "a tick ran twice: {runs:?}"
    );
    let mut by_start = runs.clone();
    by_start.sort_by_key(|run| run.2);
    let ticks_by_start: Vec<DateTime<Utc>> = by_start.iter().map(|run| run.1).collect();
    assert_eq!(ticks_by_start, expected, "in order");
    for pair in by_start.windows(2) {
        assert!(pair[1].2 >= pair[0].3, "two at a time: {pair:?}");
    }
    let instances: std::collections::BTreeSet<usize> = runs.iter().map(|run| run.0).collect();
    assert!(
        instances.len() >= 2,
        "the instances staying went on after the one that left: {runs:?}"
    );
    assert!(fleet.backfills().await.unwrap().is_empty(), "ended itself");
    // The newest backfill run in the history is the range's last tick (a
    // scheduled run of the job, at a whole minute, may be newer).
    let history = fleet.history("rollup").await.unwrap();
    let newest_backfill = history
        .iter()
        .find(|entry| entry.instance.ends_with("(backfill by ops)"));
    assert_eq!(
        newest_backfill.map(|entry| entry.tick),
        Some(to - chrono::Duration::seconds(59)),
        "{history:?}"
    );
}
