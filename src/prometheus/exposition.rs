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

mod escaping;
mod exemplar_text;
mod format;
mod sink;
mod text;

use super::naming::NameTranslation;
use super::translate::Translator;
use crate::Snapshot;
use sink::RenderedFamilies;

pub use escaping::Escaping;
pub use format::Format;
pub(crate) use format::{content_type, negotiate};

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
        self.render_escaped(snapshot, format, Escaping::default())
    }

    /// The same renderer translating names with `translation` (default
    /// [`NameTranslation::UnderscoreEscapingWithSuffixes`]): the strategy decides the
    /// suffixes and whether names keep their OpenTelemetry spelling; the scraper's
    /// [`Escaping`] then decides how names outside the legacy set are written.
    ///
    /// ```
    /// use opentelemetry::metrics::MeterProvider as _;
    /// use prompush::scrape::{Escaping, Exposition, Format};
    /// use prompush::NameTranslation;
    ///
    /// let provider = prompush::MeterProvider::builder().build()?;
    /// provider.meter("app").u64_counter("shop.orders").build().add(2, &[]);
    ///
    /// let mut exposition =
    ///     Exposition::new().with_name_translation(NameTranslation::NoUTF8EscapingWithSuffixes);
    /// let snapshot = provider.collect();
    /// let utf8 = exposition.render_escaped(&snapshot, Format::Text, Escaping::AllowUtf8);
    /// assert!(utf8.contains("{\"shop.orders_total\",otel_scope_name=\"app\"} 2\n"));
    /// let dots = exposition.render_escaped(&snapshot, Format::Text, Escaping::Dots);
    /// assert!(dots.contains("shop_dot_orders__total{otel_scope_name=\"app\"} 2\n"));
    /// # Ok::<(), prompush::Error>(())
    /// ```
    #[must_use]
    pub fn with_name_translation(mut self, translation: NameTranslation) -> Self {
        self.translator.set_name_translation(translation);
        self
    }

    /// `snapshot` in `format` as [`render`](Self::render) writes it, names outside the
    /// legacy character set written with `escaping` (see
    /// [`with_name_translation`](Self::with_name_translation)); `render` is
    /// [`Escaping::Underscores`], what a scraper gets that does not ask.
    #[must_use]
    pub fn render_escaped(
        &mut self,
        snapshot: &Snapshot,
        format: Format,
        escaping: Escaping,
    ) -> String {
        self.families.start(format, escaping);
        self.translator.options.pull_exemplars = format == Format::OpenMetrics;
        self.translator.translate(snapshot, &mut self.families);
        self.families.finish();
        let mut out = String::with_capacity(self.families.bytes() + 64);
        for family in self.families.list() {
            family.write_head(&mut out, format, escaping);
            out.push_str(&family.series);
        }
        if format == Format::OpenMetrics {
            out.push_str("# EOF\n");
        }
        out
    }
}
