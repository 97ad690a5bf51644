//! What a failed request means: its kind, its cause in words, and whether
//! the connection it failed on may be used again.

use redis::{ErrorKind, RedisError, ServerErrorKind};

use crate::lock::url::scrub;
use crate::lock::{LockError, LockErrorKind};

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
    LockError::new(kind, format!("{what}: {location}: {reason}"), None)
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

/// Whether the error says the connection itself is gone (the server closed
/// or reset it, a write failed): then every other connection made to the
/// same server is most likely gone too.
pub(super) fn server_went_away(err: &RedisError) -> bool {
    err.is_connection_dropped() || err.is_connection_refusal()
}
