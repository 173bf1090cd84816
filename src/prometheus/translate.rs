//! [`Snapshot`] → Prometheus series and metadata.
//!
//! A [`Translator`] walks a snapshot and hands every Prometheus series to a
//! [`SeriesSink`]: the remote-write encoder in a push, anything else (a text renderer,
//! a test collector) elsewhere. Nothing is allocated per series once the translator and
//! the sink have warmed up: names are translated once per instrument (cached by
//! [`Descriptor::id`](crate::snapshot::Descriptor::id)) and label strings live in one
//! reused buffer that the sink reads from.
//!
//! A sink can also skip label building altogether for series it has seen before: the
//! translator offers each point to [`SeriesSink::reuse_point`] first, with what it
//! needs to recognise the point from the previous push (metric id, index, attribute set
//! identity, [`LabelsVersion`]). The remote-write encoder keeps each series' encoded
//! labels that way, so a steady-state push only writes values and timestamps.
//!
//! # Rules
//! - Monotonic sum → counter `<name>_total`; non-monotonic sum and gauge → gauge.
//! - Histogram → `<name>_bucket{le="…"}` with cumulative counts and a last
//!   `le="+Inf"` bucket equal to the count, then `<name>_sum` and `<name>_count`.
//! - Names and units as in [`naming`].
//! - Every series gets `job` (`service.namespace/service.name`, or `service.name`) and
//!   `instance` (`service.instance.id`) from the resource, each only when present. The
//!   other resource attributes go on one `target_info` series (value 1) per push.
//! - Every series but `target_info` gets `otel_scope_name` (and `otel_scope_version`
//!   when the meter has one), unless [`Translator::set_scope_labels`] turns them off.
//! - A point attribute that would land on a label the translator sets itself is renamed
//!   `exported_<name>`: `job` and `instance` when the resource provides them (the
//!   resource wins, as Prometheus does with `honor_labels: false`), the scope labels
//!   when they are on, and `le` on histograms. `__name__` cannot collide: reserved
//!   names get a `key` prefix.
//! - Points that translate to one series (an empty attribute value next to none, keys
//!   equal after sanitising, one name in two meters without scope labels) are merged
//!   into one series per push, and instruments of different kinds that produce one
//!   family keep the first registered: see `collide` and [`Translator::collisions`].
//! - Attribute keys that are equal after sanitising (`a.b` and `a_b`) become one label
//!   whose values are joined with `;`, in the sorted order of the original keys.
//! - A label with an empty value is left out; labels are sorted by name.
//! - External labels ([`Translator::with_external_labels`]) go on every series, the
//!   `target_info` one included, unless the series already has a label of that name.
//! - Samples carry the metric's collection time in milliseconds. Values are sent as
//!   they are, NaN included.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::KeyValue;

use super::collide::{self, Action, Claim, Families, FamilyKind, Key, Member, Plan, Registry};
use super::naming;
use crate::snapshot::{
    Attributes, HistogramPoint, InstrumentKind, MetricData, MetricSnapshot, Snapshot,
};

pub use super::collide::Collisions;

/// The labels that name a point's instrumentation scope (the compatibility spec's
/// MUST): two libraries' same-named instruments stay two series.
pub const SCOPE_NAME_LABEL: &str = "otel_scope_name";
/// See [`SCOPE_NAME_LABEL`]; present when the meter has a version.
pub const SCOPE_VERSION_LABEL: &str = "otel_scope_version";

/// The resource attributes that become `job` and `instance` instead of `target_info`
/// labels.
const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// A Prometheus metric type, as remote-write metadata carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
    text: &'a str,
    slots: &'a [Slot],
}

impl<'a> Labels<'a> {
    /// The `(name, value)` pairs, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&'a str, &'a str)> + 'a {
        let text = self.text;
        self.slots
            .iter()
            .map(move |slot| (slot.name.get(text), slot.value.get(text)))
    }

    /// The number of labels.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are no labels (never the case for a translated series).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// Receives what a [`Translator`] produces. Implemented by the remote-write encoder;
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

    /// The points of metric `metric` (its [`Descriptor::id`](crate::snapshot::Descriptor::id))
    /// follow; there are `points` of them. Series made under another `version` must not be
    /// reused: their names or resource labels differ. Does nothing by default.
    fn begin_metric(&mut self, metric: u64, points: usize, version: LabelsVersion) {
        let _ = (metric, points, version);
    }

    /// Offers point `index` of the current metric before its labels are built.
    ///
    /// A sink that still holds the series it made of this point in an earlier push (the
    /// same metric, version and index, and [`Attributes::same_set`]) may write them now,
    /// one per entry of `samples` and in that order, and return `true`: the translator
    /// then skips the point. Returning `false` (the default) means the point's
    /// `samples.len()` series come next through [`series`](Self::series), with the same
    /// values.
    fn reuse_point(
        &mut self,
        index: usize,
        attributes: &Attributes,
        samples: &[f64],
        timestamp_ms: i64,
    ) -> bool {
        let _ = (index, attributes, samples, timestamp_ms);
        false
    }
}

