//! Loopback ports: a free one to listen on, and whether something listens on one.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// A loopback port that was free a moment ago (the OS picks it). A server that fails to bind
/// it because someone else took it in between is retried by the callers.
///
/// The port is at most 55535 and port + 10000 is free as well: Redis Cluster nodes listen on
/// both (the cluster bus), and refuse a port whose bus port would not exist.
pub fn free_port() -> u16 {
    for _ in 0..200 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .expect("the loopback interface accepts a bind to port 0");
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port with a free port + 10000 after 200 tries");
}

/// Whether something accepts TCP connections on a loopback port (tried for at most 200 ms).
pub fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}
