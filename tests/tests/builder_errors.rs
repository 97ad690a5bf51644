//! `build()` checks everything up front; every error names the job.

use std::time::Duration;

use cronlock::{Error, Job};
use cronlock_tests::paused::builder;

fn noop(name: &str, spec: &str) -> Job {
    Job::new(name, spec, Duration::from_secs(10), |_ctx| async {})
}

#[tokio::test]
async fn a_bad_spec_names_the_job_and_the_field() {
    let err = builder()
        .job(noop("report", "0 0 25 * * *"))
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "job `report` (Scheduler::builder().job(..)) has an invalid cron spec: hour 25 is out of range (0-23)"
    );
    let Error::InvalidSpec { source, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(source.caret(), "0 0 25 * * *\n    ^^");
}

#[tokio::test]
async fn duplicate_names_are_rejected() {
    let err = builder()
        .job(noop("same", "@hourly"))
        .job(noop("same", "@daily"))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::DuplicateJob { job, .. } if job == "same"),
        "{err:?}"
    );
}

#[tokio::test]
async fn overrides_are_validated_and_applied() {
    let scheduler = builder()
        .job(noop("report", "@hourly"))
        .spec_override("report", "0 */10 * * * *")
        .build()
        .await
        .unwrap();
    assert_eq!(scheduler.list_jobs()[0].spec, "0 */10 * * * *");

    let err = builder()
        .job(noop("report", "@hourly"))
        .spec_override("report", "0 0 0 31 2 *")
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec override for job `report` is invalid: day-of-month 31 never occurs in February: this spec can never fire"
    );
    let err = builder()
        .job(noop("report", "@hourly"))
        .spec_override("reprot", "@daily")
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "spec override for `reprot`: there is no job with that name"
    );
}

#[tokio::test]
async fn timeout_and_lock_ttl_are_checked() {
    let err = builder()
        .job(Job::new("zero", "@hourly", Duration::ZERO, |_ctx| async {}))
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "job `zero`: timeout must be greater than zero"
    );
    let err = builder()
        .job(
            Job::new(
                "short-lock",
                "@hourly",
                Duration::from_secs(120),
                |_ctx| async {},
            )
            .lock_ttl(Duration::from_secs(30)),
        )
        .build()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("job `short-lock`: lock_ttl 30s is shorter than timeout 2m"),
        "{err}"
    );
}

/// Values past every sensible bound (a year) are refused at build, not
/// accepted and then failed on every claim (Redis refuses such expiries).
#[tokio::test]
async fn durations_beyond_a_year_are_refused() {
    let err = builder()
        .job(Job::new(
            "forever",
            "@hourly",
            Duration::MAX,
            |_ctx| async {},
        ))
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "job `forever`: timeout (effectively forever) is longer than the longest allowed, 365d"
    );
    let err = builder()
        .job(
            Job::new(
                "slow-retry",
                "@hourly",
                Duration::from_secs(60),
                |_ctx| async {},
            )
            .retries(3, Duration::from_secs(400 * 24 * 3600)),
        )
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "job `slow-retry`: backoff 400d is longer than the longest allowed, 365d"
    );
}

/// A jitter is checked like the attribute checks it, and names the job.
#[tokio::test]
async fn a_jitter_wider_than_a_day_is_refused() {
    let err = builder()
        .job(noop("spread", "@hourly").jitter(Duration::from_secs(2 * 24 * 3600)))
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "job `spread`: jitter 2d is wider than the widest allowed, 1d: a start spread that wide is a different schedule (change the cron spec instead)"
    );
}

/// History length and the failure pause are checked as the attribute
/// checks them, and name the job.
#[tokio::test]
async fn history_len_and_pause_after_failures_out_of_range_are_refused() {
    let err = builder()
        .job(noop("keeps-nothing", "@hourly").history_len(0))
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "job `keeps-nothing`: history_len must be a whole number from 1 to 1000"
    );
    let err = builder()
        .job(noop("never-pauses", "@hourly").pause_after_failures(0))
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "job `never-pauses`: pause_after_failures must be a whole number from 1 to 1000 (leave it out to never pause by itself)"
    );
}

#[tokio::test]
async fn per_job_zone_wins_over_the_scheduler_zone() {
    let scheduler = builder()
        .timezone(chrono_tz::Asia::Tokyo)
        .job(noop("default-zone", "@daily"))
        .job(noop("own-zone", "@daily").tz(chrono_tz::America::New_York))
        .job(noop("prefix-zone", "CRON_TZ=Europe/Berlin @daily").tz(chrono_tz::America::New_York))
        .build()
        .await
        .unwrap();
    let zones: Vec<_> = scheduler
        .list_jobs()
        .into_iter()
        .map(|job| job.tz)
        .collect();
    assert_eq!(
        zones,
        vec![
            chrono_tz::Asia::Tokyo,
            chrono_tz::America::New_York,
            chrono_tz::Europe::Berlin
        ]
    );
}

/// A catch-up window with a policy that never runs late ticks is a mistake.
#[tokio::test]
async fn a_catch_up_window_needs_a_policy_that_catches_up() {
    let err = builder()
        .job(
            noop("strict", "@hourly")
                .catch_up(cronlock::CatchUp::Skip)
                .catch_up_window(Duration::from_secs(3600)),
        )
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "job `strict`: catch_up_window has no effect with catch_up = \"skip\": use catch_up = \"latest\" or \"all\", or remove catch_up_window"
    );
}
