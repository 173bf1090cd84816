//! The crate's one error type.

/// Everything that can go wrong in prompush, with a message that says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A builder option has a value that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// `shutdown()` was called before.
    #[error("the meter provider is already shut down; build a new provider to record again")]
    AlreadyShutdown,
    /// A remote-write body could not be built (it is over snappy's 4 GiB block limit).
    #[error("cannot encode the remote-write request: {0}; push more often or send fewer series per request")]
    Encode(String),
    /// A request body does not decode: not a snappy-compressed
    /// `prometheus.WriteRequest`, or not a JSON custom-metrics document.
    #[error("invalid request body: {0}")]
    Decode(String),
    /// The background runtime could not be started.
    #[error("cannot start prompush's background push thread: {0}")]
    Runtime(String),
    /// A push was not accepted by the endpoint.
    #[error("push failed: {0}")]
    Push(String),
    /// A flush or shutdown did not complete in time.
    #[error("the push did not complete within {0:?}; check that the endpoint is reachable and answering")]
    Timeout(std::time::Duration),
    /// The push task is no longer running (the provider was shut down).
    #[error("the push pipeline has stopped (the provider was shut down)")]
    PipelineStopped,
    /// Shutdown's deadline passed before everything was delivered.
    #[error(
        "{samples} samples were not delivered within the shutdown timeout of {timeout:?} \
         (last failure: {last_failure}); raise with_shutdown_timeout or check the endpoint"
    )]
    Undelivered {
        /// Samples given up on.
        samples: usize,
        /// The deadline that passed.
        timeout: std::time::Duration,
        /// What the endpoint last answered (no credentials).
        last_failure: String,
    },
    /// A custom metric definition is invalid: `field` is the path of the offending field
    /// (`filters.children[2].field_op`), empty for the document as a whole.
    #[cfg(feature = "custom-metrics")]
    #[error("invalid custom metric definition: {}{message}", if .field.is_empty() { String::new() } else { format!("{}: ", .field) })]
    InvalidCustomMetric {
        /// The path of the offending field.
        field: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A custom metric of this name exists already (what a 409 would say): skip it, or
    /// delete it first to replace it.
    #[cfg(feature = "custom-metrics")]
    #[error("a custom metric named {0:?} exists already; delete it first to replace it")]
    CustomMetricExists(String),
    /// No custom metric of this name exists.
    #[cfg(feature = "custom-metrics")]
    #[error("no custom metric named {0:?}; list them with custom_metrics()")]
    UnknownCustomMetric(String),
    /// `force_flush` or `shutdown` was called from inside an observable instrument's
    /// callback. The callback runs during a collection that a push may be waiting for,
    /// so waiting for that push from the callback could only time out.
    #[error(
        "force_flush and shutdown cannot be called from inside an observable instrument's \
         callback (the push they wait for is waiting for the callback); call force_flush \
         or shutdown from outside the callback"
    )]
    CalledFromCallback,
    /// `prompush::process::register` or `prompush::system::register` found nothing it can
    /// read on this machine (another platform than Linux, or no `/proc`).
    #[error("{0} metrics cannot be read here (no /proc, or not Linux); mount /proc, or leave out the {0} observers on this platform")]
    ObserversUnavailable(&'static str),
    /// Some of a provider's several destinations failed a flush or shutdown: each
    /// failed destination's name and error. The others succeeded.
    #[error("{}", destinations_failed(.0))]
    Destinations(Vec<(String, Error)>),
}

fn destinations_failed(failures: &[(String, Error)]) -> String {
    let mut text = match failures.len() {
        1 => "1 destination failed".to_owned(),
        n => format!("{n} destinations failed"),
    };
    for (i, (name, error)) in failures.iter().enumerate() {
        text.push_str(if i == 0 { ": " } else { "; " });
        text.push_str(&format!("{name:?}: {error}"));
    }
    text
}
