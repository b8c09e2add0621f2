//! The step loop: runs the steps from the checkpoint on a blocking thread
//! (rendering and git are blocking), each step's start and end going
//! through the transition rules, its status written before the next step
//! starts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use kube::runtime::controller::Action;
use serde_json::Value;
use tokio::runtime::Handle;

use super::transition::{self, Next, StepPlan, Transition};
use super::{Edge, Run, finally, now, template_name};
use crate::actions;
use crate::api::{ScaffoldRequestStatus, Step, Template};
use crate::controller::Error;
use crate::controller::effects::ClusterEffects;
use crate::controller::template::Prepared;
use crate::engine::expression::{Limits, Renderer};
use crate::scaffold::{self, Scaffold};
use crate::telemetry::ActionLabels;

/// What one request renders with, owned, for the blocking thread.
struct Inputs {
    prepared: Arc<Prepared>,
    parameters: Value,
    secrets: BTreeMap<String, String>,
    user: Value,
    template_ref: String,
}

impl Run {
    /// Runs the steps from the first unfinished one, on a blocking thread,
    /// and says what the controller does next.
    pub(super) async fn run_steps(
        &mut self,
        prepared: Arc<Prepared>,
        parameters: Value,
        secrets: BTreeMap<String, String>,
        template: &Template,
    ) -> Result<Action, Error> {
        let inputs = Inputs {
            prepared,
            parameters,
            secrets,
            user: self.edge.request.user(),
            template_ref: format!("template:{}", template_name(template)),
        };
        let handle = Handle::current();
        let mut status = self.take_status();
        let edge = self.edge.clone();
        // The steps log in this reconcile's span, on the blocking thread too.
        let span = tracing::Span::current();
        let (status, next) = tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let steps = StepLoop {
                edge: &edge,
                handle: &handle,
            };
            let next = steps.run(inputs, &mut status);
            (status, next)
        })
        .await
        .map_err(|e| Error::Worker(e.to_string()))?;
        self.status = status;
        Ok(finally(next?))
    }
}

/// The step loop, on a blocking thread.
struct StepLoop<'a> {
    edge: &'a Edge,
    handle: &'a Handle,
}

