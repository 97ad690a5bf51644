//! Claiming due ticks: in batches, sent again with the same token after a
//! lost reply, waiting for the lock's clock when this one runs ahead, and
//! at most one claim pending per job.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::inner::Inner;
use super::jobs::JobEntry;
use super::start::{Attempt, PhaseShare, RunKind};
use super::supervise::run_claimed;
use crate::events::NotRun;
use crate::lock::{Claim, ClaimRequest, Claimed, LockErrorKind, Trigger, random_token};
use crate::metrics;
use crate::options::{CatchUp, Overlap};

/// Ticks claimed in one request to the lock, by one task.
pub(super) const CLAIM_BATCH: usize = crate::lock::MAX_CLAIM_BATCH;

/// The first wait before a claim whose answer was lost is sent again; it
/// doubles up to [`MAX_RETRY_WAIT`].
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(100);
const MAX_RETRY_WAIT: Duration = Duration::from_secs(1);

/// How long an instance waits before claiming a tick of a job whose last
/// tick it claimed was taken by another instance. That instance claims
/// first and almost always wins, so the others' claims, which would lose,
/// stay out of the burst of claims at each tick; if it stopped, the job
/// runs this much late once and then on the instance that took it over.
/// Never more than half the time the tick may still start (its catch-up
/// rule), so the claim goes out while the tick can run.
pub(super) const TAKEN_ELSEWHERE_WAIT: Duration = Duration::from_millis(100);

/// A tick this instance wants to run.
pub(super) struct Due {
    pub(super) job: Arc<JobEntry>,
    pub(super) tick: DateTime<Utc>,
    /// For a manual run, what asked for it.
    pub(super) manual: Option<Manual>,
    /// The tick was missed (due a second or more before it was claimed).
    pub(super) catch_up: bool,
}

/// What asked for a manual run. Its claim is of an instant that is not a
/// tick (see `control::trigger_instant`), so it never takes a scheduled
/// tick's place, and the job's overlap policy applies to it.
pub(super) enum Manual {
    /// A trigger: put back when the run cannot start yet, so it is never
    /// dropped.
    Trigger(Trigger),
    /// A tick of a backfill, run in its turn (see `backfill`): the run is
    /// for this tick (`ctx.tick()`, the history), and waits for a run
    /// holding the job's lock instead of being skipped.
    Backfill {
        tick: DateTime<Utc>,
        by: Option<String>,
        /// Told the moment the run starts (its turn stores the tick as
        /// started then).
        started: Option<tokio::sync::oneshot::Sender<()>>,
    },
}

impl Due {
    /// When its run was to start: a manual run at once, a tick after the
    /// job's jitter offset.
    fn planned_start(&self) -> DateTime<Utc> {
        match self.manual {
            Some(_) => self.tick,
            None => self.job.planned_start(self.tick),
        }
    }

    /// What the run is for, as its context says.
    fn kind(&self) -> RunKind {
        match &self.manual {
            Some(Manual::Backfill { tick, .. }) => RunKind::Backfill(*tick),
            _ if self.catch_up => RunKind::CatchUp,
            _ => RunKind::Scheduled,
        }
    }

    /// How long to wait at `now` before claiming: [`TAKEN_ELSEWHERE_WAIT`]
    /// (at most half the time the tick may still start) when another
    /// instance took the last tick of the job this instance claimed; else
    /// none. Manual runs never wait.
    fn wait_for_owner(&self, now: DateTime<Utc>) -> Duration {
        if self.manual.is_some() || !self.job.taken_elsewhere.load(Ordering::Relaxed) {
            return Duration::ZERO;
        }
        TAKEN_ELSEWHERE_WAIT.min(self.job.runnable_for(self.tick, now) / 2)
    }

    /// The tick, unless this is a manual run (claimed at an instant that is
    /// not a tick, so never recorded as a tick not run).
    fn scheduled_tick(&self) -> Option<DateTime<Utc>> {
        self.manual.is_none().then_some(self.tick)
    }

