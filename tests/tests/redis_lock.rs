//! The Redis lock beyond the shared contract (`lock_contract.rs`): its key
//! layout, clock offset, corrupt keys, batched releases.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use cronlock::Overlap;
use cronlock::lock::{
    Claim, ClaimRequest, Claimed, Lock, RedisLock, RedisLockConfig, random_token,
};
use cronlock_tests::RedisServer;

fn tick(second: u32) -> DateTime<Utc> {
    // In the past, so never "too early".
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, second).unwrap()
}

fn request<'a>(job: &'a str, second: u32, ttl_ms: u64, token: &'a str) -> ClaimRequest<'a> {
    ClaimRequest {
        job,
        tick: tick(second),
        token,
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
async fn keys_share_a_hash_tag_and_the_prefix() {
    let redis = RedisServer::start();
    let lock = RedisLock::connect(RedisLockConfig::new(redis.url()).key_prefix("billing:"))
        .await
        .unwrap();
    let token = random_token();
    acquire(&lock, request("invoices", 1, 10_000, &token)).await;
    for key in [
        "{billing:invoices}:tick",
        "{billing:invoices}:claimed",
        "{billing:invoices}:run",
    ] {
        assert_eq!(redis.command(&["EXISTS", key]), ":1", "{key}");
        let ttl: i64 = redis.command(&["PTTL", key])[1..].parse().unwrap();
        assert!(ttl > 0, "{key} must expire, PTTL {ttl}");
    }
}

#[tokio::test]
async fn a_batch_of_a_thousand_claims_answers_each_in_order() {
    let redis = RedisServer::start();
    let lock = lock(&redis).await;
    let names: Vec<String> = (0..1000).map(|i| format!("job-{i}")).collect();
    let tokens: Vec<String> = (0..1001).map(|_| random_token()).collect();
    let mut requests: Vec<ClaimRequest<'_>> = names
        .iter()
        .zip(&tokens)
        .map(|(name, token)| request(name, 1, 10_000, token))
        .collect();
    // One of them again: the same batch must answer it as taken.
    requests.push(request("job-7", 1, 10_000, &tokens[1000]));
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
async fn the_clock_offset_to_redis_is_measured_on_every_claim() {
    let redis = RedisServer::start();
    let lock = lock(&redis).await;
    // This instance's clock reads 1.5 s behind the real time (and Redis's).
    let token = random_token();
    let behind = ClaimRequest {
        now: Utc::now() - chrono::Duration::milliseconds(1_500),
        tick: Utc::now(),
        ..request("job", 0, 1000, &token)
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
    let tokens: Vec<String> = (0..3).map(|_| random_token()).collect();
    let requests = [
        request("before", 1, 10_000, &tokens[0]),
        request("broken", 1, 10_000, &tokens[1]),
        request("after", 1, 10_000, &tokens[2]),
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
    // All or nothing: the failed claim left no mark, fence or run lock.
    for key in ["{cronlock:broken}:tick", "{cronlock:broken}:run"] {
        assert_eq!(redis.command(&["EXISTS", key]), ":0", "{key} was written");
    }
}

#[tokio::test]
async fn releases_sent_together_each_free_their_own_lock_only() {
    let redis = RedisServer::start();
    let lock = std::sync::Arc::new(lock(&redis).await);
    let names: Vec<String> = (0..300).map(|i| format!("job-{i}")).collect();
    let tokens: Vec<String> = (0..300).map(|_| random_token()).collect();
    let requests: Vec<ClaimRequest<'_>> = names
        .iter()
        .zip(&tokens)
        .map(|(name, token)| request(name, 1, 60_000, token))
        .collect();
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
