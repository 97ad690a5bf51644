//! `pause_after_failures`: a job whose newest runs all failed, on whichever
//! instances ran them, pauses itself fleet-wide until resumed by hand.

use tracing::{error, warn};

use super::inner::Inner;
use super::jobs::JobEntry;
use crate::lock::{Control, HistoryEntry, Pause};
use crate::outcome::RunOutcome;

/// After a failed run was recorded: pauses the job when its newest
/// `pause_after_failures` history entries are all failures. The pause is
/// written to the history too, as a skipped entry, so the streak starts
/// over once someone resumes the job.
pub(super) async fn pause_if_failing(inner: &Inner, job: &JobEntry, control: &dyn Control) {
    let Some(limit) = job.options.pause_after_failures else {
        return;
    };
    let limit = limit as usize;
    let history = match control.history(&job.name).await {
        Ok(history) => history,
        Err(err) => {
            warn!(error = %err, "could not read the history to count consecutive failures");
            return;
        }
    };
    let streak = history
        .iter()
        .take_while(|entry| entry.outcome.is_failure())
        .count();
    if streak < limit {
        return;
    }
    let now = inner.clock.now();
    let last_error = history[0]
        .outcome
        .message()
        .map_or_else(|| history[0].outcome.label().to_owned(), str::to_owned);
    let pause = Pause {
        since: now,
        until: None,
        note: Some(format!(
            "paused after {limit} consecutive failed runs (last: {last_error})"
        )),
        by: Some(format!("cronlock on {}", inner.instance)),
    };
    if let Err(err) = control.set_paused(&job.name, Some(&pause)).await {
        warn!(error = %err, failures = limit, "could not pause the job after consecutive failures");
        return;
    }
    inner
        .paused
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(job.name.to_string(), pause);
    error!(
        failures = limit,
        last_error = %last_error,
        "job paused fleet-wide after consecutive failed runs; resume it by hand (`cronlock resume`, or Scheduler::resume)"
    );
    let marker = HistoryEntry {
        tick: now,
        instance: inner.instance.to_string(),
        started: now,
        duration: std::time::Duration::ZERO,
        outcome: RunOutcome::Skipped {
            reason: format!(
                "{}{limit} consecutive failed runs",
                crate::lock::control::PAUSED_AFTER
            ),
        },
    };
    if let Err(err) = control
        .record_run(&job.name, &marker, history_len(inner, job))
        .await
    {
        warn!(error = %err, "could not record the pause in the history");
    }
}

/// How many runs the job's history keeps: its own length, else the
/// scheduler's, and never fewer than the failures it waits for.
pub(super) fn history_len(inner: &Inner, job: &JobEntry) -> usize {
    let own = job
        .options
        .history_len
        .map_or(inner.history_len, |runs| runs as usize);
    own.max(job.options.pause_after_failures.unwrap_or(0) as usize)
}

/// Whether `outcome` may start or extend a streak that pauses the job.
pub(super) fn counts(job: &JobEntry, outcome: &RunOutcome) -> bool {
    job.options.pause_after_failures.is_some() && outcome.is_failure()
}
