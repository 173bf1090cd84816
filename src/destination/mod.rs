//! [`Destination`]: one place a provider pushes to, with its own protocol, endpoint,
//! credentials, labels, schedule and delivery settings. It is prompush's one
//! configuration surface for pushing: the provider builder's push options and the SDK
//! exporter's builder configure a `Destination` of their own. The checks that turn it
//! into a running pipeline's settings are in [`validate`].

mod validate;

use std::path::PathBuf;
use std::time::Duration;

use crate::prometheus::naming::NameTranslation;
use crate::transport::tls::{ClientCertSource, PemBytes, PemSource};
use crate::transport::{config, Auth, Protocol, Secret, TransportConfig};

/// One place a [`MeterProvider`](crate::MeterProvider) pushes to. A provider pushes to
/// any number of them at once; each has its own task, queue, retries and schedule, so a
/// slow or dead destination never delays another.
///
/// Every push option lives here, with its default as an associated constant
/// ([`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT), …). The provider builder's
/// `with_endpoint`, `with_bearer_token`, … are shorthands for its default destination,
/// which [`MeterProviderBuilder::with_default_destination`](crate::MeterProviderBuilder::with_default_destination)
/// also takes whole; [`RemoteWriteExporter`](crate::RemoteWriteExporter) sends to one
/// too. Secrets never appear in its `Debug` output.
///
/// An empty credential is no credential: an empty (or blank) bearer token or
/// authorization value, basic auth whose user and password are both empty, and an
/// extra header with an empty value (`with_tenant("")`) send nothing, and they need no
/// `https://` endpoint, so `with_bearer_token(std::env::var("TOKEN").unwrap_or_default())`
/// pushes without auth when the variable is unset. A user with an empty password is
/// still basic auth. Empty environment variables (`PROMPUSH_BEARER_TOKEN=`) count as
/// unset.
///
/// ```no_run
/// use std::time::Duration;
/// use prompush::{Destination, MeterProvider};
///
/// let provider = MeterProvider::builder()
///     // Grafana Cloud: basic auth with the instance id and an access token.
///     .with_destination(
///         Destination::remote_write("grafana", "https://prometheus-prod-01.grafana.net/api/prom/push")
///             .with_basic_auth("123456", "glc_…")
///             .with_external_label("app_id", "checkout"),
///     )
///     // An in-house Mimir tenant, pushed more often.
///     .with_destination(
///         Destination::remote_write("mimir", "https://mimir.internal/api/v1/push")
///             .with_tenant("team-checkout")
///             .with_push_interval(Duration::from_secs(15)),
///     )
///     // Unleash's custom metrics (JSON), with a client API token.
///     .with_destination(
///         Destination::custom_metrics_json("unleash", "https://unleash.internal/api/client/metrics/custom")
///             .with_authorization("default:production.abc123"),
///     )
///     .build()?;
/// # Ok::<(), prompush::Error>(())
/// ```
#[must_use = "a destination is pushed to only once given to a provider or exporter builder"]
#[derive(Debug, Clone)]
pub struct Destination {
    name: String,
    protocol: Protocol,
    /// `None`: the provider's push interval.
    interval: Option<Duration>,
    transport: TransportConfig,
    max_samples_per_send: usize,
    max_pending_bytes: usize,
    max_shards: usize,
    min_backoff: Duration,
    max_backoff: Duration,
    shutdown_timeout: Duration,
    external_labels: Vec<(String, String)>,
    /// `None`: the protocol's default.
    max_body_bytes: Option<usize>,
    /// Whether series carry the scope labels; `None`: the provider's choice, else on.
    scope_labels: Option<bool>,
    /// Whether exponential histograms go out as native histograms.
    native_histograms: bool,
    /// How OpenTelemetry names become Prometheus names.
    name_translation: NameTranslation,
    /// Whether failures go to stderr when no `tracing` subscriber is installed;
    /// `None`: [`env::LOG_FALLBACK`](crate::env::LOG_FALLBACK), else on. Set by the
    /// provider for all its destinations.
    stderr_fallback: Option<bool>,
}

