//! `wait:approval`: who may approve a step (its `approvers`), and what the
//! ScaffoldApprovals made for it decide. Pure: the caller lists the
//! approvals and acts on the verdict (goes on, fails the step, waits) and
//! reports the approvals that did not count.
//!
//! Who made an approval is its `spec.approver`, which the API server wrote
//! at create; whether they could make one at all is Kubernetes RBAC on
//! `scaffoldapprovals`. This module adds the step's own list on top, and
//! from when approvals count ([`counts_from`]): an approval is a decision
//! on one request and one attempt of its step, not on whatever later
//! carries the same names.

use std::cmp::Ordering;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ActionError;
use crate::api::{Decision, ScaffoldApproval};

/// The most user names, and the most group names, a step's `approvers` may list.
pub const MAX_APPROVERS: usize = 100;

/// The most approvals that did not count a verdict names one by one; the
/// rest are counted.
pub const MAX_IGNORED_NAMED: usize = 10;

/// The most approvals of one step read at one look; past it the step's
/// message says so.
pub const MAX_READ: u32 = 500;

/// How often a waiting step looks again. A new or changed approval wakes
/// its request at once (the request controller watches them); this is the
/// fallback for a missed watch event.
pub const RECHECK: Duration = Duration::from_secs(30);

/// How far ahead of the API server's clock the operator's may run before
/// an approval made just after its step began waiting is taken for one
/// made before (see [`counts_from`]).
pub const CLOCK_SKEW: Duration = Duration::from_secs(2);

/// The input of `wait:approval`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalInput {
    /// Who may approve or reject the step: Kubernetes user names and
    /// groups, as the API server authenticates them. Not given or empty:
    /// anyone Kubernetes RBAC lets create a ScaffoldApproval in the
    /// request's namespace.
    #[serde(default)]
    pub approvers: Approvers,
    /// Whether the request's own requester (its `spec.requester`) may
    /// approve or reject it. Default false: their approval does not count.
    #[serde(default)]
    pub allow_self_approval: bool,
}

/// The output of `wait:approval`.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct ApprovalOutput {
    /// The approver's user name, as the API server recorded it.
    pub approver: String,
    /// The name of the ScaffoldApproval that approved.
    pub approval: String,
    /// The approver's reason, possibly empty.
    pub reason: String,
}

/// Kubernetes users and groups; a user counts when named in `users` or a
/// member of one of `groups`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
pub struct Approvers {
    /// User names, e.g. `jane@example.com`.
    #[serde(default)]
    pub users: Vec<String>,
    /// Group names, e.g. `team-a-leads`.
    #[serde(default)]
    pub groups: Vec<String>,
}

impl ApprovalInput {
    /// Refuses lists longer than [`MAX_APPROVERS`] and empty names, which
    /// no authenticator gives.
    pub fn check(&self) -> Result<(), ActionError> {
        for (field, names) in [
            ("users", &self.approvers.users),
            ("groups", &self.approvers.groups),
        ] {
            if names.len() > MAX_APPROVERS {
                return Err(ActionError::permanent(format!(
                    "input.approvers.{field} lists {} names; at most {MAX_APPROVERS} are allowed (name a group instead)",
                    names.len()
                )));
            }
            if let Some(index) = names.iter().position(|name| name.trim().is_empty()) {
                return Err(ActionError::permanent(format!(
                    "input.approvers.{field}[{index}] is empty"
                )));
            }
        }
        Ok(())
    }
}

impl Approvers {
    /// Whether the step names no one, leaving it to RBAC alone.
    pub fn anyone(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }

    fn admit(&self, username: &str, groups: &[String]) -> bool {
        self.anyone()
            || self.users.iter().any(|user| user == username)
            || groups.iter().any(|group| self.groups.contains(group))
    }

    /// The list in words, for a message: `users alice, bob; groups leads`.
    pub fn describe(&self) -> String {
        if self.anyone() {
            return "anyone allowed to create ScaffoldApprovals".to_string();
        }
        let mut parts = Vec::new();
        if !self.users.is_empty() {
            parts.push(format!("users {}", self.users.join(", ")));
        }
        if !self.groups.is_empty() {
            parts.push(format!("groups {}", self.groups.join(", ")));
        }
        parts.join("; ")
    }
}

/// What the approvals of a step decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// An approver approved: the step succeeds.
    Approved(Decided),
    /// An approver rejected: the step fails with the reason.
    Rejected(Decided),
    /// No approver has decided yet.
    Waiting,
}

/// The approval that decided, and who made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The approver's user name, as the API server recorded it.
    pub approver: String,
    /// The ScaffoldApproval's name.
    pub approval: String,
    /// The approver's reason, possibly empty.
    pub reason: String,
}

