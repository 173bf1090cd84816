//! A 60-second outage with 50,000 series: the bytes live stay within the pending-data
//! cap, each push superseding the older one still unsent.

use std::time::Duration;

use prompush::Error;

use crate::self_metrics::{dropped, wait_for_a_request};
use crate::{alone, closed_loopback_endpoint, fifty_thousand_series, peak_live_growth};
use crate::{pushing_every_100ms, MIB};

#[test]
fn a_60_second_outage_with_50000_series_stays_within_the_memory_cap() {
    let _alone = alone();
    const CAP: usize = 16 * MIB;
    let provider = pushing_every_100ms(closed_loopback_endpoint(), CAP)
        .with_retry_backoff(Duration::from_millis(30), Duration::from_secs(1))
        .build()
        .unwrap();
    fifty_thousand_series(&provider);
    // The first push builds the encoder's per-series caches (working memory that does
    // not grow with the outage); measure from its first attempt on.
    wait_for_a_request(&provider);
    let growth = peak_live_growth(Duration::from_secs(60));
    // Each push finds the older one still unsent and supersedes it (its cumulative
    // values carry every total), so the queue holds about one push: the cap is never
    // reached, and what is given up is counted as superseded.
    let superseded = dropped(&provider, "superseded");
    assert!(superseded > 0, "older pushes were superseded and counted");
    eprintln!("live bytes' growth during the outage: {growth} bytes (cap {CAP})");
    // The queue's cap, plus room for two pushes' working buffers (collection, encoding):
    // on a loaded machine one push's are not yet freed when the next one's are built.
    // Measured: about 19 MB on a quiet machine, up to 39 MB with both cores ninefold
    // oversubscribed; a queue past its cap would grow by megabytes a push, hundreds in
    // the minute.
    let allowed = CAP + 32 * MIB;
    assert!(
        growth <= allowed,
        "the bytes live grew by {growth} (allowed {allowed})"
    );
    // What is pending is given up, and said so: as undelivered samples, or as a timeout
    // when a loaded machine does not let the final push's collection finish in time.
    let shutdown = provider.shutdown();
    assert!(
        matches!(shutdown, Err(Error::Undelivered { .. } | Error::Timeout(_))),
        "{shutdown:?}"
    );
}
