//! What a request needs before its steps run, dereferenced and checked: a
//! stamped requester, the Template it names (if that grants access and is
//! checked), its pinned revision and valid parameters, the values of its
//! Secret, and `${{ user }}`. What is missing is reported on the request as
//! a wait or a rejection.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::Value;

use super::{Run, now, template_name, transition};
use crate::api::conditions::{self, ConditionType, State};
use crate::api::{ScaffoldRequest, Template, TemplateSpec};
use crate::controller::guard::Guarded;
use crate::controller::template::{Prepared, SourceError, prepared};
use crate::controller::{Context, Error, kube_error};
use crate::scaffold;

/// A step of resolution: its value, or what the controller does instead.
type Resolved<T> = Result<ControlFlow<Action, T>, Error>;

impl Run {
    /// The request waits for something outside it to change.
    /// The request waits for something outside it to change, looked at
    /// again after `retry` if given.
    async fn wait<T>(
        &mut self,
        state: State,
        reason: &str,
        message: String,
        retry: Option<Duration>,
    ) -> Resolved<T> {
        let before = self.edge.request.status.clone();
        let status = self.take_status();
        let waiting = transition::wait(before.as_ref(), status, state, reason, message, retry, now());
        self.apply(waiting).await.map(stopped)
    }

    /// The request fails before any step ran.
    async fn reject<T>(&mut self, reason: &str, message: String) -> Resolved<T> {
        let status = self.take_status();
        self.apply(transition::reject(status, reason, message, now()))
            .await
            .map(stopped)
    }

    /// Whether the API server recorded who created the request.
    pub(super) async fn requester_known(&mut self) -> Resolved<()> {
        if self.edge.request.spec.requester.is_some() {
            return Ok(ControlFlow::Continue(()));
        }
        // Without the stamp nobody vouches for who asked, so nothing can be
        // done in their name. The policy stamps only at create: the request
        // must be created again once it is installed.
        self.reject(
            "RequesterUnknown",
            "spec.requester is not set: the API server did not record who created this request, so \
             goldpath does not act for it. The goldpath chart's MutatingAdmissionPolicy \
             (admissionregistration.k8s.io/v1) stamps it at create; install it and create the request \
             again"
                .into(),
        )
        .await
    }

    /// The Template the request names, if it exists, grants access and
    /// (before the revision is pinned) is checked.
    pub(super) async fn template(&mut self) -> Resolved<Template> {
        let template = match self.granted_template().await? {
            ControlFlow::Continue(template) => template,
            ControlFlow::Break(action) => return Ok(ControlFlow::Break(action)),
        };
        if self.status.template_revision.is_some() {
            return Ok(ControlFlow::Continue(template));
        }
        let status = template.status.clone().unwrap_or_default();
        let ready = conditions::find(&status.conditions, ConditionType::Ready);
        let current = status.observed_generation == template.metadata.generation;
        let name = template_name(&template);
        let waiting = match ready {
            Some(ready) if current && ready.status == "True" => return Ok(ControlFlow::Continue(template)),
            Some(ready) if current && ready.reason != "SourceUnavailable" => (
                State::Stalled,
                "TemplateInvalid",
                format!("Template {name} is invalid: {}", ready.message),
            ),
            _ => (
                State::Reconciling,
                "TemplateNotReady",
                format!("waiting for Template {name} to be checked"),
            ),
        };
        let (state, reason, message) = waiting;
        self.wait(state, reason, message, None).await
    }

