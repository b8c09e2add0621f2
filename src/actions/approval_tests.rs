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
    let outcome = decide(&only(&leads), None, "svc", "approve", None, &[]);
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
        None,
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
        None,
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
        None,
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
        None,
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
        None,
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
        None,
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
        None,
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
        let outcome = decide(&only(&leads), None, "svc", "approve", None, &list);
        assert!(
            matches!(&outcome.verdict, Verdict::Approved(d) if d.approver == "alice"),
            "{outcome:?}"
        );
    }
    // In the same second the rejection goes first.
    let mut same_second = reject.clone();
    same_second.metadata.creation_timestamp = approve.metadata.creation_timestamp.clone();
    let outcome = decide(
        &only(&leads),
        None,
        "svc",
        "approve",
        None,
        &[approve, same_second],
    );
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
    let outcome = decide(
        &only(&approvers(&["alice"], &[])),
        None,
        "svc",
        "approve",
        None,
        &many,
    );
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
    let refused = decide(&only(&leads), Some("jane"), "svc", "approve", None, &own);
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
    let outcome = decide(&only(&leads), Some("jane"), "svc", "approve", None, &listed);
    assert!(
        matches!(&outcome.verdict, Verdict::Approved(d) if d.approver == "bob"),
        "{outcome:?}"
    );
    let allowed = ApprovalInput {
        approvers: leads.clone(),
        allow_self_approval: true,
    };
    let outcome = decide(&allowed, Some("jane"), "svc", "approve", None, &own);
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
        None,
        &own,
    );
    assert_eq!(outsider.verdict, Verdict::Waiting);
    // A request without a recorded requester has no one to refuse.
    let unknown = decide(&only(&leads), None, "svc", "approve", None, &own);
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
        None,
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
        None,
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
        &decide(&only(&leads), None, "svc", "approve", None, &spam),
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
        waiting.message.ends_with(
            "; 15 more do not count; only the first 500 approvals of the step were read, so none of \
                 them decides it (which came first cannot be told): delete those that do not count"
        ),
        "{waiting}"
    );
}

