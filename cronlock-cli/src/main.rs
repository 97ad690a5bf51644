//! `cronlock`: look at and operate the jobs of a fleet through its Redis,
//! and explain cron specs.
//!
//! ```text
//! cronlock list                      # jobs, next fire, paused, last outcome
//! cronlock history refresh_cache     # last runs, newest first
//! cronlock trigger refresh_cache     # one run now, somewhere in the fleet
//! cronlock pause refresh_cache       # fleet-wide, within a second
//! cronlock resume refresh_cache
//! cronlock backfill refresh_cache --from 2026-11-01 --to 2026-11-02 --wait
//! cronlock backfill refresh_cache --cancel
//! cronlock prune [--yes]             # state of jobs no instance registers
//! cronlock next "0 */15 9-17 * * MON-FRI" --tz Europe/Berlin -n 5
//! cronlock dashboard --listen 127.0.0.1:9090   # the web dashboard
//! ```
//!
//! Every command takes `--json`. The fleet's Redis comes from `REDIS_URL`
//! (or `--redis`, which other users can see in `ps`), its key prefix from
//! `CRONLOCK_PREFIX` (or `--prefix`); a fleet on Postgres from
//! `DATABASE_URL` (or `--database`), its schema from `CRONLOCK_SCHEMA` (or
//! `--schema`). Redis wins when both are given, as in the services. Exit
//! codes: 0 success, 1 backend or another runtime failure, 2 invalid
//! arguments or spec, 3 unknown job.

use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use clap::{Parser, Subcommand};
use cronlock::dashboard::{self, DashboardConfig};
use cronlock::lock::{Backfill, HistoryEntry, Pause};
use cronlock::{Error, Fleet, FleetJob, Schedule, SpecError};
use serde_json::json;

/// The most fire times `next` prints.
const MAX_NEXT: usize = 1_000;

#[derive(Debug, Parser)]
#[command(
    name = "cronlock",
    version,
    about = "Look at and operate the jobs of a cronlock fleet; explain cron specs",
    after_help = "Give the fleet's Redis in REDIS_URL rather than --redis (or its Postgres in DATABASE_URL rather than --database): a command line is visible to every user of the machine (ps), the environment is not. Redis wins when both are set, as in the services.\n\nExit codes: 0 success, 1 backend or other runtime failure, 2 invalid arguments or spec, 3 unknown job."
)]
struct Cli {
    /// Redis of the fleet, such as redis://127.0.0.1:6379 (prefer REDIS_URL)
    #[arg(long, env = "REDIS_URL", hide_env_values = true, global = true)]
    redis: Option<String>,
    /// Key prefix the fleet uses
    #[arg(
        long,
        env = "CRONLOCK_PREFIX",
        default_value = "cronlock:",
        global = true
    )]
    prefix: String,
    /// Postgres of the fleet, such as postgres://app@db/app (prefer DATABASE_URL)
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
    database: Option<String>,
    /// Schema of cronlock's tables in that database
    #[arg(
        long,
        env = "CRONLOCK_SCHEMA",
        default_value = "cronlock",
        global = true
    )]
    schema: String,
    /// Print JSON instead of a table
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every job the fleet runs, with its next fire time and last outcome
    List,
    /// The last runs of a job, newest first
    History {
        /// Job name
        job: String,
    },
    /// Runs a job once now, on one instance of the fleet
    Trigger {
        /// Job name
        job: String,
    },
    /// Runs a job for every tick of a past range, once each across the fleet,
    /// in order, one at a time; or shows or cancels the one under way
    Backfill {
        /// Job name
        job: String,
        /// First instant of the range: 2026-11-01, "2026-11-01 06:00" (both
        /// UTC) or RFC 3339 with an offset, such as 2026-11-01T06:00:00+01:00
        #[arg(long, required_unless_present_any = ["cancel", "status"])]
        from: Option<String>,
        /// Last instant of the range (included), as --from; default now
        #[arg(long, default_value = "now")]
        to: String,
        /// Follow its progress until every tick is taken (Ctrl-C stops
        /// following, not the backfill)
        #[arg(long)]
        wait: bool,
        /// Cancel the backfill under way (and the run going)
        #[arg(long, conflicts_with_all = ["from", "wait", "status"])]
        cancel: bool,
        /// Show the backfill under way
        #[arg(long, conflicts_with_all = ["from", "wait"])]
        status: bool,
    },
    /// Stops a job's ticks on every instance until `resume` (or for a while)
    Pause {
        /// Job name
        job: String,
        /// Why, shown by `list`
        #[arg(long)]
        note: Option<String>,
        /// Resume by itself after this long, such as 30m or 2h
        #[arg(long = "for", value_name = "DURATION")]
        duration: Option<String>,
    },
    /// Resumes a paused job
    Resume {
        /// Job name
        job: String,
    },
    /// Lists the jobs no instance registers any more (none published them
    /// for 7 days) that still have state stored; removes it with --yes
    Prune {
        /// Remove their state (without it, only list them)
        #[arg(long)]
        yes: bool,
    },
    /// Serves the web dashboard of the fleet until Ctrl-C (SIGINT) or SIGTERM
    Dashboard {
        /// Address to listen on; other than loopback only with --token or --basic
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: std::net::SocketAddr,
        /// Ask every request for this bearer token (prefer CRONLOCK_DASHBOARD_TOKEN)
        #[arg(long, env = "CRONLOCK_DASHBOARD_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Ask for HTTP basic auth as USER:PASSWORD (prefer CRONLOCK_DASHBOARD_BASIC)
        #[arg(long, env = "CRONLOCK_DASHBOARD_BASIC", hide_env_values = true)]
        basic: Option<String>,
        /// Hide pause, resume and trigger, and refuse them
        #[arg(long)]
        read_only: bool,
        /// Serve the pages under this path, such as /cron (for a proxy)
        #[arg(long, default_value = "")]
        path_prefix: String,
    },
    /// The next fire times of a spec, and the spec in English
    Next {
        /// A cron spec, such as "0 */5 * * * *"
        spec: String,
        /// IANA zone to read the spec in (default UTC)
        #[arg(long)]
        tz: Option<String>,
        /// How many fire times (at most 1000)
        #[arg(short = 'n', default_value_t = 5)]
        count: usize,
    },
}

