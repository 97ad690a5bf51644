//! The fleet-wide lock: Redis, pooled with bb8.
//!
//! Per job, four keys share one hash tag, `{<prefix><job>}`, so the scripts
//! also work on a Redis Cluster:
//!
//! - `{cronlock:job}:mark`: the newest claimed tick (Unix ms), and
//!   `{cronlock:job}:claimed`: the ticks claimed within a window before it
//!   (a sorted set, pruned on every claim). A tick in the set, or older than
//!   the window, is never granted again, even after its run finished and
//!   released the run lock, and whatever the instances' clocks say; a tick
//!   inside the window that nobody claimed yet (a fast clock claimed a later
//!   one first) still can be.
//! - `{cronlock:job}:fence`: the last fencing token.
//! - `{cronlock:job}:run`: the run lock (a random token with a TTL), held
//!   while a run of a job with `overlap = "skip"` is going.
//!
//! The claim script checks and advances the mark, takes the run lock and
//! advances the fencing token atomically, in one `EVALSHA`; one call claims
//! a batch of ticks due at the same instant (up to
//! [`MAX_CLAIM_BATCH`](crate::lock::MAX_CLAIM_BATCH)).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use bb8_redis::bb8;
use chrono::{DateTime, Utc};
use redis::aio::MultiplexedConnection;
use redis::{RedisError, Value};
use tracing::{error, info, warn};

mod config;
mod control;

pub use config::RedisLockConfig;
use config::{Manager, connection_manager, redact, scrub};

use super::{BoxFuture, Claim, ClaimRequest, Claimed, Control, Lock, LockError, random_token};
use crate::job::Overlap;
use tokio::sync::oneshot;

/// Claims a batch of ticks in one call: four keys and five arguments per
/// claim (after the skew margin), one `status, fence` pair per claim in the
/// reply after Redis's time. Each claim runs under `pcall`, so a bad key
/// fails its own claim (status 4 and the error) and not the batch.
const CLAIM: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local margin = tonumber(ARGV[1])
local function claim(k, a)
  local tick = tonumber(ARGV[a + 1])
  if tick > now + margin then return 3, 0 end
  local window = tonumber(ARGV[a + 5])
  local mark = tonumber(redis.call('GET', KEYS[k + 1]) or '-1')
  -- The mark is a claimed tick; the set holds every claimed tick within the
  -- window below it.
  if tick <= mark - window or tick == mark then return 0, 0 end
  if tick < mark and redis.call('ZSCORE', KEYS[k + 4], ARGV[a + 1]) then return 0, 0 end
  local skip = ARGV[a + 4] == '1'
  if skip and redis.call('EXISTS', KEYS[k + 3]) == 1 then return 2, 0 end
  redis.call('ZADD', KEYS[k + 4], tick, ARGV[a + 1])
  if tick > mark then
    mark = tick
    redis.call('SET', KEYS[k + 1], ARGV[a + 1])
    -- Pruning is only due when the window moved.
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 4], '-inf', string.format('%.0f', mark - window))
  end
  local fence = math.max(tonumber(redis.call('GET', KEYS[k + 2]) or '0') + 1, tick)
  redis.call('SET', KEYS[k + 2], string.format('%.0f', fence))
  if skip then redis.call('SET', KEYS[k + 3], ARGV[a + 2], 'PX', ARGV[a + 3]) end
  return 1, fence
end
local out = {now}
for i = 0, #KEYS / 4 - 1 do
  local ok, status, fence = pcall(claim, i * 4, 1 + i * 5)
  if ok then
    out[#out + 1] = status
    out[#out + 1] = fence
  else
    out[#out + 1] = 4
    out[#out + 1] = tostring(status.err or status)
  end
end
return out
";

const EXTEND: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
";

/// Releases a batch of run locks: key `i` is deleted if it still holds token `i`.
const RELEASE: &str = r"
local released = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then
    released[i] = redis.call('DEL', KEYS[i])
  else
    released[i] = 0
  end
end
return released
";

/// The most run locks released in one script call.
const MAX_RELEASE_BATCH: usize = 100;

/// Releases waiting to be sent: runs that end together share one script
/// call. The first waiting caller sends batches until the queue is empty.
#[derive(Default)]
struct ReleaseQueue {
    waiting: Vec<PendingRelease>,
    sending: bool,
}

struct PendingRelease {
    key: String,
    token: String,
    answer: oneshot::Sender<Result<(), String>>,
}

/// Marks the queue as no longer being sent if the sending caller is
/// cancelled; the releases still waiting then fail (their locks expire with
/// their TTL) rather than wait for a sender that is gone.
struct SendingGuard<'a> {
    queue: &'a Mutex<ReleaseQueue>,
    finished: bool,
}

impl Drop for SendingGuard<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.sending = false;
            queue.waiting.clear();
        }
    }
}

