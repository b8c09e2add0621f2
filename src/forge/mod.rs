//! Forges: the APIs of the servers repositories are published to, behind
//! one trait for what publishing needs (a repository, its settings, who may
//! write to it, branch protection, topics, pull requests). Each forge is one
//! module that turns these calls into its HTTP API as [`ApiCall`]s;
//! [`transport`] sends them, or prints them for a dry run, and turns a
//! forge's refusals into named errors. Gitea, GitHub and GitLab are
//! implemented; [`client::Client`] is whichever one a `gitHosts` entry names.
//!
//! The publish flow over a forge ([`ensure_repository`], then a push, then
//! [`apply_settings`]) is here too, so the cluster and the CLI run the same
//! calls in the same order.

pub mod client;
pub mod gitea;
pub mod github;
pub mod github_app;
pub mod gitlab;
pub mod listing;
mod pull_request_state;
pub mod transport;

use std::fmt;
use std::time::Duration;

use serde_json::Value;

pub use pull_request_state::PullRequestState;
pub use transport::{ApiCall, ApiResponse, DryRun, HttpTransport, Method, Transport};

/// The kinds of forge a `gitHosts` entry may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    /// A plain git server: repositories are made by the first push.
    #[default]
    Git,
    /// Gitea (and Forgejo), through its REST API.
    Gitea,
    /// GitHub or GitHub Enterprise Server, through its REST API.
    Github,
    /// GitLab (gitlab.com or self-managed), through its REST API.
    Gitlab,
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ForgeKind::Git => "git",
            ForgeKind::Gitea => "gitea",
            ForgeKind::Github => "github",
            ForgeKind::Gitlab => "gitlab",
        })
    }
}

impl ForgeKind {
    /// How its API takes a token in the `Authorization` header.
    pub fn auth_scheme(self) -> &'static str {
        match self {
            ForgeKind::Gitlab => "Bearer",
            ForgeKind::Git | ForgeKind::Gitea | ForgeKind::Github => "token",
        }
    }

    /// The user name a push presents with an API token: GitHub's
    /// `x-access-token`, GitLab's `oauth2` (which its personal, project and
    /// OAuth tokens all accept), `goldpath` elsewhere.
    pub fn push_user(self) -> &'static str {
        match self {
            ForgeKind::Github => "x-access-token",
            ForgeKind::Gitlab => "oauth2",
            ForgeKind::Git | ForgeKind::Gitea => "goldpath",
        }
    }
}

/// A repository on a forge: `owner/name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RepoId {
    /// The organisation or user that owns it.
    pub owner: String,
    /// Its name.
    pub name: String,
}

impl fmt::Display for RepoId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// Who may see a repository.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Visibility {
    /// Anyone.
    Public,
    /// Only those given access.
    #[default]
    Private,
    /// Members of the enterprise (GitHub only).
    Internal,
}

/// A repository to create.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRepository {
    /// Where.
    pub id: RepoId,
    /// Its description, empty for none.
    pub description: String,
    /// Who may see it.
    pub visibility: Visibility,
    /// The branch the first push creates, and the repository's default.
    pub default_branch: String,
    /// Its homepage, empty for none.
    pub homepage: String,
    /// Features and merge settings; `None` leaves the forge's default.
    pub features: Features,
}

/// A repository's features and merge settings, each `None` for the
/// forge's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// Issues.
    pub has_issues: Option<bool>,
    /// The wiki.
    pub has_wiki: Option<bool>,
    /// Projects.
    pub has_projects: Option<bool>,
    /// Merge commits.
    pub allow_merge_commit: Option<bool>,
    /// Squash merges.
    pub allow_squash_merge: Option<bool>,
    /// Rebase merges.
    pub allow_rebase_merge: Option<bool>,
    /// Auto-merge.
    pub allow_auto_merge: Option<bool>,
    /// Deleting a pull request's branch once it is merged.
    pub delete_branch_on_merge: Option<bool>,
    /// A squash commit's title: `PR_TITLE` or `COMMIT_OR_PR_TITLE`.
    pub squash_merge_commit_title: Option<String>,
    /// A squash commit's message: `PR_BODY`, `COMMIT_MESSAGES` or `BLANK`.
    pub squash_merge_commit_message: Option<String>,
}