/// A failure with its exit code.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl ToString) -> Failure {
        Failure {
            code: 2,
            message: message.to_string(),
        }
    }
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        let code = match err {
            Error::UnknownJob { .. } => 3,
            Error::JobDisabled { .. } | Error::InvalidBackfill { .. } => 2,
            _ => 1,
        };
        Failure {
            code,
            message: match err {
                Error::UnknownJob { job } => {
                    format!(
                        "no job named `{}` in this fleet (see `cronlock list`)",
                        clean(&job)
                    )
                }
                other => other.to_string(),
            },
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("error: {}", clean_lines(&failure.message));
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli) -> Result<String, Failure> {
    if let Command::Next { spec, tz, count } = &cli.command {
        return next(spec, tz.as_deref(), *count, cli.json);
    }
    let fleet = match (&cli.redis, &cli.database) {
        (Some(url), _) => Fleet::connect(url, &cli.prefix).await?,
        (None, Some(url)) => Fleet::connect_postgres(url, &cli.schema).await?,
        (None, None) => {
            return Err(Failure::usage(
                "no backend: set REDIS_URL or DATABASE_URL (or pass --redis URL or --database URL)",
            ));
        }
    };
    match &cli.command {
        Command::List => list(&fleet, cli.json).await,
        Command::History { job } => history(&fleet, job, cli.json).await,
        Command::Trigger { job } => {
            let added = fleet.trigger(job, Some(&who())).await?;
            let detail = if added {
                "runs once within a second, on an instance that has the job"
            } else {
                "a trigger was already waiting: the two are one run"
            };
            Ok(done(cli.json, "triggered", job, detail))
        }
        Command::Pause {
            job,
            note,
            duration,
        } => {
            let now = Utc::now();
            let until = match duration {
                Some(text) => {
                    let duration = cronlock_spec::parse_duration(text)
                        .map_err(|err| Failure::usage(err.report()))?;
                    Some(now + chrono::Duration::from_std(duration).map_err(Failure::usage)?)
                }
                None => None,
            };
            let pause = Pause {
                since: now,
                until,
                note: note.clone(),
                by: Some(who()),
            };
            fleet.pause(job, &pause).await?;
            let detail = match until {
                Some(until) => format!(
                    "every instance skips its ticks within a second, until {}",
                    until.format("%Y-%m-%d %H:%M:%S UTC")
                ),
                None => "every instance skips its ticks within a second".to_owned(),
            };
            Ok(done(cli.json, "paused", job, &detail))
        }
        Command::Resume { job } => {
            fleet.resume_by(job, Some(&who())).await?;
            Ok(done(cli.json, "resumed", job, "its ticks run again"))
        }
        Command::Backfill {
            job,
            from,
            to,
            wait,
            cancel,
            status,
        } => {
            if *cancel {
                fleet.job(job).await?;
                return Ok(match fleet.cancel_backfill(job).await? {
                    Some(backfill) => done(
                        cli.json,
                        "backfill cancelled",
                        job,
                        &format!(
                            "{}; no instance starts another of its ticks, the run going is cancelled within a second",
                            progress(&backfill)
                        ),
                    ),
                    None => done(cli.json, "no backfill", job, "none was under way"),
                });
            }
            if *status {
                fleet.job(job).await?;
                let under_way = fleet.backfills().await?.into_iter().find(|b| b.job == *job);
                return Ok(match under_way {
                    Some(backfill) if cli.json => backfill_json(&backfill).to_string(),
                    Some(backfill) => format!("{}: backfill {}", clean(job), progress(&backfill)),
                    None if cli.json => "null".to_owned(),
                    None => format!("{}: no backfill under way", clean(job)),
                });
            }
            let now = Utc::now();
            let from = instant(from.as_deref().unwrap_or_default(), now)?;
            let to = instant(to, now)?;
            let backfill = fleet.backfill(job, from, to, Some(&who())).await?;
            if *wait {
                return follow(&fleet, backfill, cli.json).await;
            }
            Ok(done(
                cli.json,
                "backfill requested",
                job,
                &format!(
                    "{} ticks from {} to {}; follow it with `cronlock backfill {} --status`",
                    backfill.total,
                    from.format("%Y-%m-%d %H:%M:%S UTC"),
                    to.format("%Y-%m-%d %H:%M:%S UTC"),
                    clean(job)
                ),
            ))
        }
        Command::Prune { yes } => prune(&fleet, *yes, cli.json).await,
        Command::Dashboard {
            listen,
            token,
            basic,
            read_only,
            path_prefix,
        } => {
            let mut config = DashboardConfig::new()
                .prefix(path_prefix)
                .read_only(*read_only);
            if let Some(token) = token {
                if token.is_empty() {
                    return Err(Failure::usage("the dashboard token is empty"));
                }
                config = config.bearer_token(token);
            }
            if let Some(basic) = basic {
                let (user, password) = basic
                    .split_once(':')
                    .filter(|(user, password)| !user.is_empty() && !password.is_empty())
                    .ok_or_else(|| {
                        Failure::usage("--basic takes USER:PASSWORD, neither of them empty")
                    })?;
                config = config.basic_auth(user, password);
            }
            config.check_listen(*listen)?;
            let listener = tokio::net::TcpListener::bind(listen).await.map_err(|err| {
                Failure::from(Error::Dashboard(format!(
                    "cannot listen on {listen}: {err}"
                )))
            })?;
            let addr = listener.local_addr().unwrap_or(*listen);
            eprintln!(
                "dashboard at http://{addr}{}/ (Ctrl-C stops it)",
                config.path_prefix()
            );
            dashboard::serve(listener, fleet, config, stop_signal()).await?;
            Ok("dashboard stopped".to_owned())
        }
        Command::Next { .. } => unreachable!("handled above"),
    }
}

