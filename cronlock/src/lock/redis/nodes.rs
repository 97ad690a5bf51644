//! Reaching the nodes: a bb8 pool of connections to one endpoint or to the
//! primary Sentinel names, or one connection to a whole Cluster that routes
//! each request by its key's hash slot.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bb8::ManageConnection;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{AsyncConnectionConfig, Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, Value};

use super::config::RedisLockConfig;
use super::connection::{server_went_away, should_retire};
use super::endpoint::Endpoint;
use super::sentinel::Sentinels;
#[cfg(feature = "tls")]
use super::tls::install_crypto_provider;
use super::tls::tls_feature_missing;

/// One connection, whichever deployment it reaches.
#[derive(Clone)]
pub(super) enum Conn {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Node(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Node(conn) => conn.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Node(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

/// A command or a pipeline: what [`super::RedisLock`] sends.
pub(super) trait Request {
    fn send<'a>(
        &'a self,
        conn: &'a mut Conn,
    ) -> crate::lock::BoxFuture<'a, Result<Value, RedisError>>;
}

impl Request for Cmd {
    fn send<'a>(
        &'a self,
        conn: &'a mut Conn,
    ) -> crate::lock::BoxFuture<'a, Result<Value, RedisError>> {
        Box::pin(self.query_async(conn))
    }
}

impl Request for Pipeline {
    fn send<'a>(
        &'a self,
        conn: &'a mut Conn,
    ) -> crate::lock::BoxFuture<'a, Result<Value, RedisError>> {
        Box::pin(self.query_async(conn))
    }
}

/// The nodes of a deployment, as the lock reaches them.
pub(super) enum Nodes {
    /// One endpoint, or the primary the sentinels name: a pool.
    Pooled {
        pool: bb8::Pool<Manager>,
        failures: ConnectFailures,
        generations: Generations,
    },
    /// A Cluster: one multiplexed connection per node, kept by redis-rs,
    /// which follows `MOVED`/`ASK` and failovers.
    Cluster(ClusterNodes),
}

/// A Cluster's connection, made again when it stops answering: after a
/// master died, redis-rs's connection can keep waiting on its view of the
/// slots; a new one reads the topology afresh from the seed nodes.
pub(super) struct ClusterNodes {
    conn: Mutex<(ClusterConnection, std::time::Instant)>,
    connect: Box<dyn Fn() -> Result<ClusterConnection, RedisError> + Send + Sync>,
    limit: std::time::Duration,
    /// The least time between two renewals.
    renew_every: std::time::Duration,
}

/// The longest a Cluster connection that keeps failing waits for its next
/// renewal: one made while a failover was still under way reads the old
/// slots (the dead master's), and the ticks of those slots are lost until
/// the next one reads the new master.
const MAX_RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl ClusterNodes {
    async fn send(&self, command: &(dyn Request + Sync)) -> Result<Value, RedisError> {
        let (conn, made) = self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // Bounded here too: redis-rs retries redirections and reconnects
        // within its own limits, and a request must never outlive them.
        let result =
            match tokio::time::timeout(self.limit, command.send(&mut Conn::Cluster(conn))).await {
                Ok(result) => result,
                Err(_) => Err(RedisError::from((
                    ErrorKind::Io,
                    "no answer from the cluster in time",
                ))),
            };
        if let Err(err) = &result
            && (err.is_timeout() || err.is_io_error() || err.is_connection_dropped())
        {
            self.renew(made);
        }
        result
    }

    /// Replaces the connection made at `made` (unless another request did
    /// already), at most once per `renew_every`.
    fn renew(&self, made: std::time::Instant) {
        let mut current = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if current.1 != made || made.elapsed() < self.renew_every {
            return;
        }
        if let Ok(fresh) = (self.connect)() {
            *current = (fresh, std::time::Instant::now());
        }
    }
}

impl Nodes {
    /// Prepares the connections; none is made yet (a pool connects on
    /// demand, a Cluster in the background), so an unreachable Redis is
    /// found by the first request.
    pub(super) fn new(config: &RedisLockConfig, endpoint: &Endpoint) -> Result<Nodes, RedisError> {
        if let Endpoint::Cluster { nodes, tls } = endpoint {
            let (config, nodes, tls) = (config.clone(), nodes.clone(), *tls);
            let first = cluster(&config, &nodes, tls)?;
            return Ok(Nodes::Cluster(ClusterNodes {
                conn: Mutex::new((first, std::time::Instant::now())),
                limit: config.reply_timeout * 3,
                renew_every: (config.reply_timeout * 3).min(MAX_RENEW_EVERY),
                connect: Box::new(move || cluster(&config, &nodes, tls)),
            }));
        }
        let manager = Manager::new(config, endpoint)?;
        let failures = ConnectFailures::default();
        let generations = manager.generations();
        let pool = bb8::Pool::builder()
            .max_size(config.pool_size)
            .connection_timeout(config.connect_timeout + config.reply_timeout)
            .retry_connection(false)
            .test_on_check_out(false)
            .error_sink(Box::new(failures.clone()))
            .build_unchecked(manager);
        Ok(Nodes::Pooled {
            pool,
            failures,
            generations,
        })
    }