/// A repository as the forge reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    /// Its default branch.
    pub default_branch: String,
    /// Whether it has no commits yet.
    pub empty: bool,
    /// When the forge made it, in seconds since the Unix epoch, where the
    /// forge says.
    pub created_at: Option<i64>,
}

/// A level of access a collaborator gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read, and manage issues and pull requests (GitHub's `triage`).
    Triage,
    /// Read and push.
    Write,
    /// Push, and manage the repository without its sensitive settings
    /// (GitHub's `maintain`).
    Maintain,
    /// Everything, settings included.
    Admin,
}

impl Access {
    /// Backstage's names (`pull`, `push`, `admin`, and GitHub's
    /// `triage`/`maintain`, which Gitea lacks and are refused).
    pub fn parse(text: &str) -> Option<Access> {
        match text {
            "pull" | "read" => Some(Access::Read),
            "push" | "write" => Some(Access::Write),
            "admin" => Some(Access::Admin),
            _ => None,
        }
    }

    /// GitHub's names: `pull`, `triage`, `push`, `maintain`, `admin`.
    pub fn parse_github(text: &str) -> Option<Access> {
        match text {
            "triage" => Some(Access::Triage),
            "maintain" => Some(Access::Maintain),
            other => Access::parse(other),
        }
    }
}

/// Rules for a protected branch. Gitea reads the branch and the
/// approvals; the rest are GitHub's, which publish:gitea does not take.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BranchProtection {
    /// The branch.
    pub branch: String,
    /// Approving reviews a pull request needs before it merges.
    pub required_approvals: u32,
    /// Whether administrators are held to the rules too.
    pub enforce_admins: bool,
    /// Whether code owners must approve.
    pub require_code_owner_reviews: bool,
    /// Whether a new push dismisses approvals.
    pub dismiss_stale_reviews: bool,
    /// Whether the last push needs someone else's approval.
    pub require_last_push_approval: bool,
    /// Status checks that must pass.
    pub required_status_checks: Vec<String>,
    /// Whether the branch must be up to date with the base to merge.
    pub require_up_to_date: bool,
    /// Whether conversations must be resolved to merge.
    pub require_conversation_resolution: bool,
    /// Whether merge commits are refused.
    pub require_linear_history: bool,
    /// Whether commits must be signed.
    pub require_signatures: bool,
    /// Whether only those allowed to push may create matching branches.
    pub block_creations: bool,
    /// Who may merge without the required reviews.
    pub bypass: Actors,
    /// Who alone may push; `None` for anyone with write access.
    pub restrictions: Option<Actors>,
}

/// Users, teams and apps a branch rule names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Actors {
    /// User logins.
    pub users: Vec<String>,
    /// Team slugs.
    pub teams: Vec<String>,
    /// App slugs.
    pub apps: Vec<String>,
}

/// A pull request to open, or what an existing one is updated to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPullRequest {
    /// The branch with the changes.
    pub head: String,
    /// The branch they go into.
    pub base: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Whether it is opened as a draft (GitHub; Gitea marks one by its
    /// title).
    pub draft: bool,
}

/// A pull request as the forge reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number in the repository.
    pub number: u64,
    /// Its page.
    pub url: String,
    /// The head branch as the forge's answer names it, where that name
    /// says whether the forge has recorded the branch: Gitea names the
    /// branch only once its records hold it, and until then the pull
    /// request's own ref (`refs/pull/N/head`), as after a push whose client
    /// was killed before Gitea's hook recorded the branch. `None` where the
    /// answer names the head the pull request was opened with whatever
    /// the forge holds (GitHub, GitLab), or names none (a dry run).
    pub head: Option<String>,
}

