//! The HTTP sender: turns an encoded, snappy-compressed `WriteRequest` into one POST.
//!
//! - [`secret`]: the [`Secret`] wrapper that keeps tokens out of logs and `Debug` output.
//! - [`config`]: what a user configures ([`TransportConfig`]) and its validation.
//! - [`http`]: the [`HttpSender`] that POSTs a body and classifies the answer.
//!
//! Retry, backoff and queueing live above this module: a send is one attempt.

// Nothing outside the module calls in yet; the pipeline wires it in a later merge.

pub(crate) mod config;
pub(crate) mod http;
pub(crate) mod secret;

pub(crate) use config::{TransportConfig, ValidatedTransport};
pub(crate) use http::{Failure, FailureKind, HttpSender, SendOutcome};
pub(crate) use secret::Secret;

#[cfg(test)]
mod test_server;
