//! The real servers the tests in this binary run against, one harness per file:
//!
//! - [`kind`]: which server (Prometheus 3, the primary one; Prometheus 2.42; current
//!   VictoriaMetrics; VictoriaMetrics 1.79) and where its binary comes from;
//! - [`real_servers`]: the server child processes, their options (config, OTLP receiver,
//!   feature flags, TLS) and query APIs; [`stored`]: exact comparisons of what they stored;
//! - [`otelcol`]: a real OpenTelemetry Collector remote writing to one of them;
//! - [`vmauth`]: a real vmauth in front of one of them;
//! - [`unleash`]: a real Unleash on a throwaway PostgreSQL;
//! - [`tls`]: certificates made on the spot and the web config of a Prometheus serving
//!   HTTPS;
//! - [`tinyproxy`]: a real HTTP proxy with credentials.
//!
//! The common names are re-exported here, so call sites stay short.

pub mod kind;
pub mod otelcol;
pub mod proto;
pub mod real_servers;
pub mod stored;
pub mod tinyproxy;
pub mod tls;
pub mod unleash;
pub mod vmauth;

pub use kind::Kind;
pub use real_servers::{single_value, unix_millis, unix_seconds, Server};
