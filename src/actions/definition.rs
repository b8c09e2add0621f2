//! The actions goldpath knows, each defined once: its Backstage name, the
//! JSON Schemas of its input and output (from the typed structs its input
//! is decoded into and its output is written from), which inputs are
//! secret (`writeOnly` in the input schema), and what it needs beyond the
//! workspace. The Template check, the step runner, `goldpath render` and
//! `scaffold` and the cluster all read these definitions; none of them
//! matches action names itself.

use schemars::{JsonSchema, Schema};
use serde_json::Value;

use super::approval::{ApprovalInput, ApprovalOutput};
use super::argocd::{ApplicationInput, ApplicationOutput};
use super::catalog::{FetchEntitiesInput, FetchEntitiesOutput, RegisterInput, RegisterOutput, WriteInput};
use super::fetch::{FetchPlainInput, FetchTemplateInput};
use super::fs::{DebugLogInput, DeleteInput, RenameInput};
use super::gated::{
    ApplicationWaitInput, ApplicationWaitOutput, ConditionWaitInput, ConditionWaitOutput, EntityWaitInput,
    EntityWaitOutput,
};
use super::github::{GithubPublishInput, RepoCreateInput, RepoCreateOutput, RepoPushInput};
use super::github_api::{BranchProtectionInput, DispatchInput, PagesInput, WebhookInput};
use super::gitlab::{GitlabPublishInput, GitlabPublishOutput};
use super::gitlab_api::{GroupInput, GroupOutput, MergeRequestInput, MergeRequestOutput};
use super::kubernetes::ApplyInput;
use super::publish::{PublishInput, PublishOutput};
use super::pull_request::{PullRequestInput, PullRequestOutput};
use super::wait::WaitInput;

/// Every action goldpath knows, in the order of [`ACTIONS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionKind {
    FetchTemplate,
    FetchTemplateFile,
    FetchPlain,
    FetchPlainFile,
    FsDelete,
    FsRename,
    DebugLog,
    CatalogWrite,
    PublishGithub,
    PublishGitlab,
    PublishGitlabMergeRequest,
    GitlabGroupEnsureExists,
    PublishGitea,
    PublishGiteaPullRequest,
    PublishGithubPullRequest,
    GithubRepoCreate,
    GithubRepoPush,
    GithubBranchProtection,
    GithubWebhook,
    GithubActionsDispatch,
    GithubPagesEnable,
    PublishGit,
    ArgocdCreateResources,
    CatalogRegister,
    CatalogFetch,
    KubernetesApply,
    DebugWait,
    WaitArgocdApplication,
    WaitCatalogEntity,
    WaitCondition,
    WaitApproval,
}

/// What an action needs besides the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Nothing: it reads the template's files and changes only the
    /// workspace, so it is pure and safe to run again when a request resumes.
    Workspace,
    /// A git server (and a forge's API where the host is one): it publishes.
    Forge,
    /// Writes to the cluster (the Argo CD Application, a manifest).
    Cluster,
    /// Reads or writes the software catalog.
    Catalog,
    /// Time: it waits (`debug:wait`). Done, it is not waited for again.
    Clock,
    /// Reads the cluster until what it waits for holds (a gated step,
    /// [`super::gate`]). Done, it is not waited for again.
    Gate,
}

/// Whether an action stays inside the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Changes only the workspace: pure, and safe to run again.
    Workspace,
    /// Acts on the world outside: git servers, the cluster, the catalog.
    World,
}

/// One action's definition.
#[derive(Clone, Copy, Debug)]
pub struct Action {
    /// Which action it is.
    pub kind: ActionKind,
    /// The Backstage name, e.g. `publish:github`.
    pub name: &'static str,
    /// What it needs besides the workspace.
    pub needs: Needs,
    input: fn() -> Schema,
    output: fn() -> Schema,
}

fn schema_of<T: JsonSchema>() -> Schema {
    schemars::schema_for!(T)
}

const fn define<I: JsonSchema, O: JsonSchema>(kind: ActionKind, name: &'static str, needs: Needs) -> Action {
    Action {
        kind,
        name,
        needs,
        input: schema_of::<I>,
        output: schema_of::<O>,
    }
}

/// The output of actions that report nothing.
#[derive(JsonSchema)]
pub struct NoOutput {}

