//! Collection and encoding of one push: CPU work, run on a blocking thread.
//!
//! Each push gets its time from the destination's [`PushClock`]; the snapshot is
//! translated and encoded in the destination's format and cut into requests; stale
//! markers come before the values (for series that end) or after them (the final
//! push).

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use super::clock::{self, PushClock};
use super::queue::Batch;
use super::{CollectFn, Collected, Delivery};
use crate::prometheus::batch;
use crate::prometheus::custom_json::CustomMetricsEncoder;
use crate::prometheus::encode::WriteRequestEncoder;
use crate::prometheus::stale::{self, StaleMarkers};
use crate::prometheus::translate::{Collisions, Translator};
use crate::snapshot::Attributes;
use crate::transport::Protocol;
use crate::{Error, Snapshot};

/// Collection and encoding: CPU work, run on a blocking thread so that one provider's
/// large push never stalls the shared runtime (other providers' pushes, receivers).
pub(super) struct Encoding {
    translator: Translator,
    format: Format,
    /// `None` for a pipeline fed by `export`.
    pub(super) collect: Option<CollectFn>,
    pub(super) max_samples_per_send: usize,
    pub(super) max_body_bytes: usize,
    /// The attribute sets each observable instrument reported last push, to mark the
    /// ones it stops reporting as stale.
    pub(super) observed: HashMap<u64, HashSet<Attributes>>,
    /// A pipeline fed by `export`: the last snapshot exported, whose series that the
    /// next export lacks get stale markers (and all of them after the final export).
    pub(super) last_export: Option<Snapshot>,
    pub(super) clock: PushClock,
}

/// What encoding one push produced.
#[derive(Default)]
pub(super) struct Encoded {
    pub(super) batches: Vec<Batch>,
    /// Values the format could not carry.
    pub(super) unrepresentable: usize,
    pub(super) collisions: Collisions,
}

/// The body format of the destination's protocol, with its reusable state.
// One per destination, never moved around: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Format {
    RemoteWrite {
        encoder: WriteRequestEncoder,
        snappy: snap::raw::Encoder,
        /// Compression scratch: each request is then copied out at its exact size, so
        /// the queue's byte count is the memory it holds.
        scratch: Vec<u8>,
    },
    CustomMetricsJson(CustomMetricsEncoder),
}

impl Encoding {
    pub(super) fn new(collect: Option<CollectFn>, delivery: &Delivery) -> Self {
        let format = match delivery.protocol {
            Protocol::RemoteWrite => Format::RemoteWrite {
                encoder: WriteRequestEncoder::new(),
                snappy: snap::raw::Encoder::new(),
                scratch: Vec::new(),
            },
            Protocol::CustomMetricsJson => Format::CustomMetricsJson(CustomMetricsEncoder::new()),
        };
        let mut translator = Translator::with_external_labels(delivery.external_labels.clone());
        translator.set_target_info(delivery.target_info);
        translator.set_scope_labels(delivery.scope_labels);
        Encoding {
            translator,
            format,
            collect,
            max_samples_per_send: delivery.max_samples_per_send,
            max_body_bytes: delivery.max_body_bytes,
            observed: HashMap::new(),
            last_export: None,
            clock: PushClock::new(),
        }
    }

    /// Collects (if this pipeline collects) and encodes one push; the final one (`last`)
    /// ends every series after its values. The series that end before (attribute sets
    /// an observable callback no longer reports, a deleted custom metric's) get their
    /// markers first. A pipeline fed by `export` ends its last export's series at the
    /// final push.
    pub(super) fn encode_collection(&mut self, push: u64, last: bool) -> Result<Encoded, Error> {
        let Some(collect) = &self.collect else {
            return match self.last_export.take() {
                Some(mut previous) if last => self.encode_stale(&mut previous, push),
                _ => Ok(Encoded::default()),
            };
        };
        let Collected {
            mut snapshot,
            ending,
        } = collect();
        let vanished = stale::vanished_observations(&mut self.observed, &snapshot);
        let mut ending = stale::join(ending, vanished);
        self.encode(&mut snapshot, ending.as_mut(), push, last)
    }

    /// Encodes a snapshot handed over by `export`; the series the previous export had
    /// and this one lacks get their markers first.
    pub(super) fn encode_export(
        &mut self,
        mut snapshot: Snapshot,
        push: u64,
    ) -> Result<Encoded, Error> {
        let mut ending = self
            .last_export
            .replace(snapshot.clone())
            .and_then(|previous| stale::vanished(previous, &snapshot));
        self.encode(&mut snapshot, ending.as_mut(), push, false)
    }

