//! Redis Sentinel: a primary, two replicas and three sentinels on loopback.
//! The lock contract holds through the sentinels; three schedulers follow a
//! failover after the primary is SIGKILLed; with durability, a claim a
//! failover could forget is never run.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cronlock::lock::{
    ClaimRequest, Claimed, DEFAULT_SKEW_MARGIN, Deployment, Lock, LockErrorKind, RedisLock,
    RedisLockConfig, random_token,
};
use cronlock::{Overlap, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::contract::{Backend, check};
use cronlock_tests::fleet::{Ledger, counts, recorded, seconds};
use cronlock_tests::proxy::Proxy;
use cronlock_tests::topology::SentinelSetup;

struct Sentinel(SentinelSetup);

impl Backend for Sentinel {
    fn instance(&self) -> Pin<Box<dyn Future<Output = Arc<dyn Lock>> + Send + '_>> {
        Box::pin(async move {
            let lock = RedisLock::connect(RedisLockConfig::new(self.0.url("")))
                .await
                .expect("the sentinels answer");
            assert_eq!(lock.deployment(), Deployment::Sentinel);
            Arc::new(lock) as Arc<dyn Lock>
        })
    }

    fn skew_margin(&self) -> Duration {
        DEFAULT_SKEW_MARGIN
    }
}

/// A sentinel that names another node as the master (one that has not
/// heard of a failover names the old primary, which may be back, empty,
/// and still calling itself a master): asked first, it is outvoted by the
/// majority, so no claim ever lands on that node.
#[tokio::test]
async fn a_sentinel_naming_another_master_is_outvoted() {
    let mut setup = SentinelSetup::start(1, 2);
    let decoy = RedisServer::start();
    let stale = setup.start_stale_sentinel(decoy.port());
    let url = setup.url("").replacen(
        "redis+sentinel://",
        &format!("redis+sentinel://127.0.0.1:{stale},"),
        1,
    );
    let lock = RedisLock::connect(RedisLockConfig::new(url)).await.unwrap();
    let tick = Utc::now();
    for round in 0..5 {
        let token = random_token();
        let claimed = lock
            .claim(claim(tick - chrono::Duration::seconds(round), &token))
            .await
            .unwrap();
        let Claimed::Acquired(claimed) = claimed else {
            panic!("{claimed:?}");
        };
        lock.release(&claimed).await.unwrap();
    }
    assert_eq!(
        decoy.command(&["DBSIZE"]),
        ":0",
        "a claim reached the decoy"
    );
    let primary = setup.master_port().expect("a primary");
    let primary = setup
        .servers
        .iter()
        .find(|server| server.port() == primary)
        .expect("the primary");
    assert_ne!(
        primary.command(&["DBSIZE"]),
        ":0",
        "no claim reached the primary"
    );
}

/// A master name the sentinels do not know is a startup error that says so.
#[tokio::test]
async fn an_unknown_master_name_is_a_startup_error() {
    let setup = SentinelSetup::start(0, 1);
    let url = setup.url("").replace("/mymaster", "/mymastr");
    let err = RedisLock::connect(RedisLockConfig::new(url))
        .await
        .expect_err("no such master");
    assert_eq!(err.kind(), LockErrorKind::Config, "{err}");
    assert!(
        err.to_string()
            .contains("the sentinels know no master by that name"),
        "{err}"
    );
}

#[tokio::test]
async fn the_lock_keeps_the_contract_through_the_sentinels() {
    check(&Sentinel(SentinelSetup::start(1, 1)), "sentinel-").await;
}

/// Three schedulers, three every-second jobs; the primary is SIGKILLed; the
/// sentinels promote a replica; every tick from two seconds after the
/// promotion runs, once. Ticks around the failover may not run (fail
/// closed), and without durability a tick claimed on the old primary and
/// not yet replicated may run again: both are counted, not asserted away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedulers_follow_a_failover_to_the_promoted_replica() {
    let (doubled, after) = failover_run("", 2).await;
    println!("without durability: {doubled} ticks ran twice around the failover");
    assert!(after >= 6, "ticks after the failover: {after}");
}

