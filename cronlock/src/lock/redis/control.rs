//! History, pause and resume, triggers and the published jobs, in Redis.
//!
//! Every key is bounded (see the constants in [`crate::lock`]): histories
//! are capped lists of capped entries that expire after the job's last run;
//! the job list forgets a job that no instance published for a week (with
//! its pause); a trigger that no instance took within an hour is dropped.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use redis::RedisError;

use super::{RedisLock, millis};
use crate::events::NotRun;
use crate::lock::control::{decode_not_run, encode_not_run, kept_since};
use crate::lock::{
    Backfill, BoxFuture, Control, FleetState, HISTORY_KEPT, HistoryEntry, JOB_LIST_KEPT,
    JobSummary, LockError, NOT_RUN_DAY, NOT_RUN_KEPT, Pause, TRIGGER_KEPT, Trigger,
};

/// Stores a job's backfill (`KEYS[1]` the hash, `ARGV` the job, its id,
/// the line, the key's TTL and `new`): for a `new` one, adds it when none
/// is stored (a new one sent again finds itself: 1); otherwise replaces the
/// stored one of the same id if the new line's newest started tick (its
/// seventh field) is later, so a late write never moves it back. Rare (a
/// request, once per backfilled tick): sent with `EVAL`, not cached.
const STORE_BACKFILL: &str = r"
local function last_of(line)
  local fields = {}
  for field in string.gmatch(line .. '\t', '([^\t]*)\t') do fields[#fields + 1] = field end
  return tonumber(fields[7]) or -1
end
local stored = redis.call('HGET', KEYS[1], ARGV[1])
local same = stored and string.sub(stored, 1, #ARGV[2] + 1) == ARGV[2] .. '\t'
if ARGV[5] == 'new' then
  if not stored then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
    return 1
  end
  return same and 1 or 0
end
if same and last_of(ARGV[3]) > last_of(stored) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 1
end
return same and 1 or 0
";
/// Removes a job's backfill (`ARGV` the job and an id, or empty for any)
/// and returns its line.
const END_BACKFILL: &str = r"
local stored = redis.call('HGET', KEYS[1], ARGV[1])
if stored and (ARGV[2] == '' or string.sub(stored, 1, #ARGV[2] + 1) == ARGV[2] .. '\t') then
  redis.call('HDEL', KEYS[1], ARGV[1])
  return stored
end
return false
";

/// Records ticks not run (see `Control::record_not_run`). `KEYS`: the job's
/// `tick`, `claimed`, `notrun` and `history` keys. `ARGV`: the oldest tick
/// kept (ms), the most kept, the key's TTL (ms), the most claimed ticks
/// remembered (`MAX_REMEMBERED_TICKS`), then one record line per tick (its
/// first field the tick in ms). A tick is recorded if no record has it and
/// nobody claimed it: newer than the newest claimed tick, or within the
/// claim window and not claimed (the `CLAIM` script's rules), or, older, not
/// in the run history and no older than its oldest run (a history entry is
/// written for every run; backfill runs, of past ticks, do not bound it).
const RECORD_NOT_RUN: &str = r"
local mark, window, floor = -1, 0, -1
local state = redis.call('GET', KEYS[1])
if state then
  local m, w, o = string.match(state, '^(%-?%d+) %d+ (%d+) %S* (%-?%d+)$')
  if not m then return redis.error_reply('corrupt claim state in ' .. KEYS[1]) end
  mark, window, floor = tonumber(m), tonumber(w), tonumber(o)
end
local oldest = tonumber(ARGV[1])
local remembered_all = redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[4])
local ran, ran_since = nil, nil
local function in_history(tick)
  if not ran then
    ran = {}
    for _, line in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do
      local t = tonumber(string.match(line, '^(%-?%d+)\t'))
      if t then
        ran[t] = true
        if not string.find(line, '(backfill by ', 1, true) and (not ran_since or t < ran_since) then
          ran_since = t
        end
      end
    end
  end
  return ran[tick] or not ran_since or tick < ran_since
end
local added = 0
for i = 5, #ARGV do
  local tick = tonumber(string.match(ARGV[i], '^(%-?%d+)\t'))
  if tick and tick >= oldest then
    local unclaimed
    if tick > mark then
      unclaimed = true
    elseif tick > mark - window and tick > floor and remembered_all then
      unclaimed = redis.call('ZCOUNT', KEYS[2], tick, tick) == 0
    else
      unclaimed = not in_history(tick)
    end
    if unclaimed and redis.call('ZCOUNT', KEYS[3], tick, tick) == 0 then
      redis.call('ZADD', KEYS[3], tick, ARGV[i])
      added = added + 1
    end
  end
end
if added > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[1])
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[2]) + 1))
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return added
";

