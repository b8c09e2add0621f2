//! Normalizing the objects that roll up into an entity, read as JSON the way
//! their controllers write them: Argo CD Applications, ACK resources and
//! KubeVela Applications.
//!
//! Decisions where the rule in DESIGN.md is open:
//! - Argo CD: an Application without status (or with only part of it) has
//!   not been reconciled yet and is `InProgress`; health `Unknown`, sync
//!   `Unknown` or a value this code does not know is `Unknown`. Health
//!   `Suspended` (a paused rollout, a suspended CronJob: waiting for someone
//!   or something to resume it) is `InProgress`, so one that stays suspended
//!   past the deadline stalls the entity and someone looks. Precedence is the
//!   aggregate's: Failed, then Unknown, then InProgress, then Current.
//! - ACK: when a `Ready` condition exists it decides; only without one does
//!   `ACK.ResourceSynced` stand in for it.
//! - KubeVela: `running` with no services is `Current` (nothing is
//!   unhealthy); a trait that is not healthy makes its service unhealthy.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Normalized;
use crate::api::SourceHealth;

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn items<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn has_status(object: &Value) -> bool {
    object
        .get("status")
        .and_then(Value::as_object)
        .is_some_and(|status| !status.is_empty())
}

/// The first cause names the reason; the message lists every cause.
fn from_causes(
    status: SourceHealth,
    causes: Vec<(String, String)>,
    details: BTreeMap<String, String>,
) -> Normalized {
    let reason = causes
        .first()
        .map(|(reason, _)| reason.as_str())
        .unwrap_or("Unknown");
    let message: Vec<&str> = causes
        .iter()
        .map(|(_, message)| message.as_str())
        .filter(|m| !m.is_empty())
        .collect();
    Normalized {
        details,
        ..Normalized::new(status, reason, message.join("; "))
    }
}

fn cause(reason: &str, message: impl Into<String>) -> (String, String) {
    (reason.to_string(), message.into())
}

fn with_detail(what: &str, detail: Option<&str>) -> String {
    match detail {
        Some(detail) => format!("{what}: {detail}"),
        None => what.to_string(),
    }
}

const ARGO_HEALTH: [&str; 6] = [
    "Healthy",
    "Progressing",
    "Degraded",
    "Suspended",
    "Missing",
    "Unknown",
];
const ARGO_SYNC: [&str; 3] = ["Synced", "OutOfSync", "Unknown"];

