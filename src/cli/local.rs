//! The effects of `goldpath scaffold`: what the cluster would do, done on
//! this machine. Publish steps push to bare repositories under a directory
//! (any `repoUrl` host maps there), or, given a configuration, to its
//! `gitHosts` through their forges' APIs; the Argo CD Application,
//! CatalogEntities and manifests the cluster would apply are written as
//! YAML files.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::actions::argocd::{ApplicationInput, ApplicationOutput};
use crate::actions::catalog::{
    self, FetchEntitiesInput, FetchEntitiesOutput, RegisterInput, RegisterOutput, entity_ref,
};
use crate::actions::kubernetes::ApplyInput;
use crate::actions::publish::{Publish, PublishOutput};
use crate::actions::pull_request::PullRequestStep;
use crate::actions::push::{Publisher, Publishing, Remote};
use crate::actions::{ActionError, World, argocd};
use crate::api::CatalogEntity;
use crate::config::GITHUB_API_URL;
use crate::config::{Config, GitHost, RepositoryRoute, Tenancy};
use crate::engine::files::FileTree;
use crate::forge::github_app::{AppKey, TokenCache};
use crate::forge::{
    ApiCall, ApiResponse, DryRun, Forge, ForgeError, ForgeKind, HttpTransport, Transport, client::Client,
};
use crate::git;

/// How `goldpath scaffold` reaches a forge: a dry run that records each
/// call, or, with `--config`, its API.
#[derive(Debug)]
pub enum LocalTransport {
    /// Records; sends nothing.
    Dry(DryRun),
    /// Sends.
    Http(HttpTransport),
}

impl Transport for LocalTransport {
    fn host(&self) -> &str {
        match self {
            LocalTransport::Dry(dry) => dry.host(),
            LocalTransport::Http(http) => http.host(),
        }
    }

    async fn send(&self, call: &ApiCall) -> Result<ApiResponse, ForgeError> {
        match self {
            LocalTransport::Dry(dry) => dry.send(call).await,
            LocalTransport::Http(http) => http.send(call).await,
        }
    }
}

/// Carries out a request's outside effects on local directories.
pub struct LocalEffects {
    config: Config,
    cluster: PathBuf,
    template: String,
    request: String,
    /// What each publish step pushed, by its contents URL, for
    /// `catalog:register` to read catalog-info.yaml from.
    published: BTreeMap<String, FileTree>,
    applications: Vec<String>,
    entities: Vec<CatalogEntity>,
    /// Files written, for the summary.
    pub written: Vec<PathBuf>,
    /// Whether to record the forge API calls publish steps would make.
    pub forge_dry_run: bool,
    /// Those calls, and the pushes between them, in order: `step: call`.
    pub forge_calls: Vec<String>,
    /// With `--config`: API tokens by the name of their `tokenSecret`.
    tokens: Option<BTreeMap<String, String>>,
}

impl LocalEffects {
    /// Effects that push under `repos` and write cluster objects to `cluster`.
    pub fn new(repos: &Path, cluster: &Path, template: &str, request: &str) -> Self {
        let url = format!("file://{}/{{host}}/{{owner}}/{{repo}}.git", repos.display());
        // Read as a forge's, so that publish inputs are checked as they are
        // in the cluster: github.com as GitHub, gitlab.com as GitLab, any
        // other host as Gitea.
        // Only a dry run makes (prints) the API calls.
        let host = |host: &str, kind| GitHost {
            host: host.into(),
            url: url.clone(),
            kind,
            ..GitHost::default()
        };
        let config = Config {
            git_hosts: vec![
                host("github.com", ForgeKind::Github),
                host("gitlab.com", ForgeKind::Gitlab),
                host("*", ForgeKind::Gitea),
            ],
            // On this machine every host is a local directory and every
            // owner the user's own: no tenants to keep apart.
            tenancy: Tenancy {
                publish_owners: vec!["*".into()],
                ..Tenancy::default()
            },
            ..Config::default()
        };
        LocalEffects {
            config,
            cluster: cluster.to_path_buf(),
            template: template.to_string(),
            request: request.to_string(),
            published: BTreeMap::new(),
            applications: Vec::new(),
            entities: Vec::new(),
            written: Vec::new(),
            forge_dry_run: false,
            forge_calls: Vec::new(),
            tokens: None,
        }
    }

    /// Publishes through `config`'s `gitHosts` instead of local bare
    /// repositories: a forge's API is called at its `apiUrl` with the token
    /// `tokens` holds under the entry's `tokenSecret`, and a push guards
    /// the repository as the operator's does.
    pub fn publish_through(&mut self, config: &Config, tokens: BTreeMap<String, String>) {
        self.config.git_hosts = config.git_hosts.clone();
        self.config.git_author = config.git_author.clone();
        self.tokens = Some(tokens);
    }

