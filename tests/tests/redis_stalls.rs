//! Replies that come late or never: lost replies, a stalled Redis
//! (`DEBUG SLEEP`, `SIGSTOP`), a half-open connection during a run, and the
//! clock offset measured from slow replies. Every tick after the fault runs
//! once, none runs twice, no lock is left behind.

use std::time::Duration;

use chrono::Utc;
use cronlock::lock::{ClaimRequest, Claimed, Lock, RedisLock, RedisLockConfig, random_token};
use cronlock::{Job, JobContext, Overlap, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::fleet::{self, Ledger, assert_each_once, recorded, seconds};
use cronlock_tests::paused::Log;
use cronlock_tests::proxy::{Fault, Proxy};

fn scheduler(url: &str, reply_timeout: Duration, job: Job) -> cronlock::SchedulerBuilder {
    Scheduler::builder()
        .registered_jobs(false)
        .redis_config(
            RedisLockConfig::new(url)
                .connect_timeout(Duration::from_millis(500))
                .reply_timeout(reply_timeout),
        )
        .cancel_grace(Duration::from_millis(300))
        .job(job)
}

/// Runs an every-second job (10 s timeout, so a late tick still runs) for
/// `seconds` s, calling `fault` after 2.2 s; returns the ledger and when the
/// fault ended. The tests require every tick from the one due when the
/// fault ended: its claim was sent during the fault, and is sent again
/// until Redis answers.
async fn run_through(
    url: &str,
    reply_timeout: Duration,
    total: Duration,
    fault: impl FnOnce() + Send + 'static,
) -> (Ledger, chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    let ledger = Ledger::default();
    let job = recorded(
        &ledger,
        0,
        "every-second",
        "* * * * * *",
        Duration::from_secs(10),
    );
    let scheduler = scheduler(url, reply_timeout, job).build().await.unwrap();
    let started = Utc::now();
    let running = fleet::start(&[scheduler], total);
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    tokio::task::spawn_blocking(fault).await.unwrap();
    let fault_over = Utc::now();
    running.finish().await;
    (ledger, started, fault_over)
}

/// A claim whose reply is lost is sent again with the same token and gets
/// the grant it won: the tick runs, and no run lock is left for a token
/// nobody holds (which would refuse the job's ticks until its TTL ran out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_replies_lose_no_tick_after_the_fault_and_leave_no_lock() {
    let redis = RedisServer::start();
    let proxy = std::sync::Arc::new(Proxy::start(redis.port()));
    let faulty = std::sync::Arc::clone(&proxy);
    let (ledger, _, over) = run_through(
        &proxy.url(),
        Duration::from_millis(300),
        Duration::from_secs(8),
        move || {
            faulty.set(Fault::DropReplies);
            std::thread::sleep(Duration::from_millis(1_500));
            faulty.set(Fault::None);
        },
    )
    .await;
    let after = seconds(
        over - chrono::Duration::seconds(1),
        Utc::now() - chrono::Duration::seconds(1),
    );
    assert_each_once(&ledger, "every-second", &after);
    assert_eq!(
        redis.command(&["EXISTS", "{cronlock:every-second}:run"]),
        ":0"
    );
}

/// Redis blocked for 2.5 s (`DEBUG SLEEP`), longer than the 2 s reply
/// timeout: every tick after it runs, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_stall_longer_than_the_reply_timeout_loses_no_later_tick() {
    let redis = std::sync::Arc::new(RedisServer::start());
    let sleeper = std::sync::Arc::clone(&redis);
    let (ledger, _, over) = run_through(
        &redis.url(),
        Duration::from_secs(2),
        Duration::from_secs(9),
        move || {
            let reply = sleeper
                .try_command_with_timeout(&["DEBUG", "SLEEP", "2.5"], Duration::from_secs(10))
                .unwrap();
            assert_eq!(reply, "+OK", "Redis did not sleep");
        },
    )
    .await;
    let after = seconds(
        over - chrono::Duration::seconds(1),
        Utc::now() - chrono::Duration::seconds(1),
    );
    assert_each_once(&ledger, "every-second", &after);
}

