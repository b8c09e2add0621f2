//! `publish:gitlab`'s input: every input Backstage's action takes, so a
//! GitLab template passes the Template check, and the step's reading of it.
//! goldpath pushes to a GitLab host as to a plain git server (GitLab's API
//! is not implemented), so the inputs only that API could honour are
//! refused when a step gives them, never dropped.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::ActionError;
use super::fetch::BoolOrText;
use super::publish::PublishInput;

/// The input of `publish:gitlab`: Backstage's names.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct GitlabPublishInput {
    /// `host?owner=group&repo=project`.
    pub repo_url: String,
    /// Refused: `private`, `internal` or `public` on GitLab's API.
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
    /// `false` (an empty repository) is refused.
    #[schemars(with = "Option<BoolOrText>")]
    pub source_path: Option<Value>,
    /// Refused when true: skipping an existing project needs GitLab's API.
    pub skip_existing: Option<bool>,
    /// Pushes as the user this token is for, in place of the host's
    /// configured password.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
    /// Refused when true: making the user the owner needs GitLab's API.
    pub set_user_as_owner: Option<bool>,
    /// Refused: topics need GitLab's API.
    pub topics: Option<Vec<String>>,
    /// Refused: project settings need GitLab's API.
    pub settings: Option<serde_json::Map<String, Value>>,
    /// Refused: branch settings need GitLab's API.
    pub branches: Option<Vec<Value>>,
    /// Refused: CI/CD variables need GitLab's API.
    pub project_variables: Option<Vec<Value>>,
}

impl GitlabPublishInput {
    /// The publish it asks for, or the first input only GitLab's API could
    /// honour.
    pub fn to_publish(&self) -> Result<PublishInput, ActionError> {
        let api_only = [
            ("repoVisibility", self.repo_visibility.is_some()),
            ("skipExisting", self.skip_existing == Some(true)),
            ("setUserAsOwner", self.set_user_as_owner == Some(true)),
            ("topics", self.topics.as_ref().is_some_and(|t| !t.is_empty())),
            ("settings", self.settings.as_ref().is_some_and(|s| !s.is_empty())),
            ("branches", self.branches.as_ref().is_some_and(|b| !b.is_empty())),
            (
                "projectVariables",
                self.project_variables.as_ref().is_some_and(|v| !v.is_empty()),
            ),
        ];
        if let Some((name, _)) = api_only.iter().find(|(_, given)| *given) {
            return Err(ActionError::permanent(format!(
                "input.{name}: goldpath publishes to a GitLab host as to a plain git server (GitLab's API \
                 is not implemented), where it cannot be honoured; remove the input"
            )));
        }
        let source_path = match &self.source_path {
            None | Some(Value::Bool(true)) => None,
            Some(Value::String(path)) => Some(path.clone()),
            Some(_) => {
                return Err(ActionError::permanent(
                    "input.sourcePath: false asks for an empty repository, which goldpath does not publish; \
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::actions::input::decode;

    fn publish(input: Value) -> Result<PublishInput, ActionError> {
        decode::<GitlabPublishInput>(&input)?.to_publish()
    }

    #[test]
    fn the_inputs_a_push_honours_carry_over() {
        let input = publish(json!({
            "repoUrl": "gitlab.com?owner=g&repo=p",
            "defaultBranch": "trunk",
            "gitCommitMessage": "m",
            "gitAuthorName": "n",
            "gitAuthorEmail": "e@x",
            "sourcePath": "app",
            "token": "t",
        }))
        .unwrap();
        assert_eq!(input.repo_url, "gitlab.com?owner=g&repo=p");
        assert_eq!(input.default_branch.as_deref(), Some("trunk"));
        assert_eq!(input.source_path.as_deref(), Some("app"));
        assert_eq!(input.token.as_deref(), Some("t"));
        let whole = publish(json!({"repoUrl": "h?owner=g&repo=p", "sourcePath": true})).unwrap();
        assert_eq!(whole.source_path, None);
    }

    #[test]
    fn inputs_only_gitlabs_api_honours_are_refused_by_name() {
        for (name, value) in [
            ("repoVisibility", json!("private")),
            ("skipExisting", json!(true)),
            ("setUserAsOwner", json!(true)),
            ("topics", json!(["a"])),
            ("settings", json!({"visibility": "internal"})),
            ("branches", json!([{"name": "main", "protect": true}])),
            ("projectVariables", json!([{"key": "K", "value": "v"}])),
        ] {
            let mut input = json!({"repoUrl": "h?owner=g&repo=p"});
            input[name] = value;
            let error = publish(input).unwrap_err();
            assert!(
                error.message.starts_with(&format!("input.{name}: ")),
                "{}",
                error.message
            );
            assert!(error.message.contains("GitLab's API"), "{}", error.message);
        }
        let error = publish(json!({"repoUrl": "h?owner=g&repo=p", "sourcePath": false})).unwrap_err();
        assert!(
            error.message.starts_with("input.sourcePath: "),
            "{}",
            error.message
        );
    }
}
