//! What the environment says about TLS and proxies, against a real Prometheus serving
//! HTTPS: a CA bundle named by `SSL_CERT_FILE` is trusted without any option, and an
//! `HTTPS_PROXY` is not used for a loopback endpoint (as Go does). The test runs in a
//! child process of its own: the system's CAs are read once per process, and the
//! variables must be set before that. Run with `scripts/test`, which installs the
//! `prometheus` package.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::time::Duration;

use prompush::{Destination, MeterProvider};

use crate::servers::single_value;
use crate::servers::tls::{start_tls, Ca, WebConfig};
use crate::support;
use crate::support::presets::{flush, service, shutdown};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn ssl_cert_file_is_trusted_and_the_environments_proxy_skips_loopback() {
    if support::child::ran_in_child(concat!(
        module_path!(),
        "::ssl_cert_file_is_trusted_and_the_environments_proxy_skips_loopback"
    )) {
        return;
    }
    let ca = Ca::new("ssl-cert-file");
    let bundle_dir = tempfile::tempdir().expect("temp dir");
    let bundle = ca.write(bundle_dir.path(), "bundle.pem");
    // Nothing listens there: a push sent through this proxy would fail.
    let dead_proxy = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    // Set before any prompush client exists (the harness's own client ignores both).
    std::env::set_var("SSL_CERT_FILE", &bundle);
    std::env::remove_var("SSL_CERT_DIR");
    std::env::set_var("HTTPS_PROXY", &dead_proxy);
    for name in [
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        std::env::remove_var(name);
    }
    let prometheus = start_tls(WebConfig::tls(ca.server(&["127.0.0.1"]))).await;
    let provider = MeterProvider::builder()
        .with_resource(service("tls_env"))
        .with_destination(Destination::remote_write(
            "env",
            prometheus.remote_write_url(),
        ))
        .with_push_interval(Duration::from_secs(3600))
        .with_self_metrics(false)
        .build()
        .expect("valid provider");

    provider
        .meter("tls")
        .u64_counter("tls_deliveries")
        .build()
        .add(13, &[]);
    flush(&provider)
        .await
        .expect("delivered, trusting SSL_CERT_FILE, not proxied");

    let result = prometheus
        .wait_for(
            r#"tls_deliveries_total{job="tls_env"}"#,
            |r| single_value(r) == Some(13.0),
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(single_value(&result), Some(13.0), "{result}");
    shutdown(&provider).await.expect("clean shutdown");
}
