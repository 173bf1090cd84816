//! `MeterProvider`: the entry point. It owns the meters (one registry per
//! instrumentation scope), collects snapshots, runs one push pipeline per destination,
//! flushes and shuts down.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::metrics::Meter;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;
use parking_lot::Mutex;

use crate::aggregate::{in_callback, Limits};
use crate::custom::manage::CustomMetrics;
use crate::custom::CustomMetric;
use crate::instance_id;
use crate::instrument::registry::Registry;
use crate::meter::ScopeMeter;
use crate::pipeline::options::{push_option_methods, PushOptions};
use crate::pipeline::self_metrics::SelfMetrics;
use crate::pipeline::{Pending, Pipeline};
use crate::transport::{Auth, Protocol, Secret};
use crate::{Destination, Error, Snapshot};

/// The default cardinality limit: points per instrument, the overflow point included.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// The default push interval (the OpenTelemetry default export interval).
pub const DEFAULT_PUSH_INTERVAL: Duration = Duration::from_secs(60);

/// The name of the destination that [`MeterProviderBuilder::with_endpoint`] (or
/// [`ENV_ENDPOINT`]) configures.
pub const DEFAULT_DESTINATION: &str = "default";

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
    /// One per destination, in the order configured; none: the provider only
    /// aggregates.
    pipelines: Vec<(String, Pipeline)>,
    custom: CustomMetrics,
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

    /// Whether this provider pushes (a destination was configured) or only aggregates.
    pub fn is_pushing(&self) -> bool {
        !self.shared.pipelines.is_empty()
    }

    /// The names of its destinations, in the order configured.
    pub fn destinations(&self) -> impl Iterator<Item = &str> {
        self.shared.pipelines.iter().map(|(name, _)| name.as_str())
    }

    /// Pushes the current state to every destination now and returns once each has
    /// answered that push (or failed). Destinations are flushed at once, not one after
    /// another. Without a destination there is nothing to push: `Ok(())`.
    ///
    /// Blocks the calling thread for at most a few push timeouts; call it from a
    /// blocking context (for example `tokio::task::spawn_blocking`) in async code.
    ///
    /// # Errors
    /// [`Error::Push`] when the endpoint refused the data or could not be reached,
    /// [`Error::Timeout`] when it did not answer in time, [`Error::PipelineStopped`]
    /// after shutdown. With several destinations, the failures of those that failed
    /// come together in [`Error::Destinations`]. [`Error::CalledFromCallback`] at once,
    /// without pushing, when called from inside an observable instrument's callback
    /// (of any prompush provider).
    pub fn force_flush(&self) -> Result<(), Error> {
        if in_callback() {
            return Err(Error::CalledFromCallback);
        }
        if self.shared.pipelines.is_empty() && self.is_shut_down() {
            return Err(Error::AlreadyShutdown);
        }
        self.on_every_destination(Pipeline::begin_flush)
    }

    /// Sends a command to every push task at once (the destinations' and the custom
    /// metrics'), then collects the answers.
    fn on_every_destination(&self, begin: fn(&Pipeline) -> Pending) -> Result<(), Error> {
        let mut pending: Vec<(String, Pending)> = self
            .shared
            .pipelines
            .iter()
            .map(|(name, p)| (name.clone(), begin(p)))
            .collect();
        pending.extend(self.shared.custom.begin_all(begin));
        // One entry per failed destination (its first failure: its own queue's, or a
        // custom-metrics queue's).
        let mut failures: Vec<(String, Error)> = Vec::new();
        for (name, p) in pending {
            if let Err(e) = p.wait() {
                if !failures.iter().any(|(n, _)| *n == name) {
                    failures.push((name, e));
                }
            }
        }
        match failures.pop() {
            None => Ok(()),
            Some((_, error)) if self.shared.pipelines.len() == 1 => Err(error),
            Some(last) => {
                failures.push(last);
                Err(Error::Destinations(failures))
            }
        }
    }

    /// Creates a custom metric (see [`crate::custom`]): from the next push of its
    /// granularity on, its destinations receive it. It applies to the base instrument's
    /// existing series and to instruments created later.
    ///
    /// # Errors
    /// [`Error::CustomMetricExists`] when one of that name exists (skip it, or delete
    /// it first); [`Error::InvalidCustomMetric`] for an invalid definition or a
    /// destination this provider does not have; [`Error::AlreadyShutdown`] after
    /// shutdown. Nothing is created then.
    pub fn create_custom_metric(&self, definition: CustomMetric) -> Result<(), Error> {
        if self.is_shut_down() {
            return Err(Error::AlreadyShutdown);
        }
        self.shared.custom.create(definition)
    }

    /// Deletes a custom metric: its push tasks push at once, with stale markers that
    /// end its series (remote write; a JSON destination keeps their last values), then
    /// it is gone. A custom metric of the same name can be created again at once.
    ///
    /// # Errors
    /// [`Error::UnknownCustomMetric`] when none has that name.
    pub fn delete_custom_metric(&self, name: &str) -> Result<(), Error> {
        self.shared.custom.delete(name)
    }

    /// The custom metrics, in creation order.
    pub fn custom_metrics(&self) -> Vec<CustomMetric> {
        self.shared.custom.list()
    }

    /// Stops recording, makes a final push of everything recorded (when pushing), and
    /// stops the push task. Afterwards every instrument of this provider, existing or
    /// created later, records nothing. A second call returns
    /// [`Error::AlreadyShutdown`].
    ///
    /// # Errors
    /// Those of [`MeterProvider::force_flush`] for the final push; recording has
    /// stopped all the same. [`Error::CalledFromCallback`] when called from inside an
    /// observable instrument's callback: nothing is shut down then.
    pub fn shutdown(&self) -> Result<(), Error> {
        if in_callback() {
            return Err(Error::CalledFromCallback);
        }
        let core = &self.shared.core;
        if core.shut_down.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyShutdown);
        }
        self.shared.custom.close();
        let registries: Vec<Arc<Registry>> = core.scopes.lock().ordered.clone();
        // Synchronous instruments stop first, so the final push holds everything they
        // recorded; observable callbacks run once more for it, then stop too.
        for registry in &registries {
            registry.deactivate(false);
        }
        let result = self.on_every_destination(Pipeline::begin_shutdown);
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

