//! Real Prometheus and VictoriaMetrics servers: the [`Server`] harness and its query
//! helpers.
//!
//! Each server runs as a child process on `127.0.0.1:<free port>` with its data, config and
//! log in a fresh temporary directory; the guard kills it and removes the directory on drop.
//! The binaries come from `$PROMETHEUS_BIN` / `$VICTORIA_METRICS_BIN`, else from `PATH`
//! (`scripts/test` installs the Debian packages, which put them in `/usr/bin`).
//!
//! HTTP goes through `reqwest` (already a dependency of the crate, so nothing new to build);
//! the helpers are async and meant for `#[tokio::test]`. The child-process pieces
//! ([`temp_dir`], [`spawn_logged`], [`wait_ready`], [`read_log`]) serve the vmauth and
//! Unleash harnesses too.
//!
//! Server facts the helpers rely on (Prometheus 2.42, VictoriaMetrics 1.79):
//! - Prometheus accepts remote write only with `--web.enable-remote-write-receiver`, at
//!   `/api/v1/write`; it is ready when `/-/ready` answers 200. It rejects a sample older
//!   than the newest one of its series (out of order) or older than the head block allows
//!   (roughly an hour behind the newest data) with 400, and a sample with the same
//!   timestamp but a different value as a duplicate.
//! - VictoriaMetrics serves remote write at `/api/v1/write` and is up when `/health`
//!   answers 200. By default it hides the newest 30 s from queries
//!   (`-search.latencyOffset`), caches responses, and buffers fresh rows for about a
//!   second; the helpers start it with `-search.latencyOffset=0s -search.disableCache`
//!   and call `/internal/force_flush` before each read, so a pushed sample is readable at
//!   once. It accepts samples in any order.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;

use crate::support::ports::free_loopback_addr;

/// The HTTP client of the server harnesses: no proxy (loopback only, whatever the
/// environment says) and a 10 s timeout.
pub fn loopback_http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("build HTTP client")
}

/// How long a server may take to become ready.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);
/// Pause between readiness or query polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// How often to retry when another process took the free port first.
pub const PORT_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prometheus,
    VictoriaMetrics,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Prometheus => "prometheus",
            Kind::VictoriaMetrics => "victoria-metrics",
        }
    }

    fn binary_var(self) -> &'static str {
        match self {
            Kind::Prometheus => "PROMETHEUS_BIN",
            Kind::VictoriaMetrics => "VICTORIA_METRICS_BIN",
        }
    }

    fn binary(self) -> PathBuf {
        std::env::var_os(self.binary_var())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(self.name()))
    }

    fn ready_path(self) -> &'static str {
        match self {
            Kind::Prometheus => "/-/ready",
            Kind::VictoriaMetrics => "/health",
        }
    }

    /// The server's command line; `flags` come last.
    fn command(self, addr: SocketAddr, data: &Path, dir: &Path, flags: &[String]) -> Command {
        let mut command = Command::new(self.binary());
        match self {
            Kind::Prometheus => {
                let config = dir.join("prometheus.yml");
                // No scrape targets unless the test wrote its own: the server only
                // receives what the tests push.
                if !config.exists() {
                    std::fs::write(
                        &config,
                        "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
                    )
                    .expect("write prometheus.yml");
                }
                command.args([
                    format!("--config.file={}", config.display()),
                    format!("--storage.tsdb.path={}", data.display()),
                    format!("--web.listen-address={addr}"),
                    "--web.enable-remote-write-receiver".to_owned(),
                ]);
            }
            Kind::VictoriaMetrics => {
                command.args([
                    format!("-httpListenAddr={addr}"),
                    format!("-storageDataPath={}", data.display()),
                    "-search.latencyOffset=0s".to_owned(),
                    "-search.disableCache".to_owned(),
                ]);
            }
        }
        command.args(flags);
        command
    }
}

/// A running Prometheus (remote-write receiver enabled). Derefs to [`Server`].
pub struct Prometheus(Server);

