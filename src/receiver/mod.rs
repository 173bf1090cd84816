//! A small Prometheus remote-write receiver: a quickstart sink and a test double.
//!
//! [`Receiver::bind`] listens on `127.0.0.1` on a free port, decodes every POST
//! (snappy block + `prometheus.WriteRequest`; with
//! `Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request` remote
//! write 2.0, see [`decode_v2`]; with `Content-Type: application/json` a JSON
//! custom-metrics body, see [`decode_custom_metrics`]) and queues it, with its headers
//! and raw body, for [`Receiver::recv`]. It answers `204 No Content` (with 2.0's
//! written-count headers for a 2.0 body, as Prometheus 3 does; `202 Accepted` for
//! JSON, as Unleash does; [`Receiver::with_remote_write_v2`] makes it a 1.0-only
//! receiver), or `400 Bad Request` with a short reason when
//! the body does not decode (that request is queued too, with
//! [`Received::decode_error`]); tests can script other answers, or none at all
//! ([`Reply::hang`]), with [`Receiver::reply_next`] to exercise retries and timeouts,
//! and refuse every request that holds a chosen series with
//! [`Receiver::refuse_series_where`], as Prometheus refuses a whole request for one
//! out-of-order sample. Refused requests are handed to [`Receiver::recv`] too, with the
//! status they got.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let mut receiver = prompush::receiver::Receiver::bind().await?;
//! println!("push to {}", receiver.url());
//! while let Some(received) = receiver.recv().await {
//!     for series in &received.request.series {
//!         println!("{series}");
//!     }
//! }
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::sync::Mutex;
use crate::Protocol;

mod exchange;

pub use crate::prometheus::decode::{
    decode, decode_custom_metrics, decode_v2, NativeHistogram, ReceivedExemplar, ReceivedMetadata,
    ReceivedSample, ReceivedSeries, WriteRequest, MAX_DECODED_BYTES,
};
pub use crate::prometheus::stale::{is_stale_marker, STALE_NAN_BITS};
pub use crate::prometheus::translate::MetricType;
pub use exchange::{Headers, Received, RemoteWriteV2, Reply};

/// The largest request body accepted, compressed (bigger ones get `413`).
pub const MAX_BODY_BYTES: usize = 32 << 20;
/// Which series a [`Receiver::refuse_series_where`] rule refuses.
type SeriesPredicate = Box<dyn Fn(&ReceivedSeries) -> bool + Send + Sync>;

/// A standing rule: a request holding a series that `matches` is answered `reply`.
struct Refusal {
    matches: SeriesPredicate,
    reply: Reply,
}

/// State shared by the accept loop and every connection.
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    refusals: Mutex<Vec<Refusal>>,
    /// How long every answer waits (a slow endpoint).
    delay: Mutex<Duration>,
    /// What it does with remote-write 2.0 bodies.
    v2: Mutex<RemoteWriteV2>,
    tx: mpsc::UnboundedSender<Received>,
}

impl Shared {
    /// The answer of the first refusal rule that one of the request's series matches.
    fn refusal_for(&self, request: &WriteRequest) -> Option<Reply> {
        self.refusals
            .lock()
            .iter()
            .find(|rule| request.series.iter().any(|s| (rule.matches)(s)))
            .map(|rule| rule.reply.clone())
    }
}

