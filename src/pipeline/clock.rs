//! Push timestamps: strictly increasing per destination, whatever the wall clock does.
//!
//! Remote write requires a series' samples in timestamp order, and Prometheus refuses a
//! second sample at the same millisecond with another value. So every push of a
//! destination is stamped with one time taken here: a monotonic clock anchored to the
//! wall clock when the destination starts, re-anchored only forward (a wall clock that
//! jumps ahead, after a suspend or an NTP fix, is followed; one that steps back is
//! not), and never repeated (a push in the same millisecond as the previous one gets
//! +1 ms).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Hands out a destination's push timestamps (milliseconds since the Unix epoch).
#[derive(Debug)]
pub(crate) struct PushClock {
    /// The wall time at `anchor`, in milliseconds.
    anchor_wall_ms: i64,
    anchor: Instant,
    /// The last timestamp handed out.
    last: Option<i64>,
}

impl PushClock {
    pub(crate) fn new() -> Self {
        PushClock {
            anchor_wall_ms: wall_ms(),
            anchor: Instant::now(),
            last: None,
        }
    }

    /// The next timestamp: now, or 1 ms after the previous one if that is later.
    pub(crate) fn next(&mut self) -> i64 {
        let elapsed = self.anchor.elapsed();
        let now = self.reading(elapsed, wall_ms());
        self.issue(now)
    }

    /// The current time from `elapsed` since the anchor and the wall clock's `wall_ms`,
    /// re-anchoring when the wall clock is ahead.
    fn reading(&mut self, elapsed: Duration, wall_ms: i64) -> i64 {
        let monotonic = self
            .anchor_wall_ms
            .saturating_add(i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
        if wall_ms > monotonic {
            self.anchor_wall_ms = wall_ms;
            self.anchor = Instant::now();
            wall_ms
        } else {
            monotonic
        }
    }

    fn issue(&mut self, now: i64) -> i64 {
        let t = match self.last {
            Some(last) if now <= last => last.saturating_add(1),
            _ => now,
        };
        self.last = Some(t);
        t
    }
}

/// `ms` since the Unix epoch as a time.
pub(crate) fn time_of(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(magnitude).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
    }
}

fn wall_ms() -> i64 {
    crate::prometheus::model::millis(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock_at(wall: i64) -> PushClock {
        PushClock {
            anchor_wall_ms: wall,
            anchor: Instant::now(),
            last: None,
        }
    }

    #[test]
    fn pushes_in_one_millisecond_get_one_millisecond_apart() {
        let mut c = clock_at(1000);
        let now = c.reading(Duration::ZERO, 1000);
        assert_eq!(c.issue(now), 1000);
        assert_eq!(c.issue(now), 1001);
        assert_eq!(c.issue(now), 1002);
        // Time catches up: the clock's own reading is used again.
        assert_eq!(c.issue(1010), 1010);
    }

    #[test]
    fn a_wall_clock_that_steps_back_is_not_followed() {
        let mut c = clock_at(1000);
        assert_eq!(c.reading(Duration::from_millis(50), 1050), 1050);
        // The wall clock jumps back an hour: the monotonic reading goes on.
        assert_eq!(
            c.reading(Duration::from_millis(100), 1100 - 3_600_000),
            1100
        );
    }

    #[test]
    fn a_wall_clock_that_jumps_ahead_is_followed() {
        let mut c = clock_at(1000);
        // A suspend: the monotonic clock stood still, the wall clock went on.
        let now = c.reading(Duration::from_millis(10), 61_000);
        assert_eq!(now, 61_000);
        assert_eq!(c.anchor_wall_ms, 61_000);
    }

    #[test]
    fn times_round_trip_through_milliseconds() {
        for ms in [0, 1, 1_795_317_848_897, -5] {
            assert_eq!(crate::prometheus::model::millis(time_of(ms)), ms);
        }
    }
}
