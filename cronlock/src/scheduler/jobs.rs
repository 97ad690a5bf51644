//! A scheduled job as the scheduler holds it: its schedule, options, run
//! function, and what it knows of its runs.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::report::LastRun;
use crate::events::{Event, Events, NotRun};
use crate::job::{Origin, RunFn};
use crate::options::{CatchUp, JobOptions};
use crate::outcome::RunOutcome;
use crate::schedule::Schedule;

/// A tick that starts less than this late is on time: [`CatchUp::Skip`]
/// runs it, and its run is not a catch-up.
pub(super) const ON_TIME: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

pub(crate) struct JobEntry {
    pub(super) name: Arc<str>,
    pub(super) schedule: Schedule,
    pub(super) timeout: Duration,
    pub(super) lock_ttl: Duration,
    pub(super) options: JobOptions,
    /// How long after each tick its run starts (the `jitter` option).
    pub(super) start_offset: chrono::TimeDelta,
    pub(super) origin: Origin,
    pub(super) run: RunFn,
    pub(super) running: AtomicUsize,
    /// Another instance took this job's last scheduled tick this instance
    /// claimed: its next tick is claimed after a short wait (see
    /// `claim::TAKEN_ELSEWHERE_WAIT`).
    pub(super) taken_elsewhere: AtomicBool,
    pub(super) slot: ClaimSlot,
    pub(super) status: Mutex<JobStatus>,
    events: Events,
}

/// A job's checked definition: everything but its run function.
pub(super) struct Definition {
    pub(super) name: String,
    pub(super) schedule: Schedule,
    pub(super) timeout: Duration,
    pub(super) lock_ttl: Duration,
    pub(super) options: JobOptions,
    pub(super) origin: Origin,
}

#[derive(Default)]
pub(super) struct JobStatus {
    pub(super) next: Option<DateTime<Utc>>,
    pub(super) last: Option<Box<LastRun>>,
    /// The cancel token of this instance's newest run, for a job whose
    /// next tick replaces it (`overlap = "replace"`).
    pub(super) replaceable: Option<tokio_util::sync::CancellationToken>,
}

/// The latest due tick from `tick` on, how many due ticks it passed, and the
/// tick after it (the first one not yet due).
pub(super) fn latest_due(
    schedule: &Schedule,
    tick: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, u64, Option<DateTime<Utc>>) {
    // Bounded: after a very long stall of a very frequent job, counting every
    // missed tick is not worth the time; the count then says "at least".
    const MAX_STEPS: u64 = 100_000;
    let mut latest = tick;
    let mut missed = 0;
    loop {
        match schedule.next_after(latest) {
            Some(next) if next <= now && missed < MAX_STEPS => {
                latest = next;
                missed += 1;
            }
            next => return (latest, missed, next),
        }
    }
}

/// How many ticks of `schedule` lie strictly between `after` and `before`
/// (bounded like [`latest_due`]).
pub(super) fn ticks_between(
    schedule: &Schedule,
    after: DateTime<Utc>,
    before: DateTime<Utc>,
) -> u64 {
    let (_, passed, _) = latest_due(schedule, after, before);
    passed.saturating_sub(1)
}

impl JobEntry {
    /// Whether `tick` may still start at `now`, as late as the job's
    /// catch-up policy allows.
    pub(super) fn still_runnable(&self, tick: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - self.planned_start(tick) < self.latest_start()
    }

    /// How much longer `tick` may still start after `now` (zero when it
    /// no longer may).
    pub(super) fn runnable_for(&self, tick: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
        (self.latest_start() - (now - self.planned_start(tick)))
            .to_std()
            .unwrap_or(Duration::ZERO)
    }

    /// How late after its planned start a tick may start: a second for
    /// `catch_up = "skip"`, else the catch-up window.
    fn latest_start(&self) -> chrono::TimeDelta {
        match self.options.catch_up {
            CatchUp::Skip => ON_TIME,
            _ => self.catch_up_window(),
        }
    }

    /// The first tick from `from` on that is due by `now` and still
    /// runnable, and how many due ticks before it were too late (bounded
    /// like [`latest_due`]).
    pub(super) fn first_runnable(
        &self,
        from: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (Option<DateTime<Utc>>, u64) {
        const MAX_STEPS: u64 = 100_000;
        let mut too_late = 0;
        let mut tick = Some(from);
        while let Some(due) = tick.filter(|due| self.planned_start(*due) <= now) {
            if self.still_runnable(due, now) {
                return (Some(due), too_late);
            }
            too_late += 1;
            if too_late >= MAX_STEPS {
                break;
            }
            tick = self.schedule.next_after(due);
        }
        (None, too_late)
    }

    /// How late a missed tick may still run: the `catch_up_window`, else the
    /// timeout.
    pub(super) fn catch_up_window(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.options.catch_up_window.unwrap_or(self.timeout))
            .unwrap_or(chrono::TimeDelta::MAX)
    }

    /// When the run of `tick` is to start: the tick, plus the job's jitter
    /// offset.
    pub(super) fn planned_start(&self, tick: DateTime<Utc>) -> DateTime<Utc> {
        tick + self.start_offset
    }

