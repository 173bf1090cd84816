//! One POST of an encoded body, and what the answer means for the caller.
//!
//! Senders whose TLS and proxy settings are equal share one `reqwest::Client` (rustls,
//! pooled connections, no redirects; see `clients.rs`): several providers and destinations
//! reuse connections and TLS sessions. A sender holds one destination's URL, headers and
//! timeout.
//! [`HttpSender::send`] makes exactly one attempt and sorts the result into
//! [`SendOutcome`]: success, retryable (5xx, 429, connection failure, timeout), too large
//! (413, for protocols whose bodies can be split) or permanent (any other answer).
//! Retrying is the caller's business; [`Failure::retry_after`] carries the server's
//! `Retry-After` hint. Every text that becomes a failure's detail passes through the
//! destination's [`Scrubber`] first: servers quote the credentials they refuse. A failed
//! TLS handshake is explained by its cause (see `handshake.rs`).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Response, StatusCode, Url};

use super::clients::{self, ClientKey, ServerNameRoute, SharedClient};
use super::error_chain::error_chain;
use super::handshake::{self, TlsProblem};
use super::scrub::Scrubber;
use super::url::{display_endpoint, redact_raw_url};
use super::{Protocol, ValidatedTransport};
use crate::Error;

/// `User-Agent` of every push.
pub(crate) const USER_AGENT: &str = concat!("prompush/", env!("CARGO_PKG_VERSION"));

/// How much of an error answer's body is kept for the message.
const BODY_PREFIX_LIMIT: usize = 1024;

/// How much of any answer's body is read (and dropped) so the connection can be reused
/// (more when the kept part needs more).
const DRAIN_LIMIT: usize = 64 * 1024;

/// Sends encoded bodies to one endpoint. Cloning is cheap; senders with equal TLS and
/// proxy settings share a connection pool.
#[derive(Clone)]
pub(crate) struct HttpSender {
    client: Arc<SharedClient>,
    /// The endpoint as configured, for messages.
    endpoint: Url,
    /// Where requests go: the endpoint, or with a server-name override the endpoint
    /// with that name as its host (the client resolves it to the real host).
    request_url: Url,
    headers: HeaderMap,
    /// The headers of the protocol's fallback (1.0 for 2.0), for bodies re-sent in it.
    fallback_headers: Option<HeaderMap>,
    timeout: Duration,
    protocol: Protocol,
    scrubber: Scrubber,
    /// Facts that messages mention.
    context: Arc<FailureContext>,
}

