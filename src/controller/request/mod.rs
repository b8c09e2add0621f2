//! The ScaffoldRequest controller: resolves the Template, pins its
//! revision, checks the parameters and runs the steps in order. Each step's
//! outcome is in status before the next step starts; that status is the
//! checkpoint a restarted operator resumes from.
//!
//! The rules (what a status becomes, and what must be done for it) are pure
//! functions in `transition`; this module reads the request and performs
//! their effects. `resolve` finds what a request needs (its Template,
//! parameters, Secret, user), `steps` drives the step loop, `cleanup` owns
//! the finalizer and the deletion policy, `upgrade` proposes a Succeeded
//! request's template and parameter changes as pull requests.

mod cleanup;
mod resolve;
mod steps;
mod transition;
mod upgrade;

pub(super) use upgrade::Memos as UpgradeMemos;

use std::ops::ControlFlow;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, ResourceExt};
use tracing::info;

use super::guard::Guarded;
use super::{Context, Error, FIELD_MANAGER, kube_error};
use crate::api::{Phase, ScaffoldApproval, ScaffoldRequest, ScaffoldRequestStatus, Template, UpgradePolicy};
use crate::telemetry::RequestLabels;
use transition::{Effect, Next, Transition};

/// Goes on with what a `ControlFlow` carries, or returns its `Action`.
macro_rules! proceed {
    ($flow:expr) => {
        match $flow? {
            ControlFlow::Continue(value) => value,
            ControlFlow::Break(action) => return Ok(action),
        }
    };
}

/// The unfinished requests that use `template`, and the Succeeded ones
/// that follow its revisions: run again when it changes.
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
                && (upgrade::follows(request)
                    || !transition::is_finished(request.status.as_ref(), request.metadata.generation))
        })
        .map(|request| ObjectRef::from_obj(request.as_ref()))
        .collect()
}

/// The ScaffoldApprovals the request controller watches (in `namespace`,
/// or all). An approval's schema has no free-form field, so any the API
/// server accepted decodes, and a plain watch does (no [`super::guard`]).
pub fn approvals(client: &kube::Client, namespace: Option<&str>) -> Api<ScaffoldApproval> {
    match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    }
}

/// The request `approval` decides a step of: run again when it is made or
/// changes, so a waiting `wait:approval` step goes on at once.
pub fn decided_by(approval: ScaffoldApproval) -> Option<ObjectRef<ScaffoldRequest>> {
    let namespace = approval.namespace()?;
    Some(ObjectRef::new(&approval.spec.request_name).within(&namespace))
}

/// Reconciles one ScaffoldRequest.
pub async fn reconcile(cached: Arc<ScaffoldRequest>, context: Arc<Context>) -> Result<Action, Error> {
    let namespace = cached.namespace().unwrap_or_default();
    let api = Api::<ScaffoldRequest>::namespaced(context.client.clone(), &namespace);
    if cached.metadata.deletion_timestamp.is_some() {
        return cleanup::finalize(&context, &api, &cached).await;
    }
    cleanup::keep_finalizer(&api, &cached).await?;
    if transition::is_finished(cached.status.as_ref(), cached.metadata.generation)
        && !upgrade::follows(&cached)
    {
        return Ok(Action::await_change());
    }
    // The cache can lag behind this controller's own status writes: act on
    // the status as the API server has it, or a step could run twice. One
    // that can no longer be read is reported by the watch.
    let key = super::key(cached.as_ref());
    let Some(Guarded(Ok(request))) =
        Api::<Guarded<ScaffoldRequest>>::namespaced(context.client.clone(), &namespace)
            .get_opt(&cached.name_any())
            .await
            .map_err(kube_error(format!("reading {key}")))?
    else {
        return Ok(Action::await_change());
    };
    let follows = upgrade::follows(&request);
    let edge = Edge {
        key,
        request: Arc::new(request),
        api,
        context,
    };
    if follows {
        return upgrade::reconcile(edge).await;
    }
    let mut run = Run {
        status: edge.request.status.clone().unwrap_or_default(),
        edge,
    };
    run.reconcile().await
}

/// What a transition's effects are performed on: the request, its API and
/// the controller's context.
#[derive(Clone)]
struct Edge {
    key: String,
    request: Arc<ScaffoldRequest>,
    api: Api<ScaffoldRequest>,
    context: Arc<Context>,
}

