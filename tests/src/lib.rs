//! Test harness for cronlock's integration tests.
//!
//! [`RedisServer`] starts a real `redis-server` on a free loopback port and
//! stops it when dropped. Nothing is mocked: when `redis-server` is missing
//! the test fails and says how to install it. [`postgres`] does the same
//! for PostgreSQL and PgBouncer.

pub mod chaos;
pub mod contract;
pub mod fuzz;
pub mod http;
pub mod load;
pub mod postgres;
pub mod proxy;
pub mod topology;
pub mod webdriver;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const INSTALL_HINT: &str = "redis-server is not installed: install it with \
    `apt-get install -y redis-server` (Debian/Ubuntu) or `brew install redis` (macOS), \
    or run ./scripts/test, which installs it";

/// A `redis-server` child process on `127.0.0.1`, killed when dropped.
///
/// ```no_run
/// let redis = cronlock_tests::RedisServer::start();
/// assert_eq!(redis.command(&["PING"]), "+PONG");
/// println!("{}", redis.url());
/// ```
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    alive: bool,
}

impl RedisServer {
    /// Starts a server with no persistence, waiting until it answers `PING`.
    ///
    /// # Panics
    ///
    /// When `redis-server` is missing or does not answer within 10 seconds:
    /// a test harness has no better way to fail.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&["--save", "", "--appendonly", "no"])
    }

    /// Starts a server with extra `redis-server` arguments (`--requirepass x`, …).
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`].
    pub fn start_with(extra_args: &[&str]) -> RedisServer {
        let mut last_error = String::new();
        // A free port can be taken between our probe and the server's bind: retry.
        for _ in 0..5 {
            match RedisServer::try_start(extra_args) {
                Ok(server) => return server,
                Err(err) => last_error = err,
            }
        }
        panic!("could not start redis-server: {last_error}");
    }

    /// Starts a server on `port` (one a test chose before, with
    /// [`free_port`]), with extra arguments.
    ///
    /// # Panics
    ///
    /// As [`RedisServer::start`], or when the port is taken.
    pub fn start_on(port: u16, extra_args: &[&str]) -> RedisServer {
        RedisServer::try_start_on(port, extra_args)
            .unwrap_or_else(|err| panic!("could not start redis-server on {port}: {err}"))
    }

    fn try_start(extra_args: &[&str]) -> Result<RedisServer, String> {
        let port = free_port().map_err(|err| format!("no free port: {err}"))?;
        RedisServer::try_start_on(port, extra_args)
    }

    fn try_start_on(port: u16, extra_args: &[&str]) -> Result<RedisServer, String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cronlock-redis-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|err| format!("{}: {err}", dir.display()))?;
        let args: Vec<String> = extra_args.iter().map(|arg| (*arg).to_owned()).collect();
        let child = spawn_server(port, &dir, &args)?;
        let server = RedisServer {
            child,
            port,
            dir,
            args,
            alive: true,
        };
        server.await_ready()
    }

    /// Kills the server (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.alive = false;
    }

    /// Whether the server runs (it was not killed, or was restarted since).
    pub fn is_alive(&self) -> bool {
        self.alive
    }

    /// Starts the server again on the same port and directory after [`RedisServer::kill`].
    ///
    /// # Panics
    ///
    /// When it does not come back within 10 seconds.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match spawn_server(self.port, &self.dir, &self.args) {
                Ok(child) => {
                    self.child = child;
                    if self.wait_ready().is_ok() {
                        self.alive = true;
                        return;
                    }
                }
                Err(err) if Instant::now() > deadline => {
                    panic!("redis-server did not restart: {err}")
                }
                Err(_) => {}
            }
            if Instant::now() > deadline {
                panic!("redis-server did not restart within 10 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn await_ready(mut self) -> Result<RedisServer, String> {
        self.wait_ready()?;
        Ok(self)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let server = self;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!("redis-server exited at start with {status}"));
            }
            if server
                .try_command(&["PING"])
                .is_ok_and(|reply| reply == "+PONG" || reply.starts_with("-NOAUTH"))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("redis-server did not answer PING within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process id (for `SIGSTOP`/`SIGCONT`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`STOP`, `CONT`, …) to the server process.
    pub fn signal(&self, name: &str) {
        chaos::signal(self.pid(), name);
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The server's working directory (where `--dir` points).
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Sends one command and returns the first line of the reply (`+PONG`, `:1`, `$3`…).
    ///
    /// # Panics
    ///
    /// When the server cannot be reached.
    pub fn command(&self, args: &[&str]) -> String {
        self.try_command(args)
            .unwrap_or_else(|err| panic!("redis command {args:?} failed: {err}"))
    }

    /// Waits (without blocking the runtime) until `key` exists: a run has
    /// taken its lock, for example.
    ///
    /// # Panics
    ///
    /// When it does not within `limit`.
    pub async fn await_key(&self, key: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.command(&["EXISTS", key]) != ":1" {
            assert!(
                Instant::now() < deadline,
                "{key} did not appear within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends one command whose reply is a bulk string (`INFO`, `GET`) and
    /// returns that string (empty for a nil reply).
    ///
    /// # Panics
    ///
    /// When the server cannot be reached or answers something else.
    pub fn bulk(&self, args: &[&str]) -> String {
        self.try_bulk(args)
            .unwrap_or_else(|| panic!("no bulk reply to {args:?}"))
    }

    /// As [`RedisServer::bulk`], `None` when the server does not answer so.
    pub fn try_bulk(&self, args: &[&str]) -> Option<String> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream.write_all(&resp(args)).ok()?;
        let mut reader = BufReader::new(stream);
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let length: i64 = header.trim_end().strip_prefix('$')?.parse().ok()?;
        if length < 0 {
            return Some(String::new());
        }
        let mut body = vec![0u8; length as usize + 2];
        std::io::Read::read_exact(&mut reader, &mut body).ok()?;
        body.truncate(length as usize);
        Some(String::from_utf8_lossy(&body).into_owned())
    }

    /// Sends one command whose reply is an array of bulk strings (`KEYS`,
    /// `SMEMBERS`) and returns them.
    ///
    /// # Panics
    ///
    /// When the server cannot be reached or answers something else.
    pub fn bulk_array(&self, args: &[&str]) -> Vec<String> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream.write_all(&resp(args)).expect("send");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("reply");
        let count: usize = line
            .trim_end()
            .strip_prefix('*')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("not an array reply to {args:?}: {line}"));
        (0..count)
            .map(|_| {
                line.clear();
                reader.read_line(&mut line).expect("element");
                let length: usize = line.trim_end()[1..].parse().expect("bulk length");
                let mut body = vec![0u8; length + 2];
                std::io::Read::read_exact(&mut reader, &mut body).expect("element body");
                body.truncate(length);
                String::from_utf8_lossy(&body).into_owned()
            })
            .collect()
    }

    fn try_command(&self, args: &[&str]) -> std::io::Result<String> {
        self.try_command_with_timeout(args, Duration::from_secs(5))
    }

    /// Sends one command and waits up to `timeout` for the first line of
    /// its reply (`DEBUG SLEEP` answers only after it slept).
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or does not answer in time.
    pub fn try_command_with_timeout(
        &self,
        args: &[&str],
        timeout: Duration,
    ) -> std::io::Result<String> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(&resp(args))?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line)?;
        Ok(line.trim_end().to_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A command in Redis's wire format.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    request.into_bytes()
}

fn spawn_server(port: u16, dir: &std::path::Path, args: &[String]) -> Result<Child, String> {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        // DEBUG SLEEP stalls the server in fault tests; off by default since 7.0.
        .args(["--enable-debug-command", "local", "--dir"])
        .arg(dir)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => panic!("{INSTALL_HINT}"),
            _ => format!("spawning redis-server: {err}"),
        })
}

/// A port on 127.0.0.1 that nothing listened on a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
    Ok(listener.local_addr()?.port())
}

/// Helpers for scheduler tests under tokio's paused time.
pub mod paused {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};
    use cronlock::clock::TokioClock;
    use cronlock::{Scheduler, SchedulerBuilder};

    /// 2027-01-01T00:00:00.5Z: half a second before the first whole second.
    pub fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
            .single()
            .expect("valid instant")
            + chrono::Duration::milliseconds(500)
    }

    /// A builder with no `#[scheduled]` jobs, a clock at [`start`] that follows
    /// tokio's time, and short grace periods.
    pub fn builder() -> SchedulerBuilder {
        Scheduler::builder()
            .registered_jobs(false)
            .clock(TokioClock::starting_at(start()))
            .shutdown_grace(Duration::from_secs(10))
            .cancel_grace(Duration::from_secs(1))
    }

    /// Runs the scheduler for `duration` of (paused) time, then shuts it down.
    ///
    /// # Panics
    ///
    /// When the scheduler returns an error.
    pub async fn run_for(scheduler: &Scheduler, duration: Duration) {
        scheduler
            .run_until(tokio::time::sleep(duration))
            .await
            .expect("scheduler ran");
    }

    /// A shared list that jobs append to.
    #[derive(Debug, Clone)]
    pub struct Log<T>(Arc<Mutex<Vec<T>>>);

    impl<T> Default for Log<T> {
        fn default() -> Self {
            Log(Arc::new(Mutex::new(Vec::new())))
        }
    }

    impl<T: Clone> Log<T> {
        /// Appends one entry.
        pub fn push(&self, value: T) {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(value);
        }

        /// Everything appended so far.
        pub fn entries(&self) -> Vec<T> {
            self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
        }
    }

    /// `start()` plus `seconds`, rounded down to the whole second.
    pub fn second(seconds: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0)
            .single()
            .expect("valid instant")
            + chrono::Duration::seconds(seconds)
    }
}

