//! GitHub's steps on a repository that exists: `github:branch-protection:create`,
//! `github:webhook`, `github:actions:dispatch` and `github:pages:enable`,
//! with Backstage's inputs, each read into what GitHub is asked for or
//! refused by name. They need a `type: github` host.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::github::BranchRulesInput;
use super::publish::{checked_repo, route};
use super::{ActionError, ActionKind};
use crate::config::{Config, RepositoryRoute, TenantRules};
use crate::forge::{BranchProtection, ForgeKind, Pages, RepoId, Webhook};

/// Most events a webhook may name.
pub const MAX_WEBHOOK_EVENTS: usize = 100;
/// Most inputs a workflow dispatch may pass (GitHub takes at most 25).
pub const MAX_WORKFLOW_INPUTS: usize = 25;

/// The repository a step acts on, on a `type: github` host.
pub struct Target {
    /// The repository.
    pub id: RepoId,
    /// The host `repoUrl` names.
    pub host: String,
    /// Where it lives.
    pub route: RepositoryRoute,
}

/// Reads and checks a step's `repoUrl`.
pub fn target(
    action: ActionKind,
    repo_url: &str,
    config: &Config,
    tenant: &TenantRules,
) -> Result<Target, ActionError> {
    let repo = checked_repo(action, repo_url, tenant)?;
    let route = route(config, &repo, "main")?;
    if route.kind != ForgeKind::Github {
        return Err(ActionError::permanent(format!(
            "{}: the repoUrl's host is configured as type {}, not github",
            action.definition().name,
            route.kind
        )));
    }
    Ok(Target {
        id: RepoId {
            owner: repo.owner.clone().unwrap_or_default(),
            name: repo.repo.clone().unwrap_or_default(),
        },
        host: repo.host,
        route,
    })
}

/// The input of `github:branch-protection:create`: Backstage's names.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct BranchProtectionInput {
    /// `github.com?owner=owner&repo=repo`: an existing repository.
    pub repo_url: String,
    /// The branch (default the repository's default branch).
    pub branch: Option<String>,
    /// Whether administrators are held to the rules (default true).
    pub enforce_admins: Option<bool>,
    /// The rules.
    #[serde(flatten)]
    pub rules: BranchRulesInput,
    /// Whether only those allowed to push may create matching branches.
    pub block_creations: Option<bool>,
    /// Calls GitHub as the user this token is for.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
}

/// The rules a `github:branch-protection:create` step sets: for the branch
/// it names, or the default branch when `branch` is empty.
pub fn branch_rule(input: &BranchProtectionInput) -> Result<BranchProtection, ActionError> {
    let branch = input.branch.as_deref().unwrap_or_default();
    let mut rule = input.rules.protection(branch, input.enforce_admins)?;
    rule.block_creations = input.block_creations.unwrap_or(false);
    Ok(rule)
}

/// The input of `github:webhook`: Backstage's names.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct WebhookInput {
    /// `github.com?owner=owner&repo=repo`: an existing repository.
    pub repo_url: String,
    /// Where payloads go.
    pub webhook_url: String,
    /// The secret payloads are signed with.
    #[schemars(extend("writeOnly" = true))]
    pub webhook_secret: Option<String>,
    /// The events it fires on (default `[push]`; `["*"]` for all).
    pub events: Option<Vec<String>>,
    /// Whether it is active (default true).
    pub active: Option<bool>,
    /// `form` (the default) or `json`.
    pub content_type: Option<String>,
    /// Whether the receiver's certificate goes unchecked (default false).
    pub insecure_ssl: Option<bool>,
    /// Calls GitHub as the user this token is for.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
}

/// The webhook a `github:webhook` step makes.
pub fn webhook(input: &WebhookInput) -> Result<Webhook, ActionError> {
    let url = url::Url::parse(&input.webhook_url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            ActionError::permanent(format!(
                "input.webhookUrl: {:?} is not an http(s) URL",
                input.webhook_url
            ))
        })?;
    let events = input.events.clone().unwrap_or_else(|| vec!["push".into()]);
    if events.is_empty() || events.len() > MAX_WEBHOOK_EVENTS {
        return Err(ActionError::permanent(format!(
            "input.events: 1 to {MAX_WEBHOOK_EVENTS} events"
        )));
    }
    let content_type = input.content_type.as_deref().unwrap_or("form");
    if !matches!(content_type, "form" | "json") {
        return Err(ActionError::permanent(format!(
            "input.contentType: {content_type:?} is not form or json"
        )));
    }
    Ok(Webhook {
        url: url.to_string(),
        secret: input.webhook_secret.clone().unwrap_or_default(),
        events,
        active: input.active.unwrap_or(true),
        content_type: content_type.to_string(),
        insecure_ssl: input.insecure_ssl.unwrap_or(false),
    })
}

