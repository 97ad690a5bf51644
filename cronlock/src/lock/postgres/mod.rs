//! The fleet-wide lock on Postgres, for services that have a database but
//! no Redis.
//!
//! The rules are those of the Redis lock (see [`crate::lock::Lock`]): one
//! PL/pgSQL function claims a batch of ticks in one statement, with the
//! database's clock deciding early claims and run-lock expiry. Every call
//! is one statement in its own transaction, sent with the extended
//! protocol's unnamed statement (parse, bind, execute in one round trip):
//! no session state, no advisory lock held across calls and no prepared
//! statement kept, so the lock works behind PgBouncer in transaction mode
//! and on managed Postgres.
//!
//! # Tables
//!
//! In the configured schema (default `cronlock`), created at start (see
//! [`postgres_schema_sql`] for the exact SQL): `claim_state` (per job: the
//! newest claimed tick, the fencing counter, the claim window, the run
//! lock), `claimed_ticks` (ticks claimed within the window), `history`,
//! `pauses`, `triggers`, `jobs` (the published job list) and
//! `schema_version`.

use std::fmt;
use std::time::{Duration, Instant};

use bb8::{Pool, RunError};
use bb8_postgres::PostgresConnectionManager;
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;
use tokio_postgres::NoTls;
use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tracing::{error, info, warn};

mod claims;
mod config;
mod control;
mod pool;
mod schema;

pub use config::{DATABASE_URL_ENV, DEFAULT_SCHEMA, PostgresLockConfig, SCHEMA_ENV};
use pool::{Connection, Pools};
pub use schema::postgres_schema_sql;
use schema::quote_identifier;

use super::health::Health;
use super::url::scrub;
use super::{BoxFuture, Claim, ClaimRequest, Claimed, Control, Lock, LockError, LockErrorKind};

/// A pool of connections as the lock uses them (bb8 0.9 with bb8-postgres
/// 0.9, no TLS): pass one a service already has to
/// [`PostgresLock::from_pool`].
pub type PostgresPool = Pool<PostgresConnectionManager<NoTls>>;

/// The Postgres lock: every tick of every job starts once across all
/// schedulers sharing the database and the schema.
pub struct PostgresLock {
    pool: Pools,
    /// The schema name as configured.
    schema: String,
    /// The schema as a quoted identifier, for SQL.
    sql_schema: String,
    /// The URL with its password hidden, for messages.
    url: String,
    /// The URL as given, only to scrub it out of error texts.
    secret_url: String,
    location: String,
    reply_timeout: Duration,
    skew_margin: Duration,
    manage_schema: bool,
    ready: OnceCell<()>,
    /// Why the pool's last connection attempt failed (bb8 reports only a
    /// timeout to the caller), when the lock made the pool.
    connect_errors: Option<ConnectErrors>,
    health: Health,
    sql: Statements,
}

/// The statements the lock sends, with the schema filled in.
#[derive(Debug)]
struct Statements {
    claim: String,
    extend: String,
    release: String,
    now: String,
}

