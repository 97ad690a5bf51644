//! The fleet's shared state, kept in step in the background: pauses and
//! triggers polled every second, and the job list published for the
//! command line.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::claim::{self, Due, Manual};
use super::inner::Inner;
use super::jobs::{JobEntry, latest_due};
use super::start;
use crate::events::NotRun;
use crate::lock::control::is_backfill_run;
use crate::lock::{Control, JobSummary, TRIGGER_KEPT, Trigger};
use crate::options::CatchUp;

/// How often each instance reads the paused jobs and waiting triggers, so a
/// pause or a trigger reaches the fleet within this time.
pub(super) const POLL_EVERY: Duration = Duration::from_secs(1);

/// Runs kept in each job's history unless configured otherwise.
pub(super) const DEFAULT_HISTORY_LEN: usize = 20;

/// At start: the ticks due since the newest entry in a job's history, which
/// this instance will not run, are given up as `fleet_down` (no instance ran
/// them: the whole fleet, or its lock backend, was down) — the record waits
/// until no instance can claim them, and the backend refuses the ones an
/// instance still up claimed. For the jobs with a catch-up window, the ticks
/// within the window run instead: the job's first tick becomes the oldest of
/// them, so the due stage runs them as it runs any late tick (by the job's
/// catch-up policy). The pauses are read first: a paused job is left alone.
/// Failures leave the queue as it is.
pub(super) async fn missed_while_down(
    inner: &Inner,
    queue: &mut BinaryHeap<Reverse<(DateTime<Utc>, usize)>>,
) {
    let Some(control) = inner.lock.control() else {
        return;
    };
    let watched: Vec<usize> = (0..inner.jobs.len())
        .filter(|&index| inner.jobs[index].options.enabled)
        .collect();
    if watched.is_empty() {
        return;
    }
    let names: Vec<String> = watched
        .iter()
        .map(|&index| inner.jobs[index].name.to_string())
        .collect();
    let (state, last_runs) = match (control.fleet_state().await, control.last_runs(&names).await) {
        (Ok(state), Ok(last_runs)) => (state, last_runs),
        (Err(err), _) | (_, Err(err)) => {
            warn!(error = %err, "could not read the job histories at start: ticks missed while the fleet was down are not run or recorded");
            return;
        }
    };
    *inner.paused.lock().unwrap_or_else(|p| p.into_inner()) = state.paused;
    let now = inner.clock.now();
    let mut first: BTreeMap<usize, DateTime<Utc>> = BTreeMap::new();
    for (&index, last) in watched.iter().zip(last_runs) {
        let job = &inner.jobs[index];
        let Some(mut last) = last else { continue };
        // A backfill run is newest with a past tick: the gap starts at the
        // newest entry that is not one (one more read, after backfills only).
        if is_backfill_run(&last) {
            match control.history(&job.name).await {
                Ok(history) => match history.into_iter().find(|entry| !is_backfill_run(entry)) {
                    Some(entry) => last = entry,
                    None => continue,
                },
                Err(err) => {
                    debug!(job = %job.name, error = %err, "could not read the history at start");
                    continue;
                }
            }
        }
        if inner.is_paused(&job.name, now) {
            continue;
        }
        let catches_up =
            job.options.catch_up_window.is_some() && job.options.catch_up != CatchUp::Skip;
        // With a window, the ticks within it run (below); the older ones
        // cannot. Without one, this instance runs none of the ticks due
        // before it started: those an instance still up claims are not
        // recorded (the backend refuses them), the others are.
        let horizon = if catches_up {
            (now - job.catch_up_window() - job.start_offset).max(last.tick)
        } else {
            // Up to the tick before the first one this instance runs.
            let first_queued = job.status().next;
            first_queued
                .and_then(|next| next.checked_sub_signed(chrono::TimeDelta::milliseconds(1)))
                .unwrap_or(now)
                .min(now)
        };
        // The ticks after the last run, up to the horizon.
        let (_, lost, _) = latest_due(&job.schedule, last.tick, horizon);
        if lost > 0 {
            info!(job = %job.name, ticks = lost, last_run = %last.tick, "ticks due since the fleet's last run of this job that this instance will not run: recorded as not run unless another instance claims them");
            job.not_run(NotRun::FleetDown, job.schedule.next_after(last.tick), lost);
        }
        if !catches_up {
            continue;
        }
        let Some(oldest) = job
            .schedule
            .next_after(horizon)
            .filter(|tick| job.planned_start(*tick) <= now)
        else {
            continue;
        };
        info!(job = %job.name, from = %oldest, last_run = %last.tick, "catching up ticks missed while no instance ran this job");
        first.insert(inner.claim_rank(index), job.planned_start(oldest));
    }
    if first.is_empty() {
        return;
    }
    *queue = std::mem::take(queue)
        .into_iter()
        .map(|Reverse((start, rank))| Reverse((first.get(&rank).copied().unwrap_or(start), rank)))
        .collect();
}

