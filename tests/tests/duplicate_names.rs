//! Two `#[scheduled]` fns with one name cannot be told apart by the lock:
//! startup fails and names both source locations.

use cronlock::{Error, Scheduler, scheduled};

#[scheduled(cron = "@hourly", timeout = "1m", name = "cleanup")]
async fn cleanup_cache() {}

mod other {
    use cronlock::scheduled;

    #[scheduled(cron = "@daily", timeout = "1m")]
    pub(crate) async fn cleanup() {}
}

#[tokio::test]
async fn duplicate_names_report_both_locations() {
    let err = Scheduler::builder().build().await.unwrap_err();
    let Error::DuplicateJob { job, first, second } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(job, "cleanup");
    let mut locations = [first.as_str(), second.as_str()];
    locations.sort();
    assert_eq!(
        locations,
        [
            "tests/tests/duplicate_names.rs:13",
            "tests/tests/duplicate_names.rs:7"
        ]
    );
    assert!(
        err.to_string().contains("give one of them another name"),
        "{err}"
    );
}
