//! Scheduled jobs for services that run as many instances.
//!
//! Annotate an async fn with a cron spec and a timeout; every instance of the
//! service runs the scheduler; a lock makes each tick of each job run once.
//! A bad spec is a compile error that points at the mistake.
//!
//! ```rust,standalone_crate
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use cronlock::{scheduled, JobContext, Scheduler, State};
//!
//! struct Db { writes: AtomicU64 }
//!
//! // Every second; each run may take at most 2 s.
//! #[scheduled(cron = "* * * * * *", timeout = "2s")]
//! async fn refresh_cache(ctx: JobContext, db: State<Db>) -> Result<(), String> {
//!     // ctx.tick(): the scheduled instant; ctx.fencing_token(): grows per claim;
//!     // ctx.cancelled(): resolves on timeout or shutdown.
//!     db.writes.fetch_add(1, Ordering::SeqCst);
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), cronlock::Error> {
//! let scheduler = Scheduler::builder()
//!     .state(Db { writes: AtomicU64::new(0) })   // injected into State<Db>
//!     .build()
//!     .await?;                                   // checks specs, names, states
//! assert_eq!(scheduler.list_jobs()[0].name, "refresh_cache");
//! // Runs until the future resolves, then shuts down gracefully.
//! scheduler.run_until(tokio::time::sleep(std::time::Duration::from_millis(1100))).await?;
//! # Ok(()) }
//! ```
//!
//! A service with nothing to configure calls [`run`], which finds every
//! `#[scheduled]` fn and runs until SIGINT/SIGTERM.
//!
//! # Guarantee
//!
//! With the in-process lock (the default, [`lock::MemoryLock`]) each tick
//! of each job starts at most once **in this process**, and with
//! [`Overlap::Skip`] no two runs of a job overlap. That is only safe for a
//! single instance, and the scheduler warns at start. Every claim advances a
//! per-job mark of the last claimed tick and a fencing counter, so a tick is
//! never granted twice even after its run released the lock. The Redis lock
//! that extends this to a fleet is not in this version yet.
//!
//! # Jobs in a library crate: linking
//!
//! `#[scheduled]` registers jobs with [`inventory`](https://docs.rs/inventory),
//! which relies on the linker keeping the registration. A library crate that
//! the binary never references is not linked at all, and its jobs silently
//! vanish. Reference something from it in the binary, for example an empty
//! `pub fn link() {}` that `main` calls (`my_jobs::link();`). [`run`] logs how
//! many jobs it found (`scheduler started jobs=N`) and warns when it found
//! none.
//!
//! # Time zones and daylight saving
//!
//! See [`Schedule`] for the cron language and the DST rule table.

pub mod clock;
mod context;
mod error;
mod job;
pub mod lock;
pub mod schedule;
mod scheduler;
mod shutdown;
mod state;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use context::JobContext;
pub use cronlock_macros::scheduled;
pub use error::Error;
pub use job::{CatchUp, IntoJobResult, Job, JobParam, Overlap};
pub use schedule::{Schedule, SpecError, Upcoming};
pub use scheduler::{JobInfo, LastRun, RunOutcome, Scheduler, SchedulerBuilder};
pub use state::{State, StateMap, StateRequirement};

/// Runs every `#[scheduled]` fn in the binary until SIGINT or SIGTERM.
///
/// The zero-configuration entry point: it installs a `tracing` subscriber
/// (filtered by `RUST_LOG`, default `info`) unless the application set one,
/// builds a [`Scheduler`], runs it, and shuts down
/// gracefully on the first signal; a second signal exits at once.
///
/// With `REDIS_URL` set (`redis://[user:password@]host:port/db` or
/// `rediss://` for TLS) the schedulers of every instance coordinate through
/// Redis; without it the in-process lock is used and a warning says so.
///
/// ```no_run
/// #[cronlock::scheduled(cron = "0 */5 * * * *", timeout = "2m")]
/// async fn refresh_cache() {}
///
/// #[tokio::main]
/// async fn main() -> Result<(), cronlock::Error> {
///     cronlock::run().await
/// }
/// ```
///
/// # Errors
///
/// Any [`SchedulerBuilder::build`] error (bad spec, duplicate names, missing
/// state…), or signal handlers that cannot be installed.
pub async fn run() -> Result<(), Error> {
    init_tracing();
    let mut builder = Scheduler::builder();
    match std::env::var("REDIS_URL") {
        Ok(url) => builder = builder.redis(url),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(Error::Config("REDIS_URL is not valid UTF-8".into()));
        }
        Err(std::env::VarError::NotPresent) => {}
    }
    builder.build().await?.run().await
}

/// Installs the log output [`run`] uses, unless a `tracing` subscriber is already set:
/// human-readable lines on stdout, filtered by `RUST_LOG` (default `info`).
///
/// ```
/// cronlock::init_tracing();
/// tracing::info!("logs now go to stdout");
/// ```
pub fn init_tracing() {
    if tracing::dispatcher::has_been_set() {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Losing a race with another initialiser is fine: theirs is used.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .try_init();
}
