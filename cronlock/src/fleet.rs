//! A fleet seen from outside: its published jobs, pauses, triggers and
//! histories, through whichever lock backend it uses. The `cronlock`
//! command line (and any tool) works through this type, never a backend
//! directly.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::lock::control::Marker;
use crate::lock::{
    Backfill, Control, HistoryEntry, JobSummary, Lock, LockError, LockErrorKind, Pause, Trigger,
};
use crate::schedule::Schedule;

/// A fleet's shared state, for tools that inspect and operate it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cronlock::Error> {
/// let fleet = cronlock::Fleet::from_lock(cronlock::lock::MemoryLock::new());
/// assert!(fleet.jobs().await?.is_empty());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Fleet {
    lock: Arc<dyn Lock>,
    /// The jobs of one scheduler whose lock publishes none (an in-process
    /// lock): see [`crate::Scheduler::fleet`].
    local_jobs: Option<Arc<[JobSummary]>>,
}

/// A job as the fleet published it, with its pause and last run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FleetJob {
    /// What the instances published.
    pub summary: JobSummary,
    /// The pause in force, if any.
    pub pause: Option<Pause>,
    /// The newest run in the history (pauses and resumes are history
    /// entries, not runs).
    pub last_run: Option<HistoryEntry>,
    /// The next tick after now, by the published spec and zone.
    pub next: Option<DateTime<Utc>>,
    /// How many of its ticks of the last 24 hours no instance ran (as
    /// recorded, at most [`NOT_RUN_KEPT`](crate::lock::NOT_RUN_KEPT));
    /// `None` when the backend does not record them.
    pub missed_last_day: Option<u64>,
}

impl Fleet {
    /// The fleet coordinating through `lock`.
    pub fn from_lock(lock: impl Lock) -> Fleet {
        Fleet {
            lock: Arc::new(lock),
            local_jobs: None,
        }
    }

    /// A scheduler's view: its lock, and its own jobs when that lock
    /// publishes none.
    pub(crate) fn of_scheduler(
        lock: Arc<dyn Lock>,
        local_jobs: Option<Arc<[JobSummary]>>,
    ) -> Fleet {
        Fleet { lock, local_jobs }
    }

    /// The jobs the fleet runs: the ones its instances published, or the
    /// scheduler's own.
    async fn published(&self) -> Result<Vec<JobSummary>, Error> {
        match &self.local_jobs {
            Some(jobs) => Ok(jobs.to_vec()),
            None => Ok(self.control()?.published_jobs().await?),
        }
    }

    /// Connects to the fleet's backend named by `url` (`redis://`,
    /// `rediss://`), with the key prefix `prefix`.
    ///
    /// # Errors
    ///
    /// A URL no backend of this build takes, or a backend that refuses the
    /// connection; the message never shows a password.
    #[cfg(feature = "redis")]
    pub async fn connect(url: &str, prefix: &str) -> Result<Fleet, Error> {
        let config = crate::lock::RedisLockConfig::new(url)
            .key_prefix(prefix)
            .start_timeout(std::time::Duration::ZERO);
        Ok(Fleet::from_lock(
            crate::lock::RedisLock::connect(config).await?,
        ))
    }

    /// Connects to a fleet that coordinates through Postgres at `url`
    /// (`postgres://`), with its tables in `schema`. Never creates tables:
    /// a database where no instance ever ran is an error.
    ///
    /// # Errors
    ///
    /// A malformed URL, a database that refuses the connection or has no
    /// cronlock tables in `schema`; the message never shows a password.
    #[cfg(feature = "postgres")]
    pub async fn connect_postgres(url: &str, schema: &str) -> Result<Fleet, Error> {
        let config = crate::lock::PostgresLockConfig::new(url)
            .schema(schema)
            .manage_schema(false)
            .start_timeout(std::time::Duration::ZERO);
        Ok(Fleet::from_lock(
            crate::lock::PostgresLock::connect(config).await?,
        ))
    }

    fn control(&self) -> Result<&dyn Control, Error> {
        self.lock.control().ok_or_else(|| {
            Error::Lock(LockError::new(
                LockErrorKind::Unsupported,
                "this lock backend shares no fleet state",
                None,
            ))
        })
    }