/// A repository webhook to make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    /// Where payloads go.
    pub url: String,
    /// The secret payloads are signed with, empty for none.
    pub secret: String,
    /// The events it fires on.
    pub events: Vec<String>,
    /// Whether it is active.
    pub active: bool,
    /// `json` or `form`.
    pub content_type: String,
    /// Whether the receiver's certificate goes unchecked.
    pub insecure_ssl: bool,
}

/// Where GitHub Pages publishes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pages {
    /// `workflow` or `legacy`.
    pub build_type: String,
    /// The branch a legacy build reads.
    pub branch: String,
    /// `/` or `/docs`.
    pub path: String,
}

/// A CI/CD variable of a project (GitLab's project variables).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Variable {
    /// Its key.
    pub key: String,
    /// Its value.
    pub value: String,
    /// The fields besides key and value, by GitLab's names
    /// (`variable_type`, `protected`, `masked`, `raw`, `environment_scope`,
    /// `description`).
    pub options: serde_json::Map<String, Value>,
}

/// What a merge request gets besides its title and body (GitLab).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MergeRequestOptions {
    /// The user it is assigned to.
    pub assignee: Option<String>,
    /// Its labels.
    pub labels: Vec<String>,
    /// Whether its branch is deleted once it is merged.
    pub remove_source_branch: bool,
}

/// A group to make, one level of a path: its display name and its slug.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupLevel {
    /// The name shown.
    pub name: String,
    /// The path segment.
    pub slug: String,
}

/// Why a forge call failed. Messages name the host and the call; tokens
/// never appear in them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    /// 401/403: the credentials are wrong or lack a permission.
    #[error("{host} refused {call} ({status}): the token needs {permission}{detail}")]
    Denied {
        /// The forge.
        host: String,
        /// What goldpath asked for.
        call: String,
        /// The HTTP status.
        status: u16,
        /// The permission the call needs.
        permission: String,
        /// The forge's own words, if any.
        detail: String,
    },
    /// Something named does not exist (an organisation, a repository).
    #[error("{0}")]
    NotFound(String),
    /// The forge refused the call's content (e.g. a name taken).
    #[error("{host} refused {call} ({status}){detail}")]
    Refused {
        /// The forge.
        host: String,
        /// What goldpath asked for.
        call: String,
        /// The HTTP status.
        status: u16,
        /// The forge's own words, if any.
        detail: String,
    },
    /// The forge asked to wait (429 or an exhausted rate limit).
    #[error("{host} rate-limited {call}; waiting {}s for the limit to reset", wait.as_secs())]
    RateLimited {
        /// The forge.
        host: String,
        /// What goldpath asked for.
        call: String,
        /// How long until the limit resets.
        wait: Duration,
    },
    /// Server errors or timeouts that outlasted the retries.
    #[error("{host} did not answer {call}: {detail}")]
    Unavailable {
        /// The forge.
        host: String,
        /// What goldpath asked for.
        call: String,
        /// The last failure.
        detail: String,
    },
    /// A configuration or input problem found before any call.
    #[error("{0}")]
    Invalid(String),
}

impl ForgeError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ForgeError::RateLimited { .. } | ForgeError::Unavailable { .. }
        )
    }

    /// How long to wait before trying again, when the forge said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ForgeError::RateLimited { wait, .. } => Some(*wait),
            _ => None,
        }
    }
}

