//! The service of the load test: 10,000 registered jobs, 1,000 of them
//! firing every second, each run appending a line to this process's ledger.
//!
//! Environment: `REDIS_URL`, `CHAOS_LEDGER`.

use std::io::{BufWriter, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cronlock::lock::RedisLockConfig;
use cronlock::{Job, JobContext, Scheduler};

#[tokio::main]
async fn main() -> Result<(), cronlock::Error> {
    cronlock::init_tracing();
    let file = cronlock_tests::chaos::open_ledger();
    let ledger = Arc::new(Mutex::new(BufWriter::new(file)));
    let url = std::env::var("REDIS_URL").expect("REDIS_URL is set");
    let mut builder = Scheduler::builder()
        .registered_jobs(false)
        .redis_config(RedisLockConfig::new(url));
    for i in 0..10_000 {
        let (name, spec) = if i < 1_000 {
            (format!("load-{i}"), "* * * * * *")
        } else {
            (format!("idle-{i}"), "0 0 3 * * *")
        };
        let ledger = Arc::clone(&ledger);
        builder = builder.job(Job::new(
            name,
            spec,
            Duration::from_secs(5),
            move |ctx: JobContext| {
                let ledger = Arc::clone(&ledger);
                async move {
                    let line = cronlock_tests::chaos::ledger_line("start", &ctx, "-");
                    let mut ledger = ledger.lock().unwrap_or_else(|p| p.into_inner());
                    ledger.write_all(line.as_bytes()).expect("ledger write");
                }
            },
        ));
    }
    let result = builder.build().await?.run().await;
    ledger
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .flush()
        .expect("ledger flush");
    result
}
