//! The lock and control contract: what every backend must do, stated once
//! as tests and run against each backend (`tests/lock_contract.rs`).
//!
//! A backend proves itself by passing [`check`] with a [`Backend`] that
//! hands out several handles on one shared store, as the instances of a
//! fleet would have. Each check uses its own job names, so one store can
//! serve them all.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeZone, Utc};
use cronlock::lock::{
    Backfill, Claim, ClaimRequest, Claimed, HistoryEntry, JobSummary, Lock, MAX_ERROR_LEN,
    MAX_REMEMBERED_TICKS, Pause, Trigger, random_token,
};
use cronlock::{Overlap, RunOutcome};

/// A way to reach one shared store from several instances.
pub trait Backend: Sync {
    /// A new handle on the store, as another instance would open it.
    fn instance(&self) -> Pin<Box<dyn Future<Output = Arc<dyn Lock>> + Send + '_>>;
    /// The skew margin the handles use.
    fn skew_margin(&self) -> Duration;
}

/// A tick in the past (so never too early): 2026-01-01 00:00 plus `second` s.
pub fn tick(second: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid")
        + chrono::Duration::seconds(second)
}

/// A claim of `job` at `tick(second)` with a new token and `ttl`.
pub fn request<'a>(job: &'a str, second: i64, ttl: Duration, token: &'a str) -> ClaimRequest<'a> {
    ClaimRequest {
        job,
        tick: tick(second),
        token,
        ttl,
        overlap: Overlap::Skip,
        now: Utc::now(),
    }
}

async fn claim(
    lock: &dyn Lock,
    job: &str,
    second: i64,
    ttl: Duration,
    overlap: Overlap,
) -> Claimed {
    let token = random_token();
    lock.claim(ClaimRequest {
        overlap,
        ..request(job, second, ttl, &token)
    })
    .await
    .expect("the backend answers")
}

async fn acquire(
    lock: &dyn Lock,
    job: &str,
    second: i64,
    ttl: Duration,
    overlap: Overlap,
) -> Claim {
    match claim(lock, job, second, ttl, overlap).await {
        Claimed::Acquired(claim) => claim,
        other => panic!("{job} tick {second}: claim refused: {other:?}"),
    }
}

const LONG: Duration = Duration::from_secs(60);

/// Claims `job` at `tick` (overlap allowed, a long TTL); panics when refused.
async fn acquire_at(lock: &dyn Lock, job: &str, tick: DateTime<Utc>) -> Claim {
    let token = random_token();
    match lock
        .claim(ClaimRequest {
            job,
            tick,
            token: &token,
            ttl: LONG,
            overlap: Overlap::Allow,
            now: Utc::now(),
        })
        .await
        .expect("the backend answers")
    {
        Claimed::Acquired(claim) => claim,
        other => panic!("{job} at {tick}: claim refused: {other:?}"),
    }
}

/// Runs every check of the contract; `prefix` makes the job names unique.
pub async fn check(backend: &dyn Backend, prefix: &str) {
    once_per_tick_even_after_release(backend, &format!("{prefix}once")).await;
    earlier_unclaimed_ticks_within_the_window(backend, &format!("{prefix}window")).await;
    the_widest_window_wins(backend, &format!("{prefix}mixed")).await;
    remembered_ticks_are_bounded(backend, &format!("{prefix}bounded")).await;
    a_claim_sent_again_gets_the_same_answer(backend, &format!("{prefix}again")).await;
    a_resent_newest_claim_keeps_its_own_fencing_token(backend, &format!("{prefix}resent")).await;
    overlap_and_refused_ticks(backend, &format!("{prefix}overlap")).await;
    a_later_claim_with_the_same_token_replaces_it(backend, &format!("{prefix}replace")).await;
    tokens_guard_release_and_extend(backend, &format!("{prefix}tokens")).await;
    fencing_tokens_grow(backend, &format!("{prefix}fence")).await;
    run_locks_expire(backend, &format!("{prefix}expire")).await;
    too_early_says_when(backend, &format!("{prefix}early")).await;
    batches_answer_in_order(backend, &format!("{prefix}batch")).await;
    control_pause_and_resume(backend, &format!("{prefix}pause")).await;
    control_triggers_go_to_one_instance(backend, &format!("{prefix}trigger")).await;
    control_backfills(backend, &format!("{prefix}backfill")).await;
    control_not_run_records(backend, &format!("{prefix}notrun")).await;
    control_history_is_capped(backend, &format!("{prefix}history")).await;
    control_job_list(backend, &format!("{prefix}list")).await;
    control_prune(backend, &format!("{prefix}prune")).await;
}

