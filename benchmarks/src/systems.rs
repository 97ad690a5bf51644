//! The systems measured, each started the way its users start it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use cronlock::{Job, JobContext, Scheduler};
use tokio_cron_scheduler::JobScheduler;

use crate::fires::Recorder;
use crate::process::now_us;

/// A scheduler under measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// One tokio task per job, `sleep_until` its next fire: the floor.
    Naive,
    /// cronlock with its embedded (in-process) lock.
    Cronlock,
    /// cronlock with the Redis lock (`REDIS_URL`).
    CronlockRedis,
    /// tokio-cron-scheduler 0.15 with its default in-memory store.
    TokioCronScheduler,
}

impl System {
    /// Every system, in the order the reports list them.
    pub const ALL: [System; 4] = [
        System::Naive,
        System::Cronlock,
        System::CronlockRedis,
        System::TokioCronScheduler,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            System::Naive => "naive",
            System::Cronlock => "cronlock",
            System::CronlockRedis => "cronlock-redis",
            System::TokioCronScheduler => "tokio-cron-scheduler",
        }
    }

    /// The system called `name`, if any.
    pub fn from_name(name: &str) -> Option<System> {
        System::ALL.into_iter().find(|system| system.name() == name)
    }
}

/// What each measured job runs on: one spec for all of them.
#[derive(Debug, Clone, Copy)]
pub enum Cadence {
    /// `* * * * * *`: every job due every second.
    EverySecond,
    /// `0 0 3 * * *` (UTC): registered but idle during the measurement.
    DailyAt3,
}

impl Cadence {
    fn spec(self) -> &'static str {
        match self {
            Cadence::EverySecond => "* * * * * *",
            Cadence::DailyAt3 => "0 0 3 * * *",
        }
    }
}

/// Registers `jobs` jobs on `system`, runs them until `stop` resolves, then
/// shuts the system down. `ready` is called once the last job is registered
/// and the scheduler runs (the start-up time ends there).
///
/// # Panics
///
/// When the system refuses to start (a bad `REDIS_URL`, for example).
pub async fn run(
    system: System,
    jobs: u32,
    cadence: Cadence,
    recorder: Arc<Recorder>,
    ready: impl FnOnce(),
    stop: impl Future<Output = ()>,
) {
    match system {
        System::Naive => run_naive(jobs, cadence, recorder, ready, stop).await,
        System::Cronlock | System::CronlockRedis => {
            run_cronlock(system, jobs, cadence, recorder, ready, stop).await;
        }
        System::TokioCronScheduler => run_tcs(jobs, cadence, recorder, ready, stop).await,
    }
}

async fn run_naive(
    jobs: u32,
    cadence: Cadence,
    recorder: Arc<Recorder>,
    ready: impl FnOnce(),
    stop: impl Future<Output = ()>,
) {
    let period_ms: i64 = match cadence {
        Cadence::EverySecond => 1_000,
        Cadence::DailyAt3 => 86_400_000,
    };
    let offset_ms: i64 = match cadence {
        Cadence::EverySecond => 0,
        Cadence::DailyAt3 => 3 * 3_600_000,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for job in 0..jobs {
        let recorder = Arc::clone(&recorder);
        tasks.spawn(async move {
            loop {
                let now_ms = now_us().div_euclid(1_000);
                let tick_ms =
                    (now_ms - offset_ms).div_euclid(period_ms) * period_ms + period_ms + offset_ms;
                let wait = Duration::from_millis(u64::try_from(tick_ms - now_ms).unwrap_or(0));
                tokio::time::sleep(wait).await;
                let start = now_us();
                if start < tick_ms * 1_000 {
                    // Woke early (the monotonic and wall clocks drift apart): wait on.
                    continue;
                }
                recorder.record(job, tick_ms, start);
            }
        });
    }
    ready();
    stop.await;
    tasks.shutdown().await;
}

async fn run_cronlock(
    system: System,
    jobs: u32,
    cadence: Cadence,
    recorder: Arc<Recorder>,
    ready: impl FnOnce(),
    stop: impl Future<Output = ()>,
) {
    let mut builder = Scheduler::builder().registered_jobs(false);
    if system == System::CronlockRedis {
        builder = builder.redis_from_env();
    }
    for job in 0..jobs {
        let recorder = Arc::clone(&recorder);
        builder = builder.job(Job::new(
            format!("job-{job}"),
            cadence.spec(),
            Duration::from_secs(5),
            move |ctx: JobContext| {
                let recorder = Arc::clone(&recorder);
                async move {
                    let start = now_us();
                    recorder.record(job, ctx.tick().timestamp_millis(), start);
                }
            },
        ));
    }
    let scheduler = builder.build().await.expect("cronlock starts");
    ready();
    scheduler.run_until(stop).await.expect("cronlock runs");
}

async fn run_tcs(
    jobs: u32,
    cadence: Cadence,
    recorder: Arc<Recorder>,
    ready: impl FnOnce(),
    stop: impl Future<Output = ()>,
) {
    let mut scheduler = JobScheduler::new().await.expect("scheduler");
    for job in 0..jobs {
        let recorder = Arc::clone(&recorder);
        let tcs_job = tokio_cron_scheduler::Job::new_async(
            cadence.spec(),
            move |_id, _scheduler| -> Pin<Box<dyn Future<Output = ()> + Send>> {
                let recorder = Arc::clone(&recorder);
                Box::pin(async move {
                    // tokio-cron-scheduler does not say which tick a run is
                    // for: attribute it to the second it started in.
                    let start = now_us();
                    recorder.record(job, start.div_euclid(1_000_000) * 1_000, start);
                })
            },
        )
        .expect("job");
        scheduler.add(tcs_job).await.expect("add job");
    }
    scheduler.start().await.expect("start");
    ready();
    stop.await;
    scheduler.shutdown().await.expect("shutdown");
}
