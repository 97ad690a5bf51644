//! Measures cronlock next to tokio-cron-scheduler and a naive baseline.
//!
//! ```text
//! cargo run --release -p cronlock-benchmarks --bin peers -- all [--secs 60] [--idle-secs 30] [--out DIR]
//! cargo run --release -p cronlock-benchmarks --bin peers -- fire [--secs 60] [--repeat 3] [--fleet-only]
//! cargo run --release -p cronlock-benchmarks --bin peers -- idle [--idle-secs 30]
//! cargo run --release -p cronlock-benchmarks --bin peers -- curve [--secs 10] [--idle-secs 10]
//! ```
//!
//! `fire`: 1,000 jobs due every second for `--secs`, one process per
//! system, then cronlock with Redis in 3 processes, twice: every process
//! free to run on any core, and Redis pinned alone to the last core with
//! the workers on the others (`taskset`). Every start is recorded and
//! checked for missed and doubled fires. `--repeat N` runs N rounds, every
//! system once per round (so drift on the machine hits each alike), and
//! reports the median and the spread (min-max) over the rounds;
//! `--fleet-only` runs only the naive floor and the Redis rows. `idle`:
//! 10,000 jobs firing once a day; start-up time, resident memory and CPU
//! over `--idle-secs`. Markdown tables go to stdout, the lateness plot to
//! `DIR/lateness.svg`.
//!
//! `curve`: the cost curve — cronlock alone and with Redis (3 processes,
//! both placements) at 100 to 20,000 jobs due every second (lateness,
//! missed and doubled fires, CPU per fire, memory), and with 10,000 to
//! 1,000,000 registered jobs firing once a day (start-up, memory per job,
//! idle CPU); tables to stdout, plots to `DIR/curve-*.svg`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cronlock_benchmarks::fires::{FireReport, Recorder, parse_lines};
use cronlock_benchmarks::process::{cpu_ns, now_us, rss_kib};
use cronlock_benchmarks::systems::{Cadence, System};
use cronlock_benchmarks::{plot, systems};
use cronlock_tests::RedisServer;

const FIRE_JOBS: u32 = 1_000;
const IDLE_JOBS: u32 = 10_000;
const REDIS_PROCESSES: usize = 3;

struct Options {
    secs: i64,
    idle_secs: u64,
    out: PathBuf,
    /// Rounds of the lateness comparison, the systems interleaved in each.
    repeat: usize,
    /// `fire` runs only the naive floor and the Redis fleet rows.
    fleet_only: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("worker") => worker(&args[1..]),
        Some("deployments") => {
            let options = options(&args[1..]);
            print_machine();
            deployments(&options);
        }
        Some("curve") => {
            let options = options(&args[1..]);
            print_machine();
            curve(&options);
        }
        Some(mode @ ("all" | "fire" | "idle")) => {
            let options = options(&args[1..]);
            std::fs::create_dir_all(&options.out).expect("output directory");
            print_machine();
            if mode != "idle" {
                fire(&options);
            }
            if mode != "fire" {
                idle(&options);
            }
        }
        _ => {
            eprintln!(
                "usage: peers all|fire|idle|curve|deployments [--secs 60] [--idle-secs 30] [--repeat N] [--fleet-only] [--out DIR]"
            );
            std::process::exit(2);
        }
    }
}

fn options(args: &[String]) -> Options {
    let mut options = Options {
        secs: 60,
        idle_secs: 30,
        out: PathBuf::from("target/peers"),
        repeat: 1,
        fleet_only: false,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "--fleet-only" {
            options.fleet_only = true;
            continue;
        }
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--secs" => options.secs = value.parse().expect("--secs takes seconds"),
            "--idle-secs" => options.idle_secs = value.parse().expect("--idle-secs takes seconds"),
            "--out" => options.out = PathBuf::from(value),
            "--repeat" => {
                options.repeat = value
                    .parse::<usize>()
                    .expect("--repeat takes a count")
                    .max(1);
            }
            _ => panic!("unknown flag {flag}"),
        }
    }
    options
}

fn print_machine() {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    println!("machine: {cpus} CPUs, {memory}");
}

/// Where the processes of a run may execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Every process on every core, as the OS schedules them.
    Shared,
    /// Redis alone on the last core (as on a server of its own), the
    /// workers on the other cores: the schedulers cannot preempt Redis in
    /// the middle of a burst, nor Redis them.
    RedisOwnCore,
}

/// The cores this machine has.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