/// Normalizes an Argo CD `argoproj.io/v1alpha1` Application:
/// - `Failed`: a condition whose type ends in `Error` (`ComparisonError`,
///   `SyncError`, `InvalidSpecError`, ...), the last operation `Failed` or
///   `Error`, or health `Degraded`;
/// - `Unknown`: health or sync `Unknown`, or a value Argo CD does not define;
/// - `InProgress`: no status yet, an operation `Running` or `Terminating`,
///   `OutOfSync`, health `Progressing`, `Missing` or `Suspended`;
/// - `Current`: `Synced` and `Healthy`.
///
/// Details: `sync`, `health`, `revision` (`status.sync.revision`, or the
/// multi-source `revisions` joined by `,`), `operation` when present.
pub fn argocd(application: &Value) -> Normalized {
    let health = text(application, "/status/health/status");
    let health_message = text(application, "/status/health/message");
    let sync = text(application, "/status/sync/status");
    let revision = text(application, "/status/sync/revision")
        .map(str::to_string)
        .or_else(|| {
            let revisions: Vec<&str> = items(application, "/status/sync/revisions")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            (!revisions.is_empty()).then(|| revisions.join(","))
        });
    let operation = text(application, "/status/operationState/phase");
    let operation_message = text(application, "/status/operationState/message");

    let mut details = BTreeMap::new();
    for (key, value) in [
        ("sync", sync.map(str::to_string)),
        ("health", health.map(str::to_string)),
        ("revision", revision.clone()),
        ("operation", operation.map(str::to_string)),
    ] {
        if let Some(value) = value {
            details.insert(key.to_string(), value);
        }
    }

    let mut failures = Vec::new();
    for condition in items(application, "/status/conditions") {
        if let Some(kind) = text(condition, "/type").filter(|t| t.ends_with("Error")) {
            failures.push(cause(kind, with_detail(kind, text(condition, "/message"))));
        }
    }
    match operation {
        Some("Failed") => failures.push(cause(
            "OperationFailed",
            with_detail("sync operation failed", operation_message),
        )),
        Some("Error") => failures.push(cause(
            "OperationError",
            with_detail("sync operation errored", operation_message),
        )),
        _ => {}
    }
    if health == Some("Degraded") {
        failures.push(cause("Degraded", with_detail("health Degraded", health_message)));
    }
    if !failures.is_empty() {
        return from_causes(SourceHealth::Failed, failures, details);
    }

    if !has_status(application) {
        return Normalized {
            details,
            ..Normalized::new(
                SourceHealth::InProgress,
                "NotReconciled",
                "Argo CD has not reported a status for this Application yet",
            )
        };
    }

    let mut unknown = Vec::new();
    if let Some(health) = health.filter(|h| *h == "Unknown" || !ARGO_HEALTH.contains(h)) {
        unknown.push(cause(
            "HealthUnknown",
            with_detail(&format!("health {health}"), health_message),
        ));
    }
    if let Some(sync) = sync.filter(|s| *s == "Unknown" || !ARGO_SYNC.contains(s)) {
        unknown.push(cause("SyncUnknown", format!("sync status {sync}")));
    }
    if !unknown.is_empty() {
        return from_causes(SourceHealth::Unknown, unknown, details);
    }

    let mut progress = Vec::new();
    match operation {
        Some("Running") => progress.push(cause(
            "Syncing",
            with_detail("sync operation running", operation_message),
        )),
        Some("Terminating") => progress.push(cause(
            "OperationTerminating",
            with_detail("sync operation terminating", operation_message),
        )),
        _ => {}
    }
    match sync {
        None => progress.push(cause(
            "NotReconciled",
            "Argo CD has not compared the Application yet",
        )),
        Some("OutOfSync") => progress.push(cause(
            "OutOfSync",
            match &revision {
                Some(revision) => format!("out of sync with revision {revision}"),
                None => "out of sync".to_string(),
            },
        )),
        _ => {}
    }
    match health {
        None => progress.push(cause(
            "NotReconciled",
            "Argo CD has not assessed the Application's health yet",
        )),
        Some("Progressing") => progress.push(cause(
            "Progressing",
            with_detail("health Progressing", health_message),
        )),
        Some("Missing") => progress.push(cause(
            "Missing",
            with_detail("health Missing: resources do not exist yet", health_message),
        )),
        Some("Suspended") => progress.push(cause(
            "Suspended",
            with_detail(
                "health Suspended: waiting for something to resume it",
                health_message,
            ),
        )),
        _ => {}
    }
    if !progress.is_empty() {
        return from_causes(SourceHealth::InProgress, progress, details);
    }

    let message = match &revision {
        Some(revision) => format!("synced to revision {revision}, healthy"),
        None => "synced, healthy".to_string(),
    };
    Normalized {
        details,
        ..Normalized::new(SourceHealth::Current, "Healthy", message)
    }
}

fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    items(object, "/status/conditions")
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

fn is_true(condition: Option<&Value>) -> bool {
    condition.and_then(|c| text(c, "/status")) == Some("True")
}

fn from_condition(status: SourceHealth, condition: &Value, reason: &str, message: &str) -> Normalized {
    Normalized::new(
        status,
        text(condition, "/reason").unwrap_or(reason),
        text(condition, "/message").unwrap_or(message),
    )
}

