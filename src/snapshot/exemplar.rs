//! Exemplars: single measurements kept with a point, with the trace they were made in.

use std::time::SystemTime;

use opentelemetry::KeyValue;

/// One measurement sampled by the provider's exemplar filter and kept with its point:
/// the value, when it was made and, when a span was active, its trace and span.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Exemplar {
    /// The measurement, as `f64`.
    pub(crate) value: f64,
    /// When it was recorded.
    pub(crate) time: SystemTime,
    /// The active span's trace id; all zeros when there was none.
    pub(crate) trace_id: [u8; 16],
    /// The active span's id; all zeros when there was none.
    pub(crate) span_id: [u8; 8],
    /// Attributes of the measurement that its point does not carry (a custom metric's
    /// grouping drops them); empty for prompush's own instruments.
    pub(crate) filtered_attributes: Vec<KeyValue>,
}

impl Exemplar {
    /// The measurement, as `f64`.
    #[must_use]
    pub fn value(&self) -> f64 {
        self.value
    }

    /// When it was recorded.
    #[must_use]
    pub fn time(&self) -> SystemTime {
        self.time
    }

    /// The active span's trace id; all zeros when there was none.
    #[must_use]
    pub fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The active span's id; all zeros when there was none.
    #[must_use]
    pub fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    /// Attributes of the measurement that its point does not carry (a custom metric's
    /// grouping, or a view, dropped them from the series); empty for most points.
    #[must_use]
    pub fn filtered_attributes(&self) -> &[KeyValue] {
        &self.filtered_attributes
    }

    /// Whether it was recorded in a span (its trace id is not all zeros).
    #[must_use]
    pub fn has_trace(&self) -> bool {
        self.trace_id != [0; 16]
    }
}
