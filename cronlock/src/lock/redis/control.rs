//! History, pause and resume, triggers and the published jobs, in Redis.

use std::collections::BTreeSet;

use super::RedisLock;
use super::config::scrub;
use crate::lock::{BoxFuture, Control, HistoryEntry, JobSummary, LockError};

impl RedisLock {
    /// A fleet-wide key outside any job's hash tag.
    fn fleet_key(&self, part: &str) -> String {
        format!("{{{}}}:{part}", self.prefix)
    }

    async fn query<T: redis::FromRedisValue + Send>(
        &self,
        command: redis::Cmd,
    ) -> Result<T, LockError> {
        self.with_connection(|mut conn| async move { command.query_async(&mut conn).await })
            .await
            .map_err(|err| {
                LockError::new(
                    format!("Redis at {}: {}", self.url, scrub(&err, "")),
                    Some(Box::new(err)),
                )
            })
    }
}

impl Control for RedisLock {
    fn record_run<'a>(
        &'a self,
        job: &'a str,
        entry: &'a HistoryEntry,
        keep: usize,
    ) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let key = self.key(job, "history");
            let mut pipe = redis::pipe();
            pipe.atomic()
                .lpush(&key, entry.encode())
                .ignore()
                .ltrim(&key, 0, keep as isize - 1)
                .ignore();
            let pipe = &pipe;
            self.with_connection(|mut conn| async move { pipe.query_async::<()>(&mut conn).await })
                .await
                .map_err(|err| {
                    LockError::new(
                        format!("could not record the run: {}", scrub(&err, "")),
                        Some(Box::new(err)),
                    )
                })
        })
    }

    fn history<'a>(&'a self, job: &'a str) -> BoxFuture<'a, Result<Vec<HistoryEntry>, LockError>> {
        Box::pin(async move {
            let lines: Vec<String> = self
                .query(redis::Cmd::lrange(self.key(job, "history"), 0, -1))
                .await?;
            Ok(lines
                .iter()
                .filter_map(|line| HistoryEntry::decode(line))
                .collect())
        })
    }

    fn set_paused<'a>(
        &'a self,
        job: &'a str,
        paused: bool,
    ) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let key = self.fleet_key("paused");
            let command = if paused {
                redis::Cmd::sadd(key, job)
            } else {
                redis::Cmd::srem(key, job)
            };
            self.query::<i64>(command).await.map(|_| ())
        })
    }

    fn paused(&self) -> BoxFuture<'_, Result<BTreeSet<String>, LockError>> {
        Box::pin(async move {
            self.query(redis::Cmd::smembers(self.fleet_key("paused")))
                .await
        })
    }

    fn trigger<'a>(&'a self, job: &'a str) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            self.query::<i64>(redis::Cmd::rpush(self.fleet_key("triggers"), job))
                .await
                .map(|_| ())
        })
    }

    fn take_triggers(&self) -> BoxFuture<'_, Result<Vec<String>, LockError>> {
        Box::pin(async move {
            // LPOP with a count: each trigger goes to exactly one instance.
            let taken: Option<Vec<String>> = self
                .query(
                    redis::cmd("LPOP")
                        .arg(self.fleet_key("triggers"))
                        .arg(100)
                        .clone(),
                )
                .await?;
            Ok(taken.unwrap_or_default())
        })
    }

    fn publish_jobs<'a>(&'a self, jobs: &'a [JobSummary]) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            if jobs.is_empty() {
                return Ok(());
            }
            let fields: Vec<(String, String)> = jobs
                .iter()
                .map(|job| (job.name.clone(), job.encode()))
                .collect();
            self.query::<i64>(redis::Cmd::hset_multiple(self.fleet_key("jobs"), &fields))
                .await
                .map(|_| ())
        })
    }

    fn published_jobs(&self) -> BoxFuture<'_, Result<Vec<JobSummary>, LockError>> {
        Box::pin(async move {
            let all: std::collections::BTreeMap<String, String> = self
                .query(redis::Cmd::hgetall(self.fleet_key("jobs")))
                .await?;
            Ok(all
                .iter()
                .filter_map(|(name, line)| JobSummary::decode(name, line))
                .collect())
        })
    }
}
