//! Explicit-bucket histograms.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::number::{atomic_extreme, Num};
use super::{Aggregation, CollectedSeries};
use crate::snapshot::{HistogramPoint, MetricData};

/// The OpenTelemetry default boundaries, used when an instrument gives none.
pub(crate) const DEFAULT_BOUNDS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// The `metrics` facade's default boundaries: the Prometheus clients' default buckets,
/// made for durations in seconds (what the facade's histograms mostly record), where
/// OpenTelemetry's defaults suit milliseconds.
#[cfg(feature = "metrics")]
pub(crate) const SECONDS_BOUNDS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Counts measurements into buckets and keeps sum, min and max.
pub(crate) struct Histogram<T> {
    bounds: Arc<[f64]>,
    _t: PhantomData<T>,
}

impl<T> Histogram<T> {
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        Histogram {
            bounds,
            _t: PhantomData,
        }
    }
}

/// One series' state. The count is not stored: it is the sum of the buckets, so the
/// `+Inf` bucket and the count always agree in a collection, even mid-update.
pub(crate) struct HistogramCell {
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

/// Bucket `i` holds `(bounds[i-1], bounds[i]]`: its index is the number of bounds below
/// `x`. For the usual short lists, counting is branch-free (the compiler vectorises it),
/// where a binary search would mispredict on every other level for scattered values.
#[inline]
pub(crate) fn bucket_index(bounds: &[f64], x: f64) -> usize {
    if bounds.len() <= 32 {
        bounds.iter().map(|b| (*b < x) as usize).sum()
    } else {
        bounds.partition_point(|b| *b < x)
    }
}

/// Turns user boundaries into a valid list: finite, strictly increasing.
/// Returns the list and whether it had to be changed.
pub(crate) fn sanitize_bounds(bounds: &[f64]) -> (Vec<f64>, bool) {
    let mut clean: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
    clean.sort_by(f64::total_cmp);
    clean.dedup();
    let changed = clean.as_slice() != bounds;
    (clean, changed)
}

impl<T: Num> Aggregation for Histogram<T> {
    type Input = T;
    type Cell = HistogramCell;

    fn new_cell(&self) -> HistogramCell {
        HistogramCell {
            buckets: (0..=self.bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(T::ZERO.to_bits()),
            // Sentinels that any value replaces; unused until the count is non-zero.
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
        }
    }

    #[inline]
    fn is_valid(&self, v: T) -> bool {
        v.is_valid(false)
    }

    #[inline]
    fn update(&self, cell: &HistogramCell, v: T) {
        let x = v.as_f64();
        let i = bucket_index(&self.bounds, x);
        cell.buckets[i].fetch_add(1, Ordering::Relaxed);
        T::atomic_add(&cell.sum, v);
        atomic_extreme(&cell.min, x, false);
        atomic_extreme(&cell.max, x, true);
    }

    fn collect<'a>(
        &self,
        series: impl Iterator<Item = CollectedSeries<'a, HistogramCell>>,
    ) -> MetricData {
        let points = series
            .map(|s| {
                let cell = s.cell;
                let bucket_counts: Vec<u64> = cell
                    .buckets
                    .iter()
                    .map(|b| b.load(Ordering::Relaxed))
                    .collect();
                let count = bucket_counts.iter().sum();
                let extreme =
                    |a: &AtomicU64| (count > 0).then(|| f64::from_bits(a.load(Ordering::Relaxed)));
                HistogramPoint {
                    exemplars: Vec::new(),
                    attributes: s.attributes,
                    start_time: s.start_time,
                    count,
                    sum: T::from_bits(cell.sum.load(Ordering::Relaxed)).as_f64(),
                    min: extreme(&cell.min),
                    max: extreme(&cell.max),
                    bucket_counts,
                }
            })
            .collect();
        MetricData::Histogram {
            bounds: self.bounds.clone(),
            points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_upper_inclusive() {
        let h = Histogram::<f64>::new(vec![1.0, 5.0].into());
        let cell = h.new_cell();
        for v in [0.5, 1.0, 1.5, 5.0, 7.0] {
            h.update(&cell, v);
        }
        let data = h.collect(std::iter::once(CollectedSeries::bare(&cell)));
        let p = &data.histogram_points()[0];
        assert_eq!(p.bucket_counts, vec![2, 2, 1]);
        assert_eq!(p.count, 5);
        assert_eq!(p.sum, 15.0);
        assert_eq!((p.min, p.max), (Some(0.5), Some(7.0)));
    }

    #[test]
    fn bucket_index_agrees_with_a_binary_search() {
        let short: Vec<f64> = DEFAULT_BOUNDS.to_vec();
        let long: Vec<f64> = (0..100).map(|i| i as f64 * 1.5).collect();
        for bounds in [&short, &long] {
            for x in [-1.0, 0.0, 0.1, 5.0, 5.5, 9999.0, 10000.0, 1e9, 74.25, 148.5] {
                assert_eq!(
                    bucket_index(bounds, x),
                    bounds.partition_point(|b| *b < x),
                    "{x}"
                );
            }
        }
    }

    #[test]
    fn empty_has_no_extremes() {
        let h = Histogram::<u64>::new(DEFAULT_BOUNDS.to_vec().into());
        let cell = h.new_cell();
        let data = h.collect(std::iter::once(CollectedSeries::bare(&cell)));
        let p = &data.histogram_points()[0];
        assert_eq!((p.count, p.min, p.max), (0, None, None));
    }

    #[test]
    fn bounds_are_sanitized() {
        assert_eq!(sanitize_bounds(&[1.0, 2.0]), (vec![1.0, 2.0], false));
        assert_eq!(
            sanitize_bounds(&[5.0, f64::NAN, 1.0, 1.0, f64::INFINITY]),
            (vec![1.0, 5.0], true)
        );
    }
}
