//! `publish:gitlab`: Backstage's inputs and outputs, each input read into
//! what GitLab's API is asked for or refused by name (its merge request
//! and group actions are in `gitlab_api`). On a
//! `type: gitlab` host the project is made through the API (in the group,
//! subgroup or user namespace its owner names) and its settings, branches
//! and CI/CD variables set once it holds this request's commit; on a plain
//! git host `publish:gitlab` only pushes, and refuses what only the API
//! could honour.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::fetch::BoolOrText;
use super::publish::{ForgeRequest, Publish, PublishInput, bounded_topics};
use super::push::made_since;
use super::{ActionError, ActionKind, kind_of};
use crate::api::RepoUrl;
use crate::config::{Config, TenantRules};
use crate::engine::files::FileTree;
use crate::forge::{ForgeKind, NewRepository, RepoId, Repository, RepositorySettings, Variable, Visibility};

/// Most `branches` a step may name, each one or two API calls.
pub const MAX_BRANCHES: usize = 20;
/// Most `projectVariables` a step may set, each one or two API calls.
pub const MAX_VARIABLES: usize = 50;

/// The project settings `publish:gitlab`'s `settings` takes: Backstage's,
/// by GitLab's names.
pub const SETTINGS: &[&str] = &[
    "path",
    "auto_devops_enabled",
    "ci_config_path",
    "description",
    "merge_method",
    "squash_option",
    "topics",
    "visibility",
    "only_allow_merge_if_all_discussions_are_resolved",
    "only_allow_merge_if_pipeline_succeeds",
    "allow_merge_on_skipped_pipeline",
];

/// The input of `publish:gitlab`: Backstage's names.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct GitlabPublishInput {
    /// `host?owner=group/subgroup&repo=project`; the owner may be a user.
    pub repo_url: String,
    /// `private` (the default), `internal` or `public`; `settings.visibility`
    /// wins.
    pub repo_visibility: Option<String>,
    /// The branch to create (default `main`).
    pub default_branch: Option<String>,
    /// The commit message (default `initial commit`).
    pub git_commit_message: Option<String>,
    /// The commit author's name (default the operator's `gitAuthor`).
    pub git_author_name: Option<String>,
    /// The commit author's email.
    pub git_author_email: Option<String>,
    /// Refused when true: goldpath does not sign commits.
    pub sign_commit: Option<bool>,
    /// The workspace directory to publish; `true` or left out: all of it.
    /// `false` (an empty project) is refused.
    #[schemars(with = "Option<BoolOrText>")]
    pub source_path: Option<Value>,
    /// When the project exists with commits: publish nothing and report it
    /// (`created: false`).
    pub skip_existing: Option<bool>,
    /// Pushes and calls GitLab as the user this token is for, in place of
    /// the host's token.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
    /// Refused when true: goldpath calls GitLab with one token, so it
    /// cannot make that token's user the owner with another.
    pub set_user_as_owner: Option<bool>,
    /// The project's topics; `settings.topics` wins.
    pub topics: Option<Vec<String>>,
    /// Project settings by GitLab's names: `path` (the repoUrl's repo),
    /// `auto_devops_enabled`, `ci_config_path`, `description`,
    /// `merge_method`, `squash_option`, `topics`, `visibility`,
    /// `only_allow_merge_if_all_discussions_are_resolved`,
    /// `only_allow_merge_if_pipeline_succeeds`,
    /// `allow_merge_on_skipped_pipeline`.
    pub settings: Option<Map<String, Value>>,
    /// Branches to create from a ref and/or protect, after the push.
    pub branches: Option<Vec<BranchInput>>,
    /// CI/CD variables of the project.
    pub project_variables: Option<Vec<VariableInput>>,
}

/// One of `publish:gitlab`'s `branches`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
pub struct BranchInput {
    /// The branch.
    pub name: String,
    /// Whether it is protected (default false).
    pub protect: Option<bool>,
    /// Whether it is created from `ref` when missing (default false).
    pub create: Option<bool>,
    /// The ref it is created from (default the published branch).
    #[serde(rename = "ref")]
    pub from: Option<String>,
}

