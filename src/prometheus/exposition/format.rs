//! The text formats a scraper can ask for, and which one a request's `Accept` header
//! picks.

/// A text format a scraper can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The format for a request's `Accept` header: OpenMetrics when the header lists
    /// `application/openmetrics-text` with a quality at least that of `text/plain` (and
    /// above zero), else the text format, as Prometheus itself negotiates. `None` (no
    /// header) gives the text format.
    ///
    /// ```
    /// use prompush::scrape::Format;
    /// // What Prometheus 2.42 sends.
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
    ///                   version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    /// // What Prometheus 3.16 sends: `escaping=allow-utf-8` permits UTF-8 names, it does
    /// // not ask for them; prompush's names are always valid legacy names.
    /// let prometheus_3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;\
    ///                     q=0.7,application/openmetrics-text;version=0.0.1;q=0.6,text/plain;\
    ///                     version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;\
    ///                     q=0.4,*/*;q=0.3";
    /// assert_eq!(Format::negotiate(Some(prometheus_3)), Format::OpenMetrics);
    /// assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
    /// assert_eq!(Format::negotiate(None), Format::Text);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut open_metrics = 0.0f32;
        let mut text = 0.0f32;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => open_metrics = open_metrics.max(quality),
                "text/plain" => text = text.max(quality),
                _ => {}
            }
        }
        if open_metrics > 0.0 && open_metrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}
