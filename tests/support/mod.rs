//! Shared scaffolding of the integration tests, one concern per file:
//!
//! - [`loopback`]: endpoints on 127.0.0.1 that refuse or hang, a receiver rebound to a
//!   known port, and readers of what prompush's own receiver got (`next`, `drain`,
//!   `app_values`, `value_of`, `self_metrics`);
//! - [`presets`]: provider builders (`pushing_to`, `bare`, `json_to`, `flushed_by_hand`),
//!   resources (`service_named`, `application`), the custom-metric example, blocking
//!   calls from async tests;
//! - [`real_servers`]: real Prometheus and VictoriaMetrics child processes and their query
//!   APIs; [`stored`]: exact comparisons of what they stored;
//! - [`vmauth`]: a real vmauth in front of one of them;
//! - [`unleash`]: a real Unleash on a throwaway PostgreSQL;
//! - [`logs`]: `tracing` output captured as text;
//! - [`spans`]: a sampled span context to record exemplars in;
//! - [`proc`]: the test process as `/proc` shows it;
//! - [`self_metrics`]: prompush's own delivery metrics, as the provider collects them.
//!
//! The common names are re-exported here, so call sites stay short.
#![allow(dead_code)] // each test binary uses a different part of the helpers
#![allow(unused_imports)] // likewise for the re-exports

pub mod logs;
pub mod loopback;
pub mod presets;
pub mod proc;
pub mod proto;
pub mod real_servers;
pub mod self_metrics;
pub mod spans;
pub mod stored;
pub mod tinyproxy;
pub mod tls;
pub mod unleash;
pub mod vmauth;

pub use loopback::{closed_loopback_endpoint, free_loopback_addr, hung_loopback_endpoint};
pub use presets::CUSTOM_METRIC_EXAMPLE;
pub use real_servers::{
    single_value, unix_millis, unix_seconds, Prometheus, Server, VictoriaMetrics, POLL_INTERVAL,
    PORT_ATTEMPTS, READY_DEADLINE,
};
