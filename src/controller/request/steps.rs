//! The step loop: runs the steps from the first unfinished one on a
//! blocking thread (rendering and git are blocking), writing each step's
//! outcome to status before the next one starts.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::events::EventType;
use serde_json::{Value, json};
use tokio::runtime::Handle;
use tracing::info;

use super::resolve::user;
use super::{Outcome, Run, now, write_status};
use crate::actions::{self, Reach};
use crate::api::{Phase, ScaffoldRequest, ScaffoldRequestStatus, StepPhase, Template};
use crate::controller::conditions::{State, set_state};
use crate::controller::effects::ClusterEffects;
use crate::controller::template::Prepared;
use crate::controller::{Context, Error, kube_error};
use crate::engine::expression::{Limits, Renderer};
use crate::scaffold::{self, Scaffold};
use crate::telemetry::ActionLabels;

impl Run {
    /// (rendering and git are blocking), writing status between steps.
    pub(super) async fn run_steps(
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
                        .map(|m| crate::controller::truncate(m, 4000));
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
