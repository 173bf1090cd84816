//! Remote write 2.0 on the wire: a request decodes (through the generated 2.0
//! messages) to exactly the series 1.0 carries, with a symbols table that starts with
//! `""` and holds each string once, labels as sorted references, metadata and start
//! timestamps per series; requests are cut per shard with their own symbols, halves
//! and the 1.0 form of a request carry the same series.

use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::KeyValue;
use prost::Message;

use super::*;
use crate::prometheus::proto::v2;
use crate::prometheus::write_request::WriteRequestEncoder;
use crate::prometheus::write_request_v2::{as_v1, decode, halves, Carried, RequestV2Encoder};

/// The requests of `snap` (one shard, at most `max` samples each), decoded.
fn requests(snap: &Snapshot, max: usize, shards: usize) -> Vec<(usize, v2::Request, Carried)> {
    let mut encoder = RequestV2Encoder::new();
    Translator::new().translate(snap, &mut encoder);
    let mut out = Vec::new();
    encoder
        .requests(
            max,
            |_| shards,
            |shard, protobuf, carried| {
                out.push((shard, v2::Request::decode(protobuf).unwrap(), carried));
                Ok(())
            },
        )
        .unwrap();
    out
}

fn only(snap: &Snapshot) -> v2::Request {
    let mut all = requests(snap, usize::MAX, 1);
    assert_eq!(all.len(), 1);
    all.remove(0).1
}

/// The labels of a series as `(name, value)` pairs.
fn labels_of<'a>(request: &'a v2::Request, refs: &[u32]) -> Vec<(&'a str, &'a str)> {
    refs.chunks_exact(2)
        .map(|p| {
            (
                request.symbols[p[0] as usize].as_str(),
                request.symbols[p[1] as usize].as_str(),
            )
        })
        .collect()
}

/// The series of a request as exposition lines with timestamps, in order.
fn v2_exposition(request: &v2::Request) -> Vec<String> {
    request
        .timeseries
        .iter()
        .flat_map(|ts| {
            let labels = labels_of(request, &ts.labels_refs);
            ts.samples
                .iter()
                .map(move |s| line(labels.clone(), s.value, Some(s.timestamp), |_, _| true))
        })
        .collect()
}

/// Each series' name, type, unit, help and start timestamp, one line a series.
fn v2_metadata(request: &v2::Request) -> Vec<String> {
    request
        .timeseries
        .iter()
        .map(|ts| {
            let name = labels_of(request, &ts.labels_refs)
                .into_iter()
                .find(|(n, _)| *n == "__name__")
                .map_or("", |(_, v)| v);
            let m = ts.metadata.unwrap_or_default();
            let start = ts
                .samples
                .first()
                .map(|s| s.start_timestamp)
                .or(ts.histograms.first().map(|h| h.start_timestamp))
                .unwrap_or(-1);
            format!(
                "{name} {} {:?} {:?} start={start}",
                m.r#type().as_str_name(),
                request.symbols[m.unit_ref as usize],
                request.symbols[m.help_ref as usize],
            )
        })
        .collect()
}

fn assert_symbols_well_formed(request: &v2::Request) {
    assert_eq!(request.symbols.first().map(String::as_str), Some(""));
    let mut seen = std::collections::HashSet::new();
    for s in &request.symbols {
        assert!(seen.insert(s), "{s:?} twice in {:?}", request.symbols);
    }
    for ts in &request.timeseries {
        let labels = labels_of(request, &ts.labels_refs);
        assert!(labels.windows(2).all(|w| w[0].0 < w[1].0), "{labels:?}");
        assert!(ts.samples.is_empty() || ts.histograms.is_empty());
    }
}

/// [`sample_snapshot`] with its counter and histogram started at 1_600_000_000_000 ms
/// and a gauge.
fn started_snapshot() -> Snapshot {
    let start = UNIX_EPOCH + Duration::from_millis(1_600_000_000_000);
    let mut snap = sample_snapshot();
    for m in &mut snap.scopes[0].metrics {
        match &mut m.data {
            MetricData::Sum { points, .. } => points.iter_mut().for_each(|p| p.start_time = start),
            MetricData::Histogram { points, .. } => {
                points.iter_mut().for_each(|p| p.start_time = start)
            }
            _ => {}
        }
    }
    snap.scopes[0]
        .metrics
        .push(gauge(3, "temp", vec![number(&[], Number::F64(21.5))]));
    snap
}