/// What, besides a point's attributes, its labels were made from: the translator that
/// made them and a version of the metric's translated names and the resource labels.
/// Equal versions mean equal labels for the same attribute set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabelsVersion {
    translator: u64,
    version: u64,
}

/// Tells translators apart, so a sink fed by two of them never mixes their versions.
static TRANSLATOR_IDS: AtomicU64 = AtomicU64::new(0);

/// A byte range of the translator's text buffer.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn get(self, text: &str) -> &str {
        text.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    name: Span,
    value: Span,
}

/// Appends `s` to `text` and returns where it went.
fn put(text: &mut String, s: &str) -> Span {
    let start = text.len() as u32;
    text.push_str(s);
    Span {
        start,
        end: text.len() as u32,
    }
}

/// Per-instrument translated names, computed once.
#[derive(Debug)]
struct Names {
    /// The series name of a sum or gauge; for a histogram the family (base) name.
    family: String,
    /// `_bucket`, `_sum`, `_count` names; empty for sums and gauges.
    histogram: [String; 3],
    /// The unit word for metadata.
    unit: String,
    /// `le` values of the bounds, `+Inf` last.
    le: Vec<String>,
    /// The bounds the `le` values were made from (a cheap identity check).
    bounds: Option<Arc<[f64]>>,
    /// Changes with the `le` values; see [`LabelsVersion`].
    version: u64,
    /// The push that last saw this instrument; entries not seen are evicted.
    generation: u64,
    /// The meter's name and version, as label values (empty: no label).
    scope_name: String,
    scope_version: String,
    kind: FamilyKind,
    /// The OpenTelemetry name, for messages.
    instrument: String,
    /// The family belongs to an earlier instrument of another kind: nothing is sent.
    conflict: bool,
    /// The series key of each point, by index, to recognise the point's attribute set
    /// in later pushes without building its labels again.
    points: Vec<PointKey>,
}

/// A point's attribute set (kept alive, so its identity is not reused) and the key of
/// the series it makes.
#[derive(Debug)]
struct PointKey {
    attributes: Attributes,
    key: Key,
    /// False only for a point whose key equals another series' key by chance (a hash
    /// collision): it is sent as it is, never merged.
    registered: bool,
}

