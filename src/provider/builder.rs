//! [`MeterProviderBuilder`]: the provider's options, and `build()`, which turns them
//! into a running provider in a few steps. The push options (`with_endpoint`,
//! `with_bearer_token`, …) are shorthands for one [`Destination`], the default one,
//! which holds them, their defaults and their checks. The steps: check the values, resolve what the
//! environment configures, validate the destinations, load the custom-metric
//! definitions, build the core and the self-metrics meter, check the definitions, start
//! the pipelines, create the custom metrics. Everything that can fail on the options
//! is checked before anything starts, so a bad option never leaves a task behind.

#[cfg(feature = "custom-metrics")]
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::Meter;
use opentelemetry_sdk::Resource;

use super::collect::Core;
use super::{MeterProvider, Shared};
use crate::aggregate::exemplar_sampling::ExemplarFilter;
use crate::aggregate::exponential::{ExponentialConfig, MAX_SCALE, MIN_SCALE};
use crate::aggregate::idle::{IdleClock, IdleSeries};
use crate::aggregate::Limits;
#[cfg(feature = "custom-metrics")]
use crate::custom::{file::Configured, manage::CustomMetrics, CustomMetric};
use crate::instance_id;
use crate::instrument::streams::StreamDefaults;
use crate::pipeline::self_metrics::SelfMetrics;
use crate::pipeline::{Delivery, Pipeline};
use crate::scrape::Scrapes;
use crate::transport::ValidatedTransport;
use crate::view::resolve::Views;
use crate::view::{Instrument, Stream};
use crate::{env, Destination, Error};

/// Configures a [`MeterProvider`]; see [`MeterProvider::builder`].
///
/// The push options here (`with_endpoint`, `with_bearer_token`, `with_timeout`, …)
/// configure the provider's default destination, a remote-write [`Destination`] named
/// [`Destination::DEFAULT_NAME`]; each says which `Destination` method it stands for.
/// Options without a shorthand here (TLS, proxies) are set on a `Destination`, passed
/// whole with [`with_default_destination`](Self::with_default_destination) or
/// [`with_destination`](Self::with_destination).
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
#[must_use = "a builder does nothing until `build()` is called"]
#[derive(Debug)]
pub struct MeterProviderBuilder {
    resource: Option<Resource>,
    instance_id: Option<String>,
    cardinality_limit: usize,
    /// Set: histograms created without boundaries are exponential.
    exponential: Option<ExponentialConfig>,
    /// `None`: the environment's, else trace-based.
    exemplar_filter: Option<ExemplarFilter>,
    /// Every instrument's streams, in the order added.
    views: Views,
    /// The destination the push options configure; `None` until one of them is called.
    default_destination: Option<Destination>,
    destinations: Vec<Destination>,
    push_interval: Option<Duration>,
    /// `None`: on, unless a destination sets its own.
    scope_labels: Option<bool>,
    self_metrics: bool,
    /// Created at `build()`.
    #[cfg(feature = "custom-metrics")]
    pub(super) custom_metrics: Vec<CustomMetric>,
    /// Read at `build()`.
    #[cfg(feature = "custom-metrics")]
    pub(super) custom_metrics_files: Vec<PathBuf>,
    /// Where the built-in scrape endpoint listens, if anywhere.
    scrape_endpoint: Option<String>,
    /// How scrapes (the endpoint and `render_metrics`) translate names.
    scrape_name_translation: crate::NameTranslation,
    /// `None`: [`env::LOG_FALLBACK`], else on.
    stderr_fallback: Option<bool>,
    /// Set: synchronous series idle this long are removed.
    idle_series_timeout: Option<Duration>,
    /// `None`: the monotonic clock.
    idle_series_clock: Option<IdleClock>,
}

// The entry point to building sits with the builder, so that the provider's file does
// not import its builder's while the builder imports the provider (no file cycle).
impl MeterProvider {
    /// Starts configuring a provider.
    #[must_use = "a builder does nothing until `build()` is called"]
    pub fn builder() -> MeterProviderBuilder {
        MeterProviderBuilder::default()
    }
}

impl Default for MeterProviderBuilder {
    fn default() -> Self {
        MeterProviderBuilder {
            resource: None,
            instance_id: None,
            cardinality_limit: Self::DEFAULT_CARDINALITY_LIMIT,
            exponential: None,
            exemplar_filter: None,
            views: Views::default(),
            default_destination: None,
            destinations: Vec::new(),
            scope_labels: None,
            #[cfg(feature = "custom-metrics")]
            custom_metrics: Vec::new(),
            #[cfg(feature = "custom-metrics")]
            custom_metrics_files: Vec::new(),
            push_interval: None,
            self_metrics: true,
            scrape_endpoint: None,
            scrape_name_translation: crate::NameTranslation::default(),
            stderr_fallback: None,
            idle_series_timeout: None,
            idle_series_clock: None,
        }
    }
}