impl Placement {
    /// The cores the workers get (`taskset -c` list), if pinned.
    fn worker_cores(self) -> Option<String> {
        let cores = cores();
        match self {
            Placement::RedisOwnCore if cores >= 2 => Some(format!("0-{}", cores - 2)),
            _ => None,
        }
    }

    /// Pins the Redis server (every thread of it) to the last core.
    fn pin_redis(self, redis: &RedisServer) {
        let cores = cores();
        if self == Placement::RedisOwnCore && cores >= 2 {
            let status = Command::new("taskset")
                .args(["-a", "-p", "-c", &(cores - 1).to_string()])
                .arg(redis.pid().to_string())
                .stdout(Stdio::null())
                .status()
                .expect("taskset runs (util-linux)");
            assert!(status.success(), "taskset could not pin redis-server");
        }
    }

    fn label(self) -> &'static str {
        match self {
            Placement::Shared => "",
            Placement::RedisOwnCore => ", Redis on its own core",
        }
    }
}

/// Runs this binary as a worker for one system, on `cores` if given.
fn spawn_worker(
    args: &[String],
    redis_url: Option<&str>,
    cores: Option<&str>,
) -> std::process::Child {
    let exe = std::env::current_exe().expect("own path");
    let mut command = match cores {
        Some(cores) => {
            let mut taskset = Command::new("taskset");
            taskset.arg("-c").arg(cores).arg(exe);
            taskset
        }
        None => Command::new(exe),
    };
    command
        .arg("worker")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    match redis_url {
        // The worker's scheduler reads the backend from the environment.
        Some(url) if url.starts_with("postgres") => {
            command.env_remove("REDIS_URL").env("DATABASE_URL", url);
        }
        Some(url) => {
            command.env("REDIS_URL", url);
        }
        None => {}
    }
    command.spawn().expect("worker starts")
}

/// The systems the lateness comparison runs, with their process counts and placements.
const FIRE_SYSTEMS: [(System, usize, Placement); 5] = [
    (System::Naive, 1, Placement::Shared),
    (System::Cronlock, 1, Placement::Shared),
    (System::TokioCronScheduler, 1, Placement::Shared),
    (System::CronlockRedis, REDIS_PROCESSES, Placement::Shared),
    (
        System::CronlockRedis,
        REDIS_PROCESSES,
        Placement::RedisOwnCore,
    ),
];

/// One run of one system: its label and what its fires add up to.
fn fire_once(
    system: System,
    processes: usize,
    placement: Placement,
    secs: i64,
) -> (String, FireReport) {
    let (report, _, _) = curve_point(system, processes, placement, FIRE_JOBS, secs);
    let label = curve_label(system, processes, placement);
    eprintln!(
        "{label}: {} fires, p50 {} µs, p99 {} µs",
        report.late_us.len(),
        report.quantile_us(0.5),
        report.quantile_us(0.99)
    );
    (label, report)
}

fn fire(options: &Options) {
    // rounds[round][system]
    let mut rounds: Vec<Vec<(String, FireReport)>> = Vec::new();
    for round in 0..options.repeat {
        if options.repeat > 1 {
            eprintln!("round {} of {}", round + 1, options.repeat);
        }
        rounds.push(
            FIRE_SYSTEMS
                .iter()
                .filter(|(system, processes, _)| {
                    !options.fleet_only || *processes > 1 || *system == System::Naive
                })
                .map(|&(system, processes, placement)| {
                    fire_once(system, processes, placement, options.secs)
                })
                .collect(),
        );
    }
    if options.repeat > 1 {
        print_spread(&rounds, options.secs);
    }
    let rows = rounds.pop().expect("at least one round");
    let floor_p99 = rows[0].1.quantile_us(0.99).max(1);
    println!(
        "\n### Lateness: {FIRE_JOBS} jobs due every second, {} s{}\n",
        options.secs,
        if options.repeat > 1 {
            " (the last round)"
        } else {
            ""
        }
    );
    println!(
        "| system | fires checked | missed | duplicated | p50 | p99 | max | p99 / naive p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, report) in &rows {
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} | {:.2} |",
            report.expected,
            report.missed,
            report.duplicated,
            format_us(report.quantile_us(0.5)),
            format_us(report.quantile_us(0.99)),
            format_us(report.quantile_us(1.0)),
            report.quantile_us(0.99) as f64 / floor_p99 as f64
        );
    }
    let series: Vec<(String, Vec<i64>)> = rows
        .into_iter()
        .map(|(label, report)| {
            let label = if report.missed > 0 {
                format!(
                    "{label}: {:.1} % of fires missed",
                    report.missed as f64 * 100.0 / report.expected as f64
                )
            } else {
                label
            };
            (label, report.late_us)
        })
        .collect();
    let svg = plot::lateness_cdf(
        &format!(
            "Share of fires started within a lateness ({FIRE_JOBS} jobs/s, {} s)",
            options.secs
        ),
        &series,
    );
    let path = options.out.join("lateness.svg");
    std::fs::write(&path, svg).expect("write plot");
    println!("\nplot: {}", path.display());
}

