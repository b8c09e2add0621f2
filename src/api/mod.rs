//! The goldpath API: the custom resources of group `goldpath.dev`,
//! version `v1alpha1`, and the CRDs generated from them.
//!
//! The Rust types are the contract. The CRD YAML in `crds/` is generated from
//! them by `goldpath crds` and never edited by hand.

// `#[kube(printcolumn(..), printcolumn(..))]` repeats keys by design.
#![allow(clippy::duplicated_attributes)]

mod catalog_entity;
pub mod conditions;
mod refs;
mod scaffold_approval;
mod scaffold_request;
mod schema;
mod shared;
mod template;

pub use catalog_entity::{
    CatalogEntity, CatalogEntitySpec, CatalogEntityStatus, EntityKind, EntityLink, EntityProfile, Health,
    Relation, RelationType, SourceHealth, SourceStatus,
};
pub use refs::{EntityRef, RepoUrl};
pub use scaffold_approval::{Decision, ScaffoldApproval, ScaffoldApprovalSpec};
pub use scaffold_request::{
    DeletionPolicy, Phase, PullRequestRef, RequestOutput, Requester, ScaffoldRequest, ScaffoldRequestSpec,
    ScaffoldRequestStatus, StepPhase, StepStatus, TemplateRef, UpgradePolicy, UpgradeState, UpgradeStatus,
};
pub use shared::{Condition, SecretRef};
pub use template::{
    BACKSTAGE_API_VERSION, GitSource, OutputLink, OutputText, Step, Template, TemplateAccess, TemplateOutput,
    TemplateSource, TemplateSpec, TemplateStatus,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group of every goldpath resource.
pub const GROUP: &str = "goldpath.dev";

/// Every goldpath CRD, in a stable order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        Template::crd(),
        ScaffoldRequest::crd(),
        CatalogEntity::crd(),
        ScaffoldApproval::crd(),
    ]
}

/// Every goldpath CRD as one multi-document YAML stream, as `goldpath crds`
/// prints it and as `crds/goldpath.yaml` holds it.
pub fn crds_yaml() -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::new();
    for crd in crds() {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd)?);
    }
    Ok(out)
}
