//! cronlock's tables: created and upgraded at start, or checked when the
//! team applies the SQL itself.

use tokio_postgres::error::SqlState;

use super::PostgresLock;
use crate::lock::{LockError, LockErrorKind};

/// The schema version this cronlock writes and reads.
pub(super) const SCHEMA_VERSION: i32 = 2;

const SCHEMA_SQL: &str = include_str!("schema.sql");

/// The SQL that creates (or upgrades to) the tables and functions the
/// Postgres lock uses, in `schema`: what the lock applies at start unless
/// [`PostgresLockConfig::manage_schema`](crate::lock::PostgresLockConfig::manage_schema)
/// is off. Safe to run again.
///
/// ```
/// let sql = cronlock::lock::postgres_schema_sql("cronlock");
/// assert!(sql.contains(r#"CREATE TABLE IF NOT EXISTS "cronlock".claim_state"#));
/// ```
pub fn postgres_schema_sql(schema: &str) -> String {
    SCHEMA_SQL.replace("{schema}", &quote_identifier(schema))
}

/// A schema name the lock accepts: 1 to 63 bytes (Postgres's limit) of
/// letters, digits, `_`, `-` and spaces. Quoting makes any identifier safe
/// in a statement, but the schema SQL also has dollar-quoted function
/// bodies that a `$` would end.
pub(super) fn check_schema_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err(format!("{name:?} must be 1 to 63 bytes long"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | ' ')))
    {
        return Err(format!(
            "{name:?} has {bad:?}: use letters, digits, '_', '-' and spaces"
        ));
    }
    Ok(())
}

/// `name` as a quoted SQL identifier.
pub(super) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl PostgresLock {
    /// Makes sure the tables are there at the version this cronlock needs:
    /// creates or upgrades them when the lock manages the schema, or says
    /// what to do when it does not.
    pub(super) async fn ensure_schema(&self) -> Result<(), LockError> {
        let found = self.schema_version().await?;
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        if found > SCHEMA_VERSION {
            return Err(LockError::new(
                LockErrorKind::Config,
                format!(
                    "cronlock's tables in schema {} at {} are at version {found}, newer than this cronlock knows ({SCHEMA_VERSION}): upgrade cronlock",
                    self.schema, self.url
                ),
                None,
            ));
        }
        if !self.manage_schema {
            return Err(LockError::new(
                LockErrorKind::Config,
                format!(
                    "cronlock's tables in schema {} at {} are at version {found}, this cronlock needs {SCHEMA_VERSION}: apply cronlock::lock::postgres_schema_sql, or let the lock manage the schema",
                    self.schema, self.url
                ),
                None,
            ));
        }
        // One implicit transaction (a multi-statement simple query), under a
        // transaction-scoped advisory lock: instances that start together
        // apply it once, and it works behind a transaction-mode pooler.
        let sql = format!(
            "SELECT pg_advisory_xact_lock(hashtext('cronlock schema ' || {}));\n{}",
            quote_literal(&self.schema),
            postgres_schema_sql(&self.schema)
        );
        let client = self.connection().await?;
        tokio::time::timeout(
            self.reply_timeout.max(std::time::Duration::from_secs(30)),
            client.batch_execute(&sql),
        )
        .await
        .map_err(|_| self.no_reply("creating the tables"))?
        .map_err(|err| self.error(&err, "could not create cronlock's tables"))?;
        // Instances starting together each get here; the statements are
        // idempotent and the advisory lock serialises them.
        tracing::info!(location = %self.location, found = found, version = SCHEMA_VERSION, "cronlock's tables are ready");
        Ok(())
    }

    /// The version recorded in the schema; 0 when there are no tables yet.
    async fn schema_version(&self) -> Result<i32, LockError> {
        let client = self.connection().await?;
        let sql = format!(
            "SELECT coalesce(max(version), 0) FROM {}.schema_version",
            self.sql_schema
        );
        match tokio::time::timeout(self.reply_timeout, client.query_typed(&sql, &[])).await {
            Err(_) => Err(self.no_reply("reading the schema version")),
            Ok(Ok(rows)) => Ok(rows.first().map_or(0, |row| row.get(0))),
            Ok(Err(err))
                if matches!(
                    err.code(),
                    Some(&SqlState::UNDEFINED_TABLE | &SqlState::INVALID_SCHEMA_NAME)
                ) =>
            {
                Ok(0)
            }
            Ok(Err(err)) => Err(self.error(&err, "could not read the schema version")),
        }
    }
}

/// `text` as a quoted SQL string literal.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
