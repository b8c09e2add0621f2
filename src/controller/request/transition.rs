//! The rules of a request's life, as pure functions: each takes the status
//! as it is (and `now` where it records a time) and returns the next status
//! with the effects the I/O edge performs, in order, and what the
//! controller does after. Nothing here reads the cluster or the clock.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::events::EventType;
use serde_json::Value;

use crate::actions::Reach;
use crate::api::conditions::{self, ConditionState, ConditionType, State, set_state};
use crate::api::{
    DeletionPolicy, Phase, RequestOutput, ScaffoldRequest, ScaffoldRequestStatus, StepPhase, StepStatus,
};
use crate::engine::warnings::MAX_WARNINGS;
use crate::scaffold::StepOutcome;

/// How long a step's message may be in status.
const STEP_MESSAGE_LIMIT: usize = 4000;

/// How long after a forge step's success its result is checked again.
pub const CONFIRM_AFTER: Duration = Duration::from_secs(1);

/// The next status, what to do to get there, and what follows.
#[derive(Debug)]
pub struct Transition {
    /// The status after the rule.
    pub status: ScaffoldRequestStatus,
    /// What the edge performs, in this order.
    pub effects: Vec<Effect>,
    /// What the controller does once the effects are done.
    pub next: Next,
}

/// Something the I/O edge does for a transition.
#[derive(Debug, PartialEq)]
pub enum Effect {
    /// Writes the transition's status.
    WriteStatus,
    /// Publishes an Event about the request.
    Event(Note),
    /// Counts the request, now Succeeded or Failed, and forgets its
    /// backoff.
    RecordOutcome,
}

/// An Event's content.
#[derive(Debug, PartialEq)]
pub struct Note {
    /// Normal or Warning.
    pub type_: EventType,
    /// The machine-readable reason.
    pub reason: String,
    /// Which part of the work it is about, e.g. `Step publish`.
    pub action: String,
    /// What happened, for people.
    pub note: String,
}

/// What the controller does after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Go on with the request in this reconcile.
    Continue,
    /// Nothing until the request (or what it waits for) changes.
    AwaitChange,
    /// Reconcile again after this long.
    RequeueAfter(Duration),
}

impl Transition {
    fn new(status: ScaffoldRequestStatus, effects: Vec<Effect>, next: Next) -> Self {
        Transition {
            status,
            effects,
            next,
        }
    }
}

fn event(type_: EventType, reason: &str, action: &str, note: impl Into<String>) -> Effect {
    Effect::Event(Note {
        type_,
        reason: reason.into(),
        action: action.into(),
        note: note.into(),
    })
}

/// What a request's spec asks of its life: the spec's generation, whether
/// it is cancelled, and how many retries it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Asked {
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `spec.cancel`.
    pub cancel: bool,
    /// `spec.retry`.
    pub retry: i64,
}

impl Asked {
    /// What `request`'s spec asks.
    pub fn of(request: &ScaffoldRequest) -> Asked {
        Asked {
            generation: request.metadata.generation,
            cancel: request.spec.cancel,
            retry: request.spec.retry,
        }
    }
}

/// Whether a request in `status` has finished for spec `generation`.
pub fn is_finished(status: Option<&ScaffoldRequestStatus>, generation: Option<i64>) -> bool {
    status.is_some_and(|s| {
        matches!(s.phase, Some(Phase::Succeeded | Phase::Failed | Phase::Cancelled))
            && s.observed_generation == generation
    })
}