impl Names {
    /// Every series name this instrument produces.
    fn series_names(&self) -> Vec<&str> {
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

/// Translates [`Snapshot`]s into Prometheus series. Keep one per push destination and
/// reuse it: it caches translated names per instrument and reuses its buffers.
///
/// ```
/// use prompush::prometheus::translate::{Labels, Metadata, SeriesSink, Translator};
///
/// /// Prints series in the Prometheus text style.
/// struct Print;
/// impl SeriesSink for Print {
///     fn metadata(&mut self, m: &Metadata<'_>) {
///         println!("# TYPE {} {:?}", m.family, m.kind);
///     }
///     fn series(&mut self, labels: &Labels<'_>, value: f64, timestamp_ms: i64) {
///         println!("{:?} {value} {timestamp_ms}", labels.iter().collect::<Vec<_>>());
///     }
/// }
/// # fn demo(snapshot: &prompush::Snapshot) {
/// let mut translator = Translator::new();
/// let series_count = translator.translate(snapshot, &mut Print);
/// # let _ = series_count; }
/// ```
#[derive(Debug)]
pub struct Translator {
    names: HashMap<u64, Names, foldhash::fast::RandomState>,
    generation: u64,
    /// Process-unique, part of every [`LabelsVersion`].
    id: u64,
    /// The last version handed out. Resource and name versions come from this one
    /// sequence, so the larger of the two changes whenever either does.
    versions: u64,
    /// The version of `job` and `instance`.
    resource_version: u64,
    /// Sample values of the current point, one per series.
    samples: Vec<f64>,
    /// Label strings of the metric being translated (names, values, `le`s).
    text: String,
    /// The labels of the current point.
    base: Vec<Slot>,
    /// The labels of the current point plus `le`, for histogram buckets.
    bucket: Vec<Slot>,
    /// Resource labels, rebuilt per push.
    job: String,
    instance: String,
    target_info: Vec<(String, String)>,
    /// Labels added to every series that lacks them, sorted by name.
    external: Vec<(String, String)>,
    /// Whether to produce the `target_info` series.
    target_info_enabled: bool,
    /// Whether series carry `otel_scope_name` and `otel_scope_version`.
    scope_labels: bool,
    /// The series key of every point seen, and which collide.
    registry: Registry,
    families: Families,
    /// The set of instruments changed: family ownership must be checked again.
    families_dirty: bool,
    /// What the latest [`translate`](Translator::translate) merged and dropped.
    collisions: Collisions,
}

impl Default for Translator {
    fn default() -> Self {
        Self {
            names: HashMap::default(),
            generation: 0,
            id: TRANSLATOR_IDS.fetch_add(1, Ordering::Relaxed),
            versions: 0,
            resource_version: 0,
            samples: Vec::new(),
            text: String::new(),
            base: Vec::new(),
            bucket: Vec::new(),
            job: String::new(),
            instance: String::new(),
            target_info: Vec::new(),
            external: Vec::new(),
            target_info_enabled: true,
            scope_labels: true,
            registry: Registry::default(),
            families: Families::default(),
            families_dirty: false,
            collisions: Collisions::default(),
        }
    }
}

impl Translator {
    /// An empty translator.
    pub fn new() -> Self {
        Self::default()
    }

    /// A translator that adds `labels` to every series that does not have a label of
    /// the same name already (the series' own labels win). Names must be valid
    /// Prometheus label names other than `le` (histogram buckets have their own) and
    /// values non-empty; pairs that are not are left out, as is a repeated name's second
    /// pair.
    pub fn with_external_labels(labels: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut external: Vec<(String, String)> = labels
            .into_iter()
            .filter(|(name, value)| {
                naming::is_valid_label_name(name) && name != "le" && !value.is_empty()
            })
            .collect();
        // Stable: the first of a repeated name stays.
        external.sort_by(|a, b| a.0.cmp(&b.0));
        external.dedup_by(|b, a| a.0 == b.0);
        Self {
            external,
            ..Self::default()
        }
    }

    /// Whether to produce the `target_info` series (on by default). Off for a second
    /// stream of series to a destination that already gets `target_info` from another.
    pub fn set_target_info(&mut self, enabled: bool) {
        self.target_info_enabled = enabled;
    }

    /// Whether series carry `otel_scope_name` and `otel_scope_version` (on by default,
    /// as the OpenTelemetry–Prometheus compatibility spec requires). With them off,
    /// same-named instruments of several meters make one series, merged as described
    /// in the module documentation.
    pub fn set_scope_labels(&mut self, enabled: bool) {
        if enabled != self.scope_labels {
            self.scope_labels = enabled;
            // Every cached label set changes.
            self.names.clear();
            self.registry.clear();
        }
    }

    /// What the latest [`translate`](Self::translate) merged and dropped because
    /// points translated to one series or instruments to one family.
    pub fn collisions(&self) -> Collisions {
        self.collisions
    }

    /// Translates `snapshot`, handing every series and metric family to `sink`, and
    /// returns the number of series produced.
    pub fn translate<S: SeriesSink>(&mut self, snapshot: &Snapshot, sink: &mut S) -> usize {
        self.generation += 1;
        self.collisions = Collisions::default();
        self.prepare(snapshot, true);
        self.register_points(snapshot);
        let plan = if self.registry.has_collisions() {
            let by_id: HashMap<u64, &MetricData, foldhash::fast::RandomState> = snapshot
                .metrics()
                .map(|m| (m.descriptor.id, &m.data))
                .collect();
            self.registry.plan(
                |id| by_id.get(&id).copied(),
                &mut self.families,
                &mut self.collisions,
            )
        } else {
            Plan::default()
        };
        let count = self.emit_target_info(millis(snapshot.time), sink);
        count + self.emit(snapshot, &plan, sink)
    }

    /// Translates a snapshot that holds only part of the instruments (the series that
    /// end, say): instruments it lacks keep their cached state, nothing is merged
    /// (each series is handed over once), and there is no `target_info`.
    pub fn translate_part<S: SeriesSink>(&mut self, snapshot: &Snapshot, sink: &mut S) -> usize {
        self.prepare(snapshot, false);
        let mut plan = Plan::default();
        let mut seen: HashSet<Key, foldhash::fast::RandomState> = HashSet::default();
        let mut key = String::new();
        for metric in snapshot.metrics() {
            let id = metric.descriptor.id;
            let Some(n) = self.names.get(&id).filter(|n| !n.conflict) else {
                continue;
            };
            let mut ctx = PointContext {
                job: &self.job,
                instance: &self.instance,
                scope: [&n.scope_name, &n.scope_version],
                external: &self.external,
                text: &mut self.text,
                base: &mut self.base,
                bucket: &mut self.bucket,
                samples: &mut self.samples,
            };
            for (i, set) in point_attributes(&metric.data).enumerate() {
                ctx.series_key(&mut key, n, set);
                if !seen.insert(collide::key_of(&key)) {
                    plan.insert((id, i as u32), Action::Skip);
                }
            }
        }
        self.emit(snapshot, &plan, sink)
    }

    /// Reads the resource and the instruments' names; with `evict`, forgets the
    /// instruments `snapshot` lacks (dropped meters, say) and their series keys.
    fn prepare(&mut self, snapshot: &Snapshot, evict: bool) {
        if self.prepare_resource(snapshot) {
            // Every series key holds job and instance.
            self.registry.clear();
            self.names.values_mut().for_each(|n| n.points.clear());
        }
        let mut seen = 0;
        for scope in &snapshot.scopes {
            for metric in &scope.metrics {
                seen += 1;
                self.ensure_names(metric, &scope.scope);
            }
        }
        if evict && self.names.len() > seen {
            let generation = self.generation;
            let registry = &mut self.registry;
            self.names.retain(|id, n| {
                let keep = n.generation == generation;
                if !keep {
                    for (i, p) in n.points.iter().enumerate() {
                        if p.registered {
                            registry.leave(p.key, (*id, i as u32));
                        }
                    }
                }
                keep
            });
            self.families_dirty = true;
        }
        if self.families_dirty {
            self.check_families();
        }
    }

    /// Hands every point's series to `sink`, as `plan` says for colliding points.
    fn emit<S: SeriesSink>(&mut self, snapshot: &Snapshot, plan: &Plan, sink: &mut S) -> usize {
        // Two instruments (in two scopes, say) can share a family: describe it once.
        let mut described: HashSet<&str, foldhash::fast::RandomState> = HashSet::default();
        let Self {
            names,
            text,
            base,
            bucket,
            samples,
            job,
            instance,
            id,
            resource_version,
            external,
            collisions,
            ..
        } = self;
        let mut ctx = PointContext {
            job,
            instance,
            scope: ["", ""],
            external,
            text,
            base,
            bucket,
            samples,
        };
        let mut count = 0;
        for metric in snapshot.metrics() {
            if metric.data.is_empty() {
                continue;
            }
            let Some(names) = names.get(&metric.descriptor.id) else {
                continue;
            };
            if names.conflict {
                collisions.type_conflict_series += series_count(&metric.data);
                continue;
            }
            let version = LabelsVersion {
                translator: *id,
                version: names.version.max(*resource_version),
            };
            if described.insert(names.family.as_str()) {
                sink.metadata(&Metadata {
                    kind: metric_type(&metric.data),
                    family: &names.family,
                    help: &metric.descriptor.description,
                    unit: &names.unit,
                });
            }
            sink.begin_metric(metric.descriptor.id, metric.data.len(), version);
            ctx.scope = [&names.scope_name, &names.scope_version];
            count += ctx.metric(metric, names, plan, sink);
        }
        count
    }

    /// Gives every instrument whose family an earlier instrument of another kind
    /// produces `conflict`.
    fn check_families(&mut self) {
        self.families_dirty = false;
        let mut ids: Vec<u64> = self.names.keys().copied().collect();
        ids.sort_unstable();
        let series_names: Vec<Vec<&str>> = ids
            .iter()
            .filter_map(|id| self.names.get(id))
            .map(Names::series_names)
            .collect();
        let claims: Vec<Claim<'_>> = ids
            .iter()
            .zip(&series_names)
            .filter_map(|(id, series)| {
                let n = self.names.get(id)?;
                Some(Claim {
                    id: *id,
                    kind: n.kind,
                    names: series,
                    instrument: &n.instrument,
                })
            })
            .collect();
        let lost = self.families.conflicts(
            &claims,
            self.target_info_enabled && !self.target_info.is_empty(),
        );
        drop(claims);
        drop(series_names);
        for (id, n) in self.names.iter_mut() {
            n.conflict = lost.contains(id);
            if n.conflict {
                for (i, p) in n.points.drain(..).enumerate() {
                    if p.registered {
                        self.registry.leave(p.key, (*id, i as u32));
                    }
                }
            }
        }
    }

    /// Gives every point of this push a series key: points seen before (the same
    /// attribute set at the same index) keep theirs; new ones get their labels built
    /// once and registered, which is where collisions are found.
    fn register_points(&mut self, snapshot: &Snapshot) {
        let Self {
            names,
            registry,
            text,
            base,
            bucket,
            samples,
            job,
            instance,
            external,
            ..
        } = self;
        let mut key = String::new();
        // Points that now share a key with an earlier one, and that one.
        let mut shared: Vec<(Member, Member)> = Vec::new();
        for metric in snapshot.metrics() {
            let id = metric.descriptor.id;
            let Some(n) = names.get_mut(&id) else {
                continue;
            };
            if n.conflict {
                continue;
            }
            let attributes = point_attributes(&metric.data);
            while n.points.len() > metric.data.len() {
                if let Some(p) = n.points.pop() {
                    if p.registered {
                        registry.leave(p.key, (id, n.points.len() as u32));
                    }
                }
            }
            for (i, set) in attributes.enumerate() {
                let member = (id, i as u32);
                if n.points.get(i).is_some_and(|p| p.attributes.same_set(set)) {
                    continue;
                }
                let mut ctx = PointContext {
                    job,
                    instance,
                    scope: [&n.scope_name, &n.scope_version],
                    external,
                    text: &mut *text,
                    base: &mut *base,
                    bucket: &mut *bucket,
                    samples: &mut *samples,
                };
                ctx.series_key(&mut key, n, set);
                let hash = collide::key_of(&key);
                if let Some(p) = n.points.get_mut(i) {
                    if p.key == hash {
                        // An equal set in a new allocation: the same series.
                        p.attributes = set.clone();
                        continue;
                    }
                    if p.registered {
                        registry.leave(p.key, member);
                    }
                }
                if let Some(other) = registry.join(hash, member, &n.family) {
                    shared.push((member, other));
                }
                let entry = PointKey {
                    attributes: set.clone(),
                    key: hash,
                    registered: true,
                };
                match n.points.get_mut(i) {
                    Some(slot) => *slot = entry,
                    None => n.points.push(entry),
                }
            }
        }
        if !shared.is_empty() {
            self.confirm_shared(shared);
        }
    }

    /// Compares in full the series of points whose keys are equal: equal ones are
    /// merged from now on (and their family warned about once); a pair whose keys
    /// match by chance is taken apart, and the newer point is sent on its own.
    fn confirm_shared(&mut self, shared: Vec<(Member, Member)>) {
        let mut a = String::new();
        let mut b = String::new();
        for (member, other) in shared {
            let (Some(x), Some(y)) = (self.full_key(member, &mut a), self.full_key(other, &mut b))
            else {
                continue;
            };
            if x == y {
                let family = self.names.get(&member.0).map(|n| n.family.clone());
                if let Some(family) = family {
                    self.families.warn_collision(&family, false);
                }
                continue;
            }
            tracing::warn!("two different series have one 128-bit key; they are kept apart");
            let Some(p) = self
                .names
                .get_mut(&member.0)
                .and_then(|n| n.points.get_mut(member.1 as usize))
            else {
                continue;
            };
            p.registered = false;
            let key = p.key;
            self.registry.leave(key, member);
        }
    }

    /// Writes the series key of `member` into `into`; `None` if it is gone.
    fn full_key<'k>(&mut self, member: Member, into: &'k mut String) -> Option<&'k str> {
        let n = self.names.get(&member.0)?;
        let set = n.points.get(member.1 as usize)?.attributes.clone();
        let mut ctx = PointContext {
            job: &self.job,
            instance: &self.instance,
            scope: [&n.scope_name, &n.scope_version],
            external: &self.external,
            text: &mut self.text,
            base: &mut self.base,
            bucket: &mut self.bucket,
            samples: &mut self.samples,
        };
        ctx.series_key(into, n, &set);
        Some(into)
    }