impl MeterProvider {
    /// A provider that only aggregates, with an empty resource and nothing read from
    /// the environment: for prompush's own instruments where no provider is the entry
    /// point (the SDK exporter's self-metrics).
    pub(crate) fn aggregate_only() -> MeterProvider {
        let core = Arc::new(Core::new(
            Resource::builder_empty().build(),
            Limits {
                cardinality: DEFAULT_CARDINALITY_LIMIT,
            },
        ));
        let source = core.clone();
        MeterProvider {
            shared: Arc::new(Shared {
                core,
                pipelines: Vec::new(),
                custom: CustomMetrics::new(
                    Vec::new(),
                    Arc::new(move |keep| source.collect_where(keep)),
                    noop_meter(),
                ),
            }),
        }
    }
}

/// The scope of prompush's own delivery metrics (`prompush_*`).
pub(crate) fn self_metrics_scope() -> InstrumentationScope {
    InstrumentationScope::builder("prompush")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Where self-metrics go when they are off.
pub(crate) fn noop_meter() -> Meter {
    opentelemetry::metrics::MeterProvider::meter(
        &opentelemetry::metrics::NoopMeterProvider::new(),
        "prompush",
    )
}

impl Core {
    fn new(resource: Resource, limits: Limits) -> Self {
        Core {
            resource,
            limits,
            shut_down: Arc::new(AtomicBool::new(false)),
            scopes: Mutex::new(Scopes::default()),
        }
    }

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
        self.collect_where(&|_| true)
    }

    /// Collects the instruments `keep` selects.
    fn collect_where(&self, keep: &dyn Fn(&crate::snapshot::Descriptor) -> bool) -> Snapshot {
        let time = SystemTime::now();
        let registries: Vec<Arc<Registry>> = self.scopes.lock().ordered.clone();
        Snapshot {
            resource: self.resource.clone(),
            time,
            scopes: registries
                .iter()
                .filter_map(|r| r.collect_where(time, keep))
                .collect(),
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
    instance_id: Option<String>,
    cardinality_limit: usize,
    push: PushOptions,
    destinations: Vec<Destination>,
    push_interval: Option<Duration>,
    self_metrics: bool,
    custom_metrics: Vec<CustomMetric>,
    custom_metrics_files: Vec<PathBuf>,
}

impl Default for MeterProviderBuilder {
    fn default() -> Self {
        MeterProviderBuilder {
            resource: None,
            instance_id: None,
            cardinality_limit: DEFAULT_CARDINALITY_LIMIT,
            push: PushOptions::default(),
            destinations: Vec::new(),
            custom_metrics: Vec::new(),
            custom_metrics_files: Vec::new(),
            push_interval: None,
            self_metrics: true,
        }
    }
}

impl MeterProviderBuilder {
    /// Sets the resource. Without one, the standard detection applies:
    /// `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, else
    /// `service.name=unknown_service:<executable>`, plus the SDK's telemetry attributes.
    ///
    /// A resource without `service.instance.id` gets a random one at `build()`; see
    /// [`with_instance_id`](Self::with_instance_id).
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Sets `service.instance.id`, which becomes the `instance` label of every series,
    /// without building a resource. It replaces the resource's own id, if any.
    ///
    /// Without it, the resource's `service.instance.id` applies (set in code or through
    /// `OTEL_RESOURCE_ATTRIBUTES`), and when the resource has none, `build()` gives the
    /// provider a random UUID v4, as the OpenTelemetry semantic conventions recommend:
    /// replicas of one service then never write the same series, which would overwrite
    /// each other's values. The id is the same for every destination and for the
    /// provider's whole life; [`MeterProvider::resource`] shows it.
    ///
    /// The cost of the random id: every restart starts new series, so a receiver that
    /// keeps series forever (Unleash, say) grows by one set of series per process start.
    /// Where that matters, set a stable id per replica: a pod name, a host name and
    /// port, a slot number.
    ///
    /// ```
    /// use opentelemetry::{Key, Value};
    ///
    /// let provider = prompush::MeterProvider::builder()
    ///     .with_instance_id("checkout-0")
    ///     .build()?;
    /// let id = provider.resource().get(&Key::from_static_str("service.instance.id"));
    /// assert_eq!(id, Some(Value::from("checkout-0")));
    ///
    /// // Without one: a random UUID v4, fixed for the provider's life.
    /// let provider = prompush::MeterProvider::builder().build()?;
    /// let id = provider.resource().get(&Key::from_static_str("service.instance.id"));
    /// assert_eq!(id.map(|v| v.as_str().len()), Some(36));
    /// # Ok::<(), prompush::Error>(())
    /// ```
    pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
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

    /// Pushes to this Prometheus remote-write URL (for example
    /// `http://127.0.0.1:9090/api/v1/write`): the shorthand for one remote-write
    /// [`Destination`] named [`DEFAULT_DESTINATION`], which the other push options of
    /// this builder configure. Checked by `build()`: it must parse and use `http` or
    /// `https`.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.push.transport.endpoint = Some(endpoint.into());
        self
    }

    /// Adds a destination; call it once per destination. Names must be unique (the
    /// [`with_endpoint`](Self::with_endpoint) shorthand's is
    /// [`DEFAULT_DESTINATION`]).
    pub fn with_destination(mut self, destination: Destination) -> Self {
        self.destinations.push(destination);
        self
    }

    push_option_methods!();

    /// Creates this custom metric when the provider is built (see [`crate::custom`]).
    pub fn with_custom_metric(mut self, definition: CustomMetric) -> Self {
        self.custom_metrics.push(definition);
        self
    }

    /// Reads custom metric definitions from a JSON file when the provider is built: a
    /// list of definitions, or an object with a `custom_metrics` list. Errors name the
    /// file and the offending field (`[2].filters.field_op`).
    pub fn with_custom_metrics_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.custom_metrics_files.push(path.into());
        self
    }

    /// How often to push (every destination without its own interval). Default: `OTEL_METRIC_EXPORT_INTERVAL` (milliseconds) when
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

    /// Builds the provider and starts pushing to every destination configured.
    ///
    /// The environment configures what the code left open: `PROMPUSH_ENDPOINT` (and
    /// with it `PROMPUSH_BEARER_TOKEN`) when no endpoint or destination was set in code,
    /// `OTEL_METRIC_EXPORT_INTERVAL` when no push interval was.
    ///
    /// # Errors
    /// [`Error::Config`] when an option's value cannot work (an unparsable endpoint, a
    /// scheme other than http/https, a reserved or invalid header, a zero interval or
    /// timeout, a zero cardinality limit, two destinations of one name, an empty
    /// instance id); nothing is started then. [`Error::Runtime`] when the background
    /// thread cannot start.
    pub fn build(mut self) -> Result<MeterProvider, Error> {
        if self.cardinality_limit == 0 {
            return Err(Error::Config(
                "with_cardinality_limit(0): the limit counts the overflow series too, so it \
                 must be at least 1"
                    .into(),
            ));
        }
        if self.instance_id.as_deref().is_some_and(str::is_empty) {
            return Err(Error::Config(
                "with_instance_id(\"\"): an empty id gives no instance label; pass a \
                 non-empty id, or leave it out for a random one"
                    .into(),
            ));
        }
        let transport = &mut self.push.transport;
        if transport.endpoint.is_none() && self.destinations.is_empty() {
            if let Some(endpoint) = env_var(ENV_ENDPOINT) {
                transport.endpoint = Some(endpoint);
                if transport.auth.is_none() {
                    transport.auth =
                        env_var(ENV_BEARER_TOKEN).map(|t| Auth::Bearer(Secret::new(t)));
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
        if self.push.touched
            && self.push.transport.endpoint.is_none()
            && !self.destinations.is_empty()
        {
            return Err(Error::Config(
                "push options (auth, headers, external labels, timeouts, …) were set on the \
                 provider builder, where they configure the with_endpoint destination, but \
                 there is none: set them on each Destination instead, or add with_endpoint"
                    .into(),
            ));
        }
        let shorthand = self.push.transport.endpoint.is_some();
        let scope_labels = self.push.scope_labels;
        let mut destinations = Vec::with_capacity(self.destinations.len() + 1);
        if shorthand {
            destinations.push(Destination::from_options(
                DEFAULT_DESTINATION,
                Protocol::RemoteWrite,
                self.push,
            ));
        }
        destinations.extend(
            self.destinations
                .into_iter()
                .map(|d| d.with_default_scope_labels(scope_labels)),
        );
        // Validate everything before anything starts, so a bad option never leaves a
        // task behind.
        let mut validated = Vec::with_capacity(destinations.len());
        for (i, destination) in destinations.into_iter().enumerate() {
            let (transport, delivery) = destination.validate(interval)?;
            if validated
                .iter()
                .any(|(_, d): &(_, crate::pipeline::Delivery)| d.name == delivery.name)
            {
                return Err(Error::Config(format!(
                    "two destinations are named {:?}{}; give each a name of its own",
                    delivery.name,
                    if shorthand && i > 0 && delivery.name == DEFAULT_DESTINATION {
                        " (with_endpoint configures the one named \"default\")"
                    } else {
                        ""
                    }
                )));
            }
            validated.push((transport, delivery));
        }
        // Each with where it came from, for errors: a file and the index in it.
        let mut custom_metrics: Vec<(CustomMetric, Option<(&PathBuf, usize)>)> =
            self.custom_metrics.into_iter().map(|d| (d, None)).collect();
        for path in &self.custom_metrics_files {
            let read = read_custom_metrics(path)?;
            custom_metrics.extend(
                read.into_iter()
                    .enumerate()
                    .map(|(i, d)| (d, Some((path, i)))),
            );
        }
        let resource = self.resource.unwrap_or_else(|| Resource::builder().build());
        let resource = match self.instance_id {
            Some(id) => instance_id::with_instance_id(&resource, id),
            None => instance_id::or_instance_id(resource, instance_id::random),
        };
        let core = Arc::new(Core::new(
            resource,
            Limits {
                cardinality: self.cardinality_limit,
            },
        ));
        let meter = if self.self_metrics && !validated.is_empty() {
            core.meter(self_metrics_scope())
        } else {
            noop_meter()
        };
        let source = core.clone();
        let custom = CustomMetrics::new(
            validated.clone(),
            Arc::new(move |keep| source.collect_where(keep)),
            meter.clone(),
        );
        // Checked before any task starts, against each other too; created once they run.
        for (i, (definition, source)) in custom_metrics.iter().enumerate() {
            let earlier: Vec<CustomMetric> =
                custom_metrics[..i].iter().map(|(d, _)| d.clone()).collect();
            custom
                .check(definition, &earlier)
                .map_err(|e| in_file(e, *source))?;
        }
        let mut pipelines = Vec::with_capacity(validated.len());
        for (transport, delivery) in validated {
            let source = core.clone();
            let name = delivery.name.clone();
            let metrics = SelfMetrics::new(&meter, &name, None);
            // A pipeline that fails to start drops those started before it: they make
            // their final (empty) push and end.
            let pipeline = Pipeline::start(
                transport,
                delivery,
                Some(Arc::new(move || source.collect().into())),
                metrics,
            )?;
            pipelines.push((name, pipeline));
        }
        for (definition, source) in custom_metrics {
            custom.create(definition).map_err(|e| in_file(e, source))?;
        }
        Ok(MeterProvider {
            shared: Arc::new(Shared {
                core,
                pipelines,
                custom,
            }),
        })
    }
}

/// Adds where a definition came from (a file, its index there) to its error.
fn in_file(error: Error, source: Option<(&PathBuf, usize)>) -> Error {
    let Some((path, index)) = source else {
        return error;
    };
    let at = |field: &str| {
        if field.is_empty() {
            format!("[{index}]")
        } else {
            format!("[{index}].{field}")
        }
    };
    match error {
        Error::InvalidCustomMetric { field, message } => Error::InvalidCustomMetric {
            field: at(&field),
            message: format!("{message} (in {})", path.display()),
        },
        Error::CustomMetricExists(name) => Error::InvalidCustomMetric {
            field: at("name"),
            message: format!("{name:?} is defined twice (in {})", path.display()),
        },
        other => other,
    }
}

/// The definitions in a custom metrics file.
fn read_custom_metrics(path: &std::path::Path) -> Result<Vec<CustomMetric>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Config(format!(
            "cannot read the custom metrics file {}: {e}",
            path.display()
        ))
    })?;
    CustomMetric::list_from_json(&text).map_err(|e| match e {
        Error::InvalidCustomMetric { field, message } => Error::InvalidCustomMetric {
            field,
            message: format!("{message} (in {})", path.display()),
        },
        other => other,
    })
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
