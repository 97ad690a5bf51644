//! How to reach Postgres and where cronlock's tables live.

use std::fmt;
use std::time::Duration;

use crate::lock::DEFAULT_SKEW_MARGIN;
use crate::lock::url::{env_var, redact};

/// The environment variable naming the fleet's Postgres database, read by
/// [`crate::run`] when `REDIS_URL` is not set.
pub const DATABASE_URL_ENV: &str = "DATABASE_URL";
/// The environment variable naming the schema of cronlock's tables.
pub const SCHEMA_ENV: &str = "CRONLOCK_SCHEMA";
/// The schema used when none is configured.
pub const DEFAULT_SCHEMA: &str = "cronlock";

/// How to reach Postgres and where cronlock's tables live.
///
/// ```
/// use std::time::Duration;
/// let config = cronlock::lock::PostgresLockConfig::new("postgres://app:secret@db:5432/app")
///     .schema("billing_cron")
///     .pool_size(4)
///     .reply_timeout(Duration::from_secs(1));
/// assert!(!format!("{config:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct PostgresLockConfig {
    pub(super) url: String,
    pub(super) schema: String,
    pub(super) pool_size: u32,
    pub(super) connect_timeout: Duration,
    pub(super) reply_timeout: Duration,
    pub(super) skew_margin: Duration,
    pub(super) start_timeout: Option<Duration>,
    pub(super) manage_schema: bool,
    pub(super) tls_root: Option<Vec<u8>>,
}

impl PostgresLockConfig {
    /// A database named by a URL, `postgres://[user[:password]@]host[:port]/dbname[?param=value…]`
    /// (`postgresql://` too; the parameters are libpq's: `connect_timeout`,
    /// `application_name`, `options`…), or a libpq key-value string
    /// (`host=db user=app dbname=app`). With `sslmode=require` the
    /// connection uses TLS (feature `postgres-tls`), and the server's
    /// certificate must be valid for the host and signed by a root the
    /// system trusts or the one given with `tls_root_certificate`; other
    /// modes connect without TLS.
    pub fn new(url: impl Into<String>) -> PostgresLockConfig {
        PostgresLockConfig {
            url: url.into(),
            schema: DEFAULT_SCHEMA.to_owned(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(2),
            reply_timeout: Duration::from_secs(2),
            skew_margin: DEFAULT_SKEW_MARGIN,
            start_timeout: None,
            manage_schema: true,
            tls_root: None,
        }
    }

    /// The configuration the environment gives: `$DATABASE_URL`, and the
    /// schema from `$CRONLOCK_SCHEMA` when it is set. `None` when
    /// `DATABASE_URL` is not set.
    ///
    /// # Errors
    ///
    /// A variable that is not valid UTF-8, named in the message.
    pub fn from_env() -> Result<Option<PostgresLockConfig>, String> {
        let Some(url) = env_var(DATABASE_URL_ENV)? else {
            return Ok(None);
        };
        let mut config = PostgresLockConfig::new(url);
        if let Some(schema) = env_var(SCHEMA_ENV)? {
            config = config.schema(schema);
        }
        Ok(Some(config))
    }

    /// The schema of cronlock's tables (default `cronlock`); schedulers
    /// coordinate only with others using the same database and schema. Give
    /// each service sharing a database its own.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Whether the lock creates and upgrades its tables at start (default
    /// true). Off: apply [`postgres_schema_sql`](crate::lock::postgres_schema_sql)
    /// yourself; the lock then only checks the recorded version.
    pub fn manage_schema(mut self, manage: bool) -> Self {
        self.manage_schema = manage;
        self
    }

    /// Connections in the pool (default 8).
    pub fn pool_size(mut self, size: u32) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// How long to wait for a new connection, including authentication
    /// (default 2 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for the reply to a request (default 2 s). A claim
    /// whose reply does not come in time is sent again with the same token
    /// (it gets the same answer if the first one was committed), and the
    /// database refuses a claim that starts later than this after it was
    /// sent (a stalled server's queue), so a late claim never takes a tick
    /// nobody will run.
    pub fn reply_timeout(mut self, timeout: Duration) -> Self {
        self.reply_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The clock difference to the database that is tolerated (default
    /// 2 s): a tick is not claimed earlier than this before the database's
    /// time, and an offset of more than half of it is logged as a warning.
    pub fn skew_margin(mut self, margin: Duration) -> Self {
        self.skew_margin = margin;
        self
    }

    /// How long [`PostgresLock::connect`](super::PostgresLock::connect)
    /// waits for an unreachable database before it fails. By default it
    /// does not fail: the scheduler starts fail-closed (no tick runs, an
    /// error is logged) and runs ticks as soon as the database answers.
    /// Refused credentials and a malformed URL fail at once either way.
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = Some(timeout);
        self
    }

    /// With `sslmode=require`: trust this CA certificate (PEM) instead of
    /// the system's roots (a managed service's CA bundle, say). Needs the
    /// `postgres-tls` feature.
    #[cfg(feature = "postgres-tls")]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root = Some(pem.into());
        self
    }

    /// The URL with its password hidden.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }

    /// The schema of cronlock's tables.
    pub fn schema_name(&self) -> &str {
        &self.schema
    }
}

impl fmt::Debug for PostgresLockConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLockConfig")
            .field("url", &redact(&self.url))
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("reply_timeout", &self.reply_timeout)
            .field("skew_margin", &self.skew_margin)
            .field("start_timeout", &self.start_timeout)
            .field("manage_schema", &self.manage_schema)
            .field("tls_root", &self.tls_root.as_ref().map(|_| "<certificate>"))
            .finish()
    }
}
