//! The Template controller: resolves a template's files (inline, or a git
//! ref pinned to a commit), checks the template, and reports `Ready` with
//! the revision requests render against, or `Stalled` naming what to fix.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use tracing::info;

use super::{Context, Error, FIELD_MANAGER, kube_error};
use crate::actions::fetch;
use crate::api::conditions::{self, ConditionType, State, set_state};
use crate::api::{Template, TemplateSpec, TemplateStatus};
use crate::engine::expression::{Limits, Renderer};
use crate::engine::files::{self, TemplateFiles};
use crate::engine::parameters::ParameterSchema;
use crate::git;
use crate::template_check;
use crate::tenancy;

/// A checked template at one revision: what requests render with.
pub struct Prepared {
    /// The template's spec at the generation checked.
    pub spec: TemplateSpec,
    /// Its files at `revision`.
    pub files: TemplateFiles,
    /// Its compiled parameter schema.
    pub schema: ParameterSchema,
    /// The commit (git) or digest (inline) of its files.
    pub revision: String,
    /// What Backstage accepts in it but is likely a mistake.
    pub warnings: Vec<String>,
}

/// Checked templates by UID, generation and revision, so requests do not
/// fetch or compile a template again.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<(String, i64, String), Arc<Prepared>>>,
}

/// How many checked templates are kept.
const CACHE_LIMIT: usize = 256;

impl Cache {
    fn get(&self, key: &(String, i64, String)) -> Option<Arc<Prepared>> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn insert(&self, key: (String, i64, String), prepared: Arc<Prepared>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CACHE_LIMIT {
            entries.clear();
        }
        entries.insert(key, prepared);
    }
}

/// Why a template's files could not be had.
#[derive(Debug)]
pub enum SourceError {
    /// The git server or API server could not be reached; try again later.
    Unavailable(String),
    /// The source is wrong: a bad URL or ref, missing credentials.
    Invalid(String),
    /// The source holds more than the operator's limits allow.
    TooLarge(String),
}

impl SourceError {
    /// The message, whichever kind.
    pub fn message(&self) -> &str {
        match self {
            SourceError::Unavailable(m) | SourceError::Invalid(m) | SourceError::TooLarge(m) => m,
        }
    }
}

/// Reads a template's files: its inline files, or its git source at
/// `revision` (a commit; `None` resolves the ref). Returns the revision read.
async fn read_files(
    context: &Context,
    template: &Template,
    revision: Option<&str>,
) -> Result<(String, TemplateFiles), SourceError> {
    let source = template.spec.source.as_ref();
    if let Some(git_source) = source.and_then(|s| s.git.clone()) {
        let host_keys = tenancy::check_template_source(&context.config.template_sources, &git_source.url)
            .map_err(SourceError::Invalid)?;
        let mut credentials = match &git_source.secret_ref {
            None => None,
            Some(secret) => Some(
                credentials(context, &template.namespace().unwrap_or_default(), &secret.name)
                    .await
                    .map_err(|e| match e {
                        SourceError::Invalid(m) => {
                            SourceError::Invalid(format!("spec.source.git.secretRef: {m}"))
                        }
                        other => other,
                    })?,
            ),
        };
        if let Some(host_keys) = host_keys {
            match credentials.as_mut().and_then(|c| c.ssh.as_mut()) {
                Some(ssh) => ssh.host_keys = host_keys,
                None => {
                    return Err(SourceError::Invalid(
                        "spec.source.git.secretRef: an ssh source needs a Secret of type kubernetes.io/ssh-auth \
                         whose key ssh-privatekey logs in"
                            .into(),
                    ));
                }
            }
        }
        let revision = revision.map(str::to_string);
        let spec = template.spec.clone();
        let cache = context.git_cache.clone();
        let limits = context.config.template_source_limits;
        return tokio::task::spawn_blocking(move || {
            let commit = match revision {
                Some(commit) => commit,
                None => git::resolve(&git_source.url, git_source.ref_.as_deref(), credentials.as_ref())
                    .map_err(|e| git_failure("spec.source.git", &e))?,
            };
            let (read, dir) = fetch::source_dirs(&spec, git_source.path.as_deref().unwrap_or_default());
            let files = git::read_tree(
                &git_source.url,
                &commit,
                Some(&read),
                credentials.as_ref(),
                &cache,
                &limits,
            )
            .map_err(|e| git_failure("spec.source.git", &e))?;
            Ok((commit, TemplateFiles::read_from(files, &read, &dir)))
        })
        .await
        .map_err(|e| SourceError::Unavailable(format!("reading the template's files: {e}")))?;
    }
    let files = source
        .and_then(|s| s.inline.as_ref())
        .map(files::from_inline)
        .unwrap_or_default();
    let digest = files::digest(&files);
    let files = TemplateFiles::at_root(files);
    match revision {
        Some(pinned) if pinned != digest => Err(SourceError::Invalid(format!(
            "the template's inline files changed from revision {pinned} to {digest}; inline files are \
             not kept at earlier revisions"
        ))),
        _ => Ok((digest, files)),
    }
}