    /// Reads `job` and `instance` and the `target_info` labels from the resource;
    /// returns whether `job` or `instance` changed.
    fn prepare_resource(&mut self, snapshot: &Snapshot) -> bool {
        let resource = &snapshot.resource;
        let get = |key: &'static str| {
            resource
                .get(&opentelemetry::Key::from_static_str(key))
                .map(|v| v.as_str().into_owned())
                .filter(|v| !v.is_empty())
        };
        let mut job = String::new();
        if let Some(name) = get(SERVICE_NAME) {
            if let Some(namespace) = get(SERVICE_NAMESPACE) {
                job.push_str(&namespace);
                job.push('/');
            }
            job.push_str(&name);
        }
        let instance = get(SERVICE_INSTANCE_ID).unwrap_or_default();
        // Every series carries job and instance: a change invalidates sinks' caches.
        let changed = self.resource_version == 0 || job != self.job || instance != self.instance;
        if changed {
            self.versions += 1;
            self.resource_version = self.versions;
            self.job = job;
            self.instance = instance;
        }
        self.target_info.clear();
        let mut other: Vec<KeyValue> = resource
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    SERVICE_NAME | SERVICE_NAMESPACE | SERVICE_INSTANCE_ID
                )
            })
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
            .collect();
        // Resource keys are unique, so sorted is canonical.
        other.sort_by(|a, b| a.key.cmp(&b.key));
        let other = Attributes::from_canonical(other.into());
        for kv in other.iter() {
            let mut value = String::new();
            naming::write_attribute_value(&mut value, &kv.value);
            if let Some(name) = naming::sanitize_label_name(kv.key.as_str()) {
                self.target_info.push((name.into_owned(), value));
            }
        }
        changed
    }

    fn ensure_names(
        &mut self,
        metric: &MetricSnapshot,
        scope: &opentelemetry::InstrumentationScope,
    ) {
        let d = &metric.descriptor;
        let generation = self.generation;
        let versions = &mut self.versions;
        let scope_labels = self.scope_labels;
        let families_dirty = &mut self.families_dirty;
        let names = self.names.entry(d.id).or_insert_with(|| {
            *versions += 1;
            *families_dirty = true;
            let (scope_name, scope_version) = if scope_labels {
                (
                    scope.name().to_owned(),
                    scope.version().unwrap_or_default().to_owned(),
                )
            } else {
                Default::default()
            };
            let kind = naming_kind(&metric.data, d.kind);
            let family = naming::metric_name(&d.name, &d.unit, kind);
            let histogram = if matches!(metric.data, MetricData::Histogram { .. }) {
                ["_bucket", "_sum", "_count"].map(|s| format!("{family}{s}"))
            } else {
                Default::default()
            };
            Names {
                family,
                histogram,
                unit: naming::unit_suffix(&d.unit, kind),
                le: Vec::new(),
                bounds: None,
                version: *versions,
                generation,
                scope_name,
                scope_version,
                kind: FamilyKind::of(&metric.data),
                instrument: d.name.to_string(),
                conflict: false,
                points: Vec::new(),
            }
        });
        names.generation = generation;
        if let MetricData::Histogram { bounds, .. } = &metric.data {
            let same = names
                .bounds
                .as_ref()
                .is_some_and(|b| Arc::ptr_eq(b, bounds) || **b == **bounds);
            if !same {
                names.le = bounds
                    .iter()
                    .map(|&b| {
                        let mut s = String::new();
                        naming::write_float(&mut s, b);
                        s
                    })
                    .chain(["+Inf".to_owned()])
                    .collect();
                names.bounds = Some(bounds.clone());
                *versions += 1;
                names.version = *versions;
            }
        }
    }

    fn emit_target_info<S: SeriesSink>(&mut self, timestamp_ms: i64, sink: &mut S) -> usize {
        if self.target_info.is_empty() || !self.target_info_enabled {
            return 0;
        }
        sink.metadata(&Metadata {
            kind: MetricType::Gauge,
            family: "target_info",
            help: "Target metadata",
            unit: "",
        });
        let text = &mut self.text;
        let base = &mut self.base;
        text.clear();
        base.clear();
        let name = put(text, "__name__");
        let value = put(text, "target_info");
        base.push(Slot { name, value });
        push_service_labels(text, base, &self.job, &self.instance);
        for (name, value) in &self.target_info {
            // The resource's own job/instance win, as for points.
            let name = match name.as_str() {
                "job" | "instance" => format!("exported_{name}"),
                _ => name.clone(),
            };
            push_label(text, base, &name, value);
        }
        finish_labels(text, base);
        add_external(text, base, &self.external);
        sink.series(&Labels { text, slots: base }, 1.0, timestamp_ms);
        1
    }
}

