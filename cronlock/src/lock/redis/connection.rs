//! Connections: the bb8 pool, its manager, and what a failed request means.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bb8::ManageConnection;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, ErrorKind, RedisError, ServerErrorKind};

use super::config::{RedisLockConfig, scrub};
use crate::lock::{LockError, LockErrorKind};

/// A bb8 manager that connects with explicit connect and reply timeouts
/// (redis-rs's own default reply timeout is 500 ms, whatever the pool's
/// settings), and retires a connection once a request on it failed in a way
/// that a new connection may cure: bb8 only asks, and checkout tests would
/// cost a round trip per claim.
#[derive(Debug)]
pub(super) struct Manager {
    client: redis::Client,
    config: AsyncConnectionConfig,
    /// Bumped when a connection finds the server gone: every connection made
    /// before is stale (a restarted Redis, a failed-over endpoint) and is
    /// dropped instead of being tried one after another.
    generation: Arc<AtomicU64>,
}

pub(super) struct Connection {
    pub(super) inner: MultiplexedConnection,
    pub(super) broken: AtomicBool,
    generation: u64,
}

impl Manager {
    pub(super) fn new(config: &RedisLockConfig) -> Result<Manager, RedisError> {
        Ok(Manager {
            client: client(config)?,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(config.connect_timeout))
                .set_response_timeout(Some(config.reply_timeout)),
            generation: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The handle that marks every current connection stale.
    pub(super) fn generations(&self) -> Generations {
        Generations(Arc::clone(&self.generation))
    }
}

/// Marks all connections made so far as stale, and tells stale ones apart.
#[derive(Debug, Clone)]
pub(super) struct Generations(Arc<AtomicU64>);

impl Generations {
    /// Every connection made before now is stale.
    pub(super) fn stale_all(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether `connection` was made before the last [`Generations::stale_all`].
    pub(super) fn is_stale(&self, connection: &Connection) -> bool {
        connection.generation < self.0.load(Ordering::SeqCst)
    }
}

impl ManageConnection for Manager {
    type Connection = Connection;
    type Error = RedisError;

    async fn connect(&self) -> Result<Connection, RedisError> {
        let generation = self.generation.load(Ordering::SeqCst);
        let inner = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        Ok(Connection {
            inner,
            broken: AtomicBool::new(false),
            generation,
        })
    }

    async fn is_valid(&self, conn: &mut Connection) -> Result<(), RedisError> {
        redis::cmd("PING").query_async(&mut conn.inner).await
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        *conn.broken.get_mut() || conn.generation < self.generation.load(Ordering::SeqCst)
    }
}

/// Connection failures, as bb8 reports them: bb8 only hands them to a sink
/// (a checkout waits for its whole timeout), so the pool's users learn here
/// why no connection came, and at once.
#[derive(Debug, Clone)]
pub(super) struct ConnectFailures(Arc<FailureState>);

#[derive(Debug)]
struct FailureState {
    last: Mutex<Option<RedisError>>,
    /// Counts failures; a checkout watches it from before it starts, so a
    /// failure that comes before it waits is not missed.
    count: tokio::sync::watch::Sender<u64>,
}

impl Default for ConnectFailures {
    fn default() -> ConnectFailures {
        ConnectFailures(Arc::new(FailureState {
            last: Mutex::new(None),
            count: tokio::sync::watch::channel(0).0,
        }))
    }
}

/// Failures from one moment on.
pub(super) struct FailureWatch {
    failures: ConnectFailures,
    seen: tokio::sync::watch::Receiver<u64>,
}

impl ConnectFailures {
    /// Watches for failures from now on.
    pub(super) fn watch(&self) -> FailureWatch {
        FailureWatch {
            failures: self.clone(),
            seen: self.0.count.subscribe(),
        }
    }

    /// The last connection error, if any.
    pub(super) fn last(&self) -> Option<RedisError> {
        self.0
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl FailureWatch {
    /// Waits for the next failed connection attempt and returns its error.
    pub(super) async fn next(mut self) -> RedisError {
        if self.seen.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        self.failures
            .last()
            .unwrap_or_else(|| RedisError::from((ErrorKind::Io, "connection failed")))
    }
}

impl bb8::ErrorSink<RedisError> for ConnectFailures {
    fn sink(&self, error: RedisError) {
        *self.0.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        self.0.count.send_modify(|count| *count += 1);
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<RedisError>> {
        Box::new(self.clone())
    }
}

/// A command or a pipeline: what [`super::RedisLock`] sends.
pub(super) trait Request {
    fn send<'a>(
        &'a self,
        conn: &'a mut MultiplexedConnection,
    ) -> crate::lock::BoxFuture<'a, Result<redis::Value, RedisError>>;
}

impl Request for redis::Cmd {
    fn send<'a>(
        &'a self,
        conn: &'a mut MultiplexedConnection,
    ) -> crate::lock::BoxFuture<'a, Result<redis::Value, RedisError>> {
        Box::pin(self.query_async(conn))
    }
}

impl Request for redis::Pipeline {
    fn send<'a>(
        &'a self,
        conn: &'a mut MultiplexedConnection,
    ) -> crate::lock::BoxFuture<'a, Result<redis::Value, RedisError>> {
        Box::pin(self.query_async(conn))
    }
}

/// The redis-rs client for the URL, with TLS settings where asked for.
fn client(config: &RedisLockConfig) -> Result<redis::Client, RedisError> {
    let tls = config.url.starts_with("rediss://");
    if tls && !cfg!(feature = "tls") {
        return Err(RedisError::from((
            ErrorKind::InvalidClientConfig,
            "rediss:// needs cronlock's `tls` feature",
        )));
    }
    #[cfg(feature = "tls")]
    if tls {
        // rustls needs a process-wide crypto provider when more than one is
        // compiled in (another crate may enable aws-lc-rs): install ring's
        // unless the application installed one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        if let Some(root) = &config.tls_root {
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.clone()),
            };
            return redis::Client::build_with_tls(config.url.as_str(), certificates);
        }
    }
    redis::Client::open(config.url.as_str())
}

