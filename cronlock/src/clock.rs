//! Where the scheduler reads the time: the system clock, or one a test controls.

use std::fmt;

use chrono::{DateTime, Utc};

/// A source of wall-clock time for the scheduler.
///
/// The scheduler sleeps with tokio's timer for the difference between a tick
/// and `now()`, then reads `now()` again, so a clock that follows tokio's
/// time (see `TokioClock`, feature `test-util`) makes a scheduler testable with paused time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that starts at a given instant and advances with tokio's time
/// (feature `test-util`).
///
/// Under `#[tokio::test(start_paused = true)]` time jumps straight to the
/// next timer, so hours of schedule run in milliseconds, deterministically.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use cronlock::clock::{Clock, TokioClock};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let start = Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap();
/// let clock = TokioClock::starting_at(start);
/// assert_eq!(clock.now(), start);
/// # }
/// ```
#[cfg(feature = "test-util")]
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    start: DateTime<Utc>,
    origin: tokio::time::Instant,
}

#[cfg(feature = "test-util")]
impl TokioClock {
    /// A clock reading `start` now.
    pub fn starting_at(start: DateTime<Utc>) -> TokioClock {
        TokioClock {
            start,
            origin: tokio::time::Instant::now(),
        }
    }
}

#[cfg(feature = "test-util")]
impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.origin.elapsed();
        self.start + chrono::Duration::from_std(elapsed).unwrap_or(chrono::Duration::MAX)
    }
}

/// The system clock shifted by a fixed offset: an instance whose clock is
/// wrong, for tests of clock skew (feature `test-util`).
///
/// ```
/// use cronlock::clock::{Clock, OffsetClock};
/// let behind = OffsetClock::new(chrono::Duration::milliseconds(-1500));
/// assert!(behind.now() < chrono::Utc::now());
/// ```
#[cfg(feature = "test-util")]
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    offset: chrono::Duration,
}

#[cfg(feature = "test-util")]
impl OffsetClock {
    /// A clock reading the system time plus `offset`.
    pub fn new(offset: chrono::Duration) -> OffsetClock {
        OffsetClock { offset }
    }
}

#[cfg(feature = "test-util")]
impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + self.offset
    }
}
