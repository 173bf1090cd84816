//! Series that translation makes equal: detected once, merged at every push.
//!
//! Two points become one Prometheus series when their translated name and labels are
//! equal: `route=""` next to no `route` (empty values are left out), `a.b` next to
//! `a_b`, one counter name in two meters with scope labels off. Sending both would
//! lose one value (Prometheus keeps the first sample of a timestamp and refuses the
//! request with the other), so the translator merges them into one series instead.
//!
//! Detection is paid once per series: the translator builds a point's labels the first
//! time it sees the point's attribute set and registers them here as a key; later
//! pushes recognise the set by identity and do no work. Only keys with two or more
//! members are looked at during a push.
//!
//! Merging, per key: sums add; gauges keep the member whose value changed since the
//! previous collection; histograms with the same bounds add bucket by bucket. Ties,
//! and members that cannot merge (histograms with other bounds), go by registration
//! order: the member with the lowest (instrument id, point index) wins, so the kept
//! series never flips between pushes.
//!
//! A whole family can conflict too: two instruments of different kinds that produce
//! one family name (a counter `jobs` and a gauge `jobs_total`). The instrument
//! registered first keeps the family; see [`FamilyChecks`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::model::{FamilyKind, Key, Member};
use crate::snapshot::{ExponentialHistogramPoint, HistogramPoint, MetricData};

/// What each push merged and dropped, for the self-metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Collisions {
    /// Points folded into another point's series (each counts once per push).
    pub merged_points: usize,
    /// Series not sent because their instrument's family belongs to an instrument of
    /// another kind, registered earlier.
    pub type_conflict_series: usize,
    /// Series not sent because they collide with a histogram of other bounds,
    /// registered earlier.
    pub unmergeable_series: usize,
}

/// The members of one key: almost always a single point, which then costs no
/// allocation.
#[derive(Debug)]
enum Members {
    One(Member),
    Many(Box<Group>),
}

/// The members of a colliding key, lowest (first registered) first.
#[derive(Debug)]
struct Group {
    members: Vec<Member>,
    /// Gauges: each member's value at the previous push (bits), by position in
    /// `members`, and the member kept then.
    last: Vec<u64>,
    kept: Option<Member>,
    /// For messages.
    family: String,
}

/// The series key of every translated point, and which keys collide.
#[derive(Debug, Default)]
pub(super) struct SeriesKeys {
    keys: HashMap<Key, Members, foldhash::fast::RandomState>,
    /// Keys with two or more members, in a fixed order.
    colliding: BTreeSet<Key>,
}

/// What to do with one colliding point in this push.
#[derive(Debug, Clone)]
pub(super) enum Action {
    /// Its series is sent by another member.
    Skip,
    /// Send this value instead of the point's own.
    Number(f64),
    /// Send this histogram state instead of the point's own.
    Histogram(Box<HistogramPoint>),
    /// Send this exponential histogram state instead of the point's own.
    Exponential(Box<ExponentialHistogramPoint>),
}

/// The colliding points of one push and what to do with each.
pub(super) type Plan = HashMap<Member, Action, foldhash::fast::RandomState>;

impl SeriesKeys {
    /// Adds `member` (a point of family `family`) under `key`. Returns another member
    /// already there, if any: the caller compares the two series in full and calls
    /// [`leave`](Self::leave) should their keys match by chance only.
    pub(super) fn join(&mut self, key: Key, member: Member, family: &str) -> Option<Member> {
        let Some(members) = self.keys.get_mut(&key) else {
            self.keys.insert(key, Members::One(member));
            return None;
        };
        let group = match members {
            Members::One(first) => {
                let first = *first;
                *members = Members::Many(Box::new(Group {
                    members: vec![first],
                    last: vec![f64::NAN.to_bits()],
                    kept: None,
                    family: family.to_owned(),
                }));
                self.colliding.insert(key);
                match members {
                    Members::Many(group) => group,
                    Members::One(_) => return None,
                }
            }
            Members::Many(group) => group,
        };
        let other = group.members.first().copied();
        let at = group.members.partition_point(|m| *m < member);
        group.members.insert(at, member);
        group.last.insert(at, f64::NAN.to_bits());
        other
    }