/// Median and spread over the rounds: p50, p99 and p99 / naive p99 (each
/// round against its own naive run), missed and duplicated summed.
fn print_spread(rounds: &[Vec<(String, FireReport)>], secs: i64) {
    println!(
        "\n### Lateness over {} rounds: {FIRE_JOBS} jobs due every second, {secs} s each; median (min-max)\n",
        rounds.len()
    );
    println!("| system | fires checked | missed | duplicated | p50 | p99 | p99 / naive p99 |");
    println!("|---|---|---|---|---|---|---|");
    for (index, (label, _)) in rounds[0].iter().enumerate() {
        let reports: Vec<&FireReport> = rounds.iter().map(|round| &round[index].1).collect();
        let p50: Vec<f64> = reports.iter().map(|r| r.quantile_us(0.5) as f64).collect();
        let p99: Vec<f64> = reports.iter().map(|r| r.quantile_us(0.99) as f64).collect();
        let ratio: Vec<f64> = rounds
            .iter()
            .map(|round| {
                round[index].1.quantile_us(0.99) as f64 / round[0].1.quantile_us(0.99).max(1) as f64
            })
            .collect();
        let micros = |values: &[f64]| {
            let (median, low, high) = spread(values);
            format!(
                "{} ({}-{})",
                format_us(median as i64),
                format_us(low as i64),
                format_us(high as i64)
            )
        };
        let (ratio_median, ratio_low, ratio_high) = spread(&ratio);
        println!(
            "| {label} | {} | {} | {} | {} | {} | {ratio_median:.2} ({ratio_low:.2}-{ratio_high:.2}) |",
            reports.iter().map(|r| r.expected).sum::<u64>(),
            reports.iter().map(|r| r.missed).sum::<u64>(),
            reports.iter().map(|r| r.duplicated).sum::<u64>(),
            micros(&p50),
            micros(&p99),
        );
    }
}

/// Median, minimum and maximum.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    let median = if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    };
    (
        median,
        sorted.first().copied().unwrap_or(0.0),
        sorted.last().copied().unwrap_or(0.0),
    )
}

/// Fires of `processes` cronlock workers on the Redis at `url`, for `secs`.
fn fleet_fires(url: &str, processes: usize, secs: i64) -> FireReport {
    run_fires(
        System::CronlockRedis,
        processes,
        FIRE_JOBS,
        secs,
        Some(url),
        None,
    )
    .0
}

/// Claim cost and fleet lateness on a standalone Redis, Sentinel and
/// Cluster, with and without durability, in one run.
fn deployments(options: &Options) {
    use cronlock_benchmarks::deployments::{Kind, Setup, VARIANTS, claim_cost};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "\n### Deployments: one claim, and {FIRE_JOBS} jobs due every second in {REDIS_PROCESSES} processes for {} s\n",
        options.secs
    );
    println!(
        "| deployment | claim p50 | claim p99 | raw lock p50 | claim / raw (p50) | fleet p50 | fleet p99 | missed | duplicated |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let kinds = [
        Kind::Standalone,
        Kind::Sentinel,
        Kind::Cluster,
        Kind::Postgres,
        Kind::PgBouncer,
    ];
    let only: Option<Vec<String>> = std::env::var("DEPLOYMENTS")
        .ok()
        .map(|list| list.split(',').map(str::to_owned).collect());
    for kind in kinds {
        if only.as_ref().is_some_and(|only| {
            !only
                .iter()
                .any(|name| format!("{kind:?}").eq_ignore_ascii_case(name))
        }) {
            continue;
        }
        let setup = Setup::start(kind);
        for variant in VARIANTS.iter().filter(|variant| variant.kind == kind) {
            let cost = runtime.block_on(claim_cost(&setup, variant.durable, 2_000));
            let report = fleet_fires(&setup.url(variant.durable), REDIS_PROCESSES, options.secs);
            eprintln!(
                "{}: claim {:?}, fleet p99 {} µs",
                variant.name,
                cost,
                report.quantile_us(0.99)
            );
            println!(
                "| {} | {} µs | {} µs | {} µs | {:.2} | {} | {} | {} | {} |",
                variant.name,
                cost.claim_us.0,
                cost.claim_us.1,
                cost.raw_us.0,
                cost.claim_us.0 as f64 / cost.raw_us.0.max(1) as f64,
                format_us(report.quantile_us(0.5)),
                format_us(report.quantile_us(0.99)),
                report.missed,
                report.duplicated
            );
        }
    }
}

