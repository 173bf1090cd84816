//! The remote-write protobuf messages: `proto/remote.rs`, generated from
//! `proto/remote.proto` by `scripts/regen-proto` (prost-build) and checked in, so that a
//! build needs no code generator.
//!
//! Crate-private: the public API speaks in `crate::receiver`'s types, and the sender
//! writes these messages by hand (see `write_request`); the decoder and the unit tests
//! read them. `build.rs` fails the build when the schema and this code disagree.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

include!("../../proto/remote.rs");
