//! The push pipeline against prompush's own receiver on loopback: headers, auth,
//! translation, periodic pushes, flush and shutdown, configuration errors.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::time::Duration;

use opentelemetry::KeyValue;
use prompush::receiver::{Received, Receiver, Reply};
use prompush::{Error, MeterProvider};

use crate::loopback::{next, self_metrics, WAIT};
use crate::loopback_presets::assert_shutdown_gives_up_undelivered;
use crate::support::presets::{flush, pushing_to, shutdown};

#[test]
fn sends_the_protocol_headers_bearer_token_and_extra_headers() {
    let mut receiver = Receiver::start().unwrap();
    let provider = pushing_to(receiver.url())
        .with_bearer_token("s3cr3t-token")
        .with_header("X-Scope-OrgID", "tenant-1")
        .build()
        .unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    provider.force_flush().unwrap();
    let got = next(&mut receiver);
    let h = &got.headers;
    assert_eq!(h.get("content-encoding"), Some("snappy"));
    assert_eq!(h.get("content-type"), Some("application/x-protobuf"));
    assert_eq!(h.get("x-prometheus-remote-write-version"), Some("0.1.0"));
    assert_eq!(
        h.get("user-agent"),
        Some(concat!("prompush/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(h.bearer_token(), Some("s3cr3t-token"));
    assert_eq!(h.get("x-scope-orgid"), Some("tenant-1"));
    assert_eq!(got.path, "/api/v1/write");
    provider.shutdown().unwrap();
}

#[test]
fn translates_names_units_and_kinds() {
    let mut receiver = Receiver::start().unwrap();
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("shop")
        .with_attributes([
            KeyValue::new("service.namespace", "eu"),
            KeyValue::new("service.instance.id", "pod-7"),
            KeyValue::new("host.name", "node-1"),
        ])
        .build();
    let provider = pushing_to(receiver.url())
        .with_resource(resource)
        .build()
        .unwrap();
    let m = provider.meter("t");
    m.u64_counter("MyCounter")
        .with_unit("1")
        .build()
        .add(25, &[KeyValue::new("dimension", "value")]);
    m.u64_counter("jobs_total")
        .with_unit("1")
        .build()
        .add(2, &[]);
    m.f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build()
        .record(0.5, &[KeyValue::new("http.route", "/")]);
    m.u64_gauge("process.memory.usage")
        .with_unit("By")
        .build()
        .record(4096, &[]);
    m.f64_gauge("cpu.utilization")
        .with_unit("1")
        .build()
        .record(0.25, &[]);
    m.i64_up_down_counter("requests_active")
        .with_unit("{request}")
        .build()
        .add(-2, &[]);
    m.f64_gauge("net.rate")
        .with_unit("By/s")
        .build()
        .record(10.0, &[]);
    provider.force_flush().unwrap();
    let got = next(&mut receiver).request;
    let value = |name: &str| {
        got.series(name)
            .unwrap_or_else(|| panic!("{name} missing from {:#?}", got.series))
            .value()
            .unwrap()
    };
    assert_eq!(value("MyCounter_total"), 25.0);
    assert_eq!(value("jobs_total"), 2.0);
    assert_eq!(value("http_server_request_duration_seconds_count"), 1.0);
    assert_eq!(value("http_server_request_duration_seconds_sum"), 0.5);
    assert_eq!(value("process_memory_usage_bytes"), 4096.0);
    assert_eq!(value("cpu_utilization_ratio"), 0.25);
    assert_eq!(value("requests_active"), -2.0);
    assert_eq!(value("net_rate_bytes_per_second"), 10.0);
    assert_eq!(value("target_info"), 1.0);

    let buckets: Vec<(String, f64)> = got
        .series
        .iter()
        .filter(|s| s.name == "http_server_request_duration_seconds_bucket")
        .map(|s| (s.label("le").unwrap().to_string(), s.value().unwrap()))
        .collect();
    assert_eq!(
        buckets,
        vec![("0.1".into(), 0.0), ("1".into(), 1.0), ("+Inf".into(), 1.0)]
    );
    let counter = got.series("MyCounter_total").unwrap();
    assert_eq!(counter.label("job"), Some("eu/shop"));
    assert_eq!(counter.label("instance"), Some("pod-7"));
    assert_eq!(counter.label("dimension"), Some("value"));
    assert_eq!(
        counter.label("host_name"),
        None,
        "resource attributes go on target_info"
    );
    assert_eq!(
        got.series("target_info").unwrap().label("host_name"),
        Some("node-1")
    );
    // Every series: labels (besides the name) sorted by name, unique, non-empty.
    for s in &got.series {
        let names: Vec<&str> = s.labels.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{s}");
        assert!(s.labels.iter().all(|(_, v)| !v.is_empty()), "{s}");
        assert_eq!(s.samples.len(), 1);
    }
    // Metadata for every family.
    for family in [
        "MyCounter_total",
        "http_server_request_duration_seconds",
        "process_memory_usage_bytes",
        "requests_active",
    ] {
        assert!(
            got.metadata.iter().any(|m| m.family == family),
            "no metadata for {family}: {:#?}",
            got.metadata
        );
    }
    provider.shutdown().unwrap();
}

#[test]
fn pushes_every_interval_without_being_asked() {
    let mut receiver = Receiver::start().unwrap();
    let provider = MeterProvider::builder()
        .with_endpoint(receiver.url())
        .with_push_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let c = provider.meter("t").u64_counter("ticks").build();
    c.add(1, &[]);
    let first = next(&mut receiver);
    c.add(1, &[]);
    // The next periodic push after the add carries the new total.
    let mut latest = first.clone();
    while latest.request.series("ticks_total").unwrap().value() != Some(2.0) {
        latest = next(&mut receiver);
    }
    let t1 = first.request.series("ticks_total").unwrap().samples[0].timestamp_ms;
    let t2 = latest.request.series("ticks_total").unwrap().samples[0].timestamp_ms;
    assert!(t2 > t1, "timestamps advance: {t1} then {t2}");
    provider.shutdown().unwrap();
}

#[test]
fn shutdown_makes_a_final_push_then_stops() {
    let mut receiver = Receiver::start().unwrap();
    let provider = pushing_to(receiver.url()).build().unwrap();
    let m = provider.meter("t");
    let c = m.u64_counter("c").build();
    let _g = m
        .u64_observable_gauge("g")
        .with_callback(|o| o.observe(7, &[]))
        .build();
    c.add(3, &[]);
    provider.shutdown().unwrap();
    let last = next(&mut receiver).request;
    assert_eq!(last.series("c_total").unwrap().value(), Some(3.0));
    assert_eq!(
        last.series("g").unwrap().value(),
        Some(7.0),
        "observables run for the final push"
    );
    // Then every series ends with a stale marker, just after its final value.
    let markers = next(&mut receiver).request;
    assert_eq!(markers.series.len(), last.series.len());
    for (m, v) in markers.series.iter().zip(&last.series) {
        assert_eq!((&m.name, &m.labels), (&v.name, &v.labels));
        assert_eq!(
            m.samples[0].value.to_bits(),
            prompush::receiver::STALE_NAN_BITS
        );
        assert_eq!(m.samples[0].timestamp_ms, v.samples[0].timestamp_ms + 1);
    }
    c.add(1, &[]);
    assert!(matches!(
        provider.force_flush(),
        Err(Error::PipelineStopped)
    ));
    assert!(matches!(provider.shutdown(), Err(Error::AlreadyShutdown)));
    assert!(
        receiver.recv_blocking(Duration::from_millis(300)).is_none(),
        "nothing after shutdown"
    );
}

#[test]
fn a_refused_push_is_an_error_without_the_token() {
    let mut receiver = Receiver::start().unwrap();
    receiver.reply_next(1, Reply::status(403).body("bad labels"));
    let provider = pushing_to(receiver.url())
        .with_bearer_token("very-secret-token")
        .build()
        .unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    let err = provider.force_flush().unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, Error::Push(_)), "{text}");
    assert!(text.contains("403"), "{text}");
    assert!(!text.contains("very-secret-token"), "{text}");
    assert!(!format!("{provider:?}").contains("very-secret-token"));
    // Exactly one attempt for a 4xx other than 400/422 (those are cut in halves).
    assert_eq!(next(&mut receiver).status, 403);
    assert!(receiver.recv_blocking(Duration::from_millis(300)).is_none());
    // The next push goes through.
    provider.force_flush().unwrap();
    assert_eq!(next(&mut receiver).status, 204);
    provider.shutdown().unwrap();
}

#[test]
fn a_server_error_is_retried_within_the_push() {
    let mut receiver = Receiver::start().unwrap();
    receiver.reply_next(1, Reply::status(503));
    let provider = pushing_to(receiver.url()).build().unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    provider.force_flush().unwrap();
    let first = next(&mut receiver);
    let second = next(&mut receiver);
    assert_eq!((first.status, second.status), (503, 204));
    assert_eq!(
        first.request, second.request,
        "the retry re-sends the same samples"
    );
    provider.shutdown().unwrap();
}

#[test]
fn an_unreachable_endpoint_is_an_error_not_a_hang() {
    let provider = MeterProvider::builder()
        .with_endpoint(crate::loopback::closed_loopback_endpoint())
        .with_bearer_token("tok-123")
        .with_timeout(Duration::from_secs(2))
        .with_shutdown_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let c = provider.meter("t").u64_counter("c").build();
    c.add(1, &[]);
    let err = provider.force_flush().unwrap_err();
    assert!(matches!(err, Error::Push(_)), "{err}");
    assert!(err.to_string().contains("still retrying"), "{err}");
    assert!(!format!("{err:?}").contains("tok-123"));
    // Recording is unaffected.
    c.add(1, &[]);
    let total = provider
        .collect()
        .metric("c")
        .unwrap()
        .data()
        .number_points()[0]
        .value();
    assert_eq!(total, prompush::snapshot::Number::U64(2));
    // Shutdown gives up at its deadline and says how much was not delivered.
    assert_shutdown_gives_up_undelivered(&provider);
}

#[test]
fn without_an_endpoint_the_provider_only_aggregates() {
    let provider = MeterProvider::builder().build().unwrap();
    if std::env::var(prompush::env::ENDPOINT).is_ok() {
        return; // configured from outside: not this test's case
    }
    assert!(!provider.is_pushing());
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();
}

#[test]
fn bad_configuration_is_refused_at_build() {
    let cases: Vec<(prompush::MeterProviderBuilder, &str)> = vec![
        (
            MeterProvider::builder().with_endpoint("not a url"),
            "endpoint",
        ),
        (
            MeterProvider::builder().with_endpoint("ftp://127.0.0.1/x"),
            "http",
        ),
        (
            MeterProvider::builder()
                .with_endpoint("http://127.0.0.1:9/api/v1/write")
                .with_header("Content-Encoding", "gzip"),
            "Content-Encoding",
        ),
        (
            MeterProvider::builder()
                .with_endpoint("http://127.0.0.1:9/api/v1/write")
                .with_bearer_token("t")
                .with_header("authorization", "Basic x"),
            "uthorization",
        ),
        (
            MeterProvider::builder()
                .with_endpoint("http://127.0.0.1:9/api/v1/write")
                .with_push_interval(Duration::ZERO),
            "interval",
        ),
        (
            MeterProvider::builder()
                .with_endpoint("http://127.0.0.1:9/api/v1/write")
                .with_timeout(Duration::ZERO),
            "timeout",
        ),
    ];
    for (builder, needle) in cases {
        let described = format!("{builder:?}");
        match builder.build() {
            Err(Error::Config(msg)) => assert!(msg.contains(needle), "{needle:?} not in {msg:?}"),
            other => panic!("{described}: expected a config error, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_works_inside_an_application_runtime() {
    let mut receiver = Receiver::bind().await.unwrap();
    let provider = pushing_to(receiver.url()).build().unwrap();
    provider
        .meter("t")
        .u64_counter("async.c")
        .build()
        .add(9, &[]);
    flush(&provider).await.unwrap();
    let got = receiver.recv_timeout(WAIT).await.expect("push arrives");
    assert_eq!(
        got.request.series("async_c_total").unwrap().value(),
        Some(9.0)
    );
    shutdown(&provider).await.unwrap();
}

#[test]
fn credentials_over_plain_http_off_this_machine_are_refused() {
    let remote = "http://metrics.example.com/api/v1/write";
    let err = MeterProvider::builder()
        .with_endpoint(remote)
        .with_bearer_token("tok")
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("unencrypted")),
        "{err}"
    );
    let err = MeterProvider::builder()
        .with_endpoint(remote)
        .with_header("X-Api-Key", "k")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)));
    // The allowed cases are unit tests of the transport configuration: building them
    // here would start a pipeline whose final push leaves this machine.
}

