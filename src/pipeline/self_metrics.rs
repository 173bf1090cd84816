//! prompush's own metrics, pushed with the application's: how delivery is going.
//!
//! They are ordinary instruments on the scope `prompush`, so they travel through the
//! same aggregation, translation and push as everything else. Every point carries the
//! `destination` it is about.

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};
use opentelemetry::{InstrumentationScope, KeyValue};

/// Why samples were given up on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DropReason {
    /// The pending-data cap was reached; the oldest requests went.
    QueueFull,
    /// A newer push was queued before they were sent; it carries their totals.
    Superseded,
    /// The endpoint refused them (4xx other than 429, or an unusable request).
    Refused,
    /// Shutdown's deadline passed before they could be delivered.
    Shutdown,
    /// The protocol cannot carry the value (NaN or ±Inf in JSON).
    Unrepresentable,
    /// The family name belongs to an earlier instrument of another kind.
    TypeConflict,
    /// The series is also made by an earlier histogram of other bounds.
    Unmergeable,
    /// A remote-write 2.0 receiver answered 2xx but reported fewer samples written
    /// than sent (never retried: the rest may be stored).
    NotWritten,
}

impl DropReason {
    fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Superseded => "superseded",
            DropReason::Refused => "refused",
            DropReason::Shutdown => "shutdown",
            DropReason::Unrepresentable => "unrepresentable",
            DropReason::TypeConflict => "type_conflict",
            DropReason::Unmergeable => "unmergeable",
            DropReason::NotWritten => "not_written",
        }
    }
}

/// The instruments the pipeline records into (no-ops when self-metrics are off).
pub(crate) struct SelfMetrics {
    /// `destination=<name>`, on every point.
    destination: KeyValue,
    /// The gauges' attributes: the destination, and for a second queue to the same
    /// destination (custom metrics) which one, so that the queues do not overwrite
    /// each other's values.
    pending_attrs: Vec<KeyValue>,
    sent: Counter<u64>,
    failed: Counter<u64>,
    retried: Counter<u64>,
    dropped: Counter<u64>,
    bytes: Counter<u64>,
    requests: Counter<u64>,
    duration: Histogram<f64>,
    pending: Gauge<u64>,
    last_success: Gauge<f64>,
    merged: Counter<u64>,
    shards: Gauge<u64>,
    lag: Gauge<f64>,
    written: Counter<u64>,
    exemplars_not_written: Counter<u64>,
}

