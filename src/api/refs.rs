//! References written in templates and catalog files: a Backstage
//! `repoUrl` (`host?owner=o&repo=r`) and an entity reference
//! (`[kind:][namespace/]name`), parsed as Backstage parses them. Templates,
//! the catalog and the operator's configuration all name things this way.

/// The parts of a Backstage `repoUrl` such as
/// `github.com?owner=acme&repo=payments`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepoUrl {
    /// The git host, e.g. `github.com`.
    pub host: String,
    /// `owner` query parameter.
    pub owner: Option<String>,
    /// `repo` query parameter.
    pub repo: Option<String>,
    /// `organization` query parameter (Azure DevOps, Gitea).
    pub organization: Option<String>,
    /// `workspace` query parameter (Bitbucket).
    pub workspace: Option<String>,
    /// `project` query parameter (Bitbucket, Azure DevOps).
    pub project: Option<String>,
}

impl RepoUrl {
    /// Parses `host?owner=o&repo=r`, as Backstage's `parseRepoUrl` does.
    pub fn parse(repo_url: &str) -> Result<RepoUrl, String> {
        let url = url::Url::parse(&format!("https://{repo_url}"))
            .map_err(|e| format!("invalid repoUrl {repo_url:?}: {e}; expected host?owner=owner&repo=repo"))?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| {
            format!("invalid repoUrl {repo_url:?}: no host; expected host?owner=owner&repo=repo")
        })?;
        let mut parsed = RepoUrl {
            host: match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            },
            ..RepoUrl::default()
        };
        for (key, value) in url.query_pairs() {
            let value = Some(value.into_owned()).filter(|v| !v.is_empty());
            match key.as_ref() {
                "owner" => parsed.owner = value,
                "repo" => parsed.repo = value,
                "organization" => parsed.organization = value,
                "workspace" => parsed.workspace = value,
                "project" => parsed.project = value,
                _ => {}
            }
        }
        if parsed.repo.is_none() {
            return Err(format!(
                "invalid repoUrl {repo_url:?}: missing repo; expected host?owner=owner&repo=repo"
            ));
        }
        Ok(parsed)
    }

    /// `owner/repo`, Backstage's project slug.
    pub fn slug(&self) -> String {
        let owner = self
            .owner
            .as_deref()
            .or(self.organization.as_deref())
            .or(self.workspace.as_deref());
        match owner {
            Some(owner) => format!("{owner}/{}", self.repo.as_deref().unwrap_or_default()),
            None => self.repo.clone().unwrap_or_default(),
        }
    }
}

/// A parsed entity reference, `[kind:][namespace/]name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityRef {
    /// The entity's kind, as written or defaulted.
    pub kind: String,
    /// The entity's namespace, `default` when not given.
    pub namespace: String,
    /// The entity's name.
    pub name: String,
}

impl EntityRef {
    /// Parses a reference as Backstage's `parseEntityRef` does.
    pub fn parse(
        reference: &str,
        default_kind: Option<&str>,
        default_namespace: Option<&str>,
    ) -> Result<EntityRef, String> {
        let (kind, rest) = match reference.split_once(':') {
            Some((kind, rest)) => (Some(kind), rest),
            None => (None, reference),
        };
        let (namespace, name) = match rest.split_once('/') {
            Some((namespace, name)) => (Some(namespace), name),
            None => (None, rest),
        };
        let kind = kind.or(default_kind).filter(|k| !k.is_empty()).ok_or_else(|| {
            format!(
                "entity reference {reference:?} has no kind; write kind:namespace/name or give a defaultKind"
            )
        })?;
        if name.is_empty() || name.contains([':', '/']) {
            return Err(format!(
                "entity reference {reference:?} is not of the form [kind:][namespace/]name"
            ));
        }
        let namespace = namespace.or(default_namespace).unwrap_or("default");
        if namespace.is_empty() {
            return Err(format!("entity reference {reference:?} has an empty namespace"));
        }
        Ok(EntityRef {
            kind: kind.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for EntityRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}/{}", self.kind.to_lowercase(), self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_urls_parse_as_backstage_parses_them() {
        let parsed = RepoUrl::parse("github.com?owner=acme&repo=payments").unwrap();
        assert_eq!(parsed.host, "github.com");
        assert_eq!(
            (parsed.owner.as_deref(), parsed.repo.as_deref()),
            (Some("acme"), Some("payments"))
        );
        assert_eq!(parsed.slug(), "acme/payments");
        let bitbucket = RepoUrl::parse("bitbucket.org?workspace=w&project=p&repo=r").unwrap();
        assert_eq!(
            (bitbucket.workspace.as_deref(), bitbucket.project.as_deref()),
            (Some("w"), Some("p"))
        );
        assert_eq!(bitbucket.slug(), "w/r");
        assert_eq!(
            RepoUrl::parse("git.internal:8443?owner=o&repo=r").unwrap().host,
            "git.internal:8443"
        );
        assert!(
            RepoUrl::parse("github.com?owner=acme")
                .unwrap_err()
                .contains("missing repo")
        );
    }

    #[test]
    fn entity_refs_take_defaults_and_refuse_what_is_not_a_ref() {
        let full = EntityRef::parse("Component:team-a/payments", None, None).unwrap();
        assert_eq!(
            (full.kind.as_str(), full.namespace.as_str(), full.name.as_str()),
            ("Component", "team-a", "payments")
        );
        assert_eq!(full.to_string(), "component:team-a/payments");
        let bare = EntityRef::parse("jane", Some("user"), Some("people")).unwrap();
        assert_eq!(bare.to_string(), "user:people/jane");
        assert_eq!(
            EntityRef::parse("group:platform", None, None).unwrap().namespace,
            "default"
        );
        assert!(
            EntityRef::parse("jane", None, None)
                .unwrap_err()
                .contains("no kind")
        );
        assert!(EntityRef::parse("a:b/c/d", None, None).is_err());
    }
}
