//! Computes custom metrics from a collection of their base instruments.
//!
//! Base values are cumulative, so a group's value is the merge of its members' current
//! values: sums add ([`Number::saturating_add`]), histograms merge bucket by bucket
//! ([`HistogramPoint::merge`]), and a gauge group shows its most recently changed
//! member. Nothing runs per measurement: the filter and the projection of each base
//! series are computed the first time the series is seen (or the definition is new)
//! and remembered while the series exists.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;

use super::definition::CustomMetric;
use super::filter::{self, KeyRef};

use crate::prometheus::naming;
use crate::snapshot::{
    Attributes, Descriptor, Exemplar, ExponentialHistogramPoint, HistogramPoint, MetricData,
    MetricSnapshot, Number, NumberPoint, Snapshot,
};
use crate::Error;

/// A created custom metric, compiled.
#[derive(Debug)]
pub(crate) struct CompiledMetric {
    pub(crate) definition: CustomMetric,
    /// The derived metric's instrument id: exporters key their caches by it.
    pub(crate) id: u64,
    pub(crate) interval: Duration,
    filter: Option<filter::Compiled>,
    group_by: Vec<KeyRef>,
}

impl CompiledMetric {
    /// Compiles a definition that passed validation.
    pub(crate) fn new(definition: CustomMetric) -> Result<Self, Error> {
        let filter = definition
            .filters
            .as_ref()
            .map(filter::Compiled::new)
            .transpose()
            .map_err(|e| Error::InvalidCustomMetric {
                field: "filters".into(),
                message: format!("invalid regular expression: {e}"),
            })?;
        Ok(CompiledMetric {
            id: Descriptor::next_id(),
            interval: definition.interval(),
            group_by: definition.group_by.iter().map(|k| KeyRef::new(k)).collect(),
            filter,
            definition,
        })
    }

    /// Whether an instrument is this definition's base: by OpenTelemetry name or by
    /// Prometheus name.
    pub(crate) fn is_base(&self, descriptor: &Descriptor) -> bool {
        let wanted = self.definition.metric.as_str();
        descriptor.name == wanted
            || naming::metric_name(&descriptor.name, &descriptor.unit, descriptor.kind) == wanted
    }

    /// The group a base series belongs to; `None` when the filter leaves it out.
    fn group_of(&self, attributes: &Attributes) -> Option<Attributes> {
        if self.filter.as_ref().is_some_and(|f| !f.matches(attributes)) {
            return None;
        }
        Some(filter::project(attributes, &self.group_by))
    }
}

/// What one custom-metric pipeline remembers between collections, per definition.
#[derive(Debug, Default)]
pub(crate) struct Deriver {
    states: HashMap<u64, State>,
}

#[derive(Debug, Default)]
struct State {
    /// Each base series' group (`None`: filtered out), by base instrument and attribute
    /// set; entries not seen in a collection are dropped.
    groups: HashMap<(u64, Attributes), Option<Attributes>>,
    /// For gauges: each base series' value at the previous collection, and each group's
    /// value.
    previous: HashMap<(u64, Attributes), Number>,
    gauges: HashMap<Attributes, Number>,
    /// The derived instrument's descriptor, made from the first base seen.
    descriptor: Option<Arc<Descriptor>>,
    /// What was pushed last, for stale markers once the definition is deleted.
    emitted: Option<MetricSnapshot>,
    /// Whether a histogram base with other bounds was reported (once).
    warned_bounds: bool,
    /// Whether bases of another kind or unit were reported (once).
    warned_kinds: bool,
}

