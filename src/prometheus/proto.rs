//! The remote-write protobuf messages: `proto/remote.rs` (1.0) and, in [`v2`],
//! `proto/remote_v2.rs` (2.0), generated from `proto/remote.proto` and
//! `proto/remote_v2.proto` by `scripts/regen-proto` (prost-build) and checked in, so that
//! a build needs no code generator.
//!
//! Crate-private: the public API speaks in `crate::receiver`'s types, and the sender
//! writes these messages by hand (see `write_request`); the decoder and the unit tests
//! read them. `build.rs` fails the build when the schema and this code disagree.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

include!("../../proto/remote.rs");

/// Remote write 2.0 (`io.prometheus.write.v2`).
pub(crate) mod v2 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]

    include!("../../proto/remote_v2.rs");
}
