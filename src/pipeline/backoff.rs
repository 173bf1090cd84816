//! How long to wait before retrying a push: exponential backoff with jitter, and the
//! server's `Retry-After` as a floor.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest a `Retry-After` may hold a destination back; a larger value (or a date
/// far ahead) is treated as this, so a confused server cannot stall delivery for hours.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Doubles from `min` to `max`; each wait is drawn from the upper half of the current
/// step ("equal jitter"), so many processes that failed together do not retry in step.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    step: Duration,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Backoff {
            min,
            max: max.max(min),
            step: min,
            // Any odd seed works for xorshift; mix in the address for per-instance spread.
            rng: seed ^ (&seed as *const u64 as u64) | 1,
        }
    }

    /// After a success: the next failure starts from `min` again.
    pub(crate) fn reset(&mut self) {
        self.step = self.min;
    }

    /// The wait before the next attempt, at least `retry_after` (capped at
    /// [`MAX_RETRY_AFTER`]).
    pub(crate) fn next(&mut self, retry_after: Option<Duration>) -> Duration {
        let half = self.step / 2;
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.random() % half.as_nanos().max(1) as u64)
        };
        let wait = half + jitter;
        self.step = (self.step * 2).min(self.max);
        match retry_after {
            Some(floor) => wait.max(floor.min(MAX_RETRY_AFTER)),
            None => wait,
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64: plenty for jitter.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(30 * MS, 5000 * MS);
        let mut step = 30 * MS;
        for _ in 0..20 {
            let wait = b.next(None);
            assert!(
                wait >= step / 2 && wait <= step,
                "{wait:?} outside [{:?}, {step:?}]",
                step / 2
            );
            step = (step * 2).min(5000 * MS);
        }
        b.reset();
        assert!(b.next(None) <= 30 * MS);
    }

    #[test]
    fn retry_after_is_a_floor_with_a_ceiling() {
        let mut b = Backoff::new(30 * MS, 5000 * MS);
        assert_eq!(b.next(Some(Duration::from_secs(2))), Duration::from_secs(2));
        assert_eq!(b.next(Some(Duration::from_secs(100_000))), MAX_RETRY_AFTER);
    }

    #[test]
    fn waits_differ_between_instances() {
        let waits: Vec<Duration> = (0..8)
            .map(|_| Backoff::new(1000 * MS, 5000 * MS).next(None))
            .collect();
        assert!(waits.windows(2).any(|w| w[0] != w[1]), "{waits:?}");
    }
}