    /// Who asked for a manual run, for the history.
    fn origin(&self) -> Option<String> {
        match self.manual.as_ref()? {
            Manual::Trigger(trigger) => Some(format!(
                "triggered by {}",
                trigger.by.as_deref().unwrap_or("Scheduler::trigger")
            )),
            // In brackets after the instance: `lock::control::BACKFILL_RUN`.
            Manual::Backfill { by, .. } => Some(format!(
                "backfill by {}",
                by.as_deref().unwrap_or("Fleet::backfill")
            )),
        }
    }

    /// A tick that, finding a run holding the lock, waits for it to end
    /// (within the catch-up window) instead of being skipped: any tick of
    /// an `overlap = "buffer_one"` or `"replace"` job, and a missed tick of a
    /// `catch_up = "all"` job (so the missed ticks run in order).
    fn waits_for_the_lock(&self) -> bool {
        let options = &self.job.options;
        if let Some(manual) = &self.manual {
            return matches!(manual, Manual::Backfill { .. });
        }
        (matches!(options.overlap, Overlap::BufferOne | Overlap::Replace)
            || (self.catch_up && options.catch_up == CatchUp::All))
    }
}

/// How often a missed tick that waits for a run to end asks again.
const LOCK_WAIT_POLL: Duration = Duration::from_millis(200);

/// A claim being tried, and what it waits for.
struct Pending {
    due: Due,
    token: String,
    /// Sends so far whose answer did not come.
    lost: u32,
    /// The lock said the tick is not due yet by its clock.
    too_early: bool,
    wake: Instant,
    /// When this token was first sent: a run lock it may have won lives
    /// until then plus the job's lock TTL.
    first_sent: Option<Instant>,
    /// This instance won the claim (set when its run starts).
    won: bool,
    /// The claim waits for the instance that took the job's last tick
    /// ([`TAKEN_ELSEWHERE_WAIT`]) and was not sent yet.
    waits_for_owner: bool,
    /// The tick came due while this instance's claim of an earlier tick was
    /// still pending, and that claim won: the lock it finds held is that
    /// run's, which started after this tick was due (a stalled Redis
    /// answered both late). It waits for that run instead of being skipped:
    /// no run was going when it came due.
    behind_own_run: bool,
}

impl Pending {
    fn new(due: Due) -> Pending {
        Pending {
            due,
            token: random_token(),
            lost: 0,
            too_early: false,
            wake: Instant::now(),
            first_sent: None,
            won: false,
            waits_for_owner: false,
            behind_own_run: false,
        }
    }

    fn span(&self) -> tracing::Span {
        info_span!("job", job = %self.due.job.name, tick = %self.due.tick)
    }
}