impl Prometheus {
    /// Starts Prometheus on a free loopback port; panics with its log if it is not ready
    /// within 30 s.
    pub async fn start() -> Prometheus {
        Prometheus(Server::start(Kind::Prometheus, None, &[]).await)
    }

    /// [`start`](Self::start) with extra command-line flags, such as
    /// `--enable-feature=native-histograms,exemplar-storage`.
    pub async fn start_with_flags(flags: &[&str]) -> Prometheus {
        Prometheus(Server::start(Kind::Prometheus, None, flags).await)
    }

    /// Starts Prometheus with this `prometheus.yml` (scrape jobs, say) in place of the
    /// default one without targets, and extra command-line flags.
    pub async fn start_with_config_and_flags(prometheus_yml: &str, flags: &[&str]) -> Prometheus {
        Prometheus(Server::start(Kind::Prometheus, Some(prometheus_yml), flags).await)
    }

    /// Stops the server (SIGKILL: nothing is flushed beyond what its WAL already has).
    pub fn stop(&mut self) {
        self.0.stop();
    }

    /// Starts it again on the same port and data directory; panics if it is not ready
    /// within 30 s.
    pub async fn restart(&mut self) {
        self.0.restart().await;
    }
}

impl Deref for Prometheus {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.0
    }
}

/// A running single-node VictoriaMetrics. Derefs to [`Server`].
pub struct VictoriaMetrics(Server);

impl VictoriaMetrics {
    /// Starts VictoriaMetrics on a free loopback port; panics with its log if it is not
    /// ready within 30 s.
    pub async fn start() -> VictoriaMetrics {
        VictoriaMetrics(Server::start(Kind::VictoriaMetrics, None, &[]).await)
    }

    /// Stops the server (SIGKILL).
    pub fn stop(&mut self) {
        self.0.stop();
    }
}

impl Deref for VictoriaMetrics {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.0
    }
}

