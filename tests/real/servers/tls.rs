//! A real Prometheus serving HTTPS (`--web.config.file`), and the certificates the tests
//! make for it (rcgen; nothing is checked in).
//!
//! Facts the tests rely on (Prometheus 3.16 and 2.42, the exporter-toolkit web config): the web
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

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use super::kind::Kind;
use super::real_servers::Server;

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

/// What [`prepare`] made: the web config's path, the harness's client and its CA.
pub struct WebSetup {
    /// `dir/web.yml`, for `--web.config.file`.
    pub web_yml: PathBuf,
    /// The harness's client: any server certificate accepted (some tests serve wrong
    /// ones on purpose), a certificate of the harness CA presented, basic auth sent when
    /// the config has it.
    pub http: reqwest::Client,
    /// The harness's CA, always in the client CA file.
    pub harness_ca_pem: String,
}

/// Writes `config`'s files into the server directory `dir` and makes the harness's
/// client for it ([`Server::builder`](super::Server::builder) with a web config calls
/// this).
pub fn prepare(config: &WebConfig, dir: &Path) -> WebSetup {
    let harness_ca = Ca::new("harness");
    let harness_client = harness_ca.client(KeyKind::Ecdsa);
    let mut http = reqwest::Client::builder()
        .no_proxy() // loopback only, whatever the environment says
        .timeout(Duration::from_secs(10))
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
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Basic {basic}").parse().expect("header"),
        );
        http = http.default_headers(headers);
    }
    WebSetup {
        web_yml: write_web_config(dir, config, &harness_ca.pem()),
        http: http.build().expect("build HTTPS client"),
        harness_ca_pem: harness_ca.pem(),
    }
}

/// Prometheus 3 serving HTTPS with `config`, remote-write receiver on.
pub async fn start_tls(config: WebConfig) -> Server {
    start_tls_on(Kind::Prometheus3, config).await
}

/// [`start_tls`] on this Prometheus.
pub async fn start_tls_on(kind: Kind, config: WebConfig) -> Server {
    Server::builder(kind).web_config(config).start().await
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