/// Normalizes any ACK resource (`*.services.k8s.aws`):
/// - `Failed`: `ACK.Terminal` is `True` (ACK will not retry until the spec
///   changes);
/// - `Current`: `Ready` is `True`, or, on runtimes that do not set `Ready`,
///   `ACK.ResourceSynced` is `True`;
/// - `InProgress`: otherwise, with `ACK.Recoverable`'s reason and message
///   when it is `True`.
///
/// Details: `arn` (`status.ackResourceMetadata.arn`), `region`, `synced`
/// (`ACK.ResourceSynced`'s status) and `ready` (`Ready`'s), when present.
pub fn ack(resource: &Value) -> Normalized {
    let terminal = condition(resource, "ACK.Terminal");
    let recoverable = condition(resource, "ACK.Recoverable");
    let synced = condition(resource, "ACK.ResourceSynced");
    let ready = condition(resource, "Ready");

    let mut details = BTreeMap::new();
    for (key, value) in [
        ("arn", text(resource, "/status/ackResourceMetadata/arn")),
        ("region", text(resource, "/status/ackResourceMetadata/region")),
        ("synced", synced.and_then(|c| text(c, "/status"))),
        ("ready", ready.and_then(|c| text(c, "/status"))),
    ] {
        if let Some(value) = value {
            details.insert(key.to_string(), value.to_string());
        }
    }
    let normalized = if let Some(terminal) = terminal.filter(|c| is_true(Some(c))) {
        from_condition(
            SourceHealth::Failed,
            terminal,
            "Terminal",
            "ACK cannot reconcile the resource until its spec changes",
        )
    } else if let Some(ready) = ready.filter(|c| is_true(Some(c))) {
        from_condition(SourceHealth::Current, ready, "Ready", "")
    } else if let Some(synced) = synced.filter(|c| ready.is_none() && is_true(Some(c))) {
        from_condition(SourceHealth::Current, synced, "ResourceSynced", "")
    } else if let Some(recoverable) = recoverable.filter(|c| is_true(Some(c))) {
        from_condition(
            SourceHealth::InProgress,
            recoverable,
            "Recoverable",
            "ACK hit a recoverable error and retries",
        )
    } else if let Some(pending) = ready.or(synced) {
        from_condition(
            SourceHealth::InProgress,
            pending,
            "NotSynced",
            "the resource is not in sync with AWS yet",
        )
    } else if has_status(resource) {
        Normalized::new(
            SourceHealth::InProgress,
            "NotSynced",
            "the resource is not in sync with AWS yet",
        )
    } else {
        Normalized::new(
            SourceHealth::InProgress,
            "NotReconciled",
            "the ACK controller has not reported a status for this resource yet",
        )
    };
    Normalized {
        details,
        ..normalized
    }
}

/// What is not healthy among a KubeVela Application's services and their
/// traits, one entry per service or trait.
fn unhealthy_services(application: &Value) -> Vec<String> {
    let healthy = |v: &Value| v.get("healthy").and_then(Value::as_bool) == Some(true);
    let mut found = Vec::new();
    for service in items(application, "/status/services") {
        let mut name = format!("service {}", text(service, "/name").unwrap_or("(unnamed)"));
        let placement: Vec<String> = [("cluster", "/cluster"), ("env", "/env")]
            .into_iter()
            .filter_map(|(label, pointer)| text(service, pointer).map(|v| format!("{label} {v}")))
            .collect();
        if !placement.is_empty() {
            name = format!("{name} ({})", placement.join(", "));
        }
        if !healthy(service) {
            found.push(with_detail(
                &format!("{name} is not healthy"),
                text(service, "/message"),
            ));
        }
        for trait_ in items(service, "/traits") {
            if !healthy(trait_) {
                let kind = text(trait_, "/type").unwrap_or("(untyped)");
                found.push(with_detail(
                    &format!("{name} trait {kind} is not healthy"),
                    text(trait_, "/message"),
                ));
            }
        }
    }
    found
}

