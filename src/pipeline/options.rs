//! The push options both builders share (the provider's and the SDK exporter's), with
//! their defaults and checks, and the builder methods that set them.

use std::time::Duration;

use super::Delivery;
use crate::transport::{TransportConfig, ValidatedTransport};
use crate::Error;

/// The default most samples in one remote-write request (as Prometheus sends).
pub const DEFAULT_MAX_SAMPLES_PER_SEND: usize = 2000;
/// The default cap on data waiting for delivery: 64 MiB of encoded requests.
pub const DEFAULT_MAX_PENDING_BYTES: usize = 64 << 20;
/// The default first wait before a retry; it doubles per failure.
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_millis(30);
/// The default longest wait between retries.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The default time `shutdown()` keeps trying to deliver the final push.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Destination, auth and delivery settings, as the user gave them.
#[derive(Debug, Clone)]
pub(crate) struct PushOptions {
    pub(crate) transport: TransportConfig,
    pub(crate) max_samples_per_send: usize,
    pub(crate) max_pending_bytes: usize,
    pub(crate) backoff: (Duration, Duration),
    pub(crate) shutdown_timeout: Duration,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            transport: TransportConfig::default(),
            max_samples_per_send: DEFAULT_MAX_SAMPLES_PER_SEND,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            backoff: (DEFAULT_MIN_BACKOFF, DEFAULT_MAX_BACKOFF),
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

impl PushOptions {
    /// Checks everything; `interval` is how often the pipeline collects.
    pub(crate) fn validate(
        self,
        interval: Duration,
    ) -> Result<(ValidatedTransport, Delivery), Error> {
        if self.max_samples_per_send == 0 {
            return Err(Error::Config(
                "with_max_samples_per_send(0): a request must carry at least one sample".into(),
            ));
        }
        let (min, max) = self.backoff;
        if min.is_zero() || max < min {
            return Err(Error::Config(format!(
                "with_retry_backoff({min:?}, {max:?}): the first wait must be positive and the \
                 longest at least as long"
            )));
        }
        let transport = self.transport.validate()?;
        let delivery = Delivery {
            interval,
            max_samples_per_send: self.max_samples_per_send,
            max_pending_bytes: self.max_pending_bytes,
            min_backoff: min,
            max_backoff: max,
            shutdown_timeout: self.shutdown_timeout,
        };
        Ok((transport, delivery))
    }
}

/// The builder methods for [`PushOptions`]: the same names and documentation on every
/// builder that pushes. The builder needs a field `push: PushOptions`.
macro_rules! push_option_methods {
    () => {
        /// Pushes to this Prometheus remote-write URL (for example
        /// `http://127.0.0.1:9090/api/v1/write`). Checked by `build()`: it must parse and
        /// use `http` or `https`.
        pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
            self.push.transport.endpoint = Some(endpoint.into());
            self
        }

        /// Sends `Authorization: Bearer <token>` with every push. The token never
        /// appears in logs, errors or `Debug` output.
        pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
            self.push.transport.bearer_token = Some($crate::transport::Secret::new(token));
            self
        }

        /// Adds a header to every push (a tenant or API-key header, say). The protocol's
        /// own headers (`Content-Encoding`, `Content-Type`,
        /// `X-Prometheus-Remote-Write-Version`, `User-Agent`, and `Authorization` when a
        /// bearer token is set) cannot be overridden: naming one is an error at
        /// `build()`.
        pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.push
                .transport
                .headers
                .push((name.into(), value.into()));
            self
        }

        /// Allows credentials (a bearer token, an `Authorization` or API-key header) over
        /// plain `http://` to a host other than this machine. Off by default: `build()`
        /// refuses such a configuration, since anyone on the path could read the token.
        pub fn allow_credentials_over_http(mut self, allow: bool) -> Self {
            self.push.transport.allow_plaintext_credentials = allow;
            self
        }

        /// The limit for one push attempt, connecting included (default 30 s).
        pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.push.transport.timeout = timeout;
            self
        }

        /// Most samples in one request (default 2000); a larger push is split, and the
        /// requests are sent in order.
        pub fn with_max_samples_per_send(mut self, samples: usize) -> Self {
            self.push.max_samples_per_send = samples;
            self
        }

        /// Cap on encoded data waiting for delivery while the endpoint is failing
        /// (default 64 MiB). Past it the oldest requests are dropped and counted; the
        /// newest still carry every counter's cumulative total.
        pub fn with_max_pending_bytes(mut self, bytes: usize) -> Self {
            self.push.max_pending_bytes = bytes;
            self
        }

        /// Retry waits: the first is about `min`, doubling per failure up to `max`, with
        /// jitter (defaults 30 ms and 5 s). A server's `Retry-After` is honoured as a
        /// floor.
        pub fn with_retry_backoff(
            mut self,
            min: std::time::Duration,
            max: std::time::Duration,
        ) -> Self {
            self.push.backoff = (min, max);
            self
        }

        /// How long shutdown keeps trying to deliver the final push (default 10 s).
        pub fn with_shutdown_timeout(mut self, timeout: std::time::Duration) -> Self {
            self.push.shutdown_timeout = timeout;
            self
        }
    };
}
pub(crate) use push_option_methods;