impl fmt::Debug for HttpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSender")
            .field("endpoint", &display_endpoint(&self.endpoint))
            .field("protocol", &self.protocol)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpSender {
    /// A sender for one destination. Fails only if the TLS backend cannot be set up.
    pub(crate) fn new(config: ValidatedTransport, protocol: Protocol) -> Result<Self, Error> {
        let route = server_name_route(&config.endpoint, config.tls.options.server_name.as_deref());
        let mut headers = HeaderMap::with_capacity(config.headers.len() + 4);
        // Extra headers first; validation guarantees they do not share a name with the
        // protocol headers, and `insert` below would replace them if they did.
        for (name, value) in &config.headers {
            headers.insert(name.clone(), value.clone());
        }
        set_protocol_headers(&mut headers, protocol);
        headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        // From the headers as sent, so every way of configuring a credential is covered.
        let scrubber = Scrubber::for_headers(&headers).with_secrets(config.proxy.secrets());
        let request_url = match &route {
            Some(route) => {
                // The Host header names the endpoint as configured; the URL, the server name.
                let host = config.endpoint.host_str().unwrap_or_default();
                let authority = match config.endpoint.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                };
                if let Ok(host) = HeaderValue::from_str(&authority) {
                    headers.insert(header::HOST, host);
                }
                routed_url(&config.endpoint, &route.server_name)
            }
            None => config.endpoint.clone(),
        };
        let context = FailureContext {
            insecure: config.tls.options.accept_invalid_certs,
            has_client_cert: config.tls.options.client_cert.is_some(),
            proxy: config.proxy.shown_for(&config.endpoint),
        };
        let key = ClientKey {
            tls: config.tls.options,
            proxy: config.proxy,
            route,
        };
        let fallback_headers = protocol.fallback().map(|fallback| {
            let mut headers = headers.clone();
            set_protocol_headers(&mut headers, fallback);
            headers
        });
        Ok(HttpSender {
            client: clients::shared(key, &config.tls.loaded)?,
            endpoint: config.endpoint,
            request_url,
            headers,
            fallback_headers,
            timeout: config.timeout,
            protocol,
            scrubber,
            context: Arc::new(context),
        })
    }

    /// The client this sender shares with others of equal settings.
    #[cfg(test)]
    pub(crate) fn shared_client(&self) -> &Arc<SharedClient> {
        &self.client
    }

    /// POSTs one encoded body and classifies the answer. One attempt; never panics.
    #[cfg(test)]
    pub(crate) async fn send(&self, body: impl Into<reqwest::Body>) -> SendOutcome {
        self.send_as(body, self.protocol).await
    }

    /// [`send`](Self::send) for a body in `protocol`: the destination's own, or its
    /// fallback (a 2.0 destination's requests re-sent as 1.0).
    pub(crate) async fn send_as(
        &self,
        body: impl Into<reqwest::Body>,
        protocol: Protocol,
    ) -> SendOutcome {
        let headers = match &self.fallback_headers {
            Some(fallback) if protocol != self.protocol => fallback,
            _ => &self.headers,
        };
        let result = self
            .client
            .current()
            .post(self.request_url.clone())
            .headers(headers.clone())
            .timeout(self.timeout)
            .body(body)
            .send()
            .await;
        match result {
            Ok(response) => self.classify(response).await,
            Err(error) => self.transport_failure(error),
        }
    }

    async fn classify(&self, response: Response) -> SendOutcome {
        let status = response.status();
        if status.is_success() {
            let written = Written::from_headers(response.headers());
            drain(response, 0).await;
            return SendOutcome::Success { status, written };
        }
        let retryable = status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS;
        let retry_after = if retryable {
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| parse_retry_after(v, SystemTime::now()))
        } else {
            None
        };
        // A redirect often repeats the original query (and any key in it): redacted.
        let location = response.headers().get(header::LOCATION).map(|v| {
            self.scrubber
                .scrub(&redact_raw_url(&String::from_utf8_lossy(v.as_bytes())))
        });
        // Read past the cut and scrub before cutting: a cut first could keep the head of
        // an echoed secret that scrubbing no longer recognises.
        let body = drain(response, BODY_PREFIX_LIMIT + self.scrubber.longest_echo()).await;
        let mut detail = self.scrubber.scrub_and_cut(&body, BODY_PREFIX_LIMIT);
        if self.protocol == Protocol::UnleashJson {
            // Decoding the JSON undoes one level of escaping; scrub what that reveals.
            detail = json_error_details(&detail)
                .map(|messages| self.scrubber.scrub(&messages))
                .unwrap_or(detail);
        }
        if status.is_redirection() {
            detail = format!(
                "redirect to {} not followed; configure the final URL as the endpoint",
                location.as_deref().unwrap_or("(no Location header)")
            );
        }
        let failure = Failure {
            endpoint: display_endpoint(&self.endpoint),
            kind: FailureKind::Status(status),
            retry_after,
            detail: self.context.annotate(detail),
        };
        if retryable {
            SendOutcome::Retryable(failure)
        } else if status == StatusCode::PAYLOAD_TOO_LARGE && self.protocol.splits_on_413() {
            SendOutcome::TooLarge(failure)
        } else {
            SendOutcome::Permanent(failure)
        }
    }

    fn transport_failure(&self, error: reqwest::Error) -> SendOutcome {
        // A builder error means the request itself cannot be made; retrying cannot help.
        // TLS problems are retried: rotated files or a renewed server certificate may
        // mend them, and the data waits in the queue meanwhile.
        let permanent = error.is_builder();
        let tls = handshake::diagnose(&error, self.context.has_client_cert);
        let (kind, detail) = match tls {
            Some((problem, detail)) => (FailureKind::Tls(problem), detail),
            None => {
                let (timeout, connect) = (error.is_timeout(), error.is_connect());
                // Without the URL: it is printed once, by `Failure`, minus any query string.
                let chain = error_chain(error.without_url());
                match (timeout, connect, &self.context.proxy) {
                    (true, _, _) => (FailureKind::Timeout(self.timeout), chain),
                    (_, true, Some(proxy)) => (
                        FailureKind::ProxyConnect,
                        format!("via proxy {proxy}: {chain}"),
                    ),
                    (_, true, None) => (FailureKind::Connect, chain),
                    _ => (FailureKind::Request, chain),
                }
            }
        };
        let failure = Failure {
            endpoint: display_endpoint(&self.endpoint),
            kind,
            retry_after: None,
            detail: self.context.annotate(self.scrubber.scrub(&detail)),
        };
        if permanent {
            SendOutcome::Permanent(failure)
        } else {
            SendOutcome::Retryable(failure)
        }
    }
}

