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
    let jump_ms = Arc::new(AtomicI64::new(0));
    let ticks: Log<DateTime<Utc>> = Log::default();
    let log = ticks.clone();
    let scheduler = builder()
        .clock(JumpingClock {
            base: TokioClock::starting_at(start()),
            jump_ms: Arc::clone(&jump_ms),
        })
        .job(
            Job::new(
                "every-ten",
                "*/10 * * * * *",
                timeout,
                move |ctx: JobContext| {
                    let log = log.clone();
                    async move { log.push(ctx.tick()) }
                },
            )
            .catch_up(catch_up),
        )
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
    ticks.entries()
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