/// Claims a batch of due ticks and runs the ticks this instance won, each
/// in its own task; claims that could not be decided yet are sent again
/// until they are, or until their tick can no longer run. Waits for every
/// run it started.
pub(super) async fn run_due(
    inner: Arc<Inner>,
    due: Vec<Due>,
    phase: PhaseShare,
    stop_claims: CancellationToken,
    stop_runs: CancellationToken,
) {
    let mut phase = Some(phase);
    let mut runs = JoinSet::new();
    let mut pending: Vec<Pending> = Vec::with_capacity(due.len());
    // One reading for the batch: the ticks were due together.
    let dispatched = inner.clock.now();
    for due in due {
        if due.job.options.overlap == Overlap::Replace && due.manual.is_none() {
            replace_running(&due);
        }
        let busy = due.job.options.overlap.is_exclusive()
            && due.job.running.load(Ordering::SeqCst) > 0
            && !due.waits_for_the_lock();
        if busy {
            let item = Pending::new(due);
            item.span()
                .in_scope(|| info!("skipped: the previous run is still going"));
            if item.due.manual.is_none() {
                item.due
                    .job
                    .not_run(NotRun::SkippedOverlap, Some(item.due.tick), 1);
            }
            give_back(&inner, &item, &mut runs);
            pending.extend(finish(&inner, item));
        } else {
            let mut item = Pending::new(due);
            let wait = item.due.wait_for_owner(dispatched);
            item.wake += wait;
            item.waits_for_owner = !wait.is_zero();
            pending.push(item);
        }
    }
    while !pending.is_empty() {
        let now = Instant::now();
        let (ready, mut waiting): (Vec<_>, Vec<_>) =
            pending.into_iter().partition(|item| item.wake <= now);
        if ready.is_empty() {
            // Nothing of this batch starts now: the other batches' runs
            // must not wait for it to finish starting.
            phase = None;
        } else {
            claim_and_start(
                &inner,
                ready,
                phase.take(),
                &stop_runs,
                &mut runs,
                &mut waiting,
            )
            .await;
        }
        pending = waiting;
        let Some(wake) = pending.iter().map(|item| item.wake).min() else {
            break;
        };
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            () = stop_claims.cancelled() => {
                for item in std::mem::take(&mut pending) {
                    let job = Arc::clone(&item.due.job);
                    let newer = if item.waits_for_owner {
                        drop_waiting(&inner, item, NotRun::Missed, "shutting down")
                    } else {
                        give_up(&inner, item, &mut runs, &stop_runs, "shutting down")
                    };
                    if newer.is_some() {
                        abandon(&job);
                    }
                }
                break;
            }
        }
        pending = revise(&inner, pending, &mut runs, &stop_runs);
    }
    drop(phase);
    while runs.join_next().await.is_some() {}
}

/// `overlap = "replace"`: a run of the job going on this instance is
/// cancelled, so the lock is free for `due` once it has stopped (the claim
/// waits for it).
fn replace_running(due: &Due) {
    if due.job.running.load(Ordering::SeqCst) == 0 {
        return;
    }
    let token = due.job.status().replaceable.take();
    if let Some(token) = token {
        info!(job = %due.job.name, tick = %due.tick, "cancelling the running run: the new tick replaces it (overlap = replace)");
        token.cancel();
    }
}

