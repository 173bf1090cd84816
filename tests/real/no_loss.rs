//! No sample lost in production-shaped use, against a real Prometheus 3 with default
//! settings (and VictoriaMetrics, current and 1.79, where its answer differs): two
//! libraries with one instrument name, attribute sets that translate to one series, such a
//! pair split across requests, pushes that must succeed next to such a pair, replicas of
//! one service, a name claimed by two instrument types, quick flushes, and one series the
//! server refuses. Each test asserts the exact values stored, read back with instant
//! queries. Every push is an explicit `force_flush` or `shutdown`; waits are bounded. Run
//! with `scripts/test` (it builds and installs the servers), or `cargo test --test real
//! no_loss:: -- --include-ignored` when they are on `PATH`.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::collections::BTreeMap;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::{InstrumentationScope, KeyValue};
use prompush::MeterProvider;

use crate::servers::stored::{assert_stored, assert_stored_by, query_until, values_by, write_body};
use crate::servers::{unix_millis, Kind, Server};
use crate::support::presets::{blocking, flush, flush_from_threads, flushed_by_hand, shutdown};

/// The `reason` of `prompush_samples_dropped_total` for a family of another kind.
const TYPE_CONFLICT_REASON: &str = "type_conflict";

fn provider(server: &Server, job: &str) -> MeterProvider {
    flushed_by_hand(server.remote_write_url(), job)
        .build()
        .expect("provider")
}

// ---- 1. two libraries, one instrument name -------------------------------------------