/// The input of `github:actions:dispatch`: Backstage's names.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct DispatchInput {
    /// `github.com?owner=owner&repo=repo`.
    pub repo_url: String,
    /// The workflow's id or file name, e.g. `deploy.yaml`.
    pub workflow_id: String,
    /// The branch or tag it runs on.
    pub branch_or_tag_name: String,
    /// Its inputs.
    pub workflow_inputs: Option<Map<String, Value>>,
    /// Calls GitHub as the user this token is for.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
}

/// The inputs a `github:actions:dispatch` step passes: at most
/// [`MAX_WORKFLOW_INPUTS`], each a string, number or boolean as GitHub
/// takes them.
pub fn workflow_inputs(input: &DispatchInput) -> Result<Map<String, Value>, ActionError> {
    let inputs = input.workflow_inputs.clone().unwrap_or_default();
    if inputs.len() > MAX_WORKFLOW_INPUTS {
        return Err(ActionError::permanent(format!(
            "input.workflowInputs: {} inputs; a workflow takes at most {MAX_WORKFLOW_INPUTS}",
            inputs.len()
        )));
    }
    if let Some((name, _)) = inputs
        .iter()
        .find(|(_, v)| !(v.is_string() || v.is_number() || v.is_boolean()))
    {
        return Err(ActionError::permanent(format!(
            "input.workflowInputs.{name} must be a string, a number or true or false"
        )));
    }
    if input.workflow_id.is_empty() || input.branch_or_tag_name.is_empty() {
        return Err(ActionError::permanent(
            "input.workflowId and input.branchOrTagName must not be empty",
        ));
    }
    Ok(inputs)
}

/// The input of `github:pages:enable`: Backstage's names.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct PagesInput {
    /// `github.com?owner=owner&repo=repo`: an existing repository.
    pub repo_url: String,
    /// `workflow` (the default) or `legacy`.
    pub build_type: Option<String>,
    /// The branch a legacy build reads (default `main`).
    pub source_branch: Option<String>,
    /// `/` (the default) or `/docs`.
    pub source_path: Option<String>,
    /// Calls GitHub as the user this token is for.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
}

/// Where a `github:pages:enable` step publishes from.
pub fn pages(input: &PagesInput) -> Result<Pages, ActionError> {
    let build_type = input.build_type.as_deref().unwrap_or("workflow");
    if !matches!(build_type, "workflow" | "legacy") {
        return Err(ActionError::permanent(format!(
            "input.buildType: {build_type:?} is not workflow or legacy"
        )));
    }
    let path = input.source_path.as_deref().unwrap_or("/");
    if !matches!(path, "/" | "/docs") {
        return Err(ActionError::permanent(format!(
            "input.sourcePath: {path:?} is not / or /docs"
        )));
    }
    Ok(Pages {
        build_type: build_type.to_string(),
        branch: input.source_branch.clone().unwrap_or_else(|| "main".into()),
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_github_would_refuse_is_refused_here_by_name() {
        let hook = |extra: Value| {
            let mut input =
                json!({"repoUrl": "github.com?owner=a&repo=b", "webhookUrl": "https://ci.example/hook"});
            input
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            webhook(&crate::actions::input::decode(&input).unwrap())
        };
        let made = hook(json!({})).unwrap();
        assert_eq!(
            (made.events, made.content_type.as_str(), made.active),
            (vec!["push".to_string()], "form", true)
        );
        for (extra, expected) in [
            (json!({"webhookUrl": "ftp://x"}), "input.webhookUrl"),
            (json!({"events": []}), "input.events"),
            (json!({"contentType": "xml"}), "input.contentType"),
        ] {
            let error = hook(extra).unwrap_err();
            assert!(error.message.contains(expected), "{}", error.message);
        }
        let many: Map<String, Value> = (0..=MAX_WORKFLOW_INPUTS)
            .map(|i| (format!("i{i}"), json!("v")))
            .collect();
        let dispatch = |inputs: Map<String, Value>| DispatchInput {
            repo_url: "github.com?owner=a&repo=b".into(),
            workflow_id: "deploy.yaml".into(),
            branch_or_tag_name: "main".into(),
            workflow_inputs: Some(inputs),
            token: None,
        };
        assert!(
            workflow_inputs(&dispatch(many))
                .unwrap_err()
                .message
                .contains("at most 25")
        );
        let nested: Map<String, Value> = [("env".to_string(), json!({"a": 1}))].into_iter().collect();
        assert!(
            workflow_inputs(&dispatch(nested))
                .unwrap_err()
                .message
                .contains("input.workflowInputs.env")
        );
        let legacy = PagesInput {
            build_type: Some("legacy".into()),
            source_path: Some("/site".into()),
            ..PagesInput::default()
        };
        assert!(pages(&legacy).unwrap_err().message.contains("input.sourcePath"));
    }
}
