//! Two jobs, no setup: `cargo run --example quickstart`, Ctrl-C to stop.
//!
//! `heartbeat` runs every 5 seconds; `flaky_import` fails now and then and
//! is retried once. With no Redis configured the in-process lock is used.

use cronlock::{JobContext, scheduled};

#[scheduled(cron = "*/5 * * * * *", timeout = "10s")]
async fn heartbeat(ctx: JobContext) {
    tracing::info!(fencing_token = ctx.fencing_token(), "still alive");
}

#[scheduled(cron = "2/5 * * * * *", timeout = "10s", retries = 1, backoff = "1s")]
async fn flaky_import(ctx: JobContext) -> Result<(), String> {
    // Every other tick the first attempt fails, to show failures and retries.
    let unlucky = ctx.tick().timestamp() % 10 == 2;
    if unlucky && ctx.attempt() == 1 {
        return Err("upstream answered 503".into());
    }
    tracing::info!(rows = 42, "imported");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), cronlock::Error> {
    cronlock::run().await
}
