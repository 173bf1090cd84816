//! Custom metrics defined at runtime, against prompush's own receiver on loopback:
//! grouped totals, every filter operator, validation with field paths, create / delete /
//! list, granularity, files, several applications. The real-Prometheus version is in
//! `tests/real/custom_metrics.rs`.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(all(feature = "receiver", feature = "custom-metrics"))]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use prompush::custom::{CustomMetric, Filter, Granularity};
use prompush::receiver::Receiver;
use prompush::receiver::STALE_NAN_BITS;
use prompush::{Destination, Error, MeterProvider};

use crate::loopback::{custom_metrics_url, drain, values_where, WAIT};
use crate::loopback_presets::json_to;
use crate::support::presets::CUSTOM_METRIC_EXAMPLE as EXAMPLE;
use crate::support::presets::{application, service_named, HOUR};

/// A provider of service `app` pushing, when flushed, to the two destinations of the
/// example definition, both on `receiver`; `grafana_cloud` adds `via="grafana"`.
fn provider(receiver: &Receiver, app: &str) -> MeterProvider {
    MeterProvider::builder()
        .with_resource(service_named(app))
        .with_push_interval(HOUR)
        .with_self_metrics(false)
        .with_destination(Destination::remote_write("metrics_api", receiver.url()))
        .with_destination(
            Destination::remote_write("grafana_cloud", receiver.url())
                .with_external_label("via", "grafana"),
        )
        .build()
        .unwrap()
}

/// Reads requests until none arrives for a moment; returns `name{labels}` → last value
/// of every series whose name starts with `prefix` (custom metrics carry no scope
/// labels; base series do, and every series has a random `instance`: both left out).
fn drained(receiver: &mut Receiver, prefix: &str) -> BTreeMap<String, f64> {
    drain(receiver)
        .iter()
        .flat_map(|received| values_where(received, |s| s.name.starts_with(prefix)))
        .collect()
}

/// Feeds `sessions` with a known mix of attributes; returns the hand-computed totals of
/// the example definition per `session_property_value`.
fn feed(provider: &MeterProvider) -> BTreeMap<&'static str, u64> {
    let sessions = provider.meter("app").u64_counter("sessions").build();
    let rows: [(&str, &str, &str, u64); 7] = [
        // (session_property_key, session_property_value, user, count)
        ("session_property_value", "premium", "u1", 3),
        ("session_property_value", "premium", "u2", 4),
        ("session_property_value", "free", "u1", 10),
        ("other_key", "premium", "u3", 100), // filtered out: another key
        ("session_property_value", "free", "u4", 5),
        ("session_property_value", "trial", "u5", 1),
        ("session_property_value", "premium", "u1", 2), // same series as the first
    ];
    for (key, value, user, n) in rows {
        sessions.add(
            n,
            &[
                KeyValue::new("session_property_key", key),
                KeyValue::new("session_property_value", value),
                KeyValue::new("user", user),
            ],
        );
    }
    BTreeMap::from([("free", 15), ("premium", 9), ("trial", 1)])
}

fn expected_series(totals: &BTreeMap<&str, u64>, job: &str, extra: &str) -> BTreeMap<String, f64> {
    totals
        .iter()
        .map(|(value, total)| {
            (
                format!(
                    "Sessions_by_session_property_key_total{{job={job},session_property_value={value}{extra}}}"
                ),
                *total as f64,
            )
        })
        .collect()
}

#[test]
fn the_example_definition_yields_the_hand_computed_grouped_totals() {
    let mut receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, "shop");
    // Created before the instrument exists: applies to it all the same.
    provider
        .create_custom_metric(CustomMetric::from_json(EXAMPLE).unwrap())
        .unwrap();
    let totals = feed(&provider);
    provider.force_flush().unwrap();
    let got = drained(&mut receiver, "Sessions_by");
    let mut expected = expected_series(&totals, "shop", "");
    // grafana_cloud has its external label; label order is sorted.
    for (value, total) in &totals {
        expected.insert(
            format!(
                "Sessions_by_session_property_key_total{{job=shop,session_property_value={value},via=grafana}}"
            ),
            *total as f64,
        );
    }
    assert_eq!(got, expected);
    // The base metric itself is still pushed as always, with every label.
    provider.force_flush().unwrap();
    let base = drained(&mut receiver, "sessions_total");
    assert!(base.contains_key(
        "sessions_total{job=shop,session_property_key=other_key,session_property_value=premium,user=u3}"
    ));
    provider.shutdown().unwrap();
}