/// What one push attempt came to.
#[derive(Debug)]
pub(crate) enum SendOutcome {
    /// The endpoint answered 2xx: the samples are stored.
    Success {
        /// The exact 2xx status.
        status: StatusCode,
        /// What the receiver says it wrote (remote write 2.0's headers); `None` when it
        /// sent none of them.
        written: Option<Written>,
    },
    /// Worth another attempt later: 5xx, 429, connection failure, timeout.
    Retryable(Failure),
    /// Sending the same body again cannot succeed: other 4xx, redirects, unusable request.
    Permanent(Failure),
    /// `413`, from a destination whose bodies can be split: send the data again in
    /// smaller requests.
    TooLarge(Failure),
}

/// The written-count headers of a remote-write 2.0 answer: how many samples,
/// histograms and exemplars the receiver stored, each `None` when not sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) samples: Option<u64>,
    pub(crate) histograms: Option<u64>,
    pub(crate) exemplars: Option<u64>,
}

impl Written {
    pub(crate) const SAMPLES: &'static str = "x-prometheus-remote-write-samples-written";
    pub(crate) const HISTOGRAMS: &'static str = "x-prometheus-remote-write-histograms-written";
    pub(crate) const EXEMPLARS: &'static str = "x-prometheus-remote-write-exemplars-written";

    /// The counts in `headers`; `None` when none of the three is there. A value that is
    /// not a number counts as absent.
    fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let read = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let written = Written {
            samples: read(Self::SAMPLES),
            histograms: read(Self::HISTOGRAMS),
            exemplars: read(Self::EXEMPLARS),
        };
        (written != Written::default()).then_some(written)
    }
}

/// Sets `protocol`'s `Content-Type` and the other headers it requires.
fn set_protocol_headers(headers: &mut HeaderMap, protocol: Protocol) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(protocol.content_type()),
    );
    for (name, value) in protocol.extra_headers() {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
}

/// Why a push attempt did not succeed. Its `Display` is a complete sentence for a log line
/// and never contains credentials: not the configured ones, nor the server's echo of
/// them (see [`Scrubber`]).
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    /// The endpoint without query string, for messages.
    pub(crate) endpoint: String,
    /// What went wrong.
    pub(crate) kind: FailureKind,
    /// The server's `Retry-After`, for retryable statuses that sent one.
    pub(crate) retry_after: Option<Duration>,
    /// The first KiB of the answer's body, or the transport error's chain; the
    /// destination's credentials scrubbed out. With `danger_accept_invalid_certs` on, a
    /// note that says so ends it.
    pub(crate) detail: String,
}

/// The settings of a destination that its failure messages mention.
#[derive(Debug, Default)]
struct FailureContext {
    /// `danger_accept_invalid_certs` is on: every message says so.
    insecure: bool,
    /// A client certificate is configured (to read a TLS 1.2 server's refusal).
    has_client_cert: bool,
    /// The proxy requests go through, without credentials.
    proxy: Option<String>,
}

impl FailureContext {
    /// `detail` with what every message of this destination must say.
    fn annotate(&self, detail: String) -> String {
        if self.insecure {
            format!(
                "{detail} (note: danger_accept_invalid_certs is on: the server's certificate \
                 is not checked)"
            )
        } else {
            detail
        }
    }
}

