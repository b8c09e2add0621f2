//! `publish:gitea:pull-request`: which repository a step proposes a change
//! to, on which branch, with which files, and the pull request it opens,
//! with the inputs of Backstage's `publish:github:pull-request`. Checked
//! like a publish step's `repoUrl` before any URL is built; the forge calls
//! and the push are the caller's.

use serde_json::{Value, json};

use super::{ActionError, optional_bool, optional_str, required_str, string_list};
use crate::api::RepoUrl;
use crate::config::{Config, RepositoryRoute, TenantRules};
use crate::engine::files::FileTree;
use crate::engine::workspace;
use crate::forge::{ForgeKind, NewPullRequest, PullRequest, RepoId};
use crate::tenancy;

/// Most reviewers (users and teams together) a step may request.
pub const MAX_REVIEWERS: usize = 20;

/// A pull request step, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct PullRequestStep {
    /// The repository.
    pub id: RepoId,
    /// The host `repoUrl` names.
    pub host: String,
    /// Where it lives.
    pub route: RepositoryRoute,
    /// The branch the change is pushed to (`branchName`).
    pub branch: String,
    /// The branch it goes into (`targetBranchName`); the repository's
    /// default branch when `None`.
    pub base: Option<String>,
    /// Title; `WIP: ` in front for a `draft`, which is how Gitea marks one.
    pub title: String,
    /// Body (`description`).
    pub body: String,
    /// Commit message (`commitMessage`, else the title).
    pub message: String,
    /// Commit author (`gitAuthorName`, `gitAuthorEmail`).
    pub author: (Option<String>, Option<String>),
    /// Files by their path in the repository: the workspace's `sourcePath`
    /// directory placed under `targetPath`.
    pub files: FileTree,
    /// Users asked to review (`reviewers`).
    pub reviewers: Vec<String>,
    /// Teams asked to review (`teamReviewers`).
    pub team_reviewers: Vec<String>,
    /// Whether an open pull request from the branch gets this title and
    /// body (`update`).
    pub update: bool,
}

impl PullRequestStep {
    /// Reads a `publish:gitea:pull-request` step's input.
    pub fn resolve(
        input: &Value,
        config: &Config,
        tenant: &TenantRules,
        workspace_files: &FileTree,
    ) -> Result<PullRequestStep, ActionError> {
        let repo = RepoUrl::parse(required_str(input, "repoUrl")?)
            .map_err(|e| ActionError::permanent(format!("input.repoUrl: {e}")))?;
        tenancy::check_repository(&repo, false).map_err(ActionError::permanent)?;
        tenant.check_owner(&repo).map_err(ActionError::permanent)?;
        let branch = required_str(input, "branchName")?.to_string();
        let base = optional_str(input, "targetBranchName")?.map(str::to_string);
        let title = required_str(input, "title")?;
        let body = required_str(input, "description")?.to_string();
        let title = if optional_bool(input, "draft")?.unwrap_or(false) {
            format!("WIP: {title}")
        } else {
            title.to_string()
        };
        let source = workspace::join("", optional_str(input, "sourcePath")?.unwrap_or(""))
            .map_err(|e| ActionError::permanent(format!("input.sourcePath: {e}")))?;
        let target = workspace::join("", optional_str(input, "targetPath")?.unwrap_or(""))
            .map_err(|e| ActionError::permanent(format!("input.targetPath: {e}")))?;
        let files: FileTree = workspace::subtree(workspace_files, &source)
            .into_iter()
            .map(|(path, entry)| {
                let path = if target.is_empty() {
                    path
                } else {
                    format!("{target}/{path}")
                };
                (path, entry)
            })
            .collect();
        if files.is_empty() {
            return Err(ActionError::permanent(
                "there is nothing to propose: the workspace (or its sourcePath) is empty",
            ));
        }
        let reviewers = string_list(input, "reviewers")?;
        let team_reviewers = string_list(input, "teamReviewers")?;
        if reviewers.len() + team_reviewers.len() > MAX_REVIEWERS {
            return Err(ActionError::permanent(format!(
                "input.reviewers and input.teamReviewers: at most {MAX_REVIEWERS} together"
            )));
        }
        let route = config.route(&repo, &branch).ok_or_else(|| {
            ActionError::permanent(
                "input.repoUrl: its host is not one of the operator's gitHosts; goldpath publishes only \
                 to hosts listed there and contacted nothing",
            )
        })?;
        if route.kind != ForgeKind::Gitea {
            return Err(ActionError::permanent(format!(
                "publish:gitea:pull-request: the repoUrl's host is configured as type {}, not gitea; a pull \
                 request needs the forge's API",
                route.kind
            )));
        }
        Ok(PullRequestStep {
            id: RepoId {
                owner: repo.owner.clone().unwrap_or_default(),
                name: repo.repo.clone().unwrap_or_default(),
            },
            host: repo.host.clone(),
            route,
            message: optional_str(input, "commitMessage")?
                .unwrap_or(&title)
                .to_string(),
            author: (
                optional_str(input, "gitAuthorName")?.map(str::to_string),
                optional_str(input, "gitAuthorEmail")?.map(str::to_string),
            ),
            update: optional_bool(input, "update")?.unwrap_or(false),
            branch,
            base,
            title,
            body,
            files,
            reviewers,
            team_reviewers,
        })
    }

    /// The host its `repoUrl` names.
    pub fn route_host(&self) -> &str {
        &self.host
    }

    /// The pull request to open from the branch into `base`.
    pub fn pull_request(&self, base: &str) -> NewPullRequest {
        NewPullRequest {
            head: self.branch.clone(),
            base: base.to_string(),
            title: self.title.clone(),
            body: self.body.clone(),
        }
    }

    /// The step's output, under Backstage's names.
    pub fn output(&self, pull_request: &PullRequest, base: &str, commit: &str) -> Value {
        json!({
            "remoteUrl": pull_request.url,
            "pullRequestNumber": pull_request.number,
            "targetBranchName": base,
            "commitHash": commit,
        })
    }
}
