//! Backfills: every tick of a past range of a job, run once each
//! fleet-wide and in order, by whichever instances have the job.
//!
//! A backfill goes in turns. A turn is a claim of the backfill's series (see
//! [`backfill_series`]) at an instant, with `overlap = "skip"`: the lock
//! grants one turn at a time fleet-wide, and the next only once the holder
//! has released it (or its lock expired: the holder died). The holder reads
//! where the backfill stands (the newest tick started, stored with it), runs
//! the next tick and stores it as started the moment its run starts — or,
//! every tick started, ends the backfill. A run that could not start (the
//! job's lock refused, a shutdown) leaves the tick for the next turn; a
//! holder that dies mid-run does not get its tick run again (as for a
//! scheduled tick). Each run is a manual run of the job, claimed at an
//! instant that is not a tick, so the job's overlap policy holds between
//! backfill runs and scheduled ones (a backfill run waits for a scheduled
//! run holding the lock; a scheduled tick of a `skip` job finding a backfill
//! run going is skipped).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::claim::{self, Due, Manual};
use super::control::{POLL_EVERY, trigger_instant};
use super::inner::Inner;
use super::jobs::JobEntry;
use super::start::StartPhase;
use crate::lock::control::backfill_series;
use crate::lock::{Backfill, Claim, ClaimRequest, Claimed, random_token};
use crate::options::Overlap;

/// The backfills this instance takes part in: per job, the backfill's id and
/// what ends its part (the backfill was cancelled or finished elsewhere).
pub(super) type Taking = HashMap<String, (String, CancellationToken)>;

/// How often an instance asks for a turn while another instance has it.
const NEXT_TURN_POLL: Duration = Duration::from_millis(500);

/// The wait before the progress of a started tick is sent again.
const RECORD_AGAIN: Duration = Duration::from_millis(200);

/// At a control poll: ends this instance's part in backfills no longer
/// stored (cancelled, or finished by another instance), and starts a part in
/// new ones of jobs it has enabled. The parts started run in `parts`.
pub(super) fn follow(
    inner: &Arc<Inner>,
    stored: Vec<Backfill>,
    stop_claims: &CancellationToken,
    stop_runs: &CancellationToken,
    parts: &mut JoinSet<()>,
) {
    let mut taking = inner.backfills.lock().unwrap_or_else(|p| p.into_inner());
    taking.retain(|job, (id, ended)| {
        let still = stored.iter().any(|b| b.job == *job && b.id == *id);
        if !still {
            ended.cancel();
        }
        still
    });
    if stop_claims.is_cancelled() {
        return;
    }
    for backfill in stored {
        if taking.contains_key(&backfill.job) {
            continue;
        }
        let Some(job) = inner
            .jobs
            .iter()
            .find(|job| *job.name == *backfill.job && job.options.enabled)
        else {
            continue;
        };
        let ended = stop_claims.child_token();
        taking.insert(backfill.job.clone(), (backfill.id.clone(), ended.clone()));
        let span = info_span!("backfill", job = %job.name, id = %backfill.id);
        parts.spawn(
            drive(
                Arc::clone(inner),
                Arc::clone(job),
                backfill,
                ended,
                stop_runs.child_token(),
            )
            .instrument(span),
        );
    }
}

