//! prompush: an OpenTelemetry metrics SDK that pushes to Prometheus remote-write
//! endpoints.
//!
//! Application code keeps using the standard [`opentelemetry`] metrics API; a
//! [`MeterProvider`] from this crate records the measurements with lock-free
//! aggregators and hands out [`Snapshot`]s of the cumulative state.
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
//! assert_eq!(snapshot.metric("orders").unwrap().data.len(), 1);
//! # Ok::<(), prompush::Error>(())
//! ```
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

mod aggregate;
#[cfg(feature = "custom-metrics")]
pub mod custom;
// Without the feature, the provider's custom-metrics runtime is a stand-in that has none.
#[cfg(not(feature = "custom-metrics"))]
#[path = "custom/disabled.rs"]
mod custom;
mod destination;
pub mod env;
mod error;
mod instance_id;
mod instrument;
mod meter;
#[cfg(feature = "metrics")]
mod metrics_facade;
#[cfg(feature = "observers")]
mod observers;
mod pipeline;
pub mod prometheus;
mod provider;
#[cfg(feature = "receiver")]
pub mod receiver;
mod runtime;
pub mod scrape;
mod sdk_exporter;
mod setters;
pub mod snapshot;
mod transport;

pub use aggregate::exemplar_sampling::ExemplarFilter;
pub use destination::Destination;
pub use error::Error;
#[cfg(feature = "metrics")]
pub use metrics_facade::MetricsRecorder;
#[cfg(feature = "observers")]
pub use observers::{process, system};
pub use provider::{MeterProvider, MeterProviderBuilder};
pub use scrape::RenderedMetrics;
pub use sdk_exporter::{RemoteWriteExporter, RemoteWriteExporterBuilder};
pub use snapshot::{Attributes, Snapshot};
pub use transport::Protocol;

#[cfg(test)]
mod layering_tests;
#[cfg(test)]
mod robustness_tests;

/// The README's examples, compiled as doc tests so they stay true (they use every
/// feature).
#[doc = include_str!("../README.md")]
#[cfg(all(doctest, feature = "custom-metrics", feature = "receiver"))]
pub struct ReadmeDoctests;
