//! Operator configuration: where repositories are published, how Argo CD
//! Applications are made, what `kubernetes:apply` may write, where Template
//! sources may come from, and what each namespace (tenant) may name and use.
//! Read from a YAML file by `goldpath run`; built in code by `goldpath
//! scaffold`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::api::RepoUrl;
use crate::forge::ForgeKind;
use crate::forge::github_app::Installation;

/// The whole configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// Where each git host's repositories live. A `repoUrl` whose host is
    /// not listed (and no `*` entry) is refused: nothing is published there.
    #[serde(default)]
    pub git_hosts: Vec<GitHost>,
    /// Who commits what goldpath publishes.
    #[serde(default)]
    pub git_author: GitAuthor,
    /// How Argo CD Applications are made.
    #[serde(default)]
    pub argocd: ArgoCd,
    /// What `kubernetes:apply` may write. Nothing unless listed.
    #[serde(default)]
    pub kubernetes_apply: KubernetesApply,
    /// How many requests run their steps at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: u16,
    /// How often, in seconds, a Template that follows a branch or tag is
    /// resolved again to pick up new commits.
    #[serde(default = "default_template_refresh")]
    pub template_refresh_seconds: u64,
    /// How the catalog rolls up status.
    #[serde(default)]
    pub catalog: CatalogConfig,
    /// What each namespace may name and use: defaults for every namespace
    /// and overrides per namespace.
    #[serde(default)]
    pub tenancy: Tenancy,
    /// Where Templates' git sources may come from in the cluster.
    #[serde(default)]
    pub template_sources: TemplateSources,
    /// How much of a Template's git source is read.
    #[serde(default)]
    pub template_source_limits: TemplateSourceLimits,
    /// How much of a repository is read to propose an upgrade of it: the
    /// user's own repository, which grows past what its template made.
    #[serde(default)]
    pub upgrade_repository_limits: UpgradeRepositoryLimits,
    /// The longest `debug:wait` a step may ask for, in seconds; a longer
    /// one fails the step.
    #[serde(default = "default_debug_wait_max")]
    pub debug_wait_max_seconds: u64,
    /// How long, in seconds, a gated step (`wait:*`) without its own
    /// `timeout` may wait before it fails and its request is `Stalled`.
    /// From 1 to 30 days' worth.
    #[serde(default = "default_step_timeout")]
    pub step_timeout_seconds: u64,
    /// The longest wait, in seconds, between two looks at an open upgrade
    /// pull request that does not change: the wait starts at 15 s and
    /// doubles up to this. From 15 to a day's worth.
    #[serde(default = "default_upgrade_poll_max")]
    pub upgrade_poll_max_seconds: u64,
    /// The portal API (`goldpath run --api-addr`): which browser origins
    /// may call it.
    #[serde(default)]
    pub portal: PortalConfig,
}

/// The portal API's configuration; where it listens and its TLS files are
/// command-line flags, since the chart mounts them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortalConfig {
    /// Origins (`https://backstage.example.com`) whose pages may call the
    /// API from a browser (CORS). None by default: a portal's backend
    /// calls it server to server.
    #[serde(default)]
    pub cors_origins: Vec<String>,
}

/// Per-namespace rules: defaults for every namespace, and overrides by
/// namespace name whose keys replace the defaults' whole. `{namespace}` in
/// any value stands for the request's namespace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tenancy {
    /// Owners (organisations, groups, users) a namespace may publish under;
    /// a trailing `*` matches any name that starts with what precedes it.
    #[serde(default = "default_publish_owners")]
    pub publish_owners: Vec<String>,
    /// The Argo CD rules of every namespace without an override.
    #[serde(default)]
    pub argocd: TenantArgoCd,
    /// Overrides for single namespaces.
    #[serde(default)]
    pub namespaces: BTreeMap<String, TenantOverrides>,
}

impl Default for Tenancy {
    fn default() -> Self {
        Tenancy {
            publish_owners: default_publish_owners(),
            argocd: TenantArgoCd::default(),
            namespaces: BTreeMap::new(),
        }
    }
}

