//! Status conditions, made in one place for every resource: the condition
//! types goldpath writes, kstatus's three (`Ready`, `Reconciling`,
//! `Stalled`), and the merge that moves a condition's `lastTransitionTime`
//! only when its status changes, so that writing the same state again
//! changes nothing. Callers pass `now`, so what a status becomes is decided
//! without a clock.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::Condition;

/// The condition types goldpath writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionType {
    /// kstatus: done and as asked.
    Ready,
    /// kstatus: being worked on, or waiting to be retried.
    Reconciling,
    /// kstatus: cannot go on until the spec, or something it depends on,
    /// changes.
    Stalled,
    /// A ScaffoldRequest's spec changed after it succeeded; it is not run
    /// again.
    SpecChanged,
    /// A ScaffoldRequest with `upgradePolicy: PullRequest`: whether its
    /// repository follows the Template's revision and the spec's
    /// parameters, or what is proposed or in the way.
    UpToDate,
    /// A CatalogEntity follows Backstage's rules.
    Valid,
    /// Every entity a CatalogEntity refers to exists.
    ReferencesResolved,
}

impl ConditionType {
    /// As Kubernetes writes it in `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionType::Ready => "Ready",
            ConditionType::Reconciling => "Reconciling",
            ConditionType::Stalled => "Stalled",
            ConditionType::SpecChanged => "SpecChanged",
            ConditionType::UpToDate => "UpToDate",
            ConditionType::Valid => "Valid",
            ConditionType::ReferencesResolved => "ReferencesResolved",
        }
    }

    /// The type Kubernetes wrote as `type_`, if goldpath writes it.
    pub fn parse(type_: &str) -> Option<ConditionType> {
        [
            ConditionType::Ready,
            ConditionType::Reconciling,
            ConditionType::Stalled,
            ConditionType::SpecChanged,
            ConditionType::UpToDate,
            ConditionType::Valid,
            ConditionType::ReferencesResolved,
        ]
        .into_iter()
        .find(|known| known.as_str() == type_)
    }
}

/// A condition's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

impl ConditionStatus {
    /// As Kubernetes writes it in `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }

    /// The status Kubernetes wrote as `status`, if it is one of the three.
    pub fn parse(status: &str) -> Option<ConditionStatus> {
        [
            ConditionStatus::True,
            ConditionStatus::False,
            ConditionStatus::Unknown,
        ]
        .into_iter()
        .find(|known| known.as_str() == status)
    }
}

