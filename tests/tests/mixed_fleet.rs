//! Fleets whose instances differ: other timeouts (a rolling deploy), a clock
//! far ahead, other services on the same Redis, jobs only some instances
//! have, disabled jobs.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cronlock::clock::OffsetClock;
use cronlock::lock::{Lock, MemoryLock, RedisLockConfig, Trigger};
use cronlock::{Error, Job, JobContext, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::fleet::{self, Ledger, assert_each_once, recorded, seconds};
use cronlock_tests::logs::LogCapture;
use cronlock_tests::paused::Log;

fn on_redis(redis: &RedisServer) -> cronlock::SchedulerBuilder {
    Scheduler::builder()
        .registered_jobs(false)
        .redis_config(RedisLockConfig::new(redis.url()))
}

/// An old build (60 s timeout) whose clock lags 10.5 s and a new build (1 s
/// timeout) share a job: the lagging instance reaches each tick after the
/// new build's short window forgot it, and must still not run it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_with_different_timeouts_run_no_tick_twice() {
    let redis = RedisServer::start();
    let ledger = Ledger::default();
    let new = on_redis(&redis)
        .job(recorded(
            &ledger,
            0,
            "shared",
            "* * * * * *",
            Duration::from_secs(1),
        ))
        .build()
        .await
        .unwrap();
    let old = on_redis(&redis)
        .clock(OffsetClock::new(chrono::Duration::milliseconds(-10_500)))
        .job(recorded(
            &ledger,
            1,
            "shared",
            "* * * * * *",
            Duration::from_secs(60),
        ))
        .build()
        .await
        .unwrap();
    let started = Utc::now();
    fleet::start(&[new, old], Duration::from_secs(16))
        .finish()
        .await;
    let must_run = seconds(
        started + chrono::Duration::seconds(1),
        Utc::now() - chrono::Duration::seconds(1),
    );
    assert_each_once(&ledger, "shared", &must_run);
}

/// An instance whose clock runs 30 s ahead waits for Redis's time instead
/// of asking again and again: a handful of claim calls in 8 s, not dozens a
/// second, and an error that says the clock is off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_far_ahead_does_not_flood_redis() {
    let capture = LogCapture::default();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let redis = RedisServer::start();
    let ledger = Ledger::default();
    let ahead = on_redis(&redis)
        .clock(OffsetClock::new(chrono::Duration::seconds(30)))
        .job(recorded(
            &ledger,
            0,
            "ahead",
            "* * * * * *",
            Duration::from_secs(5),
        ))
        .build()
        .await
        .unwrap();
    redis.command(&["CONFIG", "RESETSTAT"]);
    // On this thread: the default subscriber captures the scheduler's logs.
    ahead
        .run_until(tokio::time::sleep(Duration::from_secs(8)))
        .await
        .unwrap();
    let calls = script_calls(&redis);
    assert!(calls <= 10, "{calls} claim calls in 8 s");
    assert!(ledger.entries().is_empty(), "{:?}", ledger.entries());
    capture.assert_logged(&["ERROR", "more than the skew margin"]);
}

/// `EVALSHA` calls Redis served since its statistics were reset.
fn script_calls(redis: &RedisServer) -> u64 {
    redis
        .bulk(&["INFO", "commandstats"])
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0)
}

/// A trigger of a job that only some instances have waits for one of
/// them: an instance without the job never takes it (so it is never dropped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trigger_waits_for_an_instance_that_has_the_job() {
    let redis = RedisServer::start();
    let ledger = Ledger::default();
    let without = on_redis(&redis)
        .job(recorded(
            &ledger,
            0,
            "other",
            "0 0 0 1 1 *",
            Duration::from_secs(5),
        ))
        .build()
        .await
        .unwrap();
    let running = fleet::start(&[without], Duration::from_secs(6));
    let with = on_redis(&redis)
        .job(recorded(
            &ledger,
            1,
            "only-new",
            "0 0 0 1 1 *",
            Duration::from_secs(5),
        ))
        .build()
        .await
        .unwrap();
    with.trigger("only-new").await.unwrap();
    // The instance without the job polls three times meanwhile.
    tokio::time::sleep(Duration::from_millis(3_200)).await;
    assert!(ledger.entries().is_empty());
    assert_eq!(
        redis.command(&["HEXISTS", "{cronlock:}:triggers", "only-new"]),
        ":1",
        "the trigger still waits"
    );
    fleet::start(&[with], Duration::from_millis(2_500))
        .finish()
        .await;
    running.finish().await;
    let runs: Vec<_> = ledger.entries();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].0, 1);
}

