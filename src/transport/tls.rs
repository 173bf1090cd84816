//! What a destination trusts and presents over TLS: the options as given, the PEM files
//! read and checked, and the rustls configuration built from them.
//!
//! Trust starts from the platform, as Go and curl do: the system bundle, or the files
//! that `SSL_CERT_FILE` / `SSL_CERT_DIR` name instead (read once per process by
//! `rustls-native-certs`). The bundled Mozilla roots are used only where that finds no
//! certificate at all (a scratch container). A destination may add CAs
//! ([`TlsOptions::ca`]) and present a client certificate ([`TlsOptions::client_cert`]).
//!
//! Files are read by [`read_sources`] and checked by [`TlsMaterial::parse`]; the two
//! steps are apart so that a rotation (see `clients.rs`) can tell "the same bytes again"
//! from "new bytes" before it parses anything. Every error names the file (or the
//! in-memory option) and what to do; no error or `Debug` output shows key material.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, RootCertStore};

use crate::Error;

/// A file whose modification time is this close to the moment it was read may be
/// written again within the same timestamp tick (coarse file systems keep one or two
/// seconds); its content is compared again at the next check.
pub(crate) const RACY_WINDOW: Duration = Duration::from_secs(2);

/// PEM text held in memory. Compared by content; `Debug` shows its size only, since it
/// may be a private key.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct PemBytes(Arc<[u8]>);

impl PemBytes {
    pub(crate) fn new(bytes: impl Into<Vec<u8>>) -> Self {
        PemBytes(bytes.into().into())
    }
}

impl fmt::Debug for PemBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes of PEM>", self.0.len())
    }
}

/// Where one piece of PEM comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum PemSource {
    /// A file, read at build and again whenever it changes.
    File(PathBuf),
    /// Bytes the user handed over; they never change.
    Memory(PemBytes),
}

/// A client certificate (chain) and its private key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientCertSource {
    pub(crate) cert: PemSource,
    pub(crate) key: PemSource,
}

/// The TLS options of one destination, as the user gave them. Equal options share
/// connections (see `clients.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct TlsOptions {
    /// CAs trusted on top of the platform's.
    pub(crate) ca: Vec<PemSource>,
    /// The certificate presented when the server asks for one (mutual TLS).
    pub(crate) client_cert: Option<ClientCertSource>,
    /// The name sent as SNI and checked in the server's certificate, instead of the
    /// URL's host.
    pub(crate) server_name: Option<String>,
    /// Accept any server certificate.
    pub(crate) accept_invalid_certs: bool,
}

impl TlsOptions {
    /// Whether any option is set (they mean nothing for an `http://` endpoint).
    pub(crate) fn is_set(&self) -> bool {
        *self != TlsOptions::default()
    }

    /// The PEM sources in a fixed order: the CAs, then the client certificate and key.
    fn sources(&self) -> Vec<(Role, &PemSource)> {
        let mut sources: Vec<(Role, &PemSource)> =
            self.ca.iter().map(|source| (Role::Ca, source)).collect();
        if let Some(client) = &self.client_cert {
            sources.push((Role::ClientCert, &client.cert));
            sources.push((Role::ClientKey, &client.key));
        }
        sources
    }

    /// Checks the server name: a DNS name (an IP address cannot be sent as SNI).
    pub(crate) fn validate_server_name(&self) -> Result<(), Error> {
        let Some(name) = &self.server_name else {
            return Ok(());
        };
        match ServerName::try_from(name.as_str()) {
            Ok(ServerName::DnsName(_)) if !name.is_empty() => Ok(()),
            Ok(_) => Err(Error::Config(format!(
                "with_tls_server_name({name:?}): an IP address cannot be sent as the TLS \
                 server name; give the DNS name the server's certificate carries, or leave \
                 the option out to check the URL's address"
            ))),
            Err(_) => Err(Error::Config(format!(
                "with_tls_server_name({name:?}) is not a valid DNS name; give the name the \
                 server's certificate carries, such as \"mimir.internal\""
            ))),
        }
    }
}

/// What a piece of PEM is for, to name it in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Ca,
    ClientCert,
    ClientKey,
}

impl Role {
    fn option(self, source: &PemSource) -> &'static str {
        match (self, source) {
            (Role::Ca, PemSource::File(_)) => "with_tls_ca_file",
            (Role::Ca, PemSource::Memory(_)) => "with_tls_ca_pem",
            (Role::ClientCert | Role::ClientKey, PemSource::File(_)) => {
                "with_tls_client_cert_files"
            }
            (Role::ClientCert | Role::ClientKey, PemSource::Memory(_)) => {
                "with_tls_client_cert_pem"
            }
        }
    }

    fn what(self) -> &'static str {
        match self {
            Role::Ca => "CA certificate",
            Role::ClientCert => "client certificate",
            Role::ClientKey => "client key",
        }
    }
}

