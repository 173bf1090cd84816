//! A receiver that takes a second to answer each request, with 50,000 series pushed every
//! 100 ms: deliveries keep going through parallel shards, each push superseding the
//! older one's unsent requests, and resident memory stays within the pending-data cap.
//! Its own test binary, so no other test's allocations show in the process's resident
//! memory.

// The loopback receiver and the test support need the default `receiver` feature.
#![cfg(feature = "receiver")]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prompush::receiver::Receiver;
use support::presets::{fifty_thousand_series, pushing_every_100ms};
use support::proc::peak_growth;
use support::self_metrics::dropped;

#[test]
fn a_slow_receiver_keeps_getting_pushes_within_the_memory_cap() {
    const CAP: usize = 16 << 20;
    let mut receiver = Receiver::start().unwrap();
    receiver.answer_after(Duration::from_secs(1));
    let url = receiver.url();
    // What arrives is counted and dropped at once: the receiver keeps nothing.
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    std::thread::spawn(move || {
        while let Some(r) = receiver.recv_blocking(Duration::from_secs(120)) {
            counted.fetch_add(usize::from(r.is_accepted()), Ordering::Relaxed);
        }
    });
    let provider = pushing_every_100ms(url, CAP)
        .with_shutdown_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    fifty_thousand_series(&provider);
    std::thread::sleep(Duration::from_secs(2));
    let before = accepted.load(Ordering::Relaxed);
    let Some(growth) = peak_growth(Duration::from_secs(30)) else {
        return; // no /proc: nothing to measure on this platform
    };
    let during = accepted.load(Ordering::Relaxed) - before;
    eprintln!("resident memory growth with a slow receiver: {growth} bytes (cap {CAP})");
    // 25 requests a push, one second each, through parallel shards: dozens a second.
    assert!(during > 100, "{during} requests accepted in 30 s");
    assert!(
        dropped(&provider, "superseded") > 0,
        "pushes outpace the receiver"
    );
    let allowed = (CAP + (16 << 20)) as u64;
    assert!(
        growth <= allowed,
        "resident memory grew by {growth} bytes (allowed {allowed})"
    );
    let _ = provider.shutdown();
}
