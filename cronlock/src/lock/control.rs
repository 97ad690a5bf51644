//! Fleet-wide operations: run history, pause and resume, manual triggers.
//!
//! A lock backend that can share this state among instances offers it
//! through [`Lock::control`](super::Lock::control); the in-process and the
//! Redis lock both do.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{BoxFuture, LockError};

/// One finished run, as [`crate::Scheduler::history`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The tick it ran for (a trigger's instant for manual runs).
    pub tick: DateTime<Utc>,
    /// The instance that ran it (`host:pid:random`).
    pub instance: String,
    /// When it started.
    pub started: DateTime<Utc>,
    /// How long it took.
    pub duration: Duration,
    /// `ok`, `failed`, `timed_out`, `panicked`, `skipped` or `cancelled`.
    pub outcome: String,
    /// The error or panic message, for failed runs.
    pub error: Option<String>,
}

impl HistoryEntry {
    /// One line, tab-separated, for storage.
    pub(crate) fn encode(&self) -> String {
        let clean = |text: &str| text.replace(['\t', '\n', '\r'], " ");
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}",
            self.tick.timestamp_millis(),
            clean(&self.instance),
            self.started.timestamp_millis(),
            self.duration.as_millis(),
            clean(&self.outcome),
            self.error.as_deref().map(clean).unwrap_or_default()
        )
    }

    /// Reads a line written by [`HistoryEntry::encode`].
    pub(crate) fn decode(line: &str) -> Option<HistoryEntry> {
        let mut fields = line.splitn(6, '\t');
        let tick = DateTime::from_timestamp_millis(fields.next()?.parse().ok()?)?;
        let instance = fields.next()?.to_owned();
        let started = DateTime::from_timestamp_millis(fields.next()?.parse().ok()?)?;
        let duration = Duration::from_millis(fields.next()?.parse().ok()?);
        let outcome = fields.next()?.to_owned();
        let error = fields.next().filter(|e| !e.is_empty()).map(str::to_owned);
        Some(HistoryEntry {
            tick,
            instance,
            started,
            duration,
            outcome,
            error,
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
}

impl JobSummary {
    pub(crate) fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}",
            self.spec,
            self.tz,
            self.timeout.as_millis(),
            self.enabled
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
        })
    }
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
    /// Pauses or resumes a job for every instance.
    fn set_paused<'a>(&'a self, job: &'a str, paused: bool)
    -> BoxFuture<'a, Result<(), LockError>>;
    /// The paused jobs.
    fn paused(&self) -> BoxFuture<'_, Result<BTreeSet<String>, LockError>>;
    /// Asks for one run of the job now, by whichever instance takes it.
    fn trigger<'a>(&'a self, job: &'a str) -> BoxFuture<'a, Result<(), LockError>>;
    /// Takes the pending triggers: each is handed to one instance only.
    fn take_triggers(&self) -> BoxFuture<'_, Result<Vec<String>, LockError>>;
    /// Publishes this instance's jobs (a later instance overwrites the same names).
    fn publish_jobs<'a>(&'a self, jobs: &'a [JobSummary]) -> BoxFuture<'a, Result<(), LockError>>;
    /// The jobs the fleet published, by name.
    fn published_jobs(&self) -> BoxFuture<'_, Result<Vec<JobSummary>, LockError>>;
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
            outcome: "failed".into(),
            error: Some("line one\nline\ttwo".into()),
        };
        let decoded = HistoryEntry::decode(&entry.encode()).unwrap();
        assert_eq!(decoded.error.as_deref(), Some("line one line two"));
        assert_eq!(
            HistoryEntry {
                error: entry.error.clone(),
                ..decoded
            },
            entry
        );
        let ok = HistoryEntry {
            error: None,
            outcome: "ok".into(),
            ..entry
        };
        assert_eq!(HistoryEntry::decode(&ok.encode()), Some(ok));
    }
}
