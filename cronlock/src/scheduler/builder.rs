//! Building a scheduler: collecting jobs, validating everything up front.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono_tz::Tz;

use super::inner::Inner;
use super::jobs::{Definition, JobEntry};
use super::run::Scheduler;
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::events::Events;
use crate::job::{Job, Origin};
#[cfg(feature = "postgres")]
use crate::lock::PostgresLockConfig;
use crate::lock::{Lock, MemoryLock};
#[cfg(feature = "redis")]
use crate::lock::{RedisLock, RedisLockConfig};
use crate::schedule::Schedule;
use crate::state::StateMap;

impl Scheduler {
    /// Starts configuring a scheduler.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }
}

/// Configures a [`Scheduler`]; [`SchedulerBuilder::build`] checks everything.
///
/// ```
/// use std::time::Duration;
/// use cronlock::{Job, Scheduler};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cronlock::Error> {
/// let scheduler = Scheduler::builder()
///     .timezone(chrono_tz::Asia::Shanghai)
///     .job(Job::new("report", "0 0 * * * *", Duration::from_secs(60), |_ctx| async {}))
///     .spec_override("report", "0 30 * * * *")
///     .build()
///     .await?;
/// let report = scheduler.list_jobs().into_iter().find(|job| job.name == "report").unwrap();
/// assert_eq!(report.spec, "0 30 * * * *");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SchedulerBuilder {
    jobs: Vec<Job>,
    registered: bool,
    states: StateMap,
    tz: Tz,
    overrides: Vec<(String, String)>,
    grace: Duration,
    cancel_grace: Duration,
    lock: Option<Arc<dyn Lock>>,
    #[cfg(feature = "redis")]
    redis: Option<RedisLockConfig>,
    #[cfg(feature = "postgres")]
    postgres: Option<PostgresLockConfig>,
    from_env: bool,
    clock: Arc<dyn Clock>,
    history_len: usize,
}

impl Default for SchedulerBuilder {
    fn default() -> Self {
        SchedulerBuilder {
            jobs: Vec::new(),
            registered: true,
            states: StateMap::default(),
            tz: Tz::UTC,
            overrides: Vec::new(),
            grace: Duration::from_secs(30),
            cancel_grace: Duration::from_secs(5),
            lock: None,
            #[cfg(feature = "redis")]
            redis: None,
            #[cfg(feature = "postgres")]
            postgres: None,
            from_env: false,
            clock: Arc::new(SystemClock),
            history_len: super::control::DEFAULT_HISTORY_LEN,
        }
    }
}

impl SchedulerBuilder {
    /// Adds a job built from a closure.
    pub fn job(mut self, job: Job) -> Self {
        self.jobs.push(job);
        self
    }

    /// Whether to include the `#[scheduled]` fns linked into the binary (default true).
    pub fn registered_jobs(mut self, include: bool) -> Self {
        self.registered = include;
        self
    }

