//! The dashboard in a real browser: headless Chromium (Debian's `chromium`
//! and `chromium-driver`, driven over WebDriver) opens the dashboard of a
//! fleet of two schedulers on a real Redis, sees the jobs and a completed
//! run, pauses a job and sees its badge change while the fleet skips it,
//! triggers it and sees the run appear — all without reloading the page.
//!
//! `UPDATE_SCREENSHOT=1` writes the first screen to `docs/dashboard.png`
//! (the README shows it); it is always written to `target/`.

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use cronlock::dashboard::{self, DashboardConfig};
use cronlock::lock::RedisLockConfig;
use cronlock::{Fleet, Job, JobContext, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::fleet::{Ledger, recorded};
use cronlock_tests::webdriver::Browser;
use serde_json::json;

const JOB: &str = "sync_inventory";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_trigger_from_the_browser_without_a_reload() {
    let redis = RedisServer::start();
    let url = redis.url();
    let ledger = Ledger::default();
    let mut schedulers = Vec::new();
    for instance in 0..2 {
        let scheduler = Scheduler::builder()
            .registered_jobs(false)
            .redis_config(RedisLockConfig::new(&url))
            .job(recorded(
                &ledger,
                instance,
                JOB,
                "* * * * * *",
                Duration::from_secs(5),
            ))
            .job(recorded(
                &ledger,
                instance,
                "send_digest",
                "*/2 * * * * *",
                Duration::from_secs(5),
            ))
            .job(
                Job::new(
                    "import_orders",
                    "*/3 * * * * *",
                    Duration::from_secs(5),
                    |_ctx: JobContext| async {
                        Err::<(), String>("upstream answered 503 <Service Unavailable>".to_owned())
                    },
                )
                .tz("Europe/Berlin".parse().unwrap()),
            )
            .job(
                Job::new(
                    "nightly_cleanup",
                    "0 0 3 * * *",
                    Duration::from_secs(3600),
                    |_ctx: JobContext| async { Ok::<(), String>(()) },
                )
                .tz("Europe/Berlin".parse().unwrap()),
            )
            .build()
            .await
            .unwrap();
        schedulers.push(scheduler);
    }
    let running: Vec<_> = schedulers
        .iter()
        .map(|scheduler| {
            let scheduler = scheduler.clone();
            tokio::spawn(async move { scheduler.run_until(std::future::pending()).await })
        })
        .collect();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fleet = Fleet::connect(&url, "cronlock:").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(dashboard::serve(
        listener,
        fleet,
        DashboardConfig::new().refresh_every(Duration::from_millis(500)),
        async move {
            let _ = stopped.await;
        },
    ));

    let seen = ledger.clone();
    let paused_at = tokio::task::spawn_blocking(move || {
        let browser = Browser::start();
        browser.open(&format!("http://{addr}/"));
        let row = format!(r#"tr[data-job="{JOB}"]"#);
        // The jobs, and a completed run, appear by themselves.
        browser.wait_for("a completed run of the job", Duration::from_secs(15), |b| {
            b.find(&format!("{row} td.last a.outcome.ok"))
        });
        browser.wait_for("the failing job's badge", Duration::from_secs(15), |b| {
            b.text(r#"tr[data-job="import_orders"] .badge"#)
                .filter(|text| text == "failing")
        });
        // Set on this page: a reload would lose it.
        browser.script("window.cronlockPageLoad = 42;", &[]);

        browser.type_into(
            &format!("{row} input[name=note]"),
            "inventory API migration",
        );
        browser.click(&format!("{row} button[value=pause]"));
        browser.wait_for("the paused badge", Duration::from_secs(10), |b| {
            b.text(&format!("{row} .badge"))
                .filter(|text| text == "paused")
        });
        let paused_at = Utc::now();
        let note = browser.text(&format!("{row} .note")).unwrap_or_default();
        assert!(note.contains("inventory API migration"), "{note}");

        let screenshot = browser.screenshot();
        assert!(screenshot.starts_with(b"\x89PNG"), "not a PNG");
        save_screenshot(&screenshot);

        // The fleet skips it: no scheduled tick runs once the pause has
        // reached every instance (control poll: about a second).
        std::thread::sleep(Duration::from_secs(4));
        let settled = paused_at + chrono::Duration::milliseconds(1500);
        let ran_while_paused: Vec<DateTime<Utc>> = seen
            .entries()
            .into_iter()
            .filter(|(_, job, tick)| job == JOB && *tick > settled && tick.nanosecond() == 0)
            .map(|(_, _, tick)| tick)
            .collect();
        assert!(
            ran_while_paused.is_empty(),
            "ticks ran while paused: {ran_while_paused:?}"
        );

        browser.click(&format!("{row} button[value=trigger]"));
        let tick = browser.wait_for(
            "the triggered run in the row",
            Duration::from_secs(10),
            |b| {
                let tick = b.script(
                    "return document.querySelector(arguments[0]).dataset.tick || null;",
                    &[json!(format!("{row} td.last"))],
                );
                tick.as_str()
                    .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                    .map(|tick| tick.with_timezone(&Utc))
                    .filter(|tick| *tick > paused_at && tick.nanosecond() != 0)
            },
        );
        assert!(
            seen.entries()
                .iter()
                .any(|(_, job, ran)| job == JOB && *ran == tick),
            "the row shows a run the fleet did not make: {tick}"
        );
        let kept = browser.script("return window.cronlockPageLoad;", &[]);
        assert_eq!(kept, json!(42), "the page was reloaded");
        assert!(
            browser
                .find(&format!("{row} button[value=resume]"))
                .is_some(),
            "a paused job offers resume"
        );
        paused_at
    })
    .await
    .unwrap();

    let _ = stop.send(());
    served.await.unwrap().unwrap();
    for scheduler in &schedulers {
        scheduler.shutdown();
    }
    for run in running {
        run.await.unwrap().unwrap();
    }
    println!(
        "paused at {paused_at}; runs recorded: {}",
        ledger.entries().len()
    );
}

fn save_screenshot(png: &[u8]) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target").join("dashboard.png");
    let _ = std::fs::create_dir_all(target.parent().unwrap());
    std::fs::write(&target, png).expect("write the screenshot");
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        let docs = root.join("docs");
        std::fs::create_dir_all(&docs).expect("docs/");
        std::fs::write(docs.join("dashboard.png"), png).expect("write docs/dashboard.png");
    }
}
