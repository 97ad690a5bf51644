//! What a network backend tells about itself as it answers: its clock
//! against this instance's, and whether it is reachable (an outage is logged
//! once when it starts and once when it ends, not at every failed claim).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::{error, info, warn};

use super::{ClaimRequest, Claimed, LockError, LockErrorKind};

/// The longest round trip whose reply is used to measure the clock offset:
/// the backend reads its time somewhere between send and reply, so the
/// measure is only as good as half the round trip.
const OFFSET_MAX_ROUND_TRIP: Duration = Duration::from_millis(100);

/// The backend's clock as measured from its replies, and the outage log.
#[derive(Debug)]
pub(crate) struct Health {
    /// "Redis", "Postgres": how messages name the backend.
    backend: &'static str,
    skew_margin: Duration,
    offset_ms: AtomicI64,
    offset_warned: AtomicBool,
    outage: Mutex<Option<Outage>>,
}

#[derive(Debug)]
struct Outage {
    since: Instant,
    failed_claims: u64,
    jobs: BTreeSet<String>,
}

impl Health {
    pub(crate) fn new(backend: &'static str, skew_margin: Duration) -> Health {
        Health {
            backend,
            skew_margin,
            offset_ms: AtomicI64::new(0),
            offset_warned: AtomicBool::new(false),
            outage: Mutex::new(None),
        }
    }

    /// The last measured offset of the backend's clock (positive: ahead).
    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }

    /// The backend's time, in Unix ms, after which a request sent at
    /// `local_now` is no longer waited for: the backend refuses it then
    /// rather than act on it after the sender gave up.
    pub(crate) fn deadline(&self, local_now: DateTime<Utc>, reply_timeout: Duration) -> i64 {
        local_now.timestamp_millis()
            + self.offset_ms()
            + i64::try_from(reply_timeout.as_millis()).unwrap_or(i64::MAX / 4)
    }

    /// Measures the offset from a reply whose round trip was short enough to
    /// be accurate (± half of it); a reply that waited in the backend's queue
    /// (a stall) would tell a wrong offset and is not used.
    pub(crate) fn record_offset(
        &self,
        backend_now_ms: i64,
        local_send: DateTime<Utc>,
        round_trip: Duration,
    ) {
        if round_trip > OFFSET_MAX_ROUND_TRIP {
            return;
        }
        let local_at_backend = local_send.timestamp_millis() + (round_trip / 2).as_millis() as i64;
        let offset = backend_now_ms - local_at_backend;
        self.offset_ms.store(offset, Ordering::Relaxed);
        crate::metrics::clock_offset(offset);
        let margin = self.skew_margin.as_millis() as i64;
        let over = offset.abs() > margin / 2;
        let backend = self.backend;
        if offset.abs() > margin {
            if !self.offset_warned.swap(true, Ordering::Relaxed) {
                error!(
                    offset_ms = offset,
                    skew_margin_ms = margin,
                    "this instance's clock differs from {backend}'s by more than the skew margin: its claims wait for {backend}'s time, and ticks can be late or missed; fix the clock (NTP)"
                );
            }
        } else if over && !self.offset_warned.swap(true, Ordering::Relaxed) {
            warn!(
                offset_ms = offset,
                limit_ms = margin / 2,
                "this instance's clock differs from {backend}'s by more than half the skew margin"
            );
        } else if !over && self.offset_warned.swap(false, Ordering::Relaxed) {
            info!(
                offset_ms = offset,
                "clock back within half the skew margin of {backend}"
            );
        }
    }

    /// Claims of `jobs` failed because the backend is unreachable: logged
    /// when the outage starts, counted while it lasts.
    pub(crate) fn outage_started_or_continues(&self, jobs: &[&str], err: &LockError) {
        let mut outage = self
            .outage
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        match outage.as_mut() {
            Some(outage) => {
                outage.failed_claims += jobs.len() as u64;
                outage.jobs.extend(jobs.iter().map(|job| (*job).to_owned()));
            }
            None => {
                error!(jobs = ?jobs, error = %err, "not running ticks while {} is unreachable (fail closed); retrying", self.backend);
                *outage = Some(Outage {
                    since: Instant::now(),
                    failed_claims: jobs.len() as u64,
                    jobs: jobs.iter().map(|job| (*job).to_owned()).collect(),
                });
            }
        }
    }

    /// The answers to a batch of claims that failed as a whole: an outage
    /// (logged once) or a refusal (logged now), one error per claim, each
    /// marked as already reported.
    pub(crate) fn batch_failed(
        &self,
        requests: &[ClaimRequest<'_>],
        failure: &LockError,
    ) -> Vec<Result<Claimed, LockError>> {
        let jobs: Vec<&str> = requests.iter().map(|r| r.job).collect();
        if failure.kind() == LockErrorKind::Unavailable {
            self.outage_started_or_continues(&jobs, failure);
        } else {
            error!(jobs = ?jobs, error = %failure, "{} refused the claims", self.backend);
        }
        requests
            .iter()
            .map(|_| {
                Err(LockError::new(failure.kind(), failure.to_string(), None).already_reported())
            })
            .collect()
    }

    /// The backend answered: ends an outage, logging how long it lasted.
    pub(crate) fn outage_over(&self, location: &str) {
        let mut outage = self
            .outage
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(outage) = outage.take() {
            info!(
                down_ms = outage.since.elapsed().as_millis() as u64,
                failed_claims = outage.failed_claims,
                jobs = ?outage.jobs,
                location = %location,
                "{} reachable again",
                self.backend
            );
        }
    }
}
