//! Time arithmetic the push task shares: deadlines that cannot overflow, and log lines
//! paced to one a minute.

use std::time::Duration;

use tokio::time::Instant;

/// `now + d`, saturating far in the future for absurd durations instead of panicking.
pub(super) fn after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// At most one warning a minute per kind of trouble: an outage must not flood the logs.
const LOG_EVERY: Duration = Duration::from_secs(60);

pub(super) fn due(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|at| now.duration_since(at) < LOG_EVERY) {
        return false;
    }
    *last = Some(now);
    true
}
