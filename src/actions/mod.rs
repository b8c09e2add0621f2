//! The actions a step runs, by their Backstage names and with Backstage's
//! input and output names. Actions that only change the workspace are run
//! here; actions with an effect outside it (publishing, registering,
//! applying) are described here and carried out by an [`Effects`]
//! implementation: the cluster's, or the local one of `goldpath scaffold`.

pub mod approval;
pub mod argocd;
pub mod catalog;
mod definition;
pub mod fetch;
mod fs;
pub mod gate;
pub mod gated;
pub mod github;
pub mod github_api;
pub mod github_steps;
pub mod gitlab;
pub mod gitlab_api;
pub mod input;
pub mod kubernetes;
pub mod publish;
pub mod pull_request;
pub mod push;
pub mod push_gitlab;
pub mod reference;
pub mod wait;

use serde::Serialize;
use serde_json::Value;

pub use definition::{ACTIONS, Action, ActionKind, Needs, Reach, find, reach};
use input::decode;

use crate::engine::expression::Renderer;
use crate::engine::files::{FileTree, TemplateFiles};

/// Label on every object a request created in the cluster: the request's UID.
pub const REQUEST_UID_LABEL: &str = "goldpath.dev/scaffold-request-uid";
/// Annotation on every object a request created: `<namespace>/<name>` of the request.
pub const REQUEST_ANNOTATION: &str = "goldpath.dev/scaffold-request";

/// Ties `object` to the request that creates it: the annotation always, the
/// label when the request has a UID (in the cluster).
pub fn mark(object: &mut Value, request: &str, uid: Option<&str>) {
    if let Some(uid) = uid {
        object["metadata"]["labels"][REQUEST_UID_LABEL] = Value::String(uid.to_string());
    }
    object["metadata"]["annotations"][REQUEST_ANNOTATION] = Value::String(request.to_string());
}

/// Why an action failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ActionError {
    /// What went wrong and what to change.
    pub message: String,
    /// Whether trying again later may succeed (a server down), rather than
    /// needing a change to the template or request.
    pub transient: bool,
    /// How long to wait before trying again, when the server said (a rate
    /// limit's reset); the usual backoff otherwise. For an answer that
    /// waits, when to look again.
    pub retry_after: Option<std::time::Duration>,
    /// Not a failure: the step waits for what `message` says, and is looked
    /// at again after `retry_after` ([`gate`]).
    pub waiting: bool,
}

impl ActionError {
    /// A failure that needs a change to the template or request.
    pub fn permanent(message: impl Into<String>) -> Self {
        ActionError {
            message: message.into(),
            transient: false,
            retry_after: None,
            waiting: false,
        }
    }

    /// A failure that needs a change (`transient` false) or may pass later.
    pub fn new(message: impl Into<String>, transient: bool) -> Self {
        ActionError {
            message: message.into(),
            transient,
            retry_after: None,
            waiting: false,
        }
    }

    /// A failure that may pass if tried again later.
    pub fn transient(message: impl Into<String>) -> Self {
        ActionError {
            message: message.into(),
            transient: true,
            retry_after: None,
            waiting: false,
        }
    }
}

/// What an action sees besides its input.
pub struct ActionContext<'a> {
    /// The template's files (inline or from its git source).
    pub template_files: &'a TemplateFiles,
    /// Renders skeleton files with the request's limits and deadline.
    pub renderer: &'a Renderer,
    /// Lines the action logs (shown by the CLI, recorded in Events).
    pub log: &'a mut Vec<String>,
}

/// Runs an action that stays inside the workspace on its rendered `input`;
/// returns its output.
pub fn run_in_workspace(
    kind: ActionKind,
    input: &Value,
    context: &mut ActionContext,
    workspace: &mut FileTree,
) -> Result<Value, ActionError> {
    use ActionKind as K;
    match kind {
        K::FetchTemplate => fetch::template(&decode(input)?, context, workspace, false)?,
        K::FetchTemplateFile => fetch::template(&decode(input)?, context, workspace, true)?,
        K::FetchPlain => fetch::plain(&decode(input)?, context, workspace, false)?,
        K::FetchPlainFile => fetch::plain(&decode(input)?, context, workspace, true)?,
        K::FsDelete => fs::delete(&decode(input)?, workspace)?,
        K::FsRename => fs::rename(&decode(input)?, workspace)?,
        K::DebugLog => fs::debug_log(&decode(input)?, context, workspace),
        K::CatalogWrite => catalog::write(&decode(input)?, workspace)?,
        other => {
            return Err(ActionError::permanent(format!(
                "{} is not an action that runs in the workspace",
                other.definition().name
            )));
        }
    }
    Ok(Value::Object(Default::default()))
}