    /// The forge's client for `route`, calling its API for real.
    fn live_client(
        &self,
        tokens: &BTreeMap<String, String>,
        route: &RepositoryRoute,
        token: Option<&str>,
    ) -> Result<(Client<LocalTransport>, String), ActionError> {
        let api_url = route.api_url.as_deref().ok_or_else(|| {
            ActionError::permanent("the repoUrl's host is a forge without apiUrl in --config's gitHosts")
        })?;
        let secret = |name: &str, what: &str| {
            tokens.get(name).cloned().ok_or_else(|| {
                ActionError::permanent(format!(
                    "--secrets has no {name:?}, the {what} of the repoUrl's host in --config"
                ))
            })
        };
        let token = match (token, &route.app) {
            (Some(token), _) => token.to_string(),
            (None, Some((app, installation))) => {
                let key = AppKey::new(
                    app.app_id,
                    &secret(&app.private_key_secret, "app's privateKeySecret")?,
                )?;
                let now = k8s_openapi::jiff::Timestamp::now().as_second();
                self.wait(TokenCache::default().token(api_url, &key, installation.clone(), now))?
            }
            (None, None) => secret(route.token_secret.as_deref().unwrap_or_default(), "tokenSecret")?,
        };
        let transport =
            LocalTransport::Http(HttpTransport::new(api_url, &token)?.with_scheme(route.kind.auth_scheme()));
        let client = Client::new(route.kind, transport)
            .ok_or_else(|| ActionError::permanent(format!("type {} has no API client", route.kind)))?;
        Ok((client, token))
    }

    fn write_object(&mut self, object: &Value) -> Result<(), ActionError> {
        let kind = object["kind"].as_str().unwrap_or("object").to_lowercase();
        let name = object["metadata"]["name"].as_str().unwrap_or("unnamed");
        // The file is named after the object: one file name under
        // cluster/, whatever the manifest says.
        for (field, value) in [("kind", kind.as_str()), ("metadata.name", name)] {
            if !is_object_name(value) {
                return Err(ActionError::permanent(format!(
                    "input.manifest: {field} {value:?} is not a Kubernetes name \
                     (letters, digits, '.', '-' and '_', not starting with '.')"
                )));
            }
        }
        let path = self.cluster.join(format!("{kind}-{name}.yaml"));
        let yaml = serde_yaml_ng::to_string(object).map_err(|e| ActionError::permanent(e.to_string()))?;
        std::fs::create_dir_all(&self.cluster)
            .and_then(|_| std::fs::write(&path, yaml))
            .map_err(|e| ActionError::permanent(format!("writing {}: {e}", path.display())))?;
        self.written.push(path);
        Ok(())
    }
}

impl Publisher for LocalEffects {
    type Forge = Client<LocalTransport>;

    /// Makes the bare repository a publish step pushes to, under --repos;
    /// with --config, only for a plain git host's `file://` URL: a forge
    /// made its repository itself.
    fn prepare(&self, publish: &Publish) -> Result<(), ActionError> {
        let route = &publish.route;
        let live = self.tokens.is_some();
        if live && (route.kind != ForgeKind::Git || !route.remote_url.starts_with("file://")) {
            return Ok(());
        }
        let path = local_path(route);
        if !Path::new(path).exists() {
            // HEAD names the branch published, so a plain `git clone` checks it out.
            git2::Repository::init_opts(
                path,
                git2::RepositoryInitOptions::new()
                    .bare(true)
                    .initial_head(&publish.branch),
            )
            .map_err(|e| {
                ActionError::permanent(format!("creating the repository {path}: {}", e.message()))
            })?;
        }
        Ok(())
    }

