//! The Postgres harness starts a real server (and a real PgBouncer), talks
//! to it, survives a kill and restart, and stops it on drop.

use std::net::{Ipv4Addr, TcpStream};

use cronlock_tests::postgres::{PgBouncer, PostgresServer};

#[test]
fn starts_answers_survives_kill_and_restart() {
    let mut server = PostgresServer::start();
    assert!(server.is_alive());
    assert_eq!(
        server.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", server.port())
    );
    assert_eq!(server.psql("select 1"), "1");
    assert_eq!(server.psql("select current_user"), "postgres");
    assert_eq!(
        server.psql("select current_setting('port')"),
        server.port().to_string()
    );
    server.psql("create table kept (id int primary key)");
    server.psql("insert into kept values (1), (2)");
    assert!(
        server.try_psql("select * from no_such_table").is_none(),
        "a failing statement gives None"
    );

    let port = server.port();
    server.kill();
    assert!(!server.is_alive());
    assert_eq!(server.try_psql("select 1"), None, "psql works after kill");
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "port still open after kill"
    );

    server.restart();
    assert!(server.is_alive());
    assert_eq!(server.port(), port);
    assert_eq!(server.psql("select 1"), "1");
    // Same data directory: committed rows came through crash recovery.
    assert_eq!(server.psql("select id from kept order by id"), "1\n2");
}

#[test]
fn drop_stops_the_server_and_removes_its_directory() {
    let server = PostgresServer::start();
    let port = server.port();
    let dir = server.dir().to_owned();
    assert!(dir.join("data").join("PG_VERSION").exists());
    drop(server);
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "server still listening after drop"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn pgbouncer_passes_queries_to_the_server() {
    let server = PostgresServer::start();
    let bouncer = PgBouncer::start(&server);
    assert_ne!(bouncer.port(), server.port());
    assert_eq!(
        bouncer.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", bouncer.port())
    );
    assert_eq!(bouncer.psql("select 1"), "1");
    // The query ran on our server: it reports its own port, not the bouncer's.
    assert_eq!(
        bouncer.psql("select current_setting('port')"),
        server.port().to_string()
    );
    server.psql("create table seen (v text)");
    bouncer.psql("insert into seen values ('via bouncer')");
    assert_eq!(server.psql("select v from seen"), "via bouncer");

    let port = bouncer.port();
    drop(bouncer);
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "pgbouncer still listening after drop"
    );
}
