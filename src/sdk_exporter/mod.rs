//! `RemoteWriteExporter`: prompush's remote-write delivery for applications that keep
//! the official `opentelemetry_sdk` (its views, readers, other exporters).
//!
//! The SDK's periodic reader collects and calls `export`; the exporter converts the
//! SDK's data into a [`Snapshot`](crate::Snapshot) ([`convert`]) and hands it to the
//! same pipeline a prompush `MeterProvider` uses: the same translation, encoding,
//! queue, retries and transport.
//!
//! Two things a prompush provider does for itself are added on the way: a resource
//! without `service.instance.id` gets the exporter's random one (replicas stay apart),
//! and prompush's own delivery metrics (`prompush_*`), recorded into a small
//! aggregate-only provider the exporter owns, travel with every export.

mod convert;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;

use crate::instance_id;
use crate::pipeline::self_metrics::SelfMetrics;
use crate::pipeline::self_metrics::{noop_meter, self_metrics_scope};
use crate::pipeline::Pipeline;
use crate::sync::Mutex;
use crate::{Destination, Error, MeterProvider};
use convert::Converter;

/// A `PushMetricExporter` for `opentelemetry_sdk` that sends Prometheus remote write.
///
/// ```no_run
/// use opentelemetry::metrics::MeterProvider as _;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let exporter = prompush::RemoteWriteExporter::builder()
///     .with_endpoint("http://127.0.0.1:9090/api/v1/write")
///     .build()?;
/// let provider = SdkMeterProvider::builder()
///     .with_periodic_exporter(exporter)
///     .build();
/// provider.meter("app").u64_counter("requests").build().add(1, &[]);
/// provider.shutdown().ok();
/// # Ok::<(), prompush::Error>(())
/// ```
///
/// Cumulative temporality only (remote write cannot carry deltas). Exponential histograms
/// go out as classic `_bucket` series, or as native histograms with
/// [`with_native_histograms`](RemoteWriteExporterBuilder::with_native_histograms). `export`
/// resolves once the data is delivered, refused, or still failing after the push timeout
/// (it stays queued and is retried).
///
/// When the SDK's resource has no `service.instance.id`, the exporter adds a random UUID v4
/// of its own, fixed for its life, so that replicas write distinct series (see
/// [`MeterProviderBuilder::with_instance_id`](crate::MeterProviderBuilder::with_instance_id)
/// for what that costs). Every export also carries prompush's delivery metrics
/// (`prompush_samples_sent_total{destination="default"}`, …) under the scope `prompush`,
/// unless [`with_self_metrics(false)`](RemoteWriteExporterBuilder::with_self_metrics).
pub struct RemoteWriteExporter {
    pipeline: Pipeline,
    converter: Mutex<Converter>,
    /// Where the pipeline's self-metrics are recorded; `None` when they are off.
    self_metrics: Option<MeterProvider>,
}

impl RemoteWriteExporter {
    /// Starts configuring an exporter.
    #[must_use = "a builder does nothing until `build()` is called"]
    pub fn builder() -> RemoteWriteExporterBuilder {
        RemoteWriteExporterBuilder {
            destination: Destination::shorthand(),
            self_metrics: true,
        }
    }
}

impl fmt::Debug for RemoteWriteExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriteExporter")
            .finish_non_exhaustive()
    }
}

impl PushMetricExporter for RemoteWriteExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let mut snapshot = self.converter.lock().convert(metrics);
        if let Some(own) = &self.self_metrics {
            // What earlier pushes recorded: this export's own delivery shows next time.
            snapshot.scopes.extend(own.collect().scopes);
        }
        self.pipeline
            .export(snapshot)
            .await
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.pipeline
            .flush()
            .map_err(|e| OTelSdkError::InternalFailure(e.to_string()))
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        // The exporter's own shutdown timeout (builder) bounds it.
        match self.pipeline.shutdown() {
            Ok(()) => Ok(()),
            Err(Error::PipelineStopped) => Err(OTelSdkError::AlreadyShutdown),
            Err(e) => Err(OTelSdkError::InternalFailure(e.to_string())),
        }
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// Configures a [`RemoteWriteExporter`]: the [`Destination`] it sends to (named
/// [`Destination::DEFAULT_NAME`] unless given whole with
/// [`with_destination`](Self::with_destination)), and its self-metrics. Its push
/// options stand for the `Destination` methods of the same names. Secrets never appear
/// in its `Debug` output.
#[must_use = "a builder does nothing until `build()` is called"]
#[derive(Debug)]
pub struct RemoteWriteExporterBuilder {
    destination: Destination,
    self_metrics: bool,
}

