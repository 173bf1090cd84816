//! Several destinations at once, against prompush's own receivers on loopback: protocols,
//! auth kinds, external labels, independent schedules, the JSON protocol's statuses and
//! body limits, shared client and runtime. The real-server versions are in
//! `tests/real/destinations.rs`.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use prompush::receiver::{Receiver, Reply};
use prompush::{Destination, Error, MeterProvider, Protocol};

use crate::cpu_and_threads::threads_named;
use crate::loopback::{app_values, custom_metrics_url, next, value_of, HungEndpoint};
use crate::loopback_presets::{bare, json_to};
use crate::support::presets::{service_named, HOUR};

fn resource() -> Resource {
    Resource::builder_empty()
        .with_attribute(KeyValue::new("service.name", "shop"))
        .with_attribute(KeyValue::new("host.name", "h1"))
        .build()
}

#[test]
fn both_protocols_carry_the_same_series_with_their_own_headers_and_labels() {
    let mut rw = Receiver::start().unwrap();
    let mut json = Receiver::start().unwrap();
    let provider = MeterProvider::builder()
        .with_resource(resource())
        .with_push_interval(HOUR)
        .with_self_metrics(false)
        .with_destination(
            Destination::remote_write("mimir", rw.url())
                .with_tenant("team-a")
                .with_bearer_token("rw-token")
                .with_external_label("app_id", "checkout")
                .with_external_label("region", "eu"),
        )
        .with_destination(
            Destination::custom_metrics_json("unleash", custom_metrics_url(&json))
                .with_authorization("default:development.unleash-token")
                .with_external_label("app_id", "checkout"),
        )
        .build()
        .unwrap();
    assert_eq!(
        provider.destinations().collect::<Vec<_>>(),
        ["mimir", "unleash"]
    );
    let meter = provider.meter("t");
    let counter = meter.u64_counter("requests").build();
    counter.add(3, &[KeyValue::new("route", "/a")]);
    // The series' own label wins over the external one.
    counter.add(4, &[KeyValue::new("region", "us")]);
    meter
        .f64_histogram("latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build()
        .record(0.5, &[]);
    provider.force_flush().unwrap();

    let from_rw = next(&mut rw);
    let from_json = next(&mut json);
    assert_eq!(from_rw.protocol, Protocol::RemoteWrite);
    assert_eq!(from_json.protocol, Protocol::UnleashJson);
    assert_eq!(from_rw.status, 204);
    assert_eq!(from_json.status, 202);
    assert_eq!(from_rw.headers.get("x-scope-orgid"), Some("team-a"));
    assert_eq!(from_rw.headers.bearer_token(), Some("rw-token"));
    assert_eq!(from_rw.headers.get("content-encoding"), Some("snappy"));
    assert_eq!(
        from_json.headers.get("authorization"),
        Some("default:development.unleash-token")
    );
    assert_eq!(
        from_json.headers.get("content-type"),
        Some("application/json")
    );
    assert_eq!(from_json.headers.get("x-scope-orgid"), None);

    let rw_values = app_values(&from_rw);
    let json_values = app_values(&from_json);
    let expected_rw: BTreeMap<String, f64> = [
        (
            "requests_total{app_id=checkout,job=shop,region=eu,route=/a}",
            3.0,
        ),
        ("requests_total{app_id=checkout,job=shop,region=us}", 4.0),
        (
            "latency_seconds_bucket{app_id=checkout,job=shop,le=0.1,region=eu}",
            0.0,
        ),
        (
            "latency_seconds_bucket{app_id=checkout,job=shop,le=1,region=eu}",
            1.0,
        ),
        (
            "latency_seconds_bucket{app_id=checkout,job=shop,le=+Inf,region=eu}",
            1.0,
        ),
        (
            "latency_seconds_sum{app_id=checkout,job=shop,region=eu}",
            0.5,
        ),
        (
            "latency_seconds_count{app_id=checkout,job=shop,region=eu}",
            1.0,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(rw_values, expected_rw);
    // The JSON destination has only `app_id` as external label: the same series minus
    // `region=eu`.
    let expected_json: BTreeMap<String, f64> = expected_rw
        .iter()
        .map(|(k, v)| (k.replace(",region=eu", ""), *v))
        .collect();
    assert_eq!(json_values, expected_json);
    // target_info gets the external labels too.
    let info = from_rw.request.series("target_info").expect("target_info");
    assert_eq!(info.label("host_name"), Some("h1"));
    assert_eq!(info.label("app_id"), Some("checkout"));
    assert_eq!(info.label("region"), Some("eu"));
    provider.shutdown().unwrap();
}

#[test]
fn basic_auth_reaches_the_endpoint_and_never_the_debug_output() {
    let mut rw = Receiver::start().unwrap();
    let destination = Destination::remote_write("grafana", rw.url())
        .with_basic_auth("123456", "glc_SECRET-token");
    let debug = format!("{destination:?}");
    assert!(
        !debug.contains("SECRET") && !debug.contains("123456"),
        "{debug}"
    );
    let provider = MeterProvider::builder()
        .with_push_interval(HOUR)
        .with_destination(destination)
        .build()
        .unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    provider.force_flush().unwrap();
    let received = next(&mut rw);
    // base64("123456:glc_SECRET-token")
    assert_eq!(
        received.headers.get("authorization"),
        Some("Basic MTIzNDU2OmdsY19TRUNSRVQtdG9rZW4=")
    );
    assert!(!format!("{provider:?}").contains("SECRET"));
    provider.shutdown().unwrap();
}

#[test]
fn each_destination_pushes_on_its_own_schedule_while_another_hangs() {
    let hung = HungEndpoint::start();
    let mut fast = Receiver::start().unwrap();
    let mut slow = Receiver::start().unwrap();
    let provider = MeterProvider::builder()
        .with_push_interval(Duration::from_millis(400))
        .with_destination(
            Destination::remote_write("hung", hung.url.clone())
                .with_push_interval(Duration::from_millis(50))
                .with_timeout(Duration::from_secs(30))
                .with_shutdown_timeout(Duration::from_millis(300)),
        )
        .with_destination(
            Destination::remote_write("fast", fast.url())
                .with_push_interval(Duration::from_millis(100)),
        )
        .with_destination(Destination::custom_metrics_json(
            "slow",
            custom_metrics_url(&slow),
        ))
        .build()
        .unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    // Ten pushes of the fast destination, at about its interval, while the hung one has
    // a request on the wire that will not be answered for 30 s. The bounds are loose
    // (a loaded CI machine) but far below the 30 s a shared queue would cost.
    let started = Instant::now();
    let mut arrivals = Vec::new();
    for _ in 0..10 {
        arrivals.push(next(&mut fast).received_at);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "10 pushes at 100 ms took {took:?}"
    );
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        // Far below the 30 s the hung request holds; loose for a loaded machine.
        assert!(gap < Duration::from_millis(1500), "a gap of {gap:?}");
    }
    // Meanwhile the hung destination did have a request on the wire.
    hung.wait_for_a_held_request();
    // The JSON destination follows the provider's interval (400 ms).
    let first = next(&mut slow).received_at;
    let second = next(&mut slow).received_at;
    let gap = second - first;
    assert!(
        gap >= Duration::from_millis(300) && gap < Duration::from_secs(3),
        "{gap:?}"
    );
    // Shutdown: the hung destination gives up at its own deadline; the others deliver.
    let started = Instant::now();
    let err = provider.shutdown().unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    match &err {
        Error::Destinations(failures) => {
            assert_eq!(failures.len(), 1, "{err}");
            assert_eq!(failures[0].0, "hung");
            assert!(matches!(failures[0].1, Error::Undelivered { .. }), "{err}");
        }
        other => panic!("expected Error::Destinations, got {other:?}"),
    }
    assert!(err.to_string().contains("\"hung\""), "{err}");
}

#[test]
fn a_json_body_refused_as_too_large_is_sent_again_in_halves() {
    let mut json = Receiver::start().unwrap();
    json.reply_next(1, Reply::status(413).body("request entity too large"));
    let provider = json_to("u", custom_metrics_url(&json)).build().unwrap();
    let counter = provider.meter("t").u64_counter("c").build();
    for i in 0..100 {
        counter.add(i + 1, &[KeyValue::new("i", i as i64)]);
    }
    provider.force_flush().unwrap();
    let refused = next(&mut json);
    assert_eq!(refused.status, 413);
    assert_eq!(refused.request.series.len(), 100);
    let a = next(&mut json);
    let b = next(&mut json);
    assert_eq!((a.status, b.status), (202, 202));
    assert_eq!(a.request.series.len() + b.request.series.len(), 100);
    let mut delivered = app_values(&a);
    delivered.extend(app_values(&b));
    // What was recorded: series `i` holds i + 1.
    let recorded: BTreeMap<String, f64> = (0..100)
        .map(|i| (format!("c_total{{i={i}}}"), (i + 1) as f64))
        .collect();
    assert_eq!(delivered, recorded);
    assert!(json.recv_blocking(Duration::from_millis(200)).is_none());
    provider.shutdown().unwrap();
}

#[test]
fn json_bodies_stay_under_the_limit_and_deliver_every_series() {
    let mut json = Receiver::start().unwrap();
    let provider = bare()
        .with_self_metrics(false)
        .with_cardinality_limit(10_000)
        .with_destination(Destination::custom_metrics_json(
            "u",
            custom_metrics_url(&json),
        ))
        .build()
        .unwrap();
    let counter = provider.meter("t").u64_counter("orders").build();
    for i in 0..5000u64 {
        counter.add(i, &[KeyValue::new("customer", format!("customer-{i:05}"))]);
    }
    provider.force_flush().unwrap();
    let mut seen = BTreeMap::new();
    let mut bodies = 0;
    while seen.len() < 5000 {
        let received = next(&mut json);
        bodies += 1;
        assert_eq!(received.status, 202);
        let size: usize = received
            .headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .expect("content-length");
        assert!(
            size <= prompush::Destination::DEFAULT_MAX_BODY_BYTES,
            "{size} bytes"
        );
        seen.extend(app_values(&received));
    }
    assert!(bodies >= 4, "{bodies} bodies");
    assert_eq!(
        seen.get("orders_total{customer=customer-04999}"),
        Some(&4999.0)
    );
    provider.shutdown().unwrap();
}

#[test]
fn a_refused_token_is_one_attempt_with_the_receivers_details_and_counted() {
    let mut json = Receiver::start().unwrap();
    let mut rw = Receiver::start().unwrap();
    json.reply_next(
        1,
        Reply::status(401)
            .body(r#"{"name":"AuthenticationRequired","message":"You must log in to use Unleash.","details":[{"message":"You must log in to use Unleash."}]}"#),
    );
    let provider = MeterProvider::builder()
        .with_push_interval(HOUR)
        .with_destination(
            Destination::custom_metrics_json("unleash", custom_metrics_url(&json))
                .with_authorization("bad-token-SECRET"),
        )
        .with_destination(Destination::remote_write("prom", rw.url()))
        .build()
        .unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    let err = provider.force_flush().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("\"unleash\""), "{text}");
    assert!(
        text.contains("401") && text.contains("You must log in"),
        "{text}"
    );
    assert!(text.contains("credentials"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
    match &err {
        Error::Destinations(failures) => {
            assert_eq!(failures.len(), 1);
            assert!(matches!(failures[0].1, Error::Push(_)));
        }
        other => panic!("{other:?}"),
    }
    let refused = next(&mut json);
    assert_eq!(refused.status, 401);
    assert!(
        json.recv_blocking(Duration::from_millis(300)).is_none(),
        "not retried"
    );
    next(&mut rw);
    // The refusal is counted, under the destination's name.
    provider.force_flush().unwrap();
    let report = next(&mut rw);
    assert_eq!(
        value_of(
            &report,
            "prompush_samples_dropped_total",
            &[("destination", "unleash"), ("reason", "refused")]
        ),
        Some(refused.request.series.len() as f64)
    );
    assert_eq!(
        value_of(
            &report,
            "prompush_requests_total",
            &[("destination", "unleash"), ("status_class", "4xx")]
        ),
        Some(1.0)
    );
    provider.shutdown().unwrap();
}

#[test]
fn values_json_cannot_carry_are_left_out_and_counted() {
    let mut json = Receiver::start().unwrap();
    let provider = json_to("u", custom_metrics_url(&json))
        .with_self_metrics(true)
        .build()
        .unwrap();
    let gauge = provider.meter("t").f64_gauge("g").build();
    gauge.record(f64::NAN, &[KeyValue::new("k", "nan")]);
    gauge.record(1.5, &[KeyValue::new("k", "ok")]);
    // Beyond 2^53 − 1: Unleash would refuse the whole body for it.
    gauge.record(1e300, &[KeyValue::new("k", "huge")]);
    provider.force_flush().unwrap();
    let received = next(&mut json);
    assert_eq!(
        app_values(&received).into_iter().collect::<Vec<_>>(),
        [("g{k=ok}".to_owned(), 1.5)]
    );
    // The next push reports the first one's loss (its own comes after it is collected).
    provider.force_flush().unwrap();
    let report = next(&mut json);
    assert_eq!(
        value_of(
            &report,
            "prompush_samples_dropped_total",
            &[("destination", "u"), ("reason", "unrepresentable")]
        ),
        Some(2.0)
    );
    provider.shutdown().unwrap();
}

#[test]
fn the_builders_shorthands_configure_the_default_destination_given_whole() {
    let mut receiver = Receiver::start().unwrap();
    let provider = bare()
        .with_self_metrics(false)
        // Replaced with the rest of the default destination by the whole one.
        .with_bearer_token("replaced")
        .with_default_destination(
            Destination::remote_write("main", receiver.url()).with_external_label("app_id", "x"),
        )
        .with_tenant("team-a")
        .build()
        .unwrap();
    assert_eq!(provider.destinations().collect::<Vec<_>>(), ["main"]);
    provider
        .meter("t")
        .u64_counter("requests")
        .build()
        .add(2, &[]);
    provider.force_flush().unwrap();

    let received = next(&mut receiver);
    assert_eq!(received.headers.get("x-scope-orgid"), Some("team-a"));
    assert_eq!(received.headers.bearer_token(), None);
    assert_eq!(
        value_of(&received, "requests_total", &[("app_id", "x")]),
        Some(2.0)
    );
    provider.shutdown().unwrap();
}

#[test]
fn configuration_errors_name_the_destination_and_start_nothing() {
    // A valid destination listed first: had its task started, it would make a final
    // push when the failed build drops it.
    let mut watch = Receiver::start().unwrap();
    let watched =
        || MeterProvider::builder().with_destination(Destination::remote_write("ok", watch.url()));
    let cases: Vec<(prompush::MeterProviderBuilder, &str)> = vec![
        (
            watched().with_destination(Destination::remote_write("ok", "http://127.0.0.1:2/")),
            "two destinations are named \"ok\"; give",
        ),
        (
            watched()
                .with_bearer_token("tok")
                .with_external_label("app_id", "x"),
            "set them on each Destination instead",
        ),
        (
            watched().with_destination(
                Destination::remote_write("h", "http://127.0.0.1:1/")
                    .with_external_label("le", "x"),
            ),
            "destination \"h\": external label \"le\" would clash",
        ),
        (
            MeterProvider::builder()
                .with_destination(Destination::remote_write("a", "http://127.0.0.1:1/"))
                .with_destination(Destination::remote_write("a", "http://127.0.0.1:2/")),
            "two destinations are named \"a\"",
        ),
        (
            MeterProvider::builder()
                .with_endpoint("http://127.0.0.1:1/")
                .with_destination(Destination::remote_write("default", "http://127.0.0.1:2/")),
            "with_endpoint configures the one named \"default\"",
        ),
        (
            MeterProvider::builder()
                .with_destination(Destination::remote_write("b", "ftp://127.0.0.1:1/")),
            "destination \"b\": endpoint scheme",
        ),
        (
            MeterProvider::builder().with_destination(
                Destination::remote_write("c", "http://127.0.0.1:1/")
                    .with_external_label("app.id", "x"),
            ),
            "destination \"c\": external label name \"app.id\"",
        ),
        (
            MeterProvider::builder().with_destination(
                Destination::remote_write("d", "http://127.0.0.1:1/").with_max_body_bytes(5000),
            ),
            "with_max_body_bytes applies to custom-metrics",
        ),
        (
            MeterProvider::builder().with_destination(
                Destination::remote_write("e", "http://127.0.0.1:1/")
                    .with_push_interval(Duration::ZERO),
            ),
            "destination \"e\": with_push_interval(0)",
        ),
        (
            MeterProvider::builder()
                .with_destination(Destination::remote_write("a b", "http://127.0.0.1:1/")),
            "destination name \"a b\"",
        ),
        (
            MeterProvider::builder().with_destination(
                Destination::custom_metrics_json("f", "http://metrics.example.com/custom")
                    .with_authorization("tok"),
            ),
            "destination \"f\": credentials would be sent unencrypted",
        ),
    ];
    for (builder, expected) in cases {
        match builder.build() {
            Err(Error::Config(message)) => {
                assert!(message.contains(expected), "{message:?} lacks {expected:?}")
            }
            other => panic!("expected a configuration error with {expected:?}, got {other:?}"),
        }
    }
    assert!(
        watch.recv_blocking(Duration::from_millis(500)).is_none(),
        "a failed build started a push task"
    );
}

#[test]
fn absurd_timeouts_do_not_panic() {
    let mut receiver = Receiver::start().unwrap();
    let provider = bare()
        .with_destination(
            Destination::remote_write("r", receiver.url())
                .with_timeout(Duration::MAX)
                .with_shutdown_timeout(Duration::MAX),
        )
        .build()
        .unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    provider.force_flush().unwrap();
    next(&mut receiver);
    provider.shutdown().unwrap();
}

#[test]
fn a_413_during_shutdown_still_delivers_every_entry() {
    let mut json = Receiver::start().unwrap();
    json.reply_next(1, Reply::status(413));
    let provider = json_to("u", custom_metrics_url(&json)).build().unwrap();
    let counter = provider.meter("t").u64_counter("c").build();
    for i in 0..10 {
        counter.add(1, &[KeyValue::new("i", i)]);
    }
    provider.shutdown().unwrap();
    let refused = next(&mut json);
    assert_eq!(refused.status, 413);
    assert_eq!(refused.request.series.len(), 10);
    let mut delivered = app_values(&next(&mut json));
    delivered.extend(app_values(&next(&mut json)));
    // What was recorded: ten series holding 1 each.
    let recorded: BTreeMap<String, f64> = (0..10)
        .map(|i| (format!("c_total{{i={i}}}"), 1.0))
        .collect();
    assert_eq!(delivered, recorded);
}

#[test]
fn providers_share_one_http_client_and_one_background_thread() {
    let mut receiver = Receiver::start().unwrap();
    let build = |app: &str| {
        MeterProvider::builder()
            .with_resource(service_named(app))
            .with_push_interval(HOUR)
            .with_destination(
                Destination::remote_write("r", receiver.url()).with_external_label("app_id", app),
            )
            .build()
            .unwrap()
    };
    let apps = ["app-1", "app-2", "app-3"];
    let providers: Vec<MeterProvider> = apps.iter().map(|a| build(a)).collect();
    let mut peers = Vec::new();
    for (provider, app) in providers.iter().zip(apps) {
        provider.meter("t").u64_counter("c").build().add(1, &[]);
        provider.force_flush().unwrap();
        let received = next(&mut receiver);
        let series = received.request.series("c_total").expect("the counter");
        assert_eq!(series.label("app_id"), Some(app));
        assert_eq!(series.label("job"), Some(app));
        peers.push(received.peer);
    }
    // One client, so one pooled connection carried every provider's push.
    assert!(peers.windows(2).all(|p| p[0] == p[1]), "{peers:?}");
    // One background thread for all of them (Linux names threads in /proc).
    if let Some(background) = threads_named("prompush") {
        assert_eq!(background, 1);
    }
    for provider in providers {
        provider.shutdown().unwrap();
    }
}