/// Loads of the cost curve, in jobs due every second.
const CURVE_LOADS: [u32; 5] = [100, 1_000, 5_000, 10_000, 20_000];

/// Registered-job counts of the cost curve (jobs firing once a day).
const CURVE_REGISTERED: [u32; 3] = [10_000, 100_000, 1_000_000];

/// The systems of the cost curve, with their process counts and placements.
const CURVE_SYSTEMS: [(System, usize, Placement); 3] = [
    (System::Cronlock, 1, Placement::Shared),
    (System::CronlockRedis, REDIS_PROCESSES, Placement::Shared),
    (
        System::CronlockRedis,
        REDIS_PROCESSES,
        Placement::RedisOwnCore,
    ),
];

/// One point of the cost curve: `jobs` due every second for `secs` on
/// `system` in `processes` processes. Returns the fires, the CPU time of
/// all processes (ns) and the largest resident set (KiB).
fn curve_point(
    system: System,
    processes: usize,
    placement: Placement,
    jobs: u32,
    secs: i64,
) -> (FireReport, u64, u64) {
    let redis = (system == System::CronlockRedis).then(RedisServer::start);
    if let Some(redis) = &redis {
        placement.pin_redis(redis);
    }
    let url = redis.as_ref().map(RedisServer::url);
    let cores = redis.as_ref().and_then(|_| placement.worker_cores());
    run_fires(
        system,
        processes,
        jobs,
        secs,
        url.as_deref(),
        cores.as_deref(),
    )
}

/// `jobs` due every second for `secs` on `system` in `processes` worker
/// processes, on the backend at `url` if any: the fires, the CPU time of
/// all processes (ns) and the largest resident set (KiB).
fn run_fires(
    system: System,
    processes: usize,
    jobs: u32,
    secs: i64,
    url: Option<&str>,
    cores: Option<&str>,
) -> (FireReport, u64, u64) {
    // Whole seconds, far enough ahead for every worker to be running.
    let from_ms = (now_us() / 1_000_000 + 5) * 1_000;
    let to_ms = from_ms + (secs - 1) * 1_000;
    let args = [
        "fire".to_owned(),
        system.name().to_owned(),
        from_ms.to_string(),
        to_ms.to_string(),
        jobs.to_string(),
    ];
    let workers: Vec<_> = (0..processes)
        .map(|_| spawn_worker(&args, url, cores))
        .collect();
    let (mut fires, mut cpu, mut rss) = (Vec::new(), 0, 0);
    for worker in workers {
        let output = worker.wait_with_output().expect("worker output");
        assert!(output.status.success(), "{} worker failed", system.name());
        let text = String::from_utf8_lossy(&output.stdout);
        fires.extend(parse_lines(&text));
        if let Some(cost) = text.lines().find_map(|line| line.strip_prefix("# cost ")) {
            let mut numbers = cost
                .split_whitespace()
                .filter_map(|n| n.parse::<u64>().ok());
            cpu += numbers.next().unwrap_or(0);
            rss = rss.max(numbers.next().unwrap_or(0));
        }
    }
    (FireReport::new(&fires, jobs, from_ms, to_ms), cpu, rss)
}