/// Whether a failed request means the connection should not be used again:
/// it broke or timed out, or the node it reaches is no longer a writable
/// primary (demoted to a replica, loading its data, cut off from its
/// primary) — a new connection may reach the current one.
pub(super) fn should_retire(err: &RedisError) -> bool {
    match err.kind() {
        ErrorKind::Server(kind) => {
            matches!(
                kind,
                ServerErrorKind::ReadOnly
                    | ServerErrorKind::BusyLoading
                    | ServerErrorKind::MasterDown
                    | ServerErrorKind::TryAgain
                    | ServerErrorKind::ClusterDown
            ) || err.is_connection_dropped()
        }
        _ => true,
    }
}

/// What a failed request means for the caller: a lock error of the right
/// kind, whose message says what happened in words (refused connection, no
/// answer, refused credentials) and never shows the password.
pub(super) fn lock_error(err: &RedisError, what: &str, location: &str, url: &str) -> LockError {
    let (kind, reason) = describe(err, url);
    LockError::new(kind, format!("{what}: Redis at {location}: {reason}"), None)
}

/// A failure's kind and its cause in words.
pub(super) fn describe(err: &RedisError, url: &str) -> (LockErrorKind, String) {
    let text = scrub(&err.to_string(), url);
    let code = err.code().unwrap_or_default();
    if err.kind() == ErrorKind::AuthenticationFailed
        || matches!(code, "WRONGPASS" | "NOAUTH" | "NOPERM")
        || text.contains("WRONGPASS")
        || text.contains("NOAUTH")
    {
        return (
            LockErrorKind::Config,
            format!("the credentials were refused ({text})"),
        );
    }
    if text.contains("DB index is out of range") || text.contains("invalid DB index") {
        return (
            LockErrorKind::Config,
            format!("the database number does not exist ({text})"),
        );
    }
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate")
        || lower.contains("handshake")
        || lower.contains("tls") && lower.contains("alert")
    {
        return (
            LockErrorKind::Config,
            format!("the TLS handshake failed ({text})"),
        );
    }
    if err.kind() == ErrorKind::InvalidClientConfig {
        return (
            LockErrorKind::Config,
            format!("invalid configuration: {text}"),
        );
    }
    if err.is_connection_refusal() && err.is_io_error() {
        return (
            LockErrorKind::Unavailable,
            format!("connection refused: nothing listens there ({text})"),
        );
    }
    if err.is_timeout() {
        return (
            LockErrorKind::Unavailable,
            format!("no answer in time ({text})"),
        );
    }
    if text.contains("failed to lookup address")
        || text.contains("Name or service not known")
        || text.contains("nodename nor servname")
    {
        return (
            LockErrorKind::Unavailable,
            format!("the host name does not resolve ({text})"),
        );
    }
    if matches!(err.kind(), ErrorKind::Server(ServerErrorKind::ReadOnly)) {
        return (
            LockErrorKind::Unavailable,
            format!("the node is a read-only replica now, not the primary ({text})"),
        );
    }
    if should_retire(err) {
        return (LockErrorKind::Unavailable, text);
    }
    (LockErrorKind::Backend, text)
}

/// Marks a pooled connection for retirement when the error calls for it.
pub(super) fn retire_if_needed(connection: &Connection, err: &RedisError) {
    if should_retire(err) {
        connection.broken.store(true, Ordering::Relaxed);
    }
}

/// Whether the error says the connection itself is gone (the server closed
/// or reset it, a write failed): then every other connection made to the
/// same server is most likely gone too.
pub(super) fn server_went_away(err: &RedisError) -> bool {
    err.is_connection_dropped() || err.is_connection_refusal()
}
