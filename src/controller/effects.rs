//! The effects of a request's steps in the cluster: publishing to git
//! servers, the Argo CD Application, registering and fetching catalog
//! entities, and applying manifests. Every effect is idempotent, so a step
//! that runs again after a crash finds its work done and reports it.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tokio::runtime::Handle;

use super::access::{self, Permission};
use super::template::{SourceError, credentials};
use super::{Context, FIELD_MANAGER, is_transient};
use crate::actions::argocd::{ApplicationInput, ApplicationOutput};
use crate::actions::catalog::{
    self, FetchEntitiesInput, FetchEntitiesOutput, RegisterInput, RegisterOutput, entity_ref,
};
use crate::actions::kubernetes::ApplyInput;
use crate::actions::publish::{Publish, PublishOutput};
use crate::actions::pull_request::PullRequestStep;
use crate::actions::push::{Publisher, Publishing, Remote};
use crate::actions::{
    self, ActionError, ActionKind, Needs, REQUEST_ANNOTATION, REQUEST_UID_LABEL, World, argocd,
};
use crate::api::{CatalogEntity, EntityRef, Requester, ScaffoldRequest, StepStatus};
use crate::config::{RepositoryRoute, TenantRules};
use crate::engine::files::FileTree;
use crate::forge::github_app::AppKey;
use crate::forge::{Forge, ForgeKind, HttpTransport, client::Client};
use crate::git;

mod gates;
mod listed_kinds;

use listed_kinds::{ListedUse, group_version};

/// A repository a step of this request published.
struct Published {
    remote_url: String,
    commit: String,
    /// What was pushed, when it was pushed by this run (not restored).
    files: Option<FileTree>,
}

/// Carries out a request's effects against the cluster and git servers.
pub struct ClusterEffects<'a> {
    context: &'a Context,
    handle: Handle,
    namespace: String,
    uid: String,
    request_name: String,
    template_ref: String,
    /// Who created the request: every write and read is asked for as them.
    requester: Option<Requester>,
    /// What the request's namespace may use.
    tenant: TenantRules,
    /// Repositories published so far, by their contents URL.
    published: BTreeMap<String, Published>,
    /// Applications created so far.
    applications: Vec<String>,
    /// Entities registered so far, by reference.
    entities: Vec<String>,
    /// When the step running now first started, as its status recorded it.
    step_started: Option<i64>,
    /// When the current attempt of the step running now began: its
    /// `resumedAt`, else its `startedAt`.
    attempt_started: Option<Time>,
    /// When the API server created the request.
    request_created: Option<Time>,
    /// The id of the step running now, as its status records it.
    step_id: String,
}

impl<'a> ClusterEffects<'a> {
    /// Effects for `request`, made from `template_ref`; async calls run on `handle`.
    pub fn new(context: &'a Context, request: &ScaffoldRequest, template_ref: &str, handle: Handle) -> Self {
        ClusterEffects {
            context,
            handle,
            namespace: request.namespace().unwrap_or_default(),
            uid: request.uid().unwrap_or_default(),
            request_name: request.name_any(),
            template_ref: template_ref.to_string(),
            requester: request.spec.requester.clone(),
            tenant: context.config.tenant(&request.namespace().unwrap_or_default()),
            published: BTreeMap::new(),
            applications: Vec::new(),
            entities: Vec::new(),
            step_started: None,
            attempt_started: None,
            request_created: request.metadata.creation_timestamp.clone(),
            step_id: String::new(),
        }
    }

    /// Told which step runs next, as written to the request's status
    /// before the step made any call: its id, when it first started and
    /// when its current attempt began.
    pub fn step_starts(&mut self, step: Option<&StepStatus>) {
        self.step_id = step.map(|s| s.id.clone()).unwrap_or_default();
        self.step_started = step
            .and_then(|s| s.started_at.as_ref())
            .map(|at| at.0.as_second());
        self.attempt_started = step.and_then(|s| s.resumed_at.clone().or_else(|| s.started_at.clone()));
    }

