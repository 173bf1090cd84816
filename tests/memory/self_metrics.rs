//! prompush's own delivery metrics as the provider collects them (what the next push
//! would carry), without a receiver.

use prompush::snapshot::Number;
use prompush::MeterProvider;

/// `prompush_samples_dropped_total{reason}` summed over destinations; 0 if none yet.
pub fn dropped(provider: &MeterProvider, reason: &str) -> u64 {
    provider
        .collect()
        .metrics()
        .filter(|m| m.descriptor.name == "prompush.samples.dropped")
        .flat_map(|m| m.data.number_points().to_vec())
        .filter(|p| {
            p.attributes.get("reason").map(|v| v.as_str().into_owned()) == Some(reason.into())
        })
        .map(|p| match p.value {
            Number::U64(n) => n,
            _ => 0,
        })
        .sum()
}
