//! Splitting one encoded `WriteRequest` into requests of at most N samples.
//!
//! Receivers limit request sizes (Prometheus itself sends at most 2000 samples per
//! request by default), so a large push goes out as several requests. The split works
//! on the protobuf bytes: time series are copied whole, in order, and the metric
//! metadata travels with the first request.

use prost::encoding::decode_varint;

use crate::Error;

const TIMESERIES: u64 = (1 << 3) | 2;
const METADATA: u64 = (3 << 3) | 2;
const SAMPLE: u64 = (2 << 3) | 2;
/// A native histogram counts as one sample, as Prometheus counts it.
const HISTOGRAM: u64 = (4 << 3) | 2;

/// Calls `emit(protobuf, samples)` for each request of at most `max_samples` samples
/// (a single series with more samples goes alone). Nothing is emitted for a request
/// without samples.
///
/// # Errors
/// [`Error::Encode`] if `request` is not a well-formed `WriteRequest`, or what `emit`
/// returns.
pub(crate) fn split(
    request: &[u8],
    max_samples: usize,
    mut emit: impl FnMut(&[u8], usize) -> Result<(), Error>,
) -> Result<(), Error> {
    let (metadata, series) = fields(request)?;
    let mut chunk: Vec<u8> = Vec::with_capacity(request.len().min(1 << 20));
    let mut in_chunk = 0usize;
    let mut first = true;
    let mut flush = |chunk: &mut Vec<u8>, samples: usize, first: &mut bool| {
        if *first {
            metadata.iter().for_each(|m| chunk.extend_from_slice(m));
            *first = false;
        }
        let result = emit(chunk, samples);
        chunk.clear();
        result
    };
    for (field, samples) in series {
        if in_chunk > 0 && in_chunk + samples > max_samples {
            flush(&mut chunk, in_chunk, &mut first)?;
            in_chunk = 0;
        }
        chunk.extend_from_slice(field);
        in_chunk += samples;
    }
    if in_chunk > 0 {
        flush(&mut chunk, in_chunk, &mut first)?;
    }
    Ok(())
}

/// The metadata (and unknown) fields and the time series of a `WriteRequest`, each as
/// its encoded bytes, series with their sample counts.
type Fields<'a> = (Vec<&'a [u8]>, Vec<(&'a [u8], usize)>);

fn fields(request: &[u8]) -> Result<Fields<'_>, Error> {
    let mut metadata: Vec<&[u8]> = Vec::new();
    let mut series: Vec<(&[u8], usize)> = Vec::new();
    let mut rest = request;
    while !rest.is_empty() {
        let start = rest;
        let tag = varint(&mut rest)?;
        let len = varint(&mut rest)? as usize;
        if tag & 7 != 2 || len > rest.len() {
            return Err(malformed());
        }
        let (body, tail) = rest.split_at(len);
        let field = &start[..start.len() - tail.len()];
        match tag {
            TIMESERIES => series.push((field, samples_in(body)?)),
            METADATA => metadata.push(field),
            // Fields this crate does not write travel with the first request.
            _ => metadata.push(field),
        }
        rest = tail;
    }
    Ok((metadata, series))
}

/// One half of a request: its protobuf and its samples.
pub(crate) type Half = (Vec<u8>, usize);

/// Cuts a `WriteRequest` into two with about half the series each (the metadata goes
/// with the first): `(protobuf, samples)` per half, and the number of series. `None`
/// for the halves when there are fewer than two series (it cannot get smaller).
///
/// # Errors
/// [`Error::Encode`] if `request` is not a well-formed `WriteRequest`.
pub(crate) fn halves(request: &[u8]) -> Result<(usize, Option<[Half; 2]>), Error> {
    let (metadata, series) = fields(request)?;
    if series.len() < 2 {
        return Ok((series.len(), None));
    }
    let (first, second) = series.split_at(series.len() / 2);
    let half = |with: &[&[u8]], series: &[(&[u8], usize)]| {
        let mut out = Vec::new();
        let mut samples = 0;
        for (field, n) in series {
            out.extend_from_slice(field);
            samples += n;
        }
        with.iter().for_each(|m| out.extend_from_slice(m));
        (out, samples)
    };
    Ok((
        series.len(),
        Some([half(&metadata, first), half(&[], second)]),
    ))
}

