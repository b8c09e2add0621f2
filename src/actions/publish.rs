//! `publish:github`, `publish:gitlab`, `publish:gitea` and `publish:git`:
//! which repository a step publishes to, what it commits, and the outputs it
//! reports, under Backstage's names. A `repoUrl` is checked before any URL
//! is built from it: its host must be configured, its parts plain names, its
//! owner one the request's namespace may publish under. Pushing is the
//! caller's: the git module does it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ActionError, ActionKind, kind_of};
use crate::api::RepoUrl;
use crate::config::{Config, RepositoryRoute, TenantRules};
use crate::engine::files::FileTree;
use crate::engine::workspace;
use crate::forge::{
    Access, BranchProtection, ForgeKind, NewRepository, RepoId, RepositorySettings, Visibility,
};
use crate::tenancy;

/// A publish step, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Publish {
    /// The `repoUrl` it names.
    pub repo: RepoUrl,
    /// Branch to create (`defaultBranch`, default `main`).
    pub branch: String,
    /// Where that repository lives.
    pub route: RepositoryRoute,
    /// Commit message (`gitCommitMessage`).
    pub message: String,
    /// The files to commit: the workspace, or its `sourcePath` directory.
    pub files: FileTree,
    /// Commit author (`gitAuthorName`, `gitAuthorEmail`) when the step
    /// names one; the operator's `gitAuthor` otherwise.
    pub author: (Option<String>, Option<String>),
    /// What the forge's API is asked for, on a host of a forge's type.
    pub forge: Option<ForgeRequest>,
}

/// The input of `publish:github`, `publish:gitlab`, `publish:gitea` and
/// `publish:git`: Backstage's names. Only `publish:gitea` reads the
/// repository settings, and only on a host of type gitea.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct PublishInput {
    /// `host?owner=owner&repo=repo`.
    pub repo_url: String,
    /// The repository's description.
    pub description: Option<String>,
    /// The branch to create (default `main`).
    pub default_branch: Option<String>,
    /// `public` or `private`; on GitHub also `internal`.
    #[schemars(extend("enum" = ["public", "private", "internal"]))]
    pub repo_visibility: Option<String>,
    /// The commit message (default `initial commit`).
    pub git_commit_message: Option<String>,
    /// The commit author's name (default the operator's `gitAuthor`).
    pub git_author_name: Option<String>,
    /// The commit author's email.
    pub git_author_email: Option<String>,
    /// The workspace directory to publish (default all of it).
    pub source_path: Option<String>,
    /// Refused when true: goldpath does not sign commits.
    pub sign_commit: Option<bool>,
    /// Pushes (and calls the forge) as the user this token is for, in
    /// place of the host's configured password.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
    /// The repository's topics.
    pub topics: Option<Vec<String>>,
    /// Users given access: `{user, access}` with access pull, push or admin.
    pub collaborators: Option<Vec<Collaborator>>,
    /// Whether the default branch is protected.
    pub protect_default_branch: Option<bool>,
    /// Approvals a pull request needs, 0 to 6 (default 1).
    #[schemars(with = "Option<u8>", range(max = 6))]
    pub required_approving_review_count: Option<Value>,
}

/// One of `collaborators`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
pub struct Collaborator {
    /// The user.
    pub user: Option<String>,
    /// A team of the organisation (GitHub; refused on Gitea, which gives
    /// teams access to organisations).
    pub team: Option<String>,
    /// `pull`, `push` (the default) or `admin`; on GitHub also `triage`
    /// and `maintain`.
    pub access: Option<String>,
}

/// The output of a publish step.
#[derive(Serialize, JsonSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct PublishOutput {
    /// The repository's clone URL.
    pub remote_url: String,
    /// Where its files are browsed.
    pub repo_contents_url: String,
    /// The commit published.
    pub commit_hash: String,
}

impl PublishInput {
    /// The first input only a forge's API can honour that the step gives.
    fn forge_only_input(&self) -> Option<&'static str> {
        [
            ("description", self.description.is_some()),
            ("repoVisibility", self.repo_visibility.is_some()),
            ("topics", self.topics.is_some()),
            ("collaborators", self.collaborators.is_some()),
            ("protectDefaultBranch", self.protect_default_branch.is_some()),
            (
                "requiredApprovingReviewCount",
                self.required_approving_review_count.is_some(),
            ),
        ]
        .into_iter()
        .find_map(|(name, given)| given.then_some(name))
    }
}

/// What a publish step asks of a forge's API: the repository to create and
/// the settings to apply once it holds this request's commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForgeRequest {
    /// The repository, if it must be created.
    pub repository: NewRepository,
    /// Its topics, collaborators and branch protection.
    pub settings: RepositorySettings,
}

