//! `ScaffoldApproval`: one person's decision on one `wait:approval` step of
//! one ScaffoldRequest. Who decided is not claimed by the object: the API
//! server writes it into `spec.approver` at create (the chart's
//! MutatingAdmissionPolicy), and the spec cannot change afterwards (its
//! ValidatingAdmissionPolicy).

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Requester;
use super::schema::OBJECT_NAME_PATTERN;

/// A decision on a `wait:approval` step of a ScaffoldRequest in the same
/// namespace. Who may create one is Kubernetes RBAC on `scaffoldapprovals`;
/// whether it counts is the step's `approvers`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "goldpath.dev",
    version = "v1alpha1",
    kind = "ScaffoldApproval",
    namespaced,
    shortname = "sap",
    category = "goldpath",
    derive = "PartialEq",
    doc = "A decision, approve or reject, on a wait:approval step of a ScaffoldRequest, with the approver recorded by the API server.",
    printcolumn(name = "Request", type_ = "string", json_path = ".spec.requestName"),
    printcolumn(name = "Step", type_ = "string", json_path = ".spec.stepId"),
    printcolumn(name = "Decision", type_ = "string", json_path = ".spec.decision"),
    printcolumn(name = "Approver", type_ = "string", json_path = ".spec.approver.username"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    // A step lists its own approvals by these, not every one of the namespace.
    selectable = ".spec.requestName",
    selectable = ".spec.stepId"
)]
#[serde(rename_all = "camelCase")]
pub struct ScaffoldApprovalSpec {
    /// The ScaffoldRequest, in this namespace, whose step this decides.
    #[schemars(regex(pattern = OBJECT_NAME_PATTERN), length(min = 1, max = 253))]
    pub request_name: String,

    /// The `id` of the request's `wait:approval` step.
    #[schemars(length(min = 1, max = 253))]
    pub step_id: String,

    /// `Approve` lets the request go on past the step; `Reject` fails the
    /// step with `reason`.
    pub decision: Decision,

    /// Why; a rejection's reason becomes the failed step's message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 1024))]
    pub reason: String,

    /// Who created this approval, as the API server authenticated them:
    /// written at create by the chart's MutatingAdmissionPolicy from the
    /// request's user info (whatever the creator put here is replaced), and
    /// never changed afterwards. An approval without it is not counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<Requester>,
}

/// An approver's decision.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The request may go on past the step.
    Approve,
    /// The step fails with the approval's reason.
    Reject,
}
