//! The scheduler: one task that sleeps until the earliest tick, then hands
//! each due tick to its own run task.

mod backfill;
mod builder;
mod claim;
mod control;
mod due;
mod failures;
mod inner;
mod jobs;
mod not_run;
mod operations;
mod release;
mod report;
mod run;
mod start;
mod supervise;

pub use builder::SchedulerBuilder;
pub use report::{JobInfo, LastRun};
pub use run::Scheduler;
pub(crate) use start::RunKind;
