//! Operating a running fleet: pause, resume, trigger, history.

use std::sync::Arc;
use std::time::Duration;

use chrono::SubsecRound;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Inner, Scheduler, execute};
use crate::error::Error;
use crate::lock::{Control, HistoryEntry, JobSummary};

/// How often each instance reads the paused jobs and pending triggers, so a
/// pause or a trigger reaches the fleet within this time.
pub(super) const POLL_EVERY: Duration = Duration::from_secs(1);

/// Runs kept in each job's history.
pub(super) const HISTORY_LEN: usize = 20;

/// `host:pid:random`, naming this scheduler in run histories.
pub(super) fn instance_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let random = crate::lock::random_token();
    format!("{host}:{}:{}", std::process::id(), &random[..8])
}

/// One control poll: refreshes the paused jobs and runs the triggers this
/// instance took.
pub(super) async fn poll(
    inner: Arc<Inner>,
    stop_claims: CancellationToken,
    stop_runs: CancellationToken,
) {
    let Some(control) = inner.lock.control() else {
        return;
    };
    match control.paused().await {
        Ok(paused) => *inner.paused.lock().unwrap_or_else(|p| p.into_inner()) = paused,
        Err(err) => {
            debug!(error = %err, "could not read the paused jobs; keeping the last known set")
        }
    }
    let names = match control.take_triggers().await {
        Ok(names) => names,
        Err(err) => {
            debug!(error = %err, "could not read the triggers");
            return;
        }
    };
    if names.is_empty() || stop_claims.is_cancelled() {
        return;
    }
    let tick = inner.clock.now().trunc_subsecs(3);
    let mut due = Vec::new();
    for name in names {
        match inner.jobs.iter().find(|job| *job.name == *name) {
            Some(job) => {
                info!(job = %job.name, tick = %tick, "triggered: running now");
                due.push((Arc::clone(job), tick));
            }
            None => warn!(job = %name, "trigger for a job this instance does not have: dropped"),
        }
    }
    let phase = execute::StartPhase::begin();
    execute::run_due(Arc::clone(&inner), due, phase, stop_claims, stop_runs).await;
}

/// Publishes this scheduler's jobs for the command line's `list`.
pub(super) async fn publish(inner: &Inner) {
    // Only a distributed lock has a command line reading the list; an
    // in-process one would keep a second copy of every job for nobody.
    let Some(control) = inner.lock.control().filter(|_| inner.lock.is_distributed()) else {
        return;
    };
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
            })
            .collect();
        if let Err(err) = control.publish_jobs(&jobs).await {
            warn!(error = %err, "could not publish the jobs for the command line");
            return;
        }
    }
}

/// Jobs published to the lock in one request.
const PUBLISH_SLICE: usize = 256;

impl Inner {
    pub(super) fn is_paused(&self, job: &str) -> bool {
        self.paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(job)
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
            Error::Config("this lock backend has no pause, trigger or history".into())
        })
    }

    /// Pauses a job on every instance sharing the lock, within about a
    /// second; its ticks are skipped (and counted) until [`Scheduler::resume`].
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn pause(&self, job: &str) -> Result<(), Error> {
        self.control_for(job)?.set_paused(job, true).await?;
        self.inner
            .paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(job.to_owned());
        info!(job, "paused");
        Ok(())
    }

    /// Resumes a paused job everywhere.
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn resume(&self, job: &str) -> Result<(), Error> {
        self.control_for(job)?.set_paused(job, false).await?;
        self.inner
            .paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(job);
        info!(job, "resumed");
        Ok(())
    }

    /// Runs a job once now, on whichever running instance takes the trigger
    /// first (within about a second), paused or not. The run claims its
    /// instant like a tick, so overlap rules apply.
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn trigger(&self, job: &str) -> Result<(), Error> {
        self.control_for(job)?.trigger(job).await?;
        Ok(())
    }

    /// The job's last runs across the fleet, newest first (at most 20).
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn history(&self, job: &str) -> Result<Vec<HistoryEntry>, Error> {
        Ok(self.control_for(job)?.history(job).await?)
    }
}
