//! The requests waiting for delivery: one FIFO per shard, oldest first, within one
//! memory cap for all of them.
//!
//! Each shard is sent strictly from its front, one request at a time, and a series
//! always lands in the same shard while the shard count is unchanged, so its samples
//! reach the destination in timestamp order: a newer push never overtakes an older
//! one still being retried. Past the cap the oldest pushes' requests go first, from
//! whichever shard holds them; as every value is cumulative, the newest ones still
//! carry each counter's full total.

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use bytes::Bytes;

use crate::prometheus::write_request_v2::Carried;

/// Byte offsets where a body may be cut.
pub(crate) type Cuts = Arc<[u32]>;

/// One encoded request body, ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Batch {
    pub(crate) body: Bytes,
    pub(crate) samples: usize,
    /// The push it belongs to, so a flush knows when its own data is through.
    pub(crate) push: u64,
    /// Where the body may be cut, for formats that record it (the byte offsets of
    /// JSON entries); others are cut by parsing the body.
    pub(crate) cuts: Option<Cuts>,
    /// Extra requests its refused request may still cost while it is cut in halves to
    /// find the refused series; shared by all the pieces of one original request.
    pub(crate) bisect_budget: Option<Arc<AtomicUsize>>,
    /// Its place: shard `.0` of `.1` (its push was cut for `.1` shards).
    pub(crate) shard: Shard,
    /// Whether it holds stale markers, which no newer push carries again.
    pub(crate) markers: bool,
    /// For a remote-write 2.0 body, what it carries (to check the receiver's
    /// written-count headers); `None` for a body in the destination's protocol or, for
    /// a 2.0 destination, in 1.0 (fallen back).
    pub(crate) v2: Option<Carried>,
}

/// Shard `index` of `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shard {
    pub(crate) index: usize,
    pub(crate) of: usize,
}

impl Shard {
    /// The one shard of an unsharded push.
    pub(crate) const ONLY: Shard = Shard { index: 0, of: 1 };
}

impl Batch {
    pub(crate) fn new(body: Bytes, samples: usize, push: u64, cuts: Option<Cuts>) -> Self {
        Batch {
            body,
            samples,
            push,
            cuts,
            bisect_budget: None,
            shard: Shard::ONLY,
            markers: false,
            v2: None,
        }
    }
}

/// What eviction or superseding dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Evicted {
    pub(crate) batches: usize,
    pub(crate) samples: usize,
}

#[derive(Debug)]
pub(crate) struct Queue {
    /// One FIFO per shard index; grown on demand, never shrunk (an empty one is cheap).
    lanes: Vec<VecDeque<Batch>>,
    bytes: usize,
    samples: usize,
    cap: usize,
}

impl Queue {
    pub(crate) fn new(cap_bytes: usize) -> Self {
        Queue {
            lanes: vec![VecDeque::new()],
            bytes: 0,
            samples: 0,
            cap: cap_bytes,
        }
    }

    /// Appends a batch to its shard, then drops the oldest pushes' batches until the
    /// queue fits the cap again. Only older pushes go: the batch's own push always
    /// stays complete, even alone over the cap, since it alone holds the newest totals
    /// of its series.
    pub(crate) fn push(&mut self, batch: Batch) -> Evicted {
        let newest = batch.push;
        let lane = batch.shard.index;
        if self.lanes.len() <= lane {
            self.lanes.resize_with(lane + 1, VecDeque::new);
        }
        self.bytes += batch.body.len();
        self.samples += batch.samples;
        self.lanes[lane].push_back(batch);
        let mut evicted = Evicted::default();
        while self.bytes > self.cap {
            let Some(oldest) = self
                .oldest_lane()
                .filter(|&l| self.lanes[l][0].push < newest)
            else {
                break;
            };
            if let Some(old) = self.pop(oldest) {
                evicted.batches += 1;
                evicted.samples += old.samples;
            }
        }
        evicted
    }