/// The first rule of a reconcile: a finished request stays finished for its
/// spec (one that succeeded is never run again: a changed spec is only
/// reported); `spec.cancel` stops any other; a cancelled one resumes where
/// it stopped once `spec.cancel` is cleared; a failed one resumes at its
/// failed step when `spec.retry` changes, and starts over when anything
/// else in its spec does. `Next::Continue` means the request goes on with
/// the returned status.
pub fn admit(mut status: ScaffoldRequestStatus, asked: Asked, now: Time) -> Transition {
    let generation = asked.generation;
    let current = status.observed_generation == generation;
    match status.phase {
        Some(Phase::Succeeded) if !current => {
            status.observed_generation = generation;
            let message = format!(
                "the spec changed (generation {}) after the request succeeded; it is not run again. \
                 Create a new ScaffoldRequest for a new instance",
                generation.unwrap_or_default()
            );
            let changed = ConditionState::new(ConditionType::SpecChanged, true, "NotRerun", &message);
            conditions::set(&mut status.conditions, &changed, generation, now.0);
            let effects = vec![
                Effect::WriteStatus,
                event(EventType::Warning, "SpecChanged", "SpecChanged", message),
            ];
            return Transition::new(status, effects, Next::AwaitChange);
        }
        Some(Phase::Succeeded) => return Transition::new(status, Vec::new(), Next::AwaitChange),
        _ if asked.cancel => return cancel(status, asked, now),
        Some(Phase::Failed | Phase::Cancelled) if current => {
            return Transition::new(status, Vec::new(), Next::AwaitChange);
        }
        Some(Phase::Cancelled) => return resume(status, asked, "spec.cancel was cleared".into(), now),
        Some(Phase::Failed) if asked.retry != status.observed_retry => {
            return resume(status, asked, format!("retry {}", asked.retry), now);
        }
        Some(Phase::Failed) => {
            status = ScaffoldRequestStatus {
                conditions: std::mem::take(&mut status.conditions),
                ..ScaffoldRequestStatus::default()
            };
        }
        _ => {}
    }
    status.observed_generation = generation;
    status.observed_retry = asked.retry;
    Transition::new(status, Vec::new(), Next::Continue)
}

/// The request stops as `spec.cancel` asks, between steps: phase
/// `Cancelled`, `Ready` False with reason `Cancelled` and neither
/// `Reconciling` nor `Stalled`. Every step's record stays (a later resume
/// starts from it) and nothing the steps made is deleted. A request
/// already cancelled only takes note of a newer spec.
pub fn cancel(mut status: ScaffoldRequestStatus, asked: Asked, now: Time) -> Transition {
    let current = status.observed_generation == asked.generation;
    status.observed_generation = asked.generation;
    status.observed_retry = asked.retry;
    if status.phase == Some(Phase::Cancelled) {
        let effects = if current {
            Vec::new()
        } else {
            vec![Effect::WriteStatus]
        };
        return Transition::new(status, effects, Next::AwaitChange);
    }
    let finished = status.steps.iter().filter(|s| is_done(s.phase)).count();
    for step in &mut status.steps {
        if !is_done(step.phase) && step.phase != StepPhase::Failed && step.started_at.is_some() {
            step.message = Some("cancelled before this step finished".into());
        }
    }
    let message = match status.steps.iter().rev().find(|s| is_done(s.phase)) {
        Some(last) => format!(
            "cancelled by spec.cancel after step {}: {finished} of {} steps finished; nothing they made \
             is deleted",
            last.id,
            status.steps.len()
        ),
        None => "cancelled by spec.cancel before any step finished".to_string(),
    };
    status.phase = Some(Phase::Cancelled);
    set_state(
        &mut status.conditions,
        State::Stopped,
        "Cancelled",
        &message,
        asked.generation,
        now.0,
    );
    let effects = vec![
        Effect::WriteStatus,
        event(EventType::Normal, "Cancelled", "Cancelled", message),
        Effect::RecordOutcome,
    ];
    Transition::new(status, effects, Next::AwaitChange)
}

