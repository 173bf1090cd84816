//! Name translation strategies, named as Prometheus' `otlp.translation_strategy`: whether
//! metric and label names keep their OpenTelemetry spelling (UTF-8, as Prometheus 3
//! stores it) or are escaped to the legacy character set, and whether metric names get
//! their unit and `_total` suffixes.

use std::borrow::Cow;

use super::{metric_name, push_label_name, unit_parts, unit_suffix};
use crate::snapshot::InstrumentKind;

/// How OpenTelemetry names become Prometheus names, per destination
/// ([`Destination::with_name_translation`](crate::Destination::with_name_translation))
/// and for scrapes
/// ([`MeterProviderBuilder::with_scrape_name_translation`](crate::MeterProviderBuilder::with_scrape_name_translation),
/// where the scraper's `Accept` header may still ask for UTF-8 names to be escaped).
/// The variants are named, and behave, as Prometheus 3's `otlp.translation_strategy`.
///
/// | strategy | `http.server.request.duration` (s, histogram) | counter `shop.orders` | attribute `http.route` | metadata unit |
/// |---|---|---|---|---|
/// | `UnderscoreEscapingWithSuffixes` (default) | `http_server_request_duration_seconds` | `shop_orders_total` | `http_route` | `seconds` |
/// | `UnderscoreEscapingWithoutSuffixes` | `http_server_request_duration` | `shop_orders` | `http_route` | `s` |
/// | `NoUTF8EscapingWithSuffixes` | `http.server.request.duration_seconds` | `shop.orders_total` | `http.route` | `seconds` |
/// | `NoTranslation` | `http.server.request.duration` | `shop.orders` | `http.route` | `s` |
///
/// The two UTF-8 strategies need a receiver that takes UTF-8 names, which only remote
/// write 2.0 allows (Prometheus 3 stores them; PromQL selects them as
/// `{"http.server.request.duration"}`): a destination of another protocol refuses them
/// at `build()`, and a 2.0 destination that falls back to 1.0 escapes its later pushes
/// (the escaping strategy of the same suffixes). Label names that start with `__`
/// (Prometheus' reserved ones) are escaped by every strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum NameTranslation {
    /// Characters outside the legacy set become `_`; unit and `_total` suffixes. What
    /// the OpenTelemetry–Prometheus compatibility specification and every receiver take.
    #[default]
    UnderscoreEscapingWithSuffixes,
    /// Escaped as the default, without unit or `_total` suffixes.
    UnderscoreEscapingWithoutSuffixes,
    /// Names and label names as OpenTelemetry spells them (dots kept), with unit and
    /// `_total` suffixes. Remote write 2.0 only.
    NoUTF8EscapingWithSuffixes,
    /// Names and label names as OpenTelemetry spells them, no suffixes. Remote write
    /// 2.0 only.
    NoTranslation,
}

impl NameTranslation {
    /// Whether names keep characters outside the legacy set.
    pub(crate) fn keeps_utf8(self) -> bool {
        matches!(self, Self::NoUTF8EscapingWithSuffixes | Self::NoTranslation)
    }

    /// The escaping strategy with the same suffixes (itself for the escaping ones).
    pub(crate) fn escaped(self) -> Self {
        match self {
            Self::NoUTF8EscapingWithSuffixes => Self::UnderscoreEscapingWithSuffixes,
            Self::NoTranslation => Self::UnderscoreEscapingWithoutSuffixes,
            other => other,
        }
    }

    fn suffixes(self) -> bool {
        matches!(
            self,
            Self::UnderscoreEscapingWithSuffixes | Self::NoUTF8EscapingWithSuffixes
        )
    }

    /// The metric (family) name of an instrument.
    pub(crate) fn metric_name(self, name: &str, unit: &str, kind: InstrumentKind) -> String {
        match self {
            Self::UnderscoreEscapingWithSuffixes => metric_name(name, unit, kind),
            // The escaping without any word added: no unit, and a kind that moves no
            // `total` and adds no `ratio`.
            Self::UnderscoreEscapingWithoutSuffixes => metric_name(name, "", InstrumentKind::Gauge),
            Self::NoUTF8EscapingWithSuffixes => with_suffixes(name, unit, kind),
            Self::NoTranslation if name.is_empty() => "unnamed".to_owned(),
            Self::NoTranslation => name.to_owned(),
        }
    }