#[test]
fn self_metrics_are_pushed_with_the_application_metrics_unless_turned_off() {
    let mut receiver = Receiver::start().unwrap();
    let provider = pushing_to(receiver.url()).build().unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    provider.force_flush().unwrap();
    let first = next(&mut receiver).request;
    provider.force_flush().unwrap();
    let second = next(&mut receiver).request;
    let value = |name: &str| second.series(name).and_then(|s| s.value());
    assert_eq!(
        value("prompush_samples_sent_total"),
        Some(first.series.len() as f64)
    );
    assert!(value("prompush_sent_bytes_total").unwrap() > 0.0);
    assert!(value("prompush_push_duration_seconds_count").unwrap() >= 1.0);
    assert!(value("prompush_last_success_timestamp_seconds").unwrap() > 1.6e9);
    assert!(value("prompush_samples_pending").is_some());
    let ok = second
        .series
        .iter()
        .find(|s| s.name == "prompush_requests_total" && s.label("status_class") == Some("2xx"));
    assert_eq!(ok.and_then(|s| s.value()), Some(1.0));
    provider.shutdown().unwrap();

    let mut receiver = Receiver::start().unwrap();
    let quiet = pushing_to(receiver.url())
        .with_self_metrics(false)
        .build()
        .unwrap();
    quiet.meter("t").u64_counter("c").build().add(1, &[]);
    quiet.force_flush().unwrap();
    quiet.force_flush().unwrap();
    next(&mut receiver);
    let second = next(&mut receiver).request;
    assert_eq!(self_metrics(&second), Vec::<&str>::new());
    quiet.shutdown().unwrap();
}

