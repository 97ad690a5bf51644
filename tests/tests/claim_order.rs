//! Who claims first: the instance that ran a job's last tick claims its next
//! tick at once; the others wait 100 ms, and their claims are refused. At
//! each tick the lock sees one claim per job in its burst, not one per
//! instance and job. When that instance stops, another takes the job over:
//! one tick 100 ms late, then at once again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use cronlock::lock::{BoxFuture, Claim, ClaimRequest, Claimed, Lock, LockError, MemoryLock};
use cronlock::{Job, JobContext};
use cronlock_tests::paused::{Log, builder, second};
use tokio::sync::Notify;

const INSTANCES: usize = 3;
const JOBS: usize = 9;
const WAIT: TimeDelta = TimeDelta::milliseconds(100);

/// One claim as the shared lock saw it.
#[derive(Debug, Clone)]
struct Seen {
    instance: usize,
    job: String,
    tick: DateTime<Utc>,
    /// How long after the tick the claim was sent (the scheduler's clock).
    after_tick: TimeDelta,
    won: bool,
}

/// One instance's view of a lock all instances share; it logs every claim.
#[derive(Debug)]
struct SharedLock {
    inner: Arc<MemoryLock>,
    instance: usize,
    seen: Log<Seen>,
}

impl Lock for SharedLock {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> BoxFuture<'a, Result<Claimed, LockError>> {
        Box::pin(async move {
            let mut answers = self.claim_many(std::slice::from_ref(&request)).await;
            answers.pop().expect("one answer")
        })
    }
    fn claim_many<'a>(
        &'a self,
        requests: &'a [ClaimRequest<'a>],
    ) -> BoxFuture<'a, Vec<Result<Claimed, LockError>>> {
        Box::pin(async move {
            let answers = self.inner.claim_many(requests).await;
            for (request, answer) in requests.iter().zip(&answers) {
                self.seen.push(Seen {
                    instance: self.instance,
                    job: request.job.to_owned(),
                    tick: request.tick,
                    after_tick: request.now - request.tick,
                    won: matches!(answer, Ok(Claimed::Acquired(_))),
                });
            }
            answers
        })
    }
    fn extend<'a>(
        &'a self,
        claim: &'a Claim,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        self.inner.extend(claim, ttl)
    }
    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<(), LockError>> {
        self.inner.release(claim)
    }
    fn is_distributed(&self) -> bool {
        // As a network lock: the instances start their claims at different jobs.
        true
    }
}

/// Runs `scheduler` until `stop` is notified or `secs` seconds have passed.
async fn run_until_stopped(
    scheduler: &cronlock::Scheduler,
    stop: &Notify,
    secs: u64,
) -> Result<(), cronlock::Error> {
    scheduler
        .run_until(async move {
            tokio::select! {
                () = stop.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(secs)) => {}
            }
        })
        .await
}

