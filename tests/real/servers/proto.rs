//! The remote-write protobuf messages, from the code generated beside their schema
//! (the crate keeps its copy private): for requests written by hand.
#![allow(missing_docs, dead_code, clippy::all)]

include!("../../../proto/remote.rs");
