//! prompush's own delivery metrics as the provider collects them (what the next push
//! would carry), without a receiver.

use std::time::{Duration, Instant};

use prompush::snapshot::Number;
use prompush::MeterProvider;

/// `prompush_samples_dropped_total{reason}` summed over destinations; 0 if none yet.
pub fn dropped(provider: &MeterProvider, reason: &str) -> u64 {
    total(
        provider,
        "prompush.samples.dropped",
        Some(("reason", reason)),
    )
}

/// `prompush_requests_total` of every outcome (an answer or an error), summed.
pub fn requests(provider: &MeterProvider) -> u64 {
    total(provider, "prompush.requests", None)
}

/// Waits until the provider has made a request, so that its first push was collected and
/// encoded (the encoder's per-series caches are working memory that does not grow
/// afterwards); panics after a minute.
pub fn wait_for_a_request(provider: &MeterProvider) {
    let started = Instant::now();
    while requests(provider) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no request within a minute"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The counter `name`'s points with `attribute` (or all of them), summed.
fn total(provider: &MeterProvider, name: &str, attribute: Option<(&str, &str)>) -> u64 {
    provider
        .collect()
        .metrics()
        .filter(|m| m.descriptor().name() == name)
        .flat_map(|m| m.data().number_points().to_vec())
        .filter(|p| {
            attribute.is_none_or(|(key, value)| {
                p.attributes().get(key).map(|v| v.as_str().into_owned()) == Some(value.into())
            })
        })
        .map(|p| match p.value() {
            Number::U64(n) => n,
            _ => 0,
        })
        .sum()
}
