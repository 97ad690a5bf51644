//! Running against Redis in production: a clean start says nothing alarming
//! and publishes every job; a demoted primary is left for the new one;
//! failures say what went wrong; every key is bounded.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use cronlock::lock::{
    Control, HistoryEntry, JobSummary, Lock, MemoryLock, Pause, RedisLock, RedisLockConfig, Trigger,
};
use cronlock::{Fleet, Job, JobContext, RunOutcome, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::fleet::{self, Ledger, assert_each_once, recorded, seconds};
use cronlock_tests::logs::LogCapture;
use cronlock_tests::paused::Log;
use cronlock_tests::proxy::{Fault, Proxy};

/// A healthy start logs no warning or error, and the published list holds
/// every job, more than one publishing slice of them.
#[tokio::test]
async fn a_healthy_start_logs_no_warning_and_publishes_every_job() {
    let capture = LogCapture::default();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let redis = RedisServer::start();
    let mut builder = Scheduler::builder()
        .registered_jobs(false)
        .redis_config(RedisLockConfig::new(redis.url()));
    for index in 0..300 {
        builder = builder.job(Job::new(
            format!("job-{index}"),
            "0 0 0 1 1 *",
            Duration::from_secs(60),
            |_ctx: JobContext| async {},
        ));
    }
    let scheduler = builder.build().await.unwrap();
    scheduler
        .run_until(tokio::time::sleep(Duration::from_millis(1_500)))
        .await
        .unwrap();
    let alarming: Vec<String> = capture
        .lines()
        .into_iter()
        .filter(|line| line.contains("WARN") || line.contains("ERROR"))
        .collect();
    assert!(alarming.is_empty(), "{alarming:#?}");
    let fleet = Fleet::connect(&redis.url(), "cronlock:").await.unwrap();
    assert_eq!(fleet.jobs().await.unwrap().len(), 300);
    fleet
        .pause("job-299", &Pause::new(Utc::now()))
        .await
        .expect("the last job is known to the fleet");
}

/// A primary demoted to a replica (`REPLICAOF`) answers every write with
/// `READONLY`: its connections are retired, and new ones (through a
/// managed endpoint that now points at the new primary) carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demoted_primary_is_left_for_the_new_one() {
    let old = RedisServer::start();
    let new = RedisServer::start();
    let endpoint = Proxy::start(old.port());
    let ledger = Ledger::default();
    let scheduler = Scheduler::builder()
        .registered_jobs(false)
        .redis_config(
            RedisLockConfig::new(endpoint.url())
                .connect_timeout(Duration::from_millis(500))
                .reply_timeout(Duration::from_millis(500)),
        )
        .job(recorded(
            &ledger,
            0,
            "every-second",
            "* * * * * *",
            Duration::from_secs(5),
        ))
        .build()
        .await
        .unwrap();
    let running = fleet::start(&[scheduler], Duration::from_secs(9));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let new_port = new.port().to_string();
    old.command(&["REPLICAOF", "127.0.0.1", &new_port]);
    endpoint.retarget(new.port());
    let switched = Utc::now();
    running.finish().await;
    let after = seconds(
        switched + chrono::Duration::seconds(2),
        Utc::now() - chrono::Duration::seconds(1),
    );
    assert!(after.len() >= 4, "{after:?}");
    assert_each_once(&ledger, "every-second", &after);
}

