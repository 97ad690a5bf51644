//! The chaos suite: `cargo run --release -p cronlock-tests --bin chaos -- [short|long]`.
//!
//! Starts one redis-server behind a fault-injecting proxy, five
//! `chaos_service` processes (clocks −1.5 s to +1.5 s, two of them with
//! other timeouts and skew margin) and two of a second service sharing the
//! Redis under its own prefix, injects every kind of fault in rotation, and
//! checks every tick of every job. Runs two phases: Redis with AOF
//! persistence (every fault), then without (the faults persistence changes).
//! `short` takes about four minutes (CI runs it as a test); `long` thirty.
//! `chaos sentinel [short|long]` and `chaos cluster [short|long]` run the
//! same services against Redis Sentinel (primary failovers) and Redis
//! Cluster (failovers of a master, resharding), without and then with the
//! durability option. `chaos postgres [short|long]` runs them against one
//! PostgreSQL server (the Postgres lock, `DATABASE_URL`): crashes and
//! stalls of the server, directly and then through PgBouncer in
//! transaction mode (whose crashes are added). Exits 1 on any violation.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use cronlock_tests::chaos::{Config, FaultKind, Topology, run};
use cronlock_tests::load::{LoadConfig, load};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map_or("short", String::as_str);
    if mode == "load" {
        return load_mode();
    }
    let (deployment, length) = match mode {
        "sentinel" => (
            Topology::Sentinel,
            args.get(1).map_or("short", String::as_str),
        ),
        "cluster" => (
            Topology::Cluster,
            args.get(1).map_or("short", String::as_str),
        ),
        "postgres" => (
            Topology::Postgres,
            args.get(1).map_or("short", String::as_str),
        ),
        _ => (Topology::Single, mode),
    };
    let long = match length {
        "short" => false,
        "long" => true,
        other => {
            eprintln!(
                "usage: chaos [short|long] | chaos sentinel|cluster|postgres [short|long] | chaos load [SECONDS], not {other:?}"
            );
            return ExitCode::from(2);
        }
    };
    let Some(service) = sibling("chaos_service") else {
        return ExitCode::from(2);
    };
    let root = std::env::temp_dir().join(format!("cronlock-chaos-{}", std::process::id()));
    let mut failed = false;
    for config in phases(deployment, long, &service, &root) {
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

/// The phases of a run: for one server, with AOF (every fault) then
/// without persistence (the faults it changes); for Sentinel and Cluster,
/// without then with the durability option; for Postgres, directly then
/// through PgBouncer.
fn phases(
    deployment: Topology,
    long: bool,
    service: &std::path::Path,
    root: &std::path::Path,
) -> Vec<Config> {
    let config = |name: &str,
                  duration: u64,
                  fault_every: u64,
                  persistence: bool,
                  durable: bool,
                  kinds: &[FaultKind]| Config {
        service: service.to_path_buf(),
        dir: root.join(name),
        duration: Duration::from_secs(duration),
        fault_every: Duration::from_secs(fault_every),
        persistence,
        kinds: kinds.to_vec(),
        deployment,
        durable,
    };
    let phase = if long { 15 * 60 } else { 130 };
    match deployment {
        Topology::Single => vec![
            config(
                "aof",
                phase,
                if long { 10 } else { 5 },
                true,
                false,
                &FaultKind::ALL,
            ),
            if long {
                config("no-persistence", phase, 10, false, false, &FaultKind::ALL)
            } else {
                config(
                    "no-persistence",
                    55,
                    5,
                    false,
                    false,
                    &FaultKind::PERSISTENCE,
                )
            },
        ],
        Topology::Sentinel => vec![
            config("sentinel", phase, 15, false, false, &FaultKind::SENTINEL),
            config(
                "sentinel-durable",
                phase,
                15,
                false,
                true,
                &FaultKind::SENTINEL,
            ),
        ],
        Topology::Cluster => vec![
            config("cluster", phase, 15, false, false, &FaultKind::CLUSTER),
            config(
                "cluster-durable",
                phase,
                15,
                false,
                true,
                &FaultKind::CLUSTER,
            ),
        ],
        // Faults every 10 s: a short phase injects each kind at least once.
        Topology::Postgres | Topology::PgBouncer => vec![
            config("postgres", phase, 10, false, false, &FaultKind::POSTGRES),
            Config {
                deployment: Topology::PgBouncer,
                ..config(
                    "postgres-pgbouncer",
                    phase,
                    10,
                    false,
                    false,
                    &FaultKind::PGBOUNCER,
                )
            },
        ],
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
