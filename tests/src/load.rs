//! The load test: three processes of `load_service` (10,000 jobs each,
//! 1,000 firing every second) against one Redis, every tick counted.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::RedisServer;
use crate::chaos::{now_ms, read_ledgers, signal};

/// The load test: three processes of `load_service` (10,000 jobs each,
/// 1,000 firing every second) against one Redis.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The `load_service` binary.
    pub service: PathBuf,
    /// Where ledgers and logs go.
    pub dir: PathBuf,
    /// How long the load runs.
    pub duration: Duration,
}

/// What the load test measured.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// (job, tick) pairs checked.
    pub ticks_checked: u64,
    /// Ticks that never ran.
    pub missed: u64,
    /// Ticks that ran more than once.
    pub doubled: u64,
    /// Resident memory of each process (KiB) after start-up and at the end.
    pub rss_kib: Vec<(u64, u64)>,
    /// Median and worst start delay after the tick (ms), over all runs.
    pub lateness_ms: (i64, i64),
}

/// Resident set size of process `pid` in KiB (`VmRSS`), 0 when unreadable.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// Runs the load test and counts missed and doubled ticks.
///
/// # Panics
///
/// When a process or Redis cannot be started.
pub fn load(config: &LoadConfig) -> LoadReport {
    std::fs::create_dir_all(&config.dir).expect("load dir");
    let redis = RedisServer::start();
    let mut children: Vec<Child> = (0..3)
        .map(|slot| {
            let log = std::fs::File::create(config.dir.join(format!("service-{slot}.log")))
                .expect("log file");
            Command::new(&config.service)
                .env("REDIS_URL", redis.url())
                .env(
                    crate::chaos::LEDGER_ENV,
                    config.dir.join(format!("ledger-{slot}-0.txt")),
                )
                .env("RUST_LOG", "warn")
                .stdout(Stdio::from(log.try_clone().expect("log file")))
                .stderr(Stdio::from(log))
                .spawn()
                .expect("load_service starts")
        })
        .collect();
    std::thread::sleep(Duration::from_secs(10));
    let started = now_ms();
    let rss_start: Vec<u64> = children.iter().map(|c| rss_kib(c.id())).collect();
    std::thread::sleep(config.duration);
    let stopped = now_ms();
    let rss_end: Vec<u64> = children.iter().map(|c| rss_kib(c.id())).collect();
    for child in &children {
        signal(child.id(), "TERM");
    }
    for child in &mut children {
        let _ = child.wait();
    }
    let runs = read_ledgers(&config.dir, "ledger-");
    let mut report = LoadReport {
        rss_kib: rss_start.into_iter().zip(rss_end).collect(),
        ..LoadReport::default()
    };
    let first = (started / 1000 + 1) * 1000;
    let last = (stopped / 1000 - 1) * 1000;
    let mut delays = Vec::new();
    for i in 0..1_000 {
        let job = format!("load-{i}");
        let mut tick = first;
        while tick <= last {
            report.ticks_checked += 1;
            match runs.get(&(job.clone(), tick)).map_or(0, Vec::len) {
                0 => report.missed += 1,
                1 => delays.push(runs[&(job.clone(), tick)][0].start - tick),
                _ => report.doubled += 1,
            }
            tick += 1000;
        }
    }
    delays.sort_unstable();
    if let (Some(median), Some(worst)) = (delays.get(delays.len() / 2), delays.last()) {
        report.lateness_ms = (*median, *worst);
    }
    report
}
