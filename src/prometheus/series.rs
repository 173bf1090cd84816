//! What a [`Translator`](super::translate::Translator) hands a sink: series labels,
//! family metadata, and the [`SeriesSink`] trait that every output format implements
//! (the remote-write encoder, the JSON encoder, stale markers, test collectors).

use std::sync::atomic::AtomicU64;

use crate::snapshot::{Attributes, Exemplar, ExponentialHistogramPoint};

/// A Prometheus metric type, as remote-write metadata carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
// The OpenMetrics-only kinds are read from the wire (the receiver), never written.
#[cfg_attr(not(feature = "receiver"), allow(dead_code))]
pub enum MetricType {
    /// No type was given.
    Unknown,
    /// A monotonic total (`_total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A classic histogram (`_bucket`, `_sum`, `_count`).
    Histogram,
    /// A histogram of a gauge (OpenMetrics).
    GaugeHistogram,
    /// A summary with quantiles.
    Summary,
    /// An info metric (OpenMetrics).
    Info,
    /// A state set (OpenMetrics).
    StateSet,
}

impl MetricType {
    /// The protobuf `MetricMetadata.MetricType` number.
    pub fn proto_value(self) -> i32 {
        match self {
            Self::Unknown => 0,
            Self::Counter => 1,
            Self::Gauge => 2,
            Self::Histogram => 3,
            Self::GaugeHistogram => 4,
            Self::Summary => 5,
            Self::Info => 6,
            Self::StateSet => 7,
        }
    }

    /// The type for a protobuf number; unknown numbers are [`MetricType::Unknown`].
    #[cfg(feature = "receiver")]
    pub fn from_proto_value(value: i32) -> Self {
        match value {
            1 => Self::Counter,
            2 => Self::Gauge,
            3 => Self::Histogram,
            4 => Self::GaugeHistogram,
            5 => Self::Summary,
            6 => Self::Info,
            7 => Self::StateSet,
            _ => Self::Unknown,
        }
    }
}

/// Type, help and unit of one metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata<'a> {
    /// The family's type.
    pub kind: MetricType,
    /// The family name: the series name, without `_bucket`/`_sum`/`_count` for
    /// histograms (counters keep `_total`, as Prometheus' own metadata does).
    pub family: &'a str,
    /// The instrument description.
    pub help: &'a str,
    /// The unit as it appears in the name (`seconds`, `bytes_per_second`), or empty.
    pub unit: &'a str,
}

/// The labels of one series: sorted by name, unique names, no empty values,
/// `__name__` included.
///
/// A view into the translator's buffer, valid for one [`SeriesSink::series`] call.
#[derive(Debug, Clone, Copy)]
pub struct Labels<'a> {
    pub(super) text: &'a str,
    pub(super) slots: &'a [Slot],
}