impl Edge {
    /// Performs `effects` for `status`, in order.
    async fn perform(&self, status: &ScaffoldRequestStatus, effects: Vec<Effect>) -> Result<(), Error> {
        for effect in effects {
            match effect {
                Effect::WriteStatus => self.write_status(status).await?,
                Effect::Event(note) => {
                    self.context
                        .event(
                            self.request.as_ref(),
                            note.type_,
                            &note.reason,
                            &note.action,
                            note.note,
                        )
                        .await;
                }
                Effect::RecordOutcome => {
                    self.record_outcome(status);
                    self.context.succeeded(&self.key);
                }
            }
        }
        Ok(())
    }

    async fn write_status(&self, status: &ScaffoldRequestStatus) -> Result<(), Error> {
        super::status::apply(&self.api, &self.request.name_any(), FIELD_MANAGER, status)
            .await
            .map_err(kube_error(format!("writing the status of {}", self.key)))
    }

    /// What the request's spec asks now, as the API server has it: a
    /// cancel set while the steps run is seen before the next step starts.
    /// `None` when the request is gone or can no longer be read (the watch
    /// reports that).
    async fn asked_now(&self) -> Result<Option<transition::Asked>, Error> {
        let namespace = self.request.namespace().unwrap_or_default();
        let read = Api::<Guarded<ScaffoldRequest>>::namespaced(self.context.client.clone(), &namespace)
            .get_opt(&self.request.name_any())
            .await
            .map_err(kube_error(format!("reading {}", self.key)))?;
        Ok(match read {
            Some(Guarded(Ok(request))) => Some(transition::Asked::of(&request)),
            _ => None,
        })
    }

    /// Counts the request, now Succeeded, Failed or Cancelled, by template and
    /// outcome, and the time since it was created.
    fn record_outcome(&self, status: &ScaffoldRequestStatus) {
        let metrics = &self.context.metrics;
        let template = &self.request.spec.template_ref;
        let namespace = template
            .namespace
            .clone()
            .or_else(|| self.request.namespace())
            .unwrap_or_default();
        let outcome = match status.phase {
            Some(Phase::Succeeded) => "Succeeded",
            Some(Phase::Cancelled) => "Cancelled",
            _ => "Failed",
        };
        info!(request = %self.key, "request {}", outcome.to_lowercase());
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
}

/// One reconcile of one request: its status as the transitions rewrite it.
struct Run {
    status: ScaffoldRequestStatus,
    edge: Edge,
}

impl Run {
    /// Dereference (Template, revision, parameters, Secret), then run the
    /// steps from the checkpoint.
    async fn reconcile(&mut self) -> Result<Action, Error> {
        let asked = transition::Asked::of(&self.edge.request);
        let admitted = transition::admit(self.take_status(), asked, now());
        proceed!(self.apply(admitted).await);
        proceed!(self.requester_known().await);
        let template = proceed!(self.template().await);
        let (prepared, parameters) = proceed!(self.prepare(&template).await);
        if self.edge.request.spec.upgrade_policy == UpgradePolicy::PullRequest {
            // The base a later upgrade merges against.
            self.status.applied_parameters = Some(parameters.clone());
        }
        let secrets = proceed!(self.secrets().await);
        let started = transition::start(
            self.take_status(),
            &prepared.revision,
            resolve::step_list(&prepared.spec),
            || {
                let requester = self.edge.request.spec.requester.as_ref();
                format!(
                    "rendering Template {} at revision {} for {}",
                    template_name(&template),
                    prepared.revision,
                    requester.map_or("", |r| r.username.as_str())
                )
            },
        );
        proceed!(self.apply(started).await);
        self.run_steps(prepared, parameters, secrets, &template).await
    }

    fn take_status(&mut self) -> ScaffoldRequestStatus {
        std::mem::take(&mut self.status)
    }

    /// Takes the transition's status and performs its effects.
    async fn apply(&mut self, transition: Transition) -> Result<ControlFlow<Action>, Error> {
        self.status = transition.status;
        self.edge.perform(&self.status, transition.effects).await?;
        Ok(then(transition.next))
    }
}

/// The controller's answer to what a transition says comes next.
fn then(next: Next) -> ControlFlow<Action> {
    match next {
        Next::Continue => ControlFlow::Continue(()),
        Next::AwaitChange => ControlFlow::Break(Action::await_change()),
        Next::RequeueAfter(delay) => ControlFlow::Break(Action::requeue(delay)),
    }
}

/// The controller's answer once a reconcile has done all it can.
fn finally(next: Next) -> Action {
    match then(next) {
        ControlFlow::Break(action) => action,
        ControlFlow::Continue(()) => Action::await_change(),
    }
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
    let key = super::key(request.as_ref());
    tracing::warn!(request = %key, %error, "reconcile failed");
    Action::requeue(context.backoff(&key))
}
