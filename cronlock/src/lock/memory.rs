use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::redis::claim_window;
use super::{
    BoxFuture, Claim, ClaimRequest, Claimed, Lock, LockError, next_fencing_token, random_token,
};
use super::{Control, HistoryEntry, JobSummary};
use crate::job::Overlap;

/// One clock in one process: the skew part of the window is the Redis default's.
const DEFAULT_SKEW_MARGIN: Duration = Duration::from_secs(2);

/// An in-process lock: correct for one instance, and only for one.
///
/// It keeps the same state as a distributed lock (the last claimed tick, a
/// fencing counter and the run lock), so a single instance behaves exactly as
/// a fleet of one. Used when no Redis is configured; the scheduler warns.
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
    paused: BTreeSet<String>,
    triggers: Vec<String>,
    jobs: Vec<JobSummary>,
}

#[derive(Debug, Default)]
struct JobLock {
    last_claimed: Option<DateTime<Utc>>,
    claimed: std::collections::BTreeSet<DateTime<Utc>>,
    fencing: u64,
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

impl Lock for MemoryLock {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> BoxFuture<'a, Result<Claimed, LockError>> {
        let claimed = self.with_job(request.job, |state| {
            // The Redis lock's rule: claimed ticks are remembered within a
            // window behind the newest; older ones count as taken.
            let window = chrono::Duration::from_std(claim_window(request.ttl, DEFAULT_SKEW_MARGIN))
                .unwrap_or(chrono::Duration::MAX);
            let too_old = state
                .last_claimed
                .is_some_and(|last| request.tick <= last - window);
            if too_old || state.claimed.contains(&request.tick) {
                return Claimed::TickTaken;
            }
            let now = Instant::now();
            let busy = state
                .run
                .as_ref()
                .is_some_and(|(_, expires)| *expires > now);
            // A tick refused for a running run stays claimable: an instance
            // that comes to it after the run ended may still run it.
            if busy && request.overlap == Overlap::Skip {
                return Claimed::StillRunning;
            }
            state.claimed.insert(request.tick);
            let newest = state
                .last_claimed
                .map_or(request.tick, |last| last.max(request.tick));
            state.last_claimed = Some(newest);
            let oldest_kept = newest - window;
            while state
                .claimed
                .first()
                .is_some_and(|oldest| *oldest < oldest_kept)
            {
                state.claimed.pop_first();
            }
            state.fencing = next_fencing_token(state.fencing, request.tick);
            let token = random_token();
            if request.overlap == Overlap::Skip {
                state.run = Some((token.clone(), now + request.ttl));
            }
            Claimed::Acquired(Claim {
                job: request.job.to_owned(),
                tick: request.tick,
                token,
                fencing_token: state.fencing,
            })
        });
        Box::pin(async move { Ok(claimed) })
    }