/// A server child process and its temporary directory. Killed and removed on drop.
pub struct Server {
    kind: Kind,
    child: Child,
    addr: SocketAddr,
    /// Extra command-line flags, kept for a restart.
    flags: Vec<String>,
    log: PathBuf,
    http: reqwest::Client,
    // Last field: dropped after the child is gone.
    dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why a child server did not become ready.
pub enum StartError {
    /// Another process took the port between the probe and the server's bind: try a new
    /// one.
    PortTaken,
    /// Anything else, said in words.
    Failed(String),
}

/// Polls `url` until it answers 2xx; fails once `child` has exited (`PortTaken` if its
/// `log` says "address already in use") or [`READY_DEADLINE`] has passed.
pub async fn wait_ready(
    child: &mut Child,
    log: &Path,
    http: &reqwest::Client,
    url: &str,
) -> Result<(), StartError> {
    let started = Instant::now();
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| StartError::Failed(e.to_string()))?
        {
            if read_log(log).contains("address already in use") {
                return Err(StartError::PortTaken);
            }
            return Err(StartError::Failed(format!("exited with {status}")));
        }
        if let Ok(response) = http.get(url).send().await {
            if response.status().is_success() {
                return Ok(());
            }
        }
        if started.elapsed() > READY_DEADLINE {
            return Err(StartError::Failed(format!(
                "{url} not ready within {READY_DEADLINE:?}"
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A fresh temporary directory `prompush-<what>-XXXX`, removed on drop.
pub fn temp_dir(what: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("prompush-{what}-"))
        .tempdir()
        .expect("create temp dir")
}

/// Spawns `command` without stdin, its stdout and stderr going to a new file `log`.
pub fn spawn_logged(command: &mut Command, log: &Path) -> std::io::Result<Child> {
    let log_file = File::create(log).expect("create log file");
    command
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("clone log handle"))
        .stderr(log_file)
        .spawn()
}

/// A child's stdout and stderr so far, from its log file.
pub fn read_log(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(no log: {e})"))
}

impl Server {
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn restart(&mut self) {
        self.stop();
        let log_file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("open log file");
        let started = Instant::now();
        loop {
            self.child = self
                .kind
                .command(
                    self.addr,
                    &self.dir.path().join("data"),
                    self.dir.path(),
                    &self.flags,
                )
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("clone log handle"))
                .stderr(log_file.try_clone().expect("clone log handle"))
                .spawn()
                .expect("restart server");
            match self.wait_ready().await {
                Ok(()) => return,
                // The old socket may linger briefly; the port is ours, so retry.
                Err(StartError::PortTaken) if started.elapsed() < READY_DEADLINE => {
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
                Err(StartError::PortTaken) => panic!("port {} stayed taken", self.addr),
                Err(StartError::Failed(why)) => panic!(
                    "{} did not restart: {why}\n--- log ---\n{}",
                    self.kind.name(),
                    self.log()
                ),
            }
        }
    }

    async fn start(kind: Kind, prometheus_yml: Option<&str>, flags: &[&str]) -> Server {
        let http = loopback_http_client();
        let flags: Vec<String> = flags.iter().map(|f| (*f).to_owned()).collect();
        for _ in 0..PORT_ATTEMPTS {
            let dir = temp_dir(kind.name());
            let addr = free_loopback_addr();
            let log = dir.path().join(format!("{}.log", kind.name()));
            if let Some(config) = prometheus_yml {
                std::fs::write(dir.path().join("prometheus.yml"), config)
                    .expect("write prometheus.yml");
            }
            let mut command = kind.command(addr, &dir.path().join("data"), dir.path(), &flags);
            let child = spawn_logged(&mut command, &log).unwrap_or_else(|e| {
                panic!(
                    "cannot run {:?} ({e}); install it (scripts/test does) or set {}",
                    kind.binary(),
                    kind.binary_var()
                )
            });
            let mut server = Server {
                kind,
                child,
                addr,
                flags: flags.clone(),
                log,
                http: http.clone(),
                dir,
            };
            match server.wait_ready().await {
                Ok(()) => return server,
                // Another process took the port between the probe and the server's bind:
                // drop this one (kills it, removes its dir) and try a new port.
                Err(StartError::PortTaken) => continue,
                Err(StartError::Failed(why)) => {
                    panic!(
                        "{} did not start: {why}\n--- log ---\n{}",
                        kind.name(),
                        server.log()
                    )
                }
            }
        }
        panic!(
            "{} lost the race for a free port {PORT_ATTEMPTS} times",
            kind.name()
        )
    }

    async fn wait_ready(&mut self) -> Result<(), StartError> {
        let url = format!("{}{}", self.base_url(), self.kind.ready_path());
        wait_ready(&mut self.child, &self.log, &self.http, &url).await
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where remote-write requests go: `http://127.0.0.1:<port>/api/v1/write`.
    pub fn remote_write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url())
    }

    /// The server's stdout and stderr so far.
    pub fn log(&self) -> String {
        read_log(&self.log)
    }

    /// POSTs a snappy-compressed `WriteRequest` with the remote-write headers; returns the
    /// status code and body.
    pub async fn push(&self, snappy_body: Vec<u8>) -> (u16, String) {
        let response = self
            .http
            .post(self.remote_write_url())
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(snappy_body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("push to {} failed: {e}", self.kind.name()));
        let status = response.status().as_u16();
        (status, response.text().await.unwrap_or_default())
    }

    /// Makes freshly written data searchable (VictoriaMetrics); nothing for Prometheus,
    /// whose head block is queryable as soon as the write returns.
    pub async fn flush(&self) {
        if self.kind == Kind::VictoriaMetrics {
            let url = format!("{}/internal/force_flush", self.base_url());
            let status = self.http.get(&url).send().await.map(|r| r.status());
            assert!(
                matches!(status, Ok(s) if s.is_success()),
                "{url} failed: {status:?}"
            );
        }
    }

    /// Instant query at the current time; returns `data.result` (for a vector: an array of
    /// `{"metric": {..}, "value": [ts, "value"]}`). Panics if the server reports an error.
    pub async fn query(&self, promql: &str) -> Value {
        self.flush().await;
        let data = self
            .api("/api/v1/query", &[("query", promql.to_owned())])
            .await;
        data["result"].clone()
    }

    /// Label sets of the series matching `selector` with samples in the last hour.
    pub async fn series(&self, selector: &str) -> Vec<BTreeMap<String, String>> {
        self.flush().await;
        let now = unix_seconds();
        let data = self
            .api(
                "/api/v1/series",
                &[
                    ("match[]", selector.to_owned()),
                    ("start", format!("{:.3}", now - 3600.0)),
                    ("end", format!("{:.3}", now + 60.0)),
                ],
            )
            .await;
        serde_json::from_value(data.clone())
            .unwrap_or_else(|e| panic!("series answer {data} is not a list of label sets: {e}"))
    }

    /// The exemplars of the series `selector` selects, over the last hour (Prometheus
    /// with `--enable-feature=exemplar-storage`): `data` of `/api/v1/query_exemplars`,
    /// a list of `{"seriesLabels": {..}, "exemplars": [{"labels": {..}, "value": "..",
    /// "timestamp": ..}]}`.
    pub async fn exemplars(&self, selector: &str) -> Value {
        let now = unix_seconds();
        self.api(
            "/api/v1/query_exemplars",
            &[
                ("query", selector.to_owned()),
                ("start", format!("{:.3}", now - 3600.0)),
                ("end", format!("{:.3}", now + 60.0)),
            ],
        )
        .await
    }

    /// Queries `promql` until `done(result)` holds, and returns that result; panics with
    /// the last result once `deadline` has passed.
    pub async fn wait_for(
        &self,
        promql: &str,
        done: impl Fn(&Value) -> bool,
        deadline: Duration,
    ) -> Value {
        let what = format!("{}: {promql}", self.kind.name());
        poll(&what, || self.query(promql), done, deadline).await
    }

    async fn api(&self, path: &str, params: &[(&str, String)]) -> Value {
        let url = format!("{}{path}", self.base_url());
        get_api_data(&self.http, &url, params).await
    }
}

/// GETs a Prometheus-style HTTP API `url` and returns its `data`; panics with the answer
/// unless it is JSON with `"status": "success"`.
pub async fn get_api_data(http: &reqwest::Client, url: &str, params: &[(&str, String)]) -> Value {
    let response = http
        .get(url)
        .query(params)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url} failed: {e:?}"));
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let json: Value = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("GET {url} ({status}) answered non-JSON ({e}): {body}"));
    assert_eq!(
        json["status"], "success",
        "GET {url} {params:?} failed ({status}): {body}"
    );
    json["data"].clone()
}

/// The value of a one-sample instant-query result (`[{"value": [ts, "1.5"]}]`), if it has
/// exactly one sample.
pub fn single_value(result: &Value) -> Option<f64> {
    match result.as_array()?.as_slice() {
        [one] => one["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

/// Seconds since the Unix epoch, as the query API takes them.
pub fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// Milliseconds since the Unix epoch, as remote-write samples carry them.
pub fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Runs `query` until `done(result)` holds, and returns that result; panics with the
/// last result once `deadline` has passed (`what` names the query in that message).
pub async fn poll<F: std::future::Future<Output = Value>>(
    what: &str,
    query: impl Fn() -> F,
    done: impl Fn(&Value) -> bool,
    deadline: Duration,
) -> Value {
    let started = Instant::now();
    loop {
        let result = query().await;
        if done(&result) {
            return result;
        }
        assert!(
            started.elapsed() < deadline,
            "{what} did not reach the expected state within {deadline:?}; last result: {result}"
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
