//! Cutting a refused remote-write request in halves, to find the series the endpoint
//! refuses without giving up the others.

use bytes::Bytes;

use crate::prometheus::batch;

/// The extra requests one refused request may cost while it is cut in halves: enough to
/// isolate a few bad series among `series` (about 2·log2(n) requests each), bounded
/// when the receiver refuses everything.
pub(super) fn bisect_budget(series: usize) -> usize {
    let log2 = usize::BITS - series.max(1).leading_zeros();
    4 * log2 as usize + 8
}

/// Cuts a compressed remote-write request into two compressed halves: the number of
/// series and the halves with their samples; `None` when it has fewer than two series
/// (or, which never happens for prompush's own requests, does not decode).
pub(super) fn remote_write_halves(body: &[u8]) -> Option<(usize, [(Bytes, usize); 2])> {
    let protobuf = snap::raw::Decoder::new().decompress_vec(body).ok()?;
    let (count, halves) = batch::halves(&protobuf).ok()?;
    let mut snappy = snap::raw::Encoder::new();
    let [a, b] = halves?;
    let mut compress = |(protobuf, samples): (Vec<u8>, usize)| {
        snappy
            .compress_vec(&protobuf)
            .ok()
            .map(|body| (Bytes::from(body), samples))
    };
    Some((count, [compress(a)?, compress(b)?]))
}
