//! The chaos driver: one `redis-server` behind a fault-injecting proxy (or
//! Sentinel, Cluster, PostgreSQL), service processes with skewed clocks and
//! mixed settings, a second service sharing the store under its own prefix
//! (schema, for Postgres), faults on a schedule, and a check of every run
//! afterwards.

mod check;
mod faults;
mod ledger;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use faults::Fault;
pub use faults::FaultKind;
pub(crate) use ledger::read_ledgers;
pub use ledger::{LEDGER_ENV, ledger_line, now_ms, open_ledger, signal};

use crate::RedisServer;
use crate::postgres::{PgBouncer, PostgresServer};
use crate::proxy::{self, Proxy};
use crate::topology::{ClusterSetup, SentinelSetup};

/// The jobs of `chaos_service`: name, period (s), longest lock TTL (ms) of
/// any variant, and whether every tick must run (false for `long`, whose
/// runs outlast its period, so that overlap = skip drops most ticks by
/// design).
const JOBS: [(&str, i64, i64, bool); 5] = [
    ("every_1s", 1, 20_000, true),
    ("every_2s", 2, 5_000, true),
    ("long", 1, 15_000, false),
    ("panicky", 1, 5_000, true),
    ("times_out", 3, 1_000, true),
];
/// Two runs starting closer than this may be logged out of claim order.
const START_ORDER_SLACK_MS: i64 = 200;
/// The main service's instances: clock offset (ms) and settings variant
/// (`wide`: longer timeouts and lock TTLs, a wider skew margin — a rolling
/// deploy that changed them).
const INSTANCES: [(i64, &str); 5] = [
    (-1_500, "base"),
    (-750, "base"),
    (0, "base"),
    (750, "wide"),
    (1_500, "wide"),
];
/// The second service: same job names, its own key prefix.
const OTHER_SERVICE: [(i64, &str); 2] = [(-500, "base"), (500, "base")];
/// Longest lock TTL of the service's jobs (`long`, wide variant).
const MAX_LOCK_TTL_MS: i64 = 15_000;

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
    /// The faults to inject, in rotation.
    pub kinds: Vec<FaultKind>,
    /// Which deployment (of Redis, or Postgres) the services use.
    pub deployment: Topology,
    /// Claims wait for one replica (`wait_replicas=1`): Sentinel and
    /// Cluster only.
    pub durable: bool,
}

/// The store deployment of a chaos run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One `redis-server` behind the fault proxy.
    Single,
    /// A primary, two replicas, three sentinels.
    Sentinel,
    /// Three masters with a replica each.
    Cluster,
    /// One PostgreSQL server, reached directly (`DATABASE_URL`).
    Postgres,
    /// One PostgreSQL server, reached through PgBouncer in transaction
    /// pooling mode.
    PgBouncer,
}

impl Topology {
    /// Whether the services use the Postgres lock (else the Redis one).
    pub fn is_postgres(self) -> bool {
        matches!(self, Topology::Postgres | Topology::PgBouncer)
    }
}

/// The store the services use.
enum Store {
    Single {
        redis: RedisServer,
        proxy: Proxy,
    },
    Sentinel(SentinelSetup),
    Cluster(ClusterSetup),
    Postgres {
        server: PostgresServer,
        bouncer: Option<PgBouncer>,
    },
}

impl Store {
    fn start(config: &Config) -> Store {
        match config.deployment {
            Topology::Single => {
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
                let redis = RedisServer::start_with(args);
                let proxy = Proxy::start(redis.port());
                Store::Single { redis, proxy }
            }
            Topology::Sentinel => Store::Sentinel(SentinelSetup::start(2, 3)),
            Topology::Cluster => Store::Cluster(ClusterSetup::start(3)),
            Topology::Postgres | Topology::PgBouncer => {
                let server = PostgresServer::start();
                let bouncer =
                    (config.deployment == Topology::PgBouncer).then(|| PgBouncer::start(&server));
                Store::Postgres { server, bouncer }
            }
        }
    }

