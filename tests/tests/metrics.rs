//! The metrics reach a real Prometheus exporter: names, labels, and counts
//! that move between two scrapes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use cronlock::{Job, JobContext, Scheduler};
use metrics_exporter_prometheus::PrometheusBuilder;

fn scrape(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("exporter listens");
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// The value of the first sample line starting with `prefix`.
fn value(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_durations_lateness_and_registrations_are_exported() {
    let port = cronlock_tests::free_port().unwrap();
    PrometheusBuilder::new()
        .with_http_listener(([127, 0, 0, 1], port))
        .install()
        .expect("exporter installs");
    let scheduler = Scheduler::builder()
        .registered_jobs(false)
        .job(Job::new(
            "good",
            "* * * * * *",
            Duration::from_secs(5),
            |_ctx| async {},
        ))
        .job(Job::new(
            "bad",
            "* * * * * *",
            Duration::from_secs(5),
            |_ctx: JobContext| async { Err::<(), _>("nope") },
        ))
        .build()
        .await
        .unwrap();
    let running = cronlock_tests::fleet::start(
        std::slice::from_ref(&scheduler),
        Duration::from_millis(4_500),
    );

    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let first = tokio::task::spawn_blocking(move || scrape(port))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let second = tokio::task::spawn_blocking(move || scrape(port))
        .await
        .unwrap();
    running.finish().await;

    let ok = r#"cronlock_job_runs_total{job="good",outcome="ok"}"#;
    let failed = r#"cronlock_job_runs_total{job="bad",outcome="failed"}"#;
    let (ok_1, ok_2) = (
        value(&first, ok).expect(&first),
        value(&second, ok).expect(&second),
    );
    assert!(
        ok_1 >= 1.0 && ok_2 >= ok_1 + 1.0,
        "ok runs {ok_1} then {ok_2}"
    );
    assert!(value(&second, failed).is_some_and(|n| n >= 2.0), "{second}");
    assert_eq!(
        value(&second, "cronlock_jobs_registered"),
        Some(2.0),
        "{second}"
    );
    for name in [
        r#"cronlock_job_duration_seconds{job="good""#,
        r#"cronlock_job_lateness_seconds{job="bad""#,
    ] {
        assert!(second.contains(name), "{name} missing:\n{second}");
    }
}
