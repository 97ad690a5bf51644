//! The harness starts a real server, talks to it, and stops it on drop.

use std::net::{Ipv4Addr, TcpStream};

use cronlock_tests::RedisServer;

#[test]
fn starts_answers_and_stops_on_drop() {
    let redis = RedisServer::start();
    assert!(redis.url().starts_with("redis://127.0.0.1:"));
    assert_eq!(redis.command(&["PING"]), "+PONG");
    assert_eq!(redis.command(&["SET", "k", "v"]), "+OK");
    assert_eq!(redis.command(&["GET", "k"]), "$1");
    let port = redis.port();
    drop(redis);
    assert!(
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
        "server still listening after drop"
    );
}

#[test]
fn two_servers_get_two_ports() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    assert_ne!(a.port(), b.port());
    a.command(&["SET", "only-in-a", "1"]);
    assert_eq!(b.command(&["EXISTS", "only-in-a"]), ":0");
}
