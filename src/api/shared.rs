//! Types more than one resource uses.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

use super::schema::OBJECT_NAME_PATTERN;

/// A standard Kubernetes condition (`type`, `status`, `reason`, `message`,
/// `lastTransitionTime`, `observedGeneration`), as kstatus reads them.
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

/// A reference to a Secret in the referring object's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Name of the Secret.
    #[schemars(regex(pattern = OBJECT_NAME_PATTERN), length(min = 1, max = 253))]
    pub name: String,
}
