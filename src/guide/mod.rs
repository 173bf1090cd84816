//! The guide: how to push, what prompush does when things go wrong, and what it costs.
//!
//! One chapter per module; each is a page of prose with examples (compiled as doc tests).
//! The README is the front page; the API reference is the rest of this crate's docs.
//!
//! | chapter | what it covers |
//! |---|---|
//! | [`destinations`] | several named destinations, auth, labels, the JSON custom-metrics protocol |
//! | [`remote_write_v2`] | remote write 2.0: what it carries, which receivers take it, the fallback to 1.0, its size |
//! | [`configuration`] | every provider builder option, its default and its environment variable |
//! | [`failures`] | retries, refusals, bounded memory, shutdown, staleness, secrets, self-metrics |
//! | [`shards`] | parallel delivery that keeps every series in order |
//! | [`semantics`] | attribute sets, aggregation, cardinality, scopes, merges, replicas, series lifecycle (idle timeout) |
//! | [`views`] | renaming, re-bucketing, filtering attributes, dropping instruments |
//! | [`names`] | how OpenTelemetry names and units become Prometheus names |
//! | [`tls`] | trusted CAs, client certificates, server names, rotation, proxies |
//! | [`pull`] | a scrape endpoint, or rendering for your own server |
//! | [`native_histograms`] | exponential histograms, native histograms on the wire, exemplars |
//! | [`observers`] | process and host metrics under the semantic conventions' names |
//! | [`custom_metrics`] | metrics defined at runtime over a base instrument (feature `custom-metrics`) |
//! | [`metrics_facade`] | crates instrumented with the `metrics` crate (feature `metrics`) |
//! | [`sdk_exporter`] | prompush as the exporter of the official `opentelemetry_sdk` |
//! | [`features`] | the cargo features and what each costs to build |
//! | [`performance`] | the benchmark figures and the commands that measure them |
//! | [`comparison`] | prompush side by side with the SDK's OTLP exporter and the Collector into Prometheus 3: cost and stored names |
//! | [`servers`] | the servers and versions tested against, their flags, and how they differ |
//! | [`layout`] | where each part of prompush lives in the source |
//!
//! The chapters are documentation only: this module has no items.

#[doc = include_str!("destinations.md")]
pub mod destinations {}

#[doc = include_str!("remote_write_v2.md")]
pub mod remote_write_v2 {}

#[doc = include_str!("configuration.md")]
pub mod configuration {}

#[doc = include_str!("failures.md")]
pub mod failures {}

#[doc = include_str!("shards.md")]
pub mod shards {}

#[doc = include_str!("semantics.md")]
pub mod semantics {}

#[doc = include_str!("views.md")]
pub mod views {}

#[doc = include_str!("names.md")]
pub mod names {}

#[doc = include_str!("tls.md")]
pub mod tls {}

#[doc = include_str!("pull.md")]
pub mod pull {}

#[doc = include_str!("servers.md")]
pub mod servers {}

#[doc = include_str!("native_histograms.md")]
pub mod native_histograms {}

#[doc = include_str!("observers.md")]
pub mod observers {}

#[doc = include_str!("custom_metrics.md")]
pub mod custom_metrics {}

#[doc = include_str!("metrics_facade.md")]
pub mod metrics_facade {}

#[doc = include_str!("sdk_exporter.md")]
pub mod sdk_exporter {}

#[doc = include_str!("features.md")]
pub mod features {}

#[doc = include_str!("performance.md")]
pub mod performance {}

#[doc = include_str!("comparison.md")]
pub mod comparison {}

#[doc = include_str!("layout.md")]
pub mod layout {}
