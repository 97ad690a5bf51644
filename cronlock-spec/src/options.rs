//! Checks on a job's options that the macro and the runtime builder both
//! make, with one wording: the compile error and the startup error say the
//! same thing.

use std::time::Duration;

use crate::format_duration;

/// The longest timeout, lock TTL or backoff a job may have: a year.
/// Longer values are almost surely mistakes (`Duration::MAX`), and Redis
/// refuses expiry times past its range.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The most retries a job may ask for.
pub const MAX_RETRIES: u32 = 100;

/// A job's per-run limit: more than zero, at most [`MAX_DURATION`].
///
/// ```
/// use std::time::Duration;
/// assert!(cronlock_spec::check_timeout(Duration::from_secs(90)).is_ok());
/// assert_eq!(cronlock_spec::check_timeout(Duration::ZERO).unwrap_err(), "timeout must be greater than zero");
/// ```
pub fn check_timeout(timeout: Duration) -> Result<(), String> {
    if timeout.is_zero() {
        return Err("timeout must be greater than zero".to_owned());
    }
    at_most("timeout", timeout)
}

/// A run lock's time to live: at least the timeout, at most [`MAX_DURATION`].
///
/// ```
/// use std::time::Duration;
/// let err = cronlock_spec::check_lock_ttl(Duration::from_secs(30), Duration::from_secs(60)).unwrap_err();
/// assert!(err.starts_with("lock_ttl 30s is shorter than timeout 1m"));
/// ```
pub fn check_lock_ttl(lock_ttl: Duration, timeout: Duration) -> Result<(), String> {
    if lock_ttl < timeout {
        return Err(format!(
            "lock_ttl {} is shorter than timeout {}: the lock would expire while a run may still be going, and another instance could start the same job again\nuse a lock_ttl of at least {}, or leave it out (it defaults to the timeout)",
            format_duration(lock_ttl),
            format_duration(timeout),
            format_duration(timeout)
        ));
    }
    at_most("lock_ttl", lock_ttl)
}

/// The first wait between attempts: more than zero, at most [`MAX_DURATION`].
pub fn check_backoff(backoff: Duration) -> Result<(), String> {
    if backoff.is_zero() {
        return Err("backoff must be greater than zero".to_owned());
    }
    at_most("backoff", backoff)
}

/// The widest start spread a job may ask for.
pub const MAX_JITTER: Duration = Duration::from_secs(24 * 3600);

/// The spread of a job's start after its tick: at most [`MAX_JITTER`]
/// (zero: none).
///
/// ```
/// use std::time::Duration;
/// assert!(cronlock_spec::check_jitter(Duration::from_secs(30)).is_ok());
/// assert!(cronlock_spec::check_jitter(Duration::from_secs(2 * 86_400)).is_err());
/// ```
pub fn check_jitter(jitter: Duration) -> Result<(), String> {
    if jitter > MAX_JITTER {
        return Err(format!(
            "jitter {} is wider than the widest allowed, {}: a start spread that wide is a different schedule (change the cron spec instead)",
            format_duration(jitter),
            format_duration(MAX_JITTER)
        ));
    }
    Ok(())
}

/// How late a missed tick may still run: more than zero, at most
/// [`MAX_DURATION`], and only with a policy that runs late ticks.
pub fn check_catch_up_window(window: Duration, policy_is_skip: bool) -> Result<(), String> {
    if policy_is_skip {
        return Err("catch_up_window has no effect with catch_up = \"skip\": use catch_up = \"latest\" or \"all\", or remove catch_up_window".to_owned());
    }
    if window.is_zero() {
        return Err("catch_up_window must be greater than zero".to_owned());
    }
    at_most("catch_up_window", window)
}

/// The most runs a job's history may keep, and the most consecutive
/// failures `pause_after_failures` may wait for (it reads them there).
pub const MAX_HISTORY_LEN: u32 = 1_000;

/// How many runs a job's history keeps: 1 to [`MAX_HISTORY_LEN`].
///
/// ```
/// assert!(cronlock_spec::check_history_len(50).is_ok());
/// assert_eq!(cronlock_spec::check_history_len(0).unwrap_err(), "history_len must be a whole number from 1 to 1000");
/// ```
pub fn check_history_len(runs: u32) -> Result<(), String> {
    if !(1..=MAX_HISTORY_LEN).contains(&runs) {
        return Err(format!(
            "history_len must be a whole number from 1 to {MAX_HISTORY_LEN}"
        ));
    }
    Ok(())
}

/// After how many consecutive failed runs a job pauses itself: 1 to
/// [`MAX_HISTORY_LEN`].
///
/// ```
/// assert!(cronlock_spec::check_pause_after_failures(5).is_ok());
/// assert!(cronlock_spec::check_pause_after_failures(0).is_err());
/// ```
pub fn check_pause_after_failures(failures: u32) -> Result<(), String> {
    if !(1..=MAX_HISTORY_LEN).contains(&failures) {
        return Err(format!(
            "pause_after_failures must be a whole number from 1 to {MAX_HISTORY_LEN} (leave it out to never pause by itself)"
        ));
    }
    Ok(())
}

/// Retries of a failed run: at most [`MAX_RETRIES`].
pub fn check_retries(retries: u32) -> Result<(), String> {
    if retries > MAX_RETRIES {
        return Err(format!(
            "retries must be a whole number from 0 to {MAX_RETRIES}"
        ));
    }
    Ok(())
}

fn at_most(key: &str, duration: Duration) -> Result<(), String> {
    if duration > MAX_DURATION {
        return Err(format!(
            "{key} {} is longer than the longest allowed, {}",
            if duration.as_secs() > 100 * MAX_DURATION.as_secs() {
                "(effectively forever)".to_owned()
            } else {
                format_duration(duration)
            },
            format_duration(MAX_DURATION)
        ));
    }
    Ok(())
}
