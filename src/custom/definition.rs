//! [`CustomMetric`]: a custom metric's definition as the rest of the crate uses it: its
//! types ([`CustomMetric`], [`Granularity`], [`Filter`], [`FieldOp`]), their builders
//! for code, and the checks every definition passes, from JSON or from code. Errors name
//! the offending field by its path in the JSON form (`filters.children[2].key`); the
//! JSON form itself is in `json.rs`.

use std::time::Duration;

use regex::Regex;

use crate::Error;

/// A custom metric: a base instrument's measurements, kept when their attributes match
/// a filter, re-aggregated by a few attributes, pushed to chosen destinations at a
/// chosen granularity. See the [module documentation](crate::custom) for the JSON form
/// and the semantics.
///
/// ```
/// use prompush::custom::{CustomMetric, Filter, Granularity};
///
/// let from_json = CustomMetric::from_json(r#"{
///     "name": "Sessions_by_session_property_key",
///     "metric": "sessions_total",
///     "time_granularity": ["five_minute", "hourly", "daily"],
///     "data_destination": ["metrics_api"],
///     "filters": {"op": "and", "children": [
///         {"key": "session_property_key", "val": "session_property_value", "field_op": "eq"}]},
///     "group_by": ["session_property_value"]
/// }"#)?;
///
/// let in_code = CustomMetric::new("Sessions_by_session_property_key", "sessions_total")
///     .with_granularity([Granularity::FiveMinute, Granularity::Hourly, Granularity::Daily])
///     .with_destinations(["metrics_api"])
///     .with_filter(Filter::and([Filter::eq("session_property_key", "session_property_value")]))
///     .with_group_by(["session_property_value"]);
/// assert_eq!(from_json, in_code);
/// # Ok::<(), prompush::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CustomMetric {
    /// The custom metric's own name: a Prometheus metric name
    /// (`[a-zA-Z_:][a-zA-Z0-9_:]*`). It is exported like an instrument of that name with
    /// the base's kind and unit, so a counter gets `_total`.
    pub name: String,
    /// The base instrument, by its OpenTelemetry name (`sessions`) or its Prometheus
    /// name (`sessions_total`).
    pub metric: String,
    /// When to push; the finest one listed is used.
    pub time_granularity: Vec<Granularity>,
    /// The names of the provider's destinations that receive it.
    pub data_destination: Vec<String>,
    /// Which measurements count; `None`: all of them.
    pub filters: Option<Filter>,
    /// The attribute keys kept; all others are aggregated away. Empty: one series.
    pub group_by: Vec<String>,
}

/// How often a custom metric is pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// Every five minutes (`"five_minute"`).
    FiveMinute,
    /// Every hour (`"hourly"`).
    Hourly,
    /// Every day (`"daily"`).
    Daily,
    /// Every this long, at least one second: `"30s"`, `"90s"`, `"2m"`, `"1h"`, `"1d"`.
    Every(Duration),
}

impl Granularity {
    /// The push interval it stands for.
    #[must_use]
    pub fn interval(self) -> Duration {
        match self {
            Granularity::FiveMinute => Duration::from_secs(300),
            Granularity::Hourly => Duration::from_secs(3600),
            Granularity::Daily => Duration::from_secs(86_400),
            Granularity::Every(d) => d,
        }
    }
}

/// Which measurements a custom metric keeps: a tree of `and` / `or` / `not` over tests of
/// one attribute each.
///
/// A test's `key` names an attribute by its OpenTelemetry key (`http.route`) or its
/// Prometheus label name (`http_route`); values are compared in their Prometheus label
/// form (`5`, `true`, `GET`).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Every child matches (`{"op":"and","children":[…]}`).
    And(Vec<Filter>),
    /// At least one child matches (`{"op":"or","children":[…]}`).
    Or(Vec<Filter>),
    /// The child does not match (`{"op":"not","children":[one]}`).
    Not(Box<Filter>),
    /// A test of one attribute (`{"key":…,"val":…,"field_op":…}`).
    Field {
        /// The attribute key.
        key: String,
        /// The test.
        op: FieldOp,
    },
}