    /// Whether requests are routed by hash slot (keys of different slots
    /// cannot share a script call or a pipeline).
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Nodes::Cluster(_))
    }

    /// Sends one command or pipeline. On a pool, a request on a connection
    /// the server dropped never reached it: it is sent once more on a new
    /// connection (claims, releases and extensions are idempotent; so is
    /// sending them again), and every connection made before is dropped.
    pub(super) async fn request<T: redis::FromRedisValue>(
        &self,
        command: &(dyn Request + Sync),
    ) -> Result<T, RedisError> {
        let value = match self {
            // Bounded here too: redis-rs retries redirections and reconnects
            // within its own limits, and a request must never outlive them.
            Nodes::Cluster(cluster) => cluster.send(command).await,
            Nodes::Pooled {
                pool,
                failures,
                generations,
            } => match send_pooled(pool, failures, generations, command).await {
                Err(err) if server_went_away(&err) => {
                    generations.stale_all();
                    send_pooled(pool, failures, generations, command).await
                }
                other => other,
            },
        }?;
        redis::from_redis_value(value).map_err(RedisError::from)
    }
}

async fn send_pooled(
    pool: &bb8::Pool<Manager>,
    failures: &ConnectFailures,
    generations: &Generations,
    command: &(dyn Request + Sync),
) -> Result<Value, RedisError> {
    let pooled = loop {
        // A failed connection attempt ends the wait at once, with its error.
        let failed = failures.watch();
        let checkout = tokio::select! {
            biased;
            checkout = pool.get() => checkout,
            err = failed.next() => return Err(err),
        };
        match checkout {
            Ok(pooled) if generations.is_stale(&pooled) => {
                // Made before the server went away: drop it, take another.
                pooled.broken.store(true, Ordering::Relaxed);
            }
            Ok(pooled) => break pooled,
            Err(bb8::RunError::User(err)) => return Err(err),
            Err(bb8::RunError::TimedOut) => {
                return Err(failures.last().unwrap_or_else(|| {
                    RedisError::from((ErrorKind::Io, "no free connection in time"))
                }));
            }
        }
    };
    let mut conn = Conn::Node(pooled.inner.clone());
    let result = command.send(&mut conn).await;
    // A failure a new connection may cure retires this one.
    if let Err(err) = &result
        && should_retire(err)
    {
        pooled.broken.store(true, Ordering::Relaxed);
    }
    result
}

/// A Cluster connection with the lock's timeouts; a request is retried by
/// redis-rs (redirections, a failover) within the reply timeout.
fn cluster(
    config: &RedisLockConfig,
    nodes: &[String],
    tls: bool,
) -> Result<ClusterConnection, RedisError> {
    if tls && !cfg!(feature = "tls") {
        return Err(tls_feature_missing());
    }
    let builder = redis::cluster::ClusterClientBuilder::new(nodes.iter().map(String::as_str))
        .connection_timeout(config.connect_timeout)
        .response_timeout(config.reply_timeout)
        .overall_response_timeout(Some(config.reply_timeout * 2))
        .retries(3)
        .min_retry_wait(20)
        .max_retry_wait(200);
    #[cfg(feature = "tls")]
    let builder = if tls {
        install_crypto_provider();
        let builder = builder.tls(redis::TlsMode::Secure);
        match &config.tls_root {
            Some(root) => builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.clone()),
            }),
            None => builder,
        }
    } else {
        builder
    };
    let timeouts = redis::cluster::ClusterConfig::new()
        .set_connection_timeout(config.connect_timeout)
        .set_response_timeout(config.reply_timeout);
    Ok(builder
        .build()?
        .get_pending_async_connection_with_config(timeouts))
}

/// A bb8 manager that connects with explicit connect and reply timeouts
/// (redis-rs's own default reply timeout is 500 ms, whatever the pool's
/// settings), finds the primary through the sentinels where there are some,
/// and retires a connection once a request on it failed in a way that a new
/// connection may cure: bb8 only asks, and checkout tests would cost a
/// round trip per claim.
pub(super) struct Manager {
    source: Source,
    config: AsyncConnectionConfig,
    /// Bumped when a connection finds the server gone: every connection made
    /// before is stale (a restarted Redis, a failed-over endpoint) and is
    /// dropped instead of being tried one after another.
    generation: Arc<AtomicU64>,
}

