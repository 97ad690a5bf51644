//! `overlap = skip` (the default) never starts a run while the previous one is
//! going; `allow` starts every tick; `buffer_one` runs one waiting tick
//! after the running one; `replace` cancels the running one for the new tick.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::{Job, JobContext, Overlap};
use cronlock_tests::paused::{Log, builder, run_for, second};

async fn ticks_of_a_slow_job(overlap: Overlap) -> Vec<DateTime<Utc>> {
    starts_of_a_slow_job(overlap)
        .await
        .into_iter()
        .map(|(tick, _)| tick)
        .collect()
}

/// The ticks and start instants of a job due every second whose runs take
/// 2.5 s, over 7 s.
async fn starts_of_a_slow_job(overlap: Overlap) -> Vec<(DateTime<Utc>, tokio::time::Instant)> {
    let starts: Log<(DateTime<Utc>, tokio::time::Instant)> = Log::default();
    let log = starts.clone();
    let scheduler = builder()
        .job(
            Job::new(
                "slow",
                "* * * * * *",
                Duration::from_secs(10),
                move |ctx: JobContext| {
                    let log = log.clone();
                    async move {
                        log.push((ctx.tick(), tokio::time::Instant::now()));
                        tokio::time::sleep(Duration::from_millis(2_500)).await;
                    }
                },
            )
            .overlap(overlap),
        )
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_millis(7_000)).await;
    starts.entries()
}

#[tokio::test(start_paused = true)]
async fn skip_starts_no_run_while_one_is_going() {
    // A run of 2.5 s blocks the next two ticks.
    assert_eq!(
        ticks_of_a_slow_job(Overlap::Skip).await,
        vec![second(1), second(4), second(7)]
    );
}

#[tokio::test(start_paused = true)]
async fn allow_starts_every_tick() {
    assert_eq!(
        ticks_of_a_slow_job(Overlap::Allow).await,
        (1..=7).map(second).collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn buffer_one_runs_one_waiting_tick_right_after_the_running_one() {
    // Runs of 2.5 s: tick 1 runs 1.0-3.5 s; tick 2 comes while it runs and
    // waits; tick 3 finds 2 already waiting and is skipped; 2 starts when 1
    // ends, 4 waits for 2 and starts when it ends (6 s); 5 and 6 are skipped.
    let began = tokio::time::Instant::now();
    let starts = starts_of_a_slow_job(Overlap::BufferOne).await;
    let ticks: Vec<DateTime<Utc>> = starts.iter().map(|(tick, _)| *tick).collect();
    assert_eq!(ticks, vec![second(1), second(2), second(4)], "{starts:?}");
    // The clock starts at 0.5 s: tick 1 ends 3.5 s in, i.e. 3 s after `began`.
    for (index, ended_after) in [(1, 3_000), (2, 5_500)] {
        let waited = starts[index].1 - began;
        assert!(
            waited >= Duration::from_millis(ended_after)
                && waited <= Duration::from_millis(ended_after + 300),
            "run {index} started {waited:?} in, the run before it ended {ended_after} ms in"
        );
    }
}

/// Runs of 2.5 s that stop when cancelled, every second for 7 s: each tick
/// cancels the run before it and starts once that one has stopped.
#[tokio::test(start_paused = true)]
async fn replace_cancels_the_running_one_and_starts_every_tick() {
    let runs: Log<(
        DateTime<Utc>,
        tokio::time::Instant,
        tokio::time::Instant,
        bool,
    )> = Log::default();
    let log = runs.clone();
    let scheduler = builder()
        .job(
            Job::new(
                "slow",
                "* * * * * *",
                Duration::from_secs(10),
                move |ctx: JobContext| {
                    let log = log.clone();
                    async move {
                        let start = tokio::time::Instant::now();
                        let cancelled = tokio::select! {
                            () = ctx.cancelled() => true,
                            () = tokio::time::sleep(Duration::from_millis(2_500)) => false,
                        };
                        log.push((ctx.tick(), start, tokio::time::Instant::now(), cancelled));
                    }
                },
            )
            .overlap(Overlap::Replace),
        )
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_millis(7_000)).await;
    let runs = runs.entries();
    let ticks: Vec<DateTime<Utc>> = runs.iter().map(|run| run.0).collect();
    // Every tick ran; the last one was cancelled by the shutdown.
    assert_eq!(ticks, (1..=7).map(second).collect::<Vec<_>>(), "{runs:?}");
    cronlock_tests::assert_each_replaced_by_the_next(&runs);
    for pair in runs.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        // The next tick starts as soon as the lock is free (a wait poll).
        assert!(
            after.1 - before.2 <= Duration::from_millis(300),
            "the new tick waited too long after the replaced run stopped: {runs:?}"
        );
    }
}

/// A lock that answers the claims of one tick late, as a stalled Redis does.
#[derive(Debug)]
struct LateForOneTick {
    inner: cronlock::lock::MemoryLock,
    late: DateTime<Utc>,
    by: Duration,
}

impl cronlock::lock::Lock for LateForOneTick {
    fn claim<'a>(
        &'a self,
        request: cronlock::lock::ClaimRequest<'a>,
    ) -> cronlock::lock::BoxFuture<'a, Result<cronlock::lock::Claimed, cronlock::lock::LockError>>
    {
        self.inner.claim(request)
    }
    fn claim_many<'a>(
        &'a self,
        requests: &'a [cronlock::lock::ClaimRequest<'a>],
    ) -> cronlock::lock::BoxFuture<
        'a,
        Vec<Result<cronlock::lock::Claimed, cronlock::lock::LockError>>,
    > {
        Box::pin(async move {
            if requests.iter().any(|request| request.tick == self.late) {
                tokio::time::sleep(self.by).await;
            }
            self.inner.claim_many(requests).await
        })
    }
    fn extend<'a>(
        &'a self,
        claim: &'a cronlock::lock::Claim,
        ttl: Duration,
    ) -> cronlock::lock::BoxFuture<'a, Result<bool, cronlock::lock::LockError>> {
        self.inner.extend(claim, ttl)
    }
    fn release<'a>(
        &'a self,
        claim: &'a cronlock::lock::Claim,
    ) -> cronlock::lock::BoxFuture<'a, Result<(), cronlock::lock::LockError>> {
        self.inner.release(claim)
    }
    fn is_distributed(&self) -> bool {
        false
    }
}

/// The claim of tick 2 is answered 1.05 s late, after tick 3 came due. Tick
/// 2 runs, then tick 3 is claimed and finds tick 2's run still holding the
/// lock; no run was going when tick 3 came due, so with `skip` it waits for
/// that run (an instant) instead of being skipped.
#[tokio::test(start_paused = true)]
async fn a_tick_due_while_a_late_claim_was_pending_is_not_skipped_for_that_run() {
    let ticks: Log<DateTime<Utc>> = Log::default();
    let log = ticks.clone();
    let scheduler = builder()
        .lock(LateForOneTick {
            inner: cronlock::lock::MemoryLock::new(),
            late: second(2),
            by: Duration::from_millis(1_050),
        })
        .job(Job::new(
            "instant",
            "* * * * * *",
            Duration::from_secs(10),
            move |ctx: JobContext| {
                let log = log.clone();
                async move { log.push(ctx.tick()) }
            },
        ))
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_millis(7_000)).await;
    assert_eq!(ticks.entries(), (1..=7).map(second).collect::<Vec<_>>());
}
