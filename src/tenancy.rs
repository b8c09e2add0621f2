//! What a tenant's inputs may name: the owners and repository names a
//! namespace publishes under, the AppProjects its Applications may use, and
//! where a Template's git source may come from in the cluster. Pure checks
//! over the configuration, made before any URL is built or any connection
//! opened, so a refusal tells nothing about the host it names.

pub mod review;

use std::collections::BTreeMap;

use crate::api::RepoUrl;
use crate::config::{TemplateSources, TenantRules, pattern_matches};

/// Longest name a part of a `repoUrl` may be (GitHub's limit for repositories).
const MAX_NAME: usize = 100;
/// Deepest GitLab group nesting (GitLab's own limit).
pub const MAX_GROUP_DEPTH: usize = 20;

/// Checks that `value`, the `part` of a `repoUrl`, is a plain name: ASCII
/// letters, digits, `.`, `_` and `-`, not starting with `.` or `-`, no
/// `..`, at most 100 characters. Anything else (a decoded `/`, `?`, `#`,
/// `%`, a control character) could change which URL is built from it.
pub fn check_name(part: &str, value: &str) -> Result<(), String> {
    let invalid = |why: &str| {
        Err(format!(
            "input.repoUrl: {part} {value:?} is not a valid name: {why}"
        ))
    };
    if value.is_empty() {
        return invalid("it is empty");
    }
    if value.len() > MAX_NAME {
        return invalid("it is longer than 100 characters");
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return invalid(&format!(
            "{c:?} is not allowed; use letters, digits, '.', '_' and '-'"
        ));
    }
    if value.starts_with(['.', '-']) {
        return invalid("it must start with a letter, a digit or '_'");
    }
    if value.contains("..") {
        return invalid("'..' is not allowed");
    }
    Ok(())
}

/// Checks every part of `repo` a URL is built from. `nested_owner` allows
/// an owner of `/`-separated names (GitLab subgroups).
pub fn check_repository(repo: &RepoUrl, nested_owner: bool) -> Result<(), String> {
    if let Some(owner) = &repo.owner {
        if nested_owner {
            let groups: Vec<&str> = owner.split('/').collect();
            if groups.len() > MAX_GROUP_DEPTH {
                return Err(format!(
                    "input.repoUrl: owner {owner:?} nests more than {MAX_GROUP_DEPTH} groups"
                ));
            }
            for group in groups {
                check_name("owner", group).map_err(|e| format!("{e} (in owner {owner:?})"))?;
            }
        } else {
            check_name("owner", owner)?;
        }
    }
    for (part, value) in [
        ("repo", &repo.repo),
        ("organization", &repo.organization),
        ("workspace", &repo.workspace),
        ("project", &repo.project),
    ] {
        if let Some(value) = value {
            check_name(part, value)?;
        }
    }
    Ok(())
}

impl TenantRules {
    /// Whether this namespace may publish under `owner`: a pattern equal to
    /// it, or ending in `*` and a prefix of it.
    pub fn may_publish_under(&self, owner: &str) -> bool {
        self.publish_owners
            .iter()
            .any(|pattern| pattern_matches(pattern, owner))
    }

    /// Checks that `repo`'s owner (`owner`, else `organization`, else
    /// `workspace`) is one this namespace may publish under.
    pub fn check_owner(&self, repo: &RepoUrl) -> Result<(), String> {
        let owner = repo
            .owner
            .as_deref()
            .or(repo.organization.as_deref())
            .or(repo.workspace.as_deref());
        let allowed = || {
            if self.publish_owners.is_empty() {
                "none".to_string()
            } else {
                self.publish_owners.join(", ")
            }
        };
        match owner {
            Some(owner) if self.may_publish_under(owner) => Ok(()),
            Some(owner) => Err(format!(
                "input.repoUrl: namespace {} may not publish under owner {owner:?} (tenancy.publishOwners \
                 allows: {})",
                self.namespace,
                allowed()
            )),
            None => Err(format!(
                "input.repoUrl names no owner; namespace {} publishes only under an owner tenancy.publishOwners \
                 allows ({})",
                self.namespace,
                allowed()
            )),
        }
    }
}