/// This instance's part in a backfill: takes turns until the backfill is
/// done or `ended` (cancelled, finished elsewhere, or shutdown). A cancelled
/// backfill cancels its run going here too.
async fn drive(
    inner: Arc<Inner>,
    job: Arc<JobEntry>,
    backfill: Backfill,
    ended: CancellationToken,
    runs: CancellationToken,
) {
    info!(from = %backfill.from, to = %backfill.to, by = ?backfill.by, "backfill: taking part");
    let series = backfill_series(&job.name, &backfill.id);
    while !ended.is_cancelled() {
        if inner.is_paused(&job.name, inner.clock.now()) {
            wait(POLL_EVERY, &ended).await;
            continue;
        }
        let token = random_token();
        let now = inner.clock.now();
        let request = ClaimRequest {
            job: &series,
            tick: trigger_instant(now),
            token: &token,
            ttl: job.lock_ttl,
            overlap: Overlap::Skip,
            now,
        };
        match inner.lock.claim(request).await {
            Ok(Claimed::Acquired(turn)) => {
                let go_on = take_turn(&inner, &job, &backfill.id, &turn, &ended, &runs).await;
                release(&inner, &job, &turn, &runs).await;
                if !go_on {
                    break;
                }
            }
            // Another instance's turn (or its instant): the next one.
            Ok(Claimed::StillRunning | Claimed::TickTaken) => {
                wait(NEXT_TURN_POLL, &ended).await;
            }
            Ok(Claimed::TooEarly { retry_in }) => {
                wait(retry_in, &ended).await;
            }
            Err(err) => {
                debug!(error = %err, "could not claim a backfill turn; trying again");
                wait(POLL_EVERY, &ended).await;
            }
        }
    }
    let mut taking = inner.backfills.lock().unwrap_or_else(|p| p.into_inner());
    if taking
        .get(&*job.name)
        .is_some_and(|(id, _)| *id == backfill.id)
    {
        taking.remove(&*job.name);
    }
}

/// A turn: the backfill as stored now, then its next tick run, or the
/// backfill ended when every tick has started. Returns whether to take
/// another turn.
async fn take_turn(
    inner: &Arc<Inner>,
    job: &Arc<JobEntry>,
    id: &str,
    turn: &Claim,
    ended: &CancellationToken,
    runs: &CancellationToken,
) -> bool {
    let Some(control) = inner.lock.control() else {
        return false;
    };
    let stored = match control.fleet_state().await {
        Ok(state) => state
            .backfills
            .into_iter()
            .find(|backfill| *backfill.job == *job.name && backfill.id == id),
        Err(err) => {
            debug!(error = %err, "could not read the backfill; trying again");
            return true;
        }
    };
    let Some(backfill) = stored else {
        info!("backfill ended elsewhere (finished or cancelled)");
        ended.cancel();
        return false;
    };
    let next = match backfill.last {
        Some(last) => job.schedule.next_after(last),
        None => first_tick(job, backfill.from),
    };
    let Some(tick) = next.filter(|tick| *tick <= backfill.to) else {
        // Every tick has started, and no run of it holds a turn: done.
        return match control.end_backfill(&job.name, Some(id)).await {
            Ok(done) => {
                if let Some(done) = done {
                    info!(
                        ticks = done.done,
                        "backfill finished: every tick of the range ran"
                    );
                }
                false
            }
            Err(err) => {
                debug!(error = %err, "could not end the finished backfill; trying again");
                true
            }
        };
    };
    run_tick(inner, job, backfill, tick, turn, ended, runs).await;
    true
}

