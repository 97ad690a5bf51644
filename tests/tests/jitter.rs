//! `jitter`: runs start at an offset after their tick that the job's name
//! fixes (FNV-1a of the name, modulo the jitter in milliseconds), the same
//! on every instance; the tick keeps its identity and still runs once
//! fleet-wide.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::lock::RedisLockConfig;
use cronlock::{Job, JobContext, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::fleet;
use cronlock_tests::paused::Log;

const JITTER: Duration = Duration::from_millis(1500);

/// The offsets the documented rule gives for these names, computed here
/// independently of the scheduler: FNV-1a 64 of the name, modulo 1,500.
fn documented_offset_ms(name: &str) -> i64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % JITTER.as_millis() as u64) as i64
}

/// (instance, job, tick, wall-clock start) of every run.
type Starts = Log<(usize, String, DateTime<Utc>, DateTime<Utc>)>;

fn job(starts: &Starts, instance: usize, name: &str) -> Job {
    let starts = starts.clone();
    Job::new(
        name,
        "*/2 * * * * *",
        Duration::from_secs(1),
        move |ctx: JobContext| {
            let starts = starts.clone();
            async move {
                starts.push((instance, ctx.job_name().to_owned(), ctx.tick(), Utc::now()));
            }
        },
    )
    .jitter(JITTER)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_start_at_the_names_offset_once_across_the_fleet() {
    let redis = RedisServer::start();
    let starts = Starts::default();
    let mut schedulers = Vec::new();
    for instance in 0..3 {
        schedulers.push(
            Scheduler::builder()
                .registered_jobs(false)
                .redis_config(RedisLockConfig::new(redis.url()))
                .job(job(&starts, instance, "digest"))
                .job(job(&starts, instance, "sync"))
                .build()
                .await
                .unwrap(),
        );
    }
    let began = Utc::now();
    fleet::start(&schedulers, Duration::from_secs(11))
        .finish()
        .await;
    let ended = Utc::now();

    let entries = starts.entries();
    let mut runs: BTreeMap<(String, DateTime<Utc>), Vec<i64>> = BTreeMap::new();
    for (_, name, tick, started) in &entries {
        runs.entry((name.clone(), *tick))
            .or_default()
            .push((*started - *tick).num_milliseconds());
    }
    for name in ["digest", "sync"] {
        let expected = documented_offset_ms(name);
        // Every even second whose planned start lies well inside the run.
        let ticks: Vec<DateTime<Utc>> = (began.timestamp() + 1..ended.timestamp() - 2)
            .filter(|second| second % 2 == 0)
            .filter_map(|second| DateTime::from_timestamp(second, 0))
            .collect();
        assert!(ticks.len() >= 3, "too few ticks checked: {ticks:?}");
        for tick in ticks {
            let delays = runs
                .get(&(name.to_owned(), tick))
                .unwrap_or_else(|| panic!("{name} tick {tick} did not run: {entries:?}"));
            assert_eq!(delays.len(), 1, "{name} tick {tick} ran {delays:?}");
            // The tick is the scheduled instant; the start is the offset later
            // (scheduling and claim latency on a busy machine on top).
            assert!(
                (expected..expected + 400).contains(&delays[0]),
                "{name} tick {tick} started {} ms after it, expected {expected} ms",
                delays[0]
            );
        }
    }
    assert!(
        runs.keys()
            .all(|(_, tick)| tick.timestamp_subsec_millis() == 0 && tick.timestamp() % 2 == 0),
        "every tick is a scheduled instant: {entries:?}"
    );
}
