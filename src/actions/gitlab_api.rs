//! `publish:gitlab:merge-request` and `gitlab:group:ensureExists`:
//! Backstage's inputs and outputs, read into the pull request step every
//! forge shares (plus a merge request's own options) and into the groups
//! to make, or refused by name. The calls are made by the push module.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ActionError;
use super::publish::route;
use super::pull_request::PullRequestInput;
use crate::api::RepoUrl;
use crate::config::{Config, RepositoryRoute, TenantRules};
use crate::forge::{ForgeKind, GroupLevel, MergeRequestOptions};
use crate::git::Change;
use crate::tenancy;

/// Most labels a merge request step may give.
pub const MAX_LABELS: usize = 50;

/// The input of `publish:gitlab:merge-request`: Backstage's names.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct MergeRequestInput {
    /// `host?owner=group&repo=project`: an existing project.
    pub repo_url: String,
    /// The merge request's title (and the commit message).
    pub title: String,
    /// Its description.
    pub description: Option<String>,
    /// The branch the change is pushed to.
    pub branch_name: String,
    /// The branch it goes into (default the project's default branch).
    pub target_branch_name: Option<String>,
    /// The workspace directory proposed (default `targetPath`, else all of
    /// it).
    pub source_path: Option<String>,
    /// Where in the project the files go (default its root).
    pub target_path: Option<String>,
    /// Pushes and calls GitLab as the user this token is for.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
    /// `auto` (the default), `create` or `update`: the files are written;
    /// `delete`: they are removed from the branch (each must be in the
    /// target branch); `skip` is refused.
    pub commit_action: Option<String>,
    /// Refused: the project is the repoUrl's.
    pub projectid: Option<String>,
    /// Whether the branch is deleted once merged (default false).
    pub remove_source_branch: Option<bool>,
    /// The user it is assigned to.
    pub assignee: Option<String>,
    /// Users asked to review.
    pub reviewers: Option<Vec<String>>,
    /// Refused when true: approval rules are not read by goldpath.
    pub assign_reviewers_from_approval_rules: Option<bool>,
    /// Labels: a comma-separated text or a list.
    #[schemars(with = "Option<LabelsInput>")]
    pub labels: Option<Value>,
}

/// `labels`: one text or a list.
#[derive(JsonSchema)]
#[serde(untagged)]
pub enum LabelsInput {
    /// `a,b`.
    Text(String),
    /// `[a, b]`.
    List(Vec<String>),
}

/// The output of `publish:gitlab:merge-request`.
#[derive(Serialize, JsonSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct MergeRequestOutput {
    /// The branch it goes into.
    pub target_branch_name: String,
    /// The project: its full path.
    pub projectid: String,
    /// The project's full path.
    pub project_path: String,
    /// The merge request's page.
    pub merge_request_url: String,
}

impl MergeRequestInput {
    /// What the commit does with the files: `auto`, `create` and `update`
    /// write them (goldpath commits through git, where all three are one),
    /// `delete` removes them; `skip` is refused.
    pub fn change(&self) -> Result<Change, ActionError> {
        match self.commit_action.as_deref().unwrap_or("auto") {
            "auto" | "create" | "update" => Ok(Change::Write),
            "delete" => Ok(Change::Remove),
            other => Err(ActionError::permanent(format!(
                "input.commitAction: {other:?} is not carried out: goldpath commits the workspace's files to \
                 the branch (auto, create, update) or removes them (delete); a merge request of a branch \
                 without a commit is not made"
            ))),
        }
    }

