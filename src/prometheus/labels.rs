//! Building one point's labels (sorted, unique, no empty values, the translator's own
//! labels in place) in a reused text buffer, and handing the point's series to a sink.

use opentelemetry::KeyValue;

use super::collide::{Action, Plan};
use super::exemplar_selection::{in_bucket, Handover};
use super::model::{
    millis, Names, SCOPE_ATTRIBUTE_PREFIX, SCOPE_NAME_LABEL, SCOPE_SCHEMA_URL_LABEL,
    SCOPE_VERSION_LABEL,
};
use super::naming;
use super::naming::NameTranslation;
use super::series::{put, Labels, ReusedPoint, Sample, SeriesSink, Slot, Span};
use crate::snapshot::{Attributes, Exemplar, HistogramPoint, MetricData, MetricSnapshot};

/// The labels every series of a push carries (but for a point attribute's `exported_`
/// rename): `job` and `instance` from the resource (empty: none), and the external ones,
/// sorted by name.
#[derive(Debug, Default)]
pub(crate) struct CommonLabels {
    pub(super) job: String,
    pub(super) instance: String,
    pub(super) external: Vec<(String, String)>,
    /// How attribute keys become label names.
    pub(super) translation: NameTranslation,
}

/// The labels a scope gives each of its series, sorted by name, none empty: as the
/// compatibility specification says and Prometheus' OTLP receiver writes them
/// (`promote_scope_metadata`), `otel_scope_name`, `otel_scope_version`,
/// `otel_scope_schema_url`, and `otel_scope_<key>` for each scope attribute (named by
/// `translation` like any label name, so escaped or kept as it is; keys that meet after
/// escaping join their values with `;`). The name, version and schema URL win over an
/// attribute that would give the same label. Computed once per instrument.
pub(super) fn scope_labels(
    scope: &opentelemetry::InstrumentationScope,
    translation: NameTranslation,
) -> Vec<(String, String)> {
    let own = [
        (SCOPE_NAME_LABEL, scope.name()),
        (SCOPE_VERSION_LABEL, scope.version().unwrap_or_default()),
        (
            SCOPE_SCHEMA_URL_LABEL,
            scope.schema_url().unwrap_or_default(),
        ),
    ];
    let mut labels: Vec<(String, String)> = Vec::new();
    for kv in scope.attributes() {
        let mut name = String::new();
        if !translation.push_label_name(&mut name, &format!("{SCOPE_ATTRIBUTE_PREFIX}{}", kv.key)) {
            continue;
        }
        let mut value = String::new();
        naming::write_attribute_value(&mut value, &kv.value);
        if value.is_empty() || own.iter().any(|(own, _)| *own == name) {
            continue;
        }
        match labels.iter_mut().find(|(n, _)| *n == name) {
            Some((_, existing)) => {
                existing.push(';');
                existing.push_str(&value);
            }
            None => labels.push((name, value)),
        }
    }
    labels.extend(
        own.iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
    );
    labels.sort();
    labels
}

/// Buffers reused for every point, so a warm translator allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Label strings of the metric being translated (names, values, `le`s).
    pub(super) text: String,
    /// The labels of the current point.
    pub(super) base: Vec<Slot>,
    /// The labels of the current point plus `le`, for histogram buckets.
    pub(super) bucket: Vec<Slot>,
    /// Sample values of the current point, one per series.
    pub(super) samples: Vec<f64>,
}

/// Where the `le` label name and the `_sum` and `_count` series names are in the text
/// buffer.
pub(super) struct HistogramNames {
    pub(super) le: Span,
    pub(super) sum: Span,
    pub(super) count: Span,
}

/// One histogram point's classic form: the `le` values (`+Inf` last), their upper
/// bounds (`+Inf` left out), the sum and count, and the exemplars to send.
pub(super) struct ClassicPoint<'a> {
    pub(super) les: &'a [Span],
    pub(super) bounds: &'a [f64],
    pub(super) sum: f64,
    pub(super) count: u64,
    pub(super) exemplars: &'a [Exemplar],
}