impl Deriver {
    /// Derives every definition in `active` from `base` (a collection of their base
    /// instruments). Also returns the last metric pushed for each definition this
    /// deriver served before but `active` no longer holds (deleted): its series get
    /// stale markers.
    pub(crate) fn derive(
        &mut self,
        active: &[Arc<CompiledMetric>],
        base: &Snapshot,
    ) -> (Vec<MetricSnapshot>, Vec<MetricSnapshot>) {
        let mut derived = Vec::with_capacity(active.len());
        for custom in active {
            let state = self.states.entry(custom.id).or_default();
            if let Some(metric) = state.derive(custom, base) {
                state.emitted = Some(metric.clone());
                derived.push(metric);
            }
        }
        let live: HashSet<u64> = active.iter().map(|a| a.id).collect();
        let mut ending = Vec::new();
        self.states.retain(|id, state| {
            if live.contains(id) {
                return true;
            }
            ending.extend(state.emitted.take());
            false
        });
        (derived, ending)
    }
}

impl State {
    fn derive(&mut self, custom: &CompiledMetric, base: &Snapshot) -> Option<MetricSnapshot> {
        let all: Vec<&MetricSnapshot> = base
            .metrics()
            .filter(|m| custom.is_base(&m.descriptor))
            .collect();
        let first = *all.first()?;
        // Only instruments like the first one merge: a counter and a gauge of one name
        // (in two meters, say) are different things.
        let bases: Vec<&MetricSnapshot> = all.iter().copied().filter(|m| alike(m, first)).collect();
        if bases.len() < all.len() && !self.warned_kinds {
            self.warned_kinds = true;
            tracing::warn!(
                custom_metric = %custom.definition.name,
                base = %custom.definition.metric,
                "instruments of this name differ in kind or unit; only those like the first \
                 one feed the custom metric"
            );
        }
        let descriptor = self
            .descriptor
            .get_or_insert_with(|| {
                Arc::new(Descriptor {
                    id: custom.id,
                    name: Cow::Owned(custom.definition.name.clone()),
                    description: Cow::Owned(format!(
                        "Custom metric over {}",
                        custom.definition.metric
                    )),
                    unit: first.descriptor.unit.clone(),
                    kind: first.descriptor.kind,
                    number: first.descriptor.number,
                })
            })
            .clone();
        let mut seen = HashSet::new();
        let data = match &first.data {
            MetricData::Sum { monotonic, .. } => MetricData::Sum {
                monotonic: *monotonic,
                points: self.merge_numbers(custom, &bases, &mut seen, false),
            },
            MetricData::Gauge { .. } => MetricData::Gauge {
                points: self.merge_numbers(custom, &bases, &mut seen, true),
            },
            MetricData::Histogram { bounds, .. } => MetricData::Histogram {
                bounds: bounds.clone(),
                points: self.merge_histograms(custom, &bases, bounds, &mut seen),
            },
            MetricData::ExponentialHistogram { .. } => MetricData::ExponentialHistogram {
                points: self.merge_exponential(custom, &bases, &mut seen),
            },
        };
        // Forget base series that are gone (observable ones that stopped reporting).
        self.groups.retain(|key, _| seen.contains(key));
        self.previous.retain(|key, _| seen.contains(key));
        Some(MetricSnapshot {
            descriptor,
            start_time: bases
                .iter()
                .map(|m| m.start_time)
                .min()
                .unwrap_or(SystemTime::UNIX_EPOCH),
            time: bases.iter().map(|m| m.time).max().unwrap_or(base.time),
            data,
            rejected_measurements: 0,
        })
    }

    /// The group of one base series, computed once per series.
    fn group(
        &mut self,
        custom: &CompiledMetric,
        metric: u64,
        attributes: &Attributes,
        seen: &mut HashSet<(u64, Attributes)>,
    ) -> Option<Attributes> {
        let key = (metric, attributes.clone());
        let group = self
            .groups
            .entry(key.clone())
            .or_insert_with(|| custom.group_of(attributes))
            .clone();
        seen.insert(key);
        group
    }

