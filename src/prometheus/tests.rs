//! Translation and encoding tests over hand-built snapshots.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;

use super::encode::{decode, WriteRequestEncoder};
use super::translate::{Collisions, Labels, Metadata, MetricType, SeriesSink, Translator};
use crate::snapshot::*;

type Owned = (Vec<(String, String)>, f64, i64);

#[derive(Default)]
struct Collect {
    series: Vec<Owned>,
    metadata: Vec<(MetricType, String, String, String)>,
}

impl SeriesSink for Collect {
    fn metadata(&mut self, m: &Metadata<'_>) {
        self.metadata.push((
            m.kind,
            m.family.to_owned(),
            m.help.to_owned(),
            m.unit.to_owned(),
        ));
    }
    fn series(&mut self, labels: &Labels<'_>, value: f64, ts: i64) {
        let labels = labels
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        self.series.push((labels, value, ts));
    }
}

impl Collect {
    fn find(&self, name: &str) -> Vec<&Owned> {
        self.series
            .iter()
            .filter(|s| s.0.iter().any(|(n, v)| n == "__name__" && v == name))
            .collect()
    }
    fn one(&self, name: &str) -> &Owned {
        let found = self.find(name);
        assert_eq!(found.len(), 1, "series {name}: {:#?}", self.series);
        found[0]
    }
}

fn label<'a>(series: &'a Owned, name: &str) -> Option<&'a str> {
    series
        .0
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The remote-write rules every series must follow.
fn assert_well_formed(c: &Collect) {
    for (labels, _, _) in &c.series {
        assert!(
            labels.windows(2).all(|w| w[0].0 < w[1].0),
            "sorted, unique: {labels:?}"
        );
        assert!(labels.iter().any(|(n, _)| n == "__name__"), "{labels:?}");
        for (n, v) in labels {
            assert!(!v.is_empty(), "empty value: {labels:?}");
            let mut chars = n.chars();
            let first = chars.next().expect("non-empty name");
            assert!(first.is_ascii_alphabetic() || first == '_', "{n}");
            assert!(chars.all(|c| c.is_ascii_alphanumeric() || c == '_'), "{n}");
            assert!(n == "__name__" || !n.starts_with("__"), "reserved {n}");
        }
    }
}

const T: Duration = Duration::from_millis(1_700_000_000_123);

fn metric(
    id: u64,
    name: &str,
    unit: &str,
    kind: InstrumentKind,
    data: MetricData,
) -> MetricSnapshot {
    MetricSnapshot {
        descriptor: Arc::new(Descriptor {
            id,
            name: name.to_owned().into(),
            description: format!("about {name}").into(),
            unit: unit.to_owned().into(),
            kind,
            number: NumberKind::F64,
        }),
        start_time: UNIX_EPOCH,
        time: UNIX_EPOCH + T,
        data,
        rejected_measurements: 0,
    }
}

fn snapshot(resource: Resource, metrics: Vec<MetricSnapshot>) -> Snapshot {
    Snapshot {
        resource,
        time: UNIX_EPOCH + T + Duration::from_millis(1),
        scopes: vec![ScopeSnapshot {
            scope: InstrumentationScope::builder("test").build(),
            metrics,
        }],
    }
}

fn service() -> Resource {
    Resource::builder_empty()
        .with_attributes([
            KeyValue::new("service.name", "checkout"),
            KeyValue::new("service.namespace", "shop"),
            KeyValue::new("service.instance.id", "pod-1"),
            KeyValue::new("host.name", "h1"),
            KeyValue::new("k8s.pod.uid", 42i64),
        ])
        .build()
}

fn number(attrs: &[KeyValue], value: Number) -> NumberPoint {
    NumberPoint {
        attributes: Attributes::new(attrs),
        value,
    }
}

fn sum(monotonic: bool, points: Vec<NumberPoint>) -> MetricData {
    MetricData::Sum { monotonic, points }
}

fn translate(snap: &Snapshot) -> Collect {
    let mut c = Collect::default();
    let n = Translator::new().translate(snap, &mut c);
    assert_eq!(n, c.series.len());
    assert_well_formed(&c);
    c
}

