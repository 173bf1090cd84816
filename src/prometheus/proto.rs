//! The remote-write protobuf messages: `proto/remote.rs`, generated from
//! `proto/remote.proto` by `scripts/regen-proto` (prost-build) and checked in, so that a
//! build needs no code generator.
//!
//! Hidden from the docs: the public API speaks in `crate::receiver` / [`crate::prometheus::decode`] types, and the
//! sender writes these messages by hand (see [`crate::prometheus::encode`]). The
//! generated types stay reachable for tests and for anyone who wants the raw messages.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

include!("../../proto/remote.rs");
