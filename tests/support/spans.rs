//! A span context to record in, for exemplar tests: no tracer needed, the current
//! `opentelemetry::Context` holds a remote span context with the ids given.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId};
use opentelemetry::Context;

/// The trace id the tests record in, and its lower-case hex.
pub const TRACE_ID: [u8; 16] = [
    0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36,
];
pub const TRACE_ID_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The span id the tests record in, and its lower-case hex.
pub const SPAN_ID: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];
pub const SPAN_ID_HEX: &str = "00f067aa0ba902b7";

/// Runs `f` while the current context holds the span [`TRACE_ID`]/[`SPAN_ID`],
/// sampled or not.
pub fn in_span<T>(sampled: bool, f: impl FnOnce() -> T) -> T {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let span = SpanContext::new(
        TraceId::from_bytes(TRACE_ID),
        SpanId::from_bytes(SPAN_ID),
        flags,
        true,
        Default::default(),
    );
    let _attached = Context::current().with_remote_span_context(span).attach();
    f()
}
