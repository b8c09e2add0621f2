//! ScaffoldApprovals against the real API server and the chart's admission
//! policies: who may make one is Kubernetes RBAC (the Role README's
//! Approvals section gives a team's approvers), who made it is what the
//! API server recorded, never what the object claims, and no one changes
//! it afterwards. A `wait:approval` step goes on for one of its approvers
//! only, and fails on their rejection; approvals made before its request
//! was created, or before a retry, do not count.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Namespace, Operator, cluster, wait_for};
use crate::scaffold::{apply, condition, events_of, get, phase, wait_condition, wait_phase};

/// The Role README's Approvals section tells a team to give its approvers,
/// bound to `group` in `namespace`.
fn grant_approvers(namespace: &str, group: &str) {
    let rbac = format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\n\
         metadata: {{name: scaffold-approvers, namespace: {namespace}}}\n\
         rules:\n  - apiGroups: [goldpath.dev]\n    resources: [scaffoldapprovals]\n    verbs: [get, list, watch, create]\n\
         \x20 - apiGroups: [goldpath.dev]\n    resources: [scaffoldrequests]\n    verbs: [get, list, watch]\n\
         ---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n\
         metadata: {{name: scaffold-approvers, namespace: {namespace}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: scaffold-approvers}}\n\
         subjects: [{{apiGroup: rbac.authorization.k8s.io, kind: Group, name: {group}}}]\n"
    );
    let applied = cluster().kubectl(&["apply", "-f", "-"], Some(&rbac));
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
}

/// kubectl as `user` in `group`.
fn kubectl_as(user: &str, group: &str, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut all = vec!["--as", user, "--as-group", group];
    all.extend_from_slice(args);
    cluster().kubectl(&all, stdin)
}

/// An approval of step `approve` of request `svc`, claiming `claimed` as its approver.
fn approval(name: &str, decision: &str, claimed: &str) -> String {
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldApproval\nmetadata: {{name: {name}}}\n\
         spec:\n  requestName: svc\n  stepId: approve\n  decision: {decision}\n  reason: looks right\n{claimed}"
    )
}

