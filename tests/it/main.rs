//! The integration tests on loopback and in process, through the public API only: one
//! module per concern, each opening with its scope. prompush's own receiver stands in for
//! the servers; the tests against real servers are in `tests/real`, the memory tests in
//! `tests/memory`. A test that needs the process to itself runs in a child process
//! (`support::child`).

// The support and the helpers serve the tests that use prompush's own receiver (the
// default `receiver` feature).
#[cfg(feature = "receiver")]
#[path = "../support/mod.rs"]
mod support;

// Helpers only these tests use.
#[cfg(feature = "receiver")]
mod cpu_and_threads;
#[cfg(feature = "receiver")]
mod loopback;
#[cfg(feature = "receiver")]
mod loopback_presets;

mod contended;
mod custom_metrics;
mod delivery_order;
mod destinations;
mod env_config;
mod exemplars;
mod faults;
mod idle_series;
mod merges;
mod no_loss;
mod observer_values;
mod observers;
mod push;
mod receiver;
mod remote_write_v2;
mod scrape;
mod sdk;
mod sdk_exporter;
mod shards;
mod views;
