//! A real `tinyproxy` (Debian package) for tests of proxies, on a free loopback port with
//! a temporary config and log; killed on drop. The binary comes from `$TINYPROXY_BIN`,
//! else from `PATH` (`scripts/test` installs the package).
//!
//! Facts the tests rely on (tinyproxy 1.11): without `ConnectPort` lines every port may
//! be tunnelled with `CONNECT`; with `BasicAuth user password` a request without those
//! credentials is answered 401 (a `CONNECT` too); at `LogLevel Info` each request is
//! logged as `Request (file descriptor N): CONNECT host:port HTTP/1.1` (or the request
//! line of a forwarded `http://` request).

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::real_servers::{POLL_INTERVAL, PORT_ATTEMPTS, READY_DEADLINE};
use crate::support::ports::free_loopback_addr;

/// A running tinyproxy. Killed on drop.
pub struct Tinyproxy {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    // Last field: dropped after the child is gone.
    _dir: TempDir,
}

impl Drop for Tinyproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Tinyproxy {
    /// Starts tinyproxy requiring `user`/`password` (basic auth); panics with its log if
    /// it does not accept connections within 30 s.
    pub fn start(user: &str, password: &str) -> Tinyproxy {
        let binary = std::env::var_os("TINYPROXY_BIN").unwrap_or_else(|| "tinyproxy".into());
        for _ in 0..PORT_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("prompush-tinyproxy-")
                .tempdir()
                .expect("create temp dir");
            let addr = free_loopback_addr();
            let log = dir.path().join("tinyproxy.log");
            let config = dir.path().join("tinyproxy.conf");
            std::fs::write(
                &config,
                format!(
                    "Port {}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\n\
                     MaxClients 20\nAllow 127.0.0.1\nBasicAuth {user} {password}\n\
                     DisableViaHeader Yes\n",
                    addr.port(),
                    log.display()
                ),
            )
            .expect("write tinyproxy.conf");
            let output = File::create(dir.path().join("stdout.log")).expect("create output");
            let child = Command::new(&binary)
                .arg("-d") // foreground
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(output.try_clone().expect("clone handle"))
                .stderr(output)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run {binary:?} ({e}); install it (scripts/test does) or set TINYPROXY_BIN")
                });
            let mut proxy = Tinyproxy {
                child,
                addr,
                log,
                _dir: dir,
            };
            let started = Instant::now();
            loop {
                if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
                    return proxy;
                }
                if let Ok(Some(_)) = proxy.child.try_wait() {
                    break; // most likely the port was taken: try another
                }
                assert!(
                    started.elapsed() < READY_DEADLINE,
                    "tinyproxy did not listen within {READY_DEADLINE:?}\n--- log ---\n{}",
                    proxy.log()
                );
                std::thread::sleep(POLL_INTERVAL);
            }
        }
        panic!("tinyproxy lost the race for a free port {PORT_ATTEMPTS} times")
    }

    /// `http://<user>:<password>@127.0.0.1:<port>` for these credentials.
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }
}
