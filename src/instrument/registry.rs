//! The instruments of one meter (instrumentation scope): creation, validation and
//! duplicate registration.
//!
//! Registering the same name (case-insensitively), kind, unit and number type again
//! returns an instrument over the same data. The same name with another kind, unit or
//! number type is a conflict: it is warned about and becomes a separate instrument, so
//! both stay distinguishable in the snapshot.
//!
//! A histogram registered again with other boundaries is the same instrument too: the
//! first registration's boundaries stay (its series cannot change buckets midway), and
//! each such registration logs an error.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::metrics::{Callback, SyncInstrument};
use opentelemetry::InstrumentationScope;

use super::{validate_name, Collect, Disabled};
use crate::aggregate::idle::Reader;
use crate::aggregate::{number::Num, Aggregation, Aggregator, Limits, ObservableAggregator};
use crate::snapshot::{Descriptor, InstrumentKind, MetricSnapshot, ScopeSnapshot};
use crate::sync::Mutex;

#[derive(PartialEq, Eq)]
struct Identity {
    name: String,
    kind: InstrumentKind,
    unit: Cow<'static, str>,
    number: crate::snapshot::NumberKind,
}

struct Registered {
    identity: Identity,
    /// A histogram's boundaries, as first registered.
    bounds: Option<Arc<[f64]>>,
    instrument: Arc<dyn Collect>,
}

/// What a new instrument is made of.
pub(crate) struct Spec {
    pub(crate) name: Cow<'static, str>,
    pub(crate) description: Option<Cow<'static, str>>,
    pub(crate) unit: Option<Cow<'static, str>>,
    pub(crate) kind: InstrumentKind,
    /// A histogram's boundaries (checked, as used); `None` for other kinds.
    pub(crate) bounds: Option<Arc<[f64]>>,
    /// Which names are accepted.
    pub(crate) naming: Naming,
}

/// Which names an instrument may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Naming {
    /// The OpenTelemetry API's rule: a letter, then at most 254 of
    /// `A-Z a-z 0-9 _ . - /`.
    OpenTelemetry,
    /// Any name but the empty one: for the `metrics` facade, whose names follow no rule
    /// (`my_crate::requests`, `9lives`). Translation makes them valid Prometheus names.
    #[cfg(feature = "metrics")]
    Any,
}

/// The instruments of one scope.
pub(crate) struct Registry {
    scope: InstrumentationScope,
    limits: Limits,
    /// The provider's shutdown flag, read under `instruments`' lock.
    shut_down: Arc<AtomicBool>,
    instruments: Mutex<Vec<Registered>>,
}

impl Registry {
    pub(crate) fn new(
        scope: InstrumentationScope,
        limits: Limits,
        shut_down: Arc<AtomicBool>,
    ) -> Self {
        Registry {
            scope,
            limits,
            shut_down,
            instruments: Mutex::new(Vec::new()),
        }
    }

    /// A synchronous instrument, or a disabled one when the name is invalid.
    pub(crate) fn sync<A: Aggregation>(
        &self,
        spec: Spec,
        aggregation: impl FnOnce() -> A,
    ) -> Arc<dyn SyncInstrument<A::Input> + Send + Sync> {
        match self.aggregator(spec, aggregation) {
            Some(aggregator) => aggregator,
            None => Arc::new(Disabled),
        }
    }

    /// [`sync`](Self::sync)'s aggregator itself (`None` when the name is invalid), for
    /// entry points that drive the cells directly (the `metrics` facade).
    pub(crate) fn aggregator<A: Aggregation>(
        &self,
        spec: Spec,
        aggregation: impl FnOnce() -> A,
    ) -> Option<Arc<Aggregator<A>>> {
        self.register::<A::Input, Aggregator<A>>(spec, |d| {
            Aggregator::new(d, aggregation(), self.limits.clone())
        })
    }

    /// An observable instrument; its callbacks are dropped when the name is invalid.
    pub(crate) fn observable<T: Num>(&self, spec: Spec, callbacks: Vec<Callback<T>>) {
        let limits = self.limits.clone();
        if let Some(aggregator) = self.register::<T, ObservableAggregator<T>>(spec, |d| {
            Arc::new(ObservableAggregator::new(d, limits))
        }) {
            aggregator.add_callbacks(callbacks);
        }
    }