/// A failed or cancelled request goes on from its first unfinished step,
/// `because` of a retry or a cleared cancel: every finished step keeps its
/// record (a step that acted on the world is not run again), the pinned
/// revision stays, and the failed step runs again.
fn resume(mut status: ScaffoldRequestStatus, asked: Asked, because: String, now: Time) -> Transition {
    status.observed_generation = asked.generation;
    status.observed_retry = asked.retry;
    status.phase = Some(Phase::Running);
    status.output = None;
    let finished = status.steps.iter().filter(|s| is_done(s.phase)).count();
    let mut resumes_at = None;
    for step in status.steps.iter_mut().filter(|s| !is_done(s.phase)) {
        if step.phase == StepPhase::Failed {
            step.phase = StepPhase::Pending;
            step.completed_at = None;
            // A new attempt: what decided the last one (a rejection) does
            // not decide this one.
            step.resumed_at = Some(now.clone());
            // A gated step that timed out waits anew, with a new deadline.
            step.wait_until = None;
        }
        step.message = None;
        resumes_at.get_or_insert_with(|| step.id.clone());
    }
    let message = match resumes_at {
        Some(id) => format!("{because}: resuming at step {id}, keeping the {finished} finished steps"),
        None => format!("{because}: resuming"),
    };
    set_state(
        &mut status.conditions,
        State::Reconciling,
        "Resuming",
        &message,
        asked.generation,
        now.0,
    );
    let effects = vec![
        Effect::WriteStatus,
        event(EventType::Normal, "Resumed", "Resumed", message),
    ];
    Transition::new(status, effects, Next::Continue)
}

/// Whether a step is done: its record stands for it on a resume.
fn is_done(phase: StepPhase) -> bool {
    matches!(phase, StepPhase::Succeeded | StepPhase::Skipped)
}

/// The request waits for something outside it to change (a Template, a
/// Secret), and is looked at again after `retry` if given. Status is
/// written, and an Event published, only when they say something new, so a
/// request that keeps waiting writes nothing.
pub fn wait(
    before: Option<&ScaffoldRequestStatus>,
    mut status: ScaffoldRequestStatus,
    state: State,
    reason: &str,
    message: String,
    retry: Option<Duration>,
    now: Time,
) -> Transition {
    status.phase.get_or_insert(Phase::Pending);
    let generation = status.observed_generation;
    set_state(&mut status.conditions, state, reason, &message, generation, now.0);
    let mut effects = Vec::new();
    if before != Some(&status) {
        effects.push(Effect::WriteStatus);
        let reasons_differ = before
            .and_then(|s| conditions::find(&s.conditions, ConditionType::Ready))
            .is_none_or(|c| c.reason != reason);
        if reasons_differ {
            effects.push(event(EventType::Warning, reason, reason, message));
        }
    }
    Transition::new(
        status,
        effects,
        retry.map_or(Next::AwaitChange, Next::RequeueAfter),
    )
}

/// The request fails for good before any step ran.
pub fn reject(mut status: ScaffoldRequestStatus, reason: &str, message: String, now: Time) -> Transition {
    status.phase = Some(Phase::Failed);
    let generation = status.observed_generation;
    set_state(
        &mut status.conditions,
        State::Stalled,
        reason,
        &message,
        generation,
        now.0,
    );
    let effects = vec![
        Effect::WriteStatus,
        event(EventType::Warning, reason, reason, message),
        Effect::RecordOutcome,
    ];
    Transition::new(status, effects, Next::AwaitChange)
}

/// The request starts (or resumes) running its steps: the Template's
/// revision is pinned the first time, and the step list matches the
/// template's steps (`(id, action)` each). The status is written when the
/// first step starts.
pub fn start(
    mut status: ScaffoldRequestStatus,
    revision: &str,
    steps: Vec<(String, String)>,
    started: impl FnOnce() -> String,
) -> Transition {
    let mut effects = Vec::new();
    if status.template_revision.is_none() {
        status.template_revision = Some(revision.to_string());
        effects.push(event(EventType::Normal, "Started", "Started", started()));
    }
    if status.steps.len() != steps.len() {
        status.steps = steps
            .into_iter()
            .map(|(id, action)| StepStatus {
                id,
                action,
                phase: StepPhase::Pending,
                started_at: None,
                completed_at: None,
                resumed_at: None,
                generation: None,
                wait_until: None,
                message: None,
                output: None,
            })
            .collect();
    }
    status.phase = Some(Phase::Running);
    Transition::new(status, effects, Next::Continue)
}

/// What the step loop does with a step when a request resumes.
#[derive(Debug, Clone, PartialEq)]
pub enum StepPlan {
    /// It acted on the world and is done: its recorded output stands in for
    /// running it again.
    Restore(Value),
    /// It only built the workspace and is done: it runs again, unrecorded,
    /// to rebuild the workspace (it is pure, so it does what it did).
    Rebuild,
    /// It has not finished: it runs, and its outcome is recorded.
    Run,
}