/// Claims `ready` in one request and starts every tick this instance won;
/// claims to send again go to `again`.
async fn claim_and_start(
    inner: &Arc<Inner>,
    ready: Vec<Pending>,
    phase: Option<PhaseShare>,
    stop_runs: &CancellationToken,
    runs: &mut JoinSet<()>,
    again: &mut Vec<Pending>,
) {
    let now = inner.clock.now();
    let sent = Instant::now();
    let requests: Vec<ClaimRequest<'_>> = ready
        .iter()
        .map(|item| ClaimRequest {
            job: &item.due.job.name,
            tick: item.due.tick,
            token: &item.token,
            ttl: item.due.job.lock_ttl,
            overlap: item.due.job.options.overlap,
            now,
        })
        .collect();
    let answers = inner.lock.claim_many(&requests).await;
    drop(requests);
    let mut ready = ready;
    for item in &mut ready {
        item.first_sent.get_or_insert(sent);
        item.waits_for_owner = false;
    }
    let mut started = Vec::with_capacity(ready.len());
    let mut done = Vec::new();
    for (mut item, answer) in ready.into_iter().zip(answers) {
        let span = item.span();
        match answer {
            Ok(Claimed::Acquired(claim)) => {
                // Counted before the task starts, so the next tick sees it running.
                item.due.job.running.fetch_add(1, Ordering::SeqCst);
                // The job's own task starts now; its supervisor (timeout,
                // watchdog, release, history) is spawned once every batch due
                // at this instant has spawned its jobs (see StartPhase).
                let run_cancel = stop_runs.child_token();
                if item.due.job.options.overlap == Overlap::Replace {
                    item.due.job.status().replaceable = Some(run_cancel.clone());
                }
                let first = Attempt::start(
                    inner,
                    &item.due.job,
                    &claim,
                    1,
                    item.due.kind(),
                    &run_cancel,
                    &span,
                );
                metrics::lateness(
                    &item.due.job.name,
                    inner.clock.now() - item.due.planned_start(),
                );
                let origin = item.due.origin();
                if let Some(Manual::Backfill { started, .. }) = &mut item.due.manual
                    && let Some(started) = started.take()
                {
                    let _ = started.send(());
                }
                item.won = true;
                if item.due.manual.is_none() {
                    item.due.job.taken_elsewhere.store(false, Ordering::Relaxed);
                }
                started.push((
                    Arc::clone(&item.due.job),
                    claim,
                    run_cancel,
                    first,
                    span,
                    origin,
                ));
                done.push(item);
            }
            Ok(Claimed::TickTaken) => {
                span.in_scope(|| debug!("skipped: another instance holds this tick"));
                if item.due.manual.is_none() {
                    item.due.job.taken_elsewhere.store(true, Ordering::Relaxed);
                }
                metrics::tick_not_run(&item.due.job.name, "skipped_elsewhere", 1);
                done.push(item);
            }
            Ok(Claimed::StillRunning) if item.due.waits_for_the_lock() || item.behind_own_run => {
                span.in_scope(|| {
                    debug!("a previous run still holds the lock: this missed tick waits for it")
                });
                item.wake = Instant::now() + LOCK_WAIT_POLL;
                again.push(item);
            }
            Ok(Claimed::StillRunning) => {
                span.in_scope(|| info!("skipped: a previous run still holds the lock"));
                if item.due.manual.is_none() {
                    item.due
                        .job
                        .not_run(NotRun::SkippedOverlap, Some(item.due.tick), 1);
                }
                give_back(inner, &item, runs);
                done.push(item);
            }
            Ok(Claimed::TooEarly { retry_in }) => {
                span.in_scope(|| {
                    debug!(
                        retry_in_ms = retry_in.as_millis() as u64,
                        "the lock says this tick is not due yet: this clock runs ahead; claiming it when it is"
                    )
                });
                item.too_early = true;
                item.wake = Instant::now() + retry_in + Duration::from_millis(5);
                again.push(item);
            }
            Err(err) if err.kind() == LockErrorKind::Unavailable => {
                metrics::lock_error();
                span.in_scope(|| {
                    debug!(error = %err, "no answer to the claim; sending it again with the same token")
                });
                supersede(&mut item);
                item.lost += 1;
                item.too_early = false;
                let wait = FIRST_RETRY_WAIT
                    .saturating_mul(1 << item.lost.min(10).saturating_sub(1))
                    .min(MAX_RETRY_WAIT);
                item.wake = sent.max(Instant::now()) + wait;
                again.push(item);
            }
            Err(err) => {
                metrics::lock_error();
                if err.is_reported() {
                    span.in_scope(|| debug!(error = %err, "not running this tick: no lock"));
                } else {
                    span.in_scope(
                        || error!(error = %err, "not running this tick: the lock could not be claimed"),
                    );
                }
                item.due
                    .job
                    .not_run(NotRun::LockError, item.due.scheduled_tick(), 1);
                give_back(inner, &item, runs);
                done.push(item);
            }
        }
    }
    if let Some(phase) = phase {
        phase.started_then_wait().await;
    }
    for (job, claim, run_cancel, first, span, origin) in started {
        runs.spawn(
            run_claimed(
                Arc::clone(inner),
                job,
                claim,
                sent,
                run_cancel,
                first,
                origin,
            )
            .instrument(span),
        );
    }
    for item in done {
        again.extend(finish(inner, item));
    }
}

