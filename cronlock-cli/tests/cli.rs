//! The `cronlock` command against a real Redis and a running scheduler.

use std::process::Command;
use std::time::Duration;

use cronlock::lock::RedisLockConfig;
use cronlock::{Job, Scheduler};
use cronlock_tests::postgres::PostgresServer;
use cronlock_tests::{RedisServer, free_port};

fn cronlock(args: &[&str], redis: Option<&str>) -> (Option<i32>, String, String) {
    cronlock_at(args, redis.map(|url| ("REDIS_URL", url)))
}

/// Runs the command with no backend in the environment but `backend`
/// (`REDIS_URL` or `DATABASE_URL` and its URL).
fn cronlock_at(args: &[&str], backend: Option<(&str, &str)>) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cronlock"));
    command
        .args(args)
        .env_remove("REDIS_URL")
        .env_remove("DATABASE_URL");
    if let Some((variable, url)) = backend {
        command.env(variable, url);
    }
    let output = command.output().expect("cronlock runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A scheduler on the Redis at `url` with one job that does nothing.
async fn one_job_scheduler(url: impl Into<String>, name: &str, spec: &str) -> Scheduler {
    Scheduler::builder()
        .registered_jobs(false)
        .redis_config(RedisLockConfig::new(url))
        .job(Job::new(name, spec, Duration::from_secs(5), |_ctx| async {}))
        .build()
        .await
        .unwrap()
}

#[test]
fn next_explains_the_spec_and_lists_fire_times() {
    let (code, out, _) = cronlock(
        &[
            "next",
            "0 */15 9-17 * * MON-FRI",
            "--tz",
            "Europe/Berlin",
            "-n",
            "3",
            "--json",
        ],
        None,
    );
    assert_eq!(code, Some(0));
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        value["english"],
        "at second 0 of minutes 0, 15, 30 and 45 of hours 9-17, on Monday-Friday, every month"
    );
    assert_eq!(value["tz"], "Europe/Berlin");
    assert_eq!(value["next"].as_array().unwrap().len(), 3);

    let (code, out, _) = cronlock(&["next", "@every 90s", "-n", "2"], None);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("every 1m30s, counted from the Unix epoch"),
        "{out}"
    );

    let (code, _, err) = cronlock(&["next", "0 0 25 * * *"], None);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("hour 25 is out of range (0-23)")
            && err.contains("    0 0 25 * * *\n        ^^"),
        "{err}"
    );
}

#[test]
fn without_redis_the_exit_code_says_so() {
    let (code, _, err) = cronlock(&["list"], None);
    assert_eq!(code, Some(2), "{err}");
    let port = free_port().unwrap();
    let (code, _, err) = cronlock(&["list"], Some(&format!("redis://127.0.0.1:{port}")));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("cannot use Redis"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_history_pause_resume_trigger_against_a_running_fleet() {
    let redis = RedisServer::start();
    let url = redis.url();
    let scheduler = Scheduler::builder()
        .registered_jobs(false)
        .redis_config(RedisLockConfig::new(url.clone()))
        .job(Job::new(
            "report",
            "* * * * * *",
            Duration::from_secs(5),
            |_ctx| async {},
        ))
        .job(Job::new(
            "nightly",
            "0 0 2 * * *",
            Duration::from_secs(60),
            |_ctx| async {},
        ))
        .build()
        .await
        .unwrap();
    let running =
        cronlock_tests::fleet::start(std::slice::from_ref(&scheduler), Duration::from_secs(14));
    tokio::time::sleep(Duration::from_millis(2_300)).await;

    let cli = |args: &'static [&'static str]| {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || cronlock(args, Some(&url)))
                .await
                .unwrap()
        }
    };
    let (code, out, err) = cli(&["list"]).await;
    assert_eq!(code, Some(0), "{err}");
    let report = out
        .lines()
        .find(|line| line.starts_with("report"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        report.contains("* * * * * *") && report.contains("active") && report.contains("ok at"),
        "{out}"
    );
    assert!(out.lines().next().unwrap().starts_with("NAME"), "{out}");

    let (_, out, _) = cli(&["list", "--json"]).await;
    let jobs: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(jobs.as_array().unwrap().len(), 2);

    let (code, out, _) = cli(&["history", "report", "--json"]).await;
    assert_eq!(code, Some(0));
    let runs: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        runs.as_array().unwrap().len() >= 2 && runs[0]["outcome"] == "ok",
        "{out}"
    );

    assert_eq!(cli(&["pause", "report"]).await.0, Some(0));
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(
        scheduler
            .list_jobs()
            .iter()
            .any(|job| job.name == "report" && job.paused),
        "the fleet saw the pause"
    );
    let (_, out, _) = cli(&["list"]).await;
    assert!(
        out.lines()
            .any(|line| line.starts_with("report") && line.contains("paused")),
        "{out}"
    );
    // The ticks the pause skipped are counted as missed (recorded at the
    // next control poll), and shown in the history.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert!(out.lines().next().unwrap().ends_with("MISSED 24H"), "{out}");
    let (_, out, _) = cli(&["list", "--json"]).await;
    let jobs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let report = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|job| job["name"] == "report")
        .unwrap();
    assert!(report["missed_last_day"].as_u64().unwrap() >= 2, "{out}");
    let (_, out, _) = cli(&["history", "report"]).await;
    assert!(
        out.lines()
            .any(|line| line.contains("not_run") && line.contains("paused")),
        "{out}"
    );
    assert_eq!(cli(&["resume", "report"]).await.0, Some(0));

    assert_eq!(cli(&["trigger", "nightly"]).await.0, Some(0));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let nightly = scheduler
        .list_jobs()
        .into_iter()
        .find(|job| job.name == "nightly")
        .unwrap();
    assert!(
        nightly.last_run.is_some(),
        "the trigger ran the nightly job"
    );

    let (code, _, err) = cli(&["trigger", "no-such-job"]).await;
    assert_eq!(code, Some(3), "{err}");
    running.finish().await;
}

