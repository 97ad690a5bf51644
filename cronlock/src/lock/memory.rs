use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::control::not_run_entry;
use super::control::{MAX_ERROR_LEN, kept_since, truncate};
use super::{
    Backfill, Control, FleetState, HistoryEntry, JobSummary, NOT_RUN_DAY, NOT_RUN_KEPT, Pause,
    Trigger,
};
use super::{
    BoxFuture, Claim, ClaimRequest, Claimed, DEFAULT_SKEW_MARGIN, Lock, LockError,
    MAX_REMEMBERED_TICKS, claim_window, next_fencing_token,
};
use crate::events::NotRun;
use crate::outcome::RunOutcome;

/// An in-process lock: correct for one instance, and only for one.
///
/// It keeps the same state as a distributed lock (the claimed ticks, a
/// fencing counter and the run lock) and follows the same rules, so a single
/// instance behaves exactly as a fleet of one. Used when no Redis is
/// configured; the scheduler warns.
///
/// ```
/// let lock = cronlock::lock::MemoryLock::new();
/// # let _ = lock;
/// ```
#[derive(Debug, Default)]
pub struct MemoryLock {
    jobs: Mutex<HashMap<String, JobLock>>,
    control: Mutex<ControlState>,
}

#[derive(Debug, Default)]
struct ControlState {
    history: HashMap<String, VecDeque<HistoryEntry>>,
    paused: BTreeMap<String, Pause>,
    triggers: BTreeMap<String, Trigger>,
    backfills: BTreeMap<String, Backfill>,
    not_run: HashMap<String, BTreeMap<DateTime<Utc>, HistoryEntry>>,
    jobs: BTreeMap<String, JobSummary>,
}

#[derive(Debug, Default)]
struct JobLock {
    /// Claimed ticks within the window behind the newest, with the fencing
    /// token and the claim token each was granted with.
    claimed: BTreeMap<DateTime<Utc>, (u64, String)>,
    fencing: u64,
    /// The widest window any claim asked for.
    window: Duration,
    /// Ticks at or before this count as taken: a claim widened the window
    /// after a narrower one had already forgotten them.
    floor: Option<DateTime<Utc>>,
    run: Option<(String, Instant)>,
}

impl MemoryLock {
    /// An empty lock.
    pub fn new() -> MemoryLock {
        MemoryLock::default()
    }

    fn with_control<T>(&self, f: impl FnOnce(&mut ControlState) -> T) -> T {
        f(&mut self
            .control
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()))
    }

    /// As [`MemoryLock::with_job`], for a job that has state (a job whose
    /// state is gone gets none made: `None`).
    fn with_existing_job<T>(&self, job: &str, f: impl FnOnce(&mut JobLock) -> T) -> Option<T> {
        self.jobs
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get_mut(job)
            .map(f)
    }

    fn with_job<T>(&self, job: &str, f: impl FnOnce(&mut JobLock) -> T) -> T {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(state) = jobs.get_mut(job) {
            return f(state);
        }
        f(jobs.entry(job.to_owned()).or_default())
    }
}

impl JobLock {
    /// What the claim state says of `tick` (see
    /// [`Control::record_not_run`]): nobody claimed it (newer than the newest
    /// claimed tick, or within the window, above the floor and not claimed),
    /// an instance did, or it is older than what the state remembers.
    fn claimed(&self, tick: DateTime<Utc>) -> Option<bool> {
        let Some((&newest, _)) = self.claimed.last_key_value() else {
            return if self.floor.is_none_or(|floor| tick > floor) {
                Some(false)
            } else {
                None
            };
        };
        if tick > newest {
            return Some(false);
        }
        let window = chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
        let oldest = newest
            .checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let remembered = tick > oldest
            && self.floor.is_none_or(|floor| tick > floor)
            && self.claimed.len() < MAX_REMEMBERED_TICKS;
        remembered.then(|| self.claimed.contains_key(&tick))
    }