impl Statements {
    fn new(schema: &str) -> Statements {
        Statements {
            claim: format!("SELECT {schema}.claim($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
            extend: format!(
                "UPDATE {schema}.claim_state SET run_until = {schema}.now_ms() + $3 \
                 WHERE job = $1 AND run_token = $2 AND run_until > {schema}.now_ms() \
                 RETURNING 1"
            ),
            release: format!(
                "UPDATE {schema}.claim_state SET run_token = NULL, run_until = NULL \
                 WHERE job = $1 AND run_token = $2"
            ),
            now: format!("SELECT {schema}.now_ms()"),
        }
    }
}

impl PostgresLock {
    /// Connects, checks that the database answers, and creates or upgrades
    /// cronlock's tables (unless told not to).
    ///
    /// An unreachable database is not an error unless
    /// [`PostgresLockConfig::start_timeout`] says so: the lock is returned,
    /// no tick runs until the database answers (fail closed, logged), and
    /// connections keep being tried.
    ///
    /// # Errors
    ///
    /// A malformed URL, TLS asked for, refused credentials, a database that
    /// does not exist, tables of a newer cronlock, or no answer within the
    /// start timeout; the message never shows a password.
    pub async fn connect(config: PostgresLockConfig) -> Result<PostgresLock, LockError> {
        let url = config.redacted_url();
        let invalid = |reason: String| {
            LockError::new(
                LockErrorKind::Config,
                format!(
                    "invalid Postgres URL {url}: {}",
                    scrub(&reason, &config.url)
                ),
                None,
            )
        };
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|err: tokio_postgres::Error| invalid(err.to_string()))?;
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(config.connect_timeout);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("cronlock");
        }
        // A peer that vanished (a partition, a host gone) closes the
        // connection instead of leaving it waiting for ever.
        pg.keepalives_idle(Duration::from_secs(10))
            .keepalives_interval(Duration::from_secs(2))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_secs(10));
        let connect_errors = ConnectErrors::new(&config.url);
        let pool = if pg.get_ssl_mode() == SslMode::Require {
            #[cfg(feature = "postgres-tls")]
            {
                let tls = pool::tls_connector(config.tls_root.as_deref()).map_err(invalid)?;
                Pools::Tls(
                    pool_builder(&config, &connect_errors)
                        .build_unchecked(PostgresConnectionManager::new(pg, tls.clone())),
                    tls,
                )
            }
            #[cfg(not(feature = "postgres-tls"))]
            {
                return Err(invalid(
                    "sslmode=require: TLS to Postgres needs cronlock's `postgres-tls` feature"
                        .to_owned(),
                ));
            }
        } else {
            Pools::Plain(
                pool_builder(&config, &connect_errors)
                    .build_unchecked(PostgresConnectionManager::new(pg, NoTls)),
            )
        };
        PostgresLock::start(pool, config, Some(connect_errors)).await
    }

    /// Uses a pool the service already has (bb8 0.9, bb8-postgres 0.9, no
    /// TLS); the URL of `config` is then only used in messages. Creates or
    /// upgrades cronlock's tables unless told not to, as
    /// [`PostgresLock::connect`] does.
    ///
    /// # Errors
    ///
    /// As [`PostgresLock::connect`].
    pub async fn from_pool(
        pool: PostgresPool,
        config: PostgresLockConfig,
    ) -> Result<PostgresLock, LockError> {
        PostgresLock::start(Pools::Plain(pool), config, None).await
    }

    async fn start(
        pool: Pools,
        config: PostgresLockConfig,
        connect_errors: Option<ConnectErrors>,
    ) -> Result<PostgresLock, LockError> {
        let url = config.redacted_url();
        schema::check_schema_name(&config.schema).map_err(|reason| {
            LockError::new(
                LockErrorKind::Config,
                format!("invalid Postgres schema name: {reason}"),
                None,
            )
        })?;
        let sql_schema = quote_identifier(&config.schema);
        let lock = PostgresLock {
            pool,
            location: format!("Postgres at {url}, schema {}", config.schema),
            url,
            secret_url: config.url.clone(),
            sql: Statements::new(&sql_schema),
            sql_schema,
            schema: config.schema.clone(),
            reply_timeout: config.reply_timeout,
            skew_margin: config.skew_margin,
            manage_schema: config.manage_schema,
            ready: OnceCell::new(),
            connect_errors,
            health: Health::new("Postgres", config.skew_margin),
        };
        lock.await_start(&config).await?;
        Ok(lock)
    }

    /// Waits for the database to answer and the tables to be ready, as the
    /// start timeout says.
    async fn await_start(&self, config: &PostgresLockConfig) -> Result<(), LockError> {
        let started = Instant::now();
        let mut logged = false;
        loop {
            let err = match self.ready().await {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            let give_up = match config.start_timeout {
                _ if err.kind() != LockErrorKind::Unavailable => true,
                Some(limit) => started.elapsed() >= limit,
                None => {
                    error!(location = %self.location, error = %err, "Postgres is not reachable at start: no tick runs until it answers (fail closed); retrying");
                    return Ok(());
                }
            };
            if give_up {
                return Err(err);
            }
            if !logged {
                warn!(location = %self.location, error = %err, "Postgres is not reachable yet; retrying until the start timeout");
                logged = true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The tables are there (checked or made once per lock).
    async fn ready(&self) -> Result<(), LockError> {
        self.ready
            .get_or_try_init(|| self.ensure_schema())
            .await
            .map(|_| ())
    }

    /// The last measured offset of the database's clock against this
    /// instance's (positive: the database is ahead).
    pub fn clock_offset(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.health.offset_ms())
    }

    /// The schema of cronlock's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The URL, its password hidden.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A connection from the pool; a connection the server closed (a
    /// restart) is dropped and another taken.
    async fn connection(&self) -> Result<Connection<'_>, LockError> {
        for _ in 0..=self.pool.connections() {
            let connection = self.pool.get().await.map_err(|err| match err {
                RunError::User(err) => self.error(&err, "could not connect"),
                RunError::TimedOut => {
                    match self.connect_errors.as_ref().and_then(ConnectErrors::take) {
                        Some((kind, reason)) => LockError::new(
                            kind,
                            format!("could not connect ({}): {reason}", self.location),
                            None,
                        ),
                        None => LockError::new(
                            LockErrorKind::Unavailable,
                            format!(
                                "no connection to {} within the connect timeout",
                                self.location
                            ),
                            None,
                        ),
                    }
                }
            })?;
            if !connection.is_closed() {
                // A failure before this success is history, not the reason
                // for a later timeout.
                if let Some(errors) = &self.connect_errors {
                    errors.take();
                }
                return Ok(connection);
            }
        }
        Err(LockError::new(
            LockErrorKind::Unavailable,
            format!("every connection to {} was closed", self.location),
            None,
        ))
    }

    /// Runs one idempotent statement (its own transaction) with typed
    /// parameters in one round trip; sent again once on a fresh connection
    /// when the connection it went out on turns out closed (the server or
    /// a pooler restarted), which may or may not have run it.
    async fn query(
        &self,
        what: &str,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<tokio_postgres::Row>, LockError> {
        self.send(what, sql, params, true).await
    }

    /// As [`PostgresLock::query`], for a statement whose effect would
    /// count twice (a history row, a trigger taken): never sent again.
    async fn query_once(
        &self,
        what: &str,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<tokio_postgres::Row>, LockError> {
        self.send(what, sql, params, false).await
    }

    async fn send(
        &self,
        what: &str,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
        resend_if_closed: bool,
    ) -> Result<Vec<tokio_postgres::Row>, LockError> {
        self.ready().await?;
        let mut resent = !resend_if_closed;
        loop {
            let client = self.connection().await?;
            match tokio::time::timeout(self.reply_timeout, client.query_typed(sql, params)).await {
                Err(_) => {
                    // Stop the statement rather than leave it running on a
                    // pooled connection (a stalled server): best effort.
                    let _ = tokio::time::timeout(
                        self.reply_timeout,
                        self.pool.cancel(client.cancel_token()),
                    )
                    .await;
                    return Err(self.no_reply(what));
                }
                Ok(Ok(rows)) => return Ok(rows),
                Ok(Err(_)) if client.is_closed() && !resent => resent = true,
                Ok(Err(err)) => return Err(self.error(&err, what)),
            }
        }
    }

    fn no_reply(&self, what: &str) -> LockError {
        LockError::new(
            LockErrorKind::Unavailable,
            format!(
                "{what}: no reply from {} within {} ms",
                self.location,
                self.reply_timeout.as_millis()
            ),
            None,
        )
    }

    /// A failure as a lock error: its kind, and its cause in words (without
    /// the password).
    fn error(&self, err: &tokio_postgres::Error, what: &str) -> LockError {
        let (kind, reason) = describe(err, &self.secret_url);
        LockError::new(kind, format!("{what} ({}): {reason}", self.location), None)
    }
}

/// What kind of failure `err` is, and its cause in words without the
/// password.
fn describe(err: &tokio_postgres::Error, secret_url: &str) -> (LockErrorKind, String) {
    let kind = match err.code() {
        Some(code) => kind_of(code),
        // The client's own verdicts: a URL it cannot use (no password for
        // a server that asks for one, an unsupported authentication) will
        // not work on a retry; the rest is the network.
        None => {
            let mut text = err.to_string();
            let mut cause = std::error::Error::source(err);
            while let Some(inner) = cause {
                text.push_str(&format!(": {inner}"));
                cause = inner.source();
            }
            // A certificate the client does not trust will not become
            // trusted by waiting either.
            if text.starts_with("invalid configuration")
                || text.starts_with("authentication error")
                || text.contains("certificate")
            {
                LockErrorKind::Config
            } else {
                LockErrorKind::Unavailable
            }
        }
    };
    let text = match err.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(err) {
            Some(cause) => format!("{err}: {cause}"),
            None => err.to_string(),
        },
    };
    (kind, scrub(&text, secret_url))
}

/// The last failed connection attempt of the lock's pool.
#[derive(Debug, Clone)]
struct ConnectErrors {
    last: std::sync::Arc<std::sync::Mutex<Option<(LockErrorKind, String)>>>,
    secret_url: String,
}

impl ConnectErrors {
    fn new(secret_url: &str) -> ConnectErrors {
        ConnectErrors {
            last: Default::default(),
            secret_url: secret_url.to_owned(),
        }
    }

    fn take(&self) -> Option<(LockErrorKind, String)> {
        self.last
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .take()
    }
}

impl bb8::ErrorSink<tokio_postgres::Error> for ConnectErrors {
    fn sink(&self, err: tokio_postgres::Error) {
        *self
            .last
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(describe(&err, &self.secret_url));
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<tokio_postgres::Error>> {
        Box::new(self.clone())
    }
}

/// A pool as the lock wants it, for either kind of connection.
fn pool_builder<M>(config: &PostgresLockConfig, sink: &ConnectErrors) -> bb8::Builder<M>
where
    M: bb8::ManageConnection<Error = tokio_postgres::Error>,
{
    Pool::builder()
        .error_sink(Box::new(sink.clone()))
        .max_size(config.pool_size)
        .connection_timeout(config.connect_timeout)
        // A check per checkout would double the round trips of a claim; a
        // closed connection is noticed and replaced instead.
        .test_on_check_out(false)
}

/// What kind of failure a server error code is: a server going away or not
/// taking writes yet is an outage, refused credentials are configuration,
/// the rest is the backend's.
fn kind_of(code: &SqlState) -> LockErrorKind {
    let class = &code.code()[..2];
    match class {
        // Connection exceptions, insufficient resources, operator
        // intervention (shutdown, recovery), a standby refusing writes,
        // serialization failures and deadlocks: try again.
        "08" | "53" | "57" | "40" => LockErrorKind::Unavailable,
        // A standby refusing writes, or a lock_timeout the role sets.
        _ if *code == SqlState::READ_ONLY_SQL_TRANSACTION
            || *code == SqlState::LOCK_NOT_AVAILABLE =>
        {
            LockErrorKind::Unavailable
        }
        // Authorization, a database or role that does not exist, no
        // privilege on cronlock's schema.
        "28" | "3D" | "42" if *code != SqlState::UNDEFINED_FUNCTION => LockErrorKind::Config,
        _ => LockErrorKind::Backend,
    }
}

impl Lock for PostgresLock {
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
            let ttl_ms = millis(ttl);
            let rows = self
                .query(
                    "could not extend the run lock",
                    &self.sql.extend,
                    &[
                        (&claim.job, Type::TEXT),
                        (&claim.token, Type::TEXT),
                        (&ttl_ms, Type::INT8),
                    ],
                )
                .await?;
            Ok(!rows.is_empty())
        })
    }

    fn release<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            self.query(
                "could not release the run lock",
                &self.sql.release,
                &[(&claim.job, Type::TEXT), (&claim.token, Type::TEXT)],
            )
            .await
            .map(|_| ())
        })
    }

    fn on_start<'a>(&'a self, now: DateTime<Utc>) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let sent = Instant::now();
            let rows = self
                .query("could not read the database's time", &self.sql.now, &[])
                .await?;
            if let Some(row) = rows.first() {
                self.health
                    .record_offset(row.get::<_, i64>(0), now, sent.elapsed());
            }
            info!(
                location = %self.location,
                offset_ms = self.health.offset_ms(),
                "using the Postgres lock"
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

/// Milliseconds of a duration, for a `bigint` parameter.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl fmt::Debug for PostgresLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLock")
            .field("location", &self.location)
            .field("skew_margin", &self.skew_margin)
            .finish_non_exhaustive()
    }
}
