//! Exponential (base-2) histogram points: the snapshot form, its bucket arithmetic
//! (bounds, downscaling) and how two points merge.
//!
//! At scale `s` the base is `2^(2^-s)`, and bucket `i` holds the values in
//! `(base^i, base^(i+1)]` (negative values mirror that by magnitude). Lowering the scale
//! by one merges each pair of neighbouring buckets: index `i` becomes `i >> 1`.

use std::time::SystemTime;

use super::{widen, Attributes, Exemplar};

/// One range (positive or negative) of an exponential histogram: consecutive buckets
/// from index `offset` on.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ExponentialBuckets {
    /// The index of the first bucket in `counts`.
    pub(crate) offset: i32,
    /// Per-bucket (not cumulative) counts.
    pub(crate) counts: Vec<u64>,
}

impl ExponentialBuckets {
    /// The index of the first bucket in [`counts`](Self::counts).
    #[must_use]
    pub fn offset(&self) -> i32 {
        self.offset
    }

    /// Per-bucket (not cumulative) counts, from index [`offset`](Self::offset) on.
    #[must_use]
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Merges buckets as if the scale were `by` lower: index `i` becomes `i >> by`.
    pub(crate) fn downscale(&mut self, by: u32) {
        if by == 0 || self.counts.is_empty() {
            return;
        }
        let by = by.min(31);
        let first = self.offset >> by;
        let mut merged: Vec<u64> = Vec::with_capacity(self.counts.len());
        for (i, &count) in self.counts.iter().enumerate() {
            let at = ((self.offset + i as i32) >> by) - first;
            let at = at as usize;
            if at >= merged.len() {
                merged.resize(at + 1, 0);
            }
            merged[at] = merged[at].saturating_add(count);
        }
        self.offset = first;
        self.counts = merged;
    }

    /// Adds `other`'s counts bucket by bucket (both at one scale).
    fn add(&mut self, other: &ExponentialBuckets) {
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            *self = other.clone();
            return;
        }
        let start = self.offset.min(other.offset);
        let end = self.end().max(other.end());
        let mut sum = vec![0u64; (end - start) as usize];
        for from in [&*self, other] {
            for (i, &count) in from.counts.iter().enumerate() {
                let at = (from.offset - start) as usize + i;
                sum[at] = sum[at].saturating_add(count);
            }
        }
        self.offset = start;
        self.counts = sum;
    }

    /// One past the last bucket's index.
    #[must_use]
    pub fn end(&self) -> i32 {
        self.offset.saturating_add(self.counts.len() as i32)
    }

    /// The total of the counts.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, c| a.saturating_add(*c))
    }
}

/// An exponential histogram's state for one attribute set.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ExponentialHistogramPoint {
    /// The attribute set.
    pub(crate) attributes: Attributes,
    /// When this point's series started counting.
    pub(crate) start_time: SystemTime,
    /// The resolution: the base is `2^(2^-scale)`.
    pub(crate) scale: i8,
    /// Values whose magnitude is at most this are counted in `zero_count`.
    pub(crate) zero_threshold: f64,
    /// Values in the zero bucket.
    pub(crate) zero_count: u64,
    /// Number of recorded values: the zero count plus both ranges' counts.
    pub(crate) count: u64,
    /// Sum of recorded values.
    pub(crate) sum: f64,
    /// Smallest recorded value, `None` before the first.
    pub(crate) min: Option<f64>,
    /// Largest recorded value, `None` before the first.
    pub(crate) max: Option<f64>,
    /// Buckets of the positive values.
    pub(crate) positive: ExponentialBuckets,
    /// Buckets of the negative values, by magnitude.
    pub(crate) negative: ExponentialBuckets,
    /// Sampled measurements (see
    /// [`MeterProviderBuilder::with_exemplar_filter`](crate::MeterProviderBuilder::with_exemplar_filter)).
    pub(crate) exemplars: Vec<Exemplar>,
}

impl ExponentialHistogramPoint {
    /// The attribute set.
    #[must_use]
    pub fn attributes(&self) -> &Attributes {
        &self.attributes
    }

    /// Start of the cumulative interval: when this point's series started counting.
    #[must_use]
    pub fn start_time(&self) -> SystemTime {
        self.start_time
    }

    /// The resolution: the base is `2^(2^-scale)`.
    #[must_use]
    pub fn scale(&self) -> i8 {
        self.scale
    }

    /// Values whose magnitude is at most this are counted in the zero bucket.
    #[must_use]
    pub fn zero_threshold(&self) -> f64 {
        self.zero_threshold
    }

    /// Values in the zero bucket.
    #[must_use]
    pub fn zero_count(&self) -> u64 {
        self.zero_count
    }

    /// Number of recorded values: the zero count plus both ranges' counts.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of recorded values.
    #[must_use]
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// Smallest recorded value, `None` before the first.
    #[must_use]
    pub fn min(&self) -> Option<f64> {
        self.min
    }

    /// Largest recorded value, `None` before the first.
    #[must_use]
    pub fn max(&self) -> Option<f64> {
        self.max
    }

    /// Buckets of the positive values.
    #[must_use]
    pub fn positive(&self) -> &ExponentialBuckets {
        &self.positive
    }

    /// Buckets of the negative values, by magnitude.
    #[must_use]
    pub fn negative(&self) -> &ExponentialBuckets {
        &self.negative
    }