impl RemoteWriteExporterBuilder {
    /// Pushes to this Prometheus remote-write URL (for example
    /// `http://127.0.0.1:9090/api/v1/write`). Required, unless given with a whole
    /// destination. Checked by `build()`: it must parse and use `http` or `https`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_endpoint(self, endpoint: impl Into<String>) -> Self {
        self.on_destination(|d| d.with_endpoint(endpoint))
    }

    /// Sends to `destination`, whole, which must be a remote-write one; push options
    /// set on this builder before are replaced, those set after apply to it. Its push
    /// interval is unused: the SDK's reader decides when to export. Its name is the
    /// `destination` label of the self-metrics.
    ///
    /// ```no_run
    /// use prompush::{Destination, RemoteWriteExporter};
    ///
    /// let mimir = Destination::remote_write("mimir", "https://mimir.internal/api/v1/push")
    ///     .with_tenant("team-checkout")
    ///     .with_tls_ca_file("/etc/pki/company-ca.pem");
    /// let exporter = RemoteWriteExporter::builder().with_destination(mimir).build()?;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_destination(mut self, destination: Destination) -> Self {
        self.destination = destination;
        self
    }

    /// Trusts the CA certificates in this PEM file for the server's certificate, on top
    /// of the system's; see [`Destination::with_tls_ca_file`]. Default: the system's
    /// trusted CAs only. May be called more than once. A missing file, or one without a
    /// usable certificate, is an error at `build()` naming it; the file is read again
    /// when it changes.
    ///
    /// ```no_run
    /// let exporter = prompush::RemoteWriteExporter::builder()
    ///     .with_endpoint("https://mimir.internal/api/v1/push")
    ///     .with_tls_ca_file("/etc/pki/company-ca.pem")
    ///     .build()?;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tls_ca_file(self, path: impl Into<PathBuf>) -> Self {
        self.on_destination(|d| d.with_tls_ca_file(path))
    }

    /// Trusts the CA certificates in this PEM text, as
    /// [`with_tls_ca_file`](Self::with_tls_ca_file) does for a file; see
    /// [`Destination::with_tls_ca_pem`]. Text without a usable certificate is an error
    /// at `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tls_ca_pem(self, pem: impl Into<Vec<u8>>) -> Self {
        self.on_destination(|d| d.with_tls_ca_pem(pem))
    }

    /// Presents this client certificate (PEM chain in `cert_path`, PEM key in
    /// `key_path`) when the server asks for one: mutual TLS; see
    /// [`Destination::with_tls_client_cert_files`]. Default: none. A missing or non-PEM
    /// file, or a key that does not belong to the certificate, is an error at `build()`
    /// naming the file; both are read again when they change.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tls_client_cert_files(
        self,
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Self {
        self.on_destination(|d| d.with_tls_client_cert_files(cert_path, key_path))
    }

    /// Presents this client certificate and key, both PEM text, when the server asks
    /// for one, as [`with_tls_client_cert_files`](Self::with_tls_client_cert_files) does
    /// for files; see [`Destination::with_tls_client_cert_pem`]. Checked at `build()`;
    /// the key never appears in logs, errors or `Debug` output.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tls_client_cert_pem(
        self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.on_destination(|d| d.with_tls_client_cert_pem(cert_pem, key_pem))
    }

    /// The name sent as SNI and checked in the server's certificate instead of the
    /// URL's host (an endpoint reached by IP address or through a tunnel); see
    /// [`Destination::with_tls_server_name`]. Default: the URL's host. An IP address,
    /// a name that is not a DNS name, or a proxy on the way is an error at `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tls_server_name(self, name: impl Into<String>) -> Self {
        self.on_destination(|d| d.with_tls_server_name(name))
    }

    /// Accepts any server certificate; see [`Destination::danger_accept_invalid_certs`]
    /// for what that exposes. Off by default; when on, `build()` logs a warning and
    /// every failure message says so. Prefer
    /// [`with_tls_ca_file`](Self::with_tls_ca_file).
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn danger_accept_invalid_certs(self, accept: bool) -> Self {
        self.on_destination(|d| d.danger_accept_invalid_certs(accept))
    }

    /// Sends every request through this HTTP proxy (`http://` or `https://`, with any
    /// credentials in the URL, which are kept secret); see [`Destination::with_proxy`].
    /// Default: the environment's `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and
    /// `NO_PROXY`, never for loopback. Another scheme is an error at `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_proxy(self, url: impl Into<String>) -> Self {
        self.on_destination(|d| d.with_proxy(url))
    }

    /// Most requests on the wire at once; see [`Destination::with_max_shards`], which
    /// says how the shard count adapts. Default [`Destination::DEFAULT_MAX_SHARDS`] (50);
    /// every series always goes through the same shard, so its samples arrive in order.
    /// Zero is an error at `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_max_shards(self, shards: usize) -> Self {
        self.on_destination(|d| d.with_max_shards(shards))
    }

    /// Whether every series carries `otel_scope_name` (and `otel_scope_version`); see
    /// [`Destination::with_scope_labels`]. Default on, as the OpenTelemetry–Prometheus
    /// compatibility spec requires; off, same-named instruments of several meters merge
    /// into one series.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_scope_labels(self, enabled: bool) -> Self {
        self.on_destination(|d| d.with_scope_labels(enabled))
    }

    /// Sends `Authorization: Bearer <token>` with every push to this exporter's
    /// destination; see [`Destination::with_bearer_token`]. Default: no auth. Replaces any
    /// auth set before; the token never appears in logs, errors or `Debug` output, and
    /// `build()` refuses it over plain `http://` to another host (see
    /// [`allow_credentials_over_http`](Self::allow_credentials_over_http)).
    ///
    /// ```
    /// let builder = prompush::RemoteWriteExporter::builder()
    ///     .with_endpoint("https://mimir.internal/api/v1/push")
    ///     .with_bearer_token("my-token");
    /// # let _ = builder;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_bearer_token(self, token: impl Into<String>) -> Self {
        self.on_destination(|d| d.with_bearer_token(token))
    }

    /// Sends HTTP basic auth with every push to this exporter's destination (Grafana Cloud:
    /// the numeric instance id and an access token); see [`Destination::with_basic_auth`].
    /// Default: no auth. Replaces any auth set before; a user containing `:` is an error at
    /// `build()`.
    ///
    /// ```
    /// let builder = prompush::RemoteWriteExporter::builder()
    ///     .with_endpoint("https://mimir.internal/api/v1/push")
    ///     .with_basic_auth("123456", "glc_…");
    /// # let _ = builder;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_basic_auth(self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.on_destination(|d| d.with_basic_auth(user, password))
    }

    /// Sends `Authorization: <value>` exactly as given with every push to this exporter's
    /// destination; see [`Destination::with_authorization`]. Default: no auth. Replaces any
    /// auth set before; a value with characters an HTTP header cannot carry is an error at
    /// `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_authorization(self, value: impl Into<String>) -> Self {
        self.on_destination(|d| d.with_authorization(value))
    }

    /// Sends `X-Scope-OrgID: <tenant>` with every push to this exporter's destination: the
    /// tenant of a multi-tenant Mimir or Cortex; see [`Destination::with_tenant`]. Default:
    /// no tenant header.
    ///
    /// ```
    /// let builder = prompush::RemoteWriteExporter::builder()
    ///     .with_endpoint("https://mimir.internal/api/v1/push")
    ///     .with_tenant("team-checkout");
    /// # let _ = builder;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tenant(self, tenant: impl Into<String>) -> Self {
        self.on_destination(|d| d.with_tenant(tenant))
    }

    /// Adds `name="value"` to every series pushed to this exporter's destination, unless
    /// the series has a label of that name already; see
    /// [`Destination::with_external_label`]. Default: none; call it once per label. An
    /// invalid or reserved name, `le`, an empty value or a name given twice is an error at
    /// `build()`.
    ///
    /// ```
    /// let builder = prompush::RemoteWriteExporter::builder()
    ///     .with_endpoint("https://mimir.internal/api/v1/push")
    ///     .with_external_label("region", "eu-west-1");
    /// # let _ = builder;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_external_label(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.on_destination(|d| d.with_external_label(name, value))
    }

    /// Adds a header to every push to this exporter's destination; see
    /// [`Destination::with_header`]. Default: none. An invalid name or value, a header
    /// given twice, or one the protocol sets itself, is an error at `build()`. Values never
    /// appear in logs, errors or `Debug` output.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.on_destination(|d| d.with_header(name, value))
    }

    /// Allows credentials over plain `http://` to a host other than this machine for this
    /// exporter's destination; see [`Destination::allow_credentials_over_http`]. Default
    /// off: `build()` refuses such a configuration, since anyone on the path could read
    /// them.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn allow_credentials_over_http(self, allow: bool) -> Self {
        self.on_destination(|d| d.allow_credentials_over_http(allow))
    }

    /// The limit for one push attempt to this exporter's destination, connecting included;
    /// see [`Destination::with_timeout`]. Default [`Destination::DEFAULT_TIMEOUT`] (30 s).
    /// A slower attempt fails and is retried with backoff; zero is an error at `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.on_destination(|d| d.with_timeout(timeout))
    }

    /// Most samples in one request to this exporter's destination; see
    /// [`Destination::with_max_samples_per_send`]. Default
    /// [`Destination::DEFAULT_MAX_SAMPLES_PER_SEND`] (2000); a larger push is split into
    /// requests sent in order. Zero is an error at `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_max_samples_per_send(self, samples: usize) -> Self {
        self.on_destination(|d| d.with_max_samples_per_send(samples))
    }

    /// Cap on encoded data waiting for delivery to this exporter's destination while it
    /// fails; see [`Destination::with_max_pending_bytes`]. Default
    /// [`Destination::DEFAULT_MAX_PENDING_BYTES`] (64 MiB). Past it the oldest pushes are
    /// dropped and counted; the newest still carry every counter's cumulative total.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_max_pending_bytes(self, bytes: usize) -> Self {
        self.on_destination(|d| d.with_max_pending_bytes(bytes))
    }

    /// Retry waits for this exporter's destination: about `min` first, doubling per failure
    /// up to `max`, with jitter; see [`Destination::with_retry_backoff`]. Defaults 30 ms
    /// and 5 s. A zero `min`, or a `max` shorter than `min`, is an error at `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_retry_backoff(self, min: Duration, max: Duration) -> Self {
        self.on_destination(|d| d.with_retry_backoff(min, max))
    }

    /// How long shutdown keeps trying to deliver what is queued for this exporter's
    /// destination when the SDK shuts the exporter down; see
    /// [`Destination::with_shutdown_timeout`]. Default
    /// [`Destination::DEFAULT_SHUTDOWN_TIMEOUT`] (10 s); what is undelivered then is
    /// dropped and counted.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_shutdown_timeout(self, timeout: Duration) -> Self {
        self.on_destination(|d| d.with_shutdown_timeout(timeout))
    }

    /// Whether exponential histograms go to this exporter's destination as Prometheus
    /// native histograms rather than classic `_bucket` series; see
    /// [`Destination::with_native_histograms`], which says what Prometheus needs for them.
    /// Default off.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_native_histograms(self, enabled: bool) -> Self {
        self.on_destination(|d| d.with_native_histograms(enabled))
    }

    /// Applies a push option to the destination.
    fn on_destination(mut self, option: impl FnOnce(Destination) -> Destination) -> Self {
        self.destination = option(self.destination);
        self
    }

    /// Whether to push prompush's own delivery metrics (`prompush_*`, scope
    /// `prompush`) with every export (default on), as a prompush provider does.
    ///
    /// ```no_run
    /// let exporter = prompush::RemoteWriteExporter::builder()
    ///     .with_endpoint("http://127.0.0.1:9090/api/v1/write")
    ///     .with_self_metrics(false)
    ///     .build()?;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_self_metrics(mut self, enabled: bool) -> Self {
        self.self_metrics = enabled;
        self
    }

    /// Builds the exporter and starts its delivery task.
    ///
    /// # Errors
    /// [`Error::Config`] for a missing or invalid endpoint or another option that
    /// cannot work (the same checks as a provider's destinations, and the
    /// same messages, which name the destination); [`Error::Runtime`] when
    /// the background thread cannot start.
    pub fn build(self) -> Result<RemoteWriteExporter, Error> {
        if !self.destination.protocol().is_remote_write() {
            return Err(Error::Config(format!(
                "destination {:?}: the exporter sends remote write; give it a \
                 Destination::remote_write or Destination::remote_write_v2",
                self.destination.name()
            )));
        }
        // The SDK's reader decides when to collect: the interval is unused.
        let unused = Duration::from_secs(3600);
        let (transport, mut delivery) = self.destination.validate(unused)?;
        delivery.interval = unused;
        let name = delivery.name.clone();
        let self_metrics = self.self_metrics.then(MeterProvider::aggregate_only);
        let meter = match &self_metrics {
            Some(own) => {
                opentelemetry::metrics::MeterProvider::meter_with_scope(own, self_metrics_scope())
            }
            None => noop_meter(),
        };
        Ok(RemoteWriteExporter {
            pipeline: Pipeline::start(
                transport,
                delivery,
                None,
                SelfMetrics::new(&meter, &name, None),
            )?,
            converter: Mutex::new(Converter::new(instance_id::random())),
            self_metrics,
        })
    }
}
