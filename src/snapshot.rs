//! The collected data model: what a collection returns and every exporter reads.
//!
//! A [`Snapshot`] is a plain, owned value. Aggregators produce it; the Prometheus
//! translation, the test receiver and user code consume it. Nothing downstream ever
//! reads aggregator internals, so the aggregation layer can change freely.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;

mod exemplar;
mod exponential;

pub use exemplar::Exemplar;
pub use exponential::{bucket_upper_bound, ExponentialBuckets, ExponentialHistogramPoint};

/// Everything one collection gathered from a provider.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The provider's resource (service name, instance, …).
    pub resource: Resource,
    /// When the collection ran.
    pub time: SystemTime,
    /// One entry per instrumentation scope (meter) that has instruments.
    pub scopes: Vec<ScopeSnapshot>,
}

impl Snapshot {
    /// Iterates over every metric of every scope.
    pub fn metrics(&self) -> impl Iterator<Item = &MetricSnapshot> {
        self.scopes.iter().flat_map(|s| s.metrics.iter())
    }

    /// The first metric with this OpenTelemetry name, in any scope.
    ///
    /// Convenient in tests; a name can exist more than once (different kinds or units
    /// registered under one name, or several scopes), see [`Snapshot::metrics`].
    #[must_use]
    pub fn metric(&self, name: &str) -> Option<&MetricSnapshot> {
        self.metrics().find(|m| m.descriptor.name == name)
    }
}

/// The metrics of one instrumentation scope (one `Meter`).
#[derive(Debug, Clone)]
pub struct ScopeSnapshot {
    /// The scope the meter was created with.
    pub scope: InstrumentationScope,
    /// The scope's instruments, in creation order.
    pub metrics: Vec<MetricSnapshot>,
}

/// The kind of instrument a metric came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstrumentKind {
    /// Synchronous monotonic sum.
    Counter,
    /// Synchronous non-monotonic sum.
    UpDownCounter,
    /// Synchronous histogram (explicit buckets, or exponential ones where the provider
    /// chose them: the data says which).
    Histogram,
    /// Synchronous last value.
    Gauge,
    /// Asynchronous monotonic sum (callback reports the cumulative total).
    ObservableCounter,
    /// Asynchronous non-monotonic sum (callback reports the current total).
    ObservableUpDownCounter,
    /// Asynchronous last value.
    ObservableGauge,
}

impl InstrumentKind {
    /// Whether the instrument reports a monotonic sum (Prometheus counter).
    #[must_use]
    pub fn is_monotonic(self) -> bool {
        matches!(self, Self::Counter | Self::ObservableCounter)
    }

    /// Whether values come from callbacks at collection time.
    #[must_use]
    pub fn is_observable(self) -> bool {
        matches!(
            self,
            Self::ObservableCounter | Self::ObservableUpDownCounter | Self::ObservableGauge
        )
    }
}

/// The numeric type an instrument was created with (`u64_counter` → `U64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumberKind {
    /// Unsigned 64-bit integers.
    U64,
    /// Signed 64-bit integers.
    I64,
    /// 64-bit floats.
    F64,
}

/// Process-wide, so ids stay unique across providers and exporters.
static NEXT_DESCRIPTOR_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What identifies an instrument: fixed when it is created.
#[derive(Debug, Clone)]
pub struct Descriptor {
    /// Unique within the process; exporters key per-instrument caches by it (for example
    /// the translated Prometheus name, computed once per instrument).
    pub id: u64,
    /// The OpenTelemetry instrument name, as given.
    pub name: Cow<'static, str>,
    /// The description, empty when none was given.
    pub description: Cow<'static, str>,
    /// The UCUM unit, empty when none was given.
    pub unit: Cow<'static, str>,
    /// The instrument kind.
    pub kind: InstrumentKind,
    /// The numeric type.
    pub number: NumberKind,
}

