//! The `metrics` facade end to end: `counter!`, `gauge!` and `histogram!` recorded
//! through `provider.metrics_recorder()` reach a real Prometheus with the translated names,
//! the `metrics` scope label and exact values. Run with `scripts/test` (it installs the
//! server and runs this binary with `--features metrics`).

#![cfg(all(feature = "receiver", feature = "metrics"))]

use std::collections::BTreeMap;

use metrics::Unit;

use crate::servers::stored::{assert_stored, assert_stored_by};
use crate::servers::{Kind, Server};
use crate::support::presets::{flush, pushing_to, service_named, shutdown};

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn facade_measurements_are_stored_exactly_in_prometheus() {
    let prometheus = Server::start(Kind::Prometheus3).await;
    let provider = pushing_to(prometheus.remote_write_url())
        .with_resource(service_named("facade"))
        .with_self_metrics(false)
        .build()
        .expect("provider");
    let recorder = provider.metrics_recorder();
    metrics::with_local_recorder(&recorder, || {
        metrics::describe_histogram!("facade.wait", Unit::Seconds, "time in queue");
        metrics::describe_gauge!("facade.memory", Unit::Bytes, "resident set");
        let mail = metrics::counter!("facade.jobs", "queue" => "mail");
        mail.increment(3);
        mail.increment(2);
        metrics::counter!("facade.jobs", "queue" => "sms").absolute(7);
        metrics::counter!("http_requests_total", "http.route" => "/a").increment(1);
        // Names the OpenTelemetry API would refuse: the translation makes them valid.
        metrics::counter!("my_crate::retries", "kind" => "io").increment(4);
        metrics::counter!("9lives").increment(2);
        let depth = metrics::gauge!("facade.depth");
        depth.set(10.0);
        depth.increment(0.75);
        depth.decrement(4.25);
        metrics::gauge!("facade.memory").set(1.5e6);
        for v in [0.25, 3.0, 12.0] {
            metrics::histogram!("facade.wait").record(v);
        }
    });
    flush(&provider).await.expect("push delivered");

    let job = r#"job="facade""#;
    assert_stored_by(
        &prometheus,
        &format!("facade_jobs_total{{{job}}}"),
        "queue",
        &[("mail", 5.0), ("sms", 7.0)],
    )
    .await;
    assert_stored(
        &prometheus,
        &format!(r#"http_requests_total{{{job},http_route="/a"}}"#),
        1.0,
    )
    .await;
    assert_stored(
        &prometheus,
        &format!(r#"my_crate::retries_total{{{job},kind="io"}}"#),
        4.0,
    )
    .await;
    assert_stored(&prometheus, &format!("_9lives_total{{{job}}}"), 2.0).await;
    assert_stored(&prometheus, &format!("facade_depth{{{job}}}"), 6.5).await;
    assert_stored(&prometheus, &format!("facade_memory_bytes{{{job}}}"), 1.5e6).await;
    assert_stored(
        &prometheus,
        &format!("facade_wait_seconds_count{{{job}}}"),
        3.0,
    )
    .await;
    assert_stored(
        &prometheus,
        &format!("facade_wait_seconds_sum{{{job}}}"),
        15.25,
    )
    .await;
    // The facade's default boundaries, the Prometheus clients' buckets for seconds:
    // 0.005, 0.01, … 0.25, 0.5, 1, 2.5, 5, 10.
    assert_stored_by(
        &prometheus,
        &format!(r#"facade_wait_seconds_bucket{{{job},le=~"0.005|0.25|1|5|10|\\+Inf"}}"#),
        "le",
        &[
            ("+Inf", 3.0),
            ("0.005", 0.0),
            ("0.25", 1.0),
            ("1", 1.0),
            ("10", 2.0),
            ("5", 2.0),
        ],
    )
    .await;

    let series = prometheus
        .series(r#"facade_jobs_total{queue="mail"}"#)
        .await;
    let labels: BTreeMap<String, String> = [
        ("__name__", "facade_jobs_total"),
        ("instance", series[0]["instance"].as_str()),
        ("job", "facade"),
        ("otel_scope_name", "metrics"),
        ("queue", "mail"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(series, [labels]);
    shutdown(&provider).await.expect("final push delivered");
}
