//! Splitting one encoded `WriteRequest` into requests of at most N samples, per shard.
//!
//! Receivers limit request sizes (Prometheus itself sends at most 2000 samples per
//! request by default), so a large push goes out as several requests. The split works
//! on the protobuf bytes: time series are copied whole, in order, and the metric
//! metadata travels with the first request. With several shards, each series goes to
//! the shard its label bytes hash to, so while the shard count is unchanged a series
//! is always in the same shard's requests (which are sent one at a time, in order).

use std::hash::{BuildHasher, Hasher};

use prost::encoding::decode_varint;

use crate::Error;

const TIMESERIES: u64 = (1 << 3) | 2;
const METADATA: u64 = (3 << 3) | 2;
const SAMPLE: u64 = (2 << 3) | 2;
/// `TimeSeries.labels`.
const LABEL: u64 = (1 << 3) | 2;
/// Fixed, so a series keeps its shard for the life of the process.
const LABEL_HASH: foldhash::fast::FixedState =
    foldhash::fast::FixedState::with_seed(0x51_7cc1_b727_220a);
/// A native histogram counts as one sample, as Prometheus counts it.
const HISTOGRAM: u64 = (4 << 3) | 2;

/// Calls `emit(protobuf, samples)` for each request of at most `max_samples` samples
/// (a single series with more samples goes alone). Nothing is emitted for a request
/// without samples.
///
/// # Errors
/// [`Error::Encode`] if `request` is not a well-formed `WriteRequest`, or what `emit`
/// returns.
#[cfg(test)]
pub(crate) fn split(
    request: &[u8],
    max_samples: usize,
    mut emit: impl FnMut(&[u8], usize) -> Result<(), Error>,
) -> Result<(), Error> {
    split_sharded(
        request,
        max_samples,
        |_| 1,
        |_, body, samples| emit(body, samples),
    )
}

/// As [`split`], over shards: `shards(samples)` gets the request's sample count and
/// gives the number of shards (at least 1); `emit(shard, protobuf, samples)` gets each
/// request with the shard of all its series. Each shard's requests come in series
/// order; the metadata goes with the first request emitted.
///
/// # Errors
/// As [`split`].
pub(crate) fn split_sharded(
    request: &[u8],
    max_samples: usize,
    shards: impl FnOnce(usize) -> usize,
    mut emit: impl FnMut(usize, &[u8], usize) -> Result<(), Error>,
) -> Result<(), Error> {
    let (metadata, series) = fields(request)?;
    let total: usize = series.iter().map(|s| s.samples).sum();
    let n = shards(total).max(1);
    // The series of each shard, in order, then one shard at a time through one buffer:
    // the working memory is one request, whatever the shard count.
    let mut by_shard: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (i, s) in series.iter().enumerate() {
        by_shard[shard_of(s.hash, n)].push(i as u32);
    }
    let mut chunk: Vec<u8> = Vec::with_capacity(request.len().min(1 << 20));
    let mut in_chunk = 0usize;
    let mut first = true;
    let mut flush = |shard: usize, chunk: &mut Vec<u8>, samples: usize, first: &mut bool| {
        if *first {
            metadata.iter().for_each(|m| chunk.extend_from_slice(m));
            *first = false;
        }
        let result = emit(shard, chunk, samples);
        chunk.clear();
        result
    };
    for (shard, members) in by_shard.iter().enumerate() {
        for &i in members {
            let s = &series[i as usize];
            if in_chunk > 0 && in_chunk + s.samples > max_samples {
                flush(shard, &mut chunk, in_chunk, &mut first)?;
                in_chunk = 0;
            }
            chunk.extend_from_slice(s.field);
            in_chunk += s.samples;
        }
        if in_chunk > 0 {
            flush(shard, &mut chunk, in_chunk, &mut first)?;
            in_chunk = 0;
        }
    }
    Ok(())
}

/// The shard of a series whose labels hash to `hash`, among `n`: a multiply-shift,
/// uniform over the hash's high bits.
fn shard_of(hash: u64, n: usize) -> usize {
    ((u128::from(hash) * n as u128) >> 64) as usize
}

/// One encoded time series: its field bytes, its samples, and the hash of its labels.
struct SeriesField<'a> {
    field: &'a [u8],
    samples: usize,
    hash: u64,
}

