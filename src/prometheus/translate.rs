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
//! - Every series but `target_info` gets `otel_scope_name` (and `otel_scope_version`,
//!   `otel_scope_schema_url` and `otel_scope_<attribute>` for what the meter's scope
//!   has), unless [`Translator::set_scope_labels`] turns them off.
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

use opentelemetry::KeyValue;

use super::collide::{Action, FamilyChecks, Plan, SeriesKeys};
use super::exemplar_selection::{Handover, Marks};
use super::labels::{
    add_external, finish_labels, push_label, push_service_labels, CommonLabels, PointContext,
    Scratch,
};
use super::model::{key_of, millis, point_attributes, Key, Versions};
use super::name_cache::{NameCache, Parts};
use super::naming;
use super::series::{put, Slot};
use crate::snapshot::{Attributes, MetricData, Snapshot};

pub use super::collide::Collisions;
pub use super::series::{
    Labels, LabelsVersion, Metadata, MetricType, NativeSample, Sample, SeriesSink,
};

/// The resource attributes that become `job` and `instance` instead of `target_info`
/// labels.
const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// Translates [`Snapshot`]s into Prometheus series. Keep one per push destination and
/// reuse it: it caches translated names per instrument and reuses its buffers.
///
/// ```text
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
#[derive(Debug, Default)]
pub struct Translator {
    /// Per instrument: translated names and its points' series keys.
    pub(super) cache: NameCache,
    /// The push count; instruments not seen in the latest push are evicted.
    pub(super) generation: u64,
    pub(super) versions: Versions,
    pub(super) scratch: Scratch,
    /// `job`, `instance` (rebuilt per push) and the external labels.
    pub(super) common: CommonLabels,
    /// The other resource labels, rebuilt per push.
    pub(super) target_info: Vec<(String, String)>,
    pub(super) options: TranslateOptions,
    /// The newest exemplar handed over per point.
    pub(super) exemplar_marks: Marks,
    /// The series key of every point seen, and which collide.
    pub(super) registry: SeriesKeys,
    pub(super) families: FamilyChecks,
    /// What the latest [`translate`](Translator::translate) merged and dropped.
    pub(super) collisions: Collisions,
}

/// What a translator produces besides the points' own series and labels.
#[derive(Debug)]
pub(super) struct TranslateOptions {
    /// Whether to produce the `target_info` series.
    pub(super) target_info: bool,
    /// Whether series carry `otel_scope_name` and `otel_scope_version`.
    pub(super) scope_labels: bool,
    /// Whether exponential histograms go to the sink as native histograms.
    pub(super) native_histograms: bool,
    /// For a scraper (pull): no `job` and `instance` (the scraper sets its own), every
    /// resource attribute on `target_info`, exemplars at every translation.
    pub(super) pull: bool,
    /// In pull mode, whether series carry exemplars (OpenMetrics, not the text format).
    pub(super) pull_exemplars: bool,
}

impl Default for TranslateOptions {
    fn default() -> Self {
        Self {
            target_info: true,
            scope_labels: true,
            native_histograms: false,
            pull: false,
            pull_exemplars: true,
        }
    }
}

