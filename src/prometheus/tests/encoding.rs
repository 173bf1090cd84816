//! The wire format and what is reused between pushes: an encoded request decodes to
//! exactly the translated series, special values and timestamps survive, and reused
//! translators, encoders and label caches give byte-identical requests.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;

use super::*;
use crate::prometheus::write_request::{decode, WriteRequestEncoder};

#[test]
fn a_reused_translator_gives_the_same_output() {
    let snap = sample_snapshot();
    let mut t = Translator::new();
    let (mut a, mut b) = (Collect::default(), Collect::default());
    t.translate(&snap, &mut a);
    t.translate(&snap, &mut b);
    assert_eq!(exposition_timed(&a), exposition_timed(&b));
    assert_eq!(metadata(&a), metadata(&b));
}

#[test]
fn an_encoded_request_decodes_to_the_translated_series_and_metadata() {
    let snap = sample_snapshot();
    let mut want = Collect::default();
    Translator::new().translate(&snap, &mut want);

    let mut translator = Translator::new();
    let mut encoder = WriteRequestEncoder::new();
    // Twice through the same encoder: buffers are reused, output must not leak over.
    for _ in 0..2 {
        encoder.clear();
        translator.translate(&snap, &mut encoder);
        assert_eq!(encoder.series_count(), want.series.len());
        let body = encoder.finish().expect("encodes").to_vec();
        let got = decode(&body, 1 << 20).expect("decodes");
        assert_eq!(decoded_exposition(&got), exposition_timed(&want));
        let meta: Vec<(i32, &str, &str, &str)> = got
            .metadata
            .iter()
            .map(|m| (m.r#type, &*m.metric_family_name, &*m.help, &*m.unit))
            .collect();
        let want_meta: Vec<(i32, &str, &str, &str)> = want
            .metadata
            .iter()
            .map(|(k, f, h, u)| (k.proto_value(), &**f, &**h, &**u))
            .collect();
        assert_eq!(meta, want_meta);
    }
}

#[test]
fn negative_timestamps_and_special_values_round_trip() {
    let mut m = metric(
        9,
        "g",
        "",
        InstrumentKind::Gauge,
        MetricData::Gauge {
            points: vec![
                number(&[KeyValue::new("k", "inf")], Number::F64(f64::INFINITY)),
                number(
                    &[KeyValue::new("k", "stale")],
                    Number::F64(f64::from_bits(0x7ff0000000000002)),
                ),
            ],
        },
    );
    m.time = UNIX_EPOCH - Duration::from_millis(5);
    let snap = bare(vec![m]);
    let mut enc = WriteRequestEncoder::new();
    Translator::new().translate(&snap, &mut enc);
    let got = decode(enc.finish().unwrap(), 1 << 20).unwrap();
    assert_eq!(
        decoded_exposition(&got),
        [
            r#"g{k="inf",otel_scope_name="test"} +Inf -5"#,
            r#"g{k="stale",otel_scope_name="test"} NaN -5"#,
        ]
    );
    // The stale marker keeps its bits.
    assert_eq!(
        got.timeseries[1].samples[0].value.to_bits(),
        0x7ff0000000000002
    );
}

/// Encodes through the plain `series` path only: no label reuse, the reference.
struct Uncached<'a>(&'a mut WriteRequestEncoder);

impl SeriesSink for Uncached<'_> {
    fn metadata(&mut self, m: &Metadata<'_>) {
        self.0.metadata(m);
    }
    fn series(&mut self, labels: &Labels<'_>, value: f64, ts: i64) {
        self.0.series(labels, value, ts);
    }
}

fn fresh_protobuf(snap: &Snapshot) -> Vec<u8> {
    let mut enc = WriteRequestEncoder::new();
    Translator::new().translate(snap, &mut Uncached(&mut enc));
    enc.protobuf().to_vec()
}

#[test]
fn reused_labels_give_byte_identical_requests() {
    let base = sample_snapshot();

    let mut appended = base.clone();
    if let MetricData::Sum { points, .. } = &mut appended.scopes[0].metrics[0].data {
        points.push(number(&[KeyValue::new("method", "PUT")], Number::U64(3)));
        points[0].value = Number::U64(8);
    }

    let mut new_resource = appended.clone();
    new_resource.resource = Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "cart"),
            KeyValue::new("host.name", "h2"),
        ])
        .build();

    // An equal set that is not the same shared set (an observable instrument's points),
    // and a different set at the same index.
    let mut replaced = new_resource.clone();
    if let MetricData::Sum { points, .. } = &mut replaced.scopes[0].metrics[0].data {
        points[0].attributes = Attributes::new(&[KeyValue::new("method", "GET")]);
        points[1].attributes = Attributes::new(&[KeyValue::new("method", "HEAD")]);
    }

    // A timestamp whose varint has another length, and new histogram bounds.
    let mut other_time = replaced.clone();
    other_time.scopes[0].metrics[0].time = UNIX_EPOCH - Duration::from_millis(5);
    if let MetricData::Histogram { bounds, points, .. } = &mut other_time.scopes[0].metrics[1].data
    {
        *bounds = Arc::from([5.0, 50.0, 500.0]);
        points[0].bucket_counts = vec![0, 1, 1, 1];
    }

    // One metric gone (its cache is evicted), then back.
    let mut fewer = other_time.clone();
    fewer.scopes[0].metrics.truncate(1);

    let mut translator = Translator::new();
    let mut encoder = WriteRequestEncoder::new();
    for (name, snap) in [
        ("first", &base),
        ("same again", &base),
        ("same a third time", &base),
        ("one series appended", &appended),
        ("changed resource", &new_resource),
        ("replaced attribute sets", &replaced),
        ("other timestamp and bounds", &other_time),
        ("a metric gone", &fewer),
        ("the metric back", &other_time),
        ("back to the start", &base),
    ] {
        encoder.clear();
        let n = translator.translate(snap, &mut encoder);
        assert_eq!(n, encoder.series_count(), "{name}");
        assert_eq!(encoder.protobuf(), fresh_protobuf(snap), "{name}");
    }
}

#[test]
fn two_translators_on_one_encoder_do_not_mix_labels() {
    let snap = sample_snapshot();
    let mut other = snap.clone();
    other.resource = Resource::builder_empty()
        .with_attributes([KeyValue::new("service.name", "other")])
        .build();
    let mut translators = [Translator::new(), Translator::new()];
    let mut encoder = WriteRequestEncoder::new();
    for (t, s) in [(0, &snap), (1, &other), (0, &snap), (1, &other)] {
        encoder.clear();
        translators[t].translate(s, &mut encoder);
        assert_eq!(encoder.protobuf(), fresh_protobuf(s));
    }
}
