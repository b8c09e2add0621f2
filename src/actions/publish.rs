//! `publish:github`, `publish:gitlab`, `publish:gitea` and `publish:git`:
//! which repository a step publishes to, what it commits, and the outputs it
//! reports, under Backstage's names. Pushing is the caller's: the git module
//! does it.

use serde_json::{Value, json};

use super::{ActionError, optional_str, required_str};
use crate::config::{Config, RepositoryRoute};
use crate::engine::files::FileTree;
use crate::engine::filters::RepoUrl;
use crate::engine::workspace;

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
    /// Reads a publish step's input against the configuration.
    pub fn resolve(
        input: &Value,
        config: &Config,
        workspace_files: &FileTree,
    ) -> Result<Publish, ActionError> {
        let repo = RepoUrl::parse(required_str(input, "repoUrl")?)
            .map_err(|e| ActionError::permanent(format!("input.repoUrl: {e}")))?;
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
        Ok(Publish {
            route: config.route(&repo, &branch),
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
