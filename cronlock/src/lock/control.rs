//! Fleet-wide operations: run history, pause and resume, manual triggers,
//! and the published job list.
//!
//! A lock backend that can share this state among instances offers it
//! through [`Lock::control`](super::Lock::control); the in-process and the
//! Redis lock both do.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{BoxFuture, LockError};
use crate::events::NotRun;
use crate::outcome::RunOutcome;

/// How long a job's history is kept after its last run (400 days, so a
/// yearly job keeps its history).
pub const HISTORY_KEPT: Duration = Duration::from_secs(400 * 24 * 3600);
/// How long a job stays in the published list (and keeps its pause) after
/// the last instance that registers it published it. Instances publish at
/// start and every [`REPUBLISH_EVERY`].
pub const JOB_LIST_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often a running instance publishes its jobs again.
pub const REPUBLISH_EVERY: Duration = Duration::from_secs(6 * 3600);
/// How long a trigger waits for an instance that has its job.
pub const TRIGGER_KEPT: Duration = Duration::from_secs(3600);

/// The environment variable naming the service in the published job list
/// (default: the executable's name).
pub const SERVICE_ENV: &str = "CRONLOCK_SERVICE";

/// The service name published with the jobs: `$CRONLOCK_SERVICE`, else the
/// executable's file name.
pub(crate) fn service_name() -> String {
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

/// The longest error text a history entry keeps, in bytes; longer texts are
/// cut at a character boundary and end with `…`.
pub const MAX_ERROR_LEN: usize = 2_000;

/// One finished run, as [`crate::Scheduler::history`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The tick it ran for (a trigger's instant for manual runs).
    pub tick: DateTime<Utc>,
    /// The instance that ran it (`host:pid:random`); a manual run adds who
    /// asked for it (`host:pid:random (triggered by ops)`). For a pause or
    /// resume entry, who did it.
    pub instance: String,
    /// When it started.
    pub started: DateTime<Utc>,
    /// How long it took.
    pub duration: Duration,
    /// How it ended, with the error or panic message of a failed run.
    pub outcome: RunOutcome,
}

// Storage lines for the network backends.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl HistoryEntry {
    /// One line, tab-separated, for storage; the message is cut to
    /// [`MAX_ERROR_LEN`].
    pub(crate) fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            self.tick.timestamp_millis(),
            one_line(&self.instance),
            self.started.timestamp_millis(),
            self.duration.as_millis(),
            self.outcome.label(),
            self.outcome
                .message()
                .map(|message| one_line(&truncate(message, MAX_ERROR_LEN)))
                .unwrap_or_default()
        )
    }

    /// Reads a line written by [`HistoryEntry::encode`].
    pub(crate) fn decode(line: &str) -> Option<HistoryEntry> {
        let mut fields = line.splitn(6, '\t');
        let tick = DateTime::from_timestamp_millis(fields.next()?.parse().ok()?)?;
        let instance = fields.next()?.to_owned();
        let started = DateTime::from_timestamp_millis(fields.next()?.parse().ok()?)?;
        let duration = Duration::from_millis(fields.next()?.parse().ok()?);
        let label = fields.next()?;
        let message = fields.next().filter(|e| !e.is_empty()).map(str::to_owned);
        Some(HistoryEntry {
            tick,
            instance,
            started,
            duration,
            outcome: RunOutcome::from_parts(label, message)?,
        })
    }
}

/// A pause of a job, fleet-wide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// When it was paused.
    pub since: DateTime<Utc>,
    /// When it resumes by itself; `None`: at `resume`.
    pub until: Option<DateTime<Utc>>,
    /// Why (shown by `cronlock list`).
    pub note: Option<String>,
    /// Who paused it.
    pub by: Option<String>,
}

