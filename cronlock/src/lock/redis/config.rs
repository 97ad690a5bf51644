//! Connecting: the configuration, the bb8 manager, URL redaction.

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bb8_redis::RedisConnectionManager;
use bb8_redis::bb8::ManageConnection;
use redis::RedisError;
use redis::aio::MultiplexedConnection;

/// How to reach Redis and name the keys.
///
/// ```
/// use std::time::Duration;
/// let config = cronlock::lock::RedisLockConfig::new("redis://:secret@127.0.0.1:6379")
///     .key_prefix("billing:")
///     .pool_size(4)
///     .connection_timeout(Duration::from_secs(1));
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct RedisLockConfig {
    pub(super) url: String,
    pub(super) prefix: String,
    pub(super) pool_size: u32,
    pub(super) connection_timeout: Duration,
    pub(super) skew_margin: Duration,
    tls_root: Option<Vec<u8>>,
}

impl RedisLockConfig {
    /// `redis://[user][:password]@host[:port][/db]`, or `rediss://` for TLS.
    pub fn new(url: impl Into<String>) -> RedisLockConfig {
        RedisLockConfig {
            url: url.into(),
            prefix: "cronlock:".to_owned(),
            pool_size: 8,
            connection_timeout: Duration::from_secs(2),
            skew_margin: Duration::from_secs(2),
            tls_root: None,
        }
    }

    /// For `rediss://` URLs: trust this CA certificate (PEM) instead of the
    /// system's roots. Needs the `tls` feature.
    #[cfg(feature = "tls")]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root = Some(pem.into());
        self
    }

    /// Prefix of every key (default `cronlock:`); schedulers coordinate only
    /// with others using the same prefix.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Connections in the pool (default 8).
    pub fn pool_size(mut self, size: u32) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// How long to wait for a connection or a reply (default 2 s).
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// The clock difference to Redis that is tolerated (default 2 s): a tick
    /// is not claimed earlier than this before Redis's time, and an offset of
    /// more than half of it is logged as a warning.
    pub fn skew_margin(mut self, margin: Duration) -> Self {
        self.skew_margin = margin;
        self
    }
}

impl fmt::Debug for RedisLockConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLockConfig")
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .field("pool_size", &self.pool_size)
            .field("connection_timeout", &self.connection_timeout)
            .field("skew_margin", &self.skew_margin)
            .field("tls_root", &self.tls_root.as_ref().map(|_| "<certificate>"))
            .finish()
    }
}

/// A bb8 manager around bb8-redis's that retires a connection once a
/// request on it failed (bb8-redis never reports a connection as broken, and
/// checkout tests cost a round trip per claim).
#[derive(Debug)]
pub(super) struct Manager(pub(super) RedisConnectionManager);

pub(super) struct Connection {
    pub(super) inner: MultiplexedConnection,
    pub(super) broken: AtomicBool,
}

impl ManageConnection for Manager {
    type Connection = Connection;
    type Error = RedisError;

    async fn connect(&self) -> Result<Connection, RedisError> {
        Ok(Connection {
            inner: self.0.connect().await?,
            broken: AtomicBool::new(false),
        })
    }

    async fn is_valid(&self, conn: &mut Connection) -> Result<(), RedisError> {
        self.0.is_valid(&mut conn.inner).await
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        *conn.broken.get_mut()
    }
}

/// bb8-redis's manager for the URL, with TLS settings where asked for.
pub(super) fn connection_manager(
    config: &RedisLockConfig,
) -> Result<RedisConnectionManager, RedisError> {
    let tls = config.url.starts_with("rediss://");
    if tls && !cfg!(feature = "tls") {
        return Err(RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "rediss:// needs cronlock's `tls` feature",
        )));
    }
    #[cfg(feature = "tls")]
    if let (true, Some(root)) = (tls, &config.tls_root) {
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root.clone()),
        };
        let client = redis::Client::build_with_tls(config.url.as_str(), certificates)?;
        return RedisConnectionManager::new(client.get_connection_info().clone());
    }
    RedisConnectionManager::new(config.url.as_str())
}

/// The URL with its password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let user_info = &rest[..at];
    let user = match user_info.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => user_info.to_owned(),
    };
    format!("{}{user}{}", &url[..scheme_end], &rest[at..])
}

/// The error's text, with the URL (which may hold a password) redacted.
pub(super) fn scrub(err: &RedisError, url: &str) -> String {
    let text = err.to_string();
    if url.is_empty() {
        text
    } else {
        text.replace(url, &redact(url))
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("redis://:hunter2@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            redact("rediss://app:hunter2@cache:6380"),
            "rediss://app:***@cache:6380"
        );
        assert_eq!(redact("redis://app@cache"), "redis://app@cache");
        assert_eq!(redact("redis://127.0.0.1"), "redis://127.0.0.1");
        assert_eq!(redact("redis://u:p@ss@host/1"), "redis://u:***@host/1");
    }
}