/// Borrowed translator state for the points of one metric.
struct PointContext<'t> {
    job: &'t str,
    instance: &'t str,
    /// The current metric's scope name and version label values (empty: none).
    scope: [&'t str; 2],
    external: &'t [(String, String)],
    text: &'t mut String,
    base: &'t mut Vec<Slot>,
    bucket: &'t mut Vec<Slot>,
    samples: &'t mut Vec<f64>,
}

impl PointContext<'_> {
    fn metric<S: SeriesSink>(
        &mut self,
        metric: &MetricSnapshot,
        names: &Names,
        plan: &Plan,
        sink: &mut S,
    ) -> usize {
        let ts = millis(metric.time);
        let id = metric.descriptor.id;
        // Only colliding points are in the plan; usually it is empty.
        let planned = |index: usize| {
            if plan.is_empty() {
                None
            } else {
                plan.get(&(id, index as u32))
            }
        };
        self.text.clear();
        let mut count = 0;
        match &metric.data {
            MetricData::Sum { points, .. } | MetricData::Gauge { points } => {
                let name = put(self.text, &names.family);
                let mark = self.text.len();
                for (index, point) in points.iter().enumerate() {
                    let value = match planned(index) {
                        Some(Action::Skip) => continue,
                        Some(Action::Number(v)) => *v,
                        _ => point.value.as_f64(),
                    };
                    count += 1;
                    if sink.reuse_point(index, &point.attributes, &[value], ts) {
                        continue;
                    }
                    self.text.truncate(mark);
                    self.point_labels(name, &point.attributes, false);
                    sink.series(
                        &Labels {
                            text: self.text,
                            slots: self.base,
                        },
                        value,
                        ts,
                    );
                }
                count
            }
            MetricData::Histogram { points, .. } => {
                let [bucket_name, sum_name, count_name] =
                    names.histogram.each_ref().map(|n| put(self.text, n));
                let le_name = put(self.text, "le");
                let les: Vec<Span> = names.le.iter().map(|le| put(self.text, le)).collect();
                let mark = self.text.len();
                for (index, point) in points.iter().enumerate() {
                    let point: &HistogramPoint = match planned(index) {
                        Some(Action::Skip) => continue,
                        Some(Action::Histogram(merged)) => merged,
                        _ => point,
                    };
                    count += les.len() + 2;
                    // One value per series, in series order: the buckets, sum, count.
                    self.samples.clear();
                    let mut cumulative = 0u64;
                    for i in 0..les.len() {
                        // The last bucket (+Inf) is the count, whatever the buckets say.
                        cumulative = if i + 1 == les.len() {
                            point.count
                        } else {
                            cumulative
                                .saturating_add(point.bucket_counts.get(i).copied().unwrap_or(0))
                        };
                        self.samples.push(cumulative as f64);
                    }
                    self.samples.push(point.sum);
                    self.samples.push(point.count as f64);
                    if sink.reuse_point(index, &point.attributes, self.samples, ts) {
                        continue;
                    }
                    self.text.truncate(mark);
                    self.point_labels(bucket_name, &point.attributes, true);
                    // Bucket series: the point's labels plus `le`, in sorted position.
                    self.bucket.clear();
                    self.bucket.extend_from_slice(self.base);
                    let text: &str = self.text;
                    let at = self.bucket.partition_point(|s| s.name.get(text) < "le");
                    self.bucket.insert(
                        at,
                        Slot {
                            name: le_name,
                            value: Span::default(),
                        },
                    );
                    for (le, &value) in les.iter().zip(self.samples.iter()) {
                        self.bucket[at].value = *le;
                        sink.series(
                            &Labels {
                                text,
                                slots: self.bucket,
                            },
                            value,
                            ts,
                        );
                    }
                    let name_at = self.base_name_index();
                    self.base[name_at].value = sum_name;
                    let labels = Labels {
                        text,
                        slots: self.base,
                    };
                    sink.series(&labels, point.sum, ts);
                    self.base[name_at].value = count_name;
                    let labels = Labels {
                        text,
                        slots: self.base,
                    };
                    sink.series(&labels, point.count as f64, ts);
                }
                count
            }
        }
    }

    /// Writes the identity of a point's series into `key`: the family, a NUL, then its
    /// labels (`le` aside), length-prefixed so that no value can fake a boundary.
    fn series_key(&mut self, key: &mut String, names: &Names, attributes: &Attributes) {
        use std::fmt::Write as _;
        self.text.clear();
        let name = put(self.text, &names.family);
        let histogram = !names.histogram[0].is_empty();
        self.point_labels(name, attributes, histogram);
        key.clear();
        key.push_str(&names.family);
        key.push('\0');
        let labels = Labels {
            text: self.text,
            slots: self.base,
        };
        for (label, value) in labels.iter() {
            let _ = write!(key, "{}:{label}{}:{value}", label.len(), value.len());
        }
    }

    fn base_name_index(&self) -> usize {
        let text: &str = self.text;
        self.base
            .iter()
            .position(|s| s.name.get(text) == "__name__")
            .unwrap_or(0)
    }

    /// Fills `base` with the labels of one point: `__name__`, job, instance and the
    /// attributes, sorted, merged and without empty values.
    fn point_labels(&mut self, metric_name: Span, attributes: &[KeyValue], histogram: bool) {
        let text = &mut *self.text;
        let base = &mut *self.base;
        base.clear();
        for kv in attributes {
            let start = text.len();
            if !naming::push_label_name(text, kv.key.as_str()) {
                continue;
            }
            let taken = match &text[start..] {
                "job" => !self.job.is_empty(),
                "instance" => !self.instance.is_empty(),
                "le" => histogram,
                SCOPE_NAME_LABEL => !self.scope[0].is_empty(),
                SCOPE_VERSION_LABEL => !self.scope[1].is_empty(),
                _ => false,
            };
            if taken {
                text.insert_str(start, "exported_");
            }
            let name = Span {
                start: start as u32,
                end: text.len() as u32,
            };
            let value_start = text.len();
            naming::write_attribute_value(text, &kv.value);
            if text.len() == value_start {
                text.truncate(start);
                continue;
            }
            let value = Span {
                start: value_start as u32,
                end: text.len() as u32,
            };
            base.push(Slot { name, value });
        }
        // Attributes come sorted by key, and sanitising rarely reorders them: sorting
        // and merging are usually a no-op check.
        finish_labels(text, base);
        // Our own labels never collide (attributes were renamed away from them): they
        // only need their sorted place.
        let name = put(text, "__name__");
        insert_sorted(
            text,
            base,
            Slot {
                name,
                value: metric_name,
            },
        );
        if !self.job.is_empty() {
            let slot = Slot {
                name: put(text, "job"),
                value: put(text, self.job),
            };
            insert_sorted(text, base, slot);
        }
        if !self.instance.is_empty() {
            let slot = Slot {
                name: put(text, "instance"),
                value: put(text, self.instance),
            };
            insert_sorted(text, base, slot);
        }
        for (name, value) in [SCOPE_NAME_LABEL, SCOPE_VERSION_LABEL]
            .into_iter()
            .zip(self.scope)
        {
            if !value.is_empty() {
                let slot = Slot {
                    name: put(text, name),
                    value: put(text, value),
                };
                insert_sorted(text, base, slot);
            }
        }
        add_external(text, base, self.external);
    }
}