// Storage lines for the network backends.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl Pause {
    /// A pause from `since` until resumed, with no note.
    pub fn new(since: DateTime<Utc>) -> Pause {
        Pause {
            since,
            until: None,
            note: None,
            by: None,
        }
    }

    /// Whether the pause is still in force at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| now < until)
    }

    pub(crate) fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}",
            self.since.timestamp_millis(),
            self.until
                .map_or(String::new(), |t| t.timestamp_millis().to_string()),
            self.note.as_deref().map(one_line).unwrap_or_default(),
            self.by.as_deref().map(one_line).unwrap_or_default()
        )
    }

    pub(crate) fn decode(line: &str) -> Option<Pause> {
        let mut fields = line.splitn(4, '\t');
        let since = DateTime::from_timestamp_millis(fields.next()?.parse().ok()?)?;
        let until = match fields.next()? {
            "" => None,
            ms => Some(DateTime::from_timestamp_millis(ms.parse().ok()?)?),
        };
        let text = |field: Option<&str>| field.filter(|t| !t.is_empty()).map(str::to_owned);
        Some(Pause {
            since,
            until,
            note: text(fields.next()),
            by: text(fields.next()),
        })
    }
}

/// A request for one run of a job now, waiting for an instance that has the
/// job to take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The job.
    pub job: String,
    /// When it was asked for.
    pub queued: DateTime<Utc>,
    /// Who asked.
    pub by: Option<String>,
}

// Storage lines for the network backends.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl Trigger {
    pub(crate) fn encode(&self) -> String {
        format!(
            "{}\t{}",
            self.queued.timestamp_millis(),
            self.by.as_deref().map(one_line).unwrap_or_default()
        )
    }

    pub(crate) fn decode(job: &str, line: &str) -> Option<Trigger> {
        let (queued, by) = line.split_once('\t').unwrap_or((line, ""));
        Some(Trigger {
            job: job.to_owned(),
            queued: DateTime::from_timestamp_millis(queued.parse().ok()?)?,
            by: Some(by.to_owned()).filter(|by| !by.is_empty()),
        })
    }
}

/// A job as instances publish it, for tools that inspect a fleet (the
/// `cronlock` command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    /// Name and lock key.
    pub name: String,
    /// The spec in force.
    pub spec: String,
    /// The zone the spec is read in.
    pub tz: String,
    /// Per-run limit.
    pub timeout: Duration,
    /// Whether the job runs at all.
    pub enabled: bool,
    /// The service that registers it (`CRONLOCK_SERVICE`, else the
    /// executable's name).
    pub service: String,
    /// The instance that published it last.
    pub instance: String,
    /// When it was published last.
    pub seen: DateTime<Utc>,
}

// Storage lines for the network backends.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
impl JobSummary {
    pub(crate) fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            one_line(&self.spec),
            self.tz,
            self.timeout.as_millis(),
            self.enabled,
            one_line(&self.service),
            one_line(&self.instance),
            self.seen.timestamp_millis()
        )
    }

    pub(crate) fn decode(name: &str, line: &str) -> Option<JobSummary> {
        let mut fields = line.split('\t');
        Some(JobSummary {
            name: name.to_owned(),
            spec: fields.next()?.to_owned(),
            tz: fields.next()?.to_owned(),
            timeout: Duration::from_millis(fields.next()?.parse().ok()?),
            enabled: fields.next()?.parse().ok()?,
            service: fields.next().unwrap_or_default().to_owned(),
            instance: fields.next().unwrap_or_default().to_owned(),
            seen: fields
                .next()
                .and_then(|ms| DateTime::from_timestamp_millis(ms.parse().ok()?))
                .unwrap_or(DateTime::UNIX_EPOCH),
        })
    }
}

/// The most ticks not run a backend keeps per job (see
/// [`Control::record_not_run`]); they are kept a day ([`NOT_RUN_DAY`]).
///
/// ```
/// assert_eq!(cronlock::lock::NOT_RUN_KEPT, 2_000);
/// ```
pub const NOT_RUN_KEPT: usize = 2_000;

/// How long records of ticks not run are kept, by tick.
pub const NOT_RUN_DAY: Duration = Duration::from_secs(24 * 3600);

/// A not-run record as the network backends store it: tick, reason,
/// instance.
#[cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code))]
pub(crate) fn encode_not_run(tick: DateTime<Utc>, reason: NotRun, instance: &str) -> String {
    format!(
        "{}\t{}\t{}",
        tick.timestamp_millis(),
        reason.label(),
        one_line(instance)
    )
}

