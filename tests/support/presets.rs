//! Provider presets for tests that push and then check what arrived: a builder aimed at
//! one endpoint that pushes only when the test says so, and the blocking calls run off
//! the test's async runtime.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use prompush::{Error, MeterProvider, MeterProviderBuilder};

/// The resource of [`flushed_by_hand`]: `service.name` (→ `job`) and one more attribute,
/// so that every push carries a `target_info` series. No `service.instance.id`.
pub fn service(name: &str) -> Resource {
    Resource::builder_empty()
        .with_service_name(name.to_owned())
        .with_attribute(KeyValue::new("deployment.environment.name", "no-loss"))
        .build()
}

/// A provider builder that pushes to `endpoint` only on `force_flush` and `shutdown`
/// (the interval is an hour), as service `job`, without self-metrics, with short
/// retry waits and a short shutdown deadline: each push is one the test asked for.
pub fn flushed_by_hand(endpoint: impl Into<String>, job: &str) -> MeterProviderBuilder {
    MeterProvider::builder()
        .with_resource(service(job))
        .with_endpoint(endpoint)
        .with_push_interval(Duration::from_secs(3600))
        .with_retry_backoff(Duration::from_millis(5), Duration::from_millis(100))
        .with_shutdown_timeout(Duration::from_secs(10))
        .with_self_metrics(false)
}

/// Runs the provider's blocking calls off the test's async runtime.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("no panic")
}

/// `provider.force_flush()` from async code.
pub async fn flush(provider: &MeterProvider) -> Result<(), Error> {
    let provider = provider.clone();
    blocking(move || provider.force_flush()).await
}

/// `provider.shutdown()` from async code.
pub async fn shutdown(provider: &MeterProvider) -> Result<(), Error> {
    let provider = provider.clone();
    blocking(move || provider.shutdown()).await
}
