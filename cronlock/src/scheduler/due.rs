//! The first stage: which ticks are due now, and whether each may run
//! (paused, late); the due ones go to the claim stage in batches.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::inner::Inner;
use super::jobs::{Begin, JobEntry, ON_TIME, latest_due};
use super::{claim, start};
use crate::events::NotRun;
use crate::options::{CatchUp, Overlap};

impl Inner {
    /// Starts a run for every tick that is due, applying the catch-up policy.
    pub(super) fn dispatch_due(
        self: &Arc<Self>,
        queue: &mut BinaryHeap<Reverse<(DateTime<Utc>, usize)>>,
        runs: &mut JoinSet<()>,
        stop_claims: &CancellationToken,
        stop_runs: &CancellationToken,
    ) {
        let now = self.clock.now();
        let mut due = Vec::with_capacity(claim::CLAIM_BATCH);
        let mut requeue = Vec::new();
        // A task per batch, spawned as soon as the batch is full: the first
        // runs start while later ones are still being collected, the batches
        // claim concurrently (one script call each with Redis), and the runtime's
        // threads share starting the runs.
        let dispatcher_share = start::StartPhase::begin();
        let mut hand_off = |due: &mut Vec<_>| {
            runs.spawn(claim::run_due(
                Arc::clone(self),
                std::mem::replace(due, Vec::with_capacity(claim::CLAIM_BATCH)),
                dispatcher_share.another(),
                stop_claims.clone(),
                stop_runs.clone(),
            ));
        };
        // The queue holds planned starts: a job's tick plus its jitter offset.
        while let Some(&Reverse((start, rank))) = queue.peek() {
            if start > now {
                break;
            }
            queue.pop();
            let index = self.job_at_rank(rank);
            let job = &self.jobs[index];
            let oldest = start - job.start_offset;
            let (latest, missed, next) = latest_due(&job.schedule, oldest, now - job.start_offset);
            let picked = match job.options.catch_up {
                CatchUp::All => self.oldest_runnable(job, oldest, latest, missed, now),
                _ => self
                    .should_run(job, oldest, latest, missed, now)
                    .then_some(latest),
            };
            if let Some(tick) = picked {
                // buffer_one: a tick waiting for a run (its claim pending)
                // is the one buffered; later ones are skipped.
                let buffer_one = job.options.overlap == Overlap::BufferOne;
                match job.slot.begin(tick, !buffer_one) {
                    Begin::Claim => {
                        due.push(claim::Due {
                            job: Arc::clone(job),
                            tick,
                            manual: None,
                            catch_up: now - job.planned_start(tick) >= ON_TIME,
                        });
                        if due.len() == claim::CLAIM_BATCH {
                            hand_off(&mut due);
                        }
                    }
                    Begin::Dropped => {
                        info!(job = %job.name, tick = %tick, "skipped: a tick already waits for the running one (buffer_one)");
                        job.not_run(NotRun::SkippedOverlap, Some(tick), 1);
                    }
                    Begin::Waits { replaced } => {
                        debug!(job = %job.name, tick = %tick, "a claim of an earlier tick is still pending: this tick waits for it");
                        // With catch_up = "all" the waiting ticks all run (in order).
                        if let Some(replaced) = replaced
                            && job.options.catch_up != CatchUp::All
                        {
                            job.not_run(NotRun::Missed, Some(replaced), 1);
                        }
                    }
                }
            }
            requeue.push((index, next));
        }
        if !due.is_empty() {
            hand_off(&mut due);
        }
        // Every batch is handed off: the dispatcher's share goes back.
        drop(dispatcher_share);
        // After the runs are handed off: nothing here delays a start.
        for (index, next) in requeue {
            let job = &self.jobs[index];
            job.status().next = next;
            if let Some(next) = next {
                queue.push(Reverse((job.planned_start(next), self.claim_rank(index))));
            }
        }
    }

    /// For [`CatchUp::All`]: the oldest of the due ticks from `oldest` to
    /// `latest` (`missed` of them before `latest`) that is still within the
    /// catch-up window, if the job is not paused; the ones before it are
    /// logged and counted as missed. The claim stage runs the rest in order.
    fn oldest_runnable(
        &self,
        job: &JobEntry,
        oldest: DateTime<Utc>,
        latest: DateTime<Utc>,
        missed: u64,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if self.skipped_for_pause(job, oldest, latest, missed, now) {
            return None;
        }
        let (tick, skipped) = job.first_runnable(oldest, now);
        if skipped > 0 {
            warn!(
                job = %job.name,
                skipped,
                window_ms = job.catch_up_window().num_milliseconds(),
                "scheduler was late: skipped missed ticks older than the catch-up window"
            );
            job.not_run(NotRun::Missed, Some(oldest), skipped);
        }
        tick
    }

    /// Whether the job is paused: then its due ticks, from `oldest` to
    /// `latest` (`missed` before it), are logged and counted as not run.
    fn skipped_for_pause(
        &self,
        job: &JobEntry,
        oldest: DateTime<Utc>,
        latest: DateTime<Utc>,
        missed: u64,
        now: DateTime<Utc>,
    ) -> bool {
        let paused = self.is_paused(&job.name, now);
        if paused {
            info!(job = %job.name, tick = %latest, "skipped: the job is paused");
            job.not_run(NotRun::Paused, Some(oldest), missed + 1);
        }
        paused
    }

    /// Whether the due tick `latest` (after `missed` earlier due ones, from
    /// `oldest`) runs:
    /// not while the job is paused, and only as late as its catch-up policy
    /// allows. Logs and counts what is skipped.
    pub(super) fn should_run(
        &self,
        job: &JobEntry,
        oldest: DateTime<Utc>,
        latest: DateTime<Utc>,
        missed: u64,
        now: DateTime<Utc>,
    ) -> bool {
        if self.skipped_for_pause(job, oldest, latest, missed, now) {
            return false;
        }
        let on_time = job.still_runnable(latest, now);
        let skipped = missed + u64::from(!on_time);
        if skipped > 0 {
            warn!(
                job = %job.name,
                skipped,
                latest = %latest,
                late_ms = (now - latest).num_milliseconds(),
                "scheduler was late: skipped missed ticks"
            );
            job.not_run(NotRun::Missed, Some(oldest), skipped);
        }
        on_time
    }
}