    /// Learns from the output of a step that finished before a restart.
    pub fn restore(&mut self, action: &str, output: &Value) {
        let text = |key: &str| output.get(key).and_then(Value::as_str).map(str::to_string);
        let Some(action) = actions::find(action) else {
            return;
        };
        if action.needs == Needs::Forge
            && let (Some(contents), Some(remote_url), Some(commit)) =
                (text("repoContentsUrl"), text("remoteUrl"), text("commitHash"))
        {
            self.published.insert(
                contents,
                Published {
                    remote_url,
                    commit,
                    files: None,
                },
            );
        }
        if action.kind == ActionKind::ArgocdCreateResources
            && let Some(name) = text("appName")
        {
            self.applications.push(name);
        }
        if action.kind == ActionKind::CatalogRegister
            && let Some(reference) = text("entityRef")
        {
            self.entities.push(reference);
        }
    }

    /// Whether the requester may do `permission`.
    fn require(&self, permission: &Permission) -> Result<(), ActionError> {
        self.handle.block_on(access::require(
            &self.context.client,
            self.requester.as_ref(),
            permission,
        ))
    }

    /// Server-side applies `object` (a `resource`) unless the requester may
    /// not create and patch it themselves, or it exists and another request
    /// (or someone else) made it.
    fn apply(
        &self,
        api: &Api<DynamicObject>,
        resource: &ApiResource,
        what: &str,
        mut object: Value,
    ) -> Result<(), ActionError> {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let request = format!("{}/{}", self.namespace, self.request_name);
        actions::mark(&mut object, &request, Some(&self.uid));
        self.handle.block_on(async {
            // Asked before anything is read, so a refusal tells nothing
            // about objects the requester cannot see. Server-side apply is
            // a patch that creates what does not exist: both are needed.
            for verb in ["create", "patch"] {
                let permission = Permission {
                    verb,
                    group: &resource.group,
                    resource: &resource.plural,
                    namespace: api_namespace(&object),
                    name: None,
                };
                access::require(&self.context.client, self.requester.as_ref(), &permission).await?;
            }
            let existing = api
                .get_opt(&name)
                .await
                .map_err(|e| api_failure(&format!("reading {what}"), e))?;
            if let Some(existing) = existing
                && existing.labels().get(REQUEST_UID_LABEL) != Some(&self.uid)
            {
                let owner = existing
                    .annotations()
                    .get(REQUEST_ANNOTATION)
                    .map_or("not by a goldpath request".to_string(), |r| {
                        format!("by request {r}")
                    });
                return Err(ActionError::permanent(format!(
                    "{what} already exists and was made {owner}; it is left untouched"
                )));
            }
            let object: DynamicObject =
                serde_json::from_value(object).map_err(|e| ActionError::permanent(format!("{what}: {e}")))?;
            api.patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&object),
            )
            .await
            .map_err(|e| api_failure(&format!("applying {what}"), e))?;
            Ok(())
        })
    }

    /// The credentials a push to `route` uses: the host's Secret, with a
    /// step's own token (Backstage's `token` input) in place of its
    /// password, so the push acts for the user who asked. A GitHub host
    /// without one pushes with its API token, as GitHub takes a token for
    /// git over HTTPS.
    pub(crate) fn push_credentials(
        &self,
        route: &RepositoryRoute,
        token: Option<&str>,
    ) -> Result<Option<git::Credentials>, ActionError> {
        let mut credentials = match &route.credentials_secret {
            None if matches!(route.kind, ForgeKind::Github | ForgeKind::Gitlab) && token.is_none() => self
                .host_token(route)?
                .map(|token| git::Credentials::new(route.kind.push_user().to_string(), &token)),
            None => None,
            Some(secret) => Some(
                self.handle
                    .block_on(credentials(self.context, &self.context.namespace, secret))
                    .map_err(|e| match e {
                        // An operator misconfiguration: retried, so fixing the
                        // Secret lets waiting requests go on.
                        SourceError::Invalid(m) | SourceError::Unavailable(m) | SourceError::TooLarge(m) => {
                            ActionError::transient(format!("git credentials: {m}"))
                        }
                    })?,
            ),
        };
        if let Some(token) = token {
            let username = credentials
                .as_ref()
                .map_or(route.kind.push_user().into(), |c| c.username.clone());
            credentials = Some(git::Credentials::new(username, token));
        }
        Ok(credentials)
    }

    /// The host's own API token: a GitHub App's installation token (kept
    /// until shortly before it expires), else `tokenSecret`'s; `None` when
    /// it has neither.
    fn host_token(&self, route: &RepositoryRoute) -> Result<Option<String>, ActionError> {
        let namespace = &self.context.namespace;
        if let (Some((app, installation)), Some(api_url)) = (&route.app, &route.api_url) {
            let pem = self.handle.block_on(secret_key(
                self.context,
                namespace,
                &app.private_key_secret,
                "privateKey",
            ))?;
            let key = AppKey::new(app.app_id, &pem)?;
            let now = k8s_openapi::jiff::Timestamp::now().as_second();
            let token = self.handle.block_on(self.context.app_tokens.token(
                api_url,
                &key,
                installation.clone(),
                now,
            ))?;
            return Ok(Some(token));
        }
        match &route.token_secret {
            Some(secret) => Ok(Some(self.handle.block_on(secret_key(
                self.context,
                namespace,
                secret,
                "token",
            ))?)),
            None => Ok(None),
        }
    }

    /// The forge client for `route`'s host, with the step's token or the
    /// host's.
    pub(crate) fn forge_client(
        &self,
        route: &RepositoryRoute,
        token: Option<&str>,
    ) -> Result<Client<HttpTransport>, ActionError> {
        let api_url = route.api_url.as_deref().ok_or_else(|| {
            ActionError::transient("the repoUrl's host is a forge without apiUrl in gitHosts".to_string())
        })?;
        let token = match token {
            Some(token) => token.to_string(),
            None => self.host_token(route)?.ok_or_else(|| {
                ActionError::transient(
                    "the repoUrl's host is a forge without tokenSecret in gitHosts, and the step has no token",
                )
            })?,
        };
        let transport = HttpTransport::new(api_url, &token)?.with_scheme(route.kind.auth_scheme());
        Client::new(route.kind, transport).ok_or_else(|| {
            ActionError::permanent(format!(
                "the repoUrl's host is of type {}, which has no API client",
                route.kind
            ))
        })
    }

    fn application(&mut self, input: &ApplicationInput) -> Result<ApplicationOutput, ActionError> {
        let default_project = self.tenant.argocd.projects.first().map_or("", String::as_str);
        let application = argocd::application(input, &self.context.config.argocd, default_project)?;
        let published: Vec<&str> = self.published.values().map(|p| p.remote_url.as_str()).collect();
        let project = argocd::project(&application);
        let project_labels = if self.tenant.lists_project(&project) {
            None
        } else {
            self.project_labels(&project)?
        };
        argocd::permitted(&application, &self.tenant, project_labels.as_ref(), &published)?;
        let name = application["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let resource =
            ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"));
        let api: Api<DynamicObject> = Api::namespaced_with(
            self.context.client.clone(),
            &self.context.config.argocd.namespace,
            &resource,
        );
        let what = format!(
            "Argo CD Application {}/{name}",
            self.context.config.argocd.namespace
        );
        self.apply(&api, &resource, &what, application.clone())?;
        self.applications.push(name);
        Ok(argocd::output(&application))
    }

    /// The labels of AppProject `name` in Argo CD's namespace, read with the
    /// operator's rights (the requester needs none there); `None` when it
    /// does not exist.
    fn project_labels(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, ActionError> {
        if self.tenant.argocd.project_label.is_empty() || name.is_empty() {
            return Ok(None);
        }
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "AppProject"));
        let namespace = &self.context.config.argocd.namespace;
        let api: Api<DynamicObject> = Api::namespaced_with(self.context.client.clone(), namespace, &resource);
        let project = self
            .handle
            .block_on(api.get_opt(name))
            .map_err(|e| api_failure(&format!("reading AppProject {namespace}/{name}"), e))?;
        Ok(project.map(|mut project| std::mem::take(project.labels_mut())))
    }

    /// The text of `url`, a file in a repository this request published.
    fn published_file(&self, url: &str) -> Result<(String, String), ActionError> {
        let (contents_url, repository, path) = catalog::locate(&self.published, url)?;
        let read;
        let files = match &repository.files {
            Some(files) => files,
            None => {
                // Published before a restart: read it back from the server.
                read = self.read_published(repository, &path)?;
                &read
            }
        };
        catalog::published_text(contents_url, files, url, &path)
    }

    fn read_published(&self, repository: &Published, path: &str) -> Result<FileTree, ActionError> {
        let credentials = self
            .context
            .config
            .credentials_for(&repository.remote_url)
            .map(|secret| {
                self.handle
                    .block_on(credentials(self.context, &self.context.namespace, secret))
            })
            .transpose()
            .map_err(|e| ActionError::transient(format!("git credentials: {}", e.message())))?;
        let parent = path.rsplit_once('/').map(|(dir, _)| dir.to_string());
        let files = git::read_tree(
            &repository.remote_url,
            &repository.commit,
            parent.as_deref(),
            credentials.as_ref(),
            &self.context.git_cache,
            &self.context.config.template_source_limits,
        )
        .map_err(|e| ActionError::new(e.to_string(), e.is_transient()))?;
        Ok(match parent {
            None => files,
            Some(dir) => files
                .into_iter()
                .map(|(p, e)| (format!("{dir}/{p}"), e))
                .collect(),
        })
    }

    fn register_entities(&mut self, input: &RegisterInput) -> Result<RegisterOutput, ActionError> {
        let resource = ApiResource::erase::<CatalogEntity>(&());
        let dynamic: Api<DynamicObject> =
            Api::namespaced_with(self.context.client.clone(), &self.namespace, &resource);
        catalog::register(
            input,
            &self.namespace,
            &self.template_ref,
            self.applications.first().map(String::as_str),
            |url| self.published_file(url),
            |entity| {
                let reference = entity_ref(&entity);
                let mut object =
                    serde_json::to_value(&entity).map_err(|e| ActionError::permanent(e.to_string()))?;
                object["apiVersion"] = json!("goldpath.dev/v1alpha1");
                object["kind"] = json!("CatalogEntity");
                if let Some(fields) = object.as_object_mut() {
                    fields.remove("status");
                }
                self.apply(&dynamic, &resource, &format!("CatalogEntity {reference}"), object)
            },
        )
    }

    fn fetch(&self, input: &FetchEntitiesInput) -> Result<FetchEntitiesOutput, ActionError> {
        input.fetch(&self.namespace, |wanted| self.read_entity(wanted))
    }

    fn kubernetes_apply(&self, input: &ApplyInput) -> Result<(), ActionError> {
        let mut manifest = input.object()?;
        let api_version = manifest["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = manifest["kind"].as_str().unwrap_or_default().to_string();
        let name = manifest["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if api_version.is_empty() || kind.is_empty() || name.is_empty() {
            return Err(ActionError::permanent(
                "input.manifest needs apiVersion, kind and metadata.name",
            ));
        }
        let resource = self.namespaced_kind(ListedUse::Apply, &api_version, &kind)?;
        let namespace = manifest["metadata"]["namespace"]
            .as_str()
            .unwrap_or(&self.namespace)
            .to_string();
        let (group, _) = group_version(&api_version);
        self.require_listed(ListedUse::Apply, group, &kind, &namespace)?;
        manifest["metadata"]["namespace"] = json!(namespace);
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.context.client.clone(), &namespace, &resource);
        self.apply(&api, &resource, &format!("{kind} {namespace}/{name}"), manifest)
    }

    /// The CatalogEntity `wanted` names, read only if the requester may
    /// read it themselves: an entity of a namespace they cannot see is
    /// refused, not reported missing.
    pub(super) fn read_entity(&self, wanted: &EntityRef) -> Result<Option<CatalogEntity>, ActionError> {
        self.require(&Permission {
            verb: "get",
            group: "goldpath.dev",
            resource: "catalogentities",
            namespace: &wanted.namespace,
            name: Some(&wanted.name),
        })?;
        let api = Api::<CatalogEntity>::namespaced(self.context.client.clone(), &wanted.namespace);
        self.handle
            .block_on(api.get_opt(&wanted.name))
            .map_err(|e| api_failure(&format!("reading {wanted}"), e))
    }
}

