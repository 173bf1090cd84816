//! The instruments of one meter (instrumentation scope): creation, validation,
//! duplicate registration, and the streams the views make of each (see
//! [`crate::view::resolve`]; `streams` builds their aggregators).
//!
//! Registering the same name (case-insensitively), kind, unit and number type again
//! returns an instrument over the same data. The same name with another kind, unit or
//! number type is a conflict: it is warned about and becomes a separate instrument, so
//! both stay distinguishable in the snapshot.
//!
//! A histogram registered again with other boundaries is the same instrument too: the
//! first registration's boundaries stay (its series cannot change buckets midway), and
//! each such registration logs an error.

use std::any::Any;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::metrics::{Callback, SyncInstrument};
use opentelemetry::InstrumentationScope;

use super::fan_out::FanOut;
use super::streams::{self, StreamDefaults};
use super::{validate_name, Collect, Disabled};
use crate::aggregate::histogram::DEFAULT_BOUNDS;
#[cfg(feature = "metrics")]
use crate::aggregate::histogram::SECONDS_BOUNDS;
use crate::aggregate::idle::Reader;
use crate::aggregate::{number::Num, Limits, ObservableAggregator};
use crate::snapshot::{Descriptor, InstrumentKind, MetricSnapshot, ScopeSnapshot};
use crate::sync::Mutex;
use crate::view::resolve::{self, HistogramDefault, Resolved};
use crate::view::Instrument;

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
    /// The streams the views made of it (none when they all drop it).
    streams: Vec<Arc<dyn Collect>>,
    /// Each stream's aggregator (`Arc<Aggregator<_>>`, `Arc<ObservableAggregator<_>>`).
    aggregators: Vec<Arc<dyn Any + Send + Sync>>,
    /// A synchronous instrument's handle: an `Arc<dyn SyncInstrument<T> + Send + Sync>`.
    handle: Option<Arc<dyn Any + Send + Sync>>,
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

/// Where an instrument comes from: what its default histogram is, and whether it may
/// keep exemplars.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Origin {
    /// The `opentelemetry` API: OpenTelemetry's default buckets, the provider's
    /// exemplar filter.
    OpenTelemetry,
    /// The `metrics` facade: buckets for seconds, no exemplars.
    #[cfg(feature = "metrics")]
    MetricsFacade,
}

/// The instruments of one scope.
pub(crate) struct Registry {
    scope: InstrumentationScope,
    limits: Limits,
    defaults: StreamDefaults,
    /// The provider's shutdown flag, read under `instruments`' lock.
    shut_down: Arc<AtomicBool>,
    instruments: Mutex<Vec<Registered>>,
}

impl Registry {
    pub(crate) fn new(
        scope: InstrumentationScope,
        limits: Limits,
        defaults: StreamDefaults,
        shut_down: Arc<AtomicBool>,
    ) -> Self {
        Registry {
            scope,
            limits,
            defaults,
            shut_down,
            instruments: Mutex::new(Vec::new()),
        }
    }

    /// A synchronous instrument over the streams the views make of it: the one
    /// stream's aggregator itself, several streams behind a fan-out, or a disabled
    /// instrument when the name is invalid or every view drops it.
    pub(crate) fn sync<T: Num>(
        &self,
        spec: Spec,
        origin: Origin,
    ) -> Arc<dyn SyncInstrument<T> + Send + Sync> {
        self.sync_streams::<T>(spec, origin)
            .map_or_else(|| Arc::new(Disabled) as _, |(handle, _)| handle)
    }

    /// [`sync`](Self::sync)'s handle and each stream's aggregator (`None` when the name
    /// is invalid), for entry points that drive the cells directly (the `metrics`
    /// facade), which downcast the aggregators to the types they know.
    pub(crate) fn sync_streams<T: Num>(
        &self,
        spec: Spec,
        origin: Origin,
    ) -> Option<SyncStreams<T>> {
        let exemplars = match origin {
            Origin::OpenTelemetry => self.defaults.exemplar_filter,
            #[cfg(feature = "metrics")]
            Origin::MetricsFacade => crate::aggregate::exemplar_sampling::ExemplarFilter::AlwaysOff,
        };
        let registered = self.register::<T>(spec, origin, |descriptor, stream, limits| {
            let built = streams::sync_stream::<T>(descriptor, stream, limits, exemplars);
            Some((built.collect, built.aggregator, Some(built.handle)))
        })?;
        let handle = registered
            .0
            .and_then(|h| {
                h.downcast::<Arc<dyn SyncInstrument<T> + Send + Sync>>()
                    .ok()
            })
            .map_or_else(|| Arc::new(Disabled) as _, |h| (*h).clone());
        Some((handle, registered.1))
    }

    /// An observable instrument; its callbacks run for each of its streams, and are
    /// dropped when the name is invalid or every view drops it.
    pub(crate) fn observable<T: Num>(&self, spec: Spec, callbacks: Vec<Callback<T>>) {
        let registered = self.register::<T>(spec, Origin::OpenTelemetry, |d, stream, limits| {
            let aggregator = streams::observable_stream::<T>(d, stream, limits)?;
            Some((aggregator.clone() as _, aggregator as _, None))
        });
        let Some((_, aggregators)) = registered else {
            return;
        };
        let callbacks: Vec<Arc<Callback<T>>> = callbacks.into_iter().map(Arc::from).collect();
        for aggregator in aggregators {
            if let Ok(aggregator) = aggregator.downcast::<ObservableAggregator<T>>() {
                aggregator.add_callbacks(&callbacks);
            }
        }
    }

