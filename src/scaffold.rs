//! Running a template's steps for one request: each step's `if` decides
//! whether it runs, `each` repeats it, its input is rendered with the
//! parameters and earlier steps' outputs, and its action runs. Steps run one
//! at a time so a caller can record each outcome before the next starts.

use std::collections::BTreeMap;

use minijinja::Value as Context;
use minijinja::value::Serde;
use serde_json::{Map, Value, json};

use crate::actions::{self, Action, ActionContext, ActionError, Effects, Reach, WorldInput};
use crate::api::{OutputLink, OutputText, RequestOutput, StepPhase, TemplateSpec};
use crate::engine::expression::{RenderError, Renderer, is_truthy};
use crate::engine::files::{FileTree, TemplateFiles};
use crate::redact::Secrets;

/// Everything one request renders with.
pub struct Request<'a> {
    /// The template's spec.
    pub template: &'a TemplateSpec,
    /// The template's files.
    pub template_files: &'a TemplateFiles,
    /// Parameter values, validated and with defaults applied.
    pub parameters: Value,
    /// `${{ secrets.* }}`: values never shown anywhere.
    pub secrets: BTreeMap<String, String>,
    /// `${{ user.* }}`: `{ref, entity}` of who asked, when known.
    pub user: Value,
}

/// What happened to one step.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// The step's id (`step-N` when it has none).
    pub id: String,
    /// The step's action.
    pub action: String,
    /// Succeeded, Failed or Skipped; Running when it waits.
    pub phase: StepPhase,
    /// The rendered input, secrets masked; `None` when the step was skipped
    /// or its input did not render.
    pub input: Option<Value>,
    /// The step's output, secrets masked.
    pub output: Value,
    /// Why it was skipped or failed, or what it waits for.
    pub message: Option<String>,
    /// What the action logged, secrets masked.
    pub log: Vec<String>,
    /// Whether a failure may pass when tried again.
    pub transient: bool,
    /// How long to wait before that, when the server said; for a step
    /// that waits, when to look again.
    pub retry_after: Option<std::time::Duration>,
    /// Whether the action answered that it waits (a gated step,
    /// [`actions::gate`]): not finished, to be looked at again.
    pub waiting: bool,
}

/// A request's run: its workspace and the outputs of the steps so far.
pub struct Scaffold<'a> {
    request: Request<'a>,
    renderer: Renderer,
    secrets: Secrets,
    workspace: FileTree,
    outputs: Map<String, Value>,
}

/// The id a step goes by: its own, or `step-N` (from 1) when it has none.
pub fn step_id(template: &TemplateSpec, index: usize) -> String {
    template
        .steps
        .get(index)
        .and_then(|s| s.id.clone())
        .unwrap_or_else(|| format!("step-{}", index + 1))
}

impl<'a> Scaffold<'a> {
    /// Starts a run that renders with `renderer` (its limits and deadline).
    pub fn new(request: Request<'a>, renderer: Renderer) -> Self {
        let secrets = Secrets::new(request.secrets.values().cloned());
        Scaffold {
            request,
            renderer,
            secrets,
            workspace: FileTree::new(),
            outputs: Map::new(),
        }
    }

    /// The workspace as the steps so far left it.
    pub fn workspace(&self) -> &FileTree {
        &self.workspace
    }

    /// The request's secrets, for masking what callers show.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Records the output of a step that already ran, e.g. before the
    /// operator restarted, so later steps read it without running it again.
    pub fn restore(&mut self, index: usize, output: Value) {
        self.outputs
            .insert(step_id(self.request.template, index), json!({ "output": output }));
    }

    /// Runs step `index`; effects outside the workspace go to `effects`.
    pub fn run_step(&mut self, index: usize, effects: &mut dyn Effects) -> StepOutcome {
        let template = self.request.template;
        let id = step_id(template, index);
        let mut outcome = StepOutcome {
            id: id.clone(),
            action: String::new(),
            phase: StepPhase::Failed,
            input: None,
            output: json!({}),
            message: None,
            log: Vec::new(),
            transient: false,
            retry_after: None,
            waiting: false,
        };
        let Some(step) = template.steps.get(index) else {
            outcome.message = Some(format!("the template has no step {}", index + 1));
            return outcome;
        };
        outcome.action = step.action.clone();
        let mut log = Vec::new();
        match self.execute(index, &id, &mut log, &mut outcome.input, effects) {
            Ok(Some(output)) => {
                outcome.phase = StepPhase::Succeeded;
                outcome.output = self.secrets.redact_value(&output);
                self.outputs.insert(id, json!({ "output": output }));
            }
            Ok(None) => {
                outcome.phase = StepPhase::Skipped;
                outcome.message = Some("skipped: its `if` is false".into());
                self.outputs.insert(id, json!({ "output": {} }));
            }
            Err(error) if error.waiting => {
                outcome.phase = StepPhase::Running;
                outcome.waiting = true;
                outcome.retry_after = error.retry_after;
                outcome.message = Some(self.secrets.redact(&error.message));
            }
            Err(error) => {
                outcome.transient = error.transient;
                outcome.retry_after = error.retry_after;
                outcome.message = Some(
                    self.secrets
                        .redact(&format!("step {id} ({}): {}", step.action, error.message)),
                );
            }
        }
        outcome.log = log.iter().map(|line| self.secrets.redact(line)).collect();
        outcome
    }

