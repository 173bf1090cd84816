//! Views against a real Prometheus 3: exact stored values for a histogram a view renames,
//! re-buckets and keeps one attribute key of (the other keys' series merged), a dropped
//! instrument (nothing stored), a view's cardinality limit (the overflow series), an
//! exclude list, and an instrument no view selects (unchanged). Run with `scripts/test`.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use opentelemetry::KeyValue;
use prompush::view::{Aggregation, Instrument, Stream};
use prompush::ExemplarFilter;

use crate::servers::stored::{assert_stored, assert_stored_by};
use crate::servers::{Kind, Server};
use crate::support::presets::{flush, pushing_to, service_named, shutdown};

fn kv(k: &'static str, v: &'static str) -> KeyValue {
    KeyValue::new(k, v)
}

/// How many series `selector` selects.
async fn series_count(server: &Server, selector: &str) -> usize {
    server.series(selector).await.len()
}

#[tokio::test]
#[ignore = "needs prometheus 3; run scripts/test"]
async fn views_are_stored_exactly_in_prometheus() {
    let prometheus = Server::start(Kind::Prometheus3).await;
    let provider = pushing_to(prometheus.remote_write_url())
        .with_resource(service_named("views"))
        .with_self_metrics(false)
        .with_exemplar_filter(ExemplarFilter::AlwaysOff)
        .with_view(|i: &Instrument| {
            (i.name() == "http.server.request.duration").then(|| {
                Stream::builder()
                    .with_name("request.latency")
                    .with_aggregation(Aggregation::ExplicitBucketHistogram {
                        boundaries: vec![0.1, 1.0],
                        record_min_max: true,
                    })
                    .with_allowed_attribute_keys(["route".into()])
                    .build()
                    .ok()
            })?
        })
        .with_view(|i: &Instrument| {
            (i.name() == "noisy.requests").then(|| {
                Stream::builder()
                    .with_aggregation(Aggregation::Drop)
                    .build()
                    .ok()
            })?
        })
        .with_view(|i: &Instrument| {
            (i.name() == "jobs.done")
                .then(|| Stream::builder().with_cardinality_limit(2).build().ok())?
        })
        .with_view(|i: &Instrument| {
            (i.name() == "logins").then(|| {
                Stream::builder()
                    .with_excluded_attribute_keys(["token".into()])
                    .build()
                    .ok()
            })?
        })
        .build()
        .expect("provider");
    let meter = provider.meter("app");
    let latency = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .build();
    latency.record(0.05, &[kv("route", "/a"), kv("user", "u1")]);
    latency.record(0.5, &[kv("user", "u2"), kv("route", "/a")]);
    latency.record(2.0, &[kv("route", "/b"), kv("user", "u1")]);
    meter
        .u64_counter("noisy.requests")
        .build()
        .add(9, &[kv("route", "/a")]);
    let jobs = meter.u64_counter("jobs.done").build();
    for (queue, n) in [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)] {
        jobs.add(n, &[kv("queue", queue)]);
    }
    let logins = meter.u64_counter("logins").build();
    logins.add(1, &[kv("realm", "a"), kv("token", "t1")]);
    logins.add(2, &[kv("token", "t2"), kv("realm", "a")]);
    meter
        .u64_counter("orders")
        .build()
        .add(4, &[kv("shop", "x")]);
    flush(&provider).await.expect("push delivered");

    let job = r#"job="views""#;
    assert_stored_by(
        &prometheus,
        &format!(r#"request_latency_seconds_bucket{{{job},route="/a"}}"#),
        "le",
        &[("+Inf", 2.0), ("0.1", 1.0), ("1", 2.0)],
    )
    .await;
    assert_stored_by(
        &prometheus,
        &format!(r#"request_latency_seconds_bucket{{{job},route="/b"}}"#),
        "le",
        &[("+Inf", 1.0), ("0.1", 0.0), ("1", 0.0)],
    )
    .await;
    assert_stored_by(
        &prometheus,
        &format!("request_latency_seconds_count{{{job}}}"),
        "route",
        &[("/a", 2.0), ("/b", 1.0)],
    )
    .await;
    assert_stored_by(
        &prometheus,
        &format!("request_latency_seconds_sum{{{job}}}"),
        "route",
        &[("/a", 0.55), ("/b", 2.0)],
    )
    .await;
    // The limit's 2 sets, then the overflow series with the other 3 sets' 12.
    assert_stored(
        &prometheus,
        &format!(r#"jobs_done_total{{{job},queue="a"}}"#),
        1.0,
    )
    .await;
    assert_stored(
        &prometheus,
        &format!(r#"jobs_done_total{{{job},queue="b"}}"#),
        2.0,
    )
    .await;
    assert_stored(
        &prometheus,
        &format!(r#"jobs_done_total{{{job},otel_metric_overflow="true"}}"#),
        12.0,
    )
    .await;
    assert_eq!(
        series_count(&prometheus, r#"{__name__="jobs_done_total"}"#).await,
        3
    );
    assert_stored(
        &prometheus,
        &format!(r#"logins_total{{{job},realm="a"}}"#),
        3.0,
    )
    .await;
    assert_stored(
        &prometheus,
        &format!(r#"orders_total{{{job},shop="x"}}"#),
        4.0,
    )
    .await;
    // Everything above arrived in the one push: what is absent now is absent for good.
    assert_eq!(
        series_count(&prometheus, r#"{__name__=~"noisy.*"}"#).await,
        0
    );
    assert_eq!(
        series_count(&prometheus, r#"{__name__=~"http_server_request.*"}"#).await,
        0
    );
    assert_eq!(series_count(&prometheus, r#"{user!=""}"#).await, 0);
    assert_eq!(series_count(&prometheus, r#"{token!=""}"#).await, 0);
    assert_eq!(
        series_count(
            &prometheus,
            r#"{__name__=~"request_latency_seconds_bucket"}"#
        )
        .await,
        6
    );
    shutdown(&provider).await.expect("shutdown");
}