/// The cost curve: lateness, fires and cost against the load, then
/// start-up, memory and idle CPU against the registered jobs.
fn curve(options: &Options) {
    println!(
        "\n### Cost curve: jobs due every second, {} s per point\n",
        options.secs
    );
    println!(
        "| jobs/s | system | fires checked | missed | duplicated | p50 | p99 | CPU per fire | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut p99_series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut cpu_series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for (system, processes, placement) in CURVE_SYSTEMS {
        let label = curve_label(system, processes, placement);
        let (mut p99s, mut cpus) = (Vec::new(), Vec::new());
        for jobs in CURVE_LOADS {
            let (report, cpu_ns, rss_kib) =
                curve_point(system, processes, placement, jobs, options.secs);
            let fired = report.late_us.len().max(1) as f64;
            let cpu_per_fire_us = cpu_ns as f64 / fired / 1_000.0;
            eprintln!(
                "{label} at {jobs} jobs/s: p99 {} µs, {} missed, {cpu_per_fire_us:.1} µs CPU per fire",
                report.quantile_us(0.99),
                report.missed
            );
            println!(
                "| {jobs} | {label} | {} | {} | {} | {} | {} | {cpu_per_fire_us:.1} µs | {:.1} MiB |",
                report.expected,
                report.missed,
                report.duplicated,
                format_us(report.quantile_us(0.5)),
                format_us(report.quantile_us(0.99)),
                rss_kib as f64 / 1_024.0
            );
            p99s.push((
                f64::from(jobs),
                report.quantile_us(0.99).max(1) as f64 / 1_000.0,
            ));
            cpus.push((f64::from(jobs), cpu_per_fire_us));
        }
        p99_series.push((label.clone(), p99s));
        cpu_series.push((label, cpus));
    }
    write_plot(
        options,
        "curve-lateness.svg",
        &plot::LinePlot {
            title: "Lateness p99 against the load",
            x_label: "jobs due every second",
            y_label: "p99 start − tick (ms)",
            series: &p99_series,
        },
    );
    write_plot(
        options,
        "curve-cpu.svg",
        &plot::LinePlot {
            title: "CPU per fire against the load (all processes, start-up included)",
            x_label: "jobs due every second",
            y_label: "CPU per fire (µs)",
            series: &cpu_series,
        },
    );

    println!(
        "\n### Cost curve: registered jobs firing once a day, CPU over {} s\n",
        options.idle_secs
    );
    println!("| registered | system | start-up | RSS per job | idle CPU (% of a core) |");
    println!("|---|---|---|---|---|");
    let mut startup_series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    let mut memory_series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    // Idle, nothing competes for a core: the pinned row would repeat the other.
    for &(system, _, _) in CURVE_SYSTEMS
        .iter()
        .filter(|(_, _, placement)| *placement == Placement::Shared)
    {
        let label = system.name().to_owned();
        let (mut startups, mut memory) = (Vec::new(), Vec::new());
        for jobs in CURVE_REGISTERED {
            let idle = idle_point(system, jobs, options.idle_secs);
            let per_job =
                (idle.after_kib.saturating_sub(idle.before_kib) * 1_024) / u64::from(jobs);
            println!(
                "| {jobs} | {label} | {:.1} ms | {per_job} B | {:.4} % |",
                idle.startup_us as f64 / 1_000.0,
                idle.cpu_share() * 100.0
            );
            startups.push((f64::from(jobs), idle.startup_us.max(1) as f64 / 1_000.0));
            memory.push((f64::from(jobs), per_job.max(1) as f64));
        }
        startup_series.push((label.clone(), startups));
        memory_series.push((label, memory));
    }
    write_plot(
        options,
        "curve-startup.svg",
        &plot::LinePlot {
            title: "Start-up against the registered jobs",
            x_label: "registered jobs",
            y_label: "start-up (ms)",
            series: &startup_series,
        },
    );
    write_plot(
        options,
        "curve-memory.svg",
        &plot::LinePlot {
            title: "Memory per registered job",
            x_label: "registered jobs",
            y_label: "RSS per job (bytes)",
            series: &memory_series,
        },
    );
}

fn curve_label(system: System, processes: usize, placement: Placement) -> String {
    if processes == 1 {
        format!("{}{}", system.name(), placement.label())
    } else {
        format!(
            "{} ({processes} processes{})",
            system.name(),
            placement.label()
        )
    }
}

fn write_plot(options: &Options, name: &str, plot: &plot::LinePlot<'_>) {
    let path = options.out.join(name);
    std::fs::write(&path, plot.svg()).expect("write plot");
    println!("\nplot: {}", path.display());
}

/// What an idle worker measured.
struct Idle {
    startup_us: u64,
    before_kib: u64,
    after_kib: u64,
    cpu_ns: u64,
    secs: u64,
}

impl Idle {
    /// CPU time over the measured span, as a share of one core.
    fn cpu_share(&self) -> f64 {
        self.cpu_ns as f64 / (self.secs.max(1) as f64 * 1e9)
    }
}