#[test]
fn definitions_apply_to_instruments_created_before_and_after_them() {
    let mut receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, "shop");
    let before = provider.meter("a").u64_counter("sessions").build();
    before.add(2, &[KeyValue::new("tier", "gold")]);
    let definition = CustomMetric::new("sessions_by_tier", "sessions")
        .with_destinations(["metrics_api"])
        .with_group_by(["tier"]);
    provider.create_custom_metric(definition).unwrap();
    // Another meter's instrument of the same name, created afterwards, feeds it too.
    let after = provider.meter("b").u64_counter("sessions").build();
    after.add(5, &[KeyValue::new("tier", "gold"), KeyValue::new("x", "y")]);
    provider.force_flush().unwrap();
    assert_eq!(
        drained(&mut receiver, "sessions_by_tier"),
        BTreeMap::from([("sessions_by_tier_total{job=shop,tier=gold}".to_owned(), 7.0)])
    );
    provider.shutdown().unwrap();
}

#[test]
fn each_filter_operator_and_nested_filters_select_their_points() {
    let mut receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, "shop");
    let requests = provider.meter("app").u64_counter("requests").build();
    let rows: [(&str, &str, i64, u64); 5] = [
        ("/users", "GET", 200, 1),
        ("/users", "POST", 201, 2),
        ("/orders", "GET", 500, 4),
        ("/orders/7", "DELETE", 404, 8),
        ("/health", "GET", 200, 16),
    ];
    for (route, method, code, n) in rows {
        requests.add(
            n,
            &[
                KeyValue::new("http.route", route),
                KeyValue::new("method", method),
                KeyValue::new("code", code),
            ],
        );
    }
    requests.add(32, &[KeyValue::new("method", "GET")]); // no route, no code
    let cases: Vec<(&str, Filter, f64)> = vec![
        ("eq", Filter::eq("method", "GET"), 1.0 + 4.0 + 16.0 + 32.0),
        ("eq_number", Filter::eq("code", "200"), 17.0),
        ("neq", Filter::neq("method", "GET"), 10.0),
        (
            "neq_absent",
            Filter::neq("http_route", "/health"),
            1.0 + 2.0 + 4.0 + 8.0 + 32.0,
        ),
        ("in", Filter::one_of("code", ["201", "404"]), 10.0),
        ("regex", Filter::regex("http.route", "/orders(/.*)?"), 12.0),
        ("exists", Filter::exists("code"), 31.0),
        ("not", Filter::not(Filter::exists("code")), 32.0),
        (
            "nested",
            Filter::and([
                Filter::eq("method", "GET"),
                Filter::or([
                    Filter::regex("code", "5.."),
                    Filter::not(Filter::exists("http.route")),
                ]),
            ]),
            36.0,
        ),
    ];
    for (name, filter, _) in &cases {
        provider
            .create_custom_metric(
                CustomMetric::new(format!("requests_{name}"), "requests_total")
                    .with_destinations(["metrics_api"])
                    .with_filter(filter.clone()),
            )
            .unwrap();
    }
    provider.force_flush().unwrap();
    let got = drained(&mut receiver, "requests_");
    for (name, _, total) in &cases {
        let key = format!("requests_{name}_total{{job=shop}}");
        assert_eq!(got.get(&key), Some(total), "{key} in {got:#?}");
    }
    provider.shutdown().unwrap();
}