    fn extend<'a>(
        &'a self,
        claim: &'a Claim,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        let extended = self.with_job(&claim.job, |state| match &mut state.run {
            Some((token, expires)) if *token == claim.token => {
                *expires = Instant::now() + ttl;
                true
            }
            _ => false,
        });
        Box::pin(async move { Ok(extended) })
    }

    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<(), LockError>> {
        self.with_job(&claim.job, |state| {
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
            if !control.history.contains_key(job) {
                control
                    .history
                    .insert(job.to_owned(), VecDeque::with_capacity(keep));
            }
            if let Some(runs) = control.history.get_mut(job) {
                // Room first, so a full history never grows its buffer.
                runs.truncate(keep.saturating_sub(1));
                runs.push_front(entry.clone());
                runs.truncate(keep);
            }
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
        paused: bool,
    ) -> BoxFuture<'a, Result<(), LockError>> {
        self.with_control(|control| {
            if paused {
                control.paused.insert(job.to_owned());
            } else {
                control.paused.remove(job);
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn paused(&self) -> BoxFuture<'_, Result<BTreeSet<String>, LockError>> {
        let paused = self.with_control(|control| control.paused.clone());
        Box::pin(async { Ok(paused) })
    }

    fn trigger<'a>(&'a self, job: &'a str) -> BoxFuture<'a, Result<(), LockError>> {
        self.with_control(|control| control.triggers.push(job.to_owned()));
        Box::pin(async { Ok(()) })
    }

    fn take_triggers(&self) -> BoxFuture<'_, Result<Vec<String>, LockError>> {
        let triggers = self.with_control(|control| std::mem::take(&mut control.triggers));
        Box::pin(async { Ok(triggers) })
    }

    fn publish_jobs<'a>(&'a self, jobs: &'a [JobSummary]) -> BoxFuture<'a, Result<(), LockError>> {
        self.with_control(|control| {
            control
                .jobs
                .retain(|known| jobs.iter().all(|job| job.name != known.name));
            control.jobs.extend(jobs.iter().cloned());
        });
        Box::pin(async { Ok(()) })
    }

    fn published_jobs(&self) -> BoxFuture<'_, Result<Vec<JobSummary>, LockError>> {
        let jobs = self.with_control(|control| control.jobs.clone());
        Box::pin(async { Ok(jobs) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn request(job: &str, second: u32, overlap: Overlap) -> ClaimRequest<'_> {
        ClaimRequest {
            job,
            tick: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, second).unwrap(),
            ttl: Duration::from_secs(60),
            overlap,
            now: Utc::now(),
        }
    }

    #[tokio::test]
    async fn a_tick_is_granted_once_and_never_again() {
        let lock = MemoryLock::new();
        let Claimed::Acquired(first) = lock.claim(request("a", 1, Overlap::Allow)).await.unwrap()
        else {
            panic!("first claim refused");
        };
        assert_eq!(
            lock.claim(request("a", 1, Overlap::Allow)).await.unwrap(),
            Claimed::TickTaken
        );
        lock.release(&first).await.unwrap();
        // Released, yet the tick stays claimed: a slow instance cannot re-run it.
        assert_eq!(
            lock.claim(request("a", 1, Overlap::Allow)).await.unwrap(),
            Claimed::TickTaken
        );
        // An earlier tick nobody claimed is still granted (a fast clock went first), once.
        assert!(matches!(
            lock.claim(request("a", 0, Overlap::Allow)).await.unwrap(),
            Claimed::Acquired(_)
        ));
        assert_eq!(
            lock.claim(request("a", 0, Overlap::Allow)).await.unwrap(),
            Claimed::TickTaken
        );
        assert!(matches!(
            lock.claim(request("b", 1, Overlap::Allow)).await.unwrap(),
            Claimed::Acquired(_)
        ));
    }

    #[tokio::test]
    async fn ticks_older_than_the_window_count_as_taken() {
        let lock = MemoryLock::new();
        // The window is the TTL (60 s) plus twice the skew margin (2 s): 64 s.
        let at = |seconds: i64| ClaimRequest {
            tick: Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
                + chrono::Duration::seconds(seconds),
            ..request("a", 0, Overlap::Allow)
        };
        assert!(matches!(
            lock.claim(at(100)).await.unwrap(),
            Claimed::Acquired(_)
        ));
        assert_eq!(
            lock.claim(at(36)).await.unwrap(),
            Claimed::TickTaken,
            "64 s before the newest"
        );
        assert!(matches!(
            lock.claim(at(37)).await.unwrap(),
            Claimed::Acquired(_)
        ));
    }

    #[tokio::test]
    async fn fencing_tokens_grow_and_stale_tokens_cannot_release() {
        let lock = MemoryLock::new();
        let Claimed::Acquired(first) = lock.claim(request("a", 1, Overlap::Skip)).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(
            lock.claim(request("a", 2, Overlap::Skip)).await.unwrap(),
            Claimed::StillRunning
        );
        let stale = Claim {
            token: "stale".into(),
            ..first.clone()
        };
        lock.release(&stale).await.unwrap();
        assert!(!lock.extend(&stale, Duration::from_secs(1)).await.unwrap());
        assert_eq!(
            lock.claim(request("a", 3, Overlap::Skip)).await.unwrap(),
            Claimed::StillRunning
        );
        assert!(lock.extend(&first, Duration::from_secs(60)).await.unwrap());
        lock.release(&first).await.unwrap();
        let Claimed::Acquired(second) = lock.claim(request("a", 4, Overlap::Skip)).await.unwrap()
        else {
            panic!()
        };
        assert!(second.fencing_token > first.fencing_token);
        assert_ne!(second.token, first.token);
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_run_lock_no_longer_blocks() {
        let lock = MemoryLock::new();
        assert!(matches!(
            lock.claim(request("a", 1, Overlap::Skip)).await.unwrap(),
            Claimed::Acquired(_)
        ));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(matches!(
            lock.claim(request("a", 2, Overlap::Skip)).await.unwrap(),
            Claimed::Acquired(_)
        ));
    }
}