impl Translator {
    /// An empty translator.
    #[cfg(test)]
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
        let mut translator = Self::default();
        translator.common.external = external;
        translator
    }

    /// Whether to produce the `target_info` series (on by default). Off for a second
    /// stream of series to a destination that already gets `target_info` from another.
    pub fn set_target_info(&mut self, enabled: bool) {
        self.options.target_info = enabled;
    }

    /// Translates for a scraper rather than for remote write, as the compatibility spec
    /// says for pull: series carry no `job` or `instance` (the scraper adds its own) and
    /// `target_info` carries every resource attribute, `service.*` included. Exemplars
    /// go with counters' and histograms' series only, and all of them at every
    /// translation, so that every scraper sees them (a push hands each over once).
    pub fn for_scraping() -> Self {
        let mut translator = Self::default();
        translator.options.pull = true;
        translator
    }

    /// Whether series carry the scope's labels: `otel_scope_name`, `otel_scope_version`,
    /// `otel_scope_schema_url` and `otel_scope_<attribute>` (on by default,
    /// as the OpenTelemetry–Prometheus compatibility spec requires). With them off,
    /// same-named instruments of several meters make one series, merged as described
    /// in the module documentation.
    pub fn set_scope_labels(&mut self, enabled: bool) {
        if enabled != self.options.scope_labels {
            self.options.scope_labels = enabled;
            // Every cached label set changes.
            self.cache.names.clear();
            self.registry.clear();
        }
    }

    /// How names and label names are translated (the default escapes them and adds
    /// suffixes, as the compatibility specification says).
    pub fn set_name_translation(&mut self, translation: naming::NameTranslation) {
        if translation != self.common.translation {
            self.common.translation = translation;
            // Every cached name and label set changes.
            self.cache.names.clear();
            self.registry.clear();
        }
    }

    /// Whether exponential histograms of scale −4 and up go to the sink as native
    /// histograms ([`SeriesSink::native_histogram`]): off by default, for sinks and
    /// receivers without them. Off, and below scale −4, they are classic `_bucket`,
    /// `_sum` and `_count` series with the exponential buckets' upper bounds as `le`.
    pub fn set_native_histograms(&mut self, enabled: bool) {
        self.options.native_histograms = enabled;
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
        self.cache.register_points(
            snapshot,
            Parts {
                registry: &mut self.registry,
                families: &mut self.families,
                scratch: &mut self.scratch,
                common: &self.common,
            },
        );
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
            let Some(n) = self.cache.names.get(&id).filter(|n| !n.conflict) else {
                continue;
            };
            let mut ctx = PointContext {
                common: &self.common,
                scope: n.scope(),
                scratch: &mut self.scratch,
                native_histograms: self.options.native_histograms,
                exemplars: Handover::Off,
            };
            for (i, set) in point_attributes(&metric.data).enumerate() {
                ctx.series_key(&mut key, n, set);
                if !seen.insert(key_of(&key)) {
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
            self.cache.names.values_mut().for_each(|n| n.points.clear());
        }
        let mut seen = 0;
        for scope in &snapshot.scopes {
            for metric in &scope.metrics {
                seen += 1;
                self.cache.ensure_names(
                    metric,
                    &scope.scope,
                    self.generation,
                    &mut self.versions,
                    self.options.scope_labels,
                    self.common.translation,
                );
            }
        }
        if evict && self.cache.names.len() > seen {
            let generation = self.generation;
            let registry = &mut self.registry;
            self.cache.names.retain(|id, n| {
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
            self.cache.families_dirty = true;
            let names = &self.cache.names;
            self.exemplar_marks.retain(|id| names.contains_key(&id));
        }
        if self.cache.families_dirty {
            self.cache.check_families(
                &mut self.families,
                &mut self.registry,
                self.options.target_info && !self.target_info.is_empty(),
            );
        }
    }

    /// Hands every point's series to `sink`, as `plan` says for colliding points.
    fn emit<S: SeriesSink>(&mut self, snapshot: &Snapshot, plan: &Plan, sink: &mut S) -> usize {
        // Two instruments (in two scopes, say) can share a family: describe it once.
        let mut described: HashSet<&str, foldhash::fast::RandomState> = HashSet::default();
        let Self {
            cache: NameCache { names, .. },
            versions,
            scratch,
            common,
            collisions,
            options,
            exemplar_marks,
            ..
        } = self;
        let mut ctx = PointContext {
            common,
            scope: &[],
            scratch,
            native_histograms: options.native_histograms,
            exemplars: match (options.pull, options.pull_exemplars) {
                (false, _) => Handover::Fresh(exemplar_marks),
                (true, true) => Handover::Scrape,
                (true, false) => Handover::Off,
            },
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
                translator: versions.translator.0,
                version: names.version.max(versions.resource),
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
            ctx.scope = names.scope();
            count += ctx.metric(metric, names, plan, sink);
        }
        count
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
        let mut instance = get(SERVICE_INSTANCE_ID).unwrap_or_default();
        if self.options.pull {
            job.clear();
            instance.clear();
        }
        // Every series carries job and instance: a change invalidates sinks' caches.
        let common = &mut self.common;
        let changed =
            self.versions.resource == 0 || job != common.job || instance != common.instance;
        if changed {
            self.versions.resource = self.versions.next();
            common.job = job;
            common.instance = instance;
        }
        self.target_info.clear();
        let mut other: Vec<KeyValue> = resource
            .iter()
            .filter(|(k, _)| {
                self.options.pull
                    || !matches!(
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
            match self.common.translation.label_name(kv.key.as_str()) {
                // The series' own name wins, as for points.
                Some(name) if name != "__name__" => {
                    self.target_info.push((name.into_owned(), value))
                }
                _ => {}
            }
        }
        changed
    }

    fn emit_target_info<S: SeriesSink>(&mut self, timestamp_ms: i64, sink: &mut S) -> usize {
        if self.target_info.is_empty() || !self.options.target_info {
            return 0;
        }
        sink.metadata(&Metadata {
            kind: MetricType::Gauge,
            family: "target_info",
            help: "Target metadata",
            unit: "",
        });
        let text = &mut self.scratch.text;
        let base = &mut self.scratch.base;
        text.clear();
        base.clear();
        let name = put(text, "__name__");
        let value = put(text, "target_info");
        base.push(Slot { name, value });
        push_service_labels(text, base, &self.common.job, &self.common.instance);
        for (name, value) in &self.target_info {
            // The resource's own job/instance win, as for points.
            let name = match name.as_str() {
                "job" | "instance" => format!("exported_{name}"),
                _ => name.clone(),
            };
            push_label(text, base, &name, value);
        }
        finish_labels(text, base);
        add_external(text, base, &self.common.external);
        sink.series(&Labels { text, slots: base }, 1.0, timestamp_ms);
        1
    }
}

/// The number of series a metric's points make.
fn series_count(data: &MetricData) -> usize {
    match data {
        MetricData::Histogram { bounds, points } => points.len() * (bounds.len() + 3),
        MetricData::ExponentialHistogram { points } => points
            .iter()
            .map(|p| p.positive.counts.len() + p.negative.counts.len() + 4)
            .sum(),
        other => other.len(),
    }
}

fn metric_type(data: &MetricData) -> MetricType {
    match data {
        MetricData::Sum {
            monotonic: true, ..
        } => MetricType::Counter,
        MetricData::Sum { .. } | MetricData::Gauge { .. } => MetricType::Gauge,
        MetricData::Histogram { .. } | MetricData::ExponentialHistogram { .. } => {
            MetricType::Histogram
        }
    }
}