/// The Redis lock: every tick of every job starts once across all schedulers
/// sharing the Redis and the key prefix.
pub struct RedisLock {
    pool: bb8::Pool<Manager>,
    url: String,
    prefix: String,
    timeout: Duration,
    skew_margin: Duration,
    claim: redis::Script,
    extend: redis::Script,
    release: redis::Script,
    outage: Mutex<Option<Outage>>,
    releases: Mutex<ReleaseQueue>,
    offset_ms: AtomicI64,
    offset_warned: AtomicBool,
}

struct Outage {
    since: Instant,
    failed_claims: u64,
    jobs: BTreeSet<String>,
}

impl RedisLock {
    /// Connects, checks that Redis answers, and loads the scripts.
    ///
    /// # Errors
    ///
    /// A malformed URL, an unreachable server, or refused credentials; the
    /// message never contains the password.
    pub async fn connect(config: RedisLockConfig) -> Result<RedisLock, LockError> {
        let url = redact(&config.url);
        let manager = connection_manager(&config).map_err(|err| {
            LockError::new(
                format!("invalid Redis URL {url}: {}", scrub(&err, &config.url)),
                None,
            )
        })?;
        let pool = bb8::Pool::builder()
            .max_size(config.pool_size)
            .min_idle(Some(1))
            .connection_timeout(config.connection_timeout)
            .test_on_check_out(false)
            .build_unchecked(Manager(manager));
        let lock = RedisLock {
            pool,
            url: url.clone(),
            prefix: config.prefix,
            timeout: config.connection_timeout,
            skew_margin: config.skew_margin,
            claim: redis::Script::new(CLAIM),
            extend: redis::Script::new(EXTEND),
            release: redis::Script::new(RELEASE),
            outage: Mutex::new(None),
            releases: Mutex::new(ReleaseQueue::default()),
            offset_ms: AtomicI64::new(0),
            offset_warned: AtomicBool::new(false),
        };
        let answer = lock
            .with_connection(|mut conn| async move {
                redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(CLAIM)
                    .query_async::<String>(&mut conn)
                    .await
            })
            .await;
        match answer {
            Ok(_) => Ok(lock),
            Err(err) => Err(LockError::new(
                format!("cannot use Redis at {url}: {}", scrub(&err, &config.url)),
                None,
            )),
        }
    }

