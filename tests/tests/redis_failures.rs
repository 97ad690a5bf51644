//! Redis failures: an outage is survived (fail closed, logged once, resumed
//! without double runs), also one at start; bad credentials are clear
//! startup errors, and so is an unreachable server within a start timeout;
//! a lost run lock cancels the run.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::lock::RedisLockConfig;
use cronlock::{Error, Job, JobContext, Scheduler};
use cronlock_tests::fleet;
use cronlock_tests::logs::LogCapture;
use cronlock_tests::paused::Log;
use cronlock_tests::{RedisServer, free_port};

fn builder(url: &str) -> cronlock::SchedulerBuilder {
    Scheduler::builder()
        .registered_jobs(false)
        .redis_config(RedisLockConfig::new(url).connection_timeout(Duration::from_millis(500)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_survived_logged_once_and_nothing_runs_twice() {
    let capture = LogCapture::default();
    // Global: the schedulers log from their own tasks and threads.
    let _ = tracing::subscriber::set_global_default(capture.subscriber());

    let mut redis = RedisServer::start();
    let ledger = fleet::Ledger::default();
    let mut schedulers = Vec::new();
    for index in 0..2 {
        schedulers.push(
            builder(&redis.url())
                .job(fleet::recorded(
                    &ledger,
                    index,
                    "every-second",
                    "* * * * * *",
                    Duration::from_secs(1),
                ))
                .build()
                .await
                .unwrap(),
        );
    }
    let running = fleet::start(&schedulers, Duration::from_secs(14));

    tokio::time::sleep(Duration::from_secs(3)).await;
    redis.kill();
    let down = Utc::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let up = Utc::now();
    let _redis = tokio::task::spawn_blocking(move || {
        redis.restart();
        redis
    })
    .await
    .unwrap();
    running.finish().await;

    let ticks: Vec<DateTime<Utc>> = ledger.entries().iter().map(|(_, _, t)| *t).collect();
    let log = capture.lines().join("\n");
    fleet::assert_outage_survived(&ticks, (down, up), ("Redis", "every-second"), 2, &log);
    assert!(
        log.contains("every-second"),
        "the error names the job:\n{log}"
    );
}

#[tokio::test]
async fn acl_user_and_password() {
    let redis = RedisServer::start_with(&[
        "--save",
        "",
        "--user",
        "default",
        "off",
        "--user",
        "scheduler",
        "on",
        ">s3cret",
        "~*",
        "+@all",
    ]);
    let port = redis.port();
    let ok = builder(&format!("redis://scheduler:s3cret@127.0.0.1:{port}"))
        .build()
        .await;
    assert!(ok.is_ok(), "{:?}", ok.err());

    let err = builder(&format!(
        "redis://scheduler:wrong-password@127.0.0.1:{port}"
    ))
    .build()
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Lock(_)), "{err:?}");
    assert!(
        text.contains(&format!(
            "cannot use Redis at redis://scheduler:***@127.0.0.1:{port}: the credentials were refused"
        )),
        "{text}"
    );
    assert!(
        !text.contains("wrong-password"),
        "the password leaked: {text}"
    );
    assert!(
        !format!("{err:?}").contains("wrong-password"),
        "the password leaked into Debug: {err:?}"
    );
}

/// Redis down at start is the same outage as Redis down later: the
/// scheduler starts fail-closed and runs ticks once Redis answers, so a
/// Redis blip during a deploy does not crash-loop new instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_start_is_survived_and_ticks_run_when_it_answers() {
    let port = free_port().unwrap();
    let ran = Log::default();
    let log = ran.clone();
    let scheduler = builder(&format!("redis://127.0.0.1:{port}"))
        .job(Job::new(
            "down-at-start",
            "* * * * * *",
            Duration::from_secs(5),
            move |ctx: JobContext| {
                let log = log.clone();
                async move { log.push(ctx.tick()) }
            },
        ))
        .build()
        .await
        .expect("Redis down at start is not a startup error");
    let running = cronlock_tests::fleet::start(&[scheduler], Duration::from_secs(6));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        ran.entries().is_empty(),
        "ran without a lock: {:?}",
        ran.entries()
    );
    let came_up = chrono::Utc::now();
    let _redis = RedisServer::start_on(port, &["--save", "", "--appendonly", "no"]);
    running.finish().await;
    let after: Vec<_> = ran
        .entries()
        .into_iter()
        .filter(|tick| *tick > came_up)
        .collect();
    assert!(after.len() >= 2, "ticks after Redis came up: {after:?}");
}

/// With a start timeout, an unreachable Redis is a startup error that says
/// what went wrong, without the password.
#[tokio::test]
async fn an_unreachable_server_within_the_start_timeout_is_a_clear_error() {
    let port = free_port().unwrap();
    let started = std::time::Instant::now();
    let err = Scheduler::builder()
        .registered_jobs(false)
        .redis_config(
            RedisLockConfig::new(format!("redis://:pw@127.0.0.1:{port}"))
                .start_timeout(Duration::from_secs(1)),
        )
        .build()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "lock backend: cannot use Redis at redis://:***@127.0.0.1:{port}: connection refused"
        )),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    let err = builder("redis//missing-colon").build().await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("lock backend: invalid Redis URL"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_run_lock_cancels_the_run() {
    let redis = RedisServer::start();
    let seen: Log<(&str, Duration)> = Log::default();
    let log = seen.clone();
    let scheduler = builder(&redis.url())
        .job(Job::new("long", "* * * * * *", Duration::from_secs(3), move |ctx: JobContext| {
            let log = log.clone();
            async move {
                let started = std::time::Instant::now();
                tokio::select! {
                    () = ctx.cancelled() => log.push(("cancelled", started.elapsed())),
                    () = tokio::time::sleep(Duration::from_secs(10)) => log.push(("finished", started.elapsed())),
                }
            }
        }))
        .build()
        .await
        .unwrap();
    let runner = scheduler.clone();
    let run = tokio::spawn(async move {
        runner
            .run_until(tokio::time::sleep(Duration::from_millis(3_500)))
            .await
    });
    // Wait for the run to hold its lock, then take the lock away (a failover to
    // a replica that never saw it would do the same).
    redis
        .await_key("{cronlock:long}:run", Duration::from_secs(3))
        .await;
    redis.command(&["DEL", "{cronlock:long}:run"]);
    run.await.unwrap().unwrap();
    // The watchdog extends every second (a third of the 3 s TTL): it finds the
    // lock gone and cancels the run well before the 3 s timeout would.
    let (event, after) = seen.entries().first().copied().expect("the run ended");
    assert_eq!(event, "cancelled");
    assert!(
        after < Duration::from_millis(2_500),
        "cancelled after {after:?}: by the timeout, not the lost lock"
    );
}
