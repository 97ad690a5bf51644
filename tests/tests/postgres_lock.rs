//! Several schedulers sharing one real PostgreSQL server (started on a free
//! loopback port by the harness): every tick once, also with clocks 1.5 s
//! behind and ahead and through PgBouncer in transaction mode; an outage is
//! survived (fail closed, logged once, resumed); the schema is created,
//! versioned and checked; startup errors are clear.

use std::time::Duration;

use chrono::{DateTime, Utc};
use cronlock::clock::OffsetClock;
use cronlock::lock::{LockErrorKind, PostgresLock, PostgresLockConfig, postgres_schema_sql};
use cronlock::{Error, Job, JobContext, Scheduler};
use cronlock_tests::fleet;
use cronlock_tests::logs::LogCapture;
use cronlock_tests::paused::Log;
use cronlock_tests::postgres::{PgBouncer, PostgresServer};

type Ledger = Log<(usize, DateTime<Utc>, u64)>;

fn config(url: &str) -> PostgresLockConfig {
    PostgresLockConfig::new(url).connect_timeout(Duration::from_millis(500))
}

/// An instance with an every-second job that records each run in the
/// ledger and, through its own connection, in the database.
async fn instance(url: &str, index: usize, skew_ms: i64, ledger: &Ledger) -> Scheduler {
    let ledger = ledger.clone();
    let url_for_job = url.to_owned();
    Scheduler::builder()
        .registered_jobs(false)
        .postgres_config(config(url))
        .clock(OffsetClock::new(chrono::Duration::milliseconds(skew_ms)))
        .job(Job::new(
            "every-second",
            "* * * * * *",
            Duration::from_secs(5),
            move |ctx: JobContext| {
                let (ledger, url) = (ledger.clone(), url_for_job.clone());
                async move {
                    ledger.push((index, ctx.tick(), ctx.fencing_token()));
                    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                        .await
                        .map_err(|e| e.to_string())?;
                    let connection = tokio::spawn(connection);
                    client
                        .query_typed(
                            "INSERT INTO job_runs (tick) VALUES ($1)",
                            &[(&ctx.tick().timestamp(), tokio_postgres::types::Type::INT8)],
                        )
                        .await
                        .map_err(|e| e.to_string())?;
                    drop(client);
                    let _ = connection.await;
                    Ok::<(), String>(())
                }
            },
        ))
        .build()
        .await
        .unwrap()
}