    /// Every published job with its pause, last run and next tick, by name.
    ///
    /// # Errors
    ///
    /// A backend that cannot be reached.
    pub async fn jobs(&self) -> Result<Vec<FleetJob>, Error> {
        let control = self.control()?;
        let mut published = self.published().await?;
        published.sort_by(|a, b| a.name.cmp(&b.name));
        let state = control.fleet_state().await?;
        let names: Vec<String> = published.iter().map(|job| job.name.clone()).collect();
        let mut last = control.last_runs(&names).await?;
        let day_ago =
            Utc::now() - chrono::Duration::from_std(crate::lock::NOT_RUN_DAY).unwrap_or_default();
        let missed = match control.not_run_counts(&names, day_ago).await {
            Ok(counts) => counts.into_iter().map(Some).collect(),
            Err(err) if err.kind() == LockErrorKind::Unsupported => vec![None; names.len()],
            Err(err) => return Err(err.into()),
        };
        // A pause or resume is a history entry but not a run: for a job
        // whose newest entry is one, its newest run is further down.
        for (name, newest) in names.iter().zip(&mut last) {
            if newest
                .as_ref()
                .is_some_and(|entry| Marker::of(entry).is_some())
            {
                *newest = control
                    .history(name)
                    .await?
                    .into_iter()
                    .find(|entry| Marker::of(entry).is_none());
            }
        }
        let now = Utc::now();
        Ok(published
            .into_iter()
            .zip(last)
            .zip(missed)
            .map(|((summary, last_run), missed_last_day)| {
                let pause = state
                    .paused
                    .get(&summary.name)
                    .filter(|pause| pause.is_active(now))
                    .cloned();
                let next = schedule_of(&summary).and_then(|schedule| schedule.next_after(now));
                FleetJob {
                    summary,
                    pause,
                    last_run,
                    next,
                    missed_last_day,
                }
            })
            .collect())
    }

    /// The published job named `job`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownJob`] when no instance published it, or a backend
    /// that cannot be reached.
    pub async fn job(&self, job: &str) -> Result<JobSummary, Error> {
        self.published()
            .await?
            .into_iter()
            .find(|summary| summary.name == job)
            .ok_or_else(|| Error::UnknownJob {
                job: job.to_owned(),
            })
    }

    /// The job's runs, newest first, with its ticks no instance ran
    /// ([`RunOutcome::NotRun`](crate::RunOutcome::NotRun), with why) among
    /// them by tick: up to [`NOT_RUN_SHOWN`] of those, from the last day.
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn history(&self, job: &str) -> Result<Vec<HistoryEntry>, Error> {
        self.job(job).await?;
        history_with_not_run(self.control()?, job).await
    }

    /// As [`Fleet::history`], without checking that the job is published
    /// (for a caller that just listed the jobs).
    #[cfg(feature = "dashboard")]
    pub(crate) async fn history_of(&self, job: &str) -> Result<Vec<HistoryEntry>, Error> {
        history_with_not_run(self.control()?, job).await
    }

    /// Pauses a job on every instance.
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn pause(&self, job: &str, pause: &Pause) -> Result<(), Error> {
        self.job(job).await?;
        self.control()?.set_paused(job, Some(pause)).await?;
        self.record_marker(job, pause.by.as_deref(), Some(pause))
            .await;
        Ok(())
    }

    /// Writes a pause or resume to the job's history (best effort: the
    /// pause itself is what counts).
    async fn record_marker(&self, job: &str, by: Option<&str>, pause: Option<&Pause>) {
        let Ok(control) = self.control() else {
            return;
        };
        let by = by.unwrap_or("the cronlock command");
        let marker = crate::lock::control::pause_marker(Utc::now(), by, pause);
        if let Err(err) = control
            .record_run(job, &marker, crate::lock::control::MARKER_KEEP)
            .await
        {
            tracing::warn!(job, error = %err, "could not record the pause or resume in the history");
        }
    }

    /// Resumes a paused job.
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn resume(&self, job: &str) -> Result<(), Error> {
        self.resume_by(job, None).await
    }

    /// Resumes a paused job, saying who did it in the job's history.
    ///
    /// # Errors
    ///
    /// An unknown job, or a backend that cannot be reached.
    pub async fn resume_by(&self, job: &str, by: Option<&str>) -> Result<(), Error> {
        self.job(job).await?;
        self.control()?.set_paused(job, None).await?;
        self.record_marker(job, by, None).await;
        Ok(())
    }

