//! The official SDK's `ResourceMetrics` → prompush's [`Snapshot`], so the SDK's data
//! goes through the same translation, encoding and transport as prompush's own.
//!
//! Two repairs on the way: a resource without `service.instance.id` gets the
//! exporter's own id, and a NaN value never keeps the Prometheus stale-marker bits
//! (which would end its series at the receiver).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{
    self, AggregatedMetrics, MetricData as SdkData, ResourceMetrics,
};
use opentelemetry_sdk::Resource;

use crate::instance_id;
use crate::snapshot::{
    Attributes, Descriptor, ExponentialBuckets, ExponentialHistogramPoint, HistogramPoint,
    InstrumentKind, MetricData, MetricSnapshot, Number, NumberKind, NumberPoint, ScopeSnapshot,
    Snapshot,
};

/// What identifies one SDK metric stream across exports.
#[derive(PartialEq, Eq, Hash)]
struct StreamKey {
    scope: String,
    scope_version: Option<String>,
    name: String,
    unit: String,
    kind: InstrumentKind,
    number: NumberKind,
}

/// One stream's identity, kept across exports so prompush's per-instrument and
/// per-series caches work for SDK data too.
struct Stream {
    descriptor: Arc<Descriptor>,
    /// Attribute sets seen before, so a series keeps one shared set (and the encoder
    /// recognises it) instead of a new one per export.
    sets: HashMap<Vec<KeyValue>, Attributes>,
    seen: u64,
}

/// Converts exports; keeps the streams' identities between calls.
pub(crate) struct Converter {
    streams: HashMap<StreamKey, Stream>,
    exports: u64,
    /// Given to a resource that has no `service.instance.id`; fixed for the exporter's
    /// life.
    instance_id: String,
    /// The SDK's last resource and what it became, so that an unchanged resource (the
    /// usual case) is not rebuilt on every export.
    resource: Option<(Resource, Resource)>,
}

impl Converter {
    pub(crate) fn new(instance_id: String) -> Self {
        Converter {
            streams: HashMap::new(),
            exports: 0,
            instance_id,
            resource: None,
        }
    }

    /// The SDK's resource, with the exporter's instance id when it has none.
    fn resource(&mut self, sdk: &Resource) -> Resource {
        if let Some((from, to)) = &self.resource {
            if from == sdk {
                return to.clone();
            }
        }
        let to = instance_id::or_instance_id(sdk.clone(), || self.instance_id.clone());
        self.resource = Some((sdk.clone(), to.clone()));
        to
    }

    pub(crate) fn convert(&mut self, metrics: &ResourceMetrics) -> Snapshot {
        self.exports += 1;
        let mut time = std::time::UNIX_EPOCH;
        let mut scopes = Vec::new();
        for scope_metrics in metrics.scope_metrics() {
            let scope = scope_metrics.scope();
            let mut converted = Vec::new();
            for metric in scope_metrics.metrics() {
                let Some(m) = self.metric(scope, metric) else {
                    continue;
                };
                time = time.max(m.time);
                converted.push(m);
            }
            if !converted.is_empty() {
                scopes.push(ScopeSnapshot {
                    scope: scope.clone(),
                    metrics: converted,
                });
            }
        }
        // Streams gone from the SDK's output are forgotten.
        let exports = self.exports;
        self.streams.retain(|_, s| s.seen == exports);
        if scopes.is_empty() {
            time = std::time::SystemTime::now();
        }
        Snapshot {
            resource: self.resource(metrics.resource()),
            time,
            scopes,
        }
    }

    fn metric(
        &mut self,
        scope: &opentelemetry::InstrumentationScope,
        metric: &data::Metric,
    ) -> Option<MetricSnapshot> {
        match metric.data() {
            AggregatedMetrics::U64(d) => self.data(scope, metric, d),
            AggregatedMetrics::I64(d) => self.data(scope, metric, d),
            AggregatedMetrics::F64(d) => self.data(scope, metric, d),
        }
    }

