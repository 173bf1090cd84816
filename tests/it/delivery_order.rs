//! Delivery shapes that used to lose samples, on loopback: quick repeated flushes,
//! flushes that pile up, refused requests cut in halves, and the exporter path's stale
//! markers. The real-server versions are in tests/real/no_loss.rs.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use prompush::receiver::STALE_NAN_BITS as STALE;
use prompush::receiver::{Received, Receiver, Reply};
use prompush::{Error, MeterProvider, MeterProviderBuilder};

use crate::loopback::{custom_metrics_url, drain};
use crate::loopback_presets::{bare, json_to};

/// A provider without resource labels or self-metrics, pushing to `receiver` when
/// flushed.
fn pushing_to(receiver: &Receiver) -> MeterProviderBuilder {
    bare()
        .with_endpoint(receiver.url())
        .with_self_metrics(false)
}

/// Counter `c` of scope `t`, with series `{i="0"}` … `{i="<n - 1>"}`, each holding
/// `value(i)`.
fn counter_with_series(provider: &MeterProvider, n: u64, value: impl Fn(u64) -> u64) {
    let c = provider.meter("t").u64_counter("c").build();
    for i in 0..n {
        c.add(value(i), &[KeyValue::new("i", i as i64)]);
    }
}

/// The official SDK's provider exporting through prompush's exporter to `receiver`.
fn sdk_exporting_to(receiver: &Receiver) -> SdkMeterProvider {
    let exporter = prompush::RemoteWriteExporter::builder()
        .with_endpoint(receiver.url())
        .build()
        .unwrap();
    SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .build()
}

/// `(timestamp, value)` of every sample of series `name` in accepted requests.
fn samples_of(received: &[Received], name: &str) -> Vec<(i64, f64)> {
    received
        .iter()
        .filter(|r| r.status < 300)
        .flat_map(|r| r.request.series.iter())
        .filter(|s| s.name == name)
        .flat_map(|s| s.samples.iter().map(|x| (x.timestamp_ms, x.value)))
        .collect()
}

#[test]
fn quick_flushes_all_succeed_with_strictly_increasing_timestamps() {
    let mut receiver = Receiver::start().unwrap();
    let provider = pushing_to(&receiver).build().unwrap();
    let c = provider.meter("t").u64_counter("c").build();
    for _ in 0..50 {
        c.add(1, &[]);
        provider.force_flush().expect("every quick flush succeeds");
    }
    let received = drain(&mut receiver);
    let samples = samples_of(&received, "c_total");
    assert_eq!(samples.len(), 50);
    assert!(
        samples.windows(2).all(|w| w[0].0 < w[1].0),
        "timestamps strictly increase: {samples:?}"
    );
    assert_eq!(samples.last().map(|s| s.1), Some(50.0));
    provider.shutdown().unwrap();
}

#[test]
fn flushes_that_pile_up_share_one_collection() {
    let mut receiver = Receiver::start().unwrap();
    let provider = pushing_to(&receiver).build().unwrap();
    let collections = Arc::new(AtomicUsize::new(0));
    let counted = collections.clone();
    let _slow = provider
        .meter("t")
        .u64_observable_gauge("slow")
        .with_callback(move |o| {
            counted.fetch_add(1, Ordering::SeqCst);
            // Long enough for every flush below to queue behind this collection.
            std::thread::sleep(Duration::from_millis(300));
            o.observe(1, &[]);
        })
        .build();
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let provider = provider.clone();
            std::thread::spawn(move || provider.force_flush())
        })
        .collect();
    for t in threads {
        t.join().unwrap().expect("each flush succeeds");
    }
    let n = collections.load(Ordering::SeqCst);
    assert!((1..=3).contains(&n), "10 flushes took {n} collections");
    drain(&mut receiver);
    provider.shutdown().unwrap();
}