    /// The unit of the metadata: the word of the name's suffix (`seconds`) with
    /// suffixes; without them, the OpenTelemetry unit as the instrument gives it (`s`).
    pub(crate) fn metadata_unit(self, unit: &str) -> String {
        if self.suffixes() {
            unit_suffix(unit)
        } else {
            unit.to_owned()
        }
    }

    /// Appends the label name of attribute `key` to `out`; `false` (nothing appended)
    /// when there is none.
    pub(crate) fn push_label_name(self, out: &mut String, key: &str) -> bool {
        if self.keeps_utf8() && !key.is_empty() && !key.starts_with("__") {
            out.push_str(key);
            return true;
        }
        push_label_name(out, key)
    }

    /// The label name of attribute `key`, as [`push_label_name`](Self::push_label_name).
    pub(crate) fn label_name(self, key: &str) -> Option<Cow<'_, str>> {
        if self.keeps_utf8() && !key.is_empty() && !key.starts_with("__") {
            return Some(Cow::Borrowed(key));
        }
        super::sanitize_label_name(key)
    }
}

/// `name` unescaped with Prometheus' suffixes as its translator adds them to UTF-8 names
/// (`otlptranslator`'s `MetricNamer` without escaping), which is not the token rule of
/// the escaping strategies: the unit word is added unless the name ends with it as plain
/// text (`kafka.bytes.sent` gets `_bytes`, `disk.io.bytes` does not), then `per_<word>`,
/// then `_total` for counters or `_ratio` for gauges of unit `1`. A `per_<word>`, `total`
/// or `ratio` the name already ends with is taken off with the one character before it
/// and put back in its place (`disk.ratio` → `disk_ratio`).
fn with_suffixes(name: &str, unit: &str, kind: InstrumentKind) -> String {
    if name.is_empty() {
        return "unnamed".to_owned();
    }
    let gauge = matches!(
        kind,
        InstrumentKind::Gauge | InstrumentKind::ObservableGauge
    );
    let ratio = unit == "1" && gauge;
    let total = kind.is_monotonic();
    let (main, per) = unit_parts(unit);
    let mut stem = name;
    if ratio {
        stem = trim_suffix_and_delimiter(stem, "ratio");
    }
    if total {
        stem = trim_suffix_and_delimiter(stem, "total");
    }
    if !per.is_empty() {
        stem = trim_suffix_and_delimiter(stem, &per);
    }
    let mut out = stem.to_owned();
    if !main.is_empty() && !out.ends_with(&*main) {
        out.push('_');
        out.push_str(&main);
    }
    if !per.is_empty() {
        out.push('_');
        out.push_str(&per);
    }
    if total {
        out.push_str("_total");
    }
    if ratio {
        out.push_str("_ratio");
    }
    out
}