/// How a source is named in a message: `the client key file "/etc/…/tls.key"`.
fn describe(role: Role, source: &PemSource) -> String {
    match source {
        PemSource::File(path) => format!(
            "the TLS {} file {:?} (given to {})",
            role.what(),
            path.display(),
            role.option(source)
        ),
        PemSource::Memory(_) => format!(
            "the TLS {} PEM given to {}",
            role.what(),
            role.option(source)
        ),
    }
}

/// What `stat` says about a file; a change means the file may have been rewritten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    /// Device and inode: an atomic rename (or the symlink swap of a Kubernetes secret
    /// volume) gives a new one even when size and time agree.
    #[cfg(unix)]
    file_id: (u64, u64),
}

impl FileStamp {
    /// The stamp of the file at `path` now (symlinks followed).
    pub(crate) fn of(path: &Path) -> std::io::Result<FileStamp> {
        let meta = std::fs::metadata(path)?;
        #[cfg(unix)]
        let file_id = {
            use std::os::unix::fs::MetadataExt as _;
            (meta.dev(), meta.ino())
        };
        Ok(FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            file_id,
        })
    }

    /// Whether a write after `read_at` could leave this stamp unchanged: the file was
    /// modified within [`RACY_WINDOW`] of that moment, or its time is unknown.
    pub(crate) fn is_racy(&self, read_at: SystemTime) -> bool {
        match self.modified {
            Some(modified) => modified + RACY_WINDOW > read_at,
            None => true,
        }
    }
}

/// One watched file as last read: its stamp before the read, and whether that stamp
/// can be trusted to change with the next write.
#[derive(Debug, Clone)]
pub(crate) struct WatchedFile {
    pub(crate) path: PathBuf,
    /// `None` when the file could not be read.
    pub(crate) stamp: Option<FileStamp>,
    pub(crate) racy: bool,
}

impl WatchedFile {
    /// Whether the file must be read again: its stamp changed, or the last one was racy.
    pub(crate) fn needs_reading(&self) -> bool {
        self.racy || FileStamp::of(&self.path).ok() != self.stamp
    }
}

/// The bytes of every source, as read at one moment.
pub(crate) struct ReadSources {
    /// One entry per source, in [`TlsOptions::sources`] order: the bytes, or why they
    /// could not be read.
    contents: Vec<Result<Arc<[u8]>, String>>,
    /// The files among the sources.
    pub(crate) files: Vec<WatchedFile>,
    /// A hash of everything read (and of every read error), to tell new bytes from the
    /// same bytes again.
    pub(crate) fingerprint: u64,
}

/// Reads every source of `options`. Never fails: a file that cannot be read is
/// recorded, and [`TlsMaterial::parse`] reports it.
pub(crate) fn read_sources(options: &TlsOptions) -> ReadSources {
    let mut contents = Vec::new();
    let mut files = Vec::new();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (role, source) in options.sources() {
        let content = match source {
            PemSource::Memory(bytes) => Ok(bytes.0.clone()),
            PemSource::File(path) => {
                let read_at = SystemTime::now();
                // Stamped before reading: a write that lands during the read changes the
                // stamp seen at the next check.
                let stamp = FileStamp::of(path).ok();
                let racy = stamp.as_ref().is_none_or(|s| s.is_racy(read_at));
                files.push(WatchedFile {
                    path: path.clone(),
                    stamp,
                    racy,
                });
                std::fs::read(path).map(Arc::from).map_err(|e| {
                    format!(
                        "cannot read {} ({e}); check the path",
                        describe(role, source)
                    )
                })
            }
        };
        match &content {
            Ok(bytes) => bytes.hash(&mut hasher),
            Err(message) => message.hash(&mut hasher),
        }
        contents.push(content);
    }
    ReadSources {
        contents,
        files,
        fingerprint: hasher.finish(),
    }
}

/// The checked certificates and key of one destination.
#[derive(Clone)]
pub(crate) struct TlsMaterial {
    /// CAs to trust on top of the platform's.
    pub(crate) extra_roots: Vec<CertificateDer<'static>>,
    /// The client certificate chain with its loaded key, checked to match.
    pub(crate) client: Option<Arc<CertifiedKey>>,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("extra_roots", &self.extra_roots.len())
            .field("client_cert", &self.client.is_some())
            .finish()
    }
}

