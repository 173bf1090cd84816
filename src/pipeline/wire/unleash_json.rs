//! Unleash's custom-metrics JSON on the wire: bodies cut under a byte limit, between entries; no
//! stale markers (the format has no timestamps); a 400 may be one entry's fault.

use super::seam::{HalfRequest, RefusalRules, RequestWriter, Requests};
use crate::pipeline::queue::Batch;
use crate::prometheus::translate::Translator;
use crate::prometheus::unleash_json::{self, UnleashJsonEncoder};
use crate::{Error, Snapshot};

pub(super) struct JsonRequestWriter {
    translator: Translator,
    encoder: UnleashJsonEncoder,
    max_body_bytes: usize,
}

impl JsonRequestWriter {
    pub(super) fn new(translator: Translator, max_body_bytes: usize) -> Self {
        JsonRequestWriter {
            translator,
            encoder: UnleashJsonEncoder::new(),
            max_body_bytes,
        }
    }
}

impl RequestWriter for JsonRequestWriter {
    fn translator(&self) -> &Translator {
        &self.translator
    }

    fn values(&mut self, snapshot: &Snapshot, out: &mut Requests<'_>) -> Result<usize, Error> {
        self.encoder.clear();
        self.translator.translate(snapshot, &mut self.encoder);
        let max_samples = out.max_samples;
        self.encoder
            .bodies(self.max_body_bytes, max_samples, |body, samples, starts| {
                out.add(body, samples, Some(starts));
                Ok::<_, Error>(())
            })?;
        Ok(self.encoder.unrepresentable())
    }

    fn markers(&mut self, _: &Snapshot, _: bool, _: &mut Requests<'_>) -> Result<(), Error> {
        Ok(())
    }
}

pub(super) struct JsonRefusals;

impl RefusalRules for JsonRefusals {
    fn may_be_one_series(&self, status: u16) -> bool {
        status == 400
    }

    /// Cuts between entries, where the encoder recorded them.
    fn halves(&self, batch: &Batch) -> Option<(usize, [HalfRequest; 2])> {
        let starts = batch.cuts.as_ref()?;
        let halves = unleash_json::split_in_halves(&batch.body, starts)?;
        let half = |(body, samples, starts)| HalfRequest {
            body,
            samples,
            cuts: Some(starts),
            v2: None,
        };
        Some((starts.len(), halves.map(half)))
    }
}
