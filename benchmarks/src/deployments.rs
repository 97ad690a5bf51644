//! cronlock on each deployment, measured in one run: the cost of one claim
//! next to the backend's raw lock statement (`SET NX PX` on Redis, with and
//! without the durability option; `INSERT … ON CONFLICT DO NOTHING` on
//! Postgres).

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use cronlock::Overlap;
use cronlock::lock::{
    ClaimRequest, Lock, PostgresLock, PostgresLockConfig, RedisLock, RedisLockConfig, random_token,
};
use cronlock_tests::RedisServer;
use cronlock_tests::postgres::{PgBouncer, PostgresServer};
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
    /// One PostgreSQL server, reached directly or through PgBouncer in
    /// transaction mode.
    Postgres(PostgresServer, Option<PgBouncer>),
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
    /// One PostgreSQL server.
    Postgres,
    /// PostgreSQL behind PgBouncer (transaction mode).
    PgBouncer,
}

/// Every variant, in table order.
pub const VARIANTS: [Variant; 7] = [
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
    Variant {
        name: "postgres",
        kind: Kind::Postgres,
        durable: false,
    },
    Variant {
        name: "postgres via pgbouncer",
        kind: Kind::PgBouncer,
        durable: false,
    },
];

impl Setup {
    /// Starts the deployment `kind` on loopback.
    pub fn start(kind: Kind) -> Setup {
        match kind {
            Kind::Standalone => Setup::Standalone(RedisServer::start()),
            Kind::Sentinel => Setup::Sentinel(SentinelSetup::start(2, 3)),
            Kind::Cluster => Setup::Cluster(ClusterSetup::start(3)),
            Kind::Postgres => Setup::Postgres(PostgresServer::start(), None),
            Kind::PgBouncer => {
                let server = PostgresServer::start();
                let bouncer = PgBouncer::start(&server);
                Setup::Postgres(server, Some(bouncer))
            }
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
            Setup::Postgres(server, bouncer) => bouncer
                .as_ref()
                .map_or_else(|| server.url(), PgBouncer::url),
        }
    }
}

/// Claim round trips, p50 and p99 (µs), and the same for a raw `SET NX PX`.
#[derive(Debug, Clone, Copy)]
pub struct ClaimCost {
    /// cronlock's claim: p50, p99.
    pub claim_us: (u64, u64),
    /// The raw lock statement (`SET key value NX PX 60000`, or an
    /// `INSERT … ON CONFLICT DO NOTHING` of a lock row): p50, p99.
    pub raw_us: (u64, u64),
}

fn quantiles(mut samples: Vec<u64>) -> (u64, u64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}

/// Measures `rounds` claims and `rounds` raw `SET NX PX` on the deployment.
pub async fn claim_cost(setup: &Setup, durable: bool, rounds: usize) -> ClaimCost {
    let lock: Box<dyn Lock> = match setup {
        Setup::Postgres(..) => Box::new(
            PostgresLock::connect(PostgresLockConfig::new(setup.url(durable)))
                .await
                .expect("Postgres answers"),
        ),
        _ => Box::new(
            RedisLock::connect(RedisLockConfig::new(setup.url(durable)))
                .await
                .expect("the deployment answers"),
        ),
    };
    let base: DateTime<Utc> = Utc
        .with_ymd_and_hms(2001, 1, 1, 0, 0, 0)
        .single()
        .expect("valid");
    let mut claims = Vec::with_capacity(rounds);
    for round in 0..rounds + 100 {
        let token = random_token();
        let request = ClaimRequest {
            job: "bench",
            // A second apart, as the ticks of an every-second job: the claimed
            // ticks remembered stay those of the window, as in production.
            tick: base + chrono::Duration::seconds(round as i64),
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

/// `SET NX PX` round trips with plain redis-rs, on the primary of the key
/// (on Postgres: the insert of a lock row that ShedLock-style locks use).
async fn raw_set_nx(setup: &Setup, rounds: usize) -> Vec<u64> {
    match setup {
        Setup::Postgres(..) => raw_insert(&setup.url(false), rounds).await,
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
                Setup::Cluster(_) | Setup::Postgres(..) => unreachable!("handled above"),
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

/// `rounds` timed `INSERT INTO raw_locks … ON CONFLICT DO NOTHING` round
/// trips (unnamed statements, as the lock sends them), after 100 untimed.
async fn raw_insert(url: &str, rounds: usize) -> Vec<u64> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("Postgres connection");
    let connection = tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS raw_locks (name text PRIMARY KEY, until timestamptz NOT NULL)",
        )
        .await
        .expect("table");
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds + 100 {
        let name = format!("raw:{round}");
        let started = Instant::now();
        client
            .query_typed(
                "INSERT INTO raw_locks (name, until) VALUES ($1, now() + interval '60 s') ON CONFLICT DO NOTHING",
                &[(&name, tokio_postgres::types::Type::TEXT)],
            )
            .await
            .expect("INSERT");
        if round >= 100 {
            samples.push(started.elapsed().as_micros() as u64);
        }
    }
    drop(client);
    let _ = connection.await;
    samples
}
