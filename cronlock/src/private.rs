//! Not public API: used by code that `#[scheduled]` generates.

use std::future::Future;
use std::pin::Pin;

pub use inventory;

pub use crate::context::JobContext;
pub use crate::job::{CatchUp, IntoJobResult, JobParam, Overlap};
pub use crate::state::{StateMap, StateRequirement};

/// Not public API. A boxed run of a job.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Not public API. One `#[scheduled]` fn, submitted with `inventory`.
#[derive(Debug)]
pub struct Registration {
    /// Job name and lock key.
    pub name: &'static str,
    /// The spec as written.
    pub spec: &'static str,
    /// The `tz` attribute.
    pub tz: Option<&'static str>,
    /// The run's timeout.
    pub timeout_ms: u64,
    /// The lock's time to live; `None` means the timeout.
    pub lock_ttl_ms: Option<u64>,
    /// Overlap policy.
    pub overlap: Overlap,
    /// Misfire policy.
    pub catch_up: CatchUp,
    /// Retries after a failed attempt.
    pub retries: u32,
    /// First backoff between attempts.
    pub backoff_ms: u64,
    /// Whether the job runs at all.
    pub enabled: bool,
    /// Source file of the fn.
    pub file: &'static str,
    /// Source line of the fn.
    pub line: u32,
    /// The states the fn's parameters need.
    pub requirements: fn() -> Vec<StateRequirement>,
    /// Starts one run; `None` when a state is missing (checked at build).
    pub run: fn(JobContext, &StateMap) -> Option<JobFuture>,
}

inventory::collect!(Registration);

/// Not public API. Boxes a run, converting its result.
pub fn box_job<F, R>(run: F) -> JobFuture
where
    F: Future<Output = R> + Send + 'static,
    R: IntoJobResult,
{
    Box::pin(async move { run.await.into_job_result() })
}

/// Not public API. Every registration linked into the binary.
pub fn registrations() -> impl Iterator<Item = &'static Registration> {
    inventory::iter::<Registration>.into_iter()
}