impl TlsMaterial {
    /// Parses and checks what [`read_sources`] read for `options`: every CA source
    /// holds at least one certificate usable as a trust anchor; the client certificate
    /// source holds a chain, the key source an unencrypted RSA, ECDSA or Ed25519 key,
    /// and the key belongs to the chain's first certificate.
    pub(crate) fn parse(options: &TlsOptions, read: &ReadSources) -> Result<Self, Error> {
        let sources = options.sources();
        let mut extra_roots = Vec::new();
        let mut client_chain = None;
        let mut client = None;
        for ((role, source), content) in sources.iter().zip(&read.contents) {
            let bytes = content.as_ref().map_err(|e| Error::Config(e.clone()))?;
            match role {
                Role::Ca => {
                    let certs = parse_certificates(*role, source, bytes)?;
                    for (i, cert) in certs.iter().enumerate() {
                        // Checked here, where the file can be named; the verifier's
                        // store is built from these again.
                        RootCertStore::empty().add(cert.clone()).map_err(|e| {
                            Error::Config(format!(
                                "certificate {} of {} cannot be used as a trusted CA ({e}); \
                                 give the PEM of the CA that issued the server's certificate",
                                i + 1,
                                describe(*role, source)
                            ))
                        })?;
                    }
                    extra_roots.extend(certs);
                }
                Role::ClientCert => client_chain = Some(parse_certificates(*role, source, bytes)?),
                Role::ClientKey => {
                    let chain = client_chain.take().unwrap_or_default();
                    let key = parse_key(source, bytes)?;
                    let cert_source = options.client_cert.as_ref().map(|c| &c.cert);
                    client = Some(Arc::new(certified_key(chain, key, cert_source, source)?));
                }
            }
        }
        Ok(TlsMaterial {
            extra_roots,
            client,
        })
    }

    /// Reads and checks every source of `options` now.
    pub(crate) fn load(options: &TlsOptions) -> Result<LoadedTls, Error> {
        let read = read_sources(options);
        let material = Self::parse(options, &read)?;
        Ok(LoadedTls {
            material,
            files: read.files,
            fingerprint: read.fingerprint,
        })
    }
}

/// TLS options that passed validation.
#[derive(Clone)]
pub(crate) struct CheckedTls {
    /// As given: part of the key that decides which destinations share connections.
    pub(crate) options: TlsOptions,
    /// The files, as read and checked at build.
    pub(crate) loaded: LoadedTls,
}

/// What `build()` read and checked: the material, and the files to watch for rotation.
#[derive(Debug, Clone)]
pub(crate) struct LoadedTls {
    pub(crate) material: TlsMaterial,
    pub(crate) files: Vec<WatchedFile>,
    pub(crate) fingerprint: u64,
}

fn parse_certificates(
    role: Role,
    source: &PemSource,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::Config(format!(
                "{} is not valid PEM ({}); give the certificate in PEM form",
                describe(role, source),
                pem_error(&e)
            ))
        })?;
    if certs.is_empty() {
        let hint = if PrivateKeyDer::from_pem_slice(bytes).is_ok() {
            "it holds a private key: are the certificate and key swapped?"
        } else if bytes.first() == Some(&0x30) {
            "it looks like DER; convert it with `openssl x509 -inform der -in FILE -out FILE.pem`"
        } else {
            "give a PEM file with \"-----BEGIN CERTIFICATE-----\" sections"
        };
        return Err(Error::Config(format!(
            "{} holds no PEM certificate; {hint}",
            describe(role, source)
        )));
    }
    Ok(certs)
}

fn parse_key(source: &PemSource, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, Error> {
    let described = describe(Role::ClientKey, source);
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) => {
            let hint = if contains_label(bytes, "ENCRYPTED PRIVATE KEY") {
                "the key is encrypted; give it unencrypted (`openssl pkey -in KEY -out KEY.plain`) \
                 and protect the file instead"
            } else if CertificateDer::pem_slice_iter(bytes).next().is_some() {
                "it holds a certificate: are the certificate and key swapped?"
            } else {
                "give a PEM file with a \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \
                 \"EC PRIVATE KEY\" section"
            };
            Err(Error::Config(format!(
                "{described} holds no private key; {hint}"
            )))
        }
        Err(e) => Err(Error::Config(format!(
            "{described} is not valid PEM ({}); give the key in PEM form",
            pem_error(&e)
        ))),
    }
}