/// A tick is granted once across instances, and stays taken after its run
/// released the lock (a slow instance cannot run it again).
pub async fn once_per_tick_even_after_release(backend: &dyn Backend, job: &str) {
    let (a, b) = (backend.instance().await, backend.instance().await);
    let first = acquire(&*a, job, 1, LONG, Overlap::Skip).await;
    assert_eq!(
        claim(&*b, job, 1, LONG, Overlap::Skip).await,
        Claimed::TickTaken
    );
    a.release(&first).await.expect("release");
    assert_eq!(
        claim(&*b, job, 1, LONG, Overlap::Skip).await,
        Claimed::TickTaken,
        "released, yet the tick must stay claimed"
    );
    let next = acquire(&*b, job, 2, LONG, Overlap::Skip).await;
    assert!(next.fencing_token > first.fencing_token);
}

/// A tick a fast clock skipped is still granted (once) inside the window of
/// the TTL plus twice the skew margin behind the newest claim, and not beyond.
pub async fn earlier_unclaimed_ticks_within_the_window(backend: &dyn Backend, job: &str) {
    let lock = backend.instance().await;
    let ttl = Duration::from_secs(10);
    let window = (ttl + 2 * backend.skew_margin()).as_secs() as i64;
    acquire(&*lock, job, 100, ttl, Overlap::Allow).await;
    acquire(&*lock, job, 99, ttl, Overlap::Allow).await;
    assert_eq!(
        claim(&*lock, job, 99, ttl, Overlap::Allow).await,
        Claimed::TickTaken
    );
    acquire(&*lock, job, 100 - window + 1, ttl, Overlap::Allow).await;
    assert_eq!(
        claim(&*lock, job, 100 - window, ttl, Overlap::Allow).await,
        Claimed::TickTaken,
        "a tick a whole window behind the newest counts as taken"
    );
}

/// Instances with different settings agree: the window is the widest any
/// of them asked for, so one with a short TTL cannot make a tick that one
/// with a long TTL still remembers claimable again.
pub async fn the_widest_window_wins(backend: &dyn Backend, job: &str) {
    let (old, new) = (backend.instance().await, backend.instance().await);
    acquire(&*old, job, 0, Duration::from_secs(60), Overlap::Allow).await;
    acquire(&*new, job, 10, Duration::from_secs(1), Overlap::Allow).await;
    assert_eq!(
        claim(&*old, job, 0, Duration::from_secs(60), Overlap::Allow).await,
        Claimed::TickTaken,
        "a short window must not forget a tick a long one remembers"
    );
    assert_eq!(
        claim(&*new, job, 0, Duration::from_secs(1), Overlap::Allow).await,
        Claimed::TickTaken
    );
    // The other order: the narrow window claimed first and forgot tick 100,
    // then a wide one comes. It must not take that tick again, nor any tick
    // the narrow window no longer knows; a tick it still knows is unclaimed
    // stays claimable.
    let job = format!("{job}-narrow-first");
    let job = job.as_str();
    for second in [100, 108, 110] {
        acquire(&*new, job, second, Duration::from_secs(1), Overlap::Allow).await;
    }
    for forgotten in [100, 104] {
        assert_eq!(
            claim(
                &*old,
                job,
                forgotten,
                Duration::from_secs(60),
                Overlap::Allow
            )
            .await,
            Claimed::TickTaken,
            "tick {forgotten}: forgotten by the narrow window"
        );
    }
    acquire(&*old, job, 109, Duration::from_secs(60), Overlap::Allow).await;
    assert_eq!(
        claim(&*old, job, 108, Duration::from_secs(60), Overlap::Allow).await,
        Claimed::TickTaken
    );
}

