//! The fleet-wide lock: Redis, pooled with bb8.
//!
//! # Key layout
//!
//! Per job, three keys share one hash tag, `{<prefix><job>}`, so the scripts
//! also work on a Redis Cluster:
//!
//! - `{cronlock:job}:tick`: `mark fence window token` — the newest claimed
//!   tick (Unix ms), the last fencing token, the job's claim window (the
//!   widest any instance asked for, so instances with different settings
//!   agree), and the newest claim's token (a claim sent again after a lost
//!   reply is recognised). Expires a day after the window of the newest claim.
//! - `{cronlock:job}:claimed`: the ticks claimed within the window before the
//!   mark (a sorted set of `tick:fence:token`, at most
//!   [`MAX_REMEMBERED_TICKS`](crate::lock::MAX_REMEMBERED_TICKS)). A tick in
//!   the set, or older than the window, is never granted again, even after
//!   its run finished and released the run lock, and whatever the
//!   instances' clocks say; a tick inside the window that nobody claimed yet
//!   (a fast clock claimed a later one first) still can be.
//! - `{cronlock:job}:run`: the run lock (a random token with a TTL), held
//!   while a run of a job with `overlap = "skip"` is going.
//! - `{cronlock:job}:history`: the last runs (see [`Control`]).
//!
//! Fleet-wide keys share the tag `{<prefix>}`: `jobs` and `jobs:seen` (the
//! published job list), `paused`, `triggers`.
//!
//! One `EVALSHA` claims a batch of ticks due at the same instant (up to
//! [`MAX_CLAIM_BATCH`](crate::lock::MAX_CLAIM_BATCH)): for each, it checks
//! and advances the mark, takes the run lock and advances the fencing token,
//! atomically and all or nothing.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redis::{RedisError, Value};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

mod config;
mod connection;
mod control;
mod scripts;

use config::scrub;
pub use config::{DEFAULT_PREFIX, PREFIX_ENV, REDIS_URL_ENV, RedisLockConfig, redact};
use connection::{
    ConnectFailures, Generations, Manager, Request, lock_error, retire_if_needed, server_went_away,
};
use scripts::Script;

use super::{
    BoxFuture, Claim, ClaimRequest, Claimed, Control, Lock, LockError, LockErrorKind,
    MAX_REMEMBERED_TICKS, claim_window,
};
use crate::options::Overlap;

/// How long a job's claim state outlives the window of its newest claim.
const STATE_KEPT: Duration = Duration::from_secs(24 * 3600);

/// The most run locks released in one script call.
const MAX_RELEASE_BATCH: usize = 100;

