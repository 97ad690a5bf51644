//! Several instances, one Redis, each tick once. Start Redis, then run this
//! in three terminals:
//!
//! ```text
//! redis-server --port 6379 --save "" &          # or any Redis you have
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example cluster
//! ```
//!
//! Every second exactly one of the instances prints `tick ran here`; the
//! others log at debug level that another instance holds the tick (run with
//! `RUST_LOG=debug` to see it). Stop one with Ctrl-C: the others carry on.

use cronlock::{JobContext, scheduled};

#[scheduled(cron = "* * * * * *", timeout = "5s")]
async fn every_second(ctx: JobContext) {
    tracing::info!(
        instance = std::process::id(),
        fencing_token = ctx.fencing_token(),
        "tick ran here"
    );
}

#[scheduled(cron = "*/10 * * * * *", timeout = "30s")]
async fn slow_report(ctx: JobContext) {
    // Longer than the interval between some ticks of other jobs, shorter than
    // its own: with overlap = "skip" (the default) it never runs twice at once.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    tracing::info!(instance = std::process::id(), tick = %ctx.tick(), "report done");
}

#[tokio::main]
async fn main() -> Result<(), cronlock::Error> {
    if std::env::var_os("REDIS_URL").is_none() {
        eprintln!(
            "set REDIS_URL, for example REDIS_URL=redis://127.0.0.1:6379 (see the top of examples/cluster.rs)"
        );
        std::process::exit(2);
    }
    cronlock::run().await
}