fn default_publish_owners() -> Vec<String> {
    vec![NAMESPACE_PLACEHOLDER.into()]
}

/// What one namespace has instead of the defaults; an absent key keeps them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantOverrides {
    /// Replaces `tenancy.publishOwners` for this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_owners: Option<Vec<String>>,
    /// Replaces `tenancy.argocd` for this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argocd: Option<TenantArgoCd>,
}

/// What the Argo CD Applications of a namespace's requests may be.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantArgoCd {
    /// AppProjects the Applications may use; the first is used when a step
    /// names none.
    #[serde(default = "default_projects")]
    pub projects: Vec<String>,
    /// A label whose value names a namespace: an AppProject in Argo CD's
    /// namespace carrying it, with that namespace as its value, is one of
    /// that namespace's projects too. Empty turns this off.
    #[serde(default = "default_project_label")]
    pub project_label: String,
    /// Where the Applications may deploy.
    #[serde(default = "default_destinations")]
    pub destinations: Vec<Destination>,
    /// `repoURL`s allowed besides the repositories the request published.
    #[serde(default)]
    pub repositories: Vec<String>,
}

impl Default for TenantArgoCd {
    fn default() -> Self {
        TenantArgoCd {
            projects: default_projects(),
            project_label: default_project_label(),
            destinations: default_destinations(),
            repositories: Vec::new(),
        }
    }
}

fn default_projects() -> Vec<String> {
    vec![NAMESPACE_PLACEHOLDER.into()]
}

/// The label that gives an AppProject to a namespace unless configured
/// otherwise.
pub const DEFAULT_PROJECT_LABEL: &str = "goldpath.dev/namespace";

fn default_project_label() -> String {
    DEFAULT_PROJECT_LABEL.into()
}

fn default_destinations() -> Vec<Destination> {
    vec![Destination {
        server: "*".into(),
        namespace: NAMESPACE_PLACEHOLDER.into(),
    }]
}

/// Where an Application may deploy: a cluster and a namespace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destination {
    /// The cluster's URL; `*` (the default) for any.
    #[serde(default = "any")]
    pub server: String,
    /// The namespace.
    pub namespace: String,
}

fn any() -> String {
    "*".into()
}

/// Stands for the request's namespace in [`Tenancy`] strings.
pub const NAMESPACE_PLACEHOLDER: &str = "{namespace}";

/// The rules of one namespace, resolved: overrides applied and
/// `{namespace}` filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRules {
    /// The namespace they are for.
    pub namespace: String,
    /// Owner patterns it may publish under.
    pub publish_owners: Vec<String>,
    /// Its Argo CD rules.
    pub argocd: TenantArgoCd,
}

/// Whether `value` matches `pattern`: equal, `*` for anything, or a prefix
/// ending in `*`.
pub fn pattern_matches(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

/// Where a Template's git source may be fetched from in the cluster.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateSources {
    /// Hosts, as `host` or `host:port`, that `spec.source.git.url` may name.
    /// None by default: only inline Templates.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Also allow plain `http://` to those hosts (a git server without TLS
    /// on a trusted network); `https://` only otherwise.
    #[serde(default)]
    pub allow_http: bool,
    /// The host keys of the ssh hosts among them, in OpenSSH `known_hosts`
    /// format (what `ssh-keyscan` prints; host names in plain text). An ssh
    /// source whose host presents another key is refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ssh_known_hosts: String,
}

/// One line of `templateSources.sshKnownHosts`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownHost {
    /// The hosts it is for, as `host` (port 22) or `host:port`.
    pub hosts: Vec<String>,
    /// The key, in ssh wire format.
    pub key: Vec<u8>,
}