/// What every point of the metric being translated shares.
struct PointsOf<'b> {
    /// The metric's [`Descriptor::id`](crate::snapshot::Descriptor::id).
    metric: u64,
    /// The push's time, milliseconds.
    ts: i64,
    /// The end of the metric's names in `scratch.text`; each point's own strings follow.
    names_end: usize,
    /// The name of the point's first series.
    name: Span,
    /// Whether the series get an `le` label (classic histogram buckets).
    le: bool,
    /// Whether OpenMetrics lets the series carry exemplars (counters, histograms).
    exemplars_allowed: bool,
    /// A classic histogram's bucket upper bounds; `None` for number points.
    bounds: Option<&'b [f64]>,
}

/// Borrowed translator state for the points of one metric.
pub(super) struct PointContext<'t> {
    pub(super) common: &'t CommonLabels,
    /// The current metric's scope labels, sorted by name ([`scope_labels`]).
    pub(super) scope: &'t [(String, String)],
    pub(super) scratch: &'t mut Scratch,
    /// Exponential histograms go out as native ones (scale −4 and up).
    pub(super) native_histograms: bool,
    /// Which exemplars go with the series.
    pub(super) exemplars: Handover<'t>,
}

impl PointContext<'_> {
    pub(super) fn metric<S: SeriesSink>(
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
        self.scratch.text.clear();
        let mut count = 0;
        match &metric.data {
            MetricData::Sum { points, .. } | MetricData::Gauge { points } => {
                let name = put(&mut self.scratch.text, &names.family);
                let at = PointsOf {
                    metric: id,
                    ts,
                    names_end: self.scratch.text.len(),
                    name,
                    le: false,
                    exemplars_allowed: matches!(
                        metric.data,
                        MetricData::Sum {
                            monotonic: true,
                            ..
                        }
                    ),
                    bounds: None,
                };
                for (index, point) in points.iter().enumerate() {
                    let value = match planned(index) {
                        Some(Action::Skip) => continue,
                        Some(Action::Number(v)) => *v,
                        _ => point.value.as_f64(),
                    };
                    count += 1;
                    self.scratch.samples.clear();
                    self.scratch.samples.push(value);
                    sink.point_start(if at.exemplars_allowed {
                        millis(point.start_time)
                    } else {
                        0
                    });
                    let Some(exemplars) =
                        self.start_point(sink, &at, index, &point.attributes, &point.exemplars)
                    else {
                        continue;
                    };
                    let labels = Labels {
                        text: &self.scratch.text,
                        slots: &self.scratch.base,
                    };
                    let sample = Sample {
                        value,
                        timestamp_ms: ts,
                        exemplars,
                    };
                    sink.series_with_exemplars(&labels, sample);
                }
                count
            }
            MetricData::Histogram { points, .. } => {
                let [bucket_name, sum_name, count_name] = names
                    .histogram
                    .each_ref()
                    .map(|n| put(&mut self.scratch.text, n));
                let le_name = put(&mut self.scratch.text, "le");
                let les: Vec<Span> = names
                    .le
                    .iter()
                    .map(|le| put(&mut self.scratch.text, le))
                    .collect();
                let at = PointsOf {
                    metric: id,
                    ts,
                    names_end: self.scratch.text.len(),
                    name: bucket_name,
                    le: true,
                    exemplars_allowed: true,
                    bounds: Some(names.bounds.as_deref().unwrap_or_default()),
                };
                for (index, point) in points.iter().enumerate() {
                    let point: &HistogramPoint = match planned(index) {
                        Some(Action::Skip) => continue,
                        Some(Action::Histogram(merged)) => merged,
                        _ => point,
                    };
                    count += les.len() + 2;
                    // One value per series, in series order: the buckets, sum, count.
                    self.scratch.samples.clear();
                    let mut cumulative = 0u64;
                    for i in 0..les.len() {
                        // The last bucket (+Inf) is the count, whatever the buckets say.
                        cumulative = if i + 1 == les.len() {
                            point.count
                        } else {
                            cumulative
                                .saturating_add(point.bucket_counts.get(i).copied().unwrap_or(0))
                        };
                        self.scratch.samples.push(cumulative as f64);
                    }
                    self.scratch.samples.push(point.sum);
                    self.scratch.samples.push(point.count as f64);
                    sink.point_start(millis(point.start_time));
                    let Some(exemplars) =
                        self.start_point(sink, &at, index, &point.attributes, &point.exemplars)
                    else {
                        continue;
                    };
                    let spans = HistogramNames {
                        le: le_name,
                        sum: sum_name,
                        count: count_name,
                    };
                    let classic = ClassicPoint {
                        les: &les,
                        bounds: names.bounds.as_deref().unwrap_or_default(),
                        sum: point.sum,
                        count: point.count,
                        exemplars,
                    };
                    self.classic_series(&spans, &classic, ts, sink);
                }
                count
            }
            MetricData::ExponentialHistogram { points } => {
                self.exponential(points, names, id, &planned, ts, sink)
            }
        }
    }

    /// Hands a classic histogram's series to `sink`, for the point whose labels are in
    /// `base` (named `_bucket`): one `_bucket` series per `le` with the value in
    /// `samples` at the same place (and the exemplars of its bucket), then `_sum` and
    /// `_count`.
    pub(super) fn classic_series<S: SeriesSink>(
        &mut self,
        names: &HistogramNames,
        point: &ClassicPoint<'_>,
        ts: i64,
        sink: &mut S,
    ) {
        // Bucket series: the point's labels plus `le`, in sorted position.
        self.scratch.bucket.clear();
        self.scratch.bucket.extend_from_slice(&self.scratch.base);
        let text: &str = &self.scratch.text;
        let at = self
            .scratch
            .bucket
            .partition_point(|s| s.name.get(text) < "le");
        self.scratch.bucket.insert(
            at,
            Slot {
                name: names.le,
                value: Span::default(),
            },
        );
        let samples = self.scratch.samples.iter();
        for (i, (le, &value)) in point.les.iter().zip(samples).enumerate() {
            self.scratch.bucket[at].value = *le;
            let labels = Labels {
                text,
                slots: &self.scratch.bucket,
            };
            if point.exemplars.is_empty() {
                sink.series(&labels, value, ts);
            } else {
                let exemplars = in_bucket(point.exemplars, point.bounds, i);
                let sample = Sample {
                    value,
                    timestamp_ms: ts,
                    exemplars: &exemplars,
                };
                sink.series_with_exemplars(&labels, sample);
            }
        }
        let name_at = self.base_name_index();
        self.scratch.base[name_at].value = names.sum;
        let labels = Labels {
            text,
            slots: &self.scratch.base,
        };
        sink.series(&labels, point.sum, ts);
        self.scratch.base[name_at].value = names.count;
        let labels = Labels {
            text,
            slots: &self.scratch.base,
        };
        sink.series(&labels, point.count as f64, ts);
    }

    /// Builds point `index`'s labels in `scratch.base` and returns its exemplars to
    /// hand over; `None` when `sink` wrote the point's series (and exemplars) from its
    /// cache (their values are in `scratch.samples`), so the point is done.
    fn start_point<'e, S: SeriesSink>(
        &mut self,
        sink: &mut S,
        at: &PointsOf<'_>,
        index: usize,
        attributes: &Attributes,
        exemplars: &'e [Exemplar],
    ) -> Option<&'e [Exemplar]> {
        let unsent = self
            .exemplars
            .select(at.metric, attributes, exemplars, at.exemplars_allowed);
        let samples = &self.scratch.samples;
        let reused = if unsent.is_empty() {
            sink.reuse_point(index, attributes, samples, at.ts)
        } else {
            sink.reuse_point_with_exemplars(ReusedPoint {
                index,
                set: attributes,
                samples,
                exemplars: unsent,
                bounds: at.bounds,
            })
        };
        if reused {
            return None;
        }
        self.scratch.text.truncate(at.names_end);
        self.point_labels(at.name, attributes, at.le);
        Some(unsent)
    }

    /// Writes the identity of a point's series into `key`: the family, a NUL, then its
    /// labels (`le` aside), length-prefixed so that no value can fake a boundary.
    pub(super) fn series_key(&mut self, key: &mut String, names: &Names, attributes: &Attributes) {
        use std::fmt::Write as _;
        self.scratch.text.clear();
        let name = put(&mut self.scratch.text, &names.family);
        let histogram = !names.histogram[0].is_empty();
        self.point_labels(name, attributes, histogram);
        key.clear();
        key.push_str(&names.family);
        key.push('\0');
        let labels = Labels {
            text: &self.scratch.text,
            slots: &self.scratch.base,
        };
        for (label, value) in labels.iter() {
            let _ = write!(key, "{}:{label}{}:{value}", label.len(), value.len());
        }
    }

    pub(super) fn base_name_index(&self) -> usize {
        let text: &str = &self.scratch.text;
        self.scratch
            .base
            .iter()
            .position(|s| s.name.get(text) == "__name__")
            .unwrap_or(0)
    }

    /// Fills `base` with the labels of one point: `__name__`, job, instance and the
    /// attributes, sorted, merged and without empty values.
    pub(super) fn point_labels(
        &mut self,
        metric_name: Span,
        attributes: &[KeyValue],
        histogram: bool,
    ) {
        let text = &mut self.scratch.text;
        let base = &mut self.scratch.base;
        base.clear();
        for kv in attributes {
            let start = text.len();
            if !self
                .common
                .translation
                .push_label_name(text, kv.key.as_str())
            {
                continue;
            }
            // A `__name__` attribute gives way to the series' name, as in Prometheus'
            // own OTLP receiver.
            if &text[start..] == "__name__" {
                text.truncate(start);
                continue;
            }
            let taken = match &text[start..] {
                "job" => !self.common.job.is_empty(),
                "instance" => !self.common.instance.is_empty(),
                "le" => histogram,
                other => self.scope.iter().any(|(name, _)| name == other),
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
        if !self.common.job.is_empty() {
            let slot = Slot {
                name: put(text, "job"),
                value: put(text, &self.common.job),
            };
            insert_sorted(text, base, slot);
        }
        if !self.common.instance.is_empty() {
            let slot = Slot {
                name: put(text, "instance"),
                value: put(text, &self.common.instance),
            };
            insert_sorted(text, base, slot);
        }
        for (name, value) in self.scope {
            let slot = Slot {
                name: put(text, name),
                value: put(text, value),
            };
            insert_sorted(text, base, slot);
        }
        add_external(text, base, &self.common.external);
    }
}

/// Adds each external label whose name the series does not have yet.
pub(super) fn add_external(text: &mut String, base: &mut Vec<Slot>, external: &[(String, String)]) {
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

pub(super) fn push_service_labels(
    text: &mut String,
    base: &mut Vec<Slot>,
    job: &str,
    instance: &str,
) {
    if !job.is_empty() {
        push_label(text, base, "job", job);
    }
    if !instance.is_empty() {
        push_label(text, base, "instance", instance);
    }
}

pub(super) fn push_label(text: &mut String, base: &mut Vec<Slot>, name: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    let name = put(text, name);
    let value = put(text, value);
    base.push(Slot { name, value });
}

/// Sorts by name and merges equal names, joining their values with `;`. The sort is
/// stable and attributes arrive sorted by original key, so the join follows that order.
pub(super) fn finish_labels(text: &mut String, base: &mut Vec<Slot>) {
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