#[test]
fn gauges_keep_the_last_value_and_histograms_merge() {
    let mut receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, "shop");
    let meter = provider.meter("app");
    let temperature = meter.f64_gauge("temperature").build();
    let latency = meter
        .f64_histogram("latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build();
    for definition in [
        CustomMetric::new("temperature_by_room", "temperature").with_group_by(["room"]),
        CustomMetric::new("latency_all", "latency_seconds"),
    ] {
        provider
            .create_custom_metric(definition.with_destinations(["metrics_api"]))
            .unwrap();
    }
    temperature.record(
        20.0,
        &[KeyValue::new("room", "a"), KeyValue::new("sensor", "1")],
    );
    temperature.record(
        21.0,
        &[KeyValue::new("room", "a"), KeyValue::new("sensor", "2")],
    );
    for (v, route) in [(0.05, "/a"), (0.5, "/b"), (5.0, "/a")] {
        latency.record(v, &[KeyValue::new("route", route)]);
    }
    provider.force_flush().unwrap();
    drained(&mut receiver, "");
    // Only sensor 1 changes: it is the latest in room a.
    temperature.record(
        19.5,
        &[KeyValue::new("room", "a"), KeyValue::new("sensor", "1")],
    );
    provider.force_flush().unwrap();
    let got = drained(&mut receiver, "");
    assert_eq!(
        got.get("temperature_by_room{job=shop,room=a}"),
        Some(&19.5),
        "{got:#?}"
    );
    let expected = [
        ("latency_all_seconds_bucket{job=shop,le=0.1}", 1.0),
        ("latency_all_seconds_bucket{job=shop,le=1}", 2.0),
        ("latency_all_seconds_bucket{job=shop,le=+Inf}", 3.0),
        ("latency_all_seconds_sum{job=shop}", 5.55),
        ("latency_all_seconds_count{job=shop}", 3.0),
    ];
    for (series, value) in expected {
        assert_eq!(got.get(series), Some(&value), "{series} in {got:#?}");
    }
    provider.shutdown().unwrap();
}

#[test]
fn validation_errors_point_at_the_offending_field() {
    let with = |patch: &str| EXAMPLE.replacen("\"group_by\"", &format!("{patch}, \"group_by\""), 1);
    let bad_op = r#"{"name": "x", "metric": "m", "time_granularity": ["hourly"],
        "data_destination": ["metrics_api"],
        "filters": {"op": "or", "children": [
            {"key": "a", "val": "1", "field_op": "eq"},
            {"key": "b", "val": ["1", "2"], "field_op": "in"},
            {"key": "c", "val": "x", "field_op": "like"}]}}"#;
    let cases: Vec<(String, &str, &str)> = vec![
        (
            bad_op.to_owned(),
            "filters.children[2].field_op",
            "unknown operator \"like\"",
        ),
        (
            EXAMPLE.replace("\"op\": \"and\"", "\"op\": \"xor\""),
            "filters.op",
            "unknown operator \"xor\"",
        ),
        (
            EXAMPLE.replace(
                "\"val\": \"session_property_value\", \"field_op\": \"eq\"",
                "\"val\": \"a)|(b\", \"field_op\": \"regex\"",
            ),
            "filters.children[0].val",
            "invalid regular expression",
        ),
        (
            EXAMPLE.replace("\"five_minute\"", "\"0s\""),
            "time_granularity[0]",
            "zero",
        ),
        (
            EXAMPLE.replace(
                "\"val\": \"session_property_value\", \"field_op\": \"eq\"",
                "\"val\": \"(unclosed\", \"field_op\": \"regex\"",
            ),
            "filters.children[0].val",
            "invalid regular expression",
        ),
        (
            EXAMPLE.replace(
                "\"val\": \"session_property_value\", \"field_op\": \"eq\"",
                "\"val\": \"x\", \"field_op\": \"in\"",
            ),
            "filters.children[0].val",
            "\"in\" takes a list",
        ),
        (
            EXAMPLE.replace("\"five_minute\"", "\"weekly\""),
            "time_granularity[0]",
            "unknown granularity \"weekly\"",
        ),
        (
            EXAMPLE.replace(
                "\"name\": \"Sessions_by_session_property_key\"",
                "\"name\": \"1 bad\"",
            ),
            "name",
            "not a Prometheus metric name",
        ),
        (
            EXAMPLE.replace("\"metric\": \"sessions_total\",", ""),
            "metric",
            "is missing",
        ),
        (with("\"filter\": {}"), "filter", "unknown field"),
        (
            EXAMPLE.replace("[\"session_property_value\"]", "[\"a\", \"a\"]"),
            "group_by[1]",
            "listed twice",
        ),
        (
            EXAMPLE
                .replace("\"op\": \"and\"", "\"op\": \"not\"")
                .replace(
                    "\"field_op\": \"eq\"}]",
                    "\"field_op\": \"eq\"}, {\"key\": \"b\", \"field_op\": \"exists\"}]",
                ),
            "filters.children",
            "exactly one child",
        ),
        ("[1, 2]".to_owned(), "", "expected an object"),
        ("{\"name\": ".to_owned(), "", "EOF"),
    ];
    for (json, field, message) in cases {
        match CustomMetric::from_json(&json) {
            Err(Error::InvalidCustomMetric {
                field: f,
                message: m,
            }) => {
                assert_eq!(f, field, "{m}");
                assert!(m.contains(message), "{f}: {m:?} lacks {message:?}");
            }
            other => panic!("{field}: expected an error, got {other:?}"),
        }
    }
    // Whole seconds only (a fraction would not survive the JSON form).
    let fractional = CustomMetric::new("x", "m")
        .with_granularity([Granularity::Every(Duration::from_millis(1500))])
        .with_destinations(["metrics_api"]);
    let receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, "shop");
    assert!(matches!(
        provider.create_custom_metric(fractional),
        Err(Error::InvalidCustomMetric { field, .. }) if field == "time_granularity[0]"
    ));
    provider.shutdown().unwrap();
    // The whole message, as a caller would log it.
    let err = CustomMetric::from_json(bad_op).unwrap_err().to_string();
    assert!(
        err.contains("filters.children[2].field_op: unknown operator \"like\""),
        "{err}"
    );
}

