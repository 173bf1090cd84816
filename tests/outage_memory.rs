//! A 60-second outage with 50,000 series: resident memory stays within the pending-data
//! cap, each push superseding the older one still unsent. Its own test binary, so no other test's allocations show in the process's
//! resident memory.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

mod support;

use std::time::Duration;

use prompush::Error;
use support::presets::{fifty_thousand_series, pushing_every_100ms};
use support::proc::peak_growth;
use support::self_metrics::dropped;

#[test]
fn a_60_second_outage_with_50000_series_stays_within_the_memory_cap() {
    const CAP: usize = 16 << 20;
    let provider = pushing_every_100ms(support::closed_loopback_endpoint(), CAP)
        .with_retry_backoff(Duration::from_millis(30), Duration::from_secs(1))
        .build()
        .unwrap();
    fifty_thousand_series(&provider);
    // The first pushes build the encoder's per-series caches (working memory that does
    // not grow with the outage); measure from there.
    std::thread::sleep(Duration::from_secs(1));
    let Some(growth) = peak_growth(Duration::from_secs(60)) else {
        return; // no /proc: nothing to measure on this platform
    };
    // Each push finds the older one still unsent and supersedes it (its cumulative
    // values carry every total), so the queue holds about one push: the cap is never
    // reached, and what is given up is counted as superseded.
    let superseded = dropped(&provider, "superseded");
    assert!(superseded > 0, "older pushes were superseded and counted");
    eprintln!("resident memory growth during the outage: {growth} bytes (cap {CAP})");
    // The queue's cap, plus one push's working buffers and allocator slack.
    let allowed = (CAP + (16 << 20)) as u64;
    assert!(
        growth <= allowed,
        "resident memory grew by {growth} bytes (allowed {allowed})"
    );
    assert!(matches!(
        provider.shutdown(),
        Err(Error::Undelivered { .. })
    ));
}
