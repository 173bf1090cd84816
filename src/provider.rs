//! `MeterProvider`: the entry point. It owns the meters (one registry per
//! instrumentation scope), collects snapshots, runs the push pipeline when an endpoint
//! is configured, flushes and shuts down.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::metrics::Meter;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;
use parking_lot::Mutex;

use crate::aggregate::Limits;
use crate::instrument::registry::Registry;
use crate::meter::ScopeMeter;
use crate::pipeline::metrics::SelfMetrics;
use crate::pipeline::options::{push_option_methods, PushOptions};
use crate::pipeline::Pipeline;
use crate::transport::Secret;
use crate::{Error, Snapshot};

/// The default cardinality limit: points per instrument, the overflow point included.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// The default push interval (the OpenTelemetry default export interval).
pub const DEFAULT_PUSH_INTERVAL: Duration = Duration::from_secs(60);

/// Environment variable naming the remote-write endpoint when none is set in code.
pub const ENV_ENDPOINT: &str = "PROMPUSH_ENDPOINT";
/// Environment variable holding the bearer token for [`ENV_ENDPOINT`].
pub const ENV_BEARER_TOKEN: &str = "PROMPUSH_BEARER_TOKEN";
/// The standard OpenTelemetry variable for the push interval, in milliseconds.
pub const ENV_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";

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
    core: Arc<Core>,
    /// `None` without an endpoint: the provider then only aggregates.
    pipeline: Option<Pipeline>,
}

/// What collection needs; the push task holds it too.
struct Core {
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
        &self.shared.core.resource
    }

    /// Collects every instrument now: runs observable callbacks and reads the
    /// cumulative state of the synchronous instruments. Recording continues meanwhile;
    /// it never waits on a collection. Pushing does not depend on it: the pipeline
    /// collects for itself.
    pub fn collect(&self) -> Snapshot {
        self.shared.core.collect()
    }

    /// Whether this provider pushes (an endpoint was configured) or only aggregates.
    pub fn is_pushing(&self) -> bool {
        self.shared.pipeline.is_some()
    }

    /// Pushes the current state now and returns once the endpoint has answered that
    /// push (or it failed). Without an endpoint, there is nothing to push: `Ok(())`.
    ///
    /// Blocks the calling thread for at most a few push timeouts; call it from a
    /// blocking context (for example `tokio::task::spawn_blocking`) in async code.
    ///
    /// # Errors
    /// [`Error::Push`] when the endpoint refused the data or could not be reached,
    /// [`Error::Timeout`] when it did not answer in time, [`Error::PipelineStopped`]
    /// after shutdown.
    pub fn force_flush(&self) -> Result<(), Error> {
        match &self.shared.pipeline {
            Some(pipeline) => pipeline.flush(),
            None if self.is_shut_down() => Err(Error::AlreadyShutdown),
            None => Ok(()),
        }
    }

    /// Stops recording, makes a final push of everything recorded (when pushing), and
    /// stops the push task. Afterwards every instrument of this provider, existing or
    /// created later, records nothing. A second call returns
    /// [`Error::AlreadyShutdown`].
    ///
    /// # Errors
    /// Those of [`MeterProvider::force_flush`] for the final push; recording has
    /// stopped all the same.
    pub fn shutdown(&self) -> Result<(), Error> {
        let core = &self.shared.core;
        if core.shut_down.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyShutdown);
        }
        let registries: Vec<Arc<Registry>> = core.scopes.lock().ordered.clone();
        // Synchronous instruments stop first, so the final push holds everything they
        // recorded; observable callbacks run once more for it, then stop too.
        for registry in &registries {
            registry.deactivate(false);
        }
        let result = match &self.shared.pipeline {
            Some(pipeline) => pipeline.shutdown(),
            None => Ok(()),
        };
        for registry in &registries {
            registry.deactivate(true);
        }
        result
    }

    /// Whether [`MeterProvider::shutdown`] was called.
    pub fn is_shut_down(&self) -> bool {
        self.shared.core.shut_down.load(Ordering::SeqCst)
    }
}

impl Core {
    fn meter(&self, scope: InstrumentationScope) -> Meter {
        let mut scopes = self.scopes.lock();
        let registry = match scopes.by_scope.get(&scope) {
            Some(r) => r.clone(),
            None => {
                let r = Arc::new(Registry::new(
                    scope.clone(),
                    self.limits,
                    self.shut_down.clone(),
                ));
                scopes.by_scope.insert(scope, r.clone());
                scopes.ordered.push(r.clone());
                r
            }
        };
        Meter::new(Arc::new(ScopeMeter { registry }))
    }

    fn collect(&self) -> Snapshot {
        let time = SystemTime::now();
        let registries: Vec<Arc<Registry>> = self.scopes.lock().ordered.clone();
        Snapshot {
            resource: self.resource.clone(),
            time,
            scopes: registries.iter().filter_map(|r| r.collect(time)).collect(),
        }
    }
}

impl opentelemetry::metrics::MeterProvider for MeterProvider {
    fn meter_with_scope(&self, scope: InstrumentationScope) -> Meter {
        self.shared.core.meter(scope)
    }
}