/// However wide the window, at most `MAX_REMEMBERED_TICKS` claims are
/// remembered; an unclaimed tick older than all of them counts as taken.
pub async fn remembered_ticks_are_bounded(backend: &dyn Backend, job: &str) {
    let lock = backend.instance().await;
    let ttl = Duration::from_secs(24 * 3600);
    let tokens: Vec<String> = (0..MAX_REMEMBERED_TICKS + 10)
        .map(|_| random_token())
        .collect();
    let requests: Vec<ClaimRequest<'_>> = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| ClaimRequest {
            overlap: Overlap::Allow,
            ..request(job, 2 * i as i64 + 2, ttl, token)
        })
        .collect();
    for batch in requests.chunks(cronlock::lock::MAX_CLAIM_BATCH) {
        for answer in lock.claim_many(batch).await {
            assert!(matches!(answer, Ok(Claimed::Acquired(_))), "{answer:?}");
        }
    }
    assert_eq!(
        claim(&*lock, job, 1, ttl, Overlap::Allow).await,
        Claimed::TickTaken,
        "older than every remembered claim"
    );
    // Still inside the remembered claims: an unclaimed tick between two is granted.
    let newest = 2 * (MAX_REMEMBERED_TICKS as i64 + 10);
    assert!(matches!(
        claim(&*lock, job, newest - 3, ttl, Overlap::Allow).await,
        Claimed::Acquired(_)
    ));
}

/// A claim sent again with the same token (its reply was lost) gets the
/// grant it won, with the same fencing token; another token does not.
pub async fn a_claim_sent_again_gets_the_same_answer(backend: &dyn Backend, job: &str) {
    let (a, b) = (backend.instance().await, backend.instance().await);
    let token = random_token();
    let first = match a.claim(request(job, 5, LONG, &token)).await.expect("claim") {
        Claimed::Acquired(claim) => claim,
        other => panic!("{other:?}"),
    };
    let again = a.claim(request(job, 5, LONG, &token)).await.expect("claim");
    assert_eq!(
        again,
        Claimed::Acquired(first.clone()),
        "the newest claim, sent again"
    );
    // Not the newest any more: another instance claimed a later tick.
    let other = acquire(&*b, job, 6, LONG, Overlap::Allow).await;
    let later = a.claim(request(job, 5, LONG, &token)).await.expect("claim");
    assert_eq!(
        later,
        Claimed::Acquired(first.clone()),
        "an older claim, sent again"
    );
    assert!(other.fencing_token > first.fencing_token);
    assert_eq!(
        claim(&*b, job, 5, LONG, Overlap::Skip).await,
        Claimed::TickTaken,
        "another token gets nothing"
    );
}

/// The newest claim of a job, sent again after an earlier tick was granted
/// to someone else (a fast clock claimed ahead), gets its own fencing token
/// back, not the job's latest: two runs never share a token.
pub async fn a_resent_newest_claim_keeps_its_own_fencing_token(backend: &dyn Backend, job: &str) {
    let (a, b) = (backend.instance().await, backend.instance().await);
    let token = random_token();
    let request = ClaimRequest {
        overlap: Overlap::Allow,
        ..request(job, 10, LONG, &token)
    };
    let newest = match a.claim(request).await.expect("claim") {
        Claimed::Acquired(claim) => claim,
        other => panic!("{other:?}"),
    };
    let earlier = acquire(&*b, job, 9, LONG, Overlap::Allow).await;
    assert!(earlier.fencing_token > newest.fencing_token);
    let again = a.claim(request).await.expect("claim");
    assert_eq!(
        again,
        Claimed::Acquired(newest),
        "its own token, not {}",
        earlier.fencing_token
    );
}

