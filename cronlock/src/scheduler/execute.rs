//! One tick of one job: claim, run with limits, retry, release, record.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::control::HISTORY_LEN;
use super::{Inner, JobEntry, LastRun, RunOutcome};
use crate::context::JobContext;
use crate::job::{Overlap, Runner};
use crate::lock::{Claim, ClaimRequest, Claimed, HistoryEntry};
use crate::metrics;

/// How long to wait before claiming again a tick the lock called too early.
const TOO_EARLY_RETRY: Duration = Duration::from_millis(200);

/// Ticks claimed in one request to the lock, by one task.
pub(super) const CLAIM_BATCH: usize = crate::lock::MAX_CLAIM_BATCH;

/// Claims a batch of ticks that are due now in one request, then runs the
/// ticks this instance won, each in its own task, and waits for them.
pub(super) async fn run_due(
    inner: Arc<Inner>,
    due: Vec<(Arc<JobEntry>, DateTime<Utc>)>,
    phase: PhaseShare,
    stop_claims: CancellationToken,
    stop_runs: CancellationToken,
) {
    // Given back however this batch ends, so no batch waits for it longer
    // than it has to.
    let mut phase = Some(phase);
    let mut pending: Vec<(Arc<JobEntry>, DateTime<Utc>)> = due
        .into_iter()
        .filter(|(job, tick)| {
            let busy =
                job.options.overlap == Overlap::Skip && job.running.load(Ordering::SeqCst) > 0;
            if busy {
                info_span!("job", job = %job.name, tick = %tick)
                    .in_scope(|| info!("skipped: the previous run is still going"));
                metrics::tick_not_run(&job.name, "skipped_overlap", 1);
            }
            !busy
        })
        .collect();
    let mut runs = JoinSet::new();
    while !pending.is_empty() {
        pending = claim_and_start(&inner, pending, phase.take(), &stop_runs, &mut runs).await;
        if !pending.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(TOO_EARLY_RETRY) => {}
                () = stop_claims.cancelled() => break,
            }
        }
    }
    while runs.join_next().await.is_some() {}
}