#[cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code))]
pub(crate) fn decode_not_run(line: &str) -> Option<HistoryEntry> {
    let mut fields = line.splitn(3, '\t');
    let tick = DateTime::from_timestamp_millis(fields.next()?.parse().ok()?)?;
    let reason = NotRun::from_label(fields.next()?)?;
    let instance = fields.next()?.to_owned();
    Some(not_run_entry(tick, reason, instance))
}

/// A tick not run as a history entry: it "started" at its tick, took no
/// time, and says why and which instance gave it up.
pub(crate) fn not_run_entry(tick: DateTime<Utc>, reason: NotRun, instance: String) -> HistoryEntry {
    HistoryEntry {
        tick,
        instance,
        started: tick,
        duration: Duration::ZERO,
        outcome: RunOutcome::NotRun { reason },
    }
}

/// How a backfill run's history entry marks its instance: `host:pid:id
/// (backfill by WHO)`. Its tick is a past one: it does not bound what the
/// history knows of recent ticks.
pub(crate) const BACKFILL_RUN: &str = "(backfill by ";

/// Whether a history entry is a backfill run.
pub(crate) fn is_backfill_run(entry: &HistoryEntry) -> bool {
    entry.instance.contains(BACKFILL_RUN)
}

/// The claim series a backfill takes its turns in: the job's name and the
/// backfill's id. The separator (U+001F, unit separator) is not in any
/// sensible job name.
pub(crate) fn backfill_series(job: &str, id: &str) -> String {
    format!("{job}\u{1f}backfill\u{1f}{id}")
}

/// A request to run a job for every tick of a past range, once each
/// fleet-wide, in order; at most one per job at a time.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use cronlock::lock::Backfill;
///
/// let from = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
/// let to = Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap();
/// let backfill = Backfill::new("nightly_report", from, to, Some("ops"));
/// assert_eq!(backfill.done, 0);
/// assert!(backfill.last.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backfill {
    /// The job.
    pub job: String,
    /// Random per request: a new backfill of the same range runs every
    /// tick again.
    pub id: String,
    /// The first instant of the range (a tick at it runs).
    pub from: DateTime<Utc>,
    /// The last instant of the range (a tick at it runs).
    pub to: DateTime<Utc>,
    /// When it was asked for.
    pub requested: DateTime<Utc>,
    /// Who asked for it.
    pub by: Option<String>,
    /// Ticks in the range (0 when not counted).
    pub total: u64,
    /// Ticks taken so far (run, or being run).
    pub done: u64,
    /// The newest tick taken so far.
    pub last: Option<DateTime<Utc>>,
}

impl Backfill {
    /// A new request for the ticks of `job` in `from..=to`, asked for now.
    pub fn new(
        job: impl Into<String>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        by: Option<&str>,
    ) -> Backfill {
        Backfill {
            job: job.into(),
            id: super::random_token()[..16].to_owned(),
            from,
            to,
            requested: Utc::now(),
            // One line, as every backend stores it.
            by: by.map(one_line),
            total: 0,
            done: 0,
            last: None,
        }
    }
}

// Storage lines for the network backends.
#[cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code))]
impl Backfill {
    pub(crate) fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            one_line(&self.id),
            self.from.timestamp_millis(),
            self.to.timestamp_millis(),
            self.requested.timestamp_millis(),
            self.total,
            self.done,
            self.last
                .map_or(String::new(), |t| t.timestamp_millis().to_string()),
            self.by.as_deref().map(one_line).unwrap_or_default()
        )
    }

    pub(crate) fn decode(job: &str, line: &str) -> Option<Backfill> {
        let mut fields = line.splitn(8, '\t');
        let id = fields.next()?.to_owned();
        let mut instant = || DateTime::from_timestamp_millis(fields.next()?.parse().ok()?);
        let (from, to, requested) = (instant()?, instant()?, instant()?);
        let total = fields.next()?.parse().ok()?;
        let done = fields.next()?.parse().ok()?;
        let last = match fields.next()? {
            "" => None,
            ms => Some(DateTime::from_timestamp_millis(ms.parse().ok()?)?),
        };
        let by = fields.next().filter(|by| !by.is_empty()).map(str::to_owned);
        Some(Backfill {
            job: job.to_owned(),
            id,
            from,
            to,
            requested,
            by,
            total,
            done,
            last,
        })
    }
}

