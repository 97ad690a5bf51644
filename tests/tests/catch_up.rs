//! After a stall (here: the clock jumps 27 s ahead while the scheduler
//! sleeps), `catch_up` decides which missed tick still runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::clock::{Clock, TokioClock};
use cronlock::{CatchUp, Job, JobContext};
use cronlock_tests::paused::{Log, builder, second, start};

#[derive(Debug)]
struct JumpingClock {
    base: TokioClock,
    jump_ms: Arc<AtomicI64>,
}

impl Clock for JumpingClock {
    fn now(&self) -> DateTime<Utc> {
        self.base.now() + chrono::Duration::milliseconds(self.jump_ms.load(Ordering::SeqCst))
    }
}

async fn ticks_after_a_stall(catch_up: CatchUp, timeout: Duration) -> Vec<DateTime<Utc>> {
    runs_after_a_stall(timeout, Duration::ZERO, |job| job.catch_up(catch_up))
        .await
        .into_iter()
        .map(|(tick, _)| tick)
        .collect()
}

/// The runs of an every-ten-seconds job (tick, whether it was a catch-up)
/// whose clock jumps 27 s ahead at 0.9 s; each run takes `run_for`.
async fn runs_after_a_stall(
    timeout: Duration,
    run_for: Duration,
    options: impl FnOnce(Job) -> Job,
) -> Vec<(DateTime<Utc>, bool)> {
    let jump_ms = Arc::new(AtomicI64::new(0));
    let runs: Log<(DateTime<Utc>, bool)> = Log::default();
    let log = runs.clone();
    let scheduler = builder()
        .clock(JumpingClock {
            base: TokioClock::starting_at(start()),
            jump_ms: Arc::clone(&jump_ms),
        })
        .job(options(Job::new(
            "every-ten",
            "*/10 * * * * *",
            timeout,
            move |ctx: JobContext| {
                let log = log.clone();
                async move {
                    log.push((ctx.tick(), ctx.is_catch_up()));
                    tokio::time::sleep(run_for).await;
                }
            },
        )))
        .build()
        .await
        .unwrap();
    let jumper = async {
        // Just before the scheduler's wake-up at 1 s (its control poll).
        tokio::time::sleep(Duration::from_millis(900)).await;
        jump_ms.store(27_000, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(19)).await;
    };
    scheduler.run_until(jumper).await.unwrap();
    runs.entries()
}

#[tokio::test(start_paused = true)]
async fn latest_runs_the_most_recent_missed_tick_within_the_timeout() {
    // The scheduler wakes at 1 s and reads 28.5 s: tick 10 is skipped, 20
    // (8.5 s late, within the 30 s timeout) runs, then 30 and 40 on time.
    assert_eq!(
        ticks_after_a_stall(CatchUp::Latest, Duration::from_secs(30)).await,
        vec![second(20), second(30), second(40)]
    );
}

#[tokio::test(start_paused = true)]
async fn latest_skips_a_tick_older_than_the_timeout() {
    assert_eq!(
        ticks_after_a_stall(CatchUp::Latest, Duration::from_secs(2)).await,
        vec![second(30), second(40)]
    );
}

#[tokio::test(start_paused = true)]
async fn skip_runs_no_late_tick() {
    assert_eq!(
        ticks_after_a_stall(CatchUp::Skip, Duration::from_secs(30)).await,
        vec![second(30), second(40)]
    );
}

#[tokio::test(start_paused = true)]
async fn all_runs_every_missed_tick_in_the_window_oldest_first() {
    // At 28.4 s ticks 10 (18.4 s late) and 20 (8.4 s late) are missed, both
    // within the 30 s window: both run, in order, flagged as catch-ups.
    assert_eq!(
        runs_after_a_stall(Duration::from_secs(30), Duration::ZERO, |job| job
            .catch_up(CatchUp::All))
        .await,
        vec![
            (second(10), true),
            (second(20), true),
            (second(30), false),
            (second(40), false)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_catch_up_window_bounds_which_missed_ticks_run() {
    let window = |catch_up| {
        move |job: Job| {
            job.catch_up(catch_up)
                .catch_up_window(Duration::from_secs(10))
        }
    };
    // Tick 10 is 18.4 s late, past the 10 s window (the 30 s timeout no
    // longer decides): only 20 catches up, with either policy.
    for catch_up in [CatchUp::All, CatchUp::Latest] {
        assert_eq!(
            runs_after_a_stall(Duration::from_secs(30), Duration::ZERO, window(catch_up)).await,
            vec![(second(20), true), (second(30), false), (second(40), false)],
            "{catch_up:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn all_with_skip_overlap_runs_missed_ticks_one_after_another() {
    // Each run takes 3 s: tick 10 runs from 28.4 s, 20 waits for it (until
    // 31.4 s), then 30 (due meanwhile) waits for 20 (until 34.4 s); none is
    // skipped, none overlaps, and 40 is on time again.
    let runs = runs_after_a_stall(Duration::from_secs(30), Duration::from_secs(3), |job| {
        job.catch_up(CatchUp::All)
    })
    .await;
    let ticks: Vec<DateTime<Utc>> = runs.iter().map(|(tick, _)| *tick).collect();
    assert_eq!(
        ticks,
        vec![second(10), second(20), second(30), second(40)],
        "{runs:?}"
    );
}
