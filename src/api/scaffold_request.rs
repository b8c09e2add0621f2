//! `ScaffoldRequest`: a request to instantiate a Template. Its status is the
//! checkpoint a restarted operator resumes from.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::schema::{self, NAMESPACE_PATTERN, OBJECT_NAME_PATTERN};
use super::{Condition, EntityRef, OutputLink, OutputText, SecretRef};

/// A request to instantiate a Template: render it with these parameters,
/// publish the result, register it and deploy it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "goldpath.dev",
    version = "v1alpha1",
    kind = "ScaffoldRequest",
    namespaced,
    shortname = "sr",
    category = "goldpath",
    status = "ScaffoldRequestStatus",
    derive = "PartialEq",
    doc = "A request to instantiate a Template: its steps run in order, each one's outcome recorded in status.",
    printcolumn(name = "Template", type_ = "string", json_path = ".spec.templateRef.name"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Repository", type_ = "string", json_path = ".status.repository"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct ScaffoldRequestSpec {
    /// The Template to instantiate.
    pub template_ref: TemplateRef,

    /// Values for the template's parameters, checked against its JSON Schema.
    /// Read in the template as `${{ parameters.name }}`.
    #[serde(default, skip_serializing_if = "is_empty_object")]
    #[schemars(schema_with = "schema::free_form_object")]
    pub parameters: Value,

    /// A Secret in the request's namespace whose keys the template reads as
    /// `${{ secrets.key }}`. Secret values never appear in status, events or logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,

    /// What deleting this request does to what it created. `Retain` (the
    /// default) keeps everything; `Delete` removes the Argo CD Application and
    /// CatalogEntity it created. The repository is never deleted.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Who created the request, as the API server authenticated them:
    /// written at create by the chart's MutatingAdmissionPolicy from the
    /// request's user info (whatever the creator put here is replaced), and
    /// never changed afterwards (its ValidatingAdmissionPolicy). Steps act
    /// on the cluster only as far as this user may; a request without it is
    /// not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<Requester>,

    /// `true` stops the request after the step that is running (phase
    /// `Cancelled`); nothing it made is deleted. Setting it back to `false`
    /// resumes the request where it stopped.
    #[serde(default, skip_serializing_if = "is_false")]
    pub cancel: bool,

    /// Raise it (e.g. from 0 to 1) to retry a Failed request: it resumes at
    /// the step that failed, keeping what every finished step recorded.
    /// Any other change to a Failed request's spec starts it over at the
    /// first step.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = 0))]
    pub retry: i64,

    /// What a Succeeded request does when its Template gets a new revision
    /// or its parameters change. `None` (the default) does nothing;
    /// `PullRequest` proposes the re-rendered difference to the repository
    /// it published as one pull request, tracked in `status.upgrades`.
    #[serde(default, skip_serializing_if = "UpgradePolicy::is_none")]
    pub upgrade_policy: UpgradePolicy,
}

/// What a Succeeded request does when its Template or parameters change.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UpgradePolicy {
    /// Nothing: a changed spec is reported as `SpecChanged`.
    #[default]
    None,
    /// A pull request into the published repository's default branch, with
    /// the template's change three-way merged into what the branch holds.
    PullRequest,
}

impl UpgradePolicy {
    fn is_none(&self) -> bool {
        *self == UpgradePolicy::None
    }
}

fn is_false(value: &bool) -> bool {
    !value
}

fn is_zero(value: &i64) -> bool {
    *value == 0
}

/// A Kubernetes user, as the API server authenticated them.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Requester {
    /// The user name, e.g. `jane@example.com` or
    /// `system:serviceaccount:team-a:ci`.
    pub username: String,
    /// The user's UID, when the authenticator gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The groups the user belongs to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

impl ScaffoldRequest {
    /// `${{ user }}` from the request's `spec.requester`, which the API server
    /// stamped: `user:default/<name>`, the Kubernetes user name with what an
    /// entity name cannot hold (`:`, `@`, ...) turned into `-`, cut to 63
    /// characters. Annotations are not read: anyone who writes the request
    /// could set them.
    pub fn user(&self) -> Value {
        self.spec.requester.as_ref().map_or(Value::Null, Requester::user)
    }
}

