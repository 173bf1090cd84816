//! Provider presets only the loopback tests use: builders without resource labels or
//! sending JSON custom metrics, and the check that a shutdown gives up in time.

use std::time::{Duration, Instant};

use opentelemetry_sdk::Resource;
use prompush::{Destination, Error, MeterProvider, MeterProviderBuilder};

use crate::support::presets::HOUR;

/// A provider builder without resource labels (no `job`, no `target_info`; only the
/// random `instance`) and no destination yet, pushing only when flushed.
pub fn bare() -> MeterProviderBuilder {
    MeterProvider::builder()
        .with_resource(Resource::builder_empty().build())
        .with_push_interval(HOUR)
}

/// A [`bare`] provider builder without self-metrics, sending JSON custom metrics to
/// `url` as destination `name`.
pub fn json_to(name: &str, url: impl Into<String>) -> MeterProviderBuilder {
    bare()
        .with_self_metrics(false)
        .with_destination(Destination::custom_metrics_json(name, url))
}

/// Asserts that `provider.shutdown()` gives up within 5 s and reports samples it could
/// not deliver.
pub fn assert_shutdown_gives_up_undelivered(provider: &MeterProvider) {
    let started = Instant::now();
    match provider.shutdown() {
        Err(Error::Undelivered { samples, .. }) => assert!(samples > 0),
        other => panic!("expected Undelivered, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
