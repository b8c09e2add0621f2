//! What one follow-up of an upgrade comes to: the `UpToDate` condition's
//! state, reason and message, when to look again, and whether the
//! request's backoff goes on growing.

use std::time::Duration;

use kube::runtime::controller::Action;

/// Where the request's repository stands, for the `UpToDate` condition,
/// and when to look again.
pub(super) struct Outcome {
    /// Whether the repository follows the target.
    pub current: bool,
    pub reason: &'static str,
    pub message: String,
    pub next: Action,
    /// A failure that may pass, tried again after a backoff step: the
    /// request's backoff is kept, so it grows while the failure lasts.
    pub retrying: bool,
}

impl Outcome {
    pub fn waiting(reason: &'static str, message: String) -> Self {
        Outcome {
            current: false,
            reason,
            message,
            next: Action::await_change(),
            retrying: false,
        }
    }

    /// A failure tried again after `delay`, the request's next backoff step.
    pub fn retrying(reason: &'static str, message: String, delay: Duration) -> Self {
        Outcome {
            current: false,
            reason,
            message: format!("{message}; trying again in {}s", delay.as_secs()),
            next: Action::requeue(delay),
            retrying: true,
        }
    }

    /// Whether the request's backoff starts again from its first step: after
    /// anything but a failure that is being tried again (each of which took
    /// a step), so a template source or forge that stays down is not asked
    /// every second.
    pub fn resets_backoff(&self) -> bool {
        !self.retrying
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_tried_again_keeps_its_backoff_and_everything_else_resets_it() {
        let delay = Duration::from_secs(4);
        let unavailable = Outcome::retrying("TemplateUnavailable", "Template t/a: git fetch".into(), delay);
        assert!(!unavailable.resets_backoff());
        assert_eq!(unavailable.next, Action::requeue(delay));
        assert_eq!(unavailable.message, "Template t/a: git fetch; trying again in 4s");
        assert!(!Outcome::retrying("UpgradeFailed", "forge".into(), delay).resets_backoff());
        assert!(Outcome::waiting("TemplateUnavailable", "too large".into()).resets_backoff());
        assert!(Outcome::waiting("Current", String::new()).resets_backoff());
    }
}