    pub(super) fn new(definition: Definition, run: RunFn, events: Events) -> JobEntry {
        let Definition {
            name,
            schedule,
            timeout,
            lock_ttl,
            options,
            origin,
        } = definition;
        let start_offset =
            chrono::TimeDelta::from_std(crate::options::start_offset(&name, options.jitter))
                .unwrap_or(chrono::TimeDelta::zero());
        JobEntry {
            name: name.into(),
            schedule,
            timeout,
            lock_ttl,
            options,
            start_offset,
            origin,
            run,
            running: AtomicUsize::new(0),
            taken_elsewhere: AtomicBool::new(false),
            slot: ClaimSlot::default(),
            status: Mutex::new(JobStatus::default()),
            events,
        }
    }

    /// `count` ticks of this job, from `first` on, were not run, for
    /// `reason`: counted, told to the event subscribers, and kept for the
    /// fleet's history (written at the next control poll). `first` is
    /// `None` when not known (then only counted).
    pub(super) fn not_run(&self, reason: NotRun, first: Option<DateTime<Utc>>, count: u64) {
        crate::metrics::tick_not_run(&self.name, reason.label(), count);
        self.events.send(|| Event::TicksNotRun {
            job: Arc::clone(&self.name),
            reason,
            count,
        });
        self.keep_given_up(reason, first, count);
    }

    /// Keeps `count` ticks from `first` on to be recorded as not run, for
    /// the backend only (no metric, no event): one this instance gave up
    /// that another instance most likely ran; the backend refuses the
    /// record of a tick an instance claimed.
    pub(super) fn keep_given_up(&self, reason: NotRun, first: Option<DateTime<Utc>>, count: u64) {
        if let Some(first) = first.filter(|_| count > 0 && self.events.keeps_given_up()) {
            // The newest, at most as many as a backend keeps; the older ones
            // are counted only.
            let kept = count.min(crate::lock::NOT_RUN_KEPT as u64);
            let ticks: Vec<DateTime<Utc>> =
                std::iter::successors(Some(first), |tick| self.schedule.next_after(*tick))
                    .skip((count - kept) as usize)
                    .take(kept as usize)
                    .collect();
            self.events.given_up(crate::events::GivenUp {
                job: Arc::clone(&self.name),
                reason,
                ticks,
            });
        }
    }

    /// A run of `tick` ended.
    pub(super) fn finished(&self, tick: DateTime<Utc>, outcome: &RunOutcome, duration: Duration) {
        crate::metrics::run_finished(&self.name, outcome, duration);
        self.events.send(|| Event::RunFinished {
            job: Arc::clone(&self.name),
            tick,
            outcome: outcome.clone(),
            duration,
        });
    }

    /// The run of `tick` found its lock gone and was cancelled.
    pub(super) fn lock_lost(&self, tick: DateTime<Utc>) {
        self.events.send(|| Event::LockLost {
            job: Arc::clone(&self.name),
            tick,
        });
    }

    pub(super) fn status(&self) -> std::sync::MutexGuard<'_, JobStatus> {
        self.status
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl fmt::Debug for JobEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobEntry")
            .field("name", &self.name)
            .field("schedule", &self.schedule)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// What the dispatcher does with a due tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Begin {
    /// Claim it now.
    Claim,
    /// A claim of the job is pending: the tick waits for it; `replaced` is
    /// the other waiting tick it took the place of (the older of the two,
    /// which will not run).
    Waits { replaced: Option<DateTime<Utc>> },
    /// A claim of the job is pending and the tick is not kept.
    Dropped,
}

/// A job's claim slot: at most one scheduled tick of a job is being claimed
/// at a time. A tick that comes due while one is pending is remembered (the
/// newest only): the pending claim switches to it when its own tick can no
/// longer run, or claims it next.
#[derive(Debug, Default)]
pub(super) struct ClaimSlot(Mutex<SlotState>);

#[derive(Debug, Default)]
struct SlotState {
    pending: bool,
    newer: Option<DateTime<Utc>>,
}

impl ClaimSlot {
    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// For the dispatcher: whether `tick` is to be claimed now, or waits
    /// behind a pending claim of the job (remembered, in place of any tick
    /// that waited there before) — unless `remember` is false, when it is
    /// dropped instead.
    pub(super) fn begin(&self, tick: DateTime<Utc>, remember: bool) -> Begin {
        let mut state = self.state();
        if !state.pending {
            state.pending = true;
            return Begin::Claim;
        }
        if !remember {
            return Begin::Dropped;
        }
        let replaced = state
            .newer
            .filter(|newer| *newer != tick)
            .map(|newer| newer.min(tick));
        state.newer = Some(state.newer.map_or(tick, |newer| newer.max(tick)));
        Begin::Waits { replaced }
    }

    /// A newer due tick, if one came while the claim was pending.
    pub(super) fn take_newer(&self) -> Option<DateTime<Utc>> {
        self.state().newer.take()
    }

    /// The pending claim is over: the slot is free, unless a newer tick came
    /// due meanwhile, which is returned for the caller to claim next.
    pub(super) fn end(&self) -> Option<DateTime<Utc>> {
        let mut state = self.state();
        let newer = state.newer.take();
        state.pending = newer.is_some();
        newer
    }
}
