//! A real Prometheus serving HTTPS (`--web.config.file`), and the certificates the tests
//! make for it (rcgen; nothing is checked in).
//!
//! Facts the tests rely on (Prometheus 2.42, its exporter-toolkit web config): the web
//! config's `tls_server_config` takes `cert_file`, `key_file`, `client_auth_type`
//! (`RequireAndVerifyClientCert` for mutual TLS) and `client_ca_file`; `basic_auth_users`
//! maps a user to a bcrypt hash. The config file, and the files it names, are read
//! again at every TLS handshake, so a test can switch the client CA while the server
//! runs. `/-/ready` and the query API are behind the same TLS and basic auth.
//!
//! The harness's own client (readiness, queries) accepts any server certificate (some
//! tests serve wrong ones on purpose), presents a
//! certificate of its own CA (always in the client CA file, next to the test's) and
//! sends the basic-auth credentials when they are set.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;
use tempfile::TempDir;

use super::real_servers::{POLL_INTERVAL, PORT_ATTEMPTS, READY_DEADLINE};
use crate::support::ports::free_loopback_addr;

/// A certificate authority made for one test.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate and its private key, in PEM.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

/// The key types a client certificate may have.
#[derive(Debug, Clone, Copy)]
pub enum KeyKind {
    Ecdsa,
    Ed25519,
    Rsa,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("self-signed CA");
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// Writes the CA's PEM to `dir/<file>` and returns the path.
    pub fn write(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, self.pem()).expect("write CA");
        path
    }

    /// A server certificate for `names` (DNS names or IP addresses), valid now.
    pub fn server(&self, names: &[&str]) -> Issued {
        self.issue(
            names,
            ExtendedKeyUsagePurpose::ServerAuth,
            KeyKind::Ecdsa,
            false,
        )
    }

    /// A server certificate for `names` that expired in 2021.
    pub fn expired_server(&self, names: &[&str]) -> Issued {
        self.issue(
            names,
            ExtendedKeyUsagePurpose::ServerAuth,
            KeyKind::Ecdsa,
            true,
        )
    }

    /// A client certificate with a key of `kind`.
    pub fn client(&self, kind: KeyKind) -> Issued {
        self.issue(
            &["pusher"],
            ExtendedKeyUsagePurpose::ClientAuth,
            kind,
            false,
        )
    }

    fn issue(
        &self,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
        kind: KeyKind,
        expired: bool,
    ) -> Issued {
        let (key, key_pem) = key_pair(kind);
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "prompush test");
        params.extended_key_usages = vec![usage];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("signed certificate");
        Issued {
            cert_pem: cert.pem(),
            key_pem,
        }
    }
}

impl Issued {
    /// Writes the pair to `dir/<name>.crt` and `dir/<name>.key` (over any old pair) and
    /// returns the paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert_pem).expect("write certificate");
        std::fs::write(&key, &self.key_pem).expect("write key");
        (cert, key)
    }
}

fn key_pair(kind: KeyKind) -> (KeyPair, String) {
    match kind {
        KeyKind::Ecdsa => {
            let key = KeyPair::generate().expect("ECDSA key");
            let pem = key.serialize_pem();
            (key, pem)
        }
        KeyKind::Ed25519 => {
            let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("Ed25519 key");
            let pem = key.serialize_pem();
            (key, pem)
        }
        KeyKind::Rsa => {
            use rsa::pkcs8::EncodePrivateKey as _;
            // ring cannot generate RSA keys; the rsa crate can.
            let rsa = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key");
            let pem = rsa
                .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .expect("PKCS#8 PEM")
                .to_string();
            (
                KeyPair::from_pem(&pem).expect("rcgen takes the RSA key"),
                pem,
            )
        }
    }
}

/// How the HTTPS Prometheus is set up.
pub struct WebConfig {
    /// The server's certificate and key.
    pub server: Issued,
    /// With `Some`, mutual TLS (`RequireAndVerifyClientCert`) with this CA (and the
    /// harness's) in the client CA file.
    pub client_ca: Option<String>,
    /// With `Some((user, password))`, `basic_auth_users` with the password's bcrypt hash.
    pub basic_auth: Option<(String, String)>,
}

impl WebConfig {
    /// HTTPS with this server certificate, nothing more.
    pub fn tls(server: Issued) -> WebConfig {
        WebConfig {
            server,
            client_ca: None,
            basic_auth: None,
        }
    }
}

/// A running Prometheus serving HTTPS on a free loopback port, remote-write receiver
/// enabled. Killed, its directory removed, on drop.
pub struct TlsPrometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    http: reqwest::Client,
    harness_ca_pem: String,
    // Last field: dropped after the child is gone.
    dir: TempDir,
}

