//! How to reach Redis and name the keys.

use std::fmt;
use std::time::Duration;

use crate::lock::DEFAULT_SKEW_MARGIN;
use crate::lock::url::{env_var, redact};

/// The environment variable naming the fleet's Redis.
pub const REDIS_URL_ENV: &str = "REDIS_URL";
/// The environment variable giving a key prefix, so that several services
/// can share one Redis without sharing jobs.
pub const PREFIX_ENV: &str = "CRONLOCK_PREFIX";
/// The prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "cronlock:";

/// How to reach Redis and name the keys.
///
/// ```
/// use std::time::Duration;
/// let config = cronlock::lock::RedisLockConfig::new("redis://:secret@127.0.0.1:6379")
///     .key_prefix("billing:")
///     .pool_size(4)
///     .reply_timeout(Duration::from_secs(1));
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct RedisLockConfig {
    pub(super) url: String,
    pub(super) prefix: String,
    pub(super) pool_size: u32,
    pub(super) connect_timeout: Duration,
    pub(super) reply_timeout: Duration,
    pub(super) skew_margin: Duration,
    pub(super) start_timeout: Option<Duration>,
    pub(super) tls_root: Option<Vec<u8>>,
    durability: Option<Durability>,
}

/// Claims count once this many replicas have them (`WAIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Durability {
    pub(super) replicas: u32,
    pub(super) timeout: Duration,
}

impl Durability {
    /// `call`, then `WAIT` for the replicas, in one pipeline: on the same
    /// connection, so the `WAIT` covers the write `call` made.
    pub(super) fn after(self, call: redis::Cmd) -> redis::Pipeline {
        let mut pipe = redis::pipe();
        pipe.add_command(call)
            .cmd("WAIT")
            .arg(self.replicas)
            .arg(super::millis(self.timeout));
        pipe
    }
}

/// How long a claim waits for its replicas unless told otherwise.
const DEFAULT_WAIT: Duration = Duration::from_millis(100);

impl RedisLockConfig {
    /// A Redis deployment named by a URL:
    ///
    /// - one endpoint: `redis://[user][:password]@host[:port][/db]`,
    ///   `rediss://` for TLS, or `redis+unix:///path/to/socket[?db=N&user=U&pass=P]`;
    /// - Sentinel: `redis+sentinel://[user:password@]host:port[,host:port…]/master[/db]`,
    ///   with `?sentinel_username=U&sentinel_password=P` when the sentinels
    ///   have their own credentials (`rediss+sentinel://` for TLS everywhere);
    /// - Cluster: `redis+cluster://[user:password@]host:port[,host:port…]`
    ///   (`rediss+cluster://` for TLS).
    ///
    /// Any of them takes `?wait_replicas=N&wait_timeout=100ms` (see
    /// [`RedisLockConfig::wait_for_replicas`]).
    pub fn new(url: impl Into<String>) -> RedisLockConfig {
        RedisLockConfig {
            url: url.into(),
            prefix: DEFAULT_PREFIX.to_owned(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(2),
            reply_timeout: Duration::from_secs(2),
            skew_margin: DEFAULT_SKEW_MARGIN,
            start_timeout: None,
            tls_root: None,
            durability: None,
        }
    }

    /// Redis Sentinel: the sentinels (`host:port`) and the name of the
    /// master they watch. The primary is found through them, again after a
    /// failover. Credentials of the data nodes, TLS and a Sentinel's own
    /// credentials go in the URL form (see [`RedisLockConfig::new`]).
    ///
    /// ```
    /// let config = cronlock::lock::RedisLockConfig::sentinel(["10.0.0.1:26379", "10.0.0.2:26379"], "mymaster");
    /// assert_eq!(config.redacted_url(), "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster");
    /// ```
    pub fn sentinel<S: AsRef<str>>(
        sentinels: impl IntoIterator<Item = S>,
        master: &str,
    ) -> RedisLockConfig {
        let hosts: Vec<String> = sentinels
            .into_iter()
            .map(|s| s.as_ref().to_owned())
            .collect();
        RedisLockConfig::new(format!("redis+sentinel://{}/{master}", hosts.join(",")))
    }

    /// Redis Cluster: some of its nodes (`host:port`); the rest are found
    /// from them.
    ///
    /// ```
    /// let config = cronlock::lock::RedisLockConfig::cluster(["10.0.0.1:7000", "10.0.0.2:7000"]);
    /// assert_eq!(config.redacted_url(), "redis+cluster://10.0.0.1:7000,10.0.0.2:7000");
    /// ```
    pub fn cluster<S: AsRef<str>>(nodes: impl IntoIterator<Item = S>) -> RedisLockConfig {
        let hosts: Vec<String> = nodes.into_iter().map(|s| s.as_ref().to_owned()).collect();
        RedisLockConfig::new(format!("redis+cluster://{}", hosts.join(",")))
    }

    /// Durability: a claim counts only once `replicas` replicas have it
    /// (`WAIT replicas timeout` after the claim, on the same connection).
    /// A claim they do not acknowledge within `timeout` is not run; it is
    /// sent again (same token, same grant) until they do or its tick is too
    /// late, so a failover to a replica never forgets a claim that ran.
    /// Extensions of the run lock wait the same way. Also set by the URL
    /// (`?wait_replicas=1&wait_timeout=100ms`). Off by default: see the
    /// README's deployment matrix for what each level guarantees and costs.
    pub fn wait_for_replicas(mut self, replicas: u32, timeout: Duration) -> Self {
        self.durability = (replicas > 0).then_some(Durability { replicas, timeout });
        self
    }

    /// The durability in force: the builder's, else the URL's.
    pub(super) fn durability(
        &self,
        from_url: super::endpoint::UrlDurability,
    ) -> Result<Option<Durability>, String> {
        if self.durability.is_some() {
            return Ok(self.durability);
        }
        match (from_url.replicas, from_url.timeout) {
            (None, None) | (Some(0), _) => Ok(None),
            (Some(replicas), timeout) => Ok(Some(Durability {
                replicas,
                timeout: timeout.unwrap_or(DEFAULT_WAIT),
            })),
            (None, Some(_)) => Err("wait_timeout needs wait_replicas".to_owned()),
        }
    }

    /// The configuration the environment gives: `$REDIS_URL`, and the key
    /// prefix from `$CRONLOCK_PREFIX` when it is set. `None` when
    /// `REDIS_URL` is not set.
    ///
    /// # Errors
    ///
    /// A variable that is not valid UTF-8, named in the message.
    pub fn from_env() -> Result<Option<RedisLockConfig>, String> {
        let Some(url) = env_var(REDIS_URL_ENV)? else {
            return Ok(None);
        };
        let mut config = RedisLockConfig::new(url);
        if let Some(prefix) = env_var(PREFIX_ENV)? {
            config = config.key_prefix(prefix);
        }
        Ok(Some(config))
    }

    /// For `rediss://` URLs: trust this CA certificate (PEM) instead of the
    /// system's roots. Needs the `tls` feature.
    #[cfg(feature = "tls")]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root = Some(pem.into());
        self
    }