/// The kind of a [`Failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// The endpoint answered with this non-2xx status.
    Status(StatusCode),
    /// No complete answer within the configured timeout (which it carries).
    Timeout(Duration),
    /// No connection could be made (refused, DNS).
    Connect,
    /// No connection could be made through the proxy (the detail names it).
    ProxyConnect,
    /// The TLS handshake failed for this reason (the detail has rustls' words).
    Tls(TlsProblem),
    /// The request failed after connecting (reset, malformed answer, …).
    Request,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let endpoint = &self.endpoint;
        match self.kind {
            FailureKind::Status(status) => {
                write!(f, "endpoint {endpoint} answered {status}")?;
                if !self.detail.is_empty() {
                    write!(f, ": {}", self.detail.trim_end())?;
                }
                if let Some(hint) = status_hint(status) {
                    write!(f, " ({hint})")?;
                }
            }
            FailureKind::Timeout(limit) => write!(
                f,
                "endpoint {endpoint} did not answer within {limit:?} \
                 (raise with_timeout if the server is slow): {}",
                self.detail
            )?,
            FailureKind::Connect => write!(
                f,
                "cannot connect to endpoint {endpoint} (is the server up and \
                 the URL right?): {}",
                self.detail
            )?,
            FailureKind::ProxyConnect => write!(
                f,
                "cannot connect to endpoint {endpoint} through its proxy (are the proxy \
                 and the server up, and the proxy's URL and credentials right?): {}",
                self.detail
            )?,
            FailureKind::Tls(problem) => write!(
                f,
                "TLS with endpoint {endpoint} failed: {}: {}",
                problem.explain(),
                self.detail
            )?,
            FailureKind::Request => {
                write!(f, "push to endpoint {endpoint} failed: {}", self.detail)?
            }
        }
        if let Some(wait) = self.retry_after {
            write!(f, " (server asks to retry after {wait:?})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

/// What to check for a status that usually means a configuration mistake.
fn status_hint(status: StatusCode) -> Option<&'static str> {
    match status.as_u16() {
        401 => Some("check the destination's credentials"),
        403 => Some("the credentials lack the right to write metrics, or the tenant is wrong"),
        // A 405 is what a web server that is not a remote-write receiver answers a POST
        // with, as often as a 404.
        404 | 405 => Some("check the endpoint's path"),
        407 => Some("the proxy refused its credentials; check the user and password in the proxy URL (with_proxy or HTTP_PROXY)"),
        415 => Some("the endpoint does not take this protocol; check the destination's protocol"),
        _ => None,
    }
}

/// The messages of a JSON error body (Unleash and other express-style APIs answer
/// `{"message": …, "details": [{"message": …}, …]}`), joined with `; `. `None` when the
/// body is not such a document.
fn json_error_details(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let mut parts: Vec<String> = Vec::new();
    if let Some(details) = value.get("details").and_then(|d| d.as_array()) {
        for detail in details {
            match detail.get("message").and_then(|m| m.as_str()) {
                Some(message) => parts.push(message.to_owned()),
                None => parts.push(detail.to_string()),
            }
        }
    }
    if parts.is_empty() {
        parts.push(value.get("message")?.as_str()?.to_owned());
    }
    Some(parts.join("; "))
}

/// Parses `Retry-After` as delay-seconds or an HTTP date; a date in the past means now.
pub(crate) fn parse_retry_after(value: &HeaderValue, now: SystemTime) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Reads the body up to [`DRAIN_LIMIT`] (so the connection can return to the pool), or
/// up to `keep` if that is more, and returns its first `keep` bytes. Read errors just end
/// the reading.
async fn drain(mut response: Response, keep: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut seen = 0;
    while seen < DRAIN_LIMIT.max(keep) {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                seen += chunk.len();
                let room = keep.saturating_sub(kept.len()).min(chunk.len());
                kept.extend_from_slice(&chunk[..room]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    kept
}

/// The route for a server-name override, unless the URL's host is that name already.
fn server_name_route(endpoint: &Url, server_name: Option<&str>) -> Option<ServerNameRoute> {
    let server_name = server_name?.to_ascii_lowercase();
    let host = endpoint.host_str()?;
    if host.eq_ignore_ascii_case(&server_name) {
        return None;
    }
    Some(ServerNameRoute {
        server_name,
        host: host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    })
}

/// `endpoint` with `server_name` as its host; the port stays (explicit or the scheme's).
fn routed_url(endpoint: &Url, server_name: &str) -> Url {
    let mut url = endpoint.clone();
    let port = endpoint.port_or_known_default();
    // Cannot fail: the endpoint has a host, and the name was checked to be a DNS name.
    if url.set_host(Some(server_name)).is_ok() {
        let _ = url.set_port(port);
    }
    url
}

/// A sender for `config`, for tests: panics if the configuration is refused.
#[cfg(test)]
pub(crate) fn test_sender(config: super::TransportConfig, protocol: Protocol) -> HttpSender {
    let validated = config
        .validate()
        .expect("the test's configuration is valid");
    HttpSender::new(validated, protocol).expect("the test's sender builds")
}

// The tests answer with the receiver's scripted replies.
#[cfg(all(test, feature = "receiver"))]
mod tests;
