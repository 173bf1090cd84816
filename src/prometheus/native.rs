//! Native histograms on the wire (`TimeSeries.histograms`, integer counts): an
//! exponential histogram point → `prometheus.Histogram`, the way back, and a request's
//! native histograms rewritten as classic series for a receiver that refuses them.
//!
//! Two facts shape the mapping. Prometheus schemas stop at 8, so a finer point is
//! downscaled to 8 first. And Prometheus numbers buckets from the other end: its bucket
//! `i` is `(base^(i-1), base^i]`, OpenTelemetry's `(base^i, base^(i+1)]`, so the
//! Prometheus index is the OpenTelemetry one plus one.

use prost::Message;

use super::exponential::classic_buckets;
use super::naming;
use super::proto;
use crate::snapshot::{Attributes, ExponentialBuckets, ExponentialHistogramPoint};
use crate::Error;

/// Prometheus' finest schema.
const MAX_SCHEMA: i8 = 8;

/// The zero threshold sent for an exact-zero bucket: Prometheus' default, since a
/// threshold of 0 is not a bucket it can hold.
const DEFAULT_ZERO_THRESHOLD: f64 = 1e-128;

/// Longest run of empty buckets kept inside a span; a longer one starts a new span.
const MAX_GAP: usize = 2;

/// The `prometheus.Histogram` of `point` at `timestamp_ms`.
pub(crate) fn to_proto(point: &ExponentialHistogramPoint, timestamp_ms: i64) -> proto::Histogram {
    let mut capped;
    let point = if point.scale > MAX_SCHEMA {
        capped = point.clone();
        capped.downscale_to(MAX_SCHEMA);
        &capped
    } else {
        point
    };
    let (negative_spans, negative_deltas) = spans_and_deltas(&point.negative);
    let (positive_spans, positive_deltas) = spans_and_deltas(&point.positive);
    proto::Histogram {
        count: Some(proto::histogram::Count::CountInt(point.count)),
        sum: point.sum,
        schema: point.scale as i32,
        zero_threshold: if point.zero_threshold > 0.0 {
            point.zero_threshold
        } else {
            DEFAULT_ZERO_THRESHOLD
        },
        zero_count: Some(proto::histogram::ZeroCount::ZeroCountInt(point.zero_count)),
        negative_spans,
        negative_deltas,
        negative_counts: Vec::new(),
        positive_spans,
        positive_deltas,
        positive_counts: Vec::new(),
        reset_hint: proto::histogram::ResetHint::Unknown as i32,
        timestamp: timestamp_ms,
    }
}

/// The spans (with the index shift) and delta-encoded counts of one range: empty
/// buckets at either end are left out, and runs of more than [`MAX_GAP`] inside it.
fn spans_and_deltas(range: &ExponentialBuckets) -> (Vec<proto::BucketSpan>, Vec<i64>) {
    let mut spans: Vec<proto::BucketSpan> = Vec::new();
    let mut deltas = Vec::new();
    let mut previous = 0i64;
    // The Prometheus index one past the last span's end.
    let mut end: Option<i64> = None;
    let mut gap = 0usize;
    for (i, &count) in range.counts.iter().enumerate() {
        if count == 0 {
            gap += 1;
            continue;
        }
        let index = range.offset as i64 + i as i64 + 1;
        match (end, spans.last_mut()) {
            (Some(e), Some(span)) if gap <= MAX_GAP => {
                // Keep the short run of empty buckets inside the span.
                for _ in 0..gap {
                    deltas.push(-previous);
                    previous = 0;
                }
                span.length += gap as u32 + 1;
                debug_assert_eq!(e + gap as i64, index);
            }
            _ => spans.push(proto::BucketSpan {
                offset: (index - end.unwrap_or(0)) as i32,
                length: 1,
            }),
        }
        deltas.push(count as i64 - previous);
        previous = count as i64;
        end = Some(index + 1);
        gap = 0;
    }
    (spans, deltas)
}

