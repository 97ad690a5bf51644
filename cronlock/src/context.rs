//! What a running job knows about its run.

use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

/// The run a job is in: its tick, attempt, fencing token and cancellation.
///
/// Cheap to clone; every clone sees the same cancellation.
///
/// ```
/// use cronlock::JobContext;
///
/// async fn job(ctx: JobContext) -> Result<(), String> {
///     tokio::select! {
///         _ = ctx.cancelled() => Err(format!("run of {} cancelled", ctx.tick())),
///         _ = tokio::time::sleep(std::time::Duration::from_millis(10)) => Ok(()),
///     }
/// }
/// ```
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<ContextInner>,
}

struct ContextInner {
    job: Arc<str>,
    tick: DateTime<Utc>,
    attempt: u32,
    fencing_token: u64,
    cancel: CancellationToken,
    skip_reason: Mutex<Option<String>>,
    no_retry: std::sync::atomic::AtomicBool,
    catch_up: bool,
    backfill: bool,
}

impl JobContext {
    pub(crate) fn new(
        job: Arc<str>,
        tick: DateTime<Utc>,
        attempt: u32,
        fencing_token: u64,
        cancel: CancellationToken,
        kind: crate::scheduler::RunKind,
    ) -> JobContext {
        use crate::scheduler::RunKind;
        JobContext {
            inner: Arc::new(ContextInner {
                job,
                tick,
                attempt,
                fencing_token,
                cancel,
                skip_reason: Mutex::new(None),
                no_retry: std::sync::atomic::AtomicBool::new(false),
                catch_up: kind == RunKind::CatchUp,
                backfill: matches!(kind, RunKind::Backfill(_)),
            }),
        }
    }

    /// The job's name (also its lock key).
    pub fn job_name(&self) -> &str {
        &self.inner.job
    }

    /// The scheduled instant this run is for (not when it started).
    pub fn tick(&self) -> DateTime<Utc> {
        self.inner.tick
    }

    /// Whether this run is for a missed tick: its tick was due a second or
    /// more before it was claimed (the scheduler was late, the fleet was
    /// down, or the tick waited for an earlier missed one). `ctx.tick()`
    /// says which tick; a manual run is never a catch-up.
    pub fn is_catch_up(&self) -> bool {
        self.inner.catch_up
    }

    /// Whether this run is for a tick of a backfill (`cronlock backfill`,
    /// [`Fleet::backfill`](crate::Fleet::backfill)): `ctx.tick()` is the
    /// past tick it runs for. A backfill run is never a catch-up.
    pub fn is_backfill(&self) -> bool {
        self.inner.backfill
    }

    /// 1 for the first attempt, 2 for the first retry, and so on.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// A number that grows with every claimed tick of this job, fleet-wide.
    ///
    /// Pass it to downstream writes so they can reject a stale run.
    pub fn fencing_token(&self) -> u64 {
        self.inner.fencing_token
    }

    /// Resolves when the run must stop: timeout, shutdown or a lost lock.
    pub async fn cancelled(&self) {
        self.inner.cancel.cancelled().await;
    }

    /// Whether [`JobContext::cancelled`] has resolved.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Records this run as skipped, with a reason (conditional skip).
    ///
    /// The job then returns as usual; its outcome is `Skipped` rather than `Completed`.
    pub fn skip(&self, reason: impl Into<String>) {
        let mut slot = self
            .inner
            .skip_reason
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        *slot = Some(reason.into());
    }

    /// Marks a failure of this run as permanent: the error the job returns
    /// next is not retried, whatever `retries` says.
    ///
    /// ```
    /// async fn import(ctx: cronlock::JobContext) -> Result<(), String> {
    ///     let config_ok = false;
    ///     if !config_ok {
    ///         ctx.no_retry(); // retrying cannot fix a bad configuration
    ///         return Err("bad configuration".into());
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn no_retry(&self) {
        self.inner
            .no_retry
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub(crate) fn retry_allowed(&self) -> bool {
        !self
            .inner
            .no_retry
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(crate) fn skip_reason(&self) -> Option<String> {
        self.inner
            .skip_reason
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("job", &self.inner.job)
            .field("tick", &self.inner.tick)
            .field("attempt", &self.inner.attempt)
            .field("fencing_token", &self.inner.fencing_token)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}
