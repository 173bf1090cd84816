//! Scaffolding shared by the loopback tests (`tests/it`) and the real-server tests
//! (`tests/real`), one concern per file; each binary compiles it once:
//!
//! - [`ports`]: free ports on loopback;
//! - [`presets`]: provider builders (`pushing_to`, `flushed_by_hand`), resources
//!   (`service`, `service_named`, `application`), the custom-metric example, blocking
//!   calls from async tests;
//! - [`logs`]: every thread's `tracing` output, captured for as long as a test asks;
//! - [`spans`]: a sampled span context to record exemplars in;
//! - [`proc`]: the test process's resident memory;
//! - [`child`]: a test re-run alone in a child process, for what is process-wide;
//! - [`observed`]: the process and host observers' families; [`sdk_app`]: the same
//!   measurements through the official SDK and through prompush.
//!
//! What one binary alone uses lives in its own tree: the loopback endpoints and the
//! receiver's readers in `tests/it/loopback.rs`, the real servers' harnesses in
//! `tests/real/servers/`.

pub mod child;
pub mod logs;
#[cfg(all(feature = "observers", target_os = "linux"))]
pub mod observed;
pub mod ports;
pub mod presets;
pub mod proc;
pub mod sdk_app;
pub mod spans;
