//! The chaos suite: `cargo run --release -p cronlock-tests --bin chaos -- [short|long]`.
//!
//! Starts one redis-server and five `chaos_service` processes (clocks −1.5 s
//! to +1.5 s), injects faults, and checks every tick of every job. Runs two
//! phases, Redis with AOF persistence then without. `short` takes about two
//! and a half minutes (CI runs it as a test); `long` thirty. Exits 1 on any
//! violation.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cronlock_tests::chaos::{Config, run};

fn main() -> ExitCode {
    let mode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "short".to_owned());
    let (phase, fault_every) = match mode.as_str() {
        "short" => (Duration::from_secs(55), Duration::from_secs(8)),
        "long" => (Duration::from_secs(15 * 60), Duration::from_secs(10)),
        other => {
            eprintln!("usage: chaos [short|long], not {other:?}");
            return ExitCode::from(2);
        }
    };
    let service = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("chaos_service")))
        .filter(|path| path.exists());
    let Some(service) = service else {
        eprintln!(
            "chaos_service not found next to this binary: build it with cargo build -p cronlock-tests --bins"
        );
        return ExitCode::from(2);
    };
    let root = std::env::temp_dir().join(format!("cronlock-chaos-{}", std::process::id()));
    let mut failed = false;
    for persistence in [true, false] {
        let config = Config {
            service: service.clone(),
            dir: root.join(if persistence { "aof" } else { "no-persistence" }),
            duration: phase,
            fault_every,
            persistence,
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
