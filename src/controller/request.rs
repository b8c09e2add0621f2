//! The ScaffoldRequest controller: resolves the Template, pins its
//! revision, checks the parameters and runs the steps in order. Each step's
//! outcome is in status before the next step starts; that status is the
//! checkpoint a restarted operator resumes from.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};
use tokio::runtime::Handle;
use tracing::info;

use super::conditions::{State, set_condition, set_state};
use super::effects::ClusterEffects;
use super::guard::Guarded;
use super::template::{Prepared, SourceError, prepared};
use super::{Context, Error, kube_error};
use crate::actions::{self, REQUEST_UID_LABEL, Reach};
use crate::api::{
    CatalogEntity, DeletionPolicy, Phase, ScaffoldRequest, ScaffoldRequestStatus, StepPhase, StepStatus,
    Template,
};
use crate::engine::expression::{Limits, Renderer};
use crate::engine::filters::EntityRef;
use crate::scaffold::{self, Scaffold};
use crate::telemetry::{ActionLabels, RequestLabels};

/// Finalizer that removes what a request with `deletionPolicy: Delete` created.
pub const FINALIZER: &str = "goldpath.dev/cleanup";

/// The unfinished requests that use `template`: run again when it changes.
pub fn waiting_on(store: &Store<ScaffoldRequest>, template: &Template) -> Vec<ObjectRef<ScaffoldRequest>> {
    let name = template.name_any();
    let namespace = template.namespace().unwrap_or_default();
    store
        .state()
        .iter()
        .filter(|request| {
            let reference = &request.spec.template_ref;
            reference.name == name
                && reference
                    .namespace
                    .as_deref()
                    .or(request.namespace().as_deref())
                    .is_some_and(|n| n == namespace)
                && !finished(request)
        })
        .map(|request| ObjectRef::from_obj(request.as_ref()))
        .collect()
}

/// Whether the request has finished for its current spec.
fn finished(request: &ScaffoldRequest) -> bool {
    request.status.as_ref().is_some_and(|s| {
        matches!(s.phase, Some(Phase::Succeeded | Phase::Failed))
            && s.observed_generation == request.metadata.generation
    })
}

/// Reconciles one ScaffoldRequest.
pub async fn reconcile(cached: Arc<ScaffoldRequest>, context: Arc<Context>) -> Result<Action, Error> {
    let namespace = cached.namespace().unwrap_or_default();
    let api = Api::<ScaffoldRequest>::namespaced(context.client.clone(), &namespace);
    if cached.metadata.deletion_timestamp.is_some() {
        return finalize(&context, &api, &cached).await;
    }
    keep_finalizer(&api, &cached).await?;
    if finished(&cached) {
        return Ok(Action::await_change());
    }
    // The cache can lag behind this controller's own status writes: act on
    // the status as the API server has it, or a step could run twice. One
    // that can no longer be read is reported by the watch.
    let Some(Guarded(Ok(request))) =
        Api::<Guarded<ScaffoldRequest>>::namespaced(context.client.clone(), &namespace)
            .get_opt(&cached.name_any())
            .await
            .map_err(kube_error(format!("reading {}", super::key(cached.as_ref()))))?
    else {
        return Ok(Action::await_change());
    };
    let mut run = Run {
        key: super::key(&request),
        status: request.status.clone().unwrap_or_default(),
        request: Arc::new(request),
        api,
        context,
    };
    run.reconcile().await
}

/// One reconcile of one request: its status as it is being rewritten.
struct Run {
    key: String,
    request: Arc<ScaffoldRequest>,
    status: ScaffoldRequestStatus,
    api: Api<ScaffoldRequest>,
    context: Arc<Context>,
}

/// How the steps ended this time.
enum Outcome {
    /// Every step is done.
    Succeeded,
    /// A step failed for good.
    Failed,
    /// A step failed in a way that may pass later.
    Retry(Duration),
}

impl Run {
    fn generation(&self) -> Option<i64> {
        self.request.metadata.generation
    }