    /// Asks for one run of the job now; `false` when one was already waiting.
    ///
    /// # Errors
    ///
    /// An unknown or disabled job, or a backend that cannot be reached.
    pub async fn trigger(&self, job: &str, by: Option<&str>) -> Result<bool, Error> {
        let summary = self.job(job).await?;
        if !summary.enabled {
            return Err(Error::JobDisabled {
                job: job.to_owned(),
            });
        }
        let trigger = Trigger {
            job: job.to_owned(),
            queued: Utc::now(),
            by: by.map(str::to_owned),
        };
        Ok(self.control()?.trigger(&trigger).await?)
    }

    /// Asks the instances that have `job` to run it for every tick from
    /// `from` to `to` (both included), once each fleet-wide, in order,
    /// one at a time; returns the stored request with its tick count. The
    /// runs see [`JobContext::is_backfill`](crate::JobContext::is_backfill)
    /// and the past tick as [`JobContext::tick`](crate::JobContext::tick),
    /// show in the history as `backfill by WHO`, follow the job's overlap
    /// policy against scheduled runs, and wait while the job is paused.
    /// Progress is in [`Fleet::backfills`]; [`Fleet::cancel_backfill`]
    /// stops it (and cancels the run going).
    ///
    /// ```
    /// # async fn example(fleet: cronlock::Fleet) -> Result<(), cronlock::Error> {
    /// use chrono::{TimeZone, Utc};
    ///
    /// let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
    /// let to = Utc.with_ymd_and_hms(2026, 11, 7, 23, 59, 59).unwrap();
    /// let backfill = fleet.backfill("nightly_report", from, to, Some("ops")).await?;
    /// println!("{} ticks to run", backfill.total);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// An unknown or disabled job; [`Error::InvalidBackfill`] for a range
    /// that is empty, reaches into the future or has more than
    /// [`MAX_BACKFILL_TICKS`] ticks, or when a backfill of the job is
    /// under way; a backend that cannot be reached or store it.
    pub async fn backfill(
        &self,
        job: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        by: Option<&str>,
    ) -> Result<Backfill, Error> {
        let summary = self.job(job).await?;
        if !summary.enabled {
            return Err(Error::JobDisabled {
                job: job.to_owned(),
            });
        }
        let schedule = schedule_of(&summary).ok_or_else(|| Error::InvalidBackfill {
            job: job.to_owned(),
            reason: format!("its published spec `{}` does not parse", summary.spec),
        })?;
        let backfill = plan_backfill(job, &schedule, from, to, Utc::now(), by)?;
        request_backfill(self.control()?, backfill).await
    }

    /// The backfills under way, with their progress, by job.
    ///
    /// # Errors
    ///
    /// A backend that cannot be reached.
    pub async fn backfills(&self) -> Result<Vec<Backfill>, Error> {
        let mut backfills = self.control()?.fleet_state().await?.backfills;
        backfills.sort_by(|a, b| a.job.cmp(&b.job));
        Ok(backfills)
    }

    /// Cancels the job's backfill: no instance starts another of its ticks,
    /// and the run going is cancelled (through `ctx.cancelled()`) within
    /// about a second. Returns it, or `None` when none was under way.
    ///
    /// # Errors
    ///
    /// A backend that cannot be reached.
    pub async fn cancel_backfill(&self, job: &str) -> Result<Option<Backfill>, Error> {
        Ok(self.control()?.end_backfill(job, None).await?)
    }

    /// The pauses in force, by job.
    ///
    /// # Errors
    ///
    /// A backend that cannot be reached.
    pub async fn pauses(&self) -> Result<BTreeMap<String, Pause>, Error> {
        let now = Utc::now();
        let mut paused = self.control()?.fleet_state().await?.paused;
        paused.retain(|_, pause| pause.is_active(now));
        Ok(paused)
    }

    /// The jobs with state left in the backend (claims, history, a pause)
    /// that no instance registers any more: none published them within
    /// [`JOB_LIST_KEPT`](crate::lock::JOB_LIST_KEPT). By name.
    ///
    /// # Errors
    ///
    /// A backend that cannot be reached or cannot list them.
    pub async fn unregistered_jobs(&self) -> Result<Vec<String>, Error> {
        Ok(self.control()?.unregistered_jobs().await?)
    }

    /// Removes everything stored for `jobs`, except for the ones an
    /// instance still registers; returns the jobs removed.
    ///
    /// # Errors
    ///
    /// A backend that cannot be reached or cannot remove them.
    pub async fn forget_jobs(&self, jobs: &[String]) -> Result<Vec<String>, Error> {
        Ok(self.control()?.forget_jobs(jobs).await?)
    }
}

