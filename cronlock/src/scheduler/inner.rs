//! What every stage of the scheduler shares: the jobs, the lock, the clock,
//! the settings and the fleet's pauses.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::jobs::JobEntry;
use crate::clock::Clock;
use crate::events::Events;
use crate::lock::{Lock, Pause};

pub(super) struct Inner {
    pub(super) jobs: Vec<Arc<JobEntry>>,
    pub(super) lock: Arc<dyn Lock>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) grace: Duration,
    pub(super) cancel_grace: Duration,
    pub(super) shutdown: CancellationToken,
    pub(super) started: AtomicBool,
    /// Jobs paused fleet-wide, as of the last control poll.
    pub(super) paused: Mutex<BTreeMap<String, Pause>>,
    /// This scheduler in run histories: `host:pid:random`.
    pub(super) instance: Arc<str>,
    /// The service these jobs belong to, in the published job list.
    pub(super) service: String,
    /// Runs kept in each job's history.
    pub(super) history_len: usize,
    /// Where this instance starts claiming the jobs due at one instant.
    pub(super) claim_start: usize,
    /// What happens to the jobs, for subscribers.
    pub(super) events: Events,
    /// Control polls left before a failed publish of the job list is tried
    /// again; 0 once the list is published.
    pub(super) publish_retry_in: std::sync::atomic::AtomicU32,
    /// The backfills this instance takes part in.
    pub(super) backfills: Mutex<super::backfill::Taking>,
}

impl Inner {
    pub(super) fn new(
        jobs: Vec<JobEntry>,
        lock: Arc<dyn Lock>,
        clock: Arc<dyn Clock>,
        grace: Duration,
        cancel_grace: Duration,
        history_len: usize,
        events: Events,
    ) -> Inner {
        let now = clock.now();
        for job in &jobs {
            job.status().next = job.schedule.next_after(now).filter(|_| job.options.enabled);
        }
        // Ticks given up are kept to be recorded only where they can be.
        events.keep_given_up(lock.control().is_some());
        let instance: Arc<str> = crate::lock::instance_id().into();
        // Instances sharing a lock start claiming a crowd of due jobs at
        // different places, so each first claims jobs nobody has claimed
        // yet: every job is decided after about one claim per job instead of
        // one per instance and job.
        let claim_start = if lock.is_distributed() && !jobs.is_empty() {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(&*instance);
            (hash % jobs.len() as u64) as usize
        } else {
            0
        };
        Inner {
            jobs: jobs.into_iter().map(Arc::new).collect(),
            lock,
            clock,
            grace,
            cancel_grace,
            shutdown: CancellationToken::new(),
            started: AtomicBool::new(false),
            paused: Mutex::new(BTreeMap::new()),
            instance,
            service: crate::lock::service_name(),
            history_len,
            claim_start,
            events,
            publish_retry_in: std::sync::atomic::AtomicU32::new(0),
            backfills: Mutex::default(),
        }
    }

    /// The place of job `index` in this instance's claim order.
    pub(super) fn claim_rank(&self, index: usize) -> usize {
        (index + self.jobs.len() - self.claim_start) % self.jobs.len()
    }

    /// The job at place `rank` of this instance's claim order.
    pub(super) fn job_at_rank(&self, rank: usize) -> usize {
        (rank + self.claim_start) % self.jobs.len()
    }

    pub(super) fn warn_about_setup(&self) {
        if !self.lock.is_distributed() {
            warn!(
                "no Redis configured: using the in-process lock, which is only safe when a single instance runs these jobs"
            );
        }
        if self.jobs.is_empty() {
            warn!(
                "no jobs registered: #[scheduled] fns in a library crate are only linked when the binary uses something from that crate (see the cronlock docs on linking)"
            );
        }
    }

    /// The first tick of every enabled job, as a min-heap of (planned
    /// start, claim rank): a job with jitter starts its ticks later.
    pub(super) fn first_ticks(&self) -> BinaryHeap<Reverse<(DateTime<Utc>, usize)>> {
        let now = self.clock.now();
        let mut queue = BinaryHeap::with_capacity(self.jobs.len());
        for (index, job) in self.jobs.iter().enumerate() {
            // With jitter, a tick just passed whose start is still ahead comes first.
            let next = job
                .schedule
                .next_after(now - job.start_offset)
                .filter(|_| job.options.enabled);
            info!(
                job = %job.name,
                spec = %job.schedule,
                tz = %job.schedule.timezone(),
                next = ?next,
                enabled = job.options.enabled,
                "job registered"
            );
            job.status().next = next;
            if let Some(next) = next {
                queue.push(Reverse((job.planned_start(next), self.claim_rank(index))));
            }
        }
        queue
    }

    pub(super) fn is_paused(&self, job: &str, now: DateTime<Utc>) -> bool {
        self.paused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(job)
            .is_some_and(|pause| pause.is_active(now))
    }
}