impl Verdict {
    /// The step's message for this verdict.
    pub fn message(&self, approvers: &Approvers) -> String {
        let with_reason = |decided: &Decided| {
            if decided.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", decided.reason)
            }
        };
        match self {
            Verdict::Approved(d) => format!(
                "approved by {} (ScaffoldApproval {}){}",
                d.approver,
                d.approval,
                with_reason(d)
            ),
            Verdict::Rejected(d) => format!(
                "rejected by {} (ScaffoldApproval {}){}; the rejection stands until it is deleted",
                d.approver,
                d.approval,
                with_reason(d)
            ),
            Verdict::Waiting => format!("waiting for a ScaffoldApproval by {}", approvers.describe()),
        }
    }
}

/// An approval of this step that did not count, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    /// The ScaffoldApproval's name.
    pub approval: String,
    /// Who made it, when the API server recorded it.
    pub username: Option<String>,
    /// Why it did not count.
    pub why: String,
}

impl Ignored {
    /// One line for an Event on the request.
    pub fn message(&self) -> String {
        match &self.username {
            Some(user) => format!(
                "ScaffoldApproval {} by {user} does not count: {}",
                self.approval, self.why
            ),
            None => format!("ScaffoldApproval {} does not count: {}", self.approval, self.why),
        }
    }
}

/// The verdict, and the approvals of the step that did not count: the
/// first [`MAX_IGNORED_NAMED`] by name, and how many in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub ignored: Vec<Ignored>,
    pub ignored_total: usize,
}

/// From when approvals count for a step: the whole second of the later of
/// the request's creation and the start of the step's current attempt
/// (its `resumedAt`, else its `startedAt`) less [`CLOCK_SKEW`]. `None`
/// when neither is known: then every approval counts.
///
/// Approvals carry the API server's clock; so does the request's creation,
/// which therefore bounds exactly: an approval made before a request of
/// the same name was created (for one deleted since) never counts. The
/// attempt's start is the operator's clock. Were it compared as is, an
/// operator whose clock runs ahead would ignore an approval made right
/// after the step began; hence the allowance. What the allowance could let
/// through is small: an approval that decided an earlier attempt (a
/// rejection) was made before that attempt failed, which was before
/// someone raised `spec.retry`, which was before the resume that started
/// this attempt; only a retry asked within [`CLOCK_SKEW`] of the decision
/// meets it. Whole seconds because creation timestamps have no more: an
/// approval made in the second the bound falls in counts.
pub fn counts_from(
    request_created: Option<Timestamp>,
    attempt_started: Option<Timestamp>,
) -> Option<Timestamp> {
    let skew = SignedDuration::from_secs(CLOCK_SKEW.as_secs() as i64);
    let attempt = attempt_started.and_then(|at| at.checked_sub(skew).ok());
    let since = request_created.max(attempt)?;
    Some(Timestamp::from_second(since.as_second()).unwrap_or(since))
}

/// What `approvals` (any list, e.g. every approval in the request's
/// namespace) decide for step `step_id` of request `request`, made by
/// `requester` (its `spec.requester`), under the step's `input`, counting
/// only approvals created at or after `since` (whole seconds; see
/// [`counts_from`]).
///
/// Only approvals naming that request and step are read. Of those made by
/// an approver, the earliest decides, so a verdict does not change with
/// the order the operator happens to see them in; two made in the same
/// second go to the rejection, then to the name. Approvals made before
/// `since`, without an approver recorded by the API server, by someone the
/// step does not name, or by the requester themselves (unless
/// `allowSelfApproval`) do not count and are reported.
pub fn decide(
    input: &ApprovalInput,
    requester: Option<&str>,
    request: &str,
    step_id: &str,
    since: Option<Timestamp>,
    approvals: &[ScaffoldApproval],
) -> Outcome {
    let approvers = &input.approvers;
    let mut counted: Vec<&ScaffoldApproval> = Vec::new();
    let mut ignored = Vec::new();
    let mut ignored_total = 0;
    for approval in approvals
        .iter()
        .filter(|a| a.spec.request_name == request && a.spec.step_id == step_id)
    {
        let name = approval.metadata.name.clone().unwrap_or_default();
        let why = match &approval.spec.approver {
            who if let Some(made) = stale(approval, since) => Some((
                who.as_ref().map(|who| who.username.clone()),
                format!("{made}, before step {step_id} began waiting at {}", since.unwrap_or_default()),
            )),
            None => Some((
                None,
                "it has no approver recorded by the API server (is the chart's approver admission policy installed?)"
                    .to_string(),
            )),
            Some(who) if !input.allow_self_approval && requester == Some(who.username.as_str()) => Some((
                Some(who.username.clone()),
                format!(
                    "{} made request {request}, and step {step_id} does not allow self-approval (allowSelfApproval)",
                    who.username
                ),
            )),
            Some(who) if !approvers.admit(&who.username, &who.groups) => Some((
                Some(who.username.clone()),
                format!("step {step_id} is approved only by {}", approvers.describe()),
            )),
            Some(_) => None,
        };
        match why {
            Some((username, why)) => {
                ignored_total += 1;
                ignored.push(Ignored {
                    approval: name,
                    username,
                    why,
                });
            }
            None => counted.push(approval),
        }
    }
    ignored.sort_by(|a, b| a.approval.cmp(&b.approval));
    ignored.truncate(MAX_IGNORED_NAMED);
    let verdict =
        counted
            .into_iter()
            .min_by(|a, b| first_decision(a, b))
            .map_or(Verdict::Waiting, |approval| {
                let decided = Decided {
                    approver: approval
                        .spec
                        .approver
                        .as_ref()
                        .map(|who| who.username.clone())
                        .unwrap_or_default(),
                    approval: approval.metadata.name.clone().unwrap_or_default(),
                    reason: approval.spec.reason.clone(),
                };
                match approval.spec.decision {
                    Decision::Approve => Verdict::Approved(decided),
                    Decision::Reject => Verdict::Rejected(decided),
                }
            });
    Outcome {
        verdict,
        ignored,
        ignored_total,
    }
}

