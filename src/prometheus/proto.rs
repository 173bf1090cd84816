//! The remote-write protobuf messages, generated from `proto/remote.proto` by `build.rs`.
//!
//! Hidden from the docs: the public API speaks in `crate::receiver` / [`crate::prometheus::decode`] types, and the
//! sender writes these messages by hand (see [`crate::prometheus::encode`]). The
//! generated types stay reachable for tests and for anyone who wants the raw messages.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

include!(concat!(env!("OUT_DIR"), "/prometheus.rs"));
