//! The connection pool: plain, or TLS for `sslmode=require` URLs.

use std::ops::Deref;

use bb8::{Pool, PooledConnection, RunError};
use bb8_postgres::PostgresConnectionManager;
use tokio_postgres::{CancelToken, Client, NoTls};
#[cfg(feature = "postgres-tls")]
use tokio_postgres_rustls::MakeRustlsConnect;

/// The lock's pool, of whichever kind the URL asked for.
pub(super) enum Pools {
    Plain(Pool<PostgresConnectionManager<NoTls>>),
    #[cfg(feature = "postgres-tls")]
    Tls(
        Pool<PostgresConnectionManager<MakeRustlsConnect>>,
        MakeRustlsConnect,
    ),
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pools::Plain(pool) => f.debug_tuple("Plain").field(pool).finish(),
            #[cfg(feature = "postgres-tls")]
            Pools::Tls(pool, _) => f.debug_tuple("Tls").field(pool).finish(),
        }
    }
}

/// A connection checked out of [`Pools`]: a client either way.
pub(super) enum Connection<'a> {
    Plain(PooledConnection<'a, PostgresConnectionManager<NoTls>>),
    #[cfg(feature = "postgres-tls")]
    Tls(PooledConnection<'a, PostgresConnectionManager<MakeRustlsConnect>>),
}

impl Deref for Connection<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        match self {
            Connection::Plain(connection) => connection,
            #[cfg(feature = "postgres-tls")]
            Connection::Tls(connection) => connection,
        }
    }
}

impl Pools {
    pub(super) async fn get(&self) -> Result<Connection<'_>, RunError<tokio_postgres::Error>> {
        Ok(match self {
            Pools::Plain(pool) => Connection::Plain(pool.get().await?),
            #[cfg(feature = "postgres-tls")]
            Pools::Tls(pool, _) => Connection::Tls(pool.get().await?),
        })
    }

    /// Connections open or being opened.
    pub(super) fn connections(&self) -> u32 {
        match self {
            Pools::Plain(pool) => pool.state().connections,
            #[cfg(feature = "postgres-tls")]
            Pools::Tls(pool, _) => pool.state().connections,
        }
    }

    /// Asks the server to stop the statement running on the connection
    /// `token` came from, over a new connection of the same kind.
    pub(super) async fn cancel(&self, token: CancelToken) {
        let _ = match self {
            Pools::Plain(_) => token.cancel_query(NoTls).await,
            #[cfg(feature = "postgres-tls")]
            Pools::Tls(_, tls) => token.cancel_query(tls.clone()).await,
        };
    }
}

/// A TLS connector that trusts `root` (PEM), or the system's roots.
#[cfg(feature = "postgres-tls")]
pub(super) fn tls_connector(root: Option<&[u8]>) -> Result<MakeRustlsConnect, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    // rustls needs a process-wide crypto provider when more than one is
    // compiled in: ring's, unless the application installed one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    match root {
        Some(pem) => {
            for certificate in CertificateDer::pem_slice_iter(pem) {
                let certificate =
                    certificate.map_err(|err| format!("unreadable CA certificate: {err}"))?;
                roots
                    .add(certificate)
                    .map_err(|err| format!("unusable CA certificate: {err}"))?;
            }
        }
        None => {
            for certificate in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(certificate);
            }
        }
    }
    if roots.is_empty() {
        return Err("sslmode=require, but no CA certificate to trust: give one with PostgresLockConfig::tls_root_certificate or install the system's (ca-certificates)".to_owned());
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}
