//! The scheduler fires each job at its exact instants, in order, with a context
//! that carries the tick, and `list_jobs` reports next fire times and outcomes.

use std::time::Duration;

use cronlock::{Job, JobContext, RunOutcome};
use cronlock_tests::paused::{Log, builder, run_for, second};

#[tokio::test(start_paused = true)]
async fn jobs_fire_at_their_exact_ticks_in_order() {
    let log: Log<(&str, chrono::DateTime<chrono::Utc>)> = Log::default();
    let (every_second, every_two) = (log.clone(), log.clone());
    let scheduler = builder()
        .job(Job::new(
            "every-second",
            "* * * * * *",
            Duration::from_secs(1),
            move |ctx: JobContext| {
                let log = every_second.clone();
                async move { log.push(("every-second", ctx.tick())) }
            },
        ))
        .job(Job::new(
            "every-two",
            "*/2 * * * * *",
            Duration::from_secs(1),
            move |ctx: JobContext| {
                let log = every_two.clone();
                async move { log.push(("every-two", ctx.tick())) }
            },
        ))
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_millis(4_200)).await;

    let mut entries = log.entries();
    entries.sort_by_key(|(name, tick)| (*tick, *name));
    assert_eq!(
        entries,
        vec![
            ("every-second", second(1)),
            ("every-second", second(2)),
            ("every-two", second(2)),
            ("every-second", second(3)),
            ("every-second", second(4)),
            ("every-two", second(4)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn runs_start_at_the_tick_not_before() {
    let starts: Log<(chrono::DateTime<chrono::Utc>, tokio::time::Instant)> = Log::default();
    let origin = tokio::time::Instant::now();
    let recorder = starts.clone();
    let scheduler = builder()
        .job(Job::new(
            "t",
            "*/3 * * * * *",
            Duration::from_secs(1),
            move |ctx: JobContext| {
                let recorder = recorder.clone();
                async move { recorder.push((ctx.tick(), tokio::time::Instant::now())) }
            },
        ))
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_secs(10)).await;
    let starts = starts.entries();
    assert_eq!(starts.len(), 3, "{starts:?}");
    for (tick, started) in starts {
        // The clock started at second 0.5, so tick t is due 0.5 s before t.
        let due = Duration::from_millis((tick - second(0)).num_milliseconds() as u64 - 500);
        let elapsed = started - origin;
        assert!(
            elapsed >= due,
            "{tick} started early: {elapsed:?} < {due:?}"
        );
        assert!(
            elapsed < due + Duration::from_millis(50),
            "{tick} started late: {elapsed:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn list_jobs_shows_spec_zone_next_fire_and_last_outcome() {
    let scheduler = builder()
        .timezone(chrono_tz::Europe::Berlin)
        .job(Job::new(
            "ok",
            "*/2 * * * * *",
            Duration::from_secs(90),
            |_ctx| async {},
        ))
        .job(Job::new(
            "fails",
            "*/2 * * * * *",
            Duration::from_secs(1),
            |_ctx| async { Err::<(), _>("boom") },
        ))
        .job(
            Job::new("off", "* * * * * *", Duration::from_secs(1), |_ctx| async {
            })
            .enabled(false),
        )
        .build()
        .await
        .unwrap();
    let before = scheduler.list_jobs();
    assert_eq!(before.len(), 3);
    assert_eq!(before[0].spec, "*/2 * * * * *");
    assert_eq!(before[0].tz, chrono_tz::Europe::Berlin);
    assert_eq!(before[0].timeout, Duration::from_secs(90));
    assert_eq!(
        before[0].next_fire,
        Some(second(2)),
        "known before the scheduler runs"
    );

    run_for(&scheduler, Duration::from_millis(2_000)).await;
    let after = scheduler.list_jobs();
    assert_eq!(after[0].next_fire, Some(second(4)));
    assert_eq!(
        after[0]
            .last_run
            .as_ref()
            .map(|run| (&run.outcome, run.tick)),
        Some((&RunOutcome::Completed, second(2)))
    );
    assert_eq!(
        after[1].last_run.as_ref().map(|run| run.outcome.clone()),
        Some(RunOutcome::Failed {
            error: "boom".into()
        })
    );
    assert!(!after[2].enabled);
    assert_eq!(
        (after[2].next_fire, after[2].last_run.clone()),
        (None, None),
        "disabled jobs never run"
    );
}

#[tokio::test(start_paused = true)]
async fn conditional_skip_is_recorded_as_skipped() {
    let scheduler = builder()
        .job(Job::new(
            "maybe",
            "* * * * * *",
            Duration::from_secs(1),
            |ctx: JobContext| async move {
                ctx.skip("nothing to do");
            },
        ))
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_millis(1_000)).await;
    assert_eq!(
        scheduler.list_jobs()[0]
            .last_run
            .as_ref()
            .map(|run| run.outcome.clone()),
        Some(RunOutcome::Skipped {
            reason: "nothing to do".into()
        })
    );
}

#[tokio::test(start_paused = true)]
async fn a_scheduler_runs_once() {
    let scheduler = builder().build().await.unwrap();
    run_for(&scheduler, Duration::from_millis(10)).await;
    let again = scheduler.run_until(async {}).await;
    assert!(
        matches!(again, Err(cronlock::Error::AlreadyStarted)),
        "{again:?}"
    );
}
