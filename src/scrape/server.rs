//! The built-in scrape endpoint: `GET /metrics` over HTTP/1.1 on prompush's background
//! runtime.
//!
//! Bounded against slow or stuck scrapers: at most [`MAX_CONNECTIONS`] connections are
//! served at once (more wait to be accepted), a request's head must arrive within
//! [`HEAD_TIMEOUT`], and a connection lives at most [`CONNECTION_LIFETIME`], so a
//! scraper that stops reading holds one body for a bounded time. Renders run on the
//! blocking pool, never on the runtime thread.

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::Scrapes;
use crate::prometheus::exposition::{negotiate, Escaping, Format};
use crate::Error;

/// Connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 16;
/// How long a scraper may take to send a request's head.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest a connection is kept, however slowly its scraper reads.
pub(crate) const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

/// A running endpoint; stops when dropped.
pub(crate) struct Endpoint {
    pub(crate) addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Endpoint {
    /// Listens on `addr` (port 0: a free one) and serves `scrapes`.
    pub(crate) fn start(addr: &str, scrapes: Arc<Scrapes>) -> Result<Self, Error> {
        let parsed: SocketAddr = addr.parse().map_err(|e| {
            Error::Config(format!(
                "with_scrape_endpoint({addr:?}) is not an address ({e}); give one such as \
                 \"127.0.0.1:9464\" or \"0.0.0.0:9464\""
            ))
        })?;
        let listener = std::net::TcpListener::bind(parsed)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|e| {
                Error::Config(format!(
                    "with_scrape_endpoint({addr:?}): cannot listen there ({e}); pick a free \
                     port, or port 0 for any"
                ))
            })?;
        let runtime = crate::runtime::handle()?;
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener)
                .map_err(|e| Error::Config(format!("with_scrape_endpoint({addr:?}): {e}")))?
        };
        let addr = listener.local_addr().unwrap_or(parsed);
        let accept = runtime.spawn(accept_loop(listener, scrapes));
        Ok(Endpoint { addr, accept })
    }
}

async fn accept_loop(listener: TcpListener, scrapes: Arc<Scrapes>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    // Aborted with this task, so a stopped endpoint closes its connections too.
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::debug!(%error, "scrape endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let scrapes = scrapes.clone();
        connections.spawn(async move {
            let _permit = permit;
            let service =
                hyper::service::service_fn(move |request| answer(scrapes.clone(), request));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_LIFETIME, connection).await {
                Ok(Err(error)) => tracing::debug!(%error, "scrape connection ended with an error"),
                Err(_) => tracing::debug!("scrape connection closed after its lifetime"),
                Ok(Ok(())) => {}
            }
        });
    }
}

type Body = Full<Bytes>;

async fn answer(
    scrapes: Arc<Scrapes>,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<Body>, Infallible> {
    if request.uri().path() != "/metrics" {
        return Ok(plain(StatusCode::NOT_FOUND, "not found; scrape /metrics\n"));
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "/metrics takes GET\n",
        ));
    }
    let (format, escaping) = requested_format(&request);
    let gzip = request
        .headers()
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(accepts_gzip);
    let rendered = match tokio::task::spawn_blocking(move || scrapes.render(format, escaping)).await
    {
        Ok(rendered) => rendered,
        Err(error) => {
            tracing::error!("a scrape's collection panicked: {error}");
            return Ok(plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "collection failed\n",
            ));
        }
    };
    let mut body = Bytes::copy_from_slice(rendered.body.as_bytes());
    let mut response = Response::builder()
        .header(CONTENT_TYPE, rendered.content_type)
        .header(VARY, "Accept, Accept-Encoding");
    if gzip {
        if let Some(zipped) = gzipped(&body) {
            body = zipped;
            response = response.header(CONTENT_ENCODING, "gzip");
        }
    }
    Ok(response
        .body(Full::new(body))
        .unwrap_or_else(|_| plain(StatusCode::INTERNAL_SERVER_ERROR, "")))
}

/// `?format=text` or `?format=openmetrics` wins over `Accept` (for a browser, or a
/// scrape config that wants one format); the escaping is always `Accept`'s.
fn requested_format(request: &Request<hyper::body::Incoming>) -> (Format, Escaping) {
    let accept = request.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
    let (negotiated, escaping) = negotiate(accept);
    let query = request.uri().query().unwrap_or_default();
    for pair in query.split('&') {
        match pair {
            "format=text" => return (Format::Text, escaping),
            "format=openmetrics" => return (Format::OpenMetrics, escaping),
            _ => {}
        }
    }
    (negotiated, escaping)
}

/// Whether an `Accept-Encoding` value takes gzip (with a quality above zero).
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let refused = parts.any(|p| matches!(p, "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
        (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
    })
}

fn gzipped(body: &[u8]) -> Option<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_is_taken_unless_refused() {
        #[rustfmt::skip]
        let cases = [
            ("gzip", true), ("GZIP", true), ("deflate, gzip;q=0.5", true), ("*", true),
            ("identity", false), ("gzip;q=0", false), ("br", false), ("", false),
        ];
        for (value, want) in cases {
            assert_eq!(accepts_gzip(value), want, "{value:?}");
        }
    }
}