    /// The Redis claim script's rules, in memory. The backend's clock is the
    /// caller's (`request.now`): one process has one clock.
    fn claim(&mut self, request: &ClaimRequest<'_>) -> Claimed {
        let margin = chrono::Duration::from_std(DEFAULT_SKEW_MARGIN).unwrap_or_default();
        if request.tick > request.now + margin {
            let retry_in = (request.tick - request.now - margin)
                .to_std()
                .unwrap_or_default();
            return Claimed::TooEarly { retry_in };
        }
        let requested = claim_window(request.ttl, DEFAULT_SKEW_MARGIN);
        let newest = self.claimed.last_key_value().map(|(tick, _)| *tick);
        if requested > self.window
            && let Some(newest) = newest
        {
            let forgotten = newest - chrono::Duration::from_std(self.window).unwrap_or_default();
            self.floor = Some(self.floor.map_or(forgotten, |floor| floor.max(forgotten)));
        }
        self.window = self.window.max(requested);
        let window = chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX);
        if let Some((fence, token)) = self.claimed.get(&request.tick) {
            // A claim sent again after its answer was lost gets the same grant.
            if token == request.token {
                return Claimed::Acquired(Claim {
                    job: request.job.to_owned(),
                    tick: request.tick,
                    token: token.clone(),
                    fencing_token: *fence,
                });
            }
            return Claimed::TickTaken;
        }
        let oldest = self.claimed.first_key_value().map(|(tick, _)| *tick);
        let too_old = self.floor.is_some_and(|floor| request.tick <= floor)
            || newest.is_some_and(|newest| {
                request.tick
                    <= newest
                        .checked_sub_signed(window)
                        .unwrap_or(DateTime::<Utc>::MIN_UTC)
            })
            || (self.claimed.len() >= MAX_REMEMBERED_TICKS
                && oldest.is_some_and(|oldest| request.tick < oldest));
        if too_old {
            return Claimed::TickTaken;
        }
        let now = Instant::now();
        // A run lock held by this very token is the claim's own (see the
        // Redis script).
        let busy = self
            .run
            .as_ref()
            .is_some_and(|(holder, expires)| *expires > now && holder != request.token);
        // A tick refused for a running run stays claimable: an instance
        // that comes to it after the run ended may still run it.
        if busy && request.overlap.is_exclusive() {
            return Claimed::StillRunning;
        }
        self.fencing = next_fencing_token(self.fencing, request.tick);
        self.claimed
            .insert(request.tick, (self.fencing, request.token.to_owned()));
        let newest = newest.map_or(request.tick, |newest| newest.max(request.tick));
        let oldest_kept = newest
            .checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        while self.claimed.len() > MAX_REMEMBERED_TICKS
            || self
                .claimed
                .first_key_value()
                .is_some_and(|(oldest, _)| *oldest <= oldest_kept)
        {
            self.claimed.pop_first();
        }
        if request.overlap.is_exclusive() {
            self.run = Some((request.token.to_owned(), now + request.ttl));
        }
        Claimed::Acquired(Claim {
            job: request.job.to_owned(),
            tick: request.tick,
            token: request.token.to_owned(),
            fencing_token: self.fencing,
        })
    }
}

