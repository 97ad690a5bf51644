//! Redis Cluster: three masters and three replicas on loopback. The lock
//! contract holds (batches span hash slots); three schedulers with 200 jobs
//! spread over the slots keep running every tick while slots move between
//! masters, and follow the failover of a SIGKILLed master.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cronlock::Scheduler;
use cronlock::lock::{DEFAULT_SKEW_MARGIN, Deployment, Lock, RedisLock, RedisLockConfig};
use cronlock_tests::contract::{Backend, check};
use cronlock_tests::fleet::{self, Ledger, counts, recorded, seconds};
use cronlock_tests::topology::ClusterSetup;

struct Cluster(ClusterSetup);

impl Backend for Cluster {
    fn instance(&self) -> Pin<Box<dyn Future<Output = Arc<dyn Lock>> + Send + '_>> {
        Box::pin(async move {
            let lock = RedisLock::connect(RedisLockConfig::new(self.0.url()))
                .await
                .expect("the cluster answers");
            assert_eq!(lock.deployment(), Deployment::Cluster);
            Arc::new(lock) as Arc<dyn Lock>
        })
    }

    fn skew_margin(&self) -> Duration {
        DEFAULT_SKEW_MARGIN
    }
}

#[tokio::test]
async fn the_lock_keeps_the_contract_on_a_cluster() {
    check(&Cluster(ClusterSetup::start(3)), "cluster-").await;
}

const JOBS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_over_all_slots_survive_resharding_and_a_master_failover() {
    // Warnings and errors, printed if a tick goes missing (why it did).
    let capture = cronlock_tests::logs::LogCapture::default();
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .finish(),
    );
    let mut setup = ClusterSetup::start(3);
    let ledger = Ledger::default();
    let mut schedulers = Vec::new();
    for instance in 0..3 {
        let mut builder = Scheduler::builder().registered_jobs(false).redis_config(
            RedisLockConfig::new(setup.url())
                .connect_timeout(Duration::from_millis(500))
                .reply_timeout(Duration::from_millis(500)),
        );
        for job in 0..JOBS {
            builder = builder.job(recorded(
                &ledger,
                instance,
                &format!("job-{job}"),
                "* * * * * *",
                Duration::from_secs(5),
            ));
        }
        schedulers.push(builder.build().await.unwrap());
    }
    let started = Utc::now();
    let running = fleet::start(&schedulers, Duration::from_secs(22));
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Move 2,000 slots (and their keys) from one master to another, live;
    // then a master dies, and its replica takes over after the node timeout.
    let (setup, to_port, resharded, killed) = tokio::task::spawn_blocking(move || {
        let masters: Vec<_> = setup
            .topology()
            .into_iter()
            .filter(|node| node.master)
            .collect();
        let (from, to) = (masters[0].clone(), masters[1].clone());
        setup.reshard(&from, &to, 2_000);
        let resharded = Utc::now();
        let victim = setup
            .topology()
            .into_iter()
            .find(|node| node.master && node.port != to.port && node.slots > 0)
            .expect("another master");
        setup.node(victim.port).kill();
        let killed = Utc::now();
        setup.await_failover(victim.port, Duration::from_secs(15));
        (setup, to.port, resharded, killed)
    })
    .await
    .unwrap();
    let _ = to_port;
    let recovered = Utc::now();
    running.finish().await;
    drop(setup);

    let counts = counts(&ledger);
    let doubled: Vec<_> = counts.iter().filter(|(_, count)| **count > 1).collect();
    let before_kill = seconds(
        started + chrono::Duration::seconds(1),
        killed - chrono::Duration::seconds(1),
    );
    let after = seconds(
        recovered + chrono::Duration::seconds(2),
        Utc::now() - chrono::Duration::seconds(1),
    );
    let mut missing = Vec::new();
    for tick in before_kill.iter().chain(&after) {
        for job in 0..JOBS {
            if !counts.contains_key(&(format!("job-{job}"), *tick)) {
                missing.push((job, *tick));
            }
        }
    }
    let during: usize = seconds(killed, recovered + chrono::Duration::seconds(2))
        .iter()
        .map(|tick| {
            (0..JOBS)
                .filter(|job| !counts.contains_key(&(format!("job-{job}"), *tick)))
                .count()
        })
        .sum();
    println!(
        "{} ticks checked before the kill (resharding at {resharded}), {} after recovery; not run during the failover window: {during}; doubled: {}",
        before_kill.len() * JOBS,
        after.len() * JOBS,
        doubled.len()
    );
    let doubled_before_kill: Vec<_> = doubled
        .iter()
        .filter(|((_, tick), _)| *tick < killed - chrono::Duration::seconds(1))
        .collect();
    assert!(
        doubled_before_kill.is_empty(),
        "ran twice while slots moved: {doubled_before_kill:?}"
    );
    if !missing.is_empty() {
        println!(
            "killed at {killed}, every node knew of the promotion at {recovered}; the schedulers logged:"
        );
        for line in capture.lines() {
            println!("{line}");
        }
    }
    assert!(
        missing.is_empty(),
        "never ran outside the failover window: {} e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(
        after.len() >= 3,
        "too little time after recovery: {after:?}"
    );
}

/// With durability on a Cluster, a batch spanning every master waits for
/// each master's own replica: all grants stand while every replica is up;
/// with one replica stopped, the grants on its master's slots are refused
/// (not run) and the others stand.
#[tokio::test]
async fn durable_claims_wait_for_the_replica_of_their_own_master() {
    use cronlock::Overlap;
    use cronlock::lock::{ClaimRequest, Claimed, random_token};

    let setup = ClusterSetup::start(3);
    let lock = RedisLock::connect(RedisLockConfig::new(format!(
        "{}?wait_replicas=1&wait_timeout=200ms",
        setup.url()
    )))
    .await
    .unwrap();
    let jobs: Vec<String> = (0..60).map(|job| format!("durable-{job}")).collect();
    let tokens: Vec<String> = jobs.iter().map(|_| random_token()).collect();
    let claim_all = |tick: chrono::DateTime<Utc>| {
        let requests: Vec<ClaimRequest<'_>> = jobs
            .iter()
            .zip(&tokens)
            .map(|(job, token)| ClaimRequest {
                job,
                tick,
                token,
                ttl: Duration::from_secs(5),
                overlap: Overlap::Allow,
                now: Utc::now(),
            })
            .collect();
        let lock = &lock;
        async move { lock.claim_many(&requests).await }
    };
    let granted = |answers: &[Result<Claimed, cronlock::lock::LockError>]| {
        answers
            .iter()
            .filter(|answer| matches!(answer, Ok(Claimed::Acquired(_))))
            .count()
    };

    let first = claim_all(Utc::now() - chrono::Duration::seconds(2)).await;
    assert_eq!(granted(&first), jobs.len(), "{first:?}");

    let replica = setup
        .topology()
        .into_iter()
        .find(|node| !node.master)
        .expect("a replica");
    let stopped = setup
        .nodes
        .iter()
        .find(|node| node.port() == replica.port)
        .expect("the replica");
    stopped.signal("STOP");
    let second = claim_all(Utc::now() - chrono::Duration::seconds(1)).await;
    stopped.signal("CONT");
    let refused = second.iter().filter(|answer| answer.is_err()).count();
    assert!(
        refused > 0 && granted(&second) > 0 && refused + granted(&second) == jobs.len(),
        "one master's claims refused, the others granted: {second:?}"
    );
}