/// Claims `pending` and starts every tick this instance won; returns the
/// ticks the lock called too early.
async fn claim_and_start(
    inner: &Arc<Inner>,
    pending: Vec<(Arc<JobEntry>, DateTime<Utc>)>,
    phase: Option<PhaseShare>,
    stop_runs: &CancellationToken,
    runs: &mut JoinSet<()>,
) -> Vec<(Arc<JobEntry>, DateTime<Utc>)> {
    let now = inner.clock.now();
    let requests: Vec<ClaimRequest<'_>> = pending
        .iter()
        .map(|(job, tick)| ClaimRequest {
            job: &job.name,
            tick: *tick,
            ttl: job.lock_ttl,
            overlap: job.options.overlap,
            now,
        })
        .collect();
    let answers = inner.lock.claim_many(&requests).await;
    drop(requests);
    let mut too_early = Vec::new();
    let mut started = Vec::with_capacity(pending.len());
    for ((job, tick), answer) in pending.into_iter().zip(answers) {
        let span = info_span!("job", job = %job.name, tick = %tick);
        match answer {
            Ok(Claimed::Acquired(claim)) => {
                // Counted before the task starts, so the next tick sees it running.
                job.running.fetch_add(1, Ordering::SeqCst);
                // The job's own task starts now; its supervisor (timeout,
                // watchdog, release, history) is spawned once every batch due
                // at this instant has spawned its jobs (see StartPhase).
                let run_cancel = stop_runs.child_token();
                let first = Attempt::start(inner, &job, &claim, 1, &run_cancel, &span);
                started.push((job, claim, run_cancel, first, span));
            }
            Ok(Claimed::TickTaken) => {
                span.in_scope(|| debug!("skipped: another instance holds this tick"));
                metrics::tick_not_run(&job.name, "skipped_elsewhere", 1);
            }
            Ok(Claimed::StillRunning) => {
                span.in_scope(|| info!("skipped: a previous run still holds the lock"));
                metrics::tick_not_run(&job.name, "skipped_overlap", 1);
            }
            Ok(Claimed::TooEarly) => {
                span.in_scope(|| {
                    debug!("the lock says this tick is not due yet: this clock runs ahead")
                });
                too_early.push((job, tick));
            }
            Err(err) if err.is_reported() => {
                metrics::lock_error();
                span.in_scope(|| debug!(error = %err, "not running this tick: no lock"))
            }
            Err(err) => {
                metrics::lock_error();
                span.in_scope(
                    || error!(error = %err, "not running this tick: the lock could not be claimed"),
                )
            }
        }
    }
    if let Some(phase) = phase {
        phase.started_then_wait().await;
    }
    for (job, claim, run_cancel, first, span) in started {
        runs.spawn(run_claimed(Arc::clone(inner), job, claim, run_cancel, first).instrument(span));
    }
    too_early
}

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
    async fn started_then_wait(mut self) {
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

/// Runs a claimed tick, keeping its run lock alive, then releases it.
async fn run_claimed(
    inner: Arc<Inner>,
    job: Arc<JobEntry>,
    claim: Claim,
    run_cancel: CancellationToken,
    first: Attempt,
) {
    let started = first.started;
    let started_at = first.started_at;
    let attempts = attempts(&inner, &job, &claim, &run_cancel, first);
    tokio::pin!(attempts);
    let outcome = if job.options.overlap == Overlap::Skip {
        // Biased: a run that is already over never arms the watchdog's timer.
        tokio::select! {
            biased;
            outcome = &mut attempts => outcome,
            () = keep_lock(&inner, &job, &claim, &run_cancel) => attempts.await,
        }
    } else {
        attempts.await
    };
    job.running.fetch_sub(1, Ordering::SeqCst);
    if let Err(err) = inner.lock.release(&claim).await {
        metrics::lock_error();
        warn!(error = %err, "could not release the run lock; it expires after its TTL");
    }
    let duration = started.elapsed();
    metrics::run_finished(&job.name, &outcome, duration);
    if let Some(control) = inner.lock.control() {
        let entry = HistoryEntry {
            tick: claim.tick,
            instance: inner.instance.to_string(),
            started: started_at,
            duration,
            outcome: outcome.label().to_owned(),
            error: outcome.message().map(str::to_owned),
        };
        if let Err(err) = control.record_run(&job.name, &entry, HISTORY_LEN).await {
            metrics::lock_error();
            warn!(error = %err, "could not record the run in the history");
        }
    }
    let last = LastRun {
        tick: claim.tick,
        outcome,
        duration,
    };
    // In place after the first run: no allocation per run.
    match &mut job.status().last {
        Some(previous) => **previous = last,
        empty => *empty = Some(Box::new(last)),
    }
}

/// Extends the run lock every third of its TTL while the run lasts. Returns
/// only when the lock is lost, after cancelling the run.
async fn keep_lock(inner: &Inner, job: &JobEntry, claim: &Claim, run_cancel: &CancellationToken) {
    let every = (job.lock_ttl / 3).max(Duration::from_millis(100));
    let mut last_success = Instant::now();
    loop {
        tokio::time::sleep(every).await;
        match inner.lock.extend(claim, job.lock_ttl).await {
            Ok(true) => last_success = Instant::now(),
            Ok(false) => {
                error!(
                    fencing_token = claim.fencing_token,
                    "run lock lost (expired or taken over): cancelling the run"
                );
                run_cancel.cancel();
                return;
            }
            // A failed extension is retried until the lock would have expired.
            Err(err) if last_success.elapsed() < job.lock_ttl => {
                metrics::lock_error();
                warn!(error = %err, "could not extend the run lock; retrying")
            }
            Err(err) => {
                metrics::lock_error();
                error!(error = %err, "run lock could not be extended before it expired: cancelling the run");
                run_cancel.cancel();
                return;
            }
        }
    }
}

/// Runs the job, retrying failures with doubling backoff, all within one timeout budget.
async fn attempts(
    inner: &Inner,
    job: &JobEntry,
    claim: &Claim,
    run_cancel: &CancellationToken,
    first: Attempt,
) -> RunOutcome {
    let started = first.started;
    let deadline = started + job.timeout;
    // Never retry into the next tick: that one belongs to the next run.
    let next_tick = job
        .schedule
        .next_after(claim.tick)
        .and_then(|next| (next - inner.clock.now()).to_std().ok())
        .map_or(deadline, |until| started.max(Instant::now()) + until);
    let total = job.options.retries.saturating_add(1);
    let mut backoff = job.options.backoff;
    let mut attempt = 1;
    let mut first = Some(first);
    loop {
        let current = first.take().unwrap_or_else(|| {
            Attempt::start(
                inner,
                job,
                claim,
                attempt,
                run_cancel,
                &tracing::Span::current(),
            )
        });
        let (outcome, retry_allowed) = current.finish(inner, job, deadline).await;
        let RunOutcome::Failed { .. } = &outcome else {
            return outcome;
        };
        let wait = with_jitter(backoff.min(MAX_BACKOFF), &claim.token, attempt);
        let retry_at = Instant::now() + wait;
        if !retry_allowed {
            info!(
                attempt,
                "not retrying: the job marked the failure permanent"
            );
            return outcome;
        }
        if attempt >= total
            || retry_at >= deadline
            || retry_at >= next_tick
            || run_cancel.is_cancelled()
        {
            return outcome;
        }
        info!(
            attempt,
            backoff_ms = wait.as_millis() as u64,
            "retrying after failure"
        );
        tokio::select! {
            () = tokio::time::sleep_until(retry_at) => {}
            () = run_cancel.cancelled() => return outcome,
        }
        backoff = backoff.saturating_mul(2);
        attempt += 1;
    }
}

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// `backoff` scaled by a factor between 0.8 and 1.2, so instances retrying
/// the same failing dependency do not all come back at once.
fn with_jitter(backoff: Duration, token: &str, attempt: u32) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (token, attempt).hash(&mut hasher);
    let factor = 0.8 + (hasher.finish() % 401) as f64 / 1000.0;
    backoff.mul_f64(factor)
}