    fn merge_numbers(
        &mut self,
        custom: &CompiledMetric,
        bases: &[&MetricSnapshot],
        seen: &mut HashSet<(u64, Attributes)>,
        gauge: bool,
    ) -> Vec<NumberPoint> {
        // Insertion order of groups, for a stable output order.
        let mut order: Vec<Attributes> = Vec::new();
        let mut sums: HashMap<Attributes, Number> = HashMap::new();
        let mut changed: HashMap<Attributes, Number> = HashMap::new();
        let mut exemplars: HashMap<Attributes, Vec<Exemplar>> = HashMap::new();
        // A group's interval starts with its earliest member's.
        let mut starts: HashMap<Attributes, SystemTime> = HashMap::new();
        for metric in bases {
            let (MetricData::Sum { points, .. } | MetricData::Gauge { points }) = &metric.data
            else {
                continue;
            };
            let id = metric.descriptor.id;
            for point in points {
                let Some(group) = self.group(custom, id, &point.attributes, seen) else {
                    continue;
                };
                if !sums.contains_key(&group) && !changed.contains_key(&group) {
                    order.push(group.clone());
                }
                starts
                    .entry(group.clone())
                    .and_modify(|start| *start = (*start).min(point.start_time))
                    .or_insert(point.start_time);
                if gauge {
                    // The member that changed since the last collection is the latest.
                    let key = (id, point.attributes.clone());
                    let before = self.previous.insert(key, point.value);
                    if before != Some(point.value) {
                        changed.insert(group.clone(), point.value);
                    }
                    sums.entry(group).or_insert(point.value);
                } else {
                    let carried = carry(&point.exemplars, &point.attributes, &group);
                    exemplars.entry(group.clone()).or_default().extend(carried);
                    let total = sums.entry(group).or_insert(point.value.zero_like());
                    *total = total.saturating_add(point.value);
                }
            }
        }
        if gauge {
            // Groups no longer reported (observable gauges) are forgotten.
            let live: HashSet<&Attributes> = order.iter().collect();
            self.gauges.retain(|group, _| live.contains(group));
        }
        order
            .into_iter()
            .filter_map(|group| {
                let value = if gauge {
                    // Changed member, else the group's previous value, else any member.
                    let value = changed
                        .get(&group)
                        .or_else(|| self.gauges.get(&group))
                        .or_else(|| sums.get(&group))
                        .copied()?;
                    self.gauges.insert(group.clone(), value);
                    value
                } else {
                    *sums.get(&group)?
                };
                let mut exemplars = exemplars.remove(&group).unwrap_or_default();
                exemplars.sort_by_key(|e| e.time);
                Some(NumberPoint {
                    exemplars,
                    start_time: starts
                        .get(&group)
                        .copied()
                        .unwrap_or(SystemTime::UNIX_EPOCH),
                    attributes: group,
                    value,
                })
            })
            .collect()
    }

    fn merge_histograms(
        &mut self,
        custom: &CompiledMetric,
        bases: &[&MetricSnapshot],
        bounds: &Arc<[f64]>,
        seen: &mut HashSet<(u64, Attributes)>,
    ) -> Vec<HistogramPoint> {
        let mut same_bounds = Vec::new();
        for metric in bases {
            let MetricData::Histogram {
                bounds: own,
                points,
            } = &metric.data
            else {
                continue;
            };
            if **own != **bounds {
                if !self.warned_bounds {
                    self.warned_bounds = true;
                    tracing::warn!(
                        custom_metric = %custom.definition.name,
                        "two base histograms have different bucket bounds; only those with \
                         the first one's bounds are merged"
                    );
                }
                continue;
            }
            same_bounds.push((metric.descriptor.id, points.as_slice()));
        }
        self.merge_grouped(
            custom,
            same_bounds,
            seen,
            |group, p: &HistogramPoint| {
                HistogramPoint::empty(group, p.start_time, p.bucket_counts.len())
            },
            HistogramPoint::merge,
        )
    }

