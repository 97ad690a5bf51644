//! A job's options: the one definition behind the `#[scheduled]` keys, the
//! [`Job`](crate::Job) builder methods and the defaults.

use std::time::Duration;

use chrono_tz::Tz;

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

/// Everything about a job but its name, spec, timeout and code, with the
/// defaults in [`JobOptions::DEFAULT`].
///
/// `#[scheduled]` turns each key it is given into one of the `const`
/// setters below, applied to the defaults; [`Job`](crate::Job) has a builder
/// method for each. The values are checked when the scheduler is built,
/// with the same wording as the compile errors.
///
/// ```
/// use std::time::Duration;
/// use cronlock::{JobOptions, Overlap};
///
/// const NIGHTLY: JobOptions = JobOptions::DEFAULT.retries(3).backoff(Duration::from_secs(30));
/// assert_eq!(NIGHTLY.overlap, Overlap::Skip);
/// assert_eq!(NIGHTLY.retries, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobOptions {
    /// The zone the spec is read in, unless the spec names one (`CRON_TZ=`);
    /// `None`: the scheduler's zone (`tz` key).
    pub tz: Option<Tz>,
    /// How long the fleet-wide run lock lives unless extended; `None`: the
    /// timeout (`lock_ttl` key).
    pub lock_ttl: Option<Duration>,
    /// Whether runs may overlap (`overlap` key).
    pub overlap: Overlap,
    /// What to do with late ticks (`catch_up` key).
    pub catch_up: CatchUp,
    /// Retries of a failed run, within its timeout (`retries` key).
    pub retries: u32,
    /// The first wait between attempts, doubling (`backoff` key).
    pub backoff: Duration,
    /// A disabled job is listed but never runs (`enabled` key).
    pub enabled: bool,
}

impl JobOptions {
    /// The defaults: the scheduler's zone, a lock TTL equal to the timeout,
    /// no overlap, catch-up of the latest missed tick, no retries (backoff
    /// 1 s once there are), enabled.
    pub const DEFAULT: JobOptions = JobOptions {
        tz: None,
        lock_ttl: None,
        overlap: Overlap::Skip,
        catch_up: CatchUp::Latest,
        retries: 0,
        backoff: Duration::from_secs(1),
        enabled: true,
    };

    /// Reads the spec in `tz`.
    pub const fn tz(mut self, tz: Tz) -> JobOptions {
        self.tz = Some(tz);
        self
    }

    /// The run lock's time to live; at least the timeout.
    pub const fn lock_ttl(mut self, ttl: Duration) -> JobOptions {
        self.lock_ttl = Some(ttl);
        self
    }

    /// Whether runs may overlap.
    pub const fn overlap(mut self, overlap: Overlap) -> JobOptions {
        self.overlap = overlap;
        self
    }

    /// What to do with late ticks.
    pub const fn catch_up(mut self, catch_up: CatchUp) -> JobOptions {
        self.catch_up = catch_up;
        self
    }

    /// Retries of a failed run (0-100).
    pub const fn retries(mut self, retries: u32) -> JobOptions {
        self.retries = retries;
        self
    }

    /// The first wait between attempts.
    pub const fn backoff(mut self, backoff: Duration) -> JobOptions {
        self.backoff = backoff;
        self
    }

    /// Whether the job runs at all.
    pub const fn enabled(mut self, enabled: bool) -> JobOptions {
        self.enabled = enabled;
        self
    }

    /// Checks the options of a job with `timeout` (the same checks, with the
    /// same words, as `#[scheduled]` makes at compile time) and returns the
    /// lock TTL in force.
    pub(crate) fn check(&self, timeout: Duration) -> Result<Duration, String> {
        cronlock_spec::check_timeout(timeout)?;
        let lock_ttl = self.lock_ttl.unwrap_or(timeout);
        cronlock_spec::check_lock_ttl(lock_ttl, timeout)?;
        cronlock_spec::check_retries(self.retries)?;
        cronlock_spec::check_backoff(self.backoff)?;
        Ok(lock_ttl)
    }
}

impl Default for JobOptions {
    fn default() -> JobOptions {
        JobOptions::DEFAULT
    }
}