/// Adds each external label whose name the series does not have yet.
fn add_external(text: &mut String, base: &mut Vec<Slot>, external: &[(String, String)]) {
    for (name, value) in external {
        let at = {
            let t: &str = text;
            base.binary_search_by(|s| s.name.get(t).cmp(name.as_str()))
        };
        if let Err(at) = at {
            let slot = Slot {
                name: put(text, name),
                value: put(text, value),
            };
            base.insert(at, slot);
        }
    }
}

fn insert_sorted(text: &str, base: &mut Vec<Slot>, slot: Slot) {
    let name = slot.name.get(text);
    let at = base.partition_point(|s| s.name.get(text) < name);
    base.insert(at, slot);
}

fn push_service_labels(text: &mut String, base: &mut Vec<Slot>, job: &str, instance: &str) {
    if !job.is_empty() {
        push_label(text, base, "job", job);
    }
    if !instance.is_empty() {
        push_label(text, base, "instance", instance);
    }
}

fn push_label(text: &mut String, base: &mut Vec<Slot>, name: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    let name = put(text, name);
    let value = put(text, value);
    base.push(Slot { name, value });
}

/// Sorts by name and merges equal names, joining their values with `;`. The sort is
/// stable and attributes arrive sorted by original key, so the join follows that order.
fn finish_labels(text: &mut String, base: &mut Vec<Slot>) {
    {
        let t: &str = text;
        if !base.is_sorted_by(|a, b| a.name.get(t) < b.name.get(t)) {
            base.sort_by(|a, b| a.name.get(t).cmp(b.name.get(t)));
        }
    }
    let mut i = 1;
    while i < base.len() {
        if base[i].name.get(text) != base[i - 1].name.get(text) {
            i += 1;
            continue;
        }
        // Collisions are rare: rebuild the joined value at the end of the buffer.
        let (prev, next) = (base[i - 1].value, base[i].value);
        let joined = format!("{};{}", prev.get(text), next.get(text));
        base[i - 1].value = put(text, &joined);
        base.remove(i);
    }
}