/// A job that does not allow overlap is refused while a run holds the lock;
/// the refused tick stays claimable once the run ended. A job that allows
/// overlap is not blocked.
pub async fn overlap_and_refused_ticks(backend: &dyn Backend, job: &str) {
    let (a, b) = (backend.instance().await, backend.instance().await);
    let running = acquire(&*a, job, 1, LONG, Overlap::Skip).await;
    assert_eq!(
        claim(&*b, job, 2, LONG, Overlap::Skip).await,
        Claimed::StillRunning
    );
    a.release(&running).await.expect("release");
    acquire(&*b, job, 2, LONG, Overlap::Skip).await;
    let allow = format!("{job}-allow");
    acquire(&*a, &allow, 1, LONG, Overlap::Allow).await;
    acquire(&*b, &allow, 2, LONG, Overlap::Allow).await;
}

/// A claim whose answer never came may have won the run lock; a claim of a
/// later tick with the same token counts that lock as its own (it replaces
/// the unanswered claim), while any other token is refused.
pub async fn a_later_claim_with_the_same_token_replaces_it(backend: &dyn Backend, job: &str) {
    let lock = backend.instance().await;
    let token = random_token();
    assert!(matches!(
        lock.claim(request(job, 10, LONG, &token))
            .await
            .expect("claim"),
        Claimed::Acquired(_)
    ));
    assert!(matches!(
        lock.claim(request(job, 11, LONG, &token))
            .await
            .expect("claim"),
        Claimed::Acquired(_)
    ));
    assert_eq!(
        claim(&*lock, job, 12, LONG, Overlap::Skip).await,
        Claimed::StillRunning
    );
}

/// Only the claim's holder can extend or release its run lock.
pub async fn tokens_guard_release_and_extend(backend: &dyn Backend, job: &str) {
    let lock = backend.instance().await;
    let claim_ = acquire(&*lock, job, 1, LONG, Overlap::Skip).await;
    let stale = Claim {
        token: random_token(),
        ..claim_.clone()
    };
    lock.release(&stale).await.expect("release");
    assert_eq!(
        claim(&*lock, job, 2, LONG, Overlap::Skip).await,
        Claimed::StillRunning,
        "a stale token released the lock"
    );
    assert!(!lock.extend(&stale, LONG).await.expect("extend"));
    assert!(lock.extend(&claim_, LONG).await.expect("extend"));
    lock.release(&claim_).await.expect("release");
    assert!(
        !lock.extend(&claim_, LONG).await.expect("extend"),
        "released"
    );
}

/// Fencing tokens grow with every claim of a job and are at least the
/// tick's Unix milliseconds, also for an earlier tick claimed late.
pub async fn fencing_tokens_grow(backend: &dyn Backend, job: &str) {
    let (a, b) = (backend.instance().await, backend.instance().await);
    let first = acquire(&*a, job, 10, LONG, Overlap::Allow).await;
    assert!(first.fencing_token >= tick(10).timestamp_millis() as u64);
    let second = acquire(&*b, job, 9, LONG, Overlap::Allow).await;
    let third = acquire(&*a, job, 11, LONG, Overlap::Allow).await;
    assert!(first.fencing_token < second.fencing_token);
    assert!(second.fencing_token < third.fencing_token);
}

/// A run lock that is not extended expires after its TTL; extended, it lives on.
pub async fn run_locks_expire(backend: &dyn Backend, job: &str) {
    let lock = backend.instance().await;
    let ttl = Duration::from_millis(600);
    let held = acquire(&*lock, job, 1, ttl, Overlap::Skip).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(lock.extend(&held, ttl).await.expect("extend"));
    }
    assert_eq!(
        claim(&*lock, job, 2, ttl, Overlap::Skip).await,
        Claimed::StillRunning
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    acquire(&*lock, job, 3, ttl, Overlap::Skip).await;
    assert!(!lock.extend(&held, ttl).await.expect("extend"), "expired");
}

