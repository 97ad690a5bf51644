//! The faults the chaos driver injects, and which missing runs each excuses.

use std::time::Duration;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// A service process is SIGKILLed, then started again.
    InstanceKill,
    /// A service process gets SIGTERM (graceful shutdown), then starts again.
    InstanceTerm,
    /// A service process is SIGSTOPped for longer than the lock TTL.
    InstancePause,
    /// `redis-server` is SIGKILLed and started again.
    RedisRestart,
    /// `redis-server` is SIGSTOPped for less than the reply timeout.
    RedisPauseShort,
    /// `redis-server` is SIGSTOPped for longer than every lock TTL.
    RedisPauseLong,
    /// `DEBUG SLEEP`: Redis blocks longer than the reply timeout.
    RedisSleep,
    /// Every reply is held 300 ms.
    NetworkLatency,
    /// Nothing flows either way for a while, then everything held does.
    NetworkStall,
    /// Requests reach Redis, replies never come back.
    RepliesLost,
    /// Every connection is closed.
    ConnectionsCut,
    /// Connections stay open, nothing is answered (half-open).
    HalfOpen,
    /// Redis refuses writes with `OOM` (`maxmemory` 1 byte).
    OutOfMemory,
    /// `SCRIPT FLUSH`: Redis forgets the loaded scripts (`NOSCRIPT`).
    ScriptsFlushed,
    /// Sentinel: the primary is SIGKILLed, a replica is promoted, the old
    /// primary comes back as a replica.
    PrimaryFailover,
    /// Cluster: a master is SIGKILLed, its replica takes over, the old
    /// master comes back as a replica.
    MasterFailover,
    /// Cluster: 1,000 hash slots move, with their keys, to another master.
    Reshard,
    /// PostgreSQL: the postmaster and every backend are SIGKILLed, the
    /// server starts again a few seconds later (crash recovery).
    PostgresRestart,
    /// PostgreSQL: the postmaster and every backend are SIGSTOPped for
    /// longer than the reply timeout, then continued: queued claims reach
    /// the database late.
    PostgresPause,
    /// PgBouncer is SIGKILLed (every client and server connection cut,
    /// statements in flight with them) and started again on the same port.
    PgBouncerRestart,
}

impl FaultKind {
    /// Every kind, in the order the driver injects them.
    pub const ALL: [FaultKind; 14] = [
        FaultKind::InstanceKill,
        FaultKind::RedisPauseShort,
        FaultKind::NetworkLatency,
        FaultKind::InstanceTerm,
        FaultKind::RepliesLost,
        FaultKind::RedisRestart,
        FaultKind::ConnectionsCut,
        FaultKind::InstancePause,
        FaultKind::RedisSleep,
        FaultKind::HalfOpen,
        FaultKind::ScriptsFlushed,
        FaultKind::NetworkStall,
        FaultKind::OutOfMemory,
        FaultKind::RedisPauseLong,
    ];

    /// The faults whose outcome depends on Redis persistence: the phase
    /// without persistence injects these.
    pub const PERSISTENCE: [FaultKind; 4] = [
        FaultKind::InstanceKill,
        FaultKind::InstanceTerm,
        FaultKind::RedisRestart,
        FaultKind::InstancePause,
    ];

    /// The faults of a Sentinel deployment's run.
    pub const SENTINEL: [FaultKind; 3] = [
        FaultKind::PrimaryFailover,
        FaultKind::InstanceKill,
        FaultKind::InstanceTerm,
    ];

    /// The faults of a Cluster deployment's run.
    pub const CLUSTER: [FaultKind; 4] = [
        FaultKind::Reshard,
        FaultKind::MasterFailover,
        FaultKind::InstanceKill,
        FaultKind::InstanceTerm,
    ];

    /// The faults of a run against one PostgreSQL server; the long service
    /// pause comes before the last kind so that a short run injects every
    /// kind.
    pub const POSTGRES: [FaultKind; 5] = [
        FaultKind::PostgresRestart,
        FaultKind::InstanceKill,
        FaultKind::PostgresPause,
        FaultKind::InstancePause,
        FaultKind::InstanceTerm,
    ];

    /// The faults of a run through PgBouncer: those of [`FaultKind::POSTGRES`]
    /// and PgBouncer's own crash.
    pub const PGBOUNCER: [FaultKind; 6] = [
        FaultKind::PostgresRestart,
        FaultKind::InstanceKill,
        FaultKind::PgBouncerRestart,
        FaultKind::PostgresPause,
        FaultKind::InstancePause,
        FaultKind::InstanceTerm,
    ];