async fn two_libraries_with_one_counter_name_keep_two_series(server: &Server) {
    let provider = provider(server, "libraries");
    let lib_a = provider.meter_with_scope(
        InstrumentationScope::builder("lib-a")
            .with_version("1.2")
            .build(),
    );
    let lib_b = provider.meter("lib-b");
    let get = [KeyValue::new("http.request.method", "GET")];
    lib_a
        .u64_counter("http.client.requests")
        .build()
        .add(3, &get);
    lib_b
        .u64_counter("http.client.requests")
        .build()
        .add(5, &get);
    flush(&provider).await.expect("push accepted");

    let q = r#"http_client_requests_total{job="libraries",http_request_method="GET"}"#;
    assert_stored_by(
        server,
        q,
        "otel_scope_name",
        &[("lib-a", 3.0), ("lib-b", 5.0)],
    )
    .await;
    let versions = values_by(&server.query(q).await, "otel_scope_version");
    assert_eq!(
        versions,
        vec![("".to_owned(), 5.0), ("1.2".to_owned(), 3.0)],
        "lib-a has a version, lib-b none"
    );
    let info = server.series(r#"target_info{job="libraries"}"#).await;
    assert_eq!(info.len(), 1, "{info:?}");
    assert!(
        info[0].keys().all(|k| !k.starts_with("otel_scope_")),
        "target_info carries no scope labels: {info:?}"
    );
    shutdown(&provider).await.expect("final push accepted");
}

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_stores_two_libraries_counters_of_one_name_as_two_series() {
    let server = Server::start(Kind::Prometheus3).await;
    two_libraries_with_one_counter_name_keep_two_series(&server).await;
}

#[tokio::test]
#[ignore = "needs current VictoriaMetrics (scripts/build-peers); run scripts/test"]
async fn victoria_metrics_current_stores_two_libraries_counters_of_one_name_as_two_series() {
    let server = Server::start(Kind::VictoriaMetrics).await;
    two_libraries_with_one_counter_name_keep_two_series(&server).await;
}

#[tokio::test]
#[ignore = "needs victoria-metrics 1.79; run scripts/test"]
async fn victoria_metrics_1_79_stores_two_libraries_counters_of_one_name_as_two_series() {
    let server = Server::start(Kind::VictoriaMetrics1_79).await;
    two_libraries_with_one_counter_name_keep_two_series(&server).await;
}

// ---- 2. attribute sets that translate to one series ------------------------------------

async fn attribute_sets_of_one_series_merge(server: &Server) {
    let provider = provider(server, "merge");
    let meter = provider.meter("merge");
    let no_route = [KeyValue::new("route", "")];

    // `route=""` is left out: the same series as no attributes. Sums add.
    let requests = meter.u64_counter("merge.requests").build();
    requests.add(1, &[]);
    requests.add(5, &no_route);
    // `a.b` and `a_b` are both the label `a_b`.
    let keys = meter.u64_counter("merge.keys").build();
    keys.add(2, &[KeyValue::new("a.b", "x")]);
    keys.add(3, &[KeyValue::new("a_b", "x")]);
    // Same boundaries: bucket by bucket.
    let latency = meter
        .f64_histogram("merge.latency")
        .with_boundaries(vec![1.0, 5.0])
        .build();
    latency.record(0.5, &[]);
    latency.record(2.0, &[]);
    latency.record(3.0, &no_route);
    latency.record(7.0, &no_route);
    // Gauges: the member whose value changed since the previous collection.
    let level = meter.i64_gauge("merge.level").build();
    level.record(1, &[]);
    level.record(2, &no_route);
    flush(&provider).await.expect("first push accepted");

    let job = r#"{job="merge"}"#;
    assert_stored(server, &format!("merge_requests_total{job}"), 6.0).await;
    let keys_q = r#"merge_keys_total{job="merge",a_b="x"}"#;
    assert_stored(server, keys_q, 5.0).await;
    assert_stored(server, &format!("merge_latency_count{job}"), 4.0).await;
    assert_stored(server, &format!("merge_latency_sum{job}"), 12.5).await;
    let buckets = format!("merge_latency_bucket{job}");
    let want = [("1", 1.0), ("5", 3.0), ("+Inf", 4.0)];
    assert_stored_by(server, &buckets, "le", &want).await;

    level.record(7, &no_route);
    flush(&provider).await.expect("second push accepted");
    assert_stored(server, &format!("merge_level{job}"), 7.0).await;
    level.record(9, &[]);
    flush(&provider).await.expect("third push accepted");
    assert_stored(server, &format!("merge_level{job}"), 9.0).await;
    // The sums still add up after three pushes.
    assert_stored(server, &format!("merge_requests_total{job}"), 6.0).await;
    shutdown(&provider).await.expect("final push accepted");
}

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_stores_attribute_sets_that_translate_to_one_series_merged() {
    let server = Server::start(Kind::Prometheus3).await;
    attribute_sets_of_one_series_merge(&server).await;
}

#[tokio::test]
#[ignore = "needs current VictoriaMetrics (scripts/build-peers); run scripts/test"]
async fn victoria_metrics_current_stores_attribute_sets_that_translate_to_one_series_merged() {
    let server = Server::start(Kind::VictoriaMetrics).await;
    attribute_sets_of_one_series_merge(&server).await;
}

#[tokio::test]
#[ignore = "needs victoria-metrics 1.79; run scripts/test"]
async fn victoria_metrics_1_79_stores_attribute_sets_that_translate_to_one_series_merged() {
    let server = Server::start(Kind::VictoriaMetrics1_79).await;
    attribute_sets_of_one_series_merge(&server).await;
}

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_stores_two_meters_instruments_merged_when_scope_labels_are_off() {
    let server = Server::start(Kind::Prometheus3).await;
    let provider = flushed_by_hand(server.remote_write_url(), "unscoped")
        .with_scope_labels(false)
        .build()
        .expect("provider");
    let (lib_a, lib_b) = (provider.meter("lib-a"), provider.meter("lib-b"));
    lib_a.u64_counter("shared.requests").build().add(3, &[]);
    lib_b.u64_counter("shared.requests").build().add(4, &[]);
    // Same boundaries: bucket by bucket.
    let sizes = |m: &opentelemetry::metrics::Meter| {
        m.u64_histogram("shared.sizes")
            .with_boundaries(vec![10.0])
            .build()
    };
    sizes(&lib_a).record(5, &[]);
    sizes(&lib_b).record(50, &[]);
    // Different boundaries cannot merge: the instrument registered first (lib-a's) wins.
    lib_a
        .f64_histogram("shared.latency")
        .with_boundaries(vec![1.0])
        .build()
        .record(0.5, &[]);
    lib_b
        .f64_histogram("shared.latency")
        .with_boundaries(vec![2.0])
        .build()
        .record(1.5, &[]);
    flush(&provider).await.expect("push accepted");

    let job = r#"{job="unscoped"}"#;
    assert_stored(&server, &format!("shared_requests_total{job}"), 7.0).await;
    let labels = server
        .series(r#"shared_requests_total{job="unscoped"}"#)
        .await;
    assert!(
        labels.iter().all(|l| !l.contains_key("otel_scope_name")),
        "{labels:?}"
    );
    assert_stored(&server, &format!("shared_sizes_count{job}"), 2.0).await;
    assert_stored(&server, &format!("shared_sizes_sum{job}"), 55.0).await;
    let want = [("10", 1.0), ("+Inf", 2.0)];
    assert_stored_by(&server, &format!("shared_sizes_bucket{job}"), "le", &want).await;
    assert_stored(&server, &format!("shared_latency_count{job}"), 1.0).await;
    assert_stored(&server, &format!("shared_latency_sum{job}"), 0.5).await;
    let want = [("1", 1.0), ("+Inf", 1.0)];
    assert_stored_by(&server, &format!("shared_latency_bucket{job}"), "le", &want).await;
    shutdown(&provider).await.expect("final push accepted");
}

// ---- 3. a colliding pair in two requests of one push -----------------------------------

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_stores_every_series_of_a_large_push_whose_colliding_pair_is_far_apart() {
    let server = Server::start(Kind::Prometheus3).await;
    let provider = flushed_by_hand(server.remote_write_url(), "large")
        .with_max_samples_per_send(500)
        .with_cardinality_limit(10_000)
        .build()
        .expect("provider");
    let items = provider.meter("large").u64_counter("large.items").build();
    // Series are sent in creation order: the pair's members are the first and the last
    // of 5,000 points, ten requests apart.
    let record = |round: u64| {
        items.add(1_000 * round, &[]);
        for id in 1..=4_998u64 {
            items.add(id * round, &[KeyValue::new("id", id.to_string())]);
        }
        items.add(7 * round, &[KeyValue::new("route", "")]);
    };
    let want = |rounds: u64| -> Vec<(String, f64)> {
        let mut want: Vec<(String, f64)> = (1..=4_998u64)
            .map(|id| (id.to_string(), (id * rounds) as f64))
            .collect();
        want.push((String::new(), (1_007 * rounds) as f64));
        want.sort_by(|a, b| a.0.cmp(&b.0));
        want
    };
    let q = r#"large_items_total{job="large"}"#;
    for round in 1..=2u64 {
        record(round);
        flush(&provider)
            .await
            .unwrap_or_else(|e| panic!("push {round} not accepted: {e}"));
        let cumulative = round * (round + 1) / 2;
        let expected = want(cumulative);
        let result = query_until(&server, q, |r| values_by(r, "id") == expected).await;
        let stored = values_by(&result, "id");
        if stored != expected {
            let stored: BTreeMap<String, f64> = stored.into_iter().collect();
            let wrong: Vec<String> = expected
                .iter()
                .filter(|(id, v)| stored.get(id) != Some(v))
                .map(|(id, v)| format!("{{id={id:?}}} stored {:?}, want {v}", stored.get(id)))
                .collect();
            panic!(
                "push {round}: {} of {} series wrong or missing ({} stored), e.g. {:?}",
                wrong.len(),
                expected.len(),
                stored.len(),
                &wrong[..wrong.len().min(5)]
            );
        }
    }
    shutdown(&provider).await.expect("final push accepted");
}

// ---- 4. pushes next to a colliding pair succeed ----------------------------------------

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_accepts_every_push_holding_a_colliding_pair_and_stores_the_rest_exactly() {
    let server = Server::start(Kind::Prometheus3).await;
    let provider = provider(&server, "pair");
    let meter = provider.meter("pair");
    let pair = meter.u64_counter("pair.requests").build();
    let unrelated = meter.u64_counter("unrelated.jobs").build();
    let mut total = 0;
    for round in 1..=3u64 {
        pair.add(1, &[]);
        pair.add(2, &[KeyValue::new("route", "")]);
        unrelated.add(round, &[]);
        total += round;
        flush(&provider)
            .await
            .unwrap_or_else(|e| panic!("push {round} not accepted: {e}"));
        assert_stored(&server, r#"unrelated_jobs_total{job="pair"}"#, total as f64).await;
        assert_stored(
            &server,
            r#"pair_requests_total{job="pair"}"#,
            (3 * round) as f64,
        )
        .await;
    }
    unrelated.add(10, &[]);
    shutdown(&provider).await.expect("final push accepted");
    // The final push ended the series with stale markers: read the last real sample.
    let q = r#"max_over_time(unrelated_jobs_total{job="pair"}[10m])"#;
    assert_stored(&server, q, (total + 10) as f64).await;
}

// ---- 5. replicas of one service ---------------------------------------------------------

async fn replicas_of_one_service_keep_their_own_series(server: &Server) {
    let replicas = [
        provider(server, "replicated"),
        provider(server, "replicated"),
    ];
    for (replica, value) in replicas.iter().zip([3, 4]) {
        let jobs = replica.meter("worker").u64_counter("replica.jobs").build();
        jobs.add(value, &[]);
        flush(replica).await.expect("push accepted");
    }
    let q = r#"replica_jobs_total{job="replicated"}"#;
    let result = query_until(server, q, |r| values_by(r, "instance").len() >= 2).await;
    let stored = values_by(&result, "instance");
    let mut values: Vec<f64> = stored.iter().map(|(_, v)| *v).collect();
    values.sort_by(f64::total_cmp);
    assert_eq!(values, vec![3.0, 4.0], "{stored:?}");
    for (instance, _) in &stored {
        assert!(
            is_uuid_v4(instance),
            "instance {instance:?} is not a UUID v4"
        );
    }
    assert_ne!(stored[0].0, stored[1].0, "two distinct instances");
    for replica in &replicas {
        shutdown(replica).await.expect("final push accepted");
    }
}

/// `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`, lower-case hex, `y` one of `89ab`.
fn is_uuid_v4(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    let hex = |g: &str| g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| hex(g))
        && groups[2].starts_with('4')
        && groups[3].starts_with(['8', '9', 'a', 'b'])
}

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_stores_two_replicas_of_one_service_as_two_instances() {
    let server = Server::start(Kind::Prometheus3).await;
    replicas_of_one_service_keep_their_own_series(&server).await;
}

#[tokio::test]
#[ignore = "needs current VictoriaMetrics (scripts/build-peers); run scripts/test"]
async fn victoria_metrics_current_stores_two_replicas_of_one_service_as_two_instances() {
    let server = Server::start(Kind::VictoriaMetrics).await;
    replicas_of_one_service_keep_their_own_series(&server).await;
}

#[tokio::test]
#[ignore = "needs victoria-metrics 1.79; run scripts/test"]
async fn victoria_metrics_1_79_stores_two_replicas_of_one_service_as_two_instances() {
    let server = Server::start(Kind::VictoriaMetrics1_79).await;
    replicas_of_one_service_keep_their_own_series(&server).await;
}

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_stores_replicas_under_the_instance_ids_they_were_given() {
    let server = Server::start(Kind::Prometheus3).await;
    let replica = |id: &str| {
        flushed_by_hand(server.remote_write_url(), "named")
            .with_instance_id(id)
            .build()
            .expect("provider")
    };
    let replicas = [(replica("replica-1"), 3), (replica("replica-2"), 4)];
    for (provider, value) in &replicas {
        let jobs = provider.meter("worker").u64_counter("replica.jobs").build();
        jobs.add(*value, &[]);
        flush(provider).await.expect("push accepted");
    }
    let q = r#"replica_jobs_total{job="named"}"#;
    let want = [("replica-1", 3.0), ("replica-2", 4.0)];
    assert_stored_by(&server, q, "instance", &want).await;
    for (provider, _) in &replicas {
        shutdown(provider).await.expect("final push accepted");
    }
}

// ---- 6. one family name, two instrument types ------------------------------------------

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_keeps_the_first_instrument_of_a_contested_family_and_the_drop_is_counted() {
    let server = Server::start(Kind::Prometheus3).await;
    let provider = flushed_by_hand(server.remote_write_url(), "conflict")
        .with_self_metrics(true)
        .build()
        .expect("provider");
    let meter = provider.meter("conflict");
    // `jobs` → `jobs_total` (counter); the gauge `jobs_total` → `jobs_total` too.
    meter.u64_counter("jobs").build().add(4, &[]);
    meter.u64_gauge("jobs_total").build().record(99, &[]);
    flush(&provider).await.expect("first push accepted");
    assert_stored(&server, r#"jobs_total{job="conflict"}"#, 4.0).await;

    // The next push reports the first one's dropped gauge point.
    flush(&provider).await.expect("second push accepted");
    assert_stored(&server, r#"jobs_total{job="conflict"}"#, 4.0).await;
    let dropped = format!(
        r#"prompush_samples_dropped_total{{job="conflict",reason="{TYPE_CONFLICT_REASON}"}}"#
    );
    assert_stored(&server, &dropped, 1.0).await;
    shutdown(&provider).await.expect("final push accepted");
}

// ---- 7. quick flushes --------------------------------------------------------------------

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_accepts_fifty_flushes_in_a_row_and_stores_each() {
    let server = Server::start(Kind::Prometheus3).await;
    let provider = provider(&server, "quick");
    let flushes = provider.meter("quick").u64_counter("quick.flushes").build();
    // A clone: dropping the last handle would make a final push of its own.
    let p = provider.clone();
    let failed: Vec<(u64, String)> = blocking(move || {
        (1..=50u64)
            .filter_map(|i| {
                flushes.add(1, &[]);
                p.force_flush().err().map(|e| (i, e.to_string()))
            })
            .collect()
    })
    .await;
    assert!(failed.is_empty(), "flushes that failed: {failed:?}");
    assert_stored(&server, r#"quick_flushes_total{job="quick"}"#, 50.0).await;
    // One stored sample per flush: no two carried one timestamp.
    let q = r#"count_over_time(quick_flushes_total{job="quick"}[10m])"#;
    assert_stored(&server, q, 50.0).await;
    shutdown(&provider).await.expect("final push accepted");
}

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_accepts_flushes_from_many_threads_at_once_and_stores_the_exact_total() {
    const THREADS: u64 = 8;
    const FLUSHES: u64 = 10;
    let server = Server::start(Kind::Prometheus3).await;
    let provider = provider(&server, "burst");
    let flushes = provider.meter("burst").u64_counter("burst.flushes").build();
    let p = provider.clone();
    let failed = blocking(move || flush_from_threads(&p, &flushes, THREADS, FLUSHES)).await;
    assert!(
        failed.is_empty(),
        "{} flushes failed: {failed:?}",
        failed.len()
    );
    // Flushes that meet may share a push, so the samples are not counted; a last flush
    // after every increment carries the exact total.
    flush(&provider).await.expect("last push accepted");
    let total = (THREADS * FLUSHES) as f64;
    assert_stored(&server, r#"burst_flushes_total{job="burst"}"#, total).await;
    shutdown(&provider).await.expect("final push accepted");
}

// ---- 8. one refused series -----------------------------------------------------------------

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_refusing_one_series_costs_only_that_series() {
    let server = Server::start(Kind::Prometheus3).await;
    let provider = provider(&server, "refusal");
    let requests = provider
        .meter("refusal")
        .u64_counter("refused.requests")
        .build();
    let route = |i: u64| [KeyValue::new("route", format!("/r{i}"))];
    for i in 0..20 {
        requests.add(i + 1, &route(i));
    }
    flush(&provider).await.expect("first push accepted");
    let q = r#"refused_requests_total{job="refusal"}"#;
    let first: Vec<(String, f64)> = (0..20)
        .map(|i| (format!("/r{i}"), (i + 1) as f64))
        .collect();
    let first: Vec<(&str, f64)> = first.iter().map(|(r, v)| (r.as_str(), *v)).collect();
    assert_stored_by(&server, q, "route", &first).await;

    // A sample of `/r7` ten minutes ahead: prompush's next one for it is out of order,
    // which Prometheus answers with 400 for the whole request.
    let labels = server
        .series(r#"refused_requests_total{job="refusal",route="/r7"}"#)
        .await;
    assert_eq!(labels.len(), 1, "{labels:?}");
    let ahead = write_body(
        labels[0].iter().map(|(k, v)| (k.as_str(), v.as_str())),
        1e6,
        unix_millis() + 600_000,
    );
    let (status, body) = server.push(ahead).await;
    assert!((200..300).contains(&status), "{status}: {body}");

    for i in 0..20 {
        requests.add(100, &route(i));
    }
    let error = flush(&provider)
        .await
        .expect_err("the refused series is reported");
    assert!(error.to_string().contains("out of order"), "{error}");
    // Every other series has its new value; `/r7` still shows its first one.
    let second: Vec<(String, f64)> = (0..20)
        .map(|i| {
            let value = if i == 7 { 8 } else { i + 101 };
            (format!("/r{i}"), value as f64)
        })
        .collect();
    let second: Vec<(&str, f64)> = second.iter().map(|(r, v)| (r.as_str(), *v)).collect();
    assert_stored_by(&server, q, "route", &second).await;
    // The final push holds `/r7` again, so it is refused again: not asserted here.
    let _ = shutdown(&provider).await;
}
