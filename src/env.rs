//! The environment variables prompush reads, and how. They configure only what the code
//! left open: a value set in code always wins.
//!
//! Besides these, the standard variables apply where their libraries read them:
//! `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` (the resource), `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` (trusted CAs), `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`
//! (proxies).
//!
//! ```no_run
//! // PROMPUSH_ENDPOINT=https://prometheus.example.com/api/v1/write
//! let configured = std::env::var(prompush::env::ENDPOINT).is_ok();
//! let provider = prompush::MeterProvider::builder().build()?; // pushes there when set
//! # Ok::<(), prompush::Error>(())
//! ```

use std::time::Duration;

use crate::{Error, ExemplarFilter};

/// The remote-write endpoint of the provider's default destination, when the code
/// sets neither an endpoint nor a destination.
pub const ENDPOINT: &str = "PROMPUSH_ENDPOINT";
/// The bearer token for [`ENDPOINT`], when the code sets no auth.
pub const BEARER_TOKEN: &str = "PROMPUSH_BEARER_TOKEN";
/// The standard OpenTelemetry variable for the push interval, in milliseconds, when
/// the code sets none.
pub const EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
/// The standard OpenTelemetry variable for the exemplar filter (`trace_based`,
/// `always_on`, `always_off`), when the code sets none.
pub const EXEMPLAR_FILTER: &str = "OTEL_METRICS_EXEMPLAR_FILTER";

/// `off` (or `false`, `0`) turns off the one line a failing destination writes to
/// stderr when no `tracing` subscriber is installed; `on` (`true`, `1`) keeps it, the
/// default. Read when the code does not choose with
/// [`with_stderr_fallback`](crate::MeterProviderBuilder::with_stderr_fallback).
pub const LOG_FALLBACK: &str = "PROMPUSH_LOG_FALLBACK";

/// A set, non-empty environment variable.
pub(crate) fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The push interval [`EXPORT_INTERVAL`] sets, if it is set.
pub(crate) fn export_interval() -> Result<Option<Duration>, Error> {
    match var(EXPORT_INTERVAL) {
        None => Ok(None),
        Some(ms) => ms
            .trim()
            .parse::<u64>()
            .map(|ms| Some(Duration::from_millis(ms)))
            .map_err(|_| {
                Error::Config(format!(
                    "{EXPORT_INTERVAL}={ms:?} is not a whole number of milliseconds; \
                 set it to e.g. 60000 or unset it"
                ))
            }),
    }
}

/// Whether [`LOG_FALLBACK`] turns the stderr fallback on or off, if it is set.
pub(crate) fn log_fallback() -> Result<Option<bool>, Error> {
    let Some(value) = var(LOG_FALLBACK) else {
        return Ok(None);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Ok(Some(true)),
        "off" | "false" | "0" => Ok(Some(false)),
        _ => Err(Error::Config(format!(
            "{LOG_FALLBACK}={value:?} is neither on nor off; set it to off to keep failures \
             off stderr when no tracing subscriber is installed, or unset it"
        ))),
    }
}

/// The exemplar filter [`EXEMPLAR_FILTER`] sets, if it is set.
pub(crate) fn exemplar_filter() -> Result<Option<ExemplarFilter>, Error> {
    match var(EXEMPLAR_FILTER) {
        None => Ok(None),
        Some(value) => ExemplarFilter::from_env_value(&value)
            .map(Some)
            .ok_or_else(|| {
                Error::Config(format!(
                "{EXEMPLAR_FILTER}={value:?} is not an exemplar filter; set it to trace_based, \
                 always_on or always_off, or unset it"
            ))
            }),
    }
}
