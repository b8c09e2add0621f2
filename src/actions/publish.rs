//! `publish:github`, `publish:gitlab`, `publish:gitea` and `publish:git`:
//! which repository a step publishes to, what it commits, and the outputs it
//! reports, under Backstage's names. A `repoUrl` is checked before any URL
//! is built from it: its host must be configured, its parts plain names, its
//! owner one the request's namespace may publish under. Pushing is the
//! caller's: the git module does it.

use serde_json::{Value, json};

use super::{ActionError, kind_of, optional_bool, optional_str, required_str, string_list};
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

/// The inputs that only a forge's API can honour: on a plain git server
/// they are refused, never dropped.
const FORGE_INPUTS: &[&str] = &[
    "description",
    "repoVisibility",
    "topics",
    "collaborators",
    "protectDefaultBranch",
    "requiredApprovingReviewCount",
];

impl Publish {
    /// Reads the input of a publish step (`action`) of a request in the
    /// namespace `tenant` is for, against the configuration.
    pub fn resolve(
        action: &str,
        input: &Value,
        config: &Config,
        tenant: &TenantRules,
        workspace_files: &FileTree,
    ) -> Result<Publish, ActionError> {
        let repo = RepoUrl::parse(required_str(input, "repoUrl")?)
            .map_err(|e| ActionError::permanent(format!("input.repoUrl: {e}")))?;
        tenancy::check_repository(&repo, action == "publish:gitlab").map_err(ActionError::permanent)?;
        tenant.check_owner(&repo).map_err(ActionError::permanent)?;
        let branch = optional_str(input, "defaultBranch")?
            .unwrap_or("main")
            .to_string();
        let source = optional_str(input, "sourcePath")?.unwrap_or("");
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
        // The host is not named back: the message is the same for every
        // host goldpath does not publish to, and nothing was contacted.
        let route = config.route(&repo, &branch).ok_or_else(|| {
            ActionError::permanent(
                "input.repoUrl: its host is not one of the operator's gitHosts; goldpath publishes only \
                 to hosts listed there and contacted nothing",
            )
        })?;
        if optional_bool(input, "signCommit")? == Some(true) {
            return Err(ActionError::permanent(
                "input.signCommit: goldpath does not sign commits; remove it or set it to false",
            ));
        }
        let forge = if action == "publish:gitea" {
            forge_request(input, &repo, &branch, &route)?
        } else {
            None
        };
        Ok(Publish {
            route,
            message: optional_str(input, "gitCommitMessage")?
                .unwrap_or("initial commit")
                .to_string(),
            author: (
                optional_str(input, "gitAuthorName")?.map(str::to_string),
                optional_str(input, "gitAuthorEmail")?.map(str::to_string),
            ),
            forge,
            repo,
            branch,
            files,
        })
    }

    /// The step's output once `commit` is on the remote.
    pub fn output(&self, commit: &str) -> Value {
        json!({
            "remoteUrl": self.route.remote_url,
            "repoContentsUrl": self.route.contents_url,
            "commitHash": commit,
        })
    }
}

impl From<crate::forge::ForgeError> for ActionError {
    fn from(error: crate::forge::ForgeError) -> Self {
        ActionError {
            message: error.to_string(),
            transient: error.is_transient(),
            retry_after: error.retry_after(),
        }
    }
}

/// What a `publish:gitea` step asks of the forge, or `None` on a plain git
/// server, where asking for anything only the API can do is refused.
fn forge_request(
    input: &Value,
    repo: &RepoUrl,
    branch: &str,
    route: &RepositoryRoute,
) -> Result<Option<ForgeRequest>, ActionError> {
    match route.kind {
        ForgeKind::Gitea => {}
        ForgeKind::Git => {
            if let Some(key) = FORGE_INPUTS
                .iter()
                .find(|key| !input.get(**key).is_none_or(Value::is_null))
            {
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
    let visibility = match optional_str(input, "repoVisibility")?.unwrap_or("public") {
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
    let protect = optional_bool(input, "protectDefaultBranch")?.unwrap_or(false);
    let approvals = match input.get("requiredApprovingReviewCount") {
        None | Some(Value::Null) => 1,
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|n| *n <= 6)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                ActionError::permanent(
                    "input.requiredApprovingReviewCount must be a whole number from 0 to 6",
                )
            })?,
        Some(other) => {
            return Err(ActionError::permanent(format!(
                "input.requiredApprovingReviewCount must be a number, not {}",
                kind_of(other)
            )));
        }
    };
    let topics = string_list(input, "topics")?;
    if topics.len() > MAX_TOPICS {
        return Err(ActionError::permanent(format!(
            "input.topics: {} topics; a repository has at most {MAX_TOPICS}",
            topics.len()
        )));
    }
    Ok(Some(ForgeRequest {
        repository: NewRepository {
            id,
            description: optional_str(input, "description")?.unwrap_or("").to_string(),
            visibility,
            default_branch: branch.to_string(),
        },
        settings: RepositorySettings {
            topics,
            collaborators: collaborators(input)?,
            protection: protect.then(|| BranchProtection {
                branch: branch.to_string(),
                required_approvals: approvals,
            }),
        },
    }))
}

/// `collaborators`: Backstage's list of `{user, access}` (`team` entries
/// are refused: Gitea gives teams access to organisations, not through this
/// call).
fn collaborators(input: &Value) -> Result<Vec<(String, Access)>, ActionError> {
    let items = match input.get("collaborators") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ActionError::permanent(format!(
                "input.collaborators must be a list of {{user, access}}, not {}",
                kind_of(other)
            )));
        }
    };
    if items.len() > MAX_COLLABORATORS {
        return Err(ActionError::permanent(format!(
            "input.collaborators: {} entries; at most {MAX_COLLABORATORS}",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let field = |key: &str| item.get(key).and_then(Value::as_str);
            if field("team").is_some() {
                return Err(ActionError::permanent(format!(
                    "input.collaborators[{i}].team: Gitea gives access to users here; name a user"
                )));
            }
            let user = field("user").filter(|u| !u.is_empty()).ok_or_else(|| {
                ActionError::permanent(format!("input.collaborators[{i}].user is required"))
            })?;
            let access = field("access").unwrap_or("push");
            let access = Access::parse(access).ok_or_else(|| {
                ActionError::permanent(format!(
                    "input.collaborators[{i}].access: {access:?} is not pull, push or admin"
                ))
            })?;
            Ok((user.to_string(), access))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GitHost;
    use crate::engine::files::FileEntry;

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
        Publish::resolve("publish:gitea", &input, &config, &config.tenant("acme"), &files)
    }

    #[test]
    fn on_a_plain_git_server_inputs_only_a_forge_honours_are_refused_not_dropped() {
        let plain = resolve(ForgeKind::Git, json!({"repoUrl": "h?owner=acme&repo=app"})).unwrap();
        assert_eq!(plain.forge, None);
        for key in FORGE_INPUTS {
            let mut input = json!({"repoUrl": "h?owner=acme&repo=app"});
            input[key] = json!("x");
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
                required_approvals: 1
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
