//! What TLS needs wherever a connection is made.

use redis::{ErrorKind, RedisError};

/// The error for a TLS URL in a build without the `tls` feature.
pub(super) fn tls_feature_missing() -> RedisError {
    RedisError::from((
        ErrorKind::InvalidClientConfig,
        "TLS URLs (rediss://) need cronlock's `tls` feature",
    ))
}

/// rustls needs a process-wide crypto provider when more than one is
/// compiled in (another crate may enable aws-lc-rs): install ring's unless
/// the application installed one.
#[cfg(feature = "tls")]
pub(super) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