    /// Sampled measurements.
    #[must_use]
    pub fn exemplars(&self) -> &[Exemplar] {
        &self.exemplars
    }

    /// A point with nothing recorded at `scale`: where a merge of points starts.
    #[cfg(any(test, feature = "custom-metrics"))]
    pub(crate) fn empty(attributes: Attributes, start_time: SystemTime, scale: i8) -> Self {
        ExponentialHistogramPoint {
            attributes,
            start_time,
            scale,
            zero_threshold: 0.0,
            zero_count: 0,
            count: 0,
            sum: 0.0,
            min: None,
            max: None,
            exemplars: Vec::new(),
            positive: ExponentialBuckets::default(),
            negative: ExponentialBuckets::default(),
        }
    }

    /// Lowers the scale to `scale` (no-op when it is not lower), merging buckets.
    pub(crate) fn downscale_to(&mut self, scale: i8) {
        if scale >= self.scale {
            return;
        }
        let by = (self.scale as i32 - scale as i32) as u32;
        self.positive.downscale(by);
        self.negative.downscale(by);
        self.scale = scale;
    }

    /// Adds `other`'s recordings into this point, as if one histogram had recorded
    /// both: the lower of the two scales is kept, counts and sums add, min and max
    /// widen, the wider zero threshold and the earlier start are kept. The attributes stay this point's.
    pub(crate) fn merge(&mut self, other: &ExponentialHistogramPoint) {
        self.start_time = self.start_time.min(other.start_time);
        let mut other = other.clone();
        let scale = self.scale.min(other.scale);
        self.downscale_to(scale);
        other.downscale_to(scale);
        self.zero_threshold = self.zero_threshold.max(other.zero_threshold);
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.min = widen(self.min, other.min, f64::min);
        self.max = widen(self.max, other.max, f64::max);
        self.positive.add(&other.positive);
        self.negative.add(&other.negative);
        self.exemplars.extend(other.exemplars.iter().cloned());
    }
}

/// The upper bound of positive bucket `index` at `scale`: `2^((index + 1) · 2^-scale)`,
/// exact for scales at or below zero.
#[must_use]
pub fn bucket_upper_bound(scale: i8, index: i32) -> f64 {
    let exponent = index as i64 + 1;
    if scale <= 0 {
        let power = exponent << (-(scale as i32)) as u32;
        return pow2(power);
    }
    // Split into whole and fractional powers of two: exp2 of a small fraction stays
    // accurate where exp2 of a large exponent would not.
    let per = 1i64 << scale as u32;
    let whole = exponent.div_euclid(per);
    let frac = exponent.rem_euclid(per) as f64 / per as f64;
    pow2(whole) * frac.exp2()
}

/// `2^e`, saturating to infinity and zero.
fn pow2(e: i64) -> f64 {
    if e > 1023 {
        f64::INFINITY
    } else if e < -1074 {
        0.0
    } else {
        (e as f64).exp2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(offset: i32, counts: &[u64]) -> ExponentialBuckets {
        ExponentialBuckets {
            offset,
            counts: counts.to_vec(),
        }
    }

    #[test]
    fn downscaling_by_one_merges_pairs_and_floors_negative_indexes() {
        let mut b = buckets(-3, &[1, 2, 3, 4, 5]);
        b.downscale(1);
        // -3→-2, -2→-1, -1→-1, 0→0, 1→0.
        assert_eq!(b, buckets(-2, &[1, 5, 9]));
        let mut b = buckets(5, &[1, 1, 1, 1]);
        b.downscale(2);
        // 5,6,7→1; 8→2.
        assert_eq!(b, buckets(1, &[3, 1]));
    }

    #[test]
    fn merged_points_meet_at_the_lower_scale() {
        let mut a =
            ExponentialHistogramPoint::empty(Attributes::default(), SystemTime::UNIX_EPOCH, 1);
        a.count = 2;
        a.sum = 5.0;
        a.min = Some(2.0);
        a.max = Some(3.0);
        a.positive = buckets(2, &[1, 1]);
        let mut b =
            ExponentialHistogramPoint::empty(Attributes::default(), SystemTime::UNIX_EPOCH, 0);
        b.count = 2;
        b.sum = -1.0;
        b.min = Some(-1.0);
        b.max = Some(0.0);
        b.zero_count = 1;
        b.negative = buckets(-1, &[1]);
        a.merge(&b);
        assert_eq!(a.scale, 0);
        assert_eq!(a.positive, buckets(1, &[2]));
        assert_eq!(a.negative, buckets(-1, &[1]));
        assert_eq!((a.count, a.sum, a.zero_count), (4, 4.0, 1));
        assert_eq!((a.min, a.max), (Some(-1.0), Some(3.0)));
    }

    #[test]
    fn upper_bounds_at_each_kind_of_scale() {
        let cases: &[(i8, i32, f64)] = &[
            (0, 0, 2.0),
            (0, -1, 1.0),
            (0, 3, 16.0),
            (-1, 0, 4.0),
            (-2, 1, 256.0),
            (1, 0, std::f64::consts::SQRT_2),
            (1, 1, 2.0),
            (2, -5, 2f64.powf(-1.0)),
            (3, 7, 2.0),
            (0, 2000, f64::INFINITY),
        ];
        for &(scale, index, want) in cases {
            let got = bucket_upper_bound(scale, index);
            assert!(
                got == want || (got - want).abs() <= want * 1e-15,
                "{scale} {index}: {got}"
            );
        }
    }
}
