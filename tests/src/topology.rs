//! Redis deployments beyond one server, started on free loopback ports:
//! a primary with replicas watched by `redis-sentinel`, and a Cluster of
//! `redis-server --cluster-enabled yes` nodes. Everything stops on drop.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{RedisServer, free_port};

/// The master name the sentinels watch.
pub const MASTER_NAME: &str = "mymaster";

/// Servers of a replicated deployment: no persistence, and a replica's full
/// resync starts at once (the default waits 5 s for more replicas to join),
/// so a failover's new primary has its replica back soon.
const REPLICATED: [&str; 6] = [
    "--save",
    "",
    "--appendonly",
    "no",
    "--repl-diskless-sync-delay",
    "0",
];

/// The hash slots of a Redis Cluster.
const SLOTS: u32 = 16384;

/// One primary, its replicas and the sentinels watching them.
#[derive(Debug)]
pub struct SentinelSetup {
    /// The servers: the first is the primary at start.
    pub servers: Vec<RedisServer>,
    sentinels: Vec<(u16, Child)>,
    /// Sentinels that name another master (see `start_stale_sentinel`).
    stale: Vec<Child>,
    dir: PathBuf,
}

impl SentinelSetup {
    /// A primary, `replicas` replicas and `sentinels` sentinels (quorum: a
    /// majority), which declare the primary down after one second.
    ///
    /// # Panics
    ///
    /// When a server or sentinel cannot start, or the replicas do not sync.
    pub fn start(replicas: usize, sentinels: usize) -> SentinelSetup {
        let primary = RedisServer::start_with(&REPLICATED);
        let primary_port = primary.port().to_string();
        let mut servers = vec![primary];
        for _ in 0..replicas {
            let mut args = REPLICATED.to_vec();
            args.extend(["--replicaof", "127.0.0.1", &primary_port]);
            servers.push(RedisServer::start_with(&args));
        }
        let dir = std::env::temp_dir().join(format!(
            "cronlock-sentinel-{}-{}",
            std::process::id(),
            free_port().unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).expect("sentinel dir");
        let quorum = sentinels / 2 + 1;
        let running = (0..sentinels)
            .map(|index| spawn_sentinel(&dir, &format!("sentinel-{index}"), &primary_port, quorum))
            .collect();
        let setup = SentinelSetup {
            servers,
            sentinels: running,
            stale: Vec::new(),
            dir,
        };
        setup.await_ready(replicas);
        setup
    }

    /// Starts a sentinel of its own that names the server on `decoy` as the
    /// master (as a sentinel that has not heard of a failover names the old
    /// primary); returns its port once it does. It is not in [`Self::url`].
    pub fn start_stale_sentinel(&mut self, decoy: u16) -> u16 {
        let name = format!("stale-{}", self.stale.len());
        let (port, child) = spawn_sentinel(&self.dir, &name, &decoy.to_string(), 1);
        self.stale.push(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sentinel_command(port, &["SENTINEL", "get-master-addr-by-name", MASTER_NAME])
            .is_some_and(|reply| reply.contains(&decoy.to_string()))
        {
            assert!(
                Instant::now() < deadline,
                "the stale sentinel did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        port
    }

    fn await_ready(&self, replicas: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let synced = self.servers[0]
                .bulk(&["INFO", "replication"])
                .contains(&format!("connected_slaves:{replicas}"));
            let known = self.sentinels.iter().all(|(port, _)| {
                sentinel_command(*port, &["SENTINEL", "get-master-addr-by-name", MASTER_NAME])
                    .is_some_and(|reply| reply.contains(&self.servers[0].port().to_string()))
            });
            if synced && known {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the replicas or sentinels did not come up within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis+sentinel://127.0.0.1:P1,…/mymaster`, with `query` appended.
    pub fn url(&self, query: &str) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|(port, _)| format!("127.0.0.1:{port}"))
            .collect();
        format!("redis+sentinel://{}/{MASTER_NAME}{query}", hosts.join(","))
    }

    /// The port of the primary the sentinels name now.
    pub fn master_port(&self) -> Option<u16> {
        named_primary(&self.sentinel_ports())
    }

    fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|(port, _)| *port).collect()
    }

    /// Starts watching which primary the sentinels name (every 50 ms) until
    /// [`PrimaryWatch::stop`]: a test learns of every failover, including a
    /// second one it did not cause.
    pub fn watch_primary(&self) -> PrimaryWatch {
        let ports = self.sentinel_ports();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stopped, record) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(port) = named_primary(&ports) {
                    let mut seen = record.lock().unwrap_or_else(|p| p.into_inner());
                    if seen.last().is_none_or(|(_, last)| *last != port) {
                        seen.push((chrono::Utc::now(), port));
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        PrimaryWatch { stop, seen, thread }
    }

    /// The server listening on `port`.
    pub fn server(&mut self, port: u16) -> &mut RedisServer {
        self.servers
            .iter_mut()
            .find(|server| server.port() == port)
            .expect("a server of this setup")
    }

    /// Whether the server on `port` has a replica in sync (`state=online`).
    pub fn has_replica_in_sync(&mut self, port: u16) -> bool {
        self.server(port)
            .try_bulk(&["INFO", "replication"])
            .is_some_and(|info| info.contains("state=online"))
    }

    /// Waits until the primary has a replica in sync (`state=online`), as
    /// claims with the durability option need.
    ///
    /// # Panics
    ///
    /// When none is within `limit`.
    pub fn await_replica_online(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(port) = self.master_port()
                && self.has_replica_in_sync(port)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no replica in sync within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the sentinels name a primary other than `old`, and
    /// returns its port.
    ///
    /// # Panics
    ///
    /// When no failover happens within `limit`.
    pub fn await_failover(&self, old: u16, limit: Duration) -> u16 {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(port) = self.master_port().filter(|port| *port != old) {
                return port;
            }
            assert!(Instant::now() < deadline, "no failover within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A primary the sentinels named, and when it was first seen.
pub type NamedPrimary = (chrono::DateTime<chrono::Utc>, u16);

/// The primaries the sentinels named while a [`SentinelSetup::watch_primary`]
/// ran.
#[derive(Debug)]
pub struct PrimaryWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<NamedPrimary>>>,
    thread: std::thread::JoinHandle<()>,
}

impl PrimaryWatch {
    /// Each primary named so far, with when it was first seen, in order
    /// (the first is the primary when the watch began).
    pub fn seen(&self) -> Vec<NamedPrimary> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops watching; returns what [`PrimaryWatch::seen`] would.
    ///
    /// # Panics
    ///
    /// When the watching thread panicked.
    pub fn stop(self) -> Vec<NamedPrimary> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let PrimaryWatch { seen, thread, .. } = self;
        thread.join().expect("the primary watch");
        seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The primary the first answering sentinel names.
fn named_primary(sentinels: &[u16]) -> Option<u16> {
    sentinels.iter().find_map(|port| {
        let reply = sentinel_command(*port, &["SENTINEL", "get-master-addr-by-name", MASTER_NAME])?;
        reply.lines().nth(1)?.trim().parse().ok()
    })
}

impl Drop for SentinelSetup {
    fn drop(&mut self) {
        for child in self
            .sentinels
            .iter_mut()
            .map(|(_, child)| child)
            .chain(&mut self.stale)
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `redis-sentinel` with a config named `name` in `dir`, watching
/// the master on `master_port` with `quorum`; returns its port.
fn spawn_sentinel(
    dir: &std::path::Path,
    name: &str,
    master_port: &str,
    quorum: usize,
) -> (u16, Child) {
    let port = free_port().expect("a free port");
    let conf = dir.join(format!("{name}.conf"));
    let mut file = std::fs::File::create(&conf).expect("sentinel config");
    writeln!(
        file,
        "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} {quorum}\nsentinel down-after-milliseconds {MASTER_NAME} 1000\nsentinel failover-timeout {MASTER_NAME} 5000\nsentinel parallel-syncs {MASTER_NAME} 2",
        dir.display()
    )
    .expect("sentinel config");
    let child = Command::new("redis-sentinel")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| {
            panic!("redis-sentinel does not start ({err}): install it with `apt-get install -y redis-sentinel`, or run ./scripts/test")
        });
    (port, child)
}

/// One command to a sentinel, its whole reply in RESP (a few lines).
fn sentinel_command(port: u16, args: &[&str]) -> Option<String> {
    use std::io::Read as _;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = vec![0u8; 4096];
    let read = stream.read(&mut reply).ok()?;
    let text = String::from_utf8_lossy(&reply[..read]).into_owned();
    // `*2 $9 127.0.0.1 $5 PORT` -> "127.0.0.1\nPORT"
    let values: Vec<&str> = text
        .split("\r\n")
        .filter(|line| !line.is_empty() && !line.starts_with('*') && !line.starts_with('$'))
        .collect();
    (!values.is_empty()).then(|| values.join("\n"))
}

/// A Redis Cluster: masters with one replica each.
#[derive(Debug)]
pub struct ClusterSetup {
    /// Every node.
    pub nodes: Vec<RedisServer>,
}

/// A cluster node as `CLUSTER NODES` describes it.
#[derive(Debug, Clone)]
pub struct ClusterNode {
    /// The node id.
    pub id: String,
    /// Its port.
    pub port: u16,
    /// Whether it is a master (not failed).
    pub master: bool,
    /// How many slots it serves.
    pub slots: u32,
}

impl ClusterSetup {
    /// `masters` masters and as many replicas, created with
    /// `redis-cli --cluster create`; a node is failed over after one second.
    ///
    /// # Panics
    ///
    /// When a node cannot start or the cluster does not form.
    pub fn start(masters: usize) -> ClusterSetup {
        let mut args = vec![
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "1000",
        ];
        args.extend(REPLICATED);
        let nodes: Vec<RedisServer> = (0..masters * 2)
            .map(|_| RedisServer::start_with(&args))
            .collect();
        let mut command = Command::new("redis-cli");
        command.arg("--cluster").arg("create");
        for node in &nodes {
            command.arg(format!("127.0.0.1:{}", node.port()));
        }
        let output = command
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli runs (apt-get install -y redis-tools)");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let setup = ClusterSetup { nodes };
        setup.await_ok(Duration::from_secs(20));
        setup
    }

    /// Waits until every live node says the cluster is ok and agrees on
    /// the masters.
    ///
    /// # Panics
    ///
    /// When it is not ok within `limit`.
    pub fn await_ok(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let ok = self
                .nodes
                .iter()
                .filter(|node| node.is_alive())
                .all(|node| {
                    node.try_bulk(&["CLUSTER", "INFO"])
                        .is_some_and(|info| info.contains("cluster_state:ok"))
                });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster is not ok within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every slot of the master on `victim` (killed) is served
    /// by another master (its replica was promoted) in the view of every
    /// live node, and the cluster is ok again. A node merely suspected (`pfail`) still holds its slots: a
    /// victim restarted then would come back as their master, empty.
    ///
    /// # Panics
    ///
    /// When that does not happen within `limit`.
    pub fn await_failover(&self, victim: u16, limit: Duration) {
        let deadline = Instant::now() + limit;
        // Over when every live node knows: a client may ask any of them.
        while !self.every_view().iter().all(|view| {
            view.iter()
                .filter(|node| node.master && node.port != victim)
                .map(|node| node.slots)
                .sum::<u32>()
                == SLOTS
        }) {
            assert!(Instant::now() < deadline, "no failover within {limit:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.await_ok(deadline.saturating_duration_since(Instant::now()));
    }

    /// Waits until the node on `port` is a replica in sync with its master;
    /// `false` when it is not within `limit`.
    pub fn await_replica_synced(&self, port: u16, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let node = self
            .nodes
            .iter()
            .find(|node| node.port() == port)
            .expect("a node of this cluster");
        while !node
            .try_bulk(&["INFO", "replication"])
            .is_some_and(|info| info.contains("master_link_status:up"))
        {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…` (every node a seed).
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// The nodes as a live node sees them.
    pub fn topology(&self) -> Vec<ClusterNode> {
        let text = self
            .nodes
            .iter()
            .filter(|node| node.is_alive())
            .find_map(|node| node.try_bulk(&["CLUSTER", "NODES"]))
            .unwrap_or_default();
        parse_nodes(&text)
    }

    /// The nodes as each live node sees them (they can disagree for a
    /// while after a failover: a node that has not heard of it yet still
    /// names the dead master, and a client that asks it routes there).
    pub fn every_view(&self) -> Vec<Vec<ClusterNode>> {
        self.nodes
            .iter()
            .filter(|node| node.is_alive())
            .map(|node| parse_nodes(&node.try_bulk(&["CLUSTER", "NODES"]).unwrap_or_default()))
            .collect()
    }

    /// Moves `slots` slots, with their keys, from master `from` to master
    /// `to` (`redis-cli --cluster reshard`), while clients keep working.
    /// redis-cli refuses while the nodes do not agree on the configuration
    /// yet (just after a failover): it is asked again, for up to 20 s.
    ///
    /// # Panics
    ///
    /// When redis-cli still fails then.
    pub fn reshard(&self, from: &ClusterNode, to: &ClusterNode, slots: u32) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let output = Command::new("redis-cli")
                .args(["--cluster", "reshard", &format!("127.0.0.1:{}", to.port)])
                .args(["--cluster-from", &from.id, "--cluster-to", &to.id])
                .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
                .output()
                .expect("redis-cli runs");
            if output.status.success() {
                return;
            }
            let said = String::from_utf8_lossy(&output.stdout);
            let transient = said.contains("don't agree") || said.contains("not covered");
            assert!(
                transient && Instant::now() < deadline,
                "reshard failed: {said}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The node listening on `port`.
    pub fn node(&mut self, port: u16) -> &mut RedisServer {
        self.nodes
            .iter_mut()
            .find(|node| node.port() == port)
            .expect("a node of this cluster")
    }
}

/// `CLUSTER NODES` output as nodes (a failed or suspected master is not a
/// master).
fn parse_nodes(text: &str) -> Vec<ClusterNode> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let port = fields
                .get(1)?
                .split('@')
                .next()?
                .rsplit(':')
                .next()?
                .parse()
                .ok()?;
            let flags = fields.get(2)?;
            let slots = fields
                .iter()
                .skip(8)
                .filter(|range| !range.starts_with('['))
                .map(|range| match range.split_once('-') {
                    Some((from, to)) => {
                        to.parse::<u32>().unwrap_or(0) - from.parse::<u32>().unwrap_or(0) + 1
                    }
                    None => 1,
                })
                .sum();
            Some(ClusterNode {
                id: fields.first()?.to_string(),
                port,
                master: flags.split(',').any(|flag| flag == "master")
                    && !flags
                        .split(',')
                        .any(|flag| flag == "fail" || flag == "fail?" || flag == "pfail"),
                slots,
            })
        })
        .collect()
}
