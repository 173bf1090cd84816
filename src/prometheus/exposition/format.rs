//! The text formats a scraper can ask for, and which one a request's `Accept` header
//! picks, with the escaping of names its range asks for.

use super::escaping::Escaping;

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
        negotiate(accept).0
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

impl Escaping {
    /// The escaping a request's `Accept` header asks for: the `escaping` parameter of
    /// the media range that [`Format::negotiate`](super::Format::negotiate) picks;
    /// [`Underscores`](Self::Underscores) when it has none, names an unknown scheme,
    /// or there is no header (as the escaping schemes specification says).
    ///
    /// ```
    /// use prompush::scrape::Escaping;
    /// // What Prometheus 3 sends by default.
    /// let prometheus3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,\
    ///                    application/openmetrics-text;version=0.0.1;q=0.4,\
    ///                    text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,\
    ///                    text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
    /// assert_eq!(Escaping::negotiate(Some(prometheus3)), Escaping::AllowUtf8);
    /// assert_eq!(Escaping::negotiate(Some("text/plain")), Escaping::Underscores);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> Escaping {
        negotiate(accept).1
    }
}

/// The format for `accept` (see [`Format::negotiate`]) and the escaping its best range
/// asks for ([`Escaping::negotiate`]).
pub(crate) fn negotiate(accept: Option<&str>) -> (Format, Escaping) {
    let Some(accept) = accept else {
        return (Format::Text, Escaping::default());
    };
    // Per format: the best quality and the escaping of the range that has it.
    let mut open_metrics = (0.0f32, Escaping::default());
    let mut text = (0.0f32, Escaping::default());
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let mut quality = 1.0;
        let mut escaping = Escaping::default();
        for param in parts {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            match key.trim().to_ascii_lowercase().as_str() {
                "q" => quality = value.trim().parse::<f32>().unwrap_or(quality),
                "escaping" => escaping = Escaping::from_param(value).unwrap_or_default(),
                _ => {}
            }
        }
        let best = match media.as_str() {
            "application/openmetrics-text" => &mut open_metrics,
            "text/plain" => &mut text,
            _ => continue,
        };
        if quality > best.0 {
            *best = (quality, escaping);
        }
    }
    if open_metrics.0 > 0.0 && open_metrics.0 >= text.0 {
        (Format::OpenMetrics, open_metrics.1)
    } else {
        (Format::Text, text.1)
    }
}

/// The `Content-Type` of a body in `format` whose names are written with `escaping`:
/// the format's, with the escaping stated (`; escaping=underscores`). UTF-8 names in the
/// text format are version 1.0.0 of it.
pub(crate) fn content_type(format: Format, escaping: Escaping) -> &'static str {
    use Escaping::*;
    match (format, escaping) {
        (Format::Text, AllowUtf8) => {
            "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
        }
        (Format::Text, Underscores) => {
            "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"
        }
        (Format::Text, Dots) => "text/plain; version=0.0.4; charset=utf-8; escaping=dots",
        (Format::Text, Values) => "text/plain; version=0.0.4; charset=utf-8; escaping=values",
        (Format::OpenMetrics, AllowUtf8) => {
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"
        }
        (Format::OpenMetrics, Underscores) => {
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores"
        }
        (Format::OpenMetrics, Dots) => {
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=dots"
        }
        (Format::OpenMetrics, Values) => {
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=values"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Escaping::{self, *};

    #[test]
    fn the_accept_header_escaping_parameter_of_the_picked_range_decides() {
        let p3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,\
                  application/openmetrics-text;version=0.0.1;q=0.4,\
                  text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,\
                  text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        let p2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                  version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let cases: &[(Option<&str>, Escaping)] = &[
            (None, Underscores),
            (Some(p3), AllowUtf8),
            (Some(p2), Underscores),
            (Some("text/plain;version=1.0.0;escaping=allow-utf-8"), AllowUtf8),
            (Some("text/plain;version=1.0.0;escaping=dots"), Dots),
            (Some("text/plain;version=1.0.0; escaping=values"), Values),
            (Some("text/plain;version=1.0.0;escaping=underscores"), Underscores),
            (Some("text/plain;escaping=nonsense"), Underscores),
            // The text range wins on quality: its (absent) parameter counts.
            (Some("application/openmetrics-text;escaping=allow-utf-8;q=0.2,text/plain"), Underscores),
            (Some("application/openmetrics-text;escaping=dots;q=0.9,application/openmetrics-text;q=0.1"), Dots),
        ];
        for &(accept, want) in cases {
            assert_eq!(Escaping::negotiate(accept), want, "{accept:?}");
        }
    }
}