    /// Removes `member` from `key`.
    pub(super) fn leave(&mut self, key: Key, member: Member) {
        let Some(members) = self.keys.get_mut(&key) else {
            return;
        };
        let left = match members {
            Members::One(m) if *m == member => {
                self.keys.remove(&key);
                return;
            }
            Members::One(_) => return,
            Members::Many(group) => {
                if let Some(at) = group.members.iter().position(|m| *m == member) {
                    group.members.remove(at);
                    group.last.remove(at);
                }
                if group.kept == Some(member) {
                    group.kept = None;
                }
                group.members.clone()
            }
        };
        match left.as_slice() {
            [] => {
                self.keys.remove(&key);
                self.colliding.remove(&key);
            }
            [only] => {
                *members = Members::One(*only);
                self.colliding.remove(&key);
            }
            _ => {}
        }
    }

    /// Forgets everything (the labels every key was made of changed).
    pub(super) fn clear(&mut self) {
        self.keys.clear();
        self.colliding.clear();
    }

    /// Whether any key has two or more members.
    pub(super) fn has_collisions(&self) -> bool {
        !self.colliding.is_empty()
    }

    /// Decides, for every member of every colliding key, what this push sends.
    /// `data(metric)` is the instrument's data in this push; every member's instrument
    /// is in it (the translator forgets instruments a push does not carry).
    pub(super) fn plan<'s>(
        &mut self,
        data: impl Fn(u64) -> Option<&'s MetricData>,
        families: &mut FamilyChecks,
        stats: &mut Collisions,
    ) -> Plan {
        let mut plan = Plan::default();
        for key in &self.colliding {
            let Some(Members::Many(group)) = self.keys.get_mut(key) else {
                continue;
            };
            let group = &mut **group;
            let present: Vec<(usize, Member, &MetricData)> = group
                .members
                .iter()
                .enumerate()
                .filter_map(|(i, m)| data(m.0).map(|d| (i, *m, d)))
                .filter(|(_, m, d)| (m.1 as usize) < d.len())
                .collect();
            let Some(&(_, first, first_data)) = present.first() else {
                continue;
            };
            let index = |m: Member| m.1 as usize;
            let action = match first_data {
                MetricData::Sum { .. } => {
                    let values = present
                        .iter()
                        .filter_map(|(_, m, d)| d.number_points().get(index(*m)))
                        .map(|p| p.value.as_f64());
                    Action::Number(values.sum())
                }
                MetricData::Gauge { .. } => {
                    let values: Vec<(usize, Member, f64)> = present
                        .iter()
                        .filter_map(|(i, m, d)| {
                            d.number_points()
                                .get(index(*m))
                                .map(|p| (*i, *m, p.value.as_f64()))
                        })
                        .collect();
                    let changed = values
                        .iter()
                        .find(|(i, _, v)| group.last[*i] != v.to_bits());
                    let kept = group
                        .kept
                        .and_then(|k| values.iter().find(|(_, m, _)| *m == k));
                    let chosen = changed.or(kept).or(values.first());
                    for (i, _, v) in &values {
                        group.last[*i] = v.to_bits();
                    }
                    group.kept = chosen.map(|(_, m, _)| *m);
                    Action::Number(chosen.map_or(f64::NAN, |(_, _, v)| *v))
                }
                MetricData::Histogram { bounds, .. } => {
                    let mut merged: Option<HistogramPoint> = None;
                    for (_, m, d) in &present {
                        let MetricData::Histogram {
                            bounds: theirs,
                            points,
                        } = d
                        else {
                            continue;
                        };
                        let Some(point) = points.get(index(*m)) else {
                            continue;
                        };
                        if !(Arc::ptr_eq(bounds, theirs) || **bounds == **theirs) {
                            stats.unmergeable_series += theirs.len() + 3;
                            families.warn_collision(&group.family, true);
                            plan.insert(*m, Action::Skip);
                            continue;
                        }
                        match &mut merged {
                            None => merged = Some(point.clone()),
                            Some(into) => into.merge(point),
                        }
                    }
                    match merged {
                        Some(mut point) => {
                            // Each member's exemplars are in time order; the merge's too.
                            point.exemplars.sort_by_key(|e| e.time);
                            Action::Histogram(Box::new(point))
                        }
                        None => continue,
                    }
                }
                // Any two merge: the coarser scale wins.
                MetricData::ExponentialHistogram { .. } => {
                    let mut points = present
                        .iter()
                        .filter_map(|(_, m, d)| d.exponential_points().get(index(*m)));
                    let Some(first) = points.next() else {
                        continue;
                    };
                    let mut merged = first.clone();
                    points.for_each(|p| merged.merge(p));
                    merged.exemplars.sort_by_key(|e| e.time);
                    Action::Exponential(Box::new(merged))
                }
            };
            for (_, m, _) in &present[1..] {
                if !matches!(plan.get(m), Some(Action::Skip)) {
                    stats.merged_points += 1;
                }
                plan.insert(*m, Action::Skip);
            }
            plan.insert(first, action);
        }
        plan
    }
}