/// Before claims are sent again: a claim whose tick can no longer run is
/// given up.
fn revise(
    inner: &Arc<Inner>,
    pending: Vec<Pending>,
    runs: &mut JoinSet<()>,
    stop: &CancellationToken,
) -> Vec<Pending> {
    let now = inner.clock.now();
    let mut kept = Vec::with_capacity(pending.len());
    for item in pending {
        if item.waits_for_owner {
            let job = Arc::clone(&item.due.job);
            if inner.is_paused(&job.name, now) {
                kept.extend(drop_waiting(
                    inner,
                    item,
                    NotRun::Paused,
                    "the job was paused",
                ));
                continue;
            }
            if !job.still_runnable(item.due.tick, now) {
                // Stalled past the tick's window while waiting: claim the
                // job's next tick at once.
                job.taken_elsewhere.store(false, Ordering::Relaxed);
                kept.extend(drop_waiting(
                    inner,
                    item,
                    NotRun::Missed,
                    "the tick is too late to run now",
                ));
                continue;
            }
        }
        if item.too_early
            || item.due.manual.is_some()
            || item.due.job.still_runnable(item.due.tick, now)
        {
            kept.push(item);
        } else {
            kept.extend(give_up(
                inner,
                item,
                runs,
                stop,
                "the tick is too late to run now",
            ));
        }
    }
    kept
}

/// Drops a claim still waiting for the instance that took the job's last
/// tick ([`TAKEN_ELSEWHERE_WAIT`]), which most likely runs this one: kept
/// as not run for the backend only, which refuses the record if the tick
/// was claimed. Returns the claim of a newer due tick of the job, if one
/// came.
fn drop_waiting(inner: &Arc<Inner>, item: Pending, reason: NotRun, why: &str) -> Option<Pending> {
    item.span().in_scope(|| {
        debug!(
            reason = why,
            "not claiming: the instance that took the job's last tick has this one"
        )
    });
    item.due.job.keep_given_up(reason, Some(item.due.tick), 1);
    finish(inner, item)
}

/// A claim that got no answer again while a newer tick of its job came due:
/// the newer tick is claimed instead (the catch-up rule runs the latest of
/// late ticks), and the older one is not run — the lock was unavailable.
/// While the lock answers, the older claim is decided first and the newer
/// tick is claimed after it.
fn supersede(item: &mut Pending) {
    if item.due.manual.is_some() {
        return;
    }
    let Some(newer) = item.due.job.slot.take_newer() else {
        return;
    };
    if newer <= item.due.tick {
        return;
    }
    let passed = super::jobs::ticks_between(&item.due.job.schedule, item.due.tick, newer);
    item.span().in_scope(|| {
        warn!(newer = %newer, "the lock did not answer until a later tick came due: claiming that one instead")
    });
    item.due
        .job
        .not_run(NotRun::LockUnavailable, Some(item.due.tick), passed + 1);
    // The same token: the run lock the unanswered claim may have won counts
    // as the new claim's own, so it neither blocks the new tick nor needs a
    // release that might not get through either.
    item.due.tick = newer;
}

/// Gives up a claim that could not be decided: its run lock, which a lost
/// reply may have granted, is released (best effort), and a trigger goes
/// back. Returns the claim of a newer due tick of the job, if one came.
fn give_up(
    inner: &Arc<Inner>,
    item: Pending,
    runs: &mut JoinSet<()>,
    stop: &CancellationToken,
    why: &str,
) -> Option<Pending> {
    if item.lost == 0 {
        // Never sent without an answer: a missed tick that waited for an
        // earlier run until it was too late.
        item.span().in_scope(|| {
            warn!(
                reason = why,
                "not running this tick: it waited past its catch-up window"
            )
        });
        item.due
            .job
            .not_run(NotRun::Missed, item.due.scheduled_tick(), 1);
    } else {
        item.span().in_scope(|| {
            warn!(
                reason = why,
                sends = item.lost,
                "not running this tick: the lock did not answer"
            )
        });
        if item.due.manual.is_none() {
            item.due
                .job
                .not_run(NotRun::LockUnavailable, Some(item.due.tick), 1);
        }
    }
    release_quietly(inner, &item, runs, stop);
    give_back(inner, &item, runs);
    finish(inner, item)
}