/// `prune`: the unregistered jobs, and with `remove` their state removed.
/// Resolves on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn prune(fleet: &Fleet, remove: bool, json: bool) -> Result<String, Failure> {
    let unregistered = fleet.unregistered_jobs().await?;
    let removed = if remove && !unregistered.is_empty() {
        fleet.forget_jobs(&unregistered).await?
    } else {
        Vec::new()
    };
    if json {
        return Ok(json!({ "unregistered": unregistered, "removed": removed }).to_string());
    }
    if unregistered.is_empty() {
        return Ok("no unregistered jobs: nothing to prune".to_owned());
    }
    let names = unregistered
        .iter()
        .map(|job| clean_lines(job))
        .collect::<Vec<_>>()
        .join("\n  ");
    Ok(if remove {
        format!(
            "removed the state of {} of {} jobs no instance registers:\n  {names}",
            removed.len(),
            unregistered.len()
        )
    } else {
        format!(
            "{} jobs no instance registers still have state (claims, history, pauses):\n  {names}\ndry run: nothing removed; run `cronlock prune --yes` to remove it",
            unregistered.len()
        )
    })
}

/// An instant as `backfill` takes it: `now`, RFC 3339, or a UTC date with
/// an optional time.
fn instant(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, Failure> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok(instant.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(local.and_utc());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(NaiveTime::MIN).and_utc());
    }
    Err(Failure::usage(format!(
        "`{}` is not an instant: give now, 2026-11-01, \"2026-11-01 06:00\" (UTC) or RFC 3339 such as 2026-11-01T06:00:00+01:00",
        clean(text)
    )))
}

