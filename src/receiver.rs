//! A small Prometheus remote-write receiver: a quickstart sink and a test double.
//!
//! [`Receiver::bind`] listens on `127.0.0.1` on a free port, decodes every POST
//! (snappy block + `prometheus.WriteRequest`, or with `Content-Type: application/json` a
//! JSON custom-metrics body, see [`decode_custom_metrics`]) and queues it, with its
//! headers, for [`Receiver::recv`]. It answers `204 No Content` (`202 Accepted` for
//! JSON, as Unleash does), or `400 Bad Request` with a short reason when the body does
//! not decode; tests can script other answers with [`Receiver::reply_next`] to exercise
//! retries, and refuse every request that holds a chosen series with
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
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::prometheus::naming::write_float;
use crate::prometheus::translate::MetricType;
use crate::{Error, Protocol};

/// The largest request body accepted, compressed (bigger ones get `413`).
pub const MAX_BODY_BYTES: usize = 32 << 20;
/// The largest request accepted after snappy decompression (bigger ones get `400`).
/// Decoded messages take several times their wire size in memory, so this stays well
/// above what senders use (Prometheus sends about 2000 samples, well under 1 MiB) and
/// well below what a hostile body could inflate into.
pub const MAX_DECODED_BYTES: usize = 32 << 20;

/// One series as received: name, labels in the order sent, samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The `__name__` label (empty if the sender left it out).
    pub name: String,
    /// Every other label, `(name, value)`, in the order sent: a conforming sender sorts
    /// them by name.
    pub labels: Vec<(String, String)>,
    /// The samples, in the order sent.
    pub samples: Vec<Sample>,
}

impl Series {
    /// The value of label `name` (`__name__` included).
    pub fn label(&self, name: &str) -> Option<&str> {
        if name == "__name__" {
            return Some(&self.name);
        }
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of the last sample.
    pub fn value(&self) -> Option<f64> {
        self.samples.last().map(|s| s.value)
    }
}

/// Prints one line per sample: `name{a="b",c="d"} value timestamp_ms`, as the
/// Prometheus text format does (label values escaped, floats as Go writes them).
impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut head = String::with_capacity(64);
        head.push_str(&self.name);
        if !self.labels.is_empty() {
            head.push('{');
            for (i, (name, value)) in self.labels.iter().enumerate() {
                if i > 0 {
                    head.push(',');
                }
                head.push_str(name);
                head.push_str("=\"");
                for c in value.chars() {
                    match c {
                        '\\' => head.push_str("\\\\"),
                        '"' => head.push_str("\\\""),
                        '\n' => head.push_str("\\n"),
                        c => head.push(c),
                    }
                }
                head.push('"');
            }
            head.push('}');
        }
        if self.samples.is_empty() {
            return f.write_str(&head);
        }
        for (i, sample) in self.samples.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            let mut value = String::new();
            write_float(&mut value, sample.value);
            write!(f, "{head} {value} {}", sample.timestamp_ms)?;
        }
        Ok(())
    }
}

/// One sample of a received series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The value (compare NaNs with `f64::is_nan`, stale markers by their bits).
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// Type, help and unit of one metric family, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The family's type.
    pub kind: MetricType,
    /// The family name.
    pub family: String,
    /// The help text.
    pub help: String,
    /// The unit.
    pub unit: String,
}

/// A decoded remote-write request body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WriteRequest {
    /// The series, in the order sent.
    pub series: Vec<Series>,
    /// The metric family metadata, in the order sent.
    pub metadata: Vec<Metadata>,
}

impl WriteRequest {
    /// The first series called `name`.
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name == name)
    }
}

