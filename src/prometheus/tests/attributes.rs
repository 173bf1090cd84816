//! Label names from attribute keys: sanitised, colliding keys joined, reserved names
//! (`job`, `instance`, `le`) kept apart, a `__name__` attribute giving way to the
//! series' name, empty keys and values left out.

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;

use super::*;

#[test]
fn colliding_and_reserved_attribute_keys_become_distinct_valid_labels() {
    let attrs = [
        KeyValue::new("a.b", "x"),
        KeyValue::new("a_b", "y"),
        KeyValue::new("a-b", "z"),
        KeyValue::new("job", "mine"),
        KeyValue::new("instance", "me"),
        KeyValue::new("le", "0.5"),
        KeyValue::new("__name__", "evil"),
        KeyValue::new("", "no key"),
        KeyValue::new("empty", ""),
        KeyValue::new("9lives", true),
        KeyValue::new("größe", 1.5),
        KeyValue::new("Zeta", "upper"),
        KeyValue::new("otel.metric.overflow", true),
    ];
    let resource = Resource::builder_empty()
        .with_attribute(KeyValue::new("service.name", "svc"))
        .build();
    let snap = snapshot(
        resource,
        vec![gauge(5, "g", vec![number(&attrs, Number::F64(f64::NAN))])],
    );
    // `a_b` joins the values sorted by original key ("a-b" < "a.b" < "a_b"); the job
    // attribute gives way to the resource's; with no instance in the resource, the
    // attribute keeps its name; `__name__` is the series' own. NaN is sent as is.
    assert_eq!(
        exposition_timed(&translate(&snap)),
        [concat!(
            r#"g{Zeta="upper",a_b="z;x;y",exported_job="mine",gr_e="1.5",instance="me","#,
            r#"job="svc",key_9lives="true",le="0.5","#,
            r#"otel_metric_overflow="true",otel_scope_name="test"} NaN 1700000000123"#
        )]
    );
}
