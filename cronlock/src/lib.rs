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