/// What every instance reads at each control poll: the pauses, the
/// waiting triggers and the backfills under way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetState {
    /// Paused jobs (including pauses whose end has passed; see [`Pause::is_active`]).
    pub paused: BTreeMap<String, Pause>,
    /// Triggers no instance has taken yet.
    pub triggers: Vec<Trigger>,
    /// Backfills not finished or cancelled yet.
    pub backfills: Vec<Backfill>,
}

/// Shared operational state of a fleet.
pub trait Control: Send + Sync {
    /// Adds a finished run to the job's history, keeping the newest `keep`.
    fn record_run<'a>(
        &'a self,
        job: &'a str,
        entry: &'a HistoryEntry,
        keep: usize,
    ) -> BoxFuture<'a, Result<(), LockError>>;
    /// The job's history, newest first.
    fn history<'a>(&'a self, job: &'a str) -> BoxFuture<'a, Result<Vec<HistoryEntry>, LockError>>;
    /// The newest history entry of each job, in the order of `jobs`.
    fn last_runs<'a>(
        &'a self,
        jobs: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<HistoryEntry>>, LockError>> {
        Box::pin(async move {
            let mut last = Vec::with_capacity(jobs.len());
            for job in jobs {
                last.push(self.history(job).await?.into_iter().next());
            }
            Ok(last)
        })
    }
    /// Pauses a job for every instance (`Some`), or resumes it (`None`).
    fn set_paused<'a>(
        &'a self,
        job: &'a str,
        pause: Option<&'a Pause>,
    ) -> BoxFuture<'a, Result<(), LockError>>;
    /// The pauses and the waiting triggers, in one request where the backend can.
    fn fleet_state(&self) -> BoxFuture<'_, Result<FleetState, LockError>>;
    /// Asks for one run of the job by whichever instance that has the job
    /// takes it. `false` when a trigger of the job was already waiting (the
    /// two are one run).
    fn trigger<'a>(&'a self, trigger: &'a Trigger) -> BoxFuture<'a, Result<bool, LockError>>;
    /// Takes a waiting trigger of `job`; of all instances asking, one gets it.
    fn take_trigger<'a>(
        &'a self,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Option<Trigger>, LockError>>;
    /// Puts a taken trigger back (its run could not start yet), unless
    /// another trigger of the job is waiting.
    fn return_trigger<'a>(&'a self, trigger: &'a Trigger) -> BoxFuture<'a, Result<(), LockError>>;
    /// Records ticks of `job` that `instance` gave up for `reason`, each
    /// once fleet-wide (a tick already recorded keeps its first record), and
    /// only the ticks the lock can tell no instance claimed (newer than the
    /// job's newest claimed tick, or within its claim window and not
    /// claimed). Keeps a day of ticks and at most [`NOT_RUN_KEPT`] per job.
    /// Returns how many were recorded.
    fn record_not_run<'a>(
        &'a self,
        job: &'a str,
        ticks: &'a [DateTime<Utc>],
        reason: NotRun,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<usize, LockError>> {
        let _ = (job, ticks, reason, instance);
        Box::pin(async { Err(unsupported("records of ticks not run")) })
    }
    /// The newest `limit` records of the job's ticks not run, newest first,
    /// as history entries ([`RunOutcome::NotRun`]; `started` is the tick,
    /// `instance` the one that gave it up).
    fn not_run<'a>(
        &'a self,
        job: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, LockError>> {
        let _ = (job, limit);
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Per job, how many of its ticks at or after `since` are recorded as not
    /// run (at most [`NOT_RUN_KEPT`]).
    fn not_run_counts<'a>(
        &'a self,
        jobs: &'a [String],
        since: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<u64>, LockError>> {
        let _ = (jobs, since);
        Box::pin(async { Err(unsupported("records of ticks not run")) })
    }
    /// Stores a backfill for the instances that have its job; `false` when
    /// one of the job is already under way (it is left as it is).
    fn request_backfill<'a>(
        &'a self,
        backfill: &'a Backfill,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        let _ = backfill;
        Box::pin(async { Err(unsupported("backfills")) })
    }
    /// Replaces the stored backfill of the same job and id (its progress);
    /// `false` when it is gone (finished or cancelled) or was replaced.
    fn update_backfill<'a>(
        &'a self,
        backfill: &'a Backfill,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        let _ = backfill;
        Box::pin(async { Err(unsupported("backfills")) })
    }
    /// Removes the job's backfill (only the one with `id`, when given) and
    /// returns it: finished, or cancelled.
    fn end_backfill<'a>(
        &'a self,
        job: &'a str,
        id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<Backfill>, LockError>> {
        let _ = (job, id);
        Box::pin(async { Err(unsupported("backfills")) })
    }
    /// Publishes this instance's jobs (a later instance overwrites the same
    /// names). Returns the entries it replaced that another service had
    /// published, so the caller can warn about two services sharing names.
    fn publish_jobs<'a>(
        &'a self,
        jobs: &'a [JobSummary],
    ) -> BoxFuture<'a, Result<Vec<JobSummary>, LockError>>;
    /// The jobs the fleet published, by name.
    fn published_jobs(&self) -> BoxFuture<'_, Result<Vec<JobSummary>, LockError>>;
    /// The jobs that have state stored (claims, a run lock, history, a
    /// pause) but that no instance published within [`JOB_LIST_KEPT`] and
    /// no instance claimed a tick of within it (an instance whose publish
    /// failed still claims): what `cronlock prune` removes. By name.
    fn unregistered_jobs(&self) -> BoxFuture<'_, Result<Vec<String>, LockError>> {
        Box::pin(async { Err(unsupported("listing unregistered jobs")) })
    }
    /// Removes everything stored for `jobs` (claimed ticks, fencing
    /// counter, run lock, history, pause, trigger, list entry), except for
    /// the ones an instance published or claimed a tick of within
    /// [`JOB_LIST_KEPT`]: a job that still runs somewhere is never
    /// forgotten. Returns the jobs removed.
    fn forget_jobs<'a>(
        &'a self,
        jobs: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, LockError>> {
        let _ = jobs;
        Box::pin(async { Err(unsupported("forgetting jobs")) })
    }
}