/// Runs `tick` of the backfill, holding the turn until the run has ended;
/// the tick is stored as started the moment its run starts.
async fn run_tick(
    inner: &Arc<Inner>,
    job: &Arc<JobEntry>,
    mut backfill: Backfill,
    tick: DateTime<Utc>,
    turn: &Claim,
    ended: &CancellationToken,
    runs: &CancellationToken,
) {
    info!(tick = %tick, done = backfill.done, "backfill: running a tick");
    let (started_tx, started_rx) = oneshot::channel();
    let due = Due {
        job: Arc::clone(job),
        tick: trigger_instant(inner.clock.now()),
        manual: Some(Manual::Backfill {
            tick,
            by: backfill.by.clone(),
            started: Some(started_tx),
        }),
        catch_up: false,
    };
    let run = claim::run_due(
        Arc::clone(inner),
        vec![due],
        StartPhase::begin(),
        ended.clone(),
        runs.clone(),
    );
    tokio::pin!(run);
    tokio::pin!(started_rx);
    let (mut cancelled, mut started) = (false, false);
    let mut lease_end = Instant::now() + job.lock_ttl;
    let every = (job.lock_ttl / 3).max(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = &mut run => break,
            answer = &mut started_rx, if !started => {
                started = true;
                if answer.is_ok() {
                    backfill.done += count(job, backfill.last, backfill.from, tick);
                    backfill.last = Some(tick);
                    record_started(inner, &backfill, ended, runs).await;
                }
            }
            () = ended.cancelled(), if !cancelled => {
                // Cancelled (or shutdown): the run is cancelled too, unless
                // this is a shutdown, whose grace the run keeps.
                cancelled = true;
                if is_cancel(inner, job, &backfill.id) {
                    info!(tick = %tick, "backfill cancelled: cancelling its run");
                    runs.cancel();
                }
            }
            () = tokio::time::sleep(every) => {
                // Holds the turn while the run lasts, as the watchdog holds
                // a run lock; lost, the next turn may start elsewhere early.
                match inner.lock.extend(turn, job.lock_ttl).await {
                    Ok(true) => lease_end = Instant::now() + job.lock_ttl,
                    Ok(false) => warn!(tick = %tick, "the backfill's turn is lost: the next tick may start before this run ends"),
                    Err(err) if Instant::now() >= lease_end => warn!(error = %err, "could not hold the backfill's turn"),
                    Err(err) => debug!(error = %err, "could not extend the backfill's turn; retrying"),
                }
            }
        }
    }
}

/// Stores that the backfill's newest tick has started. A backfill no longer
/// stored was cancelled: its run is cancelled too.
async fn record_started(
    inner: &Inner,
    backfill: &Backfill,
    ended: &CancellationToken,
    runs: &CancellationToken,
) {
    let Some(control) = inner.lock.control() else {
        return;
    };
    // Sent again until it gets through or the backfill is over: a turn
    // that cannot say its tick started would have the next turn run it again.
    loop {
        match control.update_backfill(backfill).await {
            Ok(true) => return,
            Ok(false) => {
                info!("backfill cancelled as its tick started: cancelling the run");
                ended.cancel();
                runs.cancel();
                return;
            }
            Err(err) => {
                debug!(error = %err, "could not store the backfill's progress; trying again");
                if !wait(RECORD_AGAIN, ended).await {
                    return;
                }
            }
        }
    }
}

/// Whether this instance's part ended because the backfill is gone (the
/// control poll no longer lists it), not for a shutdown of this instance.
fn is_cancel(inner: &Inner, job: &JobEntry, id: &str) -> bool {
    inner
        .backfills
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&*job.name)
        .is_none_or(|(taking, _)| taking != id)
}

/// Frees the turn. A release that cannot get through leaves it to the lock's
/// TTL (the next turn waits that long), or to a shutdown past its grace.
async fn release(inner: &Inner, job: &JobEntry, turn: &Claim, runs: &CancellationToken) {
    let until = Instant::now() + job.lock_ttl;
    super::release::release(&*inner.lock, turn, until, runs).await;
}

/// The backfill's first tick: the first at or after `from`.
pub(super) fn first_tick(job: &JobEntry, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
    job.schedule.next_after(
        from.checked_sub_signed(chrono::Duration::milliseconds(1))
            .unwrap_or(from),
    )
}

/// How many ticks `tick` adds to the count started: those after `last` (or
/// from `from`) up to it.
fn count(
    job: &JobEntry,
    last: Option<DateTime<Utc>>,
    from: DateTime<Utc>,
    tick: DateTime<Utc>,
) -> u64 {
    let mut counted = 0;
    let mut next = match last {
        Some(last) => job.schedule.next_after(last),
        None => first_tick(job, from),
    };
    while let Some(at) = next.filter(|at| *at <= tick) {
        counted += 1;
        next = job.schedule.next_after(at);
    }
    counted
}

/// Sleeps `duration` unless `ended` first; false when ended.
async fn wait(duration: Duration, ended: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(duration) => true,
        () = ended.cancelled() => false,
    }
}
