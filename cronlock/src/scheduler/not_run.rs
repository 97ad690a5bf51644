//! Ticks not run, written to the fleet's history: what the jobs gave up
//! (`JobEntry::not_run`) is written at each control poll and once more at
//! shutdown. The backend keeps each tick's first record only, and refuses
//! ticks its claim state shows an instance claimed, so the instances that
//! all skipped a tick (a pause, a run holding the lock) record it once, and
//! an instance that gave up a tick another instance ran records nothing.
//! A tick recorded and then claimed after all (by an instance whose clock
//! lags, within the skew margin) loses its record when its run is recorded.
//! While the backend is down the records wait (up to a bound) and are
//! written when it answers again.

use std::time::Duration;

use tracing::{debug, warn};

use super::inner::Inner;
use crate::events::GivenUp;
use crate::lock::LockErrorKind;

/// Ticks sent in one call to the backend.
const RECORD_BATCH: usize = 500;

/// How long shutdown waits to write the last records.
pub(super) const LAST_WRITE: Duration = Duration::from_secs(2);

/// Writes the ticks given up since the last write; puts back what the
/// backend could not take.
pub(super) async fn write(inner: &Inner) {
    let Some(control) = inner.lock.control() else {
        return;
    };
    let given_up = inner.events.take_given_up();
    let mut unwritten: Vec<GivenUp> = Vec::new();
    for record in given_up {
        if !unwritten.is_empty() {
            // The backend failed: keep the rest for the next poll, in order.
            unwritten.push(record);
            continue;
        }
        let mut written = 0;
        while written < record.ticks.len() {
            let ticks = &record.ticks[written..(written + RECORD_BATCH).min(record.ticks.len())];
            match control
                .record_not_run(&record.job, ticks, record.reason, &inner.instance)
                .await
            {
                Ok(_) => written += ticks.len(),
                // Unreachable: kept for the next poll, with every later one.
                Err(err) if err.kind() == LockErrorKind::Unavailable => {
                    debug!(job = %record.job, error = %err, "could not record ticks not run; trying again at the next poll");
                    unwritten.push(GivenUp {
                        ticks: record.ticks[written..].to_vec(),
                        ..record.clone()
                    });
                    break;
                }
                // Refused (a backend without these records, a corrupt key):
                // sending it again would not help.
                Err(err) => {
                    if err.kind() != LockErrorKind::Unsupported {
                        warn!(job = %record.job, error = %err, ticks = record.ticks.len() - written, "could not record ticks not run; dropping them (they are counted in the metrics)");
                    }
                    break;
                }
            }
        }
    }
    if !unwritten.is_empty() {
        inner.events.give_back(unwritten);
    }
}
