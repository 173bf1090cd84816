//! Translated series → Unleash's custom-metrics JSON body (what
//! `POST /api/client/metrics/custom` takes):
//!
//! ```json
//! {"metrics":[{"name":"http_requests_total","value":7,"labels":{"job":"shop","route":"/"}}]}
//! ```
//!
//! One entry per Prometheus series, with the same names and labels as remote write
//! (`__name__` becomes `name`). The body carries no timestamps and no metric types: the
//! receiver keeps the latest value per name and labels, so counters travel as their
//! cumulative totals and histograms as their `_bucket`/`_sum`/`_count` series.
//!
//! JSON numbers cannot be NaN or infinite, and Unleash refuses the whole body (400) for
//! a value beyond ±(2^53 − 1), the largest integer a JavaScript number holds exactly:
//! such values are left out. Stale markers (a NaN) are dropped silently, as the
//! protocol has no way to end a series; every other value left out is counted in
//! [`UnleashJsonEncoder::unrepresentable`].
//!
//! Entries are kept apart ([`UnleashJsonEncoder::bodies`]) so that a push is cut into
//! bodies under a byte limit, and a body refused as too large (413) can be cut in
//! halves again ([`split_in_halves`]) without re-encoding.

use std::io::Write as _;
use std::sync::Arc;

use bytes::Bytes;

use super::translate::{Labels, Metadata, SeriesSink};

const PREFIX: &[u8] = b"{\"metrics\":[";
/// 2^53 − 1: JavaScript's `Number.MAX_SAFE_INTEGER`, the largest magnitude Unleash takes.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
const SUFFIX: &[u8] = b"]}";

/// Where each entry of a body starts, so the body can be cut between entries.
pub(crate) type EntryStarts = Arc<[u32]>;

/// Collects the entries of one push.
#[derive(Debug, Default)]
pub(crate) struct UnleashJsonEncoder {
    /// Every entry, back to back, without separators.
    entries: Vec<u8>,
    /// The end of each entry in `entries`.
    ends: Vec<usize>,
    /// Non-finite values left out this push (stale markers not included).
    unrepresentable: usize,
}

impl UnleashJsonEncoder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Forgets the previous push (keeping the buffers).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.ends.clear();
        self.unrepresentable = 0;
    }

    /// The number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Values left out this push because the receiver cannot take them (NaN, ±Inf,
    /// beyond ±(2^53 − 1)).
    pub(crate) fn unrepresentable(&self) -> usize {
        self.unrepresentable
    }

    /// Cuts the entries into bodies of at most `max_entries` entries and, unless one
    /// entry alone is bigger, at most `max_bytes` bytes; calls `emit` with each body,
    /// its entry count and where its entries start.
    pub(crate) fn bodies<E>(
        &self,
        max_bytes: usize,
        max_entries: usize,
        mut emit: impl FnMut(Bytes, usize, EntryStarts) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut body = Vec::new();
        let mut starts: Vec<u32> = Vec::new();
        let mut begin = 0;
        for &end in &self.ends {
            let entry = &self.entries[begin..end];
            begin = end;
            let grown = body.len().max(PREFIX.len()) + 1 + entry.len() + SUFFIX.len();
            if !starts.is_empty() && (grown > max_bytes || starts.len() >= max_entries) {
                body.extend_from_slice(SUFFIX);
                emit(
                    Bytes::from(std::mem::take(&mut body)),
                    starts.len(),
                    std::mem::take(&mut starts).into(),
                )?;
            }
            if body.is_empty() {
                body.extend_from_slice(PREFIX);
            } else {
                body.push(b',');
            }
            starts.push(body.len() as u32);
            body.extend_from_slice(entry);
        }
        if !starts.is_empty() {
            body.extend_from_slice(SUFFIX);
            emit(Bytes::from(body), starts.len(), starts.into())?;
        }
        Ok(())
    }
}