/// One control poll: refreshes the pauses and runs the triggers of jobs
/// this instance has (a trigger of a job it does not have, or has disabled,
/// stays for an instance that has it).
pub(super) async fn poll(
    inner: Arc<Inner>,
    stop_claims: CancellationToken,
    stop_runs: CancellationToken,
) {
    let Some(control) = inner.lock.control() else {
        return;
    };
    super::not_run::write(&inner).await;
    let state = match control.fleet_state().await {
        Ok(state) => state,
        Err(err) => {
            debug!(error = %err, "could not read the pauses and triggers; keeping the last known pauses");
            return;
        }
    };
    *inner.paused.lock().unwrap_or_else(|p| p.into_inner()) = state.paused;
    // Backfills run in this poll's task (owned by the scheduler's run loop,
    // awaited at shutdown) beside its triggers.
    let mut backfills = JoinSet::new();
    super::backfill::follow(
        &inner,
        state.backfills,
        &stop_claims,
        &stop_runs,
        &mut backfills,
    );
    let triggers = triggers(&inner, control, state.triggers, stop_claims, stop_runs);
    tokio::join!(triggers, async {
        while backfills.join_next().await.is_some() {}
    });
}

/// Runs the triggers of jobs this instance has (a trigger of a job it does
/// not have, or has disabled, stays for an instance that has it).
async fn triggers(
    inner: &Arc<Inner>,
    control: &dyn Control,
    waiting: Vec<Trigger>,
    stop_claims: CancellationToken,
    stop_runs: CancellationToken,
) {
    // The backend answers again: a job list that could not be published
    // (the backend was down at start) is sent again soon, not in 6 hours,
    // so `cronlock list` and `prune` know these jobs run.
    let retry_in = inner.publish_retry_in.load(Ordering::Relaxed);
    if retry_in == 1 {
        publish(inner).await;
    } else if retry_in > 1 {
        inner
            .publish_retry_in
            .store(retry_in - 1, Ordering::Relaxed);
    }
    // A trigger taken during shutdown could not run: leave it for others.
    if waiting.is_empty() || stop_claims.is_cancelled() {
        return;
    }
    let now = inner.clock.now();
    let expired_before = now - chrono::Duration::from_std(TRIGGER_KEPT).unwrap_or_default();
    let mut due = Vec::new();
    for waiting in waiting {
        if waiting.queued < expired_before {
            if let Ok(Some(trigger)) = control.take_trigger(&waiting.job).await {
                warn!(job = ?trigger.job, queued = %trigger.queued, by = ?trigger.by, "trigger expired: no instance that runs this job took it within an hour");
            }
            continue;
        }
        let Some(job) = inner
            .jobs
            .iter()
            .find(|job| *job.name == *waiting.job && job.options.enabled)
        else {
            continue;
        };
        match control.take_trigger(&waiting.job).await {
            Ok(Some(trigger)) => {
                let tick = trigger_instant(now);
                info!(job = %job.name, tick = %tick, by = ?trigger.by, "triggered: running now");
                due.push(Due {
                    job: Arc::clone(job),
                    tick,
                    manual: Some(Manual::Trigger(trigger)),
                    catch_up: false,
                });
            }
            Ok(None) => {}
            Err(err) => debug!(job = %job.name, error = %err, "could not take a trigger"),
        }
    }
    if due.is_empty() {
        return;
    }
    let phase = start::StartPhase::begin();
    claim::run_due(Arc::clone(inner), due, phase, stop_claims, stop_runs).await;
}

/// The instant a manual run claims: now, to the millisecond, never on a
/// whole second, so a trigger never takes the place of a scheduled tick
/// (ticks are whole seconds).
pub(super) fn trigger_instant(now: DateTime<Utc>) -> DateTime<Utc> {
    let instant = now.trunc_subsecs(3);
    if instant.timestamp_subsec_millis() == 0 {
        instant + chrono::Duration::milliseconds(1)
    } else {
        instant
    }
}

/// Publishes this scheduler's jobs for the command line, and warns about
/// jobs another service registers under the same name on the same Redis
/// and prefix (the two would split the job's ticks between them).
pub(super) async fn publish(inner: &Inner) {
    // Only a distributed lock has a command line reading the list; an
    // in-process one would keep a second copy of every job for nobody.
    let Some(control) = inner.lock.control().filter(|_| inner.lock.is_distributed()) else {
        return;
    };
    let seen = inner.clock.now();
    // In slices: a large fleet's list never exists twice in memory at once,
    // and the allocator can reuse one slice's memory for the next.
    for slice in inner.jobs.chunks(PUBLISH_SLICE) {
        let jobs: Vec<JobSummary> = slice.iter().map(|job| summary(inner, job, seen)).collect();
        match control.publish_jobs(&jobs).await {
            Ok(others) => {
                for other in others {
                    warn!(
                        job = %other.name,
                        other_service = %other.service,
                        service = %inner.service,
                        "another service registers a job of the same name on this lock: the two split its ticks; give each service its own key prefix (CRONLOCK_PREFIX)"
                    );
                }
            }
            Err(err) => {
                warn!(error = %err, "could not publish the jobs for the command line; trying again in a minute");
                inner
                    .publish_retry_in
                    .store(PUBLISH_RETRY_POLLS, Ordering::Relaxed);
                return;
            }
        }
    }
    inner.publish_retry_in.store(0, Ordering::Relaxed);
}

/// A job as this instance publishes it, seen at `seen`.
pub(super) fn summary(inner: &Inner, job: &JobEntry, seen: DateTime<Utc>) -> JobSummary {
    JobSummary {
        name: job.name.to_string(),
        spec: job.schedule.source().to_owned(),
        tz: job.schedule.timezone().name().to_owned(),
        timeout: job.timeout,
        enabled: job.options.enabled,
        service: inner.service.clone(),
        instance: inner.instance.to_string(),
        seen,
    }
}

/// Control polls (about a second each) between tries of a failed publish.
const PUBLISH_RETRY_POLLS: u32 = 60;

/// Jobs published to the lock in one request.
const PUBLISH_SLICE: usize = 256;