/// The metadata (and unknown) fields and the time series of a `WriteRequest`, each as
/// its encoded bytes, series with their sample counts.
type Fields<'a> = (Vec<&'a [u8]>, Vec<SeriesField<'a>>);

fn fields(request: &[u8]) -> Result<Fields<'_>, Error> {
    let mut metadata: Vec<&[u8]> = Vec::new();
    let mut series: Vec<SeriesField<'_>> = Vec::new();
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
            TIMESERIES => {
                let (samples, hash) = samples_and_label_hash(body)?;
                series.push(SeriesField {
                    field,
                    samples,
                    hash,
                });
            }
            METADATA => metadata.push(field),
            // Fields this crate does not write travel with the first request.
            _ => metadata.push(field),
        }
        rest = tail;
    }
    Ok((metadata, series))
}

/// One half of a request: its protobuf and its samples.
pub(crate) type HalfBody = (Vec<u8>, usize);

/// Cuts a `WriteRequest` into two with about half the series each (the metadata goes
/// with the first): `(protobuf, samples)` per half, and the number of series. `None`
/// for the halves when there are fewer than two series (it cannot get smaller).
///
/// # Errors
/// [`Error::Encode`] if `request` is not a well-formed `WriteRequest`.
pub(crate) fn halves(request: &[u8]) -> Result<(usize, Option<[HalfBody; 2]>), Error> {
    let (metadata, series) = fields(request)?;
    if series.len() < 2 {
        return Ok((series.len(), None));
    }
    let (first, second) = series.split_at(series.len() / 2);
    let half = |with: &[&[u8]], series: &[SeriesField<'_>]| {
        let mut out = Vec::new();
        let mut samples = 0;
        for s in series {
            out.extend_from_slice(s.field);
            samples += s.samples;
        }
        with.iter().for_each(|m| out.extend_from_slice(m));
        (out, samples)
    };
    Ok((
        series.len(),
        Some([half(&metadata, first), half(&[], second)]),
    ))
}

/// The samples of one encoded time series, and a hash of its label fields: the same
/// labels give the same hash in every push (and in stale markers), whatever the samples.
fn samples_and_label_hash(mut series: &[u8]) -> Result<(usize, u64), Error> {
    let mut samples = 0;
    let mut labels = LABEL_HASH.build_hasher();
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
        } else if tag == LABEL {
            labels.write(&series[..skip]);
        }
        series = &series[skip..];
    }
    Ok((samples, labels.finish()))
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

    /// The shard of each request emitted for `req` over `n` shards, with its samples.
    fn sharded(req: &[u8], max: usize, n: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        split_sharded(
            req,
            max,
            |_| n,
            |shard, _, samples| {
                out.push((shard, samples));
                Ok(())
            },
        )
        .unwrap();
        out
    }

    #[test]
    fn a_series_goes_to_the_shard_of_its_labels_whatever_its_samples() {
        let labelled = |label: &[u8], samples: usize| {
            let mut s = Vec::new();
            put(&mut s, (1 << 3) | 2, label);
            for _ in 0..samples {
                put(&mut s, SAMPLE, &[0x10, samples as u8]);
            }
            let mut r = Vec::new();
            put(&mut r, TIMESERIES, &s);
            r
        };
        let names: Vec<Vec<u8>> = (0..64u8)
            .map(|i| vec![0x0a, 0x01, b'a' + i % 26, 0x12, 0x01, i])
            .collect();
        let mut seen = std::collections::HashSet::new();
        for name in &names {
            let one = sharded(&labelled(name, 1), 10, 8);
            let three = sharded(&labelled(name, 3), 10, 8);
            assert_eq!((one.len(), three.len()), (1, 1));
            assert_eq!(one[0].0, three[0].0, "same labels, same shard");
            seen.insert(one[0].0);
        }
        assert!(seen.len() > 4, "64 series spread over 8 shards: {seen:?}");
        // Every sample once, no request over the limit, one shard: the plain split.
        let req = request(&[1, 2, 1, 3, 1, 1, 1]);
        let requests = sharded(&req, 2, 3);
        assert_eq!(requests.iter().map(|r| r.1).sum::<usize>(), 10);
        assert!(requests.iter().all(|r| r.1 <= 3 && r.0 < 3));
        assert_eq!(
            sharded(&req, 2, 1).iter().map(|r| r.1).collect::<Vec<_>>(),
            chunks(&req, 2)
        );
    }
}
