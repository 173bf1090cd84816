//! Memory under churn with the idle-series timeout on: 1,000,000 distinct series
//! created over time, at most 10,000 alive at once, a push destination (prompush's
//! receiver) and the scrape endpoint active, time driven by the idle clock the test
//! sets. The memory held stays within 1.5× that of the same 10,000 series without
//! churn: removed series give their memory back, and their places in the table's
//! index and list are reused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::Counter;
use opentelemetry::KeyValue;
use prompush::receiver::Receiver;
use prompush::MeterProvider;

use super::{alone, LIVE, MIB};

const ALIVE: u64 = 10_000;
const CREATED: u64 = 1_000_000;
const TIMEOUT: Duration = Duration::from_secs(60);

/// A provider pushing to `receiver` on flush only, with the scrape endpoint on, the idle
/// timeout on a clock in seconds the test sets, and room for every series alive.
fn provider(receiver: &Receiver, seconds: &Arc<AtomicU64>) -> MeterProvider {
    let clock = seconds.clone();
    MeterProvider::builder()
        .with_endpoint(receiver.url())
        .with_push_interval(Duration::from_secs(3600))
        .with_scrape_endpoint("127.0.0.1:0")
        .with_self_metrics(false)
        .with_cardinality_limit(ALIVE as usize)
        .with_idle_series_timeout(TIMEOUT)
        .with_idle_series_clock(move || Duration::from_secs(clock.load(Ordering::Relaxed)))
        .build()
        .expect("a provider")
}

/// One collection by each reader: a push (received and dropped) and a scrape (rendered
/// and dropped).
fn push_and_scrape(provider: &MeterProvider, receiver: &mut Receiver) {
    provider.force_flush().expect("delivered");
    while receiver.recv_blocking(Duration::from_millis(20)).is_some() {}
    drop(provider.render_metrics(None));
}

/// Adds 1 to series `first..first + ALIVE`.
fn record_window(c: &Counter<u64>, first: u64) {
    for i in first..first + ALIVE {
        c.add(
            1,
            &[
                KeyValue::new("tenant", i as i64),
                KeyValue::new("route", "/api/items"),
            ],
        );
    }
}

/// How many series the counter has now (a collection of its own, by no destination).
fn series(provider: &MeterProvider) -> usize {
    provider
        .collect()
        .metric("requests")
        .map_or(0, |m| m.data().number_points().len())
}

/// Runs `windows` windows of 10,000 series each. With `churn`, new ones every window;
/// between windows the clock passes the timeout and the collections go on until the
/// last window's series are removed. Without, the same ones every window, the clock
/// moving half the timeout between windows, so they never count as idle. Returns the most bytes held above the start, measured with
/// every window's series recorded, pushed and scraped.
fn held_over(windows: u64, churn: bool) -> usize {
    let mut receiver = Receiver::start().expect("a receiver");
    let seconds = Arc::new(AtomicU64::new(0));
    let before = LIVE.load(Ordering::Relaxed);
    let provider = provider(&receiver, &seconds);
    let c = provider.meter("t").u64_counter("requests").build();
    let mut most = 0;
    for window in 0..windows {
        let first = if churn { window * ALIVE } else { 0 };
        record_window(&c, first);
        push_and_scrape(&provider, &mut receiver);
        most = most.max(LIVE.load(Ordering::Relaxed).saturating_sub(before));
        if churn {
            seconds.fetch_add(TIMEOUT.as_secs() + 1, Ordering::Relaxed);
            // Idle now: removed within a few collections (bounded).
            let removed = (0..100).any(|_| {
                push_and_scrape(&provider, &mut receiver);
                series(&provider) == 0
            });
            assert!(removed, "window {window}'s series were not removed");
        } else {
            // Half the timeout: measured again before they would count as idle.
            seconds.fetch_add(TIMEOUT.as_secs() / 2, Ordering::Relaxed);
            push_and_scrape(&provider, &mut receiver);
        }
    }
    provider.shutdown().expect("shut down");
    most
}

#[test]
fn a_million_series_through_ten_thousand_places_hold_the_memory_of_ten_thousand() {
    let _alone = alone();
    // The same 10,000 series, window after window: what they hold when they stay.
    let steady = held_over(5, false);
    let churned = held_over(CREATED / ALIVE, true);
    let ratio = churned as f64 / steady as f64;
    println!(
        "idle churn: {} series through {ALIVE} places held {:.1} MiB at most; the same \
         {ALIVE} series without churn {:.1} MiB: {ratio:.2}x",
        CREATED,
        churned as f64 / MIB as f64,
        steady as f64 / MIB as f64,
    );
    assert!(steady > 0);
    assert!(
        ratio <= 1.5,
        "churn held {ratio:.2}x the memory of no churn"
    );
}