/// What publishing needs from a forge. Implemented per forge; every call
/// is one or a few API requests and is safe to repeat.
#[allow(async_fn_in_trait)]
pub trait Forge {
    /// The repository, or `None` when it does not exist.
    async fn repository(&self, id: &RepoId) -> Result<Option<Repository>, ForgeError>;
    /// Creates a repository in an organisation, or for the token's user
    /// when the owner is that user.
    async fn create_repository(&self, new: &NewRepository) -> Result<Repository, ForgeError>;
    /// Deletes a repository; one that does not exist is no error. Only
    /// ever asked for an empty repository the step itself made, which a
    /// killed push left refusing pushes.
    async fn delete_repository(&self, id: &RepoId) -> Result<(), ForgeError>;
    /// Replaces the repository's topics.
    async fn set_topics(&self, id: &RepoId, topics: &[String]) -> Result<(), ForgeError>;
    /// Gives a user access to the repository.
    async fn add_collaborator(&self, id: &RepoId, user: &str, access: Access) -> Result<(), ForgeError>;
    /// Gives a team of the repository's organisation access to it.
    async fn add_team(&self, id: &RepoId, team: &str, _access: Access) -> Result<(), ForgeError> {
        Err(ForgeError::Invalid(format!(
            "cannot give team {team:?} access to {id}: this forge gives teams access to organisations"
        )))
    }
    /// Protects a branch; an existing rule for it is left as it is.
    async fn protect_branch(&self, id: &RepoId, rule: &BranchProtection) -> Result<(), ForgeError>;
    /// The open pull request from `head` into `base`, if there is one.
    async fn find_pull_request(
        &self,
        id: &RepoId,
        head: &str,
        base: &str,
    ) -> Result<Option<PullRequest>, ForgeError>;
    /// Opens a pull request.
    async fn create_pull_request(&self, id: &RepoId, new: &NewPullRequest)
    -> Result<PullRequest, ForgeError>;
    /// Asks users and teams to review an open pull request.
    async fn request_reviews(
        &self,
        id: &RepoId,
        number: u64,
        users: &[String],
        teams: &[String],
    ) -> Result<(), ForgeError>;
    /// Sets an open pull request's title and body.
    async fn update_pull_request(
        &self,
        id: &RepoId,
        number: u64,
        new: &NewPullRequest,
    ) -> Result<PullRequest, ForgeError>;
    /// Whether pull request `number` is open, merged or closed.
    async fn pull_request_state(&self, id: &RepoId, number: u64) -> Result<PullRequestState, ForgeError> {
        let _ = number;
        Err(unsupported(id, "reading of a pull request's state"))
    }
    /// Whether the repository has any branch, i.e. any commit.
    async fn has_branches(&self, id: &RepoId) -> Result<bool, ForgeError> {
        Ok(self.repository(id).await?.is_some_and(|found| !found.empty))
    }
    /// Makes a webhook unless one with its URL is there; whether it made one.
    async fn ensure_webhook(&self, id: &RepoId, _hook: &Webhook) -> Result<bool, ForgeError> {
        Err(unsupported(id, "webhooks"))
    }
    /// Starts a run of a workflow.
    async fn dispatch_workflow(
        &self,
        id: &RepoId,
        _workflow: &str,
        _git_ref: &str,
        _inputs: &serde_json::Map<String, Value>,
    ) -> Result<(), ForgeError> {
        Err(unsupported(id, "workflow dispatch"))
    }
    /// The run of `workflow` on `git_ref` a dispatch started at or after
    /// `since` (seconds since the Unix epoch), if there is one.
    async fn find_dispatched_run(
        &self,
        id: &RepoId,
        _workflow: &str,
        _git_ref: &str,
        _since: i64,
    ) -> Result<Option<u64>, ForgeError> {
        Err(unsupported(id, "workflow runs"))
    }
    /// Turns pages on.
    async fn enable_pages(&self, id: &RepoId, _pages: &Pages) -> Result<(), ForgeError> {
        Err(unsupported(id, "GitHub Pages"))
    }
    /// The repository's numeric id (GitLab's project id).
    async fn repository_number(&self, id: &RepoId) -> Result<u64, ForgeError> {
        Err(unsupported(id, "numeric repository ids"))
    }
    /// Sets settings by the forge's own names (GitLab's project
    /// attributes); each is a state, so setting it again changes nothing.
    async fn edit_repository(
        &self,
        id: &RepoId,
        _settings: &serde_json::Map<String, Value>,
    ) -> Result<(), ForgeError> {
        Err(unsupported(id, "repository settings by name"))
    }
    /// Makes `branch` from `from` unless it is there.
    async fn ensure_branch(&self, id: &RepoId, _branch: &str, _from: &str) -> Result<(), ForgeError> {
        Err(unsupported(id, "branches made through its API"))
    }
    /// Makes a CI/CD variable, or sets the one with its key.
    async fn ensure_variable(&self, id: &RepoId, _variable: &Variable) -> Result<(), ForgeError> {
        Err(unsupported(id, "CI/CD variables"))
    }
    /// Sets a merge request's assignee, labels and branch removal.
    async fn set_merge_request_options(
        &self,
        id: &RepoId,
        _number: u64,
        _options: &MergeRequestOptions,
    ) -> Result<(), ForgeError> {
        Err(unsupported(id, "merge request options"))
    }
    /// Makes each group of `path` that is missing, outermost first; the
    /// innermost group's id.
    async fn ensure_group(&self, path: &[GroupLevel]) -> Result<u64, ForgeError> {
        let path: Vec<&str> = path.iter().map(|level| level.slug.as_str()).collect();
        Err(ForgeError::Invalid(format!(
            "group {}: goldpath's client of this forge has no groups",
            path.join("/")
        )))
    }
}

