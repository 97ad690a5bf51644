//! Jitter and catch-up across daylight-saving changes (Europe/Berlin,
//! 2027), in paused time: each tick the schedule lists runs once, jitter
//! keeps its fixed offset from the tick's UTC instant through the change,
//! and the ticks missed while the clock stood still across the change (two
//! local 02:00s in autumn) each catch up once, oldest first.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use cronlock::clock::{Clock, TokioClock};
use cronlock::{CatchUp, Job, JobContext, Scheduler};
use cronlock_tests::paused::Log;

fn utc(month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, month, day, hour, minute, 0)
        .single()
        .expect("valid instant")
}

/// A clock that follows tokio's paused time, plus a jump set by the test.
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

/// An hourly Berlin job with a 10-minute jitter, run from `from` for
/// `hours`: each run's tick and start.
async fn hourly_with_jitter(
    from: DateTime<Utc>,
    hours: u64,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let runs: Log<(DateTime<Utc>, DateTime<Utc>)> = Log::default();
    let log = runs.clone();
    // Copies of one clock: the same start and origin.
    let clock = TokioClock::starting_at(from);
    let job_clock = clock;
    let scheduler = Scheduler::builder()
        .registered_jobs(false)
        .clock(clock)
        .job(
            Job::new(
                "hourly",
                "0 0 * * * *",
                Duration::from_secs(60),
                move |ctx: JobContext| {
                    let log = log.clone();
                    async move { log.push((ctx.tick(), job_clock.now())) }
                },
            )
            .tz(chrono_tz::Europe::Berlin)
            .jitter(Duration::from_secs(600)),
        )
        .build()
        .await
        .unwrap();
    cronlock_tests::paused::run_for(&scheduler, Duration::from_secs(hours * 3600)).await;
    runs.entries()
}

fn assert_hourly_with_one_offset(
    runs: &[(DateTime<Utc>, DateTime<Utc>)],
    first: DateTime<Utc>,
    count: i64,
) {
    let ticks: Vec<DateTime<Utc>> = runs.iter().map(|(tick, _)| *tick).collect();
    let expected: Vec<DateTime<Utc>> = (0..count)
        .map(|hour| first + chrono::Duration::hours(hour))
        .collect();
    assert_eq!(ticks, expected, "every UTC hour once: {runs:?}");
    let offsets: Vec<chrono::Duration> = runs.iter().map(|(tick, start)| *start - *tick).collect();
    let offset = offsets[0];
    assert!(
        offset > chrono::Duration::zero() && offset < chrono::Duration::minutes(10),
        "{offsets:?}"
    );
    // Paused time is exact: every start is the tick plus the same offset
    // (to the millisecond the scheduler's timer rounds to).
    assert!(
        offsets
            .iter()
            .all(|o| (*o - offset).num_milliseconds().abs() <= 2),
        "the offset stays fixed through the change: {offsets:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn jitter_keeps_its_offset_through_the_autumn_change() {
    // 2027-10-31: 03:00 CEST becomes 02:00 CET at 01:00 UTC, so local 02:00
    // happens twice (00:00 and 01:00 UTC). Hourly ticks are every UTC hour.
    let runs = hourly_with_jitter(utc(10, 30, 23, 30), 4).await;
    assert_hourly_with_one_offset(&runs, utc(10, 31, 0, 0), 4);
}

#[tokio::test(start_paused = true)]
async fn jitter_keeps_its_offset_through_the_spring_change() {
    // 2027-03-28: 02:00 CET becomes 03:00 CEST at 01:00 UTC; local 02:00
    // never happens, and the UTC hours still each have one tick.
    let runs = hourly_with_jitter(utc(3, 27, 23, 30), 4).await;
    assert_hourly_with_one_offset(&runs, utc(3, 28, 0, 0), 4);
}

/// Runs `job` under a clock that starts at `from`, follows paused time and,
/// at 0.9 s, jumps `jump` ahead (the process was stopped across the change),
/// for a minute after the jump.
async fn after_a_jump(from: DateTime<Utc>, jump: Duration, job: Job) {
    let jump_ms = Arc::new(AtomicI64::new(0));
    let scheduler = Scheduler::builder()
        .registered_jobs(false)
        .clock(JumpingClock {
            base: TokioClock::starting_at(from),
            jump_ms: Arc::clone(&jump_ms),
        })
        .job(job)
        .build()
        .await
        .unwrap();
    let jumper = async {
        tokio::time::sleep(Duration::from_millis(900)).await;
        jump_ms.store(jump.as_millis() as i64, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(60)).await;
    };
    scheduler.run_until(jumper).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn missed_ticks_across_the_autumn_change_each_catch_up_once() {
    // The clock stands still from 23:30 UTC, then jumps past 03:00 UTC: the
    // ticks of 00:00 (02:00 CEST), 01:00 (the second 02:00, CET), 02:00 and
    // 03:00 UTC were missed; with catch_up = "all" and a 4-hour window each
    // runs once, oldest first, flagged as catch-up.
    let runs: Log<(DateTime<Utc>, bool)> = Log::default();
    let log = runs.clone();
    let job = Job::new(
        "hourly",
        "0 0 * * * *",
        Duration::from_secs(60),
        move |ctx: JobContext| {
            let log = log.clone();
            async move { log.push((ctx.tick(), ctx.is_catch_up())) }
        },
    )
    .tz(chrono_tz::Europe::Berlin)
    .catch_up(CatchUp::All)
    .catch_up_window(Duration::from_secs(4 * 3600));
    // 23:30 + 3 h 40 min: 03:10 UTC.
    after_a_jump(utc(10, 30, 23, 30), Duration::from_secs(220 * 60), job).await;
    let entries = runs.entries();
    assert_eq!(
        entries,
        [
            (utc(10, 31, 0, 0), true),
            (utc(10, 31, 1, 0), true),
            (utc(10, 31, 2, 0), true),
            (utc(10, 31, 3, 0), true),
        ],
        "both local 02:00s and the hours after them, once each, in order"
    );
}

#[tokio::test(start_paused = true)]
async fn a_daily_tick_in_the_spring_gap_catches_up_once() {
    // 02:30 local does not exist on 2027-03-28; the schedule moves that
    // day's tick to the first instant after the gap (03:00 CEST = 01:00
    // UTC). Missed across the change, it catches up once, with that tick.
    let from = utc(3, 27, 23, 30);
    let expected_tick = cronlock::Schedule::parse("CRON_TZ=Europe/Berlin 0 30 2 * * *")
        .unwrap()
        .next_after(from)
        .expect("a next tick");
    let runs: Log<DateTime<Utc>> = Log::default();
    let log = runs.clone();
    let job = Job::new(
        "daily",
        "CRON_TZ=Europe/Berlin 0 30 2 * * *",
        Duration::from_secs(60),
        move |ctx: JobContext| {
            let log = log.clone();
            async move { log.push(ctx.tick()) }
        },
    )
    .catch_up(CatchUp::All)
    .catch_up_window(Duration::from_secs(6 * 3600));
    after_a_jump(from, Duration::from_secs(4 * 3600), job).await;
    assert_eq!(runs.entries(), [expected_tick]);
    assert!(
        expected_tick > utc(3, 28, 0, 30) && expected_tick <= utc(3, 28, 1, 30),
        "the gap's tick falls just after the change: {expected_tick}"
    );
}
