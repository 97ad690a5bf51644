//! The fleet's shared state, kept in step in the background: pauses and
//! triggers polled every second, and the job list published for the
//! command line.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::claim::{self, Due};
use super::inner::Inner;
use super::start;
use crate::lock::{JobSummary, TRIGGER_KEPT};

/// How often each instance reads the paused jobs and waiting triggers, so a
/// pause or a trigger reaches the fleet within this time.
pub(super) const POLL_EVERY: Duration = Duration::from_secs(1);

/// Runs kept in each job's history unless configured otherwise.
pub(super) const DEFAULT_HISTORY_LEN: usize = 20;

/// One control poll: refreshes the pauses and runs the triggers of jobs
/// this instance has (a trigger of a job it does not have, or has disabled,
/// stays for an instance that has it).
pub(super) async fn poll(
    inner: Arc<Inner>,
    stop_claims: CancellationToken,
    stop_runs: CancellationToken,
) {
    let Some(control) = inner.lock.control() else {
        return;
    };
    let state = match control.fleet_state().await {
        Ok(state) => state,
        Err(err) => {
            debug!(error = %err, "could not read the pauses and triggers; keeping the last known pauses");
            return;
        }
    };
    *inner.paused.lock().unwrap_or_else(|p| p.into_inner()) = state.paused;
    // A trigger taken during shutdown could not run: leave it for others.
    if state.triggers.is_empty() || stop_claims.is_cancelled() {
        return;
    }
    let now = inner.clock.now();
    let expired_before = now - chrono::Duration::from_std(TRIGGER_KEPT).unwrap_or_default();
    let mut due = Vec::new();
    for waiting in state.triggers {
        if waiting.queued < expired_before {
            if let Ok(Some(trigger)) = control.take_trigger(&waiting.job).await {
                warn!(job = ?trigger.job, queued = %trigger.queued, by = ?trigger.by, "trigger expired: no instance that runs this job took it within an hour");
            }
            continue;
        }
        let Some(job) = inner
            .jobs
            .iter()
            .find(|job| *job.name == *waiting.job && job.options.enabled)
        else {
            continue;
        };
        match control.take_trigger(&waiting.job).await {
            Ok(Some(trigger)) => {
                let tick = trigger_instant(now);
                info!(job = %job.name, tick = %tick, by = ?trigger.by, "triggered: running now");
                due.push(Due {
                    job: Arc::clone(job),
                    tick,
                    trigger: Some(trigger),
                });
            }
            Ok(None) => {}
            Err(err) => debug!(job = %job.name, error = %err, "could not take a trigger"),
        }
    }
    if due.is_empty() {
        return;
    }
    let phase = start::StartPhase::begin();
    claim::run_due(Arc::clone(&inner), due, phase, stop_claims, stop_runs).await;
}

/// The instant a manual run claims: now, to the millisecond, never on a
/// whole second, so a trigger never takes the place of a scheduled tick
/// (ticks are whole seconds).
fn trigger_instant(now: DateTime<Utc>) -> DateTime<Utc> {
    let instant = now.trunc_subsecs(3);
    if instant.timestamp_subsec_millis() == 0 {
        instant + chrono::Duration::milliseconds(1)
    } else {
        instant
    }
}

/// Publishes this scheduler's jobs for the command line, and warns about
/// jobs another service registers under the same name on the same Redis
/// and prefix (the two would split the job's ticks between them).
pub(super) async fn publish(inner: &Inner) {
    // Only a distributed lock has a command line reading the list; an
    // in-process one would keep a second copy of every job for nobody.
    let Some(control) = inner.lock.control().filter(|_| inner.lock.is_distributed()) else {
        return;
    };
    let seen = inner.clock.now();
    // In slices: a large fleet's list never exists twice in memory at once,
    // and the allocator can reuse one slice's memory for the next.
    for slice in inner.jobs.chunks(PUBLISH_SLICE) {
        let jobs: Vec<JobSummary> = slice
            .iter()
            .map(|job| JobSummary {
                name: job.name.to_string(),
                spec: job.schedule.source().to_owned(),
                tz: job.schedule.timezone().name().to_owned(),
                timeout: job.timeout,
                enabled: job.options.enabled,
                service: inner.service.clone(),
                instance: inner.instance.to_string(),
                seen,
            })
            .collect();
        match control.publish_jobs(&jobs).await {
            Ok(others) => {
                for other in others {
                    warn!(
                        job = %other.name,
                        other_service = %other.service,
                        service = %inner.service,
                        "another service registers a job of the same name on this lock: the two split its ticks; give each service its own key prefix (CRONLOCK_PREFIX)"
                    );
                }
            }
            Err(err) => {
                warn!(error = %err, "could not publish the jobs for the command line");
                return;
            }
        }
    }
}

/// Jobs published to the lock in one request.
const PUBLISH_SLICE: usize = 256;
