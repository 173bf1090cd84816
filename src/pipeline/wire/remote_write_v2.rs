//! Prometheus remote write 2.0: snappy-compressed `io.prometheus.write.v2.Request`s of at
//! most N samples, each with its own symbols table, cut per shard and in halves as 1.0's
//! are; stale markers as in 1.0. Once the receiver has shown that it takes only 1.0
//! (the `outcome` module decides that), the destination writes 1.0, and a 2.0 request
//! still queued is turned into its 1.0 form ([`as_v1`]) before it is sent again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use super::remote_write::{self, compress_into, RemoteWriteRefusals};
use super::seam::{HalfRequest, RefusalRules, RequestWriter, Requests};
use crate::pipeline::queue::{Batch, Shard};
use crate::prometheus::naming::NameTranslation;
use crate::prometheus::stale::write_markers;
use crate::prometheus::translate::Translator;
use crate::prometheus::write_request::WriteRequestEncoder;
use crate::prometheus::write_request_v2::{self, RequestV2Encoder};
use crate::{Error, Snapshot};

pub(super) struct RemoteWriteV2RequestWriter {
    translator: Translator,
    /// The destination's choice, read at every push (as for 1.0).
    native_histograms: Arc<AtomicBool>,
    /// Set once the receiver has shown it takes only 1.0: from then on, 1.0.
    fallen_back: Arc<AtomicBool>,
    /// The destination's strategy (escaped once fallen back).
    name_translation: NameTranslation,
    encoder: RequestV2Encoder,
    /// The 1.0 encoder, once fallen back.
    v1: Option<WriteRequestEncoder>,
    snappy: snap::raw::Encoder,
    scratch: Vec<u8>,
}

impl RemoteWriteV2RequestWriter {
    pub(super) fn new(
        translator: Translator,
        native_histograms: Arc<AtomicBool>,
        fallen_back: Arc<AtomicBool>,
        name_translation: NameTranslation,
    ) -> Self {
        RemoteWriteV2RequestWriter {
            translator,
            native_histograms,
            fallen_back,
            name_translation,
            encoder: RequestV2Encoder::new(),
            v1: None,
            snappy: snap::raw::Encoder::new(),
            scratch: Vec::new(),
        }
    }

    /// The 1.0 encoder when the destination has fallen back.
    fn fallen_back(&mut self) -> Option<&mut WriteRequestEncoder> {
        if self.fallen_back.load(Ordering::Relaxed) {
            Some(self.v1.get_or_insert_with(WriteRequestEncoder::new))
        } else {
            None
        }
    }

    /// Cuts what the 2.0 encoder holds into snappy-compressed requests, per shard.
    fn compress_v2(
        &mut self,
        encoder: &mut RequestV2Encoder,
        out: &mut Requests<'_>,
    ) -> Result<(), Error> {
        let max_samples = out.max_samples;
        let (plan, resolved) = (out.plan, out.shards);
        let chosen = std::cell::Cell::new(resolved);
        let shards = |samples| {
            let n = resolved.unwrap_or_else(|| plan.resolve(samples, max_samples));
            chosen.set(Some(n));
            n
        };
        let (snappy, scratch) = (&mut self.snappy, &mut self.scratch);
        encoder.requests(max_samples, shards, |index, protobuf, carried| {
            scratch.resize(snap::raw::max_compress_len(protobuf.len()), 0);
            let n = snappy
                .compress(protobuf, scratch)
                .map_err(|e| Error::Encode(e.to_string()))?;
            let of = chosen.get().unwrap_or(1);
            let body = Bytes::copy_from_slice(&scratch[..n]);
            out.add_v2(Shard { index, of }, body, carried);
            Ok(())
        })?;
        out.shards = chosen.get();
        Ok(())
    }
}

impl RequestWriter for RemoteWriteV2RequestWriter {
    fn translator(&self) -> &Translator {
        &self.translator
    }