impl From<bool> for ConditionStatus {
    fn from(holds: bool) -> Self {
        if holds {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

/// One condition as decided, before [`ConditionState::to_condition`] gives
/// it a transition time and the generation it describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionState {
    /// Which condition.
    pub type_: ConditionType,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// A metav1 reason.
    pub reason: String,
    /// What it means, naming what it is about.
    pub message: String,
}

impl ConditionState {
    /// A condition of `type_` with `status`, `reason` and `message`.
    pub fn new(
        type_: ConditionType,
        status: impl Into<ConditionStatus>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> ConditionState {
        ConditionState {
            type_,
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// The full condition, keeping the `lastTransitionTime` of the condition
    /// of the same type in `previous` when its status did not change.
    pub fn to_condition(
        &self,
        previous: &(impl Earlier + ?Sized),
        now: Timestamp,
        generation: Option<i64>,
    ) -> Condition {
        let last_transition_time = previous.since(self.type_, self.status).unwrap_or(Time(now));
        Condition {
            type_: self.type_.as_str().to_string(),
            status: self.status.as_str().to_string(),
            reason: self.reason.clone(),
            message: self.message.clone(),
            observed_generation: generation,
            last_transition_time,
        }
    }
}

/// A status's conditions before an update, as far as keeping transition
/// times needs them.
pub trait Earlier {
    /// When the condition of `type_` turned to `status`, if it has that
    /// status.
    fn since(&self, type_: ConditionType, status: ConditionStatus) -> Option<Time>;
}

impl Earlier for [Condition] {
    fn since(&self, type_: ConditionType, status: ConditionStatus) -> Option<Time> {
        find(self, type_)
            .filter(|c| c.status == status.as_str())
            .map(|c| c.last_transition_time.clone())
    }
}

impl Earlier for Vec<Condition> {
    fn since(&self, type_: ConditionType, status: ConditionStatus) -> Option<Time> {
        self.as_slice().since(type_, status)
    }
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
    /// Stopped because its spec asked (a cancelled request): not ready,
    /// not being worked on and not stuck, so kstatus finds it current.
    Stopped,
}

/// kstatus's three conditions for an object in `state`: `Ready`,
/// `Reconciling` and `Stalled`, all present so that an apply of them is
/// complete, the two abnormal ones `False` with no message unless they
/// hold (none holds for `Stopped`). `Ready` carries the message whatever
/// the state.
pub fn kstatus(state: State, reason: &str, message: &str) -> [ConditionState; 3] {
    let when = |holds: bool| if holds { message } else { "" };
    let reconciling = state == State::Reconciling;
    let stalled = state == State::Stalled;
    [
        ConditionState::new(ConditionType::Ready, state == State::Ready, reason, message),
        ConditionState::new(ConditionType::Reconciling, reconciling, reason, when(reconciling)),
        ConditionState::new(ConditionType::Stalled, stalled, reason, when(stalled)),
    ]
}

/// Sets `condition` in `conditions`, in place of the one of its type or
/// after the others, keeping its transition time when its status is
/// unchanged.
pub fn set(
    conditions: &mut Vec<Condition>,
    condition: &ConditionState,
    generation: Option<i64>,
    now: Timestamp,
) {
    let merged = condition.to_condition(conditions, now, generation);
    match conditions.iter_mut().find(|c| c.type_ == merged.type_) {
        Some(existing) => *existing = merged,
        None => conditions.push(merged),
    }
}

/// Sets kstatus's three conditions for `state` (see [`kstatus`]).
pub fn set_state(
    conditions: &mut Vec<Condition>,
    state: State,
    reason: &str,
    message: impl Into<String>,
    generation: Option<i64>,
    now: Timestamp,
) {
    for condition in kstatus(state, reason, &message.into()) {
        set(conditions, &condition, generation, now);
    }
}

/// The condition of `type_`, if `conditions` has one.
pub fn find(conditions: &[Condition], type_: ConditionType) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == type_.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + second).unwrap()
    }

    fn get(conditions: &[Condition], type_: ConditionType) -> &Condition {
        find(conditions, type_).unwrap()
    }

    #[test]
    fn the_transition_time_moves_only_when_the_status_changes() {
        use ConditionType::{Ready, Reconciling, Stalled};
        let mut conditions = Vec::new();
        set_state(
            &mut conditions,
            State::Reconciling,
            "Running",
            "step a",
            Some(1),
            at(0),
        );
        assert_eq!(conditions.len(), 3);
        assert_eq!(get(&conditions, Reconciling).status, "True");
        assert_eq!(get(&conditions, Ready).status, "False");
        set_state(
            &mut conditions,
            State::Reconciling,
            "Running",
            "step b",
            Some(1),
            at(5),
        );
        assert_eq!(get(&conditions, Ready).last_transition_time, Time(at(0)));
        assert_eq!(get(&conditions, Reconciling).message, "step b");
        set_state(
            &mut conditions,
            State::Stalled,
            "StepFailed",
            "step b failed",
            Some(1),
            at(9),
        );
        assert_eq!(get(&conditions, Stalled).status, "True");
        assert_eq!(get(&conditions, Stalled).message, "step b failed");
        assert_eq!(get(&conditions, Stalled).last_transition_time, Time(at(9)));
        assert_eq!(get(&conditions, Reconciling).status, "False");
        assert_eq!(get(&conditions, Reconciling).message, "");
        assert_eq!(get(&conditions, Ready).last_transition_time, Time(at(0)));
        set_state(
            &mut conditions,
            State::Ready,
            "Succeeded",
            "done",
            Some(2),
            at(20),
        );
        assert_eq!(get(&conditions, Ready).status, "True");
        assert_eq!(get(&conditions, Ready).last_transition_time, Time(at(20)));
        assert_eq!(get(&conditions, Ready).observed_generation, Some(2));
        assert_eq!(conditions.len(), 3);
    }

    #[test]
    fn other_conditions_are_kept_in_place() {
        let mut conditions = Vec::new();
        let changed = ConditionState::new(ConditionType::SpecChanged, true, "NotRerun", "changed");
        set(&mut conditions, &changed, Some(1), at(0));
        set_state(&mut conditions, State::Ready, "Succeeded", "done", Some(1), at(1));
        set(&mut conditions, &changed, Some(2), at(2));
        let types: Vec<&str> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["SpecChanged", "Ready", "Reconciling", "Stalled"]);
        let spec_changed = get(&conditions, ConditionType::SpecChanged);
        assert_eq!(spec_changed.last_transition_time, Time(at(0)));
        assert_eq!(spec_changed.observed_generation, Some(2));
    }

    #[test]
    fn at_most_one_kstatus_condition_holds() {
        for state in [State::Ready, State::Reconciling, State::Stalled, State::Stopped] {
            let holding: Vec<ConditionType> = kstatus(state, "R", "m")
                .into_iter()
                .filter(|c| c.status == ConditionStatus::True)
                .map(|c| c.type_)
                .collect();
            let expected = usize::from(state != State::Stopped);
            assert_eq!(holding.len(), expected, "{state:?}");
        }
    }

    #[test]
    fn a_stopped_object_is_neither_ready_nor_reconciling_nor_stalled() {
        let [ready, reconciling, stalled] = kstatus(State::Stopped, "Cancelled", "cancelled after step a");
        assert_eq!(ready.status, ConditionStatus::False);
        assert_eq!(ready.reason, "Cancelled");
        assert_eq!(ready.message, "cancelled after step a");
        for abnormal in [reconciling, stalled] {
            assert_eq!(abnormal.status, ConditionStatus::False);
            assert_eq!(abnormal.message, "");
        }
    }
}
