//! `MeterProvider`: the entry point. It owns the meters (one registry per
//! instrumentation scope), collects snapshots, runs one push pipeline per destination,
//! flushes and shuts down.
//!
//! One file per job: this one is the provider the application holds (flush, shutdown);
//! `custom` its custom-metrics API (feature `custom-metrics`); [`builder`] configures
//! it and builds it step by step; [`collect`]
//! holds `Core`, what collection needs: the meters, their registries and the collect
//! functions the pipelines and the custom metrics call; [`resource`] names prompush as
//! the SDK in the resource.

mod builder;
mod collect;
#[cfg(feature = "custom-metrics")]
mod custom;
mod resource;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use opentelemetry::metrics::Meter;
use opentelemetry::InstrumentationScope;
use opentelemetry_sdk::Resource;

use self::collect::Core;
use crate::aggregate::{in_callback, Limits};
#[cfg(feature = "custom-metrics")]
use crate::custom::manage::CustomMetrics;
use crate::instrument::registry::Registry;
#[cfg(feature = "custom-metrics")]
use crate::pipeline::self_metrics::noop_meter;
use crate::pipeline::{Pending, Pipeline};
use crate::scrape::{RenderedMetrics, Scrapes};
use crate::{Error, Snapshot};

pub use builder::MeterProviderBuilder;

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
/// let points = snapshot.metric("requests").unwrap().data().number_points();
/// assert_eq!(points[0].value(), prompush::snapshot::Number::U64(1));
/// provider.shutdown()?;
/// # Ok::<(), prompush::Error>(())
/// ```
///
/// # Failures
///
/// Pushing happens in the background: a destination that fails (refuses, cannot be
/// reached, answers at a wrong path) does not fail recording. prompush reports it
/// through [`tracing`](https://docs.rs/tracing): install a subscriber
/// (`tracing_subscriber::fmt().init()`, say) to see its warnings, and
/// [`shutdown`](Self::shutdown) returns an error for what could not be delivered.
/// With no subscriber installed, a failing destination still writes one line to
/// stderr, at most once an hour per destination and kind of failure, naming the
/// destination and the failure (never a credential); turn that off with
/// [`MeterProviderBuilder::with_stderr_fallback`] or `PROMPUSH_LOG_FALLBACK=off`
/// ([`env::LOG_FALLBACK`](crate::env::LOG_FALLBACK)).
///
/// # Resource
///
/// The resource's attributes other than the service and instance go on the
/// `target_info` series. Its `telemetry.sdk.*` attributes name prompush
/// (`telemetry.sdk.name="prompush"`, `telemetry.sdk.language="rust"`,
/// `telemetry.sdk.version` this crate's version), also when the resource was made with
/// `opentelemetry_sdk`'s `Resource::builder()`, which fills in its own name and
/// version: prompush is the SDK that records. A resource built with
/// `Resource::builder_empty()` and no such attribute keeps none.
#[derive(Clone)]
pub struct MeterProvider {
    shared: Arc<Shared>,
}

struct Shared {
    core: Arc<Core>,
    /// One per destination, in the order configured; none: the provider only
    /// aggregates.
    pipelines: Vec<(String, Pipeline)>,
    #[cfg(feature = "custom-metrics")]
    custom: CustomMetrics,
    scrapes: Arc<Scrapes>,
    /// The built-in scrape endpoint, until shutdown.
    endpoint: crate::sync::Mutex<Option<Endpoint>>,
}

/// The running scrape endpoint.
#[cfg(feature = "scrape")]
type Endpoint = crate::scrape::server::Endpoint;
/// Without the `scrape` feature there is none.
#[cfg(not(feature = "scrape"))]
type Endpoint = ();

impl MeterProvider {
    /// A meter for the named instrumentation scope: the same as
    /// [`opentelemetry::metrics::MeterProvider::meter`], without importing the trait.
    #[must_use]
    pub fn meter(&self, name: &'static str) -> Meter {
        opentelemetry::metrics::MeterProvider::meter(self, name)
    }

    /// The resource every snapshot carries.
    #[must_use]
    pub fn resource(&self) -> &Resource {
        &self.shared.core.resource
    }

    /// Collects every instrument now: runs observable callbacks and reads the
    /// cumulative state of the synchronous instruments. Recording continues meanwhile;
    /// it never waits on a collection. Pushing does not depend on it: the pipeline
    /// collects for itself.
    #[must_use]
    pub fn collect(&self) -> Snapshot {
        self.shared.core.collect_all()
    }

    /// Collects and renders every instrument for a scraper whose `Accept` header is
    /// `accept` (`None`: the Prometheus text format), as the built-in endpoint does:
    /// serve it from your own HTTP server, with your own TLS and auth. Scrapes that
    /// arrive while another is rendered share its result. Names are translated as
    /// [`MeterProviderBuilder::with_scrape_name_translation`] says and written with
    /// the escaping the header asks for ([`Escaping::negotiate`](crate::scrape::Escaping::negotiate)),
    /// which `content_type` states.
    ///
    /// ```
    /// let provider = prompush::MeterProvider::builder().build()?;
    /// provider.meter("app").u64_counter("requests").build().add(2, &[]);
    ///
    /// let scrape = provider.render_metrics(Some("text/plain; version=0.0.4"));
    /// assert_eq!(
    ///     scrape.content_type,
    ///     "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"
    /// );
    /// assert!(scrape.body.contains("requests_total{otel_scope_name=\"app\"} 2\n"));
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use]
    pub fn render_metrics(&self, accept: Option<&str>) -> RenderedMetrics {
        let (format, escaping) = crate::prometheus::exposition::negotiate(accept);
        self.shared.scrapes.render(format, escaping)
    }

    /// Where the built-in scrape endpoint listens (its port when `0` was given), or
    /// `None` without one (or after shutdown).
    #[must_use]
    #[cfg(feature = "scrape")]
    pub fn scrape_addr(&self) -> Option<std::net::SocketAddr> {
        self.shared.endpoint.lock().as_ref().map(|e| e.addr)
    }

    /// Whether this provider pushes (a destination was configured) or only aggregates.
    #[must_use]
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
        let pending: Vec<(String, Pending)> = self
            .shared
            .pipelines
            .iter()
            .map(|(name, p)| (name.clone(), begin(p)))
            .collect();
        #[cfg(feature = "custom-metrics")]
        let pending = {
            let mut pending = pending;
            pending.extend(self.shared.custom.begin_all(begin));
            pending
        };
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
        #[cfg(feature = "custom-metrics")]
        self.shared.custom.close();
        // Scrapers get connection refused from now on.
        *self.shared.endpoint.lock() = None;
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
    #[must_use]
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
                cardinality: crate::aggregate::DEFAULT_CARDINALITY_LIMIT,
                idle: None,
            },
        ));
        MeterProvider {
            shared: Arc::new(Shared {
                scrapes: Arc::new(Scrapes::new(
                    core.collect_all_fn(),
                    crate::NameTranslation::default(),
                )),
                #[cfg(feature = "custom-metrics")]
                custom: CustomMetrics::new(Vec::new(), core.collect_matching_fn(), noop_meter()),
                core,
                pipelines: Vec::new(),
                endpoint: crate::sync::Mutex::new(None),
            }),
        }
    }
}

impl MeterProvider {
    /// The instruments of one instrumentation scope, for entry points other than the
    /// `opentelemetry` API (the `metrics` facade).
    #[cfg(feature = "metrics")]
    pub(crate) fn scope_registry(&self, scope: InstrumentationScope) -> Arc<Registry> {
        self.shared.core.registry(scope)
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
