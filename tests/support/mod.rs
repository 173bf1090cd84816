//! Scaffolding shared by the loopback tests (`tests/it`) and the real-server tests
//! (`tests/real`), one concern per file; each binary compiles it once:
//!
//! - [`loopback`]: endpoints on 127.0.0.1 that refuse or hang, a receiver rebound to a
//!   known port, and readers of what prompush's own receiver got (`next`, `drain`,
//!   `app_values`, `value_of`, `self_metrics`);
//! - [`presets`]: provider builders (`pushing_to`, `bare`, `json_to`, `flushed_by_hand`),
//!   resources (`service_named`, `application`), the custom-metric example, blocking
//!   calls from async tests;
//! - [`logs`]: `tracing` output captured as text;
//! - [`spans`]: a sampled span context to record exemplars in;
//! - [`proc`]: the test process as `/proc` shows it;
//! - [`child`]: a test re-run alone in a child process, for what is process-wide;
//! - [`observed`]: the process and host observers' families; [`sdk_app`]: the same
//!   measurements through the official SDK and through prompush.
//!
//! The real servers' harnesses are in `tests/real/servers/`.

pub mod child;
pub mod logs;
pub mod loopback;
#[cfg(all(feature = "observers", target_os = "linux"))]
pub mod observed;
pub mod presets;
pub mod proc;
pub mod sdk_app;
pub mod spans;

pub use loopback::{closed_loopback_endpoint, hung_loopback_endpoint};
pub use presets::CUSTOM_METRIC_EXAMPLE;