/// One of `publish:gitlab`'s `projectVariables`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
pub struct VariableInput {
    /// Its key: letters, digits and `_`, at most 255.
    pub key: String,
    /// Its value.
    pub value: String,
    /// Its description.
    pub description: Option<String>,
    /// `env_var` (the default) or `file`.
    pub variable_type: Option<String>,
    /// Whether only protected branches see it (default false).
    pub protected: Option<bool>,
    /// Whether it is masked in job logs (default false).
    pub masked: Option<bool>,
    /// Whether it is not expanded (default false).
    pub raw: Option<bool>,
    /// The environments that see it (default `*`).
    pub environment_scope: Option<String>,
}

/// The output of `publish:gitlab`.
#[derive(Serialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct GitlabPublishOutput {
    /// The project's clone URL.
    pub remote_url: String,
    /// Where its files are browsed.
    pub repo_contents_url: String,
    /// The commit published; empty when an existing project was skipped.
    pub commit_hash: String,
    /// The project's id, on a `type: gitlab` host (not on a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<u64>,
    /// Whether this step published (false: `skipExisting` found the
    /// project with commits).
    pub created: bool,
}

/// A `publish:gitlab` step, resolved: the publish, and what GitLab is
/// asked for beyond it.
#[derive(Clone, Debug, PartialEq)]
pub struct GitlabPublish {
    /// The push, the project and its topics.
    pub publish: Publish,
    /// Settings, branches and variables, set after the push.
    pub after: AfterPush,
    /// Whether an existing project with commits is left as it is and
    /// reported.
    pub skip_existing: bool,
}

/// What GitLab is asked for once the project holds this request's commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AfterPush {
    /// Project settings by GitLab's names, set in one call.
    pub settings: Map<String, Value>,
    /// Branches to create: name and the ref each comes from.
    pub create_branches: Vec<(String, String)>,
    /// Branches to protect.
    pub protect_branches: Vec<String>,
    /// CI/CD variables.
    pub variables: Vec<Variable>,
}

/// Whether `skipExisting` leaves `found` as it is: a project with commits
/// that this step did not make. One made since the step first started is
/// this step's own, pushed to by an attempt that ended before its settings
/// were set: the publish goes on, reuses it and sets them.
pub fn skips(found: &Repository, step_started: Option<i64>) -> bool {
    !found.empty && !made_since(found, step_started)
}

impl GitlabPublishInput {
    /// The inputs only GitLab's API honours that the step gives.
    fn api_only_inputs(&self) -> Vec<&'static str> {
        [
            ("repoVisibility", self.repo_visibility.is_some()),
            ("skipExisting", self.skip_existing == Some(true)),
            ("topics", self.topics.as_ref().is_some_and(|t| !t.is_empty())),
            ("settings", self.settings.as_ref().is_some_and(|s| !s.is_empty())),
            ("branches", self.branches.as_ref().is_some_and(|b| !b.is_empty())),
            (
                "projectVariables",
                self.project_variables.as_ref().is_some_and(|v| !v.is_empty()),
            ),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }

    /// What every publish step reads, from this input.
    fn common(&self) -> Result<PublishInput, ActionError> {
        let source_path = match &self.source_path {
            None | Some(Value::Bool(true)) => None,
            Some(Value::String(path)) => Some(path.clone()),
            Some(_) => {
                return Err(ActionError::permanent(
                    "input.sourcePath: false asks for an empty project, which goldpath does not publish; \
                     give a directory of the workspace, or true for all of it",
                ));
            }
        };
        Ok(PublishInput {
            repo_url: self.repo_url.clone(),
            default_branch: self.default_branch.clone(),
            git_commit_message: self.git_commit_message.clone(),
            git_author_name: self.git_author_name.clone(),
            git_author_email: self.git_author_email.clone(),
            sign_commit: self.sign_commit,
            source_path,
            token: self.token.clone(),
            ..PublishInput::default()
        })
    }
}