/// A backfill's progress in words.
fn progress(backfill: &Backfill) -> String {
    let mut text = format!(
        "{} of {} ticks taken ({} to {})",
        backfill.done,
        backfill.total,
        backfill.from.format("%Y-%m-%d %H:%M:%S"),
        backfill.to.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(last) = backfill.last {
        text.push_str(&format!(", last {}", last.format("%Y-%m-%d %H:%M:%S")));
    }
    text
}

fn backfill_json(backfill: &Backfill) -> serde_json::Value {
    json!({
        "job": backfill.job, "id": backfill.id,
        "from": backfill.from.to_rfc3339(), "to": backfill.to.to_rfc3339(),
        "total": backfill.total, "done": backfill.done,
        "last": backfill.last.map(|t| t.to_rfc3339()), "by": backfill.by,
    })
}

/// `backfill --wait`: a progress line (on standard error) whenever more
/// ticks are taken, until the backfill is no longer stored (every tick
/// taken, or cancelled) or Ctrl-C.
async fn follow(fleet: &Fleet, requested: Backfill, json: bool) -> Result<String, Failure> {
    let job = requested.job.clone();
    eprintln!(
        "{}: backfill of {} ticks requested; following it (Ctrl-C stops following, not the backfill)",
        clean(&job),
        requested.total
    );
    let mut seen = requested;
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            () = &mut stop => {
                return Ok(done(json, "following stopped", &job, &format!("the backfill goes on: {}", progress(&seen))));
            }
        }
        let Some(now) = fleet
            .backfills()
            .await?
            .into_iter()
            .find(|b| b.job == job && b.id == seen.id)
        else {
            break;
        };
        if now.done != seen.done {
            eprintln!("{}: {}", clean(&job), progress(&now));
        }
        seen = now;
    }
    // Gone: the instance that took the last tick ended it, or someone
    // cancelled it; the last tick's run may still be going.
    let history = fleet.history(&job).await?;
    let last_ran = history
        .iter()
        .find(|run| run.instance.contains("(backfill by "))
        .map(|run| run.tick);
    Ok(done(
        json,
        "backfill ended",
        &job,
        &format!(
            "every tick taken or cancelled; last seen {}{}",
            progress(&seen),
            last_ran.map_or_else(String::new, |t| format!(
                "; newest backfill run in the history: {}",
                t.format("%Y-%m-%d %H:%M:%S")
            ))
        ),
    ))
}

/// Who runs this command, for the history and pauses: `user@host`.
fn who() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "someone".to_owned());
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default();
    if host.is_empty() {
        format!("{user} (cli)")
    } else {
        format!("{user}@{host} (cli)")
    }
}

fn done(json: bool, action: &str, job: &str, detail: &str) -> String {
    if json {
        json!({ "job": job, "action": action }).to_string()
    } else {
        format!("{}: {action}; {detail}", clean(job))
    }
}

