//! Exponential histograms: classic series with the buckets' upper bounds as `le` where
//! native histograms are off (or the scale is below −4), one native series where they
//! are on, the wire form of both, and the classic rewrite of a refused request.

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;

use super::*;
use crate::prometheus::native;
use crate::prometheus::write_request::{decode, WriteRequestEncoder};

/// A point at scale 0 with `-3`, `-1.5`, `0`, `1`, `3` and `3` recorded.
fn point(attributes: &[KeyValue]) -> ExponentialHistogramPoint {
    ExponentialHistogramPoint {
        exemplars: Vec::new(),
        attributes: Attributes::new(attributes),
        start_time: std::time::UNIX_EPOCH,
        count: 6,
        sum: 2.5,
        min: Some(-3.0),
        max: Some(3.0),
        scale: 0,
        zero_threshold: 0.0,
        zero_count: 1,
        // -1.5 in (1, 2] (bucket 0), -3 in (2, 4] (bucket 1).
        negative: ExponentialBuckets {
            offset: 0,
            counts: vec![1, 1],
        },
        // 1 in (0.5, 1] (bucket -1); 3 in (2, 4] (bucket 1).
        positive: ExponentialBuckets {
            offset: -1,
            counts: vec![1, 0, 2],
        },
    }
}

fn latency(points: Vec<ExponentialHistogramPoint>) -> Snapshot {
    snapshot(
        Resource::builder_empty().build(),
        vec![metric(
            5,
            "latency",
            "s",
            InstrumentKind::Histogram,
            MetricData::ExponentialHistogram { points },
        )],
    )
}

fn native_translator() -> Translator {
    let mut t = Translator::new();
    t.set_native_histograms(true);
    t
}

const CLASSIC: [&str; 9] = [
    r#"latency_seconds_bucket{le="-2",route="/x"} 1"#,
    r#"latency_seconds_bucket{le="-1",route="/x"} 2"#,
    r#"latency_seconds_bucket{le="0",route="/x"} 3"#,
    r#"latency_seconds_bucket{le="1",route="/x"} 4"#,
    r#"latency_seconds_bucket{le="2",route="/x"} 4"#,
    r#"latency_seconds_bucket{le="4",route="/x"} 6"#,
    r#"latency_seconds_bucket{le="+Inf",route="/x"} 6"#,
    r#"latency_seconds_count{route="/x"} 6"#,
    r#"latency_seconds_sum{route="/x"} 2.5"#,
];

#[test]
fn without_native_histograms_the_buckets_become_classic_series() {
    let snap = latency(vec![point(&[KeyValue::new("route", "/x")])]);
    let c = translate(&snap);
    assert_eq!(exposition(&c), CLASSIC);
    assert!(c.native.is_empty());
    assert_eq!(
        metadata(&c),
        [r#"latency_seconds histogram "seconds" "about latency""#]
    );
}

#[test]
fn with_native_histograms_each_point_is_one_series_of_the_family_name() {
    let snap = latency(vec![
        point(&[KeyValue::new("route", "/x")]),
        point(&[KeyValue::new("le", "user")]),
    ]);
    let c = translate_with(&mut native_translator(), &snap);
    assert_eq!(
        exposition(&c),
        [
            r#"latency_seconds{route="/x"} 6"#,
            r#"latency_seconds{exported_le="user"} 6"#,
        ]
    );
    assert_eq!(c.native[0], point(&[KeyValue::new("route", "/x")]));
}

#[test]
fn below_scale_minus_four_a_point_goes_classic_even_with_native_histograms_on() {
    let mut coarse = point(&[KeyValue::new("route", "/x")]);
    coarse.scale = -5;
    let c = translate_with(&mut native_translator(), &latency(vec![coarse]));
    assert!(c.native.is_empty());
    assert_eq!(
        exposition(&c)[0],
        r#"latency_seconds_bucket{le="-4.294967296e+09",route="/x"} 1"#
    );
}

#[test]
fn colliding_points_merge_at_the_coarser_scale() {
    let mut fine = point(&[KeyValue::new("route", "")]);
    fine.scale = 1;
    fine.negative.counts.clear();
    fine.positive = ExponentialBuckets {
        offset: 2,
        counts: vec![1, 1],
    };
    fine.count = 2;
    let c = translate_with(&mut native_translator(), &latency(vec![point(&[]), fine]));
    assert_eq!(exposition(&c), ["latency_seconds 8"]);
    let merged = &c.native[0];
    assert_eq!(merged.scale, 0);
    // Scale-1 buckets 2 and 3 are scale-0 bucket 1.
    assert_eq!(merged.positive.counts, vec![1, 0, 4]);
}

#[test]
fn a_native_histogram_is_encoded_as_one_series_with_a_histogram() {
    let snap = latency(vec![point(&[KeyValue::new("route", "/x")])]);
    let mut encoder = WriteRequestEncoder::new();
    native_translator().translate(&snap, &mut encoder);
    assert_eq!(encoder.series_count(), 1);
    let request = decode(encoder.finish().expect("encodes"), 1 << 20).expect("decodes");
    let series = &request.timeseries[0];
    assert!(series.samples.is_empty());
    let labels: Vec<(&str, &str)> = series
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("__name__", "latency_seconds"),
            ("otel_scope_name", "test"),
            ("route", "/x")
        ]
    );
    let h = &series.histograms[0];
    assert_eq!(h.timestamp, T.as_millis() as i64);
    assert_eq!(
        (h.schema, h.sum, h.count),
        (0, 2.5, Some(proto::histogram::Count::CountInt(6)))
    );
    // Cut into requests, the histogram counts as one sample.
    let mut requests = 0;
    crate::prometheus::batch::split(encoder.protobuf(), 1, |_, samples| {
        requests += 1;
        assert_eq!(samples, 1);
        Ok(())
    })
    .expect("splits");
    assert_eq!(requests, 1);
}

#[test]
fn a_refused_request_rewritten_as_classic_matches_the_classic_translation() {
    let snap = latency(vec![point(&[KeyValue::new("route", "/x")])]);
    let mut encoder = WriteRequestEncoder::new();
    native_translator().translate(&snap, &mut encoder);
    let (classic, samples) = native::to_classic(encoder.protobuf())
        .expect("decodes")
        .expect("has histograms");
    assert_eq!(samples, CLASSIC.len());
    let request = <proto::WriteRequest as prost::Message>::decode(classic.as_slice())
        .expect("a WriteRequest");
    let mut want = Collect::default();
    Translator::new().translate(&snap, &mut want);
    let mut got = decoded_exposition(&request);
    let mut want = exposition_timed(&want);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // A request without native histograms needs no rewrite.
    let mut plain = WriteRequestEncoder::new();
    Translator::new().translate(&snap, &mut plain);
    assert!(native::to_classic(plain.protobuf())
        .expect("decodes")
        .is_none());
}
