//! `cronlock`: look at and operate the jobs of a fleet through its Redis,
//! and explain cron specs.
//!
//! ```text
//! cronlock list                      # jobs, next fire, paused, last outcome
//! cronlock history refresh_cache     # last runs, newest first
//! cronlock trigger refresh_cache     # one run now, somewhere in the fleet
//! cronlock pause refresh_cache       # fleet-wide, within a second
//! cronlock resume refresh_cache
//! cronlock next "0 */15 9-17 * * MON-FRI" --tz Europe/Berlin -n 5
//! ```
//!
//! Every command takes `--json`. Exit codes: 0 success, 1 Redis or another
//! runtime failure, 2 invalid arguments or spec, 3 unknown job.

use std::process::ExitCode;

use chrono::Utc;
use clap::{Parser, Subcommand};
use cronlock::lock::{Control, JobSummary, Lock, RedisLock, RedisLockConfig};
use cronlock::{Schedule, SpecError};
use serde_json::json;

#[derive(Debug, Parser)]
#[command(
    name = "cronlock",
    version,
    about = "Look at and operate the jobs of a cronlock fleet; explain cron specs",
    after_help = "Exit codes: 0 success, 1 Redis or other runtime failure, 2 invalid arguments or spec, 3 unknown job."
)]
struct Cli {
    /// Redis of the fleet, such as redis://127.0.0.1:6379
    #[arg(long, env = "REDIS_URL", global = true)]
    redis: Option<String>,
    /// Key prefix the fleet uses
    #[arg(long, default_value = "cronlock:", global = true)]
    prefix: String,
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
    /// Stops a job's ticks on every instance until `resume`
    Pause {
        /// Job name
        job: String,
    },
    /// Resumes a paused job
    Resume {
        /// Job name
        job: String,
    },
    /// The next fire times of a spec, and the spec in English
    Next {
        /// A cron spec, such as "0 */5 * * * *"
        spec: String,
        /// IANA zone to read the spec in (default UTC)
        #[arg(long)]
        tz: Option<String>,
        /// How many fire times
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
    fn runtime(message: impl ToString) -> Failure {
        Failure {
            code: 1,
            message: message.to_string(),
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
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli) -> Result<String, Failure> {
    if let Command::Next { spec, tz, count } = &cli.command {
        return next(spec, tz.as_deref(), *count, cli.json);
    }
    let Some(url) = &cli.redis else {
        return Err(Failure {
            code: 2,
            message: "no Redis: pass --redis URL or set REDIS_URL".into(),
        });
    };
    let lock =
        RedisLock::connect(RedisLockConfig::new(url.as_str()).key_prefix(cli.prefix.as_str()))
            .await
            .map_err(Failure::runtime)?;
    let control = lock
        .control()
        .ok_or_else(|| Failure::runtime("this lock has no control"))?;
    let jobs = control.published_jobs().await.map_err(Failure::runtime)?;
    let known = |job: &str| {
        if jobs.iter().any(|summary| summary.name == job) {
            Ok(())
        } else {
            Err(Failure {
                code: 3,
                message: format!("no job named `{job}` in this fleet (see `cronlock list`)"),
            })
        }
    };
    match &cli.command {
        Command::List => list(control, &jobs, cli.json).await,
        Command::History { job } => {
            known(job)?;
            history(control, job, cli.json).await
        }
        Command::Trigger { job } => {
            known(job)?;
            control.trigger(job).await.map_err(Failure::runtime)?;
            Ok(done(
                cli.json,
                "triggered",
                job,
                "runs once within a second, on one instance",
            ))
        }
        Command::Pause { job } => {
            known(job)?;
            control
                .set_paused(job, true)
                .await
                .map_err(Failure::runtime)?;
            Ok(done(
                cli.json,
                "paused",
                job,
                "every instance skips its ticks within a second",
            ))
        }
        Command::Resume { job } => {
            known(job)?;
            control
                .set_paused(job, false)
                .await
                .map_err(Failure::runtime)?;
            Ok(done(cli.json, "resumed", job, "its ticks run again"))
        }
        Command::Next { .. } => unreachable!("handled above"),
    }
}

fn done(json: bool, action: &str, job: &str, detail: &str) -> String {
    if json {
        json!({ "job": job, "action": action }).to_string()
    } else {
        format!("{job}: {action}; {detail}")
    }
}

fn schedule_of(summary: &JobSummary) -> Option<Schedule> {
    let tz = summary.tz.parse().ok()?;
    Some(Schedule::parse(&summary.spec).ok()?.with_timezone(tz))
}

async fn list(control: &dyn Control, jobs: &[JobSummary], json: bool) -> Result<String, Failure> {
    let paused = control.paused().await.map_err(Failure::runtime)?;
    let now = Utc::now();
    let mut rows = Vec::new();
    for job in jobs {
        let next = schedule_of(job).and_then(|schedule| schedule.next_after(now));
        let last = control
            .history(&job.name)
            .await
            .map_err(Failure::runtime)?
            .into_iter()
            .next();
        rows.push((job, next, paused.contains(&job.name), last));
    }
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(job, next, paused, last)| {
                json!({
                    "name": job.name, "spec": job.spec, "tz": job.tz,
                    "timeout_ms": job.timeout.as_millis() as u64, "enabled": job.enabled,
                    "next": next.map(|t| t.to_rfc3339()), "paused": paused,
                    "last_outcome": last.as_ref().map(|l| l.outcome.clone()),
                    "last_tick": last.as_ref().map(|l| l.tick.to_rfc3339()),
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
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (job, next, paused, last) in rows {
        let state = if paused {
            "paused"
        } else if job.enabled {
            "active"
        } else {
            "disabled"
        };
        table.push(vec![
            job.name.clone(),
            job.spec.clone(),
            job.tz.clone(),
            cronlock_spec::format_duration(job.timeout),
            next.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string()),
            state.into(),
            last.map_or_else(
                || "-".into(),
                |l| format!("{} at {}", l.outcome, l.tick.format("%H:%M:%S")),
            ),
        ]);
    }
    Ok(render(&table))
}

async fn history(control: &dyn Control, job: &str, json: bool) -> Result<String, Failure> {
    let runs = control.history(job).await.map_err(Failure::runtime)?;
    if json {
        let list: Vec<_> = runs
            .iter()
            .map(|run| {
                json!({
                    "tick": run.tick.to_rfc3339(), "started": run.started.to_rfc3339(),
                    "instance": run.instance, "duration_ms": run.duration.as_millis() as u64,
                    "outcome": run.outcome, "error": run.error,
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
            run.instance,
            format!("{} ms", run.duration.as_millis()),
            run.outcome,
            run.error.unwrap_or_default(),
        ]);
    }
    Ok(render(&table))
}

fn next(spec: &str, tz: Option<&str>, count: usize, json: bool) -> Result<String, Failure> {
    let invalid = |err: SpecError| Failure {
        code: 2,
        message: err.report(),
    };
    let mut schedule = Schedule::parse(spec).map_err(invalid)?;
    if let Some(tz) = tz {
        schedule = schedule.with_timezone(cronlock_spec::parse_time_zone(tz).map_err(invalid)?);
    }
    let english = match cronlock_spec::parse_spec(spec).map_err(invalid)?.body {
        cronlock_spec::SpecBody::Cron(fields) => fields.describe(),
        cronlock_spec::SpecBody::Every(interval) => {
            format!(
                "every {}, counted from the Unix epoch",
                cronlock_spec::format_duration(interval)
            )
        }
    };
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