    fn values(&mut self, snapshot: &Snapshot, out: &mut Requests<'_>) -> Result<usize, Error> {
        let native = self.native_histograms.load(Ordering::Relaxed);
        self.translator.set_native_histograms(native);
        if self.fallen_back().is_some() {
            // 1.0 requires legacy names: a UTF-8 strategy's escaping counterpart.
            let escaped = self.name_translation.escaped();
            self.translator.set_name_translation(escaped);
            let mut v1 = self.v1.take().unwrap_or_default();
            v1.clear();
            let result = if self.translator.translate(snapshot, &mut v1) > 0 {
                compress_into(out, &mut v1, &mut self.snappy, &mut self.scratch)
            } else {
                Ok(())
            };
            self.v1 = Some(v1);
            return result.map(|()| 0);
        }
        let mut encoder = std::mem::take(&mut self.encoder);
        encoder.clear();
        self.translator.translate(snapshot, &mut encoder);
        let result = if encoder.series_count() > 0 {
            self.compress_v2(&mut encoder, out)
        } else {
            Ok(())
        };
        self.encoder = encoder;
        result.map(|()| 0)
    }

    fn markers(&mut self, of: &Snapshot, part: bool, out: &mut Requests<'_>) -> Result<(), Error> {
        if self.fallen_back().is_some() {
            let mut markers = WriteRequestEncoder::new();
            if write_markers(&mut self.translator, of, part, &mut markers) > 0 {
                compress_into(out, &mut markers, &mut self.snappy, &mut self.scratch)?;
            }
            return Ok(());
        }
        let mut markers = RequestV2Encoder::new();
        if write_markers(&mut self.translator, of, part, &mut markers) > 0 {
            self.compress_v2(&mut markers, out)?;
        }
        Ok(())
    }
}

/// `batch`, a 2.0 request, as the same series in 1.0; `None` for a body that is not
/// 2.0 (already 1.0) or does not decode (never for prompush's own).
pub(super) fn as_v1(batch: &Batch) -> Option<HalfRequest> {
    batch.v2?;
    let protobuf = snap::raw::Decoder::new().decompress_vec(&batch.body).ok()?;
    let (v1, samples) = write_request_v2::as_v1(&protobuf).ok()?;
    let body = snap::raw::Encoder::new().compress_vec(&v1).ok()?;
    Some(HalfRequest {
        body: Bytes::from(body),
        samples,
        cuts: None,
        v2: None,
    })
}

pub(super) struct RemoteWriteV2Refusals;

impl RefusalRules for RemoteWriteV2Refusals {
    /// As 1.0: 400 and 422.
    fn may_be_one_series(&self, status: u16) -> bool {
        RemoteWriteRefusals.may_be_one_series(status)
    }

    /// Cuts between series, each half with its own symbols; a request re-sent as 1.0
    /// is cut as 1.0's are.
    fn halves(&self, batch: &Batch) -> Option<(usize, [HalfRequest; 2])> {
        if batch.v2.is_none() {
            return RemoteWriteRefusals.halves(batch);
        }
        let protobuf = snap::raw::Decoder::new().decompress_vec(&batch.body).ok()?;
        let (count, halves) = write_request_v2::halves(&protobuf).ok()?;
        let mut snappy = snap::raw::Encoder::new();
        let [a, b] = halves?;
        let mut compress = |(protobuf, carried): write_request_v2::HalfRequestV2| {
            snappy.compress_vec(&protobuf).ok().map(|body| HalfRequest {
                body: Bytes::from(body),
                samples: carried.values(),
                cuts: None,
                v2: Some(carried),
            })
        };
        Some((count, [compress(a)?, compress(b)?]))
    }
}

/// As 1.0's, for a request already re-sent as 1.0.
pub(super) fn without_native_histograms(batch: &Batch) -> Option<HalfRequest> {
    batch
        .v2
        .is_none()
        .then(|| remote_write::without_native_histograms(batch))
        .flatten()
}