/// The attribute sets of a metric's points, in order.
fn point_attributes(data: &MetricData) -> Box<dyn Iterator<Item = &Attributes> + '_> {
    match data {
        MetricData::Sum { points, .. } | MetricData::Gauge { points } => {
            Box::new(points.iter().map(|p| &p.attributes))
        }
        MetricData::Histogram { points, .. } => Box::new(points.iter().map(|p| &p.attributes)),
    }
}

/// The number of series a metric's points make.
fn series_count(data: &MetricData) -> usize {
    match data {
        MetricData::Histogram { bounds, points } => points.len() * (bounds.len() + 3),
        other => other.len(),
    }
}

/// The instrument kind that names the metric: the data decides (a monotonic sum is a
/// counter), the descriptor only tells gauges from up-down counters.
fn naming_kind(data: &MetricData, kind: InstrumentKind) -> InstrumentKind {
    match data {
        MetricData::Sum {
            monotonic: true, ..
        } => InstrumentKind::Counter,
        MetricData::Sum { .. } => InstrumentKind::UpDownCounter,
        MetricData::Histogram { .. } => InstrumentKind::Histogram,
        MetricData::Gauge { .. } if kind.is_observable() => InstrumentKind::ObservableGauge,
        MetricData::Gauge { .. } => InstrumentKind::Gauge,
    }
}

fn metric_type(data: &MetricData) -> MetricType {
    match data {
        MetricData::Sum {
            monotonic: true, ..
        } => MetricType::Counter,
        MetricData::Sum { .. } | MetricData::Gauge { .. } => MetricType::Gauge,
        MetricData::Histogram { .. } => MetricType::Histogram,
    }
}

/// Milliseconds since the Unix epoch (negative before it).
pub(crate) fn millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}