    async fn reconcile(&mut self) -> Result<Action, Error> {
        let generation = self.generation();
        match self.status.phase {
            Some(Phase::Succeeded) if self.status.observed_generation != generation => {
                self.status.observed_generation = generation;
                let message = format!(
                    "the spec changed (generation {}) after the request succeeded; it is not run again. \
                     Create a new ScaffoldRequest for a new instance",
                    generation.unwrap_or_default()
                );
                set_condition(
                    &mut self.status.conditions,
                    "SpecChanged",
                    true,
                    "NotRerun",
                    &message,
                    generation,
                );
                self.write().await?;
                self.event(EventType::Warning, "SpecChanged", message).await;
                return Ok(Action::await_change());
            }
            Some(Phase::Succeeded) => return Ok(Action::await_change()),
            Some(Phase::Failed) if self.status.observed_generation == generation => {
                return Ok(Action::await_change());
            }
            Some(Phase::Failed) => {
                // The spec changed after a failure: start again with it.
                self.status = ScaffoldRequestStatus {
                    conditions: std::mem::take(&mut self.status.conditions),
                    ..ScaffoldRequestStatus::default()
                };
            }
            _ => {}
        }
        self.status.observed_generation = generation;
        if self.request.spec.requester.is_none() {
            // Without the stamp nobody vouches for who asked, so nothing
            // can be done in their name. The policy stamps only at create:
            // the request must be created again once it is installed.
            return self
                .fail(
                    "RequesterUnknown",
                    "spec.requester is not set: the API server did not record who created this \
                     request, so goldpath does not act for it. The goldpath chart's \
                     MutatingAdmissionPolicy (admissionregistration.k8s.io/v1) stamps it at create; \
                     install it and create the request again"
                        .into(),
                )
                .await;
        }
        let Some(template) = self.template().await? else {
            return Ok(Action::await_change());
        };
        let prepared =
            match prepared(&self.context, &template, self.status.template_revision.as_deref()).await {
                Ok(Ok(prepared)) => prepared,
                Ok(Err(problems)) => {
                    return self
                        .wait(
                            State::Stalled,
                            "TemplateInvalid",
                            format!(
                                "Template {} is invalid: {}",
                                template_name(&template),
                                problems.join("; ")
                            ),
                        )
                        .await;
                }
                Err(SourceError::Invalid(message) | SourceError::TooLarge(message)) => {
                    return self
                        .wait(
                            State::Stalled,
                            "TemplateUnavailable",
                            format!("Template {}: {message}", template_name(&template)),
                        )
                        .await;
                }
                Err(SourceError::Unavailable(message)) => {
                    let delay = self.context.backoff(&self.key);
                    self.wait(
                        State::Reconciling,
                        "TemplateUnavailable",
                        format!(
                            "Template {}: {message}; trying again in {}s",
                            template_name(&template),
                            delay.as_secs()
                        ),
                    )
                    .await?;
                    return Ok(Action::requeue(delay));
                }
            };
        let parameters = match prepared.schema.validate(&self.request.spec.parameters) {
            Ok(parameters) => parameters,
            Err(errors) => {
                let message = errors
                    .iter()
                    .map(|e| {
                        if e.field.is_empty() {
                            format!("spec.parameters: {}", e.message)
                        } else {
                            format!("spec.parameters.{}: {}", e.field, e.message)
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                return self.fail("InvalidParameters", message).await;
            }
        };
        let secrets = match self.secrets().await? {
            Ok(secrets) => secrets,
            Err(message) => {
                self.wait(State::Stalled, "SecretNotFound", message).await?;
                return Ok(Action::requeue(Duration::from_secs(60)));
            }
        };
        if self.status.template_revision.is_none() {
            self.status.template_revision = Some(prepared.revision.clone());
            self.event(
                EventType::Normal,
                "Started",
                format!(
                    "rendering Template {} at revision {} for {}",
                    template_name(&template),
                    prepared.revision,
                    self.request
                        .spec
                        .requester
                        .as_ref()
                        .map_or("", |r| r.username.as_str())
                ),
            )
            .await;
        }
        if self.status.steps.len() != prepared.spec.steps.len() {
            self.status.steps = (0..prepared.spec.steps.len())
                .map(|index| StepStatus {
                    id: scaffold::step_id(&prepared.spec, index),
                    action: prepared.spec.steps[index].action.clone(),
                    phase: StepPhase::Pending,
                    started_at: None,
                    completed_at: None,
                    message: None,
                    output: None,
                })
                .collect();
        }
        self.status.phase = Some(Phase::Running);
        let outcome = self.run_steps(prepared, parameters, secrets, &template).await?;
        Ok(match outcome {
            Outcome::Succeeded | Outcome::Failed => {
                self.finished();
                self.context.succeeded(&self.key);
                Action::await_change()
            }
            Outcome::Retry(delay) => Action::requeue(delay),
        })
    }

    /// The Template the request names, if it exists and grants access;
    /// otherwise the status says why and `None` is returned.
    async fn template(&mut self) -> Result<Option<Template>, Error> {
        let own_namespace = self.request.namespace().unwrap_or_default();
        let reference = self.request.spec.template_ref.clone();
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| own_namespace.clone());
        let found = Api::<Guarded<Template>>::namespaced(self.context.client.clone(), &namespace)
            .get_opt(&reference.name)
            .await
            .map_err(kube_error(format!(
                "reading Template {namespace}/{}",
                reference.name
            )))?;
        let found = match found {
            Some(Guarded(Err(bad))) => {
                self.wait(
                    State::Stalled,
                    "TemplateUndecodable",
                    format!(
                        "spec.templateRef: Template {namespace}/{} cannot be read: {}",
                        reference.name, bad.problem
                    ),
                )
                .await?;
                return Ok(None);
            }
            Some(Guarded(Ok(template))) => Some(template),
            None => None,
        };
        let Some(template) = found else {
            self.wait(
                State::Stalled,
                "TemplateNotFound",
                format!(
                    "spec.templateRef: Template {namespace}/{} does not exist; the request starts when it \
                     is created",
                    reference.name
                ),
            )
            .await?;
            return Ok(None);
        };
        let granted = namespace == own_namespace
            || template
                .spec
                .access
                .as_ref()
                .is_some_and(|a| a.namespaces.iter().any(|n| n == "*" || *n == own_namespace));
        if !granted {
            self.wait(
                State::Stalled,
                "AccessDenied",
                format!(
                    "spec.templateRef: Template {namespace}/{} does not grant namespace {own_namespace} \
                     access; its owners can add it to spec.access.namespaces",
                    reference.name
                ),
            )
            .await?;
            return Ok(None);
        }
        if self.status.template_revision.is_none() {
            let status = template.status.clone().unwrap_or_default();
            let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
            let current = status.observed_generation == template.metadata.generation;
            match ready {
                Some(ready) if current && ready.status == "True" => {}
                Some(ready) if current && ready.reason != "SourceUnavailable" => {
                    self.wait(
                        State::Stalled,
                        "TemplateInvalid",
                        format!(
                            "Template {} is invalid: {}",
                            template_name(&template),
                            ready.message
                        ),
                    )
                    .await?;
                    return Ok(None);
                }
                _ => {
                    self.wait(
                        State::Reconciling,
                        "TemplateNotReady",
                        format!("waiting for Template {} to be checked", template_name(&template)),
                    )
                    .await?;
                    return Ok(None);
                }
            }
        }
        Ok(Some(template))
    }

    /// The values of `spec.secretRef`, or why they cannot be read.
    async fn secrets(&self) -> Result<Result<BTreeMap<String, String>, String>, Error> {
        let Some(reference) = &self.request.spec.secret_ref else {
            return Ok(Ok(BTreeMap::new()));
        };
        let namespace = self.request.namespace().unwrap_or_default();
        let secret = Api::<Secret>::namespaced(self.context.client.clone(), &namespace)
            .get_opt(&reference.name)
            .await
            .map_err(kube_error(format!(
                "reading Secret {namespace}/{}",
                reference.name
            )))?;
        Ok(match secret {
            None => Err(format!(
                "spec.secretRef: Secret {namespace}/{} does not exist",
                reference.name
            )),
            Some(secret) => Ok(secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| (key, String::from_utf8_lossy(&value.0).into_owned()))
                .chain(secret.string_data.unwrap_or_default())
                .collect()),
        })
    }

    /// Records that the request waits for something outside it to change.
    async fn wait(&mut self, state: State, reason: &str, message: String) -> Result<Action, Error> {
        if self.status.phase.is_none() {
            self.status.phase = Some(Phase::Pending);
        }
        let before = self.request.status.clone();
        let generation = self.generation();
        set_state(&mut self.status.conditions, state, reason, &message, generation);
        if before.as_ref() != Some(&self.status) {
            self.write().await?;
            let reasons_differ = before
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
                .is_none_or(|c| c.reason != reason);
            if reasons_differ {
                self.event(EventType::Warning, reason, message).await;
            }
        }
        Ok(Action::await_change())
    }

    /// Fails the request before any step ran.
    async fn fail(&mut self, reason: &str, message: String) -> Result<Action, Error> {
        self.status.phase = Some(Phase::Failed);
        let generation = self.generation();
        set_state(
            &mut self.status.conditions,
            State::Stalled,
            reason,
            &message,
            generation,
        );
        self.write().await?;
        self.event(EventType::Warning, reason, message).await;
        self.finished();
        self.context.succeeded(&self.key);
        Ok(Action::await_change())
    }

    /// Counts the request, now Succeeded or Failed, by template and
    /// outcome, and the time since it was created.
    fn finished(&self) {
        let metrics = &self.context.metrics;
        let template = &self.request.spec.template_ref;
        let namespace = template
            .namespace
            .clone()
            .or_else(|| self.request.namespace())
            .unwrap_or_default();
        let outcome = match self.status.phase {
            Some(Phase::Succeeded) => "Succeeded",
            _ => "Failed",
        };
        metrics
            .scaffold_requests
            .get_or_create(&RequestLabels {
                template: format!("{namespace}/{}", template.name),
                outcome: outcome.into(),
            })
            .inc();
        if let Some(created) = &self.request.metadata.creation_timestamp {
            let elapsed = Timestamp::now().duration_since(created.0);
            metrics.scaffold_duration.observe(elapsed.as_secs_f64().max(0.0));
        }
    }

    async fn write(&self) -> Result<(), Error> {
        write_status(&self.api, &self.request.name_any(), &self.status)
            .await
            .map_err(kube_error(format!("writing the status of {}", self.key)))
    }

    async fn event(&self, type_: EventType, reason: &str, note: String) {
        self.context
            .event(self.request.as_ref(), type_, reason, reason, note)
            .await;
    }

    /// Runs the steps from the first unfinished one, on a blocking thread
    /// (rendering and git are blocking), writing status between steps.
    async fn run_steps(
        &mut self,
        prepared: Arc<Prepared>,
        parameters: Value,
        secrets: BTreeMap<String, String>,
        template: &Template,
    ) -> Result<Outcome, Error> {
        let user = user(&self.request);
        let template_ref = format!(
            "template:{}/{}",
            template.namespace().unwrap_or_default(),
            template.name_any()
        );
        let handle = Handle::current();
        let mut status = std::mem::take(&mut self.status);
        let request = self.request.clone();
        let api = self.api.clone();
        let context = self.context.clone();
        let key = self.key.clone();
        // The steps log in this reconcile's span, on the blocking thread too.
        let span = tracing::Span::current();
        let (status, outcome) = tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let steps = Steps {
                handle: &handle,
                context: &context,
                request: &request,
                api: &api,
                key: &key,
            };
            let outcome = steps.run(&prepared, parameters, secrets, user, &template_ref, &mut status);
            (status, outcome)
        })
        .await
        .map_err(|e| Error::Worker(e.to_string()))?;
        self.status = status;
        outcome
    }
}

