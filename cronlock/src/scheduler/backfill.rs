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
use crate::lock::{Backfill, Claim, ClaimRequest, Claimed, LockErrorKind, random_token};
use crate::options::Overlap;

/// The backfills this instance takes part in: per job, the backfill's id and
/// what ends its part (the backfill was cancelled or finished elsewhere).
pub(super) type Taking = HashMap<String, (String, CancellationToken)>;

/// How often an instance asks for a turn while another instance has it.
const NEXT_TURN_POLL: Duration = Duration::from_millis(500);

/// The wait before the progress of a started tick, or a turn's claim whose
/// reply was lost, is sent again (growing for the claim).
const RECORD_AGAIN: Duration = Duration::from_millis(200);

/// The shortest life of a turn's lock (a job's lock TTL is its timeout,
/// possibly under a second).
const MIN_TURN_TTL: Duration = Duration::from_secs(10);

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
    // A turn's claim is sent again with the same instant and token after a
    // lost reply (a grant it may have won is then its own) and when the
    // lock's clock lags this one (the instant comes due).
    let mut asking: Option<(DateTime<Utc>, String)> = None;
    let mut lost_replies = 0u32;
    while !ended.is_cancelled() {
        if inner.is_paused(&job.name, inner.clock.now()) {
            wait(POLL_EVERY, &ended).await;
            continue;
        }
        let (instant, token) = asking
            .get_or_insert_with(|| (trigger_instant(inner.clock.now()), random_token()))
            .clone();
        let request = ClaimRequest {
            job: &series,
            tick: instant,
            token: &token,
            ttl: turn_ttl(&job),
            overlap: Overlap::Skip,
            now: inner.clock.now(),
        };
        match inner.lock.claim(request).await {
            Ok(Claimed::Acquired(turn)) => {
                (asking, lost_replies) = (None, 0);
                let outcome = hold_turn(&inner, &job, &backfill.id, &turn, &ended, &runs).await;
                release(&inner, &job, &turn, &runs).await;
                match outcome {
                    Turn::Over => break,
                    Turn::Ran => {}
                    Turn::NoProgress => {
                        wait(NEXT_TURN_POLL, &ended).await;
                    }
                }
            }
            // Another instance's turn (or its instant): the next one.
            Ok(Claimed::StillRunning | Claimed::TickTaken) => {
                asking = None;
                wait(NEXT_TURN_POLL, &ended).await;
            }
            Ok(Claimed::TooEarly { retry_in }) => {
                wait(retry_in + Duration::from_millis(5), &ended).await;
            }
            Err(err) if err.kind() == LockErrorKind::Unavailable => {
                lost_replies += 1;
                debug!(error = %err, "no answer to a backfill turn's claim; sending it again");
                let again = (RECORD_AGAIN * lost_replies.min(5)).min(POLL_EVERY);
                wait(again, &ended).await;
            }
            Err(err) => {
                asking = None;
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

/// What a turn came to.
enum Turn {
    /// A tick's run started.
    Ran,
    /// Nothing moved (the backend did not answer, the run could not
    /// start): another turn, after a pause.
    NoProgress,
    /// The backfill is over (done, cancelled) or this part ended.
    Over,
}

/// How long a turn's lock lives unless extended: the job's lock TTL, and
/// never so short that reading the backfill could outlast it.
fn turn_ttl(job: &JobEntry) -> Duration {
    job.lock_ttl.max(MIN_TURN_TTL)
}

/// Takes a turn while holding it: extends its lock until the turn is over.
/// A lost turn (expired, taken over) gives up a run still waiting to start;
/// one already going goes on.
async fn hold_turn(
    inner: &Arc<Inner>,
    job: &Arc<JobEntry>,
    id: &str,
    turn: &Claim,
    ended: &CancellationToken,
    runs: &CancellationToken,
) -> Turn {
    let held = ended.child_token();
    let work = take_turn(inner, job, id, &held, ended, runs);
    tokio::pin!(work);
    let ttl = turn_ttl(job);
    let every = ttl / 3;
    let mut lease_end = Instant::now() + ttl;
    loop {
        tokio::select! {
            biased;
            outcome = &mut work => return outcome,
            () = tokio::time::sleep(every), if !held.is_cancelled() => {
                match inner.lock.extend(turn, ttl).await {
                    Ok(true) => lease_end = Instant::now() + ttl,
                    Ok(false) => {
                        if !ended.is_cancelled() {
                            warn!("the backfill's turn is lost (expired or taken over): another may run the next tick before this run ends");
                        }
                        held.cancel();
                    }
                    Err(err) if Instant::now() >= lease_end => {
                        warn!(error = %err, "could not hold the backfill's turn");
                        held.cancel();
                    }
                    Err(err) => debug!(error = %err, "could not extend the backfill's turn; retrying"),
                }
            }
        }
    }
}

/// A turn: the backfill as stored now, then its next tick run, or the
/// backfill ended when every tick has started. `held` is cancelled when the
/// turn is lost or this part ends.
async fn take_turn(
    inner: &Arc<Inner>,
    job: &Arc<JobEntry>,
    id: &str,
    held: &CancellationToken,
    ended: &CancellationToken,
    runs: &CancellationToken,
) -> Turn {
    let Some(control) = inner.lock.control() else {
        return Turn::Over;
    };
    let stored = match control.fleet_state().await {
        Ok(state) => state
            .backfills
            .into_iter()
            .find(|backfill| *backfill.job == *job.name && backfill.id == id),
        Err(err) => {
            debug!(error = %err, "could not read the backfill; trying again");
            return Turn::NoProgress;
        }
    };
    let Some(backfill) = stored else {
        info!("backfill ended elsewhere (finished or cancelled)");
        ended.cancel();
        return Turn::Over;
    };
    if held.is_cancelled() {
        return Turn::Over;
    }
    let next = match backfill.last {
        Some(last) => job.schedule.next_after(last),
        None => job.schedule.first_from(backfill.from),
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
                Turn::Over
            }
            Err(err) => {
                debug!(error = %err, "could not end the finished backfill; trying again");
                Turn::NoProgress
            }
        };
    };
    if run_tick(inner, job, backfill, tick, held, ended, runs).await {
        Turn::Ran
    } else {
        Turn::NoProgress
    }
}

/// Runs `tick` of the backfill until its run has ended; the tick is stored
/// as started the moment its run starts. Returns whether it started.
async fn run_tick(
    inner: &Arc<Inner>,
    job: &Arc<JobEntry>,
    mut backfill: Backfill,
    tick: DateTime<Utc>,
    held: &CancellationToken,
    ended: &CancellationToken,
    runs: &CancellationToken,
) -> bool {
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
        held.clone(),
        runs.clone(),
    );
    tokio::pin!(run);
    tokio::pin!(started_rx);
    let mut store: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>>> = None;
    let (mut cancelled, mut started, mut over) = (false, false, false);
    loop {
        tokio::select! {
            // The start before the end: a run over by now has started.
            biased;
            answer = &mut started_rx, if !started => {
                started = true;
                if answer.is_ok() {
                    backfill.done += count(job, backfill.last, backfill.from, tick);
                    backfill.last = Some(tick);
                    store = Some(Box::pin(record_started(inner, backfill.clone(), ended, runs)));
                } else {
                    started = false;
                    break;
                }
            }
            () = async { if let Some(store) = store.as_mut() { store.await } }, if store.is_some() => {
                store = None;
            }
            () = &mut run => {
                over = true;
                break;
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
        }
    }
    if !over {
        (&mut run).await;
    }
    if let Some(store) = store {
        store.await;
    }
    started
}

/// Stores that the backfill's newest tick has started (the next turn runs
/// the tick after it), sent again while the backend does not answer. A
/// backfill no longer stored was cancelled: its run is cancelled too.
async fn record_started(
    inner: &Inner,
    backfill: Backfill,
    ended: &CancellationToken,
    runs: &CancellationToken,
) {
    let Some(control) = inner.lock.control() else {
        return;
    };
    loop {
        match control.update_backfill(&backfill).await {
            Ok(true) => return,
            Ok(false) => {
                info!("backfill cancelled as its tick started: cancelling the run");
                ended.cancel();
                runs.cancel();
                return;
            }
            Err(err) if err.kind() == LockErrorKind::Unavailable => {
                debug!(error = %err, "could not store the backfill's progress; trying again");
                if !wait(RECORD_AGAIN, ended).await {
                    warn!(
                        "shutting down before the backfill's progress was stored: another instance may run this tick again"
                    );
                    return;
                }
            }
            Err(err) => {
                warn!(error = %err, "could not store the backfill's progress: the next turn may run this tick again");
                return;
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
    let until = Instant::now() + turn_ttl(job);
    super::release::release(&*inner.lock, turn, until, runs).await;
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
        None => job.schedule.first_from(from),
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