/// The test of a [`Filter::Field`].
#[derive(Debug, Clone, PartialEq)]
pub enum FieldOp {
    /// `eq`: the attribute has this value.
    Eq(String),
    /// `neq`: the attribute is absent or has another value.
    Neq(String),
    /// `in`: the attribute has one of these values (`val` is a list).
    In(Vec<String>),
    /// `regex`: the whole value matches this regular expression (anchored at both
    /// ends, as PromQL's `=~`; `regex` crate syntax).
    Regex(String),
    /// `exists`: the attribute is present (`val` is left out).
    Exists,
}

impl Filter {
    /// `{"op":"and","children":[…]}`.
    pub fn and(children: impl IntoIterator<Item = Filter>) -> Self {
        Filter::And(children.into_iter().collect())
    }

    /// `{"op":"or","children":[…]}`.
    pub fn or(children: impl IntoIterator<Item = Filter>) -> Self {
        Filter::Or(children.into_iter().collect())
    }

    /// `{"op":"not","children":[child]}`.
    #[must_use]
    #[allow(clippy::should_implement_trait)] // a constructor, not negation of a value
    pub fn not(child: Filter) -> Self {
        Filter::Not(Box::new(child))
    }

    /// `{"key":key,"val":value,"field_op":"eq"}`.
    pub fn eq(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self::field(key, FieldOp::Eq(value.into()))
    }

    /// `{"key":key,"val":value,"field_op":"neq"}`.
    pub fn neq(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self::field(key, FieldOp::Neq(value.into()))
    }

    /// `{"key":key,"val":[values…],"field_op":"in"}`.
    pub fn one_of<S: Into<String>>(
        key: impl Into<String>,
        values: impl IntoIterator<Item = S>,
    ) -> Self {
        Self::field(
            key,
            FieldOp::In(values.into_iter().map(Into::into).collect()),
        )
    }

    /// `{"key":key,"val":pattern,"field_op":"regex"}`.
    pub fn regex(key: impl Into<String>, pattern: impl Into<String>) -> Self {
        Self::field(key, FieldOp::Regex(pattern.into()))
    }

    /// `{"key":key,"field_op":"exists"}`.
    pub fn exists(key: impl Into<String>) -> Self {
        Self::field(key, FieldOp::Exists)
    }

    fn field(key: impl Into<String>, op: FieldOp) -> Self {
        Filter::Field {
            key: key.into(),
            op,
        }
    }
}

impl CustomMetric {
    /// A definition of `name` over the base instrument `metric`, pushed every five
    /// minutes, to no destination yet, with no filter and no group-by keys.
    #[must_use]
    pub fn new(name: impl Into<String>, metric: impl Into<String>) -> Self {
        CustomMetric {
            name: name.into(),
            metric: metric.into(),
            time_granularity: vec![Granularity::FiveMinute],
            data_destination: Vec::new(),
            filters: None,
            group_by: Vec::new(),
        }
    }

    /// Sets the granularities (the finest is used).
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_granularity(mut self, granularity: impl IntoIterator<Item = Granularity>) -> Self {
        self.time_granularity = granularity.into_iter().collect();
        self
    }

