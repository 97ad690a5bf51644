//! Scheduled jobs for services that run as many instances.
//!
//! A spec is checked when it is parsed, and every mistake names its field:
//!
//! ```
//! use chrono::{TimeZone, Utc};
//! use cronlock::Schedule;
//!
//! let schedule = Schedule::parse("CRON_TZ=Asia/Shanghai 0 0 2 * * *")?;
//! let after = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
//! // 02:00 in Shanghai is 18:00 UTC the day before.
//! assert_eq!(schedule.next_after(after).unwrap().to_rfc3339(), "2027-01-01T18:00:00+00:00");
//! # Ok::<(), cronlock::SpecError>(())
//! ```

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
/// builds a [`Scheduler`] with the in-process lock, runs it, and shuts down
/// gracefully on the first signal; a second signal exits at once.
///
/// `REDIS_URL` is reserved for the Redis lock. This version has no Redis
/// backend yet, so when `REDIS_URL` is set `run` refuses to start rather than
/// run every tick on every instance.
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
    install_default_subscriber();
    if std::env::var_os("REDIS_URL").is_some() {
        return Err(Error::Config(
            "REDIS_URL is set, but this version of cronlock has no Redis lock yet: unset it to run a single instance with the in-process lock".into(),
        ));
    }
    Scheduler::builder().build().await?.run().await
}

/// Installs a `fmt` subscriber filtered by `RUST_LOG` (default `info`), unless one is set.
fn install_default_subscriber() {
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
