//! Exponential (base-2) histograms, as the OpenTelemetry spec defines them: buckets
//! whose width grows with the value, at the finest scale that keeps each range (positive,
//! negative) within `max_size` buckets, downscaled automatically as the range widens.
//!
//! Each series holds its state behind its own small lock: a measurement may have to
//! merge every bucket (downscaling) or grow the bucket list, which no single atomic can
//! do. The lock is per series and held for a few nanoseconds, so threads contend only
//! when they record into the same series at the same instant.

use std::marker::PhantomData;

use std::time::SystemTime;

use super::number::Num;
use super::{Aggregation, CollectedSeries};
use crate::snapshot::{Attributes, ExponentialBuckets, ExponentialHistogramPoint, MetricData};
use crate::sync::Mutex;

/// The scales the spec allows: at −10 three buckets span every `f64`.
pub(crate) const MIN_SCALE: i8 = -10;
pub(crate) const MAX_SCALE: i8 = 20;

/// The size and resolution of a provider's exponential histograms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExponentialConfig {
    /// Most buckets per range (positive, negative); at least 2.
    pub(crate) max_size: u32,
    /// The scale a series starts at, lowered as its values spread.
    pub(crate) max_scale: i8,
}

/// Counts measurements into exponential buckets and keeps sum, min and max.
pub(crate) struct ExponentialHistogram<T> {
    config: ExponentialConfig,
    _t: PhantomData<T>,
}

impl<T> ExponentialHistogram<T> {
    pub(crate) fn new(config: ExponentialConfig) -> Self {
        ExponentialHistogram {
            config,
            _t: PhantomData,
        }
    }
}

/// One series' state, behind its lock.
pub(crate) struct State {
    scale: i8,
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    zero_count: u64,
    positive: ExponentialBuckets,
    negative: ExponentialBuckets,
}

impl State {
    fn new(scale: i8) -> Self {
        State {
            scale,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            zero_count: 0,
            positive: ExponentialBuckets::default(),
            negative: ExponentialBuckets::default(),
        }
    }

    fn record(&mut self, x: f64, max_size: u32) {
        self.count += 1;
        self.sum += x;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        if x == 0.0 {
            self.zero_count += 1;
            return;
        }
        let mut index = bucket_index(x.abs(), self.scale);
        let range = if x > 0.0 {
            &self.positive
        } else {
            &self.negative
        };
        let change = needed_downscale(range, index, max_size);
        if change > 0 {
            // One scale for both ranges: both merge.
            self.scale -= change as i8;
            self.positive.downscale(change);
            self.negative.downscale(change);
            index >>= change;
        }
        let range = if x > 0.0 {
            &mut self.positive
        } else {
            &mut self.negative
        };
        increment(range, index);
    }

    fn point(&self, attributes: Attributes, start_time: SystemTime) -> ExponentialHistogramPoint {
        let seen = self.count > 0;
        ExponentialHistogramPoint {
            exemplars: Vec::new(),
            attributes,
            start_time,
            count: self.count,
            sum: self.sum,
            min: seen.then_some(self.min),
            max: seen.then_some(self.max),
            scale: self.scale,
            zero_threshold: 0.0,
            zero_count: self.zero_count,
            positive: self.positive.clone(),
            negative: self.negative.clone(),
        }
    }
}

/// How many scales `range` must drop so that it can hold `index` in `max_size` buckets.
fn needed_downscale(range: &ExponentialBuckets, index: i32, max_size: u32) -> u32 {
    if range.counts.is_empty() {
        return 0;
    }
    let mut low = index.min(range.offset) as i64;
    let mut high = index.max(range.end() - 1) as i64;
    let mut change = 0;
    while high - low + 1 > max_size as i64 {
        low >>= 1;
        high >>= 1;
        change += 1;
    }
    change
}

/// Adds one to bucket `index`, widening the list to reach it (the caller made room).
fn increment(range: &mut ExponentialBuckets, index: i32) {
    if range.counts.is_empty() {
        range.offset = index;
        range.counts.push(1);
        return;
    }
    if index < range.offset {
        let grow = (range.offset - index) as usize;
        range.counts.splice(0..0, std::iter::repeat_n(0, grow));
        range.offset = index;
    }
    let at = (index - range.offset) as usize;
    if at >= range.counts.len() {
        range.counts.resize(at + 1, 0);
    }
    range.counts[at] += 1;
}

/// The bucket of magnitude `x` (positive, finite) at `scale`: the `i` with
/// `base^i < x <= base^(i+1)`. Exact for powers of two and for scales at or below zero
/// (read from the float's exponent); above zero, from a logarithm, which may put a value
/// within a rounding error of a boundary into the neighbouring bucket.
pub(crate) fn bucket_index(x: f64, scale: i8) -> i32 {
    let bits = x.to_bits();
    let mantissa = bits & ((1u64 << 52) - 1);
    let biased = ((bits >> 52) & 0x7ff) as i32;
    // floor(log2(x)) and whether x is a power of two.
    let (exponent, power_of_two) = if biased == 0 {
        // Subnormal: the mantissa holds the whole value, in units of 2^-1074.
        (
            63 - mantissa.leading_zeros() as i32 - 1074,
            mantissa.is_power_of_two(),
        )
    } else {
        (biased - 1023, mantissa == 0)
    };
    if scale <= 0 {
        // A power of two is the upper bound of the bucket below.
        let exponent = if power_of_two { exponent - 1 } else { exponent };
        return exponent >> (-(scale as i32));
    }
    if power_of_two {
        return (exponent << scale) - 1;
    }
    let index = (x.log2() * (1u64 << scale) as f64).ceil() - 1.0;
    index as i32
}