#[tokio::test(start_paused = true)]
async fn the_instance_that_ran_a_jobs_last_tick_claims_first_and_a_stopped_ones_jobs_move_on() {
    let lock = Arc::new(MemoryLock::new());
    let seen: Log<Seen> = Log::default();
    let runs: Log<(usize, String, DateTime<Utc>)> = Log::default();
    let mut schedulers = Vec::new();
    for instance in 0..INSTANCES {
        let mut scheduler = builder().lock(SharedLock {
            inner: Arc::clone(&lock),
            instance,
            seen: seen.clone(),
        });
        for job in 0..JOBS {
            let runs = runs.clone();
            scheduler = scheduler.job(Job::new(
                format!("job-{job}"),
                "* * * * * *",
                Duration::from_secs(1),
                move |ctx: JobContext| {
                    let runs = runs.clone();
                    async move { runs.push((instance, ctx.job_name().to_owned(), ctx.tick())) }
                },
            ));
        }
        schedulers.push(scheduler.build().await.unwrap());
    }
    let stops: Vec<Arc<Notify>> = (0..INSTANCES).map(|_| Arc::new(Notify::new())).collect();
    // From 0.5 s to 7.5 s: ticks 1 to 7.
    let run = |instance: usize| run_until_stopped(&schedulers[instance], &stops[instance], 7);
    // At 3.5 s, the instance that ran job-0's tick 3 stops.
    let stop_owner = async {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let owner = runs
            .entries()
            .into_iter()
            .find(|(_, job, tick)| job == "job-0" && *tick == second(3))
            .map(|(instance, _, _)| instance)
            .expect("job-0 ran at tick 3");
        stops[owner].notify_one();
        owner
    };
    let (r0, r1, r2, stopped) = tokio::join!(run(0), run(1), run(2), stop_owner);
    for result in [r0, r1, r2] {
        result.unwrap();
    }

    let mut ran_by: BTreeMap<(String, DateTime<Utc>), Vec<usize>> = BTreeMap::new();
    for (instance, job, tick) in runs.entries() {
        ran_by.entry((job, tick)).or_default().push(instance);
    }
    for job in (0..JOBS).map(|job| format!("job-{job}")) {
        for tick in (1..=7).map(second) {
            let by = ran_by
                .get(&(job.clone(), tick))
                .cloned()
                .unwrap_or_default();
            assert_eq!(by.len(), 1, "{job} at {tick} ran once: {by:?}");
        }
    }
    let runner = |job: &str, tick: i64| ran_by[&(job.to_owned(), second(tick))][0];
    let claims = seen.entries();
    let claims_of = |job: &str, tick: i64| -> Vec<&Seen> {
        claims
            .iter()
            .filter(|claim| claim.job == job && claim.tick == second(tick))
            .collect()
    };

    // Ticks 2 and 3, every instance up: only the last tick's runner claims
    // before the wait, and it wins; the others claim after it and lose.
    for job in (0..JOBS).map(|job| format!("job-{job}")) {
        for tick in 2..=3 {
            let owner = runner(&job, tick - 1);
            for claim in claims_of(&job, tick) {
                if claim.instance == owner {
                    assert!(
                        claim.won && claim.after_tick < WAIT,
                        "{job} at tick {tick}: the last runner claims at once and wins: {claim:?}"
                    );
                } else {
                    assert!(
                        !claim.won && claim.after_tick >= WAIT,
                        "{job} at tick {tick}: instance {} claims after the wait and loses: {claim:?}",
                        claim.instance
                    );
                }
            }
            assert_eq!(
                claims_of(&job, tick).len(),
                INSTANCES,
                "{job} at tick {tick}: every instance claims"
            );
        }
    }

    // The stopped instance's jobs: tick 4 runs elsewhere, after the wait;
    // from tick 5 their new runner claims at once.
    let moved: Vec<String> = (0..JOBS)
        .map(|job| format!("job-{job}"))
        .filter(|job| runner(job, 3) == stopped)
        .collect();
    assert!(moved.contains(&"job-0".to_owned()));
    for job in &moved {
        let taker = runner(job, 4);
        assert_ne!(taker, stopped, "{job} at tick 4 ran on a live instance");
        let won = claims_of(job, 4)
            .into_iter()
            .find(|claim| claim.won)
            .expect("tick 4 was won");
        assert!(
            won.after_tick >= WAIT && won.after_tick < WAIT * 2,
            "{job} at tick 4 is taken over after the wait: {won:?}"
        );
        assert_eq!(
            runner(job, 5),
            taker,
            "{job} stays on the instance that took it"
        );
        let won = claims_of(job, 5)
            .into_iter()
            .find(|claim| claim.won)
            .expect("tick 5 was won");
        assert!(
            won.after_tick < WAIT,
            "{job} at tick 5 is claimed at once by its new runner: {won:?}"
        );
    }
}