/// A tick further ahead of the backend's clock than the skew margin is
/// refused as too early, with the time until it can be claimed.
pub async fn too_early_says_when(backend: &dyn Backend, job: &str) {
    let lock = backend.instance().await;
    let token = random_token();
    let ahead = Duration::from_secs(30);
    let request = ClaimRequest {
        tick: Utc::now() + chrono::Duration::from_std(ahead).expect("small"),
        ..request(job, 0, LONG, &token)
    };
    match lock.claim(request).await.expect("claim") {
        Claimed::TooEarly { retry_in } => {
            let expected = ahead - backend.skew_margin();
            assert!(
                retry_in <= expected && retry_in + Duration::from_secs(2) > expected,
                "retry in {retry_in:?}, expected about {expected:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A batch is answered claim by claim, in order; a job twice in a batch is
/// granted once.
pub async fn batches_answer_in_order(backend: &dyn Backend, prefix: &str) {
    let lock = backend.instance().await;
    let names: Vec<String> = (0..20).map(|i| format!("{prefix}-{i}")).collect();
    let tokens: Vec<String> = (0..21).map(|_| random_token()).collect();
    let mut requests: Vec<ClaimRequest<'_>> = names
        .iter()
        .zip(&tokens)
        .map(|(name, token)| request(name, 1, LONG, token))
        .collect();
    requests.push(request(&names[7], 1, LONG, &tokens[20]));
    let answers = lock.claim_many(&requests).await;
    assert_eq!(answers.len(), 21);
    for (request, answer) in requests.iter().zip(&answers).take(20) {
        match answer {
            Ok(Claimed::Acquired(claim)) => assert_eq!(claim.job, request.job),
            other => panic!("{}: {other:?}", request.job),
        }
    }
    assert_eq!(answers[20].as_ref().expect("answer"), &Claimed::TickTaken);
}

/// A pause reaches every instance with its note and end; resume lifts it.
pub async fn control_pause_and_resume(backend: &dyn Backend, job: &str) {
    let (a, b) = (backend.instance().await, backend.instance().await);
    let (a, b) = (a.control().expect("control"), b.control().expect("control"));
    let pause = Pause {
        since: tick(0),
        until: Some(tick(3600)),
        note: Some("db migration".into()),
        by: Some("alice".into()),
    };
    a.set_paused(job, Some(&pause)).await.expect("pause");
    let state = b.fleet_state().await.expect("state");
    assert_eq!(state.paused.get(job), Some(&pause));
    b.set_paused(job, None).await.expect("resume");
    assert!(
        !a.fleet_state()
            .await
            .expect("state")
            .paused
            .contains_key(job)
    );
}

/// A trigger waits until an instance takes it; exactly one instance gets
/// it; a trigger put back can be taken again; a second trigger while one
/// waits is the same run.
pub async fn control_triggers_go_to_one_instance(backend: &dyn Backend, job: &str) {
    let (a, b) = (backend.instance().await, backend.instance().await);
    let (a, b) = (a.control().expect("control"), b.control().expect("control"));
    let trigger = Trigger {
        job: job.to_owned(),
        queued: Utc::now(),
        by: Some("ops".into()),
    };
    assert!(a.trigger(&trigger).await.expect("trigger"));
    assert!(
        !b.trigger(&trigger).await.expect("trigger"),
        "one waits already"
    );
    assert!(
        b.fleet_state()
            .await
            .expect("state")
            .triggers
            .iter()
            .any(|waiting| waiting.job == job)
    );
    let (first, second) = tokio::join!(a.take_trigger(job), b.take_trigger(job));
    let taken: Vec<Trigger> = [first, second]
        .into_iter()
        .filter_map(|taken| taken.expect("take"))
        .collect();
    assert_eq!(taken.len(), 1, "exactly one instance takes a trigger");
    assert_eq!(taken[0].by.as_deref(), Some("ops"));
    a.return_trigger(&taken[0]).await.expect("return");
    assert!(
        b.take_trigger(job).await.expect("take").is_some(),
        "put back"
    );
    assert!(a.take_trigger(job).await.expect("take").is_none());
}

/// Ticks not run are recorded once fleet-wide (the first reason stays),
/// never for a tick an instance claimed or one older than a day; read
/// newest first and counted per job.
pub async fn control_not_run_records(backend: &dyn Backend, job: &str) {
    use cronlock::NotRun;
    let (lock_a, lock_b) = (backend.instance().await, backend.instance().await);
    let (a, b) = (
        lock_a.control().expect("control"),
        lock_b.control().expect("control"),
    );
    let base = Utc::now()
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap()
        - chrono::Duration::seconds(600);
    let at = |second: i64| base + chrono::Duration::seconds(second);
    assert_eq!(
        a.record_not_run(job, &[at(0), at(1)], NotRun::Paused, "a")
            .await
            .expect("record"),
        2
    );
    assert_eq!(
        b.record_not_run(job, &[at(1), at(2)], NotRun::LockUnavailable, "b")
            .await
            .expect("record"),
        1,
        "tick 1 is recorded already"
    );
    // Claimed ticks are never recorded as not run, nor ticks older than a day.
    acquire_at(&*lock_a, job, at(5)).await;
    let long_ago = at(0) - chrono::Duration::days(2);
    assert_eq!(
        b.record_not_run(job, &[at(5), long_ago, at(7)], NotRun::Missed, "b")
            .await
            .expect("record"),
        1,
        "only tick 7"
    );
    let records = a.not_run(job, 10).await.expect("read");
    let seen: Vec<(DateTime<Utc>, String, String)> = records
        .iter()
        .map(|entry| {
            (
                entry.tick,
                entry.outcome.message().unwrap_or_default().to_owned(),
                entry.instance.clone(),
            )
        })
        .collect();
    let expected = [
        (at(7), "missed", "b"),
        (at(2), "lock_unavailable", "b"),
        (at(1), "paused", "a"),
        (at(0), "paused", "a"),
    ]
    .map(|(tick, reason, instance)| (tick, reason.to_owned(), instance.to_owned()));
    assert_eq!(seen, expected, "newest first, first reason kept");
    assert!(
        records
            .iter()
            .all(|entry| entry.outcome.label() == "not_run"),
        "{records:?}"
    );
    assert_eq!(a.not_run(job, 1).await.expect("read").len(), 1);
    // A run recorded for a tick drops its record as not run (it was
    // claimed after all, by an instance whose clock lags).
    let ran = HistoryEntry {
        tick: at(2),
        instance: "c".into(),
        started: at(2),
        duration: Duration::from_millis(5),
        outcome: RunOutcome::Completed,
    };
    a.record_run(job, &ran, 20).await.expect("record the run");
    assert!(
        b.not_run(job, 10)
            .await
            .expect("read")
            .iter()
            .all(|entry| entry.tick != at(2)),
        "the run replaces the record"
    );
    assert!(
        b.record_not_run(job, &[at(11)], NotRun::Missed, "b")
            .await
            .expect("record")
            == 1
    );
    // Ticks older than the claim window (a later claim moved it on) are
    // told by the run history: one that ran is refused, one older than its
    // oldest run (at(2)) is unknowable and refused, one in between is not run.
    a.record_run(
        job,
        &HistoryEntry {
            tick: at(120),
            ..ran.clone()
        },
        20,
    )
    .await
    .expect("record the run");
    acquire_at(&*lock_a, job, at(300)).await;
    assert_eq!(
        b.record_not_run(
            job,
            &[at(100), at(120), at(-5)],
            NotRun::LockUnavailable,
            "b"
        )
        .await
        .expect("record"),
        1,
        "only tick 100"
    );
    assert!(
        a.not_run(job, 10)
            .await
            .expect("read")
            .iter()
            .any(|entry| entry.tick == at(100))
    );
    let other = format!("{job}-other");
    assert_eq!(
        b.not_run_counts(&[job.to_owned(), other], at(1))
            .await
            .expect("count"),
        vec![4, 0]
    );
}

/// One backfill per job at a time, seen by every instance with its
/// progress; progress and ending only touch the backfill of the same id;
/// an ended backfill is gone and a new one can start.
pub async fn control_backfills(backend: &dyn Backend, job: &str) {
    let (a, b) = (backend.instance().await, backend.instance().await);
    let (a, b) = (a.control().expect("control"), b.control().expect("control"));
    let mut first = Backfill::new(job, tick(0), tick(3600), Some("ops\tteam"));
    let second = Backfill::new(job, tick(10), tick(20), None);
    assert_ne!(first.id, second.id);
    assert!(a.request_backfill(&first).await.expect("request"));
    assert!(
        a.request_backfill(&first).await.expect("request again"),
        "the same request sent again (a lost reply) is still stored"
    );
    assert!(
        !b.request_backfill(&second).await.expect("request"),
        "one is under way"
    );
    let seen = |state: cronlock::lock::FleetState| {
        state
            .backfills
            .into_iter()
            .find(|backfill| backfill.job == job)
    };
    let stored = seen(b.fleet_state().await.expect("state")).expect("b sees it");
    assert_eq!(stored.id, first.id);
    assert_eq!((stored.from, stored.to), (tick(0), tick(3600)));
    assert_eq!(stored.by.as_deref(), Some("ops team"), "one line");
    assert_eq!((stored.done, stored.last), (0, None));

    first.done = 3;
    first.last = Some(tick(120));
    assert!(b.update_backfill(&first).await.expect("progress"));
    assert!(
        !a.update_backfill(&second).await.expect("progress"),
        "another id changes nothing"
    );
    let stored = seen(a.fleet_state().await.expect("state")).expect("a sees it");
    assert_eq!((stored.done, stored.last), (3, Some(tick(120))));
    // A late write of older progress is taken, and changes nothing.
    let mut late = first.clone();
    late.done = 2;
    late.last = Some(tick(60));
    assert!(b.update_backfill(&late).await.expect("late progress"));
    let stored = seen(a.fleet_state().await.expect("state")).expect("a sees it");
    assert_eq!(
        (stored.done, stored.last),
        (3, Some(tick(120))),
        "never back"
    );

    assert!(
        a.end_backfill(job, Some(&second.id))
            .await
            .expect("end")
            .is_none(),
        "another id ends nothing"
    );
    let ended = b
        .end_backfill(job, Some(&first.id))
        .await
        .expect("end")
        .expect("ended");
    assert_eq!(ended.done, 3);
    assert!(seen(a.fleet_state().await.expect("state")).is_none());
    assert!(!a.update_backfill(&first).await.expect("progress"), "gone");
    assert!(b.request_backfill(&second).await.expect("a new one"));
    assert_eq!(
        a.end_backfill(job, None)
            .await
            .expect("cancel")
            .map(|b| b.id),
        Some(second.id),
        "ended without an id: whichever is under way"
    );
}

/// The history keeps the newest runs, newest first, and cuts long errors.
pub async fn control_history_is_capped(backend: &dyn Backend, job: &str) {
    let lock = backend.instance().await;
    let control = lock.control().expect("control");
    for second in 0..5 {
        let entry = HistoryEntry {
            tick: tick(second),
            instance: "host:1:abc".into(),
            started: tick(second),
            duration: Duration::from_millis(5),
            outcome: RunOutcome::Failed {
                error: "x".repeat(10_000),
            },
        };
        control.record_run(job, &entry, 3).await.expect("record");
    }
    let history = control.history(job).await.expect("history");
    let ticks: Vec<_> = history.iter().map(|entry| entry.tick).collect();
    assert_eq!(ticks, vec![tick(4), tick(3), tick(2)]);
    let message = history[0].outcome.message().expect("an error");
    assert!(message.len() <= MAX_ERROR_LEN, "{}", message.len());
    let last = control
        .last_runs(&[job.to_owned(), format!("{job}-never")])
        .await
        .expect("last runs");
    assert_eq!(last[0].as_ref().map(|entry| entry.tick), Some(tick(4)));
    assert_eq!(last[1], None);
}

/// Published jobs are listed; a job another service published under the
/// same name is reported back.
pub async fn control_job_list(backend: &dyn Backend, job: &str) {
    let (a, b) = (backend.instance().await, backend.instance().await);
    let (a, b) = (a.control().expect("control"), b.control().expect("control"));
    let summary = JobSummary {
        name: job.to_owned(),
        spec: "0 * * * * *".into(),
        tz: "UTC".into(),
        timeout: Duration::from_secs(60),
        enabled: true,
        service: "billing".into(),
        instance: "host:1:abc".into(),
        seen: Utc::now(),
    };
    assert!(
        a.publish_jobs(std::slice::from_ref(&summary))
            .await
            .expect("publish")
            .is_empty()
    );
    assert!(
        b.publish_jobs(std::slice::from_ref(&summary))
            .await
            .expect("publish")
            .is_empty(),
        "the same service again is no conflict"
    );
    let other = JobSummary {
        service: "reports".into(),
        ..summary.clone()
    };
    let conflicts = b
        .publish_jobs(std::slice::from_ref(&other))
        .await
        .expect("publish");
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].service, "billing");
    let listed = a.published_jobs().await.expect("list");
    assert!(
        listed
            .iter()
            .any(|listed| listed.name == job && listed.service == "reports")
    );
}

/// `cronlock prune`: a job that no instance published within
/// `JOB_LIST_KEPT` and that has claims and history is listed and forgotten;
/// a published one is never, even when asked for.
pub async fn control_prune(backend: &dyn Backend, prefix: &str) {
    let (kept, old) = (format!("{prefix}-kept"), format!("{prefix}-old"));
    let lock = backend.instance().await;
    let control = lock.control().expect("control");
    let summary = |name: &str, seen: DateTime<Utc>| JobSummary {
        name: name.to_owned(),
        spec: "0 * * * * *".into(),
        tz: "UTC".into(),
        timeout: Duration::from_secs(60),
        enabled: true,
        service: "billing".into(),
        instance: "host:1:abc".into(),
        seen,
    };
    control
        .publish_jobs(&[
            summary(&kept, Utc::now()),
            summary(&old, Utc::now() - chrono::Duration::days(8)),
        ])
        .await
        .expect("publish");
    for job in [&kept, &old] {
        let claim = acquire(&*lock, job, 1, LONG, Overlap::Skip).await;
        lock.release(&claim).await.expect("release");
        let entry = HistoryEntry {
            tick: tick(1),
            instance: "host:1:abc".into(),
            started: tick(1),
            duration: Duration::from_millis(5),
            outcome: RunOutcome::Completed,
        };
        control.record_run(job, &entry, 5).await.expect("record");
    }
    let unregistered = control.unregistered_jobs().await.expect("list");
    assert!(
        unregistered.contains(&old),
        "{old} listed: {unregistered:?}"
    );
    assert!(
        !unregistered.contains(&kept),
        "{kept} not listed: {unregistered:?}"
    );

    let forgotten = control
        .forget_jobs(&[old.clone(), kept.clone()])
        .await
        .expect("forget");
    assert_eq!(
        forgotten,
        std::slice::from_ref(&old),
        "only the unregistered job goes"
    );
    assert!(control.history(&old).await.expect("history").is_empty());
    assert_eq!(control.history(&kept).await.expect("history").len(), 1);
    let unregistered = control.unregistered_jobs().await.expect("list");
    assert!(!unregistered.contains(&old), "{unregistered:?}");
    // A job nobody published but that an instance claims (its publish
    // failed) is never listed nor forgotten: it runs somewhere.
    let running = format!("{prefix}-unlisted");
    let token = random_token();
    let now_tick = ClaimRequest {
        tick: Utc::now() - chrono::Duration::seconds(1),
        ..request(&running, 0, LONG, &token)
    };
    assert!(matches!(
        lock.claim(now_tick).await.expect("claim"),
        Claimed::Acquired(_)
    ));
    assert!(
        !control
            .unregistered_jobs()
            .await
            .expect("list")
            .contains(&running)
    );
    assert!(
        control
            .forget_jobs(std::slice::from_ref(&running))
            .await
            .expect("forget")
            .is_empty()
    );
    // Its claims went too: the tick is free again, as for a new job.
    assert!(matches!(
        claim(&*lock, &old, 1, LONG, Overlap::Skip).await,
        Claimed::Acquired(_)
    ));
    assert_eq!(
        claim(&*lock, &kept, 1, LONG, Overlap::Skip).await,
        Claimed::TickTaken,
        "the registered job keeps its claims"
    );
}