impl Destination {
    /// The name of the destination that the provider builder's
    /// [`with_endpoint`](crate::MeterProviderBuilder::with_endpoint) (or
    /// [`env::ENDPOINT`](crate::env::ENDPOINT)) configures, and of the SDK exporter's.
    pub const DEFAULT_NAME: &'static str = "default";
    /// The default limit for one push attempt, connecting included: 30 s, as
    /// Prometheus' `remote_timeout`.
    pub const DEFAULT_TIMEOUT: Duration = config::DEFAULT_TIMEOUT;
    /// The default most samples in one remote-write request (as Prometheus sends).
    pub const DEFAULT_MAX_SAMPLES_PER_SEND: usize = 2000;
    /// The default cap on data waiting for delivery: 64 MiB of encoded requests.
    pub const DEFAULT_MAX_PENDING_BYTES: usize = 64 << 20;
    /// The default most shards (requests on the wire at once) of a remote-write
    /// destination: 50, as Prometheus' `max_shards`.
    pub const DEFAULT_MAX_SHARDS: usize = 50;
    /// The default first wait before a retry; it doubles per failure.
    pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(30);
    /// The default longest wait between retries.
    pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
    /// The default time `shutdown()` keeps trying to deliver the final push.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default largest JSON custom-metrics body: under the 100 kB that Unleash (and
    /// express's default body parser) accept.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 100_000;

    /// A Prometheus remote-write destination: Prometheus (`/api/v1/write`), Mimir and
    /// Cortex (`/api/v1/push`), VictoriaMetrics (`/api/v1/write`), Grafana Cloud,
    /// vendors' listeners. `name` identifies it in logs, errors and the `destination`
    /// label of the `prompush_*` metrics.
    #[must_use = "a destination is pushed to only once given to a provider or exporter builder"]
    pub fn remote_write(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        Self::unaddressed(name, Protocol::RemoteWrite).with_endpoint(endpoint)
    }

    /// A Prometheus remote-write 2.0 destination ([`Protocol::RemoteWriteV2`]):
    /// Prometheus 3 (`/api/v1/write`, started with `--web.enable-remote-write-receiver`)
    /// and Mimir 2.17 and later. Requests are smaller than 1.0's (a symbols table) and
    /// carry each series' type, unit and help and the start timestamps of counters and
    /// histograms. A receiver that takes only 1.0 (VictoriaMetrics, Thanos, Prometheus
    /// 2) is found at its first answer: the destination then sends everything again as
    /// 1.0 and stays on 1.0, so nothing is lost; see the guide's remote-write 2.0
    /// chapter.
    ///
    /// ```no_run
    /// use prompush::{Destination, MeterProvider};
    ///
    /// let prometheus3 = Destination::remote_write_v2("prom3", "http://localhost:9090/api/v1/write");
    /// let provider = MeterProvider::builder().with_destination(prometheus3).build()?;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "a destination is pushed to only once given to a provider or exporter builder"]
    pub fn remote_write_v2(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        Self::unaddressed(name, Protocol::RemoteWriteV2).with_endpoint(endpoint)
    }

    /// A JSON custom-metrics destination, such as Unleash's
    /// `/api/client/metrics/custom` (see [`Protocol::UnleashJson`]). Unleash
    /// takes its API token with [`with_authorization`](Self::with_authorization).
    #[must_use = "a destination is pushed to only once given to a provider or exporter builder"]
    pub fn custom_metrics_json(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        Self::unaddressed(name, Protocol::UnleashJson).with_endpoint(endpoint)
    }

    /// The shorthands' destination: a remote-write one named
    /// [`DEFAULT_NAME`](Self::DEFAULT_NAME), with every default and no endpoint yet.
    pub(crate) fn shorthand() -> Self {
        Self::unaddressed(Self::DEFAULT_NAME, Protocol::RemoteWrite)
    }

