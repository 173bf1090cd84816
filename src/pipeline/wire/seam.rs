//! What every wire protocol implements: writing a push's requests ([`RequestWriter`]
//! into [`Requests`]), and what its refusals mean and how its bodies are cut in halves
//! ([`RefusalRules`]).

use bytes::Bytes;

use crate::pipeline::queue::{Batch, Cuts, Shard};
use crate::pipeline::shards::ShardPlan;
use crate::prometheus::translate::Translator;
use crate::prometheus::write_request_v2::Carried;
use crate::{Error, Snapshot};

/// Where encoded requests go: push `push`'s requests, at most `max_samples` samples
/// each, cut for the shard count that `plan` resolves to (once per push).
pub(crate) struct Requests<'a> {
    pub(crate) batches: &'a mut Vec<Batch>,
    pub(crate) push: u64,
    pub(crate) max_samples: usize,
    /// Whether what is written now is stale markers.
    pub(crate) markers: bool,
    pub(crate) plan: ShardPlan,
    /// The shard count, once the push's first sharded request resolved it.
    pub(crate) shards: Option<usize>,
}

impl Requests<'_> {
    /// Adds an unsharded request.
    pub(super) fn add(&mut self, body: Bytes, samples: usize, cuts: Option<Cuts>) {
        self.add_to(Shard::ONLY, body, samples, cuts);
    }

    pub(super) fn add_to(&mut self, shard: Shard, body: Bytes, samples: usize, cuts: Option<Cuts>) {
        self.batches.push(Batch {
            shard,
            markers: self.markers,
            ..Batch::new(body, samples, self.push, cuts)
        });
    }

    /// Adds a remote-write 2.0 request that carries `carried`.
    pub(super) fn add_v2(&mut self, shard: Shard, body: Bytes, carried: Carried) {
        self.batches.push(Batch {
            shard,
            markers: self.markers,
            v2: Some(carried),
            ..Batch::new(body, carried.values(), self.push, None)
        });
    }
}

/// Turns snapshots into request bodies, through the destination's translator; keeps
/// its buffers between pushes.
pub(crate) trait RequestWriter: Send {
    /// The translator (what the latest push merged and dropped, say).
    fn translator(&self) -> &Translator;

    /// Writes the series of `snapshot`; returns how many values the format cannot carry
    /// (left out).
    fn values(&mut self, snapshot: &Snapshot, out: &mut Requests<'_>) -> Result<usize, Error>;

    /// Writes a stale marker for every series of `of` (with `part`, `of` holds only
    /// the series that end). A format without markers writes nothing.
    fn markers(&mut self, of: &Snapshot, part: bool, out: &mut Requests<'_>) -> Result<(), Error>;
}

/// One half of a request body.
pub(crate) struct HalfRequest {
    pub(crate) body: Bytes,
    pub(crate) samples: usize,
    pub(crate) cuts: Option<Cuts>,
    /// What a remote-write 2.0 half carries (as [`Batch::v2`]).
    pub(crate) v2: Option<Carried>,
}

/// What a protocol's refusals mean, and how its bodies are cut.
pub(crate) trait RefusalRules: Sync {
    /// Whether a refusal with `status` may come from single series rather than the
    /// whole request (a wrong token, a missing route).
    fn may_be_one_series(&self, status: u16) -> bool;

    /// Cuts `batch` into two halves of about half its series each: the number of
    /// series and the halves; `None` when it cannot get smaller.
    fn halves(&self, batch: &Batch) -> Option<(usize, [HalfRequest; 2])>;
}
