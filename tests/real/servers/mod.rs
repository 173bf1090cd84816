//! The real servers the tests in this binary run against, one harness per file:
//!
//! - [`real_servers`]: real Prometheus and VictoriaMetrics child processes and their query
//!   APIs; [`stored`]: exact comparisons of what they stored;
//! - [`vmauth`]: a real vmauth in front of one of them;
//! - [`unleash`]: a real Unleash on a throwaway PostgreSQL;
//! - [`tls`]: certificates made on the spot and a Prometheus serving HTTPS;
//! - [`tinyproxy`]: a real HTTP proxy with credentials.
//!
//! The common names are re-exported here, so call sites stay short.

pub mod proto;
pub mod real_servers;
pub mod stored;
pub mod tinyproxy;
pub mod tls;
pub mod unleash;
pub mod vmauth;

pub use real_servers::{
    single_value, unix_millis, unix_seconds, Prometheus, Server, VictoriaMetrics,
};