fn unsupported(what: &str) -> LockError {
    LockError::new(
        super::LockErrorKind::Unsupported,
        format!("this lock backend does not support {what}"),
        None,
    )
}

/// The instant `kept` before now, by this instance's clock: what the
/// network backends and the in-process lock compare list entries, claims
/// and triggers against (published within `JOB_LIST_KEPT`, a trigger
/// younger than `TRIGGER_KEPT`).
pub(crate) fn kept_since(kept: Duration) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::from_std(kept).unwrap_or_default()
}

/// How many entries a history keeps when a pause or resume is recorded by
/// something that does not know the fleet's history length (the command
/// line): the most any job may keep, so nothing is cut; the next run
/// recorded by an instance trims it to the job's length.
pub(crate) const MARKER_KEEP: usize = cronlock_spec::MAX_HISTORY_LEN as usize;

/// The history entry that records a pause (`Some`) or a resume (`None`):
/// `skipped`, with who did it, the note and the end, so `history` shows it
/// (and a `pause_after_failures` streak starts over after it).
pub(crate) fn pause_marker(now: DateTime<Utc>, by: &str, pause: Option<&Pause>) -> HistoryEntry {
    let reason = match pause {
        Some(pause) => {
            let mut reason = format!("{PAUSED_BY}{by}");
            if let Some(note) = &pause.note {
                reason.push_str(&format!(": {note}"));
            }
            if let Some(until) = pause.until {
                reason.push_str(&format!(" (until {})", until.format(UNTIL_FORMAT)));
            }
            reason
        }
        None => format!("{RESUMED_BY}{by}"),
    };
    HistoryEntry {
        tick: now,
        instance: by.to_owned(),
        started: now,
        duration: Duration::ZERO,
        outcome: RunOutcome::Skipped { reason },
    }
}

const PAUSED_BY: &str = "paused by ";
const RESUMED_BY: &str = "resumed by ";
/// How a pause entry names its end: `… (until 2026-11-27 10:00:00 UTC)`.
const UNTIL_FORMAT: &str = "%Y-%m-%d %H:%M:%S UTC";
/// How `pause_after_failures` starts the reason of its pause entry.
pub(crate) const PAUSED_AFTER: &str = "paused after ";

