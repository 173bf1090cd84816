//! Translation and encoding tests over hand-built snapshots, one file per subject:
//! [`kinds`] (names, values and metadata of each instrument kind), [`resource`] (`job`,
//! `instance`, `target_info`, scope labels), [`attributes`] (label names from attribute
//! keys), [`merging`] (points that translate to one series), [`encoding`] (the wire
//! format, buffer and cache reuse) and [`encoding_v2`] (remote write 2.0).
//!
//! Expected output is written as exposition text, one line per series
//! (`name{label="value",…} value`), as VictoriaMetrics' `testMarshalTo` does: see
//! [`exposition`] and [`exposition_timed`]. This file holds the shared pieces: the
//! collecting sink, the renderers and the snapshot builders.

mod attributes;
mod encoding;
mod encoding_v2;
mod exponential;
mod exposition;
mod exposition_exemplars;
mod kinds;
mod merging;
mod resource;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;

use super::naming::write_float;
use super::proto;
use super::translate::{Labels, Metadata, MetricType, NativeSample, SeriesSink, Translator};
use crate::snapshot::*;

/// One translated series: its labels (`__name__` among them) in the order given, its
/// value and timestamp.
struct Owned {
    labels: Vec<(String, String)>,
    value: f64,
    timestamp: i64,
}

/// A sink that keeps everything the translator gives it, in order.
#[derive(Default)]
struct Collect {
    series: Vec<Owned>,
    /// The native histograms, in order (each also in `series`, valued its count).
    native: Vec<ExponentialHistogramPoint>,
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
        self.series.push(Owned {
            labels,
            value,
            timestamp: ts,
        });
    }
    /// Kept as a series whose value is the count, and whole in `native`.
    fn native_histogram(&mut self, labels: &Labels<'_>, sample: NativeSample<'_>) {
        self.series(labels, sample.point.count as f64, sample.timestamp_ms);
        self.native.push(sample.point.clone());
    }
}

/// The label of the test scope, left out of [`exposition`] for brevity.
const TEST_SCOPE: (&str, &str) = ("otel_scope_name", "test");

/// One series as an exposition line: `name{label="value",…} value`, or `name value`
/// without labels; label values escaped and the value written as Prometheus (Go) writes
/// it; ` timestamp` appended when given. `keep` chooses the labels besides the name.
fn line<'a>(
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    value: f64,
    timestamp: Option<i64>,
    keep: impl Fn(&str, &str) -> bool,
) -> String {
    let mut name = "";
    let mut rest = Vec::new();
    for (n, v) in labels {
        if n == "__name__" {
            name = v;
        } else if keep(n, v) {
            let escaped = v
                .replace('\\', r"\\")
                .replace('"', r#"\""#)
                .replace('\n', r"\n");
            rest.push(format!("{n}=\"{escaped}\""));
        }
    }
    let mut out = name.to_owned();
    if !rest.is_empty() {
        out.push('{');
        out.push_str(&rest.join(","));
        out.push('}');
    }
    out.push(' ');
    write_float(&mut out, value);
    if let Some(timestamp) = timestamp {
        out.push_str(&format!(" {timestamp}"));
    }
    out
}

/// The translated series as exposition lines without timestamps, sorted by name (the
/// series of one name in the order translated, so buckets stay in `le` order); the test
/// scope's `otel_scope_name="test"` is left out.
fn exposition(c: &Collect) -> Vec<String> {
    let mut series: Vec<&Owned> = c.series.iter().collect();
    series.sort_by_key(|s| name_of(s));
    series
        .iter()
        .map(|s| {
            let labels = s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            line(labels, s.value, None, |n, v| (n, v) != TEST_SCOPE)
        })
        .collect()
}

/// The translated series as exposition lines with every label and their timestamps, in
/// the order translated.
fn exposition_timed(c: &Collect) -> Vec<String> {
    c.series
        .iter()
        .map(|s| {
            let labels = s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()));
            line(labels, s.value, Some(s.timestamp), |_, _| true)
        })
        .collect()
}

/// The series of a decoded request as [`exposition_timed`] writes them, in the order
/// sent (one line per sample).
fn decoded_exposition(request: &proto::WriteRequest) -> Vec<String> {
    request
        .timeseries
        .iter()
        .flat_map(|ts| {
            ts.samples.iter().map(|sample| {
                let labels = ts
                    .labels
                    .iter()
                    .map(|l| (l.name.as_str(), l.value.as_str()));
                line(labels, sample.value, Some(sample.timestamp), |_, _| true)
            })
        })
        .collect()
}

/// The metadata, one family a line: `family type "unit" "help"`, in the order given.
fn metadata(c: &Collect) -> Vec<String> {
    c.metadata
        .iter()
        .map(|(kind, family, help, unit)| {
            let kind = match kind {
                MetricType::Unknown => "unknown",
                MetricType::Counter => "counter",
                MetricType::Gauge => "gauge",
                MetricType::Histogram => "histogram",
                MetricType::GaugeHistogram => "gaugehistogram",
                MetricType::Summary => "summary",
                MetricType::Info => "info",
                MetricType::StateSet => "stateset",
            };
            format!("{family} {kind} {unit:?} {help:?}")
        })
        .collect()
}