/// A running remote-write receiver. Dropping it stops accepting connections.
///
/// Accepted requests queue without bound until [`recv`](Self::recv)ed: it is meant for
/// tests and quick inspection, not for production traffic.
pub struct Receiver {
    addr: SocketAddr,
    rx: mpsc::UnboundedReceiver<Received>,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// Listens on `127.0.0.1` on a port the OS picks. Must be called inside a Tokio
    /// runtime (the server runs as tasks on it).
    ///
    /// # Errors
    /// When the socket cannot be bound.
    pub async fn bind() -> std::io::Result<Self> {
        Self::bind_to(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Listens on `addr` (port 0 picks a free one). Must be called inside a Tokio
    /// runtime.
    ///
    /// # Errors
    /// When the socket cannot be bound (address in use, say).
    pub async fn bind_to(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self::serve(listener, &tokio::runtime::Handle::current()))
    }

    /// Listens on `127.0.0.1` on a free port without needing a Tokio runtime: the
    /// server runs on prompush's own background thread. For synchronous programs and
    /// tests; read with [`recv_blocking`](Self::recv_blocking).
    ///
    /// ```
    /// let receiver = prompush::receiver::Receiver::start()?;
    /// assert!(receiver.url().starts_with("http://127.0.0.1:"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// When the socket cannot be bound or the background thread cannot start.
    pub fn start() -> std::io::Result<Self> {
        let handle = crate::runtime::handle().map_err(std::io::Error::other)?;
        let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        listener.set_nonblocking(true)?;
        let listener = {
            let _runtime = handle.enter();
            TcpListener::from_std(listener)?
        };
        Ok(Self::serve(listener, &handle))
    }

    fn serve(listener: TcpListener, runtime: &tokio::runtime::Handle) -> Self {
        // An unbound listener has an address; fall back to the unspecified one rather
        // than fail on an OS that cannot say.
        let addr = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            refusals: Mutex::new(Vec::new()),
            delay: Mutex::new(Duration::ZERO),
            v2: Mutex::new(RemoteWriteV2::Accepted),
            tx,
        });
        let accept = runtime.spawn(accept_loop(listener, shared.clone()));
        Self {
            addr,
            rx,
            shared,
            accept,
        }
    }

    /// The next accepted request, waiting at most `timeout`, from synchronous code.
    /// Returns `None` on timeout. Must not be called from inside an async runtime
    /// (use [`recv_timeout`](Self::recv_timeout) there).
    pub fn recv_blocking(&mut self, timeout: Duration) -> Option<Received> {
        let handle = crate::runtime::handle().ok()?;
        handle.block_on(self.recv_timeout(timeout))
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to push to: `http://<addr>/api/v1/write` (any path is accepted).
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// The next accepted request; `None` only if the server stopped.
    pub async fn recv(&mut self) -> Option<Received> {
        self.rx.recv().await
    }

    /// The next accepted request, or `None` if none arrives within `timeout`.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Option<Received> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// An already accepted request, without waiting.
    pub fn try_recv(&mut self) -> Option<Received> {
        self.rx.try_recv().ok()
    }

    /// Answers the next `n` requests with `reply` instead of `204`, after the replies
    /// already scripted, whether their bodies decode or not. The requests are still
    /// decoded and handed to [`recv`](Self::recv), with [`Received::status`] telling what
    /// they got.
    pub fn reply_next(&self, n: usize, reply: Reply) {
        let mut script = self.shared.script.lock();
        script.extend(std::iter::repeat_n(reply, n));
    }

    /// Answers every request `delay` after reading it, from now on, as a slow or far
    /// endpoint does (each request on its own: many may wait at once);
    /// `Duration::ZERO` answers at once again. Requests are handed to
    /// [`recv`](Self::recv) when read, before the wait.
    pub fn answer_after(&self, delay: Duration) {
        *self.shared.delay.lock() = delay;
    }

    /// What the receiver does with remote-write 2.0 bodies from now on: take them
    /// ([`RemoteWriteV2::Accepted`], the default), or act as a receiver that takes only
    /// 1.0, one way or the other (see [`RemoteWriteV2`]). Scripted replies and refusal
    /// rules still come first.
    ///
    /// ```
    /// use prompush::receiver::{Receiver, RemoteWriteV2};
    ///
    /// let receiver = Receiver::start()?;
    /// // As Prometheus 2 and VictoriaMetrics: a 2.0 body read as an empty 1.0 request.
    /// receiver.with_remote_write_v2(RemoteWriteV2::ReadAsV1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_remote_write_v2(&self, v2: RemoteWriteV2) {
        *self.shared.v2.lock() = v2;
    }

    /// Drops all scripted replies: answers are `204` again (unless a refusal rule
    /// applies).
    pub fn clear_replies(&self) {
        self.shared.script.lock().clear();
    }

    /// Answers `reply` to every decodable request that holds at least one series for
    /// which `matches` is true, until [`clear_refusals`](Self::clear_refusals); other
    /// requests are answered as usual. This is how Prometheus treats one sample it
    /// cannot take (out of order, a duplicate timestamp): it refuses the whole request,
    /// with `400` and a message. Refused requests are still decoded and handed to
    /// [`recv`](Self::recv), with [`Received::status`] telling what they got, so a test
    /// can count every attempt.
    ///
    /// Rules are checked in the order added; the first that matches answers. Scripted
    /// replies ([`reply_next`](Self::reply_next)) come first: a request that takes one
    /// is not checked against the rules. `matches` runs on the receiver's tasks, once
    /// per series until one matches: keep it quick.
    ///
    /// ```
    /// use std::time::Duration;
    /// use opentelemetry::KeyValue;
    /// use prompush::receiver::{Receiver, Reply};
    ///
    /// let mut receiver = Receiver::start()?;
    /// receiver.refuse_series_where(
    ///     |series| series.label("route") == Some("/old"),
    ///     Reply::status(400).body("out of order sample"),
    /// );
    /// let provider = prompush::MeterProvider::builder()
    ///     .with_endpoint(receiver.url())
    ///     .with_self_metrics(false)
    ///     .build()?;
    /// let requests = provider.meter("app").u64_counter("requests").build();
    /// requests.add(1, &[KeyValue::new("route", "/old")]);
    ///
    /// let error = provider.force_flush().unwrap_err();
    /// assert!(error.to_string().contains("out of order sample"), "{error}");
    /// let refused = receiver.recv_blocking(Duration::from_secs(5)).unwrap();
    /// assert_eq!(refused.status, 400);
    /// assert!(!refused.is_accepted());
    ///
    /// receiver.clear_refusals();
    /// provider.shutdown()?; // the final push is accepted
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn refuse_series_where(
        &self,
        matches: impl Fn(&ReceivedSeries) -> bool + Send + Sync + 'static,
        reply: Reply,
    ) {
        self.shared.refusals.lock().push(Refusal {
            matches: Box::new(matches),
            reply,
        });
    }

    /// Drops every [`refuse_series_where`](Self::refuse_series_where) rule: requests
    /// are accepted again (unless a scripted reply is pending).
    pub fn clear_refusals(&self) {
        self.shared.refusals.lock().clear();
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Stops accepting and closes every open connection.
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Connections live in this set: when the receiver is dropped and this task aborted,
    // they are aborted with it, so a stopped receiver really is gone (tests of outages
    // rely on it), keep-alive connections included.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::debug!(%error, "receiver accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // Reap finished connections so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = stream;
        let shared = shared.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(shared.clone(), peer, req));
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = conn.await {
                tracing::debug!(%error, "receiver connection ended with an error");
            }
        });
    }
}

