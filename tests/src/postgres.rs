//! A real PostgreSQL server and a real PgBouncer, for the Postgres lock
//! backend's tests.
//!
//! [`PostgresServer`] runs `initdb` into a temporary directory and then the
//! `postgres` binary itself (not `pg_ctl`, so the child is the postmaster and
//! can be killed and waited) on a free loopback port, with trust
//! authentication for the superuser `postgres`. [`PgBouncer`] puts a
//! transaction-pooling `pgbouncer` in front of one.
//!
//! Binaries come from `$PG_BIN` when set, else the newest
//! `/usr/lib/postgresql/<version>/bin` (Debian's layout), else
//! `pg_config --bindir`. Both PostgreSQL and PgBouncer refuse to run as
//! root: when the tests run as root, the children run as the `postgres`
//! system user that the Debian package creates (set with
//! [`CommandExt::uid`]/[`CommandExt::gid`], so each child is the server
//! process itself).
//!
//! ```no_run
//! use cronlock_tests::postgres::{PgBouncer, PostgresServer};
//!
//! let server = PostgresServer::start();
//! assert_eq!(server.psql("select 1"), "1");
//! let bouncer = PgBouncer::start(&server);
//! assert_eq!(bouncer.psql("select 2"), "2");
//! println!("{} {}", server.url(), bouncer.url());
//! ```

use std::fs::{File, OpenOptions};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::free_port;

const INSTALL_HINT: &str = "PostgreSQL is not installed: install it with \
    `apt-get install -y postgresql` (Debian/Ubuntu) or `brew install postgresql` (macOS), \
    set PG_BIN to the directory holding initdb, postgres and psql, \
    or run ./scripts/test, which installs it";

const PGBOUNCER_HINT: &str = "pgbouncer is not installed: install it with \
    `apt-get install -y pgbouncer` (Debian/Ubuntu) or `brew install pgbouncer` (macOS), \
    set PGBOUNCER to its path, or run ./scripts/test, which installs it";

/// How long a server (or a restarted one, after crash recovery) may take to
/// accept connections.
const READY_LIMIT: Duration = Duration::from_secs(30);

/// A PostgreSQL server (the postmaster, a child process) on `127.0.0.1`,
/// killed and its data removed when dropped.
///
/// The superuser is `postgres`, with no password (trust authentication).
#[derive(Debug)]
pub struct PostgresServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    alive: bool,
}

