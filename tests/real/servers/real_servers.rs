//! Real Prometheus and VictoriaMetrics servers: the [`Server`] harness and its query
//! helpers.
//!
//! Each server runs as a child process on `127.0.0.1:<free port>` with its data, config and
//! log in a fresh temporary directory; the guard kills it and removes the directory on drop.
//! [`Kind`] says which server and where its binary comes from: Prometheus 3 (the primary
//! one) and current VictoriaMetrics from `scripts/build-peers`, Prometheus 2.42 and
//! VictoriaMetrics 1.79 from the Debian packages. `Server::start(kind)` starts one
//! without options; `Server::builder(kind)` takes a `prometheus.yml`, an `otlp:` block,
//! feature flags, other flags and a TLS web config first.
//!
//! HTTP goes through `reqwest` (already a dependency of the crate, so nothing new to build);
//! the helpers are async and meant for `#[tokio::test]`. The child-process pieces
//! ([`temp_dir`], [`spawn_logged`], [`wait_ready`], [`read_log`]) serve the vmauth and
//! Unleash harnesses too.
//!
//! Server facts the helpers rely on (Prometheus 3.16 and 2.42, VictoriaMetrics v1.151 and
//! 1.79):
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
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;

use super::kind::Kind;
use super::tls::{self, WebConfig};
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

/// The `prometheus.yml` of a server started without one: no scrape targets, so the
/// server only receives what the tests push.
pub const NO_SCRAPE_CONFIG: &str = "global:\n  scrape_interval: 1m\nscrape_configs: []\n";

/// How to start a server: [`Server::builder`], then [`start`](ServerBuilder::start).
#[must_use]
pub struct ServerBuilder {
    kind: Kind,
    prometheus_yml: Option<String>,
    otlp: Option<String>,
    features: Vec<String>,
    flags: Vec<String>,
    web: Option<WebConfig>,
}

impl ServerBuilder {
    /// This `prometheus.yml` (scrape jobs, say) in place of [`NO_SCRAPE_CONFIG`]
    /// (Prometheus only).
    pub fn prometheus_yml(mut self, yaml: &str) -> Self {
        self.prometheus_yml = Some(yaml.to_owned());
        self
    }

    /// Turns the OTLP receiver on (`--web.enable-otlp-receiver`, at
    /// [`Server::otlp_url`]) with this body of the config file's `otlp:` block, for
    /// example `"translation_strategy: UnderscoreEscapingWithSuffixes\n"` (Prometheus 3
    /// only; the lines are indented under `otlp:` here).
    pub fn otlp(mut self, block: &str) -> Self {
        self.otlp = Some(block.to_owned());
        self
    }

    /// Adds a feature flag: all of them go into one `--enable-feature=a,b`.
    pub fn feature(mut self, feature: &str) -> Self {
        self.features.push(feature.to_owned());
        self
    }

    /// The features this kind needs for native histograms
    /// ([`Kind::native_histogram_features`]): `native-histograms` on 2.42, none on 3.
    pub fn native_histograms(mut self) -> Self {
        let features = self.kind.native_histogram_features();
        self.features
            .extend(features.iter().map(|f| (*f).to_owned()));
        self
    }

    /// Adds a command-line flag, after the harness's own.
    pub fn flag(mut self, flag: &str) -> Self {
        self.flags.push(flag.to_owned());
        self
    }

    /// Serves HTTPS with this web config (`--web.config.file`; Prometheus only). The
    /// harness's own client then trusts any server certificate and presents one of its
    /// own CA (see [`super::tls`]).
    pub fn web_config(mut self, config: WebConfig) -> Self {
        self.web = Some(config);
        self
    }