fn unsupported(id: &RepoId, what: &str) -> ForgeError {
    ForgeError::Invalid(format!("{id}: goldpath's client of this forge has no {what}"))
}

/// What a publish step asks of the repository beyond its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositorySettings {
    /// Replaces the topics when not empty.
    pub topics: Vec<String>,
    /// Users given access.
    pub collaborators: Vec<(String, Access)>,
    /// Teams given access.
    pub teams: Vec<(String, Access)>,
    /// Protection of the default branch.
    pub protection: Option<BranchProtection>,
}

/// Finds the repository, or creates it. A repository that exists is
/// returned as it is: whether its content is this request's is the push's
/// to decide (by the commit trailer), so someone else's is never changed.
pub async fn ensure_repository<F: Forge>(forge: &F, new: &NewRepository) -> Result<Repository, ForgeError> {
    if let Some(found) = forge.repository(&new.id).await? {
        return Ok(found);
    }
    match forge.create_repository(new).await {
        Ok(created) => Ok(created),
        // Created by a concurrent run of the same step since the lookup.
        Err(ForgeError::Refused { status: 409, .. }) => forge.repository(&new.id).await?.ok_or_else(|| {
            ForgeError::NotFound(format!("repository {} vanished while being created", new.id))
        }),
        Err(e) => Err(e),
    }
}

/// The repository, which must exist (it is pushed into, not made).
pub async fn existing_repository<F: Forge>(forge: &F, id: &RepoId) -> Result<Repository, ForgeError> {
    forge.repository(id).await?.ok_or_else(|| {
        ForgeError::NotFound(format!(
            "repository {id} does not exist; create it first (github:repo:create)"
        ))
    })
}

/// Creates the repository, or finds the empty one an earlier attempt of the
/// same step made. One with commits is someone else's: it is refused, and
/// left untouched.
pub async fn ensure_new_repository<F: Forge>(
    forge: &F,
    new: &NewRepository,
) -> Result<Repository, ForgeError> {
    match forge.repository(&new.id).await? {
        Some(found) => {
            if forge.has_branches(&new.id).await? {
                return Err(ForgeError::Invalid(format!(
                    "repository {} exists and has commits; it is left as it is: name a new repository",
                    new.id
                )));
            }
            Ok(found)
        }
        None => forge.create_repository(new).await,
    }
}

/// Applies the settings a publish step asks for, once its push holds this
/// request's commit. Each call sets a state, so repeating them after a
/// restart changes nothing.
pub async fn apply_settings<F: Forge>(
    forge: &F,
    id: &RepoId,
    settings: &RepositorySettings,
) -> Result<(), ForgeError> {
    if !settings.topics.is_empty() {
        forge.set_topics(id, &settings.topics).await?;
    }
    for (user, access) in &settings.collaborators {
        forge.add_collaborator(id, user, *access).await?;
    }
    for (team, access) in &settings.teams {
        forge.add_team(id, team, *access).await?;
    }
    if let Some(rule) = &settings.protection {
        forge.protect_branch(id, rule).await?;
    }
    Ok(())
}

