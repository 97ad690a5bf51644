//! Claiming: the script call for a batch (one per hash slot on a Cluster),
//! the wait for replicas when durability is asked for, the clock offset
//! each reply tells, and the log of an outage.

use std::time::{Duration, Instant};

use chrono::Utc;
use redis::{RedisError, Value};

use super::{Durability, RedisLock, STATE_KEPT, millis};
use crate::lock::url::scrub;
use crate::lock::{
    Claim, ClaimRequest, Claimed, LockError, LockErrorKind, MAX_REMEMBERED_TICKS, claim_window,
};

impl RedisLock {
    /// Claims `requests`: one script call per hash slot on a Cluster (keys
    /// of different slots cannot share a call), one for all otherwise; the
    /// calls go out together. Answers are in the order of `requests`.
    pub(super) async fn claim_all(
        &self,
        requests: &[ClaimRequest<'_>],
    ) -> Vec<Result<Claimed, LockError>> {
        let groups = self.by_slot(requests.iter().map(|request| self.key(request.job, "tick")));
        if groups.len() <= 1 {
            return self.claim_group(requests, true).await;
        }
        // With durability, every script goes out first and the WAITs after
        // them: a WAIT blocks its connection until the replicas answer, so
        // script, WAIT, script, WAIT… on a node waits for the replica once
        // per slot, while after all the scripts the first WAIT's answer
        // covers them and the others return at once. (On loopback, where a
        // replica answers in microseconds, this was within the noise; across
        // a network each of those waits is a round trip.)
        let calls = groups.iter().map(|indexes| async move {
            let group: Vec<ClaimRequest<'_>> = indexes.iter().map(|&i| requests[i]).collect();
            self.claim_group(&group, false).await
        });
        let mut answers = futures_util::future::join_all(calls).await;
        if let Some(durability) = self.durability {
            let waits = groups.iter().map(|indexes| {
                let key = self.key(requests[indexes[0]].job, "tick");
                async move { self.replicas_acked(&key, durability).await }
            });
            let acked = futures_util::future::join_all(waits).await;
            for (group, acked) in answers.iter_mut().zip(acked) {
                let acked = acked.ok();
                *group = std::mem::take(group)
                    .into_iter()
                    .map(|answer| self.durable_or_not(answer, acked))
                    .collect();
            }
        }
        let mut ordered: Vec<Option<Result<Claimed, LockError>>> =
            requests.iter().map(|_| None).collect();
        for (indexes, answers) in groups.iter().zip(answers) {
            for (&index, answer) in indexes.iter().zip(answers) {
                ordered[index] = Some(answer);
            }
        }
        ordered
            .into_iter()
            .map(|answer| {
                answer.unwrap_or_else(|| {
                    Err(LockError::new(
                        LockErrorKind::Backend,
                        "no answer to a claim",
                        None,
                    ))
                })
            })
            .collect()
    }

    /// Claims a batch whose keys share a node, in one script call; with
    /// `wait`, then waits for the replicas durability asks for (without,
    /// the caller must: grants come back as if none were asked for).
    async fn claim_group(
        &self,
        requests: &[ClaimRequest<'_>],
        wait: bool,
    ) -> Vec<Result<Claimed, LockError>> {
        let sent = Instant::now();
        let (redis_now, replies, replicas) = match self.send_claims(requests, wait).await {
            Ok(replies) => replies,
            Err(err) => {
                let failure = self.error(&err, "could not claim");
                return self.health.batch_failed(requests, &failure);
            }
        };
        let round_trip = sent.elapsed();
        if let Some(first) = requests.first() {
            self.health.record_offset(redis_now, first.now, round_trip);
        }
        if replies.iter().all(|(status, _)| *status == 5) && !replies.is_empty() {
            return crate::lock::arrived_too_late(requests.len(), &self.location, round_trip);
        }
        self.health.outage_over(&self.location);
        requests
            .iter()
            .zip(replies)
            .map(|(request, (status, value))| {
                let answer = self.read_claim(request, status, value);
                match (wait, replicas) {
                    (true, _) if self.durability.is_some() => self.durable_or_not(answer, replicas),
                    _ => answer,
                }
            })
            .collect()
    }

    /// A grant stands only once the replicas durability asks for have it
    /// (`acked`: how many did, `None` when the WAIT got no answer). One that
    /// did not reach them in time is not run: a failover could forget it.
    /// Sent again with the same token, it gets the same grant and waits again.
    fn durable_or_not(
        &self,
        answer: Result<Claimed, LockError>,
        acked: Option<i64>,
    ) -> Result<Claimed, LockError> {
        let (Ok(Claimed::Acquired(_)), Some(durability)) = (&answer, self.durability) else {
            return answer;
        };
        let acked = acked.unwrap_or(0);
        if acked >= i64::from(durability.replicas) {
            return answer;
        }
        Err(LockError::new(
            LockErrorKind::Unavailable,
            format!(
                "the claim reached {acked} of {} replicas within {} ms at {}: not run yet",
                durability.replicas,
                durability.timeout.as_millis(),
                self.location
            ),
            None,
        ))
    }

    /// `WAIT` on the connection of the node that holds `key` (routed by a
    /// read of the key): how many replicas have every write made on it.
    async fn replicas_acked(&self, key: &str, durability: Durability) -> Result<i64, RedisError> {
        let mut pipe = redis::pipe();
        pipe.cmd("EXISTS").arg(key).ignore();
        pipe.cmd("WAIT")
            .arg(durability.replicas)
            .arg(millis(durability.timeout));
        let (acked,): (i64,) = self.nodes.request(&pipe).await?;
        Ok(acked)
    }

    /// Sends the claims in one script call (then `WAIT` for the replicas,
    /// when durability is asked for). The reply is Redis's time, a (status,
    /// fence or error) pair per claim, and how many replicas acknowledged.
    async fn send_claims(
        &self,
        requests: &[ClaimRequest<'_>],
        wait: bool,
    ) -> Result<(i64, Vec<(i64, Value)>, Option<i64>), RedisError> {
        let keys: Vec<String> = requests
            .iter()
            .flat_map(|request| ["tick", "claimed", "run"].map(|part| self.key(request.job, part)))
            .collect();
        let mut call = self.claim.call(&keys);
        // Redis refuses a claim that waited in its queue past the moment this
        // instance stops waiting for the reply.
        let local_now = requests
            .first()
            .map_or_else(Utc::now, |request| request.now);
        let deadline = self.health.deadline(local_now, self.reply_timeout);
        call.arg(millis(self.skew_margin))
            .arg(deadline)
            .arg(MAX_REMEMBERED_TICKS)
            .arg(millis(STATE_KEPT));
        for request in requests {
            call.arg(request.tick.timestamp_millis())
                .arg(request.token)
                .arg(millis(request.ttl))
                .arg(if request.overlap.is_exclusive() {
                    "1"
                } else {
                    "0"
                })
                .arg(millis(claim_window(request.ttl, self.skew_margin)));
        }
        match self.durability.filter(|_| wait) {
            None => {
                let values: Vec<Value> = self.eval(&self.claim, &call).await?;
                let (now, pairs) = read_claims(values, requests.len())?;
                Ok((now, pairs, None))
            }
            Some(durability) => {
                let (values, acked): (Vec<Value>, i64) =
                    self.eval(&self.claim, &durability.after(call)).await?;
                let (now, pairs) = read_claims(values, requests.len())?;
                Ok((now, pairs, Some(acked)))
            }
        }
    }

    /// Turns one claim's status and value into its answer.
    fn read_claim(
        &self,
        request: &ClaimRequest<'_>,
        status: i64,
        value: Value,
    ) -> Result<Claimed, LockError> {
        let claimed = match status {
            0 => Claimed::TickTaken,
            1 => Claimed::Acquired(Claim {
                job: request.job.to_owned(),
                tick: request.tick,
                token: request.token.to_owned(),
                fencing_token: redis::from_redis_value::<u64>(value).unwrap_or(0),
            }),
            2 => Claimed::StillRunning,
            3 => Claimed::TooEarly {
                retry_in: Duration::from_millis(redis::from_redis_value::<u64>(value).unwrap_or(0)),
            },
            _ => {
                let error = redis::from_redis_value::<String>(value).unwrap_or_default();
                return Err(LockError::new(
                    LockErrorKind::Backend,
                    format!("claim script failed: {}", scrub(&error, &self.secret_url)),
                    None,
                ));
            }
        };
        Ok(claimed)
    }
}

/// Splits the claim script's reply into Redis's time and a (status, fence
/// or error) pair per claim.
fn read_claims(values: Vec<Value>, claims: usize) -> Result<(i64, Vec<(i64, Value)>), RedisError> {
    let malformed = || {
        RedisError::from((
            redis::ErrorKind::Client,
            "unexpected reply to the claim script",
        ))
    };
    if values.len() != 1 + 2 * claims {
        return Err(malformed());
    }
    let mut values = values.into_iter();
    let now = redis::from_redis_value::<i64>(values.next().ok_or_else(malformed)?)
        .map_err(|_| malformed())?;
    let mut pairs = Vec::with_capacity(claims);
    while let (Some(status), Some(value)) = (values.next(), values.next()) {
        pairs.push((
            redis::from_redis_value::<i64>(status).map_err(|_| malformed())?,
            value,
        ));
    }
    Ok((now, pairs))
}