impl<T: Num> Aggregation for ExponentialHistogram<T> {
    type Input = T;
    type Cell = Mutex<State>;

    fn new_cell(&self) -> Mutex<State> {
        Mutex::new(State::new(self.config.max_scale))
    }

    #[inline]
    fn is_valid(&self, v: T) -> bool {
        v.is_valid(false)
    }

    #[inline]
    fn update(&self, cell: &Mutex<State>, v: T) {
        cell.lock().record(v.as_f64(), self.config.max_size);
    }

    fn collect<'a>(
        &self,
        series: impl Iterator<Item = CollectedSeries<'a, Mutex<State>>>,
    ) -> MetricData {
        MetricData::ExponentialHistogram {
            points: series
                .map(|s| s.cell.lock().point(s.attributes, s.start_time))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::bucket_upper_bound;

    fn record(config: ExponentialConfig, values: &[f64]) -> ExponentialHistogramPoint {
        let h = ExponentialHistogram::<f64>::new(config);
        let cell = h.new_cell();
        for &v in values {
            h.update(&cell, v);
        }
        let data = h.collect(std::iter::once(CollectedSeries::bare(&cell)));
        data.exponential_points()[0].clone()
    }

    fn config(max_size: u32, max_scale: i8) -> ExponentialConfig {
        ExponentialConfig {
            max_size,
            max_scale,
        }
    }

    #[test]
    fn a_value_lies_within_its_bucket_at_every_scale() {
        for scale in MIN_SCALE..=MAX_SCALE {
            for x in [
                1e-300, 5e-324, 0.001, 0.75, 1.0, 1.5, 2.0, 3.0, 1024.0, 1e300,
            ] {
                let i = bucket_index(x, scale);
                let (lower, upper) = (
                    bucket_upper_bound(scale, i - 1),
                    bucket_upper_bound(scale, i),
                );
                let slack = upper * 1e-12;
                assert!(x > lower - slack && x <= upper + slack, "{x} {scale} {i}");
            }
        }
    }

    #[test]
    fn powers_of_two_close_their_bucket() {
        assert_eq!(bucket_index(1.0, 0), -1);
        assert_eq!(bucket_index(2.0, 0), 0);
        assert_eq!(bucket_index(4.0, 1), 3);
        assert_eq!(bucket_index(4.0, -1), 0);
        assert_eq!(bucket_index(5.0, -1), 1);
        assert_eq!(bucket_index(0.5, 3), -9);
    }

    #[test]
    fn widening_values_downscale_until_the_range_fits() {
        // At scale 0: 1 → bucket -1, 2 → 0, 4 → 1, 8 → 2. Four buckets do not fit in
        // two: two downscales later (scale -2) they are 1 → -1, the rest → 0.
        let p = record(config(2, 0), &[1.0, 2.0, 4.0, 8.0]);
        assert_eq!(p.scale, -2);
        assert_eq!(p.positive.offset, -1);
        assert_eq!(p.positive.counts, vec![1, 3]);
        assert_eq!((p.count, p.sum), (4, 15.0));
    }

    #[test]
    fn a_series_starts_at_the_maximum_scale() {
        let p = record(config(160, 20), &[1.5]);
        assert_eq!(p.scale, 20);
        let p = record(config(160, 20), &[1.0, 1e6]);
        // log2(1e6) ≈ 19.93 doublings: 8 buckets each (scale 3) need 161 buckets from
        // 1's bucket (-1) to 1e6's (159), one too many; 4 each (scale 2) need 81.
        assert_eq!(p.scale, 2);
        assert!(p.positive.counts.len() <= 160);
        assert_eq!(p.positive.total(), 2);
    }

    #[test]
    fn zeros_go_to_the_zero_bucket_and_negatives_to_their_own_range() {
        let p = record(config(4, 0), &[0.0, -0.0, -3.0, -1.0, 2.5]);
        assert_eq!(p.zero_count, 2);
        assert_eq!(p.negative.offset, -1);
        assert_eq!(p.negative.counts, vec![1, 0, 1]);
        assert_eq!(p.positive.offset, 1);
        assert_eq!(p.positive.counts, vec![1]);
        assert_eq!((p.min, p.max), (Some(-3.0), Some(2.5)));
        assert_eq!((p.count, p.sum), (5, -1.5));
    }

    #[test]
    fn one_range_widening_downscales_the_other_too() {
        let p = record(config(2, 2), &[-1.5, 1.0, 1e3]);
        assert!(p.scale <= 0, "{}", p.scale);
        assert_eq!(p.negative.total() + p.positive.total(), 3);
        assert!(p.positive.counts.len() <= 2 && p.negative.counts.len() <= 2);
        let lower = bucket_upper_bound(p.scale, p.negative.offset - 1);
        assert!(lower < 1.5);
    }

    #[test]
    fn nothing_recorded_has_no_extremes() {
        let p = record(config(160, 20), &[]);
        assert_eq!((p.count, p.min, p.max), (0, None, None));
        assert!(p.positive.counts.is_empty());
    }
}
