//! Backfills: every tick of a past range of a job, run once each
//! fleet-wide and in order, by whichever instances have the job.
//!
//! A backfill's ticks are claimed in a series of their own (see [`series`])
//! with `overlap = "skip"`: the lock grants each tick once, and the next one
//! only after the run of the one before has released it, whichever instance
//! ran it; an instance that dies mid-run lets the next tick go when its lock
//! expires. Each run is a manual run of the job, claimed at an instant that
//! is not a tick, so the job's overlap policy holds between backfill runs
//! and scheduled ones (a backfill run waits for a scheduled run holding the
//! lock; a scheduled tick of a `skip` job finding a backfill run going is
//! skipped).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::claim::{self, Due, Manual};
use super::control::{POLL_EVERY, trigger_instant};
use super::inner::Inner;
use super::jobs::JobEntry;
use super::start::StartPhase;
use crate::lock::{Backfill, Claim, ClaimRequest, Claimed, random_token};
use crate::options::Overlap;

/// The backfills this instance takes part in: per job, the backfill's id and
/// what ends its part (the backfill was cancelled or finished elsewhere).
pub(super) type Taking = HashMap<String, (String, CancellationToken)>;

/// How often an instance asks for the next tick while another instance's
/// run of the tick before holds the series.
const NEXT_TICK_POLL: Duration = Duration::from_millis(500);

/// The claim series of a backfill: the job's name and the backfill's id, so
/// a later backfill of the same range runs every tick again. The separator
/// (U+001F, unit separator) is not in any sensible job name.
pub(super) fn series(job: &str, id: &str) -> String {
    format!("{job}\u{1f}backfill\u{1f}{id}")
}

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

/// This instance's part in a backfill: claims its ticks in order and runs
/// each it wins, until every tick is taken (then ends it, if no other
/// instance did), or `ended` (cancelled, finished elsewhere, or shutdown).
/// A cancelled backfill cancels its run going here too.
async fn drive(
    inner: Arc<Inner>,
    job: Arc<JobEntry>,
    mut backfill: Backfill,
    ended: CancellationToken,
    runs: CancellationToken,
) {
    info!(from = %backfill.from, to = %backfill.to, by = ?backfill.by, "backfill: taking part");
    let series = series(&job.name, &backfill.id);
    let mut next = match backfill.last {
        Some(last) => job.schedule.next_after(last),
        None => first_tick(&job, backfill.from),
    };
    while !ended.is_cancelled() {
        let Some(tick) = next.filter(|tick| *tick <= backfill.to) else {
            finish(&inner, &job, &backfill, &ended).await;
            break;
        };
        if inner.is_paused(&job.name, inner.clock.now()) {
            wait(POLL_EVERY, &ended).await;
            continue;
        }
        let token = random_token();
        let request = ClaimRequest {
            job: &series,
            tick,
            token: &token,
            ttl: job.lock_ttl,
            overlap: Overlap::Skip,
            now: inner.clock.now(),
        };
        match inner.lock.claim(request).await {
            Ok(Claimed::Acquired(claim)) => {
                backfill.done += count(&job, backfill.last, backfill.from, tick);
                backfill.last = Some(tick);
                run_tick(&inner, &job, &backfill, claim, &ended, &runs).await;
                next = job.schedule.next_after(tick);
            }
            // Run (or being run) by another instance.
            Ok(Claimed::TickTaken) => next = job.schedule.next_after(tick),
            Ok(Claimed::StillRunning) => {
                wait(NEXT_TICK_POLL, &ended).await;
            }
            Ok(Claimed::TooEarly { retry_in }) => {
                wait(retry_in, &ended).await;
            }
            Err(err) => {
                debug!(error = %err, "could not claim a backfill tick; trying again");
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

/// Runs a backfill tick this instance won in the series, holding the
/// series' lock until the run has ended, then releases it for the next.
async fn run_tick(
    inner: &Arc<Inner>,
    job: &Arc<JobEntry>,
    backfill: &Backfill,
    claim: Claim,
    ended: &CancellationToken,
    runs: &CancellationToken,
) {
    let tick = backfill.last.unwrap_or(claim.tick);
    if let Some(control) = inner.lock.control() {
        match control.update_backfill(backfill).await {
            Ok(true) => {}
            Ok(false) => {
                info!(tick = %tick, "backfill ended elsewhere (cancelled): not running this tick");
                ended.cancel();
                release(inner, job, &claim).await;
                return;
            }
            Err(err) => debug!(error = %err, "could not record the backfill's progress"),
        }
    }
    info!(tick = %tick, done = backfill.done, "backfill: running a tick");
    let due = Due {
        job: Arc::clone(job),
        tick: trigger_instant(inner.clock.now()),
        manual: Some(Manual::Backfill {
            tick,
            by: backfill.by.clone(),
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
    let mut cancelled = false;
    let mut lease_end = Instant::now() + job.lock_ttl;
    let every = (job.lock_ttl / 3).max(Duration::from_millis(100));
    loop {
        tokio::select! {
            () = &mut run => break,
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
                // Holds the series while the run lasts, as the watchdog holds
                // a run lock; lost, the next tick may start elsewhere early.
                match inner.lock.extend(&claim, job.lock_ttl).await {
                    Ok(true) => lease_end = Instant::now() + job.lock_ttl,
                    Ok(false) => warn!(tick = %tick, "the backfill's series lock is lost: the next tick may start before this run ends"),
                    Err(err) if Instant::now() >= lease_end => warn!(error = %err, "could not hold the backfill's series lock"),
                    Err(err) => debug!(error = %err, "could not extend the backfill's series lock; retrying"),
                }
            }
        }
    }
    release(inner, job, &claim).await;
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

/// Frees the series for the next tick. A release that cannot get through
/// leaves it to the lock's TTL: the next tick waits that long, none is lost.
async fn release(inner: &Inner, job: &JobEntry, claim: &Claim) {
    let until = Instant::now() + job.lock_ttl;
    super::release::release(&*inner.lock, claim, until, &CancellationToken::new()).await;
}

/// Every tick is taken: the backfill is ended here (unless another
/// instance ended it first).
async fn finish(inner: &Inner, job: &JobEntry, backfill: &Backfill, ended: &CancellationToken) {
    let Some(control) = inner.lock.control() else {
        return;
    };
    loop {
        match control.end_backfill(&job.name, Some(&backfill.id)).await {
            Ok(Some(ended)) => {
                info!(
                    ticks = ended.done,
                    "backfill finished: every tick of the range was taken"
                );
                return;
            }
            Ok(None) => return,
            Err(err) => {
                debug!(error = %err, "could not end the finished backfill; trying again");
                if !wait(POLL_EVERY, ended).await {
                    return;
                }
            }
        }
    }
}

/// The backfill's first tick: the first at or after `from`.
pub(super) fn first_tick(job: &JobEntry, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
    job.schedule
        .next_after(from - chrono::Duration::milliseconds(1))
}

/// How many ticks `tick` adds to the count taken: those after `last` (or
/// from `from`) up to it, the ones between taken elsewhere included.
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
