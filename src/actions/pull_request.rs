//! `publish:github:pull-request`, `publish:gitea:pull-request` and
//! `publish:gitlab:merge-request` (read into the same input): which
//! repository a step proposes a change to, on which branch, with which
//! files, and the pull request it opens, with the inputs of Backstage's
//! `publish:github:pull-request`. Checked
//! like a publish step's `repoUrl` before any URL is built; the forge calls
//! and the push are the caller's.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ActionError, ActionKind};
use crate::api::RepoUrl;
use crate::config::{Config, RepositoryRoute, TenantRules};
use crate::engine::files::FileTree;
use crate::engine::workspace;
use crate::forge::{ForgeKind, NewPullRequest, PullRequest, RepoId};
use crate::tenancy;

/// Most reviewers (users and teams together) a step may request.
pub const MAX_REVIEWERS: usize = 20;

/// The input of `publish:github:pull-request`, and of
/// `publish:gitea:pull-request`, which takes the same.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestInput {
    /// `host?owner=owner&repo=repo`: an existing repository.
    pub repo_url: String,
    /// The branch the change is pushed to.
    pub branch_name: String,
    /// The branch it goes into (default the repository's default branch).
    pub target_branch_name: Option<String>,
    /// The pull request's title.
    pub title: String,
    /// Its body.
    pub description: String,
    /// Where in the repository the files go (default its root).
    pub target_path: Option<String>,
    /// The workspace directory proposed (default all of it).
    pub source_path: Option<String>,
    /// Whether it is a draft (on Gitea, `WIP: ` in front of the title).
    pub draft: Option<bool>,
    /// Users asked to review.
    pub reviewers: Option<Vec<String>>,
    /// Teams asked to review.
    pub team_reviewers: Option<Vec<String>>,
    /// Whether an open pull request from the branch gets this title and body.
    pub update: Option<bool>,
    /// The commit message (default the title).
    pub commit_message: Option<String>,
    /// The commit author's name (default the operator's `gitAuthor`).
    pub git_author_name: Option<String>,
    /// The commit author's email.
    pub git_author_email: Option<String>,
    /// Pushes and calls the forge as the user this token is for.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
}

