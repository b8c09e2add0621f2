//! `publish:github`, `publish:gitlab`, `publish:gitea` and `publish:git`:
//! which repository a step publishes to, what it commits, and the outputs it
//! reports, under Backstage's names. A `repoUrl` is checked before any URL
//! is built from it: its host must be configured, its parts plain names, its
//! owner one the request's namespace may publish under. Pushing is the
//! caller's: the git module does it.

use serde_json::{Value, json};

use super::{ActionError, optional_str, required_str};
use crate::config::{Config, RepositoryRoute, TenantRules};
use crate::engine::files::FileTree;
use crate::engine::filters::RepoUrl;
use crate::engine::workspace;
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
}

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
        Ok(Publish {
            route,
            message: optional_str(input, "gitCommitMessage")?
                .unwrap_or("initial commit")
                .to_string(),
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
