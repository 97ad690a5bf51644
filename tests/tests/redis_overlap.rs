//! Overlap policies across a fleet: three schedulers on one Redis.
//!
//! `overlap = "buffer_one"`: a job due every second whose runs take 1.2 s.
//! No two runs overlap anywhere, no tick runs twice, and a tick that finds
//! a run going waits and starts when it ends, so most ticks run (with
//! `skip`, every other).
//!
//! `overlap = "replace"`: a job due every two seconds whose runs would take
//! 10 s. Each tick cancels the run before it, on whichever instance it runs,
//! and starts once that run has stopped: every tick runs, once, and no two
//! runs overlap (with `skip`, one tick in five).

use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::lock::RedisLockConfig;
use cronlock::{Job, JobContext, Overlap, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::fleet;
use cronlock_tests::paused::Log;

/// Three schedulers on `redis`, each with the job `job` makes.
async fn three_schedulers(redis: &RedisServer, job: impl Fn() -> Job) -> Vec<Scheduler> {
    let mut schedulers = Vec::new();
    for _ in 0..3 {
        schedulers.push(
            Scheduler::builder()
                .registered_jobs(false)
                .redis_config(RedisLockConfig::new(redis.url()))
                .job(job())
                .build()
                .await
                .unwrap(),
        );
    }
    schedulers
}

/// (tick, start, end) of every run.
type Runs = Log<(DateTime<Utc>, DateTime<Utc>, DateTime<Utc>)>;

async fn runs_of(overlap: Overlap) -> (Vec<(DateTime<Utc>, DateTime<Utc>, DateTime<Utc>)>, usize) {
    let redis = RedisServer::start();
    let runs = Runs::default();
    let schedulers = three_schedulers(&redis, || {
        let runs = runs.clone();
        Job::new(
            "busy",
            "* * * * * *",
            Duration::from_secs(5),
            move |ctx: JobContext| {
                let runs = runs.clone();
                async move {
                    let start = Utc::now();
                    tokio::time::sleep(Duration::from_millis(1_200)).await;
                    runs.push((ctx.tick(), start, Utc::now()));
                }
            },
        )
        .overlap(overlap)
    })
    .await;
    let began = Utc::now();
    fleet::start(&schedulers, Duration::from_secs(10))
        .finish()
        .await;
    let ended = Utc::now();
    let mut runs = runs.entries();
    runs.sort();
    // Ticks from 1 s after the start to 3 s before the end.
    let ticks = (began.timestamp() + 1..ended.timestamp() - 3).count();
    (runs, ticks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_one_runs_back_to_back_once_each_fleet_wide() {
    let (runs, ticks) = runs_of(Overlap::BufferOne).await;
    for pair in runs.windows(2) {
        assert!(pair[0].0 < pair[1].0, "a tick ran twice: {runs:?}");
    }
    // Instances buffer their own waiting ticks, so a tick can start after a
    // later one: runs are checked for overlap in the order they started.
    let mut by_start = runs.clone();
    by_start.sort_by_key(|run| run.1);
    for pair in by_start.windows(2) {
        assert!(
            pair[0].2 <= pair[1].1,
            "two runs overlapped: {:?} and {:?}",
            pair[0],
            pair[1]
        );
    }
    let waited = runs
        .iter()
        .filter(|(tick, start, _)| (*start - *tick).num_milliseconds() >= 150)
        .count();
    assert!(waited >= 2, "no tick waited for a running one: {runs:?}");
    let ran = runs.len();
    assert!(
        ran * 10 >= ticks * 7,
        "{ran} runs for {ticks} ticks: buffered ticks did not run: {runs:?}"
    );
}

/// (tick, start, end, whether the run saw its cancellation) of every run.
type Replaced = Log<(DateTime<Utc>, DateTime<Utc>, DateTime<Utc>, bool)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_cancels_the_run_wherever_it_is_and_runs_every_tick_once() {
    let redis = RedisServer::start();
    let runs = Replaced::default();
    let schedulers = three_schedulers(&redis, || {
        let runs = runs.clone();
        Job::new(
            "rebuild",
            "*/2 * * * * *",
            Duration::from_secs(30),
            move |ctx: JobContext| {
                let runs = runs.clone();
                async move {
                    let start = Utc::now();
                    let cancelled = tokio::select! {
                        () = ctx.cancelled() => true,
                        () = tokio::time::sleep(Duration::from_secs(10)) => false,
                    };
                    runs.push((ctx.tick(), start, Utc::now(), cancelled));
                }
            },
        )
        .overlap(Overlap::Replace)
    })
    .await;
    let began = Utc::now();
    fleet::start(&schedulers, Duration::from_secs(13))
        .finish()
        .await;
    // The schedulers stop claiming 13 s in (the run going then may finish
    // during the shutdown grace, later).
    let stopped = began + chrono::Duration::seconds(13);
    let mut runs = runs.entries();
    runs.sort();
    let ticks: Vec<i64> = runs.iter().map(|run| run.0.timestamp()).collect();
    // Every even second from 1 s after the start to 1 s before the stop.
    let due: Vec<i64> = (began.timestamp() + 1..stopped.timestamp())
        .filter(|second| second % 2 == 0)
        .collect();
    for tick in &due {
        let count = ticks.iter().filter(|ran| *ran == tick).count();
        assert_eq!(count, 1, "tick {tick} ran {count} times: {runs:?}");
    }
    cronlock_tests::assert_each_replaced_by_the_next(&runs);
}
