//! Coordination: which instance runs a tick.
//!
//! A [`Lock`] claims a tick of a job for this instance. A claim succeeds once
//! per (job, tick) across everything sharing the lock, and, for jobs with
//! [`Overlap::Skip`], only while no earlier run of the job holds it.

mod control;
mod memory;
mod redis;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use control::{Control, HistoryEntry, JobSummary};
pub use memory::MemoryLock;
pub use redis::{RedisLock, RedisLockConfig};

use crate::job::Overlap;

/// A boxed future, as the lock methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`Lock::claim`] is asked for.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    /// The job name (the lock key).
    pub job: &'a str,
    /// The tick to claim.
    pub tick: DateTime<Utc>,
    /// How long the run lock lives unless extended or released.
    pub ttl: Duration,
    /// Whether a run still holding the lock blocks this tick.
    pub overlap: Overlap,
    /// This instance's clock when it claims (for measuring skew against the backend).
    pub now: DateTime<Utc>,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// This instance runs the tick.
    Acquired(Claim),
    /// The tick (or a later one) was already claimed, by this or another instance.
    TickTaken,
    /// A run of the job still holds the lock and the job does not allow overlap.
    StillRunning,
    /// The tick is further in the future, by the backend's clock, than the
    /// skew margin allows: this instance's clock runs ahead. Claim again later.
    TooEarly,
}

/// Proof of a claim: needed to extend or release it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The job.
    pub job: String,
    /// The claimed tick.
    pub tick: DateTime<Utc>,
    /// Random per claim; only its holder can extend or release the lock.
    pub token: String,
    /// Grows with every claim of the job, across the fleet; at least the
    /// tick's Unix time in milliseconds, so it keeps growing even if the
    /// backend forgets its counters.
    pub fencing_token: u64,
}

/// A failure of the lock backend (not a lost race: that is [`Claimed`]).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LockError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    reported: bool,
}

impl LockError {
    /// An error with a message and, optionally, its cause.
    pub fn new(
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> LockError {
        LockError {
            message: message.into(),
            source,
            reported: false,
        }
    }

    /// Marks the error as already logged by the backend (once per outage), so
    /// the scheduler logs it at debug level only.
    pub fn already_reported(mut self) -> LockError {
        self.reported = true;
        self
    }

    /// Whether the backend already logged this error.
    pub fn is_reported(&self) -> bool {
        self.reported
    }
}

/// The most ticks the scheduler passes to one [`Lock::claim_many`] call.
///
/// Ticks due at one instant are split into batches of this size, each
/// claimed by its own task: the first runs start while later batches are
/// still being claimed, and with Redis each batch is one script call.
///
/// ```
/// assert_eq!(cronlock::lock::MAX_CLAIM_BATCH, 50);
/// ```
pub const MAX_CLAIM_BATCH: usize = 50;

/// A backend that decides which instance runs each tick.
///
/// Implementations must make `claim` atomic: of all instances claiming the
/// same (job, tick), exactly one gets [`Claimed::Acquired`], and no tick at
/// or before the job's last claimed tick is granted again.
pub trait Lock: Send + Sync + fmt::Debug + 'static {
    /// Claims a tick.
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> BoxFuture<'a, Result<Claimed, LockError>>;

    /// Claims several ticks due at once (at most [`MAX_CLAIM_BATCH`]); a
    /// backend over the network sends them in one round trip. The answers
    /// are in the order of `requests`.
    fn claim_many<'a>(
        &'a self,
        requests: &'a [ClaimRequest<'a>],
    ) -> BoxFuture<'a, Vec<Result<Claimed, LockError>>> {
        Box::pin(async move {
            let mut answers = Vec::with_capacity(requests.len());
            for request in requests {
                answers.push(self.claim(*request).await);
            }
            answers
        })
    }

    /// Called once when the scheduler starts, with this instance's time.
    fn on_start<'a>(&'a self, now: DateTime<Utc>) -> BoxFuture<'a, Result<(), LockError>> {
        let _ = now;
        Box::pin(async { Ok(()) })
    }

    /// Extends a claim's run lock; `Ok(false)` when the lock is no longer ours.
    fn extend<'a>(
        &'a self,
        claim: &'a Claim,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>>;

    /// Releases a claim's run lock, if it is still ours. The tick stays claimed.
    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<(), LockError>>;

    /// True when the lock coordinates several processes (false: one process only).
    fn is_distributed(&self) -> bool;

    /// History, pause/resume and triggers, if this backend shares them.
    fn control(&self) -> Option<&dyn Control> {
        None
    }
}

/// A shared lock: several schedulers in one process can use one backend.
impl<L: Lock + ?Sized> Lock for std::sync::Arc<L> {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> BoxFuture<'a, Result<Claimed, LockError>> {
        (**self).claim(request)
    }

    fn claim_many<'a>(
        &'a self,
        requests: &'a [ClaimRequest<'a>],
    ) -> BoxFuture<'a, Vec<Result<Claimed, LockError>>> {
        (**self).claim_many(requests)
    }

    fn on_start<'a>(&'a self, now: DateTime<Utc>) -> BoxFuture<'a, Result<(), LockError>> {
        (**self).on_start(now)
    }

    fn extend<'a>(
        &'a self,
        claim: &'a Claim,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        (**self).extend(claim, ttl)
    }

    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<(), LockError>> {
        (**self).release(claim)
    }

    fn is_distributed(&self) -> bool {
        (**self).is_distributed()
    }

    fn control(&self) -> Option<&dyn Control> {
        (**self).control()
    }
}

/// The fencing token after `previous` for a claim of `tick`: strictly greater,
/// and at least the tick in Unix milliseconds.
pub(crate) fn next_fencing_token(previous: u64, tick: DateTime<Utc>) -> u64 {
    let tick_ms = u64::try_from(tick.timestamp_millis()).unwrap_or(0);
    previous.saturating_add(1).max(tick_ms)
}

/// A random token for a claim.
pub(crate) fn random_token() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Two keys seeded from the OS once per process (RandomState), then one
    // counter value per token: 128 bits no other process or token shares,
    // without a system call per claim.
    static KEYS: OnceLock<[RandomState; 2]> = OnceLock::new();
    let keys = KEYS.get_or_init(|| [RandomState::new(), RandomState::new()]);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut parts = [0u64; 2];
    for (part, key) in parts.iter_mut().zip(keys) {
        let mut hasher = key.build_hasher();
        hasher.write_u64(count);
        *part = hasher.finish();
    }
    format!("{:016x}{:016x}", parts[0], parts[1])
}
