//! The seam between the push task and the network: one attempt to deliver one body.
//!
//! The task sees only [`Deliver`]; [`HttpSender`] is the real one, and the unit tests
//! script their own to drive retries, refusals and deadlines on tokio's paused clock.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use crate::transport::{HttpSender, Protocol, SendOutcome};

/// A send in progress.
pub(crate) type Sending = Pin<Box<dyn Future<Output = SendOutcome> + Send>>;

/// Makes one attempt to deliver `body`, which is in `protocol` (the destination's, or
/// its fallback's); never retries (the task does).
pub(crate) trait Deliver: Send + Sync {
    fn send(&self, body: Bytes, protocol: Protocol) -> Sending;
}

impl Deliver for HttpSender {
    fn send(&self, body: Bytes, protocol: Protocol) -> Sending {
        let sender = self.clone();
        Box::pin(async move { HttpSender::send_as(&sender, body, protocol).await })
    }
}