    /// The last measured offset of Redis's clock against this instance's
    /// (positive: Redis is ahead).
    pub fn clock_offset(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    fn key(&self, job: &str, part: &str) -> String {
        format!("{{{}{job}}}:{part}", self.prefix)
    }

    /// Runs `request` on a pooled connection, within the timeout; a failed
    /// connection is retired so the pool reconnects.
    async fn with_connection<T, F, Fut>(&self, request: F) -> Result<T, RedisError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = Result<T, RedisError>>,
    {
        let pooled = match self.pool.get().await {
            Ok(pooled) => pooled,
            Err(bb8::RunError::User(err)) => return Err(err),
            Err(bb8::RunError::TimedOut) => {
                return Err(RedisError::from((
                    redis::ErrorKind::Io,
                    "timed out waiting for a connection",
                )));
            }
        };
        let result = match tokio::time::timeout(self.timeout, request(pooled.inner.clone())).await {
            Ok(result) => result,
            Err(_) => Err(RedisError::from((
                redis::ErrorKind::Io,
                "timed out waiting for a reply",
            ))),
        };
        if let Err(err) = &result
            && (!matches!(err.kind(), redis::ErrorKind::Server(_)) || err.is_connection_dropped())
        {
            pooled.broken.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Sends the claims in one script call, loading the script first if
    /// Redis lost it (a restart empties the script cache). The reply is
    /// Redis's time and a (status, fence or error) pair per claim.
    async fn send_claims(
        &self,
        requests: &[ClaimRequest<'_>],
        tokens: &[String],
    ) -> Result<(i64, Vec<(i64, Value)>), RedisError> {
        let mut call = redis::cmd("EVALSHA");
        call.arg(self.claim.get_hash()).arg(requests.len() * 4);
        for request in requests {
            for part in ["mark", "fence", "run", "claimed"] {
                call.arg(self.key(request.job, part));
            }
        }
        call.arg(self.skew_margin.as_millis() as u64);
        for (request, token) in requests.iter().zip(tokens) {
            call.arg(request.tick.timestamp_millis())
                .arg(token)
                .arg(request.ttl.as_millis() as u64)
                .arg(if request.overlap == Overlap::Skip {
                    "1"
                } else {
                    "0"
                })
                .arg(claim_window(request.ttl, self.skew_margin).as_millis() as u64);
        }
        let call = &call;
        for _ in 0..2 {
            let reply: Result<Vec<Value>, RedisError> = self
                .with_connection(|mut conn| async move { call.query_async(&mut conn).await })
                .await;
            match reply {
                Ok(values) => return read_claims(values, requests.len()),
                Err(err)
                    if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
                {
                    self.with_connection(|mut conn| async move {
                        redis::cmd("SCRIPT")
                            .arg("LOAD")
                            .arg(CLAIM)
                            .query_async::<String>(&mut conn)
                            .await
                    })
                    .await?;
                }
                Err(err) => return Err(err),
            }
        }
        Err(RedisError::from((
            redis::ErrorKind::Client,
            "Redis keeps forgetting the claim script",
        )))
    }

    /// Sends the waiting releases, a batch per script call, until none wait.
    async fn send_releases(&self) {
        let mut guard = SendingGuard {
            queue: &self.releases,
            finished: false,
        };
        loop {
            let batch: Vec<_> = {
                let mut queue = self.releases.lock().unwrap_or_else(|p| p.into_inner());
                let count = queue.waiting.len().min(MAX_RELEASE_BATCH);
                if count == 0 {
                    // Under the same lock as the check, so a release queued
                    // after it sends itself.
                    queue.sending = false;
                    guard.finished = true;
                    break;
                }
                queue.waiting.drain(..count).collect()
            };
            let mut invocation = self.release.prepare_invoke();
            for release in &batch {
                invocation.key(&release.key);
            }
            for release in &batch {
                invocation.arg(&release.token);
            }
            let invocation = &invocation;
            let result: Result<Vec<i64>, RedisError> = self
                .with_connection(|mut conn| async move { invocation.invoke_async(&mut conn).await })
                .await;
            let error = result.err().map(|err| scrub(&err, ""));
            for release in batch {
                let _ = release.answer.send(error.clone().map_or(Ok(()), Err));
            }
        }
    }

    /// Turns one claim's status and fence into its answer.
    fn read_claim(
        &self,
        request: &ClaimRequest<'_>,
        token: String,
        status: i64,
        fence: Value,
    ) -> Result<Claimed, LockError> {
        let claimed = match status {
            0 => Claimed::TickTaken,
            1 => Claimed::Acquired(Claim {
                job: request.job.to_owned(),
                tick: request.tick,
                token,
                fencing_token: redis::from_redis_value::<u64>(fence).unwrap_or(0),
            }),
            2 => Claimed::StillRunning,
            3 => Claimed::TooEarly,
            _ => {
                let error = redis::from_redis_value::<String>(fence).unwrap_or_default();
                return Err(LockError::new(
                    format!("claim script failed: {error}"),
                    None,
                ));
            }
        };
        Ok(claimed)
    }

    fn record_offset(&self, redis_now_ms: i64, local: DateTime<Utc>) {
        let offset = redis_now_ms - local.timestamp_millis();
        self.offset_ms.store(offset, Ordering::Relaxed);
        crate::metrics::clock_offset(offset);
        let limit = (self.skew_margin.as_millis() / 2) as i64;
        let over = offset.abs() > limit;
        if over && !self.offset_warned.swap(true, Ordering::Relaxed) {
            warn!(
                offset_ms = offset,
                limit_ms = limit,
                "this instance's clock differs from Redis's by more than half the skew margin"
            );
        } else if !over && self.offset_warned.swap(false, Ordering::Relaxed) {
            info!(
                offset_ms = offset,
                "clock back within half the skew margin of Redis"
            );
        }
    }

    fn outage_started_or_continues(&self, jobs: &[&str], err: &RedisError) -> LockError {
        let mut outage = self
            .outage
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let message = format!("Redis at {} is unreachable: {}", self.url, scrub(err, ""));
        match outage.as_mut() {
            Some(outage) => {
                outage.failed_claims += jobs.len() as u64;
                outage.jobs.extend(jobs.iter().map(|job| (*job).to_owned()));
            }
            None => {
                error!(jobs = ?jobs, error = %message, "not running ticks while Redis is unreachable (fail closed); retrying");
                *outage = Some(Outage {
                    since: Instant::now(),
                    failed_claims: jobs.len() as u64,
                    jobs: jobs.iter().map(|job| (*job).to_owned()).collect(),
                });
            }
        }
        LockError::new(message, None).already_reported()
    }

    fn outage_over(&self) {
        let mut outage = self
            .outage
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(outage) = outage.take() {
            info!(
                down_ms = outage.since.elapsed().as_millis() as u64,
                ticks_not_run = outage.failed_claims,
                jobs = ?outage.jobs,
                "Redis reachable again"
            );
        }
    }
}

impl Lock for RedisLock {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> BoxFuture<'a, Result<Claimed, LockError>> {
        Box::pin(async move {
            let mut answers = self.claim_many(std::slice::from_ref(&request)).await;
            answers
                .pop()
                .unwrap_or_else(|| Err(LockError::new("no answer to a claim", None)))
        })
    }

    fn claim_many<'a>(
        &'a self,
        requests: &'a [ClaimRequest<'a>],
    ) -> BoxFuture<'a, Vec<Result<Claimed, LockError>>> {
        Box::pin(async move {
            let tokens: Vec<String> = requests.iter().map(|_| random_token()).collect();
            let (redis_now, replies) = match self.send_claims(requests, &tokens).await {
                Ok(replies) => replies,
                Err(err) => {
                    let jobs: Vec<&str> = requests.iter().map(|r| r.job).collect();
                    let reported = self.outage_started_or_continues(&jobs, &err);
                    return requests
                        .iter()
                        .map(|_| Err(LockError::new(reported.to_string(), None).already_reported()))
                        .collect();
                }
            };
            self.outage_over();
            if let Some(first) = requests.first() {
                self.record_offset(redis_now, first.now);
            }
            requests
                .iter()
                .zip(tokens)
                .zip(replies)
                .map(|((request, token), (status, fence))| {
                    self.read_claim(request, token, status, fence)
                })
                .collect()
        })
    }

