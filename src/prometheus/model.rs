//! What the translation files share, importing none of them: a series' key, the names a
//! translator caches per instrument, family kinds, where label versions come from, and
//! small facts about a metric's data (the kind it is named as, its points' attribute
//! sets, its time in milliseconds).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::series::TRANSLATOR_IDS;
use crate::snapshot::{Attributes, InstrumentKind, MetricData};

/// The labels that name a point's instrumentation scope (the compatibility spec's
/// MUST): two libraries' same-named instruments stay two series.
pub const SCOPE_NAME_LABEL: &str = "otel_scope_name";
/// See [`SCOPE_NAME_LABEL`]; present when the meter has a version.
pub const SCOPE_VERSION_LABEL: &str = "otel_scope_version";
/// See [`SCOPE_NAME_LABEL`]; present when the meter has a schema URL.
pub const SCOPE_SCHEMA_URL_LABEL: &str = "otel_scope_schema_url";
/// What a scope attribute's key is prefixed with before it is sanitised as a label name
/// (`scope.kind` → `otel_scope_scope_kind`).
pub const SCOPE_ATTRIBUTE_PREFIX: &str = "otel_scope_";

/// One point of one instrument: the instrument's descriptor id and the point's index.
pub(super) type Member = (u64, u32);

/// A series' identity: a 128-bit hash of its family and labels. Two points that share
/// one are compared in full before they are merged (see
/// [`SeriesKeys::join`]), so the hash alone never merges two series.
pub(super) type Key = u128;

/// The key of a series given as text (family, NUL, length-prefixed labels).
pub(super) fn key_of(text: &str) -> Key {
    use std::hash::BuildHasher as _;
    let a = foldhash::fast::FixedState::with_seed(0x9e37_79b9_7f4a_7c15).hash_one(text);
    let b = foldhash::fast::FixedState::with_seed(0x2545_f491_4f6c_dd1d).hash_one(text);
    (u128::from(a) << 64) | u128::from(b)
}

/// What kind of family an instrument makes: two instruments may share a family only
/// when these are equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum FamilyKind {
    /// An instrument of this kind (never an observable one: a gauge is a gauge).
    Instrument(InstrumentKind),
    /// A histogram with exponential buckets: its points cannot merge with explicit ones.
    ExponentialHistogram,
    /// The translator's own `target_info`.
    TargetInfo,
}

impl FamilyKind {
    pub(super) fn of(data: &MetricData) -> Self {
        match data {
            MetricData::ExponentialHistogram { .. } => Self::ExponentialHistogram,
            _ => Self::Instrument(naming_kind(data, InstrumentKind::Gauge)),
        }
    }

    pub(super) fn word(self) -> &'static str {
        match self {
            Self::TargetInfo => "target_info",
            Self::ExponentialHistogram => "exponential histogram",
            Self::Instrument(InstrumentKind::Counter) => "counter",
            Self::Instrument(InstrumentKind::UpDownCounter) => "up-down counter",
            Self::Instrument(InstrumentKind::Histogram) => "histogram",
            Self::Instrument(_) => "gauge",
        }
    }
}

/// Per-instrument translated names, computed once.
#[derive(Debug)]
pub(super) struct Names {
    /// The series name of a sum or gauge; for a histogram the family (base) name.
    pub(super) family: String,
    /// `_bucket`, `_sum`, `_count` names; empty for sums and gauges.
    pub(super) histogram: [String; 3],
    /// The unit word for metadata.
    pub(super) unit: String,
    /// `le` values of the bounds, `+Inf` last.
    pub(super) le: Vec<String>,
    /// The bounds the `le` values were made from (a cheap identity check).
    pub(super) bounds: Option<Arc<[f64]>>,
    /// Changes with the `le` values; see [`LabelsVersion`](super::series::LabelsVersion).
    pub(super) version: u64,
    /// The push that last saw this instrument; entries not seen are evicted.
    pub(super) generation: u64,
    /// The scope's labels (name, version, schema URL, attributes), sorted by name, none
    /// empty; none when scope labels are off.
    pub(super) scope: Vec<(String, String)>,
    pub(super) kind: FamilyKind,
    /// The OpenTelemetry name, for messages.
    pub(super) instrument: String,
    /// The family belongs to an earlier instrument of another kind: nothing is sent.
    pub(super) conflict: bool,
    /// The series key of each point, by index, to recognise the point's attribute set
    /// in later pushes without building its labels again.
    pub(super) points: Vec<PointKey>,
}

/// A point's attribute set (kept alive, so its identity is not reused) and the key of
/// the series it makes.
#[derive(Debug)]
pub(super) struct PointKey {
    pub(super) attributes: Attributes,
    pub(super) key: Key,
    /// False only for a point whose key equals another series' key by chance (a hash
    /// collision): it is sent as it is, never merged.
    pub(super) registered: bool,
}

impl Names {
    /// The scope's labels, sorted by name.
    pub(super) fn scope(&self) -> &[(String, String)] {
        &self.scope
    }

    /// Every series name this instrument produces.
    pub(super) fn series_names(&self) -> Vec<&str> {
        let mut out = vec![self.family.as_str()];
        out.extend(
            self.histogram
                .iter()
                .filter(|n| !n.is_empty())
                .map(String::as_str),
        );
        out
    }
}

/// Where the [`LabelsVersion`](super::series::LabelsVersion)s a translator hands out come from.
#[derive(Debug, Default)]
pub(super) struct Versions {
    pub(super) translator: TranslatorId,
    /// The last version handed out. Resource and name versions come from this one
    /// sequence, so the larger of the two changes whenever either does.
    pub(super) last: u64,
    /// The version of `job` and `instance` (0: not read yet).
    pub(super) resource: u64,
}

/// Process-unique, part of every [`LabelsVersion`](super::series::LabelsVersion): a new one per translator.
#[derive(Debug, Clone, Copy)]
pub(super) struct TranslatorId(pub(super) u64);

impl Default for TranslatorId {
    fn default() -> Self {
        Self(TRANSLATOR_IDS.fetch_add(1, Ordering::Relaxed))
    }
}

impl Versions {
    pub(super) fn next(&mut self) -> u64 {
        self.last += 1;
        self.last
    }
}

/// The attribute sets of a metric's points, in order.
pub(super) fn point_attributes(data: &MetricData) -> Box<dyn Iterator<Item = &Attributes> + '_> {
    match data {
        MetricData::Sum { points, .. } | MetricData::Gauge { points } => {
            Box::new(points.iter().map(|p| &p.attributes))
        }
        MetricData::Histogram { points, .. } => Box::new(points.iter().map(|p| &p.attributes)),
        MetricData::ExponentialHistogram { points } => {
            Box::new(points.iter().map(|p| &p.attributes))
        }
    }
}

/// The instrument kind that names the metric: the data decides (a monotonic sum is a
/// counter), the descriptor only tells gauges from up-down counters.
pub(super) fn naming_kind(data: &MetricData, kind: InstrumentKind) -> InstrumentKind {
    match data {
        MetricData::Sum {
            monotonic: true, ..
        } => InstrumentKind::Counter,
        MetricData::Sum { .. } => InstrumentKind::UpDownCounter,
        MetricData::Histogram { .. } | MetricData::ExponentialHistogram { .. } => {
            InstrumentKind::Histogram
        }
        MetricData::Gauge { .. } if kind.is_observable() => InstrumentKind::ObservableGauge,
        MetricData::Gauge { .. } => InstrumentKind::Gauge,
    }
}

/// Milliseconds since the Unix epoch (negative before it).
pub(crate) fn millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}
