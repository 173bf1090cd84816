//! The wire protocols a destination can speak, and what each fixes about a request: its
//! content headers and how an answer's status is read.

/// How a destination receives metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// Prometheus remote write 1.0: a snappy-compressed `prometheus.WriteRequest`
    /// protobuf (Prometheus, Mimir, Cortex, VictoriaMetrics, Thanos, vendors' listeners).
    RemoteWrite,
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
            Protocol::UnleashJson => &[],
        }
    }

    /// Whether a `413 Payload Too Large` means "send it again in smaller pieces". A JSON
    /// body can be cut between entries; a remote-write request is already split by
    /// sample count, so a 413 there is a permanent refusal, as for any other 4xx.
    pub(crate) fn splits_on_413(self) -> bool {
        matches!(self, Protocol::UnleashJson)
    }
}