/// One attempt of a run, its job already started in its own task.
struct Attempt {
    ctx: JobContext,
    cancel: CancellationToken,
    /// When the attempt started, for timeouts and durations.
    started: Instant,
    /// The same instant on the scheduler's clock, for the history.
    started_at: DateTime<Utc>,
    /// `None` when a `State<T>` parameter had no value (checked at build).
    task: Option<AbortOnDrop<Result<(), String>>>,
}

impl Attempt {
    /// Starts the job's task for attempt number `attempt` of `claim`.
    fn start(
        inner: &Inner,
        job: &JobEntry,
        claim: &Claim,
        attempt: u32,
        run_cancel: &CancellationToken,
        span: &tracing::Span,
    ) -> Attempt {
        let cancel = run_cancel.child_token();
        let ctx = JobContext::new(
            Arc::clone(&job.name),
            claim.tick,
            attempt,
            claim.fencing_token,
            cancel.clone(),
        );
        let started_at = inner.clock.now();
        span.in_scope(|| info!(attempt, fencing_token = claim.fencing_token, "run started"));
        if attempt == 1 {
            metrics::lateness(&job.name, started_at - claim.tick);
        }
        let future = match &job.runner {
            Runner::Closure(run) => Some(run(ctx.clone())),
            Runner::Registered(run) => run(ctx.clone(), &inner.states),
        };
        // The job runs in its own task, so a job that blocks its thread cannot
        // stall its supervisor: the timeout and the lock watchdog keep running.
        // The job runs in its own task, so a job that blocks its thread cannot
        // stall its supervisor: the timeout and the lock watchdog keep running.
        let task = future.map(|future| AbortOnDrop(tokio::spawn(future.instrument(span.clone()))));
        Attempt {
            ctx,
            cancel,
            started: Instant::now(),
            started_at,
            task,
        }
    }

    /// Waits for the attempt within `deadline`; also says whether a failure
    /// may be retried (the job can mark it permanent with
    /// [`JobContext::no_retry`]).
    async fn finish(self, inner: &Inner, job: &JobEntry, deadline: Instant) -> (RunOutcome, bool) {
        let ctx = self.ctx.clone();
        let outcome = self.wait(inner, job, deadline).await;
        (outcome, ctx.retry_allowed())
    }

    async fn wait(self, inner: &Inner, job: &JobEntry, deadline: Instant) -> RunOutcome {
        let Attempt {
            ctx,
            cancel,
            started,
            task,
            ..
        } = self;
        let attempt = ctx.attempt();
        let Some(mut task) = task else {
            // Checked at build; reaching this means the state map changed under us.
            error!("run failed: a State<T> parameter has no registered value");
            return RunOutcome::Failed {
                error: "missing state".into(),
            };
        };
        // Biased: a cancelled run reports as cancelled even if the job ended
        // as it saw the cancellation; a job that already finished never arms
        // the deadline timer.
        let finished = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            result = &mut task.0 => Some(result),
            () = tokio::time::sleep_until(deadline) => None,
        };
        let timed_out = finished.is_none() && !cancel.is_cancelled();
        let result = match finished {
            Some(result) => result,
            None => {
                // Give the job a moment to observe cancelled() and clean up, then
                // abort it and wait until it has stopped.
                cancel.cancel();
                if tokio::time::timeout(inner.cancel_grace, &mut task.0)
                    .await
                    .is_err()
                {
                    task.0.abort();
                    let _ = (&mut task.0).await;
                }
                let duration_ms = started.elapsed().as_millis() as u64;
                if timed_out {
                    error!(
                        duration_ms,
                        timeout_ms = job.timeout.as_millis() as u64,
                        "run timed out and was cancelled"
                    );
                    return RunOutcome::TimedOut;
                }
                warn!(duration_ms, "run cancelled");
                return RunOutcome::Cancelled;
            }
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        match result {
            Ok(Ok(())) => match ctx.skip_reason() {
                Some(reason) => {
                    info!(duration_ms, reason = %reason, "run skipped by the job");
                    RunOutcome::Skipped { reason }
                }
                None => {
                    info!(duration_ms, "run completed");
                    RunOutcome::Completed
                }
            },
            Ok(Err(error)) => {
                error!(duration_ms, attempt, error = %error, "run failed");
                RunOutcome::Failed { error }
            }
            Err(join_error) => {
                let message = match join_error.try_into_panic() {
                    Ok(payload) => panic_message(payload.as_ref()),
                    Err(_) => "the job's task was cancelled".to_owned(),
                };
                error!(duration_ms, panic = %message, "run panicked; the scheduler carries on");
                RunOutcome::Panicked { message }
            }
        }
    }
}

/// Aborts the job's task if the run is dropped before it ends (a runtime
/// shutting down), so no job outlives its run.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