    fn execute(
        &mut self,
        index: usize,
        id: &str,
        log: &mut Vec<String>,
        rendered_input: &mut Option<Value>,
        effects: &mut dyn Effects,
    ) -> Result<Option<Value>, ActionError> {
        let step = &self.request.template.steps[index];
        // An action goldpath does not know passes the check only where
        // steps outside the workspace are shown, not run (`goldpath render`).
        let action = actions::find(&step.action);
        let context = self.context(None);
        if let Some(condition) = &step.if_ {
            let rendered = self
                .renderer
                .render_value(&format!("steps[{id}].if"), condition, &context)
                .map_err(render_failed)?;
            if !is_truthy(rendered.as_ref()) {
                return Ok(None);
            }
        }
        let iterations = self.iterations(id, step.each.as_ref(), &context)?;
        let mut combined = Map::new();
        let mut inputs = Vec::new();
        for (i, each) in iterations.into_iter().enumerate() {
            let repeated = each.is_some();
            // Each iteration may be cheap to render and slow to run; the
            // request's deadline holds across all of them.
            if repeated {
                self.renderer
                    .check_deadline(&format!("steps[{id}].each[{i}]"))
                    .map_err(render_failed)?;
            }
            let context = self.context(each.as_ref());
            let input = step.input.clone().unwrap_or_else(|| json!({}));
            let input = self
                .renderer
                .render_value(&format!("steps[{id}].input"), &input, &context)
                .map_err(render_failed)?
                .unwrap_or_else(|| json!({}));
            inputs.push(self.secrets.redact_value(&input));
            let output = self.run_action(action, &step.action, &input, log, effects)?;
            // Backstage gathers a repeated step's outputs into lists.
            if let Value::Object(fields) = output {
                for (key, value) in fields {
                    if repeated {
                        let list = combined.entry(key).or_insert_with(|| json!([]));
                        if let Value::Array(items) = list {
                            items.push(value);
                        }
                    } else {
                        combined.insert(key, value);
                    }
                }
            }
        }
        *rendered_input = Some(if step.each.is_some() {
            Value::Array(inputs)
        } else {
            inputs.pop().unwrap_or_default()
        });
        Ok(Some(Value::Object(combined)))
    }