/// Two instances with one job "short" every second, its catch-up window 50 ms
/// (the default: the timeout). Returns the claims, the runs, and the
/// instance stopped by `stop_at` (after that much paused time from 0.5 s):
/// the one that ran tick `owner_of`.
async fn run_two(
    stop_at: Duration,
    owner_of: i64,
    stop_the_owner: bool,
) -> (
    Vec<Seen>,
    Vec<(usize, DateTime<Utc>)>,
    usize,
    Vec<cronlock::Event>,
) {
    let lock = Arc::new(MemoryLock::new());
    let seen: Log<Seen> = Log::default();
    let runs: Log<(usize, DateTime<Utc>)> = Log::default();
    let mut schedulers = Vec::new();
    for instance in 0..2 {
        let runs = runs.clone();
        let scheduler = builder()
            .lock(SharedLock {
                inner: Arc::clone(&lock),
                instance,
                seen: seen.clone(),
            })
            .job(Job::new(
                "short",
                "* * * * * *",
                Duration::from_millis(50),
                move |ctx: JobContext| {
                    let runs = runs.clone();
                    async move { runs.push((instance, ctx.tick())) }
                },
            ))
            .build()
            .await
            .unwrap();
        schedulers.push(scheduler);
    }
    let mut events: Vec<_> = schedulers.iter().map(cronlock::Scheduler::events).collect();
    let stops: Vec<Arc<Notify>> = (0..2).map(|_| Arc::new(Notify::new())).collect();
    let run = |instance: usize| run_until_stopped(&schedulers[instance], &stops[instance], 6);
    let stop = async {
        tokio::time::sleep(stop_at).await;
        let owner = runs
            .entries()
            .into_iter()
            .find(|(_, tick)| *tick == second(owner_of))
            .map(|(instance, _)| instance)
            .expect("the tick ran");
        let stopped = if stop_the_owner { owner } else { 1 - owner };
        stops[stopped].notify_one();
        stopped
    };
    let (r0, r1, stopped) = tokio::join!(run(0), run(1), stop);
    r0.unwrap();
    r1.unwrap();
    let mut not_run = Vec::new();
    for (instance, receiver) in events.iter_mut().enumerate() {
        while let Ok(event) = receiver.try_recv() {
            if instance == stopped && matches!(event, cronlock::Event::TicksNotRun { .. }) {
                not_run.push(event);
            }
        }
    }
    (seen.entries(), runs.entries(), stopped, not_run)
}

#[tokio::test(start_paused = true)]
async fn a_job_with_a_short_catch_up_window_moves_on_too() {
    // The instance that ran tick 2 stops at 2.5 s.
    let (seen, runs, stopped, _) = run_two(Duration::from_secs(2), 2, true).await;
    let mut ticks: Vec<DateTime<Utc>> = runs.iter().map(|(_, tick)| *tick).collect();
    ticks.sort();
    assert_eq!(
        ticks,
        (1..=6).map(second).collect::<Vec<_>>(),
        "every tick once, after the stop too"
    );
    let won = |tick: i64| {
        seen.iter()
            .find(|claim| claim.won && claim.tick == second(tick))
            .cloned()
            .expect("the tick was won")
    };
    // The wait is half the 50 ms window, so the tick can still run.
    let taken_over = won(3);
    assert_ne!(taken_over.instance, stopped);
    assert_eq!(taken_over.after_tick, TimeDelta::milliseconds(25));
    assert_eq!(won(4).after_tick, TimeDelta::zero(), "then at once");
}

#[tokio::test(start_paused = true)]
async fn an_instance_stopping_while_it_waits_leaves_the_tick_to_the_owner() {
    // The instance that did not run tick 1 stops at 2.01 s, while it waits
    // (25 ms) to claim tick 2.
    let (seen, runs, stopped, not_run) = run_two(Duration::from_millis(1_510), 1, false).await;
    assert!(
        !seen
            .iter()
            .any(|claim| claim.instance == stopped && claim.tick == second(2)),
        "the stopping instance never claimed tick 2: {seen:?}"
    );
    let mut ticks: Vec<DateTime<Utc>> = runs.iter().map(|(_, tick)| *tick).collect();
    ticks.sort();
    assert_eq!(ticks, (1..=6).map(second).collect::<Vec<_>>());
    assert!(
        not_run.is_empty(),
        "the stopping instance reports no tick as not run: it left it to the owner: {not_run:?}"
    );
}
