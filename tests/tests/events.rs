//! `Scheduler::events`: what a service pages on. Against a real Redis: a
//! failing run, ticks skipped because a run still holds the lock, a run
//! whose lock is taken away, a paused job.

use std::time::Duration;

use cronlock::lock::RedisLockConfig;
use cronlock::{Event, Job, JobContext, NotRun, Overlap, RunOutcome, Scheduler};
use cronlock_tests::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_skips_lost_locks_and_pauses_are_events() {
    let redis = RedisServer::start();
    let scheduler = Scheduler::builder()
        .registered_jobs(false)
        .redis_config(RedisLockConfig::new(redis.url()))
        .job(Job::new(
            "fails",
            "* * * * * *",
            Duration::from_secs(1),
            |_ctx: JobContext| async { Err::<(), _>("disk full") },
        ))
        .job(
            Job::new(
                "slow",
                "* * * * * *",
                Duration::from_secs(10),
                |_ctx: JobContext| async {
                    tokio::time::sleep(Duration::from_millis(2_500)).await;
                },
            )
            .overlap(Overlap::Skip),
        )
        .job(Job::new(
            "held",
            "*/30 * * * * *",
            Duration::from_secs(3),
            |ctx: JobContext| async move { ctx.cancelled().await },
        ))
        .job(Job::new(
            "paused",
            "* * * * * *",
            Duration::from_secs(1),
            |_ctx: JobContext| async {},
        ))
        .build()
        .await
        .unwrap();
    scheduler.pause("paused").await.unwrap();
    let mut events = scheduler.events();
    scheduler.trigger("held").await.unwrap();
    let runner = scheduler.clone();
    let run = tokio::spawn(async move {
        runner
            .run_until(tokio::time::sleep(Duration::from_millis(5_500)))
            .await
    });
    // The manual run of `held` takes its lock; the lock is taken away.
    redis
        .await_key("{cronlock:held}:run", Duration::from_secs(3))
        .await;
    redis.command(&["DEL", "{cronlock:held}:run"]);
    run.await.unwrap().unwrap();

    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push(event);
    }
    let failed = seen.iter().any(|event| {
        matches!(event, Event::RunFinished { job, outcome: RunOutcome::Failed { error }, .. }
            if &**job == "fails" && error.contains("disk full"))
    });
    assert!(failed, "no failed run of `fails`: {seen:?}");
    let skipped = seen.iter().any(|event| {
        matches!(event, Event::TicksNotRun { job, reason: NotRun::SkippedOverlap, count: 1 }
            if &**job == "slow")
    });
    assert!(skipped, "no skipped tick of `slow`: {seen:?}");
    let paused = seen.iter().any(|event| {
        matches!(event, Event::TicksNotRun { job, reason: NotRun::Paused, .. } if &**job == "paused")
    });
    assert!(paused, "no paused tick of `paused`: {seen:?}");
    let lost = seen
        .iter()
        .any(|event| matches!(event, Event::LockLost { job, .. } if &**job == "held"));
    assert!(lost, "no lost lock of `held`: {seen:?}");
    assert!(
        !seen
            .iter()
            .any(|event| matches!(event, Event::RunFinished { job, .. } if &**job == "paused")),
        "a paused job ran: {seen:?}"
    );
}
