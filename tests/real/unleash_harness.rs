//! Smoke test of the Unleash harness: a hand-written custom-metrics JSON body goes to a real
//! Unleash server (npm `unleash-server` on a throwaway PostgreSQL) and comes back out of its
//! Prometheus endpoint. Run with `scripts/test` (installs the server), or
//! `UNLEASH_DIR=$(scripts/install-unleash) cargo test --test real unleash_harness --
//! --include-ignored`.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use crate::servers::real_servers::loopback_http_client;
use crate::servers::unleash::Unleash;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs unleash-server and PostgreSQL; run scripts/test"]
async fn a_custom_metric_reaches_the_prometheus_endpoint_of_unleash() {
    let unleash = Unleash::start().await;
    let http = loopback_http_client();

    let body = r#"{"metrics":[{"name":"prompush_probe_total","value":3,"labels":{"route":"/a"}}]}"#;
    let response = http
        .post(unleash.custom_metrics_url())
        .header("Authorization", unleash.client_token())
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST custom metrics");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(
        status,
        202,
        "custom metrics were not accepted: {text}\n--- unleash log ---\n{}",
        unleash.log()
    );

    // Stored synchronously before the 202: the very next scrape has it.
    let scrape = unleash.scrape().await;
    let lines: Vec<&str> = scrape.lines().collect();
    assert!(
        lines.contains(&"# TYPE prompush_probe_total counter"),
        "no TYPE line for the custom metric in:\n{scrape}"
    );
    assert!(
        lines.contains(&r#"prompush_probe_total{route="/a"} 3"#),
        "no sample line for the custom metric in:\n{scrape}"
    );

    // The token is what lets it in: without one the same request is refused.
    let refused = http
        .post(unleash.custom_metrics_url())
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("POST custom metrics without a token");
    assert_eq!(refused.status().as_u16(), 401);
}