impl Requester {
    /// `${{ user }}` of what this user asks for: `user:default/<name>`, the
    /// Kubernetes user name with what an entity name cannot hold (`:`, `@`,
    /// ...) turned into `-`, cut to 63 characters.
    pub fn user(&self) -> Value {
        let requester = self;
        let name: String = requester
            .username
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '-'
                }
            })
            .take(63)
            .collect();
        let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        match EntityRef::parse(name, Some("user"), Some("default")) {
            Ok(parsed) => json!({
                "ref": parsed.to_string(),
                "entity": {
                    "apiVersion": "backstage.io/v1alpha1",
                    "kind": "User",
                    "metadata": { "name": parsed.name, "namespace": parsed.namespace },
                },
                "kubernetes": { "username": requester.username, "groups": requester.groups },
            }),
            Err(_) => Value::Null,
        }
    }
}

fn is_empty_object(value: &Value) -> bool {
    value.is_null() || value.as_object().is_some_and(|o| o.is_empty())
}

/// A reference to a Template.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRef {
    /// Name of the Template.
    #[schemars(regex(pattern = OBJECT_NAME_PATTERN), length(min = 1, max = 253))]
    pub name: String,

    /// Namespace of the Template; defaults to the request's own. A Template in
    /// another namespace must grant access to this one in `spec.access`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAMESPACE_PATTERN), length(max = 63))]
    pub namespace: Option<String>,
}

/// What deleting a request does to what it created.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeletionPolicy {
    /// Keep the Application and CatalogEntity.
    #[default]
    Retain,
    /// Delete the Application and CatalogEntity (never the repository).
    Delete,
}

/// Where a request is in its life.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Accepted; no step has started.
    Pending,
    /// Steps are running, or waiting to be retried.
    Running,
    /// Every step succeeded or was skipped.
    Succeeded,
    /// A step failed in a way a retry cannot fix; the message says what to change.
    Failed,
    /// Stopped as `spec.cancel` asked, after the step that was running.
    Cancelled,
}

/// Where a step is in its life.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepPhase {
    /// Not started.
    Pending,
    /// Started, not finished.
    Running,
    /// Finished; its output is recorded.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Not run, because its `if` was falsy.
    Skipped,
}

/// The observed state of a ScaffoldRequest.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ScaffoldRequestStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Where the request is: Pending, Running, Succeeded, Failed or
    /// Cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// The `spec.retry` this status has acted on: a Failed request whose
    /// `spec.retry` differs resumes at its failed step.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub observed_retry: i64,

    /// `Ready`, `Reconciling` and `Stalled`, as kstatus reads them, so that
    /// `kubectl wait --for=condition=Ready` works.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::conditions")]
    pub conditions: Vec<Condition>,

    /// The Template revision this request renders against, pinned when it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_revision: Option<String>,

    /// URL of the repository the request published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,

    /// One entry per step, in order: the checkpoint a restarted operator
    /// resumes from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000))]
    pub steps: Vec<StepStatus>,

    /// The template's output, rendered once the request succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<RequestOutput>,

    /// What Backstage renders but is likely a mistake (`undefined` in
    /// arithmetic), found while rendering the request's steps, each naming
    /// the step, field, file and line; at most 100 and a last line saying
    /// more were left out. The request goes on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 101))]
    pub warnings: Vec<String>,

    /// The parameters, defaults applied, that the repository's content was
    /// rendered with: the request's own, then a merged upgrade's. Recorded
    /// only with `spec.upgradePolicy: PullRequest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form_object")]
    pub applied_parameters: Option<Value>,

    /// The pull requests that proposed a new template revision or new
    /// parameters, oldest first; at most 20 (the oldest finished ones make
    /// room).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub upgrades: Vec<UpgradeStatus>,
}

