//! What the resource and the scope add: `job` and `instance` on every series, the other
//! resource attributes once on `target_info`, and the `otel_scope_*` labels that keep
//! two libraries' same-named instruments apart.

use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::Resource;

use super::*;

#[test]
fn target_info_carries_the_other_resource_attributes_once() {
    let snap = snapshot(
        service(),
        vec![
            gauge(1, "a", vec![number(&[], Number::I64(-1))]),
            gauge(2, "b", vec![number(&[], Number::I64(2))]),
        ],
    );
    // target_info comes first, at the snapshot's time; only job and instance go on the
    // metric series.
    assert_eq!(
        exposition_timed(&translate(&snap)),
        [
            r#"target_info{host_name="h1",instance="pod-1",job="shop/checkout",k8s_pod_uid="42"} 1 1700000000124"#,
            r#"a{instance="pod-1",job="shop/checkout",otel_scope_name="test"} -1 1700000000123"#,
            r#"b{instance="pod-1",job="shop/checkout",otel_scope_name="test"} 2 1700000000123"#,
        ]
    );
}

#[test]
fn without_a_service_there_is_no_job_instance_or_target_info() {
    let snap = bare(vec![gauge(1, "g", vec![number(&[], Number::F64(1.5))])]);
    // `__name__` and the scope.
    assert_eq!(
        exposition_timed(&translate(&snap)),
        [r#"g{otel_scope_name="test"} 1.5 1700000000123"#]
    );
    // service.name alone is the job.
    let snap = snapshot(
        Resource::builder_empty()
            .with_attribute(KeyValue::new("service.name", "svc"))
            .build(),
        snap.scopes[0].metrics.clone(),
    );
    assert_eq!(exposition(&translate(&snap)), [r#"g{job="svc"} 1.5"#]);
}

#[test]
fn target_info_carries_no_scope_labels_and_attributes_cannot_fake_them() {
    let attrs = [KeyValue::new("otel.scope.name", "fake")];
    let snap = snapshot(
        service(),
        vec![gauge(1, "g", vec![number(&attrs, Number::I64(1))])],
    );
    assert_eq!(
        exposition_timed(&translate(&snap)),
        [
            r#"target_info{host_name="h1",instance="pod-1",job="shop/checkout",k8s_pod_uid="42"} 1 1700000000124"#,
            r#"g{exported_otel_scope_name="fake",instance="pod-1",job="shop/checkout",otel_scope_name="test"} 1 1700000000123"#,
        ]
    );
}

#[test]
fn two_meters_with_one_instrument_name_make_two_series_with_scope_labels() {
    let lib = |name: &str, version: Option<&'static str>| {
        let b = InstrumentationScope::builder(name.to_owned());
        match version {
            Some(v) => b.with_version(v).build(),
            None => b.build(),
        }
    };
    let snap = scoped(vec![
        (
            lib("lib-a", Some("1.2")),
            vec![counter(1, "requests", vec![number(&[], Number::U64(3))])],
        ),
        (
            lib("lib-b", None),
            vec![counter(2, "requests", vec![number(&[], Number::U64(4))])],
        ),
    ]);
    assert_eq!(
        exposition(&translate(&snap)),
        [
            r#"requests_total{otel_scope_name="lib-a",otel_scope_version="1.2"} 3"#,
            r#"requests_total{otel_scope_name="lib-b"} 4"#,
        ]
    );
    // Without scope labels, the two are one series: their sums add.
    let mut off = Translator::new();
    off.set_scope_labels(false);
    assert_eq!(
        exposition(&translate_with(&mut off, &snap)),
        ["requests_total 7"]
    );
    assert_eq!(off.collisions().merged_points, 1);
}

#[test]
fn the_schema_url_and_scope_attributes_become_otel_scope_labels() {
    let scope = InstrumentationScope::builder("lib")
        .with_version("1.0")
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .with_attributes([
            KeyValue::new("scope.kind", "library"),
            KeyValue::new("shard", 3_i64),
            // The scope's own name wins over an attribute that would write it.
            KeyValue::new("name", "fake"),
            KeyValue::new("empty", ""),
        ])
        .build();
    let attrs = [KeyValue::new("otel.scope.shard", "point")];
    let snap = scoped(vec![(
        scope,
        vec![counter(1, "requests", vec![number(&attrs, Number::U64(3))])],
    )]);
    assert_eq!(
        exposition(&translate(&snap)),
        [concat!(
            r#"requests_total{exported_otel_scope_shard="point",otel_scope_name="lib","#,
            r#"otel_scope_schema_url="https://opentelemetry.io/schemas/1.26.0","#,
            r#"otel_scope_scope_kind="library",otel_scope_shard="3",otel_scope_version="1.0"} 3"#
        )]
    );
    // Scope labels off: none of them.
    let mut off = Translator::new();
    off.set_scope_labels(false);
    assert_eq!(
        exposition(&translate_with(&mut off, &snap)),
        [r#"requests_total{otel_scope_shard="point"} 3"#]
    );
}

#[test]
fn a_utf8_strategy_keeps_scope_attribute_keys_in_their_label_names() {
    // As Prometheus 3's OTLP receiver and the Collector write them: `otel_scope_` and
    // the key as it is, escaped only by the escaping strategies.
    let scope = InstrumentationScope::builder("lib")
        .with_attributes([KeyValue::new("scope.kind", "library")])
        .build();
    let snap = scoped(vec![(
        scope,
        vec![counter(1, "requests", vec![number(&[], Number::U64(3))])],
    )]);
    let mut utf8 = Translator::new();
    utf8.set_name_translation(crate::NameTranslation::NoUTF8EscapingWithSuffixes);
    // Not `translate_with`: its checks are the legacy character set's.
    let mut c = Collect::default();
    utf8.translate(&snap, &mut c);
    assert_eq!(
        exposition(&c),
        [r#"requests_total{otel_scope_name="lib",otel_scope_scope.kind="library"} 3"#]
    );
    assert_eq!(
        exposition(&translate(&snap)),
        [r#"requests_total{otel_scope_name="lib",otel_scope_scope_kind="library"} 3"#]
    );
}
