//! How a run ended, as the scheduler, the metrics and the run history tell it.

impl RunOutcome {
    /// The short name used in metrics and history: `ok`, `failed`,
    /// `timed_out`, `panicked`, `skipped`, `cancelled` or `not_run`.
    pub fn label(&self) -> &'static str {
        match self {
            RunOutcome::Completed => "ok",
            RunOutcome::Failed { .. } => "failed",
            RunOutcome::TimedOut => "timed_out",
            RunOutcome::Panicked { .. } => "panicked",
            RunOutcome::Skipped { .. } => "skipped",
            RunOutcome::Cancelled => "cancelled",
            RunOutcome::NotRun { .. } => "not_run",
        }
    }

    /// Whether the job failed: an error (after any retries), a timeout or a
    /// panic. A skip or a cancellation is not the job failing.
    pub(crate) fn is_failure(&self) -> bool {
        matches!(
            self,
            RunOutcome::Failed { .. } | RunOutcome::TimedOut | RunOutcome::Panicked { .. }
        )
    }

    /// The error, panic message, skip reason or why the tick was not run,
    /// if the outcome has one.
    pub fn message(&self) -> Option<&str> {
        match self {
            RunOutcome::Failed { error } => Some(error),
            RunOutcome::Panicked { message } => Some(message),
            RunOutcome::Skipped { reason } => Some(reason),
            RunOutcome::NotRun { reason } => Some(reason.label()),
            _ => None,
        }
    }
}

/// How a run of a job ended on this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunOutcome {
    /// The job returned `Ok`.
    Completed,
    /// The job returned an error (after any retries).
    Failed {
        /// The error, rendered.
        error: String,
    },
    /// The run hit its timeout and was cancelled.
    TimedOut,
    /// The job panicked; the scheduler caught it.
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The job called [`crate::JobContext::skip`].
    Skipped {
        /// The reason it gave.
        reason: String,
    },
    /// The run was cancelled by shutdown or a lost lock.
    Cancelled,
    /// No instance ran the tick (only in histories: see
    /// [`Fleet::history`](crate::Fleet::history)).
    NotRun {
        /// Why, as the instance that gave the tick up saw it.
        reason: crate::events::NotRun,
    },
}

impl RunOutcome {
    /// The outcome with this [`RunOutcome::label`] and message, as a stored
    /// history has it; `None` for a label this version does not know.
    pub(crate) fn from_parts(label: &str, message: Option<String>) -> Option<RunOutcome> {
        let message = message.unwrap_or_default();
        Some(match label {
            "ok" => RunOutcome::Completed,
            "failed" => RunOutcome::Failed { error: message },
            "timed_out" => RunOutcome::TimedOut,
            "panicked" => RunOutcome::Panicked { message },
            "skipped" => RunOutcome::Skipped { reason: message },
            "cancelled" => RunOutcome::Cancelled,
            "not_run" => RunOutcome::NotRun {
                reason: crate::events::NotRun::from_label(&message)?,
            },
            _ => return None,
        })
    }
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}