impl SeriesSink for UnleashJsonEncoder {
    fn metadata(&mut self, _: &Metadata<'_>) {}

    fn series(&mut self, labels: &Labels<'_>, value: f64, _timestamp_ms: i64) {
        if value.is_nan() || value.abs() > MAX_SAFE {
            self.unrepresentable += 1;
            return;
        }
        let out = &mut self.entries;
        out.extend_from_slice(b"{\"name\":");
        write_string(out, labels.get("__name__").unwrap_or_default());
        out.extend_from_slice(b",\"value\":");
        write_number(out, value);
        out.extend_from_slice(b",\"labels\":{");
        let mut first = true;
        for (name, value) in labels.iter().filter(|(n, _)| *n != "__name__") {
            if !first {
                out.push(b',');
            }
            first = false;
            write_string(out, name);
            out.push(b':');
            write_string(out, value);
        }
        out.extend_from_slice(b"}}");
        self.ends.push(out.len());
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail; serde_json does the escaping.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Whole numbers as integers (`7`, not `7.0`), the rest in the shortest form that
/// reads back to the same value. `value` is within ±(2^53 − 1).
fn write_number(out: &mut Vec<u8>, value: f64) {
    if value.fract() == 0.0 {
        let _ = write!(out, "{}", value as i64);
    } else {
        let _ = serde_json::to_writer(&mut *out, &value);
    }
}

/// Cuts a body made by [`UnleashJsonEncoder::bodies`] into two with about half the
/// entries each; `None` for a body of one entry (it cannot get smaller).
pub(crate) fn split_in_halves(
    body: &Bytes,
    starts: &EntryStarts,
) -> Option<[(Bytes, usize, EntryStarts); 2]> {
    if starts.len() < 2 || body.len() < PREFIX.len() + SUFFIX.len() {
        return None;
    }
    let mid = starts.len() / 2;
    let content_end = body.len() - SUFFIX.len();
    let piece = |from: usize, to: usize| {
        let first = starts[from] as usize;
        // An entry ends before the comma that starts the next one.
        let last = if to == starts.len() {
            content_end
        } else {
            starts[to] as usize - 1
        };
        let mut out = Vec::with_capacity(PREFIX.len() + (last - first) + SUFFIX.len());
        out.extend_from_slice(PREFIX);
        let shift = first as u32 - PREFIX.len() as u32;
        let new_starts: EntryStarts = starts[from..to].iter().map(|s| s - shift).collect();
        out.extend_from_slice(body.get(first..last)?);
        out.extend_from_slice(SUFFIX);
        Some((Bytes::from(out), to - from, new_starts))
    };
    Some([piece(0, mid)?, piece(mid, starts.len())?])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::translate::Translator;
    use opentelemetry::KeyValue;

    fn encoded(values: &[f64]) -> UnleashJsonEncoder {
        let provider = crate::MeterProvider::builder()
            .with_resource(
                opentelemetry_sdk::Resource::builder_empty()
                    .with_attribute(KeyValue::new("service.name", "shop"))
                    .build(),
            )
            .with_instance_id("pod-1")
            .build()
            .expect("provider");
        let gauge = provider.meter("t").f64_gauge("temp").build();
        for (i, v) in values.iter().enumerate() {
            gauge.record(
                *v,
                &[KeyValue::new("i", i as i64), KeyValue::new("q", "a\"b")],
            );
        }
        let snapshot = provider.collect();
        let mut encoder = UnleashJsonEncoder::new();
        Translator::new().translate(&snapshot, &mut encoder);
        encoder
    }

    fn parse(body: &[u8]) -> serde_json::Value {
        serde_json::from_slice(body).expect("valid JSON")
    }

    #[test]
    fn entries_carry_name_value_and_labels_and_leave_out_non_finite_values() {
        let encoder = encoded(&[1.0, 2.5, f64::NAN, f64::INFINITY]);
        assert_eq!(encoder.len(), 2);
        assert_eq!(encoder.unrepresentable(), 2);
        let mut bodies = Vec::new();
        encoder
            .bodies(100_000, 2000, |body, n, _| {
                bodies.push((body, n));
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(bodies.len(), 1);
        let json = parse(&bodies[0].0);
        assert_eq!(
            json,
            serde_json::json!({"metrics": [
                {"name": "temp", "value": 1,
                 "labels": {"i": "0", "instance": "pod-1", "job": "shop", "otel_scope_name": "t", "q": "a\"b"}},
                {"name": "temp", "value": 2.5,
                 "labels": {"i": "1", "instance": "pod-1", "job": "shop", "otel_scope_name": "t", "q": "a\"b"}},
            ]})
        );
    }

    #[test]
    fn bodies_stay_under_the_byte_limit_and_split_in_halves() {
        let values: Vec<f64> = (0..50).map(f64::from).collect();
        let encoder = encoded(&values);
        let mut bodies = Vec::new();
        encoder
            .bodies(600, 2000, |body, n, starts| {
                bodies.push((body, n, starts));
                Ok::<_, ()>(())
            })
            .unwrap();
        assert!(bodies.len() > 5);
        let mut total = 0;
        for (body, n, _) in &bodies {
            assert!(body.len() <= 600, "{}", body.len());
            total += parse(body)["metrics"].as_array().unwrap().len();
            assert!(*n > 0);
        }
        assert_eq!(total, 50);
        // Halves of a body hold its entries, in order, and are valid JSON.
        let (body, n, starts) = &bodies[0];
        let [a, b] = split_in_halves(body, starts).expect("splits");
        assert_eq!(a.1 + b.1, *n);
        let mut joined = parse(&a.0)["metrics"].as_array().unwrap().clone();
        joined.extend(parse(&b.0)["metrics"].as_array().unwrap().iter().cloned());
        assert_eq!(&joined, parse(body)["metrics"].as_array().unwrap());
        // And their halves again, down to one entry, which cannot split.
        let [c, _] = split_in_halves(&a.0, &a.2).expect("splits again");
        let mut piece = c;
        while piece.1 > 1 {
            piece = split_in_halves(&piece.0, &piece.2).expect("splits")[0].clone();
            parse(&piece.0);
        }
        assert!(split_in_halves(&piece.0, &piece.2).is_none());
        // The entry count caps bodies too.
        let mut counts = Vec::new();
        encoder
            .bodies(1 << 20, 7, |_, n, _| {
                counts.push(n);
                Ok::<_, ()>(())
            })
            .unwrap();
        assert_eq!(counts, [7, 7, 7, 7, 7, 7, 7, 1]);
    }
}
