//! Jobs due at the same instant are claimed in batches (`claim_many`) of at
//! most `MAX_CLAIM_BATCH`, so a network lock sends one request per batch,
//! not one per job.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cronlock::Job;
use cronlock::lock::{
    BoxFuture, Claim, ClaimRequest, Claimed, Lock, LockError, MAX_CLAIM_BATCH, MemoryLock,
};
use cronlock_tests::paused::{builder, run_for};

#[derive(Debug, Default)]
struct CountingLock {
    inner: MemoryLock,
    batches: AtomicUsize,
    largest_batch: AtomicUsize,
}

impl Lock for CountingLock {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> BoxFuture<'a, Result<Claimed, LockError>> {
        self.inner.claim(request)
    }
    fn claim_many<'a>(
        &'a self,
        requests: &'a [ClaimRequest<'a>],
    ) -> BoxFuture<'a, Vec<Result<Claimed, LockError>>> {
        self.batches.fetch_add(1, Ordering::SeqCst);
        self.largest_batch
            .fetch_max(requests.len(), Ordering::SeqCst);
        self.inner.claim_many(requests)
    }
    fn extend<'a>(
        &'a self,
        claim: &'a Claim,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        self.inner.extend(claim, ttl)
    }
    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<(), LockError>> {
        self.inner.release(claim)
    }
    fn is_distributed(&self) -> bool {
        false
    }
}

#[tokio::test(start_paused = true)]
async fn a_thousand_jobs_due_together_are_claimed_in_full_batches() {
    let lock = Arc::new(CountingLock::default());
    let ran = Arc::new(AtomicUsize::new(0));
    let mut scheduler = builder().lock(Arc::clone(&lock));
    for i in 0..1000 {
        let ran = Arc::clone(&ran);
        scheduler = scheduler.job(Job::new(
            format!("job-{i}"),
            "*/10 * * * * *",
            Duration::from_secs(5),
            move |_ctx| {
                let ran = Arc::clone(&ran);
                async move {
                    ran.fetch_add(1, Ordering::SeqCst);
                }
            },
        ));
    }
    let scheduler = scheduler.build().await.unwrap();
    run_for(&scheduler, Duration::from_secs(10)).await;
    assert_eq!(ran.load(Ordering::SeqCst), 1000);
    assert_eq!(
        lock.batches.load(Ordering::SeqCst),
        1000usize.div_ceil(MAX_CLAIM_BATCH)
    );
    assert_eq!(lock.largest_batch.load(Ordering::SeqCst), MAX_CLAIM_BATCH);
}
