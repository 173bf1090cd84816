//! The provider's resource names prompush as the SDK: `telemetry.sdk.name` =
//! `prompush`, `telemetry.sdk.language` = `rust`, `telemetry.sdk.version` = this
//! crate's version, as the semantic conventions ask of an SDK that is not the
//! reference one.
//!
//! `opentelemetry_sdk`'s resource builder (`Resource::builder()`, and the detection a
//! provider without a resource runs) fills in its own name and version; prompush does
//! the recording, so it replaces them. A resource without any `telemetry.sdk.*`
//! attribute (`Resource::builder_empty()`) was built that way on purpose and is kept as
//! it is. The SDK exporter's resources are left alone: there `opentelemetry_sdk`
//! records.

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;

use crate::instance_id;

const SDK_NAME: &str = "telemetry.sdk.name";
const SDK_LANGUAGE: &str = "telemetry.sdk.language";
const SDK_VERSION: &str = "telemetry.sdk.version";

/// `resource` with prompush as its SDK, when it names one; its other attributes and
/// schema URL kept.
pub(super) fn naming_prompush(resource: Resource) -> Resource {
    let is_sdk_key = |key: &str| matches!(key, SDK_NAME | SDK_LANGUAGE | SDK_VERSION);
    if !resource.iter().any(|(k, _)| is_sdk_key(k.as_str())) {
        return resource;
    }
    let attributes = resource
        .iter()
        .filter(|(k, _)| !is_sdk_key(k.as_str()))
        .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
        .chain([
            KeyValue::new(SDK_NAME, "prompush"),
            KeyValue::new(SDK_LANGUAGE, "rust"),
            KeyValue::new(SDK_VERSION, env!("CARGO_PKG_VERSION")),
        ]);
    instance_id::rebuilt(&resource, attributes)
}

#[cfg(test)]
mod tests {
    use crate::prometheus::exposition::{Exposition, Format};
    use crate::MeterProvider;
    use opentelemetry::KeyValue;
    use opentelemetry_sdk::Resource;

    /// The `target_info` line of the provider's text exposition.
    fn target_info(resource: Resource) -> String {
        let provider = MeterProvider::builder()
            .with_resource(resource)
            .with_instance_id("i-1")
            .build()
            .expect("an aggregate-only provider");
        let text = Exposition::new().render(&provider.collect(), Format::Text);
        let line = text.lines().find(|l| l.starts_with("target_info{"));
        line.unwrap_or_else(|| panic!("no target_info in {text}"))
            .to_owned()
    }

    #[test]
    fn target_info_names_prompush_even_for_a_resource_from_the_sdk_builder() {
        let info = target_info(Resource::builder().with_service_name("shop").build());
        let version = env!("CARGO_PKG_VERSION");
        for label in [
            r#"telemetry_sdk_name="prompush""#.to_owned(),
            r#"telemetry_sdk_language="rust""#.to_owned(),
            format!(r#"telemetry_sdk_version="{version}""#),
        ] {
            assert!(info.contains(&label), "{label} missing from {info}");
        }
        assert!(!info.contains("opentelemetry"), "{info}");
    }

    #[test]
    fn a_resource_without_sdk_attributes_keeps_its_own() {
        let resource = Resource::builder_empty()
            .with_schema_url([KeyValue::new("host.name", "h1")], "https://example.com/s")
            .build();
        let info = target_info(resource);
        assert!(!info.contains("telemetry_sdk"), "{info}");
        assert!(info.contains(r#"host_name="h1""#), "{info}");
        let kept = super::naming_prompush(
            Resource::builder()
                .with_schema_url([KeyValue::new("a", "b")], "https://example.com/s")
                .build(),
        );
        assert_eq!(kept.schema_url(), Some("https://example.com/s"));
    }
}
