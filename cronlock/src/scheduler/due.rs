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
use super::jobs::{JobEntry, latest_due};
use super::{claim, start};

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
            let (latest, missed, next) = latest_due(
                &job.schedule,
                start - job.start_offset,
                now - job.start_offset,
            );
            if self.should_run(job, latest, missed, now) {
                if job.slot.begin(latest) {
                    due.push(claim::Due {
                        job: Arc::clone(job),
                        tick: latest,
                        trigger: None,
                    });
                    if due.len() == claim::CLAIM_BATCH {
                        hand_off(&mut due);
                    }
                } else {
                    debug!(job = %job.name, tick = %latest, "a claim of an earlier tick is still pending: this tick waits for it");
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

    /// Whether the due tick `latest` (after `missed` earlier due ones) runs:
    /// not while the job is paused, and only as late as its catch-up policy
    /// allows. Logs and counts what is skipped.
    pub(super) fn should_run(
        &self,
        job: &JobEntry,
        latest: DateTime<Utc>,
        missed: u64,
        now: DateTime<Utc>,
    ) -> bool {
        if self.is_paused(&job.name, now) {
            info!(job = %job.name, tick = %latest, "skipped: the job is paused");
            crate::metrics::tick_not_run(&job.name, "paused", missed + 1);
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
            crate::metrics::tick_not_run(&job.name, "missed", skipped);
        }
        on_time
    }
}