enum Source {
    Client(redis::Client),
    /// Asked for the current primary at every new connection, so a
    /// failover is followed by the next connection made.
    Sentinel(Sentinels),
}

pub(super) struct Connection {
    pub(super) inner: MultiplexedConnection,
    pub(super) broken: AtomicBool,
    generation: u64,
}

impl Manager {
    fn new(config: &RedisLockConfig, endpoint: &Endpoint) -> Result<Manager, RedisError> {
        let source = match endpoint {
            Endpoint::Standalone { url } => Source::Client(client(config, url)?),
            Endpoint::Sentinel { .. } => Source::Sentinel(Sentinels::new(config, endpoint)?),
            Endpoint::Cluster { .. } => {
                return Err(RedisError::from((
                    ErrorKind::Client,
                    "a Cluster is not pooled",
                )));
            }
        };
        Ok(Manager {
            source,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(config.connect_timeout))
                .set_response_timeout(Some(config.reply_timeout)),
            generation: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The handle that marks every current connection stale.
    fn generations(&self) -> Generations {
        Generations(Arc::clone(&self.generation))
    }
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").finish_non_exhaustive()
    }
}

/// Marks all connections made so far as stale, and tells stale ones apart.
#[derive(Debug, Clone)]
pub(super) struct Generations(Arc<AtomicU64>);

impl Generations {
    /// Every connection made before now is stale.
    pub(super) fn stale_all(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether `connection` was made before the last [`Generations::stale_all`].
    fn is_stale(&self, connection: &Connection) -> bool {
        connection.generation < self.0.load(Ordering::SeqCst)
    }
}

impl ManageConnection for Manager {
    type Connection = Connection;
    type Error = RedisError;

    async fn connect(&self) -> Result<Connection, RedisError> {
        let generation = self.generation.load(Ordering::SeqCst);
        let inner = match &self.source {
            Source::Client(client) => {
                client
                    .get_multiplexed_async_connection_with_config(&self.config)
                    .await?
            }
            Source::Sentinel(sentinels) => sentinels.connect_to_primary(&self.config).await?,
        };
        Ok(Connection {
            inner,
            broken: AtomicBool::new(false),
            generation,
        })
    }

    async fn is_valid(&self, conn: &mut Connection) -> Result<(), RedisError> {
        redis::cmd("PING").query_async(&mut conn.inner).await
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        *conn.broken.get_mut() || conn.generation < self.generation.load(Ordering::SeqCst)
    }
}

/// The redis-rs client for a URL, with TLS settings where asked for.
fn client(config: &RedisLockConfig, url: &str) -> Result<redis::Client, RedisError> {
    let tls = url.starts_with("rediss://");
    if tls && !cfg!(feature = "tls") {
        return Err(tls_feature_missing());
    }
    #[cfg(feature = "tls")]
    if tls {
        install_crypto_provider();
        if let Some(root) = &config.tls_root {
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(root.clone()),
            };
            return redis::Client::build_with_tls(url, certificates);
        }
    }
    let _ = config;
    redis::Client::open(url)
}

/// Connection failures, as bb8 reports them: bb8 only hands them to a sink
/// (a checkout waits for its whole timeout), so the pool's users learn here
/// why no connection came, and at once.
#[derive(Debug, Clone)]
pub(super) struct ConnectFailures(Arc<FailureState>);

#[derive(Debug)]
struct FailureState {
    last: Mutex<Option<RedisError>>,
    /// Counts failures; a checkout watches it from before it starts, so a
    /// failure that comes before it waits is not missed.
    count: tokio::sync::watch::Sender<u64>,
}

impl Default for ConnectFailures {
    fn default() -> ConnectFailures {
        ConnectFailures(Arc::new(FailureState {
            last: Mutex::new(None),
            count: tokio::sync::watch::channel(0).0,
        }))
    }
}

/// Failures from one moment on.
struct FailureWatch {
    failures: ConnectFailures,
    seen: tokio::sync::watch::Receiver<u64>,
}

impl ConnectFailures {
    fn watch(&self) -> FailureWatch {
        FailureWatch {
            failures: self.clone(),
            seen: self.0.count.subscribe(),
        }
    }

    fn last(&self) -> Option<RedisError> {
        self.0
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl FailureWatch {
    /// Waits for the next failed connection attempt and returns its error.
    async fn next(mut self) -> RedisError {
        if self.seen.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        self.failures
            .last()
            .unwrap_or_else(|| RedisError::from((ErrorKind::Io, "connection failed")))
    }
}

impl bb8::ErrorSink<RedisError> for ConnectFailures {
    fn sink(&self, error: RedisError) {
        *self.0.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(error);
        self.0.count.send_modify(|count| *count += 1);
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<RedisError>> {
        Box::new(self.clone())
    }
}
