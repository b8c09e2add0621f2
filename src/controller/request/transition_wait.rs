//! The rules of steps that wait: `debug:wait`, which waits a time, and
//! gated steps, which wait until what they look at holds or their
//! deadline passes ([`crate::actions::gate`]).

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::SignedDuration;
use kube::runtime::events::EventType;

use super::{Effect, Next, STEP_MESSAGE_LIMIT, Transition, end_step, event, step_action, step_succeeded};
use crate::api::conditions::{State, set_state};
use crate::api::{Phase, ScaffoldRequestStatus, StepPhase};
use crate::scaffold::StepOutcome;

/// Step `index`, a `debug:wait` of `wait` in all, ended with `outcome`.
/// The first time it succeeds the time its wait ends is recorded and the
/// request is looked at again then; it succeeds on the first run at or
/// after that time. No thread waits.
pub fn end_wait_step(
    mut status: ScaffoldRequestStatus,
    index: usize,
    outcome: StepOutcome,
    wait: Duration,
    now: Time,
    backoff: impl FnOnce() -> Duration,
) -> Transition {
    if outcome.phase != StepPhase::Succeeded {
        return end_step(status, index, outcome, now, backoff);
    }
    let generation = status.observed_generation;
    let Some(entry) = status.steps.get_mut(index) else {
        return Transition::new(status, Vec::new(), Next::Continue);
    };
    let (until, left) = deadline(&mut entry.wait_until, wait, &now);
    if left.is_zero() {
        return step_succeeded(status, index, outcome, now);
    }
    let message = format!(
        "step {} ({}) waits until {} ({:.3}s left)",
        entry.id,
        entry.action,
        until.0,
        left.as_secs_f64()
    );
    entry.message = Some(message.clone());
    report_waiting(&mut status, &message, generation, &now);
    Transition::new(status, vec![Effect::WriteStatus], Next::RequeueAfter(left))
}

/// Step `index`, a gated step, answered that it waits for what
/// `outcome.message` says. The first such answer fixes its deadline,
/// `timeout` from now, in `status.steps[index].waitUntil`, so a restarted
/// operator keeps it; until then the step stays Running, its message and
/// the `Reconciling` condition (reason `Waiting`) say what it waits for, and
/// the request is looked at again after the action's recheck (never past
/// the deadline). Status is written only when it says something new, so a
/// step that keeps waiting for the same thing writes nothing. At the
/// deadline the step fails and the request is `Stalled` (`StepTimedOut`).
pub fn wait_step(
    mut status: ScaffoldRequestStatus,
    index: usize,
    outcome: StepOutcome,
    timeout: Duration,
    now: Time,
) -> Transition {
    let before = status.clone();
    let generation = status.observed_generation;
    let Some(entry) = status.steps.get_mut(index) else {
        return Transition::new(status, Vec::new(), Next::Continue);
    };
    let waited_for = outcome.message.unwrap_or_default();
    let first = entry.wait_until.is_none();
    let (deadline, left) = deadline(&mut entry.wait_until, timeout, &now);
    let action = step_action(&entry.id);
    if left.is_zero() {
        let timeout = crate::actions::gate::show(timeout);
        return step_timed_out(status, index, &waited_for, &timeout, now);
    }
    let message = crate::controller::truncate(
        format!(
            "step {} ({}) waits for {waited_for}; it times out at {}",
            entry.id, entry.action, deadline.0
        ),
        STEP_MESSAGE_LIMIT,
    );
    entry.phase = StepPhase::Running;
    entry.message = Some(message.clone());
    report_waiting(&mut status, &message, generation, &now);
    let mut effects = Vec::new();
    if status != before {
        effects.push(Effect::WriteStatus);
    }
    if first {
        effects.push(event(EventType::Normal, "StepWaiting", &action, message));
    }
    let recheck = outcome
        .retry_after
        .unwrap_or(crate::actions::gate::MIN_RECHECK)
        .max(crate::actions::gate::MIN_RECHECK)
        .min(left);
    Transition::new(status, effects, Next::RequeueAfter(recheck))
}

/// Gated step `index` still waits for `waited_for` at its deadline, after
/// `timeout`: it fails, and the request is `Stalled` (`StepTimedOut`).
/// A waiting step's deadline, fixed at `after` from `now` by its first
/// wait and kept in `wait_until` from then on, and the time left until it.
fn deadline(wait_until: &mut Option<Time>, after: Duration, now: &Time) -> (Time, Duration) {
    let until = wait_until
        .get_or_insert_with(|| {
            let after = SignedDuration::try_from(after).unwrap_or(SignedDuration::MAX);
            Time(now.0.checked_add(after).unwrap_or(now.0))
        })
        .clone();
    let left = Duration::try_from(until.0.duration_since(now.0)).unwrap_or_default();
    (until, left)
}

fn step_timed_out(
    mut status: ScaffoldRequestStatus,
    index: usize,
    waited_for: &str,
    timeout: &str,
    now: Time,
) -> Transition {
    let generation = status.observed_generation;
    let Some(entry) = status.steps.get_mut(index) else {
        return Transition::new(status, Vec::new(), Next::Continue);
    };
    let failure = crate::controller::truncate(
        format!(
            "step {} ({}) timed out after {timeout}: still waiting for {waited_for}",
            entry.id, entry.action
        ),
        STEP_MESSAGE_LIMIT,
    );
    let action = step_action(&entry.id);
    entry.phase = StepPhase::Failed;
    entry.completed_at = Some(now.clone());
    entry.message = Some(failure.clone());
    status.phase = Some(Phase::Failed);
    set_state(
        &mut status.conditions,
        State::Stalled,
        "StepTimedOut",
        &failure,
        generation,
        now.0,
    );
    let effects = vec![
        Effect::WriteStatus,
        event(EventType::Warning, "StepTimedOut", &action, failure),
        Effect::RecordOutcome,
    ];
    Transition::new(status, effects, Next::AwaitChange)
}

/// The request's `Reconciling` condition while a step waits: reason
/// `Waiting`, with the step's message.
fn report_waiting(status: &mut ScaffoldRequestStatus, message: &str, generation: Option<i64>, now: &Time) {
    set_state(
        &mut status.conditions,
        State::Reconciling,
        "Waiting",
        message,
        generation,
        now.0,
    );
}