impl MeterProviderBuilder {
    /// The default cardinality limit: distinct attribute sets per instrument before new
    /// ones go to the overflow series.
    pub const DEFAULT_CARDINALITY_LIMIT: usize = crate::aggregate::DEFAULT_CARDINALITY_LIMIT;
    /// The default push interval (the OpenTelemetry default export interval).
    pub const DEFAULT_PUSH_INTERVAL: Duration = Duration::from_secs(60);

    /// Sets the resource. Without one, the standard detection applies:
    /// `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, else
    /// `service.name=unknown_service:<executable>`, plus the SDK's telemetry attributes.
    ///
    /// A resource without `service.instance.id` gets a random one at `build()`; see
    /// [`with_instance_id`](Self::with_instance_id).
    ///
    /// ```
    /// use opentelemetry_sdk::Resource;
    ///
    /// let provider = prompush::MeterProvider::builder()
    ///     .with_resource(Resource::builder().with_service_name("checkout").build())
    ///     .build()?;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
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
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// Sets how many distinct attribute sets one instrument keeps a series for (default
    /// [`DEFAULT_CARDINALITY_LIMIT`](Self::DEFAULT_CARDINALITY_LIMIT)), as the
    /// OpenTelemetry specification defines the cardinality limit: no overflow while an
    /// instrument has at most `limit` sets. Once it has `limit`, measurements with a new
    /// set go to one series carrying `otel.metric.overflow=true` (totals stay right; the
    /// new sets' own series are not created), so an instrument exports at most
    /// `limit + 1` points. Must be at least 1. With
    /// [`with_idle_series_timeout`](Self::with_idle_series_timeout), a series removed for
    /// idleness frees its place for a new set.
    ///
    /// Zero is an error at `build()`.
    ///
    /// ```
    /// let provider =
    /// prompush::MeterProvider::builder().with_cardinality_limit(500).build()?;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = limit;
        self
    }

    /// Removes a synchronous series (one attribute set of a counter, up-down counter,
    /// gauge or histogram) that had no measurement for at least `timeout`; off by
    /// default, when series live as long as their instrument. Turn it on when attribute
    /// values come and go over the life of the process (tenants, pods, versions, peers):
    /// without it each instrument keeps every set it ever saw, and once it has
    /// [`with_cardinality_limit`](Self::with_cardinality_limit) of them every new set
    /// merges into the overflow series for good.
    ///
    /// A removed series is removed at a collection (a push or a scrape) once every push
    /// destination has collected its last value: its stale marker goes out on each push
    /// destination's next push, scrapes stop showing it, its memory is freed, and its
    /// place under the cardinality limit is free for a new set. A later measurement
    /// starts it again from zero, which Prometheus' `rate()` and `increase()` read as a
    /// counter reset (no increment is lost). Scrapes do not hold a removal back. A bound
    /// handle (`Counter::bind`, the `metrics` facade's handles) keeps its series until
    /// it is dropped. Idleness is checked at collections, so choose a timeout of
    /// several push (or scrape) intervals. The observable instruments report what their
    /// callbacks see, and are not affected. See the guide's
    /// [series lifecycle](crate::guide::semantics#series-lifecycle).
    ///
    /// A zero timeout is an error at `build()`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let provider = prompush::MeterProvider::builder()
    ///     .with_idle_series_timeout(Duration::from_secs(15 * 60))
    ///     .build()?;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_idle_series_timeout(mut self, timeout: Duration) -> Self {
        self.idle_series_timeout = Some(timeout);
        self
    }

    /// Sets the clock [`with_idle_series_timeout`](Self::with_idle_series_timeout)
    /// measures idleness on: the time elapsed since any fixed origin, never decreasing
    /// (default: the monotonic clock). For tests that drive time themselves; the clock
    /// is read once per collection of each instrument, never when recording.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let seconds = Arc::new(AtomicU64::new(0));
    /// let clock = seconds.clone();
    /// let provider = prompush::MeterProvider::builder()
    ///     .with_idle_series_timeout(Duration::from_secs(60))
    ///     .with_idle_series_clock(move || Duration::from_secs(clock.load(Ordering::Relaxed)))
    ///     .build()?;
    /// let requests = provider.meter("app").u64_counter("requests").build();
    /// requests.add(1, &[opentelemetry::KeyValue::new("tenant", "a")]);
    /// let _ = provider.collect();
    /// seconds.store(120, Ordering::Relaxed);
    /// // The series has been idle for two minutes: the next collections remove it.
    /// let gone = (0..10).any(|_| provider.collect().metric("requests").unwrap().data().is_empty());
    /// assert!(gone);
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_idle_series_clock(
        mut self,
        clock: impl Fn() -> Duration + Send + Sync + 'static,
    ) -> Self {
        self.idle_series_clock = Some(IdleClock(Arc::new(clock)));
        self
    }

    /// Makes every histogram created without explicit boundaries an exponential
    /// (base-2) one, as the OpenTelemetry spec defines it: each series starts at scale
    /// `max_scale` (at most 20; the base is `2^(2^-scale)`) and lowers it, merging
    /// neighbouring buckets, whenever its positive or its negative values would need
    /// more than `max_size` buckets (at least 2). OpenTelemetry's defaults are 160 and
    /// 20. A histogram created with boundaries keeps them; without this option, every
    /// histogram has explicit buckets (the default boundaries when none are given).
    ///
    /// Destinations that turn on [`Destination::with_native_histograms`] send them as
    /// Prometheus native histograms; the others as classic `_bucket` series whose `le`
    /// are the exponential buckets' upper bounds.
    ///
    /// ```
    /// let provider = prompush::MeterProvider::builder()
    ///     .with_exponential_histograms(160, 20)
    ///     .build()?;
    /// let latency = provider.meter("app").f64_histogram("latency").with_unit("s").build();
    /// latency.record(0.25, &[]);
    /// let snapshot = provider.collect();
    /// let point = &snapshot.metric("latency").unwrap().data().exponential_points()[0];
    /// assert_eq!((point.count(), point.scale()), (1, 20));
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_exponential_histograms(mut self, max_size: u32, max_scale: i8) -> Self {
        self.exponential = Some(ExponentialConfig {
            max_size,
            max_scale,
        });
        self
    }

    /// Which measurements of counters and histograms are kept as exemplars, sent with
    /// their series (`TimeSeries.exemplars`) with the `trace_id` and `span_id` of the
    /// span they were made in. Default: [`env::EXEMPLAR_FILTER`]
    /// (`OTEL_METRICS_EXEMPLAR_FILTER`) when set, else
    /// [`ExemplarFilter::TraceBased`]: measurements made while the current
    /// `opentelemetry::Context` holds a sampled span. Gauges and up-down counters never
    /// carry exemplars.
    ///
    /// Each explicit-bucket histogram series keeps the last sampled measurement of each
    /// bucket, each exponential histogram series up to `min(20, max_size)` and each
    /// counter series one, sampled uniformly since the previous collection. Their storage
    /// is allocated at a series' first sampled measurement.
    /// [`ExemplarFilter::AlwaysOff`] removes the check from recording altogether.
    /// Prometheus stores exemplars only with `--enable-feature=exemplar-storage`.
    ///
    /// See [`ExemplarFilter`] for an example.
    ///
    /// An `OTEL_METRICS_EXEMPLAR_FILTER` value other than `always_on`, `always_off` or
    /// `trace_based` is an error at `build()` when no filter is set in code.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_exemplar_filter(mut self, filter: ExemplarFilter) -> Self {
        self.exemplar_filter = Some(filter);
        self
    }

    /// Adds a view: a function that, for each instrument when it is created, returns
    /// the [`Stream`](crate::view::Stream) it should make of it, or `None` to leave it
    /// alone. Callable several times: every view that returns a stream yields one (an
    /// instrument can have several); an instrument no view returns a stream for gets
    /// its default stream. Views apply to every instrument of the provider: the
    /// `opentelemetry` API's, the `metrics` facade's, the observers', and through them
    /// the bases of custom metrics. The shape is `opentelemetry_sdk` 0.33's
    /// `with_view`, so closures written for it port by changing their import; the
    /// guide's chapter [views](crate::guide::views) has the rules.
    ///
    /// ```
    /// use opentelemetry::metrics::MeterProvider as _;
    /// use opentelemetry::KeyValue;
    /// use prompush::view::{Instrument, Stream};
    ///
    /// let provider = prompush::MeterProvider::builder()
    ///     // Drop the attribute that makes cardinality explode, on every instrument.
    ///     .with_view(|_: &Instrument| {
    ///         Stream::builder().with_excluded_attribute_keys(["user.id".into()]).build().ok()
    ///     })
    ///     .build()?;
    /// let requests = provider.meter("app").u64_counter("requests").build();
    /// requests.add(1, &[KeyValue::new("route", "/"), KeyValue::new("user.id", "a")]);
    /// requests.add(1, &[KeyValue::new("route", "/"), KeyValue::new("user.id", "b")]);
    /// let snapshot = provider.collect();
    /// let points = snapshot.metric("requests").unwrap().data().number_points();
    /// assert_eq!(points.len(), 1);
    /// assert_eq!(points[0].value(), prompush::snapshot::Number::U64(2));
    /// assert!(points[0].attributes().get("user.id").is_none());
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_view(
        mut self,
        view: impl Fn(&Instrument) -> Option<Stream> + Send + Sync + 'static,
    ) -> Self {
        self.views.0.push(Arc::new(view));
        self
    }

    /// Pushes to this Prometheus remote-write URL (for example
    /// `http://127.0.0.1:9090/api/v1/write`): the default destination's endpoint, which
    /// the other push options of this builder configure. Checked by `build()`: it must
    /// parse and use `http` or `https`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_endpoint(self, endpoint: impl Into<String>) -> Self {
        self.on_default(|d| d.with_endpoint(endpoint))
    }

    /// Makes `destination` the default one, whole: the one this builder's push options
    /// configure from then on (options set on the builder before are replaced). Without
    /// it, the first push option creates a remote-write destination named
    /// [`Destination::DEFAULT_NAME`] with every default. For options that have no
    /// shorthand here, such as TLS:
    ///
    /// ```no_run
    /// use prompush::{Destination, MeterProvider};
    ///
    /// let provider = MeterProvider::builder()
    ///     .with_default_destination(
    ///         Destination::remote_write("default", "https://mimir.internal/api/v1/push")
    ///             .with_tls_ca_file("/etc/pki/company-ca.pem"),
    ///     )
    ///     .with_bearer_token("my-token")
    ///     .build()?;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_default_destination(mut self, destination: Destination) -> Self {
        self.default_destination = Some(destination);
        self
    }

    /// Adds a destination; call it once per destination. Names must be unique (the
    /// default destination's is [`Destination::DEFAULT_NAME`] unless it was given
    /// whole).
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_destination(mut self, destination: Destination) -> Self {
        self.destinations.push(destination);
        self
    }

    /// Sends `Authorization: Bearer <token>` with every push to the default destination
    /// (the one [`with_endpoint`](Self::with_endpoint) configures); see
    /// [`Destination::with_bearer_token`]. Default: no auth. Replaces any auth set before;
    /// the token never appears in logs, errors or `Debug` output, and `build()` refuses it
    /// over plain `http://` to another host (see
    /// [`allow_credentials_over_http`](Self::allow_credentials_over_http)).
    ///
    /// ```
    /// let builder = prompush::MeterProvider::builder()
    ///     .with_endpoint("https://mimir.internal/api/v1/push")
    ///     .with_bearer_token("my-token");
    /// # let _ = builder;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_bearer_token(self, token: impl Into<String>) -> Self {
        self.on_default(|d| d.with_bearer_token(token))
    }

    /// Sends HTTP basic auth with every push to the default destination (the one
    /// [`with_endpoint`](Self::with_endpoint) configures) (Grafana Cloud: the numeric
    /// instance id and an access token); see [`Destination::with_basic_auth`]. Default: no
    /// auth. Replaces any auth set before; a user containing `:` is an error at `build()`.
    ///
    /// ```
    /// let builder = prompush::MeterProvider::builder()
    ///     .with_endpoint("https://mimir.internal/api/v1/push")
    ///     .with_basic_auth("123456", "glc_…");
    /// # let _ = builder;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_basic_auth(self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.on_default(|d| d.with_basic_auth(user, password))
    }

    /// Sends `Authorization: <value>` exactly as given with every push to the default
    /// destination (the one [`with_endpoint`](Self::with_endpoint) configures); see
    /// [`Destination::with_authorization`]. Default: no auth. Replaces any auth set before;
    /// a value with characters an HTTP header cannot carry is an error at `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_authorization(self, value: impl Into<String>) -> Self {
        self.on_default(|d| d.with_authorization(value))
    }

    /// Sends `X-Scope-OrgID: <tenant>` with every push to the default destination (the one
    /// [`with_endpoint`](Self::with_endpoint) configures): the tenant of a multi-tenant
    /// Mimir or Cortex; see [`Destination::with_tenant`]. Default: no tenant header.
    ///
    /// ```
    /// let builder = prompush::MeterProvider::builder()
    ///     .with_endpoint("https://mimir.internal/api/v1/push")
    ///     .with_tenant("team-checkout");
    /// # let _ = builder;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_tenant(self, tenant: impl Into<String>) -> Self {
        self.on_default(|d| d.with_tenant(tenant))
    }

    /// Adds `name="value"` to every series pushed to the default destination (the one
    /// [`with_endpoint`](Self::with_endpoint) configures), unless the series has a label of
    /// that name already; see [`Destination::with_external_label`]. Default: none; call it
    /// once per label. An invalid or reserved name, `le`, an empty value or a name given
    /// twice is an error at `build()`.
    ///
    /// ```
    /// let builder = prompush::MeterProvider::builder()
    ///     .with_endpoint("https://mimir.internal/api/v1/push")
    ///     .with_external_label("region", "eu-west-1");
    /// # let _ = builder;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_external_label(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.on_default(|d| d.with_external_label(name, value))
    }

    /// Adds a header to every push to the default destination (the one
    /// [`with_endpoint`](Self::with_endpoint) configures); see
    /// [`Destination::with_header`]. Default: none. An invalid name or value, a header
    /// given twice, or one the protocol sets itself, is an error at `build()`. Values never
    /// appear in logs, errors or `Debug` output.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_header(self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.on_default(|d| d.with_header(name, value))
    }

    /// Allows credentials over plain `http://` to a host other than this machine for the
    /// default destination (the one [`with_endpoint`](Self::with_endpoint) configures); see
    /// [`Destination::allow_credentials_over_http`]. Default off: `build()` refuses such a
    /// configuration, since anyone on the path could read them.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn allow_credentials_over_http(self, allow: bool) -> Self {
        self.on_default(|d| d.allow_credentials_over_http(allow))
    }

    /// The limit for one push attempt to the default destination (the one
    /// [`with_endpoint`](Self::with_endpoint) configures), connecting included; see
    /// [`Destination::with_timeout`]. Default [`Destination::DEFAULT_TIMEOUT`] (30 s). A
    /// slower attempt fails and is retried with backoff; zero is an error at `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.on_default(|d| d.with_timeout(timeout))
    }

    /// Most samples in one request to the default destination (the one
    /// [`with_endpoint`](Self::with_endpoint) configures); see
    /// [`Destination::with_max_samples_per_send`]. Default
    /// [`Destination::DEFAULT_MAX_SAMPLES_PER_SEND`] (2000); a larger push is split into
    /// requests sent in order. Zero is an error at `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_max_samples_per_send(self, samples: usize) -> Self {
        self.on_default(|d| d.with_max_samples_per_send(samples))
    }

    /// Cap on encoded data waiting for delivery to the default destination (the one
    /// [`with_endpoint`](Self::with_endpoint) configures) while it fails; see
    /// [`Destination::with_max_pending_bytes`]. Default
    /// [`Destination::DEFAULT_MAX_PENDING_BYTES`] (64 MiB). Past it the oldest pushes are
    /// dropped and counted; the newest still carry every counter's cumulative total.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_max_pending_bytes(self, bytes: usize) -> Self {
        self.on_default(|d| d.with_max_pending_bytes(bytes))
    }

    /// Retry waits for the default destination (the one
    /// [`with_endpoint`](Self::with_endpoint) configures): about `min` first, doubling per
    /// failure up to `max`, with jitter; see [`Destination::with_retry_backoff`]. Defaults
    /// 30 ms and 5 s. A zero `min`, or a `max` shorter than `min`, is an error at
    /// `build()`.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_retry_backoff(self, min: Duration, max: Duration) -> Self {
        self.on_default(|d| d.with_retry_backoff(min, max))
    }

    /// How long shutdown keeps trying to deliver the final push to the default destination
    /// (the one [`with_endpoint`](Self::with_endpoint) configures); see
    /// [`Destination::with_shutdown_timeout`]. Default
    /// [`Destination::DEFAULT_SHUTDOWN_TIMEOUT`] (10 s); what is undelivered then is
    /// dropped and counted.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_shutdown_timeout(self, timeout: Duration) -> Self {
        self.on_default(|d| d.with_shutdown_timeout(timeout))
    }

    /// Whether the default destination (the one [`with_endpoint`](Self::with_endpoint)
    /// configures) speaks remote write 2.0, as
    /// [`Destination::remote_write_v2`] does, rather than 1.0. Default off. A receiver
    /// that takes only 1.0 gets everything as 1.0 anyway (see the guide's
    /// [remote write 2.0](crate::guide::remote_write_v2) chapter). A JSON default
    /// destination given whole stays JSON.
    ///
    /// ```
    /// let builder = prompush::MeterProvider::builder()
    ///     .with_endpoint("http://prometheus:9090/api/v1/write")
    ///     .with_remote_write_v2(true);
    /// # let _ = builder;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_remote_write_v2(self, enabled: bool) -> Self {
        self.on_default(|d| d.speaking_remote_write_v2(enabled))
    }

    /// How names are translated for the default destination (the one
    /// [`with_endpoint`](Self::with_endpoint) configures); see
    /// [`Destination::with_name_translation`]. Default
    /// [`NameTranslation::UnderscoreEscapingWithSuffixes`](crate::NameTranslation::UnderscoreEscapingWithSuffixes).
    /// The UTF-8 strategies need [`with_remote_write_v2(true)`](Self::with_remote_write_v2).
    ///
    /// ```
    /// use prompush::NameTranslation;
    ///
    /// let builder = prompush::MeterProvider::builder()
    ///     .with_endpoint("http://prometheus:9090/api/v1/write")
    ///     .with_remote_write_v2(true)
    ///     .with_name_translation(NameTranslation::NoTranslation);
    /// # let _ = builder;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_name_translation(self, translation: crate::NameTranslation) -> Self {
        self.on_default(|d| d.with_name_translation(translation))
    }

    /// Whether exponential histograms go to the default destination (the one
    /// [`with_endpoint`](Self::with_endpoint) configures) as Prometheus native histograms
    /// rather than classic `_bucket` series; see [`Destination::with_native_histograms`],
    /// which says what Prometheus needs for them. Default off.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_native_histograms(self, enabled: bool) -> Self {
        self.on_default(|d| d.with_native_histograms(enabled))
    }

    /// Whether series carry the scope's labels, `otel_scope_name` and the others (see
    /// [`Destination::with_scope_labels`]), for every destination that does not set
    /// its own, the default one included. Default: on.
    ///
    /// ```
    /// let provider = prompush::MeterProvider::builder().with_scope_labels(false).build()?;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_scope_labels(mut self, enabled: bool) -> Self {
        self.scope_labels = Some(enabled);
        self
    }

    /// Applies a push option to the default destination, which the first one creates.
    fn on_default(mut self, option: impl FnOnce(Destination) -> Destination) -> Self {
        let destination = self
            .default_destination
            .take()
            .unwrap_or_else(Destination::shorthand);
        self.default_destination = Some(option(destination));
        self
    }

    /// How often to push (every destination without its own interval). Default:
    /// [`env::EXPORT_INTERVAL`] (milliseconds) when set, else
    /// [`DEFAULT_PUSH_INTERVAL`](Self::DEFAULT_PUSH_INTERVAL) (60 s).
    ///
    /// A destination's own [`Destination::with_push_interval`] wins. Zero is an error at
    /// `build()`, as is an unparsable `OTEL_METRIC_EXPORT_INTERVAL` when none is set in
    /// code.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let provider = prompush::MeterProvider::builder()
    ///     .with_endpoint("http://127.0.0.1:9090/api/v1/write")
    ///     .with_push_interval(Duration::from_secs(15));
    /// # let _ = provider;
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_push_interval(mut self, interval: Duration) -> Self {
        self.push_interval = Some(interval);
        self
    }

    /// Whether to push prompush's own delivery metrics (`prompush_*`) with the
    /// application's (default on).
    ///
    /// They go to every destination under the scope `prompush`, with a `destination` label
    /// (`prompush_samples_sent_total{destination="default"}`, …); a provider without
    /// destinations records none.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_self_metrics(mut self, enabled: bool) -> Self {
        self.self_metrics = enabled;
        self
    }

    /// Serves the provider's metrics for scraping at `http://<addr>/metrics`, for
    /// example `"127.0.0.1:9464"` (OpenTelemetry's conventional port; port 0 picks a
    /// free one, see [`MeterProvider::scrape_addr`]), in the Prometheus text format or
    /// OpenMetrics as the scraper's `Accept` header asks (`?format=text` or
    /// `?format=openmetrics` overrides it), gzipped when it accepts gzip. Each scrape
    /// collects; pushing, if configured, goes on unchanged. `build()` fails when the
    /// address cannot be listened on. Feature `scrape` (on by default).
    ///
    /// ```no_run
    /// let provider = prompush::MeterProvider::builder()
    ///     .with_scrape_endpoint("127.0.0.1:9464")
    ///     .build()?;
    /// // curl http://127.0.0.1:9464/metrics
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    #[cfg(feature = "scrape")]
    pub fn with_scrape_endpoint(mut self, addr: impl Into<String>) -> Self {
        self.scrape_endpoint = Some(addr.into());
        self
    }

    /// How scrapes translate names: the built-in endpoint
    /// ([`with_scrape_endpoint`](Self::with_scrape_endpoint)) and
    /// [`MeterProvider::render_metrics`]. Default
    /// [`NameTranslation::UnderscoreEscapingWithSuffixes`](crate::NameTranslation::UnderscoreEscapingWithSuffixes).
    ///
    /// The strategy decides the suffixes and whether names keep their OpenTelemetry
    /// spelling; the scraper's `Accept` header decides only how names outside the
    /// legacy character set are written (its `escaping` parameter: Prometheus 3 sends
    /// `allow-utf-8` and stores `shop.orders_total`; a scraper that does not ask gets
    /// `shop_orders_total`), so a UTF-8 strategy is safe for every scraper. A setter of
    /// its own rather than [`with_name_translation`](Self::with_name_translation),
    /// which configures the default push destination (and creates it): a scraper
    /// negotiates its escaping while a push receiver cannot, so the two often differ.
    ///
    /// ```
    /// use prompush::NameTranslation;
    ///
    /// let provider = prompush::MeterProvider::builder()
    ///     .with_scrape_name_translation(NameTranslation::NoUTF8EscapingWithSuffixes)
    ///     .build()?;
    /// provider.meter("app").u64_counter("shop.orders").build().add(2, &[]);
    ///
    /// let prometheus3 = "text/plain;version=1.0.0;escaping=allow-utf-8";
    /// let scrape = provider.render_metrics(Some(prometheus3));
    /// assert!(scrape.content_type.ends_with("escaping=allow-utf-8"));
    /// assert!(scrape.body.contains("{\"shop.orders_total\",otel_scope_name=\"app\"} 2\n"));
    /// let older = provider.render_metrics(Some("text/plain;version=0.0.4"));
    /// assert!(older.body.contains("shop_orders_total{otel_scope_name=\"app\"} 2\n"));
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_scrape_name_translation(mut self, translation: crate::NameTranslation) -> Self {
        self.scrape_name_translation = translation;
        self
    }

    /// Whether a failing destination writes one line to stderr when no `tracing`
    /// subscriber is installed (default on): prompush reports failures through
    /// `tracing`, and without a subscriber they would go unseen until `shutdown()`
    /// returns an error. The line names the destination and the failure as its log
    /// line would (the endpoint without credentials, the answer scrubbed), with the
    /// hint that goes with it (a `404` or `405`: check the endpoint's path), e.g.
    ///
    /// ```text
    /// prompush: destination "default": refused a push, which is dropped: endpoint
    /// http://127.0.0.1:8080/ answered 405 Method Not Allowed (check the endpoint's path) […]
    /// ```
    ///
    /// It is written at most once an hour per destination and kind of failure (each
    /// status, a timeout, no connection, TLS, …), and only while no subscriber is the
    /// default where the push tasks run: with one installed (globally, as
    /// `tracing_subscriber::fmt().init()` does), that subscriber shows the warnings,
    /// or hides them as its filter says, and nothing goes to stderr. Without this
    /// option, [`env::LOG_FALLBACK`] (`PROMPUSH_LOG_FALLBACK=off`) decides; code wins.
    ///
    /// ```no_run
    /// let provider = prompush::MeterProvider::builder()
    ///     .with_endpoint("http://127.0.0.1:9090/api/v1/write")
    ///     .with_stderr_fallback(false)
    ///     .build()?;
    /// # Ok::<(), prompush::Error>(())
    /// ```
    pub fn with_stderr_fallback(mut self, enabled: bool) -> Self {
        self.stderr_fallback = Some(enabled);
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
    pub fn build(self) -> Result<MeterProvider, Error> {
        self.check_values()?;
        let MeterProviderBuilder {
            resource,
            instance_id,
            cardinality_limit,
            exponential,
            exemplar_filter,
            views,
            default_destination,
            destinations,
            push_interval,
            scope_labels,
            self_metrics,
            #[cfg(feature = "custom-metrics")]
            custom_metrics,
            #[cfg(feature = "custom-metrics")]
            custom_metrics_files,
            scrape_endpoint,
            scrape_name_translation,
            stderr_fallback,
            idle_series_timeout,
            idle_series_clock,
        } = self;
        let interval = resolve_interval(push_interval)?;
        let exemplar_filter = match exemplar_filter {
            Some(filter) => filter,
            None => env::exemplar_filter()?.unwrap_or_default(),
        };
        let default_destination = resolve_endpoint(default_destination, &destinations);
        let destinations = validate_destinations(
            default_destination,
            destinations,
            scope_labels,
            stderr_fallback,
            interval,
        )?;
        #[cfg(feature = "custom-metrics")]
        let configured = Configured::load(custom_metrics, &custom_metrics_files)?;
        let core = Arc::new(Core {
            streams: StreamDefaults {
                views: views.0.into(),
                exponential,
                exemplar_filter,
            },
            ..Core::new(
                resource_with_instance_id(resource, instance_id),
                Limits {
                    cardinality: cardinality_limit,
                    idle: idle_series_timeout.map(|timeout| IdleSeries {
                        timeout,
                        clock: idle_series_clock.unwrap_or_else(IdleClock::monotonic),
                        push_destinations: destinations.len(),
                    }),
                },
            )
        });
        let meter = core.self_metrics_meter(self_metrics && !destinations.is_empty());
        #[cfg(feature = "custom-metrics")]
        let custom = CustomMetrics::new(
            destinations.clone(),
            core.collect_matching_fn(),
            meter.clone(),
        );
        #[cfg(feature = "custom-metrics")]
        configured.check(&custom)?;
        let scrapes = Arc::new(Scrapes::new(core.collect_all_fn(), scrape_name_translation));
        let endpoint = start_endpoint(scrape_endpoint.as_deref(), &scrapes)?;
        let pipelines = start_pipelines(&core, destinations, &meter)?;
        #[cfg(feature = "custom-metrics")]
        configured.create(&custom)?;
        Ok(MeterProvider {
            shared: Arc::new(Shared {
                core,
                pipelines,
                #[cfg(feature = "custom-metrics")]
                custom,
                scrapes,
                endpoint: crate::sync::Mutex::new(endpoint),
            }),
        })
    }

    /// Refuses the values that no environment can mend: a zero cardinality limit, an
    /// empty instance id.
    fn check_values(&self) -> Result<(), Error> {
        if self.cardinality_limit == 0 {
            return Err(Error::Config(
                "with_cardinality_limit(0): an instrument must keep at least one attribute \
                 set, so the limit must be at least 1"
                    .into(),
            ));
        }
        if self.idle_series_timeout == Some(Duration::ZERO) {
            return Err(Error::Config(
                "with_idle_series_timeout(0): a series would end at every collection; use \
                 a timeout of several push intervals, or leave it off"
                    .into(),
            ));
        }
        if let Some(ExponentialConfig {
            max_size,
            max_scale,
        }) = self.exponential
        {
            if max_size < 2 || !(MIN_SCALE..=MAX_SCALE).contains(&max_scale) {
                return Err(Error::Config(format!(
                    "with_exponential_histograms({max_size}, {max_scale}): max_size must be at \
                     least 2 and max_scale within {MIN_SCALE}..={MAX_SCALE}; OpenTelemetry's \
                     defaults are 160 and 20"
                )));
            }
        }
        if self.instance_id.as_deref().is_some_and(str::is_empty) {
            return Err(Error::Config(
                "with_instance_id(\"\"): an empty id gives no instance label; pass a \
                 non-empty id, or leave it out for a random one"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// A destination's checked settings: what starts its pipeline (and, with the feature
/// `custom-metrics`, those of its custom metrics).
type Validated = (ValidatedTransport, Delivery);

/// The default destination, its endpoint (and its token) from the environment when
/// the code set neither an endpoint nor a destination.
fn resolve_endpoint(default: Option<Destination>, added: &[Destination]) -> Option<Destination> {
    if default.as_ref().is_some_and(Destination::has_endpoint) || !added.is_empty() {
        return default;
    }
    let Some(endpoint) = env::var(env::ENDPOINT) else {
        return default;
    };
    let destination = default
        .unwrap_or_else(Destination::shorthand)
        .with_endpoint(endpoint);
    Some(match env::var(env::BEARER_TOKEN) {
        Some(token) if !destination.has_auth() => destination.with_bearer_token(token),
        _ => destination,
    })
}

/// The push interval: the one set in code, else the environment's, else the default.
fn resolve_interval(push_interval: Option<Duration>) -> Result<Duration, Error> {
    let interval = match push_interval {
        Some(interval) => interval,
        None => env::export_interval()?.unwrap_or(MeterProviderBuilder::DEFAULT_PUSH_INTERVAL),
    };
    if interval.is_zero() {
        return Err(Error::Config(
            "with_push_interval(0): the push interval must be positive".into(),
        ));
    }
    Ok(interval)
}

/// Every destination in order: the default one first, when it has an endpoint, then
/// those added. Push options set on the builder for a default destination that has no
/// endpoint would configure nothing; with other destinations, that is an error.
fn with_default(
    default: Option<Destination>,
    added: Vec<Destination>,
) -> Result<Vec<Destination>, Error> {
    let default = match default {
        Some(d) if !d.has_endpoint() && !added.is_empty() => {
            return Err(Error::Config(
                "push options (auth, headers, external labels, timeouts, …) were set on the \
                 provider builder, where they configure the with_endpoint destination, but \
                 there is none: set them on each Destination instead, or add with_endpoint"
                    .into(),
            ))
        }
        Some(d) if d.has_endpoint() => Some(d),
        _ => None,
    };
    Ok(default.into_iter().chain(added).collect())
}

/// Validates every destination before any starts, refusing two of one name; those
/// without their own scope-label choice take the builder's, and all its stderr-fallback
/// choice.
fn validate_destinations(
    default: Option<Destination>,
    added: Vec<Destination>,
    scope_labels: Option<bool>,
    stderr_fallback: Option<bool>,
    interval: Duration,
) -> Result<Vec<Validated>, Error> {
    let shorthand = default
        .as_ref()
        .is_some_and(|d| d.has_endpoint() && d.name() == Destination::DEFAULT_NAME);
    let destinations = with_default(default, added)?;
    let mut validated: Vec<Validated> = Vec::with_capacity(destinations.len());
    for (i, destination) in destinations.into_iter().enumerate() {
        let destination = destination
            .with_default_scope_labels(scope_labels)
            .with_stderr_fallback_choice(stderr_fallback);
        let (transport, delivery) = destination.validate(interval)?;
        if validated.iter().any(|(_, d)| d.name == delivery.name) {
            return Err(Error::Config(format!(
                "two destinations are named {:?}{}; give each a name of its own",
                delivery.name,
                if shorthand && i > 0 && delivery.name == Destination::DEFAULT_NAME {
                    " (with_endpoint configures the one named \"default\")"
                } else {
                    ""
                }
            )));
        }
        validated.push((transport, delivery));
    }
    Ok(validated)
}

/// The resource (detected when not given) with its `service.instance.id`: the one
/// given, else the resource's own, else a random one; prompush named as its SDK.
fn resource_with_instance_id(resource: Option<Resource>, instance_id: Option<String>) -> Resource {
    let resource = resource.unwrap_or_else(|| Resource::builder().build());
    let resource = super::resource::naming_prompush(resource);
    match instance_id {
        Some(id) => instance_id::with_instance_id(&resource, id),
        None => instance_id::or_instance_id(resource, instance_id::random),
    }
}

/// Starts one push pipeline per destination, each collecting the whole provider.
fn start_pipelines(
    core: &Arc<Core>,
    destinations: Vec<Validated>,
    meter: &Meter,
) -> Result<Vec<(String, Pipeline)>, Error> {
    // A pipeline that fails to start drops those started before it: they make their
    // final (empty) push and end.
    destinations
        .into_iter()
        .enumerate()
        .map(|(number, (transport, delivery))| {
            let name = delivery.name.clone();
            let metrics = SelfMetrics::new(meter, &name, None);
            let collect = core.collect_fn(number);
            let pipeline = Pipeline::start(transport, delivery, Some(collect), metrics)?;
            Ok((name, pipeline))
        })
        .collect()
}

/// Starts the scrape endpoint, if one was asked for.
#[cfg(feature = "scrape")]
fn start_endpoint(
    addr: Option<&str>,
    scrapes: &Arc<Scrapes>,
) -> Result<Option<crate::scrape::server::Endpoint>, Error> {
    addr.map(|addr| crate::scrape::server::Endpoint::start(addr, scrapes.clone()))
        .transpose()
}

/// Without the `scrape` feature there is no endpoint to start.
#[cfg(not(feature = "scrape"))]
fn start_endpoint(_: Option<&str>, _: &Arc<Scrapes>) -> Result<Option<()>, Error> {
    Ok(None)
}
