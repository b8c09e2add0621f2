//! A request's repository content at a template revision: the template's
//! steps rendered with the request's parameters and secrets, nothing
//! outside the workspace done, up to the step that published the
//! repository, whose destination and files are taken as that step would
//! publish them. Checked as the step is: the namespace's publish owners and
//! the operator's `gitHosts` decide where it goes.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::actions::publish::Publish;
use crate::actions::{ActionError, Effects, WorldInput, github, gitlab};
use crate::api::StepPhase;
use crate::config::{Config, TenantRules};
use crate::controller::template::Prepared;
use crate::engine::expression::{Limits, Renderer};
use crate::engine::files::FileTree;
use crate::scaffold::{self, Scaffold};

/// What the publishing step of a rendering would publish, and with which
/// token.
pub struct Rendered {
    /// The repository, its route and the files.
    pub publish: Publish,
    /// The step's own `token` input, which the push and the forge's API
    /// use in place of the host's, as the step did.
    pub token: Option<String>,
}

/// Takes the first publishing step's input instead of running it; every
/// other effect is planned, not run.
struct Capture<'a> {
    config: &'a Config,
    tenant: &'a TenantRules,
    found: Option<Result<Rendered, ActionError>>,
}

impl Effects for Capture<'_> {
    fn run(&mut self, input: &WorldInput, workspace: &FileTree) -> Result<Value, ActionError> {
        if self.found.is_some() {
            return Ok(Value::Object(serde_json::Map::new()));
        }
        let (config, tenant) = (self.config, self.tenant);
        self.found = match input {
            WorldInput::Publish(kind, input) => Some(
                Publish::resolve(*kind, input, config, tenant, workspace).map(|publish| Rendered {
                    publish,
                    token: input.token.clone(),
                }),
            ),
            WorldInput::PublishGithub(input) => Some(github::resolve(input, config, tenant, workspace).map(
                |publish| Rendered {
                    publish,
                    token: input.common.token.clone(),
                },
            )),
            WorldInput::PublishGitlab(input) => Some(gitlab::resolve(input, config, tenant, workspace).map(
                |resolved| Rendered {
                    publish: resolved.publish,
                    token: input.token.clone(),
                },
            )),
            _ => None,
        };
        Ok(Value::Object(serde_json::Map::new()))
    }
}

/// Renders `prepared` with the request's values up to its first publishing
/// step (`publish:gitea`, `publish:github`, `publish:gitlab`,
/// `publish:git`). The error names the step and what went wrong, secrets
/// masked.
pub fn render(
    prepared: &Prepared,
    parameters: Value,
    secrets: BTreeMap<String, String>,
    user: Value,
    config: &Config,
    tenant: &TenantRules,
) -> Result<Rendered, String> {
    let request = scaffold::Request {
        template: &prepared.spec,
        template_files: &prepared.files,
        parameters,
        secrets,
        user,
    };
    let mut scaffold = Scaffold::new(request, Renderer::new(Limits::default()));
    let mut capture = Capture {
        config,
        tenant,
        found: None,
    };
    for index in 0..prepared.spec.steps.len() {
        let outcome = scaffold.run_step(index, &mut capture);
        if let Some(found) = capture.found.take() {
            return found.map_err(|e| {
                scaffold
                    .secrets()
                    .redact(&format!("step {}: {}", outcome.id, e.message))
            });
        }
        if outcome.phase == StepPhase::Failed {
            let message = outcome.message.unwrap_or_default();
            return Err(scaffold
                .secrets()
                .redact(&format!("step {}: {message}", outcome.id)));
        }
    }
    Err(
        "the template has no publish:gitea, publish:github, publish:gitlab or publish:git step that ran: \
         there is no repository to upgrade"
            .into(),
    )
}
