//! Operating a fleet: pause and resume, manual triggers and run history,
//! with the in-process lock and across two instances sharing a real Redis.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::lock::RedisLockConfig;
use cronlock::{Error, Job, JobContext, RunOutcome, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::paused::{Log, builder, second};

fn recording(name: &str, spec: &str, log: &Log<(usize, DateTime<Utc>)>, instance: usize) -> Job {
    let log = log.clone();
    Job::new(
        name,
        spec,
        Duration::from_secs(5),
        move |ctx: JobContext| {
            let log = log.clone();
            async move {
                log.push((instance, ctx.tick()));
                if ctx.tick().timestamp() % 2 == 0 {
                    Ok(())
                } else {
                    Err("odd tick")
                }
            }
        },
    )
}

#[tokio::test(start_paused = true)]
async fn pause_resume_trigger_and_history_in_one_process() {
    let log = Log::default();
    let scheduler = builder()
        .job(recording("job", "* * * * * *", &log, 0))
        .build()
        .await
        .unwrap();
    let running = cronlock_tests::fleet::start(
        std::slice::from_ref(&scheduler),
        Duration::from_millis(10_000),
    );

    tokio::time::sleep(Duration::from_millis(1_700)).await; // ticks 1 and 2 ran
    scheduler.pause("job").await.unwrap();
    assert!(scheduler.list_jobs()[0].paused);
    tokio::time::sleep(Duration::from_millis(3_000)).await; // ticks 3, 4, 5 skipped
    scheduler.resume("job").await.unwrap();
    assert!(!scheduler.list_jobs()[0].paused);
    tokio::time::sleep(Duration::from_millis(2_000)).await; // ticks 6 and 7 run
    scheduler.trigger("job").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_100)).await; // picked up within a second
    running.finish().await;

    let ticks: Vec<DateTime<Utc>> = log.entries().into_iter().map(|(_, tick)| tick).collect();
    assert_eq!(
        &ticks[..4],
        &[second(1), second(2), second(6), second(7)],
        "{ticks:?}"
    );
    let triggered = ticks.iter().find(|t| t.timestamp_subsec_millis() != 0);
    assert!(
        triggered.is_some(),
        "the trigger ran at its own instant, not a tick: {ticks:?}"
    );
    let history = scheduler.history("job").await.unwrap();
    // The pause and the resume are in the history too, newest first, and
    // the ticks the pause skipped, each once with why.
    let (not_run, history_rest): (Vec<_>, Vec<_>) = history
        .iter()
        .partition(|entry| matches!(entry.outcome, RunOutcome::NotRun { .. }));
    let (markers, runs): (Vec<_>, Vec<_>) = history_rest
        .into_iter()
        .partition(|entry| matches!(entry.outcome, RunOutcome::Skipped { .. }));
    assert_eq!(runs.len(), ticks.len());
    assert_eq!(
        not_run
            .iter()
            .map(|entry| (entry.tick, entry.outcome.message().unwrap_or_default()))
            .collect::<Vec<_>>(),
        vec![
            (second(5), "paused"),
            (second(4), "paused"),
            (second(3), "paused")
        ],
        "{history:?}"
    );
    let reasons: Vec<&str> = markers
        .iter()
        .filter_map(|entry| entry.outcome.message())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].starts_with("resumed by ") && reasons[1].starts_with("paused by "),
        "{reasons:?}"
    );
    assert!(
        history.windows(2).all(|w| w[0].started >= w[1].started),
        "newest first"
    );
    let odd = history
        .iter()
        .find(|entry| entry.tick == second(1))
        .unwrap();
    assert_eq!(
        odd.outcome,
        RunOutcome::Failed {
            error: "odd tick".into()
        }
    );
    assert_eq!(
        history
            .iter()
            .find(|entry| entry.tick == second(2))
            .unwrap()
            .outcome,
        RunOutcome::Completed
    );
    assert!(matches!(
        scheduler.pause("nope").await,
        Err(Error::UnknownJob { .. })
    ));
}

