//! The service the chaos driver starts N times: five jobs of different
//! shapes, each run writing `start` and `end` lines to this process's ledger.
//!
//! Environment: `REDIS_URL` and `CRONLOCK_PREFIX`, or (when `REDIS_URL` is
//! not set, as `backend_from_env` chooses) `DATABASE_URL` and
//! `CRONLOCK_SCHEMA`; `CHAOS_LEDGER` (file to append to), `CHAOS_SKEW_MS`
//! (this instance's clock offset, may be negative), `CHAOS_VARIANT`
//! (`wide`: longer timeouts and lock TTLs and a wider skew margin, as a
//! rolling deploy that changed them).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use cronlock::clock::OffsetClock;
use cronlock::lock::{PostgresLockConfig, RedisLockConfig};
use cronlock::{Job, JobContext, Scheduler, SchedulerBuilder};

/// Appends one line per event; `O_APPEND` writes of one line do not interleave.
struct Ledger {
    file: std::sync::Mutex<std::fs::File>,
}

impl Ledger {
    fn write(&self, event: &str, ctx: &JobContext, detail: &str) {
        let line = cronlock_tests::chaos::ledger_line(event, ctx, detail);
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // A failed ledger write would hide a run from the checker: stop loudly.
        file.write_all(line.as_bytes()).expect("ledger write");
    }
}

/// A job that records its start, runs `work`, and records its end.
fn job<F, Fut>(ledger: &Arc<Ledger>, name: &str, spec: &str, timeout: Duration, work: F) -> Job
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = &'static str> + Send + 'static,
{
    let ledger = Arc::clone(ledger);
    let work = Arc::new(work);
    Job::new(name, spec, timeout, move |ctx: JobContext| {
        let (ledger, work) = (Arc::clone(&ledger), Arc::clone(&work));
        async move {
            ledger.write("start", &ctx, "-");
            let how = work(ctx.clone()).await;
            ledger.write("end", &ctx, how);
        }
    })
}

/// Sleeps `duration` unless the run is cancelled first.
async fn work_for(ctx: &JobContext, duration: Duration) -> &'static str {
    tokio::select! {
        () = tokio::time::sleep(duration) => "ok",
        () = ctx.cancelled() => "cancelled",
    }
}

/// The lock the environment names, with this instance's settings: Redis
/// at `REDIS_URL` when it is set, else Postgres at `DATABASE_URL`. Built
/// here rather than by `backend_from_env` to set the timeouts and the skew
/// margin of the variant.
fn backend(builder: SchedulerBuilder, wide: bool) -> SchedulerBuilder {
    let skew_margin = Duration::from_secs(if wide { 3 } else { 2 });
    if let Some(config) = RedisLockConfig::from_env().expect("environment is UTF-8") {
        return builder.redis_config(
            config
                .connection_timeout(Duration::from_millis(500))
                .skew_margin(skew_margin),
        );
    }
    let config = PostgresLockConfig::from_env()
        .expect("environment is UTF-8")
        .expect("REDIS_URL or DATABASE_URL is set");
    builder.postgres_config(
        config
            .connect_timeout(Duration::from_millis(500))
            .skew_margin(skew_margin),
    )
}

#[tokio::main]
async fn main() -> Result<(), cronlock::Error> {
    cronlock::init_tracing();
    let file = cronlock_tests::chaos::open_ledger();
    let ledger = Arc::new(Ledger {
        file: std::sync::Mutex::new(file),
    });
    let skew_ms: i64 = std::env::var("CHAOS_SKEW_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let wide = std::env::var("CHAOS_VARIANT").is_ok_and(|variant| variant == "wide");
    let (every_timeout, long_timeout) = if wide { (20, 15) } else { (5, 10) };

    let scheduler = backend(Scheduler::builder().registered_jobs(false), wide)
        .clock(OffsetClock::new(chrono::Duration::milliseconds(skew_ms)))
        .cancel_grace(Duration::from_millis(500))
        .job(job(
            &ledger,
            "every_1s",
            "* * * * * *",
            Duration::from_secs(every_timeout),
            |ctx| async move { work_for(&ctx, Duration::from_millis(50)).await },
        ))
        .job(job(
            &ledger,
            "every_2s",
            "*/2 * * * * *",
            Duration::from_secs(5),
            |ctx| async move { work_for(&ctx, Duration::from_millis(50)).await },
        ))
        // Runs 2.5 s every second: with overlap = skip, most ticks find it running.
        .job(job(
            &ledger,
            "long",
            "* * * * * *",
            Duration::from_secs(long_timeout),
            |ctx| async move { work_for(&ctx, Duration::from_millis(2_500)).await },
        ))
        .job(job(
            &ledger,
            "panicky",
            "* * * * * *",
            Duration::from_secs(5),
            |ctx| async move {
                if ctx.tick().timestamp() % 3 == 0 {
                    panic!("chaos: planned panic");
                }
                "ok"
            },
        ))
        // Times out after 1 s every 3 s.
        .job(job(
            &ledger,
            "times_out",
            "*/3 * * * * *",
            Duration::from_secs(1),
            |ctx| async move { work_for(&ctx, Duration::from_secs(30)).await },
        ))
        .build()
        .await?;
    scheduler.run().await
}