type Response = hyper::Response<Full<Bytes>>;

async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
) -> Result<Response, Infallible> {
    if req.method() != Method::POST {
        return Ok(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "remote write takes POST\n",
        ));
    }
    let headers = Headers(
        req.headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    );
    let path = req.uri().path().to_owned();
    let v2_support = *shared.v2.lock();
    let protocol = match headers.get("content-type") {
        Some(t) if t.starts_with("application/json") => Protocol::UnleashJson,
        Some(t) if is_v2_content_type(t) && v2_support != RemoteWriteV2::ReadAsV1 => {
            Protocol::RemoteWriteV2
        }
        _ => Protocol::RemoteWrite,
    };
    let body = match Limited::new(req.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return Ok(plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body over the receiver's size limit\n",
            ));
        }
        Err(error) => {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                &format!("cannot read body: {error}\n"),
            ))
        }
    };
    let (decoded, success) = match protocol {
        Protocol::UnleashJson => (decode_custom_metrics(&body), StatusCode::ACCEPTED),
        Protocol::RemoteWriteV2 => (decode_v2(&body), StatusCode::NO_CONTENT),
        _ => (decode(&body), StatusCode::NO_CONTENT),
    };
    // A scripted reply answers any request; refusal rules look at decoded series.
    let scripted_reply = shared.script.lock().pop_front();
    let (request, decode_error) = match decoded {
        Ok(request) => (request, None),
        Err(error) => (WriteRequest::default(), Some(error.to_string())),
    };
    let reply = scripted_reply.or_else(|| shared.refusal_for(&request));
    let refuse_v2 = protocol == Protocol::RemoteWriteV2 && v2_support == RemoteWriteV2::Refused;
    let response = match (&reply, &decode_error) {
        (Some(reply), _) => scripted(reply),
        (None, _) if refuse_v2 => plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "remote write 2.0 is not accepted here; send prometheus.WriteRequest\n",
        ),
        (None, Some(error)) => plain(StatusCode::BAD_REQUEST, &format!("{error}\n")),
        (None, None) if protocol == Protocol::RemoteWriteV2 => {
            written_counts(plain(success, ""), &request)
        }
        (None, None) => plain(success, ""),
    };
    // Handed over before the answer is written, so once a sender's call returns, every
    // request it made is there. A dropped Receiver only means nobody listens any more.
    let _ = shared.tx.send(Received {
        headers,
        path,
        request,
        decode_error,
        body,
        protocol,
        peer,
        status: response.status().as_u16(),
        received_at: std::time::Instant::now(),
    });
    let delay = *shared.delay.lock();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if reply.is_some_and(|reply| reply.hang) {
        // Dropping the receiver aborts this connection's task.
        std::future::pending::<()>().await;
    }
    Ok(response)
}

/// Whether a `Content-Type` names remote write 2.0's message (its `proto` parameter).
fn is_v2_content_type(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    parts
        .next()
        .is_some_and(|t| t.eq_ignore_ascii_case("application/x-protobuf"))
        && parts.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("proto")
                    && v.trim().trim_matches('"') == "io.prometheus.write.v2.Request"
            })
        })
}

/// `response` with remote write 2.0's written-count headers for `request`, as
/// Prometheus 3 answers.
fn written_counts(mut response: Response, request: &WriteRequest) -> Response {
    let count = |f: fn(&ReceivedSeries) -> usize| request.series.iter().map(f).sum::<usize>();
    let counts = [
        (
            crate::transport::Written::SAMPLES,
            count(|s| s.samples.len()),
        ),
        (
            crate::transport::Written::HISTOGRAMS,
            count(|s| s.histograms.len()),
        ),
        (
            crate::transport::Written::EXEMPLARS,
            count(|s| s.exemplars.len()),
        ),
    ];
    for (name, n) in counts {
        response.headers_mut().insert(
            hyper::header::HeaderName::from_static(name),
            hyper::header::HeaderValue::from(n),
        );
    }
    response
}

fn plain(status: StatusCode, body: &str) -> Response {
    let mut response = hyper::Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *response.status_mut() = status;
    response
}

fn scripted(reply: &Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = plain(status, &reply.body);
    for (name, value) in &reply.headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests;
