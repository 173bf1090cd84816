//! Cumulative sums: counters (monotonic) and up-down counters.

use std::marker::PhantomData;

use super::number::Num;
use super::striped::SumCell;
use super::{Aggregation, CollectedSeries};
use crate::snapshot::{MetricData, NumberPoint};

/// Adds measurements; a monotonic sum refuses negative ones.
pub(crate) struct Sum<T> {
    monotonic: bool,
    _t: PhantomData<T>,
}

impl<T> Sum<T> {
    pub(crate) fn new(monotonic: bool) -> Self {
        Sum {
            monotonic,
            _t: PhantomData,
        }
    }
}

impl<T: Num> Aggregation for Sum<T> {
    type Input = T;
    type Cell = SumCell;

    fn new_cell(&self) -> SumCell {
        SumCell::new()
    }

    #[inline]
    fn is_valid(&self, v: T) -> bool {
        // Non-finite values are refused for up-down counters too: one NaN would poison
        // the cumulative total for the rest of the process's life.
        v.is_valid(self.monotonic)
    }

    #[inline]
    fn update(&self, cell: &SumCell, v: T) {
        cell.add(v);
    }

    #[inline]
    fn update_bound(&self, cell: &SumCell, v: T) {
        cell.add_bound(v);
    }

    fn collect<'a>(
        &self,
        series: impl Iterator<Item = CollectedSeries<'a, SumCell>>,
    ) -> MetricData {
        MetricData::Sum {
            monotonic: self.monotonic,
            points: series
                .map(|s| NumberPoint {
                    exemplars: Vec::new(),
                    attributes: s.attributes,
                    start_time: s.start_time,
                    value: s.cell.total::<T>().to_number(),
                })
                .collect(),
        }
    }
}
