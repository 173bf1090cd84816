//! Free ports on loopback, for the test servers and the endpoints where nothing listens.

use std::net::{SocketAddr, TcpListener};

/// A loopback address whose port was free when probed. A server that binds it a moment
/// later may lose it to another process: the harnesses retry that rare race.
pub fn free_loopback_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr")
}