fn git_failure(field: &str, error: &git::GitError) -> SourceError {
    let message = format!("{field}: {error}");
    if matches!(error, git::GitError::TooLarge { .. }) {
        SourceError::TooLarge(message)
    } else if error.is_transient() {
        SourceError::Unavailable(message)
    } else {
        SourceError::Invalid(message)
    }
}

/// Reads `username` and `password` from a Secret, or from one of type
/// `kubernetes.io/ssh-auth` its `ssh-privatekey` (and `username`, if set).
pub async fn credentials(
    context: &Context,
    namespace: &str,
    name: &str,
) -> Result<git::Credentials, SourceError> {
    let secret = Api::<Secret>::namespaced(context.client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| SourceError::Unavailable(format!("reading Secret {namespace}/{name}: {e}")))?
        .ok_or_else(|| SourceError::Invalid(format!("Secret {namespace}/{name} does not exist")))?;
    let value = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            .ok_or_else(|| SourceError::Invalid(format!("Secret {namespace}/{name} has no key {key:?}")))
    };
    if secret.type_.as_deref() == Some(SSH_AUTH) {
        // The user name is the URL's (`git@...`) unless the Secret says.
        let username = value("username").unwrap_or_default();
        return Ok(git::Credentials::ssh(
            username,
            value("ssh-privatekey")?,
            Vec::new(),
        ));
    }
    Ok(git::Credentials::new(value("username")?, value("password")?))
}

/// The Secret type of an ssh private key (key `ssh-privatekey`).
const SSH_AUTH: &str = "kubernetes.io/ssh-auth";

/// The template checked at `revision` (its status revision when `None`),
/// from the cache or read and checked now. `Err(problems)` when invalid.
pub async fn prepared(
    context: &Context,
    template: &Template,
    revision: Option<&str>,
) -> Result<Result<Arc<Prepared>, Vec<String>>, SourceError> {
    let uid = template.uid().unwrap_or_default();
    let generation = template.metadata.generation.unwrap_or_default();
    if let Some(revision) = revision
        && let Some(found) = context
            .templates
            .get(&(uid.clone(), generation, revision.to_string()))
    {
        return Ok(Ok(found));
    }
    let (revision, files) = read_files(context, template, revision).await?;
    let key = (uid, generation, revision.clone());
    if let Some(found) = context.templates.get(&key) {
        return Ok(Ok(found));
    }
    let spec = template.spec.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let renderer = Renderer::new(Limits::default());
        template_check::check(&spec, &files, &renderer, template_check::UnknownActions::Refuse).map(
            |checked| Prepared {
                spec,
                files,
                schema: checked.schema,
                revision,
                warnings: checked.warnings.lines(),
            },
        )
    })
    .await
    .map_err(|e| SourceError::Unavailable(format!("checking the template: {e}")))?;
    Ok(checked.map(|prepared| {
        let prepared = Arc::new(prepared);
        context.templates.insert(key, prepared.clone());
        prepared
    }))
}