#[test]
fn counter_gets_total_job_instance_and_time() {
    let snap = snapshot(
        service(),
        vec![metric(
            1,
            "MyCounter",
            "1",
            InstrumentKind::Counter,
            sum(
                true,
                vec![number(&[KeyValue::new("method", "GET")], Number::U64(7))],
            ),
        )],
    );
    let c = translate(&snap);
    let s = c.one("MyCounter_total");
    assert_eq!(
        s.0,
        [
            ("__name__", "MyCounter_total"),
            ("instance", "pod-1"),
            ("job", "shop/checkout"),
            ("method", "GET"),
            ("otel_scope_name", "test")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    assert_eq!(s.1, 7.0);
    assert_eq!(s.2, 1_700_000_000_123);
    assert!(c.metadata.contains(&(
        MetricType::Counter,
        "MyCounter_total".into(),
        "about MyCounter".into(),
        String::new()
    )));
}

#[test]
fn target_info_carries_other_resource_attributes_once() {
    let snap = snapshot(
        service(),
        vec![
            metric(
                1,
                "a",
                "",
                InstrumentKind::Gauge,
                MetricData::Gauge {
                    points: vec![number(&[], Number::I64(-1))],
                },
            ),
            metric(
                2,
                "b",
                "",
                InstrumentKind::Gauge,
                MetricData::Gauge {
                    points: vec![number(&[], Number::I64(2))],
                },
            ),
        ],
    );
    let c = translate(&snap);
    let info = c.one("target_info");
    assert_eq!(info.1, 1.0);
    assert_eq!(info.2, 1_700_000_000_124, "snapshot time");
    assert_eq!(label(info, "host_name"), Some("h1"));
    assert_eq!(label(info, "k8s_pod_uid"), Some("42"));
    assert_eq!(label(info, "job"), Some("shop/checkout"));
    assert_eq!(label(info, "instance"), Some("pod-1"));
    assert_eq!(label(info, "service_name"), None);
    // Only job/instance go on the metric series.
    assert_eq!(label(c.one("a"), "host_name"), None);
    assert_eq!(c.one("a").1, -1.0);
}

#[test]
fn no_service_means_no_job_instance_or_target_info() {
    let snap = snapshot(
        Resource::builder_empty().build(),
        vec![metric(
            1,
            "g",
            "",
            InstrumentKind::Gauge,
            MetricData::Gauge {
                points: vec![number(&[], Number::F64(1.5))],
            },
        )],
    );
    let c = translate(&snap);
    assert_eq!(c.series.len(), 1);
    // `__name__` and the scope.
    assert_eq!(c.series[0].0.len(), 2);
    // service.name alone is the job.
    let snap = snapshot(
        Resource::builder_empty()
            .with_attribute(KeyValue::new("service.name", "svc"))
            .build(),
        snap.scopes[0].metrics.clone(),
    );
    let c = translate(&snap);
    assert_eq!(label(c.one("g"), "job"), Some("svc"));
    assert_eq!(label(c.one("g"), "instance"), None);
    assert!(c.find("target_info").is_empty());
}

#[test]
fn histogram_buckets_are_cumulative_with_inf() {
    let snap = snapshot(
        Resource::builder_empty().build(),
        vec![metric(
            3,
            "http.server.request.duration",
            "s",
            InstrumentKind::Histogram,
            MetricData::Histogram {
                bounds: Arc::from([0.005, 2.5, 1e6]),
                points: vec![HistogramPoint {
                    attributes: Attributes::new(&[KeyValue::new("route", "/x")]),
                    count: 10,
                    sum: 7.25,
                    min: Some(0.001),
                    max: Some(2e6),
                    bucket_counts: vec![1, 2, 3, 4],
                }],
            },
        )],
    );
    let c = translate(&snap);
    let base = "http_server_request_duration_seconds";
    let buckets = c.find(&format!("{base}_bucket"));
    let got: Vec<(&str, f64)> = buckets
        .iter()
        .map(|s| (label(s, "le").unwrap(), s.1))
        .collect();
    assert_eq!(
        got,
        [("0.005", 1.0), ("2.5", 3.0), ("1e+06", 6.0), ("+Inf", 10.0)]
    );
    assert!(buckets.iter().all(|s| label(s, "route") == Some("/x")));
    assert_eq!(c.one(&format!("{base}_sum")).1, 7.25);
    assert_eq!(c.one(&format!("{base}_count")).1, 10.0);
    assert_eq!(label(c.one(&format!("{base}_sum")), "le"), None);
    assert_eq!(
        c.metadata,
        [(
            MetricType::Histogram,
            base.to_owned(),
            "about http.server.request.duration".to_owned(),
            "seconds".to_owned()
        )]
    );
}

#[test]
fn histogram_inf_is_the_count_even_if_buckets_disagree() {
    let snap = snapshot(
        Resource::builder_empty().build(),
        vec![metric(
            4,
            "h",
            "",
            InstrumentKind::Histogram,
            MetricData::Histogram {
                bounds: Arc::from([1.0]),
                points: vec![HistogramPoint {
                    attributes: Attributes::new(&[KeyValue::new("le", "user")]),
                    count: 5,
                    sum: 1.0,
                    min: None,
                    max: None,
                    bucket_counts: vec![2], // malformed: one entry short
                }],
            },
        )],
    );
    let c = translate(&snap);
    let buckets = c.find("h_bucket");
    assert_eq!(buckets.len(), 2);
    assert_eq!(buckets[1].1, 5.0);
    // A user `le` on a histogram does not fight the bucket label.
    assert!(buckets
        .iter()
        .all(|s| label(s, "exported_le") == Some("user")));
    assert_eq!(label(c.one("h_count"), "exported_le"), Some("user"));
}

#[test]
fn colliding_and_reserved_attributes() {
    let attrs = [
        KeyValue::new("a.b", "x"),
        KeyValue::new("a_b", "y"),
        KeyValue::new("a-b", "z"),
        KeyValue::new("job", "mine"),
        KeyValue::new("instance", "me"),
        KeyValue::new("le", "0.5"),
        KeyValue::new("__name__", "evil"),
        KeyValue::new("", "no key"),
        KeyValue::new("empty", ""),
        KeyValue::new("9lives", true),
        KeyValue::new("größe", 1.5),
        KeyValue::new("Zeta", "upper"),
        KeyValue::new("otel.metric.overflow", true),
    ];
    let resource = Resource::builder_empty()
        .with_attribute(KeyValue::new("service.name", "svc"))
        .build();
    let snap = snapshot(
        resource,
        vec![metric(
            5,
            "g",
            "",
            InstrumentKind::Gauge,
            MetricData::Gauge {
                points: vec![number(&attrs, Number::F64(f64::NAN))],
            },
        )],
    );
    let c = translate(&snap);
    let s = c.one("g");
    assert!(s.1.is_nan(), "NaN is sent as is");
    let names: Vec<&str> = s.0.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Zeta",
            "__name__",
            "a_b",
            "exported_job",
            "gr__e",
            "instance",
            "job",
            "key_9lives",
            "key__name__",
            "le",
            "otel_metric_overflow",
            "otel_scope_name"
        ]
    );
    // Sorted by original key: "a-b" < "a.b" < "a_b".
    assert_eq!(label(s, "a_b"), Some("z;x;y"));
    assert_eq!(label(s, "job"), Some("svc"));
    assert_eq!(label(s, "exported_job"), Some("mine"));
    // No instance in the resource: the attribute keeps its name.
    assert_eq!(label(s, "instance"), Some("me"));
    assert_eq!(label(s, "le"), Some("0.5"));
    assert_eq!(label(s, "key__name__"), Some("evil"));
    assert_eq!(label(s, "key_9lives"), Some("true"));
    assert_eq!(label(s, "gr__e"), Some("1.5"));
    assert_eq!(label(s, "otel_metric_overflow"), Some("true"));
}