/// Reads a `publish:gitlab` step's input: what every publish step reads,
/// then what GitLab is asked for (nothing on a plain git host).
pub fn resolve(
    input: &GitlabPublishInput,
    config: &Config,
    tenant: &TenantRules,
    workspace_files: &FileTree,
) -> Result<GitlabPublish, ActionError> {
    if input.set_user_as_owner == Some(true) {
        return Err(ActionError::permanent(
            "input.setUserAsOwner: goldpath calls GitLab with one token (the step's or the host's), so it \
             cannot make the step token's user the owner with the host's; remove it, or give the group's \
             members access",
        ));
    }
    let mut publish = Publish::resolve(
        ActionKind::PublishGitlab,
        &input.common()?,
        config,
        tenant,
        workspace_files,
    )?;
    let skip_existing = input.skip_existing == Some(true);
    match publish.route.kind {
        ForgeKind::Gitlab => {}
        ForgeKind::Git => {
            if let Some(name) = input.api_only_inputs().first() {
                return Err(ActionError::permanent(format!(
                    "input.{name}: the repoUrl's host is a plain git server (gitHosts type git), where only \
                     GitLab's API could honour it; configure the host as type gitlab, or remove the input"
                )));
            }
            return Ok(GitlabPublish {
                publish,
                after: AfterPush::default(),
                skip_existing,
            });
        }
        other => {
            return Err(ActionError::permanent(format!(
                "publish:gitlab: the repoUrl's host is configured as type {other}, not gitlab"
            )));
        }
    }
    let (request, after) = forge_request(input, &publish.repo, &publish.branch)?;
    publish.forge = Some(request);
    Ok(GitlabPublish {
        publish,
        after,
        skip_existing,
    })
}

/// The project, its topics, and what is set after the push.
fn forge_request(
    input: &GitlabPublishInput,
    repo: &RepoUrl,
    branch: &str,
) -> Result<(ForgeRequest, AfterPush), ActionError> {
    let id = RepoId {
        owner: repo.owner.clone().unwrap_or_default(),
        name: repo.repo.clone().unwrap_or_default(),
    };
    let mut settings = input.settings.clone().unwrap_or_default();
    if let Some(key) = settings.keys().find(|key| !SETTINGS.contains(&key.as_str())) {
        return Err(ActionError::permanent(format!(
            "input.settings.{key}: not a setting publish:gitlab takes; it takes {}",
            SETTINGS.join(", ")
        )));
    }
    if let Some(path) = settings
        .remove("path")
        .filter(|path| path.as_str() != Some(id.name.as_str()))
    {
        return Err(ActionError::permanent(format!(
            "input.settings.path: {path} is not the repoUrl's repo {:?}; the project's path is its repo",
            id.name
        )));
    }
    let text_setting = |settings: &mut Map<String, Value>, key: &str| match settings.remove(key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(ActionError::permanent(format!(
            "input.settings.{key} must be a string, not {}",
            kind_of(&other)
        ))),
    };
    let visibility = text_setting(&mut settings, "visibility")?
        .or_else(|| input.repo_visibility.clone())
        .unwrap_or_else(|| "private".into());
    let visibility = match visibility.as_str() {
        "private" => Visibility::Private,
        "internal" => Visibility::Internal,
        "public" => Visibility::Public,
        other => {
            return Err(ActionError::permanent(format!(
                "input.repoVisibility: {other:?} is not private, internal or public"
            )));
        }
    };
    let description = text_setting(&mut settings, "description")?.unwrap_or_default();
    let topics = match settings.remove("topics") {
        None => input.topics.clone(),
        Some(value) => Some(
            serde_json::from_value::<Vec<String>>(value)
                .map_err(|_| ActionError::permanent("input.settings.topics must be a list of strings"))?,
        ),
    };
    Ok((
        ForgeRequest {
            repository: NewRepository {
                id,
                description,
                visibility,
                default_branch: branch.to_string(),
                ..NewRepository::default()
            },
            settings: RepositorySettings {
                topics: bounded_topics(topics.as_deref())?,
                collaborators: Vec::new(),
                teams: Vec::new(),
                protection: None,
            },
        },
        AfterPush {
            settings,
            ..after_push(input, branch)?
        },
    ))
}

