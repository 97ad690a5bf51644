//! `#[scheduled]` fns are found through `inventory`, get their `State<T>`
//! parameters injected, and a missing state is a startup error.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cronlock::{Error, JobContext, RunOutcome, Scheduler, State, scheduled};
use cronlock_tests::paused::{run_for, start};

struct Counter(AtomicU32);
struct Greeting(&'static str);

#[scheduled(cron = "* * * * * *", timeout = "1s")]
async fn count_ticks(
    ctx: JobContext,
    counter: State<Counter>,
    greeting: State<Greeting>,
) -> Result<(), String> {
    assert_eq!(ctx.job_name(), "count_ticks");
    assert_eq!(greeting.0, "hello");
    counter.0.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[scheduled(
    cron = "0 0 2 * * *",
    timeout = "2m",
    name = "nightly-report",
    tz = "Asia/Shanghai",
    enabled = false
)]
async fn nightly() {}

fn builder() -> cronlock::SchedulerBuilder {
    Scheduler::builder().clock(cronlock::clock::TokioClock::starting_at(start()))
}

#[tokio::test(start_paused = true)]
async fn registered_jobs_run_with_injected_state() {
    let scheduler = builder()
        .state(Counter(AtomicU32::new(0)))
        .state(Greeting("hello"))
        .build()
        .await
        .unwrap();
    let jobs = scheduler.list_jobs();
    let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"count_ticks") && names.contains(&"nightly-report"),
        "{names:?}"
    );
    let nightly = jobs
        .iter()
        .find(|job| job.name == "nightly-report")
        .unwrap();
    assert_eq!(
        (
            nightly.spec.as_str(),
            nightly.tz,
            nightly.timeout,
            nightly.enabled
        ),
        (
            "0 0 2 * * *",
            chrono_tz::Asia::Shanghai,
            Duration::from_secs(120),
            false
        )
    );

    run_for(&scheduler, Duration::from_millis(3_000)).await;
    let counted = scheduler
        .list_jobs()
        .into_iter()
        .find(|job| job.name == "count_ticks")
        .unwrap();
    assert_eq!(
        counted.last_run.map(|run| run.outcome),
        Some(RunOutcome::Completed)
    );
}

#[tokio::test]
async fn a_missing_state_names_the_job_and_the_type() {
    let err = builder()
        .state(Counter(AtomicU32::new(0)))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingState { job, .. } if job == "count_ticks"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "job `count_ticks` needs State<registered_jobs::Greeting>, but no registered_jobs::Greeting was registered: add .state(value) to the scheduler builder"
    );
}

#[tokio::test]
async fn registered_jobs_can_be_left_out() {
    let scheduler = builder().registered_jobs(false).build().await.unwrap();
    assert!(scheduler.list_jobs().is_empty());
}
