//! The web dashboard of an in-process scheduler, no Redis needed:
//! `cargo run --example dashboard`, then open http://127.0.0.1:9090/
//! (`DASHBOARD_LISTEN=127.0.0.1:8080` for another port). Ctrl-C stops both.
//!
//! Four jobs to look at: reports every 5 s, an import that fails every
//! fourth tick, a slow index rebuild, and a nightly cleanup in Berlin time.
//! Pause, resume and trigger them from the page.

use std::time::Duration;

use cronlock::dashboard::{self, DashboardConfig};
use cronlock::{JobContext, Scheduler, scheduled};

#[scheduled(cron = "*/5 * * * * *", timeout = "10s")]
async fn send_reports(ctx: JobContext) {
    tracing::info!(tick = %ctx.tick(), "reports sent");
}

#[scheduled(cron = "*/3 * * * * *", timeout = "10s")]
async fn import_orders(ctx: JobContext) -> Result<(), String> {
    if ctx.tick().timestamp() % 12 == 0 {
        return Err("upstream answered 503 <Service Unavailable>".into());
    }
    Ok(())
}

#[scheduled(cron = "*/10 * * * * *", timeout = "30s")]
async fn rebuild_search_index(ctx: JobContext) {
    let seconds = 1 + ctx.tick().timestamp() % 3;
    tokio::time::sleep(Duration::from_secs(seconds.unsigned_abs())).await;
}

#[scheduled(cron = "0 0 3 * * *", timeout = "1h", tz = "Europe/Berlin")]
async fn nightly_cleanup() {}

#[tokio::main]
async fn main() -> Result<(), cronlock::Error> {
    cronlock::init_tracing();
    let listen = std::env::var("DASHBOARD_LISTEN").unwrap_or_else(|_| "127.0.0.1:9090".into());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|err| cronlock::Error::Dashboard(format!("cannot listen on {listen}: {err}")))?;
    // The in-process lock, whatever the environment says.
    let scheduler = Scheduler::builder()
        .lock(cronlock::lock::MemoryLock::new())
        .build()
        .await?;
    // The dashboard stops when the scheduler has (Ctrl-C or SIGTERM).
    let (stopped, stop) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(dashboard::serve(
        listener,
        scheduler.fleet(),
        DashboardConfig::new(),
        async move {
            let _ = stop.await;
        },
    ));
    let ran = scheduler.run().await;
    let _ = stopped.send(());
    served.await.expect("the dashboard task")?;
    ran
}
