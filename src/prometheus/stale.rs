//! Stale markers: how a series is ended at the receiver.
//!
//! Prometheus ends a series at once when it receives the NaN with bits
//! [`STALE_NAN_BITS`](crate::snapshot::STALE_NAN_BITS); without it, a series that
//! stops reporting shows its last value for five minutes. Markers are sent for the
//! attribute sets an observable callback stops reporting, for the series an export no
//! longer carries, for a deleted custom metric's series, and for every series after
//! the final push.

use std::collections::{HashMap, HashSet};

use crate::prometheus::encode::WriteRequestEncoder;
use crate::prometheus::translate::{Labels, Metadata, SeriesSink};
use crate::snapshot::{
    Attributes, MetricData, MetricSnapshot, Number, NumberPoint, ScopeSnapshot, Snapshot,
    STALE_NAN_BITS,
};

/// The points of `previous` that `current` lacks (whole instruments or attribute
/// sets), as a snapshot whose series are to be ended; `None` when there are none.
pub(crate) fn vanished(previous: Snapshot, current: &Snapshot) -> Option<Snapshot> {
    let now: HashMap<u64, &MetricSnapshot> =
        current.metrics().map(|m| (m.descriptor.id, m)).collect();
    let mut scopes = Vec::new();
    for scope in previous.scopes {
        let mut metrics = Vec::new();
        for mut metric in scope.metrics {
            let kept: HashSet<&Attributes> = match now.get(&metric.descriptor.id) {
                Some(m) => match &m.data {
                    MetricData::Sum { points, .. } | MetricData::Gauge { points } => {
                        points.iter().map(|p| &p.attributes).collect()
                    }
                    MetricData::Histogram { points, .. } => {
                        points.iter().map(|p| &p.attributes).collect()
                    }
                },
                None => HashSet::new(),
            };
            match &mut metric.data {
                MetricData::Sum { points, .. } | MetricData::Gauge { points } => {
                    points.retain(|p| !kept.contains(&p.attributes))
                }
                MetricData::Histogram { points, .. } => {
                    points.retain(|p| !kept.contains(&p.attributes))
                }
            }
            if !metric.data.is_empty() {
                metrics.push(metric);
            }
        }
        if !metrics.is_empty() {
            scopes.push(ScopeSnapshot {
                scope: scope.scope,
                metrics,
            });
        }
    }
    (!scopes.is_empty()).then_some(Snapshot {
        resource: previous.resource,
        time: previous.time,
        scopes,
    })
}

/// Adds a stale-marker point for every attribute set an observable instrument
/// reported in the previous push (`observed`, updated here) but not in this one: the
/// receiver then ends the series at once instead of showing its last value for
/// minutes. Synchronous instruments keep their series for good (cumulative), so only
/// observables can lose one.
pub(crate) fn mark_vanished_observations(
    observed: &mut HashMap<u64, HashSet<Attributes>>,
    snapshot: &mut Snapshot,
) {
    for metric in snapshot
        .scopes
        .iter_mut()
        .flat_map(|s| s.metrics.iter_mut())
    {
        if !metric.descriptor.kind.is_observable() {
            continue;
        }
        let points = match &mut metric.data {
            MetricData::Sum { points, .. } | MetricData::Gauge { points } => points,
            MetricData::Histogram { .. } => continue,
        };
        let current: HashSet<Attributes> = points.iter().map(|p| p.attributes.clone()).collect();
        if let Some(previous) = observed.get(&metric.descriptor.id) {
            for attributes in previous.difference(&current) {
                points.push(NumberPoint {
                    attributes: attributes.clone(),
                    value: Number::stale(),
                });
            }
        }
        observed.insert(metric.descriptor.id, current);
    }
}

/// Turns every series into its stale marker, at the snapshot's time (the caller stamps
/// it after the values it ends: a series cannot have two samples at one timestamp).
/// Writes no metadata, and reuses no cached series: the encoder's caches hold values'
/// labels for the next push.
pub(crate) struct StaleMarkers<'a>(pub(crate) &'a mut WriteRequestEncoder);

impl SeriesSink for StaleMarkers<'_> {
    fn metadata(&mut self, _: &Metadata<'_>) {}

    fn series(&mut self, labels: &Labels<'_>, _: f64, timestamp_ms: i64) {
        self.0
            .series(labels, f64::from_bits(STALE_NAN_BITS), timestamp_ms);
    }
}
