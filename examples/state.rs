//! Dependency injection: `cargo run --example state`.
//!
//! A pool-like value is registered once with `.state(..)` and every job that
//! takes `State<Pool>` gets a handle to it. Forgetting `.state(..)` is a
//! startup error that names the job and the type.

use std::sync::atomic::{AtomicU64, Ordering};

use cronlock::{JobContext, Scheduler, State, scheduled};
use tokio::sync::Semaphore;

/// Stands in for a database pool: a few connections, shared by all jobs.
struct Pool {
    connections: Semaphore,
    queries: AtomicU64,
}

impl Pool {
    fn new(size: usize) -> Pool {
        Pool {
            connections: Semaphore::new(size),
            queries: AtomicU64::new(0),
        }
    }

    async fn query(&self, sql: &str) -> Result<u64, String> {
        let _connection = self
            .connections
            .acquire()
            .await
            .map_err(|err| err.to_string())?;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        tracing::debug!(sql, "query ran");
        Ok(self.queries.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

#[scheduled(cron = "*/2 * * * * *", timeout = "5s")]
async fn refresh_cache(ctx: JobContext, pool: State<Pool>) -> Result<(), String> {
    let total = pool.query("SELECT * FROM prices").await?;
    tracing::info!(tick = %ctx.tick(), fencing_token = ctx.fencing_token(), total_queries = total, "cache refreshed");
    Ok(())
}

#[scheduled(cron = "*/5 * * * * *", timeout = "5s")]
async fn vacuum(pool: State<Pool>) -> Result<(), String> {
    pool.query("VACUUM").await?;
    tracing::info!("vacuumed");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), cronlock::Error> {
    cronlock::init_tracing();
    Scheduler::builder()
        .state(Pool::new(4))
        .backend_from_env()
        .build()
        .await?
        .run()
        .await
}