    /// The lane whose front batch is of the oldest push.
    fn oldest_lane(&self) -> Option<usize> {
        (0..self.lanes.len())
            .filter(|&l| !self.lanes[l].is_empty())
            .min_by_key(|&l| self.lanes[l][0].push)
    }

    /// Drops every value batch of a push older than `newer` but those `sending` says
    /// are on the wire: `newer` carries their series' totals. Stale-marker batches stay
    /// (no newer push carries them). Returns what went and the pushes it came from.
    pub(crate) fn supersede(
        &mut self,
        newer: u64,
        sending: impl Fn(&Batch) -> bool,
    ) -> (Evicted, Vec<u64>) {
        let mut dropped = Evicted::default();
        let mut pushes = Vec::new();
        for lane in &mut self.lanes {
            lane.retain(|b| {
                let goes = b.push < newer && !b.markers && !sending(b);
                if goes {
                    dropped.batches += 1;
                    dropped.samples += b.samples;
                    self.bytes -= b.body.len();
                    self.samples -= b.samples;
                    if !pushes.contains(&b.push) {
                        pushes.push(b.push);
                    }
                }
                !goes
            });
        }
        (dropped, pushes)
    }

    pub(crate) fn front(&self, lane: usize) -> Option<&Batch> {
        self.lanes.get(lane)?.front()
    }

    pub(crate) fn pop(&mut self, lane: usize) -> Option<Batch> {
        let batch = self.lanes.get_mut(lane)?.pop_front()?;
        self.bytes -= batch.body.len();
        self.samples -= batch.samples;
        Some(batch)
    }

    /// Puts `pieces` in place of the front batch of `lane` (the same data, cut smaller or
    /// encoded again), in order.
    pub(crate) fn replace_front<const N: usize>(&mut self, lane: usize, pieces: [Batch; N]) {
        self.pop(lane);
        for piece in pieces.into_iter().rev() {
            self.bytes += piece.body.len();
            self.samples += piece.samples;
            self.lanes[lane].push_front(piece);
        }
    }

    /// The number of lanes (at least the most shards any push was cut for).
    pub(crate) fn lanes(&self) -> usize {
        self.lanes.len()
    }

    /// Whether `batch` must wait for an older push cut for another shard count: its
    /// series may sit in another lane there, and must not be overtaken.
    pub(crate) fn behind_other_cut(&self, batch: &Batch) -> bool {
        self.lanes.iter().any(|lane| {
            lane.iter()
                .take_while(|b| b.push < batch.push)
                .any(|b| b.shard.of != batch.shard.of)
        })
    }

    /// Whether a batch not on the wire (per `sending`) holds stale markers.
    pub(crate) fn holds_unsent_markers(&self, sending: impl Fn(&Batch) -> bool) -> bool {
        self.lanes
            .iter()
            .flatten()
            .any(|b| b.markers && !sending(b))
    }

    /// The oldest push still waiting.
    pub(crate) fn oldest_push(&self) -> Option<u64> {
        self.oldest_lane().map(|l| self.lanes[l][0].push)
    }

    /// Samples waiting.
    pub(crate) fn samples(&self) -> usize {
        self.samples
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.lanes.iter().all(VecDeque::is_empty)
    }

    /// Whether any batch of push `push` (or an earlier one) is still waiting.
    pub(crate) fn holds_push_up_to(&self, push: u64) -> bool {
        self.oldest_push().is_some_and(|p| p <= push)
    }

