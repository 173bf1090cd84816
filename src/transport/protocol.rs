//! The wire protocols a destination can speak, and what each fixes about a request: its
//! content headers and how an answer's status is read.

/// How a destination receives metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// Prometheus remote write 1.0: a snappy-compressed `prometheus.WriteRequest`
    /// protobuf (Prometheus, Mimir, Cortex, VictoriaMetrics, Thanos, vendors' listeners).
    RemoteWrite,
    /// Prometheus remote write 2.0: a snappy-compressed `io.prometheus.write.v2.Request`
    /// (a symbols table, per-series metadata, start timestamps), as Prometheus 3 and
    /// Mimir 2.17 and later receive it. A receiver that turns out to take only 1.0 (a
    /// `415`, or a `2xx` without the written-count headers) gets the same data again as
    /// 1.0, and the destination stays on 1.0: see the guide's remote-write 2.0 chapter.
    RemoteWriteV2,
    /// Unleash's custom-metrics JSON body, as Unleash's `POST /api/client/metrics/custom`
    /// takes it: `{"metrics":[{"name":…,"value":…,"labels":{…}}]}`, one entry per
    /// Prometheus series, no timestamps. `202 Accepted` is success; `413` splits the
    /// request in halves; bodies stay under 100 kB by default.
    UnleashJson,
}

impl Protocol {
    /// The `Content-Type` of its bodies.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Protocol::RemoteWrite => "application/x-protobuf",
            Protocol::RemoteWriteV2 => {
                "application/x-protobuf;proto=io.prometheus.write.v2.Request"
            }
            Protocol::UnleashJson => "application/json",
        }
    }

    /// Headers besides `Content-Type` that the protocol requires.
    pub(crate) fn extra_headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Protocol::RemoteWrite => &[
                ("content-encoding", "snappy"),
                ("x-prometheus-remote-write-version", "0.1.0"),
            ],
            Protocol::RemoteWriteV2 => &[
                ("content-encoding", "snappy"),
                ("x-prometheus-remote-write-version", "2.0.0"),
            ],
            Protocol::UnleashJson => &[],
        }
    }

    /// The protocol the destination falls back to when its receiver turns out not to
    /// take this one.
    pub(crate) fn fallback(self) -> Option<Protocol> {
        match self {
            Protocol::RemoteWriteV2 => Some(Protocol::RemoteWrite),
            _ => None,
        }
    }

    /// Whether it is Prometheus remote write, 1.0 or 2.0: cumulative series, stale
    /// markers, shards.
    pub(crate) fn is_remote_write(self) -> bool {
        matches!(self, Protocol::RemoteWrite | Protocol::RemoteWriteV2)
    }

    /// Whether a `413 Payload Too Large` means "send it again in smaller pieces". A JSON
    /// body can be cut between entries; a remote-write request is already split by
    /// sample count, so a 413 there is a permanent refusal, as for any other 4xx.
    pub(crate) fn splits_on_413(self) -> bool {
        matches!(self, Protocol::UnleashJson)
    }
}
