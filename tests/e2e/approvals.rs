//! ScaffoldApprovals against the real API server and the chart's admission
//! policies: who may make one is Kubernetes RBAC (the Role README's
//! Approvals section gives a team's approvers), who made it is what the
//! API server recorded, never what the object claims, and no one changes
//! it afterwards.

use serde_json::Value;

use crate::harness::{Namespace, cluster};

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