/// The same with durability (one replica must acknowledge each claim): no
/// tick runs twice across the failover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_durability_a_failover_runs_no_tick_twice() {
    // The remaining replica resynchronises with the new primary first.
    let (doubled, after) = failover_run("?wait_replicas=1&wait_timeout=100ms", 6).await;
    assert_eq!(doubled, 0, "ticks ran twice with durability");
    assert!(after >= 6, "ticks after the failover: {after}");
}

/// Runs the failover scenario; returns the ticks run twice and how many
/// ticks ran, each once, from when the fleet was ready again: `settle`
/// seconds after the last failover and, with durability, once the primary
/// has a replica in sync. The run lasts until 8 s of ticks follow that.
///
/// Under load the sentinels sometimes fail over a second time (a sentinel
/// that missed the first election starts its own in a later epoch and
/// promotes the other replica). That is a second failover, with the same
/// allowance as the first: ticks that could have been claimed on the primary
/// it replaced (up to the job's timeout before it) and the `settle` seconds
/// after it are not checked.
async fn failover_run(query: &str, settle: i64) -> (usize, usize) {
    const TIMEOUT: Duration = Duration::from_secs(5);
    let mut setup = SentinelSetup::start(2, 3);
    let url = setup.url(query);
    let ledger = Ledger::default();
    let mut schedulers = Vec::new();
    for instance in 0..3 {
        let mut builder = Scheduler::builder().registered_jobs(false).redis_config(
            RedisLockConfig::new(&url)
                .connect_timeout(Duration::from_millis(500))
                .reply_timeout(Duration::from_millis(500)),
        );
        for job in ["a", "b", "c"] {
            builder = builder.job(recorded(&ledger, instance, job, "* * * * * *", TIMEOUT));
        }
        schedulers.push(builder.build().await.unwrap());
    }
    // The schedulers run until 8 s of checked ticks follow the last
    // failover (at least 20 s in all; a minute at most).
    let began = Utc::now();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running: Vec<_> = schedulers
        .iter()
        .map(|scheduler| {
            let scheduler = scheduler.clone();
            let mut stopped = stopped.clone();
            tokio::spawn(async move {
                scheduler
                    .run_until(async move {
                        let _ = stopped.wait_for(|stop| *stop).await;
                    })
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let old = setup.master_port().expect("a primary");
    let watch = setup.watch_primary();
    setup.server(old).kill();
    // Ready: the primary named now has been for `settle` seconds and, with
    // durability, has a replica in sync (a durable claim needs one). A
    // later failover starts the wait again; the run then goes on for 8 s
    // of ticks that must each run once (20 s in all at least, a minute at
    // most).
    let durable = !query.is_empty();
    let settle = chrono::Duration::seconds(settle);
    let (setup, watch, ready) = tokio::task::spawn_blocking(move || {
        setup.await_failover(old, Duration::from_secs(10));
        let mut ready: Option<(u16, chrono::DateTime<Utc>)> = None;
        loop {
            let now = Utc::now();
            let (named_at, primary) = *watch.seen().last().expect("a primary named");
            let in_sync = !durable || setup.has_replica_in_sync(primary);
            let settled = now >= named_at + settle;
            match ready {
                Some((port, _)) if port == primary && in_sync => {}
                _ => ready = (settled && in_sync).then_some((primary, now)),
            }
            let long_enough = now >= began + chrono::Duration::seconds(20);
            if ready.is_some_and(|(_, at)| long_enough && now >= at + chrono::Duration::seconds(8))
                || now >= began + chrono::Duration::seconds(60)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        (setup, watch, ready)
    })
    .await
    .unwrap();
    let stopped_at = Utc::now();
    let _ = stop.send(true);
    for run in running {
        run.await.unwrap().unwrap();
    }
    let primaries = watch.stop();
    drop(setup);
    if primaries.len() > 2 {
        println!("the sentinels failed over more than once: {primaries:?}");
    }
    let (_, ready_at) = ready.unwrap_or_else(|| {
        panic!("the fleet was never ready after the failover (primaries named: {primaries:?})")
    });
    let counts = counts(&ledger);
    let doubled = counts.values().filter(|count| **count > 1).count();
    let checked = seconds(ready_at, stopped_at - chrono::Duration::seconds(1));
    let mut ran_after = 0;
    for tick in &checked {
        for job in ["a", "b", "c"] {
            let count = counts.get(&(job.to_owned(), *tick)).copied().unwrap_or(0);
            let runs: Vec<usize> = ledger
                .entries()
                .into_iter()
                .filter(|(_, name, t)| name == job && t == tick)
                .map(|(instance, _, _)| instance)
                .collect();
            assert_eq!(
                count, 1,
                "{job} at {tick} after the failover (ready at {ready_at}; primaries named, with when: {primaries:?}) ran {count} times, on instances {runs:?}"
            );
            ran_after += 1;
        }
    }
    (doubled, ran_after / 3)
}

/// The durability rule, shown where asynchronous replication loses a claim:
/// the primary grants a tick its replica never receives, then dies, and
/// the replica (which never saw the claim) is promoted. Without durability
/// a second instance is granted the same tick on the new primary: it runs
/// twice. With durability the first grant is never run (its replica did not
/// acknowledge it), so the tick runs once.
#[tokio::test]
async fn a_claim_counts_only_once_a_replica_has_it() {
    for durable in [false, true] {
        let primary = RedisServer::start();
        // Replication goes through a proxy, so the test can lose it.
        let link = Proxy::start(primary.port());
        let replica = RedisServer::start_with(&[
            "--save",
            "",
            "--replicaof",
            "127.0.0.1",
            &link.port().to_string(),
        ]);
        await_replica(&primary);
        // The managed endpoint: a proxy that a failover points elsewhere.
        let endpoint = Proxy::start(primary.port());
        let config = || {
            let config =
                RedisLockConfig::new(endpoint.url()).reply_timeout(Duration::from_millis(500));
            if durable {
                config.wait_for_replicas(1, Duration::from_millis(100))
            } else {
                config
            }
        };
        let first = RedisLock::connect(config()).await.unwrap();
        // From now on the replica receives nothing from its primary.
        link.set(cronlock_tests::proxy::Fault::DropReplies);
        let token = random_token();
        let tick = Utc::now();
        let answer = first.claim(claim(tick, &token)).await;
        // Failover: the primary dies, the replica that missed the claim is promoted.
        drop(first);
        drop(primary);
        link.cut();
        replica.command(&["REPLICAOF", "NO", "ONE"]);
        endpoint.retarget(replica.port());
        endpoint.cut();
        // The promoted primary has no replica left: the second instance
        // claims without waiting for one.
        let second = RedisLock::connect(RedisLockConfig::new(endpoint.url()))
            .await
            .unwrap();
        let other = random_token();
        let again = second.claim(claim(tick, &other)).await.unwrap();
        assert!(matches!(again, Claimed::Acquired(_)), "{again:?}");
        if durable {
            let err = answer.expect_err("a claim no replica has must not be granted");
            assert_eq!(err.kind(), LockErrorKind::Unavailable, "{err}");
        } else {
            assert!(
                matches!(answer, Ok(Claimed::Acquired(_))),
                "without durability the first claim is granted too (the tick runs twice): {answer:?}"
            );
        }
    }
}

fn claim(tick: chrono::DateTime<Utc>, token: &str) -> ClaimRequest<'_> {
    ClaimRequest {
        job: "durable",
        tick,
        token,
        ttl: Duration::from_secs(5),
        overlap: Overlap::Skip,
        now: Utc::now(),
    }
}

fn await_replica(primary: &RedisServer) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !primary
        .bulk(&["INFO", "replication"])
        .contains("connected_slaves:1")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the replica did not connect"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first sync is done when the replica reports its link up.
    std::thread::sleep(Duration::from_millis(300));
}