use ActionKind as K;
use Needs as N;

/// Every action goldpath knows, a row per [`ActionKind`] in its order.
/// Backstage's `token` inputs are the secret
/// ones: goldpath fetches templates with the operator's credentials and
/// pushes with a step's token in place of the host's password.
pub const ACTIONS: &[Action] = &[
    define::<FetchTemplateInput, NoOutput>(K::FetchTemplate, "fetch:template", N::Workspace),
    define::<FetchTemplateInput, NoOutput>(K::FetchTemplateFile, "fetch:template:file", N::Workspace),
    define::<FetchPlainInput, NoOutput>(K::FetchPlain, "fetch:plain", N::Workspace),
    define::<FetchPlainInput, NoOutput>(K::FetchPlainFile, "fetch:plain:file", N::Workspace),
    define::<DeleteInput, NoOutput>(K::FsDelete, "fs:delete", N::Workspace),
    define::<RenameInput, NoOutput>(K::FsRename, "fs:rename", N::Workspace),
    define::<DebugLogInput, NoOutput>(K::DebugLog, "debug:log", N::Workspace),
    define::<WriteInput, NoOutput>(K::CatalogWrite, "catalog:write", N::Workspace),
    define::<GithubPublishInput, PublishOutput>(K::PublishGithub, "publish:github", N::Forge),
    define::<GitlabPublishInput, GitlabPublishOutput>(K::PublishGitlab, "publish:gitlab", N::Forge),
    define::<MergeRequestInput, MergeRequestOutput>(
        K::PublishGitlabMergeRequest,
        "publish:gitlab:merge-request",
        N::Forge,
    ),
    define::<GroupInput, GroupOutput>(K::GitlabGroupEnsureExists, "gitlab:group:ensureExists", N::Forge),
    define::<PublishInput, PublishOutput>(K::PublishGitea, "publish:gitea", N::Forge),
    define::<PullRequestInput, PullRequestOutput>(
        K::PublishGiteaPullRequest,
        "publish:gitea:pull-request",
        N::Forge,
    ),
    define::<PullRequestInput, PullRequestOutput>(
        K::PublishGithubPullRequest,
        "publish:github:pull-request",
        N::Forge,
    ),
    define::<RepoCreateInput, RepoCreateOutput>(K::GithubRepoCreate, "github:repo:create", N::Forge),
    define::<RepoPushInput, PublishOutput>(K::GithubRepoPush, "github:repo:push", N::Forge),
    define::<BranchProtectionInput, NoOutput>(
        K::GithubBranchProtection,
        "github:branch-protection:create",
        N::Forge,
    ),
    define::<WebhookInput, NoOutput>(K::GithubWebhook, "github:webhook", N::Forge),
    define::<DispatchInput, NoOutput>(K::GithubActionsDispatch, "github:actions:dispatch", N::Forge),
    define::<PagesInput, NoOutput>(K::GithubPagesEnable, "github:pages:enable", N::Forge),
    define::<PublishInput, PublishOutput>(K::PublishGit, "publish:git", N::Forge),
    define::<ApplicationInput, ApplicationOutput>(
        K::ArgocdCreateResources,
        "argocd:create-resources",
        N::Cluster,
    ),
    define::<RegisterInput, RegisterOutput>(K::CatalogRegister, "catalog:register", N::Catalog),
    define::<FetchEntitiesInput, FetchEntitiesOutput>(K::CatalogFetch, "catalog:fetch", N::Catalog),
    define::<ApplyInput, NoOutput>(K::KubernetesApply, "kubernetes:apply", N::Cluster),
    define::<WaitInput, NoOutput>(K::DebugWait, "debug:wait", N::Clock),
    define::<ApplicationWaitInput, ApplicationWaitOutput>(
        K::WaitArgocdApplication,
        "wait:argocd-application",
        N::Gate,
    ),
    define::<EntityWaitInput, EntityWaitOutput>(K::WaitCatalogEntity, "wait:catalog-entity", N::Gate),
    define::<ConditionWaitInput, ConditionWaitOutput>(K::WaitCondition, "wait:condition", N::Gate),
    define::<ApprovalInput, ApprovalOutput>(K::WaitApproval, "wait:approval", N::Gate),
];

