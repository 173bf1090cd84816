//! Stale markers: how a series is ended at the receiver.
//!
//! Prometheus ends a series at once when it receives the NaN with bits
//! [`STALE_NAN_BITS`]; without it, a series that stops reporting shows its last value
//! for five minutes. Markers are sent for the attribute sets an observable callback
//! stops reporting, for the series an export no longer carries, for a deleted custom
//! metric's series, for the synchronous series removed for idleness, and for every
//! series after the final push.
//!
//! Everything that ends is gathered as an *ending* snapshot (the points whose series
//! end) and written by `StaleMarkers`, a [`SeriesSink`] that turns every series into
//! its marker. Snapshots themselves never carry markers: a NaN in a snapshot is an
//! ordinary NaN. Only remote write carries markers; JSON destinations have none.

use std::collections::{HashMap, HashSet};

use crate::prometheus::translate::{Labels, Metadata, NativeSample, SeriesSink, Translator};
use crate::prometheus::write_request::WriteRequestEncoder;
use crate::snapshot::{
    Attributes, MetricData, MetricSnapshot, Number, NumberPoint, ScopeSnapshot, Snapshot,
};

/// The Prometheus stale marker: a NaN with exactly these bits tells the receiver that a
/// series has ended.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Whether `value` is the stale marker (not any NaN).
#[cfg(feature = "receiver")]
#[must_use]
pub fn is_stale_marker(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// Appends the scopes of `more` to `ending` (both snapshots of series that end).
pub(crate) fn join(ending: Option<Snapshot>, more: Option<Snapshot>) -> Option<Snapshot> {
    match (ending, more) {
        (Some(mut a), Some(b)) => {
            a.scopes.extend(b.scopes);
            Some(a)
        }
        (a, b) => a.or(b),
    }
}

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
                    MetricData::ExponentialHistogram { points } => {
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
                MetricData::ExponentialHistogram { points } => {
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

/// The synchronous instruments of `snapshot` (whose series end only when removed for
/// idleness; observables are [`vanished_observations`]'), to compare the next push with.
pub(crate) fn synchronous_only(snapshot: &Snapshot) -> Snapshot {
    Snapshot {
        resource: snapshot.resource.clone(),
        time: snapshot.time,
        scopes: snapshot
            .scopes
            .iter()
            .map(|scope| ScopeSnapshot {
                scope: scope.scope.clone(),
                metrics: scope
                    .metrics
                    .iter()
                    .filter(|m| !m.descriptor.kind.is_observable())
                    .cloned()
                    .collect(),
            })
            .collect(),
    }
}

/// The attribute sets each observable instrument reported in the previous push
/// (`observed`, updated here) but not in `snapshot`, as an ending snapshot: the receiver
/// then ends those series at once instead of showing their last values for minutes.
/// Synchronous instruments lose a series only when it is removed for idleness, which
/// the provider's collection marks itself ([`synchronous_only`], [`vanished`]).
pub(crate) fn vanished_observations(
    observed: &mut HashMap<u64, HashSet<Attributes>>,
    snapshot: &Snapshot,
) -> Option<Snapshot> {
    let mut scopes = Vec::new();
    for scope in &snapshot.scopes {
        let mut metrics = Vec::new();
        for metric in &scope.metrics {
            if !metric.descriptor.kind.is_observable() {
                continue;
            }
            let points = match &metric.data {
                MetricData::Sum { points, .. } | MetricData::Gauge { points } => points,
                MetricData::Histogram { .. } | MetricData::ExponentialHistogram { .. } => continue,
            };
            let current: HashSet<Attributes> =
                points.iter().map(|p| p.attributes.clone()).collect();
            let gone: Vec<NumberPoint> = observed
                .get(&metric.descriptor.id)
                .map(|previous| {
                    previous
                        .difference(&current)
                        .map(|attributes| NumberPoint {
                            exemplars: Vec::new(),
                            attributes: attributes.clone(),
                            start_time: metric.start_time,
                            // Not sent: the marker replaces every value.
                            value: Number::F64(0.0),
                        })
                        .collect()
                })
                .unwrap_or_default();
            observed.insert(metric.descriptor.id, current);
            if gone.is_empty() {
                continue;
            }
            let data = match &metric.data {
                MetricData::Sum { monotonic, .. } => MetricData::Sum {
                    monotonic: *monotonic,
                    points: gone,
                },
                _ => MetricData::Gauge { points: gone },
            };
            metrics.push(MetricSnapshot {
                data,
                ..metric_without_data(metric)
            });
        }
        if !metrics.is_empty() {
            scopes.push(ScopeSnapshot {
                scope: scope.scope.clone(),
                metrics,
            });
        }
    }
    (!scopes.is_empty()).then(|| Snapshot {
        resource: snapshot.resource.clone(),
        time: snapshot.time,
        scopes,
    })
}

fn metric_without_data(metric: &MetricSnapshot) -> MetricSnapshot {
    MetricSnapshot {
        descriptor: metric.descriptor.clone(),
        start_time: metric.start_time,
        time: metric.time,
        data: MetricData::Gauge { points: Vec::new() },
        rejected_measurements: metric.rejected_measurements,
    }
}

/// Turns every series into its stale marker, at the snapshot's time (the caller stamps
/// it after the values it ends: a series cannot have two samples at one timestamp).
/// Writes no metadata, and reuses no cached series: the encoder's caches hold values'
/// labels for the next push.
pub(crate) struct StaleMarkers<'a, S = WriteRequestEncoder>(pub(crate) &'a mut S);

/// Writes into `encoder` a stale marker for every series of `of` (with `part`, `of` holds
/// only the series that end, see [`Translator::translate_part`]); returns how many.
pub(crate) fn write_markers<S: SeriesSink>(
    translator: &mut Translator,
    of: &Snapshot,
    part: bool,
    encoder: &mut S,
) -> usize {
    let sink = &mut StaleMarkers(encoder);
    if part {
        translator.translate_part(of, sink)
    } else {
        translator.translate(of, sink)
    }
}

impl<S: SeriesSink> SeriesSink for StaleMarkers<'_, S> {
    fn metadata(&mut self, _: &Metadata<'_>) {}

    fn series(&mut self, labels: &Labels<'_>, _: f64, timestamp_ms: i64) {
        self.0
            .series(labels, f64::from_bits(STALE_NAN_BITS), timestamp_ms);
    }

    /// A float marker ends a native histogram series too (Prometheus appends it as a
    /// histogram whose sum is the marker).
    fn native_histogram(&mut self, labels: &Labels<'_>, sample: NativeSample<'_>) {
        self.series(labels, 0.0, sample.timestamp_ms);
    }
}
