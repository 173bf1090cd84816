//! `MeterProvider`: the entry point. It owns the meters (one registry per
//! instrumentation scope), collects snapshots and shuts down.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::metrics::Meter;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;
use parking_lot::Mutex;

use crate::aggregate::Limits;
use crate::instrument::registry::Registry;
use crate::meter::ScopeMeter;
use crate::{Error, Snapshot};

/// The default cardinality limit: points per instrument, the overflow point included.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// The OpenTelemetry metrics SDK of prompush.
///
/// Cheap to clone (a reference-counted handle) and shareable between threads. It
/// implements [`opentelemetry::metrics::MeterProvider`], so it can be installed as the
/// global provider and every crate instrumented with `opentelemetry` records into it.
///
/// ```
/// use opentelemetry::KeyValue;
///
/// let provider = prompush::MeterProvider::builder().build()?;
/// opentelemetry::global::set_meter_provider(provider.clone());
///
/// let meter = opentelemetry::global::meter("my-app");
/// let requests = meter.u64_counter("requests").build();
/// requests.add(1, &[KeyValue::new("route", "/")]);
///
/// let snapshot = provider.collect();
/// let points = snapshot.metric("requests").unwrap().data.number_points();
/// assert_eq!(points[0].value, prompush::snapshot::Number::U64(1));
/// provider.shutdown()?;
/// # Ok::<(), prompush::Error>(())
/// ```
#[derive(Clone)]
pub struct MeterProvider {
    shared: Arc<Shared>,
}

struct Shared {
    resource: Resource,
    limits: Limits,
    shut_down: Arc<AtomicBool>,
    scopes: Mutex<Scopes>,
}

#[derive(Default)]
struct Scopes {
    by_scope: HashMap<InstrumentationScope, Arc<Registry>>,
    /// Creation order, for a stable snapshot order.
    ordered: Vec<Arc<Registry>>,
}

impl MeterProvider {
    /// Starts configuring a provider.
    pub fn builder() -> MeterProviderBuilder {
        MeterProviderBuilder::default()
    }

    /// A meter for the named instrumentation scope: the same as
    /// [`opentelemetry::metrics::MeterProvider::meter`], without importing the trait.
    pub fn meter(&self, name: &'static str) -> Meter {
        opentelemetry::metrics::MeterProvider::meter(self, name)
    }

    /// The resource every snapshot carries.
    pub fn resource(&self) -> &Resource {
        &self.shared.resource
    }

    /// Collects every instrument now: runs observable callbacks and reads the
    /// cumulative state of the synchronous instruments. Recording continues meanwhile;
    /// it never waits on a collection.
    pub fn collect(&self) -> Snapshot {
        let time = SystemTime::now();
        let registries: Vec<Arc<Registry>> = self.shared.scopes.lock().ordered.clone();
        Snapshot {
            resource: self.shared.resource.clone(),
            time,
            scopes: registries.iter().filter_map(|r| r.collect(time)).collect(),
        }
    }

    /// Stops recording: afterwards every instrument of this provider, existing or
    /// created later, records nothing. A second call returns
    /// [`Error::AlreadyShutdown`].
    pub fn shutdown(&self) -> Result<(), Error> {
        if self.shared.shut_down.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyShutdown);
        }
        let registries: Vec<Arc<Registry>> = self.shared.scopes.lock().ordered.clone();
        for registry in registries {
            registry.deactivate();
        }
        Ok(())
    }

    /// Whether [`MeterProvider::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.shared.shut_down.load(Ordering::SeqCst)
    }
}

impl opentelemetry::metrics::MeterProvider for MeterProvider {
    fn meter_with_scope(&self, scope: InstrumentationScope) -> Meter {
        let mut scopes = self.shared.scopes.lock();
        let registry = match scopes.by_scope.get(&scope) {
            Some(r) => r.clone(),
            None => {
                let r = Arc::new(Registry::new(
                    scope.clone(),
                    self.shared.limits,
                    self.shared.shut_down.clone(),
                ));
                scopes.by_scope.insert(scope, r.clone());
                scopes.ordered.push(r.clone());
                r
            }
        };
        Meter::new(Arc::new(ScopeMeter { registry }))
    }
}

impl fmt::Debug for MeterProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeterProvider")
            .field("resource", &self.shared.resource)
            .field("cardinality_limit", &self.shared.limits.cardinality)
            .field("meters", &self.shared.scopes.lock().ordered.len())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

/// Configures a [`MeterProvider`]; see [`MeterProvider::builder`].
///
/// ```
/// use opentelemetry_sdk::Resource;
///
/// let provider = prompush::MeterProvider::builder()
///     .with_resource(Resource::builder().with_service_name("checkout").build())
///     .with_cardinality_limit(500)
///     .build()?;
/// # Ok::<(), prompush::Error>(())
/// ```
#[derive(Debug)]
pub struct MeterProviderBuilder {
    resource: Option<Resource>,
    cardinality_limit: usize,
}

impl Default for MeterProviderBuilder {
    fn default() -> Self {
        MeterProviderBuilder {
            resource: None,
            cardinality_limit: DEFAULT_CARDINALITY_LIMIT,
        }
    }
}

impl MeterProviderBuilder {
    /// Sets the resource. Without one, the standard detection applies:
    /// `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, else
    /// `service.name=unknown_service:<executable>`, plus the SDK's telemetry attributes.
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Sets how many points one instrument may export, the overflow point included
    /// (default [`DEFAULT_CARDINALITY_LIMIT`]). Once an instrument has `limit - 1`
    /// attribute sets, measurements with a new set go to one series carrying
    /// `otel.metric.overflow=true` (totals stay right; the new sets' own series are
    /// not created). Must be at least 1.
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = limit;
        self
    }

    /// Builds the provider.
    ///
    /// # Errors
    /// [`Error::Config`] when an option's value cannot work.
    pub fn build(self) -> Result<MeterProvider, Error> {
        if self.cardinality_limit == 0 {
            return Err(Error::Config(
                "with_cardinality_limit(0): the limit counts the overflow series too, so it \
                 must be at least 1"
                    .into(),
            ));
        }
        let resource = self.resource.unwrap_or_else(|| Resource::builder().build());
        Ok(MeterProvider {
            shared: Arc::new(Shared {
                resource,
                limits: Limits {
                    cardinality: self.cardinality_limit,
                },
                shut_down: Arc::new(AtomicBool::new(false)),
                scopes: Mutex::new(Scopes::default()),
            }),
        })
    }
}