/// Decodes a remote-write body (snappy block-compressed `prometheus.WriteRequest`).
///
/// # Errors
/// [`Error::Decode`] when the body is not snappy, not the protobuf message, or
/// decompresses to more than [`MAX_DECODED_BYTES`].
pub fn decode(body: &[u8]) -> Result<WriteRequest, Error> {
    let request = crate::prometheus::encode::decode(body, MAX_DECODED_BYTES)?;
    let series = request
        .timeseries
        .into_iter()
        .map(|ts| {
            let mut name = String::new();
            let mut labels = Vec::with_capacity(ts.labels.len().saturating_sub(1));
            for label in ts.labels {
                if label.name == "__name__" {
                    name = label.value;
                } else {
                    labels.push((label.name, label.value));
                }
            }
            let samples = ts
                .samples
                .into_iter()
                .map(|s| Sample {
                    value: s.value,
                    timestamp_ms: s.timestamp,
                })
                .collect();
            Series {
                name,
                labels,
                samples,
            }
        })
        .collect();
    let metadata = request
        .metadata
        .into_iter()
        .map(|m| Metadata {
            kind: MetricType::from_proto_value(m.r#type),
            family: m.metric_family_name,
            help: m.help,
            unit: m.unit,
        })
        .collect();
    Ok(WriteRequest { series, metadata })
}

/// Decodes a JSON custom-metrics body, `{"metrics":[{"name":…,"value":…,"labels":{…}}]}`
/// (see [`Protocol::CustomMetricsJson`]), into one series per entry. The format has no
/// timestamps: each sample's `timestamp_ms` is 0. Label values must be strings, as
/// the sender writes them.
///
/// ```
/// let body = br#"{"metrics":[{"name":"up","value":1,"labels":{"job":"a"}}]}"#;
/// let request = prompush::receiver::decode_custom_metrics(body)?;
/// assert_eq!(request.series[0].to_string(), "up{job=\"a\"} 1 0");
/// # Ok::<(), prompush::Error>(())
/// ```
///
/// # Errors
/// [`Error::Decode`] when the body is not such a document.
pub fn decode_custom_metrics(body: &[u8]) -> Result<WriteRequest, Error> {
    let bad = |what: String| Error::Decode(format!("custom-metrics JSON: {what}"));
    let document: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let entries = document
        .get("metrics")
        .and_then(|m| m.as_array())
        .ok_or_else(|| bad("no \"metrics\" array".into()))?;
    let mut series = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let name = entry
            .get("name")
            .and_then(|n| n.as_str())
            .ok_or_else(|| bad(format!("metrics[{i}].name is not a string")))?;
        let value = entry
            .get("value")
            .and_then(|v| v.as_f64())
            .ok_or_else(|| bad(format!("metrics[{i}].value is not a number")))?;
        let mut labels = Vec::new();
        if let Some(map) = entry.get("labels") {
            let map = map
                .as_object()
                .ok_or_else(|| bad(format!("metrics[{i}].labels is not an object")))?;
            for (k, v) in map {
                let v = v
                    .as_str()
                    .ok_or_else(|| bad(format!("metrics[{i}].labels.{k} is not a string")))?;
                labels.push((k.clone(), v.to_owned()));
            }
        }
        series.push(Series {
            name: name.to_owned(),
            labels,
            samples: vec![Sample {
                value,
                timestamp_ms: 0,
            }],
        });
    }
    Ok(WriteRequest {
        series,
        metadata: Vec::new(),
    })
}

/// Request headers, names lower-case, in the order received. `Debug` hides the values
/// of credential headers.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

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
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The token of an `Authorization: Bearer <token>` header.
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.get("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }

    /// All `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// One request the receiver decoded, whatever it answered (see [`Received::status`]).
#[derive(Debug, Clone)]
pub struct Received {
    /// The request headers.
    pub headers: Headers,
    /// The request path (`/api/v1/write` when sent to [`Receiver::url`]).
    pub path: String,
    /// The decoded body.
    pub request: WriteRequest,
    /// How the body was encoded: [`Protocol::CustomMetricsJson`] when it came with
    /// `Content-Type: application/json`, else [`Protocol::RemoteWrite`].
    pub protocol: Protocol,
    /// The sender's address: requests on one kept-alive connection share it.
    pub peer: SocketAddr,
    /// The status code the receiver answered with: 204 or 202, a scripted one
    /// ([`Receiver::reply_next`]) or a refusal's ([`Receiver::refuse_series_where`]).
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

/// A scripted answer for [`Receiver::reply_next`] and [`Receiver::refuse_series_where`].
///
/// ```
/// use prompush::receiver::Reply;
/// let throttled = Reply::status(429).header("Retry-After", "1").body("slow down");
/// # let _ = throttled;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    /// Answer with this status code (an invalid code is answered as 500).
    pub fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// Adds a response header (one that is not valid HTTP is left out).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the response body.
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }
}