/// The step loop, run on a blocking thread.
struct Steps<'a> {
    handle: &'a Handle,
    context: &'a Context,
    request: &'a ScaffoldRequest,
    api: &'a Api<ScaffoldRequest>,
    key: &'a str,
}

impl Steps<'_> {
    fn run(
        &self,
        prepared: &Prepared,
        parameters: Value,
        secrets: BTreeMap<String, String>,
        user: Value,
        template_ref: &str,
        status: &mut ScaffoldRequestStatus,
    ) -> Result<Outcome, Error> {
        let generation = self.request.metadata.generation;
        let input = scaffold::Request {
            template: &prepared.spec,
            template_files: &prepared.files,
            parameters,
            secrets,
            user,
        };
        let mut run = Scaffold::new(input, Renderer::new(Limits::default()));
        let mut effects = ClusterEffects::new(self.context, self.request, template_ref, self.handle.clone());
        for index in 0..prepared.spec.steps.len() {
            let step = &prepared.spec.steps[index];
            let id = status.steps[index].id.clone();
            let done = matches!(
                status.steps[index].phase,
                StepPhase::Succeeded | StepPhase::Skipped
            );
            let reach = actions::reach(&step.action);
            if done && reach == Some(Reach::World) {
                let output = status.steps[index].output.clone().unwrap_or_else(|| json!({}));
                effects.restore(&step.action, &output);
                run.restore(index, output);
                continue;
            }
            if !done {
                let entry = &mut status.steps[index];
                // A retried step keeps when it first started, and its start
                // is announced once, not on every attempt.
                let first_attempt = entry.started_at.is_none();
                entry.phase = StepPhase::Running;
                entry.started_at.get_or_insert_with(now);
                entry.message = None;
                let message = format!("step {} ({})", entry.id, entry.action);
                set_state(
                    &mut status.conditions,
                    State::Reconciling,
                    "Running",
                    &message,
                    generation,
                );
                self.write(status)?;
                if first_attempt {
                    self.event(EventType::Normal, "StepStarted", &id, message);
                }
            }
            // A finished workspace step runs again to rebuild the workspace;
            // it is pure, so it does what it did before.
            let started = std::time::Instant::now();
            let outcome = run.run_step(index, &mut effects);
            if !done {
                self.context
                    .metrics
                    .step_duration
                    .get_or_create(&ActionLabels {
                        action: step.action.clone(),
                    })
                    .observe(started.elapsed().as_secs_f64());
            }
            let entry = &mut status.steps[index];
            let label = format!("step {} ({})", entry.id, entry.action);
            match outcome.phase {
                StepPhase::Succeeded | StepPhase::Skipped if done => {}
                StepPhase::Succeeded | StepPhase::Skipped => {
                    entry.phase = outcome.phase;
                    entry.completed_at = Some(now());
                    entry.output =
                        Some(outcome.output.clone()).filter(|o| o.as_object().is_none_or(|o| !o.is_empty()));
                    entry.message = outcome
                        .message
                        .clone()
                        .or_else(|| Some(outcome.log.join("\n")).filter(|l| !l.is_empty()))
                        .map(|m| super::truncate(m, 4000));
                    if let Some(url) = outcome.output.get("remoteUrl").and_then(Value::as_str) {
                        status.repository = Some(crate::git::redact_url(url));
                    }
                    let verb = if outcome.phase == StepPhase::Skipped {
                        "skipped"
                    } else {
                        "succeeded"
                    };
                    self.event(EventType::Normal, "StepSucceeded", &id, format!("{label} {verb}"));
                }
                _ if outcome.transient => {
                    // A forge's rate limit says when it resets: waiting less
                    // only spends the next allowance on refusals.
                    let delay = outcome
                        .retry_after
                        .unwrap_or_else(|| self.context.backoff(self.key));
                    let message = format!(
                        "{}; trying again in {}s",
                        outcome.message.unwrap_or_default(),
                        delay.as_secs()
                    );
                    entry.phase = StepPhase::Pending;
                    entry.message = Some(message.clone());
                    set_state(
                        &mut status.conditions,
                        State::Reconciling,
                        "Retrying",
                        &message,
                        generation,
                    );
                    self.write(status)?;
                    self.event(EventType::Warning, "StepRetrying", &id, message);
                    return Ok(Outcome::Retry(delay));
                }
                _ => {
                    let message = outcome.message.unwrap_or_else(|| format!("{label} failed"));
                    entry.phase = StepPhase::Failed;
                    entry.completed_at = Some(now());
                    entry.message = Some(message.clone());
                    status.phase = Some(Phase::Failed);
                    set_state(
                        &mut status.conditions,
                        State::Stalled,
                        "StepFailed",
                        &message,
                        generation,
                    );
                    self.write(status)?;
                    self.event(EventType::Warning, "StepFailed", &id, message);
                    return Ok(Outcome::Failed);
                }
            }
        }
        match run.output() {
            Ok(output) => {
                status.output = Some(output).filter(|o| !o.links.is_empty() || !o.text.is_empty());
                status.phase = Some(Phase::Succeeded);
                set_state(
                    &mut status.conditions,
                    State::Ready,
                    "Succeeded",
                    "every step succeeded",
                    generation,
                );
                self.write(status)?;
                info!(request = %self.key, "request succeeded");
                self.handle.block_on(self.context.event(
                    self.request,
                    EventType::Normal,
                    "Succeeded",
                    "Succeeded",
                    "every step succeeded".into(),
                ));
                Ok(Outcome::Succeeded)
            }
            Err(error) => {
                let message = run.secrets().redact(&format!("the template's output: {error}"));
                status.phase = Some(Phase::Failed);
                set_state(
                    &mut status.conditions,
                    State::Stalled,
                    "OutputFailed",
                    &message,
                    generation,
                );
                self.write(status)?;
                self.handle.block_on(self.context.event(
                    self.request,
                    EventType::Warning,
                    "OutputFailed",
                    "Output",
                    message,
                ));
                Ok(Outcome::Failed)
            }
        }
    }

    fn write(&self, status: &ScaffoldRequestStatus) -> Result<(), Error> {
        self.handle
            .block_on(write_status(self.api, &self.request.name_any(), status))
            .map_err(kube_error(format!("writing the status of {}", self.key)))
    }

    /// An Event about step `id`.
    fn event(&self, type_: EventType, reason: &str, id: &str, note: String) {
        self.handle.block_on(
            self.context
                .event(self.request, type_, reason, &format!("Step {id}"), note),
        );
    }
}

