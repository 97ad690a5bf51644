//! The scheduler: one task that sleeps until the earliest tick, then hands
//! each due tick to its own run task.

mod builder;
mod claim;
mod control;
mod release;
mod report;
mod start;
mod supervise;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub(crate) use crate::outcome::RunOutcome;
pub use builder::SchedulerBuilder;
pub use report::{JobInfo, LastRun};

use crate::clock::Clock;
use crate::error::Error;
use crate::job::{Origin, RunFn};
use crate::lock::Lock;
use crate::options::{CatchUp, JobOptions};
use crate::schedule::Schedule;
use crate::shutdown::Signals;

/// The longest the loop sleeps before re-reading the clock, so a clock that
/// was stepped (NTP, a resumed VM) is noticed within this bound.
const MAX_SLEEP: Duration = Duration::from_secs(5);

/// A tick that starts less than this late is on time for [`CatchUp::Skip`].
const ON_TIME: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// Runs jobs on their schedules. Cheap to clone: clones share one scheduler.
///
/// ```no_run
/// # async fn example() -> Result<(), cronlock::Error> {
/// let scheduler = cronlock::Scheduler::builder().build().await?;
/// let handle = scheduler.clone();
/// tokio::spawn(async move {
///     tokio::time::sleep(std::time::Duration::from_secs(60)).await;
///     handle.shutdown();
/// });
/// scheduler.run().await
/// # }
/// ```
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: Vec<Arc<JobEntry>>,
    lock: Arc<dyn Lock>,
    clock: Arc<dyn Clock>,
    grace: Duration,
    cancel_grace: Duration,
    shutdown: CancellationToken,
    started: AtomicBool,
    /// Jobs paused fleet-wide, as of the last control poll.
    paused: Mutex<std::collections::BTreeMap<String, crate::lock::Pause>>,
    /// This scheduler in run histories: `host:pid:random`.
    instance: Arc<str>,
    /// The service these jobs belong to, in the published job list.
    service: String,
    /// Runs kept in each job's history.
    history_len: usize,
    /// Where this instance starts claiming the jobs due at one instant.
    claim_start: usize,
}

pub(crate) struct JobEntry {
    name: Arc<str>,
    schedule: Schedule,
    timeout: Duration,
    lock_ttl: Duration,
    options: JobOptions,
    origin: Origin,
    run: RunFn,
    running: AtomicUsize,
    slot: claim::ClaimSlot,
    status: Mutex<JobStatus>,
}

#[derive(Default)]
struct JobStatus {
    next: Option<DateTime<Utc>>,
    last: Option<Box<LastRun>>,
}

impl Scheduler {
    /// Starts configuring a scheduler.
    pub fn builder() -> SchedulerBuilder {
        SchedulerBuilder::default()
    }

    /// Every job with its spec, zone, timeout, next fire time and last outcome.
    pub fn list_jobs(&self) -> Vec<JobInfo> {
        self.inner
            .jobs
            .iter()
            .map(|job| {
                let status = job.status();
                JobInfo {
                    name: job.name.to_string(),
                    spec: job.schedule.source().to_owned(),
                    tz: job.schedule.timezone(),
                    timeout: job.timeout,
                    enabled: job.options.enabled,
                    next_fire: status.next,
                    last_run: status.last.as_deref().cloned(),
                    paused: self.inner.is_paused(&job.name, self.inner.clock.now()),
                }
            })
            .collect()
    }

    /// Asks a running scheduler to shut down gracefully (as a signal would).
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully; a second
    /// signal exits the process at once.
    ///
    /// # Errors
    ///
    /// When the signal handlers cannot be installed, or the scheduler already ran.
    pub async fn run(&self) -> Result<(), Error> {
        let signals = Signals::install()?;
        self.run_inner(std::future::pending(), Some(signals)).await
    }

    /// Runs until `shutdown` resolves (or [`Scheduler::shutdown`] is called),
    /// then shuts down gracefully.
    ///
    /// # Errors
    ///
    /// When the scheduler already ran.
    pub async fn run_until(&self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        self.run_inner(shutdown, None).await
    }

    async fn run_inner(
        &self,
        shutdown: impl Future<Output = ()>,
        mut signals: Option<Signals>,
    ) -> Result<(), Error> {
        let inner = &self.inner;
        if inner.started.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyStarted);
        }
        inner.warn_about_setup();
        let mut queue = inner.first_ticks();
        if let Err(err) = inner.lock.on_start(inner.clock.now()).await {
            warn!(error = %err, "the lock backend did not answer at start; ticks wait for it");
        }
        control::publish(inner).await;
        crate::metrics::jobs_registered(inner.jobs.len());
        info!(jobs = inner.jobs.len(), "scheduler started");
        let stop_claims = CancellationToken::new();
        let stop_runs = CancellationToken::new();
        let mut control_poll = tokio::time::interval(control::POLL_EVERY);
        control_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let has_control = inner.lock.control().is_some();
        let mut republish = tokio::time::interval_at(
            tokio::time::Instant::now() + crate::lock::REPUBLISH_EVERY,
            crate::lock::REPUBLISH_EVERY,
        );
        let mut runs = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let sleep = match queue.peek() {
                Some(Reverse((tick, _))) => (*tick - inner.clock.now())
                    .to_std()
                    .unwrap_or_default()
                    .min(MAX_SLEEP),
                None => MAX_SLEEP,
            };
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = inner.shutdown.cancelled() => break,
                name = next_signal(&mut signals) => {
                    info!(signal = name, "shutdown requested");
                    break;
                }
                Some(_) = runs.join_next(), if !runs.is_empty() => {}
                _ = control_poll.tick(), if has_control => {
                    runs.spawn(control::poll(Arc::clone(inner), stop_claims.clone(), stop_runs.clone()));
                }
                _ = republish.tick(), if has_control => {
                    let inner = Arc::clone(inner);
                    runs.spawn(async move { control::publish(&inner).await });
                }
                () = tokio::time::sleep(sleep) => inner.dispatch_due(&mut queue, &mut runs, &stop_claims, &stop_runs),
            }
        }
        stop_claims.cancel();
        inner.drain(runs, stop_runs, signals).await;
        Ok(())
    }
}

