//! The requests waiting for delivery, oldest first, within a memory cap.
//!
//! Sending strictly from the front keeps every series' samples in timestamp order at
//! the destination: a newer push never overtakes an older one still being retried.
//! Past the cap the oldest requests go first; as every value is cumulative, the newest
//! ones still carry each counter's full total.

use std::collections::VecDeque;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use bytes::Bytes;

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
}

impl Batch {
    pub(crate) fn new(body: Bytes, samples: usize, push: u64, cuts: Option<Cuts>) -> Self {
        Batch {
            body,
            samples,
            push,
            cuts,
            bisect_budget: None,
        }
    }
}

/// What eviction dropped.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Evicted {
    pub(crate) batches: usize,
    pub(crate) samples: usize,
}

#[derive(Debug)]
pub(crate) struct Queue {
    batches: VecDeque<Batch>,
    bytes: usize,
    samples: usize,
    cap: usize,
}

impl Queue {
    pub(crate) fn new(cap_bytes: usize) -> Self {
        Queue {
            batches: VecDeque::new(),
            bytes: 0,
            samples: 0,
            cap: cap_bytes,
        }
    }

    /// Appends a batch, then drops the oldest ones until the queue fits the cap again.
    /// Only whole older pushes go: the batch's own push always stays complete, even
    /// alone over the cap, since it alone holds the newest totals of its series.
    pub(crate) fn push(&mut self, batch: Batch) -> Evicted {
        let newest = batch.push;
        self.bytes += batch.body.len();
        self.samples += batch.samples;
        self.batches.push_back(batch);
        let mut evicted = Evicted::default();
        while self.bytes > self.cap && self.front().is_some_and(|b| b.push < newest) {
            if let Some(old) = self.pop() {
                evicted.batches += 1;
                evicted.samples += old.samples;
            }
        }
        evicted
    }

    pub(crate) fn front(&self) -> Option<&Batch> {
        self.batches.front()
    }

    pub(crate) fn pop(&mut self) -> Option<Batch> {
        let batch = self.batches.pop_front()?;
        self.bytes -= batch.body.len();
        self.samples -= batch.samples;
        Some(batch)
    }

    /// Puts `pieces` in place of the front batch (the same data, cut smaller), in order.
    pub(crate) fn replace_front<const N: usize>(&mut self, pieces: [Batch; N]) {
        self.pop();
        for piece in pieces.into_iter().rev() {
            self.bytes += piece.body.len();
            self.samples += piece.samples;
            self.batches.push_front(piece);
        }
    }

    /// Samples waiting.
    pub(crate) fn samples(&self) -> usize {
        self.samples
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// Whether any batch of push `push` (or an earlier one) is still waiting.
    pub(crate) fn holds_push_up_to(&self, push: u64) -> bool {
        self.front().is_some_and(|b| b.push <= push)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(bytes: usize, samples: usize, push: u64) -> Batch {
        Batch::new(Bytes::from(vec![0u8; bytes]), samples, push, None)
    }

    #[test]
    fn fifo_with_counts() {
        let mut q = Queue::new(1000);
        assert_eq!(q.push(batch(100, 5, 1)), Evicted::default());
        q.push(batch(100, 7, 2));
        assert_eq!(q.samples(), 12);
        assert!(q.holds_push_up_to(1));
        assert_eq!(q.pop().map(|b| b.push), Some(1));
        assert!(!q.holds_push_up_to(1));
        assert_eq!(q.samples(), 7);
    }

    #[test]
    fn over_the_cap_the_oldest_go() {
        let mut q = Queue::new(250);
        q.push(batch(100, 1, 1));
        q.push(batch(100, 2, 2));
        let evicted = q.push(batch(100, 3, 3));
        assert_eq!(
            evicted,
            Evicted {
                batches: 1,
                samples: 1
            }
        );
        assert_eq!(q.front().map(|b| b.push), Some(2));
        // A single batch over the cap stays: it is the newest data.
        let evicted = q.push(batch(1000, 4, 4));
        assert_eq!(
            evicted,
            Evicted {
                batches: 2,
                samples: 5
            }
        );
        assert_eq!(q.samples(), 4);
    }

    #[test]
    fn the_front_can_be_replaced_by_its_pieces() {
        let mut q = Queue::new(1000);
        q.push(batch(100, 10, 1));
        q.push(batch(100, 3, 2));
        q.replace_front([batch(60, 4, 1), batch(50, 6, 1)]);
        assert_eq!(q.samples(), 13);
        assert_eq!(q.pop().map(|b| b.samples), Some(4));
        assert_eq!(q.pop().map(|b| b.samples), Some(6));
        assert_eq!(q.pop().map(|b| b.push), Some(2));
        assert!(q.is_empty());
    }
}
