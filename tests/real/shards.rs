//! A push that needs many shards, against a real Prometheus 3 with default settings: every
//! series stored with its exact total, through a first push cut for many shards and a
//! second one resharded from what the first measured; Prometheus refuses an out-of-order
//! sample with 400, so a series overtaken by its own newer sample would show as a refusal
//! here. Run with `scripts/test` (it installs the server), or `cargo test --test real
//! shards:: -- --include-ignored` when it is on `PATH`.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use opentelemetry::KeyValue;

use crate::servers::stored::assert_stored;
use crate::servers::{Kind, Server};
use crate::support::presets::{flush, flushed_by_hand, shutdown};

#[tokio::test]
#[ignore = "needs Prometheus 3 (scripts/build-peers); run scripts/test"]
async fn prometheus_stores_exact_totals_of_a_push_that_used_many_shards() {
    const SERIES: i64 = 20_000;
    let server = Server::start(Kind::Prometheus3).await;
    // Requests of 100 samples: about 200 a push, which the first push (sized for an
    // assumed 100 ms a request) sends through 11 shards.
    let provider = flushed_by_hand(server.remote_write_url(), "shards")
        .with_self_metrics(true)
        .with_max_samples_per_send(100)
        .with_cardinality_limit(SERIES as usize + 1)
        .build()
        .expect("provider");
    let c = provider.meter("t").u64_counter("c").build();
    let add_all = |k: u64| {
        for i in 0..SERIES {
            c.add(k + i as u64 % 3, &[KeyValue::new("i", i)]);
        }
    };
    add_all(1);
    flush(&provider).await.expect("the first push is accepted");
    let q = r#"c_total{job="shards"}"#;
    let first: i64 = (0..SERIES).map(|i| 1 + i % 3).sum();
    assert_stored(&server, &format!("count({q})"), SERIES as f64).await;
    assert_stored(&server, &format!("sum({q})"), first as f64).await;
    add_all(2);
    flush(&provider).await.expect("the second push is accepted");
    let second: i64 = first + (0..SERIES).map(|i| 2 + i % 3).sum::<i64>();
    assert_stored(&server, &format!("sum({q})"), second as f64).await;
    assert_stored(&server, &format!("count({q})"), SERIES as f64).await;
    // The second push carried the shard count of the first.
    assert_stored(
        &server,
        r#"prompush_shards{job="shards",destination="default"} >= 8"#,
        11.0,
    )
    .await;
    assert_stored(
        &server,
        r#"sum(prompush_samples_dropped_total{job="shards"}) or vector(0)"#,
        0.0,
    )
    .await;
    shutdown(&provider)
        .await
        .expect("the final push is accepted");
}