    /// Registers a value for `State<T>` parameters.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(Arc::new(value));
        self
    }

    /// The zone specs are read in when neither the job nor the spec names one (default UTC).
    pub fn timezone(mut self, tz: Tz) -> Self {
        self.tz = tz;
        self
    }

    /// Replaces a job's spec, for example from configuration; checked at build.
    pub fn spec_override(mut self, job: impl Into<String>, spec: impl Into<String>) -> Self {
        self.overrides.push((job.into(), spec.into()));
        self
    }

    /// How long shutdown waits for running jobs before cancelling them (default 30 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How long a cancelled run may take to stop before it is dropped (default 5 s).
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
        self
    }

    /// The coordination backend (default: an in-process [`MemoryLock`]).
    pub fn lock(mut self, lock: impl Lock) -> Self {
        self.lock = Some(Arc::new(lock));
        self
    }

    /// Coordinates through Redis at `url` (`redis://`, `rediss://`, with
    /// `user:password@` for ACLs), with default pool and key prefix.
    #[cfg(feature = "redis")]
    pub fn redis(self, url: impl Into<String>) -> Self {
        self.redis_config(RedisLockConfig::new(url))
    }

    /// Coordinates through the backend the environment names, as
    /// [`crate::run`] does: Redis at `$REDIS_URL` when it is set (key prefix
    /// `$CRONLOCK_PREFIX`), else Postgres at `$DATABASE_URL` when it is set
    /// and the `postgres` feature is on (schema `$CRONLOCK_SCHEMA`);
    /// otherwise the in-process lock (with a warning at start). A backend
    /// configured explicitly ([`SchedulerBuilder::redis`],
    /// `SchedulerBuilder::postgres`, [`SchedulerBuilder::lock`]) wins.
    pub fn backend_from_env(mut self) -> Self {
        self.from_env = true;
        self
    }

    /// The same as [`SchedulerBuilder::backend_from_env`] (its first name,
    /// from when Redis was the only distributed backend).
    pub fn redis_from_env(self) -> Self {
        self.backend_from_env()
    }

    /// Coordinates through Postgres at `url` (`postgres://user:password@host/db`),
    /// with the default pool and schema; needs the `postgres` feature.
    #[cfg(feature = "postgres")]
    pub fn postgres(self, url: impl Into<String>) -> Self {
        self.postgres_config(PostgresLockConfig::new(url))
    }

    /// Coordinates through Postgres with a full configuration (schema,
    /// pool size, timeouts, skew margin).
    #[cfg(feature = "postgres")]
    pub fn postgres_config(mut self, config: PostgresLockConfig) -> Self {
        self.postgres = Some(config);
        self
    }

    /// Coordinates through Redis with a full configuration (pool size, key
    /// prefix, timeouts, skew margin).
    #[cfg(feature = "redis")]
    pub fn redis_config(mut self, config: RedisLockConfig) -> Self {
        self.redis = Some(config);
        self
    }

    /// How many runs each job's history keeps, fleet-wide (default 20).
    pub fn history_len(mut self, runs: usize) -> Self {
        self.history_len = runs;
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Validates every job and option and returns a scheduler ready to run.
    ///
    /// # Errors
    ///
    /// A bad spec or override, an unknown time zone, a duplicate name, a
    /// missing state, or contradictory options; each error names the job.
    pub async fn build(self) -> Result<Scheduler, Error> {
        let mut jobs: Vec<Job> = Vec::new();
        if self.registered {
            jobs.extend(crate::__private::registrations().map(Job::from_registration));
        }
        jobs.extend(self.jobs);

        let mut seen: HashMap<&str, &Origin> = HashMap::new();
        for job in &jobs {
            if let Some(first) = seen.insert(&job.name, &job.origin) {
                return Err(Error::DuplicateJob {
                    job: job.name.clone(),
                    first: first.to_string(),
                    second: job.origin.to_string(),
                });
            }
        }
        for (name, spec) in &self.overrides {
            let Some(job) = jobs.iter_mut().find(|job| job.name == *name) else {
                return Err(Error::UnknownOverride { job: name.clone() });
            };
            Schedule::parse(spec).map_err(|source| Error::InvalidOverride {
                job: name.clone(),
                source: Box::new(source),
            })?;
            job.spec.clone_from(spec);
        }

        let events = Events::new();
        let entries = jobs
            .into_iter()
            .map(|job| entry(job, self.tz, &self.states, &events))
            .collect::<Result<Vec<_>, Error>>()?;
        let lock = match self.lock {
            Some(lock) => lock,
            None => {
                backend(
                    #[cfg(feature = "redis")]
                    self.redis,
                    #[cfg(feature = "postgres")]
                    self.postgres,
                    self.from_env,
                )
                .await?
            }
        };
        Ok(Scheduler {
            inner: Arc::new(Inner::new(
                entries,
                lock,
                self.clock,
                self.grace,
                self.cancel_grace,
                self.history_len,
                events,
            )),
        })
    }
}

/// The lock backend the configuration asks for: the one configured (Redis
/// first), else the one the environment names when asked (`REDIS_URL`, then
/// `DATABASE_URL`), else the in-process lock.
async fn backend(
    #[cfg(feature = "redis")] redis: Option<RedisLockConfig>,
    #[cfg(feature = "postgres")] postgres: Option<PostgresLockConfig>,
    from_env: bool,
) -> Result<Arc<dyn Lock>, Error> {
    #[cfg(feature = "redis")]
    {
        if let Some(config) = redis {
            return Ok(Arc::new(RedisLock::connect(config).await?));
        }
    }
    #[cfg(feature = "postgres")]
    {
        if let Some(config) = postgres {
            return Ok(Arc::new(crate::lock::PostgresLock::connect(config).await?));
        }
    }
    if !from_env {
        return Ok(Arc::new(MemoryLock::new()));
    }
    #[cfg(feature = "redis")]
    {
        if let Some(config) = RedisLockConfig::from_env().map_err(Error::Config)? {
            return Ok(Arc::new(RedisLock::connect(config).await?));
        }
    }
    if std::env::var_os("REDIS_URL").is_some() && !cfg!(feature = "redis") {
        return Err(Error::Config(
            "REDIS_URL is set, but this build of cronlock has no `redis` feature".into(),
        ));
    }
    #[cfg(feature = "postgres")]
    {
        if let Some(config) = PostgresLockConfig::from_env().map_err(Error::Config)? {
            return Ok(Arc::new(crate::lock::PostgresLock::connect(config).await?));
        }
    }
    Ok(Arc::new(MemoryLock::new()))
}

/// A job checked and bound to its states: ready to schedule.
fn entry(job: Job, default_tz: Tz, states: &StateMap, events: &Events) -> Result<JobEntry, Error> {
    let schedule = Schedule::parse(&job.spec).map_err(|source| Error::InvalidSpec {
        job: job.name.clone(),
        origin: job.origin.to_string(),
        source: Box::new(source),
    })?;
    let schedule = match job.options.tz {
        Some(tz) => schedule.with_timezone(tz),
        None => schedule.with_default_timezone(default_tz),
    };
    let lock_ttl = job
        .options
        .check(job.timeout)
        .map_err(|reason| Error::InvalidJob {
            job: job.name.clone(),
            reason,
        })?;
    let run = job
        .bind
        .bind(states)
        .map_err(|missing| Error::MissingState {
            job: job.name.clone(),
            type_name: missing.type_name(),
        })?;
    let definition = Definition {
        name: job.name,
        schedule,
        timeout: job.timeout,
        lock_ttl,
        options: job.options,
        origin: job.origin,
    };
    Ok(JobEntry::new(definition, run, events.clone()))
}