impl fmt::Debug for MeterProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let core = &self.shared.core;
        f.debug_struct("MeterProvider")
            .field("resource", &core.resource)
            .field("cardinality_limit", &core.limits.cardinality)
            .field("meters", &core.scopes.lock().ordered.len())
            .field("pushing", &self.is_pushing())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

/// Configures a [`MeterProvider`]; see [`MeterProvider::builder`].
///
/// Secrets (the bearer token, extra header values) never appear in its `Debug` output.
///
/// ```no_run
/// use std::time::Duration;
/// use opentelemetry_sdk::Resource;
///
/// let provider = prompush::MeterProvider::builder()
///     .with_resource(Resource::builder().with_service_name("checkout").build())
///     .with_endpoint("https://metrics.example.com/api/v1/write")
///     .with_bearer_token("my-token")
///     .with_push_interval(Duration::from_secs(15))
///     .with_cardinality_limit(500)
///     .build()?;
/// # Ok::<(), prompush::Error>(())
/// ```
#[derive(Debug)]
pub struct MeterProviderBuilder {
    resource: Option<Resource>,
    cardinality_limit: usize,
    push: PushOptions,
    push_interval: Option<Duration>,
    self_metrics: bool,
}

impl Default for MeterProviderBuilder {
    fn default() -> Self {
        MeterProviderBuilder {
            resource: None,
            cardinality_limit: DEFAULT_CARDINALITY_LIMIT,
            push: PushOptions::default(),
            push_interval: None,
            self_metrics: true,
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

    push_option_methods!();

    /// How often to push. Default: `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds) when
    /// set, else [`DEFAULT_PUSH_INTERVAL`] (60 s).
    pub fn with_push_interval(mut self, interval: Duration) -> Self {
        self.push_interval = Some(interval);
        self
    }

    /// Whether to push prompush's own delivery metrics (`prompush_*`) with the
    /// application's (default on).
    pub fn with_self_metrics(mut self, enabled: bool) -> Self {
        self.self_metrics = enabled;
        self
    }

    /// Builds the provider and, when an endpoint is configured, starts pushing.
    ///
    /// The environment configures what the code left open: `PROMPUSH_ENDPOINT` (and
    /// with it `PROMPUSH_BEARER_TOKEN`) when no endpoint was set in code,
    /// `OTEL_METRIC_EXPORT_INTERVAL` when no push interval was.
    ///
    /// # Errors
    /// [`Error::Config`] when an option's value cannot work (an unparsable endpoint, a
    /// scheme other than http/https, a reserved or invalid header, a zero interval or
    /// timeout, a zero cardinality limit); [`Error::Runtime`] when the background
    /// thread cannot start.
    pub fn build(mut self) -> Result<MeterProvider, Error> {
        if self.cardinality_limit == 0 {
            return Err(Error::Config(
                "with_cardinality_limit(0): the limit counts the overflow series too, so it \
                 must be at least 1"
                    .into(),
            ));
        }
        let transport = &mut self.push.transport;
        if transport.endpoint.is_none() {
            if let Some(endpoint) = env_var(ENV_ENDPOINT) {
                transport.endpoint = Some(endpoint);
                if transport.bearer_token.is_none() {
                    transport.bearer_token = env_var(ENV_BEARER_TOKEN).map(Secret::new);
                }
            }
        }
        let interval = match self.push_interval {
            Some(interval) => interval,
            None => env_interval()?.unwrap_or(DEFAULT_PUSH_INTERVAL),
        };
        if interval.is_zero() {
            return Err(Error::Config(
                "with_push_interval(0): the push interval must be positive".into(),
            ));
        }
        // Validate before anything starts, so a bad option never leaves a task behind.
        let push = match self.push.transport.endpoint {
            Some(_) => Some(self.push.validate(interval)?),
            None => None,
        };
        let core = Arc::new(Core {
            resource: self.resource.unwrap_or_else(|| Resource::builder().build()),
            limits: Limits {
                cardinality: self.cardinality_limit,
            },
            shut_down: Arc::new(AtomicBool::new(false)),
            scopes: Mutex::new(Scopes::default()),
        });
        let pipeline = match push {
            Some((transport, delivery)) => {
                let meter = if self.self_metrics {
                    core.meter(
                        InstrumentationScope::builder("prompush")
                            .with_version(env!("CARGO_PKG_VERSION"))
                            .build(),
                    )
                } else {
                    opentelemetry::metrics::MeterProvider::meter(
                        &opentelemetry::metrics::NoopMeterProvider::new(),
                        "prompush",
                    )
                };
                let source = core.clone();
                Some(Pipeline::start(
                    transport,
                    delivery,
                    Some(Arc::new(move || source.collect())),
                    SelfMetrics::new(&meter),
                )?)
            }
            None => None,
        };
        Ok(MeterProvider {
            shared: Arc::new(Shared { core, pipeline }),
        })
    }
}

/// A set, non-empty environment variable.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_interval() -> Result<Option<Duration>, Error> {
    match env_var(ENV_EXPORT_INTERVAL) {
        None => Ok(None),
        Some(ms) => ms
            .trim()
            .parse::<u64>()
            .map(|ms| Some(Duration::from_millis(ms)))
            .map_err(|_| {
                Error::Config(format!(
                    "{ENV_EXPORT_INTERVAL}={ms:?} is not a whole number of milliseconds; \
                 set it to e.g. 60000 or unset it"
                ))
            }),
    }
}
