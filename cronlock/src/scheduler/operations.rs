//! Operating a running fleet from one of its instances: pause, resume,
//! trigger, history.

use tracing::info;

use super::run::Scheduler;
use crate::error::Error;
use crate::lock::{Control, HistoryEntry, LockErrorKind, Pause, Trigger};

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