#[test]
fn creation_checks_destinations_names_and_leaves_nothing_half_created() {
    let receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, "shop");
    let example = CustomMetric::from_json(EXAMPLE).unwrap();
    provider.create_custom_metric(example.clone()).unwrap();
    // The name exists: an error of its own kind, so callers can skip it.
    match provider.create_custom_metric(example.clone()) {
        Err(Error::CustomMetricExists(name)) => assert_eq!(name, example.name),
        other => panic!("{other:?}"),
    }
    let unknown =
        CustomMetric::new("other", "sessions").with_destinations(["metrics_api", "datadog"]);
    match provider.create_custom_metric(unknown) {
        Err(Error::InvalidCustomMetric { field, message }) => {
            assert_eq!(field, "data_destination[1]");
            assert!(message.contains("\"datadog\"") && message.contains("\"metrics_api\""));
        }
        other => panic!("{other:?}"),
    }
    let bad_regex = CustomMetric::new("other", "sessions")
        .with_destinations(["metrics_api"])
        .with_filter(Filter::and([Filter::regex("k", "[")]));
    match provider.create_custom_metric(bad_regex) {
        Err(Error::InvalidCustomMetric { field, .. }) => {
            assert_eq!(field, "filters.children[0].val")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(provider.custom_metrics(), vec![example.clone()]);
    match provider.delete_custom_metric("nope") {
        Err(Error::UnknownCustomMetric(name)) => assert_eq!(name, "nope"),
        other => panic!("{other:?}"),
    }
    provider.delete_custom_metric(&example.name).unwrap();
    assert!(provider.custom_metrics().is_empty());
    provider.shutdown().unwrap();
    assert!(matches!(
        provider.create_custom_metric(example),
        Err(Error::AlreadyShutdown)
    ));
}

#[test]
fn delete_ends_the_series_with_stale_markers_and_recreate_starts_them_again() {
    let mut receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, "shop");
    let totals = feed(&provider);
    let mut example = CustomMetric::from_json(EXAMPLE).unwrap();
    example.data_destination = vec!["metrics_api".into()];
    provider.create_custom_metric(example.clone()).unwrap();
    provider.force_flush().unwrap();
    assert_eq!(
        drained(&mut receiver, "Sessions_by"),
        expected_series(&totals, "shop", "")
    );
    provider.delete_custom_metric(&example.name).unwrap();
    provider.force_flush().unwrap();
    let ended = drained(&mut receiver, "Sessions_by");
    assert_eq!(ended.len(), totals.len(), "{ended:#?}");
    assert!(
        ended.values().all(|v| v.to_bits() == STALE_NAN_BITS),
        "{ended:#?}"
    );
    // Gone afterwards: the next push has none of its series.
    provider.force_flush().unwrap();
    assert!(drained(&mut receiver, "Sessions_by").is_empty());
    // Created again at once, with the same name: values again.
    provider.create_custom_metric(example).unwrap();
    provider.force_flush().unwrap();
    assert_eq!(
        drained(&mut receiver, "Sessions_by"),
        expected_series(&totals, "shop", "")
    );
    provider.shutdown().unwrap();
}

