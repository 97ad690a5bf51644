//! Claiming: one call of the claim function for a batch, the clock offset
//! its reply tells, and the log of an outage.

use std::time::{Duration, Instant};

use chrono::Utc;
use tokio_postgres::types::Type;

use super::{PostgresLock, millis};
use crate::lock::{
    Claim, ClaimRequest, Claimed, LockError, LockErrorKind, MAX_REMEMBERED_TICKS, claim_window,
};

/// The claim function's answer for a claim that reached the database after
/// its deadline (nothing was written).
const TOO_LATE: i64 = 5;

impl PostgresLock {
    /// Claims `requests` in one statement; answers are in their order.
    pub(super) async fn claim_all(
        &self,
        requests: &[ClaimRequest<'_>],
    ) -> Vec<Result<Claimed, LockError>> {
        if requests.is_empty() {
            return Vec::new();
        }
        let sent = Instant::now();
        let reply = match self.send_claims(requests).await {
            Ok(reply) => reply,
            Err(failure) => return self.health.batch_failed(requests, &failure),
        };
        let round_trip = sent.elapsed();
        let Some((&db_now, pairs)) = reply
            .split_first()
            .filter(|(_, pairs)| pairs.len() == 2 * requests.len())
        else {
            return requests
                .iter()
                .map(|_| {
                    Err(LockError::new(
                        LockErrorKind::Backend,
                        "unexpected reply to the claim function",
                        None,
                    ))
                })
                .collect();
        };
        self.health
            .record_offset(db_now, requests[0].now, round_trip);
        if pairs.chunks(2).all(|pair| pair[0] == TOO_LATE) {
            return crate::lock::arrived_too_late(requests.len(), &self.location, round_trip);
        }
        self.health.outage_over(&self.location);
        requests
            .iter()
            .zip(pairs.chunks(2))
            .map(|(request, pair)| read_claim(request, pair[0], pair[1]))
            .collect()
    }

    /// One call of the claim function: the database's time, then a
    /// (status, value) pair per claim.
    async fn send_claims(&self, requests: &[ClaimRequest<'_>]) -> Result<Vec<i64>, LockError> {
        let jobs: Vec<&str> = requests.iter().map(|r| r.job).collect();
        let ticks: Vec<i64> = requests.iter().map(|r| r.tick.timestamp_millis()).collect();
        let tokens: Vec<&str> = requests.iter().map(|r| r.token).collect();
        // A TTL under a millisecond is one: the function refuses 0, and a
        // refused argument would fail the whole batch.
        let ttls: Vec<i64> = requests.iter().map(|r| millis(r.ttl).max(1)).collect();
        let exclusive: Vec<bool> = requests.iter().map(|r| r.overlap.is_exclusive()).collect();
        let windows: Vec<i64> = requests
            .iter()
            .map(|r| millis(claim_window(r.ttl, self.skew_margin)).max(1))
            .collect();
        let margin = millis(self.skew_margin);
        // The database refuses a claim that waited in its queue past the
        // moment this instance stops waiting for the reply.
        let deadline = self.health.deadline(
            requests.first().map_or_else(Utc::now, |r| r.now),
            self.reply_timeout,
        );
        let cap = i32::try_from(MAX_REMEMBERED_TICKS).unwrap_or(i32::MAX);
        let rows = self
            .query(
                "could not claim",
                &self.sql.claim,
                &[
                    (&jobs, Type::TEXT_ARRAY),
                    (&ticks, Type::INT8_ARRAY),
                    (&tokens, Type::TEXT_ARRAY),
                    (&ttls, Type::INT8_ARRAY),
                    (&exclusive, Type::BOOL_ARRAY),
                    (&windows, Type::INT8_ARRAY),
                    (&margin, Type::INT8),
                    (&deadline, Type::INT8),
                    (&cap, Type::INT4),
                ],
            )
            .await?;
        rows.first()
            .and_then(|row| row.try_get::<_, Vec<i64>>(0).ok())
            .ok_or_else(|| {
                LockError::new(
                    LockErrorKind::Backend,
                    "unexpected reply to the claim function",
                    None,
                )
            })
    }
}

/// Turns one claim's status and value into its answer.
fn read_claim(request: &ClaimRequest<'_>, status: i64, value: i64) -> Result<Claimed, LockError> {
    Ok(match status {
        0 => Claimed::TickTaken,
        1 => Claimed::Acquired(Claim {
            job: request.job.to_owned(),
            tick: request.tick,
            token: request.token.to_owned(),
            fencing_token: u64::try_from(value).unwrap_or(0),
        }),
        2 => Claimed::StillRunning,
        3 => Claimed::TooEarly {
            retry_in: Duration::from_millis(u64::try_from(value).unwrap_or(0)),
        },
        other => {
            return Err(LockError::new(
                LockErrorKind::Backend,
                format!("unexpected claim status {other}"),
                None,
            ));
        }
    })
}