impl TemplateSources {
    /// The entries of `sshKnownHosts`; an error names the line it cannot read.
    pub fn known_hosts(&self) -> Result<Vec<KnownHost>, String> {
        use base64::Engine as _;
        let mut entries = Vec::new();
        for (number, line) in self.ssh_known_hosts.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| format!("templateSources.sshKnownHosts line {}: {why}", number + 1);
            if line.starts_with('@') {
                return Err(bad("markers (@cert-authority, @revoked) are not supported"));
            }
            let mut fields = line.split_whitespace();
            let (Some(hosts), Some(_kind), Some(key)) = (fields.next(), fields.next(), fields.next()) else {
                return Err(bad("expected \"host key-type base64-key\""));
            };
            if hosts.starts_with('|') {
                return Err(bad(
                    "hashed host names are not supported; write the host name in plain text",
                ));
            }
            let key = base64::engine::general_purpose::STANDARD
                .decode(key)
                .map_err(|e| bad(&format!("the key is not base64: {e}")))?;
            let hosts = hosts.split(',').map(known_host_name).collect();
            entries.push(KnownHost { hosts, key });
        }
        Ok(entries)
    }
}

/// A `known_hosts` host as `templateSources.hosts` writes it: `[h]:p` is
/// `h:p`, and port 22 is left out.
fn known_host_name(entry: &str) -> String {
    match entry.strip_prefix('[').and_then(|rest| rest.split_once("]:")) {
        Some((host, "22")) => host.to_ascii_lowercase(),
        Some((host, port)) => format!("{}:{port}", host.to_ascii_lowercase()),
        None => entry.to_ascii_lowercase(),
    }
}

/// How much of a Template's git source is read. A tree past any of these is
/// refused before it is expanded, so a repository whose trees share
/// subtrees cannot expand into more paths than the operator can hold.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TemplateSourceLimits {
    /// How deeply directories may nest below the source's path.
    pub max_depth: usize,
    /// How many files and directories the source may hold, counted as
    /// paths (a subtree used twice counts twice).
    pub max_files: usize,
    /// How many bytes the files (and symlink targets) may hold in all.
    pub max_bytes: u64,
}

impl Default for TemplateSourceLimits {
    fn default() -> Self {
        TemplateSourceLimits {
            max_depth: 32,
            max_files: 10_000,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// How much of a repository is read (whole, into memory, once per
/// proposal) to propose an upgrade of it: the same bounds as
/// [`TemplateSourceLimits`], with defaults for a service's repository, which
/// holds more than its template made.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct UpgradeRepositoryLimits {
    /// How deeply directories may nest.
    pub max_depth: usize,
    /// How many files and directories the repository may hold.
    pub max_files: usize,
    /// How many bytes the files may hold in all.
    pub max_bytes: u64,
}

impl Default for UpgradeRepositoryLimits {
    fn default() -> Self {
        UpgradeRepositoryLimits {
            max_depth: 64,
            max_files: 50_000,
            max_bytes: 128 * 1024 * 1024,
        }
    }
}

impl From<UpgradeRepositoryLimits> for TemplateSourceLimits {
    fn from(limits: UpgradeRepositoryLimits) -> Self {
        TemplateSourceLimits {
            max_depth: limits.max_depth,
            max_files: limits.max_files,
            max_bytes: limits.max_bytes,
        }
    }
}

/// How the catalog rolls up status.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogConfig {
    /// How long, in seconds, an object may stay in progress (or missing)
    /// before the entity it rolls up into is `Stalled`.
    #[serde(default = "default_progress_deadline")]
    pub progress_deadline_seconds: u64,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            progress_deadline_seconds: default_progress_deadline(),
        }
    }
}

fn default_progress_deadline() -> u64 {
    600
}

impl Default for Config {
    fn default() -> Self {
        Config {
            git_hosts: Vec::new(),
            git_author: GitAuthor::default(),
            argocd: ArgoCd::default(),
            kubernetes_apply: KubernetesApply::default(),
            concurrency: default_concurrency(),
            template_refresh_seconds: default_template_refresh(),
            catalog: CatalogConfig::default(),
            tenancy: Tenancy::default(),
            template_sources: TemplateSources::default(),
            template_source_limits: TemplateSourceLimits::default(),
            upgrade_repository_limits: UpgradeRepositoryLimits::default(),
            debug_wait_max_seconds: default_debug_wait_max(),
            step_timeout_seconds: default_step_timeout(),
            upgrade_poll_max_seconds: default_upgrade_poll_max(),
            portal: PortalConfig::default(),
        }
    }
}

