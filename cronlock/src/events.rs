//! What happens to the jobs on this instance, as a stream a service can
//! page on ([`Scheduler::events`](crate::Scheduler::events)) without
//! scraping logs: finished runs, ticks that were not run and why, runs that
//! lost their lock.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::outcome::RunOutcome;

/// How many events wait for a slow subscriber before it misses the oldest
/// (it then gets [`broadcast::error::RecvError::Lagged`] with the count).
pub const EVENTS_KEPT: usize = 1024;

/// Something that happened to a job on this instance.
///
/// ```
/// # async fn example(scheduler: cronlock::Scheduler) {
/// use cronlock::{Event, RunOutcome};
///
/// let mut events = scheduler.events();
/// tokio::spawn(async move {
///     while let Ok(event) = events.recv().await {
///         match event {
///             Event::RunFinished { job, outcome: RunOutcome::Failed { error }, .. } => {
///                 eprintln!("page: {job} failed: {error}");
///             }
///             Event::TicksNotRun { job, reason, count, .. } => {
///                 eprintln!("{job}: {count} ticks not run ({reason})");
///             }
///             Event::LockLost { job, tick } => eprintln!("{job} lost its lock at {tick}"),
///             _ => {}
///         }
///     }
/// });
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A run this instance started has ended, whatever the outcome.
    RunFinished {
        /// The job.
        job: Arc<str>,
        /// The tick it ran for.
        tick: DateTime<Utc>,
        /// How it ended.
        outcome: RunOutcome,
        /// How long it took, retries included.
        duration: Duration,
    },
    /// Ticks of a job that this instance did not run, and why. Ticks another
    /// instance ran are not reported (they ran).
    TicksNotRun {
        /// The job.
        job: Arc<str>,
        /// Why.
        reason: NotRun,
        /// How many ticks (at least; a very long stall is counted up to a bound).
        count: u64,
    },
    /// A run found its fleet-wide lock gone (expired, or taken over) and was
    /// cancelled.
    LockLost {
        /// The job.
        job: Arc<str>,
        /// The tick of the cancelled run.
        tick: DateTime<Utc>,
    },
}

/// Why ticks were not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum NotRun {
    /// Too late for the job's catch-up rule (the scheduler was late).
    Missed,
    /// The job was paused.
    Paused,
    /// A run of the job still held the lock (`overlap = "skip"`).
    SkippedOverlap,
    /// Missed while no instance ran the job, older than its catch-up window.
    FleetDown,
    /// The lock backend did not answer in time.
    LockUnavailable,
    /// The lock backend answered with an error.
    LockError,
}

impl NotRun {
    /// The `outcome` label of `cronlock_job_runs_total`.
    pub fn label(self) -> &'static str {
        match self {
            NotRun::Missed => "missed",
            NotRun::Paused => "paused",
            NotRun::SkippedOverlap => "skipped_overlap",
            NotRun::FleetDown => "fleet_down",
            NotRun::LockUnavailable => "lock_unavailable",
            NotRun::LockError => "lock_error",
        }
    }
}

impl NotRun {
    /// The reason with this [`NotRun::label`].
    pub fn from_label(label: &str) -> Option<NotRun> {
        [
            NotRun::Missed,
            NotRun::Paused,
            NotRun::SkippedOverlap,
            NotRun::FleetDown,
            NotRun::LockUnavailable,
            NotRun::LockError,
        ]
        .into_iter()
        .find(|reason| reason.label() == label)
    }
}

impl std::fmt::Display for NotRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Where a scheduler's jobs tell what happens to them: the subscribers,
/// and the ticks not run waiting to be recorded in the fleet's history.
/// One pointer per job.
#[derive(Debug, Clone)]
pub(crate) struct Events(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    sender: broadcast::Sender<Event>,
    /// Whether ticks given up are kept to be recorded (the lock backend
    /// records them).
    keep_given_up: std::sync::atomic::AtomicBool,
    given_up: std::sync::Mutex<Waiting>,
}

/// Ticks given up, waiting to be recorded.
#[derive(Debug, Default)]
struct Waiting {
    records: Vec<GivenUp>,
    /// Ticks in `records`.
    ticks: usize,
}

impl Waiting {
    fn push(&mut self, record: GivenUp) {
        self.ticks += record.ticks.len();
        self.records.push(record);
        // The oldest go first while more than the bound wait.
        let mut excess = 0;
        while self.ticks > GIVEN_UP_WAITING && excess < self.records.len() {
            self.ticks -= self.records[excess].ticks.len();
            excess += 1;
        }
        self.records.drain(..excess);
    }
}

/// Ticks a job gave up, to be recorded in the fleet's history.
#[derive(Debug, Clone)]
pub(crate) struct GivenUp {
    pub(crate) job: Arc<str>,
    pub(crate) reason: NotRun,
    pub(crate) ticks: Vec<DateTime<Utc>>,
}

/// The most ticks given up that wait to be recorded (for the next control
/// poll, or for the lock backend, which may be down); beyond, the oldest
/// records are dropped (their ticks are still counted in the metrics and
/// events).
const GIVEN_UP_WAITING: usize = 100_000;

impl Events {
    pub(crate) fn new() -> Events {
        Events(Arc::new(Shared {
            sender: broadcast::channel(EVENTS_KEPT).0,
            keep_given_up: std::sync::atomic::AtomicBool::new(false),
            given_up: std::sync::Mutex::new(Waiting::default()),
        }))
    }

    /// Sends to the subscribers there are; with none, the event is not
    /// even made (no allocation per run for a service that does not listen).
    pub(crate) fn send(&self, event: impl FnOnce() -> Event) {
        if self.0.sender.receiver_count() > 0 {
            let _ = self.0.sender.send(event());
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.0.sender.subscribe()
    }

    /// Whether ticks given up are kept to be recorded: only when the lock
    /// backend records them.
    pub(crate) fn keep_given_up(&self, keep: bool) {
        self.0
            .keep_given_up
            .store(keep, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether [`Events::given_up`] keeps anything.
    pub(crate) fn keeps_given_up(&self) -> bool {
        self.0
            .keep_given_up
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Keeps ticks given up for the history (see `scheduler::not_run`).
    pub(crate) fn given_up(&self, given_up: GivenUp) {
        if self.keeps_given_up() {
            self.waiting().push(given_up);
        }
    }

    /// Takes every record of ticks given up waiting.
    pub(crate) fn take_given_up(&self) -> Vec<GivenUp> {
        let mut waiting = self.waiting();
        waiting.ticks = 0;
        std::mem::take(&mut waiting.records)
    }

    /// Puts back records that could not be written, before newer ones.
    pub(crate) fn give_back(&self, unwritten: Vec<GivenUp>) {
        let mut waiting = self.waiting();
        let newer = std::mem::take(&mut *waiting);
        for record in unwritten.into_iter().chain(newer.records) {
            waiting.push(record);
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.0.given_up.lock().unwrap_or_else(|p| p.into_inner())
    }
}
