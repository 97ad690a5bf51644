//! What the scheduler reports about jobs and their runs.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::outcome::RunOutcome;

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

/// A job as [`crate::Scheduler::list_jobs`] shows it.
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
    /// Paused fleet-wide (see [`crate::Scheduler::pause`]).
    pub paused: bool,
}