/// The ticks a history records as not run for `reason`, newest first.
pub fn not_run_ticks(
    history: &[cronlock::lock::HistoryEntry],
    reason: cronlock::NotRun,
) -> Vec<chrono::DateTime<chrono::Utc>> {
    history
        .iter()
        .filter(|entry| entry.outcome == cronlock::RunOutcome::NotRun { reason })
        .map(|entry| entry.tick)
        .collect()
}

/// Asserts that runs, in tick order as `(tick, start, end, cancelled)`,
/// replaced each other (`overlap = "replace"`): every run but the last was
/// cancelled, and each ended before the next started.
///
/// # Panics
///
/// When a run was not cancelled or two runs overlapped; the message lists
/// the runs.
pub fn assert_each_replaced_by_the_next<T: PartialOrd + std::fmt::Debug>(
    runs: &[(chrono::DateTime<chrono::Utc>, T, T, bool)],
) {
    for pair in runs.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        assert!(
            before.3,
            "a run was not cancelled by the next tick: {runs:?}"
        );
        assert!(
            before.2 <= after.1,
            "two runs overlapped: {before:?} and {after:?}"
        );
    }
}

/// Several schedulers running side by side, as the instances of a fleet.
pub mod fleet {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use chrono::{DateTime, Utc};
    use cronlock::{Job, JobContext, Scheduler};
    use tokio::task::JoinHandle;

