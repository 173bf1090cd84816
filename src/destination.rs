//! [`Destination`]: one place a provider pushes to, with its own protocol, endpoint,
//! credentials, labels, schedule and delivery settings.

use std::time::Duration;

use crate::pipeline::options::{push_option_methods, PushOptions};
use crate::pipeline::Delivery;
use crate::transport::{Protocol, ValidatedTransport};
use crate::Error;

/// One place a [`MeterProvider`](crate::MeterProvider) pushes to. A provider pushes to
/// any number of them at once; each has its own task, queue, retries and schedule, so a
/// slow or dead destination never delays another.
///
/// Every option of the provider builder's single-endpoint shorthand exists here too,
/// plus [`with_push_interval`](Self::with_push_interval) and, for JSON destinations,
/// [`with_max_body_bytes`](Self::with_max_body_bytes). Secrets never appear in its
/// `Debug` output.
///
/// ```no_run
/// use std::time::Duration;
/// use prompush::{Destination, MeterProvider};
///
/// let provider = MeterProvider::builder()
///     // Grafana Cloud: basic auth with the instance id and an access token.
///     .with_destination(
///         Destination::remote_write("grafana", "https://prometheus-prod-01.grafana.net/api/prom/push")
///             .with_basic_auth("123456", "glc_…")
///             .with_external_label("app_id", "checkout"),
///     )
///     // An in-house Mimir tenant, pushed more often.
///     .with_destination(
///         Destination::remote_write("mimir", "https://mimir.internal/api/v1/push")
///             .with_tenant("team-checkout")
///             .with_push_interval(Duration::from_secs(15)),
///     )
///     // Unleash's custom metrics (JSON), with a client API token.
///     .with_destination(
///         Destination::custom_metrics_json("unleash", "https://unleash.internal/api/client/metrics/custom")
///             .with_authorization("default:production.abc123"),
///     )
///     .build()?;
/// # Ok::<(), prompush::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Destination {
    name: String,
    protocol: Protocol,
    push: PushOptions,
    interval: Option<Duration>,
}

impl Destination {
    /// A Prometheus remote-write destination: Prometheus (`/api/v1/write`), Mimir and
    /// Cortex (`/api/v1/push`), VictoriaMetrics (`/api/v1/write`), Grafana Cloud,
    /// vendors' listeners. `name` identifies it in logs, errors and the `destination`
    /// label of the `prompush_*` metrics.
    pub fn remote_write(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        Self::new(name.into(), Protocol::RemoteWrite, endpoint.into())
    }

    /// A JSON custom-metrics destination, such as Unleash's
    /// `/api/client/metrics/custom` (see [`Protocol::CustomMetricsJson`]). Unleash
    /// takes its API token with [`with_authorization`](Self::with_authorization).
    pub fn custom_metrics_json(name: impl Into<String>, endpoint: impl Into<String>) -> Self {
        Self::new(name.into(), Protocol::CustomMetricsJson, endpoint.into())
    }

    fn new(name: String, protocol: Protocol, endpoint: String) -> Self {
        let mut push = PushOptions::default();
        push.transport.endpoint = Some(endpoint);
        Self::from_options(name, protocol, push)
    }

    /// A destination from options already gathered (the provider builder's shorthand).
    pub(crate) fn from_options(
        name: impl Into<String>,
        protocol: Protocol,
        push: PushOptions,
    ) -> Self {
        Destination {
            name: name.into(),
            protocol,
            push,
            interval: None,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its protocol.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    push_option_methods!();

    /// How often to push to this destination (default: the provider's push interval).
    pub fn with_push_interval(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// The largest body of a JSON destination (default
    /// [`DEFAULT_MAX_BODY_BYTES`](crate::DEFAULT_MAX_BODY_BYTES),
    /// 100,000 bytes); a push is cut into as many bodies as it needs. An entry larger
    /// than this alone is sent alone. Not for remote-write destinations.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.push.max_body_bytes = Some(bytes);
        self
    }

    /// Checks everything; `default_interval` is the provider's push interval.
    /// Gives the destination the provider's scope-label choice unless it has its own.
    pub(crate) fn with_default_scope_labels(mut self, enabled: Option<bool>) -> Self {
        self.push.scope_labels = self.push.scope_labels.or(enabled);
        self
    }

    pub(crate) fn validate(
        self,
        default_interval: Duration,
    ) -> Result<(ValidatedTransport, Delivery), Error> {
        let name = self.name;
        let in_destination = |e: Error| match e {
            Error::Config(message) => Error::Config(format!("destination {name:?}: {message}")),
            other => other,
        };
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(Error::Config(format!(
                "destination name {name:?} must be 1 to 64 letters, digits, '_', '-' or '.' \
                 (it labels the prompush_* metrics and log lines)"
            )));
        }
        let interval = self.interval.unwrap_or(default_interval);
        if interval.is_zero() {
            return Err(in_destination(Error::Config(
                "with_push_interval(0): the push interval must be positive".into(),
            )));
        }
        self.push
            .validate(&name, self.protocol, interval)
            .map_err(in_destination)
    }
}