fn name_of(series: &Owned) -> &str {
    series
        .labels
        .iter()
        .find(|(n, _)| n == "__name__")
        .map_or("", |(_, v)| v.as_str())
}

/// The remote-write rules every series must follow.
fn assert_well_formed(c: &Collect) {
    for Owned { labels, .. } in &c.series {
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

/// Translates with a fresh translator; checks the count and the remote-write rules.
fn translate(snap: &Snapshot) -> Collect {
    translate_with(&mut Translator::new(), snap)
}

/// Translates with `translator`; checks the count and the remote-write rules.
fn translate_with(translator: &mut Translator, snap: &Snapshot) -> Collect {
    let mut c = Collect::default();
    let n = translator.translate(snap, &mut c);
    assert_eq!(n, c.series.len());
    assert_well_formed(&c);
    c
}

/// The metrics' time: 1_700_000_000_123 ms after the epoch. Snapshots are taken 1 ms
/// later.
const T: Duration = Duration::from_millis(1_700_000_000_123);

/// A metric of an `f64` instrument described as `about <name>`, collected at [`T`].
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

/// A unitless counter.
fn counter(id: u64, name: &str, points: Vec<NumberPoint>) -> MetricSnapshot {
    metric(id, name, "", InstrumentKind::Counter, sum(true, points))
}

/// A unitless gauge.
fn gauge(id: u64, name: &str, points: Vec<NumberPoint>) -> MetricSnapshot {
    metric(
        id,
        name,
        "",
        InstrumentKind::Gauge,
        MetricData::Gauge { points },
    )
}

/// A unitless histogram of one point without attributes; the count is the buckets' sum.
fn histogram(id: u64, name: &str, bounds: &[f64], counts: &[u64], sum: f64) -> MetricSnapshot {
    histogram_with(id, name, "", bounds, histogram_point(&[], counts, sum))
}

/// A histogram of one point.
fn histogram_with(
    id: u64,
    name: &str,
    unit: &str,
    bounds: &[f64],
    point: HistogramPoint,
) -> MetricSnapshot {
    let data = MetricData::Histogram {
        bounds: bounds.into(),
        points: vec![point],
    };
    metric(id, name, unit, InstrumentKind::Histogram, data)
}

/// A histogram point whose count is the buckets' sum, without min and max (Prometheus
/// has no place for them).
fn histogram_point(attrs: &[KeyValue], counts: &[u64], sum: f64) -> HistogramPoint {
    HistogramPoint {
        exemplars: Vec::new(),
        attributes: Attributes::new(attrs),
        start_time: UNIX_EPOCH,
        count: counts.iter().sum(),
        sum,
        min: None,
        max: None,
        bucket_counts: counts.to_vec(),
    }
}

/// An exponential histogram point without attributes at `scale`: `zero_count` values in
/// the zero bucket, the `negative` and `positive` buckets as `(offset, counts)`, its count
/// all of them together, its sum 0. Shared with the unit tests of the modules beside.
pub(super) fn exponential_point(
    scale: i8,
    zero_count: u64,
    negative: (i32, &[u64]),
    positive: (i32, &[u64]),
) -> ExponentialHistogramPoint {
    let buckets = |(offset, counts): (i32, &[u64])| ExponentialBuckets {
        offset,
        counts: counts.to_vec(),
    };
    let mut point = ExponentialHistogramPoint::empty(Attributes::default(), UNIX_EPOCH, scale);
    point.zero_count = zero_count;
    point.negative = buckets(negative);
    point.positive = buckets(positive);
    point.count = zero_count + negative.1.iter().chain(positive.1).sum::<u64>();
    point
}

fn number(attrs: &[KeyValue], value: Number) -> NumberPoint {
    NumberPoint {
        exemplars: Vec::new(),
        attributes: Attributes::new(attrs),
        start_time: UNIX_EPOCH,
        value,
    }
}

fn sum(monotonic: bool, points: Vec<NumberPoint>) -> MetricData {
    MetricData::Sum { monotonic, points }
}

/// A snapshot of one scope, `test`, taken 1 ms after [`T`].
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

/// A snapshot of one scope, `test`, without resource, taken 1 ms after [`T`].
fn bare(metrics: Vec<MetricSnapshot>) -> Snapshot {
    snapshot(Resource::builder_empty().build(), metrics)
}

/// A snapshot of several scopes without resource, taken at [`T`].
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

/// Service `shop/checkout`, instance `pod-1`, and two more attributes for `target_info`.
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

/// [`service`] with a counter of two series and a histogram in milliseconds.
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
            histogram_with(
                2,
                "lat",
                "ms",
                &[10.0, 100.0],
                histogram_point(&[KeyValue::new("path", "/ü")], &[1, 1, 1], 120.5),
            ),
        ],
    )
}