/// Ten minutes: how late a merge or a close of an idle pull request is
/// seen at worst.
fn default_upgrade_poll_max() -> u64 {
    600
}

/// The bounds of `upgradePollMaxSeconds`: the first wait, and a day.
pub const UPGRADE_POLL_MAX_RANGE: std::ops::RangeInclusive<u64> = 15..=86_400;

/// Backstage's own threshold for `debug:wait`: ten minutes.
fn default_debug_wait_max() -> u64 {
    600
}

/// The longest a step may wait, its own `timeout` or `stepTimeoutSeconds`:
/// 30 days.
pub const MAX_STEP_TIMEOUT_SECONDS: u64 = 30 * 24 * 3600;

/// An hour: long enough for a first Argo CD sync of a large application.
fn default_step_timeout() -> u64 {
    3600
}

fn default_concurrency() -> u16 {
    8
}

fn default_template_refresh() -> u64 {
    300
}

/// What `kubernetes:apply` may write.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KubernetesApply {
    /// The kinds steps may apply, and where.
    #[serde(default)]
    pub allow: Vec<ApplyRule>,
}

/// One kind `kubernetes:apply` may write, and in which namespaces.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyRule {
    /// API group of the kind; empty for the core group.
    #[serde(default)]
    pub api_group: String,
    /// The kind, e.g. `ConfigMap`, or `*` for every kind of the group.
    pub kind: String,
    /// Namespaces it may be written to; `*` for any. Without any, only the
    /// request's own namespace. Cluster-scoped objects are never applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
}

/// One git host a `repoUrl` may name.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
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
    /// What serves the repositories: `git` (a plain git server, the
    /// default: repositories are made by the first push), or a forge whose
    /// API makes them (`gitea`, `github`, `gitlab`).
    #[serde(default, rename = "type")]
    pub kind: ForgeKind,
    /// The forge's API base URL, e.g. `https://gitea.internal/api/v1`;
    /// required for Gitea; for GitHub `https://api.github.com` unless set
    /// (GitHub Enterprise Server: `https://HOST/api/v3`); for GitLab
    /// `https://gitlab.com/api/v4` unless set (self-managed:
    /// `https://HOST/api/v4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// A Secret in the operator's namespace whose key `token` is the forge
    /// API token; required for a forge, except a GitHub host with `app`. A
    /// step's `token` input overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<String>,
    /// On a GitHub host, the GitHub App goldpath acts as: its installation
    /// tokens are used in place of `tokenSecret`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<GithubApp>,
}

/// A GitHub App goldpath acts as.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GithubApp {
    /// The App's id.
    pub app_id: u64,
    /// The installation whose tokens are used; left out, the installation
    /// on each repository's owner (organisation or user) is looked up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_id: Option<u64>,
    /// A Secret in the operator's namespace whose key `privateKey` is the
    /// App's private key, the PEM file GitHub gives.
    pub private_key_secret: String,
}

impl GitHost {
    /// Whether the entry is complete for its type: a forge needs its API's
    /// URL and a token.
    pub fn check(&self) -> Result<(), String> {
        if self.app.is_some() && self.kind != ForgeKind::Github {
            return Err(format!(
                "app names a GitHub App, and this host is of type {}; only type github takes it",
                self.kind
            ));
        }
        match self.kind {
            ForgeKind::Git => Ok(()),
            ForgeKind::Github | ForgeKind::Gitlab => {
                if self.token_secret.is_none() && self.app.is_none() {
                    return Err(format!(
                        "type {} needs tokenSecret, a Secret with the API token in key token{}",
                        self.kind,
                        if self.kind == ForgeKind::Github {
                            ", or app, a GitHub App"
                        } else {
                            ""
                        }
                    ));
                }
                Ok(())
            }
            ForgeKind::Gitea => {
                if self.api_url.is_none() {
                    return Err("type gitea needs apiUrl, e.g. https://gitea.internal/api/v1".into());
                }
                if self.token_secret.is_none() {
                    return Err(
                        "type gitea needs tokenSecret, a Secret with the API token in key token".into(),
                    );
                }
                Ok(())
            }
        }
    }
}