    /// A destination with every default and no endpoint yet.
    fn unaddressed(name: impl Into<String>, protocol: Protocol) -> Self {
        Destination {
            name: name.into(),
            protocol,
            interval: None,
            transport: TransportConfig::default(),
            max_samples_per_send: Self::DEFAULT_MAX_SAMPLES_PER_SEND,
            max_pending_bytes: Self::DEFAULT_MAX_PENDING_BYTES,
            max_shards: Self::DEFAULT_MAX_SHARDS,
            min_backoff: Self::DEFAULT_MIN_BACKOFF,
            max_backoff: Self::DEFAULT_MAX_BACKOFF,
            shutdown_timeout: Self::DEFAULT_SHUTDOWN_TIMEOUT,
            external_labels: Vec::new(),
            max_body_bytes: None,
            scope_labels: None,
            native_histograms: false,
            name_translation: NameTranslation::default(),
            stderr_fallback: None,
        }
    }

    /// Sets the URL to push to (the shorthands' `with_endpoint`).
    pub(crate) fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.transport.endpoint = Some(endpoint.into());
        self
    }

    /// Whether it has an endpoint (the shorthands' may not).
    pub(crate) fn has_endpoint(&self) -> bool {
        self.transport.endpoint.is_some()
    }

    /// Whether it has auth (the environment's token does not replace it); an empty
    /// credential is none.
    pub(crate) fn has_auth(&self) -> bool {
        self.transport
            .auth
            .as_ref()
            .is_some_and(|auth| !auth.is_empty())
    }

    /// Its name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its protocol.
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// A remote-write destination's protocol as 2.0 (`enabled`) or 1.0; any other
    /// destination as it is (the builder's shorthand).
    pub(crate) fn speaking_remote_write_v2(mut self, enabled: bool) -> Self {
        if self.protocol.is_remote_write() {
            self.protocol = if enabled {
                Protocol::RemoteWriteV2
            } else {
                Protocol::RemoteWrite
            };
        }
        self
    }

    /// Sends `Authorization: Bearer <token>` with every push. The token never
    /// appears in logs, errors or `Debug` output. Replaces any auth set before
    /// (`with_basic_auth`, `with_authorization`).
    ///
    /// Default: no auth. A token with characters an HTTP header cannot carry (control
    /// characters, non-ASCII) is an error at `build()`, as is any credential sent over plain
    /// `http://` to another host unless
    /// [`allow_credentials_over_http`](Self::allow_credentials_over_http) allows it.
    ///
    /// ```
    /// use prompush::Destination;
    ///
    /// let mimir = Destination::remote_write("mimir", "https://mimir.internal/api/v1/push")
    ///     .with_bearer_token("my-token");
    /// # let _ = mimir;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.transport.auth = Some(Auth::Bearer(Secret::new(token)));
        self
    }

    /// Sends `Authorization: Basic …` with every push: HTTP basic auth, as Grafana
    /// Cloud takes it (the user is the numeric instance id, the password an access
    /// token). Neither appears in logs, errors or `Debug` output. Replaces any auth
    /// set before.
    ///
    /// Default: no auth. A user containing `:` (which basic auth cannot carry) or a value
    /// with characters an HTTP header cannot carry is an error at `build()`; so is sending
    /// it over plain `http://` to another host, unless
    /// [`allow_credentials_over_http`](Self::allow_credentials_over_http) allows it.
    ///
    /// ```
    /// use prompush::Destination;
    ///
    /// let grafana =
    ///     Destination::remote_write("grafana", "https://prometheus-prod-01.grafana.net/api/prom/push")
    ///         .with_basic_auth("123456", "glc_…");
    /// # let _ = grafana;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.transport.auth = Some(Auth::Basic {
            user: user.into(),
            password: Secret::new(password),
        });
        self
    }

    /// Sends `Authorization: <value>` exactly as given, as Unleash expects its API
    /// tokens (no `Bearer` prefix). Never appears in logs, errors or `Debug`
    /// output. Replaces any auth set before.
    ///
    /// Default: no auth. A value with characters an HTTP header cannot carry is an error at
    /// `build()`, as is sending it over plain `http://` to another host unless
    /// [`allow_credentials_over_http`](Self::allow_credentials_over_http) allows it.
    ///
    /// ```
    /// use prompush::Destination;
    ///
    /// let unleash =
    ///     Destination::custom_metrics_json("unleash", "https://unleash.internal/api/client/metrics/custom")
    ///         .with_authorization("default:production.abc123");
    /// # let _ = unleash;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_authorization(mut self, value: impl Into<String>) -> Self {
        self.transport.auth = Some(Auth::Raw(Secret::new(value)));
        self
    }

    /// Sends `X-Scope-OrgID: <tenant>` with every push: the tenant of a
    /// multi-tenant Mimir, Cortex or Loki-style backend.
    ///
    /// The same as `with_header("X-Scope-OrgID", tenant)`, with that method's checks at
    /// `build()`; default: no tenant header. Calling it twice names the header twice, which
    /// `build()` refuses.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tenant(self, tenant: impl Into<String>) -> Self {
        self.with_header("X-Scope-OrgID", tenant)
    }

    /// Adds `name="value"` to every series pushed, unless the series already has a
    /// label of that name (its own label wins): an application id, a vendor's
    /// account label, a region. The name must be a valid Prometheus label name.
    ///
    /// Default: none. Call it once per label. At `build()`, a name that is not a valid label
    /// name, a name starting with `__`, `le` (the bucket label of histograms), an empty
    /// value or a name given twice is an error naming the label.
    ///
    /// ```
    /// use prompush::{Destination, MeterProvider};
    ///
    /// let bad = Destination::remote_write("mimir", "https://mimir.internal/api/v1/push")
    ///     .with_external_label("app-id", "checkout");
    /// assert!(MeterProvider::builder().with_destination(bad).build().is_err());
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_external_label(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.external_labels.push((name.into(), value.into()));
        self
    }

    /// Adds a header to every push (an API-key header, say). The protocol's own
    /// headers (`Content-Encoding`, `Content-Type`,
    /// `X-Prometheus-Remote-Write-Version`, `User-Agent`, and `Authorization` when
    /// auth is set) cannot be overridden: naming one is an error at `build()`.
    ///
    /// Default: no extra header. A name that is not a valid HTTP header name, a value with
    /// control or non-ASCII characters, a header given twice, or an `Authorization` header
    /// next to auth set with `with_bearer_token` and the like, is an error at `build()`.
    /// Header values are kept secret like credentials: never in logs, errors or `Debug`
    /// output.
    ///
    /// ```
    /// use prompush::Destination;
    ///
    /// let vendor = Destination::remote_write("vendor", "https://metrics.example.com/api/v1/push")
    ///     .with_header("X-Api-Key", "k-123");
    /// # let _ = vendor;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.transport.headers.push((name.into(), value.into()));
        self
    }

    /// Allows credentials (any auth, an `Authorization` or API-key header) over
    /// plain `http://` to a host other than this machine. Off by default: `build()`
    /// refuses such a configuration, since anyone on the path could read the token.
    ///
    /// Loopback endpoints (`localhost`, 127.0.0.0/8, `::1`) never need it.
    ///
    /// ```
    /// use prompush::Destination;
    ///
    /// // A sidecar on a trusted pod network.
    /// let sidecar = Destination::remote_write("sidecar", "http://10.0.0.5:9090/api/v1/write")
    ///     .with_bearer_token("my-token")
    ///     .allow_credentials_over_http(true);
    /// # let _ = sidecar;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn allow_credentials_over_http(mut self, allow: bool) -> Self {
        self.transport.allow_plaintext_credentials = allow;
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
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.transport.tls.ca.push(PemSource::File(path.into()));
        self
    }

    /// Trusts the CA certificates in this PEM text, as
    /// [`with_tls_ca_file`](Self::with_tls_ca_file) does for a file: for a CA held
    /// in memory (from a secret store, say). Checked at `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tls_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.transport
            .tls
            .ca
            .push(PemSource::Memory(PemBytes::new(pem)));
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
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tls_client_cert_files(
        mut self,
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Self {
        self.transport.tls.client_cert = Some(ClientCertSource {
            cert: PemSource::File(cert_path.into()),
            key: PemSource::File(key_path.into()),
        });
        self
    }

    /// Presents this client certificate (PEM chain) and key (PEM) when the server
    /// asks for one, as [`with_tls_client_cert_files`](Self::with_tls_client_cert_files)
    /// does for files: for a pair held in memory. Checked at `build()`. The key never
    /// appears in logs, errors or `Debug` output. Replaces a client certificate set
    /// before.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tls_client_cert_pem(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.transport.tls.client_cert = Some(ClientCertSource {
            cert: PemSource::Memory(PemBytes::new(cert_pem)),
            key: PemSource::Memory(PemBytes::new(key_pem)),
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
    /// Default: the URL's host. An IP address, a name that is not a valid DNS name, or TLS
    /// options on a plain `http://` endpoint are errors at `build()`.
    ///
    /// ```no_run
    /// # let builder = prompush::Destination::remote_write("mimir", "https://10.0.3.7/api/v1/push");
    /// let destination = builder.with_tls_server_name("mimir.internal");
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tls_server_name(mut self, name: impl Into<String>) -> Self {
        self.transport.tls.server_name = Some(name.into());
        self
    }

    /// Accepts any server certificate: self-signed, expired, issued for another
    /// name, by any CA. Prometheus' `tls_config.insecure_skip_verify`. Off by
    /// default. With it on, anyone on the network path can read and change what is
    /// pushed, credentials included, so `build()` logs a warning and every failure
    /// message says that it is on. Prefer giving the server's CA with
    /// [`with_tls_ca_file`](Self::with_tls_ca_file).
    ///
    /// Giving it on a plain `http://` endpoint is an error at `build()` (it only applies to
    /// TLS).
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.transport.tls.accept_invalid_certs = accept;
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
    ///
    /// A URL that is not `http://` or `https://` is an error at `build()`, as is a proxy
    /// that would carry a destination with [`with_tls_server_name`](Self::with_tls_server_name).
    ///
    /// ```
    /// use prompush::Destination;
    ///
    /// let mimir = Destination::remote_write("mimir", "https://mimir.internal/api/v1/push")
    ///     .with_proxy("http://proxy.internal:3128");
    /// # let _ = mimir;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_proxy(mut self, url: impl Into<String>) -> Self {
        self.transport.proxy = Some(Secret::new(url));
        self
    }

    /// The limit for one push attempt, connecting included (default 30 s).
    ///
    /// ([`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT), as Prometheus' `remote_timeout`). An
    /// attempt that takes longer fails and is retried with backoff. Zero is an
    /// error at `build()`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use prompush::Destination;
    ///
    /// let nearby = Destination::remote_write("local", "http://127.0.0.1:9090/api/v1/write")
    ///     .with_timeout(Duration::from_secs(5));
    /// # let _ = nearby;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.transport.timeout = timeout;
        self
    }

    /// Most samples in one request (default 2000); a larger push is split, and the
    /// requests are sent in order.
    ///
    /// See [`DEFAULT_MAX_SAMPLES_PER_SEND`](Self::DEFAULT_MAX_SAMPLES_PER_SEND). Zero is an
    /// error at `build()`. JSON destinations are sized with
    /// [`with_max_body_bytes`](Self::with_max_body_bytes) instead.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_max_samples_per_send(mut self, samples: usize) -> Self {
        self.max_samples_per_send = samples;
        self
    }

    /// Cap on encoded data waiting for delivery while the endpoint is failing
    /// (default 64 MiB). Past it the oldest requests are dropped and counted; the
    /// newest still carry every counter's cumulative total.
    ///
    /// See [`DEFAULT_MAX_PENDING_BYTES`](Self::DEFAULT_MAX_PENDING_BYTES). A small cap drops
    /// sooner; the newest push is always kept, whatever its size.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_max_pending_bytes(mut self, bytes: usize) -> Self {
        self.max_pending_bytes = bytes;
        self
    }

    /// Most shards of a remote-write destination (default
    /// [`DEFAULT_MAX_SHARDS`](Self::DEFAULT_MAX_SHARDS), 50): each shard sends one
    /// request at a time, and every series always goes through the same shard, so its
    /// samples arrive in time order. Between pushes the shard count adapts, from 1 up
    /// to this, to what the last pushes measured: the requests a push needs times
    /// their typical send time, over about 2 s (half the push interval if shorter). A
    /// fast local endpoint stays at one or a few; a slow remote one grows. `1` sends
    /// one request at a time. JSON destinations always use one. Zero is an error at `build()`.
    ///
    /// ```no_run
    /// use prompush::Destination;
    ///
    /// // A vendor endpoint far away: let a large push use up to 100 connections.
    /// let vendor = Destination::remote_write("vendor", "https://metrics.example.com/api/v1/push")
    ///     .with_max_shards(100);
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_max_shards(mut self, shards: usize) -> Self {
        self.max_shards = shards;
        self
    }

    /// Retry waits: the first is about `min`, doubling per failure up to `max`, with
    /// jitter (defaults 30 ms and 5 s). A server's `Retry-After` is honoured as a
    /// floor.
    ///
    /// See [`DEFAULT_MIN_BACKOFF`](Self::DEFAULT_MIN_BACKOFF) and
    /// [`DEFAULT_MAX_BACKOFF`](Self::DEFAULT_MAX_BACKOFF). A zero `min`, or a `max` shorter
    /// than `min`, is an error at `build()`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use prompush::Destination;
    ///
    /// let patient = Destination::remote_write("mimir", "https://mimir.internal/api/v1/push")
    ///     .with_retry_backoff(Duration::from_millis(100), Duration::from_secs(30));
    /// # let _ = patient;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max;
        self
    }

    /// Whether every series carries `otel_scope_name` (and `otel_scope_version`,
    /// `otel_scope_schema_url` and one `otel_scope_<attribute>` per scope attribute,
    /// for what the meter's scope has): on by default, as the OpenTelemetry–Prometheus
    /// compatibility spec requires, so that two libraries' instruments of one name
    /// stay two series. Off gives the shape without them; same-named instruments
    /// of several meters then merge into one series (sums add).
    /// Without it, the provider builder's choice applies
    /// ([`with_scope_labels`](crate::MeterProviderBuilder::with_scope_labels)), else on.
    ///
    /// ```
    /// use prompush::Destination;
    ///
    /// let lean = Destination::remote_write("mimir", "https://mimir.internal/api/v1/push")
    ///     .with_scope_labels(false);
    /// # let _ = lean;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_scope_labels(mut self, enabled: bool) -> Self {
        self.scope_labels = Some(enabled);
        self
    }

    /// Whether exponential histograms (see
    /// [`with_exponential_histograms`](crate::MeterProviderBuilder::with_exponential_histograms))
    /// go out as Prometheus native histograms: one series per point carrying its
    /// scale (capped at 8), zero bucket and delta-encoded buckets. Default off: they go
    /// out as classic `_bucket`/`_sum`/`_count` series whose `le` are the exponential
    /// buckets' upper bounds, which every receiver stores (VictoriaMetrics 1.79 drops
    /// native histograms without a word). A point below scale −4 always goes classic.
    ///
    /// Prometheus stores them only when started with
    /// `--enable-feature=native-histograms`; without the flag it refuses the whole
    /// request (500 "native histograms are disabled"). prompush then logs an error
    /// naming the flag, turns native histograms off for this destination and sends
    /// the same push again as classic series, so nothing is lost.
    /// Remote-write destinations only.
    ///
    /// Turning it on for a JSON destination is an error at `build()`.
    ///
    /// ```
    /// use prompush::{Destination, MeterProvider};
    ///
    /// let provider = MeterProvider::builder()
    ///     .with_exponential_histograms(160, 20)
    ///     .with_destination(
    ///         Destination::remote_write("prometheus", "http://127.0.0.1:9090/api/v1/write")
    ///             .with_native_histograms(true),
    ///     );
    /// # let _ = provider;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_native_histograms(mut self, enabled: bool) -> Self {
        self.native_histograms = enabled;
        self
    }

    /// How metric and label names are translated for this destination: escaped with
    /// suffixes by default ([`NameTranslation::UnderscoreEscapingWithSuffixes`], the
    /// OpenTelemetry–Prometheus compatibility specification's names), or one of the
    /// other strategies Prometheus 3's `otlp.translation_strategy` names. The UTF-8
    /// strategies ([`NameTranslation::NoUTF8EscapingWithSuffixes`],
    /// [`NameTranslation::NoTranslation`]) keep the OpenTelemetry spelling
    /// (`http.server.request.duration`), which only remote write 2.0 carries: on any
    /// other destination they are an error at `build()`. See the guide's
    /// [names](crate::guide::names) chapter.
    ///
    /// ```
    /// use prompush::{Destination, NameTranslation};
    ///
    /// let prometheus3 = Destination::remote_write_v2("prom3", "http://localhost:9090/api/v1/write")
    ///     .with_name_translation(NameTranslation::NoUTF8EscapingWithSuffixes);
    /// # let _ = prometheus3;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_name_translation(mut self, translation: NameTranslation) -> Self {
        self.name_translation = translation;
        self
    }

    /// How long shutdown keeps trying to deliver the final push (default 10 s).
    ///
    /// See [`DEFAULT_SHUTDOWN_TIMEOUT`](Self::DEFAULT_SHUTDOWN_TIMEOUT). What is still
    /// undelivered when it passes is dropped and counted (drop reason `shutdown`), and
    /// `shutdown()` returns [`Error::Undelivered`](crate::Error::Undelivered).
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How often to push to this destination (default: the provider's push interval).
    ///
    /// Each destination pushes on its own schedule, so a short interval on one does not
    /// change the others. Zero is an error at `build()`. The SDK exporter ignores it: the
    /// SDK's reader decides when to export.
    ///
    /// ```
    /// use std::time::Duration;
    /// use prompush::Destination;
    ///
    /// let frequent = Destination::remote_write("mimir", "https://mimir.internal/api/v1/push")
    ///     .with_push_interval(Duration::from_secs(15));
    /// # let _ = frequent;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_push_interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// The largest body of a JSON destination (default
    /// [`DEFAULT_MAX_BODY_BYTES`](Self::DEFAULT_MAX_BODY_BYTES), 100,000 bytes); a push
    /// is cut into as many bodies as it needs. An entry larger than this alone is sent
    /// alone. Not for remote-write destinations.
    ///
    /// Setting it on a remote-write destination, or below 1024 bytes, is an error at
    /// `build()`.
    ///
    /// ```
    /// use prompush::{Destination, MeterProvider};
    ///
    /// let unleash =
    ///     Destination::custom_metrics_json("unleash", "https://unleash.internal/api/client/metrics/custom")
    ///         .with_max_body_bytes(50_000);
    /// # let _ = unleash;
    /// let wrong = Destination::remote_write("mimir", "https://mimir.internal/api/v1/push")
    ///     .with_max_body_bytes(50_000);
    /// assert!(MeterProvider::builder().with_destination(wrong).build().is_err());
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = Some(bytes);
        self
    }
}