    /// Prefix of every key (default `cronlock:`, or `$CRONLOCK_PREFIX` with
    /// [`RedisLockConfig::from_env`]); schedulers coordinate only with others
    /// using the same prefix. Give each service sharing a Redis its own.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Connections in the pool (default 8).
    pub fn pool_size(mut self, size: u32) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// How long to wait for a new connection, including the TLS and
    /// `AUTH` handshakes (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets both the connect and the reply timeout (default 2 s each).
    pub fn connection_timeout(self, timeout: Duration) -> Self {
        self.connect_timeout(timeout).reply_timeout(timeout)
    }

    /// How long to wait for the reply to a request (default 2 s). A claim
    /// whose reply does not come in time is sent again with the same token
    /// (it gets the same answer if the first one reached Redis), and Redis
    /// refuses a claim that waited longer than this before it ran (a stalled
    /// server's queue), so a late claim never takes a tick nobody will run.
    pub fn reply_timeout(mut self, timeout: Duration) -> Self {
        self.reply_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The clock difference to Redis that is tolerated (default 2 s): a tick
    /// is not claimed earlier than this before Redis's time, and an offset of
    /// more than half of it is logged as a warning.
    pub fn skew_margin(mut self, margin: Duration) -> Self {
        self.skew_margin = margin;
        self
    }

    /// How long [`RedisLock::connect`](super::RedisLock::connect) waits for
    /// an unreachable Redis before it fails. By default it does not fail:
    /// the scheduler starts fail-closed (no tick runs, an error is logged)
    /// and runs ticks as soon as Redis answers, so a Redis blip during a
    /// deploy does not crash-loop new instances. Refused credentials and a
    /// malformed URL fail at once either way.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = Some(timeout);
        self
    }

    /// The URL with its password hidden.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl fmt::Debug for RedisLockConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLockConfig")
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("reply_timeout", &self.reply_timeout)
            .field("skew_margin", &self.skew_margin)
            .field("start_timeout", &self.start_timeout)
            .field("durability", &self.durability)
            .field("tls_root", &self.tls_root.as_ref().map(|_| "<certificate>"))
            .finish()
    }
}