/// The API of github.com, a `type: github` host's unless it sets `apiUrl`.
pub const GITHUB_API_URL: &str = "https://api.github.com";

/// A forge's API when its entry sets no `apiUrl`: github.com's or
/// gitlab.com's; Gitea has none.
fn default_api_url(kind: ForgeKind) -> Option<String> {
    match kind {
        ForgeKind::Github => Some(GITHUB_API_URL.to_string()),
        ForgeKind::Gitlab => Some(crate::forge::gitlab::GITLAB_API_URL.to_string()),
        ForgeKind::Git | ForgeKind::Gitea => None,
    }
}

/// Commit author.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
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
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ArgoCd {
    /// Namespace Argo CD watches for Applications.
    pub namespace: String,
    /// Cluster Applications deploy to.
    pub destination_server: String,
}

impl Default for ArgoCd {
    fn default() -> Self {
        ArgoCd {
            namespace: "argocd".into(),
            destination_server: "https://kubernetes.default.svc".into(),
        }
    }
}

impl KubernetesApply {
    /// Whether a step of a request in `request_namespace` may apply a
    /// `group`/`kind` object to `namespace`.
    pub fn allows(&self, group: &str, kind: &str, namespace: &str, request_namespace: &str) -> bool {
        self.allow.iter().any(|rule| {
            rule.api_group == group
                && (rule.kind == "*" || rule.kind == kind)
                && if rule.namespaces.is_empty() {
                    namespace == request_namespace
                } else {
                    rule.namespaces.iter().any(|n| n == "*" || n == namespace)
                }
        })
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
    /// What serves the repository.
    pub kind: ForgeKind,
    /// The forge's API base URL.
    pub api_url: Option<String>,
    /// Secret with the forge API token.
    pub token_secret: Option<String>,
    /// The GitHub App acting on the repository, and which installation.
    pub app: Option<(GithubApp, Installation)>,
}

impl Config {
    /// Reads a configuration file (YAML).
    pub fn load(path: &std::path::Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the configuration {}: {e}", path.display()))?;
        let config: Config = serde_yaml_ng::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: not a valid goldpath configuration: {e}", path.display()))?;
        if config.concurrency == 0 {
            anyhow::bail!("{}: concurrency must be at least 1", path.display());
        }
        if !(1..=MAX_STEP_TIMEOUT_SECONDS).contains(&config.step_timeout_seconds) {
            anyhow::bail!(
                "{}: stepTimeoutSeconds must be from 1 to {MAX_STEP_TIMEOUT_SECONDS} (30 days)",
                path.display()
            );
        }
        if !UPGRADE_POLL_MAX_RANGE.contains(&config.upgrade_poll_max_seconds) {
            anyhow::bail!(
                "{}: upgradePollMaxSeconds must be from {} to {} (a day)",
                path.display(),
                UPGRADE_POLL_MAX_RANGE.start(),
                UPGRADE_POLL_MAX_RANGE.end()
            );
        }
        config
            .template_sources
            .known_hosts()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        for (i, host) in config.git_hosts.iter().enumerate() {
            host.check()
                .map_err(|e| anyhow::anyhow!("{}: gitHosts[{i}] ({}): {e}", path.display(), host.host))?;
        }
        Ok(config)
    }