#[test]
fn kinds_and_metadata() {
    let p = || vec![number(&[], Number::I64(3))];
    let snap = snapshot(
        Resource::builder_empty().build(),
        vec![
            metric(
                1,
                "requests_active",
                "{request}",
                InstrumentKind::UpDownCounter,
                sum(false, p()),
            ),
            metric(
                2,
                "cpu.utilization",
                "1",
                InstrumentKind::ObservableGauge,
                MetricData::Gauge { points: p() },
            ),
            metric(
                3,
                "jobs_total",
                "1",
                InstrumentKind::ObservableCounter,
                sum(true, p()),
            ),
            metric(
                4,
                "net.rate",
                "By/s",
                InstrumentKind::Gauge,
                MetricData::Gauge { points: p() },
            ),
            metric(
                5,
                "process.memory.usage",
                "By",
                InstrumentKind::Gauge,
                MetricData::Gauge { points: p() },
            ),
            // No points: no series and no metadata.
            metric(6, "idle", "", InstrumentKind::Counter, sum(true, vec![])),
        ],
    );
    let c = translate(&snap);
    let meta: Vec<(MetricType, &str, &str)> = c
        .metadata
        .iter()
        .map(|(k, f, _, u)| (*k, f.as_str(), u.as_str()))
        .collect();
    assert_eq!(
        meta,
        [
            (MetricType::Gauge, "requests_active", ""),
            (MetricType::Gauge, "cpu_utilization_ratio", "ratio"),
            (MetricType::Counter, "jobs_total", ""),
            (
                MetricType::Gauge,
                "net_rate_bytes_per_second",
                "bytes_per_second"
            ),
            (MetricType::Gauge, "process_memory_usage_bytes", "bytes"),
        ]
    );
    assert_eq!(c.series.len(), 5);
}

