//! Delivery under faults, against prompush's own programmable receiver on loopback:
//! retries, refusals, Retry-After, ordering, outages, the memory cap, and secrets.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use prompush::receiver::{Received, Receiver, Reply};
use prompush::{Error, MeterProvider};

use crate::loopback::{next, receiver_at, value_of, HungEndpoint};
use crate::loopback_presets::assert_shutdown_gives_up_undelivered;
use crate::support::logs::LogCapture;
use crate::support::presets::pushing_to;

/// A provider pushing to `endpoint` when flushed, retrying after 10 ms, at most 200 ms.
fn builder(endpoint: &str) -> prompush::MeterProviderBuilder {
    pushing_to(endpoint).with_retry_backoff(Duration::from_millis(10), Duration::from_millis(200))
}

#[test]
fn server_errors_are_retried_and_the_data_arrives_once_unchanged() {
    let mut receiver = Receiver::start().unwrap();
    receiver.reply_next(3, Reply::status(500).body("try later"));
    let provider = builder(&receiver.url()).build().unwrap();
    provider.meter("t").u64_counter("c").build().add(5, &[]);
    provider.force_flush().expect("delivered after retries");
    let attempts: Vec<Received> = (0..4).map(|_| next(&mut receiver)).collect();
    let statuses: Vec<u16> = attempts.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![500, 500, 500, 204]);
    // Every attempt carried the same samples, original timestamps included.
    for a in &attempts[1..] {
        assert_eq!(a.request, attempts[0].request);
    }
    assert!(receiver.recv_blocking(Duration::from_millis(200)).is_none());
    provider.shutdown().unwrap();
}

#[test]
fn a_client_error_is_one_attempt_and_counted_as_dropped() {
    let mut receiver = Receiver::start().unwrap();
    // 403: about the whole request (400 and 422 are cut in halves, see the `no_loss` module).
    receiver.reply_next(1, Reply::status(403).body("out of order sample"));
    let provider = builder(&receiver.url()).build().unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    let err = provider.force_flush().unwrap_err();
    assert!(
        matches!(&err, Error::Push(m) if m.contains("403") && m.contains("out of order")),
        "{err}"
    );
    let refused = next(&mut receiver);
    assert_eq!(refused.status, 403);
    assert!(
        receiver.recv_blocking(Duration::from_millis(300)).is_none(),
        "not retried"
    );
    // The next push reports the loss in the self-metrics.
    provider.force_flush().unwrap();
    let report = next(&mut receiver);
    let dropped = value_of(
        &report,
        "prompush_samples_dropped_total",
        &[("reason", "refused")],
    );
    assert_eq!(dropped, Some(refused.request.series.len() as f64));
    let requests_4xx = value_of(
        &report,
        "prompush_requests_total",
        &[("status_class", "4xx")],
    );
    assert_eq!(requests_4xx, Some(1.0));
    provider.shutdown().unwrap();
}

#[test]
fn retry_after_is_honoured() {
    let mut receiver = Receiver::start().unwrap();
    receiver.reply_next(1, Reply::status(429).header("Retry-After", "2"));
    let provider = builder(&receiver.url()).build().unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    provider.force_flush().expect("delivered after the wait");
    let first = next(&mut receiver);
    let second = next(&mut receiver);
    assert_eq!((first.status, second.status), (429, 204));
    // The second attempt came no sooner than the server asked.
    let gap = second.received_at - first.received_at;
    assert!(gap >= Duration::from_secs(2), "retried after {gap:?}");
    provider.shutdown().unwrap();
}

#[test]
fn pushes_are_split_at_max_samples_and_stay_in_order_through_retries() {
    let mut receiver = Receiver::start().unwrap();
    receiver.reply_next(5, Reply::status(503));
    let provider = builder(&receiver.url())
        .with_max_samples_per_send(7)
        .with_self_metrics(false)
        .with_push_interval(Duration::from_millis(30))
        .build()
        .unwrap();
    let c = provider.meter("t").u64_counter("c").build();
    for round in 0..10u64 {
        for i in 0..20i64 {
            c.add(round + 1, &[KeyValue::new("i", i)]);
        }
        std::thread::sleep(Duration::from_millis(15));
    }
    provider.shutdown().unwrap();
    // Every accepted request: at most 7 samples; per series, timestamps only go up.
    let mut last_ts: std::collections::HashMap<String, i64> = Default::default();
    let mut accepted = 0;
    while let Some(r) = receiver.recv_blocking(Duration::from_millis(300)) {
        if r.status != 204 {
            continue;
        }
        accepted += 1;
        assert!(
            r.request.series.len() <= 7,
            "{} samples",
            r.request.series.len()
        );
        for s in &r.request.series {
            let key = s.to_string().split(' ').next().unwrap().to_string();
            let ts = s.samples[0].timestamp_ms;
            if let Some(prev) = last_ts.insert(key.clone(), ts) {
                assert!(ts >= prev, "{key}: {ts} after {prev}");
            }
        }
    }
    assert!(accepted >= 3, "{accepted} requests accepted");
}