    fn data<T: SdkNumber>(
        &mut self,
        scope: &opentelemetry::InstrumentationScope,
        metric: &data::Metric,
        data: &SdkData<T>,
    ) -> Option<MetricSnapshot> {
        let kind = match data {
            SdkData::Sum(s) if s.is_monotonic() => InstrumentKind::Counter,
            SdkData::Sum(_) => InstrumentKind::UpDownCounter,
            SdkData::Gauge(_) => InstrumentKind::Gauge,
            SdkData::Histogram(_) | SdkData::ExponentialHistogram(_) => InstrumentKind::Histogram,
        };
        let key = StreamKey {
            scope: scope.name().to_owned(),
            scope_version: scope.version().map(str::to_owned),
            name: metric.name().to_owned(),
            unit: metric.unit().to_owned(),
            kind,
            number: T::KIND,
        };
        let exports = self.exports;
        let stream = self.streams.entry(key).or_insert_with(|| Stream {
            descriptor: Arc::new(Descriptor {
                id: Descriptor::next_id(),
                name: Cow::Owned(metric.name().to_owned()),
                description: Cow::Owned(metric.description().to_owned()),
                unit: Cow::Owned(metric.unit().to_owned()),
                kind,
                number: T::KIND,
            }),
            sets: HashMap::new(),
            seen: exports,
        });
        stream.seen = exports;
        let mut seen_sets: HashMap<Vec<KeyValue>, Attributes> = HashMap::new();
        let mut attributes = |attrs: Vec<KeyValue>| -> Attributes {
            let set = stream
                .sets
                .remove(&attrs)
                .unwrap_or_else(|| Attributes::new(&attrs));
            seen_sets.insert(attrs, set.clone());
            set
        };
        // The SDK keeps one start per metric; every point shares it.
        let start_time = match data {
            SdkData::Sum(s) => s.start_time(),
            SdkData::Gauge(g) => g.start_time().unwrap_or(g.time()),
            SdkData::Histogram(h) => h.start_time(),
            SdkData::ExponentialHistogram(h) => h.start_time(),
        };
        let mut number = |attrs: Vec<KeyValue>, value: T| NumberPoint {
            exemplars: Vec::new(),
            attributes: attributes(attrs),
            start_time,
            value: value.to_number(),
        };
        let (time, data) = match data {
            SdkData::Sum(s) => (
                s.time(),
                MetricData::Sum {
                    monotonic: s.is_monotonic(),
                    points: (s.data_points())
                        .map(|p| number(p.attributes().cloned().collect(), p.value()))
                        .collect(),
                },
            ),
            SdkData::Gauge(g) => (
                g.time(),
                MetricData::Gauge {
                    points: (g.data_points())
                        .map(|p| number(p.attributes().cloned().collect(), p.value()))
                        .collect(),
                },
            ),
            SdkData::Histogram(h) => {
                let mut bounds: Option<Arc<[f64]>> = None;
                let points = h
                    .data_points()
                    .map(|p| {
                        let b: Vec<f64> = p.bounds().collect();
                        if bounds.as_deref() != Some(&b[..]) {
                            bounds = Some(b.into());
                        }
                        HistogramPoint {
                            exemplars: Vec::new(),
                            attributes: attributes(p.attributes().cloned().collect()),
                            start_time,
                            count: p.count(),
                            sum: p.sum().as_f64(),
                            min: p.min().map(|v| v.as_f64()),
                            max: p.max().map(|v| v.as_f64()),
                            bucket_counts: p.bucket_counts().collect(),
                        }
                    })
                    .collect();
                (
                    h.time(),
                    MetricData::Histogram {
                        bounds: bounds.unwrap_or_else(|| Arc::from(Vec::new())),
                        points,
                    },
                )
            }
            SdkData::ExponentialHistogram(h) => {
                let bucket = |b: &data::ExponentialBucket| ExponentialBuckets {
                    offset: b.offset(),
                    counts: b.counts().collect(),
                };
                let points = h
                    .data_points()
                    .map(|p| ExponentialHistogramPoint {
                        exemplars: Vec::new(),
                        attributes: attributes(p.attributes().cloned().collect()),
                        start_time,
                        count: p.count() as u64,
                        sum: p.sum().as_f64(),
                        min: p.min().map(|v| v.as_f64()),
                        max: p.max().map(|v| v.as_f64()),
                        scale: p.scale(),
                        zero_threshold: p.zero_threshold(),
                        zero_count: p.zero_count(),
                        positive: bucket(p.positive_bucket()),
                        negative: bucket(p.negative_bucket()),
                    })
                    .collect();
                (h.time(), MetricData::ExponentialHistogram { points })
            }
        };
        // Sets not reported this time are forgotten (the SDK drops them too).
        stream.sets = seen_sets;
        Some(MetricSnapshot {
            descriptor: stream.descriptor.clone(),
            start_time,
            time,
            data,
            rejected_measurements: 0,
        })
    }
}

/// The SDK's number types, as a snapshot holds them. Any NaN becomes the ordinary NaN:
/// a value with the Prometheus stale-marker bits would end its series at the receiver.
trait SdkNumber: Copy {
    const KIND: NumberKind;
    fn to_number(self) -> Number;
    fn as_f64(self) -> f64;
}

/// Integers convert as they are.
macro_rules! integer_sdk_number {
    ($t:ty, $kind:ident) => {
        impl SdkNumber for $t {
            const KIND: NumberKind = NumberKind::$kind;
            fn to_number(self) -> Number {
                Number::$kind(self)
            }
            fn as_f64(self) -> f64 {
                self as f64
            }
        }
    };
}
integer_sdk_number!(u64, U64);
integer_sdk_number!(i64, I64);

impl SdkNumber for f64 {
    const KIND: NumberKind = NumberKind::F64;
    fn to_number(self) -> Number {
        Number::F64(self.as_f64())
    }
    fn as_f64(self) -> f64 {
        if self.is_nan() {
            f64::NAN
        } else {
            self
        }
    }
}
