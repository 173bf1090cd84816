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
use crate::transport::Protocol;
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
/// Cumulative temporality only (remote write cannot carry deltas). Exponential
/// histograms go out as classic `_bucket` series, or as native histograms with
/// [`with_native_histograms`](RemoteWriteExporterBuilder::with_native_histograms). `export` resolves once the data is
/// delivered, refused, or still failing after the push timeout (it stays queued and
/// is retried).
///
/// When the SDK's resource has no `service.instance.id`, the exporter adds a random
/// UUID v4 of its own, fixed for its life, so that replicas write distinct series (see
/// [`MeterProviderBuilder::with_instance_id`](crate::MeterProviderBuilder::with_instance_id)
/// for what that costs). Every export also carries prompush's delivery metrics
/// (`prompush_samples_sent_total{destination="default"}`, …) under the scope
/// `prompush`, unless [`with_self_metrics(false)`](RemoteWriteExporterBuilder::with_self_metrics).
pub struct RemoteWriteExporter {
    pipeline: Pipeline,
    converter: Mutex<Converter>,
    /// Where the pipeline's self-metrics are recorded; `None` when they are off.
    self_metrics: Option<MeterProvider>,
}

impl RemoteWriteExporter {
    /// Starts configuring an exporter.
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
#[derive(Debug)]
pub struct RemoteWriteExporterBuilder {
    destination: Destination,
    self_metrics: bool,
}

impl RemoteWriteExporterBuilder {
    /// Pushes to this Prometheus remote-write URL (for example
    /// `http://127.0.0.1:9090/api/v1/write`). Required, unless given with a whole
    /// destination. Checked by `build()`: it must parse and use `http` or `https`.
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
    pub fn with_destination(mut self, destination: Destination) -> Self {
        self.destination = destination;
        self
    }

    /// [`Destination::with_tls_ca_file`].
    pub fn with_tls_ca_file(self, path: impl Into<PathBuf>) -> Self {
        self.on_destination(|d| d.with_tls_ca_file(path))
    }

    /// [`Destination::with_tls_ca_pem`].
    pub fn with_tls_ca_pem(self, pem: impl Into<Vec<u8>>) -> Self {
        self.on_destination(|d| d.with_tls_ca_pem(pem))
    }

    /// [`Destination::with_tls_client_cert_files`].
    pub fn with_tls_client_cert_files(
        self,
        cert_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Self {
        self.on_destination(|d| d.with_tls_client_cert_files(cert_path, key_path))
    }

    /// [`Destination::with_tls_client_cert_pem`].
    pub fn with_tls_client_cert_pem(
        self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.on_destination(|d| d.with_tls_client_cert_pem(cert_pem, key_pem))
    }

    /// [`Destination::with_tls_server_name`].
    pub fn with_tls_server_name(self, name: impl Into<String>) -> Self {
        self.on_destination(|d| d.with_tls_server_name(name))
    }

    /// [`Destination::danger_accept_invalid_certs`].
    pub fn danger_accept_invalid_certs(self, accept: bool) -> Self {
        self.on_destination(|d| d.danger_accept_invalid_certs(accept))
    }

    /// [`Destination::with_proxy`].
    pub fn with_proxy(self, url: impl Into<String>) -> Self {
        self.on_destination(|d| d.with_proxy(url))
    }

    /// [`Destination::with_max_shards`] (default
    /// [`Destination::DEFAULT_MAX_SHARDS`]).
    pub fn with_max_shards(self, shards: usize) -> Self {
        self.on_destination(|d| d.with_max_shards(shards))
    }

    /// [`Destination::with_scope_labels`] (default on).
    pub fn with_scope_labels(self, enabled: bool) -> Self {
        self.on_destination(|d| d.with_scope_labels(enabled))
    }

    crate::destination::shorthand::destination_shorthands!(on_destination, "this exporter");

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
        if self.destination.protocol() != Protocol::RemoteWrite {
            return Err(Error::Config(format!(
                "destination {:?}: the exporter sends remote write; give it a \
                 Destination::remote_write",
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
