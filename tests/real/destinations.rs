//! Destinations against real servers: a real Unleash (npm `unleash-server` 7.5.1 on a
//! throwaway PostgreSQL) taking JSON custom metrics, and a fan-out to Prometheus,
//! VictoriaMetrics and Unleash at once with one of them stopped. Run with
//! `scripts/test`, which installs all three.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use prompush::snapshot::Number;
use prompush::{Destination, Error, MeterProvider};

use crate::servers::unleash::{samples, Unleash};
use crate::servers::{single_value, unix_seconds, Kind, Server};
use crate::support::presets::{flush, service_named, shutdown, HOUR};

const DEADLINE: Duration = Duration::from_secs(20);

/// A self-metric's value for one destination, from the provider's own snapshot.
fn self_metric(provider: &MeterProvider, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let snapshot = provider.collect();
    let points = snapshot.metric(name)?.data().number_points();
    points
        .iter()
        .find(|p| {
            labels.iter().all(|(k, v)| {
                p.attributes()
                    .iter()
                    .any(|kv| kv.key.as_str() == *k && kv.value.as_str() == *v)
            })
        })
        .map(|p| match p.value() {
            Number::U64(v) => v as f64,
            Number::I64(v) => v as f64,
            Number::F64(v) => v,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs unleash-server and PostgreSQL; run scripts/test"]
async fn unleash_shows_the_pushed_values_and_labels() {
    let unleash = Unleash::start().await;
    let provider = MeterProvider::builder()
        .with_resource(service_named("shop"))
        .with_push_interval(HOUR)
        .with_self_metrics(false)
        .with_destination(
            Destination::custom_metrics_json("unleash", unleash.custom_metrics_url())
                .with_authorization(unleash.client_token())
                .with_external_label("app_id", "checkout"),
        )
        .build()
        .unwrap();
    let meter = provider.meter("shop");
    let orders = meter.u64_counter("shop.orders").build();
    orders.add(5, &[KeyValue::new("country", "NL")]);
    orders.add(2, &[KeyValue::new("country", "DE")]);
    meter.f64_gauge("shop.queue.depth").build().record(7.5, &[]);
    let latency = meter
        .f64_histogram("shop.latency")
        .with_unit("ms")
        .with_boundaries(vec![10.0, 100.0])
        .build();
    for v in [5.0, 50.0, 500.0] {
        latency.record(v, &[]);
    }
    flush(&provider).await.unwrap();

    let scraped = samples(&unleash.scrape().await);
    let expected = [
        (
            r#"shop_orders_total{app_id="checkout",country="NL",job="shop"}"#,
            5.0,
        ),
        (
            r#"shop_orders_total{app_id="checkout",country="DE",job="shop"}"#,
            2.0,
        ),
        (r#"shop_queue_depth{app_id="checkout",job="shop"}"#, 7.5),
        (
            r#"shop_latency_milliseconds_bucket{app_id="checkout",job="shop",le="10"}"#,
            1.0,
        ),
        (
            r#"shop_latency_milliseconds_bucket{app_id="checkout",job="shop",le="100"}"#,
            2.0,
        ),
        (
            r#"shop_latency_milliseconds_bucket{app_id="checkout",job="shop",le="+Inf"}"#,
            3.0,
        ),
        (
            r#"shop_latency_milliseconds_sum{app_id="checkout",job="shop"}"#,
            555.0,
        ),
        (
            r#"shop_latency_milliseconds_count{app_id="checkout",job="shop"}"#,
            3.0,
        ),
    ];
    for (series, value) in expected {
        let key = samples(&format!("{series} 0")).into_keys().next().unwrap();
        assert_eq!(
            scraped.get(&key),
            Some(&value),
            "{series} in Unleash's exposition:\n{scraped:#?}"
        );
    }
    // A counter carries its cumulative total: Unleash keeps the latest.
    orders.add(10, &[KeyValue::new("country", "NL")]);
    flush(&provider).await.unwrap();
    let key = samples(r#"shop_orders_total{app_id="checkout",country="NL",job="shop"} 0"#)
        .into_keys()
        .next()
        .unwrap();
    assert_eq!(samples(&unleash.scrape().await).get(&key), Some(&15.0));
    shutdown(&provider).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs unleash-server and PostgreSQL; run scripts/test"]
async fn a_bad_unleash_token_is_a_clear_counted_failure_that_is_not_retried() {
    let unleash = Unleash::start().await;
    let provider = MeterProvider::builder()
        .with_resource(service_named("shop"))
        .with_push_interval(HOUR)
        .with_destination(
            Destination::custom_metrics_json("unleash", unleash.custom_metrics_url())
                .with_authorization("default:development.not-a-real-SECRET")
                .with_retry_backoff(Duration::from_millis(10), Duration::from_millis(50)),
        )
        .build()
        .unwrap();
    provider
        .meter("shop")
        .u64_counter("orders")
        .build()
        .add(1, &[]);
    let started = Instant::now();
    let err = flush(&provider).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Push(_)), "{err:?}");
    assert!(text.contains("401"), "{text}");
    assert!(text.contains("credentials"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
    // Refused at once, not after retries until the flush's wait (30 s).
    assert!(started.elapsed() < Duration::from_secs(10));
    let unleash_labels = [("destination", "unleash")];
    let refused = [("destination", "unleash"), ("reason", "refused")];
    let dropped = self_metric(&provider, "prompush.samples.dropped", &refused);
    assert!(dropped.is_some_and(|d| d >= 1.0), "{dropped:?}");
    let four = [("destination", "unleash"), ("status_class", "4xx")];
    assert_eq!(
        self_metric(&provider, "prompush.requests", &four),
        Some(1.0)
    );
    // A second push is one more request, not a retry loop of the first.
    assert!(flush(&provider).await.is_err());
    assert_eq!(
        self_metric(&provider, "prompush.requests", &four),
        Some(2.0)
    );
    assert_eq!(
        self_metric(&provider, "prompush.samples.retried", &unleash_labels),
        None
    );
    assert!(!samples(&unleash.scrape().await)
        .keys()
        .any(|k| k.starts_with("orders_total")));
    let _ = shutdown(&provider).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs unleash-server and PostgreSQL; run scripts/test"]
async fn five_thousand_series_reach_unleash_split_into_bodies_it_accepts() {
    let unleash = Unleash::start().await;
    let build = |max_body: Option<usize>| {
        let mut destination =
            Destination::custom_metrics_json("unleash", unleash.custom_metrics_url())
                .with_authorization(unleash.client_token());
        if let Some(bytes) = max_body {
            destination = destination.with_max_body_bytes(bytes);
        }
        MeterProvider::builder()
            .with_resource(service_named("shop"))
            .with_push_interval(HOUR)
            .with_cardinality_limit(10_000)
            .with_destination(destination)
            .build()
            .unwrap()
    };
    // Default limit: every body is under 100 kB, all accepted at once.
    // Then bodies of up to 4 MB: Unleash answers 413, and the halves get through.
    for (round, max_body) in [(0u64, None), (1, Some(4 << 20))] {
        let provider = build(max_body);
        let counter = provider.meter("shop").u64_counter("orders").build();
        for i in 0..5000u64 {
            counter.add(
                i + round * 10_000,
                &[KeyValue::new("customer", format!("c{i:04}"))],
            );
        }
        flush(&provider).await.unwrap();
        let scraped = samples(&unleash.scrape().await);
        for i in [0u64, 1, 2500, 4999] {
            let key = format!(r#"orders_total{{customer="c{i:04}",job="shop"}}"#);
            assert_eq!(
                scraped.get(&key),
                Some(&((i + round * 10_000) as f64)),
                "{key}"
            );
        }
        let delivered = scraped
            .iter()
            .filter(|(k, v)| k.starts_with("orders_total{") && **v >= (round * 10_000) as f64)
            .count();
        assert_eq!(delivered, 5000, "round {round}");
        let labels = [("destination", "unleash"), ("status_class", "4xx")];
        let too_large = self_metric(&provider, "prompush.requests", &labels);
        match max_body {
            None => assert_eq!(too_large, None, "no 413 under the default limit"),
            Some(_) => assert!(too_large.is_some_and(|n| n >= 1.0), "{too_large:?}"),
        }
        let sent = [("destination", "unleash")];
        assert_eq!(
            self_metric(&provider, "prompush.samples.dropped", &sent),
            None
        );
        shutdown(&provider).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Prometheus 3, current VictoriaMetrics, unleash-server and PostgreSQL; run scripts/test"]
async fn fan_out_keeps_its_schedule_to_the_others_while_one_destination_is_down() {
    let (prometheus, mut victoria, unleash) = tokio::join!(
        Server::start(Kind::Prometheus3),
        Server::start(Kind::VictoriaMetrics),
        Unleash::start()
    );
    let interval = Duration::from_millis(500);
    let provider = MeterProvider::builder()
        .with_resource(service_named("fanout"))
        .with_push_interval(interval)
        .with_destination(Destination::remote_write(
            "prometheus",
            prometheus.remote_write_url(),
        ))
        .with_destination(
            Destination::remote_write("victoria", victoria.remote_write_url())
                .with_retry_backoff(Duration::from_millis(50), Duration::from_millis(200))
                .with_shutdown_timeout(Duration::from_millis(500)),
        )
        .with_destination(
            Destination::custom_metrics_json("unleash", unleash.custom_metrics_url())
                .with_authorization(unleash.client_token()),
        )
        .build()
        .unwrap();
    let meter = provider.meter("fanout");
    let ticks = meter.u64_counter("ticks").build();
    // The time of each collection: shows that a destination keeps getting fresh pushes.
    let _clock = meter
        .f64_observable_gauge("clock")
        .with_callback(|o| o.observe(unix_seconds(), &[]))
        .build();
    ticks.add(1, &[]);
    let key = r#"ticks_total{job="fanout"}"#;
    let one = |r: &serde_json::Value| single_value(r) == Some(1.0);
    prometheus.wait_for("ticks_total", one, DEADLINE).await;
    victoria.wait_for("ticks_total", one, DEADLINE).await;
    unleash.wait_for(key, 1.0, DEADLINE).await;

    victoria.stop();
    let stopped = unix_seconds();
    ticks.add(1, &[]);
    // The other two get the new value within a few intervals...
    let two = |r: &serde_json::Value| single_value(r) == Some(2.0);
    prometheus.wait_for("ticks_total", two, DEADLINE).await;
    unleash.wait_for(key, 2.0, DEADLINE).await;
    // ...and keep receiving on schedule. Prometheus stores one sample per push: a 5 s
    // window that starts after the stop holds about 10 of them at 500 ms (at least 8
    // accepted, for a loaded machine). A destination held up by the dead one would get
    // none while it retries.
    prometheus
        .wait_for(
            "count_over_time(ticks_total[5s])",
            |r| unix_seconds() >= stopped + 5.0 && single_value(r).is_some_and(|n| n >= 8.0),
            DEADLINE,
        )
        .await;
    // Unleash's latest clock value is fresh: at most two intervals (and some slack) old.
    // Polled: on a loaded machine one scrape may fall between two late pushes.
    let started = Instant::now();
    loop {
        let scraped = samples(&unleash.scrape().await);
        let clock = scraped
            .get(r#"clock{job="fanout"}"#)
            .copied()
            .expect("the clock gauge in Unleash");
        let age = unix_seconds() - clock;
        if clock > stopped && age < 2.0 {
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "no fresh clock within {DEADLINE:?}: clock {clock}, {age} s old"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The dead destination's data waits in its own queue.
    let pending = self_metric(
        &provider,
        "prompush.samples.pending",
        &[("destination", "victoria")],
    );
    assert!(pending.is_some_and(|n| n > 0.0), "{pending:?}");
    match shutdown(&provider).await {
        Err(Error::Destinations(failures)) => {
            let names: Vec<&str> = failures.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["victoria"], "{failures:?}");
        }
        other => panic!("expected only victoria to fail at shutdown, got {other:?}"),
    }
}