/// The output of a pull request step.
#[derive(Serialize, JsonSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestOutput {
    /// The pull request's page.
    pub remote_url: String,
    /// Its number.
    pub pull_request_number: u64,
    /// The branch it goes into.
    pub target_branch_name: String,
    /// The commit proposed.
    pub commit_hash: String,
}

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
    /// Title; on Gitea `WIP: ` in front for a `draft`, which is how Gitea
    /// marks one.
    pub title: String,
    /// Whether it is opened as a draft (GitHub).
    pub draft: bool,
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
    /// Reads the input of an `action` step (`publish:github:pull-request`
    /// or `publish:gitea:pull-request`).
    pub fn resolve(
        action: ActionKind,
        input: &PullRequestInput,
        config: &Config,
        tenant: &TenantRules,
        workspace_files: &FileTree,
    ) -> Result<PullRequestStep, ActionError> {
        let repo = RepoUrl::parse(&input.repo_url)
            .map_err(|e| ActionError::permanent(format!("input.repoUrl: {e}")))?;
        let gitlab = action == ActionKind::PublishGitlabMergeRequest;
        tenancy::check_repository(&repo, gitlab).map_err(ActionError::permanent)?;
        tenant.check_owner(&repo).map_err(ActionError::permanent)?;
        let branch = input.branch_name.clone();
        let base = input.target_branch_name.clone();
        let forge = match action {
            ActionKind::PublishGithubPullRequest => ForgeKind::Github,
            ActionKind::PublishGitlabMergeRequest => ForgeKind::Gitlab,
            _ => ForgeKind::Gitea,
        };
        let title = &input.title;
        let body = input.description.clone();
        let draft = input.draft.unwrap_or(false);
        let title = if draft && forge == ForgeKind::Gitea {
            format!("WIP: {title}")
        } else {
            title.to_string()
        };
        let files = proposed_files(input, workspace_files)?;
        let reviewers = input.reviewers.clone().unwrap_or_default();
        let team_reviewers = input.team_reviewers.clone().unwrap_or_default();
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
        if route.kind != forge {
            return Err(ActionError::permanent(format!(
                "{}: the repoUrl's host is configured as type {}, not {forge}; a pull request needs the \
                 forge's API",
                action.definition().name,
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
            message: input.commit_message.clone().unwrap_or_else(|| title.clone()),
            author: (input.git_author_name.clone(), input.git_author_email.clone()),
            update: input.update.unwrap_or(false),
            branch,
            base,
            title,
            draft: draft && forge == ForgeKind::Github,
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
            draft: self.draft,
        }
    }

    /// Whether the forge shows `pull_request` with this step's branch as its
    /// head. One whose head the forge names otherwise is open, but the
    /// forge has not recorded the branch (a push cut short by a kill leaves
    /// git holding it before the forge's records do): its page shows no
    /// branch, so the step is not done. The error is transient: the step
    /// runs again, finds the same pull request by its branch and looks
    /// again.
    pub fn check_head(&self, pull_request: &PullRequest) -> Result<(), ActionError> {
        match &pull_request.head {
            Some(head) if *head != self.branch => Err(ActionError::new(
                format!(
                    "pull request #{} of {} is open, but {} does not show branch {} as its head yet (it \
                     names {head:?}): the forge has not recorded the pushed branch",
                    pull_request.number, self.id, self.host, self.branch
                ),
                true,
            )),
            _ => Ok(()),
        }
    }

    /// The step's output, under Backstage's names.
    pub fn output(&self, pull_request: &PullRequest, base: &str, commit: &str) -> PullRequestOutput {
        PullRequestOutput {
            remote_url: pull_request.url.clone(),
            pull_request_number: pull_request.number,
            target_branch_name: base.to_string(),
            commit_hash: commit.to_string(),
        }
    }
}

/// The workspace's `sourcePath` directory placed under `targetPath`.
fn proposed_files(input: &PullRequestInput, workspace_files: &FileTree) -> Result<FileTree, ActionError> {
    let source = workspace::join("", input.source_path.as_deref().unwrap_or(""))
        .map_err(|e| ActionError::permanent(format!("input.sourcePath: {e}")))?;
    let target = workspace::join("", input.target_path.as_deref().unwrap_or(""))
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
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> PullRequestStep {
        let config = Config::publishing_to(
            "gitea.test",
            "https://gitea.test/{owner}/{repo}.git",
            ForgeKind::Gitea,
        );
        let input = PullRequestInput {
            repo_url: "gitea.test?owner=acme&repo=platform".into(),
            branch_name: "add-billing".into(),
            title: "Add billing".into(),
            ..PullRequestInput::default()
        };
        let files: FileTree = [(
            "README.md".to_string(),
            crate::engine::files::FileEntry::text("# billing\n"),
        )]
        .into_iter()
        .collect();
        PullRequestStep::resolve(
            ActionKind::PublishGiteaPullRequest,
            &input,
            &config,
            &config.tenant("team"),
            &files,
        )
        .unwrap()
    }

    fn pull_request(head: Option<&str>) -> PullRequest {
        PullRequest {
            number: 8,
            url: "https://gitea.test/acme/platform/pulls/8".into(),
            head: head.map(str::to_string),
        }
    }

    #[test]
    fn a_pull_request_counts_only_once_the_forge_shows_the_branch_as_its_head() {
        let step = step();
        step.check_head(&pull_request(Some("add-billing"))).unwrap();
        // GitHub and GitLab name the head the pull request was opened with,
        // so their answers say nothing of it; nor does a dry run's.
        step.check_head(&pull_request(None)).unwrap();
        // Gitea names the pull request's own ref while it has no record of
        // the branch: not done yet, and said so.
        let error = step
            .check_head(&pull_request(Some("refs/pull/8/head")))
            .unwrap_err();
        assert!(error.transient, "{error:?}");
        for part in [
            "#8",
            "acme/platform",
            "gitea.test",
            "add-billing",
            "refs/pull/8/head",
        ] {
            assert!(error.message.contains(part), "{part}: {}", error.message);
        }
    }
}