    fn url(&self, durable: bool) -> String {
        let query = if durable {
            "?wait_replicas=1&wait_timeout=100ms"
        } else {
            ""
        };
        match self {
            Store::Single { proxy, .. } => proxy.url(),
            Store::Sentinel(setup) => setup.url(query),
            Store::Cluster(setup) => format!("{}{query}", setup.url()),
            Store::Postgres {
                bouncer: Some(bouncer),
                ..
            } => bouncer.url(),
            Store::Postgres { server, .. } => server.url(),
        }
    }

    fn single(&mut self) -> (&mut RedisServer, &Proxy) {
        match self {
            Store::Single { redis, proxy } => (redis, proxy),
            _ => panic!("this fault needs the single-server deployment"),
        }
    }

    fn postgres(&mut self) -> (&mut PostgresServer, Option<&mut PgBouncer>) {
        match self {
            Store::Postgres { server, bouncer } => (server, bouncer.as_mut()),
            _ => panic!("this fault needs PostgreSQL"),
        }
    }
}

/// Ticks around one kind of fault.
#[derive(Debug, Default, Clone, Copy)]
pub struct KindStats {
    /// Times the fault was injected.
    pub injected: u32,
    /// Ticks that fell in one of its windows.
    pub ticks: u64,
    /// Of those, ticks that did not run (allowed: fail closed, a dead owner).
    pub not_run: u64,
    /// Of those, ticks that ran twice (allowed only where Redis forgot them).
    pub doubled: u64,
}

/// What happened and what the check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Per kind of fault: how often, and the ticks in its windows.
    pub faults: BTreeMap<FaultKind, KindStats>,
    /// Ticks checked (job, tick) pairs, both services.
    pub ticks_checked: u64,
    /// Runs started, over all jobs.
    pub runs: u64,
    /// Ticks that ran twice, all causes (excused ones included).
    pub doubled: u64,
    /// Ticks that did not run outside any fault's window: each a violation.
    pub lost: u64,
    /// Ticks every instance found a run of the job going for (a late run),
    /// skipped by the `overlap = "skip"` rule.
    pub skipped_overlap: u64,
    /// Breaches of the guarantee: each is a failure.
    pub violations: Vec<String>,
    /// Runs that finished after a newer run of their job had started (the
    /// paused owner's writes); a store checking fencing tokens rejects them.
    pub stale_writes: u64,
}

impl Report {
    /// A short text for people and for RELIABILITY.md: a line, then a row
    /// per kind of fault.
    pub fn summary(&self, config: &Config) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} s, {} + {} processes (mixed settings, two services), {:?}{}, {}: {} ticks checked, {} runs, {} doubled, {} lost, {} skipped by the overlap rule, {} stale late writes, {} violations",
            config.duration.as_secs(),
            INSTANCES.len(),
            OTHER_SERVICE.len(),
            config.deployment,
            if config.durable {
                " with durability (1 replica)"
            } else {
                ""
            },
            durability(config),
            self.ticks_checked,
            self.runs,
            self.doubled,
            self.lost,
            self.skipped_overlap,
            self.stale_writes,
            self.violations.len()
        );
        let _ = writeln!(
            out,
            "| fault | injected | ticks in its windows | not run during the fault | doubled |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for (kind, stats) in &self.faults {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                kind.describe(),
                stats.injected,
                stats.ticks,
                stats.not_run,
                stats.doubled
            );
        }
        for violation in self.violations.iter().take(20) {
            let _ = writeln!(out, "  violation: {violation}");
        }
        out
    }
}

/// What keeps claims across a crash of the store, for the summary.
fn durability(config: &Config) -> &'static str {
    match config.deployment {
        Topology::Postgres | Topology::PgBouncer => {
            "Postgres WAL (written before a commit returns)"
        }
        _ if config.persistence => "Redis persistence AOF",
        _ => "Redis persistence off",
    }
}