    /// Starts the server on a free loopback port; panics with its log if it is not
    /// ready within 30 s, and with what to run if its binary is missing.
    pub async fn start(self) -> Server {
        let kind = self.kind;
        let binary = kind.binary();
        let dir = temp_dir(kind.name());
        let mut extra = Vec::new();
        let mut http = loopback_http_client();
        let mut scheme = "http";
        let mut harness_ca_pem = None;
        if kind.is_prometheus() {
            let mut yaml = self
                .prometheus_yml
                .unwrap_or_else(|| NO_SCRAPE_CONFIG.to_owned());
            if let Some(block) = &self.otlp {
                assert_eq!(
                    kind,
                    Kind::Prometheus3,
                    "the OTLP receiver is tested on 3 only"
                );
                yaml.push_str("otlp:\n");
                for line in block.lines() {
                    yaml.push_str(&format!("  {line}\n"));
                }
                extra.push("--web.enable-otlp-receiver".to_owned());
            }
            std::fs::write(dir.path().join("prometheus.yml"), yaml).expect("write prometheus.yml");
            if let Some(web) = &self.web {
                let setup = tls::prepare(web, dir.path());
                extra.push(format!("--web.config.file={}", setup.web_yml.display()));
                http = setup.http;
                harness_ca_pem = Some(setup.harness_ca_pem);
                scheme = "https";
            }
        } else {
            assert!(
                self.prometheus_yml.is_none() && self.otlp.is_none() && self.web.is_none(),
                "prometheus.yml, OTLP and TLS options are for Prometheus, not {}",
                kind.name()
            );
        }
        if !self.features.is_empty() {
            extra.push(format!("--enable-feature={}", self.features.join(",")));
        }
        extra.extend(self.flags);
        let log = dir.path().join(format!("{}.log", kind.name()));
        for _ in 0..PORT_ATTEMPTS {
            let addr = free_loopback_addr();
            let mut args = kind.base_args(addr, dir.path());
            args.extend(extra.iter().cloned());
            let mut child = spawn_logged(Command::new(&binary).args(&args), &log)
                .unwrap_or_else(|e| panic!("cannot run {binary:?} ({e}); {}", kind.install_hint()));
            let url = format!("{scheme}://{addr}{}", kind.ready_path());
            match wait_ready(&mut child, &log, &http, &url).await {
                Ok(()) => {
                    return Server {
                        kind,
                        child,
                        addr,
                        scheme,
                        args,
                        log,
                        http,
                        harness_ca_pem,
                        dir,
                    }
                }
                // Another process took the port between the probe and the server's bind:
                // kill this one and try a new port (same directory).
                Err(StartError::PortTaken) => {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                Err(StartError::Failed(why)) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "{} did not start: {why}\n--- log ---\n{}",
                        kind.name(),
                        read_log(&log)
                    )
                }
            }
        }
        panic!(
            "{} lost the race for a free port {PORT_ATTEMPTS} times",
            kind.name()
        )
    }
}

/// A server child process and its temporary directory (config, data, log). Killed and
/// removed on drop.
pub struct Server {
    kind: Kind,
    child: Child,
    addr: SocketAddr,
    scheme: &'static str,
    /// The whole command line after the binary, kept for a restart.
    args: Vec<String>,
    log: PathBuf,
    http: reqwest::Client,
    /// With TLS: the harness's CA, always in the client CA file.
    harness_ca_pem: Option<String>,
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
    /// A server of this kind without options; see [`Server::builder`] for them.
    pub async fn start(kind: Kind) -> Server {
        Server::builder(kind).start().await
    }

    /// The options of a server of this kind: config, OTLP, features, flags, TLS.
    pub fn builder(kind: Kind) -> ServerBuilder {
        ServerBuilder {
            kind,
            prometheus_yml: None,
            otlp: None,
            features: Vec::new(),
            flags: Vec::new(),
            web: None,
        }
    }

    /// Which server this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Stops the server (SIGKILL: nothing is flushed beyond what its WAL already has).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, data directory and command line; panics if it
    /// is not ready within 30 s.
    pub async fn restart(&mut self) {
        self.stop();
        let log_file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("open log file");
        let started = Instant::now();
        loop {
            self.child = Command::new(self.kind.binary())
                .args(&self.args)
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

    async fn wait_ready(&mut self) -> Result<(), StartError> {
        let url = format!("{}{}", self.base_url(), self.kind.ready_path());
        wait_ready(&mut self.child, &self.log, &self.http, &url).await
    }

    /// `http://127.0.0.1:<port>` (`https://` with a web config).
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The server's temporary directory (`prometheus.yml`, `data/`, the log, TLS files).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The harness's HTTP client for this server (with TLS: its client certificate,
    /// any server certificate accepted, basic auth when set).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Where remote-write requests go: `<base>/api/v1/write`.
    pub fn remote_write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url())
    }

    /// Prometheus 3's OTLP receiver ([`ServerBuilder::otlp`]):
    /// `<base>/api/v1/otlp/v1/metrics`, protobuf or JSON.
    pub fn otlp_url(&self) -> String {
        format!("{}/api/v1/otlp/v1/metrics", self.base_url())
    }

    /// Replaces the test's CA in the client CA file (the harness's stays); Prometheus
    /// reads it at the next handshake. Panics unless started with a web config.
    pub fn set_client_ca(&self, ca_pem: &str) {
        let harness = self
            .harness_ca_pem
            .as_deref()
            .expect("set_client_ca needs a server started with a web config");
        let path = self.dir.path().join("client-ca.pem");
        std::fs::write(&path, format!("{harness}{ca_pem}")).expect("write client CA");
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
        if !self.kind.is_prometheus() {
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