/// Histories read in one pipeline.
const LAST_RUNS_CHUNK: usize = 500;

/// The keys a job may have, after its hash tag.
const JOB_PARTS: [&str; 5] = ["tick", "claimed", "run", "history", "notrun"];

impl RedisLock {
    /// Whether an instance claimed a tick of `job` within `JOB_LIST_KEPT`
    /// (the newest claimed tick, the first field of its `tick` key): it
    /// still runs somewhere, published or not.
    async fn claimed_lately(&self, job: &str) -> Result<bool, LockError> {
        let state: Option<String> = self
            .query(
                "could not read the job's claims",
                &redis::Cmd::get(self.key(job, "tick")),
            )
            .await?;
        let recent = kept_since(JOB_LIST_KEPT).timestamp_millis();
        Ok(state
            .and_then(|state| state.split(' ').next()?.parse::<i64>().ok())
            .is_some_and(|mark| mark > recent))
    }

    /// How many of `job`'s keys exist (or its pause).
    async fn stored_keys(&self, job: &str) -> Result<i64, LockError> {
        let keys: Vec<String> = JOB_PARTS.iter().map(|part| self.key(job, part)).collect();
        let stored: i64 = self
            .query(
                "could not look for the job's keys",
                &redis::Cmd::exists(&keys),
            )
            .await?;
        let paused: bool = self
            .query(
                "could not look for the job's pause",
                &redis::Cmd::hexists(self.fleet_key("paused"), job),
            )
            .await?;
        Ok(stored + i64::from(paused))
    }

    /// A fleet-wide key outside any job's hash tag.
    fn fleet_key(&self, part: &str) -> String {
        format!("{{{}}}:{part}", self.prefix)
    }

    async fn query<T: redis::FromRedisValue>(
        &self,
        what: &str,
        request: &(dyn super::nodes::Request + Sync),
    ) -> Result<T, LockError> {
        self.request(request)
            .await
            .map_err(|err: RedisError| self.error(&err, what))
    }
}