impl<'a> Labels<'a> {
    /// The `(name, value)` pairs, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + 'a {
        let text = self.text;
        self.slots
            .iter()
            .map(move |slot| (slot.name.get(text), slot.value.get(text)))
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// Receives what a [`Translator`](super::translate::Translator) produces. Implemented by the remote-write encoder;
/// implement it to render series any other way.
///
/// Only [`metadata`](Self::metadata) and [`series`](Self::series) are required. The
/// other two methods let a sink reuse per-series work across pushes: for every metric
/// the translator calls [`begin_metric`](Self::begin_metric), then for every point
/// [`reuse_point`](Self::reuse_point), and, unless that returned `true`, hands over the
/// point's series through [`series`](Self::series) (`samples.len()` of them).
pub trait SeriesSink {
    /// One metric family's metadata; comes before the family's series, once per push.
    fn metadata(&mut self, metadata: &Metadata<'_>);

    /// One series with one sample.
    fn series(&mut self, labels: &Labels<'_>, value: f64, timestamp_ms: i64);

    /// One series with one sample and the exemplars that go with it. The default
    /// drops the exemplars and calls [`series`](Self::series).
    fn series_with_exemplars(&mut self, labels: &Labels<'_>, sample: Sample<'_>) {
        self.series(labels, sample.value, sample.timestamp_ms);
    }

    /// One native histogram series: the family's name and the point's labels, and the
    /// sample. Called only by a translator with native histograms on
    /// ([`Translator::set_native_histograms`](super::translate::Translator::set_native_histograms));
    /// the default writes nothing, for sinks that never get them.
    fn native_histogram(&mut self, labels: &Labels<'_>, sample: NativeSample<'_>) {
        let _ = (labels, sample);
    }

    /// The start of the cumulative interval of the series that come next (a point's),
    /// milliseconds since the epoch; 0 for a gauge's, which has none. Called before
    /// each point is offered or its series handed over; does nothing by default (only
    /// remote write 2.0 carries start timestamps).
    fn point_start(&mut self, start_ms: i64) {
        let _ = start_ms;
    }

    /// The points of metric `metric` (its [`Descriptor::id`](crate::snapshot::Descriptor::id))
    /// follow; there are `points` of them. Series made under another `version` must not be
    /// reused: their names or resource labels differ. Does nothing by default.
    fn begin_metric(&mut self, metric: u64, points: usize, version: LabelsVersion) {
        let _ = (metric, points, version);
    }

    /// Offers point `index` of the current metric before its labels are built.
    ///
    /// A sink that still holds the series it made of this point in an earlier push (the
    /// same metric, version and index, and [`Attributes::same_set`] as `set`) may write
    /// them now, one per entry of `samples` and in that order, at `ts_ms` (milliseconds),
    /// and return `true`: the translator then skips the point. Returning `false` (the default) means the point's
    /// `samples.len()` series come next through [`series`](Self::series), with the same
    /// values.
    fn reuse_point(&mut self, index: usize, set: &Attributes, samples: &[f64], ts_ms: i64) -> bool {
        let _ = (index, set, samples, ts_ms);
        false
    }

    /// [`reuse_point`](Self::reuse_point) for a point with exemplars to hand over:
    /// `exemplars` (oldest first) go with its series as
    /// [`series_with_exemplars`](Self::series_with_exemplars) would get them: all with
    /// a number point's one series; for a classic histogram, whose `bounds` are its
    /// buckets' upper bounds (`+Inf` left out), those within each `_bucket` series'
    /// bounds, none with `_sum` and `_count`. Returning `false` (the default) means the
    /// series come next through `series_with_exemplars` and `series`.
    fn reuse_point_with_exemplars(&mut self, point: ReusedPoint<'_>) -> bool {
        let _ = point;
        false
    }
}

/// A point with exemplars offered to [`SeriesSink::reuse_point_with_exemplars`].
#[derive(Debug, Clone, Copy)]
pub struct ReusedPoint<'a> {
    /// The point's index in its metric.
    pub index: usize,
    /// Its attribute set.
    pub set: &'a Attributes,
    /// One value per series, in series order.
    pub samples: &'a [f64],
    /// Its exemplars to hand over, oldest first.
    pub exemplars: &'a [Exemplar],
    /// A classic histogram's bucket upper bounds (`+Inf` left out); `None` for a
    /// number point.
    pub bounds: Option<&'a [f64]>,
}

/// A series' one sample, with its exemplars.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// The value.
    pub value: f64,
    /// The sample's time, milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// Sampled measurements of the point, oldest first: each newer than those handed
    /// over for it before, or, from a translator for scraping, all it holds.
    pub exemplars: &'a [Exemplar],
}

/// A native histogram series' one sample.
#[derive(Debug, Clone, Copy)]
pub struct NativeSample<'a> {
    /// The point whose buckets it carries.
    pub point: &'a ExponentialHistogramPoint,
    /// The point's exemplars not handed over before (all of them, from a translator for
    /// scraping), oldest first.
    pub exemplars: &'a [Exemplar],
    /// The sample's time, milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// What, besides a point's attributes, its labels were made from: the translator that
/// made them and a version of the metric's translated names and the resource labels.
/// Equal versions mean equal labels for the same attribute set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabelsVersion {
    pub(super) translator: u64,
    pub(super) version: u64,
}

/// Tells translators apart, so a sink fed by two of them never mixes their versions.
pub(super) static TRANSLATOR_IDS: AtomicU64 = AtomicU64::new(0);

/// A byte range of the translator's text buffer.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Span {
    pub(super) start: u32,
    pub(super) end: u32,
}

impl Span {
    pub(super) fn get(self, text: &str) -> &str {
        text.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    pub(super) name: Span,
    pub(super) value: Span,
}

/// Appends `s` to `text` and returns where it went.
pub(super) fn put(text: &mut String, s: &str) -> Span {
    let start = text.len() as u32;
    text.push_str(s);
    Span {
        start,
        end: text.len() as u32,
    }
}
