//! `service.instance.id`: what keeps replicas apart. A resource without one gets a
//! random UUID v4, the OpenTelemetry semantic conventions' recommendation, so the
//! `instance` label is always present and differs between processes.
//!
//! Entry points (the provider, the SDK exporter) decide when; this file only knows the
//! attribute and how to add it without losing the rest of the resource.

use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_sdk::Resource;

/// The resource attribute that becomes the `instance` label.
pub(crate) const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// A fresh random id.
pub(crate) fn random() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Whether the resource has a usable id (an empty one would give no `instance` label).
pub(crate) fn has_instance_id(resource: &Resource) -> bool {
    resource
        .get(&Key::from_static_str(SERVICE_INSTANCE_ID))
        .is_some_and(|v| !v.as_str().is_empty())
}

/// `resource` with `service.instance.id = id`; its other attributes and schema URL kept.
pub(crate) fn with_instance_id(resource: &Resource, id: impl Into<Value>) -> Resource {
    let attributes = resource
        .iter()
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .chain([KeyValue::new(SERVICE_INSTANCE_ID, id)]);
    rebuilt(resource, attributes)
}

/// A resource of `attributes` (a repeated key: the last one wins) with `resource`'s
/// schema URL: how a provider adds or replaces attributes, since `Resource` has no setter.
pub(crate) fn rebuilt(
    resource: &Resource,
    attributes: impl IntoIterator<Item = KeyValue>,
) -> Resource {
    match resource.schema_url() {
        Some(url) => Resource::builder_empty()
            .with_schema_url(attributes, url.to_owned())
            .build(),
        None => Resource::builder_empty()
            .with_attributes(attributes)
            .build(),
    }
}

/// `resource` unchanged when it has an id, else with the one `id` makes.
pub(crate) fn or_instance_id(resource: Resource, id: impl FnOnce() -> String) -> Resource {
    if has_instance_id(&resource) {
        resource
    } else {
        with_instance_id(&resource, id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(resource: &Resource) -> Option<String> {
        resource
            .get(&Key::from_static_str(SERVICE_INSTANCE_ID))
            .map(|v| v.as_str().into_owned())
    }

    #[test]
    fn random_ids_are_uuid_v4_and_differ() {
        let (a, b) = (random(), random());
        assert_ne!(a, b);
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn an_existing_id_is_kept_and_a_missing_or_empty_one_is_added() {
        let with = |attrs: Vec<KeyValue>| Resource::builder_empty().with_attributes(attrs).build();
        let own = with(vec![KeyValue::new(SERVICE_INSTANCE_ID, "pod-1")]);
        assert_eq!(
            id_of(&or_instance_id(own, || "new".into())).as_deref(),
            Some("pod-1")
        );
        let none = with(vec![KeyValue::new("service.name", "shop")]);
        let added = or_instance_id(none, || "new".into());
        assert_eq!(id_of(&added).as_deref(), Some("new"));
        assert_eq!(added.len(), 2, "the other attributes stay");
        let empty = with(vec![KeyValue::new(SERVICE_INSTANCE_ID, "")]);
        assert_eq!(
            id_of(&or_instance_id(empty, || "new".into())).as_deref(),
            Some("new")
        );
    }

    #[test]
    fn the_schema_url_is_kept() {
        let resource = Resource::builder_empty()
            .with_schema_url([KeyValue::new("a", "b")], "https://example.com/schema")
            .build();
        let changed = with_instance_id(&resource, "x");
        assert_eq!(changed.schema_url(), Some("https://example.com/schema"));
        assert_eq!(id_of(&changed).as_deref(), Some("x"));
    }
}