    /// Translates a snapshot into requests of at most `max_samples_per_send` samples;
    /// with `last`, stale markers for all its series follow (remote write only), so the
    /// receiver ends them now rather than showing their last values for minutes. The
    /// series of `ending` get stale markers first. Every part gets a time of its own
    /// from the destination's clock, strictly after the previous one.
    pub(super) fn encode(
        &mut self,
        snapshot: &mut Snapshot,
        ending: Option<&mut Snapshot>,
        push: u64,
        last: bool,
    ) -> Result<Encoded, Error> {
        let mut batches = Vec::new();
        let max_samples = self.max_samples_per_send;
        match &mut self.format {
            Format::RemoteWrite {
                encoder,
                snappy,
                scratch,
            } => {
                let translator = &mut self.translator;
                // Ending series first, before this push's values: a series that comes
                // back (a custom metric deleted and created again) starts afresh after
                // its marker.
                if let Some(ending) = ending {
                    stamp(ending, self.clock.next());
                    let to = (&mut batches, push, max_samples);
                    stale_markers_into(translator, ending, true, to, snappy, scratch)?;
                }
                stamp(snapshot, self.clock.next());
                encoder.clear();
                if translator.translate(snapshot, encoder) > 0 {
                    compress_into(&mut batches, push, encoder, max_samples, snappy, scratch)?;
                }
                let collisions = translator.collisions();
                if last {
                    stamp(snapshot, self.clock.next());
                    let to = (&mut batches, push, max_samples);
                    stale_markers_into(translator, snapshot, false, to, snappy, scratch)?;
                }
                Ok(Encoded {
                    batches,
                    unrepresentable: 0,
                    collisions,
                })
            }
            Format::CustomMetricsJson(encoder) => {
                stamp(snapshot, self.clock.next());
                encoder.clear();
                self.translator.translate(snapshot, encoder);
                encoder.bodies(self.max_body_bytes, max_samples, |body, samples, starts| {
                    batches.push(Batch::new(body, samples, push, Some(starts)));
                    Ok::<_, Error>(())
                })?;
                Ok(Encoded {
                    batches,
                    unrepresentable: encoder.unrepresentable(),
                    collisions: self.translator.collisions(),
                })
            }
        }
    }

    /// Stale markers for every series of `of` (remote write only).
    pub(super) fn encode_stale(&mut self, of: &mut Snapshot, push: u64) -> Result<Encoded, Error> {
        let mut batches = Vec::new();
        if let Format::RemoteWrite {
            snappy, scratch, ..
        } = &mut self.format
        {
            stamp(of, self.clock.next());
            let to = (&mut batches, push, self.max_samples_per_send);
            stale_markers_into(&mut self.translator, of, false, to, snappy, scratch)?;
        }
        Ok(Encoded {
            batches,
            ..Encoded::default()
        })
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

/// Appends requests with a stale marker for every series of `of` to `to.0` (push
/// `to.1`, at most `to.2` samples each); `part`: `of` holds only the series that end
/// (not `target_info`, not the other instruments). A fresh encoder: the markers must
/// not disturb the per-series caches, which hold the values' labels for the next push.
fn stale_markers_into(
    translator: &mut Translator,
    of: &Snapshot,
    part: bool,
    to: (&mut Vec<Batch>, u64, usize),
    snappy: &mut snap::raw::Encoder,
    scratch: &mut Vec<u8>,
) -> Result<(), Error> {
    let (batches, push, max_samples) = to;
    let mut markers = WriteRequestEncoder::new();
    let sink = &mut StaleMarkers(&mut markers);
    let series = if part {
        translator.translate_part(of, sink)
    } else {
        translator.translate(of, sink)
    };
    if series > 0 {
        compress_into(batches, push, &mut markers, max_samples, snappy, scratch)?;
    }
    Ok(())
}

/// Splits what `encoder` holds into snappy-compressed requests of at most
/// `max_samples` samples.
fn compress_into(
    batches: &mut Vec<Batch>,
    push: u64,
    encoder: &mut WriteRequestEncoder,
    max_samples: usize,
    snappy: &mut snap::raw::Encoder,
    scratch: &mut Vec<u8>,
) -> Result<(), Error> {
    batch::split(encoder.protobuf(), max_samples, |protobuf, samples| {
        scratch.resize(snap::raw::max_compress_len(protobuf.len()), 0);
        let n = snappy
            .compress(protobuf, scratch)
            .map_err(|e| Error::Encode(e.to_string()))?;
        batches.push(Batch::new(
            Bytes::copy_from_slice(&scratch[..n]),
            samples,
            push,
            None,
        ));
        Ok(())
    })
}
