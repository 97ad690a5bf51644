//! The chaos suite: `cargo run --release -p cronlock-tests --bin chaos -- [short|long]`.
//!
//! Starts one redis-server behind a fault-injecting proxy, five
//! `chaos_service` processes (clocks −1.5 s to +1.5 s, two of them with
//! other timeouts and skew margin) and two of a second service sharing the
//! Redis under its own prefix, injects every kind of fault in rotation, and
//! checks every tick of every job. Runs two phases: Redis with AOF
//! persistence (every fault), then without (the faults persistence changes).
//! `short` takes about four minutes (CI runs it as a test); `long` thirty.
//! Exits 1 on any violation.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cronlock_tests::chaos::{Config, FaultKind, run};
use cronlock_tests::load::{LoadConfig, load};

fn main() -> ExitCode {
    let mode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "short".to_owned());
    if mode == "load" {
        return load_mode();
    }
    let (phase, fault_every) = match mode.as_str() {
        "short" => (Duration::from_secs(130), Duration::from_secs(5)),
        "long" => (Duration::from_secs(15 * 60), Duration::from_secs(10)),
        other => {
            eprintln!("usage: chaos [short|long|load [SECONDS]], not {other:?}");
            return ExitCode::from(2);
        }
    };
    let Some(service) = sibling("chaos_service") else {
        return ExitCode::from(2);
    };
    let root = std::env::temp_dir().join(format!("cronlock-chaos-{}", std::process::id()));
    let mut failed = false;
    for persistence in [true, false] {
        let (duration, kinds) = if persistence || mode == "long" {
            (phase, FaultKind::ALL.to_vec())
        } else {
            (
                phase.min(Duration::from_secs(55)),
                FaultKind::PERSISTENCE.to_vec(),
            )
        };
        let config = Config {
            service: service.clone(),
            dir: root.join(if persistence { "aof" } else { "no-persistence" }),
            duration,
            fault_every,
            persistence,
            kinds,
        };
        let report = run(&config);
        print!("{}", report.summary(&config));
        failed |= !report.violations.is_empty();
    }
    println!("ledgers and logs: {}", PathBuf::from(&root).display());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A binary built next to this one.
fn sibling(name: &str) -> Option<PathBuf> {
    let path = std::env::current_exe().ok()?.parent()?.join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "{name} not found next to this binary: build it with cargo build --release -p cronlock-tests --bins"
        );
        None
    }
}

/// 10,000 jobs, 1,000 firing every second, three processes, one Redis.
fn load_mode() -> ExitCode {
    let seconds: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let Some(service) = sibling("load_service") else {
        return ExitCode::from(2);
    };
    let dir = std::env::temp_dir().join(format!("cronlock-load-{}", std::process::id()));
    let report = load(&LoadConfig {
        service,
        dir: dir.clone(),
        duration: std::time::Duration::from_secs(seconds),
    });
    println!(
        "{seconds} s, 3 processes x 10,000 jobs (1,000 every second): {} ticks checked, {} missed, {} doubled; start delay after the tick median {} ms, worst {} ms; RSS KiB (after start-up, at the end) per process {:?}",
        report.ticks_checked,
        report.missed,
        report.doubled,
        report.lateness_ms.0,
        report.lateness_ms.1,
        report.rss_kib
    );
    println!("ledgers and logs: {}", dir.display());
    if report.missed == 0 && report.doubled == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
