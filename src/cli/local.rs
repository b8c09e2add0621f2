//! The effects of `goldpath scaffold`: what the cluster would do, done on
//! this machine. Publish steps push to bare repositories under a directory
//! (any `repoUrl` host maps there); the Argo CD Application, CatalogEntities
//! and manifests the cluster would apply are written as YAML files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::actions::argocd;
use crate::actions::catalog::{self, entity_ref};
use crate::actions::publish::Publish;
use crate::actions::pull_request::PullRequestStep;
use crate::actions::{ActionError, Effects, StepInfo, optional_str};
use crate::api::CatalogEntity;
use crate::config::{Config, GitHost, Tenancy};
use crate::engine::files::{FileEntry, FileTree};
use crate::forge::{self, DryRun, Forge, ForgeKind, PullRequest, gitea::Gitea};
use crate::git;

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
}

impl LocalEffects {
    /// Effects that push under `repos` and write cluster objects to `cluster`.
    pub fn new(repos: &Path, cluster: &Path, template: &str, request: &str) -> Self {
        let url = format!("file://{}/{{host}}/{{owner}}/{{repo}}.git", repos.display());
        let config = Config {
            git_hosts: vec![GitHost {
                host: "*".into(),
                url,
                // Read as a forge's, so that publish:gitea's inputs are
                // checked as they are in the cluster; only a dry run makes
                // (prints) the API calls.
                kind: ForgeKind::Gitea,
                ..GitHost::default()
            }],
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
        }
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

    fn publish(&mut self, action: &str, input: &Value, workspace: &FileTree) -> Result<Value, ActionError> {
        let publish = Publish::resolve(
            action,
            input,
            &self.config,
            &self.config.tenant("default"),
            workspace,
        )?;
        let path = publish.route.remote_url.trim_start_matches("file://").to_string();
        if !Path::new(&path).exists() {
            // HEAD names the branch published, so a plain `git clone` checks it out.
            git2::Repository::init_opts(
                &path,
                git2::RepositoryInitOptions::new()
                    .bare(true)
                    .initial_head(&publish.branch),
            )
            .map_err(|e| {
                ActionError::permanent(format!("creating the repository {path}: {}", e.message()))
            })?;
        }
        let dry_run = match &publish.forge {
            Some(request) if self.forge_dry_run => {
                let api_url = format!("https://{}/api/v1", publish.repo.host);
                let gitea = Gitea::new(DryRun::new(&publish.repo.host, &api_url));
                futures::executor::block_on(forge::ensure_repository(&gitea, &request.repository))?;
                Some((gitea, request))
            }
            _ => None,
        };
        let identity = self.identity(&publish.author);
        let published = git::publish(&git::PublishRequest {
            remote_url: &publish.route.remote_url,
            branch: &publish.branch,
            files: &publish.files,
            message: &publish.message,
            identity: &identity,
            credentials: None,
            // The repositories are this machine's own, made for this run.
            marker: None,
        })
        .map_err(|e| ActionError::new(e.to_string(), e.is_transient()))?;
        if let Some((gitea, request)) = dry_run {
            // The push goes between creating the repository and its settings.
            let created = gitea.transport().calls().len();
            futures::executor::block_on(forge::apply_settings(
                &gitea,
                &request.repository.id,
                &request.settings,
            ))?;
            let mut calls = gitea.transport().calls();
            calls.insert(
                created,
                format!("git push {} {}", publish.route.remote_url, publish.branch),
            );
            self.forge_calls.extend(calls);
        }
        self.published
            .insert(publish.route.contents_url.clone(), publish.files.clone());
        Ok(publish.output(&published.commit))
    }

    /// Pushes the change as a branch of a local repository published
    /// earlier; with a dry run, also records the forge calls that open its
    /// pull request. Without a forge, the output names no pull request.
    fn pull_request(&mut self, input: &Value, workspace: &FileTree) -> Result<Value, ActionError> {
        let step = PullRequestStep::resolve(input, &self.config, &self.config.tenant("default"), workspace)?;
        let path = step.route.remote_url.trim_start_matches("file://").to_string();
        let repository = git2::Repository::open_bare(&path).map_err(|_| {
            ActionError::permanent(format!(
                "the repository {} does not exist under --repos ({path}); a pull request goes into an \
                 existing repository",
                step.id
            ))
        })?;
        let base = match &step.base {
            Some(base) => base.clone(),
            None => repository
                .find_reference("HEAD")
                .ok()
                .and_then(|head| head.symbolic_target().ok().flatten().map(str::to_string))
                .and_then(|target| target.strip_prefix("refs/heads/").map(str::to_string))
                .unwrap_or_else(|| "main".into()),
        };
        let dry_run = self.forge_dry_run.then(|| {
            let api_url = format!("https://{}/api/v1", step.route_host());
            Gitea::new(DryRun::new(step.route_host(), &api_url))
        });
        if let Some(gitea) = &dry_run {
            // Recorded only: a dry run's forge has no repositories.
            let _ = futures::executor::block_on(gitea.repository(&step.id));
        }
        let published = git::publish_change(&git::ChangeRequest {
            remote_url: &step.route.remote_url,
            base: &base,
            branch: &step.branch,
            files: &step.files,
            message: &step.message,
            identity: &self.identity(&step.author),
            credentials: None,
            marker: &self.request,
        })
        .map_err(|e| ActionError::new(e.to_string(), e.is_transient()))?;
        let mut pull = PullRequest {
            number: 0,
            url: String::new(),
        };
        if let Some(gitea) = dry_run {
            let pushed = gitea.transport().calls().len();
            pull = futures::executor::block_on(forge::ensure_pull_request(
                &gitea,
                &step.id,
                &step.pull_request(&base),
                step.update,
            ))?;
            if !step.reviewers.is_empty() || !step.team_reviewers.is_empty() {
                futures::executor::block_on(gitea.request_reviews(
                    &step.id,
                    pull.number,
                    &step.reviewers,
                    &step.team_reviewers,
                ))?;
            }
            let mut calls = gitea.transport().calls();
            calls.insert(
                pushed,
                format!("git push {} {}", step.route.remote_url, step.branch),
            );
            self.forge_calls.extend(calls);
        }
        Ok(step.output(&pull, &base, &published.commit))
    }

    fn identity(&self, author: &(Option<String>, Option<String>)) -> git::GitIdentity {
        git::GitIdentity {
            author_name: author
                .0
                .clone()
                .unwrap_or_else(|| self.config.git_author.name.clone()),
            author_email: author
                .1
                .clone()
                .unwrap_or_else(|| self.config.git_author.email.clone()),
        }
    }

    fn register(&mut self, input: &Value) -> Result<Value, ActionError> {
        let url = catalog::catalog_info_url(input)?;
        let (contents_url, files, path) = catalog::locate(&self.published, &url)?;
        let Some(FileEntry::File { contents, .. }) = files.get(&path) else {
            return Err(ActionError::permanent(format!(
                "{url}: the published repository has no file {path}"
            )));
        };
        let entities = catalog::to_register(
            &String::from_utf8_lossy(contents),
            &url,
            "default",
            contents_url,
            &self.template,
            self.applications.first().map(String::as_str),
        )?;
        let entity_ref = entity_ref(&entities[0]);
        for entity in entities {
            let object = serde_json::to_value(&entity).map_err(|e| ActionError::permanent(e.to_string()))?;
            self.write_object(&object)?;
            self.entities.push(entity);
        }
        Ok(json!({ "entityRef": entity_ref, "catalogInfoUrl": url }))
    }

    fn fetch_entity(&self, input: &Value) -> Result<Value, ActionError> {
        let wanted = crate::api::EntityRef::parse(
            crate::actions::required_str(input, "entityRef")?,
            optional_str(input, "defaultKind")?.or(Some("Component")),
            optional_str(input, "defaultNamespace")?,
        )
        .map_err(ActionError::permanent)?
        .to_string();
        match self.entities.iter().find(|e| entity_ref(e) == wanted) {
            Some(entity) => Ok(json!({ "entity": crate::catalog::backstage::to_backstage(entity) })),
            None if crate::actions::optional_bool(input, "optional")?.unwrap_or(false) => Ok(json!({})),
            None => Err(ActionError::permanent(format!(
                "no entity {wanted} in the catalog"
            ))),
        }
    }
}

impl Effects for LocalEffects {
    fn run(&mut self, step: &StepInfo, input: &Value, workspace: &FileTree) -> Result<Value, ActionError> {
        match step.action.as_str() {
            "publish:github" | "publish:gitlab" | "publish:gitea" | "publish:git" => {
                self.publish(&step.action, input, workspace)
            }
            "publish:gitea:pull-request" => self.pull_request(input, workspace),
            "argocd:create-resources" => {
                let mut application = argocd::application(input, &self.config.argocd, "default")?;
                crate::actions::mark(&mut application, &self.request, None);
                self.write_object(&application)?;
                self.applications.push(
                    application["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
                Ok(argocd::output(&application))
            }
            "catalog:register" => self.register(input),
            "catalog:fetch" => self.fetch_entity(input),
            "kubernetes:apply" => {
                let manifest = match input.get("manifest") {
                    Some(Value::String(text)) => crate::yaml::document(text)
                        .map_err(|e| ActionError::permanent(format!("input.manifest: invalid YAML: {e}")))?,
                    Some(object @ Value::Object(_)) => object.clone(),
                    _ => {
                        return Err(ActionError::permanent(
                            "input.manifest is required: a Kubernetes object",
                        ));
                    }
                };
                self.write_object(&manifest)?;
                Ok(json!({}))
            }
            other => Err(ActionError::permanent(format!("{other} has no local effect"))),
        }
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

/// The effects of `goldpath render`: none. Steps that reach outside the
/// workspace are shown with their rendered input, not run.
pub struct PlannedEffects;

impl Effects for PlannedEffects {
    fn run(&mut self, _: &StepInfo, _: &Value, _: &FileTree) -> Result<Value, ActionError> {
        Ok(json!({}))
    }
}