    /// As a pull request step's input, and the merge request's options.
    pub fn to_pull_request(&self) -> Result<(PullRequestInput, MergeRequestOptions), ActionError> {
        let refused = [
            (
                "projectid",
                self.projectid.is_some(),
                "the project is the repoUrl's owner and repo",
            ),
            (
                "assignReviewersFromApprovalRules",
                self.assign_reviewers_from_approval_rules == Some(true),
                "goldpath does not read approval rules; name the reviewers",
            ),
        ];
        if let Some((name, _, why)) = refused.iter().find(|(_, given, _)| *given) {
            return Err(ActionError::permanent(format!(
                "input.{name}: {why}; remove the input"
            )));
        }
        self.change()?;
        let labels = match &self.labels {
            None => Vec::new(),
            Some(Value::String(text)) => text
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            Some(value) => serde_json::from_value::<Vec<String>>(value.clone())
                .map_err(|_| ActionError::permanent("input.labels must be a text or a list of texts"))?,
        };
        if labels.len() > MAX_LABELS {
            return Err(ActionError::permanent(format!(
                "input.labels: {} labels; at most {MAX_LABELS}",
                labels.len()
            )));
        }
        let source_path = self
            .source_path
            .clone()
            .filter(|p| !p.is_empty())
            .or_else(|| self.target_path.clone());
        Ok((
            PullRequestInput {
                repo_url: self.repo_url.clone(),
                branch_name: self.branch_name.clone(),
                target_branch_name: self.target_branch_name.clone(),
                title: self.title.clone(),
                description: self.description.clone().unwrap_or_default(),
                target_path: self.target_path.clone(),
                source_path,
                reviewers: self.reviewers.clone(),
                token: self.token.clone(),
                ..PullRequestInput::default()
            },
            MergeRequestOptions {
                assignee: self.assignee.clone().filter(|a| !a.is_empty()),
                labels,
                remove_source_branch: self.remove_source_branch.unwrap_or(false),
            },
        ))
    }
}

/// The input of `gitlab:group:ensureExists`: Backstage's names.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct GroupInput {
    /// `host?owner=group&repo=any`: the GitLab host (owner and repo are not
    /// read; Backstage reads the host only).
    pub repo_url: String,
    /// The groups, outermost first: each a name (also its slug) or
    /// `{name, slug}`.
    pub path: Vec<GroupPathInput>,
    /// Calls GitLab as the user this token is for.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
}

/// One level of `gitlab:group:ensureExists`'s `path`.
#[derive(Deserialize, JsonSchema, Debug, Clone)]
#[serde(untagged)]
pub enum GroupPathInput {
    /// The group's name, also its slug.
    Name(String),
    /// Its name and its slug.
    Named {
        /// The name shown.
        name: String,
        /// The path segment.
        slug: String,
    },
}

/// The output of `gitlab:group:ensureExists`.
#[derive(Serialize, JsonSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct GroupOutput {
    /// The id of the innermost group.
    pub group_id: u64,
}

