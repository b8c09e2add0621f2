//! `kubernetes:apply`: the object a step applies, as YAML or an object.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::ActionError;

/// The input of `kubernetes:apply`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
pub struct ApplyInput {
    /// The object to apply: YAML text or an object.
    #[schemars(with = "ManifestSchema")]
    pub manifest: Value,
    /// Whether the object is namespaced; `false` (a cluster-scoped object)
    /// is refused: goldpath writes namespaced objects only.
    #[serde(rename = "namespaceScoped")]
    pub namespace_scoped: Option<bool>,
}

/// The shapes `manifest` takes, for its schema.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ManifestSchema {
    Yaml(String),
    Object(serde_json::Map<String, Value>),
}

impl ApplyInput {
    /// The object to apply.
    pub fn object(&self) -> Result<Value, ActionError> {
        match &self.manifest {
            Value::String(text) => crate::yaml::document::<Value>(text)
                .map_err(|e| ActionError::permanent(format!("input.manifest: invalid YAML: {e}"))),
            object @ Value::Object(_) => Ok(object.clone()),
            _ => Err(ActionError::permanent(
                "input.manifest is required: a Kubernetes object, as YAML or an object",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::actions::{ActionKind, WorldInput};

    #[test]
    fn a_cluster_scoped_object_is_refused_by_name_and_a_namespaced_one_taken() {
        let error = WorldInput::decode(
            ActionKind::KubernetesApply,
            &json!({"manifest": {"kind": "ConfigMap"}, "namespaceScoped": false}),
        )
        .unwrap_err();
        assert!(
            error.message.starts_with("input.namespaceScoped: "),
            "{}",
            error.message
        );
        let taken = WorldInput::decode(
            ActionKind::KubernetesApply,
            &json!({"manifest": {"kind": "ConfigMap"}, "namespaceScoped": true}),
        );
        assert!(matches!(taken, Ok(WorldInput::Apply(_))));
    }
}