#[test]
fn an_observable_series_that_stops_being_reported_gets_one_stale_marker() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    let mut receiver = Receiver::start().unwrap();
    let provider = pushing_to(receiver.url())
        .with_self_metrics(false)
        .build()
        .unwrap();
    let round = Arc::new(AtomicU32::new(0));
    let r = round.clone();
    let _g = provider
        .meter("t")
        .u64_observable_gauge("queue.depth")
        .with_callback(move |o| {
            o.observe(1, &[KeyValue::new("queue", "always")]);
            if r.fetch_add(1, Ordering::SeqCst) == 0 {
                o.observe(5, &[KeyValue::new("queue", "once")]);
            }
        })
        .build();
    let depth = |received: &Received, queue: &str| {
        received
            .request
            .series
            .iter()
            .find(|s| s.name == "queue_depth" && s.label("queue") == Some(queue))
            .map(|s| s.samples[0].value)
    };
    provider.force_flush().unwrap();
    let first = next(&mut receiver);
    assert_eq!(depth(&first, "once"), Some(5.0));
    provider.force_flush().unwrap();
    // The markers of what ends go first, in a request of their own, then the values.
    let markers = next(&mut receiver);
    let stale = depth(&markers, "once").expect("a stale marker for the vanished series");
    assert_eq!(stale.to_bits(), prompush::receiver::STALE_NAN_BITS);
    assert_eq!(depth(&markers, "always"), None);
    let second = next(&mut receiver);
    assert_eq!(depth(&second, "always"), Some(1.0));
    assert_eq!(depth(&second, "once"), None);
    provider.force_flush().unwrap();
    let third = next(&mut receiver);
    assert_eq!(depth(&third, "once"), None, "the marker is sent once");
    provider.shutdown().unwrap();
}

