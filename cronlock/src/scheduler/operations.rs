//! Operating a running fleet from one of its instances: pause, resume,
//! trigger, backfill, history.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::info;

use super::run::Scheduler;
use crate::Fleet;
use crate::error::Error;
use crate::lock::{Backfill, Control, HistoryEntry, LockErrorKind, Pause, Trigger};

impl Scheduler {
    /// The fleet this scheduler belongs to, as tools see it: what
    /// [`Fleet`] shows and does (the dashboard serves one). With a
    /// distributed lock, every job the fleet's instances published; with an
    /// in-process lock, this scheduler's jobs.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cronlock::Error> {
    /// let scheduler = cronlock::Scheduler::builder()
    ///     .registered_jobs(false)
    ///     .job(cronlock::Job::new(
    ///         "report",
    ///         "0 0 * * * *",
    ///         std::time::Duration::from_secs(60),
    ///         |_ctx| async { Ok::<(), String>(()) },
    ///     ))
    ///     .build()
    ///     .await?;
    /// let jobs = scheduler.fleet().jobs().await?;
    /// assert_eq!(jobs[0].summary.name, "report");
    /// # Ok(()) }
    /// ```
    pub fn fleet(&self) -> Fleet {
        let inner = &self.inner;
        let local = (!inner.lock.is_distributed()).then(|| {
            let now = inner.clock.now();
            inner
                .jobs
                .iter()
                .map(|job| super::control::summary(inner, job, now))
                .collect()
        });
        Fleet::of_scheduler(Arc::clone(&inner.lock), local)
    }

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

    /// Writes a pause or resume by this instance to the job's history
    /// (best effort: the pause itself is what counts).
    async fn record_marker(&self, control: &dyn Control, job: &str, pause: Option<&Pause>) {
        let marker =
            crate::lock::control::pause_marker(self.inner.clock.now(), &self.inner.instance, pause);
        if let Err(err) = control
            .record_run(job, &marker, crate::lock::control::MARKER_KEEP)
            .await
        {
            tracing::warn!(job, error = %err, "could not record the pause or resume in the history");
        }
    }

    /// Pauses a job on every instance sharing the lock, within about a
    /// second; its ticks are skipped (and counted) until [`Scheduler::resume`].
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn pause(&self, job: &str) -> Result<(), Error> {
        let pause = Pause::new(self.inner.clock.now());
        let control = self.control_for(job)?;
        control.set_paused(job, Some(&pause)).await?;
        self.record_marker(control, job, Some(&pause)).await;
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
        let control = self.control_for(job)?;
        control.set_paused(job, None).await?;
        self.record_marker(control, job, None).await;
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

    /// Runs a job for every tick from `from` to `to` (both included), once
    /// each across the fleet, in order, one at a time, on the instances that
    /// have it; see [`Fleet::backfill`] (this checks the range against this
    /// scheduler's clock and its own definition of the job).
    ///
    /// # Errors
    ///
    /// An unknown or disabled job, an invalid range
    /// ([`Error::InvalidBackfill`]), a backfill of the job under way, or a
    /// backend that cannot be reached.
    pub async fn backfill(
        &self,
        job: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Backfill, Error> {
        let control = self.control_for(job)?;
        let Some(entry) = self
            .inner
            .jobs
            .iter()
            .find(|entry| *entry.name == *job && entry.options.enabled)
        else {
            return Err(Error::JobDisabled {
                job: job.to_owned(),
            });
        };
        let backfill = crate::fleet::plan_backfill(
            job,
            &entry.schedule,
            from,
            to,
            self.inner.clock.now(),
            Some(&self.inner.instance),
        )?;
        let backfill = crate::fleet::request_backfill(control, backfill).await?;
        info!(job, from = %from, to = %to, ticks = backfill.total, "backfill requested");
        Ok(backfill)
    }

    /// Cancels the job's backfill (see [`Fleet::cancel_backfill`]).
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn cancel_backfill(&self, job: &str) -> Result<Option<Backfill>, Error> {
        Ok(self.control_for(job)?.end_backfill(job, None).await?)
    }

    /// The job's last runs across the fleet, newest first, with the ticks no
    /// instance ran among them (see [`Fleet::history`]).
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn history(&self, job: &str) -> Result<Vec<HistoryEntry>, Error> {
        crate::fleet::history_with_not_run(self.control_for(job)?, job).await
    }
}
