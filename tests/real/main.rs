//! The integration tests against real servers (Prometheus, VictoriaMetrics, vmauth,
//! Unleash, tinyproxy, the OpenTelemetry Collector), each ignored unless asked for:
//! `scripts/test` builds and installs the servers and runs them, or `cargo test --test
//! real -- --include-ignored` after `scripts/build-peers` and `source
//! ~/.cache/prompush/peers/env`. Prometheus 3 is the primary server; the cases where
//! versions differ also run on Prometheus 2.42 and on VictoriaMetrics, current and 1.79,
//! each case written once and called per server kind (`servers::Kind`). One module per
//! concern, each opening with its scope; the servers' harnesses are in `servers/`.

// The test modules need the default `receiver` feature (each says so); their
// harnesses go with them.
#[cfg(feature = "receiver")]
mod servers;
#[cfg(feature = "receiver")]
#[path = "../support/mod.rs"]
mod support;

mod custom_metrics;
mod destinations;
mod e2e;
mod harness;
mod idle_series;
mod metrics_facade;
mod name_parity;
mod native_histograms;
mod no_loss;
mod observers;
mod remote_write_v2;
mod scrape;
mod sdk_exporter;
mod secrets;
mod shards;
mod tls;
mod tls_env;
mod unleash_harness;
mod views;