    /// Registers an instrument, or finds it registered: its handle (synchronous ones)
    /// and its streams' aggregators. `make` builds one stream.
    fn register<T: Num>(
        &self,
        spec: Spec,
        origin: Origin,
        make: impl Fn(Arc<Descriptor>, &Resolved, Limits) -> Option<Built<T>>,
    ) -> Option<Registration> {
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
        if let Some(existing) = instruments.iter().find(|r| r.identity == identity) {
            if existing
                .streams
                .first()
                .is_some_and(|s| s.descriptor().description != description)
            {
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
            return Some((existing.handle.clone(), existing.aggregators.clone()));
        }
        let instrument = Instrument {
            name: spec.name,
            description,
            kind: spec.kind,
            unit: spec.unit.unwrap_or_default(),
            scope: self.scope.clone(),
        };
        let histogram = HistogramDefault {
            advised: spec.bounds.clone(),
            exponential: self.defaults.exponential,
            bounds: match origin {
                Origin::OpenTelemetry => DEFAULT_BOUNDS.into(),
                #[cfg(feature = "metrics")]
                Origin::MetricsFacade => SECONDS_BOUNDS.into(),
            },
        };
        let mut streams = Vec::new();
        let mut aggregators = Vec::new();
        let mut handles = Vec::new();
        for stream in resolve::streams(&self.defaults.views, &instrument, &histogram) {
            let descriptor = Arc::new(Descriptor {
                id: Descriptor::next_id(),
                name: stream.name.clone(),
                description: stream.description.clone(),
                unit: stream.unit.clone(),
                kind: instrument.kind,
                number: T::KIND,
            });
            warn_if_taken(&instruments, &instrument, &descriptor);
            let limits = Limits {
                cardinality: stream.cardinality_limit.unwrap_or(self.limits.cardinality),
                ..self.limits.clone()
            };
            let Some((collect, aggregator, handle)) = make(descriptor, &stream, limits) else {
                continue;
            };
            // Under the lock `deactivate` takes: no instrument created during a shutdown
            // escapes it. (An observable one created then misses the final push.)
            if self.shut_down.load(Ordering::SeqCst) {
                collect.deactivate();
            }
            streams.push(collect);
            aggregators.push(aggregator);
            handles.extend(handle);
        }
        let handle = combine::<T>(handles);
        instruments.push(Registered {
            identity,
            bounds: spec.bounds,
            streams,
            aggregators: aggregators.clone(),
            handle: handle.clone(),
        });
        Some((handle, aggregators))
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
            .flat_map(|r| &r.streams)
            .filter(|s| keep(s.descriptor()))
            .cloned()
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
                r.streams.iter().for_each(|s| s.deactivate());
            }
        }
    }
}

/// A synchronous instrument's handle and its streams' aggregators.
pub(crate) type SyncStreams<T> = (
    Arc<dyn SyncInstrument<T> + Send + Sync>,
    Vec<Arc<dyn Any + Send + Sync>>,
);

/// What registering returns: a synchronous instrument's handle (an
/// `Arc<dyn SyncInstrument<T> + Send + Sync>`), and each stream's aggregator.
type Registration = (
    Option<Arc<dyn Any + Send + Sync>>,
    Vec<Arc<dyn Any + Send + Sync>>,
);

/// What `make` returns for one stream: what collection reads, the aggregator, and a
/// synchronous stream's handle (an `Arc<dyn SyncInstrument<T> + Send + Sync>`).
type Built<T> = (
    Arc<dyn Collect>,
    Arc<dyn Any + Send + Sync>,
    Option<Arc<dyn SyncInstrument<T> + Send + Sync>>,
);

/// One handle over a synchronous instrument's streams: the stream's own for one, a
/// fan-out for several; `None` for none (every view dropped it, or it is observable).
fn combine<T: Num>(
    mut handles: Vec<Arc<dyn SyncInstrument<T> + Send + Sync>>,
) -> Option<Arc<dyn Any + Send + Sync>> {
    let handle: Arc<dyn SyncInstrument<T> + Send + Sync> = match handles.len() {
        0 => return None,
        1 => handles.pop()?,
        _ => Arc::new(FanOut {
            streams: handles.into(),
        }),
    };
    Some(Arc::new(handle))
}

/// Warns when a new stream takes a name (case-insensitively) that a stream of another
/// instrument of this scope has: of another kind, unit or number type, the two stay
/// apart and may collide in exporters; of the same, they have one identity (the
/// specification's conflict: both are kept and warned about, and the Prometheus
/// translation merges or refuses them by its rules).
fn warn_if_taken(registered: &[Registered], instrument: &Instrument, new: &Descriptor) {
    for (existing, d) in registered
        .iter()
        .flat_map(|r| r.streams.iter().map(move |s| (r, s.descriptor())))
    {
        if !d.name.eq_ignore_ascii_case(&new.name) {
            continue;
        }
        if (d.kind, &d.unit, d.number) != (new.kind, &new.unit, new.number) {
            tracing::warn!(
                instrument = %instrument.name,
                stream = %new.name,
                existing_kind = ?existing.identity.kind,
                existing_unit = %existing.identity.unit,
                kind = ?new.kind,
                unit = %new.unit,
                "an instrument with this name but another kind, unit or number type \
                 exists; both are kept as separate instruments, which may collide in \
                 exporters: give one of them another name (or rename it with a view)"
            );
        } else {
            tracing::warn!(
                instrument = %instrument.name,
                stream = %new.name,
                existing = %existing.identity.name,
                "two streams of one name and kind: a view gave this instrument's stream \
                 the name of another one's; both are kept and their series may merge \
                 when sent: give the view's stream a name of its own"
            );
        }
    }
}
