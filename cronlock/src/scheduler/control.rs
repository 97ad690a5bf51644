//! Operating a running fleet: pause, resume, trigger, history, and the job
//! list published for the command line.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::claim::{self, Due};
use super::{Inner, Scheduler, start};
use crate::error::Error;
use crate::lock::{
    Control, HistoryEntry, JobSummary, LockErrorKind, Pause, SERVICE_ENV, TRIGGER_KEPT, Trigger,
};

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

/// The service name published with the jobs: `$CRONLOCK_SERVICE`, else the
/// executable's file name.
pub(super) fn service_name() -> String {
    std::env::var(SERVICE_ENV)
        .ok()
        .filter(|name| !name.is_empty())
        .or_else(|| {
            std::env::current_exe()
                .ok()?
                .file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
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

impl Inner {
    pub(super) fn is_paused(&self, job: &str, now: DateTime<Utc>) -> bool {
        self.paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(job)
            .is_some_and(|pause| pause.is_active(now))
    }
}

impl Scheduler {
    fn control_for(&self, job: &str) -> Result<&dyn Control, Error> {
        if !self.inner.jobs.iter().any(|entry| *entry.name == *job) {
            return Err(Error::UnknownJob {
                job: job.to_owned(),
            });
        }
        self.inner.lock.control().ok_or_else(|| {
            Error::Lock(crate::lock::LockError::new(
                LockErrorKind::Unsupported,
                "this lock backend has no pause, trigger or history",
                None,
            ))
        })
    }

    /// Pauses a job on every instance sharing the lock, within about a
    /// second; its ticks are skipped (and counted) until [`Scheduler::resume`].
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn pause(&self, job: &str) -> Result<(), Error> {
        let pause = Pause::new(self.inner.clock.now());
        self.control_for(job)?.set_paused(job, Some(&pause)).await?;
        self.inner
            .paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.to_owned(), pause);
        info!(job, "paused");
        Ok(())
    }

    /// Resumes a paused job everywhere.
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn resume(&self, job: &str) -> Result<(), Error> {
        self.control_for(job)?.set_paused(job, None).await?;
        self.inner
            .paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(job);
        info!(job, "resumed");
        Ok(())
    }

    /// Runs a job once now, on an instance that has the job (within about a
    /// second), paused or not. The run claims its instant like a tick, so
    /// overlap rules apply: while a run of a job that does not allow overlap
    /// goes on, the trigger waits and runs after it. A trigger of a job that
    /// already has one waiting is the same run. A trigger no instance takes
    /// within an hour is dropped (logged).
    ///
    /// # Errors
    ///
    /// An unknown or disabled job, or a backend that cannot be reached.
    pub async fn trigger(&self, job: &str) -> Result<(), Error> {
        let control = self.control_for(job)?;
        if self
            .inner
            .jobs
            .iter()
            .any(|entry| *entry.name == *job && !entry.options.enabled)
        {
            return Err(Error::JobDisabled {
                job: job.to_owned(),
            });
        }
        let trigger = Trigger {
            job: job.to_owned(),
            queued: self.inner.clock.now(),
            by: Some(self.inner.instance.to_string()),
        };
        control.trigger(&trigger).await?;
        Ok(())
    }

    /// The job's last runs across the fleet, newest first.
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn history(&self, job: &str) -> Result<Vec<HistoryEntry>, Error> {
        Ok(self.control_for(job)?.history(job).await?)
    }
}