impl PostgresServer {
    /// Creates a database cluster in a temporary directory and starts a
    /// server on it, waiting until it accepts connections.
    ///
    /// # Panics
    ///
    /// When the binaries are missing, `initdb` fails, or the server does
    /// not accept connections within 30 seconds (the message holds its log):
    /// a test harness has no better way to fail.
    pub fn start() -> PostgresServer {
        let bin = pg_bin();
        let dir = temp_dir("postgres");
        let initdb = run_as_server_user(Command::new(bin.join("initdb")))
            .arg("-D")
            .arg(data_dir(&dir))
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync")
            .env("LC_ALL", "C")
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|err| {
                let _ = std::fs::remove_dir_all(&dir);
                panic!("running {}: {err}", bin.join("initdb").display())
            });
        if !initdb.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            panic!(
                "initdb failed with {}:\n{}{}",
                initdb.status,
                String::from_utf8_lossy(&initdb.stdout),
                String::from_utf8_lossy(&initdb.stderr)
            );
        }
        let mut last_error = String::new();
        // A free port can be taken between our probe and the server's bind: retry.
        for _ in 0..5 {
            let port = match free_port() {
                Ok(port) => port,
                Err(err) => {
                    last_error = format!("no free port: {err}");
                    continue;
                }
            };
            let child = spawn_postgres(&dir, port);
            let mut server = PostgresServer {
                child,
                port,
                dir: dir.clone(),
                alive: true,
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(err) => {
                    last_error = format!("{err}\nserver log:\n{}", server.log());
                    server.kill_processes();
                    // Keep the cluster for the next attempt: forget this one
                    // without letting its Drop remove the directory.
                    std::mem::forget(server);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("could not start postgres: {last_error}");
    }

    /// Kills the server (`SIGKILL` to the postmaster and to every backend
    /// and auxiliary process it started), as a crash of its machine would,
    /// and waits for it.
    pub fn kill(&mut self) {
        self.kill_processes();
        self.alive = false;
    }

    /// Whether the server runs (it was not killed, or was restarted since).
    pub fn is_alive(&self) -> bool {
        self.alive
    }

    /// Starts the server again on the same port and data directory (killing
    /// it first if it still runs). It goes through crash recovery.
    ///
    /// # Panics
    ///
    /// When it does not accept connections within 30 seconds.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            self.child = spawn_postgres(&self.dir, self.port);
            // A start right after a kill can find the port or the old shared
            // memory still in use and exit: try again until the deadline.
            match self.wait_ready_until(deadline) {
                Ok(()) => {
                    self.alive = true;
                    return;
                }
                Err(err) if Instant::now() >= deadline => {
                    self.kill_processes();
                    panic!(
                        "postgres did not restart: {err}\nserver log:\n{}",
                        self.log()
                    )
                }
                Err(_) => {
                    self.kill_processes();
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// Sends signal `name` (`STOP`, `CONT`, …) to the postmaster, then to
    /// every process it started (backends, checkpointer, WAL writer…):
    /// `STOP` then `CONT` stalls the whole server, as a frozen VM would.
    /// The postmaster goes first so that it forks no process the list of
    /// its children misses. Nothing is sent to a killed server.
    pub fn signal(&self, name: &str) {
        if !self.alive {
            return;
        }
        let pid = self.pid();
        send_signal(name, &[pid]);
        send_signal(name, &children_of(pid));
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The postmaster's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The temporary directory: the cluster (`data/`), the server's log
    /// (`postgres.log`) and its unix socket.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the server has logged so far (warnings and errors, across restarts).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }

    /// Turns TLS on (`ssl = on`, with this certificate and key, PEM files)
    /// and reloads the server; connections may then ask for TLS
    /// (`sslmode=require`). The files are copied into the server's
    /// directory, owned by the server's user, the key readable by it only.
    ///
    /// # Panics
    ///
    /// When the files cannot be copied or the server refuses the settings.
    pub fn enable_tls(&self, certificate: &Path, key: &Path) {
        use std::os::unix::fs::PermissionsExt;
        let (cert_copy, key_copy) = (self.dir.join("server.crt"), self.dir.join("server.key"));
        for (from, to) in [(certificate, &cert_copy), (key, &key_copy)] {
            std::fs::copy(from, to)
                .unwrap_or_else(|err| panic!("copying {}: {err}", from.display()));
            if let Some((uid, gid)) = server_user() {
                std::os::unix::fs::chown(to, Some(uid), Some(gid))
                    .unwrap_or_else(|err| panic!("chown {}: {err}", to.display()));
            }
        }
        std::fs::set_permissions(&key_copy, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|err| panic!("chmod {}: {err}", key_copy.display()));
        self.psql(&format!(
            "ALTER SYSTEM SET ssl_cert_file = '{}'",
            cert_copy.display()
        ));
        self.psql(&format!(
            "ALTER SYSTEM SET ssl_key_file = '{}'",
            key_copy.display()
        ));
        self.psql("ALTER SYSTEM SET ssl = on");
        self.psql("SELECT pg_reload_conf()");
        // The reload is asynchronous: wait until the server says TLS is on.
        for _ in 0..100 {
            if self.psql("SHOW ssl") == "on" {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the server did not turn TLS on:\n{}", self.log());
    }

    /// Runs `sql` with `psql` as `postgres` and returns its output, trimmed:
    /// unaligned, tuples only (`select 1, 2` gives `1|2`, rows one a line).
    ///
    /// # Panics
    ///
    /// When `psql` fails (the message holds its stderr).
    pub fn psql(&self, sql: &str) -> String {
        psql(self.port, sql).unwrap_or_else(|err| panic!("psql {sql:?} failed: {err}"))
    }

    /// As [`PostgresServer::psql`], `None` when `psql` fails (the server is
    /// down, the statement fails, …).
    pub fn try_psql(&self, sql: &str) -> Option<String> {
        psql(self.port, sql).ok()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        self.wait_ready_until(Instant::now() + READY_LIMIT)
    }

    fn wait_ready_until(&mut self, deadline: Instant) -> Result<(), String> {
        let pg_isready = pg_bin().join("pg_isready");
        let has_pg_isready = pg_isready.exists();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("postgres exited at start with {status}"));
            }
            // Accepting TCP connections is not enough: during crash recovery
            // the server rejects them ("the database system is starting up").
            let ready = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok()
                && if has_pg_isready {
                    Command::new(&pg_isready)
                        .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string()])
                        .args(["-U", "postgres", "-d", "postgres", "-t", "5"])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status()
                        .is_ok_and(|status| status.success())
                } else {
                    psql(self.port, "select 1").is_ok_and(|out| out == "1")
                };
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "postgres did not accept connections on port {} in time",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn kill_processes(&mut self) {
        kill_tree(&mut self.child);
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.kill_processes();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `pgbouncer` child process on `127.0.0.1` in front of a
/// [`PostgresServer`], in transaction pooling mode with four server
/// connections per pool, killed when dropped.
///
/// It authenticates `postgres` with no password (trust) and knows one
/// database, `postgres`; `postgres` is also an admin user, so
/// `psql -d pgbouncer -c 'show pools'` works.
///
/// After a failed connection to the server it tries again after one second
/// (`server_login_retry = 1`; PgBouncer's default is 15 s, which would keep
/// it refusing clients that long after a [`PostgresServer::restart`]).
/// While the server is down, clients wait for a connection (up to
/// `query_wait_timeout`, 120 s by default) rather than get an error.
#[derive(Debug)]
pub struct PgBouncer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl PgBouncer {
    /// Starts a bouncer for `server`, waiting until its port accepts TCP
    /// connections.
    ///
    /// # Panics
    ///
    /// When `pgbouncer` is missing or does not listen within 30 seconds
    /// (the message holds its log).
    pub fn start(server: &PostgresServer) -> PgBouncer {
        let dir = temp_dir("pgbouncer");
        let mut last_error = String::new();
        // A free port can be taken between our probe and the bind: retry.
        for _ in 0..5 {
            let port = match free_port() {
                Ok(port) => port,
                Err(err) => {
                    last_error = format!("no free port: {err}");
                    continue;
                }
            };
            let ini = write_pgbouncer_config(&dir, port, server.port());
            let mut bouncer = PgBouncer {
                child: spawn_pgbouncer(&dir, &ini),
                port,
                dir: dir.clone(),
            };
            match bouncer.wait_ready() {
                Ok(()) => return bouncer,
                Err(err) => {
                    last_error = format!("{err}\npgbouncer log:\n{}", bouncer.log());
                    kill_tree(&mut bouncer.child);
                    std::mem::forget(bouncer);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!("could not start pgbouncer: {last_error}");
    }

    /// Kills the bouncer (`SIGKILL`, every client and server connection
    /// gone at once, as a crash) and starts it again on the same port.
    ///
    /// # Panics
    ///
    /// When it does not listen again within 30 seconds.
    pub fn restart(&mut self) {
        kill_tree(&mut self.child);
        let ini = self.dir.join("pgbouncer.ini");
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            self.child = spawn_pgbouncer(&self.dir, &ini);
            // The port may still be held for a moment after the kill: the
            // new process then exits, and is started again.
            match self.wait_ready() {
                Ok(()) => return,
                Err(err) if Instant::now() >= deadline => {
                    kill_tree(&mut self.child);
                    panic!(
                        "pgbouncer did not restart: {err}\npgbouncer log:\n{}",
                        self.log()
                    )
                }
                Err(_) => {
                    kill_tree(&mut self.child);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }

    /// The port the bouncer listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The bouncer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the bouncer has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }

    /// Runs `sql` with `psql` through the bouncer, as [`PostgresServer::psql`].
    ///
    /// # Panics
    ///
    /// When `psql` fails (the message holds its stderr).
    pub fn psql(&self, sql: &str) -> String {
        psql(self.port, sql)
            .unwrap_or_else(|err| panic!("psql {sql:?} via pgbouncer failed: {err}"))
    }

    /// As [`PgBouncer::psql`], `None` when `psql` fails.
    pub fn try_psql(&self, sql: &str) -> Option<String> {
        psql(self.port, sql).ok()
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("pgbouncer exited at start with {status}"));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "pgbouncer did not listen on port {} in time",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        kill_tree(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The directory holding `initdb`, `postgres`, `psql` and `pg_isready`.
fn pg_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(dir) = std::env::var_os("PG_BIN") {
            let dir = PathBuf::from(dir);
            assert!(
                dir.join("initdb").exists(),
                "PG_BIN={} holds no initdb",
                dir.display()
            );
            return dir;
        }
        newest_debian_bin()
            .or_else(pg_config_bin)
            .unwrap_or_else(|| panic!("{INSTALL_HINT}"))
    })
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`.
fn newest_debian_bin() -> Option<PathBuf> {
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version: Vec<u32> = entry
                .file_name()
                .to_str()?
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
}

/// `pg_config --bindir`, when it holds `initdb` (Homebrew, source builds).
fn pg_config_bin() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    let bin = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    (output.status.success() && bin.join("initdb").exists()).then_some(bin)
}

/// `$PGBOUNCER`, else `/usr/sbin/pgbouncer`, else `pgbouncer` on the `PATH`.
fn pgbouncer_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("PGBOUNCER") {
        return PathBuf::from(path);
    }
    let debian = PathBuf::from("/usr/sbin/pgbouncer");
    if debian.exists() {
        debian
    } else {
        PathBuf::from("pgbouncer")
    }
}

/// The uid and gid to run servers as: the `postgres` system user when we
/// are root (PostgreSQL and PgBouncer refuse to run as root), else none
/// (run as ourselves).
fn server_user() -> Option<(u32, u32)> {
    static USER: OnceLock<Option<(u32, u32)>> = OnceLock::new();
    *USER.get_or_init(|| {
        if id(&["-u"]) != Some(0) {
            return None;
        }
        let uid = id(&["-u", "postgres"]);
        let gid = id(&["-g", "postgres"]);
        match (uid, gid) {
            (Some(uid), Some(gid)) => Some((uid, gid)),
            _ => panic!(
                "running as root, and PostgreSQL refuses to: the tests run it as the \
                 `postgres` user, which does not exist (the Debian package `postgresql` \
                 creates it; or `useradd --system postgres`)"
            ),
        }
    })
}

/// `id ARGS`, parsed as a number.
fn id(args: &[&str]) -> Option<u32> {
    let output = Command::new("id").args(args).output().ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout).ok()?.trim().parse().ok()
}

/// Makes `command` run as [`server_user`], when there is one.
fn run_as_server_user(mut command: Command) -> Command {
    if let Some((uid, gid)) = server_user() {
        // The std sets the gid, drops supplementary groups, then the uid.
        command.uid(uid).gid(gid);
    }
    command
}

/// A new empty temporary directory, owned by [`server_user`] when there is one.
fn temp_dir(kind: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "cronlock-{kind}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
    if let Some((uid, gid)) = server_user() {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .unwrap_or_else(|err| panic!("chown {}: {err}", dir.display()));
    }
    dir
}

fn data_dir(dir: &Path) -> PathBuf {
    dir.join("data")
}

/// The log file in `dir`, opened for appending (it outlives restarts).
fn log_file(dir: &Path, name: &str) -> File {
    let path = dir.join(name);
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn spawn_postgres(dir: &Path, port: u16) -> Child {
    let binary = pg_bin().join("postgres");
    let log = log_file(dir, "postgres.log");
    run_as_server_user(Command::new(&binary))
        .arg("-D")
        .arg(data_dir(dir))
        .args([
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-k",
        ])
        .arg(dir)
        .args(["-c", "fsync=off", "-c", "max_connections=200"])
        .args([
            "-c",
            "log_min_messages=warning",
            "-c",
            "logging_collector=off",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|err| {
            let _ = std::fs::remove_dir_all(dir);
            panic!("running {}: {err}", binary.display())
        })
}

fn write_pgbouncer_config(dir: &Path, port: u16, server_port: u16) -> PathBuf {
    let auth_file = dir.join("userlist.txt");
    std::fs::write(&auth_file, "\"postgres\" \"\"\n")
        .unwrap_or_else(|err| panic!("{}: {err}", auth_file.display()));
    let ini = dir.join("pgbouncer.ini");
    let config = format!(
        "[databases]\n\
         postgres = host=127.0.0.1 port={server_port} dbname=postgres\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir = {dir}\n\
         auth_type = trust\n\
         auth_file = {auth_file}\n\
         admin_users = postgres\n\
         pool_mode = transaction\n\
         max_client_conn = 200\n\
         default_pool_size = 4\n\
         ignore_startup_parameters = extra_float_digits,options\n\
         server_reset_query =\n\
         server_login_retry = 1\n",
        dir = dir.display(),
        auth_file = auth_file.display(),
    );
    std::fs::write(&ini, config).unwrap_or_else(|err| panic!("{}: {err}", ini.display()));
    ini
}

fn spawn_pgbouncer(dir: &Path, ini: &Path) -> Child {
    let binary = pgbouncer_bin();
    let log = log_file(dir, "pgbouncer.log");
    run_as_server_user(Command::new(&binary))
        .arg(ini)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|err| {
            let _ = std::fs::remove_dir_all(dir);
            match err.kind() {
                std::io::ErrorKind::NotFound => panic!("{PGBOUNCER_HINT}"),
                _ => panic!("running {}: {err}", binary.display()),
            }
        })
}

/// `psql` against `127.0.0.1:port` as `postgres`: trimmed stdout, or stderr
/// (and the exit status) when it fails.
fn psql(port: u16, sql: &str) -> Result<String, String> {
    let output = Command::new(pg_bin().join("psql"))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
        .args([
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output()
        .map_err(|err| format!("running psql: {err}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// `SIGKILL` to `child` and to its children, then waits for it.
///
/// The postmaster is stopped first so that it forks no new backend while
/// its children are listed (from `/proc`, on Linux; elsewhere only the
/// postmaster is killed and its backends exit when they notice).
fn kill_tree(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = child.id();
    send_signal("STOP", &[pid]);
    let mut pids = children_of(pid);
    pids.push(pid);
    send_signal("KILL", &pids);
    let _ = child.kill();
    let _ = child.wait();
}

fn send_signal(name: &str, pids: &[u32]) {
    let _ = Command::new("kill")
        .args(["-s", name])
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The processes whose parent is `pid`, from `/proc/*/stat`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `PID (COMM) STATE PPID …`; COMM may hold spaces and parentheses.
            let parent: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            (parent == pid).then_some(child)
        })
        .collect()
}
