//! History, pause and resume, triggers and the published jobs, in Postgres.
//!
//! Histories keep the newest runs of each job, the job list hides a job no
//! instance published for a week, and a trigger no instance took within an
//! hour is dropped. Unlike Redis keys, rows do not expire: the state of a
//! job nobody runs any more stays until `cronlock prune` removes it.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;

use super::{PostgresLock, millis};
use crate::events::NotRun;
use crate::lock::control::{MAX_ERROR_LEN, decode_not_run, encode_not_run, kept_since, truncate};
use crate::lock::{
    Backfill, BoxFuture, Control, FleetState, HistoryEntry, JOB_LIST_KEPT, JobSummary, LockError,
    Pause, TRIGGER_KEPT, Trigger,
};
use crate::lock::{NOT_RUN_DAY, NOT_RUN_KEPT};
use crate::outcome::RunOutcome;

const HISTORY_COLUMNS: &str = "tick, instance, started, duration_ms, outcome, message";

/// A history entry from `HISTORY_COLUMNS`, starting at column `first`.
fn history_entry(row: &Row, first: usize) -> Option<HistoryEntry> {
    let duration: i64 = row.try_get(first + 3).ok()?;
    Some(HistoryEntry {
        tick: row.try_get(first).ok()?,
        instance: row.try_get(first + 1).ok()?,
        started: row.try_get(first + 2).ok()?,
        duration: std::time::Duration::from_millis(u64::try_from(duration).unwrap_or(0)),
        outcome: RunOutcome::from_parts(
            row.try_get(first + 4).ok()?,
            row.try_get::<_, Option<String>>(first + 5).ok()?,
        )?,
    })
}

fn job_summary(row: &Row) -> Option<JobSummary> {
    let timeout: i64 = row.try_get(3).ok()?;
    Some(JobSummary {
        name: row.try_get(0).ok()?,
        spec: row.try_get(1).ok()?,
        tz: row.try_get(2).ok()?,
        timeout: std::time::Duration::from_millis(u64::try_from(timeout).unwrap_or(0)),
        enabled: row.try_get(4).ok()?,
        service: row.try_get(5).ok()?,
        instance: row.try_get(6).ok()?,
        seen: row.try_get(7).ok()?,
    })
}

