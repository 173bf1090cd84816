//! The push options every builder that pushes shares (the provider's, a
//! [`Destination`](crate::Destination)'s and the SDK exporter's), with their defaults
//! and checks, and the builder methods that set them.

use std::time::Duration;

use super::Delivery;
use crate::prometheus::naming;
use crate::transport::{Protocol, TransportConfig, ValidatedTransport};
use crate::Error;

/// The default most samples in one remote-write request (as Prometheus sends).
pub const DEFAULT_MAX_SAMPLES_PER_SEND: usize = 2000;
/// The default cap on data waiting for delivery: 64 MiB of encoded requests.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 64 << 20;
/// The default first wait before a retry; it doubles per failure.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(30);
/// The default longest wait between retries.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The default time `shutdown()` keeps trying to deliver the final push.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// The default largest JSON custom-metrics body: under the 100 kB that Unleash (and
/// express's default body parser) accept.
pub const DEFAULT_MAX_BODY_BYTES: usize = 100_000;

/// Destination, auth and delivery settings, as the user gave them.
#[derive(Debug, Clone)]
pub(crate) struct PushOptions {
    pub(crate) transport: TransportConfig,
    pub(crate) max_samples_per_send: usize,
    pub(crate) max_pending_bytes: usize,
    pub(crate) backoff: (Duration, Duration),
    pub(crate) shutdown_timeout: Duration,
    pub(crate) external_labels: Vec<(String, String)>,
    /// `None`: the protocol's default.
    pub(crate) max_body_bytes: Option<usize>,
    /// Whether series carry the scope labels; `None`: the provider's choice, else on.
    pub(crate) scope_labels: Option<bool>,
    /// Whether a builder method set any of these (so the provider can tell options
    /// that would configure nothing).
    pub(crate) touched: bool,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            transport: TransportConfig::default(),
            max_samples_per_send: DEFAULT_MAX_SAMPLES_PER_SEND,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            backoff: (DEFAULT_MIN_BACKOFF, DEFAULT_MAX_BACKOFF),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            external_labels: Vec::new(),
            max_body_bytes: None,
            scope_labels: None,
            touched: false,
        }
    }
}

impl PushOptions {
    /// Checks everything for destination `name`, which speaks `protocol`; `interval` is
    /// how often its pipeline collects.
    pub(crate) fn validate(
        self,
        name: &str,
        protocol: Protocol,
        interval: Duration,
    ) -> Result<(ValidatedTransport, Delivery), Error> {
        if self.max_samples_per_send == 0 {
            return Err(Error::Config(
                "with_max_samples_per_send(0): a request must carry at least one sample".into(),
            ));
        }
        let (min, max) = self.backoff;
        if min.is_zero() || max < min {
            return Err(Error::Config(format!(
                "with_retry_backoff({min:?}, {max:?}): the first wait must be positive and the \
                 longest at least as long"
            )));
        }
        let max_body_bytes = match (protocol, self.max_body_bytes) {
            (Protocol::RemoteWrite, Some(_)) => {
                return Err(Error::Config(
                    "with_max_body_bytes applies to custom-metrics (JSON) destinations; a \
                     remote-write request is sized with with_max_samples_per_send"
                        .into(),
                ))
            }
            (_, Some(bytes)) if bytes < 1024 => {
                return Err(Error::Config(format!(
                    "with_max_body_bytes({bytes}): a body must have room for at least one \
                     entry; give 1024 bytes or more"
                )))
            }
            (_, bytes) => bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        };
        validate_external_labels(&self.external_labels)?;
        let transport = self.transport.validate()?;
        let delivery = Delivery {
            name: name.to_owned(),
            protocol,
            max_body_bytes,
            external_labels: self.external_labels,
            target_info: true,
            scope_labels: self.scope_labels.unwrap_or(true),
            interval,
            max_samples_per_send: self.max_samples_per_send,
            max_pending_bytes: self.max_pending_bytes,
            min_backoff: min,
            max_backoff: max,
            shutdown_timeout: self.shutdown_timeout,
        };
        Ok((transport, delivery))
    }
}

