//! A loopback TCP proxy that counts the bytes each way: what a side puts on the wire,
//! HTTP headers included, seen from outside the process that sends them.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

/// The bytes counted so far.
#[derive(Default)]
pub struct Counts {
    /// Client to server: the requests.
    pub sent: AtomicU64,
    /// Server to client: the answers.
    pub answered: AtomicU64,
}

/// A running proxy; its threads end with the process.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// The bytes through it.
    pub counts: Arc<Counts>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Counts::default());
        let shared = Arc::clone(&counts);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                let up = Arc::clone(&shared);
                let down = Arc::clone(&shared);
                thread::spawn(move || pipe(client, server, &up.sent));
                thread::spawn(move || pipe(server2, client2, &down.answered));
            }
        });
        Ok(Proxy { addr, counts })
    }

    /// Bytes sent and answered so far.
    pub fn read(&self) -> (u64, u64) {
        (
            self.counts.sent.load(Ordering::SeqCst),
            self.counts.answered.load(Ordering::SeqCst),
        )
    }
}

/// Copies `from` to `to` until either end closes, counting; then closes `to`'s write side
/// so the other end sees the close too.
fn pipe(mut from: TcpStream, mut to: TcpStream, count: &AtomicU64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                count.fetch_add(n as u64, Ordering::SeqCst);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