impl SelfMetrics {
    /// The metrics of the push task for `destination`; `queue` names a task other than
    /// the destination's main one.
    pub(crate) fn new(meter: &Meter, destination: &str, queue: Option<String>) -> Self {
        let destination = KeyValue::new("destination", std::sync::Arc::<str>::from(destination));
        let mut pending_attrs = vec![destination.clone()];
        pending_attrs.extend(queue.map(|q| KeyValue::new("queue", q)));
        SelfMetrics {
            destination,
            pending_attrs,
            sent: meter
                .u64_counter("prompush.samples.sent")
                .with_description("Samples the endpoint accepted")
                .build(),
            failed: meter
                .u64_counter("prompush.samples.failed")
                .with_description("Samples in requests that failed (retried or not)")
                .build(),
            retried: meter
                .u64_counter("prompush.samples.retried")
                .with_description("Samples sent again after a retryable failure")
                .build(),
            dropped: meter
                .u64_counter("prompush.samples.dropped")
                .with_description("Samples given up on, by reason")
                .build(),
            bytes: meter
                .u64_counter("prompush.sent")
                .with_unit("By")
                .with_description("Compressed request bytes the endpoint accepted")
                .build(),
            requests: meter
                .u64_counter("prompush.requests")
                .with_description("Push requests by outcome: 2xx, 4xx, 5xx, error")
                .build(),
            duration: meter
                .f64_histogram("prompush.push.duration")
                .with_unit("s")
                .with_description("Time of one push request, answer included")
                .with_boundaries(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .build(),
            pending: meter
                .u64_gauge("prompush.samples.pending")
                .with_description("Samples waiting for delivery")
                .build(),
            last_success: meter
                .f64_gauge("prompush.last_success.timestamp")
                .with_unit("s")
                .with_description("Unix time of the last accepted push")
                .build(),
            merged: meter
                .u64_counter("prompush.series.merged")
                .with_description(
                    "Points merged into another point's series because both translate to \
                     one Prometheus series, per push",
                )
                .build(),
            shards: meter
                .u64_gauge("prompush.shards")
                .with_description(
                    "Shards the latest push was cut for (requests on the wire at once)",
                )
                .build(),
            lag: meter
                .f64_gauge("prompush.delivery.lag")
                .with_unit("s")
                .with_description(
                    "How long ago the oldest push still being delivered was collected (0 when \
                     all are delivered)",
                )
                .build(),
            written: meter
                .u64_counter("prompush.written")
                .with_description(
                    "What a remote-write 2.0 receiver reported written, by kind: samples, \
                     histograms, exemplars",
                )
                .build(),
            exemplars_not_written: meter
                .u64_counter("prompush.exemplars.not_written")
                .with_description(
                    "Exemplars a remote-write 2.0 receiver accepted but did not store \
                     (exemplar storage off)",
                )
                .build(),
        }
    }

    fn attrs(&self) -> &[KeyValue] {
        std::slice::from_ref(&self.destination)
    }

    pub(crate) fn sent(&self, samples: usize, bytes: usize) {
        self.sent.add(samples as u64, self.attrs());
        self.bytes.add(bytes as u64, self.attrs());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        self.last_success.record(now, &self.pending_attrs);
    }

    pub(crate) fn failed(&self, samples: usize, retried: bool) {
        self.failed.add(samples as u64, self.attrs());
        if retried {
            self.retried.add(samples as u64, self.attrs());
        }
    }

    pub(crate) fn dropped(&self, samples: usize, reason: DropReason) {
        if samples > 0 {
            self.dropped.add(
                samples as u64,
                &[
                    self.destination.clone(),
                    KeyValue::new("reason", reason.label()),
                ],
            );
        }
    }

    pub(crate) fn merged(&self, points: usize) {
        if points > 0 {
            self.merged.add(points as u64, self.attrs());
        }
    }

    pub(crate) fn request(&self, status_class: &'static str, seconds: f64) {
        self.requests.add(
            1,
            &[
                self.destination.clone(),
                KeyValue::new("status_class", status_class),
            ],
        );
        self.duration.record(seconds, self.attrs());
    }

    pub(crate) fn pending(&self, samples: usize) {
        self.pending.record(samples as u64, &self.pending_attrs);
    }

    pub(crate) fn shards(&self, shards: usize) {
        self.shards.record(shards as u64, &self.pending_attrs);
    }

    /// What a remote-write 2.0 receiver reported written (its headers).
    pub(crate) fn written(&self, kind: &'static str, count: u64) {
        self.written.add(
            count,
            &[self.destination.clone(), KeyValue::new("kind", kind)],
        );
    }

    pub(crate) fn exemplars_not_written(&self, exemplars: usize) {
        if exemplars > 0 {
            self.exemplars_not_written
                .add(exemplars as u64, self.attrs());
        }
    }

    pub(crate) fn lag(&self, lag: std::time::Duration) {
        self.lag.record(lag.as_secs_f64(), &self.pending_attrs);
    }
}

/// The scope of prompush's own delivery metrics (`prompush_*`).
pub(crate) fn self_metrics_scope() -> InstrumentationScope {
    InstrumentationScope::builder("prompush")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build()
}

/// Where self-metrics go when they are off.
pub(crate) fn noop_meter() -> Meter {
    opentelemetry::metrics::MeterProvider::meter(
        &opentelemetry::metrics::NoopMeterProvider::new(),
        "prompush",
    )
}
