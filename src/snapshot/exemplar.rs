//! Exemplars: single measurements kept with a point, with the trace they were made in.

use std::time::SystemTime;

use opentelemetry::KeyValue;

/// One measurement sampled by the provider's exemplar filter and kept with its point:
/// the value, when it was made and, when a span was active, its trace and span.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    /// The measurement, as `f64`.
    pub value: f64,
    /// When it was recorded.
    pub time: SystemTime,
    /// The active span's trace id; all zeros when there was none.
    pub trace_id: [u8; 16],
    /// The active span's id; all zeros when there was none.
    pub span_id: [u8; 8],
    /// Attributes of the measurement that its point does not carry (a custom metric's
    /// grouping drops them); empty for prompush's own instruments.
    pub filtered_attributes: Vec<KeyValue>,
}

impl Exemplar {
    /// Whether it was recorded in a span (its trace id is not all zeros).
    #[must_use]
    pub fn has_trace(&self) -> bool {
        self.trace_id != [0; 16]
    }
}
