//! Three schedulers sharing one lock run each tick once between them: the
//! lock trait's contract, checked with the in-process lock.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::lock::MemoryLock;
use cronlock::{Job, JobContext};
use cronlock_tests::paused::{Log, builder, second};

#[tokio::test(start_paused = true)]
async fn each_tick_runs_once_across_schedulers_sharing_a_lock() {
    let lock = Arc::new(MemoryLock::new());
    let runs: Log<(usize, DateTime<Utc>, u64)> = Log::default();
    let mut schedulers = Vec::new();
    for instance in 0..3 {
        let log = runs.clone();
        let scheduler = builder()
            .lock(Arc::clone(&lock))
            .job(Job::new(
                "shared",
                "* * * * * *",
                Duration::from_secs(1),
                move |ctx: JobContext| {
                    let log = log.clone();
                    async move { log.push((instance, ctx.tick(), ctx.fencing_token())) }
                },
            ))
            .build()
            .await
            .unwrap();
        schedulers.push(scheduler);
    }
    let stop = Duration::from_millis(10_000);
    let [a, b, c] = &schedulers[..] else {
        unreachable!()
    };
    let (ra, rb, rc) = tokio::join!(
        a.run_until(tokio::time::sleep(stop)),
        b.run_until(tokio::time::sleep(stop)),
        c.run_until(tokio::time::sleep(stop))
    );
    ra.unwrap();
    rb.unwrap();
    rc.unwrap();

    let mut runs = runs.entries();
    runs.sort_by_key(|(_, tick, _)| *tick);
    let ticks: Vec<DateTime<Utc>> = runs.iter().map(|(_, tick, _)| *tick).collect();
    assert_eq!(
        ticks,
        (1..=10).map(second).collect::<Vec<_>>(),
        "every tick exactly once"
    );
    let tokens: Vec<u64> = runs.iter().map(|(_, _, token)| *token).collect();
    assert!(
        tokens.windows(2).all(|pair| pair[0] < pair[1]),
        "fencing tokens grow: {tokens:?}"
    );
}