impl Control for PostgresLock {
    fn record_run<'a>(
        &'a self,
        job: &'a str,
        entry: &'a HistoryEntry,
        keep: usize,
    ) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let duration = millis(entry.duration);
            let message = entry
                .outcome
                .message()
                .map(|message| truncate(message, MAX_ERROR_LEN).into_owned());
            let keep = i32::try_from(keep).unwrap_or(i32::MAX);
            self.query_once(
                "could not record the run",
                &format!(
                    "SELECT {}.record_run($1, $2, $3, $4, $5, $6, $7, $8)",
                    self.sql_schema
                ),
                &[
                    (&job, Type::TEXT),
                    (&entry.tick, Type::TIMESTAMPTZ),
                    (&entry.instance, Type::TEXT),
                    (&entry.started, Type::TIMESTAMPTZ),
                    (&duration, Type::INT8),
                    (&entry.outcome.label(), Type::TEXT),
                    (&message, Type::TEXT),
                    (&keep, Type::INT4),
                ],
            )
            .await
            .map(|_| ())
        })
    }

    fn history<'a>(&'a self, job: &'a str) -> BoxFuture<'a, Result<Vec<HistoryEntry>, LockError>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "could not read the history",
                    &format!(
                        "SELECT {HISTORY_COLUMNS} FROM {}.history WHERE job = $1 ORDER BY id DESC",
                        self.sql_schema
                    ),
                    &[(&job, Type::TEXT)],
                )
                .await?;
            Ok(rows
                .iter()
                .filter_map(|row| history_entry(row, 0))
                .collect())
        })
    }

    fn last_runs<'a>(
        &'a self,
        jobs: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<HistoryEntry>>, LockError>> {
        Box::pin(async move {
            let rows = self
                .query(
                    "could not read the histories",
                    &format!(
                        "SELECT DISTINCT ON (job) job, {HISTORY_COLUMNS} FROM {}.history \
                         WHERE job = ANY ($1) ORDER BY job, id DESC",
                        self.sql_schema
                    ),
                    &[(&jobs, Type::TEXT_ARRAY)],
                )
                .await?;
            let mut last: std::collections::HashMap<String, HistoryEntry> = rows
                .iter()
                .filter_map(|row| {
                    let job: String = row.try_get(0).ok()?;
                    Some((job, history_entry(row, 1)?))
                })
                .collect();
            Ok(jobs.iter().map(|job| last.remove(job)).collect())
        })
    }

    fn set_paused<'a>(
        &'a self,
        job: &'a str,
        pause: Option<&'a Pause>,
    ) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            match pause {
                Some(pause) => {
                    self.query(
                        "could not pause",
                        &format!(
                            "INSERT INTO {}.pauses (job, since, until, note, paused_by) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job) DO UPDATE SET \
                             since = excluded.since, until = excluded.until, \
                             note = excluded.note, paused_by = excluded.paused_by",
                            self.sql_schema
                        ),
                        &[
                            (&job, Type::TEXT),
                            (&pause.since, Type::TIMESTAMPTZ),
                            (&pause.until, Type::TIMESTAMPTZ),
                            (&pause.note, Type::TEXT),
                            (&pause.by, Type::TEXT),
                        ],
                    )
                    .await?;
                }
                None => {
                    self.query(
                        "could not resume",
                        &format!("DELETE FROM {}.pauses WHERE job = $1", self.sql_schema),
                        &[(&job, Type::TEXT)],
                    )
                    .await?;
                }
            }
            Ok(())
        })
    }

    fn fleet_state(&self) -> BoxFuture<'_, Result<FleetState, LockError>> {
        Box::pin(async move {
            // Pauses and live triggers in one statement: a row per pause
            // (kind 'p') and per trigger (kind 't').
            let oldest_trigger = kept_since(TRIGGER_KEPT);
            let rows = self
                .query(
                    "could not read the pauses and triggers",
                    &format!(
                        "SELECT 'p', job, since, until, note, paused_by FROM {0}.pauses \
                         UNION ALL \
                         SELECT 't', job, queued, NULL, NULL, queued_by FROM {0}.triggers \
                         WHERE queued > $1 \
                         UNION ALL \
                         SELECT 'b', job, clock_timestamp(), NULL, line, NULL FROM {0}.backfills",
                        self.sql_schema
                    ),
                    &[(&oldest_trigger, Type::TIMESTAMPTZ)],
                )
                .await?;
            let mut state = FleetState::default();
            for row in &rows {
                let (Ok(kind), Ok(job), Ok(since)) = (
                    row.try_get::<_, &str>(0),
                    row.try_get::<_, String>(1),
                    row.try_get::<_, DateTime<Utc>>(2),
                ) else {
                    continue;
                };
                let by: Option<String> = row.try_get(5).unwrap_or(None);
                if kind == "b" {
                    let line: Option<String> = row.try_get(4).unwrap_or(None);
                    state
                        .backfills
                        .extend(line.and_then(|line| Backfill::decode(&job, &line)));
                } else if kind == "p" {
                    let pause = Pause {
                        since,
                        until: row.try_get(3).unwrap_or(None),
                        note: row.try_get(4).unwrap_or(None),
                        by,
                    };
                    state.paused.insert(job, pause);
                } else {
                    state.triggers.push(Trigger {
                        job,
                        queued: since,
                        by,
                    });
                }
            }
            Ok(state)
        })
    }

    fn trigger<'a>(&'a self, trigger: &'a Trigger) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(async move {
            // A trigger nobody took within TRIGGER_KEPT is gone: a new one replaces it.
            let oldest = kept_since(TRIGGER_KEPT);
            let rows = self
                .query_once(
                    "could not trigger",
                    &format!(
                        "INSERT INTO {0}.triggers AS t (job, queued, queued_by) VALUES ($1, $2, $3) \
                         ON CONFLICT (job) DO UPDATE SET queued = excluded.queued, \
                         queued_by = excluded.queued_by WHERE t.queued <= $4 RETURNING 1",
                        self.sql_schema
                    ),
                    &[
                        (&trigger.job, Type::TEXT),
                        (&trigger.queued, Type::TIMESTAMPTZ),
                        (&trigger.by, Type::TEXT),
                        (&oldest, Type::TIMESTAMPTZ),
                    ],
                )
                .await?;
            Ok(!rows.is_empty())
        })
    }

    fn take_trigger<'a>(
        &'a self,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Option<Trigger>, LockError>> {
        Box::pin(async move {
            let rows = self
                .query_once(
                    "could not take a trigger",
                    &format!(
                        "DELETE FROM {}.triggers WHERE job = $1 RETURNING queued, queued_by",
                        self.sql_schema
                    ),
                    &[(&job, Type::TEXT)],
                )
                .await?;
            let oldest = kept_since(TRIGGER_KEPT);
            Ok(rows.first().and_then(|row| {
                let queued: DateTime<Utc> = row.try_get(0).ok()?;
                (queued > oldest).then(|| Trigger {
                    job: job.to_owned(),
                    queued,
                    by: row.try_get(1).unwrap_or(None),
                })
            }))
        })
    }

    fn return_trigger<'a>(&'a self, trigger: &'a Trigger) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            self.query(
                "could not put a trigger back",
                &format!(
                    "INSERT INTO {}.triggers (job, queued, queued_by) VALUES ($1, $2, $3) \
                     ON CONFLICT (job) DO NOTHING",
                    self.sql_schema
                ),
                &[
                    (&trigger.job, Type::TEXT),
                    (&trigger.queued, Type::TIMESTAMPTZ),
                    (&trigger.by, Type::TEXT),
                ],
            )
            .await
            .map(|_| ())
        })
    }

    fn record_not_run<'a>(
        &'a self,
        job: &'a str,
        ticks: &'a [DateTime<Utc>],
        reason: NotRun,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<usize, LockError>> {
        Box::pin(async move {
            let millis: Vec<i64> = ticks.iter().map(DateTime::timestamp_millis).collect();
            let lines: Vec<String> = ticks
                .iter()
                .map(|&tick| encode_not_run(tick, reason, instance))
                .collect();
            let oldest = kept_since(NOT_RUN_DAY).timestamp_millis();
            let cap = NOT_RUN_KEPT as i64;
            let remembered = crate::lock::MAX_REMEMBERED_TICKS as i32;
            // Only ticks nobody claimed, by the claim function's rules
            // (newer than the mark, or within the window, above the floor
            // and not claimed) or, older, by the run history (not in it, and
            // no older than its oldest run but a backfill's); each once.
            let rows = self
                .query(
                    "could not record ticks not run",
                    &format!(
                        "WITH st AS (SELECT mark, claim_window, floor, remembered FROM {0}.claim_state WHERE job = $1), \
                         hist AS ( \
                           SELECT floor(extract(epoch FROM tick) * 1000)::bigint AS tick, instance \
                           FROM {0}.history WHERE job = $1 \
                         ), ran_since AS ( \
                           SELECT min(tick) AS tick FROM hist WHERE strpos(instance, '(backfill by ') = 0 \
                         ), new AS ( \
                           SELECT t.tick, t.line FROM unnest($2::bigint[], $3::text[]) AS t(tick, line) \
                           WHERE t.tick >= $4 AND coalesce((SELECT t.tick > st.mark \
                             OR (t.tick > st.mark - st.claim_window AND t.tick > st.floor AND st.remembered < $6 \
                               AND NOT EXISTS (SELECT 1 FROM {0}.claimed_ticks c WHERE c.job = $1 AND c.tick = t.tick)) \
                             OR (NOT (t.tick > st.mark - st.claim_window AND t.tick > st.floor AND st.remembered < $6) \
                               AND coalesce(t.tick >= (SELECT tick FROM ran_since), false) \
                               AND NOT EXISTS (SELECT 1 FROM hist h WHERE h.tick = t.tick)) \
                           FROM st), true) \
                         ), ins AS ( \
                           INSERT INTO {0}.not_run (job, tick, line) SELECT $1, tick, line FROM new \
                           ON CONFLICT DO NOTHING RETURNING tick \
                         ), trimmed AS ( \
                           DELETE FROM {0}.not_run WHERE job = $1 AND (tick < $4 OR tick <= ( \
                             SELECT tick FROM {0}.not_run WHERE job = $1 ORDER BY tick DESC OFFSET $5 LIMIT 1)) \
                         ) \
                         SELECT count(*) FROM ins",
                        self.sql_schema
                    ),
                    &[
                        (&job, Type::TEXT),
                        (&millis, Type::INT8_ARRAY),
                        (&lines, Type::TEXT_ARRAY),
                        (&oldest, Type::INT8),
                        (&cap, Type::INT8),
                        (&remembered, Type::INT4),
                    ],
                )
                .await?;
            let added: i64 = rows
                .first()
                .and_then(|row| row.try_get(0).ok())
                .unwrap_or(0);
            Ok(usize::try_from(added).unwrap_or(0))
        })
    }

    fn not_run<'a>(
        &'a self,
        job: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, LockError>> {
        Box::pin(async move {
            let limit = limit as i64;
            let rows = self
                .query(
                    "could not read the ticks not run",
                    &format!(
                        "SELECT line FROM {}.not_run WHERE job = $1 ORDER BY tick DESC LIMIT $2",
                        self.sql_schema
                    ),
                    &[(&job, Type::TEXT), (&limit, Type::INT8)],
                )
                .await?;
            Ok(rows
                .iter()
                .filter_map(|row| decode_not_run(row.try_get(0).ok()?))
                .collect())
        })
    }

    fn not_run_counts<'a>(
        &'a self,
        jobs: &'a [String],
        since: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<Vec<u64>, LockError>> {
        Box::pin(async move {
            let since = since.timestamp_millis();
            let rows = self
                .query(
                    "could not count the ticks not run",
                    &format!(
                        "SELECT j.job, count(n.tick) FROM unnest($1::text[]) AS j(job) \
                         LEFT JOIN {}.not_run n ON n.job = j.job AND n.tick >= $2 GROUP BY j.job",
                        self.sql_schema
                    ),
                    &[(&jobs, Type::TEXT_ARRAY), (&since, Type::INT8)],
                )
                .await?;
            let counts: std::collections::HashMap<String, i64> = rows
                .iter()
                .filter_map(|row| Some((row.try_get(0).ok()?, row.try_get(1).ok()?)))
                .collect();
            Ok(jobs
                .iter()
                .map(|job| counts.get(job).copied().unwrap_or(0).max(0) as u64)
                .collect())
        })
    }

    fn request_backfill<'a>(
        &'a self,
        backfill: &'a Backfill,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(async move {
            // Sent again after a lost reply, the same request finds itself
            // stored and still answers true.
            self.write_backfill(
                "could not request a backfill",
                "INSERT INTO {}.backfills AS b (job, id, line) VALUES ($1, $2, $3) \
                 ON CONFLICT (job) DO UPDATE SET line = b.line WHERE b.id = excluded.id \
                 RETURNING job",
                backfill,
            )
            .await
        })
    }

    fn update_backfill<'a>(
        &'a self,
        backfill: &'a Backfill,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(self.write_backfill(
            "could not record a backfill's progress",
            // Progress only moves on: a late write is taken for done.
            "UPDATE {}.backfills AS b SET line = CASE \
               WHEN coalesce(nullif(split_part($3, chr(9), 7), '')::bigint, -1) \
                  > coalesce(nullif(split_part(b.line, chr(9), 7), '')::bigint, -1) \
               THEN $3 ELSE b.line END \
             WHERE job = $1 AND id = $2 RETURNING job",
            backfill,
        ))
    }

    fn end_backfill<'a>(
        &'a self,
        job: &'a str,
        id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<Backfill>, LockError>> {
        Box::pin(async move {
            let rows = self
                .query_once(
                    "could not end a backfill",
                    // Its turns' claim state goes with it.
                    &format!(
                        "WITH ended AS ( \
                           DELETE FROM {0}.backfills WHERE job = $1 AND ($2::text IS NULL OR id = $2) \
                           RETURNING id, line \
                         ), series AS ( \
                           SELECT $1 || chr(31) || 'backfill' || chr(31) || id AS name FROM ended \
                         ), states AS ( \
                           DELETE FROM {0}.claim_state WHERE job IN (SELECT name FROM series) \
                         ), ticks AS ( \
                           DELETE FROM {0}.claimed_ticks WHERE job IN (SELECT name FROM series) \
                         ) \
                         SELECT line FROM ended",
                        self.sql_schema
                    ),
                    &[(&job, Type::TEXT), (&id, Type::TEXT)],
                )
                .await?;
            Ok(rows.first().and_then(|row| {
                let line: String = row.try_get(0).ok()?;
                Backfill::decode(job, &line)
            }))
        })
    }

    fn publish_jobs<'a>(
        &'a self,
        jobs: &'a [JobSummary],
    ) -> BoxFuture<'a, Result<Vec<JobSummary>, LockError>> {
        Box::pin(async move {
            if jobs.is_empty() {
                return Ok(Vec::new());
            }
            let recent = kept_since(JOB_LIST_KEPT);
            let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
            let specs: Vec<&str> = jobs.iter().map(|job| job.spec.as_str()).collect();
            let zones: Vec<&str> = jobs.iter().map(|job| job.tz.as_str()).collect();
            let timeouts: Vec<i64> = jobs.iter().map(|job| millis(job.timeout)).collect();
            let enabled: Vec<bool> = jobs.iter().map(|job| job.enabled).collect();
            let services: Vec<&str> = jobs.iter().map(|job| job.service.as_str()).collect();
            let instances: Vec<&str> = jobs.iter().map(|job| job.instance.as_str()).collect();
            let seen: Vec<DateTime<Utc>> = jobs.iter().map(|job| job.seen).collect();
            // The entries replaced (as they were before), then the upsert,
            // then the jobs nobody published for JOB_LIST_KEPT forgotten with
            // their pauses: one statement.
            let rows = self
                .query_once(
                    "could not publish the jobs",
                    &format!(
                        "WITH before AS ( \
                           SELECT name, spec, tz, timeout_ms, enabled, service, instance, seen \
                           FROM {0}.jobs WHERE name = ANY ($1) \
                         ), upsert AS ( \
                           INSERT INTO {0}.jobs AS j (name, spec, tz, timeout_ms, enabled, service, instance, seen) \
                           SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8) \
                           ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, tz = excluded.tz, \
                             timeout_ms = excluded.timeout_ms, enabled = excluded.enabled, \
                             service = excluded.service, instance = excluded.instance, seen = excluded.seen \
                         ), forgotten AS ( \
                           DELETE FROM {0}.jobs WHERE seen <= $9 AND name <> ALL ($1) RETURNING name \
                         ), unpaused AS ( \
                           DELETE FROM {0}.pauses WHERE job IN (SELECT name FROM forgotten) \
                         ) \
                         SELECT * FROM before",
                        self.sql_schema
                    ),
                    &[
                        (&names, Type::TEXT_ARRAY),
                        (&specs, Type::TEXT_ARRAY),
                        (&zones, Type::TEXT_ARRAY),
                        (&timeouts, Type::INT8_ARRAY),
                        (&enabled, Type::BOOL_ARRAY),
                        (&services, Type::TEXT_ARRAY),
                        (&instances, Type::TEXT_ARRAY),
                        (&seen, Type::TIMESTAMPTZ_ARRAY),
                        (&recent, Type::TIMESTAMPTZ),
                    ],
                )
                .await?;
            Ok(rows
                .iter()
                .filter_map(job_summary)
                .filter(|previous| {
                    previous.seen > recent
                        && jobs
                            .iter()
                            .any(|job| job.name == previous.name && job.service != previous.service)
                })
                .collect())
        })
    }

    fn published_jobs(&self) -> BoxFuture<'_, Result<Vec<JobSummary>, LockError>> {
        Box::pin(async move {
            let recent = kept_since(JOB_LIST_KEPT);
            let rows = self
                .query(
                    "could not read the job list",
                    &format!(
                        "SELECT name, spec, tz, timeout_ms, enabled, service, instance, seen \
                         FROM {}.jobs WHERE seen > $1 ORDER BY name",
                        self.sql_schema
                    ),
                    &[(&recent, Type::TIMESTAMPTZ)],
                )
                .await?;
            Ok(rows.iter().filter_map(job_summary).collect())
        })
    }

    fn unregistered_jobs(&self) -> BoxFuture<'_, Result<Vec<String>, LockError>> {
        Box::pin(async move {
            let recent = kept_since(JOB_LIST_KEPT);
            let rows = self
                .query(
                    "could not list the unregistered jobs",
                    &format!(
                        "SELECT job FROM (SELECT job FROM {0}.claim_state \
                           UNION SELECT job FROM {0}.history \
                           UNION SELECT job FROM {0}.pauses) AS stored \
                         WHERE job NOT IN (SELECT name FROM {0}.jobs WHERE seen > $1) \
                         AND job NOT IN (SELECT job FROM {0}.claim_state WHERE mark > $2) ORDER BY job",
                        self.sql_schema
                    ),
                    &[
                        (&recent, Type::TIMESTAMPTZ),
                        (&recent.timestamp_millis(), Type::INT8),
                    ],
                )
                .await?;
            Ok(rows.iter().filter_map(|row| row.try_get(0).ok()).collect())
        })
    }

    fn forget_jobs<'a>(
        &'a self,
        jobs: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, LockError>> {
        Box::pin(async move {
            let recent = kept_since(JOB_LIST_KEPT);
            // One statement: the jobs published recently are left out, the
            // others lose every row, and the names that had any come back.
            let rows = self
                .query_once(
                    "could not forget the jobs",
                    &format!(
                        "WITH doomed AS ( \
                           SELECT unnest($1::text[]) AS job \
                           EXCEPT SELECT name FROM {0}.jobs WHERE seen > $2 \
                           EXCEPT SELECT job FROM {0}.claim_state WHERE mark > $3 \
                         ), states AS ( \
                           DELETE FROM {0}.claim_state WHERE job IN (SELECT job FROM doomed) RETURNING job \
                         ), ticks AS ( \
                           DELETE FROM {0}.claimed_ticks WHERE job IN (SELECT job FROM doomed) \
                         ), runs AS ( \
                           DELETE FROM {0}.history WHERE job IN (SELECT job FROM doomed) RETURNING job \
                         ), pauses AS ( \
                           DELETE FROM {0}.pauses WHERE job IN (SELECT job FROM doomed) RETURNING job \
                         ), triggers AS ( \
                           DELETE FROM {0}.triggers WHERE job IN (SELECT job FROM doomed) \
                         ), backfills AS ( \
                           DELETE FROM {0}.backfills WHERE job IN (SELECT job FROM doomed) \
                         ), missed AS ( \
                           DELETE FROM {0}.not_run WHERE job IN (SELECT job FROM doomed) \
                         ), listed AS ( \
                           DELETE FROM {0}.jobs WHERE name IN (SELECT job FROM doomed) \
                         ) \
                         SELECT job FROM states UNION SELECT job FROM runs UNION SELECT job FROM pauses \
                         ORDER BY job",
                        self.sql_schema
                    ),
                    &[
                        (&jobs, Type::TEXT_ARRAY),
                        (&recent, Type::TIMESTAMPTZ),
                        (&recent.timestamp_millis(), Type::INT8),
                    ],
                )
                .await?;
            Ok(rows.iter().filter_map(|row| row.try_get(0).ok()).collect())
        })
    }
}

impl PostgresLock {
    /// Runs `sql` (the schema where it says `{}`; job, id and line as $1-$3)
    /// for `backfill`; true when it returned a row.
    async fn write_backfill(
        &self,
        what: &str,
        sql: &str,
        backfill: &Backfill,
    ) -> Result<bool, LockError> {
        let rows = self
            .query(
                what,
                &sql.replacen("{}", &self.sql_schema, 1),
                &[
                    (&backfill.job, Type::TEXT),
                    (&backfill.id, Type::TEXT),
                    (&backfill.encode(), Type::TEXT),
                ],
            )
            .await?;
        Ok(!rows.is_empty())
    }
}