impl Publisher for ClusterEffects<'_> {
    type Forge = Client<HttpTransport>;

    fn wait<T>(&self, call: impl Future<Output = T>) -> T {
        self.handle.block_on(call)
    }

    fn publishing(&self) -> Publishing<'_> {
        Publishing {
            config: &self.context.config,
            namespace: &self.namespace,
            marker: &self.uid,
            guard_publish: true,
            step_started: self.step_started,
        }
    }

    fn pushed(&mut self, _: Option<&Client<HttpTransport>>, _: &str, _: &str, took: Duration) {
        self.context.metrics.git_push_duration.observe(took.as_secs_f64());
    }

    fn published(&mut self, publish: Publish, output: &PublishOutput) {
        self.published.insert(
            publish.route.contents_url,
            Published {
                remote_url: publish.route.remote_url,
                commit: output.commit_hash.clone(),
                files: Some(publish.files),
            },
        );
    }

    /// The repository's default branch, as the forge says.
    fn default_branch(
        &self,
        step: &PullRequestStep,
        forge: Option<&Client<HttpTransport>>,
    ) -> Result<String, ActionError> {
        let forge = forge.ok_or_else(|| ActionError::transient("a pull request needs the forge's API"))?;
        let repository = self.wait(forge.repository(&step.id))?.ok_or_else(|| {
            ActionError::permanent(format!(
                "the repository {} does not exist; a pull request goes into an existing repository",
                step.id
            ))
        })?;
        Ok(repository.default_branch)
    }

    fn remote(
        &self,
        _: &str,
        route: &RepositoryRoute,
        token: Option<&str>,
        forge: bool,
    ) -> Result<Remote<Client<HttpTransport>>, ActionError> {
        Ok(Remote {
            credentials: self.push_credentials(route, token)?,
            forge: if forge {
                Some(self.forge_client(route, token)?)
            } else {
                None
            },
        })
    }
}