    /// The rules of `namespace`: its overrides over the defaults, with
    /// `{namespace}` filled in.
    pub fn tenant(&self, namespace: &str) -> TenantRules {
        let fill = |text: &String| text.replace(NAMESPACE_PLACEHOLDER, namespace);
        let overrides = self.tenancy.namespaces.get(namespace);
        let publish_owners = overrides
            .and_then(|o| o.publish_owners.as_ref())
            .unwrap_or(&self.tenancy.publish_owners)
            .iter()
            .map(fill)
            .collect();
        let argocd = overrides
            .and_then(|o| o.argocd.as_ref())
            .unwrap_or(&self.tenancy.argocd);
        TenantRules {
            namespace: namespace.to_string(),
            publish_owners,
            argocd: TenantArgoCd {
                projects: argocd.projects.iter().map(fill).collect(),
                project_label: argocd.project_label.clone(),
                destinations: argocd
                    .destinations
                    .iter()
                    .map(|d| Destination {
                        server: fill(&d.server),
                        namespace: fill(&d.namespace),
                    })
                    .collect(),
                repositories: argocd.repositories.iter().map(fill).collect(),
            },
        }
    }

    /// Where `repo` on `branch` is published, or `None` when its host is
    /// not one the configuration lists (and there is no `*` entry).
    pub fn route(&self, repo: &RepoUrl, branch: &str) -> Option<RepositoryRoute> {
        let host = self
            .git_hosts
            .iter()
            .find(|h| h.host.eq_ignore_ascii_case(&repo.host))
            .or_else(|| self.git_hosts.iter().find(|h| h.host == "*"))?;
        let remote_url = fill(&host.url, repo, branch);
        let contents_url = match host.contents_url.as_deref() {
            Some(pattern) => fill(pattern, repo, branch),
            None => format!("{}/blob/{branch}", remote_url.trim_end_matches(".git")),
        };
        Some(RepositoryRoute {
            remote_url,
            contents_url,
            credentials_secret: host.credentials_secret.clone(),
            kind: host.kind,
            api_url: host.api_url.clone().or_else(|| default_api_url(host.kind)),
            token_secret: host.token_secret.clone(),
            app: host
                .app
                .clone()
                .filter(|_| host.kind == ForgeKind::Github)
                .map(|app| {
                    let installation = match app.installation_id {
                        Some(id) => Installation::Id(id),
                        None => Installation::Owner(repo.owner.clone().unwrap_or_default()),
                    };
                    (app, installation)
                }),
        })
    }

    /// The kind and API URL of `host` when the configuration lists it by
    /// name (not through `*`) as a forge: the hosts goldpath will call for
    /// someone else, with their token.
    pub fn forge_api(&self, host: &str) -> Option<(ForgeKind, String)> {
        let listed = self
            .git_hosts
            .iter()
            .find(|h| h.host != "*" && h.host.eq_ignore_ascii_case(host))?;
        let api_url = listed.api_url.clone().or_else(|| default_api_url(listed.kind))?;
        Some((listed.kind, api_url))
    }

    /// The credentials Secret of the git host whose URL pattern `remote_url`
    /// was made from, e.g. to read back a repository published earlier.
    pub fn credentials_for(&self, remote_url: &str) -> Option<&str> {
        self.git_hosts
            .iter()
            .filter(|host| {
                let fixed = host.url.split('{').next().unwrap_or_default();
                !fixed.is_empty() && remote_url.starts_with(fixed)
            })
            .max_by_key(|host| host.url.split('{').next().unwrap_or_default().len())
            .and_then(|host| host.credentials_secret.as_deref())
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
impl Config {
    /// One git host, `host` of `kind` with its repositories at `url`, to
    /// which any owner may publish: what the steps' tests publish through.
    pub(crate) fn publishing_to(host: &str, url: &str, kind: ForgeKind) -> Config {
        Config {
            git_hosts: vec![GitHost {
                host: host.into(),
                url: url.into(),
                kind,
                ..GitHost::default()
            }],
            tenancy: Tenancy {
                publish_owners: vec!["*".into()],
                ..Tenancy::default()
            },
            ..Config::default()
        }
    }
}

#[cfg(test)]
mod tests;
