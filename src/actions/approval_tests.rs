//! The tests of [`super`]: what approvals decide, and the step's answer.

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

/// A step's input naming `approvers`, self-approval not allowed.
fn only(approvers: &Approvers) -> ApprovalInput {
    ApprovalInput {
        approvers: approvers.clone(),
        allow_self_approval: false,
    }
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
    let outcome = decide(&only(&leads), None, "svc", "approve", &[]);
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
        &only(&leads),
        None,
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
        &only(&leads),
        None,
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
        &only(&Approvers::default()),
        None,
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
        &only(&leads),
        None,
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
        &only(&leads),
        None,
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
        &only(&Approvers::default()),
        None,
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
        &only(&approvers(&["alice"], &[])),
        None,
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
        let outcome = decide(&only(&leads), None, "svc", "approve", &list);
        assert!(
            matches!(&outcome.verdict, Verdict::Approved(d) if d.approver == "alice"),
            "{outcome:?}"
        );
    }
    // In the same second the rejection goes first.
    let mut same_second = reject.clone();
    same_second.metadata.creation_timestamp = approve.metadata.creation_timestamp.clone();
    let outcome = decide(&only(&leads), None, "svc", "approve", &[approve, same_second]);
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
    let outcome = decide(&only(&approvers(&["alice"], &[])), None, "svc", "approve", &many);
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
    assert!(!fine.allow_self_approval);
    assert!(
        decode(json!({"allowSelfApproval": true}))
            .unwrap()
            .allow_self_approval
    );
    let too_many = only(&Approvers {
        users: (0..=MAX_APPROVERS).map(|i| format!("u{i}")).collect(),
        groups: Vec::new(),
    });
    let error = too_many.check().unwrap_err();
    assert!(
        error
            .message
            .starts_with("input.approvers.users lists 101 names; at most 100"),
        "{error}"
    );
    let empty = only(&approvers(&[], &["leads", " "]));
    assert_eq!(
        empty.check().unwrap_err().message,
        "input.approvers.groups[1] is empty"
    );
}

#[test]
fn the_requesters_own_approval_counts_only_when_the_step_allows_it() {
    let leads = approvers(&[], &["leads"]);
    let own = [
        approval(
            "mine",
            "approve",
            Decision::Approve,
            Some(("jane", &["leads"])),
            1,
        ),
        approval(
            "own-no",
            "approve",
            Decision::Reject,
            Some(("jane", &["leads"])),
            2,
        ),
    ];
    let refused = decide(&only(&leads), Some("jane"), "svc", "approve", &own);
    assert_eq!(refused.verdict, Verdict::Waiting);
    assert_eq!(refused.ignored_total, 2);
    assert_eq!(
        refused.ignored[0].message(),
        "ScaffoldApproval mine by jane does not count: jane made request svc, and step approve does not \
         allow self-approval (allowSelfApproval)"
    );
    // Someone else's approval still counts.
    let by_bob = approval("bob", "approve", Decision::Approve, Some(("bob", &["leads"])), 3);
    let mut listed = own.to_vec();
    listed.push(by_bob);
    let outcome = decide(&only(&leads), Some("jane"), "svc", "approve", &listed);
    assert!(
        matches!(&outcome.verdict, Verdict::Approved(d) if d.approver == "bob"),
        "{outcome:?}"
    );
    let allowed = ApprovalInput {
        approvers: leads.clone(),
        allow_self_approval: true,
    };
    let outcome = decide(&allowed, Some("jane"), "svc", "approve", &own);
    assert!(
        matches!(&outcome.verdict, Verdict::Approved(d) if d.approver == "jane"),
        "{outcome:?}"
    );
    // Allowed to approve themselves, they still have to be an approver.
    let outsider = decide(
        &ApprovalInput {
            approvers: approvers(&["alice"], &[]),
            allow_self_approval: true,
        },
        Some("jane"),
        "svc",
        "approve",
        &own,
    );
    assert_eq!(outsider.verdict, Verdict::Waiting);
    // A request without a recorded requester has no one to refuse.
    let unknown = decide(&only(&leads), None, "svc", "approve", &own);
    assert!(matches!(&unknown.verdict, Verdict::Approved(d) if d.approver == "jane"));
}

#[test]
fn the_answer_goes_on_fails_or_waits_naming_what_did_not_count() {
    let leads = approvers(&["alice"], &[]);
    let approved = decide(
        &only(&leads),
        None,
        "svc",
        "approve",
        &[approval(
            "yes",
            "approve",
            Decision::Approve,
            Some(("alice", &[])),
            1,
        )],
    );
    let output = answer(&leads, &approved, false).unwrap();
    assert_eq!(
        output,
        ApprovalOutput {
            approver: "alice".into(),
            approval: "yes".into(),
            reason: "reason of yes".into(),
        }
    );
    assert_eq!(
        note(&crate::actions::output(&output)).as_deref(),
        Some("approved by alice (ScaffoldApproval yes): reason of yes")
    );
    let rejected = decide(
        &only(&leads),
        None,
        "svc",
        "approve",
        &[approval(
            "no",
            "approve",
            Decision::Reject,
            Some(("alice", &[])),
            1,
        )],
    );
    let failure = answer(&leads, &rejected, false).unwrap_err();
    assert!(!failure.waiting && !failure.transient);
    assert!(
        failure
            .message
            .starts_with("rejected by alice (ScaffoldApproval no): reason of no"),
        "{failure}"
    );
}

#[test]
fn a_waiting_answer_names_ten_approvals_that_did_not_count_and_counts_the_rest() {
    let leads = approvers(&["alice"], &[]);
    let spam: Vec<ScaffoldApproval> = (0..25)
        .map(|i| {
            approval(
                &format!("spam-{i:02}"),
                "approve",
                Decision::Approve,
                Some(("mallory", &[])),
                i,
            )
        })
        .collect();
    let waiting = answer(
        &leads,
        &decide(&only(&leads), None, "svc", "approve", &spam),
        true,
    )
    .unwrap_err();
    assert!(waiting.waiting);
    assert_eq!(waiting.retry_after, Some(RECHECK));
    assert!(
        waiting.message.starts_with(
            "a ScaffoldApproval by users alice; ScaffoldApproval spam-00 by mallory does not count"
        ),
        "{waiting}"
    );
    assert_eq!(
        waiting.message.matches("does not count:").count(),
        MAX_IGNORED_NAMED
    );
    assert!(
        waiting
            .message
            .ends_with("; 15 more do not count; only the first 500 approvals of the step were read"),
        "{waiting}"
    );
}

#[test]
fn the_field_selector_escapes_what_field_selectors_reserve() {
    assert_eq!(
        field_selector("svc", "approve"),
        "spec.requestName=svc,spec.stepId=approve"
    );
    assert_eq!(
        field_selector("svc", r"a,b=c\d"),
        r"spec.requestName=svc,spec.stepId=a\,b\=c\\d"
    );
}