#[test]
fn the_finest_granularity_sets_the_push_interval() {
    let mut receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, "shop");
    provider
        .meter("app")
        .u64_counter("ticks")
        .build()
        .add(1, &[]);
    let definition = CustomMetric::new("ticks_every_second", "ticks")
        .with_granularity([
            Granularity::Hourly,
            Granularity::Every(Duration::from_secs(1)),
        ])
        .with_destinations(["metrics_api"]);
    assert_eq!(definition.interval(), Duration::from_secs(1));
    provider.create_custom_metric(definition).unwrap();
    // The destination itself pushes hourly; the custom metric comes every second.
    let mut arrivals = Vec::new();
    let started = Instant::now();
    while arrivals.len() < 3 && started.elapsed() < WAIT {
        if let Some(r) = receiver.recv_blocking(WAIT) {
            if r.request.series("ticks_every_second_total").is_some() {
                arrivals.push(r.received_at);
            }
        }
    }
    assert_eq!(arrivals.len(), 3, "three pushes within {WAIT:?}");
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(700) && gap < Duration::from_secs(3),
            "{gap:?}"
        );
    }
    provider.shutdown().unwrap();
}

#[test]
fn json_round_trips_through_serde() {
    let example = CustomMetric::from_json(EXAMPLE).unwrap();
    let again = CustomMetric::from_json(&example.to_json()).unwrap();
    assert_eq!(again, example);
    let via_serde: CustomMetric = serde_json::from_str(EXAMPLE).unwrap();
    assert_eq!(via_serde, example);
    let value = serde_json::to_value(&example).unwrap();
    assert_eq!(
        value["time_granularity"],
        serde_json::json!(["five_minute", "hourly", "daily"])
    );
    assert_eq!(value["filters"]["children"][0]["field_op"], "eq");
    let err = serde_json::from_str::<CustomMetric>(r#"{"name":"x"}"#).unwrap_err();
    assert!(err.to_string().contains("metric: is missing"), "{err}");
    let seconds = CustomMetric::new("x", "m")
        .with_granularity([Granularity::Every(Duration::from_secs(30))])
        .with_destinations(["d"]);
    assert_eq!(
        CustomMetric::from_json(&seconds.to_json()).unwrap(),
        seconds
    );
}

#[test]
fn definitions_load_from_a_file_at_build_with_errors_that_name_the_file() {
    let mut receiver = Receiver::start().unwrap();
    let url = receiver.url();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("custom.json");
    std::fs::write(
        &good,
        format!(
            "[{EXAMPLE}, {{\"name\": \"all_sessions\", \"metric\": \"sessions\", \
             \"time_granularity\": [\"30s\"], \"data_destination\": [\"metrics_api\"]}}]"
        ),
    )
    .unwrap();
    let build = |path: &std::path::Path| {
        MeterProvider::builder()
            .with_push_interval(HOUR)
            .with_destination(Destination::remote_write("metrics_api", url.clone()))
            .with_destination(Destination::remote_write("grafana_cloud", url.clone()))
            .with_custom_metrics_file(path)
            .build()
    };
    let provider = build(&good).unwrap();
    let names: Vec<String> = provider
        .custom_metrics()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["Sessions_by_session_property_key", "all_sessions"]);
    provider.shutdown().unwrap();
    // Its final pushes.
    while receiver.recv_blocking(Duration::from_millis(300)).is_some() {}

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"custom_metrics": [{"name": "a", "metric": "m", "time_granularity": ["daily"],
            "data_destination": ["metrics_api"], "group_by": "tier"}]}"#,
    )
    .unwrap();
    match build(&bad) {
        Err(Error::InvalidCustomMetric { field, message }) => {
            assert_eq!(field, "custom_metrics[0].group_by");
            assert!(message.contains("bad.json"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let unknown_destination = dir.path().join("unknown.json");
    std::fs::write(
        &unknown_destination,
        r#"[{"name": "a", "metric": "m", "time_granularity": ["daily"],
            "data_destination": ["metrics_api"]},
            {"name": "b", "metric": "m", "time_granularity": ["daily"],
            "data_destination": ["metrics_api", "nowhere"]}]"#,
    )
    .unwrap();
    match build(&unknown_destination) {
        Err(Error::InvalidCustomMetric { field, message }) => {
            assert_eq!(field, "[1].data_destination[1]");
            assert!(message.contains("unknown.json"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let twice = dir.path().join("twice.json");
    std::fs::write(
        &twice,
        r#"[{"name": "a", "metric": "m", "time_granularity": ["daily"],
            "data_destination": ["metrics_api"]},
            {"name": "a", "metric": "n", "time_granularity": ["daily"],
            "data_destination": ["metrics_api"]}]"#,
    )
    .unwrap();
    match build(&twice) {
        Err(Error::InvalidCustomMetric { field, message }) => {
            assert_eq!(field, "[1].name");
            assert!(
                message.contains("twice") && message.contains("twice.json"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    // None of the failed builds started a push task (it would push on being dropped).
    assert!(receiver.recv_blocking(Duration::from_millis(300)).is_none());
    assert!(matches!(
        build(&dir.path().join("missing.json")),
        Err(Error::Config(m)) if m.contains("missing.json")
    ));
}

#[test]
fn two_applications_with_the_same_definitions_get_their_own_series() {
    let mut receiver = Receiver::start().unwrap();
    let definitions = [CustomMetric::from_json(EXAMPLE).unwrap()];
    let mut providers = Vec::new();
    let mut all_expected = BTreeMap::new();
    // As in a loop over app ids: one provider per application, the same definitions.
    for (app_id, scale) in [("app-1", 1u64), ("app-2", 10)] {
        let provider = MeterProvider::builder()
            .with_resource(application(app_id))
            .with_push_interval(HOUR)
            .with_self_metrics(false)
            .with_destination(
                Destination::remote_write("metrics_api", receiver.url())
                    .with_external_label("app_id", app_id),
            )
            .with_destination(Destination::remote_write("grafana_cloud", receiver.url()))
            .build()
            .unwrap();
        for definition in &definitions {
            provider.create_custom_metric(definition.clone()).unwrap();
        }
        let sessions = provider.meter("app").u64_counter("sessions").build();
        sessions.add(
            scale,
            &[
                KeyValue::new("session_property_key", "session_property_value"),
                KeyValue::new("session_property_value", "premium"),
            ],
        );
        for via in ["app_id={app_id},", ""] {
            all_expected.insert(
                format!(
                    "Sessions_by_session_property_key_total{{{}job={app_id},session_property_value=premium}}",
                    via.replace("{app_id}", app_id)
                ),
                scale as f64,
            );
        }
        providers.push(provider);
    }
    for provider in &providers {
        provider.force_flush().unwrap();
    }
    assert_eq!(drained(&mut receiver, "Sessions_by"), all_expected);
    for provider in providers {
        provider.shutdown().unwrap();
    }
}

#[test]
fn names_that_would_collide_at_the_destination_are_refused() {
    let receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, "shop");
    let named =
        |name: &str, base: &str| CustomMetric::new(name, base).with_destinations(["metrics_api"]);
    provider
        .create_custom_metric(named("get", "requests"))
        .unwrap();
    for (name, base) in [
        ("get_total", "requests"),
        ("requests", "requests_total"),
        ("requests_total", "requests"),
    ] {
        match provider.create_custom_metric(named(name, base)) {
            Err(Error::InvalidCustomMetric { field, message }) => {
                assert_eq!(field, "name", "{message}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    assert_eq!(provider.custom_metrics().len(), 1);
    provider.shutdown().unwrap();
}

#[test]
fn only_instruments_like_the_first_feed_a_custom_metric() {
    let mut receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, "shop");
    provider.meter("a").u64_counter("load").build().add(3, &[]);
    provider
        .meter("b")
        .f64_gauge("load")
        .build()
        .record(100.0, &[]);
    provider
        .meter("c")
        .i64_up_down_counter("load")
        .build()
        .add(-50, &[]);
    provider.meter("d").u64_counter("load").build().add(4, &[]);
    provider
        .create_custom_metric(
            CustomMetric::new("load_all", "load").with_destinations(["metrics_api"]),
        )
        .unwrap();
    provider.force_flush().unwrap();
    assert_eq!(
        drained(&mut receiver, "load_all"),
        BTreeMap::from([("load_all_total{job=shop}".to_owned(), 7.0)])
    );
    provider.shutdown().unwrap();
}

#[test]
fn delete_ends_the_series_at_once_whatever_the_granularity() {
    let mut receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, "shop");
    provider.meter("a").u64_counter("hits").build().add(1, &[]);
    let daily = CustomMetric::new("hits_daily", "hits")
        .with_granularity([Granularity::Daily])
        .with_destinations(["metrics_api"]);
    provider.create_custom_metric(daily).unwrap();
    provider.force_flush().unwrap();
    assert_eq!(drained(&mut receiver, "hits_daily").len(), 1);
    // No flush: the delete itself sends the stale marker, not a push a day later.
    provider.delete_custom_metric("hits_daily").unwrap();
    let marker = receiver
        .recv_blocking(WAIT)
        .expect("a push after the delete");
    let series = marker
        .request
        .series("hits_daily_total")
        .expect("the marker");
    assert_eq!(series.value().map(f64::to_bits), Some(STALE_NAN_BITS));
    provider.shutdown().unwrap();
}

#[test]
fn shutdown_ends_custom_series_and_errors_keep_their_shape() {
    let mut receiver = Receiver::start().unwrap();
    let provider = provider(&receiver, "shop");
    provider.meter("a").u64_counter("hits").build().add(1, &[]);
    provider
        .create_custom_metric(
            CustomMetric::new("hits_all", "hits").with_destinations(["metrics_api"]),
        )
        .unwrap();
    provider.shutdown().unwrap();
    let got: Vec<f64> = std::iter::from_fn(|| receiver.recv_blocking(Duration::from_millis(500)))
        .flat_map(|r| r.request.series)
        .filter(|s| s.name == "hits_all_total")
        .filter_map(|s| s.value())
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got.iter().filter(|v| v.to_bits() == STALE_NAN_BITS).count(),
        1
    );

    // One destination, with a custom-metrics queue too: a failure is still the plain
    // error of that destination, not a list.
    let provider = MeterProvider::builder()
        .with_push_interval(HOUR)
        .with_destination(
            Destination::remote_write("only", crate::loopback::closed_loopback_endpoint())
                .with_timeout(Duration::from_millis(300))
                .with_shutdown_timeout(Duration::from_millis(300))
                .with_retry_backoff(Duration::from_millis(10), Duration::from_millis(20)),
        )
        .with_custom_metric(CustomMetric::new("hits_all", "hits").with_destinations(["only"]))
        .build()
        .unwrap();
    provider.meter("a").u64_counter("hits").build().add(1, &[]);
    match provider.force_flush() {
        Err(Error::Push(_)) => {}
        other => panic!("expected a plain push error, got {other:?}"),
    }
    let _ = provider.shutdown();
}

#[test]
fn custom_metrics_reach_a_json_destination() {
    let mut json = Receiver::start().unwrap();
    let provider = json_to("unleash", custom_metrics_url(&json))
        .build()
        .unwrap();
    let totals = feed(&provider);
    let definition = EXAMPLE
        .replace(", \"grafana_cloud\"", "")
        .replace("metrics_api", "unleash");
    provider
        .create_custom_metric(CustomMetric::from_json(&definition).unwrap())
        .unwrap();
    provider.force_flush().unwrap();
    let expected: BTreeMap<String, f64> = totals
        .iter()
        .map(|(v, n)| {
            (
                format!("Sessions_by_session_property_key_total{{session_property_value={v}}}"),
                *n as f64,
            )
        })
        .collect();
    assert_eq!(drained(&mut json, "Sessions_by"), expected);
    provider.shutdown().unwrap();
}