#[test]
fn one_family_is_described_once_across_scopes() {
    let m = |id| {
        metric(
            id,
            "dup",
            "",
            InstrumentKind::Gauge,
            MetricData::Gauge {
                points: vec![number(&[KeyValue::new("id", id as i64)], Number::I64(1))],
            },
        )
    };
    let mut snap = snapshot(Resource::builder_empty().build(), vec![m(1)]);
    snap.scopes.push(ScopeSnapshot {
        scope: InstrumentationScope::builder("other").build(),
        metrics: vec![m(2)],
    });
    let c = translate(&snap);
    assert_eq!(c.metadata.len(), 1);
    assert_eq!(c.find("dup").len(), 2);
}

#[test]
fn translator_reuse_gives_the_same_output() {
    let snap = sample_snapshot();
    let mut t = Translator::new();
    let (mut a, mut b) = (Collect::default(), Collect::default());
    t.translate(&snap, &mut a);
    t.translate(&snap, &mut b);
    assert_eq!(a.series.len(), b.series.len());
    for (x, y) in a.series.iter().zip(&b.series) {
        assert_eq!(x.0, y.0);
    }
    assert_eq!(a.metadata, b.metadata);
}

fn sample_snapshot() -> Snapshot {
    snapshot(
        service(),
        vec![
            metric(
                1,
                "MyCounter",
                "1",
                InstrumentKind::Counter,
                sum(
                    true,
                    vec![
                        number(&[KeyValue::new("method", "GET")], Number::U64(7)),
                        number(
                            &[KeyValue::new("method", "POST"), KeyValue::new("ok", false)],
                            Number::U64(1),
                        ),
                    ],
                ),
            ),
            metric(
                2,
                "lat",
                "ms",
                InstrumentKind::Histogram,
                MetricData::Histogram {
                    bounds: Arc::from([10.0, 100.0]),
                    points: vec![HistogramPoint {
                        attributes: Attributes::new(&[KeyValue::new("path", "/ü")]),
                        count: 3,
                        sum: 120.5,
                        min: Some(1.0),
                        max: Some(110.0),
                        bucket_counts: vec![1, 1, 1],
                    }],
                },
            ),
        ],
    )
}

