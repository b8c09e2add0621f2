//! The actions a step runs, by their Backstage names and with Backstage's
//! input and output names. Actions that only change the workspace are run
//! here; actions with an effect outside it (publishing, registering,
//! applying) are described here and carried out by an [`Effects`]
//! implementation: the cluster's, or the local one of `goldpath scaffold`.

pub mod argocd;
pub mod catalog;
pub mod fetch;
mod fs;
pub mod publish;
pub mod pull_request;

use serde_json::Value;

use crate::engine::expression::Renderer;
use crate::engine::files::FileTree;

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

/// Whether an action stays inside the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// Reads the template's files and changes only the workspace: pure, and
    /// safe to run again when a request resumes.
    Workspace,
    /// Acts on the world outside: git servers, the cluster, the catalog.
    World,
}

/// One action goldpath knows: its name, how far it reaches, and which of
/// its inputs are secret.
#[derive(Clone, Copy, Debug)]
pub struct Action {
    /// The Backstage name, e.g. `publish:github`.
    pub name: &'static str,
    /// Whether it stays inside the workspace.
    pub reach: Reach,
    /// The inputs that may hold `${{ secrets.* }}`: ones the action uses as
    /// credentials and never shows. A secret anywhere else (another input,
    /// `if`, `each`, the output) is refused when the Template is checked,
    /// since any other place can end up in status, Events, logs or files.
    pub secret_inputs: &'static [&'static str],
    /// Every input the action takes, for actions that declare them: any
    /// other is refused when the Template is checked, so none is silently
    /// dropped. `None` for actions whose inputs are not declared yet.
    pub inputs: Option<&'static [&'static str]>,
}

const fn action(name: &'static str, reach: Reach, secret_inputs: &'static [&'static str]) -> Action {
    Action {
        name,
        reach,
        secret_inputs,
        inputs: None,
    }
}

const fn declared(
    name: &'static str,
    reach: Reach,
    secret_inputs: &'static [&'static str],
    inputs: &'static [&'static str],
) -> Action {
    Action {
        name,
        reach,
        secret_inputs,
        inputs: Some(inputs),
    }
}

/// The inputs of `publish:gitea:pull-request`: those of Backstage's
/// `publish:github:pull-request` that Gitea has.
pub const PULL_REQUEST_INPUTS: &[&str] = &[
    "repoUrl",
    "branchName",
    "targetBranchName",
    "title",
    "description",
    "targetPath",
    "sourcePath",
    "draft",
    "reviewers",
    "teamReviewers",
    "update",
    "commitMessage",
    "gitAuthorName",
    "gitAuthorEmail",
    "token",
];

/// The inputs of `publish:gitea`: Backstage's, and from `publish:github`
/// the repository settings Gitea has too.
pub const PUBLISH_GITEA_INPUTS: &[&str] = &[
    "repoUrl",
    "description",
    "defaultBranch",
    "repoVisibility",
    "gitCommitMessage",
    "gitAuthorName",
    "gitAuthorEmail",
    "sourcePath",
    "signCommit",
    "token",
    "topics",
    "collaborators",
    "protectDefaultBranch",
    "requiredApprovingReviewCount",
];

/// Every action goldpath knows. Backstage's `token` inputs are the secret
/// ones: goldpath pushes and fetches with the operator's configured
/// credentials, so it accepts them and sends them nowhere.
pub const ACTIONS: &[Action] = &[
    action("fetch:template", Reach::Workspace, &["token"]),
    action("fetch:template:file", Reach::Workspace, &["token"]),
    action("fetch:plain", Reach::Workspace, &["token"]),
    action("fetch:plain:file", Reach::Workspace, &["token"]),
    action("fs:delete", Reach::Workspace, &[]),
    action("fs:rename", Reach::Workspace, &[]),
    action("debug:log", Reach::Workspace, &[]),
    action("catalog:write", Reach::Workspace, &[]),
    action("publish:github", Reach::World, &["token"]),
    action("publish:gitlab", Reach::World, &["token"]),
    declared("publish:gitea", Reach::World, &["token"], PUBLISH_GITEA_INPUTS),
    declared(
        "publish:gitea:pull-request",
        Reach::World,
        &["token"],
        PULL_REQUEST_INPUTS,
    ),
    action("publish:git", Reach::World, &["token"]),
    action("argocd:create-resources", Reach::World, &[]),
    action("catalog:register", Reach::World, &[]),
    action("catalog:fetch", Reach::World, &[]),
    action("kubernetes:apply", Reach::World, &[]),
];