/// The decoded input of an action that reaches outside the workspace.
#[derive(Debug, Clone)]
pub enum WorldInput {
    /// `publish:gitea`, `publish:git`.
    Publish(ActionKind, publish::PublishInput),
    /// `publish:gitlab`.
    PublishGitlab(Box<gitlab::GitlabPublishInput>),
    /// `publish:gitlab:merge-request`.
    GitlabMergeRequest(Box<gitlab_api::MergeRequestInput>),
    /// `gitlab:group:ensureExists`.
    GitlabGroup(Box<gitlab_api::GroupInput>),
    /// `publish:github`.
    PublishGithub(Box<github::GithubPublishInput>),
    /// `github:repo:create`.
    GithubRepoCreate(Box<github::RepoCreateInput>),
    /// `github:repo:push`.
    GithubRepoPush(Box<github::RepoPushInput>),
    /// `github:branch-protection:create`.
    GithubBranchProtection(Box<github_api::BranchProtectionInput>),
    /// `github:webhook`.
    GithubWebhook(Box<github_api::WebhookInput>),
    /// `github:actions:dispatch`.
    GithubActionsDispatch(Box<github_api::DispatchInput>),
    /// `github:pages:enable`.
    GithubPagesEnable(Box<github_api::PagesInput>),
    /// `publish:gitea:pull-request`, `publish:github:pull-request`.
    PullRequest(ActionKind, pull_request::PullRequestInput),
    /// `argocd:create-resources`.
    Application(argocd::ApplicationInput),
    /// `catalog:register`.
    Register(catalog::RegisterInput),
    /// `catalog:fetch`.
    FetchEntities(catalog::FetchEntitiesInput),
    /// `kubernetes:apply`.
    Apply(kubernetes::ApplyInput),
    /// `debug:wait`: how long.
    Wait(std::time::Duration),
    /// `wait:argocd-application`, `wait:catalog-entity`, `wait:condition`,
    /// `wait:approval`.
    Gate(gated::Gate),
    /// An action goldpath does not know, by its name: `goldpath render`
    /// shows it as not run; anywhere else it fails.
    Unknown(String),
}

impl WorldInput {
    /// Decodes the rendered `input` of a `kind` step.
    pub fn decode(kind: ActionKind, input: &Value) -> Result<WorldInput, ActionError> {
        use ActionKind as K;
        Ok(match kind {
            K::PublishGitea | K::PublishGit => WorldInput::Publish(kind, decode(input)?),
            K::PublishGitlab => WorldInput::PublishGitlab(Box::new(decode(input)?)),
            K::PublishGitlabMergeRequest => WorldInput::GitlabMergeRequest(Box::new(decode(input)?)),
            K::GitlabGroupEnsureExists => WorldInput::GitlabGroup(Box::new(decode(input)?)),
            K::PublishGithub => WorldInput::PublishGithub(Box::new(decode(input)?)),
            K::GithubRepoCreate => WorldInput::GithubRepoCreate(Box::new(decode(input)?)),
            K::GithubRepoPush => WorldInput::GithubRepoPush(Box::new(decode(input)?)),
            K::GithubBranchProtection => WorldInput::GithubBranchProtection(Box::new(decode(input)?)),
            K::GithubWebhook => WorldInput::GithubWebhook(Box::new(decode(input)?)),
            K::GithubActionsDispatch => WorldInput::GithubActionsDispatch(Box::new(decode(input)?)),
            K::GithubPagesEnable => WorldInput::GithubPagesEnable(Box::new(decode(input)?)),
            K::PublishGiteaPullRequest | K::PublishGithubPullRequest => {
                WorldInput::PullRequest(kind, decode(input)?)
            }
            K::ArgocdCreateResources => WorldInput::Application(decode(input)?),
            K::CatalogRegister => WorldInput::Register(decode(input)?),
            K::CatalogFetch => WorldInput::FetchEntities(decode(input)?),
            K::KubernetesApply => {
                let apply: kubernetes::ApplyInput = decode(input)?;
                if apply.namespace_scoped == Some(false) {
                    return Err(ActionError::permanent(
                        "input.namespaceScoped: false asks for a cluster-scoped object; kubernetes:apply \
                         writes namespaced objects only",
                    ));
                }
                WorldInput::Apply(apply)
            }
            K::DebugWait => WorldInput::Wait(wait::duration(&decode(input)?)?),
            K::WaitArgocdApplication => WorldInput::Gate(gated::Gate::Application(decode(input)?)),
            K::WaitCatalogEntity => WorldInput::Gate(gated::Gate::Entity(decode(input)?)),
            K::WaitCondition => WorldInput::Gate(gated::Gate::Condition(decode(input)?)),
            K::WaitApproval => {
                let approval: approval::ApprovalInput = decode(input)?;
                approval.check()?;
                WorldInput::Gate(gated::Gate::Approval(approval))
            }
            other => {
                return Err(ActionError::permanent(format!(
                    "{} runs in the workspace",
                    other.definition().name
                )));
            }
        })
    }
}

