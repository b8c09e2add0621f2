//! Carrying out GitHub's steps on a repository that exists
//! (`github:branch-protection:create`, `github:webhook`,
//! `github:actions:dispatch`, `github:pages:enable`) through a
//! [`Publisher`]'s forge client, each safe to run again after a crash: a
//! `PUT`, a lookup before the call, or GitHub's own answer to a repeat.

use std::time::Duration;

use super::ActionError;
use super::ActionKind;
use super::github_api::{self, BranchProtectionInput, DispatchInput, PagesInput, Target, WebhookInput};
use super::push::{Publisher, Remote, step_token};
use crate::forge::{self, Forge};

/// A GitHub step on an existing repository: `call` with the forge's
/// client; the step's output is empty.
fn on_github<P: Publisher + ?Sized>(
    publisher: &mut P,
    action: ActionKind,
    repo_url: &str,
    token: Option<&str>,
    call: impl FnOnce(&P, &P::Forge, &Target) -> Result<(), ActionError>,
) -> Result<serde_json::Value, ActionError> {
    let publishing = publisher.publishing();
    let config = publishing.config;
    let target = github_api::target(action, repo_url, config, &config.tenant(publishing.namespace))?;
    let Remote { forge, .. } = publisher.remote(&target.host, &target.route, step_token(token), true)?;
    let forge = forge.ok_or_else(|| ActionError::permanent("the repoUrl's host has no API client"))?;
    let result = call(publisher, &forge, &target);
    publisher.finished(Some(&forge));
    result.map(|()| serde_json::Value::Object(Default::default()))
}

/// `github:branch-protection:create`: the branch named, else the
/// repository's default branch, protected (`PUT`: a retry sets the same
/// rules).
pub fn github_branch_protection<P: Publisher + ?Sized>(
    publisher: &mut P,
    input: &BranchProtectionInput,
) -> Result<serde_json::Value, ActionError> {
    let mut rule = github_api::branch_rule(input)?;
    on_github(
        publisher,
        ActionKind::GithubBranchProtection,
        &input.repo_url,
        input.token.as_deref(),
        |publisher, forge, target| {
            if rule.branch.is_empty() {
                rule.branch = publisher
                    .wait(forge::existing_repository(forge, &target.id))?
                    .default_branch;
            }
            Ok(publisher.wait(forge.protect_branch(&target.id, &rule))?)
        },
    )
}

/// `github:webhook`: the webhook made, unless one with its URL is there.
pub fn github_webhook<P: Publisher + ?Sized>(
    publisher: &mut P,
    input: &WebhookInput,
) -> Result<serde_json::Value, ActionError> {
    let hook = github_api::webhook(input)?;
    on_github(
        publisher,
        ActionKind::GithubWebhook,
        &input.repo_url,
        input.token.as_deref(),
        |publisher, forge, target| {
            Ok(publisher
                .wait(forge.ensure_webhook(&target.id, &hook))
                .map(drop)?)
        },
    )
}

/// `github:actions:dispatch`: a run of the workflow started, at most once.
/// GitHub cannot recognise a dispatch afterwards, so where the step's first
/// start is recorded (in the cluster, before any call), a run of the
/// workflow on the ref dispatched since then is taken as this step's, made
/// by an attempt killed before it recorded the step done, and none is
/// started again. The dispatch itself is never resent by the transport; a
/// dispatch without an answer is looked for after [`DISPATCH_SETTLE`].
pub fn github_dispatch<P: Publisher + ?Sized>(
    publisher: &mut P,
    input: &DispatchInput,
) -> Result<serde_json::Value, ActionError> {
    let inputs = github_api::workflow_inputs(input)?;
    let step_started = publisher.publishing().step_started;
    on_github(
        publisher,
        ActionKind::GithubActionsDispatch,
        &input.repo_url,
        input.token.as_deref(),
        |publisher, forge, target| {
            let (workflow, git_ref) = (&input.workflow_id, &input.branch_or_tag_name);
            if let Some(started) = step_started
                && publisher
                    .wait(forge.find_dispatched_run(&target.id, workflow, git_ref, started))?
                    .is_some()
            {
                return Ok(());
            }
            publisher
                .wait(forge.dispatch_workflow(&target.id, workflow, git_ref, &inputs))
                .map_err(|error| {
                    let mut error = ActionError::from(error);
                    // Whether GitHub started a run is unknown: the next
                    // attempt looks for one, once GitHub lists it.
                    if error.transient {
                        error.retry_after = Some(error.retry_after.unwrap_or_default().max(DISPATCH_SETTLE));
                    }
                    error
                })
        },
    )
}

/// How long after a dispatch whose answer was lost the step looks for its
/// run: GitHub lists a dispatched run within seconds.
pub const DISPATCH_SETTLE: Duration = Duration::from_secs(30);

/// `github:pages:enable`: pages turned on, or found on.
pub fn github_pages<P: Publisher + ?Sized>(
    publisher: &mut P,
    input: &PagesInput,
) -> Result<serde_json::Value, ActionError> {
    let pages = github_api::pages(input)?;
    on_github(
        publisher,
        ActionKind::GithubPagesEnable,
        &input.repo_url,
        input.token.as_deref(),
        |publisher, forge, target| Ok(publisher.wait(forge.enable_pages(&target.id, &pages))?),
    )
}