/// The longest round trip whose reply is used to measure the clock offset:
/// the script reads Redis's time somewhere between send and reply, so the
/// measure is only as good as half the round trip.
const OFFSET_MAX_ROUND_TRIP: Duration = Duration::from_millis(100);

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
    answer: oneshot::Sender<Result<(), LockError>>,
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
    failures: ConnectFailures,
    generations: Generations,
    /// The URL as given, only to scrub it out of error texts.
    secret_url: String,
    /// The URL with its password hidden, for messages.
    url: String,
    prefix: String,
    reply_timeout: Duration,
    skew_margin: Duration,
    claim: Script,
    extend: Script,
    release: Script,
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
    /// Connects and checks that Redis answers.
    ///
    /// An unreachable Redis is not an error unless
    /// [`RedisLockConfig::start_timeout`] says so: the lock is returned, no
    /// tick runs until Redis answers (fail closed, logged), and the pool
    /// keeps trying.
    ///
    /// # Errors
    ///
    /// A malformed URL, refused credentials, a database that does not exist,
    /// or no answer within the start timeout; the message says which and
    /// never contains the password.
    pub async fn connect(config: RedisLockConfig) -> Result<RedisLock, LockError> {
        let url = redact(&config.url);
        let manager = Manager::new(&config).map_err(|err| {
            LockError::new(
                LockErrorKind::Config,
                format!(
                    "invalid Redis URL {url}: {}",
                    scrub(&err.to_string(), &config.url)
                ),
                None,
            )
        })?;
        let failures = ConnectFailures::default();
        let generations = manager.generations();
        let pool = bb8::Pool::builder()
            .max_size(config.pool_size)
            .connection_timeout(config.connect_timeout + config.reply_timeout)
            .retry_connection(false)
            .test_on_check_out(false)
            .error_sink(Box::new(failures.clone()))
            .build_unchecked(manager);
        let lock = RedisLock {
            pool,
            failures,
            generations,
            secret_url: config.url.clone(),
            url: url.clone(),
            prefix: config.prefix,
            reply_timeout: config.reply_timeout,
            skew_margin: config.skew_margin,
            claim: Script::new(scripts::CLAIM),
            extend: Script::new(scripts::EXTEND),
            release: Script::new(scripts::RELEASE),
            outage: Mutex::new(None),
            releases: Mutex::new(ReleaseQueue::default()),
            offset_ms: AtomicI64::new(0),
            offset_warned: AtomicBool::new(false),
        };
        let started = Instant::now();
        let mut logged = false;
        loop {
            let err = match lock.request::<String>(&redis::cmd("PING")).await {
                Ok(_) => return Ok(lock),
                Err(err) => err,
            };
            let (kind, reason) = connection::describe(&err, &config.url);
            let err = LockError::new(kind, format!("cannot use Redis at {url}: {reason}"), None);
            let give_up = match config.start_timeout {
                _ if err.kind() != LockErrorKind::Unavailable => true,
                Some(limit) => started.elapsed() >= limit,
                None => {
                    error!(url = %url, error = %err, "Redis is not reachable at start: no tick runs until it answers (fail closed); retrying");
                    return Ok(lock);
                }
            };
            if give_up {
                return Err(err);
            }
            if !logged {
                warn!(url = %url, error = %err, "Redis is not reachable yet; retrying until the start timeout");
                logged = true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The last measured offset of Redis's clock against this instance's
    /// (positive: Redis is ahead).
    pub fn clock_offset(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// The key prefix this lock uses.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis URL, its password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn key(&self, job: &str, part: &str) -> String {
        format!("{{{}{job}}}:{part}", self.prefix)
    }

    /// A failure as a lock error: its kind, and its cause in words.
    fn error(&self, err: &RedisError, what: &str) -> LockError {
        lock_error(err, what, &self.url, &self.secret_url)
    }

    /// Sends one command or pipeline on a pooled connection; a connection
    /// that failed in a way a new one may cure is retired.
    async fn request<T: redis::FromRedisValue>(
        &self,
        command: &(dyn Request + Sync),
    ) -> Result<T, RedisError> {
        // A request on a connection the server dropped never reached it: sent
        // once more on a new connection, it costs no reply timeout. (Claims,
        // releases and extensions are idempotent; so is sending again.)
        match self.request_once(command).await {
            Err(err) if server_went_away(&err) => {
                self.generations.stale_all();
                self.request_once(command).await
            }
            other => other,
        }
    }

    async fn request_once<T: redis::FromRedisValue>(
        &self,
        command: &(dyn Request + Sync),
    ) -> Result<T, RedisError> {
        let pooled = loop {
            // A failed connection attempt ends the wait at once, with its error.
            let failures = self.failures.watch();
            let checkout = tokio::select! {
                biased;
                checkout = self.pool.get() => checkout,
                err = failures.next() => return Err(err),
            };
            match checkout {
                Ok(pooled) if self.generations.is_stale(&pooled) => {
                    // Made before the server went away: drop it, take another.
                    pooled.broken.store(true, Ordering::Relaxed);
                }
                Ok(pooled) => break pooled,
                Err(bb8::RunError::User(err)) => return Err(err),
                Err(bb8::RunError::TimedOut) => {
                    return Err(self.failures.last().unwrap_or_else(|| {
                        RedisError::from((redis::ErrorKind::Io, "no free connection in time"))
                    }));
                }
            }
        };
        let mut conn = pooled.inner.clone();
        let result = command
            .send(&mut conn)
            .await
            .and_then(|value| redis::from_redis_value(value).map_err(RedisError::from));
        if let Err(err) = &result {
            retire_if_needed(&pooled, err);
        }
        result
    }

    /// Runs a script, loading it first if Redis lost it.
    async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        call: &redis::Cmd,
    ) -> Result<T, RedisError> {
        match self.request(call).await {
            Err(err)
                if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                self.request::<String>(&script.load()).await?;
                self.request(call).await
            }
            other => other,
        }
    }

    /// Sends the claims in one script call. The reply is Redis's time and a
    /// (status, fence or error) pair per claim.
    async fn send_claims(
        &self,
        requests: &[ClaimRequest<'_>],
    ) -> Result<(i64, Vec<(i64, Value)>), RedisError> {
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
        let deadline = local_now.timestamp_millis()
            + self.offset_ms.load(Ordering::Relaxed)
            + millis(self.reply_timeout) as i64;
        call.arg(millis(self.skew_margin))
            .arg(deadline)
            .arg(MAX_REMEMBERED_TICKS)
            .arg(millis(STATE_KEPT));
        for request in requests {
            call.arg(request.tick.timestamp_millis())
                .arg(request.token)
                .arg(millis(request.ttl))
                .arg(if request.overlap == Overlap::Skip {
                    "1"
                } else {
                    "0"
                })
                .arg(millis(claim_window(request.ttl, self.skew_margin)));
        }
        let values: Vec<Value> = self.eval(&self.claim, &call).await?;
        read_claims(values, requests.len())
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
            let keys: Vec<&str> = batch.iter().map(|release| release.key.as_str()).collect();
            let mut call = self.release.call(&keys);
            for release in &batch {
                call.arg(&release.token);
            }
            let result: Result<Vec<i64>, RedisError> = self.eval(&self.release, &call).await;
            for release in batch {
                let answer = match &result {
                    Ok(_) => Ok(()),
                    Err(err) => Err(self.error(err, "could not release the run lock")),
                };
                let _ = release.answer.send(answer);
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

    /// Measures the offset to Redis's clock from a reply whose round trip was
    /// short enough to be accurate (± half of it); a reply that waited in
    /// Redis's queue (a stall) would tell a wrong offset and is not used.
    fn record_offset(&self, redis_now_ms: i64, local_send: DateTime<Utc>, round_trip: Duration) {
        if round_trip > OFFSET_MAX_ROUND_TRIP {
            return;
        }
        let local_at_redis = local_send.timestamp_millis() + millis(round_trip / 2) as i64;
        let offset = redis_now_ms - local_at_redis;
        self.offset_ms.store(offset, Ordering::Relaxed);
        crate::metrics::clock_offset(offset);
        let limit = (self.skew_margin.as_millis() / 2) as i64;
        let over = offset.abs() > limit;
        if offset.abs() > millis(self.skew_margin) as i64 {
            if !self.offset_warned.swap(true, Ordering::Relaxed) {
                error!(
                    offset_ms = offset,
                    skew_margin_ms = millis(self.skew_margin),
                    "this instance's clock differs from Redis's by more than the skew margin: its claims wait for Redis's time, and ticks can be late or missed; fix the clock (NTP)"
                );
            }
        } else if over && !self.offset_warned.swap(true, Ordering::Relaxed) {
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

    fn outage_started_or_continues(&self, jobs: &[&str], err: &LockError) {
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
                error!(jobs = ?jobs, error = %err, "not running ticks while Redis is unreachable (fail closed); retrying");
                *outage = Some(Outage {
                    since: Instant::now(),
                    failed_claims: jobs.len() as u64,
                    jobs: jobs.iter().map(|job| (*job).to_owned()).collect(),
                });
            }
        }
    }

    fn outage_over(&self) {
        let mut outage = self
            .outage
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if let Some(outage) = outage.take() {
            info!(
                down_ms = outage.since.elapsed().as_millis() as u64,
                failed_claims = outage.failed_claims,
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
            answers.pop().unwrap_or_else(|| {
                Err(LockError::new(
                    LockErrorKind::Backend,
                    "no answer to a claim",
                    None,
                ))
            })
        })
    }

    fn claim_many<'a>(
        &'a self,
        requests: &'a [ClaimRequest<'a>],
    ) -> BoxFuture<'a, Vec<Result<Claimed, LockError>>> {
        Box::pin(async move {
            let sent = Instant::now();
            let (redis_now, replies) = match self.send_claims(requests).await {
                Ok(replies) => replies,
                Err(err) => {
                    let failure = self.error(&err, "could not claim");
                    let jobs: Vec<&str> = requests.iter().map(|r| r.job).collect();
                    if failure.kind() == LockErrorKind::Unavailable {
                        self.outage_started_or_continues(&jobs, &failure);
                    } else {
                        error!(jobs = ?jobs, error = %failure, "Redis refused the claims");
                    }
                    return requests
                        .iter()
                        .map(|_| {
                            Err(LockError::new(failure.kind(), failure.to_string(), None)
                                .already_reported())
                        })
                        .collect();
                }
            };
            let round_trip = sent.elapsed();
            if let Some(first) = requests.first() {
                self.record_offset(redis_now, first.now, round_trip);
            }
            if replies.iter().all(|(status, _)| *status == 5) && !replies.is_empty() {
                // Nothing was written; the caller sends them again.
                return requests
                    .iter()
                    .map(|_| {
                        Err(LockError::new(
                            LockErrorKind::Unavailable,
                            format!(
                                "the claim reached Redis at {} after its deadline (waited {} ms)",
                                self.url,
                                round_trip.as_millis()
                            ),
                            None,
                        ))
                    })
                    .collect();
            }
            self.outage_over();
            requests
                .iter()
                .zip(replies)
                .map(|(request, (status, value))| self.read_claim(request, status, value))
                .collect()
        })
    }

    fn extend<'a>(
        &'a self,
        claim: &'a Claim,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(async move {
            let mut call = self.extend.call(&[self.key(&claim.job, "run")]);
            call.arg(&claim.token).arg(millis(ttl));
            let extended: i64 = self
                .eval(&self.extend, &call)
                .await
                .map_err(|err| self.error(&err, "could not extend the run lock"))?;
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
            answered.await.unwrap_or_else(|_| {
                Err(LockError::new(
                    LockErrorKind::Unavailable,
                    "could not release the run lock: the release was dropped",
                    None,
                ))
            })
        })
    }

    fn on_start<'a>(&'a self, now: DateTime<Utc>) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let sent = Instant::now();
            let time: (i64, i64) = self
                .request(&redis::cmd("TIME"))
                .await
                .map_err(|err| self.error(&err, "TIME at start"))?;
            self.record_offset(time.0 * 1000 + time.1 / 1000, now, sent.elapsed());
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

/// Milliseconds of a duration, saturating.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
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

impl fmt::Debug for RedisLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLock")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}