/// One proposed upgrade of a request's repository.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStatus {
    /// The template revision the repository was rendered from.
    pub from: String,
    /// The template revision proposed.
    pub to: String,
    /// The request's `metadata.generation` whose parameters are proposed.
    pub generation: i64,
    /// The branch the change is pushed to.
    pub branch: String,
    /// The repository the pull request was opened in (its git URL, without
    /// credentials): the pull request is looked at there only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// The pull request, once opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PullRequestRef>,
    /// `Open` until the pull request is merged (`Merged`: the request's
    /// `templateRevision` advances to `to`) or closed (`Closed`: not
    /// proposed again for this revision and generation).
    pub state: UpgradeState,
    /// Paths the merge could not settle: text files hold conflict markers,
    /// others keep the repository's version. At most 100.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub conflicts: Vec<String>,
    /// How many conflicting paths were left out of `conflicts`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conflicts_omitted: i64,
    /// What goldpath last could not do for this upgrade, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The parameters proposed, while the pull request is open: they become
    /// `appliedParameters` when it is merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form_object")]
    pub parameters: Option<Value>,
}

/// A pull request on the repository's forge.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestRef {
    /// Its page.
    pub url: String,
    /// Its number in the repository.
    pub number: i64,
}

/// Where a proposed upgrade is.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UpgradeState {
    /// Waiting for review; a newer revision or parameter change updates it.
    #[default]
    Open,
    /// Merged into the default branch.
    Merged,
    /// Closed without merging.
    Closed,
}

/// The rendered output of a request.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RequestOutput {
    /// Rendered links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub links: Vec<OutputLink>,

    /// Rendered text blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub text: Vec<OutputText>,
}

/// The outcome of one step.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StepStatus {
    /// The step's id (or `step-N` for a step without one).
    pub id: String,

    /// The step's action.
    pub action: String,

    /// Where the step is.
    pub phase: StepPhase,

    /// When the step started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,

    /// When the step finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,

    /// When a resume (`spec.retry`, or `spec.cancel` cleared) last set the
    /// step going again after it failed: its current attempt began then
    /// (`startedAt` keeps the first attempt's start). A `wait:approval`
    /// step counts only approvals made after its attempt began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_at: Option<Time>,

    /// The request's `metadata.generation` the step last ran at: a step run
    /// again after a retry or a resume ran at a later one, which orders its
    /// events after those told of its earlier run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<i64>,

    /// When a `debug:wait` step's wait ends: the request is looked at again
    /// then, and no thread waits meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_until: Option<Time>,

    /// What happened, or what went wrong and what to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,

    /// The step's output, read by later steps as `steps['id'].output`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::free_form_object")]
    pub output: Option<Value>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request() -> ScaffoldRequest {
        serde_json::from_value(json!({
            "apiVersion": "goldpath.dev/v1alpha1",
            "kind": "ScaffoldRequest",
            "metadata": {
                "name": "r", "namespace": "team", "generation": 1,
                "annotations": { "goldpath.dev/requested-by": "the-cto" },
            },
            "spec": {
                "templateRef": { "name": "t" },
                "requester": { "username": "oidc:jane@example.com", "groups": ["team"] },
            },
        }))
        .unwrap()
    }

    #[test]
    fn the_user_is_the_stamped_requester_never_an_annotation() {
        let user = request().user();
        assert_eq!(user["ref"], "user:default/oidc-jane-example.com");
        assert_eq!(user["entity"]["metadata"]["name"], "oidc-jane-example.com");
        assert_eq!(user["kubernetes"]["username"], "oidc:jane@example.com");
        let mut long = request();
        long.spec.requester = Some(Requester {
            username: format!("system:serviceaccount:team:{}", "x".repeat(100)),
            ..Default::default()
        });
        let name = long.user()["entity"]["metadata"]["name"].clone();
        assert_eq!(name.as_str().unwrap().len(), 63);
        let mut anonymous = request();
        anonymous.spec.requester = None;
        assert_eq!(anonymous.user(), Value::Null);
    }
}
