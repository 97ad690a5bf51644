//! cronlock on each Redis deployment, measured in one run: the cost of one
//! claim next to a raw `SET NX PX` on the same deployment, with and without
//! the durability option (`WAIT` for one replica).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use cronlock::Overlap;
use cronlock::lock::{ClaimRequest, Lock, RedisLock, RedisLockConfig, random_token};
use cronlock_tests::RedisServer;
use cronlock_tests::topology::{ClusterSetup, SentinelSetup};

/// One deployment under test, running while this value lives.
#[derive(Debug)]
pub enum Setup {
    /// One server.
    Standalone(RedisServer),
    /// A primary, two replicas, three sentinels.
    Sentinel(SentinelSetup),
    /// Three masters with a replica each.
    Cluster(ClusterSetup),
}

/// A deployment and whether claims wait for a replica.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// Its label in tables.
    pub name: &'static str,
    /// Which deployment.
    pub kind: Kind,
    /// `wait_replicas=1`.
    pub durable: bool,
}

/// The deployments measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One server.
    Standalone,
    /// Sentinel with two replicas.
    Sentinel,
    /// Cluster of three masters.
    Cluster,
}

/// Every variant, in table order.
pub const VARIANTS: [Variant; 5] = [
    Variant {
        name: "standalone",
        kind: Kind::Standalone,
        durable: false,
    },
    Variant {
        name: "sentinel",
        kind: Kind::Sentinel,
        durable: false,
    },
    Variant {
        name: "sentinel, durable (1 replica)",
        kind: Kind::Sentinel,
        durable: true,
    },
    Variant {
        name: "cluster",
        kind: Kind::Cluster,
        durable: false,
    },
    Variant {
        name: "cluster, durable (1 replica)",
        kind: Kind::Cluster,
        durable: true,
    },
];

impl Setup {
    /// Starts the deployment `kind` on loopback.
    pub fn start(kind: Kind) -> Setup {
        match kind {
            Kind::Standalone => Setup::Standalone(RedisServer::start()),
            Kind::Sentinel => Setup::Sentinel(SentinelSetup::start(2, 3)),
            Kind::Cluster => Setup::Cluster(ClusterSetup::start(3)),
        }
    }

    /// The URL cronlock is given.
    pub fn url(&self, durable: bool) -> String {
        let query = if durable {
            "?wait_replicas=1&wait_timeout=1s"
        } else {
            ""
        };
        match self {
            Setup::Standalone(redis) => format!("{}{query}", redis.url()),
            Setup::Sentinel(setup) => setup.url(query),
            Setup::Cluster(setup) => format!("{}{query}", setup.url()),
        }
    }
}

/// Claim round trips, p50 and p99 (µs), and the same for a raw `SET NX PX`.
#[derive(Debug, Clone, Copy)]
pub struct ClaimCost {
    /// cronlock's claim: p50, p99.
    pub claim_us: (u64, u64),
    /// A raw `SET key value NX PX 60000`: p50, p99.
    pub raw_us: (u64, u64),
}

fn quantiles(mut samples: Vec<u64>) -> (u64, u64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}

/// Measures `rounds` claims and `rounds` raw `SET NX PX` on the deployment.
pub async fn claim_cost(setup: &Setup, durable: bool, rounds: usize) -> ClaimCost {
    let lock = RedisLock::connect(RedisLockConfig::new(setup.url(durable)))
        .await
        .expect("the deployment answers");
    let base: DateTime<Utc> = Utc
        .with_ymd_and_hms(2001, 1, 1, 0, 0, 0)
        .single()
        .expect("valid");
    let mut claims = Vec::with_capacity(rounds);
    for round in 0..rounds + 100 {
        let token = random_token();
        let request = ClaimRequest {
            job: "bench",
            tick: base + chrono::Duration::milliseconds(round as i64),
            token: &token,
            ttl: Duration::from_secs(60),
            overlap: Overlap::Allow,
            now: Utc::now(),
        };
        let started = Instant::now();
        lock.claim(request).await.expect("claim answered");
        if round >= 100 {
            claims.push(started.elapsed().as_micros() as u64);
        }
    }
    let raw = raw_set_nx(setup, rounds).await;
    ClaimCost {
        claim_us: quantiles(claims),
        raw_us: quantiles(raw),
    }
}

/// `SET NX PX` round trips with plain redis-rs, on the primary of the key.
async fn raw_set_nx(setup: &Setup, rounds: usize) -> Vec<u64> {
    match setup {
        Setup::Cluster(cluster) => {
            let client = redis::cluster::ClusterClient::new(vec![
                cluster
                    .url()
                    .replace("redis+cluster", "redis")
                    .split(',')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            ])
            .expect("cluster client");
            let mut conn = client
                .get_async_connection()
                .await
                .expect("cluster connection");
            timed_sets(&mut conn, rounds).await
        }
        _ => {
            let url = match setup {
                Setup::Standalone(redis) => redis.url(),
                Setup::Sentinel(sentinel) => format!(
                    "redis://127.0.0.1:{}",
                    sentinel.master_port().expect("a primary")
                ),
                Setup::Cluster(_) => unreachable!("handled above"),
            };
            let mut conn = redis::Client::open(url)
                .expect("client")
                .get_multiplexed_async_connection()
                .await
                .expect("connection");
            timed_sets(&mut conn, rounds).await
        }
    }
}

/// `rounds` timed `SET raw:N token NX PX 60000` round trips on `conn`, after
/// 100 untimed ones, in µs.
async fn timed_sets(conn: &mut impl redis::aio::ConnectionLike, rounds: usize) -> Vec<u64> {
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds + 100 {
        let started = Instant::now();
        let mut set = redis::cmd("SET");
        set.arg(format!("raw:{round}"))
            .arg("token")
            .arg("NX")
            .arg("PX")
            .arg(60_000);
        let _: Option<String> = set.query_async(conn).await.expect("SET");
        if round >= 100 {
            samples.push(started.elapsed().as_micros() as u64);
        }
    }
    samples
}