/// Text from the fleet (job names, error texts) made safe for a terminal:
/// control characters, escape sequences included, are shown escaped.
fn clean(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// As [`clean`], keeping line breaks.
fn clean_lines(text: &str) -> String {
    text.lines().map(clean).collect::<Vec<_>>().join("\n")
}

fn state(job: &FleetJob) -> String {
    match &job.pause {
        Some(pause) => {
            let mut state = "paused".to_owned();
            if let Some(until) = pause.until {
                state.push_str(&format!(" until {}", until.format("%m-%d %H:%M")));
            }
            if let Some(note) = &pause.note {
                state.push_str(&format!(": {note}"));
            }
            state
        }
        None if job.summary.enabled => "active".to_owned(),
        None => "disabled".to_owned(),
    }
}

async fn list(fleet: &Fleet, json: bool) -> Result<String, Failure> {
    let jobs = fleet.jobs().await?;
    let backfills = fleet.backfills().await?;
    let backfill_of = |job: &str| backfills.iter().find(|b| b.job == job);
    if json {
        let list: Vec<_> = jobs
            .iter()
            .map(|job| {
                let summary = &job.summary;
                json!({
                    "name": summary.name, "spec": summary.spec, "tz": summary.tz,
                    "timeout_ms": summary.timeout.as_millis() as u64, "enabled": summary.enabled,
                    "service": summary.service,
                    "next": job.next.map(|t| t.to_rfc3339()),
                    "paused": job.pause.is_some(),
                    "pause_note": job.pause.as_ref().and_then(|p| p.note.clone()),
                    "paused_until": job.pause.as_ref().and_then(|p| p.until).map(|t| t.to_rfc3339()),
                    "last_outcome": job.last_run.as_ref().map(|l| l.outcome.label()),
                    "last_tick": job.last_run.as_ref().map(|l| l.tick.to_rfc3339()),
                    "backfill": backfill_of(&summary.name).map(backfill_json),
                    "missed_last_day": job.missed_last_day,
                })
            })
            .collect();
        return Ok(serde_json::Value::from(list).to_string());
    }
    let mut table = vec![
        [
            "NAME",
            "SPEC",
            "TZ",
            "TIMEOUT",
            "NEXT (UTC)",
            "STATE",
            "LAST",
            "MISSED 24H",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for job in &jobs {
        let summary = &job.summary;
        table.push(vec![
            clean(&summary.name),
            clean(&summary.spec),
            clean(&summary.tz),
            cronlock_spec::format_duration(summary.timeout),
            job.next
                .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
            clean(&match backfill_of(&summary.name) {
                Some(b) => format!("{}, backfill {}/{}", state(job), b.done, b.total),
                None => state(job),
            }),
            job.last_run.as_ref().map_or_else(
                || "-".into(),
                |l| format!("{} at {}", l.outcome.label(), l.tick.format("%H:%M:%S")),
            ),
            match job.missed_last_day {
                Some(count) if count >= cronlock::lock::NOT_RUN_KEPT as u64 => format!("{count}+"),
                Some(count) => count.to_string(),
                None => "-".into(),
            },
        ]);
    }
    Ok(render(&table))
}

async fn history(fleet: &Fleet, job: &str, json: bool) -> Result<String, Failure> {
    let runs: Vec<HistoryEntry> = fleet.history(job).await?;
    if json {
        let list: Vec<_> = runs
            .iter()
            .map(|run| {
                json!({
                    "tick": run.tick.to_rfc3339(), "started": run.started.to_rfc3339(),
                    "instance": run.instance, "duration_ms": run.duration.as_millis() as u64,
                    "outcome": run.outcome.label(), "error": run.outcome.message(),
                })
            })
            .collect();
        return Ok(serde_json::Value::from(list).to_string());
    }
    let mut table = vec![
        [
            "TICK (UTC)",
            "STARTED",
            "INSTANCE",
            "DURATION",
            "OUTCOME",
            "ERROR",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for run in runs {
        table.push(vec![
            run.tick.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            run.started.format("%H:%M:%S%.3f").to_string(),
            clean(&run.instance),
            format!("{} ms", run.duration.as_millis()),
            run.outcome.label().to_owned(),
            clean(run.outcome.message().unwrap_or_default()),
        ]);
    }
    Ok(render(&table))
}

fn next(spec: &str, tz: Option<&str>, count: usize, json: bool) -> Result<String, Failure> {
    if count > MAX_NEXT {
        return Err(Failure::usage(format!(
            "-n {count} is more than {MAX_NEXT} fire times"
        )));
    }
    let invalid = |err: SpecError| Failure::usage(err.report());
    let mut schedule = Schedule::parse(spec).map_err(invalid)?;
    if let Some(tz) = tz {
        schedule = schedule.with_timezone(cronlock_spec::parse_time_zone(tz).map_err(invalid)?);
    }
    let english = schedule.describe();
    let zone = schedule.timezone();
    let times: Vec<_> = schedule.upcoming(Utc::now()).take(count).collect();
    if json {
        let list: Vec<String> = times.iter().map(|t| t.to_rfc3339()).collect();
        return Ok(
            json!({ "spec": spec, "tz": zone.name(), "english": english, "next": list })
                .to_string(),
        );
    }
    let mut out = format!("{spec}\n{english} ({})\n", zone.name());
    for time in times {
        out.push_str(&format!(
            "  {}  ({} UTC)\n",
            time.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S %Z"),
            time.format("%H:%M:%S")
        ));
    }
    Ok(out.trim_end().to_owned())
}

/// Left-aligned columns, two spaces apart.
fn render(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(c, cell)| format!("{cell:<width$}", width = widths[c]))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}
