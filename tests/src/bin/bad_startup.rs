//! Starts cronlock wrongly on purpose, one way per argument, for the test of
//! startup errors: `bad_startup override|state|duplicate|redis-from-env`.

use std::time::Duration;

use cronlock::{Job, Scheduler, State, scheduled};

struct Missing;

/// Needs a state that only the `state` scenario leaves unregistered.
#[scheduled(cron = "@hourly", timeout = "1m")]
async fn needs_state(_missing: State<Missing>) {}

fn noop(name: &str) -> Job {
    Job::new(name, "@hourly", Duration::from_secs(60), |_ctx| async {})
}

#[tokio::main]
async fn main() -> Result<(), cronlock::Error> {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    let builder = Scheduler::builder().state(Missing);
    let builder = match scenario.as_str() {
        "override" => builder
            .job(noop("report"))
            .spec_override("report", "0 0 25 * * *"),
        "state" => Scheduler::builder(),
        "duplicate" => builder.job(noop("twin")).job(noop("twin")),
        // Reads REDIS_URL from the environment.
        "redis-from-env" => Scheduler::builder()
            .registered_jobs(false)
            .job(noop("any"))
            .backend_from_env(),
        other => panic!("unknown scenario {other:?}"),
    };
    builder.build().await?.run_until(async {}).await
}
