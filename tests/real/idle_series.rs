//! Idle series and the cardinality limit in a real Prometheus 3: with the idle timeout
//! on (on a clock the test drives), a series idle past it is marked stale and no longer
//! answers an instant query, a busy one keeps its exact total, and new series take the
//! freed places under the limit without an overflow series; a limit of N keeps N
//! distinct sets without overflow. Run with `scripts/test` (it builds the server).

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use prompush::MeterProvider;

use crate::servers::stored::assert_stored_by;
use crate::servers::{Kind, Server};
use crate::support::presets::{flush, flushed_by_hand, shutdown};

fn tenant(name: &str) -> [KeyValue; 1] {
    [KeyValue::new("tenant", name.to_string())]
}

/// Whether the provider still has the series `{tenant}` of `requests` (a collection of
/// its own: it sweeps too, as a scrape would).
fn has(provider: &MeterProvider, name: &str) -> bool {
    provider.collect().metric("idle.requests").is_some_and(|m| {
        m.data().number_points().iter().any(|p| {
            p.attributes()
                .get("tenant")
                .map(|v| v.as_str().into_owned())
                == Some(name.to_owned())
        })
    })
}

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn idle_series_end_stale_while_a_busy_one_keeps_its_total_and_new_ones_take_their_places() {
    let server = Server::start(Kind::Prometheus3).await;
    let seconds = Arc::new(AtomicU64::new(0));
    let clock = seconds.clone();
    let provider = flushed_by_hand(server.remote_write_url(), "idle")
        .with_cardinality_limit(2)
        .with_idle_series_timeout(Duration::from_secs(60))
        .with_idle_series_clock(move || Duration::from_secs(clock.load(Ordering::Relaxed)))
        .build()
        .unwrap();
    let c = provider.meter("idle").u64_counter("idle.requests").build();
    c.add(5, &tenant("gone"));
    c.add(1, &tenant("busy"));
    flush(&provider).await.unwrap();
    assert_stored_by(
        &server,
        "idle_requests_total",
        "tenant",
        &[("busy", 1.0), ("gone", 5.0)],
    )
    .await;
    // Half a minute per push; only `busy` is measured.
    let mut busy = 1.0;
    for round in 1..=50 {
        assert!(
            round < 50,
            "the idle series was not removed within 50 pushes"
        );
        seconds.fetch_add(30, Ordering::Relaxed);
        c.add(1, &tenant("busy"));
        busy += 1.0;
        flush(&provider).await.unwrap();
        if !has(&provider, "gone") {
            break;
        }
    }
    // The push after the removal carries its stale marker: an instant query no longer
    // finds it (without a marker it would for five minutes), the busy one is exact.
    flush(&provider).await.unwrap();
    assert_stored_by(&server, "idle_requests_total", "tenant", &[("busy", busy)]).await;
    // Under the limit of 2, the freed place takes a new set: no overflow series.
    c.add(3, &tenant("new"));
    flush(&provider).await.unwrap();
    assert_stored_by(
        &server,
        "idle_requests_total",
        "tenant",
        &[("busy", busy), ("new", 3.0)],
    )
    .await;
    assert_eq!(
        server
            .query(r#"idle_requests_total{otel_metric_overflow="true"}"#)
            .await,
        serde_json::json!([])
    );
    shutdown(&provider).await.unwrap();
}

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn a_cardinality_limit_of_n_keeps_n_sets_before_the_overflow_series() {
    let server = Server::start(Kind::Prometheus3).await;
    let provider = flushed_by_hand(server.remote_write_url(), "limit")
        .with_cardinality_limit(3)
        .build()
        .unwrap();
    let c = provider
        .meter("limit")
        .u64_counter("limited.requests")
        .build();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        c.add(i as u64 + 1, &tenant(name));
    }
    flush(&provider).await.unwrap();
    assert_stored_by(
        &server,
        "limited_requests_total",
        "tenant",
        &[("a", 1.0), ("b", 2.0), ("c", 3.0)],
    )
    .await;
    assert_eq!(
        server
            .query(r#"limited_requests_total{otel_metric_overflow="true"}"#)
            .await,
        serde_json::json!([])
    );
    // The fourth set is the first past the limit.
    c.add(10, &tenant("d"));
    c.add(1, &tenant("a"));
    flush(&provider).await.unwrap();
    assert_stored_by(
        &server,
        "limited_requests_total",
        "otel_metric_overflow",
        &[("", 2.0), ("", 2.0), ("", 3.0), ("true", 10.0)],
    )
    .await;
    shutdown(&provider).await.unwrap();
}
