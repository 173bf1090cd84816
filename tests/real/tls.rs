//! TLS against a real Prometheus serving HTTPS (`--web.config.file`): a private CA,
//! mutual TLS, Prometheus' own basic auth, a client certificate rotated between two
//! pushes (the second on a fresh connection, so a new handshake), each handshake failure
//! with the message that names its fix, and a real proxy (tinyproxy) with credentials.
//! Values are read back over HTTPS and compared exactly. Certificates are made by the
//! tests. Run with `scripts/test`, which installs the `prometheus` and `tinyproxy`
//! packages.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prompush::{Destination, MeterProvider};

use crate::servers::tinyproxy::Tinyproxy;
use crate::servers::tls::{start_tls, Ca, KeyKind, WebConfig};
use crate::servers::{single_value, Server};
use crate::support::logs::LogCapture;
use crate::support::presets::{flush, flushed_by_hand, service, shutdown};

const DEADLINE: Duration = Duration::from_secs(20);
const HOUR: Duration = Duration::from_secs(3600);
/// The push timeout of the tests whose pushes fail: a flush gives up after it.
const FAILING_TIMEOUT: Duration = Duration::from_secs(2);

/// A TCP relay on loopback in front of a server: it counts the connections it accepts
/// and can cut them all, so that the next push has to open, and handshake, a new one.
/// TLS passes through it untouched.
struct Relay {
    port: u16,
    accepted: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Relay {
    /// Starts relaying from a free loopback port to `127.0.0.1:<target>`.
    async fn start(target: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (counted, tasks) = (accepted.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let relayed = tokio::spawn(async move {
                    let server = tokio::net::TcpStream::connect(("127.0.0.1", target)).await;
                    if let Ok(mut server) = server {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(relayed.abort_handle());
            }
        });
        Relay {
            port,
            accepted,
            open,
        }
    }

    /// The remote-write URL through the relay (the server's certificate names
    /// 127.0.0.1, whatever the port).
    fn remote_write_url(&self) -> String {
        format!("https://127.0.0.1:{}/api/v1/write", self.port)
    }

    /// How many connections it has accepted.
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes every connection relayed so far.
    fn cut_all(&self) {
        for relayed in self.open.lock().unwrap().drain(..) {
            relayed.abort();
        }
    }
}

/// A provider pushing to `destination` as `job`, only when flushed.
fn provider(destination: Destination, job: &str) -> MeterProvider {
    MeterProvider::builder()
        .with_resource(service(job))
        .with_destination(
            destination
                .with_retry_backoff(Duration::from_millis(5), Duration::from_millis(100))
                .with_shutdown_timeout(Duration::from_secs(2)),
        )
        .with_push_interval(HOUR)
        .with_self_metrics(false)
        .build()
        .expect("valid provider")
}

/// Adds `value` to the counter `tls_deliveries` and flushes.
async fn deliver(provider: &MeterProvider, value: u64) -> Result<(), prompush::Error> {
    provider
        .meter("tls")
        .u64_counter("tls_deliveries")
        .build()
        .add(value, &[]);
    flush(provider).await
}

/// Waits until `tls_deliveries_total{job}` is exactly `want`, queried over HTTPS.
async fn assert_stored(prometheus: &Server, job: &str, want: f64) {
    let promql = format!(r#"tls_deliveries_total{{job="{job}"}}"#);
    let result = prometheus
        .wait_for(&promql, |r| single_value(r) == Some(want), DEADLINE)
        .await;
    assert_eq!(single_value(&result), Some(want), "{result}");
}

/// The message of a push to `destination` that must fail.
async fn failure(destination: Destination) -> String {
    let provider = provider(destination.with_timeout(FAILING_TIMEOUT), "tls_failure");
    let error = deliver(&provider, 1).await.expect_err("the push fails");
    let _ = shutdown(&provider).await;
    error.to_string()
}

fn assert_explains(message: &str, wants: &[&str]) {
    for want in wants {
        assert!(message.contains(want), "{want:?} missing from: {message}");
    }
    assert!(
        !message.contains("is the server up"),
        "misleading: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn https_with_a_private_ca_delivers_the_exact_value() {
    let ca = Ca::new("private");
    let prometheus = start_tls(WebConfig::tls(ca.server(&["127.0.0.1"]))).await;
    let ca_file = ca.write(prometheus.dir(), "trusted-ca.pem");
    let destination = Destination::remote_write("private_ca", prometheus.remote_write_url())
        .with_tls_ca_file(&ca_file);
    let provider = provider(destination, "tls_private_ca");

    deliver(&provider, 42).await.expect("delivered over HTTPS");

    assert_stored(&prometheus, "tls_private_ca", 42.0).await;
    shutdown(&provider).await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn mutual_tls_with_an_rsa_client_key_delivers() {
    let server_ca = Ca::new("server");
    let client_ca = Ca::new("clients");
    let config = WebConfig {
        client_ca: Some(client_ca.pem()),
        ..WebConfig::tls(server_ca.server(&["127.0.0.1"]))
    };
    let prometheus = start_tls(config).await;
    let (cert, key) = client_ca
        .client(KeyKind::Rsa)
        .write(prometheus.dir(), "pusher");
    let destination = Destination::remote_write("mtls", prometheus.remote_write_url())
        .with_tls_ca_pem(server_ca.pem())
        .with_tls_client_cert_files(&cert, &key);
    let provider = provider(destination, "tls_mutual");

    deliver(&provider, 7)
        .await
        .expect("delivered with a client certificate");

    assert_stored(&prometheus, "tls_mutual", 7.0).await;
    shutdown(&provider).await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_basic_auth_over_tls_takes_the_password_and_refuses_a_wrong_one_unshown() {
    const PASSWORD: &str = "basic-over-tls-7c1e55";
    const WRONG: &str = "wrong-over-tls-93ab04";
    let logs = LogCapture::start();
    let ca = Ca::new("private");
    let config = WebConfig {
        basic_auth: Some(("pusher".to_owned(), PASSWORD.to_owned())),
        ..WebConfig::tls(ca.server(&["127.0.0.1"]))
    };
    let prometheus = start_tls(config).await;
    // TLS options go on a Destination, given whole as the default one (replacing the
    // preset's endpoint and delivery options); the builder's shorthands configure it.
    let trusting = || {
        Destination::remote_write(Destination::DEFAULT_NAME, prometheus.remote_write_url())
            .with_tls_ca_pem(ca.pem())
    };
    let good = flushed_by_hand(prometheus.remote_write_url(), "tls_basic")
        .with_default_destination(trusting())
        .with_basic_auth("pusher", PASSWORD)
        .build()
        .expect("valid provider");
    deliver(&good, 5).await.expect("delivered with basic auth");
    assert_stored(&prometheus, "tls_basic", 5.0).await;
    shutdown(&good).await.expect("clean shutdown");

    let wrong = flushed_by_hand(prometheus.remote_write_url(), "tls_basic_wrong")
        .with_default_destination(trusting())
        .with_basic_auth("pusher", WRONG)
        .with_shutdown_timeout(Duration::from_secs(1))
        .build()
        .expect("valid provider");
    let error = deliver(&wrong, 1)
        .await
        .expect_err("a wrong password is refused");
    let message = error.to_string();
    assert!(message.contains("401 Unauthorized"), "{message}");
    assert!(
        message.contains("check the destination's credentials"),
        "{message}"
    );
    let _ = shutdown(&wrong).await;
    let logs = logs.text();
    for text in [&message, &format!("{error:?}"), &logs] {
        assert!(
            !text.contains(WRONG) && !text.contains(PASSWORD),
            "leaked in: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn a_client_certificate_from_a_new_ca_written_over_the_old_files_serves_the_next_push() {
    let server_ca = Ca::new("server");
    let old_ca = Ca::new("clients-2024");
    let config = WebConfig {
        client_ca: Some(old_ca.pem()),
        ..WebConfig::tls(server_ca.server(&["127.0.0.1"]))
    };
    let prometheus = start_tls(config).await;
    let (cert, key) = old_ca
        .client(KeyKind::Ecdsa)
        .write(prometheus.dir(), "pusher");
    // Through a relay: the first push's connection would otherwise stay alive and carry
    // the second push on the old handshake.
    let relay = Relay::start(prometheus.port()).await;
    let destination = Destination::remote_write("rotating", relay.remote_write_url())
        .with_tls_ca_pem(server_ca.pem())
        .with_tls_client_cert_files(&cert, &key);
    let provider = provider(destination, "tls_rotation");
    deliver(&provider, 1)
        .await
        .expect("first push, old certificate");
    assert_stored(&prometheus, "tls_rotation", 1.0).await;
    let before = relay.accepted();
    assert!(before >= 1, "the first push came through the relay");

    // cert-manager's way: the server trusts only the new CA from now on (it reads the
    // client CA file at every handshake), and the new pair is written over the old.
    let new_ca = Ca::new("clients-2025");
    prometheus.set_client_ca(&new_ca.pem());
    new_ca
        .client(KeyKind::Ed25519)
        .write(prometheus.dir(), "pusher");

    // The old connection is gone: the second push needs a new handshake, which the
    // server accepts only with a certificate of the new CA.
    relay.cut_all();
    deliver(&provider, 1)
        .await
        .expect("second push, new certificate");
    assert_stored(&prometheus, "tls_rotation", 2.0).await;
    assert!(
        relay.accepted() > before,
        "the second push came on a new connection ({} accepted)",
        relay.accepted()
    );
    shutdown(&provider).await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn an_untrusted_server_certificate_is_explained_with_the_ca_option() {
    let ca = Ca::new("private");
    let prometheus = start_tls(WebConfig::tls(ca.server(&["127.0.0.1"]))).await;

    let message = failure(Destination::remote_write(
        "untrusted",
        prometheus.remote_write_url(),
    ))
    .await;

    assert_explains(
        &message,
        &[
            "signed by a CA this client does not trust",
            "with_tls_ca_file",
            "UnknownIssuer",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn a_certificate_for_another_name_is_explained_and_the_server_name_option_fixes_it() {
    let ca = Ca::new("private");
    let prometheus = start_tls(WebConfig::tls(ca.server(&["prometheus.test"]))).await;
    let destination = || {
        Destination::remote_write("renamed", prometheus.remote_write_url())
            .with_tls_ca_pem(ca.pem())
    };

    let message = failure(destination()).await;
    assert_explains(
        &message,
        &[
            "not valid for the name",
            "prometheus.test",
            "with_tls_server_name",
        ],
    );

    let provider = provider(
        destination().with_tls_server_name("prometheus.test"),
        "tls_named",
    );
    deliver(&provider, 3)
        .await
        .expect("delivered under the certificate's name");
    assert_stored(&prometheus, "tls_named", 3.0).await;
    shutdown(&provider).await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn an_expired_server_certificate_is_explained_with_its_date() {
    let ca = Ca::new("private");
    let prometheus = start_tls(WebConfig::tls(ca.expired_server(&["127.0.0.1"]))).await;

    let message = failure(
        Destination::remote_write("expired", prometheus.remote_write_url())
            .with_tls_ca_pem(ca.pem()),
    )
    .await;

    assert_explains(
        &message,
        &[
            "certificate has expired",
            "expired at Fri, 01 Jan 2021 00:00:00 GMT",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn a_server_demanding_a_client_certificate_is_explained_with_the_client_cert_option() {
    let server_ca = Ca::new("server");
    let config = WebConfig {
        client_ca: Some(Ca::new("clients").pem()),
        ..WebConfig::tls(server_ca.server(&["127.0.0.1"]))
    };
    let prometheus = start_tls(config).await;

    let message = failure(
        Destination::remote_write("no_client_cert", prometheus.remote_write_url())
            .with_tls_ca_pem(server_ca.pem()),
    )
    .await;

    assert_explains(
        &message,
        &["demands a client certificate", "with_tls_client_cert_files"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn danger_accept_invalid_certs_delivers_to_an_untrusted_server() {
    let ca = Ca::new("untrusted");
    let prometheus = start_tls(WebConfig::tls(ca.server(&["elsewhere.test"]))).await;
    let destination = Destination::remote_write("insecure", prometheus.remote_write_url())
        .danger_accept_invalid_certs(true);
    let provider = provider(destination, "tls_insecure");

    deliver(&provider, 9)
        .await
        .expect("delivered without checking");

    assert_stored(&prometheus, "tls_insecure", 9.0).await;
    shutdown(&provider).await.expect("clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers) and tinyproxy; run scripts/test"]
async fn pushes_through_a_proxy_with_credentials_and_a_wrong_password_never_shows() {
    const PASSWORD: &str = "proxy-pass-5d2f81";
    const WRONG: &str = "proxy-wrong-0b9e47";
    let logs = LogCapture::start();
    let ca = Ca::new("private");
    let prometheus = start_tls(WebConfig::tls(ca.server(&["127.0.0.1"]))).await;
    let proxy = Tinyproxy::start("pusher", PASSWORD);
    let destination = |password: &str| {
        Destination::remote_write("proxied", prometheus.remote_write_url())
            .with_tls_ca_pem(ca.pem())
            .with_proxy(proxy.url_with("pusher", password))
    };

    let good = provider(destination(PASSWORD), "tls_proxied");
    deliver(&good, 11)
        .await
        .expect("delivered through the proxy");
    assert_stored(&prometheus, "tls_proxied", 11.0).await;
    shutdown(&good).await.expect("clean shutdown");
    let tunnel = format!("CONNECT 127.0.0.1:{} HTTP/1.1", prometheus.port());
    assert!(
        proxy.log().contains(&tunnel),
        "no tunnel in:\n{}",
        proxy.log()
    );

    let message = failure(destination(WRONG)).await;
    assert!(message.contains("through its proxy"), "{message}");
    assert!(message.contains("via proxy http://127.0.0.1:"), "{message}");
    let logs = logs.text();
    for text in [&message, &logs] {
        assert!(
            !text.contains(WRONG) && !text.contains(PASSWORD),
            "leaked in: {text}"
        );
    }
}