/// A disabled job never runs: not on its schedule, not when triggered
/// through the scheduler (an error) nor through the store.
#[tokio::test(start_paused = true)]
async fn a_disabled_job_never_runs_even_when_triggered() {
    let ran: Log<()> = Log::default();
    let log = ran.clone();
    let lock = Arc::new(MemoryLock::new());
    let scheduler = cronlock_tests::paused::builder()
        .lock(Arc::clone(&lock))
        .job(
            Job::new(
                "off",
                "* * * * * *",
                Duration::from_secs(5),
                move |_ctx: JobContext| {
                    let log = log.clone();
                    async move { log.push(()) }
                },
            )
            .enabled(false),
        )
        .build()
        .await
        .unwrap();
    assert!(matches!(
        scheduler.trigger("off").await,
        Err(Error::JobDisabled { .. })
    ));
    let control = lock.control().unwrap();
    control
        .trigger(&Trigger {
            job: "off".into(),
            queued: cronlock_tests::paused::start(),
            by: None,
        })
        .await
        .unwrap();
    cronlock_tests::paused::run_for(&scheduler, Duration::from_secs(5)).await;
    assert!(ran.entries().is_empty());
}

/// A `service` process (a `cronlock::run()` binary with one every-second
/// job, `heartbeat`) with the given environment.
fn service(redis: &RedisServer, env: &[(&str, &str)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_service"));
    command
        .env("REDIS_URL", redis.url())
        .env("RUST_LOG", "info")
        .env_remove("CRONLOCK_PREFIX")
        .env_remove("CRONLOCK_SERVICE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("service starts")
}

/// Stops a service after `after` and returns what it logged.
fn output_after(child: Child, after: Duration) -> String {
    std::thread::sleep(after);
    cronlock_tests::chaos::signal(child.id(), "TERM");
    let output = child.wait_with_output().expect("service output");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Two services with a job of the same name on one Redis: with their own
/// `CRONLOCK_PREFIX` each runs every tick; with the same prefix they would
/// split the ticks, and each warns about the other.
#[test]
fn services_sharing_a_redis_keep_apart_with_their_own_prefix_and_warn_without() {
    let redis = RedisServer::start();
    let billing = service(
        &redis,
        &[
            ("CRONLOCK_PREFIX", "billing:"),
            ("CRONLOCK_SERVICE", "billing"),
        ],
    );
    let reports = service(
        &redis,
        &[
            ("CRONLOCK_PREFIX", "reports:"),
            ("CRONLOCK_SERVICE", "reports"),
        ],
    );
    std::thread::sleep(Duration::from_millis(500));
    let billing = output_after(billing, Duration::from_millis(4_500));
    let reports = output_after(reports, Duration::ZERO);
    for (name, log) in [("billing", &billing), ("reports", &reports)] {
        let beats = log.matches("heartbeat tick=").count();
        assert!(beats >= 3, "{name} ran {beats} ticks:\n{log}");
        assert!(!log.contains("another service"), "{name}:\n{log}");
    }
    assert_eq!(redis.command(&["EXISTS", "{billing:heartbeat}:tick"]), ":1");
    assert_eq!(redis.command(&["EXISTS", "{reports:heartbeat}:tick"]), ":1");

    let first = service(&redis, &[("CRONLOCK_SERVICE", "billing")]);
    std::thread::sleep(Duration::from_millis(1_500));
    let second = service(&redis, &[("CRONLOCK_SERVICE", "reports")]);
    let second = output_after(second, Duration::from_millis(1_500));
    let _ = output_after(first, Duration::ZERO);
    assert!(
        second.contains("another service registers a job of the same name")
            && second.contains("other_service=billing"),
        "{second}"
    );
}
