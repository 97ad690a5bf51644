//! Jobs and spec overrides from configuration (environment variables here):
//!
//! ```text
//! CRONLOCK_JOBS="ping=*/3 * * * * *;digest=0 */10 * * * *" \
//! CRONLOCK_OVERRIDE_REPORT="*/7 * * * * *" \
//!     cargo run --example dynamic
//! ```
//!
//! Every spec is checked when the scheduler is built; a bad one stops the
//! program with an error that names the job and shows where the mistake is.

use std::process::ExitCode;
use std::time::Duration;

use cronlock::{Job, JobContext, Scheduler, scheduled};

/// A compiled-in job whose spec configuration may replace.
#[scheduled(cron = "0 0 * * * *", timeout = "1m")]
async fn report(ctx: JobContext) {
    tracing::info!(tick = %ctx.tick(), "report written");
}

/// `name=spec;name=spec` into jobs built from a closure.
fn jobs_from_config(config: &str) -> Vec<Job> {
    config
        .split(';')
        .filter_map(|entry| entry.split_once('='))
        .map(|(name, spec)| {
            let name = name.trim().to_owned();
            let label = name.clone();
            Job::new(name, spec.trim(), Duration::from_secs(30), move |ctx: JobContext| {
                let label = label.clone();
                async move { tracing::info!(job = %label, tick = %ctx.tick(), "dynamic job ran") }
            })
        })
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    cronlock::init_tracing();
    let config = std::env::var("CRONLOCK_JOBS").unwrap_or_else(|_| "ping=*/3 * * * * *".to_owned());
    let mut builder = Scheduler::builder();
    for job in jobs_from_config(&config) {
        builder = builder.job(job);
    }
    if let Ok(spec) = std::env::var("CRONLOCK_OVERRIDE_REPORT") {
        builder = builder.spec_override("report", spec);
    }
    let scheduler = match builder.build().await {
        Ok(scheduler) => scheduler,
        Err(err) => {
            eprintln!("error: {err}");
            if let cronlock::Error::InvalidSpec { source, .. }
            | cronlock::Error::InvalidOverride { source, .. } = &err
            {
                eprintln!("{}", source.report());
            }
            return ExitCode::FAILURE;
        }
    };
    for job in scheduler.list_jobs() {
        tracing::info!(job = %job.name, spec = %job.spec, next = ?job.next_fire, "configured");
    }
    match scheduler.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