/// Runs the instances for `seconds` and checks that every whole second
/// inside the run ran exactly once, in the ledger and in the database.
async fn run_and_check(server: &PostgresServer, url: &str, skews_ms: &[i64], seconds: u64) {
    server.psql("CREATE TABLE IF NOT EXISTS job_runs (tick bigint NOT NULL)");
    let ledger = Ledger::default();
    let mut schedulers = Vec::new();
    for (index, skew) in skews_ms.iter().enumerate() {
        schedulers.push(instance(url, index, *skew, &ledger).await);
    }
    let begin = Utc::now();
    fleet::start(&schedulers, Duration::from_secs(seconds))
        .finish()
        .await;
    let end = Utc::now();

    let in_start_order = ledger.entries();
    fleet::assert_every_second_once(&in_start_order, begin, end);

    let doubled = server.psql(
        "SELECT count(*) FROM (SELECT tick FROM job_runs GROUP BY tick HAVING count(*) > 1) d",
    );
    assert_eq!(doubled, "0", "the database counted a tick twice");
    let counted = server.psql("SELECT count(*) FROM job_runs");
    assert_eq!(counted, in_start_order.len().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_with_clocks_1_5_s_apart_run_each_tick_once() {
    let server = PostgresServer::start();
    run_and_check(&server, &server.url(), &[-1_500, 0, 1_500], 11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_pgbouncer_in_transaction_mode_each_tick_runs_once() {
    let server = PostgresServer::start();
    let bouncer = PgBouncer::start(&server);
    run_and_check(&server, &bouncer.url(), &[0, 0, 0], 9).await;
    // The claims really went through the pooler's few server connections.
    assert!(
        server.psql("SELECT count(*) FROM cronlock.claimed_ticks") != "0",
        "no claims recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_survived_logged_once_and_nothing_runs_twice() {
    let capture = LogCapture::default();
    let _ = tracing::subscriber::set_global_default(capture.subscriber());

    let mut server = PostgresServer::start();
    let ledger = fleet::Ledger::default();
    let mut schedulers = Vec::new();
    for index in 0..2 {
        schedulers.push(
            Scheduler::builder()
                .registered_jobs(false)
                .postgres_config(config(&server.url()).reply_timeout(Duration::from_millis(500)))
                .job(fleet::recorded(
                    &ledger,
                    index,
                    "every-second",
                    "* * * * * *",
                    Duration::from_secs(1),
                ))
                .build()
                .await
                .unwrap(),
        );
    }
    let running = fleet::start(&schedulers, Duration::from_secs(16));
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.kill();
    let down = Utc::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let server = tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .unwrap();
    let up = Utc::now();
    running.finish().await;

    let ticks: Vec<DateTime<Utc>> = ledger.entries().iter().map(|(_, _, t)| *t).collect();
    fleet::assert_outage_survived(
        &ticks,
        (down, up),
        ("Postgres", "every-second"),
        2,
        &capture.lines().join("\n"),
    );
    drop(server);
}

#[tokio::test]
async fn the_schema_is_created_versioned_and_checked() {
    let server = PostgresServer::start();
    let lock = PostgresLock::connect(config(&server.url()).schema("billing cron"))
        .await
        .expect("connects and creates the tables");
    assert_eq!(lock.schema(), "billing cron");
    assert_eq!(
        server.psql(r#"SELECT max(version) FROM "billing cron".schema_version"#),
        "2"
    );
    // Instances starting later find the tables and leave them alone.
    PostgresLock::connect(config(&server.url()).schema("billing cron"))
        .await
        .expect("second instance");

    // Tables of version 1 (before backfills) are upgraded in place.
    server.psql(
        r#"DROP TABLE "billing cron".backfills; DELETE FROM "billing cron".schema_version WHERE version = 2"#,
    );
    PostgresLock::connect(config(&server.url()).schema("billing cron"))
        .await
        .expect("upgrades version 1");
    assert_eq!(
        server.psql(r#"SELECT (SELECT max(version) FROM "billing cron".schema_version) || ' ' || (SELECT count(*) FROM "billing cron".backfills)"#),
        "2 0"
    );

    // Tables of a newer cronlock are refused with a clear reason.
    server.psql(r#"INSERT INTO "billing cron".schema_version (version) VALUES (3)"#);
    let err = PostgresLock::connect(config(&server.url()).schema("billing cron"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LockErrorKind::Config, "{err}");
    assert!(err.to_string().contains("version 3"), "{err}");

    // A team that applies the SQL itself: nothing there is an error that
    // says what to do; after applying it, the lock starts.
    let err = PostgresLock::connect(config(&server.url()).schema("ops").manage_schema(false))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), LockErrorKind::Config, "{err}");
    assert!(err.to_string().contains("postgres_schema_sql"), "{err}");
    server.psql(&postgres_schema_sql("ops"));
    PostgresLock::connect(config(&server.url()).schema("ops").manage_schema(false))
        .await
        .expect("the applied schema is accepted");
}

#[tokio::test]
async fn startup_errors_are_clear_and_never_show_the_password() {
    let server = PostgresServer::start();
    let port = server.port();
    let err = Scheduler::builder()
        .registered_jobs(false)
        .postgres_config(config(&format!(
            "postgres://postgres:hunter2@127.0.0.1:{port}/no_such_db"
        )))
        .build()
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Lock(_)), "{err:?}");
    assert!(text.contains("no_such_db"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");

    let closed = cronlock_tests::free_port().unwrap();
    let err = PostgresLock::connect(
        config(&format!(
            "postgres://postgres:hunter2@127.0.0.1:{closed}/postgres"
        ))
        .start_timeout(Duration::from_secs(1)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), LockErrorKind::Unavailable, "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");

    // TLS with a CA file that holds no certificate: said at once.
    let err = PostgresLock::connect(
        config("postgres://db/app?sslmode=require").tls_root_certificate(b"not a PEM".to_vec()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), LockErrorKind::Config, "{err}");
    assert!(err.to_string().contains("CA certificate"), "{err}");
}
