//! The scheduler's `tracing` events carry structured fields, and a run's span
//! puts job and tick on everything logged inside the job.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cronlock::{Job, JobContext};
use cronlock_tests::paused::{builder, run_for};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

impl Capture {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

fn capture() -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_ansi(false)
        .without_time()
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    (
        capture.clone(),
        tracing::subscriber::set_default(subscriber),
    )
}

fn assert_logged(lines: &[String], needles: &[&str]) {
    assert!(
        lines
            .iter()
            .any(|line| needles.iter().all(|needle| line.contains(needle))),
        "no line contains all of {needles:?}:\n{}",
        lines.join("\n")
    );
}

#[tokio::test(start_paused = true)]
async fn lifecycle_events_have_structured_fields() {
    let (capture, _guard) = capture();
    let scheduler = builder()
        .job(Job::new(
            "ok",
            "*/2 * * * * *",
            Duration::from_secs(1),
            |_ctx: JobContext| async {
                tracing::info!(rows = 3, "inside the job");
            },
        ))
        .job(Job::new(
            "bad",
            "*/2 * * * * *",
            Duration::from_secs(1),
            |_ctx| async { Err::<(), _>("disk full") },
        ))
        .job(Job::new(
            "hang",
            "*/2 * * * * *",
            Duration::from_millis(500),
            |_ctx| std::future::pending::<()>(),
        ))
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_millis(2_000)).await;
    let lines = capture.lines();
    assert_logged(
        &lines,
        &["WARN", "only safe when a single instance runs these jobs"],
    );
    assert_logged(
        &lines,
        &[
            "INFO",
            "job registered",
            "job=ok",
            "spec=*/2 * * * * *",
            "tz=UTC",
        ],
    );
    assert_logged(&lines, &["INFO", "scheduler started", "jobs=3"]);
    assert_logged(
        &lines,
        &[
            "INFO",
            "job{job=ok tick=2027-01-01 00:00:02 UTC}",
            "run started",
            "attempt=1",
        ],
    );
    assert_logged(
        &lines,
        &[
            "INFO",
            "job{job=ok tick=2027-01-01 00:00:02 UTC}",
            "inside the job",
            "rows=3",
        ],
    );
    assert_logged(
        &lines,
        &["INFO", "job{job=ok", "run completed", "duration_ms=0"],
    );
    assert_logged(
        &lines,
        &[
            "ERROR",
            "job{job=bad",
            "run failed",
            "error=disk full",
            "duration_ms=",
        ],
    );
    assert_logged(
        &lines,
        &["ERROR", "job{job=hang", "run timed out", "timeout_ms=500"],
    );
    assert_logged(&lines, &["INFO", "shutdown: claiming no new ticks"]);
    assert_logged(&lines, &["INFO", "scheduler stopped"]);
}

#[tokio::test(start_paused = true)]
async fn zero_jobs_warn_with_the_linker_hint() {
    let (capture, _guard) = capture();
    let scheduler = builder().build().await.unwrap();
    run_for(&scheduler, Duration::from_millis(10)).await;
    assert_logged(
        &capture.lines(),
        &["WARN", "no jobs registered", "library crate"],
    );
}

#[tokio::test(start_paused = true)]
async fn a_tick_taken_elsewhere_is_logged_at_debug() {
    let (capture, _guard) = capture();
    let lock = Arc::new(cronlock::lock::MemoryLock::new());
    let job = || {
        Job::new(
            "shared",
            "* * * * * *",
            Duration::from_secs(1),
            |_ctx| async {},
        )
    };
    let a = builder()
        .lock(Arc::clone(&lock))
        .job(job())
        .build()
        .await
        .unwrap();
    let b = builder()
        .lock(Arc::clone(&lock))
        .job(job())
        .build()
        .await
        .unwrap();
    let stop = Duration::from_millis(1_000);
    let (ra, rb) = tokio::join!(
        a.run_until(tokio::time::sleep(stop)),
        b.run_until(tokio::time::sleep(stop))
    );
    ra.unwrap();
    rb.unwrap();
    assert_logged(
        &capture.lines(),
        &[
            "DEBUG",
            "job{job=shared",
            "another instance holds this tick",
        ],
    );
}
