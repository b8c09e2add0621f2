//! Operator configuration: where repositories are published, how Argo CD
//! Applications are made, and what `kubernetes:apply` may write. Read from
//! a YAML file by `goldpath run`; built in code by `goldpath scaffold`.

use serde::{Deserialize, Serialize};

use crate::engine::filters::RepoUrl;

/// The whole configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Where each git host's repositories live. A `repoUrl` whose host is
    /// not listed goes to `https://<host>/<owner>/<repo>.git`.
    #[serde(default)]
    pub git_hosts: Vec<GitHost>,
    /// Who commits what goldpath publishes.
    #[serde(default)]
    pub git_author: GitAuthor,
    /// How Argo CD Applications are made.
    #[serde(default)]
    pub argocd: ArgoCd,
}

/// One git host a `repoUrl` may name.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitHost {
    /// The host as `repoUrl` names it, e.g. `github.com`; `*` for every host
    /// not listed.
    pub host: String,
    /// Clone and push URL, with `{host}`, `{owner}`, `{repo}`,
    /// `{organization}`, `{workspace}` and `{project}` filled in from the
    /// `repoUrl`, e.g. `http://git.internal:23232/{owner}-{repo}.git`.
    pub url: String,
    /// Browsable URL of a branch's files, with the same placeholders plus
    /// `{branch}`; defaults to the clone URL without `.git`, then `/blob/{branch}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contents_url: Option<String>,
    /// A Secret in the operator's namespace with `username` and `password`
    /// for pushing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
}

/// Commit author.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitAuthor {
    /// Author name.
    pub name: String,
    /// Author email.
    pub email: String,
}

impl Default for GitAuthor {
    fn default() -> Self {
        GitAuthor {
            name: "goldpath".into(),
            email: "goldpath@localhost".into(),
        }
    }
}

/// Argo CD settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArgoCd {
    /// Namespace Argo CD watches for Applications.
    pub namespace: String,
    /// Project an Application gets when the step names none.
    pub default_project: String,
    /// Cluster Applications deploy to.
    pub destination_server: String,
}

impl Default for ArgoCd {
    fn default() -> Self {
        ArgoCd {
            namespace: "argocd".into(),
            default_project: "default".into(),
            destination_server: "https://kubernetes.default.svc".into(),
        }
    }
}

/// Where one repository is published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepositoryRoute {
    /// Clone and push URL.
    pub remote_url: String,
    /// Browsable URL of the branch's files.
    pub contents_url: String,
    /// Secret with push credentials, if the host needs them.
    pub credentials_secret: Option<String>,
}

impl Config {
    /// Where `repo` on `branch` is published.
    pub fn route(&self, repo: &RepoUrl, branch: &str) -> RepositoryRoute {
        let host = self
            .git_hosts
            .iter()
            .find(|h| h.host.eq_ignore_ascii_case(&repo.host))
            .or_else(|| self.git_hosts.iter().find(|h| h.host == "*"));
        let url_pattern = host.map_or("https://{host}/{owner}/{repo}.git", |h| h.url.as_str());
        let remote_url = fill(url_pattern, repo, branch);
        let contents_url = match host.and_then(|h| h.contents_url.as_deref()) {
            Some(pattern) => fill(pattern, repo, branch),
            None => format!("{}/blob/{branch}", remote_url.trim_end_matches(".git")),
        };
        RepositoryRoute {
            remote_url,
            contents_url,
            credentials_secret: host.and_then(|h| h.credentials_secret.clone()),
        }
    }
}

fn fill(pattern: &str, repo: &RepoUrl, branch: &str) -> String {
    let part = |value: &Option<String>| value.clone().unwrap_or_default();
    pattern
        .replace("{host}", &repo.host)
        .replace("{owner}", &part(&repo.owner))
        .replace("{repo}", &part(&repo.repo))
        .replace("{organization}", &part(&repo.organization))
        .replace("{workspace}", &part(&repo.workspace))
        .replace("{project}", &part(&repo.project))
        .replace("{branch}", branch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_host_routes_to_its_server_and_others_to_https() {
        let config = Config {
            git_hosts: vec![GitHost {
                host: "github.com".into(),
                url: "http://127.0.0.1:9000/{owner}-{repo}.git".into(),
                contents_url: None,
                credentials_secret: Some("git-push".into()),
            }],
            ..Config::default()
        };
        let repo = RepoUrl::parse("github.com?owner=acme&repo=payments").unwrap();
        assert_eq!(
            config.route(&repo, "main"),
            RepositoryRoute {
                remote_url: "http://127.0.0.1:9000/acme-payments.git".into(),
                contents_url: "http://127.0.0.1:9000/acme-payments/blob/main".into(),
                credentials_secret: Some("git-push".into()),
            }
        );
        let other = RepoUrl::parse("gitlab.com?owner=team&repo=bucket").unwrap();
        assert_eq!(
            config.route(&other, "trunk").remote_url,
            "https://gitlab.com/team/bucket.git"
        );
        assert_eq!(
            config.route(&other, "trunk").contents_url,
            "https://gitlab.com/team/bucket/blob/trunk"
        );
    }
}