#[test]
fn an_outage_of_30_seconds_loses_no_totals() {
    let mut up = Receiver::start().unwrap();
    let addr = up.addr();
    let provider = builder(&up.url())
        .with_push_interval(Duration::from_millis(200))
        .with_retry_backoff(Duration::from_millis(30), Duration::from_secs(2))
        .with_self_metrics(false)
        .build()
        .unwrap();
    let c = provider.meter("t").u64_counter("c").build();
    c.add(1, &[]);
    next(&mut up);
    drop(up); // down: connections refused
    let outage = Instant::now();
    let mut total = 1u64;
    while outage.elapsed() < Duration::from_secs(30) {
        c.add(1, &[]);
        total += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut back = receiver_at(addr);
    c.add(1, &[]);
    total += 1;
    provider
        .shutdown()
        .expect("the final push is delivered once the endpoint is back");
    let mut last = None;
    let mut count = 0;
    while let Some(r) = back.recv_blocking(Duration::from_millis(500)) {
        if r.status == 204 {
            count += 1;
            // The very last request holds the stale markers that end the series.
            last = value_of(&r, "c_total", &[])
                .filter(|v| !v.is_nan())
                .or(last);
        }
    }
    assert!(count >= 1);
    assert_eq!(
        last,
        Some(total as f64),
        "the last delivered total is exact"
    );
}

#[test]
fn secrets_stay_out_of_logs_errors_and_debug_output() {
    const TOKEN: &str = "secret-token-8c1f";
    const KEY: &str = "api-key-77aa";
    // Every thread's: the push task logs on prompush's own thread.
    let logs = LogCapture::start();

    let mut receiver = Receiver::start().unwrap();
    receiver.reply_next(2, Reply::status(503));
    receiver.reply_next(1, Reply::status(401).body("bad credentials"));
    let builder = builder(&receiver.url())
        .with_bearer_token(TOKEN)
        .with_header("X-Api-Key", KEY);
    let builder_debug = format!("{builder:?}");
    let provider = builder.build().unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    let err = provider.force_flush().unwrap_err();
    for _ in 0..3 {
        next(&mut receiver);
    }
    let unreachable = MeterProvider::builder()
        .with_endpoint("http://127.0.0.1:9/api/v1/write?token=query-secret")
        .with_bearer_token(TOKEN)
        .with_timeout(Duration::from_millis(500))
        .with_shutdown_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    unreachable.meter("t").u64_counter("c").build().add(1, &[]);
    let err2 = unreachable.force_flush().unwrap_err();
    let err3 = unreachable.shutdown().unwrap_err();
    provider.shutdown().unwrap();
    let logs = logs.text();
    // The refusal's own line, naming this test's receiver (other tests log at once).
    let refusal = format!(
        "the endpoint refused a push, which is dropped (not retried): endpoint {} answered \
         401 Unauthorized: bad credentials",
        receiver.url()
    );
    assert!(logs.contains(&refusal), "the refusal was logged: {logs}");
    let everything = format!(
        "{builder_debug}\n{provider:?}\n{err}\n{err:?}\n{err2}\n{err2:?}\n{err3}\n{err3:?}\n{logs}"
    );
    for secret in [TOKEN, KEY, "query-secret"] {
        assert!(
            !everything.contains(secret),
            "{secret} leaked in:\n{everything}"
        );
    }
}

#[test]
fn shutdown_reports_a_refused_final_push() {
    let mut receiver = Receiver::start().unwrap();
    let provider = builder(&receiver.url()).build().unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    receiver.reply_next(1, Reply::status(403).body("bad sample"));
    match provider.shutdown() {
        Err(Error::Push(message)) => assert!(message.contains("403"), "{message}"),
        other => panic!("expected the refusal, got {other:?}"),
    }
    assert_eq!(next(&mut receiver).status, 403);
}

#[test]
fn shutdown_is_not_held_up_by_a_request_on_the_wire() {
    let hung = HungEndpoint::start();
    let provider = builder(&hung.url)
        .with_push_interval(Duration::from_millis(50))
        .with_timeout(Duration::from_secs(20))
        .with_shutdown_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    provider.meter("t").u64_counter("c").build().add(1, &[]);
    // The periodic push is on the wire, where it hangs.
    hung.wait_for_a_held_request();
    // Bounded by the shutdown timeout, not the 20 s push timeout.
    assert_shutdown_gives_up_undelivered(&provider);
}