async fn write_status(
    api: &Api<ScaffoldRequest>,
    name: &str,
    status: &ScaffoldRequestStatus,
) -> Result<(), kube::Error> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .map(drop)
}

fn now() -> Time {
    Time(Timestamp::now())
}

fn template_name(template: &Template) -> String {
    format!(
        "{}/{}",
        template.namespace().unwrap_or_default(),
        template.name_any()
    )
}

/// `${{ user }}` from the request's `spec.requester`, which the API server
/// stamped: `user:default/<name>`, the Kubernetes user name with what an
/// entity name cannot hold (`:`, `@`, ...) turned into `-`, cut to 63
/// characters. Annotations are not read: anyone who writes the request
/// could set them.
fn user(request: &ScaffoldRequest) -> Value {
    let Some(requester) = &request.spec.requester else {
        return Value::Null;
    };
    let name: String = requester
        .username
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    match EntityRef::parse(name, Some("user"), Some("default")) {
        Ok(parsed) => json!({
            "ref": parsed.to_string(),
            "entity": {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "User",
                "metadata": { "name": parsed.name, "namespace": parsed.namespace },
            },
            "kubernetes": { "username": requester.username, "groups": requester.groups },
        }),
        Err(_) => Value::Null,
    }
}

/// Adds the cleanup finalizer to a request that asks for `Delete`, and
/// removes it from one that no longer does.
async fn keep_finalizer(api: &Api<ScaffoldRequest>, request: &ScaffoldRequest) -> Result<(), Error> {
    let wanted = request.spec.deletion_policy == DeletionPolicy::Delete;
    let has = request.finalizers().iter().any(|f| f == FINALIZER);
    if wanted == has {
        return Ok(());
    }
    let mut finalizers: Vec<String> = request
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    if wanted {
        finalizers.push(FINALIZER.to_string());
    }
    patch_finalizers(api, request, finalizers).await
}