/// The exponential histogram point a `prometheus.Histogram` carries (integer or float
/// counts), with `attributes`. Malformed spans are read as far as they go.
pub(crate) fn from_proto(
    h: &proto::Histogram,
    attributes: Attributes,
) -> ExponentialHistogramPoint {
    let count = match h.count {
        Some(proto::histogram::Count::CountInt(c)) => c,
        Some(proto::histogram::Count::CountFloat(c)) => c as u64,
        None => 0,
    };
    let zero_count = match h.zero_count {
        Some(proto::histogram::ZeroCount::ZeroCountInt(c)) => c,
        Some(proto::histogram::ZeroCount::ZeroCountFloat(c)) => c as u64,
        None => 0,
    };
    let counts = |deltas: &[i64], floats: &[f64]| -> Vec<u64> {
        if deltas.is_empty() {
            return floats.iter().map(|c| *c as u64).collect();
        }
        let mut current = 0i64;
        deltas
            .iter()
            .map(|d| {
                current = current.saturating_add(*d);
                current.max(0) as u64
            })
            .collect()
    };
    ExponentialHistogramPoint {
        exemplars: Vec::new(),
        attributes,
        // Remote write 1.0 carries no start time.
        start_time: std::time::SystemTime::UNIX_EPOCH,
        count,
        sum: h.sum,
        min: None,
        max: None,
        scale: h.schema.clamp(i8::MIN as i32, i8::MAX as i32) as i8,
        // What `to_proto` sends for an exact-zero bucket reads back as one.
        zero_threshold: if h.zero_threshold == DEFAULT_ZERO_THRESHOLD {
            0.0
        } else {
            h.zero_threshold
        },
        zero_count,
        positive: unspan(
            &h.positive_spans,
            &counts(&h.positive_deltas, &h.positive_counts),
        ),
        negative: unspan(
            &h.negative_spans,
            &counts(&h.negative_deltas, &h.negative_counts),
        ),
    }
}

/// Spans and their bucket counts → one run of buckets (OpenTelemetry indexes).
fn unspan(spans: &[proto::BucketSpan], counts: &[u64]) -> ExponentialBuckets {
    let mut out = ExponentialBuckets::default();
    let mut index = 0i64;
    let mut counts = counts.iter();
    for (n, span) in spans.iter().enumerate() {
        index += span.offset as i64;
        if n == 0 {
            out.offset = (index - 1).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        }
        for _ in 0..span.length {
            let at = (index - 1 - out.offset as i64) as usize;
            if at > 1 << 16 {
                return out;
            }
            if out.counts.len() <= at {
                out.counts.resize(at + 1, 0);
            }
            out.counts[at] = counts.next().copied().unwrap_or(0);
            index += 1;
        }
    }
    out
}