/// The action named `name`, or `None` for one goldpath does not know.
pub fn find(name: &str) -> Option<&'static Action> {
    ACTIONS.iter().find(|action| action.name == name)
}

/// How far an action reaches, or `None` for an action goldpath does not know.
pub fn reach(action: &str) -> Option<Reach> {
    find(action).map(|action| action.reach)
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
    /// limit's reset); the usual backoff otherwise.
    pub retry_after: Option<std::time::Duration>,
}

impl ActionError {
    /// A failure that needs a change to the template or request.
    pub fn permanent(message: impl Into<String>) -> Self {
        ActionError {
            message: message.into(),
            transient: false,
            retry_after: None,
        }
    }

    /// A failure that needs a change (`transient` false) or may pass later.
    pub fn new(message: impl Into<String>, transient: bool) -> Self {
        ActionError {
            message: message.into(),
            transient,
            retry_after: None,
        }
    }

    /// A failure that may pass if tried again later.
    pub fn transient(message: impl Into<String>) -> Self {
        ActionError {
            message: message.into(),
            transient: true,
            retry_after: None,
        }
    }
}

/// What an action sees besides its input.
pub struct ActionContext<'a> {
    /// The template's own files (inline or from its git source).
    pub template_files: &'a FileTree,
    /// Renders skeleton files with the request's limits and deadline.
    pub renderer: &'a Renderer,
    /// Lines the action logs (shown by the CLI, recorded in Events).
    pub log: &'a mut Vec<String>,
}

/// Runs an action that stays inside the workspace; returns its output.
pub fn run_in_workspace(
    action: &str,
    input: &Value,
    context: &mut ActionContext,
    workspace: &mut FileTree,
) -> Result<Value, ActionError> {
    match action {
        "fetch:template" => fetch::template(input, context, workspace, false),
        "fetch:template:file" => fetch::template(input, context, workspace, true),
        "fetch:plain" => fetch::plain(input, context, workspace, false),
        "fetch:plain:file" => fetch::plain(input, context, workspace, true),
        "fs:delete" => fs::delete(input, workspace),
        "fs:rename" => fs::rename(input, workspace),
        "debug:log" => fs::debug_log(input, context, workspace),
        "catalog:write" => catalog::write(input, workspace),
        other => Err(ActionError::permanent(format!(
            "{other} is not an action that runs in the workspace"
        ))),
    }
}

/// Carries out the actions that reach outside the workspace.
pub trait Effects {
    /// Runs `action` with its rendered `input` on the finished `workspace`
    /// and returns its output, under Backstage's output names.
    fn run(&mut self, step: &StepInfo, input: &Value, workspace: &FileTree) -> Result<Value, ActionError>;
}

/// The step an effect runs for.
#[derive(Debug, Clone)]
pub struct StepInfo {
    /// The step's id.
    pub id: String,
    /// The step's action.
    pub action: String,
}

/// Reads an optional string input.
pub(crate) fn optional_str<'a>(input: &'a Value, key: &str) -> Result<Option<&'a str>, ActionError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ActionError::permanent(format!(
            "input.{key} must be a string, not {}",
            kind_of(other)
        ))),
    }
}

/// Reads a required string input.
pub(crate) fn required_str<'a>(input: &'a Value, key: &str) -> Result<&'a str, ActionError> {
    optional_str(input, key)?.ok_or_else(|| ActionError::permanent(format!("input.{key} is required")))
}

/// Reads an optional boolean input.
pub(crate) fn optional_bool(input: &Value, key: &str) -> Result<Option<bool>, ActionError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ActionError::permanent(format!(
            "input.{key} must be true or false, not {}",
            kind_of(other)
        ))),
    }
}

/// Reads an optional list of strings.
pub(crate) fn string_list(input: &Value, key: &str) -> Result<Vec<String>, ActionError> {
    match input.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ActionError::permanent(format!("input.{key} must be a list of strings")))
            })
            .collect(),
        Some(other) => Err(ActionError::permanent(format!(
            "input.{key} must be a list of strings, not {}",
            kind_of(other)
        ))),
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