/// The most ticks one backfill may have ([`Fleet::backfill`]): a day of an
/// every-second job, ten.
///
/// ```
/// assert_eq!(cronlock::MAX_BACKFILL_TICKS, 1_000_000);
/// ```
pub const MAX_BACKFILL_TICKS: u64 = 1_000_000;

/// The most records of ticks not run a history shows.
pub const NOT_RUN_SHOWN: usize = 50;

/// The job's runs with the newest of its ticks not run (of the last day)
/// merged in by when each happened (the runs keep their order); a record of
/// a tick that also ran (an instance whose clock lags claimed it after
/// another gave it up) is left out: the run is what happened.
pub(crate) async fn history_with_not_run(
    control: &dyn Control,
    job: &str,
) -> Result<Vec<HistoryEntry>, Error> {
    let runs = control.history(job).await?;
    let not_run = match control.not_run(job, NOT_RUN_SHOWN).await {
        Ok(not_run) => not_run,
        Err(err) if err.kind() == LockErrorKind::Unsupported => Vec::new(),
        Err(err) => return Err(err.into()),
    };
    let ran: std::collections::HashSet<DateTime<Utc>> = runs.iter().map(|run| run.tick).collect();
    let day_ago =
        Utc::now() - chrono::Duration::from_std(crate::lock::NOT_RUN_DAY).unwrap_or_default();
    let mut not_run = not_run
        .into_iter()
        .filter(|entry| !ran.contains(&entry.tick) && entry.tick >= day_ago)
        .peekable();
    let mut merged = Vec::with_capacity(runs.len() + NOT_RUN_SHOWN);
    // By when things happened: a run when it started, a tick not run at its
    // tick (a backfill run's tick is a past one).
    for run in runs {
        while let Some(entry) = not_run.next_if(|entry| entry.started > run.started) {
            merged.push(entry);
        }
        merged.push(run);
    }
    merged.extend(not_run);
    Ok(merged)
}

/// A backfill of `job`'s ticks in `from..=to`, counted, if the range is one
/// (not empty, not reaching past `now`, at most [`MAX_BACKFILL_TICKS`]).
pub(crate) fn plan_backfill(
    job: &str,
    schedule: &Schedule,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
    by: Option<&str>,
) -> Result<Backfill, Error> {
    let invalid = |reason: String| Error::InvalidBackfill {
        job: job.to_owned(),
        reason,
    };
    if from > to {
        return Err(invalid(format!(
            "the range starts ({from}) after it ends ({to})"
        )));
    }
    if to > now {
        return Err(invalid(format!(
            "the range ends in the future ({to}); a backfill runs past ticks only"
        )));
    }
    let mut total = 0u64;
    let mut next = schedule.first_from(from);
    while let Some(tick) = next.filter(|tick| *tick <= to) {
        total += 1;
        if total > MAX_BACKFILL_TICKS {
            return Err(invalid(format!(
                "the range has more than {MAX_BACKFILL_TICKS} ticks; split it"
            )));
        }
        next = schedule.next_after(tick);
    }
    if total == 0 {
        return Err(invalid(format!(
            "no tick of `{}` lies between {from} and {to}",
            schedule.source()
        )));
    }
    let mut backfill = Backfill::new(job, from, to, by);
    backfill.requested = now;
    backfill.total = total;
    Ok(backfill)
}

/// Stores `backfill`, or says which one of its job is under way.
pub(crate) async fn request_backfill(
    control: &dyn Control,
    backfill: Backfill,
) -> Result<Backfill, Error> {
    if control.request_backfill(&backfill).await? {
        return Ok(backfill);
    }
    let under_way = control
        .fleet_state()
        .await?
        .backfills
        .into_iter()
        .find(|b| b.job == backfill.job);
    Err(Error::InvalidBackfill {
        job: backfill.job,
        reason: match under_way {
            Some(b) => format!(
                "a backfill of it is under way ({} to {}, {} of {} ticks taken); cancel it first",
                b.from, b.to, b.done, b.total
            ),
            None => "a backfill of it is under way; cancel it first".to_owned(),
        },
    })
}

/// The schedule a published job runs on.
pub(crate) fn schedule_of(summary: &JobSummary) -> Option<Schedule> {
    let tz = summary.tz.parse().ok()?;
    Some(Schedule::parse(&summary.spec).ok()?.with_timezone(tz))
}
