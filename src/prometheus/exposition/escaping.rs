//! How names outside the legacy character set are written for a scraper: the
//! `escaping` parameter of its `Accept` header (Prometheus 3 sends `allow-utf-8`;
//! `underscores` when absent), and each scheme's escaping, as Prometheus' escaping
//! schemes specify them.

use std::fmt::Write as _;

/// How a scrape writes metric and label names outside the legacy character set
/// (`[a-zA-Z_:][a-zA-Z0-9_:]*`), as the scraper asks with the `escaping` parameter of
/// its `Accept` header. Names in the legacy set are written as they are by every
/// scheme; only a UTF-8 [`NameTranslation`](crate::NameTranslation) makes others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Escaping {
    /// `allow-utf-8`: names kept, quoted where they leave the legacy set
    /// (`{"http.server.duration",le="1"}`), for a scraper that stores UTF-8 names.
    AllowUtf8,
    /// `underscores` (the default, and what a scraper that does not say gets): every
    /// character outside the legacy set becomes `_`.
    #[default]
    Underscores,
    /// `dots`: `.` becomes `_dot_`, `_` becomes `__`, other characters outside the
    /// legacy set `__`, so dotted names can be recovered.
    Dots,
    /// `values`: `U__` first, `_` doubled, other characters outside the legacy set as
    /// their code point in lower-case hex between underscores (`_2e_`).
    Values,
}

impl Escaping {
    /// The scheme a parameter value names (`allow-utf-8`, `underscores`, `dots`,
    /// `values`).
    pub(super) fn from_param(value: &str) -> Option<Escaping> {
        match value.trim().trim_matches('"').to_ascii_lowercase().as_str() {
            "allow-utf-8" => Some(Escaping::AllowUtf8),
            "underscores" => Some(Escaping::Underscores),
            "dots" => Some(Escaping::Dots),
            "values" => Some(Escaping::Values),
            _ => None,
        }
    }

    /// Appends `name` (a metric or label name) to `out` as this scheme writes it
    /// outside braces' quoting: escaped if it leaves the legacy set (the quoting of
    /// [`AllowUtf8`](Self::AllowUtf8) is the writer's: see [`needs_quotes`]).
    pub(super) fn push_name(self, out: &mut String, name: &str) {
        if is_legacy_name(name) {
            return out.push_str(name);
        }
        match self {
            Escaping::AllowUtf8 => push_quoted(out, name),
            Escaping::Underscores => {
                for (i, c) in name.chars().enumerate() {
                    out.push(if is_legacy_char(c, i) { c } else { '_' });
                }
            }
            Escaping::Dots => {
                for (i, c) in name.chars().enumerate() {
                    match c {
                        '_' => out.push_str("__"),
                        '.' => out.push_str("_dot_"),
                        c if is_legacy_char(c, i) => out.push(c),
                        _ => out.push_str("__"),
                    }
                }
            }
            Escaping::Values => {
                out.push_str("U__");
                for (i, c) in name.chars().enumerate() {
                    match c {
                        '_' => out.push_str("__"),
                        c if is_legacy_char(c, i) => out.push(c),
                        c => {
                            let _ = write!(out, "_{:x}_", u32::from(c));
                        }
                    }
                }
            }
        }
    }
}

/// Whether `name` must be quoted when written with `escaping` (UTF-8 kept, outside the
/// legacy set).
pub(super) fn needs_quotes(escaping: Escaping, name: &str) -> bool {
    escaping == Escaping::AllowUtf8 && !is_legacy_name(name)
}

/// `name` between double quotes, `\`, `"` and line feeds escaped.
fn push_quoted(out: &mut String, name: &str) {
    out.push('"');
    super::text::escape_label_value(out, name);
    out.push('"');
}

/// Whether `name` is in the legacy character set of metric names (label names are
/// checked the same way for escaping, as Prometheus does).
pub(super) fn is_legacy_name(name: &str) -> bool {
    !name.is_empty() && name.chars().enumerate().all(|(i, c)| is_legacy_char(c, i))
}

fn is_legacy_char(c: char, i: usize) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::Escaping::{self, *};

    #[test]
    fn each_scheme_escapes_names_outside_the_legacy_set_as_prometheus_specifies() {
        let cases: &[(Escaping, &str, &str)] = &[
            (AllowUtf8, "shop_orders_total", "shop_orders_total"),
            (AllowUtf8, "shop.orders_total", "\"shop.orders_total\""),
            (AllowUtf8, "say \"hi\"", "\"say \\\"hi\\\"\""),
            (Underscores, "shop_orders_total", "shop_orders_total"),
            (Underscores, "shop.orders_total", "shop_orders_total"),
            (Underscores, "1st.metric", "_st_metric"),
            (Dots, "shop_orders_total", "shop_orders_total"),
            (Dots, "shop.orders_total", "shop_dot_orders__total"),
            (Dots, "a/b", "a__b"),
            (Values, "shop_orders_total", "shop_orders_total"),
            (Values, "shop.orders_total", "U__shop_2e_orders__total"),
            (Values, "ü.x", "U___fc__2e_x"),
        ];
        for &(escaping, name, want) in cases {
            let mut out = String::new();
            escaping.push_name(&mut out, name);
            assert_eq!(out, want, "{escaping:?} {name}");
        }
    }
}