/// What a pause or resume entry says, read back from a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// A pause, with its end if it had one.
    Paused { until: Option<DateTime<Utc>> },
    /// A resume.
    Resumed,
}

impl Marker {
    /// The pause or resume `entry` records (one [`pause_marker`] or
    /// `pause_after_failures` wrote); `None` for a run, including a run the
    /// job itself skipped.
    pub(crate) fn of(entry: &HistoryEntry) -> Option<Marker> {
        let RunOutcome::Skipped { reason } = &entry.outcome else {
            return None;
        };
        if !entry.duration.is_zero() {
            return None;
        }
        if reason.starts_with(PAUSED_BY) || reason.starts_with(PAUSED_AFTER) {
            let until = reason
                .rsplit_once(" (until ")
                .and_then(|(_, end)| end.strip_suffix(')'))
                .and_then(|end| chrono::NaiveDateTime::parse_from_str(end, UNTIL_FORMAT).ok())
                .map(|naive| naive.and_utc());
            Some(Marker::Paused { until })
        } else if reason.starts_with(RESUMED_BY) {
            Some(Marker::Resumed)
        } else {
            None
        }
    }
}

/// `text` on one line: tabs and line breaks become spaces.
fn one_line(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}

/// `text` cut to at most `max` bytes at a character boundary, ending with `…` when cut.
pub(crate) fn truncate(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_lines_round_trip_and_never_split() {
        let entry = HistoryEntry {
            tick: DateTime::from_timestamp_millis(1_800_000_000_000).unwrap(),
            instance: "host:42:ab".into(),
            started: DateTime::from_timestamp_millis(1_800_000_000_012).unwrap(),
            duration: Duration::from_millis(1500),
            outcome: RunOutcome::Failed {
                error: "line one\nline\ttwo".into(),
            },
        };
        let decoded = HistoryEntry::decode(&entry.encode()).unwrap();
        assert_eq!(
            decoded.outcome,
            RunOutcome::Failed {
                error: "line one line two".into()
            }
        );
        let ok = HistoryEntry {
            outcome: RunOutcome::Completed,
            ..entry
        };
        assert_eq!(HistoryEntry::decode(&ok.encode()), Some(ok));
    }

    #[test]
    fn long_errors_are_cut_at_a_character_boundary() {
        let entry = HistoryEntry {
            tick: DateTime::UNIX_EPOCH,
            instance: "i".into(),
            started: DateTime::UNIX_EPOCH,
            duration: Duration::ZERO,
            outcome: RunOutcome::Failed {
                error: "é".repeat(5_000),
            },
        };
        let line = entry.encode();
        assert!(line.len() < MAX_ERROR_LEN + 100, "{}", line.len());
        let decoded = HistoryEntry::decode(&line).unwrap();
        let message = decoded.outcome.message().unwrap();
        assert!(message.ends_with('…') && message.len() <= MAX_ERROR_LEN);
    }

    #[test]
    fn pauses_and_triggers_round_trip() {
        let pause = Pause {
            since: DateTime::from_timestamp_millis(1_000).unwrap(),
            until: Some(DateTime::from_timestamp_millis(9_000).unwrap()),
            note: Some("db\tmigration".into()),
            by: Some("alice".into()),
        };
        let decoded = Pause::decode(&pause.encode()).unwrap();
        assert_eq!(decoded.note.as_deref(), Some("db migration"));
        assert!(decoded.is_active(DateTime::from_timestamp_millis(8_999).unwrap()));
        assert!(!decoded.is_active(DateTime::from_timestamp_millis(9_000).unwrap()));
        let forever = Pause::new(DateTime::UNIX_EPOCH);
        assert_eq!(Pause::decode(&forever.encode()), Some(forever));
        let trigger = Trigger {
            job: "a".into(),
            queued: DateTime::from_timestamp_millis(5).unwrap(),
            by: None,
        };
        assert_eq!(Trigger::decode("a", &trigger.encode()), Some(trigger));
    }
}