impl RedisLock {
    /// One command per job on its `part` key, pipelined (one pipeline per
    /// hash slot on a Cluster, sent together); the answers in job order.
    async fn per_job<T: redis::FromRedisValue + Default + Clone>(
        &self,
        jobs: &[String],
        part: &str,
        what: &str,
        command: impl Fn(&mut redis::Pipeline, String),
    ) -> Result<Vec<T>, LockError> {
        let mut answers: Vec<T> = vec![T::default(); jobs.len()];
        let chunks: Vec<Vec<usize>> = self
            .by_slot(jobs.iter().map(|job| self.key(job, part)))
            .into_iter()
            .flat_map(|group| {
                group
                    .chunks(LAST_RUNS_CHUNK)
                    .map(<[usize]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect();
        let reads = chunks.iter().map(|chunk| {
            let mut pipe = redis::pipe();
            for &index in chunk {
                command(&mut pipe, self.key(&jobs[index], part));
            }
            async move { self.query::<Vec<T>>(what, &pipe).await }
        });
        for (chunk, read) in chunks
            .iter()
            .zip(futures_util::future::join_all(reads).await)
        {
            for (&index, answer) in chunk.iter().zip(read?) {
                answers[index] = answer;
            }
        }
        Ok(answers)
    }

    /// Runs [`STORE_BACKFILL`] for `backfill`; `mode` is `new` or not.
    async fn store_backfill(
        &self,
        what: &str,
        backfill: &Backfill,
        mode: &str,
    ) -> Result<bool, LockError> {
        let mut store = redis::cmd("EVAL");
        store
            .arg(STORE_BACKFILL)
            .arg(1)
            .arg(self.fleet_key("backfills"))
            .arg(&backfill.job)
            .arg(&backfill.id)
            .arg(backfill.encode())
            .arg(millis(JOB_LIST_KEPT))
            .arg(mode);
        let stored: i64 = self.query(what, &store).await?;
        Ok(stored == 1)
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
            let tick = entry.tick.timestamp_millis();
            let mut pipe = redis::pipe();
            pipe.atomic()
                .lpush(&key, entry.encode())
                .ignore()
                .ltrim(&key, 0, keep as isize - 1)
                .ignore()
                .pexpire(&key, millis(HISTORY_KEPT) as i64)
                .ignore()
                // The tick ran: a record of it as not run (an instance gave
                // it up before another, whose clock lags, claimed it) is wrong.
                .zrembyscore(self.key(job, "notrun"), tick, tick)
                .ignore();
            self.query::<()>("could not record the run", &pipe).await
        })
    }

    fn history<'a>(&'a self, job: &'a str) -> BoxFuture<'a, Result<Vec<HistoryEntry>, LockError>> {
        Box::pin(async move {
            let lines: Vec<String> = self
                .query(
                    "could not read the history",
                    &redis::Cmd::lrange(self.key(job, "history"), 0, -1),
                )
                .await?;
            Ok(lines
                .iter()
                .filter_map(|line| HistoryEntry::decode(line))
                .collect())
        })
    }

    fn last_runs<'a>(
        &'a self,
        jobs: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Option<HistoryEntry>>, LockError>> {
        Box::pin(async move {
            let lines: Vec<Option<String>> = self
                .per_job(
                    jobs,
                    "history",
                    "could not read the histories",
                    |pipe, key| {
                        pipe.lindex(key, 0);
                    },
                )
                .await?;
            Ok(lines
                .into_iter()
                .map(|line| line.and_then(|line| HistoryEntry::decode(&line)))
                .collect())
        })
    }

    fn set_paused<'a>(
        &'a self,
        job: &'a str,
        pause: Option<&'a Pause>,
    ) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let key = self.fleet_key("paused");
            let mut pipe = redis::pipe();
            match pause {
                Some(pause) => pipe
                    .hset(&key, job, pause.encode())
                    .ignore()
                    .pexpire(&key, millis(JOB_LIST_KEPT) as i64)
                    .ignore(),
                None => pipe.hdel(&key, job).ignore(),
            };
            self.query::<()>("could not pause or resume", &pipe).await
        })
    }

    fn fleet_state(&self) -> BoxFuture<'_, Result<FleetState, LockError>> {
        Box::pin(async move {
            let mut pipe = redis::pipe();
            pipe.hgetall(self.fleet_key("paused"))
                .hgetall(self.fleet_key("triggers"))
                .hgetall(self.fleet_key("backfills"));
            type Lines = BTreeMap<String, String>;
            let (paused, triggers, backfills): (Lines, Lines, Lines) = self
                .query("could not read the pauses and triggers", &pipe)
                .await?;
            Ok(FleetState {
                paused: paused
                    .into_iter()
                    .filter_map(|(job, line)| Some((job, Pause::decode(&line)?)))
                    .collect(),
                triggers: triggers
                    .iter()
                    .filter_map(|(job, line)| Trigger::decode(job, line))
                    .collect(),
                backfills: backfills
                    .iter()
                    .filter_map(|(job, line)| Backfill::decode(job, line))
                    .collect(),
            })
        })
    }

    fn trigger<'a>(&'a self, trigger: &'a Trigger) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(async move {
            let key = self.fleet_key("triggers");
            let mut pipe = redis::pipe();
            pipe.atomic()
                .hset_nx(&key, &trigger.job, trigger.encode())
                .pexpire(&key, millis(TRIGGER_KEPT) as i64)
                .ignore();
            let (added,): (bool,) = self.query("could not trigger", &pipe).await?;
            Ok(added)
        })
    }

    fn take_trigger<'a>(
        &'a self,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Option<Trigger>, LockError>> {
        Box::pin(async move {
            let key = self.fleet_key("triggers");
            let mut pipe = redis::pipe();
            pipe.atomic().hget(&key, job).hdel(&key, job);
            let (line, taken): (Option<String>, i64) =
                self.query("could not take a trigger", &pipe).await?;
            Ok(line
                .filter(|_| taken == 1)
                .and_then(|line| Trigger::decode(job, &line)))
        })
    }

    fn return_trigger<'a>(&'a self, trigger: &'a Trigger) -> BoxFuture<'a, Result<(), LockError>> {
        Box::pin(async move {
            let key = self.fleet_key("triggers");
            let mut pipe = redis::pipe();
            pipe.hset_nx(&key, &trigger.job, trigger.encode())
                .ignore()
                .pexpire(&key, millis(TRIGGER_KEPT) as i64)
                .ignore();
            self.query::<()>("could not put a trigger back", &pipe)
                .await
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
            let mut record = redis::cmd("EVAL");
            record
                .arg(RECORD_NOT_RUN)
                .arg(4)
                .arg(self.key(job, "tick"))
                .arg(self.key(job, "claimed"))
                .arg(self.key(job, "notrun"))
                .arg(self.key(job, "history"))
                .arg(kept_since(NOT_RUN_DAY).timestamp_millis())
                .arg(NOT_RUN_KEPT)
                .arg(millis(NOT_RUN_DAY) * 2)
                .arg(crate::lock::MAX_REMEMBERED_TICKS);
            for &tick in ticks {
                record.arg(encode_not_run(tick, reason, instance));
            }
            let added: i64 = self
                .query("could not record ticks not run", &record)
                .await?;
            Ok(usize::try_from(added).unwrap_or(0))
        })
    }

    fn not_run<'a>(
        &'a self,
        job: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, LockError>> {
        Box::pin(async move {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let lines: Vec<String> = self
                .query(
                    "could not read the ticks not run",
                    &redis::Cmd::zrevrange(self.key(job, "notrun"), 0, limit as isize - 1),
                )
                .await?;
            Ok(lines
                .iter()
                .filter_map(|line| decode_not_run(line))
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
            self.per_job(
                jobs,
                "notrun",
                "could not count the ticks not run",
                |pipe, key| {
                    pipe.zcount(key, since, "+inf");
                },
            )
            .await
        })
    }

    fn request_backfill<'a>(
        &'a self,
        backfill: &'a Backfill,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(self.store_backfill("could not request a backfill", backfill, "new"))
    }

    fn update_backfill<'a>(
        &'a self,
        backfill: &'a Backfill,
    ) -> BoxFuture<'a, Result<bool, LockError>> {
        Box::pin(self.store_backfill(
            "could not record a backfill's progress",
            backfill,
            "progress",
        ))
    }

    fn end_backfill<'a>(
        &'a self,
        job: &'a str,
        id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Option<Backfill>, LockError>> {
        Box::pin(async move {
            let mut end = redis::cmd("EVAL");
            end.arg(END_BACKFILL)
                .arg(1)
                .arg(self.fleet_key("backfills"))
                .arg(job)
                .arg(id.unwrap_or_default());
            let line: Option<String> = self.query("could not end a backfill", &end).await?;
            Ok(line.and_then(|line| Backfill::decode(job, &line)))
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
            let (list, seen) = (self.fleet_key("jobs"), self.fleet_key("jobs:seen"));
            let names: Vec<&str> = jobs.iter().map(|job| job.name.as_str()).collect();
            let before: Vec<Option<String>> = self
                .query(
                    "could not read the job list",
                    redis::cmd("HMGET").arg(&list).arg(&names),
                )
                .await?;
            let recent = kept_since(JOB_LIST_KEPT);
            let others: Vec<JobSummary> = jobs
                .iter()
                .zip(before)
                .filter_map(|(job, line)| {
                    let previous = JobSummary::decode(&job.name, &line?)?;
                    (previous.service != job.service && previous.seen > recent).then_some(previous)
                })
                .collect();
            let fields: Vec<(&str, String)> = jobs
                .iter()
                .map(|job| (job.name.as_str(), job.encode()))
                .collect();
            let scores: Vec<(i64, &str)> = jobs
                .iter()
                .map(|job| (job.seen.timestamp_millis(), job.name.as_str()))
                .collect();
            let kept = millis(JOB_LIST_KEPT) as i64;
            let known = self.fleet_key("known");
            let mut pipe = redis::pipe();
            pipe.atomic()
                .hset_multiple(&list, &fields)
                .ignore()
                // Every name that may have keys, for `cronlock prune`: as
                // long-lived as the longest-lived per-job key, a history.
                .sadd(&known, &names)
                .ignore()
                // Pauses live as long as the job list: instances keep both.
                .pexpire(self.fleet_key("paused"), kept)
                .ignore()
                .pexpire(&known, millis(HISTORY_KEPT) as i64)
                .ignore()
                .zadd_multiple(&seen, &scores)
                .ignore()
                .pexpire(&list, kept)
                .ignore()
                .pexpire(&seen, kept)
                .ignore()
                .zrangebyscore(&seen, "-inf", recent.timestamp_millis());
            let (forgotten,): (Vec<String>,) =
                self.query("could not publish the jobs", &pipe).await?;
            if !forgotten.is_empty() {
                // Jobs no instance registers any more: out of the list, with their pauses.
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .hdel(&list, &forgotten)
                    .ignore()
                    .zrem(&seen, &forgotten)
                    .ignore()
                    .hdel(self.fleet_key("paused"), &forgotten)
                    .ignore();
                self.query::<()>("could not prune the job list", &pipe)
                    .await?;
            }
            Ok(others)
        })
    }

    fn published_jobs(&self) -> BoxFuture<'_, Result<Vec<JobSummary>, LockError>> {
        Box::pin(async move {
            let all: BTreeMap<String, String> = self
                .query(
                    "could not read the job list",
                    &redis::Cmd::hgetall(self.fleet_key("jobs")),
                )
                .await?;
            let recent = kept_since(JOB_LIST_KEPT);
            Ok(all
                .iter()
                .filter_map(|(name, line)| JobSummary::decode(name, line))
                .filter(|job| job.seen > recent)
                .collect())
        })
    }

    fn unregistered_jobs(&self) -> BoxFuture<'_, Result<Vec<String>, LockError>> {
        Box::pin(async move {
            let known: Vec<String> = self
                .query(
                    "could not list the known jobs",
                    &redis::Cmd::smembers(self.fleet_key("known")),
                )
                .await?;
            let published: BTreeSet<String> = self
                .published_jobs()
                .await?
                .into_iter()
                .map(|job| job.name)
                .collect();
            let mut unregistered = Vec::new();
            for job in known.into_iter().filter(|job| !published.contains(job)) {
                if !self.claimed_lately(&job).await? && self.stored_keys(&job).await? > 0 {
                    unregistered.push(job);
                }
            }
            unregistered.sort();
            Ok(unregistered)
        })
    }

    fn forget_jobs<'a>(
        &'a self,
        jobs: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<String>, LockError>> {
        Box::pin(async move {
            let published: BTreeSet<String> = self
                .published_jobs()
                .await?
                .into_iter()
                .map(|job| job.name)
                .collect();
            let mut forgotten = Vec::new();
            for job in jobs.iter().filter(|job| !published.contains(*job)) {
                if self.claimed_lately(job).await? {
                    continue;
                }
                // A job's keys share its hash tag: one command, one slot.
                let keys: Vec<String> = JOB_PARTS.iter().map(|part| self.key(job, part)).collect();
                let deleted: i64 = self
                    .query("could not forget the job", &redis::Cmd::del(&keys))
                    .await?;
                let mut pipe = redis::pipe();
                pipe.atomic()
                    .hdel(self.fleet_key("paused"), job)
                    .hdel(self.fleet_key("triggers"), job)
                    .ignore()
                    .hdel(self.fleet_key("backfills"), job)
                    .ignore()
                    .hdel(self.fleet_key("jobs"), job)
                    .ignore()
                    .zrem(self.fleet_key("jobs:seen"), job)
                    .ignore()
                    .srem(self.fleet_key("known"), job)
                    .ignore();
                let (unpaused,): (i64,) = self.query("could not forget the job", &pipe).await?;
                if deleted + unpaused > 0 {
                    forgotten.push(job.clone());
                }
            }
            Ok(forgotten)
        })
    }
}