#[test]
fn a_request_carries_exactly_the_series_of_remote_write_1() {
    let snap = started_snapshot();
    let mut v1 = WriteRequestEncoder::new();
    Translator::new().translate(&snap, &mut v1);
    let want = proto::WriteRequest::decode(v1.protobuf()).unwrap();
    let got = only(&snap);
    assert_symbols_well_formed(&got);
    assert_eq!(v2_exposition(&got), decoded_exposition(&want));
}

#[test]
fn every_series_carries_its_family_type_unit_help_and_start() {
    let got = only(&started_snapshot());
    let lines = v2_metadata(&got);
    let want = [
        r#"target_info METRIC_TYPE_GAUGE "" "Target metadata" start=0"#,
        r#"MyCounter_total METRIC_TYPE_COUNTER "" "about MyCounter" start=1600000000000"#,
        r#"MyCounter_total METRIC_TYPE_COUNTER "" "about MyCounter" start=1600000000000"#,
        r#"lat_milliseconds_bucket METRIC_TYPE_HISTOGRAM "milliseconds" "about lat" start=1600000000000"#,
        r#"lat_milliseconds_bucket METRIC_TYPE_HISTOGRAM "milliseconds" "about lat" start=1600000000000"#,
        r#"lat_milliseconds_bucket METRIC_TYPE_HISTOGRAM "milliseconds" "about lat" start=1600000000000"#,
        r#"lat_milliseconds_sum METRIC_TYPE_HISTOGRAM "milliseconds" "about lat" start=1600000000000"#,
        r#"lat_milliseconds_count METRIC_TYPE_HISTOGRAM "milliseconds" "about lat" start=1600000000000"#,
        r#"temp METRIC_TYPE_GAUGE "" "about temp" start=0"#,
    ];
    assert_eq!(lines, want);
}

