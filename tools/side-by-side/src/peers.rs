//! The servers of one run: a fresh Prometheus 3 (remote write and OTLP receivers on) and,
//! for side (c), a fresh Collector, each on a free loopback port with its own temporary
//! directory, stopped and removed when dropped. Binaries from `scripts/build-peers`
//! (`PROMETHEUS3_BIN`, `OTELCOL_BIN`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a peer may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running server process and its directory.
pub struct Peer {
    /// Its listening address.
    pub addr: SocketAddr,
    child: Child,
    dir: PathBuf,
}

impl Peer {
    /// Its process id, for /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_addr() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map_err(|e| e.to_string())
}

fn binary(var: &str) -> Result<String, String> {
    std::env::var(var).map_err(|_| {
        format!("{var} is not set: run scripts/side-by-side (it builds the peers), or source ~/.cache/prompush/peers/env")
    })
}

fn temp_dir(name: &str) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!(
        "side-by-side-{name}-{}-{}",
        std::process::id(),
        crate::usage::unix_nanos()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

fn spawn(
    program: &str,
    args: &[String],
    dir: &std::path::Path,
    name: &str,
) -> Result<Child, String> {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("{program}: {e}"))
}

/// The last lines of a peer's log, for an error message.
fn log_tail(dir: &std::path::Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// The `otlp` block is pinned: Prometheus' defaults have changed between releases.
const PROMETHEUS_CONFIG: &str = "global:\n  scrape_interval: 15s\notlp:\n  translation_strategy: UnderscoreEscapingWithSuffixes\n";

/// Starts Prometheus 3 and waits until `/-/ready` answers.
pub fn prometheus() -> Result<Peer, String> {
    let program = binary("PROMETHEUS3_BIN")?;
    let dir = temp_dir("prometheus")?;
    let addr = free_addr()?;
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, PROMETHEUS_CONFIG).map_err(|e| e.to_string())?;
    let args = vec![
        format!("--config.file={}", config.display()),
        format!("--storage.tsdb.path={}", dir.join("data").display()),
        format!("--web.listen-address={addr}"),
        "--web.enable-remote-write-receiver".to_owned(),
        "--web.enable-otlp-receiver".to_owned(),
    ];
    let child = spawn(&program, &args, &dir, "prometheus")?;
    let mut peer = Peer { addr, child, dir };
    let client = reqwest::blocking::Client::new();
    let start = Instant::now();
    while start.elapsed() < START_TIMEOUT {
        if let Ok(r) = client.get(format!("http://{addr}/-/ready")).send() {
            if r.status().is_success() {
                return Ok(peer);
            }
        }
        if let Ok(Some(status)) = peer.child.try_wait() {
            return Err(format!(
                "prometheus exited ({status}):\n{}",
                log_tail(&peer.dir, "prometheus")
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "prometheus not ready after {START_TIMEOUT:?}:\n{}",
        log_tail(&peer.dir, "prometheus")
    ))
}

/// Starts the Collector (OTLP/HTTP in, remote write out to `remote_write`) and waits
/// until its OTLP port accepts connections.
///
/// No batch processor: the SDK already sends a whole collection in one request, and the
/// processor would only add its timeout to the time until the data is queryable. The
/// exporter's own queue and its defaults (5 consumers, 3 MB requests, snappy, remote
/// write 1.0) are what a user gets. The exporter goes by its current name
/// (`prometheusremotewrite` is a deprecated alias that logs a warning).
pub fn collector(remote_write: &str) -> Result<Peer, String> {
    let program = binary("OTELCOL_BIN")?;
    let dir = temp_dir("otelcol")?;
    let addr = free_addr()?;
    let config = dir.join("otelcol.yaml");
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: {addr}\n\
         exporters:\n  prometheus_remote_write:\n    endpoint: {remote_write}\n\
         service:\n  telemetry:\n    logs:\n      level: warn\n    metrics:\n      level: none\n\
         \x20 pipelines:\n    metrics:\n      receivers: [otlp]\n      exporters: [prometheus_remote_write]\n"
    );
    std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
    let args = vec![format!("--config={}", config.display())];
    let child = spawn(&program, &args, &dir, "otelcol")?;
    let mut peer = Peer { addr, child, dir };
    let start = Instant::now();
    while start.elapsed() < START_TIMEOUT {
        if TcpStream::connect(addr).is_ok() {
            return Ok(peer);
        }
        if let Ok(Some(status)) = peer.child.try_wait() {
            return Err(format!(
                "otelcol exited ({status}):\n{}",
                log_tail(&peer.dir, "otelcol")
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "otelcol not listening after {START_TIMEOUT:?}:\n{}",
        log_tail(&peer.dir, "otelcol")
    ))
}
