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
//! With Redis (`REDIS_URL`, or [`SchedulerBuilder::redis`]): while Redis is
//! reachable, **every tick of every job starts exactly once across all
//! instances sharing the Redis and the key prefix**, provided at least one
//! instance is up at the tick; with [`Overlap::Skip`] (the default) no two
//! runs of a job overlap anywhere in the fleet. How it holds:
//!
//! - One Lua script call per claim (`EVALSHA`, one round trip; claims due
//!   at the same instant go 50 to a call) records the tick as claimed, takes the
//!   run lock with a random token and advances the fencing token,
//!   atomically. Claimed ticks are remembered (the newest, and each one within
//!   a window of the lock TTL plus twice the skew margin behind it; older
//!   ticks count as claimed), so a tick is never granted twice and an
//!   instance whose clock lags cannot re-run a tick another instance already
//!   finished (deleting a lock on completion, as a plain `SET NX` lock does,
//!   allows exactly that). A tick a fast clock skipped can still be claimed by
//!   the others, and a tick refused because a run still holds the lock stays
//!   claimable by an instance that comes to it after the run ended.
//! - Instance clocks may disagree: no tick runs twice whatever the skew;
//!   within the margin no tick is lost either. The skew margin (default 2 s) bounds how early a fast clock may
//!   claim (the script compares with Redis `TIME`) and the offset to Redis is
//!   measured on every claim; more than half the margin is logged as a warning.
//! - A run longer than its lock TTL keeps the lock: a watchdog extends it
//!   every third of the TTL while the run lasts. Release and extension compare
//!   the token, so a stale owner can never free or extend another's lock. If
//!   an extension finds the lock gone, the run is cancelled through
//!   [`JobContext::cancelled`].
//! - [`JobContext::fencing_token`] grows with every claim of a job and is at
//!   least the tick's Unix time in milliseconds; pass it downstream so a
//!   store can reject a stale run's writes.
//! - Redis unreachable: ticks are not run (fail closed); the first failure of
//!   an outage is logged as an error naming the jobs, the recovery with how
//!   many ticks were not run; the scheduler reconnects by itself.
//!
//! If Redis **loses data** (a restart without persistence, a failover to a
//! replica that had not received the latest writes), the claimed ticks go back: a
//! tick that was claimed but not yet reached by a slow instance could be
//! claimed again by it, and a run lock held at the time is forgotten (a
//! second run of a skip-overlap job can start). Fencing tokens stay
//! monotonic because they follow the tick. Use AOF persistence
//! (`appendonly yes`) where that matters.
//!
//! Deployments ([`lock::Deployment`]): one Redis endpoint (a server, or a
//! managed service's primary endpoint or a proxy that always reaches the
//! current primary), Redis Sentinel (`redis+sentinel://…/master`: the
//! primary is found through the sentinels, again after a failover) and
//! Redis Cluster (`redis+cluster://…`: keys of one job share a hash tag,
//! `{cronlock:job}`, so each script touches one slot; batches are split by
//! slot). Replication is asynchronous, so a failover can forget the latest
//! claims; with durability ([`lock::RedisLockConfig::wait_for_replicas`],
//! or `?wait_replicas=1` in the URL) a claim runs only once a replica has
//! it. The README's deployment matrix says what each level guarantees.
//!
//! Without Redis, the in-process lock ([`lock::MemoryLock`]) gives the same
//! guarantees within one process only, and the scheduler warns at start.

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
//! # Features
//!
//! - `redis` (default): the Redis lock backend, [`lock::RedisLock`], pooled
//!   with bb8; `REDIS_URL` for [`run`]. Without it only the in-process lock
//!   is built (`cargo build --no-default-features`).
//! - `tls`: `rediss://` URLs, TLS with rustls (ring).
//! - `test-util`: clocks for tests, `clock::TokioClock` (follows tokio's
//!   paused time) and `clock::OffsetClock` (a skewed clock).
//!
//! # What is public, and why
//!
//! - What a service writes: [`scheduled`], [`run`], [`init_tracing`],
//!   [`Scheduler`] and [`SchedulerBuilder`], [`Job`] with [`JobOptions`],
//!   [`Overlap`] and [`CatchUp`], [`JobContext`], [`State`], [`Error`].
//! - What a service reads back: [`JobInfo`], [`LastRun`], [`RunOutcome`],
//!   [`Schedule`] (and [`Upcoming`], [`SpecError`]) to check and explain a
//!   spec, and [`Fleet`] / [`FleetJob`] for tools that look at a whole fleet.
//! - [`lock`]: the backend contract ([`lock::Lock`], [`lock::Control`]) so
//!   a team can bring its own backend, the backends, and the bounds they keep;
//!   [`metrics`]: the metric names; [`clock`]: the clock the scheduler reads.
//! - [`IntoJobResult`] is public because [`Job::new`] names it.
//!
//! Everything `#[scheduled]` generates code against lives under a hidden
//! `__private` module and is not API. The list is kept in
//! `tests/public-api.txt`, and a test fails when the code's public items
//! differ from it.
//!
//! # Time zones and daylight saving
//!
//! See [`Schedule`] for the cron language and the DST rule table.

pub mod clock;
mod context;
#[cfg(feature = "dashboard")]
pub mod dashboard;
mod error;
mod events;
mod fleet;
mod job;
pub mod lock;
pub mod metrics;
mod options;
mod outcome;
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
pub use events::{EVENTS_KEPT, Event, NotRun};
pub use fleet::{Fleet, FleetJob, MAX_BACKFILL_TICKS, NOT_RUN_SHOWN};
pub use job::{IntoJobResult, Job};
pub use options::{CatchUp, JobOptions, Overlap};
pub use outcome::RunOutcome;
pub use schedule::{Schedule, SpecError, Upcoming};
pub use scheduler::{JobInfo, LastRun, Scheduler, SchedulerBuilder};
pub use state::State;

/// Runs every `#[scheduled]` fn in the binary until SIGINT or SIGTERM.
///
/// The zero-configuration entry point: it installs a `tracing` subscriber
/// (filtered by `RUST_LOG`, default `info`) unless the application set one,
/// builds a [`Scheduler`], runs it, and shuts down
/// gracefully on the first signal; a second signal exits at once.
///
/// Jobs with `State<T>` parameters need the values registered: use
/// `Scheduler::builder().state(value).backend_from_env().build().await?.run().await`.
///
/// With `REDIS_URL` set (`redis://[user:password@]host:port/db` or
/// `rediss://` for TLS) the schedulers of every instance coordinate through
/// Redis; else, with the `postgres` feature and `DATABASE_URL` set
/// (`postgres://user:password@host/db`), through Postgres; without either
/// the in-process lock is used and a warning says so. `REDIS_URL` wins when
/// both are set.
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
    Scheduler::builder()
        .backend_from_env()
        .build()
        .await?
        .run()
        .await
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