/// The branches and variables a step asks for, bounded.
fn after_push(input: &GitlabPublishInput, branch: &str) -> Result<AfterPush, ActionError> {
    let branches = input.branches.as_deref().unwrap_or_default();
    if branches.len() > MAX_BRANCHES {
        return Err(ActionError::permanent(format!(
            "input.branches: {} entries; at most {MAX_BRANCHES}",
            branches.len()
        )));
    }
    let variables = input.project_variables.as_deref().unwrap_or_default();
    if variables.len() > MAX_VARIABLES {
        return Err(ActionError::permanent(format!(
            "input.projectVariables: {} entries; at most {MAX_VARIABLES}",
            variables.len()
        )));
    }
    let mut after = AfterPush::default();
    for (i, item) in branches.iter().enumerate() {
        if item.name.is_empty() {
            return Err(ActionError::permanent(format!(
                "input.branches[{i}].name is required"
            )));
        }
        if item.create == Some(true) {
            let from = item.from.clone().unwrap_or_else(|| branch.to_string());
            after.create_branches.push((item.name.clone(), from));
        }
        if item.protect == Some(true) {
            after.protect_branches.push(item.name.clone());
        }
    }
    for (i, item) in variables.iter().enumerate() {
        let key_ok = !item.key.is_empty()
            && item.key.len() <= 255
            && item.key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !key_ok {
            return Err(ActionError::permanent(format!(
                "input.projectVariables[{i}].key {:?}: at most 255 letters, digits and _",
                item.key
            )));
        }
        let kind = item.variable_type.as_deref().unwrap_or("env_var");
        if !matches!(kind, "env_var" | "file") {
            return Err(ActionError::permanent(format!(
                "input.projectVariables[{i}].variable_type: {kind:?} is not env_var or file"
            )));
        }
        let mut options = Map::new();
        options.insert("variable_type".into(), kind.into());
        options.insert("protected".into(), item.protected.unwrap_or(false).into());
        options.insert("masked".into(), item.masked.unwrap_or(false).into());
        options.insert("raw".into(), item.raw.unwrap_or(false).into());
        options.insert(
            "environment_scope".into(),
            item.environment_scope
                .clone()
                .unwrap_or_else(|| "*".into())
                .into(),
        );
        if let Some(description) = &item.description {
            options.insert("description".into(), description.clone().into());
        }
        after.variables.push(Variable {
            key: item.key.clone(),
            value: item.value.clone(),
            options,
        });
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::actions::input::decode;
    use crate::engine::files::FileEntry;

    fn config(kind: ForgeKind) -> Config {
        Config::publishing_to("*", "https://{host}/{owner}/{repo}.git", kind)
    }

    fn publish(kind: ForgeKind, input: Value) -> Result<GitlabPublish, ActionError> {
        let files: FileTree = [("README.md".to_string(), FileEntry::text("# hi\n"))]
            .into_iter()
            .collect();
        let config = config(kind);
        resolve(&decode(&input)?, &config, &config.tenant("acme"), &files)
    }

    #[test]
    fn every_input_reaches_the_project_its_settings_branches_or_variables() {
        let resolved = publish(
            ForgeKind::Gitlab,
            json!({
                "repoUrl": "gitlab.com?owner=platform/payments&repo=api",
                "repoVisibility": "public",
                "defaultBranch": "trunk",
                "topics": ["ignored-for-settings"],
                "skipExisting": true,
                "settings": {
                    "path": "api",
                    "visibility": "internal",
                    "description": "Payments API",
                    "topics": ["payments"],
                    "merge_method": "ff",
                    "ci_config_path": "ci/.gitlab-ci.yml",
                },
                "branches": [{"name": "release", "create": true}, {"name": "trunk", "protect": true}],
                "projectVariables": [{"key": "REGION", "value": "eu", "masked": true}],
            }),
        )
        .unwrap();
        let request = resolved.publish.forge.as_ref().unwrap();
        let repository = &request.repository;
        assert_eq!(repository.id.owner, "platform/payments");
        assert_eq!(repository.visibility, Visibility::Internal);
        assert_eq!(repository.description, "Payments API");
        assert_eq!(repository.default_branch, "trunk");
        assert_eq!(request.settings.topics, ["payments"]);
        assert!(resolved.skip_existing);
        let after = &resolved.after;
        assert_eq!(
            after.settings,
            json!({"merge_method": "ff", "ci_config_path": "ci/.gitlab-ci.yml"})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(
            after.create_branches,
            [("release".to_string(), "trunk".to_string())]
        );
        assert_eq!(after.protect_branches, ["trunk"]);
        assert_eq!(after.variables[0].key, "REGION");
        assert_eq!(after.variables[0].options["masked"], json!(true));
        assert_eq!(after.variables[0].options["environment_scope"], json!("*"));
    }

    #[test]
    fn what_cannot_be_honoured_is_refused_by_name() {
        let cases = [
            (
                ForgeKind::Gitlab,
                "setUserAsOwner",
                json!(true),
                "input.setUserAsOwner: ",
            ),
            (
                ForgeKind::Gitlab,
                "sourcePath",
                json!(false),
                "input.sourcePath: ",
            ),
            (
                ForgeKind::Gitlab,
                "settings",
                json!({"wiki_enabled": true}),
                "input.settings.wiki_enabled: not a setting",
            ),
            (
                ForgeKind::Gitlab,
                "settings",
                json!({"path": "other"}),
                "input.settings.path: ",
            ),
            (
                ForgeKind::Gitlab,
                "repoVisibility",
                json!("hidden"),
                "input.repoVisibility: \"hidden\"",
            ),
            (
                ForgeKind::Gitlab,
                "projectVariables",
                json!([{"key": "A-B", "value": "v"}]),
                "input.projectVariables[0].key",
            ),
            (
                ForgeKind::Git,
                "topics",
                json!(["a"]),
                "input.topics: the repoUrl's host is a plain git server",
            ),
            (
                ForgeKind::Gitea,
                "topics",
                json!(["a"]),
                "configured as type gitea, not gitlab",
            ),
        ];
        for (kind, key, value, expected) in cases {
            let mut input = json!({"repoUrl": "gitlab.com?owner=g&repo=p"});
            input[key] = value;
            let error = publish(kind, input).unwrap_err();
            assert!(
                error.message.starts_with(expected) || error.message.contains(expected),
                "{key}: {}",
                error.message
            );
        }
        // On a plain git host the step pushes only.
        let plain = publish(ForgeKind::Git, json!({"repoUrl": "gitlab.com?owner=g&repo=p"})).unwrap();
        assert_eq!(plain.publish.forge, None);
    }

    #[test]
    fn skip_existing_leaves_only_a_project_with_commits_that_this_step_did_not_make() {
        let project = |empty, created_at| Repository {
            default_branch: "main".into(),
            empty,
            created_at: Some(created_at),
        };
        let started = Some(1_000);
        // Someone's project, older than the step: left as it is.
        assert!(skips(&project(false, 999), started));
        // Empty: published to, as Backstage does.
        assert!(!skips(&project(true, 999), started));
        // Made by an earlier attempt of this step that pushed and then
        // ended before its settings were set: the publish goes on.
        assert!(!skips(&project(false, 1_000), started));
        assert!(!skips(&project(false, 1_005), started));
        // No record of when the step started (the CLI): nothing is ours.
        assert!(skips(&project(false, 1_005), None));
    }

    #[test]
    fn branches_and_variables_are_bounded() {
        let branches: Vec<Value> = (0..=MAX_BRANCHES)
            .map(|i| json!({"name": format!("b{i}"), "protect": true}))
            .collect();
        let error = publish(
            ForgeKind::Gitlab,
            json!({"repoUrl": "gitlab.com?owner=g&repo=p", "branches": branches}),
        )
        .unwrap_err();
        assert!(error.message.contains("at most 20"), "{}", error.message);
        let variables: Vec<Value> = (0..=MAX_VARIABLES)
            .map(|i| json!({"key": format!("K{i}"), "value": "v"}))
            .collect();
        let error = publish(
            ForgeKind::Gitlab,
            json!({"repoUrl": "gitlab.com?owner=g&repo=p", "projectVariables": variables}),
        )
        .unwrap_err();
        assert!(error.message.contains("at most 50"), "{}", error.message);
    }
}