#[test]
fn encode_decode_round_trip() {
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
        assert_eq!(got.timeseries.len(), want.series.len());
        for (ts, (labels, value, time)) in got.timeseries.iter().zip(&want.series) {
            let got_labels: Vec<(String, String)> = ts
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            assert_eq!(&got_labels, labels);
            assert_eq!(ts.samples.len(), 1);
            assert_eq!(ts.samples[0].value, *value);
            assert_eq!(ts.samples[0].timestamp, *time);
        }
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
    let snap = snapshot(Resource::builder_empty().build(), vec![m]);
    let mut enc = WriteRequestEncoder::new();
    Translator::new().translate(&snap, &mut enc);
    let got = decode(enc.finish().unwrap(), 1 << 20).unwrap();
    assert_eq!(got.timeseries[0].samples[0].timestamp, -5);
    assert_eq!(got.timeseries[0].samples[0].value, f64::INFINITY);
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

/// Series as exposition lines, `name{label="value",…} value`, sorted; `__name__` is
/// the name and the scope labels of the test scope are left out for brevity.
fn exposition(c: &Collect) -> Vec<String> {
    let mut lines: Vec<String> = c
        .series
        .iter()
        .map(|series| {
            let (labels, value, _) = series;
            let name = label(series, "__name__").unwrap_or_default();
            let rest: Vec<String> = labels
                .iter()
                .filter(|(n, v)| n != "__name__" && !(n == "otel_scope_name" && v == "test"))
                .map(|(n, v)| format!("{n}={v:?}"))
                .collect();
            format!("{name}{{{}}} {value}", rest.join(","))
        })
        .collect();
    lines.sort();
    lines
}

fn counter(id: u64, name: &str, points: Vec<NumberPoint>) -> MetricSnapshot {
    metric(id, name, "", InstrumentKind::Counter, sum(true, points))
}

fn gauge(id: u64, name: &str, points: Vec<NumberPoint>) -> MetricSnapshot {
    metric(
        id,
        name,
        "",
        InstrumentKind::Gauge,
        MetricData::Gauge { points },
    )
}

fn histogram(id: u64, name: &str, bounds: &[f64], counts: &[u64], sum: f64) -> MetricSnapshot {
    metric(
        id,
        name,
        "",
        InstrumentKind::Histogram,
        MetricData::Histogram {
            bounds: bounds.to_vec().into(),
            points: vec![HistogramPoint {
                attributes: Attributes::new(&[]),
                count: counts.iter().sum(),
                sum,
                min: None,
                max: None,
                bucket_counts: counts.to_vec(),
            }],
        },
    )
}

fn scoped(scopes: Vec<(InstrumentationScope, Vec<MetricSnapshot>)>) -> Snapshot {
    Snapshot {
        resource: Resource::builder_empty().build(),
        time: UNIX_EPOCH + T,
        scopes: scopes
            .into_iter()
            .map(|(scope, metrics)| ScopeSnapshot { scope, metrics })
            .collect(),
    }
}

fn translate_with(translator: &mut Translator, snap: &Snapshot) -> Collect {
    let mut c = Collect::default();
    let n = translator.translate(snap, &mut c);
    assert_eq!(n, c.series.len());
    assert_well_formed(&c);
    c
}

#[test]
fn two_meters_with_one_instrument_name_make_two_series_with_scope_labels() {
    let lib = |name: &str, version: Option<&'static str>| {
        let b = InstrumentationScope::builder(name.to_owned());
        match version {
            Some(v) => b.with_version(v).build(),
            None => b.build(),
        }
    };
    let snap = scoped(vec![
        (
            lib("lib-a", Some("1.2")),
            vec![counter(1, "requests", vec![number(&[], Number::U64(3))])],
        ),
        (
            lib("lib-b", None),
            vec![counter(2, "requests", vec![number(&[], Number::U64(4))])],
        ),
    ]);
    let c = translate_with(&mut Translator::new(), &snap);
    assert_eq!(
        exposition(&c),
        [
            r#"requests_total{otel_scope_name="lib-a",otel_scope_version="1.2"} 3"#,
            r#"requests_total{otel_scope_name="lib-b"} 4"#,
        ]
    );
    // Without scope labels, the two are one series: their sums add.
    let mut off = Translator::new();
    off.set_scope_labels(false);
    let c = translate_with(&mut off, &snap);
    assert_eq!(exposition(&c), ["requests_total{} 7"]);
    assert_eq!(off.collisions().merged_points, 1);
}

#[test]
fn target_info_carries_no_scope_labels_and_attributes_cannot_fake_them() {
    let attrs = [KeyValue::new("otel.scope.name", "fake")];
    let snap = snapshot(
        service(),
        vec![gauge(1, "g", vec![number(&attrs, Number::I64(1))])],
    );
    let c = translate_with(&mut Translator::new(), &snap);
    assert_eq!(label(c.one("target_info"), "otel_scope_name"), None);
    let g = c.one("g");
    assert_eq!(label(g, "otel_scope_name"), Some("test"));
    assert_eq!(label(g, "exported_otel_scope_name"), Some("fake"));
}