    /// A short description, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            FaultKind::InstanceKill => "service SIGKILL + restart",
            FaultKind::InstanceTerm => "service SIGTERM + restart",
            FaultKind::InstancePause => "service SIGSTOP > lock TTL",
            FaultKind::RedisRestart => "redis-server SIGKILL + restart",
            FaultKind::RedisPauseShort => "redis-server SIGSTOP 0.3 s (< reply timeout)",
            FaultKind::RedisPauseLong => "redis-server SIGSTOP 12 s (> lock TTL)",
            FaultKind::RedisSleep => "DEBUG SLEEP 2 s (> reply timeout)",
            FaultKind::NetworkLatency => "replies 300 ms late for 4 s",
            FaultKind::NetworkStall => "network stall 3 s",
            FaultKind::RepliesLost => "replies lost for 2 s",
            FaultKind::ConnectionsCut => "connections cut",
            FaultKind::HalfOpen => "half-open connections 3 s",
            FaultKind::OutOfMemory => "Redis OOM (maxmemory) 3 s",
            FaultKind::ScriptsFlushed => "SCRIPT FLUSH (NOSCRIPT)",
            FaultKind::PrimaryFailover => "Sentinel: primary SIGKILL, replica promoted",
            FaultKind::MasterFailover => "Cluster: master SIGKILL, replica takes over",
            FaultKind::Reshard => "Cluster: 1,000 slots moved between masters",
            FaultKind::PostgresRestart => "postgres SIGKILL (all processes) + restart 3 s later",
            FaultKind::PostgresPause => "postgres SIGSTOP (all processes) 6 s (> reply timeout)",
            FaultKind::PgBouncerRestart => "pgbouncer SIGKILL + restart at once",
        }
    }

    /// How long the fault lasts once injected.
    pub(crate) fn duration(self) -> Duration {
        match self {
            FaultKind::InstanceKill
            | FaultKind::InstanceTerm
            | FaultKind::ConnectionsCut
            | FaultKind::ScriptsFlushed
            | FaultKind::PrimaryFailover
            | FaultKind::MasterFailover
            | FaultKind::Reshard
            | FaultKind::PgBouncerRestart => Duration::ZERO,
            FaultKind::RedisPauseShort => Duration::from_millis(300),
            FaultKind::RedisPauseLong => Duration::from_secs(12),
            FaultKind::RedisSleep | FaultKind::RepliesLost => Duration::from_secs(2),
            FaultKind::NetworkLatency => Duration::from_secs(4),
            FaultKind::NetworkStall | FaultKind::HalfOpen | FaultKind::OutOfMemory => {
                Duration::from_secs(3)
            }
            FaultKind::RedisRestart | FaultKind::PostgresRestart => Duration::from_secs(3),
            FaultKind::PostgresPause => Duration::from_secs(6),
            FaultKind::InstancePause => {
                Duration::from_millis(super::MAX_LOCK_TTL_MS as u64 + 2_000)
            }
        }
    }
}

/// A fault as it happened (real Unix ms).
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub(crate) kind: FaultKind,
    pub(crate) from: i64,
    pub(crate) to: i64,
    /// The service process it hit, for faults of one process.
    pub(crate) pid: Option<u32>,
}

impl Fault {
    /// Whether the fault may keep tick `tick` of a job with lock TTL
    /// `ttl_ms` from running: the lock unreachable (fail closed), an owner
    /// killed or paused while holding the lock.
    pub(crate) fn excuses(&self, tick: i64, ttl_ms: i64) -> bool {
        match self.kind {
            // The owner died between claim and start, or its run lock
            // blocks the job until it expires.
            FaultKind::InstanceKill | FaultKind::InstancePause => {
                tick >= self.from - 2_000 && tick <= self.from + ttl_ms + 1_000
            }
            // Graceful, and a Redis that forgets nothing: no tick may be lost.
            FaultKind::InstanceTerm | FaultKind::ScriptsFlushed | FaultKind::Reshard => false,
            // Claims fail while the lock cannot be reached (fail closed), and
            // for a reply timeout after. A Postgres or PgBouncer crash or
            // stall is such an outage, as a Redis restart is.
            _ => tick >= self.from - 1_000 && tick <= self.to + 2_000,
        }
    }

    /// Whether Redis may have forgotten claims around `tick`: a restart
    /// without persistence, or a failover to a replica the latest writes had
    /// not reached (without the durability option). A Postgres crash
    /// forgets nothing: a commit is acknowledged once its WAL is written,
    /// which outlives the process (`fsync=off` only risks a machine crash).
    pub(crate) fn forgets(&self, tick: i64) -> bool {
        matches!(
            self.kind,
            FaultKind::RedisRestart | FaultKind::PrimaryFailover | FaultKind::MasterFailover
        ) && tick >= self.from - 3_000
            && tick <= self.to + 3_000
    }
}
