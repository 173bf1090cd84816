//! Exponential histogram points → Prometheus series: one native histogram series per
//! point where the destination takes them, else classic `_bucket`/`_sum`/`_count`
//! series whose `le` are the exponential buckets' upper bounds.
//!
//! Native histograms need a scale of at least −4 (Prometheus' lowest schema); a point
//! below that goes out as classic series even where native histograms are on. The
//! classic form has one `le` per bucket of the point's current range, so its `le` set
//! changes when the histogram downscales or its range grows: the old `_bucket` series
//! then end, as in any classic histogram whose boundaries change.

use super::collide::Action;
use super::labels::{ClassicPoint, HistogramNames, PointContext};
use super::model::Names;
use super::naming;
use super::series::{put, Labels, NativeSample, SeriesSink, Span};
use crate::snapshot::{bucket_upper_bound, ExponentialHistogramPoint};

/// Prometheus' lowest native-histogram schema.
pub(crate) const MIN_NATIVE_SCALE: i8 = -4;

impl PointContext<'_> {
    /// Hands the series of every exponential histogram point to `sink`; returns their
    /// number.
    pub(super) fn exponential<'p, S: SeriesSink>(
        &mut self,
        points: &'p [ExponentialHistogramPoint],
        names: &Names,
        id: u64,
        planned: &dyn Fn(usize) -> Option<&'p Action>,
        ts: i64,
        sink: &mut S,
    ) -> usize {
        let family = put(&mut self.scratch.text, &names.family);
        let [bucket_name, sum_name, count_name] = names
            .histogram
            .each_ref()
            .map(|n| put(&mut self.scratch.text, n));
        let spans = HistogramNames {
            le: put(&mut self.scratch.text, "le"),
            sum: sum_name,
            count: count_name,
        };
        let mark = self.scratch.text.len();
        let mut count = 0;
        let mut les: Vec<Span> = Vec::new();
        let mut buckets: Vec<(f64, u64)> = Vec::new();
        let mut bounds: Vec<f64> = Vec::new();
        for (index, point) in points.iter().enumerate() {
            let point: &ExponentialHistogramPoint = match planned(index) {
                Some(Action::Skip) => continue,
                Some(Action::Exponential(merged)) => merged,
                _ => point,
            };
            self.scratch.text.truncate(mark);
            let exemplars = self
                .exemplars
                .select(id, &point.attributes, &point.exemplars, true);
            if self.native_histograms && point.scale >= MIN_NATIVE_SCALE {
                self.point_labels(family, &point.attributes, true);
                let labels = Labels {
                    text: &self.scratch.text,
                    slots: &self.scratch.base,
                };
                let sample = NativeSample {
                    point,
                    exemplars,
                    timestamp_ms: ts,
                };
                sink.native_histogram(&labels, sample);
                count += 1;
                continue;
            }
            sink.point_start(super::model::millis(point.start_time));
            self.point_labels(bucket_name, &point.attributes, true);
            classic_buckets(point, &mut buckets);
            les.clear();
            self.scratch.samples.clear();
            for &(le, cumulative) in &buckets {
                let start = self.scratch.text.len();
                naming::write_float(&mut self.scratch.text, le);
                les.push(Span {
                    start: start as u32,
                    end: self.scratch.text.len() as u32,
                });
                self.scratch.samples.push(cumulative as f64);
            }
            les.push(put(&mut self.scratch.text, "+Inf"));
            self.scratch.samples.push(point.count as f64);
            count += les.len() + 2;
            bounds.clear();
            if !exemplars.is_empty() {
                bounds.extend(buckets.iter().map(|(le, _)| *le));
            }
            let classic = ClassicPoint {
                les: &les,
                bounds: &bounds,
                sum: point.sum,
                count: point.count,
                exemplars,
            };
            self.classic_series(&spans, &classic, ts, sink);
        }
        count
    }
}

/// Fills `out` with the classic buckets of `point`: `(upper bound, cumulative count)`
/// from the most negative bucket up, the zero bucket (when it holds values) at the zero
/// threshold, `+Inf` left out (its count is the point's count).
pub(crate) fn classic_buckets(point: &ExponentialHistogramPoint, out: &mut Vec<(f64, u64)>) {
    out.clear();
    let scale = point.scale;
    let mut cumulative = 0u64;
    let negative = &point.negative;
    for (i, &c) in negative.counts.iter().enumerate().rev() {
        // Bucket i holds magnitudes in (base^i, base^(i+1)]: values up to -base^i.
        let index = negative.offset + i as i32;
        cumulative = cumulative.saturating_add(c);
        out.push((-bucket_upper_bound(scale, index - 1), cumulative));
    }
    if point.zero_count > 0 {
        cumulative = cumulative.saturating_add(point.zero_count);
        out.push((point.zero_threshold, cumulative));
    }
    let positive = &point.positive;
    for (i, &c) in positive.counts.iter().enumerate() {
        cumulative = cumulative.saturating_add(c);
        out.push((
            bucket_upper_bound(scale, positive.offset + i as i32),
            cumulative,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::tests::exponential_point;

    #[test]
    fn classic_buckets_run_from_the_most_negative_up_and_accumulate() {
        let point = exponential_point(0, 1, (0, &[1, 2]), (-1, &[3, 0]));
        let mut out = Vec::new();
        classic_buckets(&point, &mut out);
        // Negative bucket 1 holds (-4, -2], bucket 0 (-2, -1]; positive -1 holds (0.5, 1].
        assert_eq!(
            out,
            vec![(-2.0, 2), (-1.0, 3), (0.0, 4), (1.0, 7), (2.0, 7)]
        );
    }
}