/// How the step loop treats a step in `step` state whose action reaches
/// `reach`.
pub fn plan_step(step: &StepStatus, reach: Option<Reach>) -> StepPlan {
    match (is_done(step.phase), reach) {
        (true, Some(Reach::World)) => StepPlan::Restore(
            step.output
                .clone()
                .unwrap_or_else(|| Value::Object(Default::default())),
        ),
        (true, _) => StepPlan::Rebuild,
        (false, _) => StepPlan::Run,
    }
}

/// The Event action for step `id`.
fn step_action(id: &str) -> String {
    format!("Step {id}")
}

/// Step `index` starts. A retried step keeps when it first started, and its
/// start is announced once, not on every attempt.
pub fn start_step(mut status: ScaffoldRequestStatus, index: usize, now: Time) -> Transition {
    let generation = status.observed_generation;
    let Some(entry) = status.steps.get_mut(index) else {
        return Transition::new(status, Vec::new(), Next::Continue);
    };
    // A gated step looked at again while it waits: its record says so
    // already, and writing it again would only blank its message.
    if entry.phase == StepPhase::Running
        && entry.wait_until.is_some()
        && entry.started_at.is_some()
        && entry.generation == generation
    {
        return Transition::new(status, Vec::new(), Next::Continue);
    }
    let first_attempt = entry.started_at.is_none();
    entry.phase = StepPhase::Running;
    entry.started_at.get_or_insert(now.clone());
    entry.generation = generation;
    entry.message = None;
    let message = format!("step {} ({})", entry.id, entry.action);
    let action = step_action(&entry.id);
    set_state(
        &mut status.conditions,
        State::Reconciling,
        "Running",
        &message,
        generation,
        now.0,
    );
    let mut effects = vec![Effect::WriteStatus];
    if first_attempt {
        effects.push(event(EventType::Normal, "StepStarted", &action, message));
    }
    Transition::new(status, effects, Next::Continue)
}

/// Rendering a step found `found` (warning lines, secrets masked): what
/// Backstage renders but is likely a mistake. Lines not yet in
/// `status.warnings` are added, at most [`MAX_WARNINGS`] and then one line
/// saying more were left out, and reported by one Event; the request goes
/// on as Backstage's would.
pub fn warn(mut status: ScaffoldRequestStatus, found: Vec<String>) -> Transition {
    let full = status.warnings.len() > MAX_WARNINGS;
    let mut added = Vec::new();
    for line in found {
        if full || status.warnings.contains(&line) || added.contains(&line) {
            continue;
        }
        if status.warnings.len() == MAX_WARNINGS {
            status.warnings.push(MORE_WARNINGS.to_string());
            added.push(MORE_WARNINGS.to_string());
            break;
        }
        status.warnings.push(line.clone());
        added.push(line);
    }
    if added.is_empty() {
        return Transition::new(status, Vec::new(), Next::Continue);
    }
    let effects = vec![
        Effect::WriteStatus,
        event(EventType::Warning, "RenderWarnings", "Render", added.join("; ")),
    ];
    Transition::new(status, effects, Next::Continue)
}

/// The last line of a request's warnings once [`MAX_WARNINGS`] are kept.
pub const MORE_WARNINGS: &str = "more warnings not shown";

/// Step `index` ended with `outcome`: recorded and the loop goes on, or
/// retried after a delay (the server's, else `backoff()`), or the request
/// fails.
pub fn end_step(
    status: ScaffoldRequestStatus,
    index: usize,
    outcome: StepOutcome,
    now: Time,
    backoff: impl FnOnce() -> Duration,
) -> Transition {
    match outcome.phase {
        StepPhase::Succeeded | StepPhase::Skipped => step_succeeded(status, index, outcome, now),
        _ if outcome.transient => {
            // A forge's rate limit says when it resets: waiting less only
            // spends the next allowance on refusals.
            let delay = outcome.retry_after.unwrap_or_else(backoff);
            step_retrying(status, index, outcome.message.unwrap_or_default(), delay, now)
        }
        _ => step_failed(status, index, outcome.message, now),
    }
}

