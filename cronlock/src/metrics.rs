//! Metrics through the [`metrics`](https://docs.rs/metrics) facade: install
//! any recorder (the `metrics` example uses a Prometheus exporter) and these
//! appear; without one they cost nothing.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `cronlock_job_runs_total` | counter | `job`, `outcome`: `ok`, `failed`, `timed_out`, `panicked`, `skipped`, `cancelled`, `skipped_overlap`, `skipped_elsewhere`, `missed`, `paused`, `fleet_down`, `lock_unavailable`, `lock_error` |
//! | `cronlock_job_duration_seconds` | histogram | `job` |
//! | `cronlock_job_lateness_seconds` | histogram (start − planned start: the tick plus the jitter offset) | `job` |
//! | `cronlock_lock_errors_total` | counter | |
//! | `cronlock_jobs_registered` | gauge | |
//! | `cronlock_clock_offset_seconds` | gauge (Redis − this instance) | |

use std::sync::Arc;
use std::time::Duration;

use crate::outcome::RunOutcome;

/// Runs and skipped ticks, by job and outcome.
pub const RUNS_TOTAL: &str = "cronlock_job_runs_total";
/// How long runs took, by job.
pub const DURATION_SECONDS: &str = "cronlock_job_duration_seconds";
/// How late runs started after their tick, by job.
pub const LATENESS_SECONDS: &str = "cronlock_job_lateness_seconds";
/// Failed claims, extensions and releases.
pub const LOCK_ERRORS_TOTAL: &str = "cronlock_lock_errors_total";
/// Jobs this scheduler knows.
pub const JOBS_REGISTERED: &str = "cronlock_jobs_registered";
/// The offset of Redis's clock against this instance's.
pub const CLOCK_OFFSET_SECONDS: &str = "cronlock_clock_offset_seconds";

// Job names are shared (`Arc<str>`) into the labels: no copy per run.

pub(crate) fn run_finished(job: &Arc<str>, outcome: &RunOutcome, duration: Duration) {
    let label = outcome.label();
    ::metrics::counter!(RUNS_TOTAL, "job" => Arc::clone(job), "outcome" => label).increment(1);
    ::metrics::histogram!(DURATION_SECONDS, "job" => Arc::clone(job))
        .record(duration.as_secs_f64());
}

/// A tick this instance did not run: `skipped_overlap`, `skipped_elsewhere`,
/// `missed`, `paused`, `fleet_down` (missed while no instance ran, past the
/// catch-up window), `lock_unavailable` or `lock_error`.
pub(crate) fn tick_not_run(job: &Arc<str>, outcome: &'static str, count: u64) {
    ::metrics::counter!(RUNS_TOTAL, "job" => Arc::clone(job), "outcome" => outcome)
        .increment(count);
}

pub(crate) fn lateness(job: &Arc<str>, late: chrono::TimeDelta) {
    let seconds = late
        .num_microseconds()
        .map_or(f64::MAX, |us| us as f64 / 1e6);
    ::metrics::histogram!(LATENESS_SECONDS, "job" => Arc::clone(job)).record(seconds.max(0.0));
}

pub(crate) fn lock_error() {
    ::metrics::counter!(LOCK_ERRORS_TOTAL).increment(1);
}

pub(crate) fn jobs_registered(count: usize) {
    ::metrics::gauge!(JOBS_REGISTERED).set(count as f64);
}

#[cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code))]
pub(crate) fn clock_offset(offset_ms: i64) {
    ::metrics::gauge!(CLOCK_OFFSET_SECONDS).set(offset_ms as f64 / 1000.0);
}