    /// The `each` values a step runs with: one run without any when it has
    /// no `each`, else one per item of the list or entry of the object.
    fn iterations(
        &self,
        id: &str,
        each: Option<&Value>,
        context: &Context,
    ) -> Result<Vec<Option<Value>>, ActionError> {
        let Some(each) = each else {
            return Ok(vec![None]);
        };
        let rendered = self
            .renderer
            .render_value(&format!("steps[{id}].each"), each, context)
            .map_err(render_failed)?;
        Ok(match rendered {
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(key, value)| Some(json!({"key": key, "value": value})))
                .collect(),
            Some(Value::Object(fields)) => fields
                .into_iter()
                .map(|(key, value)| Some(json!({"key": key, "value": value})))
                .collect(),
            None => Vec::new(),
            Some(other) => {
                return Err(ActionError::permanent(format!(
                    "`each` must be a list or an object, not {}",
                    actions::kind_of(&other)
                )));
            }
        })
    }

    /// Runs `action` (named `name`) with its rendered `input`: in the
    /// workspace, or through `effects` for one that reaches outside it or
    /// that goldpath does not know.
    fn run_action(
        &mut self,
        action: Option<&Action>,
        name: &str,
        input: &Value,
        log: &mut Vec<String>,
        effects: &mut dyn Effects,
    ) -> Result<Value, ActionError> {
        let Some(action) = action else {
            return effects.run(&WorldInput::Unknown(name.to_string()), &self.workspace);
        };
        match action.reach() {
            Reach::Workspace => {
                let mut context = ActionContext {
                    template_files: self.request.template_files,
                    renderer: &self.renderer,
                    log,
                };
                actions::run_in_workspace(action.kind, input, &mut context, &mut self.workspace)
            }
            Reach::World => {
                let output = effects.run(&WorldInput::decode(action.kind, input)?, &self.workspace)?;
                log.extend(actions::note(action.kind, &output));
                Ok(output)
            }
        }
    }

    fn context(&self, each: Option<&Value>) -> Context {
        let mut context = json!({
            "parameters": self.request.parameters,
            "steps": self.outputs,
            "secrets": self.request.secrets,
            "user": self.request.user,
        });
        if let (Some(each), Value::Object(fields)) = (each, &mut context) {
            fields.insert("each".into(), each.clone());
        }
        Context::from(Serde(context))
    }

    /// The template's `output`, rendered with every step's output; links and
    /// text blocks whose `if` is false, and links that render to nothing,
    /// are left out.
    pub fn output(&self) -> Result<RequestOutput, RenderError> {
        let Some(output) = &self.request.template.output else {
            return Ok(RequestOutput::default());
        };
        let context = self.context(None);
        let render = |location: String, value: Option<&String>| -> Result<Option<String>, RenderError> {
            let Some(value) = value else { return Ok(None) };
            Ok(self
                .renderer
                .render_value(&location, &Value::String(value.clone()), &context)?
                .map(|v| {
                    self.secrets
                        .redact(&v.as_str().map_or_else(|| v.to_string(), str::to_string))
                }))
        };
        let mut links = Vec::new();
        for (i, link) in output.links.iter().enumerate() {
            if let Some(condition) = &link.if_
                && !is_truthy(
                    self.renderer
                        .render_value(&format!("output.links[{i}].if"), condition, &context)?
                        .as_ref(),
                )
            {
                continue;
            }
            let rendered = OutputLink {
                title: render(format!("output.links[{i}].title"), link.title.as_ref())?,
                url: render(format!("output.links[{i}].url"), link.url.as_ref())?,
                entity_ref: render(format!("output.links[{i}].entityRef"), link.entity_ref.as_ref())?,
                icon: link.icon.clone(),
                if_: None,
            };
            if rendered.url.is_some() || rendered.entity_ref.is_some() {
                links.push(rendered);
            }
        }
        let mut text = Vec::new();
        for (i, block) in output.text.iter().enumerate() {
            if let Some(condition) = &block.if_
                && !is_truthy(
                    self.renderer
                        .render_value(&format!("output.text[{i}].if"), condition, &context)?
                        .as_ref(),
                )
            {
                continue;
            }
            text.push(OutputText {
                title: render(format!("output.text[{i}].title"), block.title.as_ref())?,
                content: render(format!("output.text[{i}].content"), block.content.as_ref())?,
                icon: block.icon.clone(),
                default: block.default,
                if_: None,
            });
        }
        Ok(RequestOutput { links, text })
    }
}

fn render_failed(error: RenderError) -> ActionError {
    ActionError::permanent(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::{Effects, WorldInput};
    use crate::engine::expression::Limits;
    use std::time::Duration;

    /// Effects whose second call outlasts the request's time.
    struct SlowEffects {
        calls: usize,
        pause: Duration,
    }

    impl Effects for SlowEffects {
        fn run(&mut self, _: &WorldInput, _: &FileTree) -> Result<Value, ActionError> {
            self.calls += 1;
            if self.calls == 2 {
                std::thread::sleep(self.pause);
            }
            Ok(json!({}))
        }
    }

    #[test]
    fn the_deadline_stops_an_each_loop_between_iterations() {
        let template: TemplateSpec = serde_json::from_value(json!({
            "type": "service",
            "steps": [{
                "id": "many",
                "action": "catalog:fetch",
                "each": "${{ range(100000) }}",
                "input": { "entityRef": "component:${{ each.value }}" },
            }],
        }))
        .unwrap();
        let files = TemplateFiles::default();
        let request = Request {
            template: &template,
            template_files: &files,
            parameters: json!({}),
            secrets: BTreeMap::new(),
            user: json!({}),
        };
        let timeout = Duration::from_secs(1);
        let mut run = Scaffold::new(
            request,
            Renderer::new(Limits {
                timeout,
                ..Limits::default()
            }),
        );
        let mut effects = SlowEffects {
            calls: 0,
            pause: timeout + Duration::from_millis(100),
        };
        let outcome = run.run_step(0, &mut effects);
        assert_eq!(outcome.phase, StepPhase::Failed);
        let message = outcome.message.unwrap_or_default();
        // The second iteration outlasts the deadline, so no third one runs; on
        // a loaded machine the deadline may pass even before the second.
        assert!(effects.calls <= 2, "{} iterations ran", effects.calls);
        let stopped_at = format!("steps[many].each[{}]", effects.calls);
        assert!(
            message.contains(&stopped_at) && message.contains("takes too long"),
            "{message}"
        );
    }
}