/// The step's answer to `outcome`: its output when approved, a failure
/// naming who rejected and why, or that it waits (for whom, and which
/// approvals did not count: the first [`MAX_IGNORED_NAMED`] by name, the
/// rest counted). `more`: the API server held more approvals of the step
/// than the [`MAX_READ`] read.
pub fn answer(approvers: &Approvers, outcome: &Outcome, more: bool) -> Result<ApprovalOutput, ActionError> {
    match &outcome.verdict {
        // Which decision came first is known only when every approval of
        // the step was read: a page is in name order, not in time.
        Verdict::Approved(decided) if !more => Ok(ApprovalOutput {
            approver: decided.approver.clone(),
            approval: decided.approval.clone(),
            reason: decided.reason.clone(),
        }),
        Verdict::Rejected(_) if !more => Err(ActionError::permanent(outcome.verdict.message(approvers))),
        _ => {
            let mut what = format!("a ScaffoldApproval by {}", approvers.describe());
            for ignored in &outcome.ignored {
                what.push_str("; ");
                what.push_str(&ignored.message());
            }
            let unnamed = outcome.ignored_total.saturating_sub(outcome.ignored.len());
            if unnamed > 0 {
                what.push_str(&format!("; {unnamed} more do not count"));
            }
            if more {
                what.push_str(&format!(
                    "; only the first {MAX_READ} approvals of the step were read, so none of them decides it \
                     (which came first cannot be told): delete those that do not count"
                ));
            }
            Err(ActionError::waiting(what, RECHECK))
        }
    }
}

/// The line a step that was approved logs, so its message names the
/// approver as its output does.
pub fn note(output: &Value) -> Option<String> {
    let output: ApprovalOutput = serde_json::from_value(output.clone()).ok()?;
    let decided = Decided {
        approver: output.approver,
        approval: output.approval,
        reason: output.reason,
    };
    Some(Verdict::Approved(decided).message(&Approvers::default()))
}

/// The field selector of the approvals of `request`'s step `step_id` (the
/// CRD's selectable fields), with `\`, `,` and `=` escaped as field
/// selectors need.
pub fn field_selector(request: &str, step_id: &str) -> String {
    let escape = |value: &str| value.replace('\\', r"\\").replace(',', r"\,").replace('=', r"\=");
    format!(
        "spec.requestName={},spec.stepId={}",
        escape(request),
        escape(step_id)
    )
}

/// Whether `approval` was made before `since` (whole seconds), and when it
/// was made in words. One without a creation time (never so from the API
/// server) is taken for made before.
fn stale(approval: &ScaffoldApproval, since: Option<Timestamp>) -> Option<String> {
    let since = since?;
    match approval.metadata.creation_timestamp.as_ref().map(|t| t.0) {
        Some(made) if made.as_second() >= since.as_second() => None,
        Some(made) => Some(format!("it was made at {made}")),
        None => Some("it has no creation time".to_string()),
    }
}

/// Earliest first; in the same second a rejection first; then by name.
fn first_decision(a: &ScaffoldApproval, b: &ScaffoldApproval) -> Ordering {
    let created = |x: &ScaffoldApproval| x.metadata.creation_timestamp.as_ref().map(|t| t.0);
    let rejects_first = |x: &ScaffoldApproval| x.spec.decision != Decision::Reject;
    created(a)
        .cmp(&created(b))
        .then(rejects_first(a).cmp(&rejects_first(b)))
        .then(a.metadata.name.cmp(&b.metadata.name))
}

#[cfg(test)]
#[path = "approval_tests.rs"]
mod tests;