struct Instance {
    /// `ledger` or `other-ledger`: which service.
    group: &'static str,
    slot: usize,
    generation: u32,
    child: Child,
}

/// A service process outlives nothing: a run that ends early (a panic in
/// the harness) takes its processes with it.
impl Drop for Instance {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Instance {
    fn start(
        config: &Config,
        url: &str,
        group: &'static str,
        slot: usize,
        generation: u32,
    ) -> Instance {
        let (skew, variant, prefix) = match group {
            "ledger" => (INSTANCES[slot].0, INSTANCES[slot].1, "cronlock:"),
            _ => (OTHER_SERVICE[slot].0, OTHER_SERVICE[slot].1, "other:"),
        };
        let log = std::fs::File::create(
            config
                .dir
                .join(format!("service-{group}-{slot}-{generation}.log")),
        )
        .expect("log file");
        let mut command = Command::new(&config.service);
        // The service takes Redis when REDIS_URL is set, whatever else is:
        // only the variable of this run's store may reach it.
        if config.deployment.is_postgres() {
            command
                .env_remove("REDIS_URL")
                .env("DATABASE_URL", url)
                .env("CRONLOCK_SCHEMA", prefix.trim_end_matches(':'));
        } else {
            command
                .env_remove("DATABASE_URL")
                .env("REDIS_URL", url)
                .env("CRONLOCK_PREFIX", prefix);
        }
        let child = command
            .env(
                LEDGER_ENV,
                config.dir.join(format!("{group}-{slot}-{generation}.txt")),
            )
            .env("CHAOS_SKEW_MS", skew.to_string())
            .env("CHAOS_VARIANT", variant)
            .env(
                "RUST_LOG",
                std::env::var("CHAOS_SERVICE_LOG").unwrap_or_else(|_| "warn".to_owned()),
            )
            .stdout(Stdio::from(log.try_clone().expect("log file")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("chaos_service starts");
        Instance {
            group,
            slot,
            generation,
            child,
        }
    }

    fn restart(&mut self, config: &Config, url: &str) {
        *self = Instance::start(config, url, self.group, self.slot, self.generation + 1);
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

/// Everything a fault can act on.
struct Scene<'a> {
    config: &'a Config,
    url: String,
    store: Store,
    instances: Vec<Instance>,
    unexpected: Vec<String>,
}

impl Scene<'_> {
    /// Injects one fault (blocking for its duration) and says what it did.
    fn inject(&mut self, kind: FaultKind, round: usize) -> Fault {
        let victim = round % INSTANCES.len();
        let from = now_ms();
        let mut pid = None;
        let duration = kind.duration();
        match kind {
            FaultKind::InstanceKill => {
                let instance = &mut self.instances[victim];
                pid = Some(instance.child.id());
                let _ = instance.child.kill();
                let _ = instance.child.wait();
                std::thread::sleep(Duration::from_millis(500));
                instance.restart(self.config, &self.url);
            }
            FaultKind::InstanceTerm => {
                let instance = &mut self.instances[victim];
                signal(instance.child.id(), "TERM");
                match instance.wait(Duration::from_secs(30)) {
                    Some(status) if status.success() => {}
                    other => self.unexpected.push(format!(
                        "instance {} after SIGTERM: {other:?}",
                        instance.slot
                    )),
                }
                instance.restart(self.config, &self.url);
            }
            FaultKind::InstancePause => {
                let instance_pid = self.instances[victim].child.id();
                pid = Some(instance_pid);
                signal(instance_pid, "STOP");
                std::thread::sleep(duration);
                signal(instance_pid, "CONT");
            }
            FaultKind::RedisRestart => {
                let (redis, _) = self.store.single();
                redis.kill();
                std::thread::sleep(duration);
                redis.restart();
            }
            FaultKind::RedisPauseShort | FaultKind::RedisPauseLong => {
                let (redis, _) = self.store.single();
                redis.signal("STOP");
                std::thread::sleep(duration);
                redis.signal("CONT");
            }
            FaultKind::RedisSleep => {
                let seconds = format!("{}", duration.as_secs_f64());
                let (redis, _) = self.store.single();
                let _ = redis.try_command_with_timeout(
                    &["DEBUG", "SLEEP", &seconds],
                    duration + Duration::from_secs(5),
                );
            }
            FaultKind::NetworkLatency => {
                self.proxy_fault(proxy::Fault::Latency(Duration::from_millis(300)), duration)
            }
            FaultKind::NetworkStall => self.proxy_fault(proxy::Fault::Stall, duration),
            FaultKind::RepliesLost => self.proxy_fault(proxy::Fault::DropReplies, duration),
            FaultKind::HalfOpen => self.proxy_fault(proxy::Fault::BlackHole, duration),
            FaultKind::ConnectionsCut => self.store.single().1.cut(),
            FaultKind::OutOfMemory => {
                let (redis, _) = self.store.single();
                redis.command(&["CONFIG", "SET", "maxmemory", "1"]);
                std::thread::sleep(duration);
                redis.command(&["CONFIG", "SET", "maxmemory", "0"]);
            }
            FaultKind::ScriptsFlushed => {
                self.store.single().0.command(&["SCRIPT", "FLUSH"]);
            }
            FaultKind::PrimaryFailover => {
                let Store::Sentinel(setup) = &mut self.store else {
                    panic!("a primary failover needs Sentinel");
                };
                let old = setup.master_port().expect("a primary");
                setup.server(old).kill();
                setup.await_failover(old, Duration::from_secs(20));
                // Back as a replica: the sentinels reconfigure it. The fault
                // lasts until the new primary has a replica in sync (claims
                // with durability need one).
                setup.server(old).restart();
                setup.await_replica_online(Duration::from_secs(30));
            }
            FaultKind::MasterFailover => {
                let Store::Cluster(setup) = &mut self.store else {
                    panic!("a master failover needs a Cluster");
                };
                let victim = setup
                    .topology()
                    .into_iter()
                    .find(|node| node.master && node.slots > 0)
                    .expect("a master");
                setup.node(victim.port).kill();
                setup.await_failover(victim.port, Duration::from_secs(20));
                // Back as a replica of the node that took over; the fault
                // lasts until it is in sync (claims with durability need it).
                setup.node(victim.port).restart();
                if !setup.await_replica_synced(victim.port, Duration::from_secs(30)) {
                    eprintln!(
                        "chaos: node {} did not sync as a replica within 30 s",
                        victim.port
                    );
                }
            }
            FaultKind::PostgresRestart => {
                let (server, _) = self.store.postgres();
                server.kill();
                std::thread::sleep(duration);
                // Waits through crash recovery: the fault lasts until the
                // server accepts connections again.
                server.restart();
            }
            FaultKind::PostgresPause => {
                let (server, _) = self.store.postgres();
                server.signal("STOP");
                std::thread::sleep(duration);
                server.signal("CONT");
            }
            FaultKind::PgBouncerRestart => {
                let (_, bouncer) = self.store.postgres();
                bouncer
                    .expect("a PgBouncer restart needs PgBouncer")
                    .restart();
            }
            FaultKind::Reshard => {
                let Store::Cluster(setup) = &self.store else {
                    panic!("resharding needs a Cluster");
                };
                let masters: Vec<_> = setup
                    .topology()
                    .into_iter()
                    .filter(|node| node.master && node.slots > 0)
                    .collect();
                let from = masters
                    .iter()
                    .max_by_key(|node| node.slots)
                    .expect("a master")
                    .clone();
                let to = masters
                    .iter()
                    .min_by_key(|node| node.slots)
                    .expect("a master")
                    .clone();
                if from.id != to.id {
                    setup.reshard(&from, &to, 1_000);
                }
            }
        }
        Fault {
            kind,
            from,
            to: now_ms(),
            pid,
        }
    }

    fn proxy_fault(&mut self, fault: proxy::Fault, duration: Duration) {
        let (_, proxy) = self.store.single();
        proxy.set(fault);
        std::thread::sleep(duration);
        proxy.set(proxy::Fault::None);
    }

    /// Restarts (and reports) any service that died on its own.
    fn revive(&mut self) {
        for instance in &mut self.instances {
            if let Ok(Some(status)) = instance.child.try_wait() {
                self.unexpected.push(format!(
                    "{} instance {} exited by itself with {status}",
                    instance.group, instance.slot
                ));
                instance.restart(self.config, &self.url);
            }
        }
    }
}

/// Runs the scenario and checks the ledgers.
///
/// # Panics
///
/// When a process or Redis cannot be started: the harness cannot go on.
pub fn run(config: &Config) -> Report {
    std::fs::create_dir_all(&config.dir).expect("chaos dir");
    let store = Store::start(config);
    let url = store.url(config.durable);
    let mut instances: Vec<Instance> = (0..INSTANCES.len())
        .map(|slot| Instance::start(config, &url, "ledger", slot, 0))
        .collect();
    instances.extend(
        (0..OTHER_SERVICE.len()).map(|slot| Instance::start(config, &url, "other-ledger", slot, 0)),
    );
    let mut scene = Scene {
        config,
        url,
        store,
        instances,
        unexpected: Vec::new(),
    };
    let started = now_ms();
    // Let every instance connect and run a few ticks before the first fault.
    std::thread::sleep(Duration::from_secs(3));

    let mut faults = Vec::new();
    let end = Instant::now() + config.duration;
    let mut round = 0usize;
    while Instant::now() + config.fault_every < end {
        std::thread::sleep(config.fault_every);
        scene.revive();
        let kind = config.kinds[round % config.kinds.len()];
        faults.push(scene.inject(kind, round));
        round += 1;
    }
    std::thread::sleep(Duration::from_secs(3));
    let stopped = now_ms();
    for instance in &scene.instances {
        signal(instance.child.id(), "TERM");
    }
    let mut unexpected = std::mem::take(&mut scene.unexpected);
    for instance in &mut scene.instances {
        match instance.wait(Duration::from_secs(30)) {
            Some(status) if status.success() => {}
            other => unexpected.push(format!(
                "{} instance {} at the end: {other:?}",
                instance.group, instance.slot
            )),
        }
    }
    drop(scene);
    let timeline: String = faults
        .iter()
        .map(|fault| {
            format!(
                "{} {} {:?} {:?}\n",
                fault.from, fault.to, fault.kind, fault.pid
            )
        })
        .collect();
    let _ = std::fs::write(config.dir.join("faults.txt"), timeline);
    let mut report = Report::default();
    for fault in &faults {
        report.faults.entry(fault.kind).or_default().injected += 1;
    }
    report.violations.extend(unexpected);
    // Where Redis may forget a claim: a restart without persistence, a
    // failover without durability.
    let forgiving = match config.deployment {
        Topology::Single => !config.persistence,
        Topology::Sentinel | Topology::Cluster => !config.durable,
        // Postgres forgets no commit at a crash: nothing excuses a double.
        Topology::Postgres | Topology::PgBouncer => false,
    };
    let main_skews: Vec<i64> = INSTANCES.iter().map(|(skew, _)| *skew).collect();
    let other_skews: Vec<i64> = OTHER_SERVICE.iter().map(|(skew, _)| *skew).collect();
    for (group, skews) in [("ledger-", &main_skews), ("other-ledger-", &other_skews)] {
        check::check(
            &config.dir,
            group,
            skews,
            (started, stopped),
            &faults,
            forgiving,
            &mut report,
        );
    }
    report
}
