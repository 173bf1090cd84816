//! A wire protocol as one seam: how a push becomes request bodies ([`Encode`]), and
//! how a refused request is handled ([`Refusals`]: which answers may be about single
//! series, how a body is cut in halves). The queue, retries and the halving of refused
//! requests work on any protocol; adding one (remote write 2.0, say) is a module here.

mod remote_write;
mod unleash_json;

use bytes::Bytes;

use super::queue::{Batch, Cuts, Shard};
use super::shards::ShardPlan;
use super::Delivery;
use crate::prometheus::translate::Translator;
use crate::transport::Protocol;
use crate::{Error, Snapshot};

/// Where encoded requests go: push `push`'s requests, at most `max_samples` samples
/// each, cut for the shard count that `plan` resolves to (once per push).
pub(super) struct Requests<'a> {
    pub(super) batches: &'a mut Vec<Batch>,
    pub(super) push: u64,
    pub(super) max_samples: usize,
    /// Whether what is written now is stale markers.
    pub(super) markers: bool,
    pub(super) plan: ShardPlan,
    /// The shard count, once the push's first sharded request resolved it.
    pub(super) shards: Option<usize>,
}

impl Requests<'_> {
    /// Adds an unsharded request.
    fn add(&mut self, body: Bytes, samples: usize, cuts: Option<Cuts>) {
        self.add_to(Shard::ONLY, body, samples, cuts);
    }

    fn add_to(&mut self, shard: Shard, body: Bytes, samples: usize, cuts: Option<Cuts>) {
        self.batches.push(Batch {
            shard,
            markers: self.markers,
            ..Batch::new(body, samples, self.push, cuts)
        });
    }
}

/// Turns snapshots into request bodies, through the destination's translator; keeps
/// its buffers between pushes.
pub(super) trait Encode: Send {
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
pub(super) struct Half {
    pub(super) body: Bytes,
    pub(super) samples: usize,
    pub(super) cuts: Option<Cuts>,
}

/// What a protocol's refusals mean, and how its bodies are cut.
pub(super) trait Refusals: Sync {
    /// Whether a refusal with `status` may come from single series rather than the
    /// whole request (a wrong token, a missing route).
    fn may_be_one_series(&self, status: u16) -> bool;

    /// Cuts `batch` into two halves of about half its series each: the number of
    /// series and the halves; `None` when it cannot get smaller.
    fn halves(&self, batch: &Batch) -> Option<(usize, [Half; 2])>;
}

/// The encoder for a destination's protocol.
pub(super) fn encoder(delivery: &Delivery) -> Box<dyn Encode> {
    let series = &delivery.series;
    let mut translator = Translator::with_external_labels(series.external_labels.clone());
    translator.set_target_info(series.target_info);
    translator.set_scope_labels(series.scope_labels);
    match delivery.protocol {
        Protocol::RemoteWrite => Box::new(remote_write::Encoder::new(
            translator,
            series.native_histograms.clone(),
        )),
        Protocol::CustomMetricsJson => Box::new(unleash_json::Encoder::new(
            translator,
            delivery.max_body_bytes,
        )),
    }
}

/// `batch` again with classic series instead of native histograms, when `failure` is
/// the receiver refusing native histograms; `None` otherwise.
pub(super) fn classic_instead(
    protocol: Protocol,
    batch: &Batch,
    status: u16,
    detail: &str,
) -> Option<Half> {
    match protocol {
        Protocol::RemoteWrite if remote_write::refuses_native_histograms(status, detail) => {
            remote_write::without_native_histograms(batch)
        }
        _ => None,
    }
}

/// How a protocol's refusals are handled.
pub(super) fn refusals(protocol: Protocol) -> &'static dyn Refusals {
    match protocol {
        Protocol::RemoteWrite => &remote_write::Refusals,
        Protocol::CustomMetricsJson => &unleash_json::Refusals,
    }
}
