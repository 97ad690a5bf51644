//! The Redis lock's contract, against a real server: tokens, fencing,
//! run-lock ownership, extension and batching.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use cronlock::Overlap;
use cronlock::lock::{Claim, ClaimRequest, Claimed, Lock, RedisLock, RedisLockConfig};
use cronlock_tests::RedisServer;

fn tick(second: u32) -> DateTime<Utc> {
    // In the past, so never "too early".
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, second).unwrap()
}

fn request(job: &str, second: u32, ttl_ms: u64) -> ClaimRequest<'_> {
    ClaimRequest {
        job,
        tick: tick(second),
        ttl: Duration::from_millis(ttl_ms),
        overlap: Overlap::Skip,
        now: Utc::now(),
    }
}

async fn lock(redis: &RedisServer) -> RedisLock {
    RedisLock::connect(RedisLockConfig::new(redis.url()))
        .await
        .unwrap()
}

async fn acquire(lock: &RedisLock, request: ClaimRequest<'_>) -> Claim {
    match lock.claim(request).await.unwrap() {
        Claimed::Acquired(claim) => claim,
        other => panic!("claim refused: {other:?}"),
    }
}

#[tokio::test]
async fn a_tick_is_granted_once_even_after_release() {
    let redis = RedisServer::start();
    let (a, b) = (lock(&redis).await, lock(&redis).await);
    let claim = acquire(&a, request("job", 1, 10_000)).await;
    assert_eq!(
        b.claim(request("job", 1, 10_000)).await.unwrap(),
        Claimed::TickTaken
    );
    a.release(&claim).await.unwrap();
    // The run lock is gone, the tick stays taken: a slow instance cannot re-run it.
    assert_eq!(redis.command(&["EXISTS", "{cronlock:job}:run"]), ":0");
    assert_eq!(
        b.claim(request("job", 1, 10_000)).await.unwrap(),
        Claimed::TickTaken
    );
    let next = acquire(&b, request("job", 2, 10_000)).await;
    assert!(next.fencing_token > claim.fencing_token);
    assert!(
        claim.fencing_token >= tick(1).timestamp_millis() as u64,
        "fencing tokens start at the tick's Unix ms"
    );
}

#[tokio::test]
async fn an_earlier_unclaimed_tick_is_granted_within_the_window_and_not_after() {
    // A fast clock claims tick 30 first; tick 29, which nobody claimed, must
    // not be lost. The window is the TTL (10 s) plus twice the skew margin (2 s).
    let redis = RedisServer::start();
    let lock = lock(&redis).await;
    let claim = |second| ClaimRequest {
        overlap: Overlap::Allow,
        ..request("job", second, 10_000)
    };
    assert!(matches!(
        lock.claim(claim(30)).await.unwrap(),
        Claimed::Acquired(_)
    ));
    assert!(matches!(
        lock.claim(claim(29)).await.unwrap(),
        Claimed::Acquired(_)
    ));
    assert_eq!(lock.claim(claim(29)).await.unwrap(), Claimed::TickTaken);
    assert!(
        matches!(lock.claim(claim(17)).await.unwrap(), Claimed::Acquired(_)),
        "13 s back: inside the 14 s window"
    );
    assert_eq!(
        lock.claim(claim(16)).await.unwrap(),
        Claimed::TickTaken,
        "14 s back: outside the window"
    );
    assert!(matches!(
        lock.claim(claim(31)).await.unwrap(),
        Claimed::Acquired(_)
    ));
    // Pruned: only the window's ticks stay in the set.
    assert_eq!(
        redis.command(&["ZCARD", "{cronlock:job}:claimed"]),
        ":3",
        "17 left the window when 31 came"
    );
}

#[tokio::test]
async fn a_stale_token_can_neither_release_nor_extend() {
    let redis = RedisServer::start();
    let lock = lock(&redis).await;
    let claim = acquire(&lock, request("job", 1, 10_000)).await;
    let stale = Claim {
        token: "someone-else".into(),
        ..claim.clone()
    };
    lock.release(&stale).await.unwrap();
    assert_eq!(
        redis.command(&["EXISTS", "{cronlock:job}:run"]),
        ":1",
        "a stale token released the lock"
    );
    assert!(!lock.extend(&stale, Duration::from_secs(60)).await.unwrap());
    assert_eq!(
        lock.claim(request("job", 2, 10_000)).await.unwrap(),
        Claimed::StillRunning
    );
    assert!(lock.extend(&claim, Duration::from_secs(60)).await.unwrap());
}

#[tokio::test]
async fn an_extended_lock_outlives_its_ttl() {
    let redis = RedisServer::start();
    let lock = lock(&redis).await;
    let claim = acquire(&lock, request("job", 1, 600)).await;
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            lock.extend(&claim, Duration::from_millis(600))
                .await
                .unwrap()
        );
    }
    // 1.2 s after a claim with a 0.6 s TTL, the run lock still blocks the next tick.
    assert_eq!(
        lock.claim(request("job", 2, 600)).await.unwrap(),
        Claimed::StillRunning
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(matches!(
        lock.claim(request("job", 3, 600)).await.unwrap(),
        Claimed::Acquired(_)
    ));
    assert!(
        !lock
            .extend(&claim, Duration::from_millis(600))
            .await
            .unwrap(),
        "an expired lock cannot be extended"
    );
}