/// Step `index`, which publishes through a forge's API, ended with
/// `outcome`. A forge can roll back a call whose client was killed after it
/// saw the answer, so a success counts only once a later reconcile, running
/// the step again (it is idempotent), finds the same result: until then the
/// step stays Running with its output, and the request is looked at again
/// after [`CONFIRM_AFTER`]. A result that changed (the repository or pull
/// request had gone and was made again) waits for its own confirmation.
pub fn end_forge_step(
    mut status: ScaffoldRequestStatus,
    index: usize,
    outcome: StepOutcome,
    now: Time,
    backoff: impl FnOnce() -> Duration,
) -> Transition {
    let recorded = status.steps.get(index).and_then(|s| s.output.as_ref());
    if outcome.phase != StepPhase::Succeeded || recorded == kept_output(&outcome.output).as_ref() {
        return end_step(status, index, outcome, now, backoff);
    }
    let generation = status.observed_generation;
    let Some(entry) = status.steps.get_mut(index) else {
        return Transition::new(status, Vec::new(), Next::Continue);
    };
    entry.output = kept_output(&outcome.output);
    let message = format!(
        "step {} ({}) published; its result is confirmed in {}s",
        entry.id,
        entry.action,
        CONFIRM_AFTER.as_secs()
    );
    entry.message = Some(message.clone());
    set_state(
        &mut status.conditions,
        State::Reconciling,
        "Confirming",
        &message,
        generation,
        now.0,
    );
    Transition::new(
        status,
        vec![Effect::WriteStatus],
        Next::RequeueAfter(CONFIRM_AFTER),
    )
}

/// A step's output as status keeps it: an empty one is not kept.
fn kept_output(output: &Value) -> Option<Value> {
    Some(output.clone()).filter(|o| o.as_object().is_none_or(|o| !o.is_empty()))
}

/// A finished workspace step ran again to rebuild the workspace: nothing
/// is recorded, unless it no longer succeeds, which ends it as any run does.
pub fn end_rebuild(
    status: ScaffoldRequestStatus,
    index: usize,
    outcome: StepOutcome,
    now: Time,
    backoff: impl FnOnce() -> Duration,
) -> Transition {
    match outcome.phase {
        StepPhase::Succeeded | StepPhase::Skipped => Transition::new(status, Vec::new(), Next::Continue),
        _ => end_step(status, index, outcome, now, backoff),
    }
}

fn step_succeeded(
    mut status: ScaffoldRequestStatus,
    index: usize,
    outcome: StepOutcome,
    now: Time,
) -> Transition {
    let Some(entry) = status.steps.get_mut(index) else {
        return Transition::new(status, Vec::new(), Next::Continue);
    };
    entry.phase = outcome.phase;
    entry.completed_at = Some(now);
    entry.message = outcome
        .message
        .or_else(|| Some(outcome.log.join("\n")).filter(|l| !l.is_empty()))
        .map(|m| crate::controller::truncate(m, STEP_MESSAGE_LIMIT));
    let verb = if outcome.phase == StepPhase::Skipped {
        "skipped"
    } else {
        "succeeded"
    };
    let note = format!("step {} ({}) {verb}", entry.id, entry.action);
    let action = step_action(&entry.id);
    if let Some(url) = outcome.output.get("remoteUrl").and_then(Value::as_str) {
        status.repository = Some(crate::git::redact_url(url));
    }
    entry.output = kept_output(&outcome.output);
    let effects = vec![event(EventType::Normal, "StepSucceeded", &action, note)];
    Transition::new(status, effects, Next::Continue)
}

fn step_retrying(
    mut status: ScaffoldRequestStatus,
    index: usize,
    reason: String,
    delay: Duration,
    now: Time,
) -> Transition {
    let generation = status.observed_generation;
    let message = format!("{reason}; trying again in {}s", delay.as_secs());
    let mut action = String::new();
    if let Some(entry) = status.steps.get_mut(index) {
        entry.phase = StepPhase::Pending;
        entry.message = Some(message.clone());
        action = step_action(&entry.id);
    }
    set_state(
        &mut status.conditions,
        State::Reconciling,
        "Retrying",
        &message,
        generation,
        now.0,
    );
    let effects = vec![
        Effect::WriteStatus,
        event(EventType::Warning, "StepRetrying", &action, message),
    ];
    Transition::new(status, effects, Next::RequeueAfter(delay))
}

