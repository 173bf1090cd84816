//! Loopback endpoints and what prompush's own receiver got there: endpoints that refuse
//! or hang, a receiver rebound to a known port, and the readers of received requests
//! that several test modules share.
//!
//! Everything listens on and talks to `127.0.0.1` only.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use prompush::receiver::{Received, ReceivedSeries, Receiver, WriteRequest};

use crate::support::ports::free_loopback_addr;

/// How long a test waits for a request it expects.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long [`drain`] waits for one more request after the previous one.
const QUIET: Duration = Duration::from_millis(300);

/// The next request the receiver got; panics if none arrives within [`WAIT`].
pub fn next(receiver: &mut Receiver) -> Received {
    receiver
        .recv_blocking(WAIT)
        .expect("a request within the wait")
}

/// Every request that arrives within [`WAIT`] of the start, then within a short wait of
/// the previous one.
pub fn drain(receiver: &mut Receiver) -> Vec<Received> {
    let mut out = Vec::new();
    let mut wait = WAIT;
    while let Some(r) = receiver.recv_blocking(wait) {
        out.push(r);
        wait = QUIET;
    }
    out
}

/// `name{k=v,…}` → last value of every series of `received` that `keep` accepts. Labels
/// are sorted; scope labels and the provider's random `instance` are left out (their
/// own tests are in the `no_loss`, `sdk` and `push` modules).
pub fn values_where(
    received: &Received,
    keep: impl Fn(&ReceivedSeries) -> bool,
) -> BTreeMap<String, f64> {
    received
        .request
        .series
        .iter()
        .filter(|s| keep(s))
        .map(|s| {
            let mut labels = s.labels.clone();
            labels.retain(|(k, _)| !k.starts_with("otel_scope_") && k != "instance");
            labels.sort();
            let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (
                format!("{}{{{}}}", s.name, labels.join(",")),
                s.value().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// [`values_where`] for the application's series: self-metrics (`prompush_*`) and
/// `target_info` left out.
pub fn app_values(received: &Received) -> BTreeMap<String, f64> {
    values_where(received, |s| {
        !s.name.starts_with("prompush_") && s.name != "target_info"
    })
}

/// The value of the first series called `name` with all of `labels` in a received push
/// (a self-metric, typically).
pub fn value_of(received: &Received, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    received
        .request
        .series
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == Some(v)))
        .and_then(|s| s.value())
}

/// prompush's self-metrics (`prompush_*`) in a request.
pub fn self_metrics(request: &WriteRequest) -> Vec<&str> {
    request
        .series
        .iter()
        .map(|s| s.name.as_str())
        .filter(|name| name.starts_with("prompush_"))
        .collect()
}

/// The receiver's URL for JSON custom metrics (`/api/client/metrics/custom`, where
/// Unleash takes them).
pub fn custom_metrics_url(receiver: &Receiver) -> String {
    format!("http://{}/api/client/metrics/custom", receiver.addr())
}

/// A remote-write URL on loopback where nothing listens (the port was free a moment
/// ago): pushes to it fail with "connection refused".
pub fn closed_loopback_endpoint() -> String {
    format!("http://{}/api/v1/write", free_loopback_addr())
}

/// An endpoint on loopback where connections are accepted and never answered: a push to
/// it hangs until its timeout. The listener lives for the rest of the test process.
pub struct HungEndpoint {
    /// Its remote-write URL.
    pub url: String,
    /// A message for each request whose head arrived.
    held: mpsc::Receiver<()>,
}

impl HungEndpoint {
    /// Starts listening.
    pub fn start() -> HungEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let (tx, held) = mpsc::channel();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    // Read, never answered: once the head is in, the request is held.
                    let mut seen = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let mut signalled = false;
                    while let Ok(n @ 1..) = stream.read(&mut chunk) {
                        seen.extend_from_slice(&chunk[..n]);
                        if !signalled && seen.windows(4).any(|w| w == b"\r\n\r\n") {
                            signalled = true;
                            let _ = tx.send(());
                        }
                    }
                });
            }
        });
        HungEndpoint {
            url: format!("http://{addr}/api/v1/write"),
            held,
        }
    }

    /// Waits until the endpoint holds a request (its head arrived, no answer will come);
    /// panics if none does within [`WAIT`].
    pub fn wait_for_a_held_request(&self) {
        self.held
            .recv_timeout(WAIT)
            .expect("a request held by the hung endpoint within the wait");
    }
}

/// A receiver on a given (recently used) port, served by a runtime on its own thread
/// for the rest of the test. Binding is retried for up to [`WAIT`]: the port may still be
/// held.
pub fn receiver_at(addr: SocketAddr) -> Receiver {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let deadline = Instant::now() + WAIT;
            let receiver = loop {
                match Receiver::bind_to(addr).await {
                    Ok(r) => break r,
                    Err(_) if Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => panic!("cannot rebind {addr}: {e}"),
                }
            };
            tx.send(receiver).unwrap();
            // Keep the runtime (and so the server) alive for the test's duration.
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}