#[test]
fn help_never_shows_the_password_from_the_environment() {
    let output = Command::new(env!("CARGO_BIN_EXE_cronlock"))
        .arg("--help")
        .env("REDIS_URL", "redis://:hunter2/with-slash@127.0.0.1:6379")
        .output()
        .expect("cronlock runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("REDIS_URL"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// Job error texts come from job code and other machines: escape sequences
/// in them must not reach the terminal. Counts are capped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_text_is_escaped_and_counts_are_capped() {
    use cronlock::lock::{HistoryEntry, JobSummary, Lock, RedisLock};
    let redis = RedisServer::start();
    let lock = RedisLock::connect(RedisLockConfig::new(redis.url()))
        .await
        .unwrap();
    let control = lock.control().unwrap();
    control
        .publish_jobs(&[JobSummary {
            name: "evil".into(),
            spec: "* * * * * *".into(),
            tz: "UTC".into(),
            timeout: Duration::from_secs(1),
            enabled: true,
            service: "svc".into(),
            instance: "i".into(),
            seen: chrono::Utc::now(),
        }])
        .await
        .unwrap();
    let entry = HistoryEntry {
        tick: chrono::Utc::now(),
        instance: "i".into(),
        started: chrono::Utc::now(),
        duration: Duration::ZERO,
        outcome: cronlock::RunOutcome::Failed {
            error: "\u{1b}[2J\u{1b}]0;owned\u{7} boom".into(),
        },
    };
    control.record_run("evil", &entry, 20).await.unwrap();
    let url = redis.url();
    let (code, out, err) =
        tokio::task::spawn_blocking(move || cronlock(&["history", "evil"], Some(&url)))
            .await
            .unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("boom"), "{out}");
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}'),
        "raw control characters reached the terminal: {out:?}"
    );
    let started = std::time::Instant::now();
    let (code, _, err) = cronlock(&["next", "* * * * * *", "-n", "50000000"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A user allowed only to read (and PING) can look at the fleet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_can_list_the_fleet() {
    let redis = RedisServer::start_with(&[
        "--save", "", "--user", "reader", "on", ">pw", "~*", "+@read", "+ping",
    ]);
    let scheduler = one_job_scheduler(redis.url(), "report", "0 0 * * * *").await;
    cronlock_tests::fleet::start(std::slice::from_ref(&scheduler), Duration::from_millis(500))
        .finish()
        .await;
    let url = format!("redis://reader:pw@127.0.0.1:{}", redis.port());
    let (code, out, err) = tokio::task::spawn_blocking(move || cronlock(&["list"], Some(&url)))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("report"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_history_and_pause_against_a_fleet_on_postgres() {
    let server = PostgresServer::start();
    let url = server.url();
    let scheduler = Scheduler::builder()
        .registered_jobs(false)
        .postgres(url.clone())
        .job(Job::new(
            "report",
            "* * * * * *",
            Duration::from_secs(5),
            |_ctx| async {},
        ))
        .build()
        .await
        .unwrap();
    let running =
        cronlock_tests::fleet::start(std::slice::from_ref(&scheduler), Duration::from_secs(6));
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let cli = |args: &'static [&'static str]| {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || cronlock_at(args, Some(("DATABASE_URL", &url))))
                .await
                .unwrap()
        }
    };
    let (code, out, err) = cli(&["list", "--json"]).await;
    assert_eq!(code, Some(0), "{err}");
    let jobs: serde_json::Value = serde_json::from_str(&out).unwrap();
    let report = jobs
        .as_array()
        .and_then(|jobs| jobs.iter().find(|job| job["name"] == "report"))
        .unwrap_or_else(|| panic!("report listed: {out}"));
    assert_eq!(report["spec"], "* * * * * *", "{out}");
    let (code, out, err) = cli(&["history", "report", "--json"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(r#""outcome":"ok""#),
        "a finished run in the history: {out}"
    );
    let (code, _, err) = cli(&["pause", "report"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        server.psql("SELECT job FROM cronlock.pauses"),
        "report",
        "the pause is in the fleet's tables"
    );
    let (code, out, err) = cli(&["history", "report"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.lines()
            .nth(1)
            .is_some_and(|newest| newest.contains("skipped") && newest.contains("paused by")),
        "the pause is the newest history entry: {out}"
    );
    running.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_lists_then_removes_the_state_of_unregistered_jobs() {
    use cronlock::lock::{HistoryEntry, JobSummary, Lock, RedisLock};
    let redis = RedisServer::start();
    let url = redis.url();
    let scheduler = one_job_scheduler(url.clone(), "current", "* * * * * *").await;
    cronlock_tests::fleet::start(std::slice::from_ref(&scheduler), Duration::from_secs(2))
        .finish()
        .await;
    // A job a previous version had: last published 30 days ago, with history.
    let lock = RedisLock::connect(RedisLockConfig::new(url.clone()))
        .await
        .unwrap();
    let control = lock.control().unwrap();
    let seen = chrono::Utc::now() - chrono::Duration::days(30);
    control
        .publish_jobs(&[JobSummary {
            name: "retired".into(),
            spec: "0 0 * * * *".into(),
            tz: "UTC".into(),
            timeout: Duration::from_secs(60),
            enabled: true,
            service: "old-build".into(),
            instance: "gone:1:abc".into(),
            seen,
        }])
        .await
        .unwrap();
    let entry = HistoryEntry {
        tick: seen,
        instance: "gone:1:abc".into(),
        started: seen,
        duration: Duration::from_secs(1),
        outcome: cronlock::RunOutcome::Completed,
    };
    control.record_run("retired", &entry, 20).await.unwrap();

    let run = |args: &'static [&'static str]| {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || cronlock(args, Some(&url)))
                .await
                .unwrap()
        }
    };
    let (code, out, err) = run(&["prune"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("retired") && out.contains("dry run"), "{out}");
    assert!(
        !out.contains("current"),
        "a registered job is never listed: {out}"
    );
    assert_eq!(
        redis.command(&["EXISTS", "{cronlock:retired}:history"]),
        ":1",
        "a dry run removes nothing"
    );

    let (code, out, err) = run(&["prune", "--yes", "--json"]).await;
    assert_eq!(code, Some(0), "{err}");
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(value["removed"], serde_json::json!(["retired"]), "{out}");
    assert_eq!(
        redis.command(&["EXISTS", "{cronlock:retired}:history"]),
        ":0"
    );
    assert_eq!(
        redis.command(&["EXISTS", "{cronlock:current}:history"]),
        ":1"
    );
    let (_, out, _) = run(&["prune"]).await;
    assert!(out.contains("nothing to prune"), "{out}");
}

/// `cronlock dashboard` serves the fleet's jobs from its Redis, asks for
/// auth when told to, stops on SIGTERM, and refuses a non-loopback address
/// without auth before it listens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_serves_the_fleet_and_stops_on_sigterm() {
    let redis = RedisServer::start();
    let url = redis.url();
    let scheduler = one_job_scheduler(url.clone(), "report", "* * * * * *").await;
    let running =
        cronlock_tests::fleet::start(std::slice::from_ref(&scheduler), Duration::from_secs(3));

    let (code, _, err) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || cronlock(&["dashboard", "--listen", "0.0.0.0:0"], Some(&url))
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("without auth"), "{err}");

    let port = free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_cronlock"))
        .args(["dashboard", "--listen", &listen])
        .env("REDIS_URL", &url)
        .env("CRONLOCK_DASHBOARD_BASIC", "ops:pa55")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = listen.parse().unwrap();
    let page = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the dashboard did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let refused = cronlock_tests::http::get(addr, "/");
        assert_eq!(refused.status, 401);
        // ops:pa55
        let auth = [("Authorization", "Basic b3BzOnBhNTU=")];
        std::thread::sleep(Duration::from_millis(1_500));
        cronlock_tests::http::request(addr, "GET", "/", &auth, "")
    })
    .await
    .unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(r#"<tr data-job="report">"#),
        "{}",
        page.body
    );
    assert!(!page.body.contains("pa55"));

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("dashboard at http://{listen}/")),
        "{stderr}"
    );
    running.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_follows_shows_and_cancels() {
    let redis = RedisServer::start();
    let url = redis.url();
    let slow = |ms: u64| {
        move |ctx: cronlock::JobContext| async move {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(ms)) => {}
                () = ctx.cancelled() => {}
            }
        }
    };
    let scheduler = Scheduler::builder()
        .registered_jobs(false)
        .redis_config(RedisLockConfig::new(url.clone()))
        .shutdown_grace(Duration::from_millis(500))
        .job(Job::new(
            "quick",
            "0 * * * * *",
            Duration::from_secs(5),
            slow(100),
        ))
        // Runs long enough that its first tick is the only one started
        // while the test looks (it is cancelled before it ends); overlap
        // allowed, so a scheduled run at a whole minute does not hold the
        // backfill's first run back.
        .job(
            Job::new("slow", "0 * * * * *", Duration::from_secs(60), slow(30_000))
                .overlap(cronlock::Overlap::Allow),
        )
        .build()
        .await
        .unwrap();
    let running =
        cronlock_tests::fleet::start(std::slice::from_ref(&scheduler), Duration::from_secs(25));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cli = |args: Vec<String>| {
        let url = url.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                cronlock(&args, Some(&url))
            })
            .await
            .unwrap()
        }
    };
    let args = |text: &str| text.split('|').map(str::to_owned).collect::<Vec<_>>();
    let hour_ago = (chrono::Utc::now() - chrono::Duration::minutes(61))
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let five_after = (chrono::Utc::now() - chrono::Duration::minutes(56))
        .format("%Y-%m-%dT%H:%M")
        .to_string();

    // Five minutes of a minutely job, followed to the end.
    let (code, out, err) = cli(args(&format!(
        "backfill|quick|--from|{hour_ago}|--to|{five_after}|--wait"
    )))
    .await;
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("backfill of 6 ticks requested"), "{err}");
    assert!(err.contains("of 6 ticks taken"), "a progress line: {err}");
    assert!(out.contains("quick: backfill ended"), "{out}");
    let (_, out, _) = cli(args("history|quick")).await;
    assert_eq!(out.matches("(backfill by ").count(), 6, "{out}");

    // Bad ranges are usage errors that say why.
    let (code, _, err) = cli(args("backfill|quick|--from|yesterday")).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("is not an instant"), "{err}");
    let (code, _, err) = cli(args("backfill|quick|--from|2999-01-01")).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("after it ends"), "{err}");

    // Requested without waiting: shown by --status and list, then cancelled.
    let (code, out, err) = cli(args(&format!("backfill|slow|--from|{hour_ago}"))).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("61 ticks") || out.contains("62 ticks"),
        "{out}"
    );
    // Its first tick starts within a few control polls (a loaded machine).
    let mut status = String::new();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        status = cli(args("backfill|slow|--status")).await.1;
        if status.contains("slow: backfill 1 of ") {
            break;
        }
    }
    assert!(status.contains("slow: backfill 1 of "), "{status}");
    let (_, out, _) = cli(args("list")).await;
    assert!(out.contains(", backfill 1/"), "{out}");
    let (code, out, err) = cli(args("backfill|slow|--cancel")).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("slow: backfill cancelled; 1 of "), "{out}");
    let (_, out, _) = cli(args("backfill|slow|--cancel")).await;
    assert!(out.contains("none was under way"), "{out}");
    running.finish().await;
}