/// External labels: valid names, non-empty values, each name once.
fn validate_external_labels(labels: &[(String, String)]) -> Result<(), Error> {
    for (i, (name, value)) in labels.iter().enumerate() {
        if !naming::is_valid_label_name(name) {
            return Err(Error::Config(format!(
                "external label name {name:?} is not a valid Prometheus label name; use \
                 letters, digits and '_', not starting with a digit or \"__\" (e.g. \"app_id\")"
            )));
        }
        if name == "le" {
            return Err(Error::Config(
                "external label \"le\" would clash with the bucket label of histograms; \
                 choose another name"
                    .into(),
            ));
        }
        if value.is_empty() {
            return Err(Error::Config(format!(
                "external label {name:?} has an empty value, which Prometheus treats as no \
                 label; give a value or leave the label out"
            )));
        }
        if labels[..i].iter().any(|(n, _)| n == name) {
            return Err(Error::Config(format!(
                "external label {name:?} is given twice; give each name once"
            )));
        }
    }
    Ok(())
}

/// The builder methods for [`PushOptions`]: the same names and documentation on every
/// builder that pushes. The builder needs a field `push: PushOptions`.
macro_rules! push_option_methods {
    () => {
        /// Sends `Authorization: Bearer <token>` with every push. The token never
        /// appears in logs, errors or `Debug` output. Replaces any auth set before
        /// (`with_basic_auth`, `with_authorization`).
        pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
            self.push.touched = true;
            self.push.transport.auth = Some($crate::transport::Auth::Bearer(
                $crate::transport::Secret::new(token),
            ));
            self
        }

        /// Sends `Authorization: Basic …` with every push: HTTP basic auth, as Grafana
        /// Cloud takes it (the user is the numeric instance id, the password an access
        /// token). Neither appears in logs, errors or `Debug` output. Replaces any auth
        /// set before.
        pub fn with_basic_auth(
            mut self,
            user: impl Into<String>,
            password: impl Into<String>,
        ) -> Self {
            self.push.touched = true;
            self.push.transport.auth = Some($crate::transport::Auth::Basic {
                user: user.into(),
                password: $crate::transport::Secret::new(password),
            });
            self
        }

        /// Sends `Authorization: <value>` exactly as given, as Unleash expects its API
        /// tokens (no `Bearer` prefix). Never appears in logs, errors or `Debug`
        /// output. Replaces any auth set before.
        pub fn with_authorization(mut self, value: impl Into<String>) -> Self {
            self.push.touched = true;
            self.push.transport.auth = Some($crate::transport::Auth::Raw(
                $crate::transport::Secret::new(value),
            ));
            self
        }

        /// Sends `X-Scope-OrgID: <tenant>` with every push: the tenant of a
        /// multi-tenant Mimir, Cortex or Loki-style backend.
        pub fn with_tenant(self, tenant: impl Into<String>) -> Self {
            self.with_header("X-Scope-OrgID", tenant)
        }

        /// Adds `name="value"` to every series pushed, unless the series already has a
        /// label of that name (its own label wins): an application id, a vendor's
        /// account label, a region. The name must be a valid Prometheus label name.
        pub fn with_external_label(
            mut self,
            name: impl Into<String>,
            value: impl Into<String>,
        ) -> Self {
            self.push.touched = true;
            self.push.external_labels.push((name.into(), value.into()));
            self
        }

        /// Adds a header to every push (an API-key header, say). The protocol's own
        /// headers (`Content-Encoding`, `Content-Type`,
        /// `X-Prometheus-Remote-Write-Version`, `User-Agent`, and `Authorization` when
        /// auth is set) cannot be overridden: naming one is an error at `build()`.
        pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.push.touched = true;
            self.push
                .transport
                .headers
                .push((name.into(), value.into()));
            self
        }

        /// Allows credentials (any auth, an `Authorization` or API-key header) over
        /// plain `http://` to a host other than this machine. Off by default: `build()`
        /// refuses such a configuration, since anyone on the path could read the token.
        pub fn allow_credentials_over_http(mut self, allow: bool) -> Self {
            self.push.touched = true;
            self.push.transport.allow_plaintext_credentials = allow;
            self
        }

        /// Trusts the CA certificates in this PEM file (one or more) for the server's
        /// certificate, on top of the system's trusted CAs: a company CA in front of
        /// Mimir or Thanos, say. Prometheus' `tls_config.ca_file`. May be called more
        /// than once; each file adds to the trusted CAs.
        ///
        /// The file is read and checked at `build()` (a missing file, or one without a
        /// usable PEM certificate, is an error naming it), and read again when it
        /// changes: new connections then trust the new content, if it passes the same
        /// checks (otherwise the previous content stays in use and the problem is
        /// logged).
        ///
        /// ```no_run
        /// # let builder = prompush::Destination::remote_write("mimir", "https://mimir.internal/api/v1/push");
        /// let destination = builder.with_tls_ca_file("/etc/pki/company-ca.pem");
        /// ```
        pub fn with_tls_ca_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
            self.push.touched = true;
            self.push
                .transport
                .tls
                .ca
                .push($crate::transport::tls::PemSource::File(path.into()));
            self
        }

        /// Trusts the CA certificates in this PEM text, as
        /// [`with_tls_ca_file`](Self::with_tls_ca_file) does for a file: for a CA held
        /// in memory (from a secret store, say). Checked at `build()`.
        pub fn with_tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
            self.push.touched = true;
            self.push
                .transport
                .tls
                .ca
                .push($crate::transport::tls::PemSource::Memory(
                    $crate::transport::tls::PemBytes::new(pem),
                ));
            self
        }

        /// Presents this client certificate when the server asks for one (mutual
        /// TLS): `cert_path` holds the certificate in PEM, the client's own first and
        /// any intermediates after it; `key_path` its private key in PEM (PKCS#8,
        /// PKCS#1 RSA or SEC1 EC; RSA, ECDSA P-256/P-384 or Ed25519; unencrypted).
        /// Prometheus' `tls_config.cert_file` and `key_file`. Replaces a client
        /// certificate set before.
        ///
        /// Both files are read and checked at `build()`: a missing or non-PEM file, or a
        /// key that does not belong to the certificate, is an error naming the file.
        /// They are read again when either changes (cert-manager and Vault agents
        /// rewrite them in place): once the new pair passes the same checks, new
        /// connections present it; until then (a certificate written before its key,
        /// say) the previous pair stays in use. The key never appears in logs, errors
        /// or `Debug` output.
        ///
        /// ```no_run
        /// # let builder = prompush::Destination::remote_write("thanos", "https://thanos.internal/api/v1/receive");
        /// let destination = builder
        ///     .with_tls_ca_file("/etc/tls/ca.crt")
        ///     .with_tls_client_cert_files("/etc/tls/tls.crt", "/etc/tls/tls.key");
        /// ```
        pub fn with_tls_client_cert_files(
            mut self,
            cert_path: impl Into<std::path::PathBuf>,
            key_path: impl Into<std::path::PathBuf>,
        ) -> Self {
            self.push.touched = true;
            self.push.transport.tls.client_cert = Some($crate::transport::tls::ClientCertSource {
                cert: $crate::transport::tls::PemSource::File(cert_path.into()),
                key: $crate::transport::tls::PemSource::File(key_path.into()),
            });
            self
        }

        /// Presents this client certificate (PEM chain) and key (PEM) when the server
        /// asks for one, as [`with_tls_client_cert_files`](Self::with_tls_client_cert_files)
        /// does for files: for a pair held in memory. Checked at `build()`. The key never
        /// appears in logs, errors or `Debug` output. Replaces a client certificate set
        /// before.
        pub fn with_tls_client_cert_pem(
            mut self,
            cert_pem: impl Into<Vec<u8>>,
            key_pem: impl Into<Vec<u8>>,
        ) -> Self {
            self.push.touched = true;
            self.push.transport.tls.client_cert = Some($crate::transport::tls::ClientCertSource {
                cert: $crate::transport::tls::PemSource::Memory(
                    $crate::transport::tls::PemBytes::new(cert_pem),
                ),
                key: $crate::transport::tls::PemSource::Memory(
                    $crate::transport::tls::PemBytes::new(key_pem),
                ),
            });
            self
        }

        /// The name sent to the server as SNI and checked in its certificate, instead
        /// of the URL's host: for an endpoint reached by IP address, through a tunnel
        /// or a port forward. The `Host` header still names the URL's host and port.
        /// Prometheus' `tls_config.server_name`. Must be a DNS name. Requests of such a
        /// destination use HTTP/1.1 and connect directly: a proxy (from `with_proxy` or
        /// the environment) that would apply to the endpoint is an error at `build()`.
        ///
        /// ```no_run
        /// # let builder = prompush::Destination::remote_write("mimir", "https://10.0.3.7/api/v1/push");
        /// let destination = builder.with_tls_server_name("mimir.internal");
        /// ```
        pub fn with_tls_server_name(mut self, name: impl Into<String>) -> Self {
            self.push.touched = true;
            self.push.transport.tls.server_name = Some(name.into());
            self
        }

        /// Accepts any server certificate: self-signed, expired, issued for another
        /// name, by any CA. Prometheus' `tls_config.insecure_skip_verify`. Off by
        /// default. With it on, anyone on the network path can read and change what is
        /// pushed, credentials included, so `build()` logs a warning and every failure
        /// message says that it is on. Prefer giving the server's CA with
        /// [`with_tls_ca_file`](Self::with_tls_ca_file).
        pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
            self.push.touched = true;
            self.push.transport.tls.accept_invalid_certs = accept;
            self
        }

        /// Sends every request of this destination through this HTTP proxy (`http://`
        /// or `https://`), loopback endpoints included; `https://` endpoints are
        /// tunnelled with `CONNECT`. Credentials go in the URL
        /// (`http://user:password@proxy.internal:3128`, percent-encoded) and are kept
        /// secret like other credentials: never in logs, errors or `Debug` output, and
        /// scrubbed from answers. Prometheus' `proxy_url`.
        ///
        /// Without it the environment decides, as reqwest reads it: `HTTPS_PROXY`,
        /// `HTTP_PROXY`, `ALL_PROXY` (or their lower-case forms) and `NO_PROXY`; as Go
        /// does, loopback (`localhost`, 127.0.0.0/8, `::1`) is never proxied by the
        /// environment.
        pub fn with_proxy(mut self, url: impl Into<String>) -> Self {
            self.push.touched = true;
            self.push.transport.proxy = Some($crate::transport::Secret::new(url));
            self
        }

        /// The limit for one push attempt, connecting included (default 30 s).
        pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.push.touched = true;
            self.push.transport.timeout = timeout;
            self
        }

        /// Most samples in one request (default 2000); a larger push is split, and the
        /// requests are sent in order.
        pub fn with_max_samples_per_send(mut self, samples: usize) -> Self {
            self.push.touched = true;
            self.push.max_samples_per_send = samples;
            self
        }

        /// Cap on encoded data waiting for delivery while the endpoint is failing
        /// (default 64 MiB). Past it the oldest requests are dropped and counted; the
        /// newest still carry every counter's cumulative total.
        pub fn with_max_pending_bytes(mut self, bytes: usize) -> Self {
            self.push.touched = true;
            self.push.max_pending_bytes = bytes;
            self
        }

        /// Retry waits: the first is about `min`, doubling per failure up to `max`, with
        /// jitter (defaults 30 ms and 5 s). A server's `Retry-After` is honoured as a
        /// floor.
        pub fn with_retry_backoff(
            mut self,
            min: std::time::Duration,
            max: std::time::Duration,
        ) -> Self {
            self.push.touched = true;
            self.push.backoff = (min, max);
            self
        }

        /// Whether every series carries `otel_scope_name` (and `otel_scope_version` when
        /// the meter has a version): on by default, as the OpenTelemetry–Prometheus
        /// compatibility spec requires, so that two libraries' instruments of one name
        /// stay two series. Off gives the shape without them; same-named instruments
        /// of several meters then merge into one series (sums add). On the provider's
        /// builder it applies to every destination that does not set its own.
        pub fn with_scope_labels(mut self, enabled: bool) -> Self {
            self.push.scope_labels = Some(enabled);
            self
        }

        /// How long shutdown keeps trying to deliver the final push (default 10 s).
        pub fn with_shutdown_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.push.touched = true;
            self.push.shutdown_timeout = timeout;
            self
        }
    };
}
pub(crate) use push_option_methods;
