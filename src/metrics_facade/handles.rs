//! What the `metrics` macros hold: one bound series each, updated as the facade's
//! semantics say (absolute counters, gauge increments) on the provider's own cells.

use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{CounterFn, GaugeFn, HistogramFn};
use opentelemetry::metrics::BoundSyncInstrument;

use crate::aggregate::{Histogram, LastValue, Sum};
use crate::instrument::Bound;

/// A counter series: increments add, an absolute value raises the total to it.
pub(super) struct FacadeCounter(pub(super) Bound<Sum<u64>>);

/// A gauge series: set, or changed by an increment or decrement.
pub(super) struct FacadeGauge(pub(super) Bound<LastValue<f64>>);

/// A histogram series over the default boundaries.
pub(super) struct FacadeHistogram(pub(super) Bound<Histogram<f64>>);

impl CounterFn for FacadeCounter {
    #[inline]
    fn increment(&self, value: u64) {
        self.0.measure(value)
    }

    fn absolute(&self, value: u64) {
        // A cumulative counter never goes down: a smaller absolute value is ignored, as
        // by the `metrics` crate's own exporters. The cell is a striped sum, so this
        // adds the difference: exact when one thread mirrors the external total (what
        // `absolute` is for); racing `absolute` calls on one series may overshoot.
        self.0.modify(|cell| {
            let total: u64 = cell.total();
            if value > total {
                cell.add(value - total);
            }
        })
    }
}

impl GaugeFn for FacadeGauge {
    #[inline]
    fn increment(&self, value: f64) {
        self.0.modify(|cell| add_f64(cell, value))
    }

    #[inline]
    fn decrement(&self, value: f64) {
        self.increment(-value)
    }

    #[inline]
    fn set(&self, value: f64) {
        self.0.measure(value)
    }
}

impl HistogramFn for FacadeHistogram {
    #[inline]
    fn record(&self, value: f64) {
        self.0.measure(value)
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