async fn patch_finalizers(
    api: &Api<ScaffoldRequest>,
    request: &ScaffoldRequest,
    finalizers: Vec<String>,
) -> Result<(), Error> {
    // The resourceVersion makes this a compare-and-swap: a finalizer someone
    // else added meanwhile is not lost; the conflict is retried.
    let patch = json!({
        "metadata": { "finalizers": finalizers, "resourceVersion": request.resource_version() }
    });
    api.patch(&request.name_any(), &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map(drop)
        .map_err(kube_error(format!(
            "updating the finalizers of {}",
            super::key(request)
        )))
}

/// A request being deleted with `deletionPolicy: Delete`: its Argo CD
/// Applications and CatalogEntities go; its repository stays.
async fn finalize(
    context: &Context,
    api: &Api<ScaffoldRequest>,
    request: &ScaffoldRequest,
) -> Result<Action, Error> {
    if !request.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(Action::await_change());
    }
    if request.spec.deletion_policy == DeletionPolicy::Delete {
        let uid = request.uid().unwrap_or_default();
        let selector = ListParams::default().labels(&format!("{REQUEST_UID_LABEL}={uid}"));
        let applications: Api<DynamicObject> = Api::namespaced_with(
            context.client.clone(),
            &context.config.argocd.namespace,
            &ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application")),
        );
        let entities = Api::<CatalogEntity>::namespaced(
            context.client.clone(),
            &request.namespace().unwrap_or_default(),
        );
        let mut removed = Vec::new();
        let listed = match applications.list_metadata(&selector).await {
            Ok(list) => list.items,
            // Without Argo CD's CRD there is no Application to delete.
            Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
            Err(error) => return Err(kube_error("listing the request's Applications")(error)),
        };
        for application in listed {
            delete(&applications, &application.name_any()).await?;
            removed.push(format!("Application {}", application.name_any()));
        }
        for entity in entities
            .list_metadata(&selector)
            .await
            .map_err(kube_error("listing the request's CatalogEntities"))?
        {
            delete(&entities, &entity.name_any()).await?;
            removed.push(format!("CatalogEntity {}", entity.name_any()));
        }
        if !removed.is_empty() {
            context
                .event(
                    request,
                    EventType::Normal,
                    "Deleted",
                    "Delete",
                    format!("deleted {} (the repository is kept)", removed.join(", ")),
                )
                .await;
        }
    }
    let finalizers = request
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    patch_finalizers(api, request, finalizers).await?;
    Ok(Action::await_change())
}

