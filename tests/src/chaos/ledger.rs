//! The ledgers services write (one line per run start and end) and how the
//! checkers read them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable that tells a service which ledger file to append to.
pub const LEDGER_ENV: &str = "CHAOS_LEDGER";

/// Real Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Sends signal `name` (`TERM`, `STOP`, …) to process `pid`.
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status();
}

/// Opens the ledger named by [`LEDGER_ENV`] for appending, as both services do.
///
/// # Panics
///
/// When the variable is missing or the file cannot be opened: the service is
/// useless to the checker without it.
pub fn open_ledger() -> std::fs::File {
    let path = std::env::var(LEDGER_ENV).unwrap_or_else(|_| panic!("{LEDGER_ENV} is set"));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("ledger opens")
}

/// One ledger line, as `chaos_service` and `load_service` write them and
/// [`read_ledgers`] reads them: `EVENT JOB TICK_MS PID TOKEN WALL_MS DETAIL`.
pub fn ledger_line(event: &str, ctx: &cronlock::JobContext, detail: &str) -> String {
    format!(
        "{event} {} {} {} {} {} {detail}\n",
        ctx.job_name(),
        ctx.tick().timestamp_millis(),
        std::process::id(),
        ctx.fencing_token(),
        now_ms()
    )
}

/// One run as the ledgers tell it.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) tick: i64,
    pub(crate) pid: u32,
    pub(crate) token: u64,
    pub(crate) start: i64,
    pub(crate) end: Option<i64>,
}

/// Every run in the ledgers in `dir` whose file name starts with `prefix`,
/// by (job, tick).
pub(crate) fn read_ledgers(dir: &Path, prefix: &str) -> BTreeMap<(String, i64), Vec<Run>> {
    let mut runs: BTreeMap<(String, i64), Vec<Run>> = BTreeMap::new();
    let mut ends: BTreeMap<(String, i64, u32), i64> = BTreeMap::new();
    let entries = std::fs::read_dir(dir).expect("chaos dir");
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(prefix) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            let [event, job, tick, pid, token, real, ..] = fields[..] else {
                continue;
            };
            let (Ok(tick), Ok(pid), Ok(token), Ok(real)) = (
                tick.parse::<i64>(),
                pid.parse::<u32>(),
                token.parse::<u64>(),
                real.parse::<i64>(),
            ) else {
                continue;
            };
            match event {
                "start" => runs.entry((job.to_owned(), tick)).or_default().push(Run {
                    tick,
                    pid,
                    token,
                    start: real,
                    end: None,
                }),
                "end" => {
                    ends.insert((job.to_owned(), tick, pid), real);
                }
                _ => {}
            }
        }
    }
    for ((job, tick), list) in &mut runs {
        for run in list {
            run.end = ends.get(&(job.clone(), *tick, run.pid)).copied();
        }
    }
    runs
}
