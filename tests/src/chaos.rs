//! The chaos driver: one `redis-server`, N service processes with skewed
//! clocks, faults on a schedule, and a check of every run afterwards.
//!
//! Faults, in rotation: SIGKILL of a process (restarted), SIGTERM (graceful,
//! restarted), `redis-server` killed and restarted, SIGSTOP of a process for
//! longer than the lock TTL, then SIGCONT.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::RedisServer;

/// The jobs of `chaos_service`: name, period (s), lock TTL (ms, = timeout),
/// and whether every tick must run (false for `long`, whose runs outlast
/// its period, so that overlap = skip drops most ticks by design).
const JOBS: [(&str, i64, i64, bool); 5] = [
    ("every_1s", 1, 5_000, true),
    ("every_2s", 2, 5_000, true),
    ("long", 1, 10_000, false),
    ("panicky", 1, 5_000, true),
    ("times_out", 3, 1_000, true),
];
/// Two runs starting closer than this may be logged out of claim order.
const START_ORDER_SLACK_MS: i64 = 200;
/// Instance clock offsets, in milliseconds.
const SKEWS_MS: [i64; 5] = [-1_500, -750, 0, 750, 1_500];
/// Longest lock TTL of the service's jobs (`long`: 10 s).
const MAX_LOCK_TTL_MS: i64 = 10_000;

/// One run of the driver.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `chaos_service` binary.
    pub service: PathBuf,
    /// Where ledgers and logs go.
    pub dir: PathBuf,
    /// How long faults are injected.
    pub duration: Duration,
    /// Time between faults.
    pub fault_every: Duration,
    /// Redis with AOF (`appendfsync always`) or without any persistence.
    pub persistence: bool,
}

/// What happened and what the check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u32>,
    /// Ticks checked (job, tick) pairs.
    pub ticks_checked: u64,
    /// Runs started, over all jobs.
    pub runs: u64,
    /// Ticks that did not run, with the reason the rules allow it.
    pub excused: BTreeMap<&'static str, u64>,
    /// Breaches of the guarantee: each is a failure.
    pub violations: Vec<String>,
    /// Runs that finished after a newer run of their job had started (the
    /// paused owner's writes); a store checking fencing tokens rejects them.
    pub stale_writes: u64,
}

impl Report {
    /// A short text for people and for RELIABILITY.md.
    pub fn summary(&self, config: &Config) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} s, {} processes, Redis persistence {}: faults {:?}; {} ticks checked, {} runs; excused missing ticks {:?}; stale late writes {}; violations: {}",
            config.duration.as_secs(),
            SKEWS_MS.len(),
            if config.persistence { "AOF" } else { "off" },
            self.faults,
            self.ticks_checked,
            self.runs,
            self.excused,
            self.stale_writes,
            self.violations.len()
        );
        for violation in self.violations.iter().take(20) {
            let _ = writeln!(out, "  violation: {violation}");
        }
        out
    }
}

/// A fault and when it happened (real Unix ms).
#[derive(Debug, Clone)]
enum Fault {
    Killed { at: i64 },
    RedisDown { from: i64, to: i64 },
    Paused { pid: u32, from: i64 },
}

struct Instance {
    slot: usize,
    generation: u32,
    child: Child,
}