impl World for ClusterEffects<'_> {
    fn create_application(&mut self, input: &ApplicationInput) -> Result<ApplicationOutput, ActionError> {
        self.application(input)
    }

    fn register(&mut self, input: &RegisterInput) -> Result<RegisterOutput, ActionError> {
        let registered = self.register_entities(input)?;
        self.entities.push(registered.entity_ref.clone());
        Ok(registered)
    }

    fn fetch_entities(&mut self, input: &FetchEntitiesInput) -> Result<FetchEntitiesOutput, ActionError> {
        self.fetch(input)
    }

    fn apply_manifest(&mut self, input: &ApplyInput) -> Result<(), ActionError> {
        self.kubernetes_apply(input)
    }

    /// Only checks the length: the step loop records when the wait ends
    /// and requeues the request, so no thread is held.
    fn wait(&mut self, duration: Duration) -> Result<(), ActionError> {
        let max = Duration::from_secs(self.context.config.debug_wait_max_seconds);
        crate::actions::wait::within(duration, max).map(drop)
    }

    fn look(&mut self, gate: &crate::actions::gated::Gate) -> Result<Value, ActionError> {
        self.look_once(gate)
    }
}

/// The value of `key` in the Secret `namespace/name`. A missing Secret or
/// key is the operator's configuration, retried so that fixing it lets
/// waiting requests go on.
async fn secret_key(
    context: &Context,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<String, ActionError> {
    let secret = Api::<Secret>::namespaced(context.client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| api_failure(&format!("reading Secret {namespace}/{name}"), e))?
        .ok_or_else(|| ActionError::transient(format!("Secret {namespace}/{name} does not exist")))?;
    secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|value| String::from_utf8_lossy(&value.0).trim().to_string())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| ActionError::transient(format!("Secret {namespace}/{name} has no key {key:?}")))
}

/// The namespace an object is written to.
fn api_namespace(object: &Value) -> &str {
    object["metadata"]["namespace"].as_str().unwrap_or_default()
}

/// An API call's failure as a step's: retried when the server could not be
/// reached or was busy, not when it refused.
fn api_failure(what: &str, error: kube::Error) -> ActionError {
    let message = match &error {
        kube::Error::Api(status) if status.code == 404 => {
            format!("{what}: the cluster has no such resource; is its CustomResourceDefinition installed?")
        }
        kube::Error::Api(status) => format!("{what}: {}", status.message),
        kube::Error::Discovery(error) => {
            format!(
                "{what}: the cluster does not serve it ({error}); is its CustomResourceDefinition installed?"
            )
        }
        other => format!("{what}: {other}"),
    };
    ActionError::new(message, is_transient(&error))
}