impl Lock for MemoryLock {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> BoxFuture<'a, Result<Claimed, LockError>> {
        let claimed = self.with_job(request.job, |state| state.claim(&request));
        Box::pin(async move { Ok(claimed) })
    }

    fn extend<'a>(
        &'a self,
        claim: &'a Claim,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        let extended = self.with_existing_job(&claim.job, |state| match &mut state.run {
            Some((token, expires)) if *token == claim.token => {
                *expires = Instant::now() + ttl;
                true
            }
            _ => false,
        });
        Box::pin(async move { Ok(extended.unwrap_or(false)) })
    }

    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<(), LockError>> {
        self.with_existing_job(&claim.job, |state| {
            if state
                .run
                .as_ref()
                .is_some_and(|(token, _)| *token == claim.token)
            {
                state.run = None;
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn is_distributed(&self) -> bool {
        false
    }

    fn control(&self) -> Option<&dyn Control> {
        Some(self)
    }
}

impl Control for MemoryLock {
    fn record_run<'a>(
        &'a self,
        job: &'a str,
        entry: &'a HistoryEntry,
        keep: usize,
    ) -> BoxFuture<'a, Result<(), LockError>> {
        self.with_control(|control| {
            // The tick ran: a record of it as not run is wrong.
            if let Some(not_run) = control.not_run.get_mut(job) {
                not_run.remove(&entry.tick);
            }
            if keep == 0 {
                control.history.remove(job);
                return;
            }
            let runs = control
                .history
                .entry(job.to_owned())
                .or_insert_with(|| VecDeque::with_capacity(keep));
            // Room first, so a full history never grows its buffer.
            runs.truncate(keep - 1);
            let mut entry = entry.clone();
            if let Some(cut) = entry.outcome.message().map(|m| truncate(m, MAX_ERROR_LEN))
                && let std::borrow::Cow::Owned(cut) = cut
            {
                entry.outcome = RunOutcome::from_parts(entry.outcome.label(), Some(cut))
                    .unwrap_or(entry.outcome);
            }
            runs.push_front(entry);
        });
        Box::pin(async { Ok(()) })
    }

    fn history<'a>(&'a self, job: &'a str) -> BoxFuture<'a, Result<Vec<HistoryEntry>, LockError>> {
        let runs = self.with_control(|control| {
            control
                .history
                .get(job)
                .map(|runs| runs.iter().cloned().collect())
        });
        Box::pin(async { Ok(runs.unwrap_or_default()) })
    }

    fn set_paused<'a>(
        &'a self,
        job: &'a str,
        pause: Option<&'a Pause>,
    ) -> BoxFuture<'a, Result<(), LockError>> {
        self.with_control(|control| match pause {
            Some(pause) => {
                control.paused.insert(job.to_owned(), pause.clone());
            }
            None => {
                control.paused.remove(job);
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn fleet_state(&self) -> BoxFuture<'_, Result<FleetState, LockError>> {
        let state = self.with_control(|control| FleetState {
            paused: control.paused.clone(),
            triggers: control.triggers.values().cloned().collect(),
            backfills: control.backfills.values().cloned().collect(),
        });
        Box::pin(async { Ok(state) })
    }

    fn trigger<'a>(&'a self, trigger: &'a Trigger) -> BoxFuture<'a, Result<bool, LockError>> {
        let added = self.with_control(|control| {
            if control.triggers.contains_key(&trigger.job) {
                return false;
            }
            control
                .triggers
                .insert(trigger.job.clone(), trigger.clone());
            true
        });
        Box::pin(async move { Ok(added) })
    }

    fn take_trigger<'a>(
        &'a self,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Option<Trigger>, LockError>> {
        let taken = self.with_control(|control| control.triggers.remove(job));
        Box::pin(async { Ok(taken) })
    }

    fn return_trigger<'a>(&'a self, trigger: &'a Trigger) -> BoxFuture<'a, Result<(), LockError>> {
        self.with_control(|control| {
            control
                .triggers
                .entry(trigger.job.clone())
                .or_insert_with(|| trigger.clone());
        });
        Box::pin(async { Ok(()) })
    }

    fn record_not_run<'a>(
        &'a self,
        job: &'a str,
        ticks: &'a [DateTime<Utc>],
        reason: NotRun,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<usize, LockError>> {
        let now = Utc::now();
        let oldest = now - chrono::Duration::from_std(NOT_RUN_DAY).unwrap_or_default();
        // What the claim state says of each tick: None when too old for it.
        let claimed: Vec<(DateTime<Utc>, Option<bool>)> = self.with_job(job, |state| {
            ticks
                .iter()
                .filter(|tick| **tick >= oldest)
                .map(|tick| (*tick, state.claimed(*tick)))
                .collect()
        });
        let added = self.with_control(|control| {
            // Older than the claim state remembers: the run history says,
            // back to its oldest run (backfill runs, of past ticks, aside).
            let history = control.history.get(job);
            let since = history.and_then(|history| {
                history
                    .iter()
                    .filter(|entry| !super::control::is_backfill_run(entry))
                    .map(|entry| entry.tick)
                    .min()
            });
            let ran = |tick: DateTime<Utc>| {
                since.is_none_or(|since| tick < since)
                    || history.is_some_and(|history| history.iter().any(|entry| entry.tick == tick))
            };
            let unclaimed: Vec<DateTime<Utc>> = claimed
                .into_iter()
                .filter(|(tick, claimed)| !claimed.unwrap_or_else(|| ran(*tick)))
                .map(|(tick, _)| tick)
                .collect();
            let kept = control.not_run.entry(job.to_owned()).or_default();
            let mut added = 0;
            for tick in unclaimed {
                if let std::collections::btree_map::Entry::Vacant(entry) = kept.entry(tick) {
                    entry.insert(not_run_entry(tick, reason, instance.to_owned()));
                    added += 1;
                }
            }
            kept.retain(|tick, _| *tick >= oldest);
            while kept.len() > NOT_RUN_KEPT {
                kept.pop_first();
            }
            added
        });
        Box::pin(async move { Ok(added) })
    }

    fn not_run<'a>(
        &'a self,
        job: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, LockError>> {
        let newest = self.with_control(|control| {
            control.not_run.get(job).map_or_else(Vec::new, |kept| {
                kept.values().rev().take(limit).cloned().collect()
            })
        });
        Box::pin(async move { Ok(newest) })
    }

    fn not_run_counts<'a>(
        &'a self,
        jobs: &'a [String],
        since: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<u64>, LockError>> {
        let counts = self.with_control(|control| {
            jobs.iter()
                .map(|job| {
                    control
                        .not_run
                        .get(job)
                        .map_or(0, |kept| kept.range(since..).count() as u64)
                })
                .collect()
        });
        Box::pin(async move { Ok(counts) })
    }

    fn request_backfill<'a>(
        &'a self,
        backfill: &'a Backfill,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        let added = self.with_control(|control| {
            if let Some(stored) = control.backfills.get(&backfill.job) {
                return stored.id == backfill.id;
            }
            control
                .backfills
                .insert(backfill.job.clone(), backfill.clone());
            true
        });
        Box::pin(async move { Ok(added) })
    }

    fn update_backfill<'a>(
        &'a self,
        backfill: &'a Backfill,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        let updated = self.with_control(|control| match control.backfills.get_mut(&backfill.job) {
            Some(stored) if stored.id == backfill.id => {
                // Progress only moves on: a late write is taken for done.
                if backfill.last > stored.last {
                    *stored = backfill.clone();
                }
                true
            }
            _ => false,
        });
        Box::pin(async move { Ok(updated) })
    }

    fn end_backfill<'a>(
        &'a self,
        job: &'a str,
        id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<Backfill>, LockError>> {
        let ended = self.with_control(|control| {
            let matches = control
                .backfills
                .get(job)
                .is_some_and(|stored| id.is_none_or(|id| stored.id == id));
            if matches {
                control.backfills.remove(job)
            } else {
                None
            }
        });
        // Its turns' claim state goes with it.
        if let Some(ended) = &ended {
            self.jobs
                .lock()
                .unwrap_or_else(|poison| poison.into_inner())
                .remove(&super::control::backfill_series(job, &ended.id));
        }
        Box::pin(async move { Ok(ended) })
    }

    fn publish_jobs<'a>(
        &'a self,
        jobs: &'a [JobSummary],
    ) -> BoxFuture<'a, Result<Vec<JobSummary>, LockError>> {
        let others = self.with_control(|control| {
            let mut others = Vec::new();
            for job in jobs {
                if let Some(previous) = control.jobs.insert(job.name.clone(), job.clone())
                    && previous.service != job.service
                {
                    others.push(previous);
                }
            }
            others
        });
        Box::pin(async { Ok(others) })
    }

    fn published_jobs(&self) -> BoxFuture<'_, Result<Vec<JobSummary>, LockError>> {
        let jobs = self.with_control(|control| control.jobs.values().cloned().collect());
        Box::pin(async { Ok(jobs) })
    }

    fn unregistered_jobs(&self) -> BoxFuture<'_, Result<Vec<String>, LockError>> {
        let stored = self.stored_jobs();
        let recent = kept_since(super::JOB_LIST_KEPT);
        let unregistered = self.with_control(|control| {
            stored
                .into_iter()
                .filter(|job| control.jobs.get(job).is_none_or(|s| s.seen <= recent))
                .collect()
        });
        Box::pin(async { Ok(unregistered) })
    }

    fn forget_jobs<'a>(
        &'a self,
        jobs: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, LockError>> {
        let stored = self.stored_jobs();
        let recent = kept_since(super::JOB_LIST_KEPT);
        let forgotten: Vec<String> = self.with_control(|control| {
            let doomed: Vec<String> = jobs
                .iter()
                .filter(|job| stored.contains(*job))
                .filter(|job| control.jobs.get(*job).is_none_or(|s| s.seen <= recent))
                .cloned()
                .collect();
            for job in &doomed {
                control.history.remove(job);
                control.paused.remove(job);
                control.triggers.remove(job);
                control.backfills.remove(job);
                control.not_run.remove(job);
                control.jobs.remove(job);
            }
            doomed
        });
        let mut states = self
            .jobs
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        for job in &forgotten {
            states.remove(job);
        }
        Box::pin(async { Ok(forgotten) })
    }
}

impl MemoryLock {
    /// The jobs with claims, history or a pause stored and no tick claimed
    /// within `JOB_LIST_KEPT`, by name.
    fn stored_jobs(&self) -> std::collections::BTreeSet<String> {
        let recent = kept_since(super::JOB_LIST_KEPT);
        let jobs = self
            .jobs
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let claimed_lately: std::collections::BTreeSet<&String> = jobs
            .iter()
            .filter(|(_, state)| {
                state
                    .claimed
                    .keys()
                    .next_back()
                    .is_some_and(|tick| *tick > recent)
            })
            .map(|(job, _)| job)
            .collect();
        let mut stored: std::collections::BTreeSet<String> = jobs
            .keys()
            .filter(|job| !claimed_lately.contains(job))
            .cloned()
            .collect();
        self.with_control(|control| {
            stored.extend(control.history.keys().cloned());
            stored.extend(control.paused.keys().cloned());
        });
        stored.retain(|job| !claimed_lately.contains(job));
        stored
    }
}
