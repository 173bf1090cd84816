//! Idle series (`with_idle_series_timeout`) through the public API, on a clock the test
//! drives: a series idle past the timeout ends with a stale marker on push and leaves
//! scrapes, a busy one keeps its exact total, a removed series frees its place under
//! the cardinality limit, a bound handle keeps its series, and a later measurement
//! starts a series again from zero.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use prompush::receiver::{Received, Receiver, STALE_NAN_BITS};
use prompush::snapshot::Number;
use prompush::MeterProviderBuilder;

use crate::loopback::next;
use crate::support::presets::pushing_to;

const TIMEOUT: Duration = Duration::from_secs(60);

/// `builder` with the idle timeout on, on a clock in seconds the test sets.
fn idle(builder: MeterProviderBuilder) -> (MeterProviderBuilder, Arc<AtomicU64>) {
    let seconds = Arc::new(AtomicU64::new(0));
    let clock = seconds.clone();
    let builder = builder
        .with_self_metrics(false)
        .with_idle_series_timeout(TIMEOUT)
        .with_idle_series_clock(move || Duration::from_secs(clock.load(Ordering::Relaxed)));
    (builder, seconds)
}

fn tenant(name: &str) -> [KeyValue; 1] {
    [KeyValue::new("tenant", name.to_string())]
}

/// The value of `requests_total{tenant}` in a request, if it has the series.
fn requests(received: &Received, name: &str) -> Option<f64> {
    received
        .request
        .series
        .iter()
        .find(|s| s.name == "requests_total" && s.label("tenant") == Some(name))
        .map(|s| s.samples[0].value)
}

fn is_stale(value: Option<f64>) -> bool {
    value.is_some_and(|v| v.to_bits() == STALE_NAN_BITS)
}

#[test]
fn an_idle_series_ends_with_a_stale_marker_while_a_busy_one_keeps_its_exact_total() {
    let mut receiver = Receiver::start().unwrap();
    let (builder, seconds) = idle(pushing_to(receiver.url()).with_cardinality_limit(2));
    let provider = builder.build().unwrap();
    let c = provider.meter("t").u64_counter("requests").build();
    c.add(5, &tenant("gone"));
    c.add(1, &tenant("busy"));
    provider.force_flush().unwrap();
    let first = next(&mut receiver);
    assert_eq!(requests(&first, "gone"), Some(5.0));
    // Time passes; only `busy` is measured, at every push.
    let mut busy = 1.0;
    let mut marked = false;
    for round in 1..=50 {
        seconds.store(round * 30, Ordering::Relaxed);
        c.add(1, &tenant("busy"));
        busy += 1.0;
        provider.force_flush().unwrap();
        let mut received = next(&mut receiver);
        if is_stale(requests(&received, "gone")) {
            // The markers go first, in a request of their own; the values follow.
            assert_eq!(requests(&received, "busy"), None);
            marked = true;
            received = next(&mut receiver);
        }
        assert_eq!(requests(&received, "busy"), Some(busy), "round {round}");
        if marked {
            assert_eq!(requests(&received, "gone"), None);
            break;
        }
        assert_eq!(requests(&received, "gone"), Some(5.0), "round {round}");
    }
    assert!(marked, "the idle series ended within 50 pushes");
    let scraped = provider.render_metrics(None).body;
    assert!(!scraped.contains("gone"), "{scraped}");
    assert!(scraped.contains(r#"tenant="busy""#), "{scraped}");
    // Its place under the limit of 2 is free: a new tenant gets a series, no overflow.
    c.add(3, &tenant("new"));
    provider.force_flush().unwrap();
    let after = next(&mut receiver);
    assert_eq!(requests(&after, "new"), Some(3.0));
    assert_eq!(requests(&after, "busy"), Some(busy));
    assert!(
        !after
            .request
            .series
            .iter()
            .any(|s| s.label("otel_metric_overflow").is_some()),
        "no overflow series"
    );
    // The ended series starts again from zero.
    c.add(2, &tenant("gone"));
    let snapshot = provider.collect();
    let points = snapshot.metric("requests").unwrap().data().number_points();
    let gone = points
        .iter()
        .find(|p| p.attributes().get("tenant") == Some(&"gone".into()));
    // The limit is 2 (busy, new): the comeback overflows rather than evicting them.
    assert!(gone.is_none());
    provider.shutdown().unwrap();
}

#[test]
fn a_series_that_comes_back_starts_from_zero_and_a_bound_one_never_ends() {
    let (builder, seconds) = idle(prompush::MeterProvider::builder());
    let provider = builder.build().unwrap();
    let c = provider.meter("t").u64_counter("requests").build();
    let bound = c.bind(&tenant("bound"));
    bound.add(7);
    c.add(5, &tenant("churn"));
    let _ = provider.collect();
    seconds.store(600, Ordering::Relaxed);
    let value = |tenant_name: &str| {
        let s = provider.collect();
        s.metric("requests")
            .unwrap()
            .data()
            .number_points()
            .iter()
            .find(|p| p.attributes().get("tenant") == Some(&tenant_name.to_string().into()))
            .map(|p| p.value())
    };
    // The grace period waits for every thread pinned in the process-wide epoch scheme,
    // other tests' threads included: bounded by time, not by a count of collections.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let removed = loop {
        if value("churn").is_none() {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::yield_now();
    };
    assert!(
        removed,
        "idle for ten minutes: removed within 30 s of collections"
    );
    assert_eq!(
        value("bound"),
        Some(Number::U64(7)),
        "a bound handle keeps it"
    );
    c.add(2, &tenant("churn"));
    assert_eq!(value("churn"), Some(Number::U64(2)), "from zero");
    bound.add(1);
    assert_eq!(value("bound"), Some(Number::U64(8)));
    provider.shutdown().unwrap();
}

#[test]
fn a_zero_idle_timeout_is_a_configuration_error() {
    let err = prompush::MeterProvider::builder()
        .with_idle_series_timeout(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("with_idle_series_timeout"),
        "{err}"
    );
}
