//! Last value: synchronous gauges.

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use super::number::Num;
use super::{Aggregation, CollectedSeries};
use crate::snapshot::{MetricData, NumberPoint};

/// Keeps the most recent measurement. Every value is accepted, NaN included: a gauge
/// reports a state, and the next measurement replaces it. A NaN is stored as the
/// ordinary NaN, never with the stale-marker bits, which would end the series.
pub(crate) struct LastValue<T>(PhantomData<T>);

impl<T> LastValue<T> {
    pub(crate) fn new() -> Self {
        LastValue(PhantomData)
    }
}

impl<T: Num> Aggregation for LastValue<T> {
    type Input = T;
    type Cell = AtomicU64;

    fn new_cell(&self) -> AtomicU64 {
        AtomicU64::new(T::ZERO.to_bits())
    }

    #[inline]
    fn is_valid(&self, _: T) -> bool {
        true
    }

    #[inline]
    fn update(&self, cell: &AtomicU64, v: T) {
        cell.store(v.without_stale_bits().to_bits(), Ordering::Relaxed);
    }

    fn collect<'a>(
        &self,
        series: impl Iterator<Item = CollectedSeries<'a, AtomicU64>>,
    ) -> MetricData {
        MetricData::Gauge {
            points: series
                .map(|s| NumberPoint {
                    exemplars: Vec::new(),
                    attributes: s.attributes,
                    start_time: s.start_time,
                    value: T::from_bits(s.cell.load(Ordering::Relaxed)).to_number(),
                })
                .collect(),
        }
    }
}
