//! Parallel shards on loopback, against prompush's receiver answering slowly: each
//! series' samples arrive in time order through retries and resharding, a push goes
//! out on several connections at once, and totals are exact.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use opentelemetry::KeyValue;
use prompush::receiver::{Received, Receiver, Reply};

use crate::loopback::drain;
use crate::loopback_presets::bare;

/// Asserts that every series' accepted timestamps strictly increase in the order the
/// receiver read them; returns each series' last accepted value.
fn assert_each_series_in_order(received: &[Received]) -> HashMap<String, f64> {
    let mut last: HashMap<String, (i64, f64)> = HashMap::new();
    for r in received.iter().filter(|r| r.is_accepted()) {
        for series in &r.request.series {
            let key = format!("{}{:?}", series.name, series.labels);
            for s in &series.samples {
                if let Some((t, _)) = last.get(&key) {
                    assert!(*t < s.timestamp_ms, "{key}: {t} then {}", s.timestamp_ms);
                }
                last.insert(key.clone(), (s.timestamp_ms, s.value));
            }
        }
    }
    last.into_iter().map(|(k, (_, v))| (k, v)).collect()
}

#[test]
fn each_series_stays_in_order_through_retries_and_resharding() {
    const SERIES: usize = 3000;
    let mut receiver = Receiver::start().unwrap();
    receiver.answer_after(Duration::from_millis(50));
    let provider = bare()
        .with_endpoint(receiver.url())
        .with_self_metrics(false)
        .with_max_samples_per_send(20)
        .with_retry_backoff(Duration::from_millis(5), Duration::from_millis(50))
        .with_cardinality_limit(SERIES + 1)
        .build()
        .unwrap();
    let c = provider.meter("t").u64_counter("c").build();
    // 150 requests a push: 8 shards at the assumed 100 ms, 4 at the measured 50 ms, 1
    // when the receiver answers at once, 3 at 30 ms (sized a push late: the count
    // changes between pushes only); 503s on the way.
    let answers = [50, 50, 0, 0, 30, 30, 50];
    for (push, delay_ms) in answers.into_iter().enumerate() {
        receiver.answer_after(Duration::from_millis(delay_ms));
        if push % 2 == 1 {
            receiver.reply_next(3, Reply::status(503));
        }
        for i in 0..SERIES {
            c.add(1, &[KeyValue::new("i", i as i64)]);
        }
        provider.force_flush().expect("each push is delivered");
    }
    receiver.answer_after(Duration::ZERO);
    let received = drain(&mut receiver);
    let last = assert_each_series_in_order(&received);
    let counters: Vec<f64> = last
        .iter()
        .filter(|(k, _)| k.starts_with("c_total"))
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(counters.len(), SERIES);
    assert!(
        counters.iter().all(|v| *v == answers.len() as f64),
        "exact totals"
    );
    let connections: HashSet<_> = received.iter().map(|r| r.peer).collect();
    assert!(connections.len() >= 8, "{} connections", connections.len());
    assert!(received.iter().any(|r| r.status == 503), "retries happened");
    provider.shutdown().unwrap();
}
