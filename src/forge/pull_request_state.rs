//! Where a pull request is (open, merged or closed), read the same way
//! from every forge's answer.

use serde_json::Value;

use super::{ForgeError, text};

/// Where a pull request is, as the forge reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullRequestState {
    /// Open for review.
    Open,
    /// Merged into its base.
    Merged,
    /// Closed without merging.
    Closed,
}

impl PullRequestState {
    /// Reads a forge's answer for one pull request: `merged: true` (GitHub,
    /// Gitea) or state `merged` (GitLab) first, then open or closed.
    /// GitLab's `locked` is a merge under way: still open. `None` when the
    /// answer says neither.
    pub fn read(body: &Value) -> Option<PullRequestState> {
        if body.get("merged").and_then(Value::as_bool) == Some(true) {
            return Some(PullRequestState::Merged);
        }
        match text(body, "state").as_deref() {
            Some("merged") => Some(PullRequestState::Merged),
            Some("open" | "opened" | "locked") => Some(PullRequestState::Open),
            Some("closed") => Some(PullRequestState::Closed),
            _ => None,
        }
    }

    /// As [`PullRequestState::read`], an answer without a state being an
    /// error of `host` for `call` that may pass.
    pub(super) fn from_answer(body: &Value, host: &str, call: &str) -> Result<PullRequestState, ForgeError> {
        PullRequestState::read(body).ok_or_else(|| ForgeError::Unavailable {
            host: host.to_string(),
            call: call.to_string(),
            detail: "answered without the pull request's state".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_pull_requests_state_is_read_from_each_forges_answer() {
        use PullRequestState::{Closed, Merged, Open};
        let read = |body: Value| PullRequestState::read(&body);
        // GitHub and Gitea: state open or closed, and whether it was merged.
        assert_eq!(read(json!({"state": "open", "merged": false})), Some(Open));
        assert_eq!(read(json!({"state": "closed", "merged": true})), Some(Merged));
        assert_eq!(read(json!({"state": "closed", "merged": false})), Some(Closed));
        // GitLab: opened, merged, closed, and locked while a merge runs.
        assert_eq!(read(json!({"state": "opened"})), Some(Open));
        assert_eq!(read(json!({"state": "locked"})), Some(Open));
        assert_eq!(read(json!({"state": "merged"})), Some(Merged));
        assert_eq!(read(json!({"state": "closed"})), Some(Closed));
        assert_eq!(read(Value::Null), None);
        let error =
            PullRequestState::from_answer(&Value::Null, "forge.test", "read pull request 8").unwrap_err();
        assert!(
            error.is_transient() && error.to_string().contains("forge.test"),
            "{error}"
        );
    }
}