    use crate::paused::Log;

    /// Every run of every instance: (instance, job, tick).
    pub type Ledger = Log<(usize, String, DateTime<Utc>)>;

    /// A job that records each run in `ledger` as instance `instance`.
    pub fn recorded(
        ledger: &Ledger,
        instance: usize,
        name: &str,
        spec: &str,
        timeout: Duration,
    ) -> Job {
        let ledger = ledger.clone();
        Job::new(name, spec, timeout, move |ctx: JobContext| {
            let ledger = ledger.clone();
            async move { ledger.push((instance, ctx.job_name().to_owned(), ctx.tick())) }
        })
    }

    /// How many times each (job, tick) ran.
    pub fn counts(ledger: &Ledger) -> BTreeMap<(String, DateTime<Utc>), usize> {
        let mut counts = BTreeMap::new();
        for (_, job, tick) in ledger.entries() {
            *counts.entry((job, tick)).or_insert(0) += 1;
        }
        counts
    }

    /// The whole seconds from `from` to `to` (both rounded up), each a tick
    /// of an every-second job.
    pub fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let first = from.timestamp() + 1;
        (first..=to.timestamp())
            .filter_map(|second| DateTime::from_timestamp(second, 0))
            .collect()
    }

    /// Asserts that no tick of `job` ran twice and that every tick in
    /// `must_run` ran once; the message lists the ledger.
    ///
    /// # Panics
    ///
    /// When a tick ran twice or a required tick did not run.
    pub fn assert_each_once(ledger: &Ledger, job: &str, must_run: &[DateTime<Utc>]) {
        let counts = counts(ledger);
        let twice: Vec<_> = counts
            .iter()
            .filter(|((name, _), count)| name == job && **count > 1)
            .collect();
        assert!(twice.is_empty(), "{job}: ticks ran twice: {twice:?}");
        let missing: Vec<_> = must_run
            .iter()
            .filter(|tick| !counts.contains_key(&(job.to_owned(), **tick)))
            .collect();
        let ran: Vec<_> = counts
            .keys()
            .filter(|(name, _)| name == job)
            .map(|(_, tick)| tick.format("%H:%M:%S%.3f").to_string())
            .collect();
        assert!(
            missing.is_empty(),
            "{job}: ticks never ran: {missing:?}\nran: {ran:?}"
        );
    }

    /// Asserts what a fleet running an every-second job from `begin` to
    /// `end` must show: every whole second from the first after `begin` to
    /// two before `end` ran exactly once, no tick ran twice, and the
    /// fencing tokens grew from run to run. `in_start_order`: (instance,
    /// tick, fencing token) as the runs started.
    ///
    /// # Panics
    ///
    /// When one of those does not hold; the message shows the runs.
    pub fn assert_every_second_once(
        in_start_order: &[(usize, DateTime<Utc>, u64)],
        begin: DateTime<Utc>,
        end: DateTime<Utc>,
    ) {
        use chrono::SubsecRound;
        let mut entries = in_start_order.to_vec();
        entries.sort_by_key(|(_, tick, _)| *tick);
        // From the first whole second after the start, when an instance
        // with a correct clock is up: a faster clock claiming later ticks
        // first must not make any of them be lost.
        let first = begin.trunc_subsecs(0) + chrono::Duration::seconds(1);
        let last = end.trunc_subsecs(0) - chrono::Duration::seconds(2);
        let expected = seconds(first - chrono::Duration::seconds(1), last);
        let seen: Vec<DateTime<Utc>> = entries
            .iter()
            .map(|(_, t, _)| *t)
            .filter(|t| *t >= first && *t <= last)
            .collect();
        assert_eq!(
            seen, expected,
            "ticks in [{first}, {last}], runs {entries:?}"
        );
        let all: Vec<DateTime<Utc>> = entries.iter().map(|(_, t, _)| *t).collect();
        let mut unique = all.clone();
        unique.dedup();
        assert_eq!(all, unique, "a tick ran twice: {entries:?}");
        // Runs of a skip-overlap job never overlap, so they start in claim
        // order, and each claim's fencing token is above every earlier one's.
        let tokens: Vec<u64> = in_start_order.iter().map(|(_, _, f)| *f).collect();
        assert!(
            tokens.windows(2).all(|w| w[0] < w[1]),
            "fencing tokens must grow from run to run: {in_start_order:?}"
        );
    }

    /// Asserts that a fleet survived an outage of its backend from `down`
    /// to `up`: no tick of `job` ran twice, ticks ran before and resumed
    /// after, none well inside the outage ran (fail closed), and the log
    /// shows the outage for `job` once per instance (`instances` at most)
    /// and its end. Other tests of the binary may log to the same capture:
    /// only lines naming `job` are counted.
    ///
    /// # Panics
    ///
    /// When one of those does not hold.
    pub fn assert_outage_survived(
        ticks: &[DateTime<Utc>],
        (down, up): (DateTime<Utc>, DateTime<Utc>),
        (backend, job): (&str, &str),
        instances: usize,
        log: &str,
    ) {
        let mut ticks = ticks.to_vec();
        ticks.sort();
        let mut unique = ticks.clone();
        unique.dedup();
        assert_eq!(ticks, unique, "a tick ran twice: {ticks:?}");
        assert!(
            ticks.iter().any(|t| *t < down),
            "ran before the outage: {ticks:?}"
        );
        assert!(
            ticks.iter().any(|t| *t > up + chrono::Duration::seconds(2)),
            "resumed after the outage: {ticks:?}"
        );
        // A claim sent just before the restart may wait for its connection
        // and succeed once the backend is back: that tick runs late, once.
        let during: Vec<_> = ticks
            .iter()
            .filter(|t| {
                **t > down + chrono::Duration::seconds(1) && **t < up - chrono::Duration::seconds(1)
            })
            .collect();
        assert!(
            during.is_empty(),
            "ran while {backend} was down (not fail closed): {during:?}"
        );
        let outage_errors = log
            .lines()
            .filter(|l| {
                l.contains(&format!("not running ticks while {backend} is unreachable"))
                    && l.contains(job)
            })
            .count();
        assert!(
            (1..=instances).contains(&outage_errors),
            "one error per instance per outage, got {outage_errors}:\n{log}"
        );
        assert!(log.contains(&format!("{backend} reachable again")), "{log}");
    }

    /// Schedulers started by [`start`], each running for a set time.
    #[derive(Debug)]
    pub struct Running(Vec<JoinHandle<Result<(), cronlock::Error>>>);

    /// Starts every scheduler on its own task; each shuts down after `duration`.
    pub fn start(schedulers: &[Scheduler], duration: Duration) -> Running {
        Running(
            schedulers
                .iter()
                .map(|scheduler| {
                    let scheduler = scheduler.clone();
                    tokio::spawn(
                        async move { scheduler.run_until(tokio::time::sleep(duration)).await },
                    )
                })
                .collect(),
        )
    }

    impl Running {
        /// Waits until every scheduler has shut down.
        ///
        /// # Panics
        ///
        /// When a scheduler failed or its task panicked.
        pub async fn finish(self) {
            for handle in self.0 {
                handle
                    .await
                    .expect("scheduler task")
                    .expect("scheduler ran");
            }
        }
    }
}

