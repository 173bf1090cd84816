//! A real `vmauth` (VictoriaMetrics' authenticating proxy: the current one from
//! `scripts/build-peers`, or the Debian `victoria-metrics` package's) in front of an
//! upstream server, for tests of credentials.
//!
//! It runs on `127.0.0.1:<free port>` with its config and log in a fresh temporary
//! directory; the guard kills it and removes the directory on drop. The binary comes from
//! `$VMAUTH_CURRENT_BIN` (current) or `$VMAUTH_BIN`, else `PATH` (1.79).
//!
//! Facts the tests rely on (vmauth 1.79): it is ready when `/health` answers 200 (served
//! without auth); a known user's request goes to its `url_prefix` plus the request path;
//! an `Authorization` value it does not know (a wrong bearer token or basic password) is
//! answered `400 Bad Request` with `cannot find the provided auth token "<the value>" in
//! config`, the value quoted as Go's `%q`; a request without one gets 401.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command};

use tempfile::TempDir;

use super::kind::{peer_binary, Kind};
use super::real_servers::loopback_http_client;
use super::real_servers::{
    read_log, spawn_logged, temp_dir, wait_ready, StartError, PORT_ATTEMPTS,
};
use crate::support::ports::free_loopback_addr;

/// One user of the vmauth config; every user routes to the same upstream.
pub enum VmauthUser<'a> {
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        username: &'a str,
        password: &'a str,
    },
}

/// A running vmauth. Killed on drop.
pub struct Vmauth {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    // Last field: dropped after the child is gone.
    _dir: TempDir,
}

impl Drop for Vmauth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Vmauth {
    /// Starts vmauth on a free loopback port with `users`, each routed to `upstream`
    /// (`http://127.0.0.1:<port>`); panics with its log if it is not ready within 30 s.
    /// `kind` picks the release: [`Kind::VictoriaMetrics`] runs the current vmauth
    /// (`$VMAUTH_CURRENT_BIN`, from `scripts/build-peers`), [`Kind::VictoriaMetrics1_79`]
    /// the Debian one.
    pub async fn start(kind: Kind, users: &[VmauthUser<'_>], upstream: &str) -> Vmauth {
        let http = loopback_http_client();
        for _ in 0..PORT_ATTEMPTS {
            let dir = temp_dir("vmauth");
            let config = dir.path().join("auth.yml");
            std::fs::write(&config, config_yaml(users, upstream)).expect("write auth.yml");
            let addr = free_loopback_addr();
            let log = dir.path().join("vmauth.log");
            let binary = match kind {
                Kind::VictoriaMetrics => peer_binary("VMAUTH_CURRENT_BIN"),
                Kind::VictoriaMetrics1_79 => std::env::var_os("VMAUTH_BIN")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("vmauth")),
                Kind::Prometheus3 | Kind::Prometheus2_42 => {
                    panic!("vmauth comes with VictoriaMetrics, not {}", kind.name())
                }
            };
            let mut command = Command::new(&binary);
            command
                .arg(format!("-httpListenAddr={addr}"))
                .arg(format!("-auth.config={}", config.display()));
            let child = spawn_logged(&mut command, &log)
                .unwrap_or_else(|e| panic!("cannot run {binary:?} ({e}); {}", kind.install_hint()));
            let mut vmauth = Vmauth {
                child,
                addr,
                log,
                _dir: dir,
            };
            let url = format!("{}/health", vmauth.base_url());
            match wait_ready(&mut vmauth.child, &vmauth.log, &http, &url).await {
                Ok(()) => return vmauth,
                // Another process took the port between the probe and vmauth's bind.
                Err(StartError::PortTaken) => continue,
                Err(StartError::Failed(why)) => {
                    panic!("vmauth did not start: {why}\n--- log ---\n{}", vmauth.log())
                }
            }
        }
        panic!("vmauth lost the race for a free port {PORT_ATTEMPTS} times")
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The upstream's remote-write path behind vmauth.
    pub fn remote_write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url())
    }

    /// vmauth's stdout and stderr so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }
}

/// The `-auth.config` file. Strings are written as JSON strings, which YAML reads as
/// double-quoted scalars, so any character in a credential survives.
fn config_yaml(users: &[VmauthUser<'_>], upstream: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let mut yaml = String::from("users:\n");
    for user in users {
        match user {
            VmauthUser::Bearer(token) => {
                yaml.push_str(&format!("- bearer_token: {}\n", quote(token)));
            }
            VmauthUser::Basic { username, password } => {
                yaml.push_str(&format!("- username: {}\n", quote(username)));
                yaml.push_str(&format!("  password: {}\n", quote(password)));
            }
        }
        yaml.push_str(&format!("  url_prefix: {}\n", quote(upstream)));
    }
    yaml
}
