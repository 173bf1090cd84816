//! Provider presets and fixtures shared by the test modules: builders that push only when
//! the test says so, the resources they carry, the custom-metric example of issue 8, and
//! the provider's blocking calls run off the test's async runtime.

use std::time::Duration;

use opentelemetry::metrics::Counter;
use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use prompush::{Error, MeterProvider, MeterProviderBuilder};

/// The push interval of the presets: long enough that every push is one the test asked
/// for (`force_flush`, `shutdown`).
pub const HOUR: Duration = Duration::from_secs(3600);

/// A resource with only `service.name` (→ `job`): no `target_info` series.
pub fn service_named(name: &str) -> Resource {
    Resource::builder_empty()
        .with_service_name(name.to_owned())
        .build()
}

/// The resource of one application among several of one service: `service.name` (→
/// `job`) and `app_id`, both `app_id`.
#[cfg(feature = "custom-metrics")]
pub fn application(app_id: &str) -> Resource {
    Resource::builder_empty()
        .with_attribute(KeyValue::new("service.name", app_id.to_owned()))
        .with_attribute(KeyValue::new("app_id", app_id.to_owned()))
        .build()
}

/// The resource of [`flushed_by_hand`]: `service.name` (→ `job`) and one more attribute,
/// so that every push carries a `target_info` series. No `service.instance.id`.
pub fn service(name: &str) -> Resource {
    Resource::builder_empty()
        .with_service_name(name.to_owned())
        .with_attribute(KeyValue::new("deployment.environment.name", "no-loss"))
        .build()
}

/// A provider builder pushing to `endpoint` only when flushed, otherwise as built by
/// default (detected resource, self-metrics on).
pub fn pushing_to(endpoint: impl Into<String>) -> MeterProviderBuilder {
    MeterProvider::builder()
        .with_endpoint(endpoint)
        .with_push_interval(HOUR)
}

/// A provider builder that pushes to `endpoint` only on `force_flush` and `shutdown`
/// (the interval is an hour), as service `job`, without self-metrics, with short
/// retry waits and a short shutdown deadline: each push is one the test asked for.
pub fn flushed_by_hand(endpoint: impl Into<String>, job: &str) -> MeterProviderBuilder {
    MeterProvider::builder()
        .with_resource(service(job))
        .with_endpoint(endpoint)
        .with_push_interval(HOUR)
        .with_retry_backoff(Duration::from_millis(5), Duration::from_millis(100))
        .with_shutdown_timeout(Duration::from_secs(10))
        .with_self_metrics(false)
}

/// `threads` threads at once, each `flushes` times: add 1 to `counter`, then
/// `force_flush`. Returns the errors of the flushes that failed.
pub fn flush_from_threads(
    provider: &MeterProvider,
    counter: &Counter<u64>,
    threads: u64,
    flushes: u64,
) -> Vec<String> {
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    (0..flushes)
                        .filter_map(|_| {
                            counter.add(1, &[]);
                            provider.force_flush().err().map(|e| e.to_string())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("no panic"))
            .collect()
    })
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

/// The custom metric definition of issue 8 (destinations `metrics_api` and
/// `grafana_cloud`, which the tests configure).
#[cfg(feature = "custom-metrics")]
pub const CUSTOM_METRIC_EXAMPLE: &str = r#"{
  "name": "Sessions_by_session_property_key",
  "metric": "sessions_total",
  "time_granularity": ["five_minute", "hourly", "daily"],
  "data_destination": ["metrics_api", "grafana_cloud"],
  "filters": {"op": "and", "children": [
      {"key": "session_property_key", "val": "session_property_value", "field_op": "eq"}]},
  "group_by": ["session_property_value"]
}"#;