/// Most topics a step may set (Gitea takes at most 25).
pub const MAX_TOPICS: usize = 25;
/// Most collaborators a step may add, each one API call.
pub const MAX_COLLABORATORS: usize = 50;

impl Publish {
    /// Reads the input of a publish step (`action`) of a request in the
    /// namespace `tenant` is for, against the configuration.
    pub fn resolve(
        action: ActionKind,
        input: &PublishInput,
        config: &Config,
        tenant: &TenantRules,
        workspace_files: &FileTree,
    ) -> Result<Publish, ActionError> {
        let repo = checked_repo(action, &input.repo_url, tenant)?;
        let branch = input.default_branch.as_deref().unwrap_or("main").to_string();
        let source = input.source_path.as_deref().unwrap_or("");
        let source = workspace::join("", source)
            .map_err(|e| ActionError::permanent(format!("input.sourcePath: {e}")))?;
        let files = workspace::subtree(workspace_files, &source);
        if files.is_empty() {
            return Err(ActionError::permanent(format!(
                "there is nothing to publish: the workspace{} is empty",
                if source.is_empty() {
                    String::new()
                } else {
                    format!("'s {source}")
                }
            )));
        }
        let route = route(config, &repo, &branch)?;
        if input.sign_commit == Some(true) {
            return Err(ActionError::permanent(
                "input.signCommit: goldpath does not sign commits; remove it or set it to false",
            ));
        }
        let forge = if action == ActionKind::PublishGitea {
            forge_request(input, &repo, &branch, &route)?
        } else {
            // publish:git only pushes; publish:github reads these itself.
            if let Some(key) = input
                .forge_only_input()
                .filter(|_| action == ActionKind::PublishGit)
            {
                return Err(ActionError::permanent(format!(
                    "input.{key}: publish:git only pushes, so it cannot be honoured; use the forge's own \
                     publish action (publish:gitea, publish:github), or remove the input"
                )));
            }
            None
        };
        Ok(Publish {
            route,
            message: input
                .git_commit_message
                .as_deref()
                .unwrap_or("initial commit")
                .to_string(),
            author: (input.git_author_name.clone(), input.git_author_email.clone()),
            forge,
            repo,
            branch,
            files,
        })
    }

    /// The step's output once `commit` is on the remote.
    pub fn output(&self, commit: &str) -> PublishOutput {
        PublishOutput {
            remote_url: self.route.remote_url.clone(),
            repo_contents_url: self.route.contents_url.clone(),
            commit_hash: commit.to_string(),
        }
    }
}

/// The repository a step's `repoUrl` names, checked: plain names, and an
/// owner the request's namespace may publish under.
pub(crate) fn checked_repo(
    action: ActionKind,
    repo_url: &str,
    tenant: &TenantRules,
) -> Result<RepoUrl, ActionError> {
    let repo = RepoUrl::parse(repo_url).map_err(|e| ActionError::permanent(format!("input.repoUrl: {e}")))?;
    tenancy::check_repository(&repo, action == ActionKind::PublishGitlab).map_err(ActionError::permanent)?;
    tenant.check_owner(&repo).map_err(ActionError::permanent)?;
    Ok(repo)
}

/// Where `repo` lives, when its host is one the configuration lists.
pub(crate) fn route(config: &Config, repo: &RepoUrl, branch: &str) -> Result<RepositoryRoute, ActionError> {
    // The host is not named back: the message is the same for every host
    // goldpath does not publish to, and nothing was contacted.
    config.route(repo, branch).ok_or_else(|| {
        ActionError::permanent(
            "input.repoUrl: its host is not one of the operator's gitHosts; goldpath publishes only to \
             hosts listed there and contacted nothing",
        )
    })
}

impl From<crate::forge::ForgeError> for ActionError {
    fn from(error: crate::forge::ForgeError) -> Self {
        ActionError {
            message: error.to_string(),
            transient: error.is_transient(),
            retry_after: error.retry_after(),
            waiting: false,
        }
    }
}