/// A `gitlab:group:ensureExists` step, resolved: where, and the groups.
pub fn resolve_group(
    input: &GroupInput,
    config: &Config,
    tenant: &TenantRules,
) -> Result<(String, RepositoryRoute, Vec<GroupLevel>), ActionError> {
    let repo =
        RepoUrl::parse(&input.repo_url).map_err(|e| ActionError::permanent(format!("input.repoUrl: {e}")))?;
    if input.path.is_empty() {
        return Err(ActionError::permanent("input.path: name at least one group"));
    }
    if input.path.len() > tenancy::MAX_GROUP_DEPTH {
        return Err(ActionError::permanent(format!(
            "input.path: {} groups; at most {} levels",
            input.path.len(),
            tenancy::MAX_GROUP_DEPTH
        )));
    }
    let levels: Vec<GroupLevel> = input
        .path
        .iter()
        .map(|level| match level {
            GroupPathInput::Name(name) => GroupLevel {
                name: name.clone(),
                slug: name.clone(),
            },
            GroupPathInput::Named { name, slug } => GroupLevel {
                name: name.clone(),
                slug: slug.clone(),
            },
        })
        .collect();
    let full: Vec<&str> = levels.iter().map(|level| level.slug.as_str()).collect();
    // Checked as a publish's owner would be: plain names, under an owner
    // this namespace may publish to.
    let as_owner = RepoUrl {
        owner: Some(full.join("/")),
        repo: None,
        ..repo.clone()
    };
    tenancy::check_repository(&as_owner, true)
        .map_err(|e| ActionError::permanent(e.replace("input.repoUrl: owner", "input.path")))?;
    tenant.check_owner(&as_owner).map_err(ActionError::permanent)?;
    let route = route(config, &repo, "main")?;
    if route.kind != ForgeKind::Gitlab {
        return Err(ActionError::permanent(format!(
            "gitlab:group:ensureExists: the repoUrl's host is configured as type {}, not gitlab; groups \
             are made through GitLab's API",
            route.kind
        )));
    }
    Ok((repo.host, route, levels))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::actions::input::decode;

    fn config() -> Config {
        Config::publishing_to("*", "https://{host}/{owner}/{repo}.git", ForgeKind::Gitlab)
    }

    #[test]
    fn a_merge_request_input_reads_into_a_pull_request_and_its_options() {
        let input: MergeRequestInput = decode(&json!({
            "repoUrl": "gitlab.com?owner=g&repo=p",
            "title": "Docs",
            "branchName": "docs",
            "targetPath": "docs",
            "removeSourceBranch": true,
            "assignee": "alice",
            "reviewers": ["bob"],
            "labels": "docs, chore",
            "commitAction": "update",
        }))
        .unwrap();
        let (pull, options) = input.to_pull_request().unwrap();
        // Backstage reads the files from targetPath when sourcePath is
        // not given.
        assert_eq!(pull.source_path.as_deref(), Some("docs"));
        assert_eq!(pull.target_path.as_deref(), Some("docs"));
        assert_eq!(pull.reviewers, Some(vec!["bob".to_string()]));
        assert_eq!(
            options,
            MergeRequestOptions {
                assignee: Some("alice".into()),
                labels: vec!["docs".into(), "chore".into()],
                remove_source_branch: true,
            }
        );
        for (key, value, expected) in [
            ("commitAction", json!("skip"), "input.commitAction: \"skip\""),
            ("projectid", json!("42"), "input.projectid: "),
            (
                "assignReviewersFromApprovalRules",
                json!(true),
                "input.assignReviewersFromApprovalRules: ",
            ),
        ] {
            let mut raw = json!({"repoUrl": "gitlab.com?owner=g&repo=p", "title": "t", "branchName": "b"});
            raw[key] = value;
            let input: MergeRequestInput = decode(&raw).unwrap();
            let error = input.to_pull_request().unwrap_err();
            assert!(error.message.starts_with(expected), "{}", error.message);
        }
    }

    #[test]
    fn labels_are_bounded() {
        let labels: Vec<String> = (0..=MAX_LABELS).map(|i| format!("l{i}")).collect();
        let input: MergeRequestInput = decode(&json!({
            "repoUrl": "gitlab.com?owner=g&repo=p",
            "title": "t",
            "branchName": "b",
            "labels": labels,
        }))
        .unwrap();
        let error = input.to_pull_request().unwrap_err();
        assert!(error.message.contains("at most 50"), "{}", error.message);
    }

    #[test]
    fn a_group_path_is_checked_as_an_owner_and_bounded() {
        let config = config();
        let tenant = config.tenant("acme");
        let input: GroupInput = decode(&json!({
            "repoUrl": "gitlab.com?owner=platform&repo=any",
            "path": ["platform", {"name": "Payments Team", "slug": "payments"}],
        }))
        .unwrap();
        let (host, _, levels) = resolve_group(&input, &config, &tenant).unwrap();
        assert_eq!(host, "gitlab.com");
        assert_eq!(levels[1].name, "Payments Team");
        assert_eq!(levels[1].slug, "payments");
        let deep: Vec<String> = (0..=tenancy::MAX_GROUP_DEPTH).map(|i| format!("g{i}")).collect();
        let input: GroupInput =
            decode(&json!({"repoUrl": "gitlab.com?owner=platform&repo=any", "path": deep})).unwrap();
        let error = resolve_group(&input, &config, &tenant).unwrap_err();
        assert!(error.message.contains("at most 20 levels"), "{}", error.message);
        let input: GroupInput =
            decode(&json!({"repoUrl": "gitlab.com?owner=platform&repo=any", "path": ["a b"]})).unwrap();
        assert!(resolve_group(&input, &config, &tenant).is_err());
    }
}
