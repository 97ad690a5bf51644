//! The scheduler's loop: one task that sleeps until the earliest tick,
//! hands the due ticks on, polls the fleet's control state, and shuts down
//! gracefully.

use std::cmp::Reverse;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::inner::Inner;
use super::report::JobInfo;
use super::{control, not_run};
use crate::error::Error;
use crate::shutdown::Signals;

/// The longest the loop sleeps before re-reading the clock, so a clock that
/// was stepped (NTP, a resumed VM) is noticed within this bound.
const MAX_SLEEP: Duration = Duration::from_secs(5);

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
    pub(super) inner: Arc<Inner>,
}

impl Scheduler {
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

    /// What happens to the jobs on this instance from now on: finished
    /// runs, ticks not run and why, runs that lost their lock (see
    /// [`Event`](crate::Event)). Each call is a new subscriber; one that
    /// falls more than [`EVENTS_KEPT`](crate::EVENTS_KEPT) events behind
    /// misses the oldest and is told how many.
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<crate::Event> {
        self.inner.events.subscribe()
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
        control::missed_while_down(inner, &mut queue).await;
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
        // The ticks given up since the last control poll, before exiting.
        let _ = tokio::time::timeout(not_run::LAST_WRITE, not_run::write(inner)).await;
        Ok(())
    }
}

impl Inner {
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

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.inner.jobs.iter().map(|job| &*job.name).collect();
        f.debug_struct("Scheduler")
            .field("jobs", &names)
            .field("lock", &self.inner.lock)
            .finish_non_exhaustive()
    }
}
