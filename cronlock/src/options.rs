//! A job's options: the one definition behind the `#[scheduled]` keys, the
//! [`Job`](crate::Job) builder methods and the defaults.

use std::time::Duration;

use chrono_tz::Tz;

/// Whether a job may run while its previous run is still going, anywhere in the fleet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Overlap {
    /// Never two runs of the job at once: a tick that finds one running is skipped.
    #[default]
    Skip,
    /// Ticks start even while earlier runs are still going.
    Allow,
    /// Never two runs at once, and a tick that finds one running waits and
    /// starts right after it ends (within its catch-up window); at most one
    /// tick waits per instance: a newer one takes the place of a waiting
    /// one, which counts as skipped.
    BufferOne,
    /// Never two runs at once, and the newest tick wins: a tick that finds
    /// a run going cancels it (through
    /// [`JobContext::cancelled`](crate::JobContext::cancelled); aborted
    /// after the cancel grace if it does not stop, as at a timeout) and
    /// starts once it has ended, within its catch-up window (Kubernetes
    /// `Replace`). Fleet-wide: the instance running the job cancels the run
    /// when the next tick comes due there; the instance that claims the new
    /// tick waits for the run lock meanwhile.
    Replace,
}

impl Overlap {
    /// Whether a run holds the job's fleet-wide run lock, so no other run
    /// of the job starts while it lasts.
    pub fn is_exclusive(self) -> bool {
        !matches!(self, Overlap::Allow)
    }
}

/// What to do with ticks that were due while the scheduler could not run them
/// (the process was paused, the machine slept, the runtime was starved, or,
/// with a catch-up window, the whole fleet was down).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CatchUp {
    /// Run the most recent missed tick once, if it is younger than the
    /// catch-up window (default: the job's timeout); skip (and log) the
    /// older ones.
    #[default]
    Latest,
    /// Run every missed tick younger than the catch-up window, once each
    /// fleet-wide, oldest first; with `overlap = "skip"` each waits for the
    /// run before it to end. Older ones are skipped (and logged).
    All,
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
    /// How late a missed tick may still run (`catch_up_window` key);
    /// `None`: the timeout. Set, it also makes an instance that starts
    /// after the whole fleet was down run the ticks missed meanwhile.
    pub catch_up_window: Option<Duration>,
    /// Retries of a failed run, within its timeout (`retries` key).
    pub retries: u32,
    /// The first wait between attempts, doubling (`backoff` key).
    pub backoff: Duration,
    /// A disabled job is listed but never runs (`enabled` key).
    pub enabled: bool,
    /// Runs start up to this much after their tick, at an offset fixed by
    /// the job's name (`jitter` key); zero: on the tick.
    pub jitter: Duration,
    /// How many runs the job's history keeps, fleet-wide (`history_len`
    /// key); `None`: the scheduler's (default 20).
    pub history_len: Option<u32>,
    /// After this many consecutive failed runs (failed, timed out or
    /// panicked; retries within a run count as one run), the job pauses
    /// itself fleet-wide until resumed by hand (`pause_after_failures`
    /// key); `None`: never.
    pub pause_after_failures: Option<u32>,
}

impl JobOptions {
    /// The defaults: the scheduler's zone, a lock TTL equal to the timeout,
    /// no overlap, catch-up of the latest missed tick, no retries (backoff
    /// 1 s once there are), enabled, no jitter, the scheduler's history
    /// length, never paused by failures.
    pub const DEFAULT: JobOptions = JobOptions {
        tz: None,
        lock_ttl: None,
        overlap: Overlap::Skip,
        catch_up: CatchUp::Latest,
        catch_up_window: None,
        retries: 0,
        backoff: Duration::from_secs(1),
        enabled: true,
        jitter: Duration::ZERO,
        history_len: None,
        pause_after_failures: None,
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

    /// How late a missed tick may still run (with [`CatchUp::Latest`] or
    /// [`CatchUp::All`]); also turns on catching up after a fleet-wide outage.
    pub const fn catch_up_window(mut self, window: Duration) -> JobOptions {
        self.catch_up_window = Some(window);
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

    /// Spreads the job's starts: each run starts at a fixed offset in
    /// `[0, jitter)` after its tick, derived from the job name, so every
    /// instance (and every version) agrees on it. The tick (`ctx.tick()`,
    /// the claim, the fencing token, history) stays the scheduled instant;
    /// lateness and the catch-up rule count from the delayed start.
    pub const fn jitter(mut self, jitter: Duration) -> JobOptions {
        self.jitter = jitter;
        self
    }

    /// How many runs the job's history keeps (1-1,000).
    pub const fn history_len(mut self, runs: u32) -> JobOptions {
        self.history_len = Some(runs);
        self
    }

    /// Pauses the job fleet-wide after this many consecutive failed runs
    /// (1-1,000), logged and shown with a note by `cronlock list`, until it
    /// is resumed by hand.
    pub const fn pause_after_failures(mut self, failures: u32) -> JobOptions {
        self.pause_after_failures = Some(failures);
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
        cronlock_spec::check_jitter(self.jitter)?;
        if let Some(runs) = self.history_len {
            cronlock_spec::check_history_len(runs)?;
        }
        if let Some(failures) = self.pause_after_failures {
            cronlock_spec::check_pause_after_failures(failures)?;
        }
        if let Some(window) = self.catch_up_window {
            cronlock_spec::check_catch_up_window(window, self.catch_up == CatchUp::Skip)?;
        }
        Ok(lock_ttl)
    }
}

/// Where in `[0, jitter)` the runs of `job` start after their ticks: an
/// FNV-1a hash of the name, so it never changes with the instance, the
/// process or the Rust version (std's hasher makes no such promise).
pub(crate) fn start_offset(job: &str, jitter: Duration) -> Duration {
    let jitter_ms = jitter.as_millis().min(u128::from(u64::MAX)) as u64;
    if jitter_ms == 0 {
        return Duration::ZERO;
    }
    let hash = job.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    Duration::from_millis(hash % jitter_ms)
}

impl Default for JobOptions {
    fn default() -> JobOptions {
        JobOptions::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::start_offset;

    #[test]
    fn a_jitter_offset_is_fixed_by_the_name_and_inside_the_jitter() {
        let jitter = Duration::from_secs(30);
        assert_eq!(
            start_offset("nightly", jitter),
            start_offset("nightly", jitter)
        );
        assert_ne!(
            start_offset("nightly", jitter),
            start_offset("hourly", jitter)
        );
        assert_eq!(start_offset("nightly", Duration::ZERO), Duration::ZERO);
        assert_eq!(
            start_offset("nightly", Duration::from_millis(1)),
            Duration::ZERO
        );
        // Known values: the rule is part of the contract (every version of
        // every instance must agree), so it must not drift.
        assert_eq!(
            start_offset("digest", Duration::from_millis(1500)),
            Duration::from_millis(529)
        );
        assert_eq!(
            start_offset("sync", Duration::from_millis(1500)),
            Duration::from_millis(1166)
        );
    }

    #[test]
    fn five_hundred_jobs_at_one_instant_spread_over_the_jitter() {
        let jitter = Duration::from_secs(30);
        let mut per_second = BTreeMap::new();
        for index in 0..500 {
            let offset = start_offset(&format!("report-{index}"), jitter);
            assert!(offset < jitter);
            *per_second.entry(offset.as_secs()).or_insert(0) += 1;
        }
        // 500 over 30 seconds is about 17 a second.
        assert_eq!(per_second.len(), 30, "{per_second:?}");
        assert!(
            per_second.values().all(|&count| count <= 35),
            "{per_second:?}"
        );
    }
}
