//! Starting a claimed run: the job's own task, and the start phase that
//! lets every job due at one instant start before any supervisor runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info};

use super::inner::Inner;
use super::jobs::JobEntry;
use crate::context::JobContext;
use crate::lock::Claim;

/// Every job due at one instant is spawned before any of their supervisors:
/// a supervisor's first poll and its bookkeeping when a run ends (release,
/// history, metrics) would otherwise delay the jobs queued behind it. The
/// dispatcher and each batch hold a share; the phase is over when all are
/// given back.
///
/// Jobs hold no share, by design: the wake-up from a job's own task would
/// put a waiting batch in that worker's next-task slot, which no other
/// worker can take, and a job blocking its thread would then hold back its
/// own watchdog (the long-runs test caught exactly that). Batches never
/// block, so their wake-ups are safe.
#[derive(Debug)]
pub(super) struct StartPhase {
    batches_starting: AtomicUsize,
    all_started: CancellationToken,
}

/// The longest supervisors wait for the phase: a batch whose claims hang on
/// the network does not hold back the others' timeouts and watchdogs longer.
const MAX_START_PHASE: Duration = Duration::from_millis(100);

impl StartPhase {
    /// A new phase and its first share, held by its creator: the dispatcher
    /// until it has handed off every batch, or a lone batch.
    pub(super) fn begin() -> PhaseShare {
        PhaseShare {
            phase: Arc::new(StartPhase {
                batches_starting: AtomicUsize::new(1),
                all_started: CancellationToken::new(),
            }),
            given_back: false,
        }
    }

    /// One share is done starting; the last one opens the phase.
    fn started(&self) {
        if self.batches_starting.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.all_started.cancel();
        }
    }

    async fn wait_for_all(&self) {
        let _ = tokio::time::timeout(MAX_START_PHASE, self.all_started.cancelled()).await;
    }
}

/// A share of a [`StartPhase`]: given back when its holder is done starting
/// (a batch: its jobs are spawned), or when it is dropped before that.
pub(super) struct PhaseShare {
    phase: Arc<StartPhase>,
    given_back: bool,
}

impl PhaseShare {
    /// A share of the same phase for one more batch.
    pub(super) fn another(&self) -> PhaseShare {
        self.phase.batches_starting.fetch_add(1, Ordering::SeqCst);
        PhaseShare {
            phase: Arc::clone(&self.phase),
            given_back: false,
        }
    }

    /// Gives the share back, then waits (a bounded time) for the others.
    pub(super) async fn started_then_wait(mut self) {
        self.give_back();
        self.phase.wait_for_all().await;
    }

    fn give_back(&mut self) {
        if !std::mem::replace(&mut self.given_back, true) {
            self.phase.started();
        }
    }
}

impl Drop for PhaseShare {
    fn drop(&mut self) {
        self.give_back();
    }
}

/// What a run is for, as its context tells the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunKind {
    /// Its tick, on time.
    Scheduled,
    /// Its tick, a second or more late (`ctx.is_catch_up()`).
    CatchUp,
    /// A past tick of a backfill (`ctx.is_backfill()`), claimed at another
    /// instant.
    Backfill(DateTime<Utc>),
}

impl RunKind {
    /// The kind of the run `ctx` is for (retries are the same kind).
    pub(super) fn of(ctx: &JobContext) -> RunKind {
        if ctx.is_backfill() {
            RunKind::Backfill(ctx.tick())
        } else if ctx.is_catch_up() {
            RunKind::CatchUp
        } else {
            RunKind::Scheduled
        }
    }
}

/// One attempt of a run, its job already started in its own task.
pub(super) struct Attempt {
    pub(super) ctx: JobContext,
    pub(super) cancel: CancellationToken,
    /// When the attempt started, for timeouts and durations.
    pub(super) started: Instant,
    /// The same instant on the scheduler's clock, for the history.
    pub(super) started_at: DateTime<Utc>,
    pub(super) task: AbortOnDrop<Result<(), String>>,
}

impl Attempt {
    /// Starts the job's task for attempt number `attempt` of `claim`.
    pub(super) fn start(
        inner: &Inner,
        job: &JobEntry,
        claim: &Claim,
        attempt: u32,
        kind: RunKind,
        run_cancel: &CancellationToken,
        span: &tracing::Span,
    ) -> Attempt {
        let cancel = run_cancel.child_token();
        let tick = match kind {
            RunKind::Backfill(tick) => tick,
            RunKind::Scheduled | RunKind::CatchUp => claim.tick,
        };
        let ctx = JobContext::new(
            Arc::clone(&job.name),
            tick,
            attempt,
            claim.fencing_token,
            cancel.clone(),
            kind,
        );
        let started_at = inner.clock.now();
        span.in_scope(|| info!(attempt, fencing_token = claim.fencing_token, "run started"));
        // The job runs in its own task, so a job that blocks its thread cannot
        // stall its supervisor: the timeout and the lock watchdog keep running.
        let task = AbortOnDrop(tokio::spawn(
            (job.run)(ctx.clone()).instrument(span.clone()),
        ));
        Attempt {
            ctx,
            cancel,
            started: Instant::now(),
            started_at,
            task,
        }
    }
}

/// Aborts the job's task if the run is dropped before it ends (a runtime
/// shutting down), so no job outlives its run.
pub(super) struct AbortOnDrop<T>(pub(super) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
