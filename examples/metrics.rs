//! Prometheus metrics: `cargo run --example metrics`, then
//! `curl http://127.0.0.1:9184/metrics`.
//!
//! cronlock records through the `metrics` facade; this example installs the
//! Prometheus exporter (listening on loopback only) as the recorder.

use std::time::Duration;

use cronlock::{Job, JobContext, Scheduler};
use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    cronlock::init_tracing();
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], 9184));
    PrometheusBuilder::new()
        .with_http_listener(address)
        .install()?;
    println!("metrics on http://{address}/metrics");
    let scheduler = Scheduler::builder()
        .job(Job::new(
            "heartbeat",
            "*/2 * * * * *",
            Duration::from_secs(5),
            |_ctx| async {},
        ))
        .job(Job::new(
            "flaky",
            "*/3 * * * * *",
            Duration::from_secs(5),
            |ctx: JobContext| async move {
                if ctx.tick().timestamp() % 2 == 0 {
                    Err("upstream answered 503")
                } else {
                    Ok(())
                }
            },
        ))
        .build()
        .await?;
    scheduler.run().await?;
    Ok(())
}
