//! The ScaffoldRequest controller: resolves the Template, pins its
//! revision, checks the parameters and runs the steps in order. Each step's
//! outcome is in status before the next step starts; that status is the
//! checkpoint a restarted operator resumes from.
//!
//! `resolve` finds what a request needs (its Template, Secret, user),
//! `steps` runs the step loop, `cleanup` owns the finalizer and the
//! deletion policy; this module wires them into one reconcile.

mod cleanup;
mod resolve;
mod steps;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::conditions::{State, set_condition, set_state};
use super::guard::Guarded;
use super::template::{SourceError, prepared};
use super::{Context, Error, kube_error};
use crate::api::{Phase, ScaffoldRequest, ScaffoldRequestStatus, StepPhase, StepStatus, Template};
use crate::scaffold;
use crate::telemetry::RequestLabels;

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
        return cleanup::finalize(&context, &api, &cached).await;
    }
    cleanup::keep_finalizer(&api, &cached).await?;
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
            .map_err(kube_error(format!(
                "reading {}",
                crate::controller::key(cached.as_ref())
            )))?
    else {
        return Ok(Action::await_change());
    };
    let mut run = Run {
        key: crate::controller::key(&request),
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

/// A failed reconcile (the API server) is tried again with backoff.
pub fn error_policy(request: Arc<ScaffoldRequest>, error: &Error, context: Arc<Context>) -> Action {
    let key = crate::controller::key(request.as_ref());
    tracing::warn!(request = %key, %error, "reconcile failed");
    Action::requeue(context.backoff(&key))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(super) fn request(generation: i64, status: Option<ScaffoldRequestStatus>) -> ScaffoldRequest {
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
}
