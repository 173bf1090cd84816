//! What one request and its answer are, as a test sees them: the request's
//! [`Headers`], the [`Received`] request, and a scripted [`Reply`].

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;

use crate::prometheus::decode::WriteRequest;
use crate::Protocol;

/// Request headers, names lower-case, in the order received. `Debug` hides the values
/// of credential headers.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(pub(super) Vec<(String, String)>);

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, value)| {
                let secret = matches!(
                    name.as_str(),
                    "authorization" | "proxy-authorization" | "x-api-key" | "api-key"
                );
                (
                    name.as_str(),
                    if secret { "<redacted>" } else { value.as_str() },
                )
            }))
            .finish()
    }
}

impl Headers {
    /// The first value of header `name` (case-insensitive).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The token of an `Authorization: Bearer <token>` header.
    #[must_use]
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.get("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }

    /// All `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Every value of header `name` (case-insensitive), in the order received: a header
    /// sent twice shows up twice.
    #[must_use]
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// One request the receiver read, whatever it answered (see [`Received::status`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Received {
    /// The request headers.
    pub headers: Headers,
    /// The request path (`/api/v1/write` when sent to [`Receiver::url`](super::Receiver::url)).
    pub path: String,
    /// The decoded body; empty when it did not decode (see
    /// [`decode_error`](Self::decode_error)).
    pub request: WriteRequest,
    /// Why the body did not decode (it was answered `400` unless a reply was scripted).
    pub decode_error: Option<String>,
    /// The body as it arrived (compressed, for remote write).
    pub body: Bytes,
    /// How the body was encoded: [`Protocol::UnleashJson`] when it came with
    /// `Content-Type: application/json`, [`Protocol::RemoteWriteV2`] with remote write
    /// 2.0's (unless the receiver reads 2.0 as 1.0, see
    /// [`RemoteWriteV2::ReadAsV1`]), else [`Protocol::RemoteWrite`].
    pub protocol: Protocol,
    /// The sender's address: requests on one kept-alive connection share it.
    pub peer: SocketAddr,
    /// The status code the receiver answered with: 204 or 202, a scripted one
    /// ([`Receiver::reply_next`](super::Receiver::reply_next)) or a refusal's ([`Receiver::refuse_series_where`](super::Receiver::refuse_series_where)).
    pub status: u16,
    /// When the request arrived (its body fully read).
    pub received_at: std::time::Instant,
}

impl Received {
    /// Whether the receiver accepted the request (answered 2xx): what a real endpoint
    /// would have stored.
    pub fn is_accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A scripted answer for [`Receiver::reply_next`](super::Receiver::reply_next) and [`Receiver::refuse_series_where`](super::Receiver::refuse_series_where).
///
/// ```
/// use prompush::receiver::Reply;
/// let throttled = Reply::status(429).header("Retry-After", "1").body("slow down");
/// # let _ = throttled;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: String,
    /// Never answer (see [`Reply::hang`]).
    pub(super) hang: bool,
}

impl Reply {
    /// Answer with this status code (an invalid code is answered as 500).
    #[must_use]
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
            hang: false,
        }
    }

    /// Never answer: the request is handed to [`recv`](super::Receiver::recv) and its
    /// connection stays open, silent, until the receiver is dropped. For timeout tests.
    #[must_use]
    pub fn hang() -> Self {
        Self {
            hang: true,
            ..Self::status(504)
        }
    }

    /// Adds a response header (one that is not valid HTTP is left out).
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the response body.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }
}

/// What a [`Receiver`](super::Receiver) does with remote-write 2.0 bodies (see
/// [`Receiver::with_remote_write_v2`](super::Receiver::with_remote_write_v2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RemoteWriteV2 {
    /// Decodes them and answers `204` with the written-count headers
    /// (`X-Prometheus-Remote-Write-Samples-Written`, `-Histograms-Written`,
    /// `-Exemplars-Written`), as Prometheus 3 does.
    #[default]
    Accepted,
    /// Ignores the content type and reads every body as 1.0: a 2.0 body decodes as an
    /// empty request (its fields are unknown to 1.0) and is answered `204` without
    /// written counts, as Prometheus 2 and VictoriaMetrics 1.79 do.
    ReadAsV1,
    /// Answers `415 Unsupported Media Type` to 2.0 bodies, as Prometheus 3 does when
    /// it accepts only `prometheus.WriteRequest`.
    Refused,
}