/// Captured `tracing` output, for tests of what the scheduler logs.
pub mod logs {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    /// Everything the subscriber from [`LogCapture::subscriber`] wrote.
    #[derive(Debug, Clone, Default)]
    pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

    impl LogCapture {
        /// A plain-text subscriber (no colours, no timestamps) writing here, up to DEBUG.
        pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
            tracing_subscriber::fmt()
                .with_writer(self.clone())
                .with_ansi(false)
                .without_time()
                .with_max_level(tracing::Level::DEBUG)
                .finish()
        }

        /// The captured lines.
        pub fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_owned)
                .collect()
        }

        /// Asserts that one line contains every needle.
        ///
        /// # Panics
        ///
        /// When no line does; the message shows every line.
        pub fn assert_logged(&self, needles: &[&str]) {
            let lines = self.lines();
            assert!(
                lines
                    .iter()
                    .any(|line| needles.iter().all(|needle| line.contains(needle))),
                "no line contains all of {needles:?}:\n{}",
                lines.join("\n")
            );
        }
    }

    impl Write for LogCapture {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for LogCapture {
        type Writer = LogCapture;

        fn make_writer(&'a self) -> LogCapture {
            self.clone()
        }
    }
}

/// Certificates for TLS tests, made with the `openssl` command.
pub mod certificates {
    use std::path::Path;
    use std::process::Command;

    fn openssl(dir: &Path, args: &[&str]) {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("openssl is installed (apt-get install -y openssl; ./scripts/test does this)");
        assert!(status.success(), "openssl {args:?} failed");
    }

    /// A CA (`ca.crt`, `ca.key`) and a certificate for 127.0.0.1 signed by
    /// it (`server.crt`, `server.key`), in `dir`.
    ///
    /// # Panics
    ///
    /// When `openssl` is missing or fails.
    pub fn make(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=cronlock test CA",
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        std::fs::write(
            dir.join("ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "ext",
            ],
        );
    }
}
