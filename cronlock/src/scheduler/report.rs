//! What the scheduler reports about jobs and their runs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

impl RunOutcome {
    /// The short name used in metrics and history: `ok`, `failed`,
    /// `timed_out`, `panicked`, `skipped` or `cancelled`.
    pub fn label(&self) -> &'static str {
        match self {
            RunOutcome::Completed => "ok",
            RunOutcome::Failed { .. } => "failed",
            RunOutcome::TimedOut => "timed_out",
            RunOutcome::Panicked { .. } => "panicked",
            RunOutcome::Skipped { .. } => "skipped",
            RunOutcome::Cancelled => "cancelled",
        }
    }

    /// The error, panic message or skip reason, if the outcome has one.
    pub fn message(&self) -> Option<&str> {
        match self {
            RunOutcome::Failed { error } => Some(error),
            RunOutcome::Panicked { message } => Some(message),
            RunOutcome::Skipped { reason } => Some(reason),
            _ => None,
        }
    }
}

/// How a run of a job ended on this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunOutcome {
    /// The job returned `Ok`.
    Completed,
    /// The job returned an error (after any retries).
    Failed {
        /// The error, rendered.
        error: String,
    },
    /// The run hit its timeout and was cancelled.
    TimedOut,
    /// The job panicked; the scheduler caught it.
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The job called [`crate::JobContext::skip`].
    Skipped {
        /// The reason it gave.
        reason: String,
    },
    /// The run was cancelled by shutdown or a lost lock.
    Cancelled,
}

/// The last run of a job on this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRun {
    /// The tick it ran for.
    pub tick: DateTime<Utc>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// How long it took.
    pub duration: Duration,
}

/// A job as [`Scheduler::list_jobs`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobInfo {
    /// Name and lock key.
    pub name: String,
    /// The spec in force (after overrides).
    pub spec: String,
    /// The zone the spec is read in.
    pub tz: Tz,
    /// Per-run limit.
    pub timeout: Duration,
    /// Whether the job runs at all.
    pub enabled: bool,
    /// The next tick, once the scheduler runs.
    pub next_fire: Option<DateTime<Utc>>,
    /// The last run on this instance.
    pub last_run: Option<LastRun>,
    /// Paused fleet-wide (see [`Scheduler::pause`]).
    pub paused: bool,
}