/// Why a KubeVela workflow failed: its message, or its failed step's.
fn workflow_failure(application: &Value) -> Option<String> {
    if let Some(message) = text(application, "/status/workflow/message") {
        return Some(message.to_string());
    }
    items(application, "/status/workflow/steps")
        .iter()
        .find(|step| text(step, "/phase") == Some("failed"))
        .map(|step| {
            with_detail(
                &format!("step {} failed", text(step, "/name").unwrap_or("(unnamed)")),
                text(step, "/message"),
            )
        })
}

/// Normalizes a KubeVela `core.oam.dev/v1beta1` Application by its phase
/// (`status.status`):
/// - `Failed`: `workflowFailed`, `workflowTerminated`;
/// - `Current`: `running` with every service (`status.services[]`) and
///   every service's trait healthy;
/// - `InProgress`: `running` with something unhealthy (the message names
///   each service or trait and its message), and every other phase
///   (`starting`, `rendering`, `generatingPolicy`, `runningWorkflow`,
///   `workflowSuspending`, `unhealthy`, `deleting`) or none yet.
///
/// Details: `phase`, `workflow` (`status.workflow.status`), `revision`
/// (`status.latestRevision.name`), when present.
pub fn kubevela(application: &Value) -> Normalized {
    let phase = text(application, "/status/status");
    let mut details = BTreeMap::new();
    for (key, value) in [
        ("phase", phase),
        ("workflow", text(application, "/status/workflow/status")),
        ("revision", text(application, "/status/latestRevision/name")),
    ] {
        if let Some(value) = value {
            details.insert(key.to_string(), value.to_string());
        }
    }
    let unhealthy = unhealthy_services(application);
    let normalized = match phase {
        None => Normalized::new(
            SourceHealth::InProgress,
            "NotReconciled",
            "KubeVela has not reported a status for this Application yet",
        ),
        Some(phase @ ("workflowFailed" | "workflowTerminated")) => {
            let what = if phase == "workflowFailed" {
                "the workflow failed"
            } else {
                "the workflow was terminated"
            };
            Normalized::new(
                SourceHealth::Failed,
                phase,
                with_detail(what, workflow_failure(application).as_deref()),
            )
        }
        Some("running") if unhealthy.is_empty() => {
            Normalized::new(SourceHealth::Current, "Running", "running, every service healthy")
        }
        Some("running") => {
            Normalized::new(SourceHealth::InProgress, "ServiceUnhealthy", unhealthy.join("; "))
        }
        Some(phase) => {
            let message = match phase {
                "workflowSuspending" => with_detail(
                    "the workflow is suspended",
                    text(application, "/status/workflow/message"),
                ),
                _ if !unhealthy.is_empty() => format!("phase {phase}: {}", unhealthy.join("; ")),
                _ => format!("phase {phase}"),
            };
            Normalized::new(SourceHealth::InProgress, phase, message)
        }
    };
    Normalized {
        details,
        ..normalized
    }
}