impl TenantRules {
    /// Whether `tenancy.argocd.projects` names `project`, so it is this
    /// namespace's without reading the AppProject.
    pub fn lists_project(&self, project: &str) -> bool {
        self.argocd
            .projects
            .iter()
            .any(|pattern| pattern_matches(pattern, project))
    }

    /// Whether Applications of this namespace may use AppProject `project`
    /// (in Argo CD's namespace), whose labels are `labels` (`None` when it
    /// does not exist or cannot be read): one `tenancy.argocd.projects`
    /// names, or one whose `projectLabel` is this namespace's name. Only
    /// Argo CD's administrators label AppProjects, so a label naming
    /// another namespace gives this one nothing.
    pub fn may_use_project(&self, project: &str, labels: Option<&BTreeMap<String, String>>) -> bool {
        let label = &self.argocd.project_label;
        self.lists_project(project)
            || (!label.is_empty() && labels.and_then(|labels| labels.get(label)) == Some(&self.namespace))
    }

    /// [`Self::may_use_project`], with the refusal naming the rule.
    pub fn check_project(
        &self,
        project: &str,
        labels: Option<&BTreeMap<String, String>>,
    ) -> Result<(), String> {
        if self.may_use_project(project, labels) {
            return Ok(());
        }
        Err(format!(
            "input.projectName: AppProject {project:?} is not one that Applications of namespace {} may use \
             ({})",
            self.namespace,
            self.project_rule()
        ))
    }

    /// Which AppProjects are this namespace's, in the configuration's words.
    pub fn project_rule(&self) -> String {
        let listed = format!("tenancy.argocd.projects: {:?}", self.argocd.projects);
        if self.argocd.project_label.is_empty() {
            return listed;
        }
        format!(
            "{listed}, or an AppProject in Argo CD's namespace labelled {}={} \
             (tenancy.argocd.projectLabel)",
            self.argocd.project_label, self.namespace
        )
    }
}

/// Checks a Template's git source URL against what the cluster allows:
/// `https://` (or `http://` where configured) or ssh (`ssh://` or an
/// scp-style `user@host:path`) to a host listed in `templateSources.hosts`.
/// Never `file://` or a path: those read the operator's own disk, its cache
/// of every tenant's templates included. Returns, for an ssh source, the
/// host keys its host must present (`templateSources.sshKnownHosts`): an
/// ssh host without any is refused before it is contacted.
pub fn check_template_source(sources: &TemplateSources, url: &str) -> Result<Option<Vec<Vec<u8>>>, String> {
    let field = "spec.source.git.url";
    let not_listed = || {
        Err(format!(
            "{field}: the host is not in the operator's templateSources.hosts, so goldpath did not contact it"
        ))
    };
    let listed = |host: &str| !host.is_empty() && sources.hosts.iter().any(|h| h.eq_ignore_ascii_case(host));
    if !url.contains("://")
        && let Some((host, _)) = crate::git::scp_address(url)
    {
        if !listed(host) {
            return not_listed();
        }
        return ssh_host_keys(sources, host).map(Some);
    }
    let Ok(parsed) = url::Url::parse(url) else {
        return Err(format!(
            "{field}: only https:// and ssh URLs are allowed in the cluster; local paths are read only by the \
             goldpath CLI"
        ));
    };
    let ssh = match parsed.scheme() {
        "https" => false,
        "ssh" | "git+ssh" | "ssh+git" => true,
        "http" if sources.allow_http => false,
        "http" => {
            return Err(format!(
                "{field}: plain http:// is refused (templateSources.allowHttp is off); use https://"
            ));
        }
        "file" => {
            return Err(format!(
                "{field}: file:// URLs are read only by the goldpath CLI, never in the cluster; use https://"
            ));
        }
        other => {
            return Err(format!(
                "{field}: the {other}:// scheme is refused in the cluster; use https:// or ssh://"
            ));
        }
    };
    let host = match (parsed.host_str(), parsed.port()) {
        (Some(host), Some(22)) if ssh => host.to_string(),
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => String::new(),
    };
    if !listed(&host) {
        return not_listed();
    }
    if ssh {
        return ssh_host_keys(sources, &host).map(Some);
    }
    Ok(None)
}

