//! `opentelemetry::metrics::InstrumentProvider` for one meter: maps each of the API's
//! instrument constructors onto an aggregation.

use std::sync::Arc;

use opentelemetry::metrics::{
    AsyncInstrumentBuilder, Counter, Gauge, Histogram, HistogramBuilder, InstrumentBuilder,
    InstrumentProvider, ObservableCounter, ObservableGauge, ObservableUpDownCounter, UpDownCounter,
};

use crate::aggregate::histogram::{sanitize_bounds, DEFAULT_BOUNDS};
use crate::aggregate::{self, number::Num};
use crate::instrument::registry::{Registry, Spec};
use crate::snapshot::InstrumentKind;

/// The instrument provider behind every `Meter` of a scope.
pub(crate) struct ScopeMeter {
    pub(crate) registry: Arc<Registry>,
}

fn spec<T>(b: &InstrumentBuilder<'_, T>, kind: InstrumentKind) -> Spec {
    Spec {
        name: b.name.clone(),
        description: b.description.clone(),
        unit: b.unit.clone(),
        kind,
        bounds: None,
    }
}

fn async_spec<I, M>(b: &AsyncInstrumentBuilder<'_, I, M>, kind: InstrumentKind) -> Spec {
    Spec {
        name: b.name.clone(),
        description: b.description.clone(),
        unit: b.unit.clone(),
        kind,
        bounds: None,
    }
}

impl ScopeMeter {
    fn histogram<T: Num>(&self, b: HistogramBuilder<'_, Histogram<T>>) -> Histogram<T> {
        let bounds: Vec<f64> = match &b.boundaries {
            None => DEFAULT_BOUNDS.to_vec(),
            Some(given) => {
                let (clean, changed) = sanitize_bounds(given);
                if changed {
                    tracing::warn!(
                        instrument = %b.name,
                        given = ?given,
                        used = ?clean,
                        "histogram boundaries must be finite and strictly increasing; \
                         using them sorted, deduplicated and without NaN or infinities"
                    );
                }
                clean
            }
        };
        let bounds: Arc<[f64]> = bounds.into();
        let spec = Spec {
            name: b.name,
            description: b.description,
            unit: b.unit,
            kind: InstrumentKind::Histogram,
            // Compared with an earlier registration's: the first one's win.
            bounds: Some(bounds.clone()),
        };
        Histogram::new(
            self.registry
                .sync(spec, || aggregate::Histogram::<T>::new(bounds)),
        )
    }
}

impl InstrumentProvider for ScopeMeter {
    fn u64_counter(&self, b: InstrumentBuilder<'_, Counter<u64>>) -> Counter<u64> {
        Counter::new(self.registry.sync(spec(&b, InstrumentKind::Counter), || {
            aggregate::Sum::<u64>::new(true)
        }))
    }

    fn f64_counter(&self, b: InstrumentBuilder<'_, Counter<f64>>) -> Counter<f64> {
        Counter::new(self.registry.sync(spec(&b, InstrumentKind::Counter), || {
            aggregate::Sum::<f64>::new(true)
        }))
    }

    fn u64_observable_counter(
        &self,
        b: AsyncInstrumentBuilder<'_, ObservableCounter<u64>, u64>,
    ) -> ObservableCounter<u64> {
        let spec = async_spec(&b, InstrumentKind::ObservableCounter);
        self.registry.observable(spec, b.callbacks);
        ObservableCounter::new()
    }

    fn f64_observable_counter(
        &self,
        b: AsyncInstrumentBuilder<'_, ObservableCounter<f64>, f64>,
    ) -> ObservableCounter<f64> {
        let spec = async_spec(&b, InstrumentKind::ObservableCounter);
        self.registry.observable(spec, b.callbacks);
        ObservableCounter::new()
    }

    fn i64_up_down_counter(
        &self,
        b: InstrumentBuilder<'_, UpDownCounter<i64>>,
    ) -> UpDownCounter<i64> {
        UpDownCounter::new(
            self.registry
                .sync(spec(&b, InstrumentKind::UpDownCounter), || {
                    aggregate::Sum::<i64>::new(false)
                }),
        )
    }

    fn f64_up_down_counter(
        &self,
        b: InstrumentBuilder<'_, UpDownCounter<f64>>,
    ) -> UpDownCounter<f64> {
        UpDownCounter::new(
            self.registry
                .sync(spec(&b, InstrumentKind::UpDownCounter), || {
                    aggregate::Sum::<f64>::new(false)
                }),
        )
    }

    fn i64_observable_up_down_counter(
        &self,
        b: AsyncInstrumentBuilder<'_, ObservableUpDownCounter<i64>, i64>,
    ) -> ObservableUpDownCounter<i64> {
        let spec = async_spec(&b, InstrumentKind::ObservableUpDownCounter);
        self.registry.observable(spec, b.callbacks);
        ObservableUpDownCounter::new()
    }

    fn f64_observable_up_down_counter(
        &self,
        b: AsyncInstrumentBuilder<'_, ObservableUpDownCounter<f64>, f64>,
    ) -> ObservableUpDownCounter<f64> {
        let spec = async_spec(&b, InstrumentKind::ObservableUpDownCounter);
        self.registry.observable(spec, b.callbacks);
        ObservableUpDownCounter::new()
    }

    fn u64_gauge(&self, b: InstrumentBuilder<'_, Gauge<u64>>) -> Gauge<u64> {
        Gauge::new(self.registry.sync(spec(&b, InstrumentKind::Gauge), || {
            aggregate::LastValue::<u64>::new()
        }))
    }

    fn f64_gauge(&self, b: InstrumentBuilder<'_, Gauge<f64>>) -> Gauge<f64> {
        Gauge::new(self.registry.sync(spec(&b, InstrumentKind::Gauge), || {
            aggregate::LastValue::<f64>::new()
        }))
    }

    fn i64_gauge(&self, b: InstrumentBuilder<'_, Gauge<i64>>) -> Gauge<i64> {
        Gauge::new(self.registry.sync(spec(&b, InstrumentKind::Gauge), || {
            aggregate::LastValue::<i64>::new()
        }))
    }

    fn u64_observable_gauge(
        &self,
        b: AsyncInstrumentBuilder<'_, ObservableGauge<u64>, u64>,
    ) -> ObservableGauge<u64> {
        let spec = async_spec(&b, InstrumentKind::ObservableGauge);
        self.registry.observable(spec, b.callbacks);
        ObservableGauge::new()
    }

    fn i64_observable_gauge(
        &self,
        b: AsyncInstrumentBuilder<'_, ObservableGauge<i64>, i64>,
    ) -> ObservableGauge<i64> {
        let spec = async_spec(&b, InstrumentKind::ObservableGauge);
        self.registry.observable(spec, b.callbacks);
        ObservableGauge::new()
    }

    fn f64_observable_gauge(
        &self,
        b: AsyncInstrumentBuilder<'_, ObservableGauge<f64>, f64>,
    ) -> ObservableGauge<f64> {
        let spec = async_spec(&b, InstrumentKind::ObservableGauge);
        self.registry.observable(spec, b.callbacks);
        ObservableGauge::new()
    }

    fn f64_histogram(&self, b: HistogramBuilder<'_, Histogram<f64>>) -> Histogram<f64> {
        self.histogram(b)
    }

    fn u64_histogram(&self, b: HistogramBuilder<'_, Histogram<u64>>) -> Histogram<u64> {
        self.histogram(b)
    }
}