/// One instrument, as the family check sees it.
pub(super) struct Claim<'a> {
    pub(super) id: u64,
    pub(super) kind: FamilyKind,
    /// Every series name the instrument produces (a histogram's family, `_bucket`,
    /// `_sum`, `_count`).
    pub(super) names: &'a [&'a str],
    /// For messages: the OpenTelemetry name.
    pub(super) instrument: &'a str,
}

/// Which instrument keeps a family name when two kinds claim it, and the warnings
/// given once per family, per translator.
#[derive(Debug, Default)]
pub(super) struct FamilyChecks {
    warned: HashSet<String>,
}

impl FamilyChecks {
    /// Given every instrument sorted by id (registration order), returns the ids whose
    /// family belongs to an earlier instrument of another kind, and warns once per
    /// family.
    pub(super) fn conflicts(&mut self, claims: &[Claim<'_>], target_info: bool) -> HashSet<u64> {
        let mut owners: HashMap<&str, (FamilyKind, &str)> = HashMap::new();
        if target_info {
            owners.insert("target_info", (FamilyKind::TargetInfo, "target_info"));
        }
        let mut lost = HashSet::new();
        for claim in claims {
            let taken = claim.names.iter().find_map(|name| {
                owners
                    .get(name)
                    .filter(|(kind, _)| *kind != claim.kind)
                    .map(|owner| (*name, *owner))
            });
            match taken {
                Some((name, (kind, instrument))) => {
                    lost.insert(claim.id);
                    if self.warned.insert(name.to_owned()) {
                        tracing::warn!(
                            family = name,
                            "{} {:?} and {} {:?} both translate to the Prometheus name {name:?}; \
                             the first registered ({:?}) keeps it and the points of {:?} are \
                             dropped (counted in prompush_samples_dropped_total\
                             {{reason=\"type_conflict\"}}); rename one of them",
                            kind.word(),
                            instrument,
                            claim.kind.word(),
                            claim.instrument,
                            instrument,
                            claim.instrument,
                        );
                    }
                }
                None => {
                    for name in claim.names {
                        owners.entry(name).or_insert((claim.kind, claim.instrument));
                    }
                }
            }
        }
        lost
    }

    /// Warns once per family that some of its series merge or are dropped.
    pub(super) fn warn_collision(&mut self, family: &str, unmergeable: bool) {
        let key = format!("collide:{family}");
        if !self.warned.insert(key) {
            return;
        }
        if unmergeable {
            tracing::warn!(
                family,
                "histograms of {family:?} with other bounds translate to the same series; \
                 the first registered is sent and the others are dropped (counted in \
                 prompush_samples_dropped_total{{reason=\"unmergeable\"}}); give them \
                 the same bounds or other attributes"
            );
        } else {
            tracing::warn!(
                family,
                "points of {family:?} translate to the same series (an empty attribute value, \
                 keys equal after sanitising, or one name in several meters without scope \
                 labels); their values are merged into one series (counted in \
                 prompush_series_merged_total)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::model::key_of;
    use crate::snapshot::{Attributes, InstrumentKind, Number, NumberPoint};

    fn gauge(values: &[f64]) -> MetricData {
        MetricData::Gauge {
            points: values
                .iter()
                .map(|v| NumberPoint {
                    exemplars: Vec::new(),
                    attributes: Attributes::default(),
                    start_time: std::time::UNIX_EPOCH,
                    value: Number::F64(*v),
                })
                .collect(),
        }
    }

    fn chosen(plan: &Plan, member: Member) -> Option<f64> {
        match plan.get(&member) {
            Some(Action::Number(v)) => Some(*v),
            _ => None,
        }
    }

    #[test]
    fn a_gauge_group_keeps_the_member_that_changed_and_never_flips_otherwise() {
        let mut r = SeriesKeys::default();
        let k = key_of("g\0k");
        assert_eq!(r.join(k, (1, 0), "g"), None);
        assert_eq!(r.join(k, (2, 0), "g"), Some((1, 0)));
        let mut stats = Collisions::default();
        let push = |r: &mut SeriesKeys, a: f64, b: f64, stats: &mut Collisions| {
            let (da, db) = (gauge(&[a]), gauge(&[b]));
            let mut f = FamilyChecks::default();
            let plan = r.plan(
                |id| if id == 1 { Some(&da) } else { Some(&db) },
                &mut f,
                stats,
            );
            chosen(&plan, (1, 0))
        };
        // First push: both "changed" from nothing: the first registered wins.
        assert_eq!(push(&mut r, 1.0, 2.0, &mut stats), Some(1.0));
        // Only the second changed.
        assert_eq!(push(&mut r, 1.0, 5.0, &mut stats), Some(5.0));
        // Nothing changed: the one kept last time stays.
        assert_eq!(push(&mut r, 1.0, 5.0, &mut stats), Some(5.0));
        // Both changed: registration order.
        assert_eq!(push(&mut r, 3.0, 6.0, &mut stats), Some(3.0));
        assert_eq!(stats.merged_points, 4);
    }

    #[test]
    fn leaving_ends_the_collision() {
        let mut r = SeriesKeys::default();
        let key = key_of("f\0k");
        r.join(key, (1, 0), "f");
        r.join(key, (1, 1), "f");
        assert!(r.has_collisions());
        r.leave(key, (1, 0));
        assert!(!r.has_collisions());
        assert!(matches!(r.keys.get(&key), Some(Members::One((1, 1)))));
        r.leave(key, (1, 1));
        assert!(r.keys.is_empty());
    }

    const COUNTER: FamilyKind = FamilyKind::Instrument(InstrumentKind::Counter);
    const GAUGE: FamilyKind = FamilyKind::Instrument(InstrumentKind::Gauge);

    #[test]
    fn a_family_belongs_to_the_first_instrument_of_its_kind() {
        let mut f = FamilyChecks::default();
        let claims = [
            Claim {
                id: 1,
                kind: COUNTER,
                names: &["jobs_total"],
                instrument: "jobs",
            },
            Claim {
                id: 2,
                kind: GAUGE,
                names: &["jobs_total"],
                instrument: "jobs_total",
            },
            Claim {
                id: 3,
                kind: COUNTER,
                names: &["jobs_total"],
                instrument: "jobs",
            },
            Claim {
                id: 4,
                kind: GAUGE,
                names: &["target_info"],
                instrument: "target.info",
            },
        ];
        let lost = f.conflicts(&claims, true);
        assert_eq!(lost, HashSet::from([2, 4]));
    }
}