/// What a `publish:gitea` step asks of the forge, or `None` on a plain git
/// server, where asking for anything only the API can do is refused.
fn forge_request(
    input: &PublishInput,
    repo: &RepoUrl,
    branch: &str,
    route: &RepositoryRoute,
) -> Result<Option<ForgeRequest>, ActionError> {
    match route.kind {
        ForgeKind::Gitea => {}
        ForgeKind::Git => {
            if let Some(key) = input.forge_only_input() {
                return Err(ActionError::permanent(format!(
                    "input.{key}: the repoUrl's host is a plain git server (gitHosts type git), where only \
                     a forge's API could honour it; configure the host as type gitea, or remove the input"
                )));
            }
            return Ok(None);
        }
        other => {
            return Err(ActionError::permanent(format!(
                "publish:gitea: the repoUrl's host is configured as type {other}, not gitea"
            )));
        }
    }
    let visibility = match input.repo_visibility.as_deref().unwrap_or("public") {
        "public" => Visibility::Public,
        "private" => Visibility::Private,
        other => {
            return Err(ActionError::permanent(format!(
                "input.repoVisibility: {other:?} is not public or private (Gitea has no internal visibility)"
            )));
        }
    };
    let id = RepoId {
        owner: repo.owner.clone().unwrap_or_default(),
        name: repo.repo.clone().unwrap_or_default(),
    };
    let protect = input.protect_default_branch.unwrap_or(false);
    let approvals = required_approvals(input.required_approving_review_count.as_ref())?;
    let topics = bounded_topics(input.topics.as_deref())?;
    let (collaborators, _) = collaborators(input.collaborators.as_deref(), false)?;
    Ok(Some(ForgeRequest {
        repository: NewRepository {
            id,
            description: input.description.clone().unwrap_or_default(),
            visibility,
            default_branch: branch.to_string(),
            ..NewRepository::default()
        },
        settings: RepositorySettings {
            topics,
            collaborators,
            teams: Vec::new(),
            protection: protect.then(|| BranchProtection {
                branch: branch.to_string(),
                required_approvals: approvals,
                ..BranchProtection::default()
            }),
        },
    }))
}

/// `requiredApprovingReviewCount`: 0 to 6, default 1.
pub(crate) fn required_approvals(count: Option<&Value>) -> Result<u32, ActionError> {
    match count {
        None | Some(Value::Null) => Ok(1),
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|n| *n <= 6)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                ActionError::permanent(
                    "input.requiredApprovingReviewCount must be a whole number from 0 to 6",
                )
            }),
        Some(other) => Err(ActionError::permanent(format!(
            "input.requiredApprovingReviewCount must be a number, not {}",
            kind_of(other)
        ))),
    }
}

/// `topics`, at most [`MAX_TOPICS`].
pub(crate) fn bounded_topics(topics: Option<&[String]>) -> Result<Vec<String>, ActionError> {
    let topics = topics.unwrap_or_default();
    if topics.len() > MAX_TOPICS {
        return Err(ActionError::permanent(format!(
            "input.topics: {} topics; a repository has at most {MAX_TOPICS}",
            topics.len()
        )));
    }
    Ok(topics.to_vec())
}

/// People and teams a step gives access.
type Grants = (Vec<(String, Access)>, Vec<(String, Access)>);

