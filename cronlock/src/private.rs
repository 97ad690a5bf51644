//! Not public API: used by code that `#[scheduled]` generates.

use std::future::Future;
use std::time::Duration;

pub use chrono_tz::Tz;
pub use inventory;

use crate::IntoJobResult;
pub use crate::context::JobContext;
pub use crate::job::{JobFuture, RunFn};
pub use crate::options::{CatchUp, JobOptions, Overlap};
pub use crate::state::{State, StateMap, StateRequirement};

/// Not public API. One `#[scheduled]` fn, submitted with `inventory`.
#[derive(Debug)]
pub struct Registration {
    /// Job name and lock key.
    pub name: &'static str,
    /// The spec as written.
    pub spec: &'static str,
    /// The run's timeout.
    pub timeout: Duration,
    /// The keys given, applied to `JobOptions::DEFAULT`.
    pub options: JobOptions,
    /// Source file of the fn.
    pub file: &'static str,
    /// Source line of the fn.
    pub line: u32,
    /// Takes the fn's `State<T>` values from the scheduler's states once, at
    /// build; the state that is missing otherwise.
    pub bind: fn(&StateMap) -> Result<RunFn, StateRequirement>,
}

inventory::collect!(Registration);

/// Not public API. A parameter a `#[scheduled]` fn may take: [`JobContext`]
/// or [`State<T>`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter of a #[scheduled] fn",
    label = "expected JobContext or State<T>"
)]
pub trait JobParam: Sized {
    /// What the parameter keeps between runs (the state's value).
    type Bound: Send + Sync + 'static;
    /// Takes what the parameter needs from the states, at build.
    fn bind(states: &StateMap) -> Result<Self::Bound, StateRequirement>;
    /// The value for one run.
    fn extract(bound: &Self::Bound, ctx: &JobContext) -> Self;
}

impl JobParam for JobContext {
    type Bound = ();

    fn bind(_: &StateMap) -> Result<(), StateRequirement> {
        Ok(())
    }

    fn extract((): &(), ctx: &JobContext) -> Self {
        ctx.clone()
    }
}

impl<T: Send + Sync + 'static> JobParam for State<T> {
    type Bound = State<T>;

    fn bind(states: &StateMap) -> Result<State<T>, StateRequirement> {
        states.get::<T>().ok_or_else(StateRequirement::of::<T>)
    }

    fn extract(bound: &State<T>, _: &JobContext) -> Self {
        bound.clone()
    }
}

/// Not public API. A run function from a closure that starts one run.
pub fn run_fn<F>(start: F) -> RunFn
where
    F: Fn(JobContext) -> JobFuture + Send + Sync + 'static,
{
    std::sync::Arc::new(start)
}

/// Not public API. Boxes a run, converting its result.
pub fn box_job<F, R>(run: F) -> JobFuture
where
    F: Future<Output = R> + Send + 'static,
    R: IntoJobResult,
{
    Box::pin(async move { run.await.into_job_result() })
}

/// Not public API. The time zone at `index` of chrono-tz's list, as the
/// macro found it (a `const` way to name a zone).
pub const fn zone(index: usize) -> Tz {
    chrono_tz::TZ_VARIANTS[index]
}

/// Not public API. Every registration linked into the binary.
pub fn registrations() -> impl Iterator<Item = &'static Registration> {
    inventory::iter::<Registration>.into_iter()
}