    fn extend<'a>(
        &'a self,
        claim: &'a Claim,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(async move {
            let mut invocation = self.extend.key(self.key(&claim.job, "run"));
            invocation.arg(&claim.token).arg(ttl.as_millis() as u64);
            let extended: i64 = self
                .with_connection(|mut conn| async move { invocation.invoke_async(&mut conn).await })
                .await
                .map_err(|err| {
                    LockError::new(
                        format!("could not extend the run lock: {}", scrub(&err, "")),
                        Some(Box::new(err)),
                    )
                })?;
            Ok(extended == 1)
        })
    }

    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let (answer, answered) = oneshot::channel();
            let send = {
                let mut queue = self.releases.lock().unwrap_or_else(|p| p.into_inner());
                queue.waiting.push(PendingRelease {
                    key: self.key(&claim.job, "run"),
                    token: claim.token.clone(),
                    answer,
                });
                !std::mem::replace(&mut queue.sending, true)
            };
            if send {
                self.send_releases().await;
            }
            match answered.await {
                Ok(result) => result.map_err(|error| {
                    LockError::new(format!("could not release the run lock: {error}"), None)
                }),
                Err(_) => Err(LockError::new(
                    "could not release the run lock: the release was dropped",
                    None,
                )),
            }
        })
    }

    fn on_start<'a>(&'a self, now: DateTime<Utc>) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let sent = Instant::now();
            let time: (i64, i64) = self
                .with_connection(|mut conn| async move {
                    redis::cmd("TIME").query_async(&mut conn).await
                })
                .await
                .map_err(|err| {
                    LockError::new(
                        format!(
                            "Redis at {} did not answer TIME: {}",
                            self.url,
                            scrub(&err, "")
                        ),
                        None,
                    )
                })?;
            // The reply left Redis about half a round trip ago.
            let half_trip = chrono::Duration::from_std(sent.elapsed() / 2).unwrap_or_default();
            self.record_offset(time.0 * 1000 + time.1 / 1000, now + half_trip);
            info!(url = %self.url, prefix = %self.prefix, offset_ms = self.offset_ms.load(Ordering::Relaxed), "using the Redis lock");
            Ok(())
        })
    }

    fn is_distributed(&self) -> bool {
        true
    }

    fn control(&self) -> Option<&dyn Control> {
        Some(self)
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
    while let (Some(status), Some(fence)) = (values.next(), values.next()) {
        pairs.push((
            redis::from_redis_value::<i64>(status).map_err(|_| malformed())?,
            fence,
        ));
    }
    Ok((now, pairs))
}

impl fmt::Debug for RedisLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLock")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// How far back from the newest claimed tick a job's claimed ticks are
/// remembered one by one: twice the skew margin (the most two instances'
/// claims of one tick can be apart) plus the lock TTL (at least the timeout,
/// the lateness that catch-up still runs). An unclaimed tick inside the
/// window can still be claimed, so a fast clock claiming a later tick first
/// loses no tick; a tick older than the window counts as taken.
pub(crate) fn claim_window(ttl: Duration, skew_margin: Duration) -> Duration {
    ttl.saturating_add(skew_margin.saturating_mul(2))
}
