//! prompush: an OpenTelemetry metrics SDK that pushes to Prometheus remote-write
//! endpoints (Prometheus, Grafana Cloud / Mimir, VictoriaMetrics, and other listeners
//! that take remote write).
//!
//! Application code keeps using the standard [`opentelemetry`] metrics API; a
//! [`MeterProvider`] from this crate records the measurements with lock-free
//! aggregators, translates names and units to Prometheus conventions, and pushes on an
//! interval. Without an endpoint it only aggregates, and [`MeterProvider::collect`]
//! returns a [`Snapshot`] of everything:
//!
//! ```
//! use opentelemetry::{metrics::MeterProvider as _, KeyValue};
//!
//! let provider = prompush::MeterProvider::builder().build()?;
//! let meter = provider.meter("shop");
//! let orders = meter.u64_counter("orders").with_unit("{order}").build();
//! orders.add(2, &[KeyValue::new("country", "NL")]);
//!
//! let snapshot = provider.collect();
//! assert_eq!(snapshot.metric("orders").unwrap().data().len(), 1);
//! # Ok::<(), prompush::Error>(())
//! ```
//!
//! Start with [`MeterProviderBuilder::with_endpoint`] for one remote-write listener, or
//! [`Destination`] for several. The [`guide`] explains the rest, one chapter per topic:
//! [destinations](guide::destinations), [configuration](guide::configuration),
//! [failure behaviour](guide::failures), [semantics](guide::semantics),
//! [names](guide::names), [TLS](guide::tls), [pull](guide::pull),
//! [native histograms and exemplars](guide::native_histograms), [process and host
//! metrics](guide::observers), [custom metrics](guide::custom_metrics), the
//! [`metrics` facade](guide::metrics_facade), [with `opentelemetry_sdk`](guide::sdk_exporter),
//! [features](guide::features), [performance](guide::performance) and the
//! [source layout](guide::layout).
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

mod aggregate;
#[cfg(feature = "custom-metrics")]
pub mod custom;
mod destination;
pub mod env;
mod error;
// The guide's chapters are documentation only. Their examples use every feature, so
// their doc tests run with all features (as `scripts/test` runs them).
#[cfg(any(
    doc,
    all(
        doctest,
        feature = "custom-metrics",
        feature = "metrics",
        feature = "observers",
        feature = "receiver",
        feature = "scrape"
    )
))]
pub mod guide;
mod instance_id;
mod instrument;
mod meter;
#[cfg(feature = "metrics")]
mod metrics_facade;
#[cfg(feature = "observers")]
mod observers;
mod pipeline;
mod prometheus;
mod provider;
#[cfg(feature = "receiver")]
pub mod receiver;
mod remote_write;
mod runtime;
pub mod scrape;
mod sdk_exporter;
pub mod snapshot;
mod sync;
mod transport;
pub mod view;

pub use aggregate::exemplar_sampling::ExemplarFilter;
pub use destination::Destination;
pub use error::Error;
#[cfg(feature = "metrics")]
pub use metrics_facade::MetricsRecorder;
#[cfg(feature = "observers")]
pub use observers::{process, system};
pub use prometheus::naming::NameTranslation;
pub use provider::{MeterProvider, MeterProviderBuilder};
pub use remote_write::RemoteWriteEncoder;
pub use scrape::RenderedMetrics;
pub use sdk_exporter::{RemoteWriteExporter, RemoteWriteExporterBuilder};
pub use snapshot::{Attributes, Snapshot};
pub use transport::Protocol;

#[cfg(test)]
mod layering_tests;
#[cfg(test)]
mod robustness_tests;
#[cfg(test)]
mod written_out_tests;

/// The README's example, compiled as a doc test so it stays true (it uses the
/// default feature `observers`); `scripts/check-readme-example` builds it with exactly
/// the README's `[dependencies]`.
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "observers"))]
pub struct ReadmeDoctests;
