//! How many shards a push is cut for, sized from what the last pushes measured.
//!
//! A push is a burst of requests, each shard sending one at a time, so a push of `r`
//! requests whose sends take `t` each needs about `r·t / T` shards to be through in
//! the target time `T`. `r` is the larger of the last push's request count and this
//! push's own; `t` is a moving average of accepted sends (until one is measured, a
//! remote endpoint's 100 ms is assumed); `T` is half the push interval, at most 2 s,
//! which leaves room for collection, encoding and a retry within the 5 s a large push
//! is meant to take. The result is clamped to `1..=max`, and to at most `r`. A fast
//! local endpoint stays
//! at one or a few shards; a slow remote one grows to what it needs.
//!
//! The count changes only between pushes, and only when no older push has requests
//! waiting other than those already on the wire (which the queue makes the new
//! push's requests wait for): a series then keeps its shard, and its order, for as
//! long as any of its samples are queued.

use std::time::Duration;

/// The send time assumed before any send was measured.
const ASSUMED_SEND: Duration = Duration::from_millis(100);
/// The longest a push is meant to take to deliver.
const MAX_TARGET: Duration = Duration::from_secs(2);
/// The weight of the newest send in the moving average.
const NEWEST_WEIGHT: f64 = 0.2;

/// What one push's encoding is told about its shard count.
#[derive(Debug, Clone, Copy)]
pub(super) struct ShardPlan {
    /// `Some`: this count, unchanged (older requests are still waiting).
    fixed: Option<usize>,
    previous_requests: usize,
    send: Duration,
    target: Duration,
    max: usize,
}

impl ShardPlan {
    /// One shard, always.
    pub(super) const ONE: ShardPlan = ShardPlan {
        fixed: Some(1),
        previous_requests: 0,
        send: ASSUMED_SEND,
        target: MAX_TARGET,
        max: 1,
    };

    /// The shard count for a push of `samples` samples cut into requests of at most
    /// `max_samples`.
    pub(super) fn resolve(&self, samples: usize, max_samples: usize) -> usize {
        if let Some(n) = self.fixed {
            return n;
        }
        let own = samples.div_ceil(max_samples.max(1));
        let requests = self.previous_requests.max(own);
        let target = self.target.as_secs_f64().max(1e-3);
        let n = (requests as f64 * self.send.as_secs_f64() / target).ceil();
        // `as` saturates: an absurd ratio is still clamped below. More shards than
        // requests would only cut the requests smaller.
        (n as usize).clamp(1, self.max.max(1)).min(requests.max(1))
    }
}

/// A destination's shard sizing: the current count and what it is sized from.
#[derive(Debug)]
pub(super) struct Sizing {
    current: usize,
    max: usize,
    target: Duration,
    /// Moving average of accepted sends; `None` before the first.
    typical_send: Option<f64>,
    last_requests: usize,
}

impl Sizing {
    pub(super) fn new(max: usize, interval: Duration) -> Self {
        Sizing {
            current: 1,
            max: max.max(1),
            target: (interval / 2).min(MAX_TARGET),
            typical_send: None,
            last_requests: 0,
        }
    }

    /// The shard count of the latest push.
    pub(super) fn current(&self) -> usize {
        self.current
    }

    /// Records an accepted send's time.
    pub(super) fn sent(&mut self, took: Duration) {
        let took = took.as_secs_f64();
        self.typical_send = Some(match self.typical_send {
            Some(avg) => avg + NEWEST_WEIGHT * (took - avg),
            None => took,
        });
    }

    /// The plan for the next push; `may_reshard` is false while older requests wait.
    pub(super) fn plan(&self, may_reshard: bool) -> ShardPlan {
        ShardPlan {
            fixed: (!may_reshard || self.max == 1).then_some(self.current),
            previous_requests: self.last_requests,
            send: self
                .typical_send
                .map_or(ASSUMED_SEND, Duration::from_secs_f64),
            target: self.target,
            max: self.max,
        }
    }

    /// Records what a push was cut into: its shard count (`None`: it had no
    /// requests, the count stays) and requests.
    pub(super) fn pushed(&mut self, shards: Option<usize>, requests: usize) {
        if let Some(n) = shards {
            self.current = n;
        }
        if requests > 0 {
            self.last_requests = requests;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn sized(send: Duration, last_requests: usize) -> Sizing {
        let mut s = Sizing::new(50, Duration::from_secs(15));
        s.sent(send);
        s.pushed(Some(1), last_requests);
        s
    }

    #[test]
    fn a_slow_endpoint_gets_the_shards_its_burst_needs_within_the_bounds() {
        // 1,000,000 samples: 500 requests of 2000.
        let one_million = 1_000_000;
        let cases = [
            // (send time, previous requests, samples now, shards)
            (100 * MS, 500, one_million, 25),
            (10 * MS, 500, one_million, 3),
            (MS, 500, one_million, 1),
            (100 * MS, 0, 2000, 1),
            (100 * MS, 0, 100_000, 3),
            (1000 * MS, 500, one_million, 50),
        ];
        for (send, previous, samples, want) in cases {
            let n = sized(send, previous).plan(true).resolve(samples, 2000);
            assert_eq!(n, want, "{send:?} {previous} {samples}");
        }
    }

    #[test]
    fn the_count_stays_while_older_requests_wait() {
        let mut s = sized(100 * MS, 500);
        s.pushed(Some(7), 500);
        assert_eq!(s.plan(false).resolve(1_000_000, 2000), 7);
        assert_eq!(ShardPlan::ONE.resolve(1_000_000, 2000), 1);
    }

    #[test]
    fn the_first_push_assumes_a_remote_endpoint_and_sizes_for_itself() {
        let s = Sizing::new(50, Duration::from_secs(15));
        assert_eq!(s.plan(true).resolve(1_000_000, 2000), 25);
        assert_eq!(s.plan(true).resolve(10, 2000), 1);
    }
}
