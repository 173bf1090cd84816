//! The JSON form of a [`CustomMetric`]: parsing (with the path of the offending field
//! in every error) and serialising.
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

use super::definition::{
    invalid, join, validate_filter, CustomMetric, FieldOp, Filter, Granularity,
};
use crate::Error;

impl CustomMetric {
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
        let definitions = match &value {
            Value::Array(list) => Some((list, "")),
            Value::Object(map) => match map.get("custom_metrics") {
                Some(Value::Array(list)) => Some((list, "custom_metrics")),
                _ => None,
            },
            _ => None,
        };
        let Some((list, prefix)) = definitions else {
            return Err(invalid(
                "",
                "expected a list of definitions or {\"custom_metrics\": [...]}".into(),
            ));
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
    #[must_use]
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

impl Granularity {
    /// Parses `"five_minute"`, `"hourly"`, `"daily"` or a duration (`"30s"`, `"2m"`, …).
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

/// The JSON form (`five_minute`, `hourly`, `daily`, `90s`, `2m`, …).
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

impl FieldOp {
    /// Its `field_op` in the JSON form.
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

/// A type error: `path` holds `found` where `expected` (`a string`, …) belongs.
fn wrong_type(path: &str, expected: &str, found: &Value) -> Error {
    invalid(path, format!("expected {expected}, found {}", kind(found)))
}

/// How an error names the type of a JSON value.
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

fn object<'v>(value: &'v Value, path: &str) -> Result<&'v Map<String, Value>, Error> {
    value
        .as_object()
        .ok_or_else(|| wrong_type(path, "an object", value))
}

/// Refuses a field other than `known`.
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
        Some(other) => Err(wrong_type(&join(path, field), "a string", other)),
    }
}

/// A required list at `path`; `expected` names it in a type error (`a list of strings`).
fn required_list<'v>(
    value: Option<&'v Value>,
    path: &str,
    expected: &str,
) -> Result<&'v [Value], Error> {
    match value {
        Some(Value::Array(list)) => Ok(list),
        None => Err(invalid(path, "is missing".into())),
        Some(other) => Err(wrong_type(path, expected, other)),
    }
}

/// A required list of non-empty strings.
fn string_list(value: Option<&Value>, path: &str) -> Result<Vec<String>, Error> {
    required_list(value, path, "a list of strings")?
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            Value::String(_) => Err(invalid(&format!("{path}[{i}]"), "is empty".into())),
            other => Err(wrong_type(&format!("{path}[{i}]"), "a string", other)),
        })
        .collect()
}

/// A scalar `val` in its label form: strings as they are, numbers and booleans as
/// Prometheus labels would show them.
fn scalar(value: &Value, path: &str) -> Result<String, Error> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(wrong_type(path, "a string, number or boolean", other)),
    }
}

const OPERATORS: &str = "eq, neq, in, regex, exists";

/// A filter: a node (`{"op":…,"children":[…]}`) or a test of one attribute
/// (`{"key":…,"val":…,"field_op":…}`).
fn parse_filter(value: &Value, path: &str) -> Result<Filter, Error> {
    let map = object(value, path)?;
    let filter = match map.get("op") {
        Some(op) => parse_node(map, op, path)?,
        None => parse_field(map, path)?,
    };
    validate_filter(&filter, path)?;
    Ok(filter)
}

/// `{"op":"and"|"or"|"not","children":[…]}`.
fn parse_node(map: &Map<String, Value>, op: &Value, path: &str) -> Result<Filter, Error> {
    check_fields(map, path, &["op", "children"])?;
    let op_path = join(path, "op");
    let op = match op {
        Value::String(s) => s.as_str(),
        other => return Err(wrong_type(&op_path, "\"and\", \"or\" or \"not\"", other)),
    };
    let children_path = join(path, "children");
    let children = required_list(map.get("children"), &children_path, "a list of filters")?
        .iter()
        .enumerate()
        .map(|(i, c)| parse_filter(c, &format!("{children_path}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    match op {
        "and" => Ok(Filter::And(children)),
        "or" => Ok(Filter::Or(children)),
        "not" => match <[Filter; 1]>::try_from(children) {
            Ok([child]) => Ok(Filter::Not(Box::new(child))),
            Err(children) => Err(invalid(
                &children_path,
                format!("\"not\" takes exactly one child, found {}", children.len()),
            )),
        },
        other => Err(invalid(
            &op_path,
            format!("unknown operator {other:?}; expected \"and\", \"or\" or \"not\""),
        )),
    }
}

/// `{"key":…,"val":…,"field_op":…}`.
fn parse_field(map: &Map<String, Value>, path: &str) -> Result<Filter, Error> {
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
        Some(other) => return Err(wrong_type(&op_path, "a string", other)),
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
            other => return Err(wrong_type(&val_path, "a regular expression string", other)),
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
    Ok(Filter::Field { key, op })
}

/// A filter's JSON form.
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