/// Releases the run lock a lost reply may have granted, in a task of this
/// batch so shutdown waits for it: sent again until it gets through or the
/// lock would have expired anyway (a release that cannot get through now
/// would otherwise leave the lock to block the job for its whole TTL).
fn release_quietly(
    inner: &Arc<Inner>,
    item: &Pending,
    runs: &mut JoinSet<()>,
    stop: &CancellationToken,
) {
    let Some(first_sent) = item.first_sent.filter(|_| item.lost > 0) else {
        return;
    };
    let claim = Claim {
        job: item.due.job.name.to_string(),
        tick: item.due.tick,
        token: item.token.clone(),
        fencing_token: 0,
    };
    let expires = first_sent + item.due.job.lock_ttl;
    let (inner, stop) = (Arc::clone(inner), stop.clone());
    runs.spawn(async move {
        super::release::release(&*inner.lock, &claim, expires, &stop).await;
    });
}

/// A manual run that could not start: a trigger goes back, so it is never
/// dropped; a backfill tick stays for the backfill's next turn.
fn give_back(inner: &Arc<Inner>, item: &Pending, runs: &mut JoinSet<()>) {
    let Some(Manual::Trigger(trigger)) = item.due.manual.as_ref() else {
        if let Some(Manual::Backfill { tick, .. }) = &item.due.manual {
            item.span().in_scope(|| info!(backfill_tick = %tick, "this backfill tick's run could not start: the next turn runs it"));
        }
        return;
    };
    let trigger = trigger.clone();
    let inner = Arc::clone(inner);
    runs.spawn(async move {
        if let Some(control) = inner.lock.control()
            && let Err(err) = control.return_trigger(&trigger).await
        {
            warn!(job = %trigger.job, error = %err, "could not put a trigger back; it is lost");
        }
    });
}

/// A claim is decided: frees the job's claim slot, or, when a newer tick of
/// the job came due meanwhile and can still run, returns its claim.
fn finish(inner: &Arc<Inner>, item: Pending) -> Option<Pending> {
    if item.due.manual.is_some() {
        return None;
    }
    let job = item.due.job;
    let now = inner.clock.now();
    if job.options.catch_up == CatchUp::All {
        // The ticks due after this one run next, oldest first (a newer tick
        // the dispatcher remembered is among them).
        let next = job.schedule.next_after(item.due.tick);
        let (runnable, too_late) = match next {
            Some(next) => job.first_runnable(next, now),
            None => (None, 0),
        };
        if too_late > 0 {
            job.not_run(NotRun::Missed, next, too_late);
        }
        if let Some(tick) = runnable {
            let _ = job.slot.take_newer();
            return Some(Pending::new(Due {
                job,
                tick,
                manual: None,
                catch_up: true,
            }));
        }
        match job.slot.end() {
            // Came due since `now` was read: the dispatcher's tick, claimed next.
            Some(newer) if newer > item.due.tick => {
                let mut next = Pending::new(Due {
                    job,
                    tick: newer,
                    manual: None,
                    catch_up: false,
                });
                next.behind_own_run = item.won;
                return Some(next);
            }
            Some(_) => abandon(&job),
            None => {}
        }
        return None;
    }
    let newer = job.slot.end()?;
    if newer > item.due.tick && job.still_runnable(newer, now) {
        let mut next = Pending::new(Due {
            catch_up: now - job.planned_start(newer) >= super::jobs::ON_TIME,
            job,
            tick: newer,
            manual: None,
        });
        next.behind_own_run = item.won;
        return Some(next);
    }
    job.not_run(NotRun::Missed, Some(newer), 1);
    abandon(&job);
    None
}

/// Frees a job's claim slot, dropping any newer tick it holds.
fn abandon(job: &JobEntry) {
    while job.slot.end().is_some() {}
}