/// `collaborators`: Backstage's list of `{user, access}` and, on GitHub,
/// `{team, access}` with GitHub's five levels. Gitea gives teams access to
/// organisations, not through a repository's call, so there a `team` entry
/// is refused, as are `triage` and `maintain`.
pub(crate) fn collaborators(items: Option<&[Collaborator]>, github: bool) -> Result<Grants, ActionError> {
    let items = items.unwrap_or_default();
    if items.len() > MAX_COLLABORATORS {
        return Err(ActionError::permanent(format!(
            "input.collaborators: {} entries; at most {MAX_COLLABORATORS}",
            items.len()
        )));
    }
    let (mut users, mut teams) = (Vec::new(), Vec::new());
    for (i, item) in items.iter().enumerate() {
        let access = item.access.as_deref().unwrap_or("push");
        let parsed = if github {
            Access::parse_github(access)
        } else {
            Access::parse(access)
        };
        let access = parsed.ok_or_else(|| {
            ActionError::permanent(format!(
                "input.collaborators[{i}].access: {access:?} is not {}",
                if github {
                    "pull, triage, push, maintain or admin"
                } else {
                    "pull, push or admin"
                }
            ))
        })?;
        let named = |name: &Option<String>| name.as_deref().filter(|n| !n.is_empty()).map(str::to_string);
        match (named(&item.user), named(&item.team)) {
            (Some(_), Some(_)) => {
                return Err(ActionError::permanent(format!(
                    "input.collaborators[{i}]: name a user or a team, not both"
                )));
            }
            (Some(user), None) => users.push((user, access)),
            (None, Some(team)) if github => teams.push((team, access)),
            (None, Some(_)) => {
                return Err(ActionError::permanent(format!(
                    "input.collaborators[{i}].team: Gitea gives access to users here; name a user"
                )));
            }
            (None, None) => {
                return Err(ActionError::permanent(format!(
                    "input.collaborators[{i}].user is required"
                )));
            }
        }
    }
    Ok((users, teams))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GitHost;
    use crate::engine::files::FileEntry;
    use serde_json::json;

    fn config(kind: ForgeKind) -> Config {
        Config {
            git_hosts: vec![GitHost {
                host: "*".into(),
                url: "https://{host}/{owner}/{repo}.git".into(),
                kind,
                ..GitHost::default()
            }],
            ..Config::default()
        }
    }

    fn resolve(kind: ForgeKind, input: Value) -> Result<Publish, ActionError> {
        let files: FileTree = [("README.md".to_string(), FileEntry::text("# hi\n"))]
            .into_iter()
            .collect();
        let config = config(kind);
        let input = crate::actions::input::decode(&input)?;
        Publish::resolve(
            ActionKind::PublishGitea,
            &input,
            &config,
            &config.tenant("acme"),
            &files,
        )
    }

    #[test]
    fn publish_git_refuses_the_inputs_only_a_forge_honours() {
        let files: FileTree = [("README.md".to_string(), FileEntry::text("# hi\n"))]
            .into_iter()
            .collect();
        let config = config(ForgeKind::Git);
        let input =
            crate::actions::input::decode(&json!({"repoUrl": "h?owner=acme&repo=app", "topics": ["a"]}))
                .unwrap();
        let error = Publish::resolve(
            ActionKind::PublishGit,
            &input,
            &config,
            &config.tenant("acme"),
            &files,
        )
        .unwrap_err();
        assert!(
            error.message.starts_with("input.topics: publish:git only pushes"),
            "{}",
            error.message
        );
    }

    #[test]
    fn on_a_plain_git_server_inputs_only_a_forge_honours_are_refused_not_dropped() {
        let plain = resolve(ForgeKind::Git, json!({"repoUrl": "h?owner=acme&repo=app"})).unwrap();
        assert_eq!(plain.forge, None);
        let forge_inputs = [
            ("description", json!("x")),
            ("repoVisibility", json!("private")),
            ("topics", json!(["x"])),
            ("collaborators", json!([{"user": "x"}])),
            ("protectDefaultBranch", json!(false)),
            ("requiredApprovingReviewCount", json!(2)),
        ];
        for (key, value) in forge_inputs {
            let mut input = json!({"repoUrl": "h?owner=acme&repo=app"});
            input[key] = value;
            let error = resolve(ForgeKind::Git, input).unwrap_err();
            assert!(
                error.message.starts_with(&format!("input.{key}: ")),
                "{}",
                error.message
            );
            assert!(error.message.contains("gitHosts type git"), "{}", error.message);
        }
    }

    #[test]
    fn a_gitea_step_asks_for_its_repository_and_settings() {
        let publish = resolve(
            ForgeKind::Gitea,
            json!({
                "repoUrl": "h?owner=acme&repo=app",
                "description": "d",
                "defaultBranch": "trunk",
                "topics": ["a", "b"],
                "collaborators": [{"user": "alice"}, {"user": "bob", "access": "admin"}],
                "protectDefaultBranch": true,
                "gitAuthorName": "Bot",
            }),
        )
        .unwrap();
        let forge = publish.forge.unwrap();
        assert_eq!(
            forge.repository,
            NewRepository {
                id: RepoId {
                    owner: "acme".into(),
                    name: "app".into()
                },
                description: "d".into(),
                visibility: Visibility::Public,
                default_branch: "trunk".into(),
                ..NewRepository::default()
            }
        );
        assert_eq!(
            forge.settings.collaborators,
            [
                ("alice".to_string(), Access::Write),
                ("bob".to_string(), Access::Admin)
            ]
        );
        assert_eq!(
            forge.settings.protection,
            Some(BranchProtection {
                branch: "trunk".into(),
                required_approvals: 1,
                ..BranchProtection::default()
            })
        );
        assert_eq!(publish.author, (Some("Bot".into()), None));
    }

    #[test]
    fn topics_and_collaborators_are_bounded() {
        let topics: Vec<String> = (0..=MAX_TOPICS).map(|i| format!("t{i}")).collect();
        let error = resolve(
            ForgeKind::Gitea,
            json!({"repoUrl": "h?owner=acme&repo=app", "topics": topics}),
        )
        .unwrap_err();
        assert!(error.message.contains("at most 25"), "{}", error.message);
        let people: Vec<Value> = (0..=MAX_COLLABORATORS)
            .map(|i| json!({"user": format!("u{i}")}))
            .collect();
        let error = resolve(
            ForgeKind::Gitea,
            json!({"repoUrl": "h?owner=acme&repo=app", "collaborators": people}),
        )
        .unwrap_err();
        assert!(error.message.contains("at most 50"), "{}", error.message);
    }
}
