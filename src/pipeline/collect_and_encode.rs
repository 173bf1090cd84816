//! Collection and encoding of one push: CPU work, run on a blocking thread.
//!
//! Each push gets its time from the destination's [`PushClock`]; the snapshot is
//! translated and encoded in the destination's format and cut into requests; stale
//! markers come before the values (for series that end) or after them (the final
//! push).

use std::collections::{HashMap, HashSet};

use std::sync::Arc;

use super::clock::{self, PushClock};
use super::queue::Batch;
use super::shards::ShardPlan;
use super::wire::{self, RequestWriter, Requests};
use super::{CollectFn, Collected, Delivery};
use crate::prometheus::stale;
use crate::prometheus::translate::Collisions;
use crate::snapshot::Attributes;
use crate::sync::Mutex;
use crate::{Error, Snapshot};

/// Collection and encoding: CPU work, run on a blocking thread so that one provider's
/// large push never stalls the shared runtime (other providers' pushes, receivers).
pub(super) struct Encoding {
    wire: Box<dyn RequestWriter>,
    /// `None` for a pipeline fed by `export`.
    pub(super) collect: Option<CollectFn>,
    pub(super) max_samples_per_send: usize,
    /// The attribute sets each observable instrument reported last push, to mark the
    /// ones it stops reporting as stale.
    pub(super) observed: HashMap<u64, HashSet<Attributes>>,
    /// A pipeline fed by `export`: the last snapshot exported, whose series that the
    /// next export lacks get stale markers (and all of them after the final export).
    pub(super) last_export: Option<Snapshot>,
    /// Shared with the task, so that an encoding rebuilt after a panic goes on from the
    /// last timestamp instead of starting a clock afresh.
    pub(super) clock: Arc<Mutex<PushClock>>,
}

/// What encoding one push produced.
#[derive(Default)]
pub(super) struct Encoded {
    pub(super) batches: Vec<Batch>,
    /// Values the format could not carry.
    pub(super) unrepresentable: usize,
    pub(super) collisions: Collisions,
    /// The shard count the push was cut for; `None` if nothing was sharded.
    pub(super) shards: Option<usize>,
}

impl Encoding {
    pub(super) fn new(
        collect: Option<CollectFn>,
        delivery: &Delivery,
        clock: Arc<Mutex<PushClock>>,
    ) -> Self {
        Encoding {
            wire: wire::request_writer(delivery),
            collect,
            max_samples_per_send: delivery.max_samples_per_send,
            observed: HashMap::new(),
            last_export: None,
            clock,
        }
    }

    /// Collects (if this pipeline collects) and encodes one push; the final one (`last`)
    /// ends every series after its values. The series that end before (attribute sets
    /// an observable callback no longer reports, a deleted custom metric's) get their
    /// markers first. A pipeline fed by `export` ends its last export's series at the
    /// final push.
    pub(super) fn encode_collection(
        &mut self,
        push: u64,
        plan: ShardPlan,
        last: bool,
    ) -> Result<Encoded, Error> {
        let Some(collect) = &self.collect else {
            return match self.last_export.take() {
                Some(mut previous) if last => self.encode_stale(&mut previous, push, plan),
                _ => Ok(Encoded::default()),
            };
        };
        let Collected {
            mut snapshot,
            ending,
        } = collect();
        let vanished = stale::vanished_observations(&mut self.observed, &snapshot);
        let mut ending = stale::join(ending, vanished);
        self.encode(&mut snapshot, ending.as_mut(), push, plan, last)
    }

    /// Encodes a snapshot handed over by `export`; the series the previous export had
    /// and this one lacks get their markers first.
    pub(super) fn encode_export(
        &mut self,
        mut snapshot: Snapshot,
        push: u64,
        plan: ShardPlan,
    ) -> Result<Encoded, Error> {
        let mut ending = self
            .last_export
            .replace(snapshot.clone())
            .and_then(|previous| stale::vanished(previous, &snapshot));
        self.encode(&mut snapshot, ending.as_mut(), push, plan, false)
    }

    /// Translates a snapshot into requests of at most `max_samples_per_send` samples;
    /// with `last`, stale markers for all its series follow, so the receiver ends them
    /// now rather than showing their last values for minutes. The series of `ending`
    /// get stale markers first. Every part gets a time of its own from the
    /// destination's clock, strictly after the previous one.
    pub(super) fn encode(
        &mut self,
        snapshot: &mut Snapshot,
        ending: Option<&mut Snapshot>,
        push: u64,
        plan: ShardPlan,
        last: bool,
    ) -> Result<Encoded, Error> {
        let mut batches = Vec::new();
        let mut out = self.requests(&mut batches, push, plan);
        // Ending series first, before this push's values: a series that comes back (a
        // custom metric deleted and created again) starts afresh after its marker.
        if let Some(ending) = ending {
            stamp(ending, self.clock.lock().next());
            out.markers = true;
            self.wire.markers(ending, true, &mut out)?;
            out.markers = false;
        }
        stamp(snapshot, self.clock.lock().next());
        let unrepresentable = self.wire.values(snapshot, &mut out)?;
        let collisions = self.wire.translator().collisions();
        if last {
            stamp(snapshot, self.clock.lock().next());
            out.markers = true;
            self.wire.markers(snapshot, false, &mut out)?;
        }
        let shards = out.shards;
        Ok(Encoded {
            batches,
            unrepresentable,
            collisions,
            shards,
        })
    }

    /// Stale markers for every series of `of`.
    pub(super) fn encode_stale(
        &mut self,
        of: &mut Snapshot,
        push: u64,
        plan: ShardPlan,
    ) -> Result<Encoded, Error> {
        let mut batches = Vec::new();
        let mut out = self.requests(&mut batches, push, plan);
        out.markers = true;
        stamp(of, self.clock.lock().next());
        self.wire.markers(of, false, &mut out)?;
        let shards = out.shards;
        Ok(Encoded {
            batches,
            shards,
            ..Encoded::default()
        })
    }

    /// Where push `push`'s requests go.
    fn requests<'a>(
        &self,
        batches: &'a mut Vec<Batch>,
        push: u64,
        plan: ShardPlan,
    ) -> Requests<'a> {
        Requests {
            batches,
            push,
            max_samples: self.max_samples_per_send,
            markers: false,
            plan,
            shards: None,
        }
    }
}

/// Gives the snapshot and every metric in it the push time `ms`.
fn stamp(snapshot: &mut Snapshot, ms: i64) {
    let time = clock::time_of(ms);
    snapshot.time = time;
    for metric in snapshot
        .scopes
        .iter_mut()
        .flat_map(|s| s.metrics.iter_mut())
    {
        metric.time = time;
    }
}
