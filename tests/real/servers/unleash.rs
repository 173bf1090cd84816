//! A real Unleash server (npm `unleash-server` 7.5.1) on a throwaway PostgreSQL 15, for the
//! tests that push "custom metrics" JSON to `/api/client/metrics/custom`.
//!
//! [`Unleash::start`] makes a temporary directory, runs `initdb` and `postgres` there
//! (loopback TCP on a free port, fsync off, unix socket inside the directory), then starts
//! `node tests/real/servers/unleash-server.js` on another free loopback port with the
//! `customMetrics` flag on, token authentication, a backend ("client") token and an admin
//! token it creates at startup. Dropping the guard kills node, shuts PostgreSQL down and
//! removes the directory.
//!
//! Where things come from:
//! - the npm package: `$UNLEASH_DIR` (set by `scripts/test`), else
//!   `${PROMPUSH_CACHE_DIR:-$HOME/.cache/prompush}/unleash-server-7.5.1`, which is where
//!   `scripts/install-unleash` puts it;
//! - `node`: `$NODE_BIN`, else `PATH`;
//! - `initdb` / `postgres`: `$POSTGRES_BIN_DIR`, else `PATH`, else
//!   `/usr/lib/postgresql/15/bin` (the Debian package; the image links them into
//!   `/usr/local/bin`).
//!
//! Unleash logs at `warn` into `<dir>/unleash.log` (shown when a start fails, and by
//! [`Unleash::log`]); `PROMPUSH_UNLEASH_LOG=info` or `debug` makes it chattier.
//!
//! `initdb` and `postgres` refuse to run as root. As root, both run as the `postgres`
//! system user (through `setpriv`, which execs in place, so the child we hold *is* the
//! postmaster) and the temporary directory is handed to that user; as anyone else they run
//! as the current user. The postmaster gets SIGQUIT (its immediate shutdown, which also
//! frees its shared memory) when its parent dies (`setpriv --pdeathsig`), and node exits
//! when its standard input (a pipe from this process) closes, so neither outlives a test
//! process that dies without running destructors (only the temporary directory is left). Start the server from the test's own task: the
//! death signal follows the *thread* that spawned the postmaster.
//!
//! Facts the helpers rely on (see the package source under
//! `node_modules/unleash-server/dist/lib`):
//! - `GET /health` answers 200 `{"health":"GOOD"}` once the HTTP server listens, which is
//!   after the database migrations ran and the init tokens were created.
//! - Received custom metrics live in memory only; `/internal-backstage/prometheus` appends
//!   them (latest value per name + label set, `# TYPE <name> counter`) to Unleash's own
//!   metrics when the `customMetrics` flag is on. Unauthenticated.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::real_servers::loopback_http_client;
use super::real_servers::{read_log, StartError, POLL_INTERVAL, PORT_ATTEMPTS};
use crate::support::ports::free_loopback_addr;

/// The npm package version `scripts/install-unleash` installs.
pub const UNLEASH_VERSION: &str = "7.5.1";
/// How long PostgreSQL may take to accept connections (initdb excluded).
const POSTGRES_DEADLINE: Duration = Duration::from_secs(30);
/// How long Unleash may take to answer `/health` (it migrates a fresh database first:
/// about 3 s here).
const UNLEASH_DEADLINE: Duration = Duration::from_secs(120);
/// How long a graceful stop may take before SIGKILL.
const STOP_DEADLINE: Duration = Duration::from_secs(10);
/// Lines of a log shown when something fails.
const LOG_TAIL_LINES: usize = 60;

/// A running Unleash server and its PostgreSQL. Both are stopped, and their temporary
/// directory removed, on drop.
pub struct Unleash {
    node: Option<Child>,
    /// Held open: node exits when it closes.
    node_stdin: Option<ChildStdin>,
    node_log: PathBuf,
    addr: SocketAddr,
    client_token: String,
    admin_token: String,
    http: reqwest::Client,
    postgres: Postgres,
    // Last field: removed after both processes are gone.
    dir: TempDir,
}

