//! Every tick accounted for, across a fleet on a real Redis: each tick of a
//! job either ran once or is recorded once as not run, with why — ticks
//! skipped for overlap by three instances, ticks given up while Redis was
//! stopped, and ticks no instance was up for (found by the next one to
//! start).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::lock::{Lock, RedisLock, RedisLockConfig};
use cronlock::{Job, JobContext, NotRun, RunOutcome, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::fleet::seconds;
use cronlock_tests::paused::Log;

/// An every-second job whose runs take `run_for`; records the ticks it ran.
async fn instance(
    url: &str,
    ran: &Log<DateTime<Utc>>,
    run_for: Duration,
    timeout: Duration,
) -> Scheduler {
    let ran = ran.clone();
    Scheduler::builder()
        .registered_jobs(false)
        .redis_config(
            RedisLockConfig::new(url)
                .connect_timeout(Duration::from_millis(500))
                .reply_timeout(Duration::from_millis(500)),
        )
        .shutdown_grace(Duration::from_secs(5))
        .job(Job::new(
            "tally",
            "* * * * * *",
            timeout,
            move |ctx: JobContext| {
                let ran = ran.clone();
                async move {
                    ran.push(ctx.tick());
                    tokio::time::sleep(run_for).await;
                }
            },
        ))
        .build()
        .await
        .unwrap()
}

/// The records of ticks not run, straight from the backend: tick → reasons.
async fn records(url: &str) -> BTreeMap<DateTime<Utc>, Vec<NotRun>> {
    let lock = RedisLock::connect(RedisLockConfig::new(url)).await.unwrap();
    let entries = lock
        .control()
        .unwrap()
        .not_run("tally", 2_000)
        .await
        .unwrap();
    let mut by_tick: BTreeMap<DateTime<Utc>, Vec<NotRun>> = BTreeMap::new();
    for entry in entries {
        let RunOutcome::NotRun { reason } = entry.outcome else {
            panic!("not a record of a tick not run: {entry:?}");
        };
        by_tick.entry(entry.tick).or_default().push(reason);
    }
    by_tick
}

/// Each tick of `range` ran once or is recorded once as not run, never
/// both; returns the reasons recorded.
fn assert_accounted(
    range: &[DateTime<Utc>],
    ran: &Log<DateTime<Utc>>,
    recorded: &BTreeMap<DateTime<Utc>, Vec<NotRun>>,
) -> BTreeSet<NotRun> {
    let mut runs: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
    for tick in ran.entries() {
        *runs.entry(tick).or_default() += 1;
    }
    let mut reasons = BTreeSet::new();
    for tick in range {
        let (times_run, records) = (
            runs.get(tick).copied().unwrap_or(0),
            recorded.get(tick).map_or(0, Vec::len),
        );
        assert_eq!(
            times_run + records,
            1,
            "tick {tick}: ran {times_run} times, recorded {records} times as not run\nran: {runs:?}\nrecorded: {recorded:?}"
        );
        reasons.extend(recorded.get(tick).into_iter().flatten().copied());
    }
    reasons
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_skipped_for_overlap_by_three_instances_are_recorded_once() {
    let redis = RedisServer::start();
    let ran = Log::default();
    let mut fleet = Vec::new();
    for _ in 0..3 {
        fleet.push(
            instance(
                &redis.url(),
                &ran,
                Duration::from_millis(2_500),
                Duration::from_secs(3),
            )
            .await,
        );
    }
    let began = Utc::now();
    cronlock_tests::fleet::start(&fleet, Duration::from_secs(9))
        .finish()
        .await;
    let range = seconds(began, began + chrono::Duration::seconds(6));
    let reasons = assert_accounted(&range, &ran, &records(&redis.url()).await);
    // Each tick is accounted for once; most skips are for overlap (a run
    // of 2.5 s skips the two ticks after it). On a loaded machine a tick may
    // also be given up late (`missed`) or unanswered (`lock_unavailable`).
    assert!(
        reasons.contains(&NotRun::SkippedOverlap),
        "runs of 2.5 s skip the ticks after them: {reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_given_up_while_redis_was_stopped_are_recorded_after_it_resumes() {
    let redis = std::sync::Arc::new(RedisServer::start());
    let ran = Log::default();
    let mut fleet = Vec::new();
    for _ in 0..3 {
        fleet.push(instance(&redis.url(), &ran, Duration::ZERO, Duration::from_secs(1)).await);
    }
    let began = Utc::now();
    let running = cronlock_tests::fleet::start(&fleet, Duration::from_secs(16));
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Stopped for 9 s, longer than the claim window (the 1 s lock TTL and
    // twice the 2 s skew margin): most of its ticks are older than what
    // the claim state remembers when Redis resumes, and the run history
    // tells that nobody ran them.
    let stopped = std::sync::Arc::clone(&redis);
    tokio::task::spawn_blocking(move || {
        stopped.signal("STOP");
        std::thread::sleep(Duration::from_secs(9));
        stopped.signal("CONT");
    })
    .await
    .unwrap();
    running.finish().await;
    let range = seconds(began, began + chrono::Duration::seconds(14));
    let reasons = assert_accounted(&range, &ran, &records(&redis.url()).await);
    assert!(
        reasons.contains(&NotRun::LockUnavailable),
        "the stall's ticks say why: {reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_no_instance_was_up_for_are_recorded_by_the_next_to_start() {
    let redis = RedisServer::start();
    let ran = Log::default();
    let first = instance(&redis.url(), &ran, Duration::ZERO, Duration::from_secs(1)).await;
    let began = Utc::now();
    cronlock_tests::fleet::start(std::slice::from_ref(&first), Duration::from_secs(3))
        .finish()
        .await;
    // Nobody runs the job for 5 s; then an instance starts and runs 3 s.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let next = instance(&redis.url(), &ran, Duration::ZERO, Duration::from_secs(1)).await;
    let restarted = Utc::now();
    cronlock_tests::fleet::start(std::slice::from_ref(&next), Duration::from_secs(4))
        .finish()
        .await;
    let recorded = records(&redis.url()).await;
    let range = seconds(began, restarted + chrono::Duration::seconds(1));
    let reasons = assert_accounted(&range, &ran, &recorded);
    assert!(reasons.contains(&NotRun::FleetDown), "{recorded:?}");
    let down = recorded
        .values()
        .filter(|reasons| reasons.contains(&NotRun::FleetDown))
        .count();
    assert!((4..=7).contains(&down), "about 5 s of ticks: {recorded:?}");
}
