//! Schema pieces that schemars cannot derive on its own: free-form fields,
//! condition lists merged by type, and the patterns shared by several
//! resources.

use schemars::{Schema, SchemaGenerator, json_schema};

use super::Condition;

/// A Backstage entity reference, `[kind:][namespace/]name`.
pub const ENTITY_REF_PATTERN: &str =
    r"^([A-Za-z][A-Za-z0-9]*:)?([A-Za-z0-9]+(-[A-Za-z0-9]+)*/)?[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*$";

/// A Backstage tag: lowercase words joined by `-`, with `:`, `+` and `#` allowed.
pub const TAG_PATTERN: &str = r"^[a-z0-9:+#]+(-[a-z0-9:+#]+)*$";

/// A Kubernetes object name (DNS-1123 subdomain).
pub const OBJECT_NAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// A Kubernetes namespace name (DNS-1123 label).
pub const NAMESPACE_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// Any JSON value, kept as written: JSON Schema, step inputs, expressions.
pub fn free_form(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "x-kubernetes-preserve-unknown-fields": true })
}

/// A JSON object whose keys are the user's: parameters, step inputs and outputs.
pub fn free_form_object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
}

/// A list of JSON objects whose keys are the user's.
pub fn free_form_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
    })
}

/// A list of conditions, one per type, merged by type under server-side apply.
pub fn conditions(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<Condition>();
    json_schema!({
        "type": "array",
        "items": item,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
    })
}

/// A list of entity references.
pub fn entity_refs(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": { "type": "string", "pattern": ENTITY_REF_PATTERN, "maxLength": 253 },
    })
}

/// A list of Backstage tags.
pub fn tags(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "maxItems": 64,
        "items": { "type": "string", "pattern": TAG_PATTERN, "maxLength": 63 },
    })
}
