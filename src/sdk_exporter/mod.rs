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
use std::time::Duration;

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::Temporality;
use parking_lot::Mutex;

use crate::instance_id;
use crate::pipeline::options::{push_option_methods, PushOptions};
use crate::pipeline::self_metrics::SelfMetrics;
use crate::pipeline::self_metrics::{noop_meter, self_metrics_scope};
use crate::pipeline::Pipeline;
use crate::provider::DEFAULT_DESTINATION;
use crate::{Error, MeterProvider};
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
/// Cumulative temporality only (remote write cannot carry deltas); exponential
/// histograms are skipped with one warning. `export` resolves once the data is
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
            push: PushOptions::default(),
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

/// Configures a [`RemoteWriteExporter`]: the same option names as the provider's
/// builder. Secrets never appear in its `Debug` output.
#[derive(Debug)]
pub struct RemoteWriteExporterBuilder {
    push: PushOptions,
    self_metrics: bool,
}

impl RemoteWriteExporterBuilder {
    /// Pushes to this Prometheus remote-write URL (for example
    /// `http://127.0.0.1:9090/api/v1/write`). Required. Checked by `build()`: it must
    /// parse and use `http` or `https`.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.push.transport.endpoint = Some(endpoint.into());
        self
    }

    push_option_methods!();

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
    /// cannot work (the same checks as the provider's builder); [`Error::Runtime`] when
    /// the background thread cannot start.
    pub fn build(self) -> Result<RemoteWriteExporter, Error> {
        // The SDK's reader decides when to collect; the interval is unused.
        let (transport, delivery) = self.push.validate(
            DEFAULT_DESTINATION,
            crate::transport::Protocol::RemoteWrite,
            Duration::from_secs(3600),
        )?;
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
                SelfMetrics::new(&meter, DEFAULT_DESTINATION, None),
            )?,
            converter: Mutex::new(Converter::new(instance_id::random())),
            self_metrics,
        })
    }
}