/// `protobuf` (a `WriteRequest`) with every native histogram replaced by classic
/// `_bucket`, `_sum` and `_count` series, and its number of samples; `None` when it
/// holds no native histogram.
///
/// # Errors
/// [`Error::Encode`] when `protobuf` is not a `WriteRequest`.
pub(crate) fn to_classic(protobuf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, Error> {
    let request = proto::WriteRequest::decode(protobuf)
        .map_err(|e| Error::Encode(format!("re-reading a request: {e} (a bug in prompush)")))?;
    if request.timeseries.iter().all(|s| s.histograms.is_empty()) {
        return Ok(None);
    }
    let mut out = proto::WriteRequest {
        timeseries: Vec::with_capacity(request.timeseries.len()),
        metadata: request.metadata,
    };
    let mut buckets = Vec::new();
    for series in request.timeseries {
        if series.histograms.is_empty() {
            out.timeseries.push(series);
            continue;
        }
        let name = series
            .labels
            .iter()
            .find(|l| l.name == "__name__")
            .map(|l| l.value.clone())
            .unwrap_or_default();
        let renamed = |suffix: &str, le: Option<String>| -> Vec<proto::Label> {
            let mut labels: Vec<proto::Label> = series
                .labels
                .iter()
                .map(|l| proto::Label {
                    name: l.name.clone(),
                    value: if l.name == "__name__" {
                        format!("{name}{suffix}")
                    } else {
                        l.value.clone()
                    },
                })
                .collect();
            if let Some(le) = le {
                let at = labels.partition_point(|l| l.name.as_str() < "le");
                labels.insert(
                    at,
                    proto::Label {
                        name: "le".into(),
                        value: le,
                    },
                );
            }
            labels
        };
        for h in &series.histograms {
            let point = from_proto(h, Attributes::default());
            let sample = |labels, value| proto::TimeSeries {
                labels,
                samples: vec![proto::Sample {
                    value,
                    timestamp: h.timestamp,
                }],
                ..Default::default()
            };
            classic_buckets(&point, &mut buckets);
            for &(le, cumulative) in &buckets {
                let mut text = String::new();
                naming::write_float(&mut text, le);
                out.timeseries
                    .push(sample(renamed("_bucket", Some(text)), cumulative as f64));
            }
            let count = point.count as f64;
            out.timeseries
                .push(sample(renamed("_bucket", Some("+Inf".into())), count));
            out.timeseries
                .push(sample(renamed("_sum", None), point.sum));
            out.timeseries.push(sample(renamed("_count", None), count));
        }
    }
    let samples = out.timeseries.iter().map(|s| s.samples.len()).sum();
    Ok(Some((out.encode_to_vec(), samples)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(scale: i8, offset: i32, counts: &[u64]) -> ExponentialHistogramPoint {
        let mut p =
            ExponentialHistogramPoint::empty(Attributes::default(), std::time::UNIX_EPOCH, scale);
        p.positive = ExponentialBuckets {
            offset,
            counts: counts.to_vec(),
        };
        p.count = counts.iter().sum();
        p
    }

    #[test]
    fn indexes_shift_by_one_and_counts_are_deltas() {
        let h = to_proto(&point(3, -2, &[2, 5, 1]), 7);
        assert_eq!(h.schema, 3);
        assert_eq!(
            h.positive_spans,
            vec![proto::BucketSpan {
                offset: -1,
                length: 3
            }]
        );
        assert_eq!(h.positive_deltas, vec![2, 3, -4]);
        assert_eq!(h.zero_threshold, DEFAULT_ZERO_THRESHOLD);
        assert_eq!(h.timestamp, 7);
    }

    #[test]
    fn long_empty_runs_split_spans_and_short_ones_stay_inside() {
        let h = to_proto(&point(0, 0, &[0, 1, 0, 0, 2, 0, 0, 0, 3, 0]), 0);
        let spans: Vec<(i32, u32)> = h
            .positive_spans
            .iter()
            .map(|s| (s.offset, s.length))
            .collect();
        // OTel 1 → Prometheus 2: buckets 2..=5, then 3 empty, then 9.
        assert_eq!(spans, vec![(2, 4), (3, 1)]);
        assert_eq!(h.positive_deltas, vec![1, -1, 0, 2, 1]);
    }

    #[test]
    fn scales_above_eight_are_downscaled_to_eight() {
        let h = to_proto(&point(10, 8, &[1, 1, 1, 1, 1]), 0);
        assert_eq!(h.schema, 8);
        // 8..=12 >> 2: 2,2,2,2,3.
        assert_eq!(h.positive_spans[0].offset, 3);
        assert_eq!(h.positive_deltas, vec![4, -3]);
    }

    #[test]
    fn a_point_survives_the_round_trip() {
        let mut p = point(2, -3, &[1, 0, 0, 0, 4]);
        p.negative = ExponentialBuckets {
            offset: 5,
            counts: vec![3],
        };
        p.zero_count = 2;
        p.zero_threshold = 1e-9;
        p.count = 10;
        p.sum = 1.25;
        let back = from_proto(&to_proto(&p, 0), Attributes::default());
        assert_eq!(back, p);
    }
}
