//! A wire protocol as one seam: how a push becomes request bodies ([`RequestWriter`]),
//! and how a refused request is handled ([`RefusalRules`]: which answers may be about single
//! series, how a body is cut in halves). The queue, retries and the halving of refused
//! requests work on any protocol; adding one (remote write 2.0, say) is a module here.

mod remote_write;
mod remote_write_v2;
mod seam;
mod unleash_json;

use super::queue::Batch;
use super::Delivery;
use crate::prometheus::translate::Translator;
use crate::transport::Protocol;

pub(super) use seam::{HalfRequest, RefusalRules, RequestWriter, Requests};

/// The request writer for a destination's protocol.
pub(super) fn request_writer(delivery: &Delivery) -> Box<dyn RequestWriter> {
    let series = &delivery.series;
    let mut translator = Translator::with_external_labels(series.external_labels.clone());
    translator.set_target_info(series.target_info);
    translator.set_scope_labels(series.scope_labels);
    translator.set_name_translation(series.name_translation);
    match delivery.protocol {
        Protocol::RemoteWrite => Box::new(remote_write::RemoteWriteRequestWriter::new(
            translator,
            series.native_histograms.clone(),
        )),
        Protocol::RemoteWriteV2 => Box::new(remote_write_v2::RemoteWriteV2RequestWriter::new(
            translator,
            series.native_histograms.clone(),
            series.fallen_back.clone(),
            series.name_translation,
        )),
        Protocol::UnleashJson => Box::new(unleash_json::JsonRequestWriter::new(
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
) -> Option<HalfRequest> {
    match protocol {
        Protocol::RemoteWrite if remote_write::refuses_native_histograms(status, detail) => {
            remote_write::without_native_histograms(batch)
        }
        Protocol::RemoteWriteV2 if remote_write::refuses_native_histograms(status, detail) => {
            remote_write_v2::without_native_histograms(batch)
        }
        _ => None,
    }
}

/// How a protocol's refusals are handled.
pub(super) fn refusals(protocol: Protocol) -> &'static dyn RefusalRules {
    match protocol {
        Protocol::RemoteWrite => &remote_write::RemoteWriteRefusals,
        Protocol::RemoteWriteV2 => &remote_write_v2::RemoteWriteV2Refusals,
        Protocol::UnleashJson => &unleash_json::JsonRefusals,
    }
}

/// The protocol `batch`'s body is in, for a destination of `protocol`: a 2.0
/// destination's request re-sent as 1.0 is in 1.0.
pub(super) fn body_protocol(protocol: Protocol, batch: &Batch) -> Protocol {
    match protocol.fallback() {
        Some(fallback) if batch.v2.is_none() => fallback,
        _ => protocol,
    }
}

/// `batch`, a remote-write 2.0 request, as the same series in 1.0; `None` for any other
/// body.
pub(super) fn as_v1(batch: &Batch) -> Option<HalfRequest> {
    remote_write_v2::as_v1(batch)
}