#[test]
fn points_that_translate_to_one_series_are_merged() {
    let empty = || vec![KeyValue::new("route", "")];
    let cases: Vec<(Vec<MetricSnapshot>, Vec<&str>)> = vec![
        // An empty value is no label: `route=""` and no route are one series.
        (
            vec![counter(
                1,
                "c",
                vec![
                    number(&[], Number::U64(1)),
                    number(&empty(), Number::U64(5)),
                ],
            )],
            vec!["c_total{} 6"],
        ),
        // Keys equal after sanitising, one set each.
        (
            vec![counter(
                1,
                "c",
                vec![
                    number(&[KeyValue::new("a.b", "x")], Number::U64(2)),
                    number(&[KeyValue::new("a_b", "x")], Number::U64(3)),
                    number(&[KeyValue::new("a_b", "y")], Number::U64(4)),
                ],
            )],
            vec![r#"c_total{a_b="x"} 5"#, r#"c_total{a_b="y"} 4"#],
        ),
        // Two instruments of one kind whose names translate alike (unit words).
        (
            vec![
                metric(
                    1,
                    "d",
                    "s",
                    InstrumentKind::Counter,
                    sum(true, vec![number(&[], Number::F64(1.5))]),
                ),
                counter(2, "d_seconds", vec![number(&[], Number::F64(2.0))]),
            ],
            vec!["d_seconds_total{} 3.5"],
        ),
        // Histograms of the same bounds add bucket by bucket.
        (
            vec![
                histogram(1, "h", &[1.0], &[1, 2], 9.0),
                histogram(2, "h", &[1.0], &[3, 0], 1.0),
            ],
            vec![
                r#"h_bucket{le="+Inf"} 6"#,
                r#"h_bucket{le="1"} 4"#,
                "h_count{} 6",
                "h_sum{} 10",
            ],
        ),
        // Other bounds cannot merge: the first registered is sent.
        (
            vec![
                histogram(1, "h", &[1.0], &[1, 2], 9.0),
                histogram(2, "h", &[5.0], &[3, 0], 1.0),
            ],
            vec![
                r#"h_bucket{le="+Inf"} 3"#,
                r#"h_bucket{le="1"} 1"#,
                "h_count{} 3",
                "h_sum{} 9",
            ],
        ),
    ];
    for (metrics, want) in cases {
        let c = translate_with(
            &mut Translator::new(),
            &snapshot(Resource::builder_empty().build(), metrics),
        );
        assert_eq!(exposition(&c), want);
    }
}

#[test]
fn collisions_are_counted_per_push() {
    let mut t = Translator::new();
    let snap = snapshot(
        Resource::builder_empty().build(),
        vec![
            counter(1, "jobs", vec![number(&[], Number::U64(1))]),
            gauge(2, "jobs_total", vec![number(&[], Number::I64(9))]),
            histogram(3, "h", &[1.0], &[1, 0], 0.5),
            histogram(4, "h", &[2.0, 3.0], &[1, 0, 0], 0.5),
            counter(
                5,
                "c",
                vec![
                    number(&[], Number::U64(1)),
                    number(&[KeyValue::new("x", "")], Number::U64(1)),
                ],
            ),
        ],
    );
    for _ in 0..2 {
        let c = translate_with(&mut t, &snap);
        // The counter registered first keeps `jobs_total`; the gauge's point is dropped.
        assert_eq!(c.find("jobs_total").len(), 1);
        assert_eq!(c.one("jobs_total").1, 1.0);
        assert_eq!(
            t.collisions(),
            Collisions {
                merged_points: 1,
                type_conflict_series: 1,
                unmergeable_series: 5,
            }
        );
    }
}

#[test]
fn a_gauge_family_keeps_the_member_that_changed() {
    let mut t = Translator::new();
    let push = |t: &mut Translator, a: f64, b: f64| {
        let snap = snapshot(
            Resource::builder_empty().build(),
            vec![gauge(
                1,
                "temp",
                vec![
                    number(&[], Number::F64(a)),
                    number(&[KeyValue::new("room", "")], Number::F64(b)),
                ],
            )],
        );
        translate_with(t, &snap).one("temp").1
    };
    assert_eq!(push(&mut t, 1.0, 2.0), 1.0);
    assert_eq!(push(&mut t, 1.0, 7.0), 7.0);
    assert_eq!(push(&mut t, 1.0, 7.0), 7.0);
    assert_eq!(push(&mut t, 4.0, 7.0), 4.0);
}

#[test]
fn merged_values_reach_the_wire_in_every_push() {
    let mut t = Translator::new();
    let mut encoder = WriteRequestEncoder::new();
    for round in 1..=3u64 {
        let snap = snapshot(
            service(),
            vec![counter(
                1,
                "c",
                vec![
                    number(&[], Number::U64(round)),
                    number(&[KeyValue::new("route", "")], Number::U64(10 * round)),
                    number(&[KeyValue::new("route", "/a")], Number::U64(100)),
                ],
            )],
        );
        encoder.clear();
        t.translate(&snap, &mut encoder);
        let request = decode(encoder.finish().unwrap(), 1 << 20).unwrap();
        let values: Vec<(Option<String>, f64)> = request
            .timeseries
            .iter()
            .filter(|s| s.labels.iter().any(|l| l.value == "c_total"))
            .map(|s| {
                let route = s
                    .labels
                    .iter()
                    .find(|l| l.name == "route")
                    .map(|l| l.value.clone());
                (route, s.samples[0].value)
            })
            .collect();
        assert_eq!(
            values,
            [(None, 11.0 * round as f64), (Some("/a".into()), 100.0)]
        );
    }
}