fn step_failed(
    mut status: ScaffoldRequestStatus,
    index: usize,
    message: Option<String>,
    now: Time,
) -> Transition {
    let generation = status.observed_generation;
    let mut action = String::new();
    let mut failure = message.clone().unwrap_or_default();
    if let Some(entry) = status.steps.get_mut(index) {
        failure = message.unwrap_or_else(|| format!("step {} ({}) failed", entry.id, entry.action));
        entry.phase = StepPhase::Failed;
        entry.completed_at = Some(now.clone());
        entry.message = Some(failure.clone());
        action = step_action(&entry.id);
    }
    status.phase = Some(Phase::Failed);
    set_state(
        &mut status.conditions,
        State::Stalled,
        "StepFailed",
        &failure,
        generation,
        now.0,
    );
    let effects = vec![
        Effect::WriteStatus,
        event(EventType::Warning, "StepFailed", &action, failure),
        Effect::RecordOutcome,
    ];
    Transition::new(status, effects, Next::AwaitChange)
}

/// Every step is done: the request succeeds with the template's rendered
/// output, or fails if that output does not render (`Err`, already
/// redacted).
pub fn complete(
    mut status: ScaffoldRequestStatus,
    output: Result<RequestOutput, String>,
    now: Time,
) -> Transition {
    let generation = status.observed_generation;
    let effects = match output {
        Ok(output) => {
            status.output = Some(output).filter(|o| !o.links.is_empty() || !o.text.is_empty());
            status.phase = Some(Phase::Succeeded);
            let message = "every step succeeded";
            set_state(
                &mut status.conditions,
                State::Ready,
                "Succeeded",
                message,
                generation,
                now.0,
            );
            vec![
                Effect::WriteStatus,
                event(EventType::Normal, "Succeeded", "Succeeded", message),
                Effect::RecordOutcome,
            ]
        }
        Err(message) => {
            status.phase = Some(Phase::Failed);
            set_state(
                &mut status.conditions,
                State::Stalled,
                "OutputFailed",
                &message,
                generation,
                now.0,
            );
            vec![
                Effect::WriteStatus,
                event(EventType::Warning, "OutputFailed", "Output", message),
                Effect::RecordOutcome,
            ]
        }
    };
    Transition::new(status, effects, Next::AwaitChange)
}

/// The finalizers a request should carry for its deletion policy, or
/// `None` when they are right as they are: `Delete` needs `finalizer`, so
/// that what the request created can be removed first; `Retain` does not.
pub fn finalizers(current: &[String], policy: DeletionPolicy, finalizer: &str) -> Option<Vec<String>> {
    let wanted = policy == DeletionPolicy::Delete;
    let has = current.iter().any(|f| f == finalizer);
    if wanted == has {
        return None;
    }
    let mut finalizers: Vec<String> = current.iter().filter(|f| *f != finalizer).cloned().collect();
    if wanted {
        finalizers.push(finalizer.to_string());
    }
    Some(finalizers)
}

/// What deleting a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    /// Not goldpath's to hold up: the finalizer is not there.
    Nothing,
    /// Delete the Applications and CatalogEntities it created, then let
    /// it go.
    DeleteCreated,
    /// Keep what it created; only let it go.
    Release,
}

/// How a request being deleted is cleaned up, by its finalizers and policy.
pub fn cleanup(finalizers: &[String], policy: DeletionPolicy, finalizer: &str) -> Cleanup {
    if !finalizers.iter().any(|f| f == finalizer) {
        Cleanup::Nothing
    } else if policy == DeletionPolicy::Delete {
        Cleanup::DeleteCreated
    } else {
        Cleanup::Release
    }
}

#[path = "transition_wait.rs"]
mod wait;
pub use wait::{end_wait_step, wait_step};

#[cfg(test)]
#[path = "transition_tests.rs"]
mod tests;
