//! Claim cost against a local redis-server, next to a raw `SET NX PX` from
//! the same client library, measured in one run:
//!
//! ```text
//! cargo bench -p cronlock-tests --bench claim
//! ```
//!
//! Prints p50/p99 round trips and claims per second first (criterion reports
//! means and medians, not tails), with an empty script (`return 1`) as the
//! floor any claim made atomic in Lua pays, then runs the criterion
//! benchmarks.

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::Criterion;
use cronlock::Overlap;
use cronlock::lock::{
    ClaimRequest, Lock, MAX_CLAIM_BATCH, RedisLock, RedisLockConfig, random_token,
};
use cronlock_tests::RedisServer;

/// Distinct, increasing ticks in the past (never "too early").
fn next_tick(counter: &AtomicI64) -> DateTime<Utc> {
    let base = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    base + chrono::Duration::milliseconds(counter.fetch_add(1, Ordering::Relaxed))
}

fn claim_request(tick: DateTime<Utc>, token: &str) -> ClaimRequest<'_> {
    // Overlap::Allow: no run lock, so every claim succeeds without a release.
    ClaimRequest {
        job: "bench",
        tick,
        token,
        ttl: Duration::from_secs(60),
        overlap: Overlap::Allow,
        now: Utc::now(),
    }
}

struct Setup {
    _redis: RedisServer,
    runtime: tokio::runtime::Runtime,
    lock: RedisLock,
    raw: redis::aio::MultiplexedConnection,
    ticks: AtomicI64,
}

fn setup() -> Setup {
    let redis = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (lock, raw) = runtime.block_on(async {
        let lock = RedisLock::connect(RedisLockConfig::new(redis.url()))
            .await
            .unwrap();
        let raw = redis::Client::open(redis.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        (lock, raw)
    });
    Setup {
        _redis: redis,
        runtime,
        lock,
        raw,
        ticks: AtomicI64::new(0),
    }
}

async fn raw_set_nx_px(conn: &mut redis::aio::MultiplexedConnection, key: &str) {
    let _: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg("token")
        .arg("NX")
        .arg("PX")
        .arg(60_000)
        .query_async(conn)
        .await
        .unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The cheapest possible script: the floor of any claim done in Lua.
async fn empty_script(conn: &mut redis::aio::MultiplexedConnection, script: &redis::Script) {
    let _: i64 = script.invoke_async(conn).await.unwrap();
}

/// p50/p99 of single round trips, alternating the three so drift hits all.
fn tails(setup: &mut Setup, samples: usize) {
    let (mut claims, mut raws) = (Vec::with_capacity(samples), Vec::with_capacity(samples));
    let mut empties = Vec::with_capacity(samples);
    let empty = redis::Script::new("return 1");
    setup.runtime.block_on(async {
        for i in 0..samples {
            let started = Instant::now();
            setup
                .lock
                .claim(claim_request(next_tick(&setup.ticks), &random_token()))
                .await
                .unwrap();
            claims.push(started.elapsed());
            let started = Instant::now();
            raw_set_nx_px(&mut setup.raw, &format!("raw:{i}")).await;
            raws.push(started.elapsed());
            let started = Instant::now();
            empty_script(&mut setup.raw, &empty).await;
            empties.push(started.elapsed());
        }
    });
    claims.sort();
    raws.sort();
    empties.sort();
    for (name, sorted) in [
        ("cronlock claim", &claims),
        ("raw SET NX PX", &raws),
        ("empty script", &empties),
    ] {
        let total: Duration = sorted.iter().sum();
        println!(
            "{name:>15}: p50 {:>7.1} µs  p99 {:>7.1} µs  {:>8.0} sequential round trips/s ({samples} samples)",
            percentile(sorted, 0.50).as_secs_f64() * 1e6,
            percentile(sorted, 0.99).as_secs_f64() * 1e6,
            samples as f64 / total.as_secs_f64()
        );
    }
    let p50 = |sorted: &[Duration]| percentile(sorted, 0.5).as_secs_f64();
    println!(
        "   p50 ratios: claim / raw {:.2}, empty script / raw {:.2} (the floor of a Lua claim), claim / empty script {:.2}",
        p50(&claims) / p50(&raws),
        p50(&empties) / p50(&raws),
        p50(&claims) / p50(&empties)
    );
}

/// Claims per second when 1,000 jobs are due at once, claimed in batches of
/// `MAX_CLAIM_BATCH` (one script call each), as the scheduler does.
fn batch_throughput(setup: &mut Setup, rounds: usize) {
    let names: Vec<String> = (0..1000).map(|i| format!("batch-{i}")).collect();
    let started = Instant::now();
    setup.runtime.block_on(async {
        for _ in 0..rounds {
            let tick = next_tick(&setup.ticks);
            let tokens: Vec<String> = names.iter().map(|_| random_token()).collect();
            let requests: Vec<ClaimRequest<'_>> = names
                .iter()
                .zip(&tokens)
                .map(|(job, token)| ClaimRequest {
                    job,
                    ..claim_request(tick, token)
                })
                .collect();
            for batch in requests.chunks(MAX_CLAIM_BATCH) {
                let answers = setup.lock.claim_many(batch).await;
                assert!(answers.iter().all(Result::is_ok));
            }
        }
    });
    let elapsed = started.elapsed();
    println!(
        "  1,000 due at once, in batches of {MAX_CLAIM_BATCH}: {:.2} ms for all, {:.0} claims/s",
        elapsed.as_secs_f64() * 1e3 / rounds as f64,
        (rounds * 1000) as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let mut setup = setup();
    if benching {
        tails(&mut setup, 20_000);
        batch_throughput(&mut setup, 50);
    }
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("claim_round_trip");
    group.bench_function("cronlock_claim", |b| {
        b.iter(|| {
            setup
                .runtime
                .block_on(setup.lock.claim(black_box(claim_request(
                    next_tick(&setup.ticks),
                    &random_token(),
                ))))
                .unwrap()
        })
    });
    let mut raw = setup.raw.clone();
    let mut i = 0u64;
    group.bench_function("raw_set_nx_px", |b| {
        b.iter(|| {
            i += 1;
            setup
                .runtime
                .block_on(raw_set_nx_px(&mut raw, &format!("crit:{i}")))
        })
    });
    group.finish();
    criterion.final_summary();
}