/// Errors at start say what is wrong: a database that does not exist, a
/// server that accepts connections but never answers.
#[tokio::test]
async fn startup_errors_say_what_went_wrong() {
    let redis = RedisServer::start();
    let connect = |url: String| async move {
        RedisLock::connect(RedisLockConfig::new(url).start_timeout(Duration::from_secs(1)))
            .await
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let no_db = connect(format!("{}/99", redis.url())).await;
    assert!(
        no_db.contains("the database number does not exist"),
        "{no_db}"
    );
    let silent = Proxy::start(redis.port());
    silent.set(Fault::BlackHole);
    let black_hole = connect(silent.url()).await;
    assert!(black_hole.contains("no answer in time"), "{black_hole}");
}

/// Every key cronlock writes expires or is capped: claim state, histories,
/// the job list, pauses, triggers.
#[tokio::test]
async fn every_key_expires() {
    let redis = RedisServer::start();
    let lock = RedisLock::connect(RedisLockConfig::new(redis.url()))
        .await
        .unwrap();
    let token = cronlock::lock::random_token();
    lock.claim(cronlock_tests::contract::request(
        "bounded",
        1,
        Duration::from_secs(10),
        &token,
    ))
    .await
    .unwrap();
    let control = lock.control().unwrap();
    let entry = HistoryEntry {
        tick: Utc::now(),
        instance: "i".into(),
        started: Utc::now(),
        duration: Duration::ZERO,
        outcome: RunOutcome::Completed,
    };
    control.record_run("bounded", &entry, 20).await.unwrap();
    control
        .publish_jobs(&[summary("bounded", Utc::now())])
        .await
        .unwrap();
    control
        .set_paused("bounded", Some(&Pause::new(Utc::now())))
        .await
        .unwrap();
    control
        .trigger(&Trigger {
            job: "bounded".into(),
            queued: Utc::now(),
            by: None,
        })
        .await
        .unwrap();
    let keys = redis.bulk_array(&["KEYS", "*"]);
    assert!(keys.len() >= 8, "{keys:?}");
    for key in keys {
        let ttl: i64 = redis.command(&["PTTL", &key])[1..].parse().unwrap();
        assert!(ttl > 0, "{key} never expires (PTTL {ttl})");
    }
}

fn summary(name: &str, seen: chrono::DateTime<Utc>) -> JobSummary {
    JobSummary {
        name: name.into(),
        spec: "0 * * * * *".into(),
        tz: "UTC".into(),
        timeout: Duration::from_secs(60),
        enabled: true,
        service: "svc".into(),
        instance: "i".into(),
        seen,
    }
}

/// A job no instance published for a week leaves the list, with its pause.
#[tokio::test]
async fn the_job_list_forgets_jobs_nobody_registers() {
    let redis = RedisServer::start();
    let lock = RedisLock::connect(RedisLockConfig::new(redis.url()))
        .await
        .unwrap();
    let control = lock.control().unwrap();
    let long_ago = Utc::now() - chrono::Duration::days(8);
    control
        .set_paused("removed", Some(&Pause::new(long_ago)))
        .await
        .unwrap();
    control
        .publish_jobs(&[summary("removed", long_ago)])
        .await
        .unwrap();
    control
        .publish_jobs(&[summary("current", Utc::now())])
        .await
        .unwrap();
    let names: Vec<String> = control
        .published_jobs()
        .await
        .unwrap()
        .into_iter()
        .map(|job| job.name)
        .collect();
    assert_eq!(names, ["current"]);
    assert!(control.fleet_state().await.unwrap().paused.is_empty());
}

/// A trigger no instance took within an hour is dropped, not run whenever
/// a fleet next starts.
#[tokio::test(start_paused = true)]
async fn a_trigger_nobody_took_for_an_hour_is_dropped() {
    let ran: Log<()> = Log::default();
    let log = ran.clone();
    let lock = Arc::new(MemoryLock::new());
    let control_lock = Arc::clone(&lock);
    let control: &dyn Control = control_lock.control().unwrap();
    control
        .trigger(&Trigger {
            job: "stale".into(),
            queued: cronlock_tests::paused::start() - chrono::Duration::hours(2),
            by: None,
        })
        .await
        .unwrap();
    let scheduler = cronlock_tests::paused::builder()
        .lock(Arc::clone(&lock))
        .job(Job::new(
            "stale",
            "0 0 0 1 1 *",
            Duration::from_secs(5),
            move |_ctx: JobContext| {
                let log = log.clone();
                async move { log.push(()) }
            },
        ))
        .build()
        .await
        .unwrap();
    cronlock_tests::paused::run_for(&scheduler, Duration::from_secs(3)).await;
    assert!(ran.entries().is_empty());
    assert!(control.fleet_state().await.unwrap().triggers.is_empty());
}
