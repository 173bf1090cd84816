//! The names a translator caches per instrument: its translated names (computed once),
//! its scope labels, whether its family belongs to another instrument, and the series
//! key of each point, registered once so that collisions are found when a series is
//! first translated, never by hashing every series at every push.

use std::collections::HashMap;
use std::sync::Arc;

use super::collide::{Claim, FamilyChecks, SeriesKeys};
use super::exemplar_selection::Handover;
use super::labels::{scope_labels, CommonLabels, PointContext, Scratch};
use super::model::{
    key_of, naming_kind, point_attributes, FamilyKind, Member, Names, PointKey, Versions,
};
use super::naming;
use crate::snapshot::{MetricData, MetricSnapshot, Snapshot};

/// The translated names of every instrument a translator has seen, by descriptor id,
/// with the series key of each of its points.
#[derive(Debug, Default)]
pub(super) struct NameCache {
    pub(super) names: HashMap<u64, Names, foldhash::fast::RandomState>,
    /// The set of instruments changed: family ownership must be checked again.
    pub(super) families_dirty: bool,
}

impl NameCache {
    /// Translates an instrument's names the first time it is seen, and its `le`
    /// values whenever its bounds change.
    pub(super) fn ensure_names(
        &mut self,
        metric: &MetricSnapshot,
        scope: &opentelemetry::InstrumentationScope,
        generation: u64,
        versions: &mut Versions,
        scope_labels: bool,
        translation: naming::NameTranslation,
    ) {
        let d = &metric.descriptor;
        let families_dirty = &mut self.families_dirty;
        let names = self.names.entry(d.id).or_insert_with(|| {
            *families_dirty = true;
            let scope = if scope_labels {
                self::scope_labels(scope, translation)
            } else {
                Vec::new()
            };
            let kind = naming_kind(&metric.data, d.kind);
            let family = translation.metric_name(&d.name, &d.unit, kind);
            let histogram = if matches!(
                metric.data,
                MetricData::Histogram { .. } | MetricData::ExponentialHistogram { .. }
            ) {
                ["_bucket", "_sum", "_count"].map(|s| format!("{family}{s}"))
            } else {
                Default::default()
            };
            Names {
                family,
                histogram,
                unit: translation.metadata_unit(&d.unit),
                le: Vec::new(),
                bounds: None,
                version: versions.next(),
                generation,
                scope,
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
                names.version = versions.next();
            }
        }
    }

    /// Gives every instrument whose family an earlier instrument of another kind
    /// produces `conflict` (with `target_info` when the translator writes it); their
    /// points leave `registry`.
    pub(super) fn check_families(
        &mut self,
        families: &mut FamilyChecks,
        registry: &mut SeriesKeys,
        target_info: bool,
    ) {
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
        let lost = families.conflicts(&claims, target_info);
        drop(claims);
        drop(series_names);
        for (id, n) in self.names.iter_mut() {
            n.conflict = lost.contains(id);
            if n.conflict {
                for (i, p) in n.points.drain(..).enumerate() {
                    if p.registered {
                        registry.leave(p.key, (*id, i as u32));
                    }
                }
            }
        }
    }

    /// Gives every point of this push a series key: points seen before (the same
    /// attribute set at the same index) keep theirs; new ones get their labels built
    /// once and registered, which is where collisions are found.
    pub(super) fn register_points(&mut self, snapshot: &Snapshot, parts: Parts<'_>) {
        let Parts {
            registry,
            families,
            scratch,
            common,
        } = parts;
        let names = &mut self.names;
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
                    common,
                    scope: n.scope(),
                    scratch,
                    native_histograms: false,
                    exemplars: Handover::Off,
                };
                ctx.series_key(&mut key, n, set);
                let hash = key_of(&key);
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
            self.confirm_shared(
                shared,
                Parts {
                    registry,
                    families,
                    scratch,
                    common,
                },
            );
        }
    }

    /// Compares in full the series of points whose keys are equal: equal ones are
    /// merged from now on (and their family warned about once); a pair whose keys
    /// match by chance is taken apart, and the newer point is sent on its own.
    fn confirm_shared(&mut self, shared: Vec<(Member, Member)>, parts: Parts<'_>) {
        let Parts {
            registry,
            families,
            scratch,
            common,
        } = parts;
        let mut a = String::new();
        let mut b = String::new();
        for (member, other) in shared {
            let x = full_key(&self.names, common, scratch, member, &mut a);
            let y = full_key(&self.names, common, scratch, other, &mut b);
            let (Some(x), Some(y)) = (x, y) else {
                continue;
            };
            if x == y {
                let family = self.names.get(&member.0).map(|n| n.family.clone());
                if let Some(family) = family {
                    families.warn_collision(&family, false);
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
            registry.leave(key, member);
        }
    }
}

/// The translator's parts that registering points uses besides the cache.
pub(super) struct Parts<'a> {
    pub(super) registry: &'a mut SeriesKeys,
    pub(super) families: &'a mut FamilyChecks,
    pub(super) scratch: &'a mut Scratch,
    pub(super) common: &'a CommonLabels,
}

/// Writes the series key of `member` into `into`; `None` if it is gone.
fn full_key<'k>(
    names: &HashMap<u64, Names, foldhash::fast::RandomState>,
    common: &CommonLabels,
    scratch: &mut Scratch,
    member: Member,
    into: &'k mut String,
) -> Option<&'k str> {
    let n = names.get(&member.0)?;
    let set = n.points.get(member.1 as usize)?.attributes.clone();
    let mut ctx = PointContext {
        common,
        scope: n.scope(),
        scratch,
        native_histograms: false,
        exemplars: Handover::Off,
    };
    ctx.series_key(into, n, &set);
    Some(into)
}
