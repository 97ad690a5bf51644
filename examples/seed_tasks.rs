//! The three jobs of the Go service cronlock replaces:
//! `cargo run --example seed_tasks`.
//!
//! - `example` every minute,
//! - `cleanup` daily at 02:00: the temporary cache, old logs, temporary files,
//! - `stats` hourly: counts and a report line.
//!
//! The files live under the system temp dir in `cronlock-seed/`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use cronlock::{JobContext, Scheduler, State, scheduled};

/// Counters the jobs share (injected as `State<Stats>`).
#[derive(Default)]
struct Stats {
    example_runs: AtomicU64,
    files_removed: AtomicU64,
}

/// Where the cleanup job works.
struct Dirs {
    cache: PathBuf,
    logs: PathBuf,
    tmp: PathBuf,
}

#[scheduled(cron = "0 * * * * *", timeout = "30s")]
async fn example(ctx: JobContext, stats: State<Stats>) {
    let runs = stats.example_runs.fetch_add(1, Ordering::Relaxed) + 1;
    tracing::info!(tick = %ctx.tick(), runs, "example task ran");
}

#[scheduled(cron = "0 0 2 * * *", timeout = "10m")]
async fn cleanup(dirs: State<Dirs>, stats: State<Stats>) -> std::io::Result<()> {
    let week = Duration::from_secs(7 * 24 * 3600);
    let cache = remove_older_than(&dirs.cache, Duration::ZERO)?;
    let logs = remove_older_than(&dirs.logs, week)?;
    let tmp = remove_older_than(&dirs.tmp, Duration::from_secs(24 * 3600))?;
    stats
        .files_removed
        .fetch_add(cache + logs + tmp, Ordering::Relaxed);
    tracing::info!(cache, logs, tmp, "cleanup done");
    Ok(())
}

#[scheduled(cron = "0 0 * * * *", timeout = "1m")]
async fn stats(stats: State<Stats>) {
    tracing::info!(
        example_runs = stats.example_runs.load(Ordering::Relaxed),
        files_removed = stats.files_removed.load(Ordering::Relaxed),
        "hourly report"
    );
}

/// Removes files in `dir` last modified more than `age` ago; returns how many.
fn remove_older_than(dir: &Path, age: Duration) -> std::io::Result<u64> {
    let mut removed = 0;
    let now = SystemTime::now();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let modified = entry.metadata()?.modified()?;
        if entry.file_type()?.is_file() && now.duration_since(modified).unwrap_or_default() >= age {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    cronlock::init_tracing();
    let root = std::env::temp_dir().join("cronlock-seed");
    let dirs = Dirs {
        cache: root.join("cache"),
        logs: root.join("logs"),
        tmp: root.join("tmp"),
    };
    for dir in [&dirs.cache, &dirs.logs, &dirs.tmp] {
        std::fs::create_dir_all(dir)?;
    }
    let scheduler = Scheduler::builder()
        .state(Stats::default())
        .state(dirs)
        .backend_from_env()
        .build()
        .await?;
    for job in scheduler.list_jobs() {
        println!("{:<8} {:<14} next {:?}", job.name, job.spec, job.next_fire);
    }
    scheduler.run().await?;
    Ok(())
}
