//! The fleet-wide lock: Redis — one endpoint or a Sentinel-watched primary
//! (pooled with bb8), or a Cluster.
//!
//! # Key layout
//!
//! Per job, the keys share one hash tag, `{<prefix><job>}`, so every script
//! call and pipeline about one job stays in one hash slot on a Cluster (and
//! the jobs spread over the Cluster's slots):
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
//! Fleet-wide keys share the tag `{<prefix>}` (one slot, so they can be
//! read and written together): `jobs` and `jobs:seen` (the published job
//! list), `paused`, `triggers`.
//!
//! One `EVALSHA` claims a batch of ticks due at the same instant (up to
//! [`MAX_CLAIM_BATCH`](crate::lock::MAX_CLAIM_BATCH)): for each, it checks
//! and advances the mark, takes the run lock and advances the fencing token,
//! atomically and all or nothing. On a Cluster a batch is split by hash slot
//! (a script call cannot span slots) and the calls go out together; so are
//! batched releases. Reading the histories of many jobs is one pipeline per
//! slot.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redis::RedisError;
use tracing::{error, info, warn};

mod claims;
mod config;
mod connection;
mod control;
mod endpoint;
mod nodes;
mod releases;
mod scripts;
mod sentinel;
mod tls;

use crate::lock::url::{redact, scrub};
use config::Durability;
pub use config::{DEFAULT_PREFIX, PREFIX_ENV, REDIS_URL_ENV, RedisLockConfig};
use connection::lock_error;
pub use endpoint::Deployment;
use endpoint::Endpoint;
use nodes::{Nodes, Request};
use releases::ReleaseQueue;
use scripts::Script;

use super::health::Health;
use super::{BoxFuture, Claim, ClaimRequest, Claimed, Control, Lock, LockError, LockErrorKind};

/// How long a job's claim state outlives the window of its newest claim.
const STATE_KEPT: Duration = Duration::from_secs(24 * 3600);

/// The Redis lock: every tick of every job starts once across all schedulers
/// sharing the Redis and the key prefix.
pub struct RedisLock {
    nodes: Nodes,
    deployment: Deployment,
    /// The URL as given, only to scrub it out of error texts.
    secret_url: String,
    /// The URL with its password hidden, for messages.
    url: String,
    /// Who the lock talks to, in words (the deployment and its nodes).
    location: String,
    prefix: String,
    reply_timeout: Duration,
    skew_margin: Duration,
    durability: Option<Durability>,
    claim: Script,
    extend: Script,
    release: Script,
    health: Health,
    releases: Mutex<ReleaseQueue>,
}

impl RedisLock {
    /// Connects and checks that Redis answers.
    ///
    /// An unreachable Redis is not an error unless
    /// [`RedisLockConfig::start_timeout`] says so: the lock is returned, no
    /// tick runs until Redis answers (fail closed, logged), and the
    /// connections keep being tried.
    ///
    /// # Errors
    ///
    /// A malformed URL, refused credentials, a database that does not exist,
    /// or no answer within the start timeout; the message names the
    /// deployment, says which failure it was, and never shows a password.
    pub async fn connect(config: RedisLockConfig) -> Result<RedisLock, LockError> {
        let url = redact(&config.url);
        let invalid = |reason: String| {
            LockError::new(
                LockErrorKind::Config,
                format!("invalid Redis URL {url}: {}", scrub(&reason, &config.url)),
                None,
            )
        };
        let (endpoint, from_url) = Endpoint::parse(&config.url).map_err(invalid)?;
        let durability = config.durability(from_url).map_err(invalid)?;
        let nodes = Nodes::new(&config, &endpoint).map_err(|err| invalid(err.to_string()))?;
        let location = endpoint.describe(&url);
        let lock = RedisLock {
            nodes,
            deployment: endpoint.deployment(),
            secret_url: config.url.clone(),
            url,
            location,
            prefix: config.prefix.clone(),
            reply_timeout: config.reply_timeout,
            skew_margin: config.skew_margin,
            durability,
            claim: Script::new(scripts::CLAIM),
            extend: Script::new(scripts::EXTEND),
            release: Script::new(scripts::RELEASE),
            health: Health::new("Redis", config.skew_margin),
            releases: Mutex::new(ReleaseQueue::default()),
        };
        lock.await_start(&config).await?;
        Ok(lock)
    }

