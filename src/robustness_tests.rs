//! Property tests: every parser of outside input survives arbitrary input. Over 100,000
//! generated cases per run, from a fixed seed so a failure reproduces.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderValue;

use crate::prometheus::batch;
#[cfg(feature = "receiver")]
use crate::prometheus::decode as receiver;
use crate::transport::http::parse_retry_after;
use crate::transport::TransportConfig;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Mostly printable ASCII with some protocol-significant characters.
    fn text(&mut self, max_len: usize) -> String {
        const ALPHABET: &[u8] =
            b"abcXYZ0189 :/?#[]@!$&'()*+,;=%._-~\\\"<>{}|^`\t\r\nhttpsHTTPS\x7f";
        let len = self.below(max_len + 1);
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len())] as char)
            .collect()
    }
}

/// A valid remote-write body to mutate.
fn valid_body() -> Vec<u8> {
    use crate::prometheus::translate::Translator;
    use crate::prometheus::write_request::WriteRequestEncoder;
    use crate::snapshot::*;
    use opentelemetry::KeyValue;
    use std::sync::Arc;
    let metric = MetricSnapshot {
        descriptor: Arc::new(Descriptor {
            id: 1,
            name: "requests".into(),
            description: "help".into(),
            unit: "s".into(),
            kind: InstrumentKind::Histogram,
            number: NumberKind::F64,
        }),
        start_time: SystemTime::UNIX_EPOCH,
        time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        data: MetricData::Histogram {
            bounds: vec![1.0, 5.0].into(),
            points: vec![HistogramPoint {
                exemplars: Vec::new(),
                attributes: Attributes::new(&[KeyValue::new("route", "/a")]),
                start_time: SystemTime::UNIX_EPOCH,
                count: 3,
                sum: 7.5,
                min: Some(0.5),
                max: Some(6.0),
                bucket_counts: vec![1, 1, 1],
            }],
        },
        rejected_measurements: 0,
    };
    let snapshot = Snapshot {
        resource: opentelemetry_sdk::Resource::builder_empty()
            .with_service_name("svc")
            .build(),
        time: metric.time,
        scopes: vec![ScopeSnapshot {
            scope: opentelemetry::InstrumentationScope::builder("t").build(),
            metrics: vec![metric],
        }],
    };
    let mut encoder = WriteRequestEncoder::new();
    Translator::new().translate(&snapshot, &mut encoder);
    encoder.finish().expect("encodes").to_vec()
}

// The decoder is the receiver's.
#[cfg(feature = "receiver")]
#[test]
fn decoding_arbitrary_bodies_never_panics() {
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let valid = valid_body();
    assert!(receiver::decode(&valid).is_ok());
    let mut snappy = snap::raw::Encoder::new();
    for case in 0..60_000 {
        let body = match case % 3 {
            // Random bytes.
            0 => rng.bytes(300),
            // A valid body with a few bytes changed, inserted or removed.
            1 => {
                let mut b = valid.clone();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(b.len());
                    match rng.below(3) {
                        0 => b[at] = rng.next() as u8,
                        1 => b.insert(at, rng.next() as u8),
                        _ => {
                            b.remove(at);
                        }
                    }
                    if b.is_empty() {
                        break;
                    }
                }
                b
            }
            // Valid snappy around random protobuf-ish bytes: reaches the decoder proper.
            _ => {
                let payload = rng.bytes(200);
                snappy.compress_vec(&payload).unwrap_or_default()
            }
        };
        let _ = receiver::decode(&body);
    }
}

#[test]
fn parsing_arbitrary_retry_after_values_never_panics() {
    let mut rng = Rng(0xfeed_f00d_dead_beef);
    let now = SystemTime::now();
    for _ in 0..20_000 {
        let text = rng.text(40);
        if let Ok(value) = HeaderValue::from_str(&text) {
            let _ = parse_retry_after(&value, now);
        }
        let digits = rng.next() % 100_000;
        let value = HeaderValue::from_str(&digits.to_string()).expect("digits");
        assert_eq!(
            parse_retry_after(&value, now),
            Some(Duration::from_secs(digits))
        );
    }
}

#[test]
fn validating_arbitrary_endpoints_and_headers_never_panics() {
    let mut rng = Rng(0x1357_9bdf_2468_ace0);
    for case in 0..10_000 {
        let endpoint = match case % 2 {
            0 => rng.text(60),
            _ => format!("http://{}", rng.text(40)),
        };
        let config = TransportConfig {
            endpoint: Some(endpoint),
            headers: vec![(rng.text(12), rng.text(20))],
            ..TransportConfig::default()
        };
        let _ = config.validate();
    }
}

#[test]
fn splitting_arbitrary_bytes_never_panics() {
    let mut rng = Rng(0x0f0f_f0f0_1234_5678);
    let valid = {
        let body = valid_body();
        snap::raw::Decoder::new()
            .decompress_vec(&body)
            .expect("valid snappy")
    };
    for case in 0..20_000 {
        let bytes = if case % 2 == 0 {
            rng.bytes(200)
        } else {
            let mut b = valid.clone();
            let at = rng.below(b.len());
            b[at] = rng.next() as u8;
            b
        };
        let _ = batch::split(&bytes, 1 + rng.below(5), |_, _| Ok(()));
    }
}
