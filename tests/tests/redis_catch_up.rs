//! The whole fleet down, then back: with a catch-up window, the ticks missed
//! meanwhile run once each across the new instances (`catch_up = "all"`,
//! oldest first) or only the newest (`"latest"`), flagged as catch-ups;
//! without a window none of them runs.

use std::time::Duration;

use chrono::{DateTime, Timelike, Utc};
use cronlock::lock::RedisLockConfig;
use cronlock::{CatchUp, Job, JobContext, Scheduler};
use cronlock_tests::RedisServer;
use cronlock_tests::fleet;
use cronlock_tests::paused::Log;

/// (instance, job, tick, is a catch-up, wall-clock start).
type Runs = Log<(usize, String, DateTime<Utc>, bool, DateTime<Utc>)>;

fn job(runs: &Runs, instance: usize, name: &str) -> Job {
    let runs = runs.clone();
    let job = Job::new(
        name,
        "*/2 * * * * *",
        Duration::from_secs(1),
        move |ctx: JobContext| {
            let runs = runs.clone();
            async move {
                runs.push((
                    instance,
                    ctx.job_name().to_owned(),
                    ctx.tick(),
                    ctx.is_catch_up(),
                    Utc::now(),
                ));
            }
        },
    );
    match name {
        "all" => job
            .catch_up(CatchUp::All)
            .catch_up_window(Duration::from_secs(60)),
        "latest" => job.catch_up_window(Duration::from_secs(60)),
        _ => job,
    }
}

async fn instance(redis: &RedisServer, runs: &Runs, instance: usize) -> Scheduler {
    let mut builder = Scheduler::builder()
        .registered_jobs(false)
        .redis_config(RedisLockConfig::new(redis.url()));
    for name in ["all", "latest", "plain"] {
        builder = builder.job(job(runs, instance, name));
    }
    builder.build().await.unwrap()
}

/// Sleeps until the next instant that is half a second past an odd second.
async fn until_odd_second_and_a_half() -> DateTime<Utc> {
    loop {
        let now = Utc::now();
        if now.second() % 2 == 1 && (450..550).contains(&now.timestamp_subsec_millis()) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_missed_while_the_fleet_was_down_run_by_the_catch_up_policy() {
    let redis = RedisServer::start();
    let runs = Runs::default();
    let first = instance(&redis, &runs, 0).await;
    fleet::start(&[first], Duration::from_secs(5))
        .finish()
        .await;
    let before = runs.entries();
    let last_tick = |name: &str| {
        before
            .iter()
            .filter(|run| run.1 == name)
            .map(|run| run.2)
            .max()
            .unwrap_or_else(|| panic!("{name} never ran before the outage: {before:?}"))
    };
    let last = [last_tick("all"), last_tick("latest"), last_tick("plain")];

    // Down for at least five seconds; back half a second after an odd
    // second, so the newest missed tick is 1.5 s late (a catch-up) and the
    // next one (half a second ahead) is on time.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let back = until_odd_second_and_a_half().await;
    let fleet = vec![
        instance(&redis, &runs, 1).await,
        instance(&redis, &runs, 2).await,
    ];
    fleet::start(&fleet, Duration::from_secs(4)).finish().await;

    let after: Vec<_> = runs.entries().into_iter().filter(|run| run.0 > 0).collect();
    let missed = |last: DateTime<Utc>| -> Vec<DateTime<Utc>> {
        (last.timestamp() + 1..=back.timestamp())
            .filter(|second| second % 2 == 0)
            .filter_map(|second| DateTime::from_timestamp(second, 0))
            .collect()
    };
    let caught_up = |name: &str| -> Vec<DateTime<Utc>> {
        let mut ticks: Vec<_> = after
            .iter()
            .filter(|run| run.1 == name && run.2 <= back)
            .map(|run| (run.4, run.2, run.3))
            .collect();
        ticks.sort();
        for (_, tick, catch_up) in &ticks {
            assert!(
                *catch_up,
                "{name} tick {tick} ran late but not as a catch-up: {after:?}"
            );
        }
        ticks.into_iter().map(|(_, tick, _)| tick).collect()
    };

    let all_missed = missed(last[0]);
    assert!(all_missed.len() >= 2, "too short an outage: {all_missed:?}");
    assert_eq!(
        caught_up("all"),
        all_missed,
        "every missed tick, once, oldest first: {after:?}"
    );
    let newest = *missed(last[1]).last().expect("missed ticks");
    assert_eq!(
        caught_up("latest"),
        vec![newest],
        "only the newest missed tick: {after:?}"
    );
    assert_eq!(
        caught_up("plain"),
        Vec::<DateTime<Utc>>::new(),
        "no window, no catch-up after an outage: {after:?}"
    );
    // After the catch-up, the ticks run on time, once each.
    for name in ["all", "latest", "plain"] {
        let on_time: Vec<_> = after
            .iter()
            .filter(|run| run.1 == name && run.2 > back)
            .collect();
        assert!(
            on_time.iter().all(|run| !run.3),
            "{name}: an on-time run flagged as a catch-up: {after:?}"
        );
        let mut ticks: Vec<_> = on_time.iter().map(|run| run.2).collect();
        let count = ticks.len();
        ticks.sort();
        ticks.dedup();
        assert_eq!(ticks.len(), count, "{name}: a tick ran twice: {after:?}");
        assert!(
            count >= 1,
            "{name}: no on-time run after the outage: {after:?}"
        );
    }
}