    /// Waits for Redis to answer, as the start timeout says.
    async fn await_start(&self, config: &RedisLockConfig) -> Result<(), LockError> {
        let started = Instant::now();
        let mut logged = false;
        loop {
            let err = match self.request::<String>(&redis::cmd("PING")).await {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            let (kind, reason) = connection::describe(&err, &config.url);
            let err = LockError::new(
                kind,
                format!("cannot use {}: {reason}", self.location),
                None,
            );
            let give_up = match config.start_timeout {
                _ if err.kind() != LockErrorKind::Unavailable => true,
                Some(limit) => started.elapsed() >= limit,
                None => {
                    error!(location = %self.location, error = %err, "Redis is not reachable at start: no tick runs until it answers (fail closed); retrying");
                    return Ok(());
                }
            };
            if give_up {
                return Err(err);
            }
            if !logged {
                warn!(location = %self.location, error = %err, "Redis is not reachable yet; retrying until the start timeout");
                logged = true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The last measured offset of Redis's clock against this instance's
    /// (positive: Redis is ahead).
    pub fn clock_offset(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.health.offset_ms())
    }

    /// The key prefix this lock uses.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The Redis URL, its password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The kind of deployment the URL named.
    pub fn deployment(&self) -> Deployment {
        self.deployment
    }

    fn key(&self, job: &str, part: &str) -> String {
        format!("{{{}{job}}}:{part}", self.prefix)
    }

    /// A failure as a lock error: its kind, and its cause in words.
    fn error(&self, err: &RedisError, what: &str) -> LockError {
        lock_error(err, what, &self.location, &self.secret_url)
    }

    /// Sends one command or pipeline.
    async fn request<T: redis::FromRedisValue>(
        &self,
        command: &(dyn Request + Sync),
    ) -> Result<T, RedisError> {
        self.nodes.request(command).await
    }

    /// Runs a script call (or a pipeline with one), loading the script first
    /// if Redis lost it (a restart, `SCRIPT FLUSH`, a new Cluster node).
    async fn eval<T: redis::FromRedisValue>(
        &self,
        script: &Script,
        call: &(dyn Request + Sync),
    ) -> Result<T, RedisError> {
        match self.request(call).await {
            Err(err)
                if err.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                self.request::<redis::Value>(&script.load()).await?;
                self.request(call).await
            }
            other => other,
        }
    }

    /// The indexes of `keys`, grouped by hash slot on a Cluster (one group
    /// of all otherwise).
    fn by_slot(&self, keys: impl Iterator<Item = String>) -> Vec<Vec<usize>> {
        if !self.nodes.is_cluster() {
            return vec![(0..keys.count()).collect()];
        }
        let mut groups: Vec<(redis::cluster_routing::Slot, Vec<usize>)> = Vec::new();
        for (index, key) in keys.enumerate() {
            let slot = redis::cluster_routing::Slot::for_key(key.as_bytes());
            match groups.iter_mut().find(|(other, _)| *other == slot) {
                Some((_, indexes)) => indexes.push(index),
                None => groups.push((slot, vec![index])),
            }
        }
        groups.into_iter().map(|(_, indexes)| indexes).collect()
    }
}

impl Lock for RedisLock {
    fn claim<'a>(&'a self, request: ClaimRequest<'a>) -> BoxFuture<'a, Result<Claimed, LockError>> {
        Box::pin(
            async move { super::only_answer(self.claim_all(std::slice::from_ref(&request)).await) },
        )
    }

    fn claim_many<'a>(
        &'a self,
        requests: &'a [ClaimRequest<'a>],
    ) -> BoxFuture<'a, Vec<Result<Claimed, LockError>>> {
        Box::pin(self.claim_all(requests))
    }

    fn extend<'a>(
        &'a self,
        claim: &'a Claim,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(async move {
            let mut call = self.extend.call(&[self.key(&claim.job, "run")]);
            call.arg(&claim.token).arg(millis(ttl));
            let extended: i64 = match self.durability {
                None => self.eval(&self.extend, &call).await,
                // An extension a failover forgot would let the lock expire
                // early: it counts once the replicas have it.
                Some(durability) => self
                    .eval::<(i64, i64)>(&self.extend, &durability.after(call))
                    .await
                    .map(|(extended, acked)| {
                        if acked >= i64::from(durability.replicas) {
                            extended
                        } else {
                            -1
                        }
                    }),
            }
            .map_err(|err| self.error(&err, "could not extend the run lock"))?;
            if extended < 0 {
                return Err(LockError::new(
                    LockErrorKind::Unavailable,
                    format!(
                        "the extension did not reach the replicas in time at {}",
                        self.location
                    ),
                    None,
                ));
            }
            Ok(extended == 1)
        })
    }

    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(self.release_queued(claim))
    }

    fn on_start<'a>(&'a self, now: DateTime<Utc>) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let sent = Instant::now();
            let time: (i64, i64) = self
                .request(&redis::cmd("TIME"))
                .await
                .map_err(|err| self.error(&err, "TIME at start"))?;
            self.health
                .record_offset(time.0 * 1000 + time.1 / 1000, now, sent.elapsed());
            info!(
                location = %self.location,
                prefix = %self.prefix,
                durability = ?self.durability,
                offset_ms = self.health.offset_ms(),
                "using the Redis lock"
            );
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

impl fmt::Debug for RedisLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLock")
            .field("location", &self.location)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}
