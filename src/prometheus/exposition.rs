//! Rendering for scrapers: the Prometheus text format (0.0.4) and OpenMetrics 1.0 text,
//! from the same translation as remote write (names, labels, scope labels, merged
//! collisions) but as the compatibility spec says for pull: no `job` or `instance` on
//! the series, every resource attribute on `target_info`, and no timestamps.
//!
//! [`Format::negotiate`] picks the format from a request's `Accept` header as
//! Prometheus negotiates it; [`Exposition::render`] writes a snapshot in it. A user who
//! serves metrics from their own HTTP server calls
//! [`MeterProvider::render_metrics`](crate::MeterProvider::render_metrics), which does
//! both.

mod exemplar_text;
mod format;
mod sink;
mod text;

use super::translate::Translator;
use crate::Snapshot;
use sink::RenderedFamilies;

pub use format::Format;

/// Renders snapshots for scraping. Keep one per endpoint and reuse it: its translator
/// caches names per instrument and finds points that make one series, as a push
/// destination's does.
#[derive(Debug)]
pub struct Exposition {
    translator: Translator,
    families: RenderedFamilies,
}

impl Default for Exposition {
    fn default() -> Self {
        Self::new()
    }
}

impl Exposition {
    /// A renderer with empty caches, translating as the compatibility specification
    /// says for pull (no `job` or `instance` on the series, no timestamps).
    #[must_use]
    pub fn new() -> Self {
        Exposition {
            translator: Translator::for_scraping(),
            families: RenderedFamilies::default(),
        }
    }

    /// `snapshot` in `format`: families in the order of their first instrument, each
    /// family's series together under its `# HELP` and `# TYPE` (and `# UNIT`), no
    /// timestamps; OpenMetrics ends with `# EOF`.
    ///
    /// ```
    /// use opentelemetry::metrics::MeterProvider as _;
    /// use prompush::scrape::{Exposition, Format};
    ///
    /// let provider = prompush::MeterProvider::builder().build()?;
    /// provider.meter("app").u64_counter("requests").build().add(2, &[]);
    ///
    /// let mut exposition = Exposition::new();
    /// let text = exposition.render(&provider.collect(), Format::Text);
    /// assert!(text.contains("requests_total{otel_scope_name=\"app\"} 2\n"));
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use]
    pub fn render(&mut self, snapshot: &Snapshot, format: Format) -> String {
        self.families.start(format);
        self.translator.options.pull_exemplars = format == Format::OpenMetrics;
        self.translator.translate(snapshot, &mut self.families);
        self.families.finish();
        let mut out = String::with_capacity(self.families.bytes() + 64);
        for family in self.families.list() {
            family.write_head(&mut out, format);
            out.push_str(&family.series);
        }
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}
