//! Releasing run locks when the lock backend may not answer: a release that
//! fails is sent again, or the lock would block the job for its whole TTL.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::lock::{Claim, Lock};
use crate::metrics;

const FIRST_WAIT: Duration = Duration::from_millis(100);
const MAX_WAIT: Duration = Duration::from_secs(1);

/// Releases `claim`'s run lock, sending the release again after a failure
/// (with a growing pause) until it gets through, the lock would have
/// expired anyway (`until`), or `stop` is cancelled (shutdown past its grace:
/// the lock is then left to its TTL). Returns whether it got through.
pub(super) async fn release(
    lock: &dyn Lock,
    claim: &Claim,
    until: Instant,
    stop: &CancellationToken,
) -> bool {
    let mut wait = FIRST_WAIT;
    let mut warned = false;
    loop {
        match lock.release(claim).await {
            Ok(()) => return true,
            Err(err) => {
                metrics::lock_error();
                if !warned {
                    warn!(job = %claim.job, error = %err, "could not release the run lock; sending the release again");
                    warned = true;
                }
                if Instant::now() + wait >= until {
                    warn!(job = %claim.job, "the run lock was not released; it expires with its TTL");
                    return false;
                }
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stop.cancelled() => return false,
                }
                wait = (wait * 2).min(MAX_WAIT);
            }
        }
    }
}
