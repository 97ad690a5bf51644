//! Coordination: which instance runs a tick.
//!
//! A [`Lock`] claims a tick of a job for this instance. A claim succeeds once
//! per (job, tick) across everything sharing the lock, and, for jobs with
//! [`Overlap::Skip`], only while no earlier run of the job holds it.

pub(crate) mod control;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod health;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "redis", feature = "postgres"))]
mod url;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub(crate) use control::service_name;
pub use control::{
    Backfill, Control, FleetState, HISTORY_KEPT, HistoryEntry, JOB_LIST_KEPT, JobSummary,
    MAX_ERROR_LEN, NOT_RUN_DAY, NOT_RUN_KEPT, Pause, REPUBLISH_EVERY, SERVICE_ENV, TRIGGER_KEPT,
    Trigger,
};
pub use memory::MemoryLock;
#[cfg(feature = "postgres")]
pub use postgres::{
    DATABASE_URL_ENV, DEFAULT_SCHEMA, PostgresLock, PostgresLockConfig, PostgresPool, SCHEMA_ENV,
    postgres_schema_sql,
};
#[cfg(feature = "redis")]
pub use redis::{
    DEFAULT_PREFIX, Deployment, PREFIX_ENV, REDIS_URL_ENV, RedisLock, RedisLockConfig,
};
#[cfg(any(feature = "redis", feature = "postgres"))]
pub use url::redact;

use crate::options::Overlap;

/// A boxed future, as the lock methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What [`Lock::claim`] is asked for.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    /// The job name (the lock key).
    pub job: &'a str,
    /// The tick to claim.
    pub tick: DateTime<Utc>,
    /// The claim's token, chosen by the caller ([`random_token`]). A claim
    /// sent again with the same token after its answer was lost gets the
    /// same answer: the grant it may already have won, with the same
    /// fencing token. A claim of a later tick with the token of an
    /// unanswered one replaces it: the run lock that one may hold counts as
    /// its own.
    pub token: &'a str,
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
    /// skew margin allows: this instance's clock runs ahead. The claim can
    /// succeed after `retry_in` (by the backend's clock).
    TooEarly {
        /// How long until the backend would grant the tick.
        retry_in: Duration,
    },
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

/// What kind of failure a [`LockError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LockErrorKind {
    /// The backend could not be reached or did not answer in time. A claim
    /// may or may not have been recorded: sending it again with the same
    /// token is safe and gives the answer it got.
    Unavailable,
    /// The backend answered with an error (a corrupt key, a refused write,
    /// out of memory).
    Backend,
    /// The backend refused this instance's configuration or credentials;
    /// trying again will not help.
    Config,
    /// This backend does not offer the operation.
    Unsupported,
}

/// A failure of the lock backend (not a lost race: that is [`Claimed`]).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct LockError {
    kind: LockErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
    reported: bool,
}

impl LockError {
    /// An error of `kind` with a message and, optionally, its cause.
    pub fn new(
        kind: LockErrorKind,
        message: impl Into<String>,
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    ) -> LockError {
        LockError {
            kind,
            message: message.into(),
            source,
            reported: false,
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> LockErrorKind {
        self.kind
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

/// The answer to a batch of one claim (network backends claim through
/// their batch path).
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn only_answer(
    mut answers: Vec<Result<Claimed, LockError>>,
) -> Result<Claimed, LockError> {
    answers.pop().unwrap_or_else(|| {
        Err(LockError::new(
            LockErrorKind::Backend,
            "no answer to a claim",
            None,
        ))
    })
}

/// Every claim of a batch that reached the backend after its deadline
/// (nothing was written): an outage the caller sends them again after.
#[cfg(any(feature = "redis", feature = "postgres"))]
pub(crate) fn arrived_too_late(
    claims: usize,
    location: &str,
    round_trip: std::time::Duration,
) -> Vec<Result<Claimed, LockError>> {
    (0..claims)
        .map(|_| {
            Err(LockError::new(
                LockErrorKind::Unavailable,
                format!(
                    "the claim reached {location} after its deadline (waited {} ms)",
                    round_trip.as_millis()
                ),
                None,
            ))
        })
        .collect()
}

/// The fencing token after `previous` for a claim of `tick`: strictly greater,
/// and at least the tick in Unix milliseconds.
pub(crate) fn next_fencing_token(previous: u64, tick: DateTime<Utc>) -> u64 {
    let tick_ms = u64::try_from(tick.timestamp_millis()).unwrap_or(0);
    previous.saturating_add(1).max(tick_ms)
}

/// The clock difference between an instance and the lock backend that is
/// tolerated unless configured otherwise.
pub const DEFAULT_SKEW_MARGIN: Duration = Duration::from_secs(2);

/// How far back from the newest claimed tick a job's claimed ticks are
/// remembered one by one: twice the skew margin (the most two instances'
/// claims of one tick can be apart) plus the lock TTL (at least the timeout,
/// the lateness that catch-up still runs). An unclaimed tick inside the
/// window can still be claimed, so a fast clock claiming a later tick first
/// loses no tick; a tick older than the window counts as taken.
///
/// Backends keep the largest window any instance asked for, per job, so
/// instances with different settings (a rolling deploy that changes a
/// timeout) agree on which ticks are too old.
pub fn claim_window(ttl: Duration, skew_margin: Duration) -> Duration {
    ttl.saturating_add(skew_margin.saturating_mul(2))
}

/// The most claimed ticks a backend remembers per job, however wide its
/// window: a tick older than the newest this many claimed ticks counts as
/// taken. Bounds the memory of a frequent job with a long timeout (an
/// every-second job with a one-hour timeout remembers 17 minutes of ticks,
/// not an hour).
pub const MAX_REMEMBERED_TICKS: usize = 1_024;

/// This instance in run histories and the job list: `host:pid:random`.
pub fn instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let random = random_token();
    format!("{host}:{}:{}", std::process::id(), &random[..8])
}

/// A random token for a claim: 128 bits in 32 hex digits.
///
/// ```
/// let token = cronlock::lock::random_token();
/// assert_eq!(token.len(), 32);
/// assert_ne!(token, cronlock::lock::random_token());
/// ```
pub fn random_token() -> String {
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
