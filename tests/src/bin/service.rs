//! A small service built on `cronlock::run()`, for process-level tests
//! (signals, exit codes). `SERVICE_JOB_MS` sets how long each run takes.

use std::time::Duration;

use cronlock::{JobContext, scheduled};

#[scheduled(cron = "* * * * * *", timeout = "1m")]
async fn heartbeat(ctx: JobContext) {
    let millis = std::env::var("SERVICE_JOB_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    tracing::info!(tick = %ctx.tick(), "heartbeat");
    // Deliberately ignores cancellation, to show what shutdown does to such a job.
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

#[tokio::main]
async fn main() -> Result<(), cronlock::Error> {
    cronlock::run().await
}