async fn delete<K>(api: &Api<K>, name: &str) -> Result<(), Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(kube_error(format!("deleting {name}"))(error)),
    }
}

/// A failed reconcile (the API server) is tried again with backoff.
pub fn error_policy(request: Arc<ScaffoldRequest>, error: &Error, context: Arc<Context>) -> Action {
    let key = super::key(request.as_ref());
    tracing::warn!(request = %key, %error, "reconcile failed");
    Action::requeue(context.backoff(&key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(generation: i64, status: Option<ScaffoldRequestStatus>) -> ScaffoldRequest {
        let mut request: ScaffoldRequest = serde_json::from_value(json!({
            "apiVersion": "goldpath.dev/v1alpha1",
            "kind": "ScaffoldRequest",
            "metadata": {
                "name": "r", "namespace": "team", "generation": generation,
                "annotations": { "goldpath.dev/requested-by": "the-cto" },
            },
            "spec": {
                "templateRef": { "name": "t" },
                "requester": { "username": "oidc:jane@example.com", "groups": ["team"] },
            },
        }))
        .unwrap();
        request.status = status;
        request
    }

    #[test]
    fn a_request_is_finished_only_for_the_spec_it_ran() {
        let done = |phase| {
            Some(ScaffoldRequestStatus {
                phase: Some(phase),
                observed_generation: Some(1),
                ..ScaffoldRequestStatus::default()
            })
        };
        assert!(finished(&request(1, done(Phase::Succeeded))));
        assert!(finished(&request(1, done(Phase::Failed))));
        assert!(!finished(&request(2, done(Phase::Failed))));
        assert!(!finished(&request(1, done(Phase::Running))));
        assert!(!finished(&request(1, None)));
    }

    #[test]
    fn the_user_is_the_stamped_requester_never_an_annotation() {
        let user = user(&request(1, None));
        assert_eq!(user["ref"], "user:default/oidc-jane-example.com");
        assert_eq!(user["entity"]["metadata"]["name"], "oidc-jane-example.com");
        assert_eq!(user["kubernetes"]["username"], "oidc:jane@example.com");
        let mut long = request(1, None);
        long.spec.requester = Some(crate::api::Requester {
            username: format!("system:serviceaccount:team:{}", "x".repeat(100)),
            ..Default::default()
        });
        let name = super::user(&long)["entity"]["metadata"]["name"].clone();
        assert_eq!(name.as_str().unwrap().len(), 63);
        let mut anonymous = request(1, None);
        anonymous.spec.requester = None;
        assert_eq!(super::user(&anonymous), Value::Null);
    }
}
