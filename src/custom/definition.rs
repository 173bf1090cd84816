//! [`CustomMetric`]: a custom metric's definition, its JSON form and its checks.
//!
//! The JSON form, field by field:
//! ```json
//! {
//!   "name": "Sessions_by_session_property_key",
//!   "metric": "sessions_total",
//!   "time_granularity": ["five_minute", "hourly", "daily"],
//!   "data_destination": ["metrics_api", "grafana_cloud"],
//!   "filters": {"op": "and", "children": [
//!       {"key": "session_property_key", "val": "session_property_value", "field_op": "eq"}]},
//!   "group_by": ["session_property_value"]
//! }
//! ```
//! Parsing checks everything that can be checked without a provider and reports the
//! first problem with the path of the offending field
//! (`filters.children[2].field_op: unknown operator "like"`); the provider checks the
//! destinations when the definition is created.

use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

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
    pub fn interval(self) -> Duration {
        match self {
            Granularity::FiveMinute => Duration::from_secs(300),
            Granularity::Hourly => Duration::from_secs(3600),
            Granularity::Daily => Duration::from_secs(86_400),
            Granularity::Every(d) => d,
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "five_minute" => return Ok(Granularity::FiveMinute),
            "hourly" => return Ok(Granularity::Hourly),
            "daily" => return Ok(Granularity::Daily),
            _ => {}
        }
        let unknown = || {
            format!(
                "unknown granularity {text:?}; use \"five_minute\", \"hourly\", \"daily\" or a \
                 duration such as \"30s\", \"2m\", \"1h\""
            )
        };
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(unknown)?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().map_err(|_| unknown())?;
        let seconds = match unit {
            "s" => Some(number),
            "m" => number.checked_mul(60),
            "h" => number.checked_mul(3600),
            "d" => number.checked_mul(86_400),
            _ => return Err(unknown()),
        }
        .ok_or_else(unknown)?;
        if seconds == 0 {
            return Err(format!(
                "granularity {text:?} is zero; give at least \"1s\""
            ));
        }
        Ok(Granularity::Every(Duration::from_secs(seconds)))
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Granularity::FiveMinute => f.write_str("five_minute"),
            Granularity::Hourly => f.write_str("hourly"),
            Granularity::Daily => f.write_str("daily"),
            Granularity::Every(d) => {
                let s = d.as_secs();
                match s {
                    s if s % 86_400 == 0 => write!(f, "{}d", s / 86_400),
                    s if s % 3600 == 0 => write!(f, "{}h", s / 3600),
                    s if s % 60 == 0 => write!(f, "{}m", s / 60),
                    s => write!(f, "{s}s"),
                }
            }
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

impl FieldOp {
    fn name(&self) -> &'static str {
        match self {
            FieldOp::Eq(_) => "eq",
            FieldOp::Neq(_) => "neq",
            FieldOp::In(_) => "in",
            FieldOp::Regex(_) => "regex",
            FieldOp::Exists => "exists",
        }
    }
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
    pub fn with_granularity(mut self, granularity: impl IntoIterator<Item = Granularity>) -> Self {
        self.time_granularity = granularity.into_iter().collect();
        self
    }

    /// Sets the destinations, by name.
    pub fn with_destinations<S: Into<String>>(
        mut self,
        destinations: impl IntoIterator<Item = S>,
    ) -> Self {
        self.data_destination = destinations.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the filter.
    pub fn with_filter(mut self, filter: Filter) -> Self {
        self.filters = Some(filter);
        self
    }

    /// Sets the group-by keys.
    pub fn with_group_by<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.group_by = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The push interval: the finest granularity.
    pub fn interval(&self) -> Duration {
        self.time_granularity
            .iter()
            .map(|g| g.interval())
            .min()
            .unwrap_or(Duration::from_secs(300))
    }

    /// Parses the JSON form and checks it.
    ///
    /// # Errors
    /// [`Error::InvalidCustomMetric`] naming the offending field, for JSON that does not
    /// parse, a missing or unknown field, a value of the wrong type, an unknown
    /// operator or granularity, or a regular expression that does not compile.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let value: Value = serde_json::from_str(json).map_err(|e| invalid("", e.to_string()))?;
        Self::from_value(&value, "")
    }

    /// Parses a JSON list of definitions (or one object with a `custom_metrics` list),
    /// as [`MeterProviderBuilder::with_custom_metrics_file`](crate::MeterProviderBuilder::with_custom_metrics_file)
    /// reads them. Error paths start with the index: `[3].filters.op`.
    ///
    /// # Errors
    /// Those of [`CustomMetric::from_json`].
    pub fn list_from_json(json: &str) -> Result<Vec<Self>, Error> {
        let value: Value = serde_json::from_str(json).map_err(|e| invalid("", e.to_string()))?;
        let (list, prefix) = match &value {
            Value::Array(list) => (list, ""),
            Value::Object(map) => match map.get("custom_metrics") {
                Some(Value::Array(list)) => (list, "custom_metrics"),
                _ => {
                    return Err(invalid(
                        "",
                        "expected a list of definitions or {\"custom_metrics\": [...]}".into(),
                    ))
                }
            },
            _ => {
                return Err(invalid(
                    "",
                    "expected a list of definitions or {\"custom_metrics\": [...]}".into(),
                ))
            }
        };
        list.iter()
            .enumerate()
            .map(|(i, v)| Self::from_value(v, &format!("{prefix}[{i}]")))
            .collect()
    }

    fn from_value(value: &Value, path: &str) -> Result<Self, Error> {
        let map = object(value, path)?;
        check_fields(
            map,
            path,
            &[
                "name",
                "metric",
                "time_granularity",
                "data_destination",
                "filters",
                "group_by",
            ],
        )?;
        let name = required_string(map, path, "name")?;
        let metric = required_string(map, path, "metric")?;
        let granularity_path = join(path, "time_granularity");
        let time_granularity = string_list(map.get("time_granularity"), &granularity_path)?
            .into_iter()
            .enumerate()
            .map(|(i, g)| {
                Granularity::parse(&g).map_err(|m| invalid(&format!("{granularity_path}[{i}]"), m))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let data_destination =
            string_list(map.get("data_destination"), &join(path, "data_destination"))?;
        let filters = match map.get("filters") {
            None | Some(Value::Null) => None,
            Some(f) => Some(parse_filter(f, &join(path, "filters"))?),
        };
        let group_by = match map.get("group_by") {
            None | Some(Value::Null) => Vec::new(),
            some => string_list(some, &join(path, "group_by"))?,
        };
        let definition = CustomMetric {
            name,
            metric,
            time_granularity,
            data_destination,
            filters,
            group_by,
        };
        definition.validate_at(path)?;
        Ok(definition)
    }

    /// The JSON form.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert("name".into(), self.name.clone().into());
        map.insert("metric".into(), self.metric.clone().into());
        map.insert(
            "time_granularity".into(),
            self.time_granularity
                .iter()
                .map(|g| Value::from(g.to_string()))
                .collect(),
        );
        map.insert(
            "data_destination".into(),
            self.data_destination
                .iter()
                .cloned()
                .map(Value::from)
                .collect(),
        );
        if let Some(filter) = &self.filters {
            map.insert("filters".into(), filter_value(filter));
        }
        map.insert(
            "group_by".into(),
            self.group_by.iter().cloned().map(Value::from).collect(),
        );
        Value::Object(map)
    }

    /// Checks a definition built in code the way [`from_json`](Self::from_json) checks
    /// JSON (the destinations are checked by the provider).
    pub(crate) fn validate(&self) -> Result<(), Error> {
        self.validate_at("")
    }

    fn validate_at(&self, path: &str) -> Result<(), Error> {
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
            return Err(invalid(
                &join(path, "metric"),
                "is empty; name the base instrument".into(),
            ));
        }
        let granularity = join(path, "time_granularity");
        if self.time_granularity.is_empty() {
            return Err(invalid(
                &granularity,
                "is empty; give at least one, e.g. [\"five_minute\"]".into(),
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
            return Err(invalid(
                &destinations,
                "is empty; name at least one of the provider's destinations".into(),
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

impl serde::Serialize for CustomMetric {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&self.to_value(), serializer)
    }
}

impl<'de> serde::Deserialize<'de> for CustomMetric {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        CustomMetric::from_value(&value, "").map_err(serde::de::Error::custom)
    }
}

fn invalid(field: &str, message: String) -> Error {
    Error::InvalidCustomMetric {
        field: field.to_owned(),
        message,
    }
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn object<'v>(value: &'v Value, path: &str) -> Result<&'v Map<String, Value>, Error> {
    value
        .as_object()
        .ok_or_else(|| invalid(path, format!("expected an object, found {}", kind(value))))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn check_fields(map: &Map<String, Value>, path: &str, known: &[&str]) -> Result<(), Error> {
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            return Err(invalid(
                &join(path, key),
                format!("unknown field; expected one of {}", known.join(", ")),
            ));
        }
    }
    Ok(())
}

fn required_string(map: &Map<String, Value>, path: &str, field: &str) -> Result<String, Error> {
    match map.get(field) {
        Some(Value::String(s)) => Ok(s.clone()),
        None => Err(invalid(&join(path, field), "is missing".into())),
        Some(other) => Err(invalid(
            &join(path, field),
            format!("expected a string, found {}", kind(other)),
        )),
    }
}

fn string_list(value: Option<&Value>, path: &str) -> Result<Vec<String>, Error> {
    let list = match value {
        Some(Value::Array(list)) => list,
        None => return Err(invalid(path, "is missing".into())),
        Some(other) => {
            return Err(invalid(
                path,
                format!("expected a list of strings, found {}", kind(other)),
            ))
        }
    };
    list.iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            Value::String(_) => Err(invalid(&format!("{path}[{i}]"), "is empty".into())),
            other => Err(invalid(
                &format!("{path}[{i}]"),
                format!("expected a string, found {}", kind(other)),
            )),
        })
        .collect()
}

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

