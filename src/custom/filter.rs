//! A [`Filter`] compiled for evaluation (regexes built once), and the group-by
//! projection. Both run once per series and definition, at collection, never per
//! measurement.

use opentelemetry::KeyValue;
use regex::Regex;

use super::definition::{compile_regex, FieldOp, Filter};
use crate::prometheus::naming;
use crate::snapshot::Attributes;

/// An attribute named the way a definition names it: by its OpenTelemetry key or by its
/// Prometheus label name.
#[derive(Debug, Clone)]
pub(crate) struct KeyRef {
    key: String,
    label: String,
}

impl KeyRef {
    pub(crate) fn new(key: &str) -> Self {
        KeyRef {
            key: key.to_owned(),
            label: naming::sanitize_label_name(key)
                .map(|l| l.into_owned())
                .unwrap_or_default(),
        }
    }

    /// The attribute it names: an exact key first, else one whose label name matches.
    pub(crate) fn find<'a>(&self, attributes: &'a [KeyValue]) -> Option<&'a KeyValue> {
        attributes
            .iter()
            .find(|kv| kv.key.as_str() == self.key)
            .or_else(|| {
                attributes.iter().find(|kv| {
                    naming::sanitize_label_name(kv.key.as_str()).as_deref()
                        == Some(self.label.as_str())
                })
            })
    }
}

#[derive(Debug)]
pub(crate) enum Test {
    Eq(String),
    Neq(String),
    In(Vec<String>),
    Regex(Regex),
    Exists,
}

/// A filter ready to evaluate.
#[derive(Debug)]
pub(crate) enum Compiled {
    And(Vec<Compiled>),
    Or(Vec<Compiled>),
    Not(Box<Compiled>),
    Field { key: KeyRef, test: Test },
}

impl Compiled {
    /// Compiles a validated filter. Fails only on a regex that does not compile,
    /// which validation has ruled out.
    pub(crate) fn new(filter: &Filter) -> Result<Self, regex::Error> {
        Ok(match filter {
            Filter::And(c) => Compiled::And(c.iter().map(Compiled::new).collect::<Result<_, _>>()?),
            Filter::Or(c) => Compiled::Or(c.iter().map(Compiled::new).collect::<Result<_, _>>()?),
            Filter::Not(c) => Compiled::Not(Box::new(Compiled::new(c)?)),
            Filter::Field { key, op } => Compiled::Field {
                key: KeyRef::new(key),
                test: match op {
                    FieldOp::Eq(v) => Test::Eq(v.clone()),
                    FieldOp::Neq(v) => Test::Neq(v.clone()),
                    FieldOp::In(v) => Test::In(v.clone()),
                    FieldOp::Regex(p) => Test::Regex(compile_regex(p)?),
                    FieldOp::Exists => Test::Exists,
                },
            },
        })
    }

    /// Whether a series with these attributes is kept.
    pub(crate) fn matches(&self, attributes: &[KeyValue]) -> bool {
        match self {
            Compiled::And(children) => children.iter().all(|c| c.matches(attributes)),
            Compiled::Or(children) => children.iter().any(|c| c.matches(attributes)),
            Compiled::Not(child) => !child.matches(attributes),
            Compiled::Field { key, test } => {
                let value = key.find(attributes).map(|kv| {
                    let mut text = String::new();
                    naming::write_attribute_value(&mut text, &kv.value);
                    text
                });
                match (test, value) {
                    (Test::Exists, value) => value.is_some(),
                    (Test::Neq(v), value) => value.as_deref() != Some(v.as_str()),
                    (_, None) => false,
                    (Test::Eq(v), Some(value)) => value == *v,
                    (Test::In(values), Some(value)) => values.contains(&value),
                    (Test::Regex(re), Some(value)) => re.is_match(&value),
                }
            }
        }
    }
}

/// The attributes a series keeps: those named by `group_by`, under their own keys.
pub(crate) fn project(attributes: &[KeyValue], group_by: &[KeyRef]) -> Attributes {
    let kept: Vec<KeyValue> = group_by
        .iter()
        .filter_map(|key| key.find(attributes).cloned())
        .collect();
    Attributes::new(&kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&'static str, &'static str)]) -> Vec<KeyValue> {
        pairs.iter().map(|(k, v)| KeyValue::new(*k, *v)).collect()
    }

    fn compiled(filter: Filter) -> Compiled {
        Compiled::new(&filter).expect("compiles")
    }

    #[test]
    fn every_operator_and_nesting() {
        let a = attrs(&[("http.route", "/users"), ("method", "GET")]);
        let number = vec![KeyValue::new("code", 404i64), KeyValue::new("ok", false)];
        for (filter, on_a) in [
            (Filter::eq("method", "GET"), true),
            (Filter::eq("http_route", "/users"), true),
            (Filter::eq("method", "POST"), false),
            (Filter::neq("method", "POST"), true),
            (Filter::neq("absent", "x"), true),
            (Filter::one_of("method", ["PUT", "GET"]), true),
            (Filter::one_of("absent", ["x"]), false),
            (Filter::regex("http.route", "/u.*"), true),
            (Filter::regex("http.route", "u.*"), false),
            (Filter::exists("method"), true),
            (Filter::exists("absent"), false),
            (Filter::not(Filter::exists("method")), false),
            (
                Filter::and([Filter::eq("method", "GET"), Filter::exists("http.route")]),
                true,
            ),
            (
                Filter::and([Filter::eq("method", "GET"), Filter::exists("absent")]),
                false,
            ),
            (
                Filter::or([Filter::eq("method", "POST"), Filter::exists("http.route")]),
                true,
            ),
            (
                Filter::not(Filter::or([
                    Filter::eq("method", "POST"),
                    Filter::and([
                        Filter::eq("method", "GET"),
                        Filter::not(Filter::exists("x")),
                    ]),
                ])),
                false,
            ),
        ] {
            let described = format!("{filter:?}");
            assert_eq!(compiled(filter).matches(&a), on_a, "{described}");
        }
        assert!(compiled(Filter::eq("code", "404")).matches(&number));
        assert!(compiled(Filter::eq("ok", "false")).matches(&number));
    }

    #[test]
    fn projection_keeps_only_the_group_by_keys() {
        let a = attrs(&[("http.route", "/u"), ("method", "GET"), ("user", "u1")]);
        let kept = project(&a, &[KeyRef::new("method"), KeyRef::new("http_route")]);
        assert_eq!(kept.len(), 2);
        assert_eq!(
            kept.get("http.route"),
            Some(&opentelemetry::Value::from("/u"))
        );
        assert!(project(&a, &[KeyRef::new("absent")]).is_empty());
    }
}
