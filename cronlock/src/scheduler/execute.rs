//! One tick of one job: claim, run with limits, retry, release, record.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::{Inner, JobEntry, LastRun, RunOutcome};
use crate::context::JobContext;
use crate::job::{Overlap, Runner};
use crate::lock::{Claim, ClaimRequest, Claimed};

/// Claims `tick` and, if this instance won it, runs the job.
pub(super) async fn run_tick(
    inner: Arc<Inner>,
    job: Arc<JobEntry>,
    tick: DateTime<Utc>,
    stop_runs: CancellationToken,
) {
    let span = info_span!("job", job = %job.name, tick = %tick);
    async move {
        if job.options.overlap == Overlap::Skip && job.running.load(Ordering::SeqCst) > 0 {
            info!("skipped: the previous run is still going");
            return;
        }
        let request = ClaimRequest {
            job: &job.name,
            tick,
            ttl: job.lock_ttl,
            overlap: job.options.overlap,
        };
        let claim = match inner.lock.claim(request).await {
            Ok(Claimed::Acquired(claim)) => claim,
            Ok(Claimed::TickTaken) => {
                debug!("skipped: another instance holds this tick");
                return;
            }
            Ok(Claimed::StillRunning) => {
                info!("skipped: a previous run still holds the lock");
                return;
            }
            Err(err) => {
                error!(error = %err, "not running this tick: the lock could not be claimed");
                return;
            }
        };
        job.running.fetch_add(1, Ordering::SeqCst);
        let started = Instant::now();
        let outcome = attempts(&inner, &job, &claim, started, &stop_runs).await;
        job.running.fetch_sub(1, Ordering::SeqCst);
        if let Err(err) = inner.lock.release(&claim).await {
            warn!(error = %err, "could not release the run lock; it expires after its TTL");
        }
        job.status().last = Some(LastRun {
            tick,
            outcome,
            duration: started.elapsed(),
        });
    }
    .instrument(span)
    .await;
}

/// Runs the job, retrying failures with doubling backoff, all within one timeout budget.
async fn attempts(
    inner: &Inner,
    job: &JobEntry,
    claim: &Claim,
    started: Instant,
    stop_runs: &CancellationToken,
) -> RunOutcome {
    let deadline = started + job.timeout;
    let total = job.options.retries.saturating_add(1);
    let mut backoff = job.options.backoff;
    let mut attempt = 1;
    loop {
        let outcome = attempt_once(inner, job, claim, attempt, deadline, stop_runs).await;
        let RunOutcome::Failed { .. } = &outcome else {
            return outcome;
        };
        let retry_at = Instant::now() + backoff;
        if attempt >= total || retry_at >= deadline || stop_runs.is_cancelled() {
            return outcome;
        }
        info!(
            attempt,
            backoff_ms = backoff.as_millis() as u64,
            "retrying after failure"
        );
        tokio::select! {
            () = tokio::time::sleep_until(retry_at) => {}
            () = stop_runs.cancelled() => return outcome,
        }
        backoff = backoff.saturating_mul(2);
        attempt += 1;
    }
}

async fn attempt_once(
    inner: &Inner,
    job: &JobEntry,
    claim: &Claim,
    attempt: u32,
    deadline: Instant,
    stop_runs: &CancellationToken,
) -> RunOutcome {
    let cancel = stop_runs.child_token();
    let ctx = JobContext::new(
        Arc::clone(&job.name),
        claim.tick,
        attempt,
        claim.fencing_token,
        cancel.clone(),
    );
    info!(attempt, fencing_token = claim.fencing_token, "run started");
    let started = Instant::now();
    let future = match &job.runner {
        Runner::Closure(run) => Some(run(ctx.clone())),
        Runner::Registered(run) => run(ctx.clone(), &inner.states),
    };
    let Some(future) = future else {
        // Checked at build; reaching this means the state map changed under us.
        error!("run failed: a State<T> parameter has no registered value");
        return RunOutcome::Failed {
            error: "missing state".into(),
        };
    };
    let mut future = CatchUnwind(future);
    let finished = tokio::select! {
        result = &mut future => Some(result),
        () = tokio::time::sleep_until(deadline) => None,
        () = cancel.cancelled() => None,
    };
    let timed_out = finished.is_none() && !cancel.is_cancelled();
    let result = match finished {
        Some(result) => result,
        None => {
            // Give the job a moment to observe cancelled() and clean up, then drop it.
            cancel.cancel();
            match tokio::time::timeout(inner.cancel_grace, &mut future).await {
                Ok(_) | Err(_) => {
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
            }
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
        Err(message) => {
            error!(duration_ms, panic = %message, "run panicked; the scheduler carries on");
            RunOutcome::Panicked { message }
        }
    }
}

/// Polls a job, turning a panic inside it into an `Err` with the panic message.
struct CatchUnwind(crate::__private::JobFuture);

impl Future for CatchUnwind {
    type Output = Result<Result<(), String>, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
            Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
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