pub(crate) fn now_ms() -> i64 {
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

impl Instance {
    fn start(config: &Config, redis_url: &str, slot: usize, generation: u32) -> Instance {
        let log =
            std::fs::File::create(config.dir.join(format!("service-{slot}-{generation}.log")))
                .expect("log file");
        let child = Command::new(&config.service)
            .env("REDIS_URL", redis_url)
            .env(
                LEDGER_ENV,
                config.dir.join(format!("ledger-{slot}-{generation}.txt")),
            )
            .env("CHAOS_SKEW_MS", SKEWS_MS[slot].to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("chaos_service starts");
        Instance {
            slot,
            generation,
            child,
        }
    }

    /// Waits for the process to exit, for at most `limit`.
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// Runs the scenario and checks the ledgers.
///
/// # Panics
///
/// When a process or Redis cannot be started: the harness cannot go on.
pub fn run(config: &Config) -> Report {
    std::fs::create_dir_all(&config.dir).expect("chaos dir");
    let args: &[&str] = if config.persistence {
        &[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
        ]
    } else {
        &["--save", "", "--appendonly", "no"]
    };
    let mut redis = RedisServer::start_with(args);
    let url = redis.url();
    let mut report = Report::default();
    let mut faults = Vec::new();
    let mut unexpected = Vec::new();
    let mut instances: Vec<Instance> = (0..SKEWS_MS.len())
        .map(|slot| Instance::start(config, &url, slot, 0))
        .collect();
    let started = now_ms();
    // Let every instance connect and run a few ticks before the first fault.
    std::thread::sleep(Duration::from_secs(3));

    let end = Instant::now() + config.duration;
    let mut round = 0usize;
    while Instant::now() + config.fault_every < end {
        std::thread::sleep(config.fault_every);
        let victim = round % instances.len();
        // Any instance that died on its own is a violation; restart it.
        for instance in &mut instances {
            if let Ok(Some(status)) = instance.child.try_wait() {
                unexpected.push(format!(
                    "instance {} exited by itself with {status}",
                    instance.slot
                ));
                *instance = Instance::start(config, &url, instance.slot, instance.generation + 1);
            }
        }
        match round % 4 {
            0 => {
                let instance = &mut instances[victim];
                let _ = instance.child.kill();
                let _ = instance.child.wait();
                faults.push(Fault::Killed { at: now_ms() });
                *report.faults.entry("SIGKILL + restart").or_default() += 1;
                std::thread::sleep(Duration::from_millis(500));
                *instance = Instance::start(config, &url, instance.slot, instance.generation + 1);
            }
            1 => {
                let instance = &mut instances[victim];
                signal(instance.child.id(), "TERM");
                match instance.wait(Duration::from_secs(20)) {
                    Some(status) if status.success() => {}
                    other => unexpected.push(format!(
                        "instance {} after SIGTERM: {other:?}",
                        instance.slot
                    )),
                }
                *report.faults.entry("SIGTERM + restart").or_default() += 1;
                *instance = Instance::start(config, &url, instance.slot, instance.generation + 1);
            }
            2 => {
                let from = now_ms();
                redis.kill();
                std::thread::sleep(Duration::from_secs(3));
                redis.restart();
                faults.push(Fault::RedisDown { from, to: now_ms() });
                *report
                    .faults
                    .entry("redis-server SIGKILL + restart")
                    .or_default() += 1;
            }
            _ => {
                let pid = instances[victim].child.id();
                let from = now_ms();
                signal(pid, "STOP");
                std::thread::sleep(Duration::from_millis(MAX_LOCK_TTL_MS as u64 + 2_000));
                signal(pid, "CONT");
                faults.push(Fault::Paused { pid, from });
                *report
                    .faults
                    .entry("SIGSTOP > lock TTL + SIGCONT")
                    .or_default() += 1;
            }
        }
        round += 1;
    }
    std::thread::sleep(Duration::from_secs(3));
    let stopped = now_ms();
    for instance in &mut instances {
        signal(instance.child.id(), "TERM");
    }
    for instance in &mut instances {
        match instance.wait(Duration::from_secs(30)) {
            Some(status) if status.success() => {}
            other => unexpected.push(format!("instance {} at the end: {other:?}", instance.slot)),
        }
    }
    drop(redis);
    report.violations.extend(unexpected);
    check(
        &config.dir,
        started,
        stopped,
        &faults,
        config.persistence,
        &mut report,
    );
    report
}

/// The environment variable that tells a service which ledger file to append to.
pub const LEDGER_ENV: &str = "CHAOS_LEDGER";

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
    tick: i64,
    pid: u32,
    token: u64,
    pub(crate) start: i64,
    end: Option<i64>,
}

pub(crate) fn read_ledgers(dir: &Path) -> BTreeMap<(String, i64), Vec<Run>> {
    let mut runs: BTreeMap<(String, i64), Vec<Run>> = BTreeMap::new();
    let mut ends: BTreeMap<(String, i64, u32), i64> = BTreeMap::new();
    let entries = std::fs::read_dir(dir).expect("chaos dir");
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("ledger-") {
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

fn check(
    dir: &Path,
    started: i64,
    stopped: i64,
    faults: &[Fault],
    persistence: bool,
    report: &mut Report,
) {
    let runs = read_ledgers(dir);
    report.runs = runs.values().map(|list| list.len() as u64).sum();
    // Warm-up and cool-down: ticks the fleet was surely up for.
    let first = (started / 1000 + 5) * 1000;
    let last = (stopped / 1000 - 5) * 1000;
    let paused_pids: BTreeSet<u32> = faults
        .iter()
        .filter_map(|f| {
            if let Fault::Paused { pid, .. } = f {
                Some(*pid)
            } else {
                None
            }
        })
        .collect();

    for (job, period, ttl_ms, every_tick) in JOBS {
        let mut tick = first - first.rem_euclid(period * 1000) + period * 1000;
        while tick <= last {
            report.ticks_checked += 1;
            let count = runs.get(&(job.to_owned(), tick)).map_or(0, Vec::len);
            if count > 1 {
                if !persistence && near_outage(tick, faults) {
                    *report
                        .excused
                        .entry("ran twice: Redis restarted without persistence")
                        .or_default() += 1;
                } else {
                    report.violations.push(format!(
                        "{job} tick {tick} ran {count} times: {:?}",
                        runs[&(job.to_owned(), tick)]
                    ));
                }
            } else if count == 0 && every_tick {
                match excuse(tick, ttl_ms, faults) {
                    Some(reason) => *report.excused.entry(reason).or_default() += 1,
                    None => report
                        .violations
                        .push(format!("{job} tick {tick} never ran")),
                }
            }
            tick += period * 1000;
        }

        // Runs in start order: tokens grow, and runs never overlap, except a
        // paused process's run, whose late end is a stale write.
        let mut ordered: Vec<&Run> = runs
            .iter()
            .filter(|((j, _), _)| j == job)
            .flat_map(|(_, list)| list)
            .collect();
        ordered.sort_by_key(|run| run.start);
        let mut busy_until: Option<(i64, u32)> = None;
        let mut earlier = 0usize;
        let mut newest_earlier_token = 0u64;
        for (index, run) in ordered.iter().enumerate() {
            // The newest token among runs that started clearly before this one.
            while earlier < index && ordered[earlier].start < run.start - START_ORDER_SLACK_MS {
                newest_earlier_token = newest_earlier_token.max(ordered[earlier].token);
                earlier += 1;
            }
            if run.token <= newest_earlier_token && !paused_pids.contains(&run.pid) {
                if !persistence && near_outage(run.tick, faults) {
                    *report
                        .excused
                        .entry("fencing token repeated: Redis restarted without persistence")
                        .or_default() += 1;
                } else {
                    report.violations.push(format!(
                        "{job}: fencing token {} after {newest_earlier_token} (run {run:?})",
                        run.token
                    ));
                }
            }
            if let Some((until, pid)) = busy_until {
                if run.start < until && !paused_pids.contains(&pid) {
                    report.violations.push(format!(
                        "{job}: run {run:?} started while pid {pid}'s run went on until {until}"
                    ));
                } else if run.start < until {
                    report.stale_writes += 1;
                }
            }
            if let Some(end) = run.end {
                busy_until = Some(busy_until.map_or((end, run.pid), |(until, pid)| {
                    if end > until {
                        (end, run.pid)
                    } else {
                        (until, pid)
                    }
                }));
            }
        }
    }
}

/// Whether `tick` is close enough to a Redis restart that a Redis without
/// persistence may have forgotten its claim.
fn near_outage(tick: i64, faults: &[Fault]) -> bool {
    faults.iter().any(|f| {
        matches!(f, Fault::RedisDown { from, to } if tick >= from - 3_000 && tick <= to + 3_000)
    })
}

/// Why a tick may be missing, or `None` when nothing excuses it.
fn excuse(tick: i64, ttl_ms: i64, faults: &[Fault]) -> Option<&'static str> {
    for fault in faults {
        match *fault {
            // Claims fail while Redis is down, and for a connection timeout after.
            Fault::RedisDown { from, to } if tick >= from - 1_000 && tick <= to + 2_000 => {
                return Some("Redis down (fail closed)");
            }
            // The owner was killed between claim and start, or its run lock
            // blocks skip-overlap ticks until it expires.
            Fault::Killed { at } if tick >= at - 2_000 && tick <= at + ttl_ms + 1_000 => {
                return Some("owner SIGKILLed (claimed, or its run lock not yet expired)");
            }
            Fault::Paused { from, .. } if tick >= from - 2_000 && tick <= from + ttl_ms + 1_000 => {
                return Some("run lock held by a paused process");
            }
            _ => {}
        }
    }
    None
}
