//! What the `metrics` macros hold: one bound series in each stream of the key's
//! instrument (one stream unless views made more), updated as the facade's semantics
//! say (absolute counters, gauge increments) on the provider's own cells.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use metrics::{CounterFn, GaugeFn, HistogramFn};
use opentelemetry::metrics::BoundSyncInstrument;
use opentelemetry::KeyValue;

use crate::aggregate::exponential::ExponentialHistogram;
use crate::aggregate::number::Num;
use crate::aggregate::{Aggregator, Histogram, LastValue, Sum};
use crate::instrument::Bound;

/// One stream's series, by the aggregation a view (or the default) gave the stream.
pub(super) enum FacadeSeries<T: Num> {
    Sum(Bound<Sum<T>>),
    LastValue(Bound<LastValue<T>>),
    Histogram(Bound<Histogram<T>>),
    Exponential(Bound<ExponentialHistogram<T>>),
}

impl<T: Num> FacadeSeries<T> {
    /// The series of `attributes` in a stream's aggregator (the facade's streams keep
    /// no exemplars, so these are all the types there are).
    pub(super) fn bind(
        aggregator: Arc<dyn Any + Send + Sync>,
        attributes: &[KeyValue],
    ) -> Option<Self> {
        let aggregator = match aggregator.downcast::<Aggregator<Sum<T>>>() {
            Ok(a) => return Some(FacadeSeries::Sum(Bound::new(a, attributes))),
            Err(other) => other,
        };
        let aggregator = match aggregator.downcast::<Aggregator<LastValue<T>>>() {
            Ok(a) => return Some(FacadeSeries::LastValue(Bound::new(a, attributes))),
            Err(other) => other,
        };
        let aggregator = match aggregator.downcast::<Aggregator<Histogram<T>>>() {
            Ok(a) => return Some(FacadeSeries::Histogram(Bound::new(a, attributes))),
            Err(other) => other,
        };
        match aggregator.downcast::<Aggregator<ExponentialHistogram<T>>>() {
            Ok(a) => Some(FacadeSeries::Exponential(Bound::new(a, attributes))),
            Err(_) => None,
        }
    }

    #[inline]
    fn measure(&self, value: T) {
        match self {
            FacadeSeries::Sum(b) => b.measure(value),
            FacadeSeries::LastValue(b) => b.measure(value),
            FacadeSeries::Histogram(b) => b.measure(value),
            FacadeSeries::Exponential(b) => b.measure(value),
        }
    }
}

/// A counter's series: increments add, an absolute value raises a sum's total to it.
pub(super) struct FacadeCounter(pub(super) Box<[FacadeSeries<u64>]>);

/// A gauge's series: set, or (a last value) changed by an increment or decrement.
pub(super) struct FacadeGauge(pub(super) Box<[FacadeSeries<f64>]>);

/// A histogram's series.
pub(super) struct FacadeHistogram(pub(super) Box<[FacadeSeries<f64>]>);

impl CounterFn for FacadeCounter {
    #[inline]
    fn increment(&self, value: u64) {
        self.0.iter().for_each(|s| s.measure(value))
    }

    fn absolute(&self, value: u64) {
        // A cumulative counter never goes down: a smaller absolute value is ignored, as
        // by the `metrics` crate's own exporters. The cell is a striped sum, so this
        // adds the difference: exact when one thread mirrors the external total (what
        // `absolute` is for); racing `absolute` calls on one series may overshoot. A
        // stream a view made a histogram has no total to raise: it gets nothing.
        for series in self.0.iter() {
            if let FacadeSeries::Sum(bound) = series {
                bound.modify(|cell| {
                    let total: u64 = cell.total();
                    if value > total {
                        cell.add(value - total);
                    }
                })
            }
        }
    }
}

impl GaugeFn for FacadeGauge {
    #[inline]
    fn increment(&self, value: f64) {
        // Only a last value has a value to change; a histogram stream of a gauge
        // records what is set.
        for series in self.0.iter() {
            if let FacadeSeries::LastValue(bound) = series {
                bound.modify(|cell| add_f64(cell, value))
            }
        }
    }

    #[inline]
    fn decrement(&self, value: f64) {
        self.increment(-value)
    }

    #[inline]
    fn set(&self, value: f64) {
        self.0.iter().for_each(|s| s.measure(value))
    }
}

impl HistogramFn for FacadeHistogram {
    #[inline]
    fn record(&self, value: f64) {
        self.0.iter().for_each(|s| s.measure(value))
    }
}

/// Adds to an `f64` held as bits, atomically. A NaN result is stored as the ordinary
/// NaN: the Prometheus stale-marker bits would end the series.
fn add_f64(cell: &AtomicU64, delta: f64) {
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        let sum = f64::from_bits(bits) + delta;
        Some(if sum.is_nan() { f64::NAN } else { sum }.to_bits())
    });
}
