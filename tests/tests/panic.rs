//! A panicking job is caught and recorded; the scheduler and other jobs carry on.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cronlock::{Job, RunOutcome};
use cronlock_tests::paused::{builder, run_for, second};

fn counting(name: &str, calls: &Arc<AtomicU32>, panic_on_first: bool) -> Job {
    let calls = Arc::clone(calls);
    Job::new(name, "* * * * * *", Duration::from_secs(1), move |_ctx| {
        let calls = Arc::clone(&calls);
        async move {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 && panic_on_first {
                panic!("first run explodes");
            }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_recorded_with_its_message() {
    let calls = Arc::new(AtomicU32::new(0));
    let scheduler = builder()
        .job(counting("panicky", &calls, true))
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_millis(1_000)).await;
    let last = scheduler.list_jobs()[0].last_run.clone().expect("ran");
    assert_eq!(
        last.outcome,
        RunOutcome::Panicked {
            message: "first run explodes".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn after_a_panic_the_next_ticks_and_other_jobs_still_run() {
    let (panicky, healthy) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let scheduler = builder()
        .job(counting("panicky", &panicky, true))
        .job(counting("healthy", &healthy, false))
        .build()
        .await
        .unwrap();
    run_for(&scheduler, Duration::from_millis(3_000)).await;
    assert_eq!(panicky.load(Ordering::SeqCst), 3);
    assert_eq!(healthy.load(Ordering::SeqCst), 3);
    let jobs = scheduler.list_jobs();
    assert_eq!(
        jobs[0]
            .last_run
            .as_ref()
            .map(|r| (r.tick, r.outcome.clone())),
        Some((second(3), RunOutcome::Completed))
    );
}