#[test]
fn an_approval_records_who_made_it_needs_rbac_and_cannot_change() {
    let namespace = Namespace::new("approvals");
    let ns = namespace.name.as_str();
    let leads = format!("{ns}-leads");
    grant_approvers(ns, &leads);
    // A developer with edit (goldpath's kinds through the aggregated roles)
    // is not an approver: edit does not include approvals.
    namespace.grant_edit("dev");

    let refused = kubectl_as(
        "dev",
        "developers",
        &["create", "-n", ns, "-f", "-"],
        Some(&approval("by-dev", "Approve", "")),
    );
    assert!(
        !refused.status.success(),
        "a user without RBAC on scaffoldapprovals made one"
    );
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("forbidden") && error.contains("scaffoldapprovals"),
        "{error}"
    );

    // An approver claiming to be someone else, in system:masters: the API
    // server records who they are.
    let forged = "  approver: {username: the-cto, uid: \"0\", groups: [system:masters]}\n";
    let created = kubectl_as(
        "lee",
        &leads,
        &["create", "-n", ns, "-o", "json", "-f", "-"],
        Some(&approval("by-lee", "Approve", forged)),
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stored: Value = serde_json::from_str(&cluster().kubectl_ok(&[
        "get",
        "scaffoldapproval",
        "by-lee",
        "-n",
        ns,
        "-o",
        "json",
    ]))
    .unwrap();
    let approver = &stored["spec"]["approver"];
    assert_eq!(approver["username"], "lee", "{stored:#}");
    let groups: Vec<&str> = approver["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(groups.contains(&leads.as_str()), "{groups:?}");
    assert!(!groups.contains(&"system:masters"), "{groups:?}");
    assert_ne!(approver["uid"], "0", "{stored:#}");

    // Nobody changes the decision or the approver afterwards. The
    // approvers' Role has no `patch`, so the API server's RBAC refuses the
    // approver; a cluster admin, whom RBAC lets do anything, is refused by
    // the policy.
    for patch in [
        r#"{"spec":{"decision":"Reject"}}"#,
        r#"{"spec":{"approver":{"username":"the-cto"}}}"#,
    ] {
        let args = [
            "patch",
            "scaffoldapproval",
            "by-lee",
            "-n",
            ns,
            "--type=merge",
            "-p",
            patch,
        ];
        let by_approver = kubectl_as("lee", &leads, &args, None);
        assert!(
            !by_approver.status.success(),
            "{patch} as the approver was allowed"
        );
        let error = String::from_utf8_lossy(&by_approver.stderr);
        assert!(
            error.contains("cannot patch resource \"scaffoldapprovals\""),
            "{error}"
        );
    }
    for patch in [
        r#"{"spec":{"decision":"Reject"}}"#,
        r#"{"spec":{"approver":{"username":"the-cto"}}}"#,
        r#"{"spec":{"reason":"something else"}}"#,
    ] {
        let args = [
            "patch",
            "scaffoldapproval",
            "by-lee",
            "-n",
            ns,
            "--type=merge",
            "-p",
            patch,
        ];
        let by_admin = cluster().kubectl(&args, None);
        assert!(
            !by_admin.status.success(),
            "{patch} as a cluster admin was allowed"
        );
        let error = String::from_utf8_lossy(&by_admin.stderr);
        assert!(
            error.contains("goldpath-approval-immutable")
                && error.contains("ScaffoldApproval's spec")
                && error.contains("cannot be changed"),
            "{patch}: {error}"
        );
    }
    // Metadata stays writable (labels, finalizers of other tools).
    cluster().kubectl_ok(&["label", "scaffoldapproval", "by-lee", "-n", ns, "reviewed=yes"]);
    let after: Value = serde_json::from_str(&cluster().kubectl_ok(&[
        "get",
        "scaffoldapproval",
        "by-lee",
        "-n",
        ns,
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(after["spec"], stored["spec"]);
}

/// A Template whose step `approve` waits for an approval by `approvers`
/// (YAML), then logs who approved.
fn gated_template(name: &str, approvers: &str) -> String {
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: {name}}}\n\
         spec:\n  type: service\n  steps:\n\
         \x20   - id: approve\n      action: wait:approval\n      input: {{approvers: {approvers}}}\n\
         \x20   - id: after\n      action: debug:log\n\
         \x20     input: {{message: \"approved by ${{{{ steps.approve.output.approver }}}}\"}}\n\
         \x20 source: {{inline: {{}}}}\n"
    )
}

/// An approval named `name` of step `approve` of request `request`.
fn decision(name: &str, request: &str, decision: &str, reason: &str) -> String {
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldApproval\nmetadata: {{name: {name}}}\n\
         spec:\n  requestName: {request}\n  stepId: approve\n  decision: {decision}\n  reason: \"{reason}\"\n"
    )
}

/// Makes `yaml` in `namespace` as `user` in `group`.
fn create_as(namespace: &str, user: &str, group: &str, yaml: &str) {
    let made = kubectl_as(user, group, &["create", "-n", namespace, "-f", "-"], Some(yaml));
    assert!(
        made.status.success(),
        "{user} creating:\n{yaml}\n{}",
        String::from_utf8_lossy(&made.stderr)
    );
}

/// Waits, at most `limit`, until step `approve` of `request` has a message
/// containing `what`; returns the request.
fn approve_step_says(namespace: &Namespace, request: &str, what: &str, limit: Duration) -> Value {
    wait_for(&format!("{request}'s step to say {what:?}"), limit, || {
        let object = get(namespace, &format!("scaffoldrequest/{request}"));
        let message = object["status"]["steps"][0]["message"].as_str()?;
        message.contains(what).then_some(object)
    })
}

/// How many StepSucceeded Events of `request` name step `id`.
fn succeeded(namespace: &Namespace, request: &str, id: &str) -> usize {
    events_of(namespace, &format!("scaffoldrequest/{request}"), "StepSucceeded")
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("step {id} "))
        })
        .count()
}