/// Which series a [`Receiver::refuse_series_where`] rule refuses.
type SeriesPredicate = Box<dyn Fn(&Series) -> bool + Send + Sync>;

/// A standing rule: a request holding a series that `matches` is answered `reply`.
struct Refusal {
    matches: SeriesPredicate,
    reply: Reply,
}

/// State shared by the accept loop and every connection.
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    refusals: Mutex<Vec<Refusal>>,
    tx: mpsc::UnboundedSender<Received>,
}

impl Shared {
    /// The answer for a decoded request other than the usual success: the next scripted
    /// reply, else the first refusal rule that one of its series matches.
    fn reply_for(&self, request: &WriteRequest) -> Option<Reply> {
        if let Some(reply) = self.script.lock().pop_front() {
            return Some(reply);
        }
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
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to push to: `http://<addr>/api/v1/write` (any path is accepted).
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

    /// Answers the next `n` decodable requests with `reply` instead of `204`, after the
    /// replies already scripted. The requests are still decoded and handed to
    /// [`recv`](Self::recv), with [`Received::status`] telling what they got.
    pub fn reply_next(&self, n: usize, reply: Reply) {
        let mut script = self.shared.script.lock();
        script.extend(std::iter::repeat_n(reply, n));
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
        matches: impl Fn(&Series) -> bool + Send + Sync + 'static,
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
    let protocol = match headers.get("content-type") {
        Some(t) if t.starts_with("application/json") => Protocol::CustomMetricsJson,
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
        Protocol::CustomMetricsJson => (decode_custom_metrics(&body), StatusCode::ACCEPTED),
        _ => (decode(&body), StatusCode::NO_CONTENT),
    };
    let request = match decoded {
        Ok(request) => request,
        Err(error) => return Ok(plain(StatusCode::BAD_REQUEST, &format!("{error}\n"))),
    };
    let response = match shared.reply_for(&request) {
        None => plain(success, ""),
        Some(reply) => scripted(&reply),
    };
    // A dropped Receiver only means nobody listens any more: still answer.
    let _ = shared.tx.send(Received {
        headers,
        path,
        request,
        protocol,
        peer,
        status: response.status().as_u16(),
        received_at: std::time::Instant::now(),
    });
    Ok(response)
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
mod tests {
    use super::*;

    #[test]
    fn display_escapes_and_formats() {
        let series = Series {
            name: "up".into(),
            labels: vec![("a".into(), "x\"y\\z\n".into()), ("job".into(), "j".into())],
            samples: vec![
                Sample {
                    value: 1.0,
                    timestamp_ms: 5,
                },
                Sample {
                    value: f64::NAN,
                    timestamp_ms: 6,
                },
            ],
        };
        assert_eq!(
            series.to_string(),
            "up{a=\"x\\\"y\\\\z\\n\",job=\"j\"} 1 5\nup{a=\"x\\\"y\\\\z\\n\",job=\"j\"} NaN 6"
        );
        let bare = Series {
            name: "x".into(),
            labels: vec![],
            samples: vec![],
        };
        assert_eq!(bare.to_string(), "x");
    }

    /// A snappy-compressed request with one single-sample series per label set.
    fn body(series: &[&[(&str, &str)]]) -> Vec<u8> {
        use crate::prometheus::proto;
        use prost::Message as _;
        let request = proto::WriteRequest {
            timeseries: series
                .iter()
                .map(|labels| proto::TimeSeries {
                    labels: labels
                        .iter()
                        .map(|(name, value)| proto::Label {
                            name: (*name).into(),
                            value: (*value).into(),
                        })
                        .collect(),
                    samples: vec![proto::Sample {
                        value: 1.0,
                        timestamp: 1,
                    }],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .expect("compresses")
    }

    /// POSTs `body` and returns the status and the response body.
    async fn post(receiver: &Receiver, body: Vec<u8>) -> (u16, String) {
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .post(receiver.url())
            .header("Content-Encoding", "snappy")
            .body(body)
            .send()
            .await
            .expect("loopback POST");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_refusal_rule_refuses_exactly_the_requests_holding_a_matching_series() {
        let mut receiver = Receiver::bind().await.expect("binds");
        receiver.refuse_series_where(
            |s| s.name == "up" && s.label("route") == Some("/bad"),
            Reply::status(400).body("out of order sample"),
        );
        let bad: &[(&str, &str)] = &[("__name__", "up"), ("route", "/bad")];
        let good: &[(&str, &str)] = &[("__name__", "up"), ("route", "/good")];
        let other_name: &[(&str, &str)] = &[("__name__", "down"), ("route", "/bad")];

        assert_eq!(
            post(&receiver, body(&[good, bad, other_name])).await,
            (400, "out of order sample".to_owned())
        );
        assert_eq!(post(&receiver, body(&[good, other_name])).await.0, 204);
        assert_eq!(post(&receiver, body(&[bad])).await.0, 400);

        // Every request is handed over, refused ones with their status.
        let statuses: Vec<(u16, bool, usize)> = [(); 3]
            .iter()
            .map(|_| receiver.try_recv().expect("delivered"))
            .map(|r| (r.status, r.is_accepted(), r.request.series.len()))
            .collect();
        assert_eq!(
            statuses,
            vec![(400, false, 3), (204, true, 2), (400, false, 1)]
        );

        receiver.clear_refusals();
        assert_eq!(post(&receiver, body(&[bad])).await.0, 204);
        assert!(receiver
            .recv_timeout(WAIT)
            .await
            .expect("delivered")
            .is_accepted());
    }

    #[tokio::test]
    async fn scripted_replies_come_before_refusal_rules_and_the_first_matching_rule_answers() {
        let mut receiver = Receiver::bind().await.expect("binds");
        let a: &[(&str, &str)] = &[("__name__", "a")];
        let b: &[(&str, &str)] = &[("__name__", "b")];
        receiver.refuse_series_where(|s| s.name == "a", Reply::status(400).body("rule a"));
        receiver.refuse_series_where(|_| true, Reply::status(422).body("rule any"));
        receiver.reply_next(1, Reply::status(503).body("scripted"));

        assert_eq!(post(&receiver, body(&[a])).await, (503, "scripted".into()));
        assert_eq!(post(&receiver, body(&[b, a])).await, (400, "rule a".into()));
        assert_eq!(post(&receiver, body(&[b])).await, (422, "rule any".into()));
        let statuses: Vec<u16> = [(); 3]
            .iter()
            .map(|_| receiver.try_recv().expect("delivered").status)
            .collect();
        assert_eq!(statuses, vec![503, 400, 422]);

        receiver.clear_refusals();
        assert_eq!(post(&receiver, body(&[a, b])).await.0, 204);
    }

    #[test]
    fn headers_lookup() {
        let h = Headers(vec![("authorization".into(), "Bearer  s3cret ".into())]);
        assert_eq!(h.get("Authorization"), Some("Bearer  s3cret "));
        assert_eq!(h.bearer_token(), Some("s3cret"));
        assert_eq!(Headers::default().bearer_token(), None);
    }
}