async fn redis_instance(
    redis: &RedisServer,
    log: &Log<(usize, DateTime<Utc>)>,
    instance: usize,
) -> Scheduler {
    Scheduler::builder()
        .registered_jobs(false)
        .redis_config(RedisLockConfig::new(redis.url()))
        .job(recording("shared", "* * * * * *", log, instance))
        .build()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_pause_trigger_and_history() {
    let redis = RedisServer::start();
    let log = Log::default();
    let (a, b) = (
        redis_instance(&redis, &log, 0).await,
        redis_instance(&redis, &log, 1).await,
    );
    let running =
        cronlock_tests::fleet::start(&[a.clone(), b.clone()], Duration::from_millis(9_000));

    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let paused_at = Utc::now();
    a.pause("shared").await.unwrap();
    // B learns of the pause within its next control poll (one second).
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let paused_from = Utc::now();
    assert!(b.list_jobs()[0].paused, "B sees the pause A made");
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let paused_until = Utc::now();
    b.trigger("shared").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    a.resume("shared").await.unwrap();
    let resumed_at = Utc::now();
    running.finish().await;

    let entries = log.entries();
    let during_pause: Vec<_> = entries
        .iter()
        .filter(|(_, t)| *t > paused_from && *t < paused_until)
        .collect();
    assert!(
        during_pause.is_empty(),
        "ran while paused: {during_pause:?}"
    );
    let triggered: Vec<_> = entries
        .iter()
        .filter(|(_, t)| t.timestamp_subsec_millis() != 0)
        .collect();
    assert_eq!(
        triggered.len(),
        1,
        "one trigger, one run in the fleet: {entries:?}"
    );
    let mut ticks: Vec<DateTime<Utc>> = entries.iter().map(|(_, t)| *t).collect();
    ticks.sort();
    ticks.dedup();
    assert_eq!(ticks.len(), entries.len(), "a tick ran twice: {entries:?}");

    // Either instance reads the fleet's history: every run, from both.
    let history = b.history("shared").await.unwrap();
    // Every run, the pause and the resume, and the ticks the pause skipped:
    // each once, though both instances skipped them.
    let runs = history
        .iter()
        .filter(|entry| {
            !matches!(
                entry.outcome,
                RunOutcome::Skipped { .. } | RunOutcome::NotRun { .. }
            )
        })
        .count();
    assert_eq!(runs, entries.len().min(20));
    let paused = cronlock_tests::not_run_ticks(&history, cronlock::NotRun::Paused);
    let mut distinct = paused.clone();
    distinct.dedup();
    assert_eq!(distinct, paused, "each paused tick once: {history:?}");
    assert!(
        paused
            .iter()
            .all(|tick| *tick > paused_at && *tick < resumed_at),
        "{history:?}"
    );
    assert!(
        paused.len() >= 2,
        "the ticks skipped while paused are recorded: {history:?}"
    );
    assert_eq!(
        history.len(),
        (entries.len() + 2).min(20) + paused.len(),
        "{history:?}"
    );
    let instances: std::collections::BTreeSet<&str> =
        history.iter().map(|h| h.instance.as_str()).collect();
    assert!(
        !instances.is_empty() && instances.iter().all(|i| i.contains(':')),
        "{instances:?}"
    );
}

/// A trigger that comes while a run of the job holds its lock (the job does
/// not allow overlap) is not dropped: it waits and runs after that run.
#[tokio::test(start_paused = true)]
async fn a_trigger_during_a_run_runs_after_it() {
    let starts: Log<DateTime<Utc>> = Log::default();
    let log = starts.clone();
    let scheduler = builder()
        .job(Job::new(
            "slow",
            "0 0 0 1 1 *",
            Duration::from_secs(10),
            move |ctx: JobContext| {
                let log = log.clone();
                async move {
                    log.push(ctx.tick());
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
            },
        ))
        .build()
        .await
        .unwrap();
    let running = cronlock_tests::fleet::start(
        std::slice::from_ref(&scheduler),
        Duration::from_millis(9_000),
    );
    scheduler.trigger("slow").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await; // the first run goes on
    scheduler.trigger("slow").await.unwrap();
    running.finish().await;
    let starts = starts.entries();
    assert_eq!(starts.len(), 2, "{starts:?}");
    assert!(
        starts[1] - starts[0] >= chrono::Duration::seconds(3),
        "the second run started while the first went on: {starts:?}"
    );
}