impl Unleash {
    /// Starts PostgreSQL and Unleash on free loopback ports. Panics with the servers' log
    /// tails if either is not ready in time (30 s for PostgreSQL, 120 s for Unleash), or
    /// with what to install if a piece is missing.
    pub async fn start() -> Unleash {
        let started = Instant::now();
        let package = unleash_dir();
        let node = std::env::var_os("NODE_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("node"));
        let owner = DbOwner::detect();

        let dir = tempfile::Builder::new()
            .prefix("prompush-unleash-")
            .tempdir()
            .expect("create temp dir");
        if let DbOwner::System { uid, gid } = owner {
            // tempfile makes the directory 0700 and ours: hand it to the postgres user.
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("chown the temp dir to the postgres user");
        }
        let postgres = Postgres::start(dir.path(), owner);
        let postgres_took = started.elapsed();

        let client_token = format!("default:development.{}", random_hex());
        let admin_token = format!("*:*.{}", random_hex());
        let http = loopback_http_client();
        let node_log = dir.path().join("unleash.log");
        let mut unleash = Unleash {
            node: None,
            node_stdin: None,
            node_log,
            addr: free_loopback_addr(),
            client_token,
            admin_token,
            http,
            postgres,
            dir,
        };
        for attempt in 1..=PORT_ATTEMPTS {
            if attempt > 1 {
                unleash.addr = free_loopback_addr();
            }
            unleash.spawn_node(&node, &package);
            match unleash.wait_ready().await {
                Ok(()) => {
                    eprintln!(
                        "unleash-server ready at {} after {:.1?} (PostgreSQL {:.1?})",
                        unleash.base_url(),
                        started.elapsed(),
                        postgres_took
                    );
                    return unleash;
                }
                // Another process took the port between the probe and node's bind.
                Err(StartError::PortTaken) => continue,
                Err(StartError::Failed(why)) => panic!(
                    "unleash-server did not start: {why}\n{}",
                    unleash.diagnostics()
                ),
            }
        }
        panic!("unleash-server lost the race for a free port {PORT_ATTEMPTS} times")
    }

    fn spawn_node(&mut self, node: &Path, package: &Path) {
        // A fresh log per attempt, so a failed bind is judged by this attempt's output.
        let log = File::create(&self.node_log).expect("create unleash log");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/real/servers/unleash-server.js");
        let mut child = Command::new(node)
            .arg(&script)
            .env("UNLEASH_DIR", package)
            .env("PROMPUSH_UNLEASH_PORT", self.addr.port().to_string())
            .env("PROMPUSH_PG_PORT", self.postgres.port.to_string())
            .env("PROMPUSH_CLIENT_TOKEN", &self.client_token)
            .env("PROMPUSH_ADMIN_TOKEN", &self.admin_token)
            .env("NODE_ENV", "production")
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {node:?} ({e}); install Node.js 20 or set NODE_BIN")
            });
        self.node_stdin = child.stdin.take();
        self.node = Some(child);
    }

    async fn wait_ready(&mut self) -> Result<(), StartError> {
        let url = format!("{}/health", self.base_url());
        let started = Instant::now();
        loop {
            let node = self.node.as_mut().expect("node is running");
            if let Some(status) = node
                .try_wait()
                .map_err(|e| StartError::Failed(e.to_string()))?
            {
                self.node = None;
                self.node_stdin = None;
                if read_log(&self.node_log).contains("EADDRINUSE") {
                    return Err(StartError::PortTaken);
                }
                return Err(StartError::Failed(format!("node exited with {status}")));
            }
            if let Some(status) = self.postgres.exited() {
                return Err(StartError::Failed(format!("postgres exited with {status}")));
            }
            if let Ok(response) = self.http.get(&url).send().await {
                if response.status().is_success() {
                    return Ok(());
                }
            }
            if started.elapsed() > UNLEASH_DEADLINE {
                return Err(StartError::Failed(format!(
                    "{url} not healthy within {UNLEASH_DEADLINE:?}"
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where SDKs send custom metrics:
    /// `http://127.0.0.1:<port>/api/client/metrics/custom`.
    pub fn custom_metrics_url(&self) -> String {
        format!("{}/api/client/metrics/custom", self.base_url())
    }

    /// A backend ("client") API token, `default:development.<secret>`: the value of the
    /// `Authorization` header for `/api/client/*`.
    pub fn client_token(&self) -> &str {
        &self.client_token
    }

    /// GETs `/internal-backstage/prometheus` (Unleash's own metrics followed by the custom
    /// ones); panics unless it answers 200.
    pub async fn scrape(&self) -> String {
        let url = format!("{}/internal-backstage/prometheus", self.base_url());
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url} failed: {e}"));
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "GET {url} answered {status}: {body}");
        body
    }

    /// Scrapes Unleash until `series` (a key of [`samples`]) has `value`; panics with the
    /// scrape once `deadline` has passed.
    pub async fn wait_for(&self, series: &str, value: f64, deadline: Duration) {
        let started = Instant::now();
        loop {
            let text = self.scrape().await;
            if samples(&text).get(series) == Some(&value) {
                return;
            }
            if started.elapsed() > deadline {
                panic!("Unleash did not show {series} = {value} within {deadline:?}:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Unleash's stdout and stderr so far.
    pub fn log(&self) -> String {
        read_log(&self.node_log)
    }

    /// Kills node, shuts PostgreSQL down (SIGQUIT, then SIGKILL after 10 s). The directory
    /// goes when the guard is dropped. Idempotent.
    pub fn stop(&mut self) {
        self.node_stdin = None;
        if let Some(mut node) = self.node.take() {
            let _ = node.kill();
            let _ = node.wait();
        }
        self.postgres.stop();
    }

    fn diagnostics(&self) -> String {
        format!(
            "--- unleash log (last {LOG_TAIL_LINES} lines) ---\n{}\n\
             --- postgres log (last {LOG_TAIL_LINES} lines) ---\n{}",
            tail(&self.log(), LOG_TAIL_LINES),
            tail(&read_log(&self.postgres.log), LOG_TAIL_LINES),
        )
    }
}

impl Drop for Unleash {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Who runs `initdb` and `postgres`.
#[derive(Clone, Copy)]
enum DbOwner {
    /// We are not root: the current user.
    Current,
    /// We are root: the `postgres` system user.
    System { uid: u32, gid: u32 },
}

impl DbOwner {
    fn detect() -> DbOwner {
        if effective_uid() != 0 {
            return DbOwner::Current;
        }
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let entry = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 3 && f[0] == "postgres");
        match entry.and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?))) {
            Some((uid, gid)) => DbOwner::System { uid, gid },
            None => panic!(
                "running as root, and PostgreSQL refuses root: need a `postgres` user \
                 (the Debian postgresql package creates one) or run the tests as non-root"
            ),
        }
    }

    /// A command running `program` as this owner; `pdeathsig` adds a SIGQUIT when the
    /// spawning thread dies (needs `setpriv`; skipped for the current user without it).
    fn command(self, program: &Path, pdeathsig: bool) -> Command {
        let setpriv_available =
            Path::new("/usr/bin/setpriv").exists() || Path::new("/bin/setpriv").exists();
        let mut setpriv_args: Vec<String> = Vec::new();
        if let DbOwner::System { uid, gid } = self {
            assert!(
                setpriv_available,
                "running as root needs setpriv (util-linux) to run PostgreSQL as `postgres`"
            );
            setpriv_args.extend([
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--clear-groups".to_owned(),
            ]);
        }
        if pdeathsig && setpriv_available {
            setpriv_args.push("--pdeathsig=QUIT".to_owned());
        }
        if setpriv_args.is_empty() {
            return Command::new(program);
        }
        let mut command = Command::new("setpriv");
        command.args(setpriv_args).arg("--").arg(program);
        command
    }
}

/// A PostgreSQL cluster in `<dir>/pg-data`, listening on 127.0.0.1.
struct Postgres {
    child: Option<Child>,
    port: u16,
    data: PathBuf,
    log: PathBuf,
}

impl Postgres {
    fn start(dir: &Path, owner: DbOwner) -> Postgres {
        let data = dir.join("pg-data");
        let socket_dir = dir.join("pg-socket");
        std::fs::create_dir(&socket_dir).expect("create socket dir");
        if let DbOwner::System { uid, gid } = owner {
            std::os::unix::fs::chown(&socket_dir, Some(uid), Some(gid))
                .expect("chown the socket dir to the postgres user");
        }

        let initdb_log = dir.join("initdb.log");
        let out = File::create(&initdb_log).expect("create initdb log");
        let initdb = postgres_binary("initdb");
        let status = owner
            .command(&initdb, false)
            .arg("-D")
            .arg(&data)
            .args([
                "--username=postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone log handle"))
            .stderr(out)
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run {initdb:?} ({e}); install PostgreSQL 15 or set POSTGRES_BIN_DIR")
            });
        assert!(
            status.success(),
            "initdb failed ({status}):\n{}",
            read_log(&initdb_log)
        );

        let log = dir.join("postgres.log");
        for _ in 0..PORT_ATTEMPTS {
            let port = free_loopback_addr().port();
            let out = File::create(&log).expect("create postgres log");
            let postgres = postgres_binary("postgres");
            let child = owner
                .command(&postgres, true)
                .arg("-D")
                .arg(&data)
                .arg("-k")
                .arg(&socket_dir)
                .args(["-p", &port.to_string()])
                .args([
                    "-c",
                    "listen_addresses=127.0.0.1",
                    // A throwaway cluster: durability buys nothing.
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                ])
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(out.try_clone().expect("clone log handle"))
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {postgres:?} ({e})"));
            let mut server = Postgres {
                child: Some(child),
                port,
                data: data.clone(),
                log: log.clone(),
            };
            match server.wait_ready() {
                Ok(()) => return server,
                Err(StartError::PortTaken) => continue,
                Err(StartError::Failed(why)) => panic!(
                    "postgres did not start: {why}\n--- postgres log ---\n{}",
                    tail(&read_log(&log), LOG_TAIL_LINES)
                ),
            }
        }
        panic!("postgres lost the race for a free port {PORT_ATTEMPTS} times")
    }

    /// Ready when the postmaster writes `ready` as the status line of `postmaster.pid`
    /// (PostgreSQL 10+); it accepts connections from then on.
    fn wait_ready(&mut self) -> Result<(), StartError> {
        let pid_file = self.data.join("postmaster.pid");
        let started = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                let log = read_log(&self.log);
                if log.contains("Address already in use") {
                    return Err(StartError::PortTaken);
                }
                return Err(StartError::Failed(format!("exited with {status}")));
            }
            let pid_lines = std::fs::read_to_string(&pid_file).unwrap_or_default();
            if pid_lines.lines().nth(7).map(str::trim) == Some("ready") {
                return Ok(());
            }
            if started.elapsed() > POSTGRES_DEADLINE {
                return Err(StartError::Failed(format!(
                    "not ready within {POSTGRES_DEADLINE:?}"
                )));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// The exit status if the postmaster has exited (reaps it).
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// Immediate shutdown (SIGQUIT: the postmaster stops its backends and removes its
    /// shared memory), SIGKILL if it takes more than 10 s.
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let signalled = Command::new("kill")
            .args(["-QUIT", &child.id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if signalled {
            let started = Instant::now();
            while started.elapsed() < STOP_DEADLINE {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The installed npm package's directory (the one holding `node_modules/unleash-server`).
fn unleash_dir() -> PathBuf {
    let dir = match std::env::var_os("UNLEASH_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let cache = std::env::var_os("PROMPUSH_CACHE_DIR")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/prompush"))
                })
                .unwrap_or_else(|| PathBuf::from("/root/.cache/prompush"));
            cache.join(format!("unleash-server-{UNLEASH_VERSION}"))
        }
    };
    let manifest = dir.join("node_modules/unleash-server/package.json");
    assert!(
        manifest.is_file(),
        "unleash-server is not installed in {} (no {}); run scripts/install-unleash \
         (scripts/test does) or set UNLEASH_DIR",
        dir.display(),
        manifest.display()
    );
    dir
}

/// `$POSTGRES_BIN_DIR/<name>`, else `<name>` from `PATH`, else the Debian location.
fn postgres_binary(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("POSTGRES_BIN_DIR") {
        return PathBuf::from(dir).join(name);
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| Path::new("/usr/lib/postgresql/15/bin").join(name))
}

/// The samples of a Prometheus text exposition: `name{k="v",…}` → value. Labels are
/// sorted; the provider's random `instance` and the scope labels are left out, as the
/// loopback readers leave them out (the loopback `push` and `no_loss` tests check them).
/// Comment lines are skipped.
pub fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let Some((head, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.parse::<f64>() else {
            continue;
        };
        let (name, labels) = match head.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (head, ""),
        };
        let mut pairs: Vec<&str> = split_labels(labels);
        pairs.retain(|p| !p.starts_with("instance=") && !p.starts_with("otel_scope_"));
        pairs.sort();
        out.insert(format!("{name}{{{}}}", pairs.join(",")), value);
    }
    out
}

/// Splits `a="x",b="y,z"` at the commas between labels (not inside quoted values).
fn split_labels(labels: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < labels.len() {
        parts.push(&labels[start..]);
    }
    parts
}

/// 32 random hex digits (std's per-process random hash keys; no crypto needed for a
/// loopback test server).
fn random_hex() -> String {
    let half = || RandomState::new().build_hasher().finish();
    format!("{:016x}{:016x}", half(), half())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The effective user id (`Uid:` of `/proc/self/status`); non-root if unreadable.
fn effective_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("Uid:"))?
                .split_whitespace()
                .nth(2)?
                .parse()
                .ok()
        })
        .unwrap_or(u32::MAX)
}
