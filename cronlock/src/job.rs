//! Jobs: what runs, when, and with which options.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;

use crate::context::JobContext;
use crate::options::{CatchUp, JobOptions, Overlap};
use crate::state::{StateMap, StateRequirement};

/// What a job's run resolves to: `Err` carries the rendered error. Not
/// public API (reached through `__private`).
pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
/// A job bound to its states: starts one run.
pub type RunFn = Arc<dyn Fn(JobContext) -> JobFuture + Send + Sync>;

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
    pub(crate) bind: Bind,
}

/// How a job gets its run function: ready (a closure), or by taking its
/// `State<T>` values from the scheduler's states when the scheduler is built.
#[derive(Clone)]
pub(crate) enum Bind {
    Ready(RunFn),
    States(fn(&StateMap) -> Result<RunFn, StateRequirement>),
}

impl Bind {
    /// The run function, or the state that is missing.
    pub(crate) fn bind(self, states: &StateMap) -> Result<RunFn, StateRequirement> {
        match self {
            Bind::Ready(run) => Ok(run),
            Bind::States(bind) => bind(states),
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
            options: JobOptions::DEFAULT,
            origin: Origin::Builder,
            bind: Bind::Ready(run),
        }
    }

    /// The job's name, also its lock key.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// All options at once (see [`JobOptions`]).
    pub fn options(mut self, options: JobOptions) -> Job {
        self.options = options;
        self
    }

    /// Reads the spec in `tz` (unless it has a `CRON_TZ=` prefix).
    pub fn tz(mut self, tz: Tz) -> Job {
        self.options = self.options.tz(tz);
        self
    }

    /// How long the fleet-wide lock lives; at least the timeout (the default).
    pub fn lock_ttl(mut self, ttl: Duration) -> Job {
        self.options = self.options.lock_ttl(ttl);
        self
    }

    /// Whether runs may overlap (default [`Overlap::Skip`]).
    pub fn overlap(mut self, overlap: Overlap) -> Job {
        self.options = self.options.overlap(overlap);
        self
    }

    /// What to do with late ticks (default [`CatchUp::Latest`]).
    pub fn catch_up(mut self, catch_up: CatchUp) -> Job {
        self.options = self.options.catch_up(catch_up);
        self
    }

    /// How late a missed tick may still run (see
    /// [`JobOptions::catch_up_window`](crate::JobOptions::catch_up_window)).
    pub fn catch_up_window(mut self, window: Duration) -> Job {
        self.options = self.options.catch_up_window(window);
        self
    }

    /// Retry a failed run up to `retries` times, waiting `backoff` (doubling) between attempts.
    pub fn retries(mut self, retries: u32, backoff: Duration) -> Job {
        self.options = self.options.retries(retries).backoff(backoff);
        self
    }

    /// A disabled job is listed but never runs.
    pub fn enabled(mut self, enabled: bool) -> Job {
        self.options = self.options.enabled(enabled);
        self
    }

    /// Spreads the starts over `jitter` after each tick, at an offset fixed
    /// by the job's name (see [`JobOptions::jitter`](crate::JobOptions::jitter)).
    pub fn jitter(mut self, jitter: Duration) -> Job {
        self.options = self.options.jitter(jitter);
        self
    }

    /// How many runs this job's history keeps, fleet-wide (1-1,000; default:
    /// the scheduler's [`history_len`](crate::SchedulerBuilder::history_len)).
    pub fn history_len(mut self, runs: u32) -> Job {
        self.options = self.options.history_len(runs);
        self
    }

    /// Pauses the job fleet-wide after `failures` consecutive failed runs,
    /// until it is resumed by hand (see
    /// [`JobOptions::pause_after_failures`](crate::JobOptions::pause_after_failures)).
    pub fn pause_after_failures(mut self, failures: u32) -> Job {
        self.options = self.options.pause_after_failures(failures);
        self
    }
}

impl Job {
    pub(crate) fn from_registration(registration: &'static crate::__private::Registration) -> Job {
        Job {
            name: registration.name.to_owned(),
            spec: registration.spec.to_owned(),
            timeout: registration.timeout,
            options: registration.options,
            origin: Origin::Macro {
                file: registration.file,
                line: registration.line,
            },
            bind: Bind::States(registration.bind),
        }
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