#[test]
fn two_replicas_of_one_service_push_distinct_instance_labels() {
    let mut receiver = Receiver::start().unwrap();
    let replica = || {
        pushing_to(receiver.url())
            .with_resource(
                opentelemetry_sdk::Resource::builder_empty()
                    .with_service_name("shop")
                    .build(),
            )
            .with_self_metrics(false)
            .build()
            .unwrap()
    };
    let replicas = [replica(), replica()];
    let mut instances = Vec::new();
    for provider in &replicas {
        provider
            .meter("t")
            .u64_counter("orders")
            .build()
            .add(1, &[]);
        provider.force_flush().unwrap();
        let got = next(&mut receiver).request;
        let orders = got.series("orders_total").expect("orders_total");
        assert_eq!(orders.label("job"), Some("shop"));
        let instance = orders.label("instance").expect("an instance label");
        let own = provider
            .resource()
            .get(&opentelemetry::Key::from_static_str("service.instance.id"))
            .map(|v| v.as_str().into_owned());
        assert_eq!(Some(instance.to_owned()), own);
        instances.push(instance.to_owned());
    }
    assert_ne!(instances[0], instances[1]);
    for provider in replicas {
        provider.shutdown().unwrap();
    }
}

#[test]
fn force_flush_or_shutdown_inside_a_callback_fails_at_once_and_a_later_flush_works() {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    let mut receiver = Receiver::start().unwrap();
    let provider = pushing_to(receiver.url())
        .with_self_metrics(false)
        .build()
        .unwrap();
    /// What one of the callback's calls returned, and how long it took.
    type Call = (Result<(), Error>, Duration);
    let seen: Arc<Mutex<Vec<Call>>> = Arc::default();
    let (inner, log) = (provider.clone(), seen.clone());
    let _g = provider
        .meter("t")
        .u64_observable_gauge("flushes.inside")
        .with_callback(move |o| {
            for call in [MeterProvider::force_flush, MeterProvider::shutdown] {
                let started = Instant::now();
                let result = call(&inner);
                log.lock().unwrap().push((result, started.elapsed()));
            }
            o.observe(1, &[]);
        })
        .build();
    provider
        .force_flush()
        .expect("the outer flush is not held up");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "the push task ran the callback once");
        for (result, took) in seen.iter() {
            assert!(
                matches!(result, Err(Error::CalledFromCallback)),
                "{result:?}"
            );
            assert!(*took < Duration::from_secs(1), "{took:?}");
        }
        let message = seen[0].0.as_ref().unwrap_err().to_string();
        assert!(
            message.contains("call force_flush or shutdown from outside the callback"),
            "{message}"
        );
    }
    assert!(
        !provider.is_shut_down(),
        "the callback's shutdown did nothing"
    );
    let got = next(&mut receiver).request;
    assert_eq!(got.series("flushes_inside").unwrap().value(), Some(1.0));
    provider.force_flush().expect("an ordinary flush works");
    assert_eq!(
        next(&mut receiver)
            .request
            .series("flushes_inside")
            .unwrap()
            .value(),
        Some(1.0)
    );
    provider.shutdown().unwrap();
}