    /// The Template the request names, if it can be read and grants the
    /// request's namespace access.
    async fn granted_template(&mut self) -> Resolved<Template> {
        let own_namespace = self.edge.request.namespace().unwrap_or_default();
        let reference = self.edge.request.spec.template_ref.clone();
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| own_namespace.clone());
        let name = format!("{namespace}/{}", reference.name);
        let found = Api::<Guarded<Template>>::namespaced(self.edge.context.client.clone(), &namespace)
            .get_opt(&reference.name)
            .await
            .map_err(kube_error(format!("reading Template {name}")))?;
        let (reason, message) = match found {
            Some(Guarded(Err(bad))) => (
                "TemplateUndecodable",
                format!(
                    "spec.templateRef: Template {name} cannot be read: {}",
                    bad.problem
                ),
            ),
            None => (
                "TemplateNotFound",
                format!(
                    "spec.templateRef: Template {name} does not exist; the request starts when it is created"
                ),
            ),
            Some(Guarded(Ok(template))) if granted(&template, &namespace, &own_namespace) => {
                return Ok(ControlFlow::Continue(template));
            }
            Some(Guarded(Ok(_))) => (
                "AccessDenied",
                format!(
                    "spec.templateRef: Template {name} does not grant namespace {own_namespace} access; its \
                     owners can add it to spec.access.namespaces"
                ),
            ),
        };
        self.wait(State::Stalled, reason, message, None).await
    }

    /// The Template's files at the request's revision (pinned, or current),
    /// and the request's parameters checked against its schema.
    pub(super) async fn prepare(&mut self, template: &Template) -> Resolved<(Arc<Prepared>, Value)> {
        let name = template_name(template);
        let revision = self.status.template_revision.clone();
        let waiting = match prepared(&self.edge.context, template, revision.as_deref()).await {
            Ok(Ok(prepared)) => match prepared.schema.validate(&self.edge.request.spec.parameters) {
                Ok(parameters) => return Ok(ControlFlow::Continue((prepared, parameters))),
                Err(errors) => {
                    let message = errors
                        .iter()
                        .map(|e| match e.field.as_str() {
                            "" => format!("spec.parameters: {}", e.message),
                            field => format!("spec.parameters.{field}: {}", e.message),
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    return self.reject("InvalidParameters", message).await;
                }
            },
            Ok(Err(problems)) => (
                State::Stalled,
                "TemplateInvalid",
                format!("Template {name} is invalid: {}", problems.join("; ")),
                None,
            ),
            Err(SourceError::Invalid(message) | SourceError::TooLarge(message)) => (
                State::Stalled,
                "TemplateUnavailable",
                format!("Template {name}: {message}"),
                None,
            ),
            Err(SourceError::Unavailable(message)) => {
                let delay = self.edge.context.backoff(&self.edge.key);
                let message = format!("Template {name}: {message}; trying again in {}s", delay.as_secs());
                (State::Reconciling, "TemplateUnavailable", message, Some(delay))
            }
        };
        let (state, reason, message, retry) = waiting;
        self.wait(state, reason, message, retry).await
    }

    /// The values of `spec.secretRef`; a missing Secret is waited for, from
    /// a second doubling to a minute: a task created through the portal API
    /// names its Secret before the Secret is written, so it is usually
    /// there a moment later.
    pub(super) async fn secrets(&mut self) -> Resolved<BTreeMap<String, String>> {
        match read_secrets(&self.edge.context, &self.edge.request).await? {
            Ok(values) => Ok(ControlFlow::Continue(values)),
            Err(message) => {
                let retry = Some(self.edge.context.backoff(&self.edge.key));
                self.wait(State::Stalled, "SecretNotFound", message, retry).await
            }
        }
    }
}

/// The values of `request`'s `spec.secretRef` (none without one), or what
/// is missing.
pub(super) async fn read_secrets(
    context: &Context,
    request: &ScaffoldRequest,
) -> Result<Result<BTreeMap<String, String>, String>, Error> {
    let Some(reference) = request.spec.secret_ref.clone() else {
        return Ok(Ok(BTreeMap::new()));
    };
    let namespace = request.namespace().unwrap_or_default();
    let secret = Api::<Secret>::namespaced(context.client.clone(), &namespace)
        .get_opt(&reference.name)
        .await
        .map_err(kube_error(format!(
            "reading Secret {namespace}/{}",
            reference.name
        )))?;
    let Some(secret) = secret else {
        return Ok(Err(format!(
            "spec.secretRef: Secret {namespace}/{} does not exist",
            reference.name
        )));
    };
    Ok(Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, String::from_utf8_lossy(&value.0).into_owned()))
        .chain(secret.string_data.unwrap_or_default())
        .collect()))
}

/// A wait or a rejection never goes on: what the controller does instead.
fn stopped<T>(flow: ControlFlow<Action>) -> ControlFlow<Action, T> {
    ControlFlow::Break(flow.break_value().unwrap_or_else(Action::await_change))
}

/// Whether `template`, in `namespace`, may be used by requests in
/// `requester`: its own namespace always, others when it lists them.
pub(super) fn granted(template: &Template, namespace: &str, requester: &str) -> bool {
    namespace == requester
        || template
            .spec
            .access
            .as_ref()
            .is_some_and(|a| a.namespaces.iter().any(|n| n == "*" || n == requester))
}

/// The step list a request's status starts with: each step's id and action.
pub(super) fn step_list(spec: &TemplateSpec) -> Vec<(String, String)> {
    (0..spec.steps.len())
        .map(|index| (scaffold::step_id(spec, index), spec.steps[index].action.clone()))
        .collect()
}