    fn publishing(&self) -> Publishing<'_> {
        Publishing {
            config: &self.config,
            namespace: "default",
            marker: &self.request,
            guard_publish: self.tokens.is_some(),
            step_started: None,
        }
    }

    /// No credentials: the repositories are local directories, and only a
    /// dry run makes (records) the forge's API calls. With --config a forge
    /// is called, and a push that is not to a `file://` URL uses its token.
    fn remote(
        &self,
        host: &str,
        route: &RepositoryRoute,
        token: Option<&str>,
        forge: bool,
    ) -> Result<Remote<Client<LocalTransport>>, ActionError> {
        if let Some(tokens) = self.tokens.as_ref().filter(|_| !self.forge_dry_run) {
            if !forge {
                return Ok(Remote {
                    credentials: None,
                    forge: None,
                });
            }
            let (client, token) = self.live_client(tokens, route, token)?;
            return Ok(Remote {
                credentials: (!route.remote_url.starts_with("file://"))
                    .then(|| git::Credentials::new(route.kind.push_user(), token)),
                forge: Some(client),
            });
        }
        let (api_host, api_url) = match route.kind {
            ForgeKind::Github => (
                GITHUB_API_URL.trim_start_matches("https://"),
                GITHUB_API_URL.to_string(),
            ),
            ForgeKind::Gitlab => (host, format!("https://{host}/api/v4")),
            _ => (host, format!("https://{host}/api/v1")),
        };
        Ok(Remote {
            credentials: None,
            forge: (forge && self.forge_dry_run)
                .then(|| Client::new(route.kind, LocalTransport::Dry(DryRun::new(api_host, &api_url))))
                .flatten(),
        })
    }

    /// On a runtime of its own: HTTP calls need one, and the CLI runs none.
    fn wait<T>(&self, call: impl Future<Output = T>) -> T {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(runtime) => runtime.block_on(call),
            Err(_) => futures::executor::block_on(call),
        }
    }

    fn pushed(&mut self, forge: Option<&Self::Forge>, remote_url: &str, branch: &str, _: Duration) {
        if let Some(LocalTransport::Dry(dry)) = forge.map(Client::transport) {
            dry.note(format!("git push {remote_url} {branch}"));
        }
    }

    fn finished(&mut self, forge: Option<&Self::Forge>) {
        if let Some(LocalTransport::Dry(dry)) = forge.map(Client::transport) {
            self.forge_calls.extend(dry.calls());
        }
    }

    fn published(&mut self, publish: Publish, _: &PublishOutput) {
        self.published.insert(publish.route.contents_url, publish.files);
    }

    /// The branch HEAD of the repository published earlier names; with
    /// --config, the forge's default branch.
    fn default_branch(
        &self,
        pull: &PullRequestStep,
        forge: Option<&Self::Forge>,
    ) -> Result<String, ActionError> {
        if let Some(forge) = forge.filter(|f| matches!(f.transport(), LocalTransport::Http(_))) {
            let repository = self.wait(forge.repository(&pull.id))?.ok_or_else(|| {
                ActionError::permanent(format!(
                    "the repository {} does not exist; a pull request goes into an existing repository",
                    pull.id
                ))
            })?;
            return Ok(repository.default_branch);
        }
        let path = local_path(&pull.route);
        let repository = git2::Repository::open_bare(path).map_err(|_| {
            ActionError::permanent(format!(
                "the repository {} does not exist under --repos ({path}); a pull request goes into an \
                 existing repository",
                pull.id
            ))
        })?;
        if let Some(forge) = forge {
            // Recorded only: a dry run's forge has no repositories.
            let _ = self.wait(forge.repository(&pull.id));
        }
        Ok(repository
            .find_reference("HEAD")
            .ok()
            .and_then(|head| head.symbolic_target().ok().flatten().map(str::to_string))
            .and_then(|target| target.strip_prefix("refs/heads/").map(str::to_string))
            .unwrap_or_else(|| "main".into()))
    }
}

/// The directory of the bare repository a `file://` route names.
fn local_path(route: &RepositoryRoute) -> &str {
    route.remote_url.trim_start_matches("file://")
}

impl World for LocalEffects {
    /// Written to a file, as the cluster would hold it.
    fn create_application(&mut self, input: &ApplicationInput) -> Result<ApplicationOutput, ActionError> {
        let mut application = argocd::application(input, &self.config.argocd, "default")?;
        crate::actions::mark(&mut application, &self.request, None);
        self.write_object(&application)?;
        let made = argocd::output(&application);
        self.applications.push(made.app_name.clone());
        Ok(made)
    }

    fn apply_manifest(&mut self, input: &ApplyInput) -> Result<(), ActionError> {
        self.write_object(&input.object()?)
    }

    /// On this machine a wait is a sleep, up to Backstage's maximum.
    fn wait(&mut self, duration: std::time::Duration) -> Result<(), ActionError> {
        let max = std::time::Duration::from_secs(self.config.debug_wait_max_seconds);
        std::thread::sleep(crate::actions::wait::within(duration, max)?);
        Ok(())
    }

    /// Nothing here to wait on: a gated step runs in the cluster only.
    fn look(&mut self, _: &crate::actions::gated::Gate) -> Result<serde_json::Value, ActionError> {
        Err(ActionError::permanent(
            "it waits for something in the cluster; goldpath scaffold has none (only the operator runs it)",
        ))
    }

    fn register(&mut self, input: &RegisterInput) -> Result<RegisterOutput, ActionError> {
        let published = &self.published;
        let read = |url: &str| {
            let (contents_url, files, path) = catalog::locate(published, url)?;
            catalog::published_text(contents_url, files, url, &path)
        };
        let mut written = Vec::new();
        let registered = catalog::register(
            input,
            "default",
            &self.template,
            self.applications.first().map(String::as_str),
            read,
            |entity| {
                written.push(entity);
                Ok(())
            },
        )?;
        for entity in written {
            let object = serde_json::to_value(&entity).map_err(|e| ActionError::permanent(e.to_string()))?;
            self.write_object(&object)?;
            self.entities.push(entity);
        }
        Ok(registered)
    }

    fn fetch_entities(&mut self, input: &FetchEntitiesInput) -> Result<FetchEntitiesOutput, ActionError> {
        input.fetch("default", |wanted| {
            let wanted = wanted.to_string();
            Ok(self
                .entities
                .iter()
                .find(|e| entity_ref(e).eq_ignore_ascii_case(&wanted))
                .cloned())
        })
    }
}

/// Whether `name` can name a file of its own: what Kubernetes allows in
/// kinds and names, and never `.` or `..`.
fn is_object_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}
