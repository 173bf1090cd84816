//! `opentelemetry::metrics::InstrumentProvider` for one meter: maps each of the API's
//! instrument constructors onto an aggregation.
//!
//! Every trait method is a one-line delegation to one of four generic helpers:
//! `create_sync` (up-down counters, gauges), `create_counter`, `create_observable` (the
//! three observable kinds, whose methods the `observable!` macro writes) and
//! `create_histogram`. Counters and histograms keep exemplars unless the provider's
//! exemplar filter is off (gauges and up-down counters carry none, as the spec says).

use std::borrow::Cow;
use std::sync::Arc;

use opentelemetry::metrics::{
    AsyncInstrumentBuilder, Counter, Gauge, Histogram, HistogramBuilder, InstrumentBuilder,
    InstrumentProvider, ObservableCounter, ObservableGauge, ObservableUpDownCounter,
    SyncInstrument, UpDownCounter,
};

use crate::aggregate::exemplar_sampling::{ExemplarFilter, ReservoirKind, Sampled};
use crate::aggregate::exponential::{ExponentialConfig, ExponentialHistogram};
use crate::aggregate::histogram::{sanitize_bounds, DEFAULT_BOUNDS};
use crate::aggregate::{number::Num, Aggregation, LastValue, Sum};
use crate::instrument::registry::{Naming, Registry, Spec};
use crate::snapshot::InstrumentKind as Kind;

/// The instrument provider behind every `Meter` of a scope.
pub(crate) struct ScopeMeter {
    pub(crate) registry: Arc<Registry>,
    /// Set: histograms created without boundaries are exponential ones.
    pub(crate) exponential: Option<ExponentialConfig>,
    /// Which measurements of counters and histograms become exemplars.
    pub(crate) exemplar_filter: ExemplarFilter,
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
    /// A synchronous instrument of `kind` over the aggregation `aggregation` makes; the
    /// caller wraps it in the API's handle (`Counter::new`, …).
    fn create_sync<A: Aggregation, I>(
        &self,
        b: InstrumentBuilder<'_, I>,
        kind: Kind,
        aggregation: impl FnOnce() -> A,
    ) -> Arc<dyn SyncInstrument<A::Input> + Send + Sync> {
        let spec = spec(b.name, b.description, b.unit, kind);
        self.registry.sync(spec, aggregation)
    }

    /// [`create_sync`](Self::create_sync) for a monotonic sum, which keeps exemplars.
    fn create_counter<T: Num, I>(
        &self,
        b: InstrumentBuilder<'_, I>,
    ) -> Arc<dyn SyncInstrument<T> + Send + Sync> {
        let spec = spec(b.name, b.description, b.unit, Kind::Counter);
        self.sync_with_exemplars(spec, || Sum::<T>::new(true), ReservoirKind::FixedSize(1))
    }

    /// A synchronous instrument whose measurements the exemplar filter samples into
    /// `reservoir`; with the filter off, the aggregation as it is.
    fn sync_with_exemplars<A: Aggregation>(
        &self,
        spec: Spec,
        aggregation: impl FnOnce() -> A,
        reservoir: ReservoirKind,
    ) -> Arc<dyn SyncInstrument<A::Input> + Send + Sync> {
        match self.exemplar_filter {
            ExemplarFilter::AlwaysOff => self.registry.sync(spec, aggregation),
            filter => self
                .registry
                .sync(spec, || Sampled::new(aggregation(), filter, reservoir)),
        }
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

    /// A histogram over the builder's boundaries (checked: finite, strictly
    /// increasing); without any, an exponential one when the provider chose those, else
    /// one over the default boundaries.
    fn create_histogram<T: Num>(&self, b: HistogramBuilder<'_, Histogram<T>>) -> Histogram<T> {
        if let (None, Some(config)) = (&b.boundaries, self.exponential) {
            let spec = spec(b.name, b.description, b.unit, Kind::Histogram);
            let aggregation = || ExponentialHistogram::<T>::new(config);
            // The spec's reservoir size: the smaller of the bucket count and 20.
            let reservoir = ReservoirKind::FixedSize(config.max_size.min(20) as usize);
            return Histogram::new(self.sync_with_exemplars(spec, aggregation, reservoir));
        }
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
            // Compared with an earlier registration's: the first one's win.
            bounds: Some(bounds.clone()),
            ..spec(b.name, b.description, b.unit, Kind::Histogram)
        };
        let reservoir = ReservoirKind::Aligned(bounds.clone());
        let aggregation = || crate::aggregate::Histogram::<T>::new(bounds);
        Histogram::new(self.sync_with_exemplars(spec, aggregation, reservoir))
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
        Counter::new(self.create_counter(b))
    }

    fn f64_counter(&self, b: InstrumentBuilder<'_, Counter<f64>>) -> Counter<f64> {
        Counter::new(self.create_counter(b))
    }

    observable!(u64_observable_counter -> ObservableCounter<u64>);
    observable!(f64_observable_counter -> ObservableCounter<f64>);

    fn i64_up_down_counter(
        &self,
        b: InstrumentBuilder<'_, UpDownCounter<i64>>,
    ) -> UpDownCounter<i64> {
        UpDownCounter::new(self.create_sync(b, Kind::UpDownCounter, || Sum::new(false)))
    }

    fn f64_up_down_counter(
        &self,
        b: InstrumentBuilder<'_, UpDownCounter<f64>>,
    ) -> UpDownCounter<f64> {
        UpDownCounter::new(self.create_sync(b, Kind::UpDownCounter, || Sum::new(false)))
    }

    observable!(i64_observable_up_down_counter -> ObservableUpDownCounter<i64>);
    observable!(f64_observable_up_down_counter -> ObservableUpDownCounter<f64>);

    fn u64_gauge(&self, b: InstrumentBuilder<'_, Gauge<u64>>) -> Gauge<u64> {
        Gauge::new(self.create_sync(b, Kind::Gauge, LastValue::new))
    }

    fn f64_gauge(&self, b: InstrumentBuilder<'_, Gauge<f64>>) -> Gauge<f64> {
        Gauge::new(self.create_sync(b, Kind::Gauge, LastValue::new))
    }

    fn i64_gauge(&self, b: InstrumentBuilder<'_, Gauge<i64>>) -> Gauge<i64> {
        Gauge::new(self.create_sync(b, Kind::Gauge, LastValue::new))
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