/// `jobs` jobs firing once a day on `system`, idle for `secs`.
fn idle_point(system: System, jobs: u32, secs: u64) -> Idle {
    let redis = (system == System::CronlockRedis).then(RedisServer::start);
    let args = [
        "idle".to_owned(),
        system.name().to_owned(),
        secs.to_string(),
        jobs.to_string(),
    ];
    let output = spawn_worker(&args, redis.as_ref().map(RedisServer::url).as_deref(), None)
        .wait_with_output()
        .expect("worker output");
    assert!(output.status.success(), "{} worker failed", system.name());
    let text = String::from_utf8_lossy(&output.stdout);
    let numbers: Vec<u64> = text
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let [startup_us, before_kib, after_kib, cpu_ns, secs] = numbers[..] else {
        panic!("{} worker printed {text:?}", system.name());
    };
    Idle {
        startup_us,
        before_kib,
        after_kib,
        cpu_ns,
        secs,
    }
}

fn format_us(us: i64) -> String {
    if us.abs() >= 10_000 {
        format!("{:.1} ms", us as f64 / 1_000.0)
    } else {
        format!("{us} µs")
    }
}

fn idle(options: &Options) {
    println!(
        "\n### Idle: {IDLE_JOBS} jobs firing once a day, CPU over {} s\n",
        options.idle_secs
    );
    println!("| system | start-up | RSS before | RSS after | per job | idle CPU (% of a core) |");
    println!("|---|---|---|---|---|---|");
    for system in System::ALL {
        let idle = idle_point(system, IDLE_JOBS, options.idle_secs);
        println!(
            "| {} | {:.1} ms | {:.1} MiB | {:.1} MiB | {} B | {:.4} % |",
            system.name(),
            idle.startup_us as f64 / 1_000.0,
            idle.before_kib as f64 / 1_024.0,
            idle.after_kib as f64 / 1_024.0,
            (idle.after_kib.saturating_sub(idle.before_kib) * 1_024) / u64::from(IDLE_JOBS),
            idle.cpu_share() * 100.0
        );
    }
}

fn worker(args: &[String]) {
    let system = args
        .get(1)
        .and_then(|name| System::from_name(name))
        .expect("worker system");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match args[0].as_str() {
        "fire" => {
            let to_ms: i64 = args[3].parse().expect("to_ms");
            let jobs: u32 = args.get(4).map_or(FIRE_JOBS, |n| n.parse().expect("jobs"));
            let recorder = Arc::new(Recorder::default());
            let stop_at_us = (to_ms + 3_000) * 1_000;
            let stop = async move {
                let left = u64::try_from(stop_at_us - now_us()).unwrap_or(0);
                tokio::time::sleep(Duration::from_micros(left)).await;
            };
            runtime.block_on(systems::run(
                system,
                jobs,
                Cadence::EverySecond,
                Arc::clone(&recorder),
                || {},
                stop,
            ));
            print!("{}", recorder.to_lines());
            // Not a fire line (skipped by `parse_lines`): what the run cost.
            println!("# cost {} {}", cpu_ns(), rss_kib());
        }
        "idle" => {
            let secs: u64 = args[2].parse().expect("secs");
            let jobs: u32 = args.get(3).map_or(IDLE_JOBS, |n| n.parse().expect("jobs"));
            let before_kib = rss_kib();
            let started = Instant::now();
            let startup_us = Arc::new(AtomicU64::new(0));
            let cpu = Arc::new(AtomicU64::new(0));
            let after_kib = Arc::new(AtomicU64::new(0));
            let measure = {
                let (cpu, after_kib) = (Arc::clone(&cpu), Arc::clone(&after_kib));
                async move {
                    // Let start-up work (first claims, publishing) settle.
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    let cpu_before = cpu_ns();
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                    cpu.store(cpu_ns() - cpu_before, Ordering::Relaxed);
                    after_kib.store(rss_kib(), Ordering::Relaxed);
                }
            };
            let ready_startup = Arc::clone(&startup_us);
            runtime.block_on(systems::run(
                system,
                jobs,
                Cadence::DailyAt3,
                Arc::new(Recorder::default()),
                move || {
                    let elapsed = u64::try_from(started.elapsed().as_micros()).unwrap_or(0);
                    ready_startup.store(elapsed, Ordering::Relaxed);
                },
                measure,
            ));
            println!(
                "{} {before_kib} {} {} {secs}",
                startup_us.load(Ordering::Relaxed),
                after_kib.load(Ordering::Relaxed),
                cpu.load(Ordering::Relaxed)
            );
        }
        other => panic!("unknown worker mode {other}"),
    }
}
