//! The HTTP sender: turns an encoded body into one POST to one destination.
//!
//! - [`secret`]: the [`Secret`] wrapper that keeps tokens out of logs and `Debug` output.
//! - [`protocol`]: the wire protocols ([`Protocol`]) and their headers and statuses.
//! - [`config`]: what a user configures ([`TransportConfig`], [`config::Auth`]) and its
//!   validation.
//! - [`http`]: the [`HttpSender`] that POSTs a body and classifies the answer.
//! - [`scrub`]: the [`Scrubber`](scrub::Scrubber) that takes the destination's own
//!   credentials out of answer texts before they reach an error or a log line.
//! - [`tls`]: the TLS options (CAs, client certificate, server name), their PEM files
//!   read and checked, and the rustls configuration.
//! - [`proxy`]: which proxy a destination uses (`with_proxy`, or the environment's,
//!   never for loopback).
//! - [`clients`]: one HTTP client per distinct TLS and proxy setting, shared, and rebuilt
//!   when its certificate files change.
//! - [`handshake`]: a failed TLS handshake explained by its cause and the option that
//!   fixes it.
//! - leaves every other file may use: [`url`] (the URLs a user gives, parsed and shown
//!   without credentials), [`headers`] (which headers carry credentials), `error_chain`
//!   (an error with its causes).
//!
//! Retry, backoff and queueing live above this module: a send is one attempt.

pub(crate) mod clients;
pub(crate) mod config;
mod error_chain;
pub(crate) mod handshake;
pub(crate) mod headers;
pub(crate) mod http;
pub(crate) mod protocol;
pub(crate) mod proxy;
pub(crate) mod scrub;
pub(crate) mod secret;
pub(crate) mod tls;
pub(crate) mod url;

pub(crate) use config::{Auth, TransportConfig, ValidatedTransport};
pub(crate) use http::{Failure, FailureKind, HttpSender, SendOutcome, Written};
pub use protocol::Protocol;
pub(crate) use secret::Secret;

#[cfg(test)]
mod test_tls;
