//! Test certificates made on the spot (rcgen), and a loopback HTTPS server (rustls,
//! one thread) that records what each connection showed: the SNI name, the client
//! certificate, the `Host` header. For the TLS tests of the transport.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The kinds of key the client side must accept.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyKind {
    Ecdsa,
    Ed25519,
    /// RSA 2048 in PKCS#8 form.
    Rsa,
    /// RSA 2048 in PKCS#1 form (`BEGIN RSA PRIVATE KEY`).
    RsaPkcs1,
}

/// A key pair and its PEM, in the form the kind asks for.
pub(crate) fn key(kind: KeyKind) -> (KeyPair, String) {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::EncodePrivateKey as _;
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
        KeyKind::Rsa | KeyKind::RsaPkcs1 => {
            let rsa = rsa_key();
            let pkcs8 = rsa
                .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .expect("PKCS#8 PEM");
            let key = KeyPair::from_pem(&pkcs8).expect("rcgen takes the RSA key");
            let pem = match kind {
                KeyKind::RsaPkcs1 => rsa
                    .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
                    .expect("PKCS#1 PEM")
                    .to_string(),
                _ => pkcs8.to_string(),
            };
            (key, pem)
        }
    }
}

/// One RSA key per test process: generating one takes a while in a debug build.
fn rsa_key() -> rsa::RsaPrivateKey {
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key"))
        .clone()
}

/// A certificate authority for tests.
pub(crate) struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// A certificate and its key, in PEM.
pub(crate) struct Issued {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

impl TestCa {
    pub(crate) fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("self-signed CA");
        TestCa { cert, key }
    }

    pub(crate) fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub(crate) fn server(&self, names: &[&str]) -> Issued {
        self.issue(names, ExtendedKeyUsagePurpose::ServerAuth, KeyKind::Ecdsa)
    }

    /// A client certificate with a key of `kind`.
    pub(crate) fn client(&self, kind: KeyKind) -> Issued {
        self.issue(&["pusher"], ExtendedKeyUsagePurpose::ClientAuth, kind)
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose, kind: KeyKind) -> Issued {
        let (key, key_pem) = key(kind);
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "prompush test");
        params.extended_key_usages = vec![usage];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("signed certificate");
        Issued {
            cert_pem: cert.pem(),
            key_pem,
        }
    }
}

/// What one connection to [`TlsServer`] showed.
#[derive(Debug)]
pub(crate) struct Seen {
    pub(crate) sni: Option<String>,
    /// The client's certificate (DER), if it presented one.
    pub(crate) client_cert: Option<Vec<u8>>,
    pub(crate) host: Option<String>,
}

/// A loopback HTTPS server: every request is answered `204` on a connection that then
/// closes, so each request makes a new handshake.
pub(crate) struct TlsServer {
    addr: SocketAddr,
    seen: mpsc::Receiver<Seen>,
}

impl TlsServer {
    /// Serves `identity`; with `client_ca`, asks for a client certificate (optional).
    pub(crate) fn start(identity: &Issued, client_ca: Option<&TestCa>) -> TlsServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.cert.der().clone()).expect("client CA");
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let chain = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("chain");
        let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).expect("key");
        let config = Arc::new(builder.with_single_cert(chain, key).expect("server config"));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, seen) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                    continue;
                };
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut reader = BufReader::new(&mut tls);
                let mut host = None;
                let mut length = 0usize;
                let mut line = String::new();
                let mut ok = false;
                // A failed handshake ends here with an error: next connection.
                while reader.read_line(&mut line).unwrap_or(0) > 0 {
                    let trimmed = line.trim_end().to_owned();
                    line.clear();
                    if trimmed.is_empty() {
                        ok = true;
                        break;
                    }
                    if let Some((name, value)) = trimmed.split_once(':') {
                        match name.to_ascii_lowercase().as_str() {
                            "host" => host = Some(value.trim().to_owned()),
                            "content-length" => length = value.trim().parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
                if !ok {
                    continue;
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let seen = Seen {
                    sni: tls.conn.server_name().map(str::to_owned),
                    client_cert: tls
                        .conn
                        .peer_certificates()
                        .and_then(|certs| certs.first())
                        .map(|cert| cert.to_vec()),
                    host,
                };
                let _ = tls.write_all(
                    b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
                if tx.send(seen).is_err() {
                    return;
                }
            }
        });
        TlsServer { addr, seen }
    }

    pub(crate) fn url(&self, host: &str) -> String {
        format!("https://{host}:{}/api/v1/write", self.addr.port())
    }

    /// What the next completed request showed (waits up to 10 s).
    pub(crate) fn next_seen(&self) -> Seen {
        self.seen
            .recv_timeout(Duration::from_secs(10))
            .expect("a request reached the TLS server")
    }
}

/// The DER of the first certificate of a PEM chain.
pub(crate) fn der_of(cert_pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .expect("certificate PEM")
        .to_vec()
}