/// Reconciles one Template.
pub async fn reconcile(template: Arc<Template>, context: Arc<Context>) -> Result<Action, Error> {
    let key = super::key(template.as_ref());
    let old = template.status.clone().unwrap_or_default();
    let mut status = TemplateStatus {
        observed_generation: template.metadata.generation,
        conditions: old.conditions.clone(),
        revision: old.revision.clone(),
        warnings: old.warnings.clone(),
    };
    let follows_ref = template
        .spec
        .source
        .as_ref()
        .and_then(|s| s.git.as_ref())
        .is_some_and(|g| !is_commit_id(g.ref_.as_deref().unwrap_or("")));
    // A Template that follows a branch or tag is looked at again after the
    // refresh interval; one pinned to a commit only when it changes.
    let settled = if follows_ref {
        Action::requeue(Duration::from_secs(
            context.config.template_refresh_seconds.max(1),
        ))
    } else {
        Action::await_change()
    };
    let checked = prepared(&context, &template, None).await;
    let action = record_check(&mut status, checked, &context, &key, settled);
    if template.status.as_ref() != Some(&status) {
        write_status(&template, &old, &status, &context, &key).await?;
    }
    Ok(action)
}

/// Puts the outcome of a check into `status`; the action says when the
/// Template is looked at again (`settled` once the check has an answer).
fn record_check(
    status: &mut TemplateStatus,
    checked: Result<Result<Arc<Prepared>, Vec<String>>, SourceError>,
    context: &Context,
    key: &str,
    settled: Action,
) -> Action {
    let generation = status.observed_generation;
    let now = Timestamp::now();
    let (state, reason, message) = match checked {
        Ok(Ok(prepared)) => {
            status.revision = Some(prepared.revision.clone());
            status.warnings = prepared.warnings.clone();
            let message = format!("revision {} is valid", prepared.revision);
            (State::Ready, "Valid", message)
        }
        Ok(Err(problems)) => {
            status.warnings.clear();
            (State::Stalled, "Invalid", problems.join("; "))
        }
        Err(error @ SourceError::TooLarge(_)) => {
            (State::Stalled, "SourceTooLarge", error.message().to_string())
        }
        Err(error @ SourceError::Invalid(_)) => {
            (State::Stalled, "SourceInvalid", error.message().to_string())
        }
        Err(SourceError::Unavailable(message)) => {
            let delay = context.backoff(key);
            let message = format!("{message}; trying again in {}s", delay.as_secs());
            set_state(
                &mut status.conditions,
                State::Reconciling,
                "SourceUnavailable",
                message,
                generation,
                now,
            );
            return Action::requeue(delay);
        }
    };
    context.succeeded(key);
    set_state(&mut status.conditions, state, reason, message, generation, now);
    settled
}

/// Writes `status` (an apply of the whole status, so warnings that are gone
/// are removed) and publishes an Event when the warnings or the Ready
/// reason changed since `old`, not on every reconcile.
async fn write_status(
    template: &Template,
    old: &TemplateStatus,
    status: &TemplateStatus,
    context: &Context,
    key: &str,
) -> Result<(), Error> {
    let api = Api::<Template>::namespaced(context.client.clone(), &template.namespace().unwrap_or_default());
    super::status::apply(&api, &template.name_any(), FIELD_MANAGER, status)
        .await
        .map_err(kube_error(format!("writing the status of {key}")))?;
    if status.warnings != old.warnings && !status.warnings.is_empty() {
        let note = status.warnings.join("; ");
        context
            .event(template, EventType::Warning, "TemplateWarnings", "Check", note)
            .await;
    }
    let ready = conditions::find(&status.conditions, ConditionType::Ready);
    let changed_state = conditions::find(&old.conditions, ConditionType::Ready).map(|c| &c.reason)
        != ready.map(|c| &c.reason);
    if changed_state && let Some(ready) = ready {
        info!(template = %key, reason = %ready.reason, "template checked");
        let type_ = if ready.status == "True" {
            EventType::Normal
        } else {
            EventType::Warning
        };
        let note = ready.message.clone();
        context.event(template, type_, &ready.reason, "Check", note).await;
    }
    Ok(())
}

/// A failed reconcile (the API server) is tried again with backoff.
pub fn error_policy(template: Arc<Template>, error: &Error, context: Arc<Context>) -> Action {
    let key = super::key(template.as_ref());
    tracing::warn!(template = %key, %error, "reconcile failed");
    Action::requeue(context.backoff(&key))
}

fn is_commit_id(reference: &str) -> bool {
    reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit())
}
