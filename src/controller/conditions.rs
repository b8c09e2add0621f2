//! Status conditions as kstatus reads them: `Ready`, `Reconciling` and
//! `Stalled`, each kept once, its transition time moved only when its
//! status changes, so writing the same state again changes nothing.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::api::Condition;

/// Sets condition `type_` in `conditions`, keeping its last transition time
/// when its status is unchanged.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) {
    let status = if status { "True" } else { "False" }.to_string();
    let message = message.into();
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = Time(Timestamp::now());
            }
            existing.status = status;
            existing.reason = reason.to_string();
            existing.message = message;
            existing.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_string(),
            status,
            reason: reason.to_string(),
            message,
            observed_generation: generation,
            last_transition_time: Time(Timestamp::now()),
        }),
    }
}

/// The three kstatus conditions at once: Ready, or working on it
/// (Reconciling), or stuck until something changes (Stalled).
pub fn set_state(
    conditions: &mut Vec<Condition>,
    state: State,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
) {
    let message = message.into();
    set_condition(
        conditions,
        "Ready",
        state == State::Ready,
        reason,
        message.clone(),
        generation,
    );
    let (reconciling, stalled) = match state {
        State::Ready => (false, false),
        State::Reconciling => (true, false),
        State::Stalled => (false, true),
    };
    set_condition(
        conditions,
        "Reconciling",
        reconciling,
        reason,
        if reconciling {
            message.clone()
        } else {
            String::new()
        },
        generation,
    );
    set_condition(
        conditions,
        "Stalled",
        stalled,
        reason,
        if stalled { message } else { String::new() },
        generation,
    );
}

/// Where an object is, as kstatus sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Done and as asked.
    Ready,
    /// Being worked on, or waiting to be retried.
    Reconciling,
    /// Cannot go on until its spec (or something it depends on) changes.
    Stalled,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(conditions: &'a [Condition], type_: &str) -> &'a Condition {
        conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    #[test]
    fn the_transition_time_moves_only_when_the_status_changes() {
        let mut conditions = Vec::new();
        set_state(&mut conditions, State::Reconciling, "Running", "step a", Some(1));
        assert_eq!(conditions.len(), 3);
        assert_eq!(find(&conditions, "Reconciling").status, "True");
        assert_eq!(find(&conditions, "Ready").status, "False");
        let ready_since = find(&conditions, "Ready").last_transition_time.clone();
        std::thread::sleep(std::time::Duration::from_millis(5));
        set_state(&mut conditions, State::Reconciling, "Running", "step b", Some(1));
        assert_eq!(find(&conditions, "Ready").last_transition_time, ready_since);
        assert_eq!(find(&conditions, "Reconciling").message, "step b");
        set_state(
            &mut conditions,
            State::Stalled,
            "StepFailed",
            "step b failed",
            Some(1),
        );
        assert_eq!(find(&conditions, "Stalled").status, "True");
        assert_eq!(find(&conditions, "Stalled").message, "step b failed");
        assert_eq!(find(&conditions, "Reconciling").status, "False");
        assert_eq!(find(&conditions, "Ready").last_transition_time, ready_since);
        set_state(&mut conditions, State::Ready, "Succeeded", "done", Some(2));
        assert_eq!(find(&conditions, "Ready").status, "True");
        assert_ne!(find(&conditions, "Ready").last_transition_time, ready_since);
        assert_eq!(find(&conditions, "Ready").observed_generation, Some(2));
        assert_eq!(conditions.len(), 3);
    }
}
