//! Remote write 2.0 end to end against prompush's own receiver on loopback: a 2.0
//! destination sends 2.0 (headers, start timestamps, metadata) to a receiver that takes
//! it, and falls back to 1.0, sending everything once, to one that reads 2.0 as an
//! empty 1.0 request or answers `415`. The real servers are in
//! `tests/real/remote_write_v2.rs`; the fallback on many shards is a paused-clock unit
//! test in `src/pipeline/tests.rs`.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::time::Duration;

use prompush::receiver::{Received, Receiver, RemoteWriteV2};
use prompush::{Destination, MeterProvider, Protocol};

use crate::support::presets::{service_named, HOUR};

/// A provider pushing to `receiver` over 2.0 only when flushed, with 3 in the counter
/// `orders` (started a few milliseconds before the push).
fn provider(receiver: &Receiver) -> MeterProvider {
    let provider = MeterProvider::builder()
        .with_resource(service_named("shop"))
        .with_push_interval(HOUR)
        .with_self_metrics(false)
        .with_destination(Destination::remote_write_v2("v2", receiver.url()))
        .build()
        .expect("valid options");
    provider
        .meter("shop")
        .u64_counter("orders")
        .build()
        .add(3, &[]);
    std::thread::sleep(Duration::from_millis(5));
    provider
}

/// Every request received so far.
fn received(receiver: &mut Receiver) -> Vec<Received> {
    std::iter::from_fn(|| receiver.recv_blocking(Duration::from_millis(200))).collect()
}

#[test]
fn a_2_0_receiver_gets_2_0_with_start_timestamps_and_metadata() {
    let mut receiver = Receiver::start().unwrap();
    let provider = provider(&receiver);
    provider.force_flush().expect("delivered");
    let requests = received(&mut receiver);
    provider.shutdown().expect("the final push delivered");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.protocol, Protocol::RemoteWriteV2);
    assert_eq!(request.status, 204);
    assert_eq!(
        request.headers.get("x-prometheus-remote-write-version"),
        Some("2.0.0")
    );
    let orders = request.request.series("orders_total").expect("the counter");
    let sample = orders.samples[0];
    assert_eq!(sample.value, 3.0);
    assert!(
        sample.start_timestamp_ms > 0 && sample.start_timestamp_ms < sample.timestamp_ms,
        "{sample:?}"
    );
    let metadata = request
        .request
        .metadata
        .iter()
        .find(|m| m.family == "orders_total");
    assert!(metadata.is_some(), "{:?}", request.request.metadata);
}

/// Flushes twice to a receiver that takes only 1.0 and returns what it accepted.
fn through_a_1_0_receiver(v2: RemoteWriteV2) -> Vec<Received> {
    let mut receiver = Receiver::start().unwrap();
    receiver.with_remote_write_v2(v2);
    let provider = provider(&receiver);
    provider.force_flush().expect("delivered as 1.0");
    provider.force_flush().expect("delivered");
    let requests = received(&mut receiver);
    provider.shutdown().expect("the final push delivered");
    requests
}

/// The value of `orders_total` in each accepted request that holds it.
fn orders(requests: &[Received]) -> Vec<f64> {
    requests
        .iter()
        .filter(|r| r.is_accepted())
        .filter_map(|r| r.request.series("orders_total"))
        .flat_map(|s| s.samples.iter().map(|x| x.value))
        .collect()
}

#[test]
fn a_receiver_that_reads_2_0_as_an_empty_1_0_request_gets_everything_again_as_1_0() {
    let requests = through_a_1_0_receiver(RemoteWriteV2::ReadAsV1);
    let protocols: Vec<&str> = requests
        .iter()
        .map(|r| {
            r.headers
                .get("x-prometheus-remote-write-version")
                .unwrap_or("")
        })
        .collect();
    // The 2.0 request (read as empty), the same data as 1.0, the next push as 1.0.
    assert_eq!(protocols, ["2.0.0", "0.1.0", "0.1.0"]);
    assert!(requests[0].request.series.is_empty());
    assert_eq!(orders(&requests), [3.0, 3.0]);
    // The resend holds the first push's timestamps.
    let first = requests[1].request.series("orders_total").unwrap().samples[0];
    let next = requests[2].request.series("orders_total").unwrap().samples[0];
    assert!(first.timestamp_ms < next.timestamp_ms);
}

#[test]
fn a_receiver_that_answers_415_gets_everything_again_as_1_0() {
    let requests = through_a_1_0_receiver(RemoteWriteV2::Refused);
    let statuses: Vec<(u16, Protocol)> = requests.iter().map(|r| (r.status, r.protocol)).collect();
    let (v1, v2) = (Protocol::RemoteWrite, Protocol::RemoteWriteV2);
    assert_eq!(statuses, [(415, v2), (204, v1), (204, v1)]);
    assert_eq!(orders(&requests), [3.0, 3.0]);
}