    fn register<T: Num, I: Collect + 'static>(
        &self,
        spec: Spec,
        make: impl FnOnce(Arc<Descriptor>) -> Arc<I>,
    ) -> Option<Arc<I>> {
        let checked = match spec.naming {
            Naming::OpenTelemetry => validate_name(&spec.name),
            #[cfg(feature = "metrics")]
            Naming::Any if spec.name.is_empty() => Err("the name is empty"),
            #[cfg(feature = "metrics")]
            Naming::Any => Ok(()),
        };
        if let Err(why) = checked {
            tracing::error!(
                instrument = %spec.name,
                scope = self.scope.name(),
                "invalid instrument name: {why}; this instrument records nothing. Use a \
                 letter first, then at most 254 of A-Z a-z 0-9 _ . - /"
            );
            return None;
        }
        let identity = Identity {
            name: spec.name.to_ascii_lowercase(),
            kind: spec.kind,
            unit: spec.unit.clone().unwrap_or_default(),
            number: T::KIND,
        };
        let description = spec.description.unwrap_or_default();
        let mut instruments = self.instruments.lock();
        for existing in instruments.iter() {
            if existing.identity == identity {
                let d = existing.instrument.descriptor();
                if d.description != description {
                    tracing::warn!(
                        instrument = %spec.name,
                        "instrument registered again with another description; the first \
                         description is kept"
                    );
                }
                if existing.bounds != spec.bounds {
                    tracing::error!(
                        instrument = %spec.name,
                        scope = self.scope.name(),
                        first = ?existing.bounds.as_deref().unwrap_or_default(),
                        ignored = ?spec.bounds.as_deref().unwrap_or_default(),
                        "histogram registered again with other boundaries: the first \
                         registration's boundaries win and these are ignored. \
                         Register it with the same boundaries everywhere, or give the \
                         histogram with other boundaries another name"
                    );
                }
                if let Ok(same) = existing.instrument.clone().into_any().downcast::<I>() {
                    return Some(same);
                }
            } else if existing.identity.name == identity.name {
                tracing::warn!(
                    instrument = %spec.name,
                    existing_kind = ?existing.identity.kind,
                    existing_unit = %existing.identity.unit,
                    kind = ?identity.kind,
                    unit = %identity.unit,
                    "an instrument with this name but another kind, unit or number type \
                     exists; both are kept as separate instruments, which may collide in \
                     exporters: give one of them another name"
                );
            }
        }
        let spec_bounds = spec.bounds;
        let descriptor = Arc::new(Descriptor {
            id: Descriptor::next_id(),
            name: spec.name,
            description,
            unit: spec.unit.unwrap_or_default(),
            kind: spec.kind,
            number: T::KIND,
        });
        let instrument = make(descriptor);
        // Under the lock `deactivate` takes: no instrument created during a shutdown
        // escapes it. (An observable one created then misses the final push.)
        if self.shut_down.load(Ordering::SeqCst) {
            instrument.deactivate();
        }
        instruments.push(Registered {
            identity,
            bounds: spec_bounds,
            instrument: instrument.clone(),
        });
        Some(instrument)
    }

    /// Collects the instruments `keep` selects (by descriptor) for `reader`; `None` when
    /// there are none. Observable callbacks run only for those.
    pub(crate) fn collect_matching(
        &self,
        time: SystemTime,
        reader: Reader,
        keep: impl Fn(&Descriptor) -> bool,
    ) -> Option<ScopeSnapshot> {
        // Cloned out: observable callbacks run during collection and may create
        // instruments on this very meter.
        let instruments: Vec<Arc<dyn Collect>> = self
            .instruments
            .lock()
            .iter()
            .filter(|r| keep(r.instrument.descriptor()))
            .map(|r| r.instrument.clone())
            .collect();
        if instruments.is_empty() {
            return None;
        }
        let metrics: Vec<MetricSnapshot> = instruments
            .iter()
            .map(|i| i.collect(time, reader))
            .collect();
        Some(ScopeSnapshot {
            scope: self.scope.clone(),
            metrics,
        })
    }

    /// Stops the scope's synchronous (`observable == false`) or observable
    /// instruments from recording.
    pub(crate) fn deactivate(&self, observable: bool) {
        for r in self.instruments.lock().iter() {
            if r.identity.kind.is_observable() == observable {
                r.instrument.deactivate();
            }
        }
    }
}