/// A line a `kind` step that succeeded with `output` logs, so its message
/// says what its output holds: who approved a `wait:approval` step.
pub fn note(kind: ActionKind, output: &Value) -> Option<String> {
    match kind {
        ActionKind::WaitApproval => approval::note(output),
        _ => None,
    }
}

/// An action's typed output as the step's output.
pub fn output<T: Serialize>(output: &T) -> Value {
    serde_json::to_value(output).unwrap_or_default()
}

/// Carries out the actions that reach outside the workspace.
pub trait Effects {
    /// Runs the step's action with its decoded `input` on the finished
    /// `workspace` and returns its output, under Backstage's output names.
    fn run(&mut self, input: &WorldInput, workspace: &FileTree) -> Result<Value, ActionError>;
}

/// The effects of a render that must leave nothing behind (`goldpath
/// render`, the portal API's dry run): none. Steps that reach outside the
/// workspace are shown with their rendered input, not run.
pub struct PlannedEffects;

impl Effects for PlannedEffects {
    fn run(&mut self, _: &WorldInput, _: &FileTree) -> Result<Value, ActionError> {
        Ok(Value::Object(serde_json::Map::new()))
    }
}

/// The effects of the actions that reach outside the workspace, where
/// they run (the cluster, or this machine for `goldpath scaffold`).
/// Publishing is [`push::Publisher`]'s; the step runner reaches both
/// through [`Effects`], so each place carries out every action, decoded
/// the same way.
pub trait World: push::Publisher {
    /// `argocd:create-resources`.
    fn create_application(
        &mut self,
        input: &argocd::ApplicationInput,
    ) -> Result<argocd::ApplicationOutput, ActionError>;
    /// `catalog:register`.
    fn register(&mut self, input: &catalog::RegisterInput) -> Result<catalog::RegisterOutput, ActionError>;
    /// `catalog:fetch`.
    fn fetch_entities(
        &mut self,
        input: &catalog::FetchEntitiesInput,
    ) -> Result<catalog::FetchEntitiesOutput, ActionError>;
    /// `kubernetes:apply`.
    fn apply_manifest(&mut self, input: &kubernetes::ApplyInput) -> Result<(), ActionError>;
    /// `debug:wait`, once [`WorldInput::decode`] has read how long.
    fn wait(&mut self, duration: std::time::Duration) -> Result<(), ActionError>;
    /// A gated step: looks once at what it waits for, and answers its
    /// output, failed, or waiting ([`gate`]).
    fn look(&mut self, gate: &gated::Gate) -> Result<Value, ActionError>;
}

impl<W: World> Effects for W {
    fn run(&mut self, input: &WorldInput, workspace: &FileTree) -> Result<Value, ActionError> {
        Ok(match input {
            WorldInput::Publish(kind, input) => output(&push::publish(self, *kind, input, workspace)?),
            WorldInput::PublishGithub(input) => output(&push::publish_github(self, input, workspace)?),
            WorldInput::PublishGitlab(input) => output(&push_gitlab::publish_gitlab(self, input, workspace)?),
            WorldInput::GitlabMergeRequest(input) => {
                output(&push_gitlab::gitlab_merge_request(self, input, workspace)?)
            }
            WorldInput::GitlabGroup(input) => output(&push_gitlab::gitlab_group(self, input)?),
            WorldInput::GithubRepoCreate(input) => output(&push::github_repo_create(self, input)?),
            WorldInput::GithubRepoPush(input) => output(&push::github_repo_push(self, input, workspace)?),
            WorldInput::GithubBranchProtection(input) => github_steps::github_branch_protection(self, input)?,
            WorldInput::GithubWebhook(input) => github_steps::github_webhook(self, input)?,
            WorldInput::GithubActionsDispatch(input) => github_steps::github_dispatch(self, input)?,
            WorldInput::GithubPagesEnable(input) => github_steps::github_pages(self, input)?,
            WorldInput::PullRequest(kind, input) => {
                output(&push::pull_request(self, *kind, input, workspace)?)
            }
            WorldInput::Application(input) => output(&self.create_application(input)?),
            WorldInput::Register(input) => output(&self.register(input)?),
            WorldInput::FetchEntities(input) => output(&self.fetch_entities(input)?),
            WorldInput::Apply(input) => {
                self.apply_manifest(input)?;
                Value::Object(Default::default())
            }
            WorldInput::Wait(duration) => {
                self.wait(*duration)?;
                Value::Object(Default::default())
            }
            WorldInput::Gate(gate) => self.look(gate)?,
            WorldInput::Unknown(name) => {
                return Err(ActionError::permanent(format!("unknown action {name:?}")));
            }
        })
    }
}

pub(crate) fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
