//! Several schedulers sharing one real Redis: every tick of a job starts
//! exactly once across them, also with clocks 1.5 s behind and ahead, and
//! the job itself counts its runs in Redis.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::clock::OffsetClock;
use cronlock::lock::RedisLockConfig;
use cronlock::{Job, JobContext, Scheduler};
use cronlock_tests::paused::Log;
use cronlock_tests::{RedisServer, fleet};
use redis::AsyncCommands;

type Ledger = Log<(usize, DateTime<Utc>, u64)>;

async fn instance(redis: &RedisServer, index: usize, skew_ms: i64, ledger: &Ledger) -> Scheduler {
    let ledger = ledger.clone();
    let client = redis::Client::open(redis.url()).unwrap();
    Scheduler::builder()
        .registered_jobs(false)
        .redis_config(RedisLockConfig::new(redis.url()))
        .clock(OffsetClock::new(chrono::Duration::milliseconds(skew_ms)))
        .job(Job::new(
            "every-second",
            "* * * * * *",
            Duration::from_secs(5),
            move |ctx: JobContext| {
                let (ledger, client) = (ledger.clone(), client.clone());
                async move {
                    ledger.push((index, ctx.tick(), ctx.fencing_token()));
                    // The job counts its own runs per tick in Redis too.
                    let mut conn = client
                        .get_multiplexed_async_connection()
                        .await
                        .map_err(|e| e.to_string())?;
                    let _: i64 = conn
                        .hincr("runs", ctx.tick().timestamp(), 1)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok::<(), String>(())
                }
            },
        ))
        .build()
        .await
        .unwrap()
}

/// Runs the instances for `seconds`, then checks the ledger: every whole
/// second strictly inside the run appears exactly once, in Redis too.
async fn run_and_check(skews_ms: &[i64], seconds: u64) {
    let redis = RedisServer::start();
    let ledger = Ledger::default();
    let mut schedulers = Vec::new();
    for (index, skew) in skews_ms.iter().enumerate() {
        schedulers.push(instance(&redis, index, *skew, &ledger).await);
    }
    let begin = Utc::now();
    fleet::start(&schedulers, Duration::from_secs(seconds))
        .finish()
        .await;
    let end = Utc::now();

    let in_start_order = ledger.entries();
    fleet::assert_every_second_once(&in_start_order, begin, end);
    let mut entries = in_start_order.clone();
    entries.sort_by_key(|(_, tick, _)| *tick);

    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let counts: std::collections::HashMap<i64, i64> = conn.hgetall("runs").await.unwrap();
    assert_eq!(counts.len(), entries.len());
    assert!(
        counts.values().all(|count| *count == 1),
        "Redis counted a tick twice: {counts:?}"
    );
    let instances: std::collections::BTreeSet<usize> = entries.iter().map(|(i, _, _)| *i).collect();
    println!("ran {} ticks on instances {instances:?}", entries.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_run_each_tick_once() {
    run_and_check(&[0, 0, 0], 11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clocks_1_5_s_behind_and_ahead_still_run_each_tick_once() {
    run_and_check(&[-1_500, 0, 1_500], 11).await;
}