/// A scalar `val` in its label form: strings as they are, numbers and booleans as
/// Prometheus labels would show them.
fn scalar(value: &Value, path: &str) -> Result<String, Error> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(invalid(
            path,
            format!(
                "expected a string, number or boolean, found {}",
                kind(other)
            ),
        )),
    }
}

const OPERATORS: &str = "eq, neq, in, regex, exists";

fn parse_filter(value: &Value, path: &str) -> Result<Filter, Error> {
    let map = object(value, path)?;
    if let Some(op) = map.get("op") {
        check_fields(map, path, &["op", "children"])?;
        let op_path = join(path, "op");
        let op = match op {
            Value::String(s) => s.as_str(),
            other => {
                return Err(invalid(
                    &op_path,
                    format!("expected \"and\", \"or\" or \"not\", found {}", kind(other)),
                ))
            }
        };
        let children_path = join(path, "children");
        let children = match map.get("children") {
            Some(Value::Array(list)) => list,
            None => return Err(invalid(&children_path, "is missing".into())),
            Some(other) => {
                return Err(invalid(
                    &children_path,
                    format!("expected a list of filters, found {}", kind(other)),
                ))
            }
        };
        let children = children
            .iter()
            .enumerate()
            .map(|(i, c)| parse_filter(c, &format!("{children_path}[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        let filter = match op {
            "and" => Filter::And(children),
            "or" => Filter::Or(children),
            "not" => match <[Filter; 1]>::try_from(children) {
                Ok([child]) => Filter::Not(Box::new(child)),
                Err(children) => {
                    return Err(invalid(
                        &children_path,
                        format!("\"not\" takes exactly one child, found {}", children.len()),
                    ))
                }
            },
            other => {
                return Err(invalid(
                    &op_path,
                    format!("unknown operator {other:?}; expected \"and\", \"or\" or \"not\""),
                ))
            }
        };
        validate_filter(&filter, path)?;
        return Ok(filter);
    }
    check_fields(map, path, &["key", "val", "field_op"])?;
    let key = required_string(map, path, "key")?;
    let op_path = join(path, "field_op");
    let op_name = match map.get("field_op") {
        Some(Value::String(s)) => s.as_str(),
        None => {
            return Err(invalid(
                &op_path,
                format!("is missing; expected one of {OPERATORS} (or \"op\" for and/or/not)"),
            ))
        }
        Some(other) => {
            return Err(invalid(
                &op_path,
                format!("expected a string, found {}", kind(other)),
            ))
        }
    };
    let val_path = join(path, "val");
    let val = map.get("val");
    let needs_val = || {
        invalid(
            &val_path,
            format!("is missing; \"{op_name}\" compares with it"),
        )
    };
    let op = match op_name {
        "eq" => FieldOp::Eq(scalar(val.ok_or_else(needs_val)?, &val_path)?),
        "neq" => FieldOp::Neq(scalar(val.ok_or_else(needs_val)?, &val_path)?),
        "regex" => FieldOp::Regex(match val.ok_or_else(needs_val)? {
            Value::String(s) => s.clone(),
            other => {
                return Err(invalid(
                    &val_path,
                    format!(
                        "expected a regular expression string, found {}",
                        kind(other)
                    ),
                ))
            }
        }),
        "in" => match val.ok_or_else(needs_val)? {
            Value::Array(list) => FieldOp::In(
                list.iter()
                    .enumerate()
                    .map(|(i, v)| scalar(v, &format!("{val_path}[{i}]")))
                    .collect::<Result<_, _>>()?,
            ),
            other => {
                return Err(invalid(
                    &val_path,
                    format!("\"in\" takes a list of values, found {}", kind(other)),
                ))
            }
        },
        "exists" => match val {
            None | Some(Value::Null) => FieldOp::Exists,
            Some(_) => {
                return Err(invalid(
                    &val_path,
                    "\"exists\" takes no value; leave \"val\" out".into(),
                ))
            }
        },
        other => {
            return Err(invalid(
                &op_path,
                format!("unknown operator {other:?}; expected one of {OPERATORS}"),
            ))
        }
    };
    let filter = Filter::Field { key, op };
    validate_filter(&filter, path)?;
    Ok(filter)
}

/// The checks JSON parsing cannot express: non-empty keys and children, regexes that
/// compile. Also run on filters built in code.
fn validate_filter(filter: &Filter, path: &str) -> Result<(), Error> {
    match filter {
        Filter::And(children) | Filter::Or(children) => {
            let children_path = join(path, "children");
            if children.is_empty() {
                return Err(invalid(
                    &children_path,
                    "is empty; give at least one filter".into(),
                ));
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
                    super::filter::compile_regex(pattern).map_err(|e| {
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

fn filter_value(filter: &Filter) -> Value {
    let node = |op: &str, children: Vec<Value>| {
        let mut map = Map::new();
        map.insert("op".into(), op.into());
        map.insert("children".into(), Value::Array(children));
        Value::Object(map)
    };
    match filter {
        Filter::And(c) => node("and", c.iter().map(filter_value).collect()),
        Filter::Or(c) => node("or", c.iter().map(filter_value).collect()),
        Filter::Not(c) => node("not", vec![filter_value(c)]),
        Filter::Field { key, op } => {
            let mut map = Map::new();
            map.insert("key".into(), key.clone().into());
            match op {
                FieldOp::Eq(v) | FieldOp::Neq(v) | FieldOp::Regex(v) => {
                    map.insert("val".into(), v.clone().into());
                }
                FieldOp::In(values) => {
                    map.insert(
                        "val".into(),
                        values.iter().cloned().map(Value::from).collect(),
                    );
                }
                FieldOp::Exists => {}
            }
            map.insert("field_op".into(), op.name().into());
            Value::Object(map)
        }
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}
