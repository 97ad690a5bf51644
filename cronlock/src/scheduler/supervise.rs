//! Supervising a started run: its timeout, its retries, and the watchdog
//! that keeps its run lock alive; then the finish (release, history, metrics).

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::inner::Inner;
use super::jobs::JobEntry;
use super::report::LastRun;
use super::start::{Attempt, RunKind};
use crate::lock::{Claim, HistoryEntry};
use crate::metrics;
use crate::outcome::RunOutcome;

/// Runs a claimed tick, keeping its run lock alive, then releases it and
/// records the run. `lease_start` is when the claim was sent: the lock's
/// time to live counts from there.
pub(super) async fn run_claimed(
    inner: Arc<Inner>,
    job: Arc<JobEntry>,
    claim: Claim,
    lease_start: Instant,
    run_cancel: CancellationToken,
    first: Attempt,
    origin: Option<String>,
) {
    let started = first.started;
    let started_at = first.started_at;
    // The tick the run is for: a backfill's past tick, not the instant claimed.
    let tick = first.ctx.tick();
    let attempts = attempts(&inner, &job, &claim, &run_cancel, first);
    tokio::pin!(attempts);
    let outcome = if job.options.overlap.is_exclusive() {
        // Biased: a run that is already over never arms the watchdog's timer.
        tokio::select! {
            biased;
            outcome = &mut attempts => outcome,
            () = keep_lock(&inner, &job, &claim, lease_start, &run_cancel) => {
                // The lock is gone: the run goes too (dropping it aborts the job's task).
                warn!("run cancelled: its run lock is gone");
                RunOutcome::Cancelled
            }
        }
    } else {
        attempts.await
    };
    job.running.fetch_sub(1, Ordering::SeqCst);
    // The lock cannot outlive the last extension sent (before now) plus its TTL.
    let until = Instant::now() + job.lock_ttl;
    super::release::release(&*inner.lock, &claim, until, &run_cancel).await;
    let duration = started.elapsed();
    job.finished(tick, &outcome, duration);
    if let Some(control) = inner.lock.control() {
        // A manual run says who asked for it, where the history shows it.
        let instance = match origin {
            Some(origin) => format!("{} ({origin})", inner.instance),
            None => inner.instance.to_string(),
        };
        let entry = HistoryEntry {
            tick,
            instance,
            started: started_at,
            duration,
            outcome,
        };
        match control
            .record_run(
                &job.name,
                &entry,
                super::failures::history_len(&inner, &job),
            )
            .await
        {
            Err(err) => {
                metrics::lock_error();
                warn!(error = %err, "could not record the run in the history");
            }
            Ok(()) if super::failures::counts(&job, &entry.outcome) => {
                super::failures::pause_if_failing(&inner, &job, control).await;
            }
            Ok(()) => {}
        }
        record_last(&job, tick, entry.outcome, duration);
    } else {
        record_last(&job, tick, outcome, duration);
    }
}

fn record_last(
    job: &JobEntry,
    tick: chrono::DateTime<chrono::Utc>,
    outcome: RunOutcome,
    duration: Duration,
) {
    let last = LastRun {
        tick,
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
/// only when the lock is lost or expires, after cancelling the run; the
/// caller then drops the run, which aborts the job's task.
///
/// The lease counts from when each request was sent, not from its reply.
/// When no extension succeeds, the run is cancelled before the lease ends,
/// at that instant and without waiting for a request still on its way,
/// leaving the job the cancel grace (at most a third of the TTL) to stop;
/// at the lease's end it is aborted, so no run outlives its lock.
async fn keep_lock(
    inner: &Inner,
    job: &JobEntry,
    claim: &Claim,
    lease_start: Instant,
    run_cancel: &CancellationToken,
) {
    let ttl = job.lock_ttl;
    let every = (ttl / 3).max(Duration::from_millis(100));
    let grace = inner.cancel_grace.min(ttl / 3);
    let mut lease_end = lease_start + ttl;
    let mut next = lease_start + every;
    loop {
        tokio::time::sleep_until(next).await;
        let cancel_at = lease_end.checked_sub(grace).unwrap_or(lease_end);
        let sent = Instant::now();
        let answer = tokio::select! {
            biased;
            answer = inner.lock.extend(claim, ttl) => answer,
            () = tokio::time::sleep_until(cancel_at) => {
                metrics::lock_error();
                error!(
                    fencing_token = claim.fencing_token,
                    grace_ms = grace.as_millis() as u64,
                    "run lock could not be extended before it expires: cancelling the run, aborting it when the lock expires"
                );
                job.lock_lost(claim.tick);
                run_cancel.cancel();
                tokio::time::sleep_until(lease_end).await;
                return;
            }
        };
        match answer {
            Ok(true) => {
                lease_end = sent + ttl;
                next = sent + every;
            }
            Ok(false) => {
                error!(
                    fencing_token = claim.fencing_token,
                    "run lock lost (expired or taken over): cancelling the run"
                );
                job.lock_lost(claim.tick);
                run_cancel.cancel();
                return;
            }
            // A failed extension is retried soon, until the cancel point.
            Err(err) => {
                metrics::lock_error();
                warn!(error = %err, "could not extend the run lock; retrying");
                next = Instant::now() + (every / 4).max(Duration::from_millis(50));
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
    let kind = RunKind::of(&first.ctx);
    let mut first = Some(first);
    loop {
        let current = first.take().unwrap_or_else(|| {
            Attempt::start(
                inner,
                job,
                claim,
                attempt,
                kind,
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

impl Attempt {
    /// Waits for the attempt within `deadline`; also says whether a failure
    /// may be retried (the job can mark it permanent with
    /// [`crate::JobContext::no_retry`]).
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
        let mut task = task;
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

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