/// Normalizes any object this module knows, chosen by apiVersion and kind;
/// `None` for others.
pub fn normalize(object: &Value) -> Option<Normalized> {
    let api_version = object.get("apiVersion").and_then(Value::as_str)?;
    let kind = object.get("kind").and_then(Value::as_str)?;
    let group = api_version.split_once('/').map(|(group, _)| group).unwrap_or("");
    match (group, kind) {
        ("argoproj.io", "Application") => Some(argocd(object)),
        ("core.oam.dev", "Application") => Some(kubevela(object)),
        (group, _) if group.ends_with(".services.k8s.aws") => Some(ack(object)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn argo(status: Value) -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": "web", "namespace": "argocd"},
            "status": status,
        })
    }

    fn synced_healthy() -> Value {
        json!({
            "sync": {"status": "Synced", "revision": "abc123"},
            "health": {"status": "Healthy"},
            "operationState": {"phase": "Succeeded", "message": "successfully synced"},
        })
    }

    fn reason(n: &Normalized) -> &str {
        n.reason.as_deref().unwrap_or_default()
    }

    fn message(n: &Normalized) -> &str {
        n.message.as_deref().unwrap_or_default()
    }

    #[test]
    fn argocd_synced_and_healthy_is_current_with_details() {
        let n = argocd(&argo(synced_healthy()));
        assert_eq!(n.status, SourceHealth::Current);
        assert_eq!(reason(&n), "Healthy");
        assert_eq!(message(&n), "synced to revision abc123, healthy");
        assert_eq!(n.details["sync"], "Synced");
        assert_eq!(n.details["health"], "Healthy");
        assert_eq!(n.details["revision"], "abc123");
        assert_eq!(n.details["operation"], "Succeeded");
    }

    #[test]
    fn argocd_degraded_is_failed() {
        let mut status = synced_healthy();
        status["health"] =
            json!({"status": "Degraded", "message": "Deployment web exceeded its progress deadline"});
        let n = argocd(&argo(status));
        assert_eq!(n.status, SourceHealth::Failed);
        assert_eq!(reason(&n), "Degraded");
        assert_eq!(
            message(&n),
            "health Degraded: Deployment web exceeded its progress deadline"
        );
    }

    #[test]
    fn argocd_error_conditions_are_failed_and_named() {
        for kind in ["ComparisonError", "SyncError", "InvalidSpecError"] {
            let mut status = synced_healthy();
            status["conditions"] = json!([
                {"type": "SharedResourceWarning", "message": "not an error"},
                {"type": kind, "message": "repository not found"},
            ]);
            let n = argocd(&argo(status));
            assert_eq!(n.status, SourceHealth::Failed, "{kind}");
            assert_eq!(reason(&n), kind);
            assert_eq!(message(&n), format!("{kind}: repository not found"));
        }
    }

    #[test]
    fn argocd_warning_conditions_do_not_fail() {
        let mut status = synced_healthy();
        status["conditions"] = json!([{"type": "OrphanedResourceWarning", "message": "x"}]);
        assert_eq!(argocd(&argo(status)).status, SourceHealth::Current);
    }

    #[test]
    fn argocd_failed_operations_are_failed() {
        for (phase, expected) in [("Failed", "OperationFailed"), ("Error", "OperationError")] {
            let mut status = synced_healthy();
            status["sync"]["status"] = json!("OutOfSync");
            status["operationState"] =
                json!({"phase": phase, "message": "one or more objects failed to apply"});
            let n = argocd(&argo(status));
            assert_eq!(n.status, SourceHealth::Failed);
            assert_eq!(reason(&n), expected);
            assert!(
                message(&n).ends_with(": one or more objects failed to apply"),
                "{}",
                message(&n)
            );
            assert_eq!(n.details["operation"], phase);
        }
    }

    #[test]
    fn argocd_lists_every_failure_cause() {
        let status = json!({
            "sync": {"status": "Unknown"},
            "health": {"status": "Degraded"},
            "conditions": [{"type": "ComparisonError", "message": "rpc error"}],
        });
        let n = argocd(&argo(status));
        assert_eq!(n.status, SourceHealth::Failed);
        assert_eq!(reason(&n), "ComparisonError");
        assert_eq!(message(&n), "ComparisonError: rpc error; health Degraded");
    }

    #[test]
    fn argocd_progress_states_are_in_progress() {
        let cases = [
            (
                json!({"sync": {"status": "OutOfSync", "revision": "def"}, "health": {"status": "Healthy"}}),
                "OutOfSync",
                "out of sync with revision def",
            ),
            (
                json!({
                    "sync": {"status": "Synced"},
                    "health": {"status": "Progressing", "message": "rolling out"},
                }),
                "Progressing",
                "health Progressing: rolling out",
            ),
            (
                json!({"sync": {"status": "OutOfSync"}, "health": {"status": "Missing"}}),
                "OutOfSync",
                "out of sync; health Missing: resources do not exist yet",
            ),
            (
                json!({
                    "sync": {"status": "Synced"},
                    "health": {"status": "Healthy"},
                    "operationState": {"phase": "Running", "message": "waiting for hook"},
                }),
                "Syncing",
                "sync operation running: waiting for hook",
            ),
            (
                json!({
                    "sync": {"status": "Synced"},
                    "health": {"status": "Healthy"},
                    "operationState": {"phase": "Terminating"},
                }),
                "OperationTerminating",
                "sync operation terminating",
            ),
        ];
        for (status, expected_reason, expected_message) in cases {
            let n = argocd(&argo(status.clone()));
            assert_eq!(n.status, SourceHealth::InProgress, "{status}");
            assert_eq!(reason(&n), expected_reason, "{status}");
            assert_eq!(message(&n), expected_message, "{status}");
        }
    }

    #[test]
    fn argocd_suspended_is_in_progress() {
        let n = argocd(&argo(
            json!({"sync": {"status": "Synced"}, "health": {"status": "Suspended"}}),
        ));
        assert_eq!(n.status, SourceHealth::InProgress);
        assert_eq!(reason(&n), "Suspended");
    }

    #[test]
    fn argocd_without_status_is_not_reconciled_yet() {
        for object in [
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "web"}}),
            argo(json!({})),
            argo(Value::Null),
        ] {
            let n = argocd(&object);
            assert_eq!(n.status, SourceHealth::InProgress);
            assert_eq!(reason(&n), "NotReconciled");
            assert!(n.details.is_empty());
        }
        let partial = argocd(&argo(json!({"sync": {"status": "Synced"}})));
        assert_eq!(partial.status, SourceHealth::InProgress);
        assert_eq!(reason(&partial), "NotReconciled");
    }

    #[test]
    fn argocd_unknown_health_or_sync_is_unknown() {
        let n = argocd(&argo(json!({
            "sync": {"status": "Synced"},
            "health": {"status": "Unknown", "message": "health check errored"},
        })));
        assert_eq!(n.status, SourceHealth::Unknown);
        assert_eq!(reason(&n), "HealthUnknown");
        assert_eq!(message(&n), "health Unknown: health check errored");
        let n = argocd(&argo(
            json!({"sync": {"status": "Unknown"}, "health": {"status": "Healthy"}}),
        ));
        assert_eq!(n.status, SourceHealth::Unknown);
        assert_eq!(reason(&n), "SyncUnknown");
        let n = argocd(&argo(
            json!({"sync": {"status": "Synced"}, "health": {"status": "Sideways"}}),
        ));
        assert_eq!(n.status, SourceHealth::Unknown);
        // Unknown outranks progress, as in the aggregate.
        let n = argocd(&argo(
            json!({"sync": {"status": "OutOfSync"}, "health": {"status": "Unknown"}}),
        ));
        assert_eq!(n.status, SourceHealth::Unknown);
    }

    #[test]
    fn argocd_multi_source_revisions_are_joined() {
        let n = argocd(&argo(json!({
            "sync": {"status": "Synced", "revisions": ["aaa", "bbb"]},
            "health": {"status": "Healthy"},
        })));
        assert_eq!(n.details["revision"], "aaa,bbb");
    }

    #[test]
    fn argocd_long_messages_are_clipped() {
        let mut status = synced_healthy();
        status["conditions"] = json!([{"type": "ComparisonError", "message": "x".repeat(10_000)}]);
        let n = argocd(&argo(status));
        assert!(message(&n).len() <= crate::catalog::rollup::MESSAGE_LIMIT);
    }

    fn bucket(conditions: Value) -> Value {
        json!({
            "apiVersion": "s3.services.k8s.aws/v1alpha1",
            "kind": "Bucket",
            "metadata": {"name": "logs", "namespace": "infra"},
            "status": {
                "ackResourceMetadata": {
                    "arn": "arn:aws:s3:::logs",
                    "ownerAccountID": "1",
                    "region": "eu-west-1",
                },
                "conditions": conditions,
            },
        })
    }

    #[test]
    fn ack_terminal_is_failed() {
        let n = ack(&bucket(json!([
            {"type": "ACK.ResourceSynced", "status": "False"},
            {
                "type": "ACK.Terminal",
                "status": "True",
                "reason": "InvalidParameter",
                "message": "bucket name taken",
            },
        ])));
        assert_eq!(n.status, SourceHealth::Failed);
        assert_eq!(reason(&n), "InvalidParameter");
        assert_eq!(message(&n), "bucket name taken");
        assert_eq!(n.details["arn"], "arn:aws:s3:::logs");
        assert_eq!(n.details["synced"], "False");
        let bare = ack(&bucket(json!([{"type": "ACK.Terminal", "status": "True"}])));
        assert_eq!(reason(&bare), "Terminal");
        let not_terminal = ack(&bucket(json!([{"type": "ACK.Terminal", "status": "False"}])));
        assert_eq!(not_terminal.status, SourceHealth::InProgress);
    }

    #[test]
    fn ack_ready_decides_when_present() {
        let n = ack(&bucket(json!([
            {"type": "Ready", "status": "True", "reason": "Synced"},
            {"type": "ACK.ResourceSynced", "status": "True"},
        ])));
        assert_eq!(n.status, SourceHealth::Current);
        assert_eq!(n.details["ready"], "True");
        let n = ack(&bucket(json!([
            {"type": "Ready", "status": "False", "reason": "Pending", "message": "creating"},
            {"type": "ACK.ResourceSynced", "status": "True"},
        ])));
        assert_eq!(n.status, SourceHealth::InProgress);
        assert_eq!(reason(&n), "Pending");
        assert_eq!(message(&n), "creating");
    }

    #[test]
    fn ack_resource_synced_stands_in_for_ready_on_older_runtimes() {
        let n = ack(&bucket(json!([{"type": "ACK.ResourceSynced", "status": "True"}])));
        assert_eq!(n.status, SourceHealth::Current);
        assert_eq!(reason(&n), "ResourceSynced");
        assert_eq!(n.details["synced"], "True");
        let n = ack(&bucket(
            json!([{"type": "ACK.ResourceSynced", "status": "False", "message": "waiting"}]),
        ));
        assert_eq!(n.status, SourceHealth::InProgress);
        assert_eq!(reason(&n), "NotSynced");
        assert_eq!(message(&n), "waiting");
    }

    #[test]
    fn ack_recoverable_is_in_progress_with_its_reason() {
        let n = ack(&bucket(json!([
            {"type": "ACK.ResourceSynced", "status": "False"},
            {"type": "ACK.Recoverable", "status": "True", "reason": "Throttling", "message": "rate exceeded"},
        ])));
        assert_eq!(n.status, SourceHealth::InProgress);
        assert_eq!(reason(&n), "Throttling");
        assert_eq!(message(&n), "rate exceeded");
    }

    #[test]
    fn ack_without_status_is_not_reconciled_yet() {
        let n = ack(&json!({"apiVersion": "rds.services.k8s.aws/v1alpha1", "kind": "DBInstance"}));
        assert_eq!(n.status, SourceHealth::InProgress);
        assert_eq!(reason(&n), "NotReconciled");
        assert!(n.details.is_empty());
        let n = ack(&bucket(json!([])));
        assert_eq!(reason(&n), "NotSynced");
        assert_eq!(n.details["region"], "eu-west-1");
    }

    fn vela(status: Value) -> Value {
        json!({
            "apiVersion": "core.oam.dev/v1beta1",
            "kind": "Application",
            "metadata": {"name": "shop", "namespace": "apps"},
            "status": status,
        })
    }

    #[test]
    fn kubevela_running_and_healthy_is_current() {
        let n = kubevela(&vela(json!({
            "status": "running",
            "latestRevision": {"name": "shop-v3", "revision": 3},
            "workflow": {"status": "succeeded", "mode": "DAG", "finished": true},
            "services": [
                {"name": "web", "healthy": true, "traits": [{"type": "gateway", "healthy": true}]},
                {"name": "worker", "healthy": true},
            ],
        })));
        assert_eq!(n.status, SourceHealth::Current);
        assert_eq!(reason(&n), "Running");
        assert_eq!(n.details["phase"], "running");
        assert_eq!(n.details["workflow"], "succeeded");
        assert_eq!(n.details["revision"], "shop-v3");
    }

    #[test]
    fn kubevela_running_with_an_unhealthy_service_names_it() {
        let n = kubevela(&vela(json!({
            "status": "running",
            "services": [
                {
                    "name": "web",
                    "healthy": true,
                    "traits": [{"type": "gateway", "healthy": false, "message": "no address yet"}],
                },
                {"name": "worker", "cluster": "edge", "healthy": false, "message": "Ready:0/1"},
            ],
        })));
        assert_eq!(n.status, SourceHealth::InProgress);
        assert_eq!(reason(&n), "ServiceUnhealthy");
        assert_eq!(
            message(&n),
            "service web trait gateway is not healthy: no address yet; \
             service worker (cluster edge) is not healthy: Ready:0/1"
        );
    }

    #[test]
    fn kubevela_workflow_failures_are_failed() {
        let n = kubevela(&vela(json!({
            "status": "workflowFailed",
            "workflow": {"status": "failed", "steps": [
                {"name": "deploy", "phase": "succeeded"},
                {"name": "notify", "phase": "failed", "message": "webhook returned 500"},
            ]},
        })));
        assert_eq!(n.status, SourceHealth::Failed);
        assert_eq!(reason(&n), "WorkflowFailed");
        assert_eq!(
            message(&n),
            "the workflow failed: step notify failed: webhook returned 500"
        );

        let n = kubevela(&vela(json!({
            "status": "workflowTerminated",
            "workflow": {"status": "terminated", "message": "terminated by user"},
        })));
        assert_eq!(n.status, SourceHealth::Failed);
        assert_eq!(reason(&n), "WorkflowTerminated");
        assert_eq!(message(&n), "the workflow was terminated: terminated by user");
    }

    #[test]
    fn kubevela_other_phases_are_in_progress() {
        for phase in [
            "starting",
            "rendering",
            "generatingPolicy",
            "runningWorkflow",
            "workflowSuspending",
            "unhealthy",
            "deleting",
        ] {
            let n = kubevela(&vela(json!({"status": phase})));
            assert_eq!(n.status, SourceHealth::InProgress, "{phase}");
            let expected = format!("{}{}", phase[..1].to_uppercase(), &phase[1..]);
            assert_eq!(reason(&n), expected);
        }
        let n = kubevela(&vela(json!({
            "status": "unhealthy",
            "services": [{"name": "web", "healthy": false, "message": "CrashLoopBackOff"}],
        })));
        assert_eq!(
            message(&n),
            "phase unhealthy: service web is not healthy: CrashLoopBackOff"
        );
        let n = kubevela(&vela(json!({})));
        assert_eq!(reason(&n), "NotReconciled");
    }

    #[test]
    fn kubevela_service_without_healthy_field_is_not_healthy() {
        let n = kubevela(&vela(json!({"status": "running", "services": [{"name": "web"}]})));
        assert_eq!(n.status, SourceHealth::InProgress);
        let n = kubevela(&vela(json!({"status": "running", "services": []})));
        assert_eq!(n.status, SourceHealth::Current);
    }

    #[test]
    fn normalize_dispatches_by_api_version_and_kind() {
        let app = argo(synced_healthy());
        assert_eq!(normalize(&app), Some(argocd(&app)));
        let b = bucket(json!([{"type": "Ready", "status": "True"}]));
        assert_eq!(normalize(&b).map(|n| n.status), Some(SourceHealth::Current));
        let v = vela(json!({"status": "running"}));
        assert_eq!(normalize(&v), Some(kubevela(&v)));
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        assert_eq!(normalize(&deployment), None);
        assert_eq!(normalize(&json!({"kind": "Application"})), None);
    }
}
