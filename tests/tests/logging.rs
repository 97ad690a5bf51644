//! The scheduler's `tracing` events carry structured fields, and a run's span
//! puts job and tick on everything logged inside the job.

use std::sync::Arc;
use std::time::Duration;

use cronlock::{Job, JobContext};
use cronlock_tests::logs::LogCapture;
use cronlock_tests::paused::{builder, run_for};

fn capture() -> (LogCapture, tracing::subscriber::DefaultGuard) {
    let capture = LogCapture::default();
    let guard = tracing::subscriber::set_default(capture.subscriber());
    (capture, guard)
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
    capture.assert_logged(&["WARN", "only safe when a single instance runs these jobs"]);
    capture.assert_logged(&[
        "INFO",
        "job registered",
        "job=ok",
        "spec=*/2 * * * * *",
        "tz=UTC",
    ]);
    capture.assert_logged(&["INFO", "scheduler started", "jobs=3"]);
    capture.assert_logged(&[
        "INFO",
        "job{job=ok tick=2027-01-01 00:00:02 UTC}",
        "run started",
        "attempt=1",
    ]);
    capture.assert_logged(&[
        "INFO",
        "job{job=ok tick=2027-01-01 00:00:02 UTC}",
        "inside the job",
        "rows=3",
    ]);
    capture.assert_logged(&["INFO", "job{job=ok", "run completed", "duration_ms=0"]);
    capture.assert_logged(&[
        "ERROR",
        "job{job=bad",
        "run failed",
        "error=disk full",
        "duration_ms=",
    ]);
    capture.assert_logged(&["ERROR", "job{job=hang", "run timed out", "timeout_ms=500"]);
    capture.assert_logged(&["INFO", "shutdown: claiming no new ticks"]);
    capture.assert_logged(&["INFO", "scheduler stopped"]);
}

#[tokio::test(start_paused = true)]
async fn zero_jobs_warn_with_the_linker_hint() {
    let (capture, _guard) = capture();
    let scheduler = builder().build().await.unwrap();
    run_for(&scheduler, Duration::from_millis(10)).await;
    capture.assert_logged(&["WARN", "no jobs registered", "library crate"]);
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
    capture.assert_logged(&[
        "DEBUG",
        "job{job=shared",
        "another instance holds this tick",
    ]);
}