impl Descriptor {
    /// A fresh process-unique id, in creation order (the order that decides which of
    /// two colliding instruments wins).
    pub(crate) fn next_id() -> u64 {
        NEXT_DESCRIPTOR_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

/// One instrument's collected state.
#[derive(Debug, Clone)]
pub struct MetricSnapshot {
    /// Name, unit, kind: shared with the instrument, cheap to clone.
    pub descriptor: Arc<Descriptor>,
    /// Start of the cumulative interval (when the instrument was created).
    pub start_time: SystemTime,
    /// When this metric was collected.
    pub time: SystemTime,
    /// The points.
    pub data: MetricData,
    /// Measurements rejected since the instrument was created (negative counter
    /// increments, NaN or infinite values). Cumulative.
    pub rejected_measurements: u64,
}

/// The points of a metric, by aggregation.
#[derive(Debug, Clone)]
pub enum MetricData {
    /// Cumulative sums: counters (monotonic) and up-down counters.
    Sum {
        /// True for counters: the values only grow.
        monotonic: bool,
        /// One point per attribute set.
        points: Vec<NumberPoint>,
    },
    /// Last values.
    Gauge {
        /// One point per attribute set.
        points: Vec<NumberPoint>,
    },
    /// Explicit-bucket histograms.
    Histogram {
        /// Upper bounds of the buckets, strictly increasing; the last bucket, to
        /// `+Inf`, is implicit.
        bounds: Arc<[f64]>,
        /// One point per attribute set.
        points: Vec<HistogramPoint>,
    },
    /// Exponential (base-2) histograms: each point has its own scale and buckets.
    ExponentialHistogram {
        /// One point per attribute set.
        points: Vec<ExponentialHistogramPoint>,
    },
}

impl MetricData {
    /// The number of points (series before translation).
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Sum { points, .. } | Self::Gauge { points } => points.len(),
            Self::Histogram { points, .. } => points.len(),
            Self::ExponentialHistogram { points } => points.len(),
        }
    }

    /// Whether there are no points.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number points, for sums and gauges; empty for histograms.
    #[must_use]
    pub fn number_points(&self) -> &[NumberPoint] {
        match self {
            Self::Sum { points, .. } | Self::Gauge { points } => points,
            Self::Histogram { .. } | Self::ExponentialHistogram { .. } => &[],
        }
    }

    /// The histogram points; empty for sums and gauges.
    #[must_use]
    pub fn histogram_points(&self) -> &[HistogramPoint] {
        match self {
            Self::Histogram { points, .. } => points,
            _ => &[],
        }
    }

    /// The exponential histogram points; empty for the other kinds.
    #[must_use]
    pub fn exponential_points(&self) -> &[ExponentialHistogramPoint] {
        match self {
            Self::ExponentialHistogram { points } => points,
            _ => &[],
        }
    }
}

/// A sum or gauge value for one attribute set.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberPoint {
    /// The attribute set.
    pub attributes: Attributes,
    /// The value.
    pub value: Number,
    /// Sampled measurements (monotonic sums only; see
    /// [`MeterProviderBuilder::with_exemplar_filter`](crate::MeterProviderBuilder::with_exemplar_filter)).
    pub exemplars: Vec<Exemplar>,
}

/// A value in the instrument's own numeric type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// From a `u64` instrument.
    U64(u64),
    /// From an `i64` instrument.
    I64(i64),
    /// From an `f64` instrument.
    F64(f64),
}

impl Number {
    /// The value as `f64` (Prometheus samples are floats).
    #[must_use]
    pub fn as_f64(self) -> f64 {
        match self {
            Self::U64(v) => v as f64,
            Self::I64(v) => v as f64,
            Self::F64(v) => v,
        }
    }
}

// The merge arithmetic of custom metrics' group-by.
#[cfg(any(test, feature = "custom-metrics"))]
impl Number {
    /// Zero in the same numeric type: where a sum of such values starts.
    pub(crate) fn zero_like(self) -> Number {
        match self {
            Self::U64(_) => Self::U64(0),
            Self::I64(_) => Self::I64(0),
            Self::F64(_) => Self::F64(0.0),
        }
    }

    /// Adds two sums of one instrument kind (one numeric type): integers saturate
    /// instead of wrapping; floats, and values of two types, add as `f64`.
    pub(crate) fn saturating_add(self, other: Number) -> Number {
        match (self, other) {
            (Self::U64(a), Self::U64(b)) => Self::U64(a.saturating_add(b)),
            (Self::I64(a), Self::I64(b)) => Self::I64(a.saturating_add(b)),
            (a, b) => Self::F64(a.as_f64() + b.as_f64()),
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::U64(v) => v.fmt(f),
            Self::I64(v) => v.fmt(f),
            Self::F64(v) => v.fmt(f),
        }
    }
}

/// A histogram's state for one attribute set.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramPoint {
    /// The attribute set.
    pub attributes: Attributes,
    /// Per-bucket (not cumulative) counts: `bounds.len() + 1` entries, bucket `i` holding
    /// values in `(bounds[i-1], bounds[i]]`, the last one the values above every bound.
    pub bucket_counts: Vec<u64>,
    /// Number of recorded values; always the sum of `bucket_counts`.
    pub count: u64,
    /// Sum of recorded values.
    pub sum: f64,
    /// Smallest recorded value, `None` before the first.
    pub min: Option<f64>,
    /// Largest recorded value, `None` before the first.
    pub max: Option<f64>,
    /// Sampled measurements, at most one per bucket (see
    /// [`MeterProviderBuilder::with_exemplar_filter`](crate::MeterProviderBuilder::with_exemplar_filter)).
    pub exemplars: Vec<Exemplar>,
}