/// Opens the pull request from `new.head`, or finds the one already open
/// (a retried or resumed step), and with `update` sets its title and body.
pub async fn ensure_pull_request<F: Forge>(
    forge: &F,
    id: &RepoId,
    new: &NewPullRequest,
    update: bool,
) -> Result<PullRequest, ForgeError> {
    match forge.find_pull_request(id, &new.head, &new.base).await? {
        Some(found) if update => forge.update_pull_request(id, found.number, new).await,
        Some(found) => Ok(found),
        None => forge.create_pull_request(id, new).await,
    }
}

/// A string field of a forge's JSON answer.
fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A forge holding one open pull request from `open-branch`, recording
    /// which calls were made.
    #[derive(Default)]
    struct OnePullRequest {
        calls: Mutex<Vec<&'static str>>,
    }

    impl OnePullRequest {
        fn record(&self, call: &'static str) {
            self.calls.lock().unwrap().push(call);
        }
    }

    impl Forge for OnePullRequest {
        async fn repository(&self, _: &RepoId) -> Result<Option<Repository>, ForgeError> {
            unreachable!()
        }
        async fn create_repository(&self, _: &NewRepository) -> Result<Repository, ForgeError> {
            unreachable!()
        }
        async fn delete_repository(&self, _: &RepoId) -> Result<(), ForgeError> {
            unreachable!()
        }
        async fn set_topics(&self, _: &RepoId, _: &[String]) -> Result<(), ForgeError> {
            unreachable!()
        }
        async fn add_collaborator(&self, _: &RepoId, _: &str, _: Access) -> Result<(), ForgeError> {
            unreachable!()
        }
        async fn protect_branch(&self, _: &RepoId, _: &BranchProtection) -> Result<(), ForgeError> {
            unreachable!()
        }
        async fn find_pull_request(
            &self,
            _: &RepoId,
            head: &str,
            _: &str,
        ) -> Result<Option<PullRequest>, ForgeError> {
            self.record("find");
            Ok((head == "open-branch").then(|| PullRequest {
                number: 7,
                url: "u/7".into(),
                head: None,
            }))
        }
        async fn create_pull_request(
            &self,
            _: &RepoId,
            _: &NewPullRequest,
        ) -> Result<PullRequest, ForgeError> {
            self.record("create");
            Ok(PullRequest {
                number: 8,
                url: "u/8".into(),
                head: None,
            })
        }
        async fn request_reviews(
            &self,
            _: &RepoId,
            _: u64,
            _: &[String],
            _: &[String],
        ) -> Result<(), ForgeError> {
            unreachable!()
        }
        async fn update_pull_request(
            &self,
            _: &RepoId,
            number: u64,
            _: &NewPullRequest,
        ) -> Result<PullRequest, ForgeError> {
            self.record("update");
            Ok(PullRequest {
                number,
                url: "u/7".into(),
                head: None,
            })
        }
    }

    fn change(head: &str) -> NewPullRequest {
        NewPullRequest {
            head: head.into(),
            base: "main".into(),
            title: "t".into(),
            body: "b".into(),
            draft: false,
        }
    }

    #[tokio::test]
    async fn a_pull_request_is_found_by_its_branch_and_reused_or_updated_never_opened_twice() {
        let id = RepoId {
            owner: "o".into(),
            name: "r".into(),
        };
        let cases = [
            ("open-branch", false, 7, vec!["find"]),
            ("open-branch", true, 7, vec!["find", "update"]),
            ("new-branch", true, 8, vec!["find", "create"]),
        ];
        for (head, update, number, calls) in cases {
            let forge = OnePullRequest::default();
            let pull = ensure_pull_request(&forge, &id, &change(head), update)
                .await
                .unwrap();
            assert_eq!(pull.number, number, "{head} {update}");
            assert_eq!(*forge.calls.lock().unwrap(), calls, "{head} {update}");
        }
    }
}