impl Drop for TlsPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsPrometheus {
    /// Starts Prometheus with `config`; panics with its log if it is not ready within 30 s.
    pub async fn start(config: WebConfig) -> TlsPrometheus {
        let binary = std::env::var_os("PROMETHEUS_BIN").unwrap_or_else(|| "prometheus".into());
        let harness_ca = Ca::new("harness");
        let harness_client = harness_ca.client(KeyKind::Ecdsa);
        let mut http = reqwest::Client::builder()
            .no_proxy() // loopback only, whatever the environment says
            .timeout(Duration::from_secs(10))
            // Some tests serve a certificate that is wrong on purpose (expired, for
            // another name); the harness reads and queries all the same.
            .danger_accept_invalid_certs(true)
            .identity(
                reqwest::Identity::from_pem(
                    format!("{}{}", harness_client.cert_pem, harness_client.key_pem).as_bytes(),
                )
                .expect("harness identity"),
            );
        if let Some((user, password)) = &config.basic_auth {
            let mut headers = reqwest::header::HeaderMap::new();
            use base64::Engine as _;
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            headers.insert(
                reqwest::header::AUTHORIZATION,
                format!("Basic {basic}").parse().expect("header"),
            );
            http = http.default_headers(headers);
        }
        let http = http.build().expect("build HTTPS client");
        for _ in 0..PORT_ATTEMPTS {
            let dir = tempfile::Builder::new()
                .prefix("prompush-prometheus-tls-")
                .tempdir()
                .expect("create temp dir");
            let addr = free_loopback_addr();
            let web_config = write_web_config(dir.path(), &config, &harness_ca.pem());
            let prometheus_yml = dir.path().join("prometheus.yml");
            std::fs::write(
                &prometheus_yml,
                "global:\n  scrape_interval: 1m\nscrape_configs: []\n",
            )
            .expect("write prometheus.yml");
            let log = dir.path().join("prometheus.log");
            let log_file = File::create(&log).expect("create log file");
            let child = Command::new(&binary)
                .args([
                    format!("--config.file={}", prometheus_yml.display()),
                    format!("--storage.tsdb.path={}", dir.path().join("data").display()),
                    format!("--web.listen-address={addr}"),
                    format!("--web.config.file={}", web_config.display()),
                    "--web.enable-remote-write-receiver".to_owned(),
                ])
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("clone log handle"))
                .stderr(log_file)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run {binary:?} ({e}); install it (scripts/test does) or set PROMETHEUS_BIN")
                });
            let mut server = TlsPrometheus {
                child,
                addr,
                log,
                http: http.clone(),
                harness_ca_pem: harness_ca.pem(),
                dir,
            };
            match server.wait_ready().await {
                Ok(()) => return server,
                // The port was taken between the probe and the bind: a new one.
                Err(None) => continue,
                Err(Some(why)) => panic!(
                    "prometheus (TLS) did not start: {why}\n--- log ---\n{}",
                    server.log()
                ),
            }
        }
        panic!("prometheus (TLS) lost the race for a free port {PORT_ATTEMPTS} times")
    }

    /// `Err(None)`: the port was taken; `Err(Some(why))`: anything else.
    async fn wait_ready(&mut self) -> Result<(), Option<String>> {
        let url = format!("{}/-/ready", self.base_url());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| Some(e.to_string()))? {
                if self.log().contains("address already in use") {
                    return Err(None);
                }
                return Err(Some(format!("exited with {status}")));
            }
            let last = match self.http.get(&url).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => format!("answered {}", response.status()),
                Err(e) => format!("{e:?}"),
            };
            if started.elapsed() > READY_DEADLINE {
                return Err(Some(format!(
                    "{url} not ready within {READY_DEADLINE:?}; last: {last}"
                )));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// `https://127.0.0.1:<port>/api/v1/write`.
    pub fn remote_write_url(&self) -> String {
        format!("{}/api/v1/write", self.base_url())
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The server's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the test's CA in the client CA file (the harness's stays); Prometheus
    /// reads it at the next handshake.
    pub fn set_client_ca(&self, ca_pem: &str) {
        let path = self.dir.path().join("client-ca.pem");
        std::fs::write(&path, format!("{}{ca_pem}", self.harness_ca_pem)).expect("write client CA");
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    /// Instant query at the current time over HTTPS; returns `data.result`.
    pub async fn query(&self, promql: &str) -> Value {
        let url = format!("{}/api/v1/query", self.base_url());
        let params = [("query", promql.to_owned())];
        super::real_servers::get_api_data(&self.http, &url, &params).await["result"].clone()
    }

    /// Queries until `done(result)` holds; panics with the last result after `deadline`.
    pub async fn wait_for(
        &self,
        promql: &str,
        done: impl Fn(&Value) -> bool,
        deadline: Duration,
    ) -> Value {
        super::real_servers::poll(promql, || self.query(promql), done, deadline).await
    }
}

/// Writes the server's files and `web.yml` into `dir`; returns the web config's path.
fn write_web_config(dir: &Path, config: &WebConfig, harness_ca_pem: &str) -> PathBuf {
    let (cert, key) = config.server.write(dir, "server");
    let mut yaml = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        cert.display(),
        key.display()
    );
    if let Some(ca) = &config.client_ca {
        let path = dir.join("client-ca.pem");
        std::fs::write(&path, format!("{harness_ca_pem}{ca}")).expect("write client CA");
        yaml.push_str(&format!(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            path.display()
        ));
    }
    if let Some((user, password)) = &config.basic_auth {
        // The lowest cost bcrypt allows: the hash is checked on every request.
        let hash = bcrypt::hash(password, 4).expect("bcrypt");
        yaml.push_str(&format!("basic_auth_users:\n  {user}: '{hash}'\n"));
    }
    let path = dir.join("web.yml");
    std::fs::write(&path, yaml).expect("write web.yml");
    path
}