/// The keys `templateSources.sshKnownHosts` lists for `host` (`host` or
/// `host:port`, as `templateSources.hosts` writes it); none is an error
/// naming the host, which the configuration lists, so naming it tells a
/// tenant nothing new.
fn ssh_host_keys(sources: &TemplateSources, host: &str) -> Result<Vec<Vec<u8>>, String> {
    let host = host.to_ascii_lowercase();
    let keys: Vec<Vec<u8>> = sources
        .known_hosts()?
        .into_iter()
        .filter(|entry| entry.hosts.contains(&host))
        .map(|entry| entry.key)
        .collect();
    if keys.is_empty() {
        return Err(format!(
            "spec.source.git.url: templateSources.sshKnownHosts has no host key for ssh host {host}, so \
             goldpath does not connect to it"
        ));
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(text: &str) -> RepoUrl {
        RepoUrl::parse(text).unwrap()
    }

    #[test]
    fn names_that_could_change_the_url_are_refused() {
        for good in ["acme", "payments-api", "a_b.c", "X9", "_x"] {
            check_name("repo", good).unwrap();
        }
        for (bad, why) in [
            ("", "empty"),
            ("a/b", "'/'"),
            ("..", "start"),
            ("a..b", "'..'"),
            (".hidden", "start"),
            ("-x", "start"),
            ("a?b", "'?'"),
            ("a#b", "'#'"),
            ("a%2Fb", "'%'"),
            ("a\nb", "'\\n'"),
            ("a b", "' '"),
            ("é", "'é'"),
        ] {
            let error = check_name("repo", bad).unwrap_err();
            assert!(error.contains(why), "{bad:?}: {error}");
            assert!(error.starts_with("input.repoUrl: repo "), "{error}");
        }
        assert!(check_name("repo", &"a".repeat(100)).is_ok());
        assert!(check_name("repo", &"a".repeat(101)).unwrap_err().contains("100"));
    }

    #[test]
    fn percent_decoded_separators_in_a_repo_url_are_refused() {
        let error = check_repository(&repo("github.com?owner=team-a%2F..%2Fx&repo=r"), false).unwrap_err();
        assert!(error.contains("owner"), "{error}");
        let error = check_repository(&repo("github.com?owner=team-b&repo=r%3Fq%23f"), false).unwrap_err();
        assert!(error.contains("repo \"r?q#f\""), "{error}");
        let error =
            check_repository(&repo("bitbucket.org?workspace=w&project=p%2F..&repo=r"), false).unwrap_err();
        assert!(error.contains("project"), "{error}");
        check_repository(&repo("gitlab.com?owner=group%2Fsub&repo=r"), true).unwrap();
        assert!(check_repository(&repo("gitlab.com?owner=group%2Fsub&repo=r"), false).is_err());
        let error = check_repository(&repo("gitlab.com?owner=group%2F..%2Fother&repo=r"), true).unwrap_err();
        assert!(error.contains("in owner"), "{error}");
        let deep = vec!["g"; 21].join("/");
        let error = check_repository(&repo(&format!("gitlab.com?owner={deep}&repo=r")), true).unwrap_err();
        assert!(error.contains("more than 20"), "{error}");
    }

    #[test]
    fn a_namespace_publishes_only_under_its_owners() {
        let rules = TenantRules {
            namespace: "team-b".into(),
            publish_owners: vec!["team-b".into(), "shared-*".into()],
            argocd: Default::default(),
        };
        rules
            .check_owner(&repo("github.com?owner=team-b&repo=r"))
            .unwrap();
        rules
            .check_owner(&repo("github.com?owner=shared-tools&repo=r"))
            .unwrap();
        rules
            .check_owner(&repo("gitea.example?organization=team-b&repo=r"))
            .unwrap();
        let error = rules
            .check_owner(&repo("github.com?owner=team-a&repo=r"))
            .unwrap_err();
        assert!(
            error.contains("namespace team-b may not publish under owner \"team-a\"")
                && error.contains("tenancy.publishOwners allows: team-b, shared-*"),
            "{error}"
        );
        let error = rules.check_owner(&repo("github.com?repo=r")).unwrap_err();
        assert!(error.contains("names no owner"), "{error}");
        let nobody = TenantRules {
            namespace: "x".into(),
            publish_owners: vec![],
            argocd: Default::default(),
        };
        assert!(
            nobody
                .check_owner(&repo("github.com?owner=x&repo=r"))
                .unwrap_err()
                .contains("none")
        );
        let anyone = TenantRules {
            namespace: "x".into(),
            publish_owners: vec!["*".into()],
            argocd: Default::default(),
        };
        anyone
            .check_owner(&repo("github.com?owner=whoever&repo=r"))
            .unwrap();
    }

    #[test]
    fn a_project_is_a_namespaces_when_listed_or_labelled_with_its_name() {
        let config = crate::config::Config::default();
        let b = config.tenant("team-b");
        let labelled =
            |namespace: &str| BTreeMap::from([("goldpath.dev/namespace".to_string(), namespace.to_string())]);
        assert!(b.may_use_project("team-b", None));
        assert!(b.may_use_project("shared-apps", Some(&labelled("team-b"))));
        // A label naming another namespace, another label, or none: refused.
        assert!(!b.may_use_project("shared-apps", Some(&labelled("team-a"))));
        assert!(!b.may_use_project("shared-apps", Some(&labelled("team-b-x"))));
        let other = BTreeMap::from([("team".to_string(), "team-b".to_string())]);
        assert!(!b.may_use_project("shared-apps", Some(&other)));
        assert!(!b.may_use_project("shared-apps", Some(&BTreeMap::new())));
        assert!(!b.may_use_project("shared-apps", None));
        let error = b
            .check_project("shared-apps", Some(&labelled("team-a")))
            .unwrap_err();
        assert!(
            error.starts_with("input.projectName: AppProject \"shared-apps\"")
                && error.contains("tenancy.argocd.projects: [\"team-b\"]")
                && error.contains("labelled goldpath.dev/namespace=team-b"),
            "{error}"
        );
        b.check_project("shared-apps", Some(&labelled("team-b"))).unwrap();

        // Another label key, or none at all.
        let config: crate::config::Config =
            serde_yaml_ng::from_str("tenancy: {argocd: {projectLabel: example.com/tenant}}\n").unwrap();
        let b = config.tenant("team-b");
        let tenant = BTreeMap::from([("example.com/tenant".to_string(), "team-b".to_string())]);
        assert!(b.may_use_project("shared-apps", Some(&tenant)));
        assert!(!b.may_use_project("shared-apps", Some(&labelled("team-b"))));
        let config: crate::config::Config =
            serde_yaml_ng::from_str("tenancy: {argocd: {projectLabel: \"\"}}\n").unwrap();
        let b = config.tenant("team-b");
        assert!(!b.may_use_project(
            "shared-apps",
            Some(&BTreeMap::from([(String::new(), "team-b".to_string())]))
        ));
        let error = b.check_project("shared-apps", None).unwrap_err();
        assert!(!error.contains("labelled"), "{error}");
    }

    #[test]
    fn template_sources_are_https_to_listed_hosts_only() {
        let sources = TemplateSources {
            hosts: vec!["git.example".into(), "127.0.0.1:8443".into()],
            allow_http: false,
            ssh_known_hosts: String::new(),
        };
        check_template_source(&sources, "https://git.example/team/templates.git").unwrap();
        check_template_source(&sources, "https://GIT.example/t.git").unwrap();
        check_template_source(&sources, "https://127.0.0.1:8443/t.git").unwrap();
        for (url, rule) in [
            (
                "file:///var/cache/goldpath/abc.git",
                "file:// URLs are read only by the goldpath CLI",
            ),
            (
                "/var/cache/goldpath/abc.git",
                "local paths are read only by the goldpath CLI",
            ),
            ("http://git.example/t.git", "templateSources.allowHttp"),
            ("ssh://git@10.0.0.1:22/t.git", "templateSources.hosts"),
            ("git@10.0.0.1:t.git", "templateSources.hosts"),
            (
                "ssh://git@git.example/t.git",
                "no host key for ssh host git.example",
            ),
            ("git@git.example:t.git", "no host key for ssh host git.example"),
            ("git://git.example/t.git", "git:// scheme is refused"),
            ("https://10.0.0.1:22/t.git", "templateSources.hosts"),
            ("https://git.example:8443/t.git", "templateSources.hosts"),
            ("https://127.0.0.1/t.git", "templateSources.hosts"),
        ] {
            let error = check_template_source(&sources, url).unwrap_err();
            assert!(error.contains(rule), "{url}: {error}");
            assert!(!error.contains("10.0.0.1") && !error.contains(":22"), "{error}");
        }
        let http = TemplateSources {
            allow_http: true,
            ..sources
        };
        check_template_source(&http, "http://git.example/t.git").unwrap();
        assert!(check_template_source(&TemplateSources::default(), "https://github.com/a/b.git").is_err());
    }

    #[test]
    fn ssh_sources_are_to_listed_hosts_with_known_keys_only() {
        // Two made-up keys, base64 of their wire format.
        let (one, two) = ("AAAAC3NzaC1lZDI1NTE5AAAAIAEB", "AAAAC3NzaC1lZDI1NTE5AAAAIAIC");
        let sources = TemplateSources {
            hosts: vec![
                "git.example".into(),
                "127.0.0.1:2222".into(),
                "other.example".into(),
            ],
            allow_http: false,
            ssh_known_hosts: format!(
                "# comment\ngit.example,mirror.example ssh-ed25519 {one} c\n[127.0.0.1]:2222 ssh-ed25519 {two}\n\
                 [git.example]:22 ssh-ed25519 {two}\n"
            ),
        };
        let keys = |url: &str| check_template_source(&sources, url).unwrap().unwrap().len();
        assert_eq!(keys("ssh://git@git.example/team/t.git"), 2);
        assert_eq!(keys("ssh://git@git.example:22/team/t.git"), 2);
        assert_eq!(keys("git@git.example:team/t.git"), 2);
        assert_eq!(keys("ssh://git@127.0.0.1:2222/t.git"), 1);
        assert_eq!(
            check_template_source(&sources, "https://git.example/t.git").unwrap(),
            None
        );
        for (url, rule) in [
            ("ssh://git@127.0.0.1/t.git", "templateSources.hosts"),
            ("ssh://git@mirror.example/t.git", "templateSources.hosts"),
            ("git@10.0.0.1:t.git", "templateSources.hosts"),
            (
                "ssh://other.example/t.git",
                "no host key for ssh host other.example",
            ),
        ] {
            let error = check_template_source(&sources, url).unwrap_err();
            assert!(error.contains(rule), "{url}: {error}");
            assert!(!error.contains("10.0.0.1"), "{error}");
        }
        let hashed = TemplateSources {
            ssh_known_hosts: format!("|1|abc|def ssh-ed25519 {one}\n"),
            ..sources.clone()
        };
        assert!(
            hashed
                .known_hosts()
                .unwrap_err()
                .contains("line 1: hashed host names")
        );
        let garbled = TemplateSources {
            ssh_known_hosts: "\ngit.example ssh-ed25519 !!!\n".into(),
            ..sources
        };
        assert!(
            garbled
                .known_hosts()
                .unwrap_err()
                .contains("line 2: the key is not base64")
        );
    }
}