#[test]
fn a_wait_approval_step_goes_on_for_an_approver_only_and_survives_a_sigkill() {
    let namespace = Namespace::new("approvalstep");
    let ns = namespace.name.clone();
    let mut operator = Operator::start(&namespace);
    // Every one of them may create approvals (RBAC); only alice and jane
    // are the step's approvers, and jane made the requests.
    let leads = format!("{ns}-leads");
    grant_approvers(&ns, &leads);
    namespace.grant_edit("jane");
    apply(&namespace, &gated_template("gated", "{users: [alice, jane]}"));
    wait_condition(
        &namespace,
        "template/gated",
        "Ready",
        "Valid",
        Duration::from_secs(30),
    );
    // An approval of an earlier request named ship, made before this one
    // was created (in an earlier second: timestamps are whole seconds),
    // never decides it.
    create_as(
        &ns,
        "alice",
        &leads,
        &decision("ship-earlier", "ship", "Approve", "the old ship"),
    );
    std::thread::sleep(Duration::from_millis(1100));
    for name in ["ship", "stop"] {
        create_as(
            &ns,
            "jane",
            "developers",
            &format!(
                "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: {name}}}\n\
                 spec:\n  templateRef: {{name: gated}}\n"
            ),
        );
    }
    let waiting = approve_step_says(
        &namespace,
        "ship",
        "step approve (wait:approval) waits for a ScaffoldApproval by users alice, jane",
        Duration::from_secs(60),
    );
    assert_eq!(phase(&waiting), "Running", "{waiting:#}");
    let earlier = approve_step_says(
        &namespace,
        "ship",
        "ScaffoldApproval ship-earlier by alice does not count: it was made at",
        Duration::from_secs(60),
    );
    assert!(
        earlier["status"]["steps"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("before step approve began waiting at"),
        "{earlier:#}"
    );
    let (status, reason, _) = condition(&waiting, "Reconciling").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Waiting"));
    let deadline = waiting["status"]["steps"][0]["waitUntil"].clone();
    assert!(deadline.is_string(), "{waiting:#}");

    // A step that waits looks again every 30 s; an approval wakes its
    // request at once, so these answers come well within that.
    let soon = Duration::from_secs(25);
    create_as(
        &ns,
        "mallory",
        &leads,
        &decision("by-mallory", "ship", "Approve", "fine by me"),
    );
    let ignored = approve_step_says(
        &namespace,
        "ship",
        "ScaffoldApproval by-mallory by mallory does not count: step approve is approved only by users alice, jane",
        soon,
    );
    assert_eq!(phase(&ignored), "Running", "{ignored:#}");
    create_as(
        &ns,
        "jane",
        &leads,
        &decision("by-jane", "ship", "Approve", "my own"),
    );
    let own = approve_step_says(
        &namespace,
        "ship",
        "ScaffoldApproval by-jane by jane does not count: jane made request ship, and step approve does \
         not allow self-approval",
        soon,
    );
    assert_eq!(phase(&own), "Running", "{own:#}");
    assert_eq!(own["status"]["steps"][1]["phase"], "Pending");

    // Killed while both wait; alice decides while no operator runs. The
    // restarted operator goes on from the record: same deadline, the wait
    // announced once, each step run once.
    operator.kill();
    create_as(
        &ns,
        "alice",
        &leads,
        &(decision("ship-by-alice", "ship", "Approve", "checked by alice")
            + "  approver: {username: the-cto}\n"),
    );
    create_as(
        &ns,
        "alice",
        &leads,
        &decision("stop-by-alice", "stop", "Reject", "not this quarter"),
    );
    operator.restart();

    let shipped = wait_phase(
        &namespace,
        "scaffoldrequest/ship",
        "Succeeded",
        Duration::from_secs(60),
    );
    let approve = &shipped["status"]["steps"][0];
    assert_eq!(approve["output"]["approver"], "alice", "{shipped:#}");
    assert_eq!(approve["output"]["approval"], "ship-by-alice");
    assert_eq!(approve["output"]["reason"], "checked by alice");
    assert_eq!(
        approve["message"],
        "approved by alice (ScaffoldApproval ship-by-alice): checked by alice"
    );
    assert_eq!(approve["waitUntil"], deadline);
    assert_eq!(
        shipped["status"]["steps"][1]["message"], "approved by alice",
        "the next step read the approver: {shipped:#}"
    );
    assert_eq!(
        events_of(&namespace, "scaffoldrequest/ship", "StepWaiting").len(),
        1,
        "the wait is announced once"
    );
    assert_eq!(succeeded(&namespace, "ship", "approve"), 1);
    assert_eq!(succeeded(&namespace, "ship", "after"), 1);

    let stopped = wait_phase(
        &namespace,
        "scaffoldrequest/stop",
        "Failed",
        Duration::from_secs(60),
    );
    let message = stopped["status"]["steps"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("rejected by alice (ScaffoldApproval stop-by-alice): not this quarter"),
        "{stopped:#}"
    );
    let (status, reason, stalled) = condition(&stopped, "Stalled").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "StepFailed"));
    assert!(stalled.contains("rejected by alice"), "{stalled}");
    assert_eq!(
        stopped["status"]["steps"][1]["phase"], "Pending",
        "nothing after the rejected step ran"
    );

    // A retry is a new attempt: the rejection that failed the last one
    // does not fail it again. (A retry asked within the operator's clock
    // allowance, 2 s, of the rejection could be; a person takes longer.)
    std::thread::sleep(Duration::from_secs(3));
    cluster().kubectl_ok(&[
        "patch",
        "-n",
        &ns,
        "scaffoldrequest/stop",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"retry":1}}"#,
    ]);
    let retried = approve_step_says(
        &namespace,
        "stop",
        "ScaffoldApproval stop-by-alice by alice does not count: it was made at",
        Duration::from_secs(60),
    );
    assert_eq!(phase(&retried), "Running", "{retried:#}");
    assert!(
        retried["status"]["steps"][0]["resumedAt"].is_string(),
        "{retried:#}"
    );
    create_as(
        &ns,
        "alice",
        &leads,
        &decision("stop-approved", "stop", "Approve", "next quarter now"),
    );
    let approved = wait_phase(
        &namespace,
        "scaffoldrequest/stop",
        "Succeeded",
        Duration::from_secs(60),
    );
    assert_eq!(
        approved["status"]["steps"][0]["output"]["approval"], "stop-approved",
        "{approved:#}"
    );
}