#[test]
fn a_decision_found_in_a_partial_read_of_the_approvals_decides_nothing() {
    // Past the first page an earlier rejection (or approval) may be unread:
    // neither decision read so far is known to be the first.
    let leads = approvers(&["alice"], &[]);
    for decision in [Decision::Approve, Decision::Reject] {
        let decided = decide(
            &only(&leads),
            None,
            "svc",
            "approve",
            None,
            &[approval("yes", "approve", decision, Some(("alice", &[])), 1)],
        );
        assert!(!matches!(decided.verdict, Verdict::Waiting));
        let partial = answer(&leads, &decided, true).unwrap_err();
        assert!(partial.waiting, "{partial}");
        assert!(partial.message.contains("none of them decides it"), "{partial}");
        assert!(answer(&leads, &decided, false).is_ok() == (decision == Decision::Approve));
    }
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

/// The time `second` seconds (and `millis`) after the tests' epoch.
fn at(second: i64, millis: i64) -> Timestamp {
    Timestamp::from_millisecond((1_700_000_000 + second) * 1000 + millis).unwrap()
}

#[test]
fn an_approval_made_before_the_request_was_created_does_not_count() {
    // Request svc was deleted and created again at second 100; alice's
    // approval of the old one, made at second 40, does not decide it.
    let leads = approvers(&["alice"], &[]);
    let since = counts_from(Some(at(100, 0)), Some(at(101, 300)));
    let old = approval(
        "last-month",
        "approve",
        Decision::Approve,
        Some(("alice", &[])),
        40,
    );
    let outcome = decide(
        &only(&leads),
        None,
        "svc",
        "approve",
        since,
        std::slice::from_ref(&old),
    );
    assert_eq!(outcome.verdict, Verdict::Waiting);
    assert_eq!(outcome.ignored_total, 1);
    assert_eq!(
        outcome.ignored[0].message(),
        "ScaffoldApproval last-month by alice does not count: it was made at 2023-11-14T22:14:00Z, \
         before step approve began waiting at 2023-11-14T22:15:00Z"
    );
    // Made in the second the request was created: it is the new request's.
    let new = approval("today", "approve", Decision::Approve, Some(("alice", &[])), 100);
    let outcome = decide(&only(&leads), None, "svc", "approve", since, &[old, new]);
    assert!(
        matches!(&outcome.verdict, Verdict::Approved(d) if d.approval == "today"),
        "{outcome:?}"
    );
    assert_eq!(outcome.ignored_total, 1);
}

#[test]
fn a_rejection_of_an_earlier_attempt_does_not_decide_a_retried_step() {
    // The step began at second 10 and alice rejected it at second 20; a
    // retry resumed it at second 300.
    let leads = approvers(&["alice"], &[]);
    let rejected = approval("no", "approve", Decision::Reject, Some(("alice", &[])), 20);
    let first_attempt = counts_from(Some(at(0, 0)), Some(at(10, 0)));
    let outcome = decide(
        &only(&leads),
        None,
        "svc",
        "approve",
        first_attempt,
        std::slice::from_ref(&rejected),
    );
    assert!(matches!(outcome.verdict, Verdict::Rejected(_)), "{outcome:?}");

    let retried = counts_from(Some(at(0, 0)), Some(at(300, 0)));
    let outcome = decide(
        &only(&leads),
        None,
        "svc",
        "approve",
        retried,
        std::slice::from_ref(&rejected),
    );
    assert_eq!(outcome.verdict, Verdict::Waiting);
    let waiting = answer(&leads, &outcome, false).unwrap_err().to_string();
    assert!(
        waiting.contains(
            "ScaffoldApproval no by alice does not count: it was made at 2023-11-14T22:13:40Z, before \
             step approve began waiting at 2023-11-14T22:18:18Z"
        ),
        "{waiting}"
    );
    let approved = approval("yes", "approve", Decision::Approve, Some(("alice", &[])), 301);
    let outcome = decide(
        &only(&leads),
        None,
        "svc",
        "approve",
        retried,
        &[rejected, approved],
    );
    assert!(
        matches!(&outcome.verdict, Verdict::Approved(d) if d.approval == "yes"),
        "{outcome:?}"
    );
}

#[test]
fn approvals_count_from_the_whole_second_the_attempt_began_less_the_clock_allowance() {
    // The operator's clock read 50.9 s when the step began; the API server's
    // may be up to CLOCK_SKEW behind, so an approval it stamps 48 s was
    // made after the step began.
    assert_eq!(CLOCK_SKEW, Duration::from_secs(2));
    let since = counts_from(Some(at(0, 0)), Some(at(50, 900)));
    assert_eq!(since, Some(at(48, 0)));
    let leads = approvers(&["alice"], &[]);
    let by = |second| approval("a", "approve", Decision::Approve, Some(("alice", &[])), second);
    for (second, counts) in [(47, false), (48, true), (50, true), (51, true)] {
        let outcome = decide(&only(&leads), None, "svc", "approve", since, &[by(second)]);
        assert_eq!(
            matches!(outcome.verdict, Verdict::Approved(_)),
            counts,
            "made at second {second}: {outcome:?}"
        );
    }
    // The request's creation is the API server's clock: exact, to the
    // second, and the later bound wins.
    assert_eq!(counts_from(Some(at(60, 700)), Some(at(61, 0))), Some(at(60, 0)));
    assert_eq!(counts_from(Some(at(60, 0)), Some(at(90, 500))), Some(at(88, 0)));
    assert_eq!(counts_from(None, None), None);
    // No bound known: every approval counts; a bound and an approval
    // without a creation time: it does not.
    let mut undated = by(0);
    undated.metadata.creation_timestamp = None;
    let outcome = decide(&only(&leads), None, "svc", "approve", None, &[undated.clone()]);
    assert!(matches!(outcome.verdict, Verdict::Approved(_)));
    let outcome = decide(&only(&leads), None, "svc", "approve", since, &[undated]);
    assert_eq!(outcome.verdict, Verdict::Waiting);
    assert!(
        outcome.ignored[0].why.contains("it has no creation time"),
        "{outcome:?}"
    );
}

#[test]
fn stale_approvals_are_named_up_to_the_bound_and_counted_with_the_rest() {
    let leads = approvers(&["alice"], &[]);
    let since = counts_from(Some(at(100, 0)), None);
    let mut listed: Vec<ScaffoldApproval> = (0..8)
        .map(|i| {
            approval(
                &format!("old-{i}"),
                "approve",
                Decision::Reject,
                Some(("alice", &[])),
                50,
            )
        })
        .collect();
    listed.extend((0..8).map(|i| {
        approval(
            &format!("spam-{i}"),
            "approve",
            Decision::Approve,
            Some(("eve", &[])),
            150,
        )
    }));
    let outcome = decide(&only(&leads), None, "svc", "approve", since, &listed);
    assert_eq!(outcome.verdict, Verdict::Waiting);
    assert_eq!(outcome.ignored_total, 16);
    assert_eq!(outcome.ignored.len(), MAX_IGNORED_NAMED);
    let waiting = answer(&leads, &outcome, false).unwrap_err().to_string();
    assert!(
        waiting.contains("ScaffoldApproval old-0 by alice does not count: it was made at"),
        "{waiting}"
    );
    assert!(waiting.ends_with("; 6 more do not count"), "{waiting}");
}