    /// Exponential histograms of any scales merge (at the coarser one).
    fn merge_exponential(
        &mut self,
        custom: &CompiledMetric,
        bases: &[&MetricSnapshot],
        seen: &mut HashSet<(u64, Attributes)>,
    ) -> Vec<ExponentialHistogramPoint> {
        let points = bases
            .iter()
            .map(|m| (m.descriptor.id, m.data.exponential_points()))
            .collect();
        self.merge_grouped(
            custom,
            points,
            seen,
            |group, p: &ExponentialHistogramPoint| {
                ExponentialHistogramPoint::empty(group, p.start_time, p.scale)
            },
            ExponentialHistogramPoint::merge,
        )
    }

    /// Merges each base point into its group's point (started by `start`), groups in
    /// the order they first appear; the members' exemplars keep the attributes the
    /// group drops.
    fn merge_grouped<P: GroupPoint>(
        &mut self,
        custom: &CompiledMetric,
        bases: Vec<(u64, &[P])>,
        seen: &mut HashSet<(u64, Attributes)>,
        start: impl Fn(Attributes, &P) -> P,
        merge: impl Fn(&mut P, &P),
    ) -> Vec<P> {
        let mut order: Vec<Attributes> = Vec::new();
        let mut merged: HashMap<Attributes, P> = HashMap::new();
        for (id, points) in bases {
            for point in points {
                let Some(group) = self.group(custom, id, point.attributes(), seen) else {
                    continue;
                };
                let carried = carry(point.exemplars(), point.attributes(), &group);
                let into = merged.entry(group.clone()).or_insert_with(|| {
                    order.push(group.clone());
                    start(group, point)
                });
                let before = into.exemplars().len();
                merge(into, point);
                into.exemplars_mut().truncate(before);
                into.exemplars_mut().extend(carried);
            }
        }
        order
            .into_iter()
            .filter_map(|g| merged.remove(&g))
            .map(|mut p| {
                p.exemplars_mut().sort_by_key(|e| e.time);
                p
            })
            .collect()
    }
}

/// The exemplars of a member point with the attributes its group drops, which only
/// they can still show.
fn carry(exemplars: &[Exemplar], member: &Attributes, group: &Attributes) -> Vec<Exemplar> {
    if exemplars.is_empty() {
        return Vec::new();
    }
    let dropped: Vec<KeyValue> = member
        .iter()
        .filter(|kv| group.get(kv.key.as_str()).is_none())
        .cloned()
        .collect();
    exemplars
        .iter()
        .map(|e| Exemplar {
            filtered_attributes: dropped.clone(),
            ..e.clone()
        })
        .collect()
}

/// A histogram point, as grouping sees it.
trait GroupPoint {
    fn attributes(&self) -> &Attributes;
    fn exemplars(&self) -> &[Exemplar];
    fn exemplars_mut(&mut self) -> &mut Vec<Exemplar>;
}

/// Both histogram point types: one-line accessors.
macro_rules! group_point {
    ($point:ty) => {
        impl GroupPoint for $point {
            fn attributes(&self) -> &Attributes {
                &self.attributes
            }
            fn exemplars(&self) -> &[Exemplar] {
                &self.exemplars
            }
            fn exemplars_mut(&mut self) -> &mut Vec<Exemplar> {
                &mut self.exemplars
            }
        }
    };
}
group_point!(HistogramPoint);
group_point!(ExponentialHistogramPoint);

/// Whether two base instruments can merge: the same kind of data (and monotonicity) and
/// the same unit.
fn alike(a: &MetricSnapshot, b: &MetricSnapshot) -> bool {
    let same_data = match (&a.data, &b.data) {
        (MetricData::Sum { monotonic: x, .. }, MetricData::Sum { monotonic: y, .. }) => x == y,
        (MetricData::Gauge { .. }, MetricData::Gauge { .. }) => true,
        (MetricData::Histogram { .. }, MetricData::Histogram { .. }) => true,
        (MetricData::ExponentialHistogram { .. }, MetricData::ExponentialHistogram { .. }) => true,
        _ => false,
    };
    same_data && a.descriptor.unit == b.descriptor.unit
}