/// Redis stopped for 10 s (`SIGSTOP`): claims queued in its sockets meanwhile
/// are refused when it resumes (past their deadline), so they take no tick
/// and no lock; every tick after it runs, none twice, no lock is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_for_ten_seconds_loses_no_later_tick_and_leaves_no_lock() {
    let redis = std::sync::Arc::new(RedisServer::start());
    let stopped = std::sync::Arc::clone(&redis);
    let (ledger, _, over) = run_through(
        &redis.url(),
        Duration::from_secs(2),
        Duration::from_secs(17),
        move || {
            stopped.signal("STOP");
            std::thread::sleep(Duration::from_secs(10));
            stopped.signal("CONT");
        },
    )
    .await;
    let after = seconds(
        over - chrono::Duration::seconds(1),
        Utc::now() - chrono::Duration::seconds(1),
    );
    assert!(after.len() >= 3, "{after:?}");
    assert_each_once(&ledger, "every-second", &after);
    assert_eq!(
        redis.command(&["EXISTS", "{cronlock:every-second}:run"]),
        ":0"
    );
}

/// When the run lock cannot be extended (the connection went half-open),
/// the run is cancelled and stopped before its lock expires in Redis, so
/// another instance can never run alongside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_cannot_extend_its_lock_stops_before_the_lock_expires() {
    let redis = std::sync::Arc::new(RedisServer::start());
    let proxy = std::sync::Arc::new(Proxy::start(redis.port()));
    // What Redis says of the lock when the job sees its cancellation.
    let seen: Log<String> = Log::default();
    let (log, watcher) = (seen.clone(), std::sync::Arc::clone(&redis));
    // A 6 s timeout and lock TTL: extensions every 2 s; with no answer the
    // run is cancelled 2 s (the cancel grace) before the lease ends.
    let long = Job::new(
        "long",
        "* * * * * *",
        Duration::from_secs(6),
        move |ctx: JobContext| {
            let (log, watcher) = (log.clone(), std::sync::Arc::clone(&watcher));
            async move {
                ctx.cancelled().await;
                log.push(watcher.command(&["PTTL", "{cronlock:long}:run"]));
            }
        },
    )
    .overlap(Overlap::Skip);
    let scheduler = Scheduler::builder()
        .registered_jobs(false)
        .redis_config(
            RedisLockConfig::new(proxy.url())
                .connect_timeout(Duration::from_millis(500))
                .reply_timeout(Duration::from_millis(500)),
        )
        .cancel_grace(Duration::from_secs(2))
        .job(long)
        .build()
        .await
        .unwrap();
    let running = fleet::start(&[scheduler], Duration::from_secs(7));
    // Until the run holds its lock, then the network stops answering.
    redis
        .await_key("{cronlock:long}:run", Duration::from_secs(3))
        .await;
    proxy.set(Fault::BlackHole);
    running.finish().await;
    let entries = seen.entries();
    let pttl: i64 = entries
        .first()
        .and_then(|reply| reply.strip_prefix(':'))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("the run was not cancelled: {entries:?}"));
    assert!(
        pttl > 0,
        "the run was still going when its lock expired (PTTL {pttl})"
    );
}

fn request(now: chrono::DateTime<Utc>, second: i64, token: &str) -> ClaimRequest<'_> {
    ClaimRequest {
        job: "offset",
        tick: Utc::now() - chrono::Duration::seconds(100 - second),
        token,
        ttl: Duration::from_secs(5),
        overlap: Overlap::Allow,
        now,
    }
}

/// The clock offset is measured only from replies with a short round trip:
/// a reply that waited (latency, a stall) would report a wrong offset.
#[tokio::test]
async fn slow_replies_do_not_move_the_measured_clock_offset() {
    let redis = RedisServer::start();
    let proxy = Proxy::start(redis.port());
    let lock = RedisLock::connect(RedisLockConfig::new(proxy.url()))
        .await
        .unwrap();
    // A clock 1.5 s behind, measured on a fast reply.
    let token = random_token();
    let behind = Utc::now() - chrono::Duration::milliseconds(1_500);
    assert!(matches!(
        lock.claim(request(behind, 1, &token)).await.unwrap(),
        Claimed::Acquired(_)
    ));
    let measured = lock.clock_offset().num_milliseconds();
    assert!((1_300..=1_800).contains(&measured), "{measured}");
    // The same clock, correct now, but every reply 400 ms late: not measured.
    proxy.set(Fault::Latency(Duration::from_millis(400)));
    let token = random_token();
    assert!(matches!(
        lock.claim(request(Utc::now(), 2, &token)).await.unwrap(),
        Claimed::Acquired(_)
    ));
    assert_eq!(lock.clock_offset().num_milliseconds(), measured);
}