#[test]
fn a_request_refused_once_is_delivered_in_halves() {
    let mut receiver = Receiver::start().unwrap();
    receiver.reply_next(1, Reply::status(400).body("out of order sample"));
    let provider = pushing_to(&receiver).build().unwrap();
    counter_with_series(&provider, 20, |i| i);
    provider.force_flush().expect("the halves get through");
    let received = drain(&mut receiver);
    let statuses: Vec<u16> = received.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 204, 204]);
    let samples = samples_of(&received, "c_total");
    assert_eq!(samples.len(), 20, "every series once");
    assert_eq!(samples.iter().map(|s| s.1).sum::<f64>(), 190.0);
    provider.shutdown().unwrap();
}

#[test]
fn a_receiver_that_refuses_everything_costs_a_bounded_number_of_requests() {
    let mut receiver = Receiver::start().unwrap();
    receiver.reply_next(10_000, Reply::status(400).body("no"));
    let provider = pushing_to(&receiver).build().unwrap();
    counter_with_series(&provider, 256, |_| 1);
    let err = provider.force_flush().unwrap_err();
    assert!(matches!(&err, Error::Push(m) if m.contains("400")), "{err}");
    let received = drain(&mut receiver);
    // 256 series: a budget of 4·9 + 8 = 44 extra requests.
    assert!(
        (2..=45).contains(&received.len()),
        "{} requests",
        received.len()
    );
    receiver.clear_replies();
    provider.shutdown().unwrap();
}

#[test]
fn a_json_body_refused_once_is_delivered_in_halves() {
    let mut json = Receiver::start().unwrap();
    json.reply_next(1, Reply::status(400).body("{\"details\":[]}"));
    let provider = json_to("u", custom_metrics_url(&json)).build().unwrap();
    counter_with_series(&provider, 10, |i| i);
    provider.force_flush().expect("the halves get through");
    let received = drain(&mut json);
    let statuses: Vec<u16> = received.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 202, 202]);
    assert_eq!(samples_of(&received, "c_total").len(), 10);
    provider.shutdown().unwrap();
}

#[test]
fn the_exporter_ends_every_series_after_its_final_export() {
    let mut receiver = Receiver::start().unwrap();
    let sdk = sdk_exporting_to(&receiver);
    sdk.meter("app").u64_counter("c").build().add(3, &[]);
    sdk.force_flush().unwrap();
    sdk.shutdown().unwrap();
    let received = drain(&mut receiver);
    let samples = samples_of(&received, "c_total");
    let last = samples.last().copied().expect("samples");
    assert_eq!(
        last.1.to_bits(),
        STALE,
        "ends with a stale marker: {samples:?}"
    );
    assert!(samples.windows(2).all(|w| w[0].0 < w[1].0), "{samples:?}");
    assert!(samples.iter().any(|s| s.1 == 3.0));
}

#[test]
fn the_exporter_ends_a_series_an_export_no_longer_carries() {
    let mut receiver = Receiver::start().unwrap();
    let sdk = sdk_exporting_to(&receiver);
    let report_b = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = report_b.clone();
    let _gauge = sdk
        .meter("app")
        .u64_observable_gauge("queue.depth")
        .with_callback(move |o| {
            o.observe(1, &[KeyValue::new("queue", "a")]);
            if flag.load(Ordering::SeqCst) {
                o.observe(2, &[KeyValue::new("queue", "b")]);
            }
        })
        .build();
    sdk.force_flush().unwrap();
    report_b.store(false, Ordering::SeqCst);
    sdk.force_flush().unwrap();
    let received = drain(&mut receiver);
    let of = |queue: &str| -> Vec<f64> {
        received
            .iter()
            .flat_map(|r| r.request.series.iter())
            .filter(|s| s.name == "queue_depth" && s.label("queue") == Some(queue))
            .flat_map(|s| s.samples.iter().map(|x| x.value))
            .collect()
    };
    let b = of("b");
    assert_eq!(b.len(), 2, "{b:?}");
    assert_eq!(b[0], 2.0);
    assert_eq!(b[1].to_bits(), STALE, "b ends with a stale marker");
    assert_eq!(of("a"), [1.0, 1.0]);
    sdk.shutdown().unwrap();
}