    /// Drops everything; returns the samples dropped.
    pub(crate) fn clear(&mut self) -> usize {
        let samples = self.samples;
        self.lanes.iter_mut().for_each(VecDeque::clear);
        self.bytes = 0;
        self.samples = 0;
        samples
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(bytes: usize, samples: usize, push: u64) -> Batch {
        Batch::new(Bytes::from(vec![0u8; bytes]), samples, push, None)
    }

    /// A queue of `cap_bytes` that `batches` were pushed to, in order.
    fn queue(cap_bytes: usize, batches: impl IntoIterator<Item = Batch>) -> Queue {
        let mut q = Queue::new(cap_bytes);
        for batch in batches {
            q.push(batch);
        }
        q
    }

    fn evicted(batches: usize, samples: usize) -> Evicted {
        Evicted { batches, samples }
    }

    #[test]
    fn fifo_with_counts() {
        let mut q = Queue::new(1000);
        assert_eq!(q.push(batch(100, 5, 1)), Evicted::default());
        q.push(batch(100, 7, 2));
        assert_eq!(q.samples(), 12);
        assert!(q.holds_push_up_to(1));
        assert_eq!(q.pop(0).map(|b| b.push), Some(1));
        assert!(!q.holds_push_up_to(1));
        assert_eq!(q.samples(), 7);
    }

    #[test]
    fn over_the_cap_the_oldest_go() {
        let mut q = queue(250, [batch(100, 1, 1), batch(100, 2, 2)]);
        assert_eq!(q.push(batch(100, 3, 3)), evicted(1, 1));
        assert_eq!(q.front(0).map(|b| b.push), Some(2));
        // A single batch over the cap stays: it is the newest data.
        assert_eq!(q.push(batch(1000, 4, 4)), evicted(2, 5));
        assert_eq!(q.samples(), 4);
    }

    #[test]
    fn the_front_can_be_replaced_by_its_pieces() {
        let mut q = queue(1000, [batch(100, 10, 1), batch(100, 3, 2)]);
        q.replace_front(0, [batch(60, 4, 1), batch(50, 6, 1)]);
        assert_eq!(q.samples(), 13);
        assert_eq!(q.pop(0).map(|b| b.samples), Some(4));
        assert_eq!(q.pop(0).map(|b| b.samples), Some(6));
        assert_eq!(q.pop(0).map(|b| b.push), Some(2));
        assert!(q.is_empty());
    }

    fn in_lane(bytes: usize, samples: usize, push: u64, index: usize, markers: bool) -> Batch {
        Batch {
            shard: Shard { index, of: 2 },
            markers,
            ..batch(bytes, samples, push)
        }
    }

    #[test]
    fn the_cap_covers_every_lane_and_evicts_the_oldest_push_first() {
        let mut q = queue(
            250,
            [in_lane(100, 1, 1, 1, false), in_lane(100, 2, 2, 0, false)],
        );
        let evicted = q.push(in_lane(100, 3, 3, 1, false));
        assert_eq!(evicted.samples, 1, "push 1, from lane 1");
        assert_eq!(q.oldest_push(), Some(2));
        assert_eq!(q.front(1).map(|b| b.push), Some(3));
    }

    #[test]
    fn superseding_drops_older_values_but_keeps_markers_and_what_is_on_the_wire() {
        let batches = [
            in_lane(10, 1, 1, 0, false), // on the wire
            in_lane(10, 2, 1, 0, false),
            in_lane(10, 4, 1, 1, true),
            in_lane(10, 8, 1, 1, false),
            in_lane(10, 16, 2, 0, false),
        ];
        let mut q = queue(1 << 20, batches);
        let (dropped, pushes) = q.supersede(2, |b| b.samples == 1);
        assert_eq!((dropped.samples, pushes), (2 + 8, vec![1]));
        assert_eq!(q.samples(), 1 + 4 + 16);
        assert_eq!(q.pop(0).map(|b| b.samples), Some(1));
        assert_eq!(q.pop(0).map(|b| b.samples), Some(16));
        assert_eq!(q.pop(1).map(|b| b.markers), Some(true));
        assert!(q.is_empty());
    }

    #[test]
    fn a_batch_waits_behind_an_older_push_cut_for_another_shard_count() {
        let mut q = Queue::new(1 << 20);
        q.push(batch(10, 1, 1)); // one shard
        let newer = in_lane(10, 1, 2, 1, false);
        q.push(newer.clone());
        assert!(q.behind_other_cut(&newer));
        q.pop(0);
        assert!(!q.behind_other_cut(&newer));
        assert_eq!(q.clear(), 1);
    }
}