/// The action named `name`, or `None` for one goldpath does not know.
pub fn find(name: &str) -> Option<&'static Action> {
    ACTIONS.iter().find(|action| action.name == name)
}

/// How far an action reaches, or `None` for an action goldpath does not know.
pub fn reach(name: &str) -> Option<Reach> {
    find(name).map(Action::reach)
}

impl ActionKind {
    /// This action's definition.
    pub fn definition(self) -> &'static Action {
        // The table has a row per kind, in its order (held by a test).
        &ACTIONS[self as usize]
    }
}

impl Action {
    /// Whether it stays inside the workspace.
    pub fn reach(&self) -> Reach {
        match self.needs {
            Needs::Workspace => Reach::Workspace,
            Needs::Forge | Needs::Cluster | Needs::Catalog | Needs::Clock | Needs::Gate => Reach::World,
        }
    }

    /// The JSON Schema of its input.
    pub fn input_schema(&self) -> Schema {
        (self.input)()
    }

    /// The JSON Schema of its output.
    pub fn output_schema(&self) -> Schema {
        (self.output)()
    }

    /// The inputs its schema names.
    pub fn inputs(&self) -> Vec<String> {
        self.input_properties(|_| true)
    }

    /// The inputs a step must give.
    pub fn required_inputs(&self) -> Vec<String> {
        let schema = self.input_schema();
        schema
            .get("required")
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The inputs that may hold `${{ secrets.* }}`: ones the action uses as
    /// credentials and never shows (`writeOnly` in its schema). A secret
    /// anywhere else (another input, `if`, `each`, the output) is refused
    /// when the Template is checked, since any other place can end up in
    /// status, Events, logs or files.
    pub fn secret_inputs(&self) -> Vec<String> {
        self.input_properties(|property| property.get("writeOnly") == Some(&Value::Bool(true)))
    }

    fn input_properties(&self, keep: impl Fn(&Value) -> bool) -> Vec<String> {
        let schema = self.input_schema();
        schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|properties| {
                properties
                    .iter()
                    .filter(|(_, property)| keep(property))
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_definition_and_every_name_one_kind() {
        for (index, action) in ACTIONS.iter().enumerate() {
            assert_eq!(action.kind as usize, index, "{}", action.name);
            assert_eq!(action.kind.definition().name, action.name);
            assert_eq!(find(action.name).map(|a| a.kind), Some(action.kind));
        }
        let names: std::collections::BTreeSet<_> = ACTIONS.iter().map(|a| a.name).collect();
        assert_eq!(names.len(), ACTIONS.len());
        assert_eq!(ACTIONS.len(), ActionKind::WaitApproval as usize + 1);
    }

    #[test]
    fn schemas_are_json_schema_objects_with_backstage_names() {
        for action in ACTIONS {
            let input = action.input_schema();
            assert_eq!(input.get("type"), Some(&Value::from("object")), "{}", action.name);
            let output = action.output_schema();
            assert_eq!(
                output.get("type"),
                Some(&Value::from("object")),
                "{}",
                action.name
            );
        }
        let publish = ActionKind::PublishGitea.definition();
        assert_eq!(publish.required_inputs(), ["repoUrl"]);
        assert!(
            publish
                .inputs()
                .contains(&"requiredApprovingReviewCount".to_string())
        );
        let output = publish.output_schema();
        let properties = output.get("properties").and_then(Value::as_object).unwrap();
        let names: Vec<&str> = properties.keys().map(String::as_str).collect();
        assert_eq!(names, ["remoteUrl", "repoContentsUrl", "commitHash"]);
    }

    #[test]
    fn only_tokens_are_secret() {
        for action in ACTIONS {
            let mut secret = action.secret_inputs();
            // A webhook's secret signs its payloads: a credential too.
            if action.kind == ActionKind::GithubWebhook {
                secret.sort();
                assert_eq!(secret, ["token", "webhookSecret"]);
                secret.retain(|name| name == "token");
            }
            assert!(
                secret.iter().all(|name| name == "token"),
                "{}: {secret:?}",
                action.name
            );
            let takes_token = matches!(action.needs, Needs::Forge) || action.name.starts_with("fetch:");
            assert_eq!(secret == ["token"], takes_token, "{}", action.name);
        }
    }
}