impl StepLoop<'_> {
    /// Takes a transition's status and performs its effects. The one place
    /// the loop waits on the API server.
    fn apply(&self, status: &mut ScaffoldRequestStatus, transition: Transition) -> Result<Next, Error> {
        *status = transition.status;
        self.handle
            .block_on(self.edge.perform(status, transition.effects))?;
        Ok(transition.next)
    }

    /// Runs step `index`, recording its start and its outcome.
    fn run_step(
        &self,
        scaffold: &mut Scaffold<'_>,
        renderer: &Renderer,
        effects: &mut ClusterEffects<'_>,
        status: &mut ScaffoldRequestStatus,
        index: usize,
        step: &Step,
    ) -> Result<Next, Error> {
        let action = step.action.as_str();
        let started = transition::start_step(std::mem::take(status), index, now());
        self.apply(status, started)?;
        let started = status.steps.get(index);
        effects.step_starts(started);
        let clock = Instant::now();
        let outcome = scaffold.run_step(index, effects);
        self.record_warnings(status, renderer, scaffold)?;
        self.edge
            .context
            .metrics
            .step_duration
            .get_or_create(&ActionLabels {
                action: action.to_string(),
            })
            .observe(clock.elapsed().as_secs_f64());
        let backoff = || self.edge.context.backoff(&self.edge.key);
        let before = std::mem::take(status);
        let waits = actions::find(action).is_some_and(|a| a.needs == actions::Needs::Clock);
        let ended = if outcome.waiting {
            transition::wait_step(before, index, outcome, self.timeout(step), now())
        } else if waits {
            let wait = actions::wait::total(outcome.input.as_ref());
            transition::end_wait_step(before, index, outcome, wait, now(), backoff)
        } else if through_forge_api(action) {
            transition::end_forge_step(before, index, outcome, now(), backoff)
        } else {
            transition::end_step(before, index, outcome, now(), backoff)
        };
        self.apply(status, ended)
    }

    /// How long `step` may wait: its own `timeout` (the Template's check
    /// refused one that does not read), else the configured default.
    fn timeout(&self, step: &Step) -> std::time::Duration {
        step.timeout
            .as_deref()
            .and_then(|text| actions::gate::parse_timeout(text).ok())
            .unwrap_or_else(|| std::time::Duration::from_secs(self.edge.context.config.step_timeout_seconds))
    }

    /// What the spec asks, if it asks to cancel: read again between steps,
    /// since one reconcile runs every step it can.
    fn cancel_asked(&self) -> Result<Option<transition::Asked>, Error> {
        let asked = self.handle.block_on(self.edge.asked_now())?;
        Ok(asked.filter(|asked| asked.cancel))
    }

    fn run(&self, inputs: Inputs, status: &mut ScaffoldRequestStatus) -> Result<Next, Error> {
        let prepared = &inputs.prepared;
        let request = scaffold::Request {
            template: &prepared.spec,
            template_files: &prepared.files,
            parameters: inputs.parameters,
            secrets: inputs.secrets,
            user: inputs.user,
        };
        let renderer = Renderer::new(Limits::default());
        let mut scaffold = Scaffold::new(request, renderer.clone());
        let mut effects = ClusterEffects::new(
            &self.edge.context,
            &self.edge.request,
            &inputs.template_ref,
            self.handle.clone(),
        );
        let mut ran = false;
        for (index, step) in prepared.spec.steps.iter().enumerate() {
            let Some(recorded) = status.steps.get(index) else {
                break;
            };
            let plan = transition::plan_step(recorded, actions::reach(&step.action));
            if ran
                && plan == StepPlan::Run
                && let Some(asked) = self.cancel_asked()?
            {
                let cancelled = transition::cancel(std::mem::take(status), asked, now());
                return self.apply(status, cancelled);
            }
            let next = match plan {
                StepPlan::Restore(output) => {
                    effects.restore(&step.action, &output);
                    scaffold.restore(index, output);
                    Next::Continue
                }
                StepPlan::Rebuild => {
                    effects.step_starts(Some(recorded));
                    let outcome = scaffold.run_step(index, &mut effects);
                    self.record_warnings(status, &renderer, &scaffold)?;
                    let rebuilt =
                        transition::end_rebuild(std::mem::take(status), index, outcome, now(), || {
                            self.edge.context.backoff(&self.edge.key)
                        });
                    self.apply(status, rebuilt)?
                }
                StepPlan::Run => {
                    ran = true;
                    self.run_step(&mut scaffold, &renderer, &mut effects, status, index, step)?
                }
            };
            if next != Next::Continue {
                return Ok(next);
            }
        }
        let output = scaffold.output().map_err(|error| {
            scaffold
                .secrets()
                .redact(&format!("the template's output: {error}"))
        });
        self.record_warnings(status, &renderer, &scaffold)?;
        let completed = transition::complete(std::mem::take(status), output, now());
        self.apply(status, completed)
    }

    /// Puts what rendering warned of since the last call in the status,
    /// secrets masked.
    fn record_warnings(
        &self,
        status: &mut ScaffoldRequestStatus,
        renderer: &Renderer,
        scaffold: &Scaffold,
    ) -> Result<(), Error> {
        let found = renderer
            .warnings()
            .take()
            .masked(|text| scaffold.secrets().redact(text))
            .lines();
        if !found.is_empty() {
            let warned = transition::warn(std::mem::take(status), found);
            self.apply(status, warned)?;
        }
        Ok(())
    }
}

/// Whether `action` makes a repository or pull request through a forge's
/// API, which may roll back one it reported made: its result is confirmed
/// on a later reconcile. That is Gitea's. GitHub keeps what it answered
/// made (a retried GitHub step finds what a killed one left: README,
/// "Forges"); GitLab has not been seen to roll back a repository it
/// reported made; and a push to a plain git host is not rolled back.
fn through_forge_api(action: &str) -> bool {
    matches!(action, "publish:gitea" | "publish:gitea:pull-request")
}