#[test]
fn a_native_histogram_and_its_exemplars_keep_their_buckets_and_labels() {
    let mut point = exponential_point(1, 2, (0, &[1]), (-1, &[3, 0, 4]));
    point.start_time = UNIX_EPOCH + Duration::from_millis(1_650_000_000_000);
    point.exemplars.push(Exemplar {
        value: 1.5,
        time: UNIX_EPOCH + Duration::from_millis(1_700_000_000_000),
        trace_id: [1; 16],
        span_id: [2; 8],
        filtered_attributes: Vec::new(),
    });
    let snap = bare(vec![metric(
        5,
        "d",
        "s",
        InstrumentKind::Histogram,
        MetricData::ExponentialHistogram {
            points: vec![point.clone()],
        },
    )]);
    let mut translator = Translator::new();
    translator.set_native_histograms(true);
    let mut encoder = RequestV2Encoder::new();
    translator.translate(&snap, &mut encoder);
    let mut got = Vec::new();
    encoder
        .requests(
            100,
            |_| 1,
            |_, p, c| {
                got.push((v2::Request::decode(p).unwrap(), c));
                Ok(())
            },
        )
        .unwrap();
    let (request, carried) = &got[0];
    assert_eq!(
        *carried,
        Carried {
            samples: 0,
            histograms: 1,
            exemplars: 1
        }
    );
    let ts = &request.timeseries[0];
    let h = &ts.histograms[0];
    assert_eq!(h.start_timestamp, 1_650_000_000_000);
    let v1 = crate::prometheus::native::to_proto(&point, h.timestamp);
    assert_eq!(
        proto::Histogram::decode(h.encode_to_vec().as_slice()).unwrap(),
        v1
    );
    let e = &ts.exemplars[0];
    assert_eq!((e.value, e.timestamp), (1.5, 1_700_000_000_000));
    let labels = labels_of(request, &e.labels_refs);
    assert_eq!(
        labels,
        [
            ("span_id", "0202020202020202"),
            ("trace_id", "01010101010101010101010101010101")
        ]
    );
    assert_eq!(
        v2_metadata(request),
        [r#"d_seconds METRIC_TYPE_HISTOGRAM "seconds" "about d" start=1650000000000"#]
    );
}

/// 40 counter series named `c_total{i="0"}` … `{i="39"}`.
fn many_series() -> Snapshot {
    let points = (0..40)
        .map(|i| number(&[KeyValue::new("i", i.to_string())], Number::U64(i)))
        .collect();
    bare(vec![counter(1, "c", points)])
}

#[test]
fn requests_are_cut_by_sample_count_per_shard_each_with_its_own_symbols() {
    let snap = many_series();
    let all = requests(&snap, 7, 3);
    let mut lines = Vec::new();
    for (shard, request, carried) in &all {
        assert!(*shard < 3);
        assert!(carried.samples <= 7 && carried.samples == request.timeseries.len());
        assert_symbols_well_formed(request);
        // Only the strings its own series use (the shared ones and one `i` value each).
        let used: std::collections::HashSet<u32> = request
            .timeseries
            .iter()
            .flat_map(|ts| {
                let m = ts.metadata.unwrap_or_default();
                ts.labels_refs
                    .iter()
                    .copied()
                    .chain([m.help_ref, m.unit_ref])
            })
            .chain([0])
            .collect();
        assert_eq!(used.len(), request.symbols.len());
        lines.extend(v2_exposition(request));
    }
    lines.sort();
    let mut want = v2_exposition(&only(&snap));
    want.sort();
    assert_eq!(lines, want);
    // A series stays in its shard.
    let shard_of = |all: &[(usize, v2::Request, Carried)], series: &str| {
        all.iter()
            .find(|(_, r, _)| v2_exposition(r).iter().any(|l| l.contains(series)))
            .map(|(s, _, _)| *s)
    };
    let again = requests(&snap, 7, 3);
    for i in 0..40 {
        let series = format!("i=\"{i}\"");
        assert_eq!(shard_of(&all, &series), shard_of(&again, &series));
    }
}

#[test]
fn halves_carry_every_series_once_each_with_its_own_symbols() {
    let request = only(&many_series());
    let (count, cut) = halves(&request.encode_to_vec()).unwrap();
    assert_eq!(count, 40);
    let [a, b] = cut.unwrap();
    let (a, b) = (
        (v2::Request::decode(a.0.as_slice()).unwrap(), a.1),
        (v2::Request::decode(b.0.as_slice()).unwrap(), b.1),
    );
    assert_eq!((a.1.samples, b.1.samples), (20, 20));
    assert_symbols_well_formed(&a.0);
    assert_symbols_well_formed(&b.0);
    let mut joined = v2_exposition(&a.0);
    joined.extend(v2_exposition(&b.0));
    assert_eq!(joined, v2_exposition(&request));
    assert_eq!(
        v2_metadata(&a.0)[0],
        r#"c_total METRIC_TYPE_COUNTER "" "about c" start=0"#
    );
    let one = only(&bare(vec![counter(
        1,
        "c",
        vec![number(&[], Number::U64(1))],
    )]));
    assert!(halves(&one.encode_to_vec()).unwrap().1.is_none());
}

#[test]
fn the_1_0_form_of_a_request_is_what_remote_write_1_sends() {
    let snap = started_snapshot();
    let mut v1 = WriteRequestEncoder::new();
    Translator::new().translate(&snap, &mut v1);
    let want = proto::WriteRequest::decode(v1.protobuf()).unwrap();
    let (body, samples) = as_v1(&only(&snap).encode_to_vec()).unwrap();
    let got = proto::WriteRequest::decode(body.as_slice()).unwrap();
    assert_eq!(samples, want.timeseries.len());
    assert_eq!(decoded_exposition(&got), decoded_exposition(&want));
    let families = |r: &proto::WriteRequest| {
        let mut m: Vec<String> = r
            .metadata
            .iter()
            .map(|m| {
                format!(
                    "{} {} {:?} {:?}",
                    m.metric_family_name, m.r#type, m.unit, m.help
                )
            })
            .collect();
        m.sort();
        m
    };
    assert_eq!(families(&got), families(&want));
}

#[test]
fn a_body_decodes_and_garbage_is_an_error() {
    let request = only(&many_series()).encode_to_vec();
    let body = snap::raw::Encoder::new().compress_vec(&request).unwrap();
    assert_eq!(decode(&body, 1 << 20).unwrap().timeseries.len(), 40);
    assert!(decode(&body, 10).is_err());
    assert!(decode(b"hello", 1 << 20).is_err());
    assert!(as_v1(b"\xff\xff").is_err());
}

#[test]
fn stale_markers_end_every_series_in_2_0_too() {
    use crate::prometheus::stale::{StaleMarkers, STALE_NAN_BITS};
    let snap = many_series();
    let mut encoder = RequestV2Encoder::new();
    let series = Translator::new().translate(&snap, &mut StaleMarkers(&mut encoder));
    assert_eq!(series, 40);
    let mut got = Vec::new();
    encoder
        .requests(
            usize::MAX,
            |_| 1,
            |_, p, c| {
                got.push((v2::Request::decode(p).unwrap(), c));
                Ok(())
            },
        )
        .unwrap();
    let (request, carried) = &got[0];
    assert_eq!(carried.samples, 40);
    assert_symbols_well_formed(request);
    for ts in &request.timeseries {
        assert_eq!(ts.samples[0].value.to_bits(), STALE_NAN_BITS);
    }
}

#[test]
fn a_utf8_strategy_keeps_the_opentelemetry_names_of_metrics_and_labels() {
    use crate::NameTranslation;
    let orders = counter(
        1,
        "shop.orders",
        vec![number(&[KeyValue::new("http.route", "/a")], Number::U64(3))],
    );
    let snap = bare(vec![orders]);
    let lines = |strategy| {
        let mut translator = Translator::new();
        translator.set_name_translation(strategy);
        let mut c = Collect::default();
        translator.translate(&snap, &mut c);
        exposition(&c)
    };
    assert_eq!(
        lines(NameTranslation::NoTranslation),
        [r#"shop.orders{http.route="/a"} 3"#]
    );
    assert_eq!(
        lines(NameTranslation::NoUTF8EscapingWithSuffixes),
        [r#"shop.orders_total{http.route="/a"} 3"#]
    );
    assert_eq!(
        lines(NameTranslation::UnderscoreEscapingWithoutSuffixes),
        [r#"shop_orders{http_route="/a"} 3"#]
    );
    assert_eq!(
        lines(NameTranslation::UnderscoreEscapingWithSuffixes),
        [r#"shop_orders_total{http_route="/a"} 3"#]
    );
}

/// Every request of one push through `translator` and `encoder`, decoded.
fn push(
    translator: &mut Translator,
    encoder: &mut RequestV2Encoder,
    snap: &Snapshot,
) -> Vec<v2::Request> {
    encoder.clear();
    translator.translate(snap, encoder);
    let mut out = Vec::new();
    encoder
        .requests(
            7,
            |_| 2,
            |_, p, _| {
                out.push(v2::Request::decode(p).unwrap());
                Ok(())
            },
        )
        .unwrap();
    out
}

#[test]
fn a_reused_encoder_writes_what_a_fresh_one_writes_from_its_cache() {
    // Another instrument (id 9) in between: the first one's cache is evicted.
    let points = (0..40)
        .map(|i| number(&[KeyValue::new("i", i.to_string())], Number::U64(i)))
        .collect();
    let other = bare(vec![counter(9, "d", points)]);
    let snaps = [started_snapshot(), other, started_snapshot()];
    let (mut translator, mut encoder) = (Translator::new(), RequestV2Encoder::new());
    for snap in &snaps {
        // Twice each: the second push of a snapshot is written from the cache.
        for _ in 0..2 {
            let got = push(&mut translator, &mut encoder, snap);
            let want = push(&mut Translator::new(), &mut RequestV2Encoder::new(), snap);
            assert_eq!(got, want);
            got.iter().for_each(assert_symbols_well_formed);
        }
    }
}
