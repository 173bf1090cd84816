//! Prometheus remote write 1.0: snappy-compressed `WriteRequest`s of at most N samples,
//! stale markers, and halving by series (Prometheus refuses a whole request with 400
//! for one out-of-order or duplicate sample).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::seam::{HalfRequest, RefusalRules, RequestWriter, Requests};
use crate::pipeline::queue::{Batch, Shard};
use crate::prometheus::stale::write_markers;
use crate::prometheus::translate::Translator;
use crate::prometheus::write_request::WriteRequestEncoder;
use crate::prometheus::{batch, native};
use crate::{Error, Snapshot};

pub(super) struct RemoteWriteRequestWriter {
    translator: Translator,
    /// The destination's choice, read at every push: a refusal may turn it off.
    native_histograms: Arc<AtomicBool>,
    encoder: WriteRequestEncoder,
    snappy: snap::raw::Encoder,
    /// Compression scratch: each request is then copied out at its exact size, so the
    /// queue's byte count is the memory it holds.
    scratch: Vec<u8>,
}

impl RemoteWriteRequestWriter {
    pub(super) fn new(translator: Translator, native_histograms: Arc<AtomicBool>) -> Self {
        RemoteWriteRequestWriter {
            translator,
            native_histograms,
            encoder: WriteRequestEncoder::new(),
            snappy: snap::raw::Encoder::new(),
            scratch: Vec::new(),
        }
    }
}

impl RequestWriter for RemoteWriteRequestWriter {
    fn translator(&self) -> &Translator {
        &self.translator
    }

    fn values(&mut self, snapshot: &Snapshot, out: &mut Requests<'_>) -> Result<usize, Error> {
        let native = self.native_histograms.load(Ordering::Relaxed);
        self.translator.set_native_histograms(native);
        self.encoder.clear();
        if self.translator.translate(snapshot, &mut self.encoder) > 0 {
            compress_into(out, &mut self.encoder, &mut self.snappy, &mut self.scratch)?;
        }
        Ok(0)
    }

    /// A fresh encoder: the markers must not disturb the per-series caches, which hold
    /// the values' labels for the next push.
    fn markers(&mut self, of: &Snapshot, part: bool, out: &mut Requests<'_>) -> Result<(), Error> {
        let mut markers = WriteRequestEncoder::new();
        if write_markers(&mut self.translator, of, part, &mut markers) > 0 {
            compress_into(out, &mut markers, &mut self.snappy, &mut self.scratch)?;
        }
        Ok(())
    }
}

/// Splits what `encoder` holds into snappy-compressed requests, per shard.
pub(super) fn compress_into(
    out: &mut Requests<'_>,
    encoder: &mut WriteRequestEncoder,
    snappy: &mut snap::raw::Encoder,
    scratch: &mut Vec<u8>,
) -> Result<(), Error> {
    let max_samples = out.max_samples;
    let (plan, resolved) = (out.plan, out.shards);
    let chosen = std::cell::Cell::new(resolved);
    let shards = |samples| {
        let n = resolved.unwrap_or_else(|| plan.resolve(samples, max_samples));
        chosen.set(Some(n));
        n
    };
    batch::split_sharded(
        encoder.protobuf(),
        max_samples,
        shards,
        |index, protobuf, samples| {
            scratch.resize(snap::raw::max_compress_len(protobuf.len()), 0);
            let n = snappy
                .compress(protobuf, scratch)
                .map_err(|e| Error::Encode(e.to_string()))?;
            let of = chosen.get().unwrap_or(1);
            let body = Bytes::copy_from_slice(&scratch[..n]);
            out.add_to(Shard { index, of }, body, samples, None);
            Ok(())
        },
    )?;
    out.shards = chosen.get();
    Ok(())
}

/// What Prometheus answers (500, the whole request rolled back) when it was started
/// without `--enable-feature=native-histograms`.
const NATIVE_HISTOGRAMS_DISABLED: &str = "native histograms are disabled";

/// Whether an answer is Prometheus refusing native histograms.
pub(super) fn refuses_native_histograms(status: u16, detail: &str) -> bool {
    status == 500 && detail.contains(NATIVE_HISTOGRAMS_DISABLED)
}

/// `batch` with its native histograms as classic series; `None` when it has none.
pub(super) fn without_native_histograms(batch: &Batch) -> Option<HalfRequest> {
    let protobuf = snap::raw::Decoder::new().decompress_vec(&batch.body).ok()?;
    let (classic, samples) = native::to_classic(&protobuf).ok()??;
    let body = snap::raw::Encoder::new().compress_vec(&classic).ok()?;
    Some(HalfRequest {
        body: Bytes::from(body),
        samples,
        cuts: None,
        v2: None,
    })
}

pub(super) struct RemoteWriteRefusals;

impl RefusalRules for RemoteWriteRefusals {
    /// 400 and 422: Prometheus answers 400 for one out-of-order or duplicate sample,
    /// and some receivers 422 for one invalid series.
    fn may_be_one_series(&self, status: u16) -> bool {
        matches!(status, 400 | 422)
    }

    /// Decompresses, cuts between series (the metadata goes with the first half) and
    /// compresses each half; `None` for fewer than two series (or, which never happens
    /// for prompush's own requests, a body that does not decode).
    fn halves(&self, batch: &Batch) -> Option<(usize, [HalfRequest; 2])> {
        let protobuf = snap::raw::Decoder::new().decompress_vec(&batch.body).ok()?;
        let (count, halves) = batch::halves(&protobuf).ok()?;
        let mut snappy = snap::raw::Encoder::new();
        let [a, b] = halves?;
        let mut compress = |(protobuf, samples): (Vec<u8>, usize)| {
            snappy.compress_vec(&protobuf).ok().map(|body| HalfRequest {
                body: Bytes::from(body),
                samples,
                cuts: None,
                v2: None,
            })
        };
        Some((count, [compress(a)?, compress(b)?]))
    }
}
