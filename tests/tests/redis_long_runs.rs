//! A run that outlives its lock TTL keeps the lock (the watchdog extends it),
//! so no other instance starts the job meanwhile.

use std::time::{Duration, Instant};

use cronlock::lock::RedisLockConfig;
use cronlock::{Job, JobContext, Scheduler};
use cronlock_tests::paused::Log;
use cronlock_tests::{RedisServer, fleet};

async fn no_overlap_when_runs_outlive_the_lock_ttl(blocking: bool) {
    let redis = RedisServer::start();
    let origin = Instant::now();
    let runs: Log<(usize, Duration, Duration)> = Log::default();
    let mut schedulers = Vec::new();
    for index in 0..2 {
        let runs = runs.clone();
        let scheduler = Scheduler::builder()
            .registered_jobs(false)
            .redis_config(RedisLockConfig::new(redis.url()))
            // The run ignores its 1 s timeout for 1.5 s more: 2.5 s under a 1 s lock TTL.
            .cancel_grace(Duration::from_secs(3))
            .job(
                Job::new(
                    "long",
                    "* * * * * *",
                    Duration::from_secs(1),
                    move |_ctx: JobContext| {
                        let runs = runs.clone();
                        async move {
                            let start = origin.elapsed();
                            if blocking {
                                // A job that wrongly blocks its thread: the watchdog,
                                // in another task, must keep the lock anyway.
                                std::thread::sleep(Duration::from_millis(2_500));
                            } else {
                                tokio::time::sleep(Duration::from_millis(2_500)).await;
                            }
                            runs.push((index, start, origin.elapsed()));
                        }
                    },
                )
                .lock_ttl(Duration::from_secs(1)),
            )
            .build()
            .await
            .unwrap();
        schedulers.push(scheduler);
    }
    fleet::start(&schedulers, Duration::from_secs(8))
        .finish()
        .await;
    let mut runs = runs.entries();
    runs.sort_by_key(|(_, start, _)| *start);
    assert!(runs.len() >= 2, "{runs:?}");
    for pair in runs.windows(2) {
        assert!(
            pair[1].1 >= pair[0].2,
            "two runs overlapped across instances: {runs:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_longer_than_the_lock_ttl_is_not_started_twice() {
    no_overlap_when_runs_outlive_the_lock_ttl(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_blocking_its_thread_does_not_lose_the_lock() {
    no_overlap_when_runs_outlive_the_lock_ttl(true).await;
}