impl HistogramPoint {
    /// A point with nothing recorded yet and `buckets` empty buckets: where a merge of
    /// points starts.
    #[cfg(any(test, feature = "custom-metrics"))]
    pub(crate) fn empty(attributes: Attributes, buckets: usize) -> Self {
        HistogramPoint {
            exemplars: Vec::new(),
            attributes,
            count: 0,
            sum: 0.0,
            min: None,
            max: None,
            bucket_counts: vec![0; buckets],
        }
    }

    /// Adds `other`'s recordings into this point, as if one histogram had recorded
    /// both: counts and sums add (counts saturate), min and max widen, buckets add one
    /// by one. Both must come from the same bounds; the attributes stay this point's.
    pub(crate) fn merge(&mut self, other: &HistogramPoint) {
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.min = widen(self.min, other.min, f64::min);
        self.max = widen(self.max, other.max, f64::max);
        self.exemplars.extend(other.exemplars.iter().cloned());
        for (i, count) in other.bucket_counts.iter().enumerate() {
            match self.bucket_counts.get_mut(i) {
                Some(total) => *total = total.saturating_add(*count),
                None => self.bucket_counts.push(*count),
            }
        }
    }
}

/// The extreme of two optional extremes (`pick` is `f64::min` or `f64::max`): either
/// one when the other is `None`.
fn widen(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// An attribute set: sorted by key, each key once. Cheap to clone (shared).
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Attributes(Arc<[KeyValue]>);

impl Attributes {
    /// Builds a set with OpenTelemetry semantics: the order of `attributes` does not
    /// matter, and of a repeated key the last value wins.
    ///
    /// ```
    /// use opentelemetry::KeyValue;
    /// let set = prompush::Attributes::new(&[
    ///     KeyValue::new("b", 1),
    ///     KeyValue::new("a", "x"),
    ///     KeyValue::new("b", 2),
    /// ]);
    /// assert_eq!(set.get("b"), Some(&opentelemetry::Value::I64(2)));
    /// assert_eq!(set.len(), 2);
    /// ```
    #[must_use]
    pub fn new(attributes: &[KeyValue]) -> Self {
        Self(canonicalize(attributes).into())
    }

    pub(crate) fn from_canonical(attributes: Arc<[KeyValue]>) -> Self {
        Self(attributes)
    }

    /// Whether both are the same shared set, not merely equal: a series keeps one
    /// shared set for its whole life, so exporters can cache per-series work (encoded
    /// labels, say) and recognise the series in the next snapshot with one compare.
    /// Holding a clone keeps the identity from being reused.
    #[must_use]
    pub fn same_set(&self, other: &Attributes) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The value of `key`, if the set has it.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&opentelemetry::Value> {
        self.0
            .binary_search_by(|kv| kv.key.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].value)
    }
}

impl Deref for Attributes {
    type Target = [KeyValue];
    fn deref(&self) -> &[KeyValue] {
        &self.0
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|kv| (kv.key.as_str(), &kv.value)))
            .finish()
    }
}

/// Sorts by key and keeps the last value of a repeated key.
pub(crate) fn canonicalize(attributes: &[KeyValue]) -> Vec<KeyValue> {
    let mut set: Vec<KeyValue> = attributes.to_vec();
    // A stable sort keeps repeated keys in call order, so the last of a run is the
    // value the caller gave last.
    set.sort_by(|a, b| a.key.cmp(&b.key));
    let mut out: Vec<KeyValue> = Vec::with_capacity(set.len());
    for kv in set {
        match out.last_mut() {
            Some(last) if last.key == kv.key => *last = kv,
            _ => out.push(kv),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_sums_saturate_and_float_sums_add() {
        let max = Number::U64(u64::MAX);
        assert_eq!(max.saturating_add(Number::U64(1)), max);
        assert_eq!(
            Number::I64(-2).saturating_add(Number::I64(5)),
            Number::I64(3)
        );
        assert_eq!(
            Number::F64(0.5).saturating_add(Number::F64(1.0)),
            Number::F64(1.5)
        );
        assert_eq!(Number::I64(7).zero_like(), Number::I64(0));
    }

    #[test]
    fn merged_histograms_add_counts_and_buckets_and_widen_min_and_max() {
        let point = |count, sum, min, max, buckets: &[u64]| HistogramPoint {
            exemplars: Vec::new(),
            attributes: Attributes::default(),
            count,
            sum,
            min,
            max,
            bucket_counts: buckets.to_vec(),
        };
        let mut merged = HistogramPoint::empty(Attributes::default(), 3);
        merged.merge(&point(2, 3.0, Some(1.0), Some(2.0), &[1, 1, 0]));
        merged.merge(&point(1, 9.0, Some(9.0), Some(9.0), &[0, 0, 1]));
        assert_eq!(merged, point(3, 12.0, Some(1.0), Some(9.0), &[1, 1, 1]));
    }
}