fn samples_in(mut series: &[u8]) -> Result<usize, Error> {
    let mut samples = 0;
    while !series.is_empty() {
        let tag = varint(&mut series)?;
        let skip = match tag & 7 {
            0 => {
                varint(&mut series)?;
                0
            }
            1 => 8,
            2 => varint(&mut series)? as usize,
            5 => 4,
            _ => return Err(malformed()),
        };
        if skip > series.len() {
            return Err(malformed());
        }
        if tag == SAMPLE || tag == HISTOGRAM {
            samples += 1;
        }
        series = &series[skip..];
    }
    Ok(samples)
}

fn varint(buf: &mut &[u8]) -> Result<u64, Error> {
    decode_varint(buf).map_err(|_| malformed())
}

fn malformed() -> Error {
    Error::Encode("the encoded WriteRequest is malformed (a bug in prompush)".into())
}

/// Appends the length-delimited `field` to `buf` (tests).
#[cfg(test)]
fn put(buf: &mut Vec<u8>, tag: u64, body: &[u8]) {
    use prost::encoding::encode_varint;
    encode_varint(tag, buf);
    encode_varint(body.len() as u64, buf);
    buf.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(samples: usize) -> Vec<u8> {
        let mut s = Vec::new();
        put(&mut s, (1 << 3) | 2, b"\x0a\x08__name__\x12\x01x");
        for _ in 0..samples {
            put(
                &mut s,
                SAMPLE,
                &[0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0x01],
            );
        }
        s
    }

    fn request(series_samples: &[usize]) -> Vec<u8> {
        let mut r = Vec::new();
        for &n in series_samples {
            put(&mut r, TIMESERIES, &series(n));
        }
        put(&mut r, METADATA, b"\x08\x01\x12\x01x");
        r
    }

    /// The sample count of each request.
    fn chunks(req: &[u8], max: usize) -> Vec<usize> {
        let mut out = Vec::new();
        split(req, max, |_, samples| {
            out.push(samples);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn splits_by_samples_in_order() {
        let req = request(&[1, 1, 1, 1, 1]);
        assert_eq!(chunks(&req, 2), vec![2, 2, 1]);
        assert_eq!(chunks(&req, 10), vec![5]);
        // A series with more samples than the limit goes alone.
        assert_eq!(chunks(&request(&[1, 3, 1]), 2), vec![1, 3, 1]);
    }

    #[test]
    fn metadata_goes_with_the_first_request_and_bytes_are_preserved() {
        let req = request(&[1, 1, 1]);
        let mut bodies: Vec<Vec<u8>> = Vec::new();
        split(&req, 2, |b, _| {
            bodies.push(b.to_vec());
            Ok(())
        })
        .unwrap();
        let total: usize = bodies.iter().map(Vec::len).sum();
        assert_eq!(total, req.len());
        assert!(bodies[0].ends_with(b"\x08\x01\x12\x01x"));
        assert!(!bodies[1].ends_with(b"\x08\x01\x12\x01x"));
    }

    #[test]
    fn halves_keep_every_series_once_and_the_metadata_with_the_first() {
        let req = request(&[1, 2, 1, 3, 1]);
        let (series, halves) = halves(&req).unwrap();
        assert_eq!(series, 5);
        let [(a, a_samples), (b, b_samples)] = halves.unwrap();
        assert_eq!((a_samples, b_samples), (3, 5));
        assert_eq!(a.len() + b.len(), req.len());
        assert!(a.ends_with(b"\x08\x01\x12\x01x"));
        assert_eq!(chunks(&a, 100), vec![3]);
        assert_eq!(chunks(&b, 100), vec![5]);
        let (one, none) = super::halves(&request(&[4])).unwrap();
        assert_eq!((one, none.is_none()), (1, true));
    }

    #[test]
    fn no_samples_no_request_and_garbage_is_an_error() {
        let mut only_metadata = Vec::new();
        put(&mut only_metadata, METADATA, b"\x08\x01");
        assert!(chunks(&only_metadata, 5).is_empty());
        for garbage in [&b"\xff"[..], b"\x0a\x05ab", b"\x08\x01"] {
            assert!(split(garbage, 5, |_, _| Ok(())).is_err(), "{garbage:?}");
        }
    }
}
