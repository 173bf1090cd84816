//! `opentelemetry::metrics::InstrumentProvider` for one meter: maps each of the API's
//! instrument constructors onto the registry, which makes the instrument's streams
//! (its views, its default aggregation, its exemplars).
//!
//! Every trait method is a one-line delegation to one of three generic helpers:
//! `create_sync` (counters, up-down counters, gauges), `create_observable` (the three
//! observable kinds, whose methods the `observable!` macro writes) and
//! `create_histogram`.

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::metrics::{
    AsyncInstrumentBuilder, Counter, Gauge, Histogram, HistogramBuilder, InstrumentBuilder,
    InstrumentProvider, ObservableCounter, ObservableGauge, ObservableUpDownCounter,
    SyncInstrument, UpDownCounter,
};

use crate::aggregate::histogram::sanitize_bounds;
use crate::aggregate::number::Num;
use crate::instrument::registry::{Naming, Origin, Registry, Spec};
use crate::snapshot::InstrumentKind as Kind;

/// The instrument provider behind every `Meter` of a scope.
pub(crate) struct ScopeMeter {
    pub(crate) registry: Arc<Registry>,
}

/// What every builder names: the instrument's name, description and unit, and its kind.
fn spec(
    name: Cow<'static, str>,
    description: Option<Cow<'static, str>>,
    unit: Option<Cow<'static, str>>,
    kind: Kind,
) -> Spec {
    Spec {
        name,
        description,
        unit,
        kind,
        bounds: None,
        naming: Naming::OpenTelemetry,
    }
}

impl ScopeMeter {
    /// A synchronous instrument of `kind`; the caller wraps it in the API's handle
    /// (`Counter::new`, …).
    fn create_sync<T: Num, I>(
        &self,
        b: InstrumentBuilder<'_, I>,
        kind: Kind,
    ) -> Arc<dyn SyncInstrument<T> + Send + Sync> {
        let spec = spec(b.name, b.description, b.unit, kind);
        self.registry.sync(spec, Origin::OpenTelemetry)
    }

    /// An observable instrument of `kind`: its callbacks join the registry, and the
    /// API's handle (`handle`, which holds nothing) is returned. The trait methods call
    /// it through `observable!`.
    fn create_observable<T: Num, I>(
        &self,
        b: AsyncInstrumentBuilder<'_, I, T>,
        kind: Kind,
        handle: I,
    ) -> I {
        let spec = spec(b.name, b.description, b.unit, kind);
        self.registry.observable(spec, b.callbacks);
        handle
    }

    /// A histogram; its buckets, when the builder gives any, are the advice a view's
    /// aggregation overrides (checked: finite, strictly increasing). Without either,
    /// exponential when the provider chose those, else OpenTelemetry's default buckets.
    fn create_histogram<T: Num>(&self, b: HistogramBuilder<'_, Histogram<T>>) -> Histogram<T> {
        let bounds = b.boundaries.as_ref().map(|given| {
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
            Arc::<[f64]>::from(clean)
        });
        let spec = Spec {
            // Compared with an earlier registration's: the first one's win.
            bounds,
            ..spec(b.name, b.description, b.unit, Kind::Histogram)
        };
        Histogram::new(self.registry.sync(spec, Origin::OpenTelemetry))
    }
}

/// One observable instrument's trait method: `observable!(u64_observable_gauge ->
/// ObservableGauge<u64>)` is `fn u64_observable_gauge(&self, b: AsyncInstrumentBuilder<'_,
/// ObservableGauge<u64>, u64>) -> ObservableGauge<u64>`, a call of
/// [`ScopeMeter::create_observable`] with the kind of the handle's name.
macro_rules! observable {
    ($method:ident -> $handle:ident<$number:ty>) => {
        fn $method(
            &self,
            b: AsyncInstrumentBuilder<'_, $handle<$number>, $number>,
        ) -> $handle<$number> {
            self.create_observable(b, Kind::$handle, $handle::new())
        }
    };
}

impl InstrumentProvider for ScopeMeter {
    fn u64_counter(&self, b: InstrumentBuilder<'_, Counter<u64>>) -> Counter<u64> {
        Counter::new(self.create_sync(b, Kind::Counter))
    }

    fn f64_counter(&self, b: InstrumentBuilder<'_, Counter<f64>>) -> Counter<f64> {
        Counter::new(self.create_sync(b, Kind::Counter))
    }

    observable!(u64_observable_counter -> ObservableCounter<u64>);
    observable!(f64_observable_counter -> ObservableCounter<f64>);

    fn i64_up_down_counter(
        &self,
        b: InstrumentBuilder<'_, UpDownCounter<i64>>,
    ) -> UpDownCounter<i64> {
        UpDownCounter::new(self.create_sync(b, Kind::UpDownCounter))
    }

    fn f64_up_down_counter(
        &self,
        b: InstrumentBuilder<'_, UpDownCounter<f64>>,
    ) -> UpDownCounter<f64> {
        UpDownCounter::new(self.create_sync(b, Kind::UpDownCounter))
    }

    observable!(i64_observable_up_down_counter -> ObservableUpDownCounter<i64>);
    observable!(f64_observable_up_down_counter -> ObservableUpDownCounter<f64>);

    fn u64_gauge(&self, b: InstrumentBuilder<'_, Gauge<u64>>) -> Gauge<u64> {
        Gauge::new(self.create_sync(b, Kind::Gauge))
    }

    fn f64_gauge(&self, b: InstrumentBuilder<'_, Gauge<f64>>) -> Gauge<f64> {
        Gauge::new(self.create_sync(b, Kind::Gauge))
    }

    fn i64_gauge(&self, b: InstrumentBuilder<'_, Gauge<i64>>) -> Gauge<i64> {
        Gauge::new(self.create_sync(b, Kind::Gauge))
    }

    observable!(u64_observable_gauge -> ObservableGauge<u64>);
    observable!(i64_observable_gauge -> ObservableGauge<i64>);
    observable!(f64_observable_gauge -> ObservableGauge<f64>);

    fn f64_histogram(&self, b: HistogramBuilder<'_, Histogram<f64>>) -> Histogram<f64> {
        self.create_histogram(b)
    }

    fn u64_histogram(&self, b: HistogramBuilder<'_, Histogram<u64>>) -> Histogram<u64> {
        self.create_histogram(b)
    }
}
