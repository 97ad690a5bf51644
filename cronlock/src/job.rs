//! Jobs: what runs, when, and with which options.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;

use crate::context::JobContext;
use crate::state::{State, StateMap, StateRequirement};

/// What a job's run resolves to: `Err` carries the rendered error.
pub(crate) type JobFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
pub(crate) type RunFn = Arc<dyn Fn(JobContext) -> JobFuture + Send + Sync>;

/// Whether a job may run while its previous run is still going, anywhere in the fleet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Overlap {
    /// Never two runs of the job at once: a tick that finds one running is skipped.
    #[default]
    Skip,
    /// Ticks start even while earlier runs are still going.
    Allow,
}

/// What to do with ticks that were due while the scheduler could not run them
/// (the process was paused, the machine slept, the runtime was starved).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CatchUp {
    /// Run the most recent missed tick once, if it is less than the job's
    /// timeout old; skip (and log) the older ones.
    #[default]
    Latest,
    /// Run no tick more than a second late; skip (and log) the others.
    Skip,
}

/// A job built at run time from a closure, next to `#[scheduled]` ones.
///
/// The spec is validated when the scheduler is built; an error names the job.
///
/// ```
/// use std::time::Duration;
/// use cronlock::{Job, JobContext};
///
/// let job = Job::new("report", "0 0 * * * *", Duration::from_secs(60), |ctx: JobContext| async move {
///     println!("report for {}", ctx.tick());
/// });
/// assert_eq!(job.name(), "report");
/// ```
#[derive(Clone)]
pub struct Job {
    pub(crate) name: String,
    pub(crate) spec: String,
    pub(crate) timeout: Duration,
    pub(crate) options: JobOptions,
    pub(crate) origin: Origin,
    pub(crate) requirements: Vec<StateRequirement>,
    pub(crate) run: Runner,
}

#[derive(Clone)]
pub(crate) enum Runner {
    Closure(RunFn),
    Registered(fn(JobContext, &StateMap) -> Option<crate::__private::JobFuture>),
}

/// Options shared by macro and closure jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobOptions {
    pub(crate) tz: Option<Tz>,
    pub(crate) lock_ttl: Option<Duration>,
    pub(crate) overlap: Overlap,
    pub(crate) catch_up: CatchUp,
    pub(crate) retries: u32,
    pub(crate) backoff: Duration,
    pub(crate) enabled: bool,
}

impl Default for JobOptions {
    fn default() -> Self {
        JobOptions {
            tz: None,
            lock_ttl: None,
            overlap: Overlap::Skip,
            catch_up: CatchUp::Latest,
            retries: 0,
            backoff: Duration::from_secs(1),
            enabled: true,
        }
    }
}

/// Where a job was defined, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    Macro { file: &'static str, line: u32 },
    Builder,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Macro { file, line } => write!(f, "{file}:{line}"),
            Origin::Builder => f.write_str("Scheduler::builder().job(..)"),
        }
    }
}

impl Job {
    /// A job named `name` that runs `run` on `spec`, each run limited to `timeout`.
    pub fn new<F, Fut, R>(
        name: impl Into<String>,
        spec: impl Into<String>,
        timeout: Duration,
        run: F,
    ) -> Job
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoJobResult + 'static,
    {
        let run: RunFn = Arc::new(move |ctx| Box::pin(into_result(run(ctx))));
        Job {
            name: name.into(),
            spec: spec.into(),
            timeout,
            options: JobOptions::default(),
            origin: Origin::Builder,
            requirements: Vec::new(),
            run: Runner::Closure(run),
        }
    }

    /// The job's name, also its lock key.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads the spec in `tz` (unless it has a `CRON_TZ=` prefix).
    pub fn tz(mut self, tz: Tz) -> Job {
        self.options.tz = Some(tz);
        self
    }

    /// How long the fleet-wide lock lives; at least the timeout (the default).
    pub fn lock_ttl(mut self, ttl: Duration) -> Job {
        self.options.lock_ttl = Some(ttl);
        self
    }

    /// Whether runs may overlap (default [`Overlap::Skip`]).
    pub fn overlap(mut self, overlap: Overlap) -> Job {
        self.options.overlap = overlap;
        self
    }

    /// What to do with late ticks (default [`CatchUp::Latest`]).
    pub fn catch_up(mut self, catch_up: CatchUp) -> Job {
        self.options.catch_up = catch_up;
        self
    }

    /// Retry a failed run up to `retries` times, waiting `backoff` (doubling) between attempts.
    pub fn retries(mut self, retries: u32, backoff: Duration) -> Job {
        self.options.retries = retries;
        self.options.backoff = backoff;
        self
    }

    /// A disabled job is listed but never runs.
    pub fn enabled(mut self, enabled: bool) -> Job {
        self.options.enabled = enabled;
        self
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("name", &self.name)
            .field("spec", &self.spec)
            .field("timeout", &self.timeout)
            .field("options", &self.options)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

async fn into_result<R: IntoJobResult>(run: impl Future<Output = R>) -> Result<(), String> {
    run.await.into_job_result()
}

/// What a job may return: `()` or `Result<(), E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a job result",
    label = "a #[scheduled] fn returns () or Result<(), E> where E: Display",
    note = "anyhow::Result<()> and Result<(), Box<dyn std::error::Error>> work too"
)]
pub trait IntoJobResult {
    /// Converts the return value; `Err` carries the error rendered with `{:#}`.
    fn into_job_result(self) -> Result<(), String>;
}

impl IntoJobResult for () {
    fn into_job_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display> IntoJobResult for Result<(), E> {
    fn into_job_result(self) -> Result<(), String> {
        self.map_err(|err| format!("{err:#}"))
    }
}

/// A parameter a `#[scheduled]` fn may take: [`JobContext`] or [`State<T>`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter of a #[scheduled] fn",
    label = "expected JobContext or State<T>"
)]
pub trait JobParam: Sized {
    /// The state this parameter needs, checked when the scheduler is built.
    fn requirement() -> Option<StateRequirement>;
    /// The value for one run; `None` when the state is missing.
    fn extract(ctx: &JobContext, states: &StateMap) -> Option<Self>;
}

impl JobParam for JobContext {
    fn requirement() -> Option<StateRequirement> {
        None
    }

    fn extract(ctx: &JobContext, _: &StateMap) -> Option<Self> {
        Some(ctx.clone())
    }
}

impl<T: Send + Sync + 'static> JobParam for State<T> {
    fn requirement() -> Option<StateRequirement> {
        Some(StateRequirement::of::<T>())
    }

    fn extract(_: &JobContext, states: &StateMap) -> Option<Self> {
        states.get::<T>()
    }
}