/// `name` without `suffix` and the one character before it, when it ends with the
/// suffix and something is left; else `name`. (The translator cuts one byte there; one
/// character keeps the name valid UTF-8 where that character is not ASCII.)
fn trim_suffix_and_delimiter<'a>(name: &'a str, suffix: &str) -> &'a str {
    let Some(stem) = name.strip_suffix(suffix) else {
        return name;
    };
    let mut chars = stem.chars();
    match chars.next_back() {
        Some(_) if !chars.as_str().is_empty() => chars.as_str(),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstrumentKind::{Counter, Gauge, Histogram};
    use NameTranslation::*;

    #[test]
    fn each_strategy_names_as_prometheus_otlp_translation_does() {
        let cases: &[(NameTranslation, &str, &str, InstrumentKind, &str)] = &[
            (
                UnderscoreEscapingWithSuffixes,
                "http.server.request.duration",
                "s",
                Histogram,
                "http_server_request_duration_seconds",
            ),
            (
                UnderscoreEscapingWithoutSuffixes,
                "http.server.request.duration",
                "s",
                Histogram,
                "http_server_request_duration",
            ),
            (
                NoUTF8EscapingWithSuffixes,
                "http.server.request.duration",
                "s",
                Histogram,
                "http.server.request.duration_seconds",
            ),
            (
                NoTranslation,
                "http.server.request.duration",
                "s",
                Histogram,
                "http.server.request.duration",
            ),
            (
                UnderscoreEscapingWithSuffixes,
                "shop.orders",
                "",
                Counter,
                "shop_orders_total",
            ),
            (
                UnderscoreEscapingWithoutSuffixes,
                "shop.orders",
                "",
                Counter,
                "shop_orders",
            ),
            (
                NoUTF8EscapingWithSuffixes,
                "shop.orders",
                "",
                Counter,
                "shop.orders_total",
            ),
            (NoTranslation, "shop.orders", "", Counter, "shop.orders"),
            (
                NoUTF8EscapingWithSuffixes,
                "jobs_total",
                "",
                Counter,
                "jobs_total",
            ),
            (
                NoUTF8EscapingWithSuffixes,
                "disk.io.bytes",
                "By",
                Counter,
                "disk.io.bytes_total",
            ),
            (
                NoUTF8EscapingWithSuffixes,
                "cpu.utilization",
                "1",
                Gauge,
                "cpu.utilization_ratio",
            ),
            (NoTranslation, "", "", Gauge, "unnamed"),
            // The unit word is added unless the name ends with it as plain text;
            // `total`, `ratio` and `per_<word>` already at the end move to their place.
            (
                NoUTF8EscapingWithSuffixes,
                "kafka.bytes.sent",
                "By",
                Counter,
                "kafka.bytes.sent_bytes_total",
            ),
            (
                NoUTF8EscapingWithSuffixes,
                "disk.ratio",
                "1",
                Gauge,
                "disk_ratio",
            ),
            (
                NoUTF8EscapingWithSuffixes,
                "total.requests",
                "",
                Counter,
                "total.requests_total",
            ),
            (
                NoUTF8EscapingWithSuffixes,
                "net.rate_per_second",
                "By/s",
                Gauge,
                "net.rate_bytes_per_second",
            ),
            (
                NoUTF8EscapingWithSuffixes,
                "größe.bytes",
                "By",
                Counter,
                "größe.bytes_total",
            ),
            (
                NoUTF8EscapingWithSuffixes,
                "groß.total",
                "",
                Counter,
                "groß_total",
            ),
            (
                NoUTF8EscapingWithSuffixes,
                "total",
                "",
                Counter,
                "total_total",
            ),
        ];
        for &(strategy, name, unit, kind, want) in cases {
            assert_eq!(
                strategy.metric_name(name, unit, kind),
                want,
                "{strategy:?} {name}"
            );
        }
    }

    #[test]
    fn utf8_strategies_keep_label_names_except_reserved_ones() {
        let name = |s: NameTranslation, key| s.label_name(key).map(|n| n.into_owned());
        assert_eq!(
            name(NoTranslation, "http.route").as_deref(),
            Some("http.route")
        );
        assert_eq!(
            name(NoUTF8EscapingWithSuffixes, "ü ber").as_deref(),
            Some("ü ber")
        );
        assert_eq!(name(NoTranslation, "__name__").as_deref(), Some("__name__"));
        assert_eq!(name(NoTranslation, ""), None);
        assert_eq!(
            name(UnderscoreEscapingWithoutSuffixes, "http.route").as_deref(),
            Some("http_route")
        );
    }

    #[test]
    fn the_metadata_unit_is_the_suffix_word_or_the_unit_as_given() {
        assert_eq!(
            UnderscoreEscapingWithSuffixes.metadata_unit("By/s"),
            "bytes_per_second"
        );
        assert_eq!(NoUTF8EscapingWithSuffixes.metadata_unit("s"), "seconds");
        assert_eq!(UnderscoreEscapingWithoutSuffixes.metadata_unit("s"), "s");
        assert_eq!(NoTranslation.metadata_unit("By/s"), "By/s");
    }
}