/// The most approvals a step reads at one look (`approval::MAX_READ`).
const MAX_READ: usize = 500;

/// The operator's address space in the bound test (`ulimit -v`, KiB).
const MEMORY_LIMIT_KB: u64 = 2 << 20;

#[test]
fn a_step_reads_at_most_500_approvals_a_look_and_names_at_most_10_that_do_not_count() {
    let namespace = Namespace::new("approvalspam");
    let ns = namespace.name.clone();
    let operator = Operator::start_as(
        &namespace,
        namespace.chart_identity(),
        "",
        &[],
        Some(MEMORY_LIMIT_KB),
    );
    let leads = format!("{ns}-leads");
    grant_approvers(&ns, &leads);
    apply(&namespace, &gated_template("gated", "{users: [alice]}"));
    wait_condition(
        &namespace,
        "template/gated",
        "Ready",
        "Valid",
        Duration::from_secs(30),
    );
    apply(
        &namespace,
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {name: svc}\n\
         spec:\n  templateRef: {name: gated}\n",
    );
    approve_step_says(
        &namespace,
        "svc",
        "waits for a ScaffoldApproval by users alice",
        Duration::from_secs(60),
    );
    // One more approval than a look reads, none by an approver.
    let spam: Vec<String> = (0..=MAX_READ)
        .map(|i| decision(&format!("spam-{i:03}"), "svc", "Approve", "spam"))
        .collect();
    create_as(&ns, "mallory", &leads, &spam.join("---\n"));
    let spammed = approve_step_says(
        &namespace,
        "svc",
        "only the first 500 approvals of the step were read",
        Duration::from_secs(120),
    );
    assert_eq!(phase(&spammed), "Running", "{spammed:#}");
    let message = spammed["status"]["steps"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(message.matches("does not count:").count(), 10, "{message}");
    assert!(
        message.contains("ScaffoldApproval spam-000 by mallory does not count")
            && message.contains("; 490 more do not count;"),
        "{message}"
    );
    let (rss, peak) = operator.peak_memory_kb();
    println!(
        "operator under ulimit -v {MEMORY_LIMIT_KB} KiB with {} approvals of one step: peak RSS {} MiB, \
         peak address space {} MiB",
        MAX_READ + 1,
        rss / 1024,
        peak / 1024
    );
    assert!(rss < 256 * 1024, "peak RSS {rss} KiB");
}
