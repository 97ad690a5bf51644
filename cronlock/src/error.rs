//! The one public error type of the runtime.

use std::fmt;

use crate::lock::LockError;
use crate::schedule::SpecError;

/// Why a scheduler could not be built or run. Every job error names the job.
///
/// `Debug` prints the message too (with the spec and a caret under the
/// mistake), so `fn main() -> Result<(), cronlock::Error>` reports readably.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A job's cron spec does not parse.
    #[error("job `{job}` ({origin}) has an invalid cron spec: {source}")]
    InvalidSpec {
        /// The job.
        job: String,
        /// Where the job was defined.
        origin: String,
        /// What is wrong, with the position.
        #[source]
        source: Box<SpecError>,
    },
    /// A job's time zone is unknown.
    #[error("job `{job}` has an unknown time zone: {source}")]
    InvalidTimeZone {
        /// The job.
        job: String,
        /// What is wrong, with suggestions.
        #[source]
        source: Box<SpecError>,
    },
    /// A job's options contradict each other (zero timeout, lock TTL below the timeout).
    #[error("job `{job}`: {reason}")]
    InvalidJob {
        /// The job.
        job: String,
        /// What is wrong.
        reason: String,
    },
    /// Two jobs share a name (the name is the lock key, so it must be unique).
    #[error(
        "job name `{job}` is used twice: at {first} and at {second}; give one of them another name with name = \"...\""
    )]
    DuplicateJob {
        /// The name.
        job: String,
        /// Where the first job was defined.
        first: String,
        /// Where the second job was defined.
        second: String,
    },
    /// A job takes a `State<T>` that was never registered.
    #[error(
        "job `{job}` needs State<{type_name}>, but no {type_name} was registered: add .state(value) to the scheduler builder"
    )]
    MissingState {
        /// The job.
        job: String,
        /// The missing type.
        type_name: &'static str,
    },
    /// A spec override names no job.
    #[error("spec override for `{job}`: there is no job with that name")]
    UnknownOverride {
        /// The name given.
        job: String,
    },
    /// A spec override does not parse.
    #[error("spec override for job `{job}` is invalid: {source}")]
    InvalidOverride {
        /// The job.
        job: String,
        /// What is wrong, with the position.
        #[source]
        source: Box<SpecError>,
    },
    /// An operation named a job this scheduler does not have.
    #[error("there is no job named `{job}`")]
    UnknownJob {
        /// The name given.
        job: String,
    },
    /// A disabled job was triggered: disabled jobs never run.
    #[error("job `{job}` is disabled (enabled = false): it never runs, also not when triggered")]
    JobDisabled {
        /// The job.
        job: String,
    },
    /// A backfill that cannot be asked for: a range that is empty, in the
    /// future or too long, or one of the job is under way.
    #[error("job `{job}`: cannot backfill: {reason}")]
    InvalidBackfill {
        /// The job.
        job: String,
        /// Why.
        reason: String,
    },
    /// The environment asks for something this build cannot do.
    #[error("configuration: {0}")]
    Config(String),
    /// The lock backend failed at start.
    #[error("lock backend: {0}")]
    Lock(#[from] LockError),
    /// The signal handlers could not be installed.
    #[error("could not listen for shutdown signals: {0}")]
    Signal(#[source] std::io::Error),
    /// The dashboard cannot be served as configured (a listen address that
    /// is not loopback without an auth setting, a port in use).
    #[error("dashboard: {0}")]
    Dashboard(String),
    /// `run` was called on a scheduler that is already running or has run.
    #[error("this scheduler has already been started; build a new one")]
    AlreadyStarted,
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        match self {
            Error::InvalidSpec { source, .. }
            | Error::InvalidTimeZone { source, .. }
            | Error::InvalidOverride { source, .. } => {
                // The report's first line is the message already printed.
                for line in source.report().lines().skip(1) {
                    write!(f, "\n{line}")?;
                }
                Ok(())
            }
            _ => {
                let mut cause = std::error::Error::source(self);
                while let Some(err) = cause {
                    write!(f, "\ncaused by: {err}")?;
                    cause = err.source();
                }
                Ok(())
            }
        }
    }
}