#[tokio::test]
async fn keys_share_a_hash_tag_and_the_prefix() {
    let redis = RedisServer::start();
    let lock = RedisLock::connect(RedisLockConfig::new(redis.url()).key_prefix("billing:"))
        .await
        .unwrap();
    acquire(&lock, request("invoices", 1, 10_000)).await;
    for key in [
        "{billing:invoices}:mark",
        "{billing:invoices}:fence",
        "{billing:invoices}:run",
    ] {
        assert_eq!(redis.command(&["EXISTS", key]), ":1", "{key}");
    }
}

#[tokio::test]
async fn a_batch_of_a_thousand_claims_answers_each_in_order() {
    let redis = RedisServer::start();
    let lock = lock(&redis).await;
    let names: Vec<String> = (0..1000).map(|i| format!("job-{i}")).collect();
    let mut requests: Vec<ClaimRequest<'_>> =
        names.iter().map(|name| request(name, 1, 10_000)).collect();
    // One of them again: the same batch must answer it as taken.
    requests.push(request("job-7", 1, 10_000));
    let answers = lock.claim_many(&requests).await;
    assert_eq!(answers.len(), 1001);
    for (request, answer) in requests.iter().zip(&answers).take(1000) {
        match answer {
            Ok(Claimed::Acquired(claim)) => assert_eq!(claim.job, request.job),
            other => panic!("{}: {other:?}", request.job),
        }
    }
    assert_eq!(answers[1000].as_ref().unwrap(), &Claimed::TickTaken);
}

#[tokio::test]
async fn too_early_when_the_tick_is_past_the_skew_margin() {
    let redis = RedisServer::start();
    let lock =
        RedisLock::connect(RedisLockConfig::new(redis.url()).skew_margin(Duration::from_secs(2)))
            .await
            .unwrap();
    let soon = ClaimRequest {
        tick: Utc::now() + chrono::Duration::seconds(1),
        ..request("job", 0, 1000)
    };
    assert!(matches!(
        lock.claim(soon).await.unwrap(),
        Claimed::Acquired(_)
    ));
    let later = ClaimRequest {
        tick: Utc::now() + chrono::Duration::seconds(30),
        ..request("job", 0, 1000)
    };
    assert_eq!(lock.claim(later).await.unwrap(), Claimed::TooEarly);
}

#[tokio::test]
async fn the_clock_offset_to_redis_is_measured_on_every_claim() {
    let redis = RedisServer::start();
    let lock = lock(&redis).await;
    // This instance's clock reads 1.5 s behind the real time (and Redis's).
    let behind = ClaimRequest {
        now: Utc::now() - chrono::Duration::milliseconds(1_500),
        tick: Utc::now(),
        ..request("job", 0, 1000)
    };
    lock.claim(behind).await.unwrap();
    let offset = lock.clock_offset().num_milliseconds();
    assert!(
        (1_300..=1_800).contains(&offset),
        "Redis should read about 1.5 s ahead, measured {offset} ms"
    );
}

#[tokio::test]
async fn a_corrupt_key_fails_its_own_claim_and_not_the_batch() {
    let redis = RedisServer::start();
    let lock = lock(&redis).await;
    // Someone wrote a list where the job's claimed-tick set belongs.
    assert_eq!(
        redis.command(&["RPUSH", "{cronlock:broken}:claimed", "x"]),
        ":1"
    );
    let requests = [
        request("before", 1, 10_000),
        request("broken", 1, 10_000),
        request("after", 1, 10_000),
    ];
    let answers = lock.claim_many(&requests).await;
    assert!(
        matches!(answers[0], Ok(Claimed::Acquired(_))),
        "{answers:?}"
    );
    let error = answers[1].as_ref().unwrap_err().to_string();
    assert!(error.contains("WRONGTYPE"), "{error}");
    assert!(
        matches!(answers[2], Ok(Claimed::Acquired(_))),
        "{answers:?}"
    );
}

#[tokio::test]
async fn releases_sent_together_each_free_their_own_lock_only() {
    let redis = RedisServer::start();
    let lock = std::sync::Arc::new(lock(&redis).await);
    let names: Vec<String> = (0..300).map(|i| format!("job-{i}")).collect();
    let requests: Vec<ClaimRequest<'_>> =
        names.iter().map(|name| request(name, 1, 60_000)).collect();
    let mut claims = Vec::new();
    for answer in lock.claim_many(&requests).await {
        match answer.unwrap() {
            Claimed::Acquired(claim) => claims.push(claim),
            other => panic!("claim refused: {other:?}"),
        }
    }
    // One stale claim among them: its token is not the lock's.
    let mut stale = claims[7].clone();
    stale.token = "not-the-token".into();
    let mut releases = tokio::task::JoinSet::new();
    for claim in claims.into_iter().filter(|claim| claim.job != "job-7") {
        let lock = std::sync::Arc::clone(&lock);
        releases.spawn(async move { lock.release(&claim).await });
    }
    releases.spawn({
        let lock = std::sync::Arc::clone(&lock);
        async move { lock.release(&stale).await }
    });
    while let Some(result) = releases.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(redis.command(&["EXISTS", "{cronlock:job-0}:run"]), ":0");
    assert_eq!(redis.command(&["EXISTS", "{cronlock:job-299}:run"]), ":0");
    assert_eq!(
        redis.command(&["EXISTS", "{cronlock:job-7}:run"]),
        ":1",
        "a stale token must not free the lock"
    );
}