/// Loads the key and checks that it belongs to the chain's first certificate.
fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_source: Option<&PemSource>,
    key_source: &PemSource,
) -> Result<CertifiedKey, Error> {
    let key_described = describe(Role::ClientKey, key_source);
    let cert_described = cert_source
        .map(|s| describe(Role::ClientCert, s))
        .unwrap_or_else(|| "the client certificate".to_owned());
    if let Some(version @ (1 | 2)) = chain.first().and_then(|c| x509_version(c)) {
        return Err(Error::Config(format!(
            "the first certificate in {cert_described} is X.509 v{version}, and rustls \
             accepts only X.509 v3 certificates; reissue it with any extension, which makes \
             it v3 (`openssl x509 -req` without `-extfile` makes v1: add e.g. \
             `-extfile <(printf 'extendedKeyUsage=clientAuth')`)"
        )));
    }
    let signing_key = provider().key_provider.load_private_key(key).map_err(|e| {
        Error::Config(format!(
            "the private key in {key_described} cannot be used ({e}); give an RSA \
                 (2048 bits or more), ECDSA (P-256 or P-384) or Ed25519 key"
        ))
    })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Unknown: the key type cannot tell its public half; the handshake will.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(Error::Config(format!(
                "the private key in {key_described} does not belong to the certificate in \
                 {cert_described}; give the key the certificate was issued for (a rotation \
                 must replace both)"
            )))
        }
        Err(e) => Err(Error::Config(format!(
            "the first certificate in {cert_described} cannot be parsed ({e}); give a PEM \
             certificate chain, the client's own certificate first"
        ))),
    }
}

/// The X.509 version (1, 2 or 3) of a DER certificate, from its TBSCertificate's
/// `[0] EXPLICIT` version field (absent: v1); `None` when the DER has not that shape.
fn x509_version(der: &[u8]) -> Option<u8> {
    let (0x30, certificate, _) = der_item(der)? else {
        return None;
    };
    let (0x30, tbs, _) = der_item(certificate)? else {
        return None;
    };
    let (tag, field, _) = der_item(tbs)?;
    if tag != 0xa0 {
        return Some(1);
    }
    match der_item(field)? {
        (0x02, [version @ 0..=2], _) => Some(version + 1),
        _ => None,
    }
}

/// The DER item at the start of `bytes`: its tag, its content and what follows it.
fn der_item(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (len, rest) = rest.split_at(n);
        let len = len.iter().fold(0usize, |acc, &b| acc << 8 | usize::from(b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (content, after) = rest.split_at(len);
    Some((tag, content, after))
}

fn contains_label(bytes: &[u8], label: &str) -> bool {
    let marker = format!("-----BEGIN {label}-----");
    bytes
        .windows(marker.len())
        .any(|window| window == marker.as_bytes())
}

/// A PEM error in words, without quoting the content.
fn pem_error(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line".to_owned(),
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed".to_owned(),
        pem::Error::Base64Decode(_) => "a section is not valid base64".to_owned(),
        other => other.to_string(),
    }
}

/// The one crypto provider (ring, as reqwest's rustls build uses).
pub(crate) fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The platform's trusted CAs, read once per process as Go does; the bundled Mozilla
/// roots where the platform has none.
fn platform_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!("reading the system's trusted CAs: {error}");
        }
        let mut roots = RootCertStore::empty();
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        if ignored > 0 {
            tracing::debug!("{ignored} of the system's CA certificates cannot be parsed");
        }
        if added == 0 {
            tracing::warn!(
                "no trusted CA certificates found on this system (install ca-certificates, \
                 or set SSL_CERT_FILE); using the Mozilla roots bundled with prompush"
            );
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots
    })
}

/// The rustls configuration for `options` with `material` (ALPN left to the caller).
pub(crate) fn client_config(
    options: &TlsOptions,
    material: &TlsMaterial,
) -> Result<ClientConfig, Error> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_setup_error(&e))?;
    let builder = if options.accept_invalid_certs {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert {
                algorithms: provider.signature_verification_algorithms,
            }))
    } else {
        let mut roots = platform_roots().clone();
        for cert in &material.extra_roots {
            roots.add(cert.clone()).map_err(|e| tls_setup_error(&e))?;
        }
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| tls_setup_error(&e))?;
        builder.with_webpki_verifier(verifier)
    };
    Ok(match &material.client {
        Some(certified) => builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(
            CertifiedKey::clone(certified),
        ))),
        None => builder.with_no_client_auth(),
    })
}

fn tls_setup_error(error: &dyn std::error::Error) -> Error {
    Error::Config(format!(
        "cannot set up TLS ({error}); this is a platform problem, please report it"
    ))
}

mod accept_any;

use accept_any::AcceptAnyServerCert;

#[cfg(test)]
mod tests;