    /// Sets the destinations, by name.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_destinations<S: Into<String>>(
        mut self,
        destinations: impl IntoIterator<Item = S>,
    ) -> Self {
        self.data_destination = destinations.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the filter.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filters = Some(filter);
        self
    }

    /// Sets the group-by keys.
    #[must_use = "builder methods return the changed builder, which must be used"]
    pub fn with_group_by<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.group_by = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The push interval: the finest granularity.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.time_granularity
            .iter()
            .map(|g| g.interval())
            .min()
            .unwrap_or(Duration::from_secs(300))
    }

    /// Checks a definition built in code the way [`from_json`](Self::from_json) checks
    /// JSON (the destinations are checked by the provider).
    pub(crate) fn validate(&self) -> Result<(), Error> {
        self.validate_at("")
    }

    /// The same checks, for a definition found at `path` in a JSON document.
    pub(super) fn validate_at(&self, path: &str) -> Result<(), Error> {
        if !is_metric_name(&self.name) {
            return Err(invalid(
                &join(path, "name"),
                format!(
                    "{:?} is not a Prometheus metric name; use letters, digits, '_' and ':', \
                     not starting with a digit",
                    self.name
                ),
            ));
        }
        if self.metric.is_empty() {
            return Err(empty(&join(path, "metric"), "name the base instrument"));
        }
        let granularity = join(path, "time_granularity");
        if self.time_granularity.is_empty() {
            return Err(empty(
                &granularity,
                "give at least one, e.g. [\"five_minute\"]",
            ));
        }
        for (i, g) in self.time_granularity.iter().enumerate() {
            if g.interval() < Duration::from_secs(1) || g.interval().subsec_nanos() != 0 {
                return Err(invalid(
                    &format!("{granularity}[{i}]"),
                    "must be a whole number of seconds, at least one".into(),
                ));
            }
        }
        let destinations = join(path, "data_destination");
        if self.data_destination.is_empty() {
            return Err(empty(
                &destinations,
                "name at least one of the provider's destinations",
            ));
        }
        unique(&self.data_destination, &destinations)?;
        if let Some(filter) = &self.filters {
            validate_filter(filter, &join(path, "filters"))?;
        }
        let group_by = join(path, "group_by");
        unique(&self.group_by, &group_by)?;
        Ok(())
    }
}

/// The checks JSON parsing cannot express: non-empty keys and children, regexes that
/// compile. Also run on filters built in code.
/// Builds a `regex` pattern anchored at both ends (the whole value must match). The
/// pattern must compile on its own first: `a)|(b` would otherwise escape the group and
/// the anchors.
pub(super) fn compile_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(pattern)?;
    Regex::new(&format!("^(?:{pattern})$"))
}

pub(super) fn validate_filter(filter: &Filter, path: &str) -> Result<(), Error> {
    match filter {
        Filter::And(children) | Filter::Or(children) => {
            let children_path = join(path, "children");
            if children.is_empty() {
                return Err(empty(&children_path, "give at least one filter"));
            }
            for (i, child) in children.iter().enumerate() {
                validate_filter(child, &format!("{children_path}[{i}]"))?;
            }
            Ok(())
        }
        Filter::Not(child) => validate_filter(child, &format!("{}[0]", join(path, "children"))),
        Filter::Field { key, op } => {
            if key.is_empty() {
                return Err(invalid(&join(path, "key"), "is empty".into()));
            }
            match op {
                FieldOp::Regex(pattern) => {
                    compile_regex(pattern).map_err(|e| {
                        invalid(
                            &join(path, "val"),
                            format!("invalid regular expression: {e}"),
                        )
                    })?;
                }
                FieldOp::In(values) if values.is_empty() => {
                    return Err(invalid(
                        &join(path, "val"),
                        "is an empty list: nothing would match".into(),
                    ));
                }
                _ => {}
            }
            Ok(())
        }
    }
}

/// Refuses an empty or repeated item.
fn unique(list: &[String], path: &str) -> Result<(), Error> {
    for (i, item) in list.iter().enumerate() {
        if item.is_empty() {
            return Err(invalid(&format!("{path}[{i}]"), "is empty".into()));
        }
        if list[..i].contains(item) {
            return Err(invalid(
                &format!("{path}[{i}]"),
                format!("{item:?} is listed twice"),
            ));
        }
    }
    Ok(())
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// An empty list or string where one is required: `is empty; {hint}`.
fn empty(path: &str, hint: &str) -> Error {
    invalid(path, format!("is empty; {hint}"))
}

/// An invalid definition: `field` is the path of the offending field
/// (`filters.children[2].key`), empty for the whole definition.
pub(super) fn invalid(field: &str, message: String) -> Error {
    Error::InvalidCustomMetric {
        field: field.to_owned(),
        message,
    }
}

/// The path of `field` inside the object at `path`.
pub(super) fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}