impl Inner {
    fn new(
        jobs: Vec<JobEntry>,
        lock: Arc<dyn Lock>,
        clock: Arc<dyn Clock>,
        grace: Duration,
        cancel_grace: Duration,
        history_len: usize,
    ) -> Inner {
        let now = clock.now();
        for job in &jobs {
            job.status().next = job.schedule.next_after(now).filter(|_| job.options.enabled);
        }
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
            paused: Mutex::new(std::collections::BTreeMap::new()),
            instance,
            service: control::service_name(),
            history_len,
            claim_start,
        }
    }

    /// The place of job `index` in this instance's claim order.
    fn claim_rank(&self, index: usize) -> usize {
        (index + self.jobs.len() - self.claim_start) % self.jobs.len()
    }

    /// The job at place `rank` of this instance's claim order.
    fn job_at_rank(&self, rank: usize) -> usize {
        (rank + self.claim_start) % self.jobs.len()
    }

    fn warn_about_setup(&self) {
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

    /// The first tick of every enabled job, as a min-heap of (tick, claim rank).
    fn first_ticks(&self) -> BinaryHeap<Reverse<(DateTime<Utc>, usize)>> {
        let now = self.clock.now();
        let mut queue = BinaryHeap::with_capacity(self.jobs.len());
        for (index, job) in self.jobs.iter().enumerate() {
            let next = job.schedule.next_after(now).filter(|_| job.options.enabled);
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
                queue.push(Reverse((next, self.claim_rank(index))));
            }
        }
        queue
    }

    /// Starts a run for every tick that is due, applying the catch-up policy.
    fn dispatch_due(
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
        while let Some(&Reverse((tick, rank))) = queue.peek() {
            if tick > now {
                break;
            }
            queue.pop();
            let index = self.job_at_rank(rank);
            let job = &self.jobs[index];
            let (latest, missed, next) = latest_due(&job.schedule, tick, now);
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
            self.jobs[index].status().next = next;
            if let Some(next) = next {
                queue.push(Reverse((next, self.claim_rank(index))));
            }
        }
    }

    /// Whether the due tick `latest` (after `missed` earlier due ones) runs:
    /// not while the job is paused, and only as late as its catch-up policy
    /// allows. Logs and counts what is skipped.
    fn should_run(
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

    /// Graceful shutdown: wait for runs up to the grace period, then cancel them.
    async fn drain(
        &self,
        mut runs: JoinSet<()>,
        stop_runs: CancellationToken,
        mut signals: Option<Signals>,
    ) {
        info!(
            running = runs.len(),
            grace_ms = self.grace.as_millis() as u64,
            "shutdown: claiming no new ticks, waiting for running jobs"
        );
        let wait_all = async {
            let graceful = tokio::time::timeout(self.grace, async {
                while runs.join_next().await.is_some() {}
            })
            .await;
            if graceful.is_err() {
                warn!(
                    running = runs.len(),
                    "shutdown: grace period over, cancelling running jobs"
                );
                stop_runs.cancel();
                while runs.join_next().await.is_some() {}
            }
        };
        tokio::select! {
            () = wait_all => {}
            name = next_signal(&mut signals) => {
                warn!(signal = name, "second signal: exiting at once");
                std::process::exit(130);
            }
        }
        info!("scheduler stopped");
    }
}

/// The next signal, or never when the scheduler does not listen for signals.
async fn next_signal(signals: &mut Option<Signals>) -> &'static str {
    match signals {
        Some(signals) => signals.next().await,
        None => std::future::pending().await,
    }
}

/// The latest due tick from `tick` on, how many due ticks it passed, and the
/// tick after it (the first one not yet due).
fn latest_due(
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
fn ticks_between(schedule: &Schedule, after: DateTime<Utc>, before: DateTime<Utc>) -> u64 {
    let (_, passed, _) = latest_due(schedule, after, before);
    passed.saturating_sub(1)
}

impl JobEntry {
    /// Whether `tick` may still start at `now`, as late as the job's
    /// catch-up policy allows.
    fn still_runnable(&self, tick: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        let late = now - tick;
        match self.options.catch_up {
            CatchUp::Latest => {
                late < chrono::TimeDelta::from_std(self.timeout).unwrap_or(chrono::TimeDelta::MAX)
            }
            CatchUp::Skip => late < ON_TIME,
        }
    }

    fn new(
        name: String,
        schedule: Schedule,
        timeout: Duration,
        lock_ttl: Duration,
        options: JobOptions,
        origin: Origin,
        run: RunFn,
    ) -> JobEntry {
        JobEntry {
            name: name.into(),
            schedule,
            timeout,
            lock_ttl,
            options,
            origin,
            run,
            running: AtomicUsize::new(0),
            slot: claim::ClaimSlot::default(),
            status: Mutex::new(JobStatus::default()),
        }
    }

    fn status(&self) -> std::sync::MutexGuard<'_, JobStatus> {
        self.status
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.inner.jobs.iter().map(|job| &*job.name).collect();
        f.debug_struct("Scheduler")
            .field("jobs", &names)
            .field("lock", &self.inner.lock)
            .finish_non_exhaustive()
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
