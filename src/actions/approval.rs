//! `wait:approval`: who may approve a step (its `approvers`), and what the
//! ScaffoldApprovals made for it decide. Pure: the caller lists the
//! approvals and acts on the verdict (goes on, fails the step, waits) and
//! reports the approvals that did not count.
//!
//! Who made an approval is its `spec.approver`, which the API server wrote
//! at create; whether they could make one at all is Kubernetes RBAC on
//! `scaffoldapprovals`. This module adds the step's own list on top.

use std::cmp::Ordering;

use schemars::JsonSchema;
use serde::Deserialize;

use super::ActionError;
use crate::api::{Decision, ScaffoldApproval};

/// The most user names, and the most group names, a step's `approvers` may list.
pub const MAX_APPROVERS: usize = 100;

/// The most approvals that did not count a verdict names one by one; the
/// rest are counted.
pub const MAX_IGNORED_NAMED: usize = 10;

/// The input of `wait:approval`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default, PartialEq)]
pub struct ApprovalInput {
    /// Who may approve or reject the step: Kubernetes user names and
    /// groups, as the API server authenticates them. Not given or empty:
    /// anyone Kubernetes RBAC lets create a ScaffoldApproval in the
    /// request's namespace.
    #[serde(default)]
    pub approvers: Approvers,
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

/// What `approvals` (any list, e.g. every approval in the request's
/// namespace) decide for step `step_id` of request `request`.
///
/// Only approvals naming that request and step are read. Of those made by
/// an approver, the earliest decides, so a verdict does not change with
/// the order the operator happens to see them in; two made in the same
/// second go to the rejection, then to the name. Approvals without an
/// approver recorded by the API server, or by someone the step does not
/// name, do not count and are reported.
pub fn decide(
    approvers: &Approvers,
    request: &str,
    step_id: &str,
    approvals: &[ScaffoldApproval],
) -> Outcome {
    let mut counted: Vec<&ScaffoldApproval> = Vec::new();
    let mut ignored = Vec::new();
    let mut ignored_total = 0;
    for approval in approvals
        .iter()
        .filter(|a| a.spec.request_name == request && a.spec.step_id == step_id)
    {
        let name = approval.metadata.name.clone().unwrap_or_default();
        let why = match &approval.spec.approver {
            None => Some((
                None,
                "it has no approver recorded by the API server (is the chart's approver admission policy installed?)"
                    .to_string(),
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
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;

    use super::*;
    use crate::api::{Requester, ScaffoldApprovalSpec};

    fn approval(
        name: &str,
        step: &str,
        decision: Decision,
        who: Option<(&str, &[&str])>,
        second: i64,
    ) -> ScaffoldApproval {
        let mut approval = ScaffoldApproval::new(
            name,
            ScaffoldApprovalSpec {
                request_name: "svc".to_string(),
                step_id: step.to_string(),
                decision,
                reason: format!("reason of {name}"),
                approver: who.map(|(user, groups)| Requester {
                    username: user.to_string(),
                    uid: None,
                    groups: groups.iter().map(|g| g.to_string()).collect(),
                }),
            },
        );
        approval.metadata.creation_timestamp =
            Some(Time(Timestamp::from_second(1_700_000_000 + second).unwrap()));
        approval
    }

    fn approvers(users: &[&str], groups: &[&str]) -> Approvers {
        Approvers {
            users: users.iter().map(|u| u.to_string()).collect(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    #[test]
    fn no_approval_waits_and_says_for_whom() {
        let leads = approvers(&["alice"], &["leads"]);
        let outcome = decide(&leads, "svc", "approve", &[]);
        assert_eq!(outcome.verdict, Verdict::Waiting);
        assert_eq!(
            outcome.verdict.message(&leads),
            "waiting for a ScaffoldApproval by users alice; groups leads"
        );
        assert_eq!(
            Verdict::Waiting.message(&Approvers::default()),
            "waiting for a ScaffoldApproval by anyone allowed to create ScaffoldApprovals"
        );
    }

    #[test]
    fn a_named_user_or_a_member_of_a_named_group_approves() {
        let leads = approvers(&["alice"], &["leads"]);
        let by_user = decide(
            &leads,
            "svc",
            "approve",
            &[approval(
                "a",
                "approve",
                Decision::Approve,
                Some(("alice", &[])),
                1,
            )],
        );
        let Verdict::Approved(decided) = &by_user.verdict else {
            panic!("{by_user:?}")
        };
        assert_eq!(decided.approver, "alice");
        assert_eq!(decided.approval, "a");
        assert_eq!(
            by_user.verdict.message(&leads),
            "approved by alice (ScaffoldApproval a): reason of a"
        );
        let by_group = decide(
            &leads,
            "svc",
            "approve",
            &[approval(
                "b",
                "approve",
                Decision::Approve,
                Some(("carol", &["staff", "leads"])),
                1,
            )],
        );
        assert!(
            matches!(&by_group.verdict, Verdict::Approved(d) if d.approver == "carol"),
            "{by_group:?}"
        );
        assert!(by_group.ignored.is_empty());
    }

    #[test]
    fn anyone_approves_when_the_step_names_no_one() {
        let outcome = decide(
            &Approvers::default(),
            "svc",
            "approve",
            &[approval(
                "a",
                "approve",
                Decision::Approve,
                Some(("dave", &[])),
                1,
            )],
        );
        assert!(matches!(&outcome.verdict, Verdict::Approved(d) if d.approver == "dave"));
    }

    #[test]
    fn an_approval_by_someone_not_named_is_ignored_and_reported() {
        let leads = approvers(&["alice"], &["leads"]);
        let outcome = decide(
            &leads,
            "svc",
            "approve",
            &[approval(
                "mallory-says-yes",
                "approve",
                Decision::Approve,
                Some(("mallory", &["staff"])),
                1,
            )],
        );
        assert_eq!(outcome.verdict, Verdict::Waiting);
        assert_eq!(outcome.ignored_total, 1);
        assert_eq!(
            outcome.ignored[0].message(),
            "ScaffoldApproval mallory-says-yes by mallory does not count: step approve is approved only by users alice; groups leads"
        );
        // A rejection by them does not count either.
        let rejected = decide(
            &leads,
            "svc",
            "approve",
            &[approval(
                "no",
                "approve",
                Decision::Reject,
                Some(("mallory", &[])),
                1,
            )],
        );
        assert_eq!(rejected.verdict, Verdict::Waiting);
    }

    #[test]
    fn an_approval_without_a_recorded_approver_never_counts() {
        let outcome = decide(
            &Approvers::default(),
            "svc",
            "approve",
            &[approval("unstamped", "approve", Decision::Approve, None, 1)],
        );
        assert_eq!(outcome.verdict, Verdict::Waiting);
        assert!(
            outcome.ignored[0]
                .message()
                .contains("no approver recorded by the API server"),
            "{:?}",
            outcome.ignored
        );
    }

    #[test]
    fn only_approvals_of_this_request_and_step_are_read() {
        let mut other_request = approval("x", "approve", Decision::Approve, Some(("alice", &[])), 1);
        other_request.spec.request_name = "other".to_string();
        let other_step = approval("y", "deploy", Decision::Approve, Some(("alice", &[])), 1);
        let outcome = decide(
            &approvers(&["alice"], &[]),
            "svc",
            "approve",
            &[other_request, other_step],
        );
        assert_eq!(outcome.verdict, Verdict::Waiting);
        assert_eq!(outcome.ignored_total, 0);
    }

    #[test]
    fn the_earliest_decision_counts_whatever_order_they_are_listed_in() {
        let leads = approvers(&[], &["leads"]);
        let approve = approval(
            "z-approve",
            "approve",
            Decision::Approve,
            Some(("alice", &["leads"])),
            10,
        );
        let reject = approval(
            "a-reject",
            "approve",
            Decision::Reject,
            Some(("bob", &["leads"])),
            20,
        );
        for list in [
            vec![approve.clone(), reject.clone()],
            vec![reject.clone(), approve.clone()],
        ] {
            let outcome = decide(&leads, "svc", "approve", &list);
            assert!(
                matches!(&outcome.verdict, Verdict::Approved(d) if d.approver == "alice"),
                "{outcome:?}"
            );
        }
        // In the same second the rejection goes first.
        let mut same_second = reject.clone();
        same_second.metadata.creation_timestamp = approve.metadata.creation_timestamp.clone();
        let outcome = decide(&leads, "svc", "approve", &[approve, same_second]);
        let Verdict::Rejected(decided) = &outcome.verdict else {
            panic!("{outcome:?}")
        };
        assert_eq!(decided.reason, "reason of a-reject");
        assert_eq!(
            outcome.verdict.message(&leads),
            "rejected by bob (ScaffoldApproval a-reject): reason of a-reject; the rejection stands until it is deleted"
        );
    }

    #[test]
    fn ignored_approvals_are_named_up_to_the_bound_and_counted_past_it() {
        let many: Vec<ScaffoldApproval> = (0..1000)
            .map(|i| {
                approval(
                    &format!("spam-{i:04}"),
                    "approve",
                    Decision::Approve,
                    Some(("mallory", &[])),
                    i,
                )
            })
            .collect();
        let outcome = decide(&approvers(&["alice"], &[]), "svc", "approve", &many);
        assert_eq!(outcome.verdict, Verdict::Waiting);
        assert_eq!(outcome.ignored_total, 1000);
        assert_eq!(outcome.ignored.len(), MAX_IGNORED_NAMED);
        assert_eq!(outcome.ignored[0].approval, "spam-0000");
    }

    #[test]
    fn the_input_is_bounded_and_names_what_is_wrong() {
        let decode = |input| crate::actions::input::decode::<ApprovalInput>(&input);
        let fine = decode(json!({"approvers": {"users": ["alice"], "groups": ["leads"]}})).unwrap();
        assert_eq!(fine.check(), Ok(()));
        assert_eq!(fine.approvers, approvers(&["alice"], &["leads"]));
        assert!(decode(json!({})).unwrap().approvers.anyone());
        let too_many = ApprovalInput {
            approvers: Approvers {
                users: (0..=MAX_APPROVERS).map(|i| format!("u{i}")).collect(),
                groups: Vec::new(),
            },
        };
        let error = too_many.check().unwrap_err();
        assert!(
            error
                .message
                .starts_with("input.approvers.users lists 101 names; at most 100"),
            "{error}"
        );
        let empty = ApprovalInput {
            approvers: approvers(&[], &["leads", " "]),
        };
        assert_eq!(
            empty.check().unwrap_err().message,
            "input.approvers.groups[1] is empty"
        );
    }
}
