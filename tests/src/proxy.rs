//! A loopback TCP proxy between schedulers and Redis that injects network
//! faults: added latency, stalls, lost replies, cut connections, half-open
//! connections, and a switch of the upstream (a managed endpoint failing
//! over).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the proxy does to traffic, from now on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Hold every reply for this long before forwarding it.
    Latency(Duration),
    /// Forward nothing in either direction, keep the connections open; the
    /// held data flows when the fault ends (a stalled network or server).
    Stall,
    /// Forward requests, throw the replies away: Redis runs the commands,
    /// the client never hears back.
    DropReplies,
    /// Throw requests away, answer nothing, keep connections open (a
    /// half-open connection, a black hole).
    BlackHole,
}

/// A running proxy on `127.0.0.1`; stops when dropped.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    upstream: AtomicU16,
    fault: Mutex<Fault>,
    /// Bumped to cut every open connection.
    generation: AtomicU64,
    stopped: AtomicBool,
    connections: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Proxy {
    /// A proxy to `127.0.0.1:upstream_port`.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub fn start(upstream_port: u16) -> Proxy {
        let listener =
            TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("proxy binds");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            upstream: AtomicU16::new(upstream_port),
            fault: Mutex::new(Fault::None),
            generation: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
        });
        let accepting = Arc::clone(&shared);
        thread::spawn(move || accept(&listener, &accepting));
        Proxy { port, shared }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT` through the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sets the fault for all traffic from now on.
    pub fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    /// Closes every open connection (new ones are accepted).
    pub fn cut(&self) {
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        for stream in self
            .shared
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// New connections go to `127.0.0.1:port`; open ones stay where they are.
    pub fn retarget(&self, port: u16) {
        self.shared.upstream.store(port, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.cut();
        // Wake the accept loop so it sees the stop.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let upstream = shared.upstream.load(Ordering::SeqCst);
        let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let generation = shared.generation.load(Ordering::SeqCst);
        {
            let mut open = shared.connections.lock().unwrap_or_else(|p| p.into_inner());
            for stream in [&client, &server] {
                if let Ok(clone) = stream.try_clone() {
                    open.push(clone);
                }
            }
        }
        for (from, to, replies) in [
            (client.try_clone(), server.try_clone(), false),
            (server.try_clone(), client.try_clone(), true),
        ] {
            let (Ok(from), Ok(to)) = (from, to) else {
                continue;
            };
            let shared = Arc::clone(shared);
            thread::spawn(move || pump(from, to, replies, generation, &shared));
        }
    }
}

/// Copies one direction of a connection, applying the fault of the moment.
fn pump(mut from: TcpStream, mut to: TcpStream, replies: bool, generation: u64, shared: &Shared) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buffer = [0u8; 16 * 1024];
    loop {
        if shared.generation.load(Ordering::SeqCst) != generation
            || shared.stopped.load(Ordering::SeqCst)
        {
            break;
        }
        let fault = shared.fault();
        if fault == Fault::Stall {
            thread::sleep(Duration::from_millis(5));
            continue;
        }
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => break,
        };
        // The fault when the data arrived decides its fate.
        match (shared.fault(), replies) {
            (Fault::DropReplies, true) | (Fault::BlackHole, false) => continue,
            (Fault::Latency(delay), true) => thread::sleep(delay),
            _ => {}
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
