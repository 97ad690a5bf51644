//! The lock and control contract, run against every backend: the in-process
//! lock, Redis and Postgres (real servers on free loopback ports), and
//! Postgres behind PgBouncer in transaction mode.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cronlock::lock::{
    DEFAULT_SKEW_MARGIN, Lock, MemoryLock, PostgresLock, PostgresLockConfig, RedisLock,
    RedisLockConfig,
};
use cronlock_tests::RedisServer;
use cronlock_tests::contract::{Backend, check};
use cronlock_tests::postgres::{PgBouncer, PostgresServer};

/// Every instance shares one in-process lock.
struct Memory(Arc<MemoryLock>);

impl Backend for Memory {
    fn instance(&self) -> Pin<Box<dyn Future<Output = Arc<dyn Lock>> + Send + '_>> {
        let lock: Arc<dyn Lock> = Arc::clone(&self.0) as Arc<dyn Lock>;
        Box::pin(async move { lock })
    }

    fn skew_margin(&self) -> Duration {
        DEFAULT_SKEW_MARGIN
    }
}

/// Every instance opens its own connection pool to one Redis.
struct Redis(RedisServer);

impl Backend for Redis {
    fn instance(&self) -> Pin<Box<dyn Future<Output = Arc<dyn Lock>> + Send + '_>> {
        Box::pin(async move {
            let lock = RedisLock::connect(RedisLockConfig::new(self.0.url()))
                .await
                .expect("Redis answers");
            Arc::new(lock) as Arc<dyn Lock>
        })
    }

    fn skew_margin(&self) -> Duration {
        DEFAULT_SKEW_MARGIN
    }
}

/// Every instance opens its own connection pool to one database.
struct Postgres(String);

impl Backend for Postgres {
    fn instance(&self) -> Pin<Box<dyn Future<Output = Arc<dyn Lock>> + Send + '_>> {
        Box::pin(async move {
            let lock = PostgresLock::connect(PostgresLockConfig::new(&self.0))
                .await
                .expect("Postgres answers");
            Arc::new(lock) as Arc<dyn Lock>
        })
    }

    fn skew_margin(&self) -> Duration {
        DEFAULT_SKEW_MARGIN
    }
}

#[tokio::test]
async fn the_in_process_lock_keeps_the_contract() {
    check(&Memory(Arc::new(MemoryLock::new())), "memory-").await;
}

#[tokio::test]
async fn the_redis_lock_keeps_the_contract() {
    check(&Redis(RedisServer::start()), "redis-").await;
}

#[tokio::test]
async fn the_postgres_lock_keeps_the_contract() {
    let server = PostgresServer::start();
    check(&Postgres(server.url()), "pg-").await;
}

#[tokio::test]
async fn the_postgres_lock_keeps_the_contract_behind_pgbouncer() {
    let server = PostgresServer::start();
    let bouncer = PgBouncer::start(&server);
    check(&Postgres(bouncer.url()), "pgbouncer-").await;
}
