//! Argo CD Applications (`argoproj.io/v1alpha1`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{cause, from_causes, has_status, items, text, with_detail};
use crate::api::SourceHealth;
use crate::catalog::rollup::Normalized;

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
    let read = Read::of(application);
    let details = read.details();
    let failures = read.failures(application);
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
    let unknown = read.unknown();
    if !unknown.is_empty() {
        return from_causes(SourceHealth::Unknown, unknown, details);
    }
    let progress = read.progress();
    if !progress.is_empty() {
        return from_causes(SourceHealth::InProgress, progress, details);
    }
    let message = match &read.revision {
        Some(revision) => format!("synced to revision {revision}, healthy"),
        None => "synced, healthy".to_string(),
    };
    Normalized {
        details,
        ..Normalized::new(SourceHealth::Current, "Healthy", message)
    }
}

/// The status fields of an Application the normalization reads.
struct Read<'a> {
    health: Option<&'a str>,
    health_message: Option<&'a str>,
    sync: Option<&'a str>,
    revision: Option<String>,
    operation: Option<&'a str>,
    operation_message: Option<&'a str>,
}

impl<'a> Read<'a> {
    fn of(application: &'a Value) -> Read<'a> {
        let revision = text(application, "/status/sync/revision")
            .map(str::to_string)
            .or_else(|| {
                let revisions: Vec<&str> = items(application, "/status/sync/revisions")
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                (!revisions.is_empty()).then(|| revisions.join(","))
            });
        Read {
            health: text(application, "/status/health/status"),
            health_message: text(application, "/status/health/message"),
            sync: text(application, "/status/sync/status"),
            revision,
            operation: text(application, "/status/operationState/phase"),
            operation_message: text(application, "/status/operationState/message"),
        }
    }

    fn details(&self) -> BTreeMap<String, String> {
        let mut details = BTreeMap::new();
        for (key, value) in [
            ("sync", self.sync.map(str::to_string)),
            ("health", self.health.map(str::to_string)),
            ("revision", self.revision.clone()),
            ("operation", self.operation.map(str::to_string)),
        ] {
            if let Some(value) = value {
                details.insert(key.to_string(), value);
            }
        }
        details
    }

    /// `*Error` conditions, a failed operation, health `Degraded`.
    fn failures(&self, application: &Value) -> Vec<(String, String)> {
        let mut failures = Vec::new();
        for condition in items(application, "/status/conditions") {
            if let Some(kind) = text(condition, "/type").filter(|t| t.ends_with("Error")) {
                failures.push(cause(kind, with_detail(kind, text(condition, "/message"))));
            }
        }
        match self.operation {
            Some("Failed") => failures.push(cause(
                "OperationFailed",
                with_detail("sync operation failed", self.operation_message),
            )),
            Some("Error") => failures.push(cause(
                "OperationError",
                with_detail("sync operation errored", self.operation_message),
            )),
            _ => {}
        }
        if self.health == Some("Degraded") {
            failures.push(cause(
                "Degraded",
                with_detail("health Degraded", self.health_message),
            ));
        }
        failures
    }

    /// Health or sync `Unknown`, or a value Argo CD does not define.
    fn unknown(&self) -> Vec<(String, String)> {
        let mut unknown = Vec::new();
        if let Some(health) = self
            .health
            .filter(|h| *h == "Unknown" || !ARGO_HEALTH.contains(h))
        {
            unknown.push(cause(
                "HealthUnknown",
                with_detail(&format!("health {health}"), self.health_message),
            ));
        }
        if let Some(sync) = self.sync.filter(|s| *s == "Unknown" || !ARGO_SYNC.contains(s)) {
            unknown.push(cause("SyncUnknown", format!("sync status {sync}")));
        }
        unknown
    }

    /// An operation under way, out of sync, or health on its way.
    fn progress(&self) -> Vec<(String, String)> {
        let mut progress = Vec::new();
        match self.operation {
            Some("Running") => progress.push(cause(
                "Syncing",
                with_detail("sync operation running", self.operation_message),
            )),
            Some("Terminating") => progress.push(cause(
                "OperationTerminating",
                with_detail("sync operation terminating", self.operation_message),
            )),
            _ => {}
        }
        match self.sync {
            None => progress.push(cause(
                "NotReconciled",
                "Argo CD has not compared the Application yet",
            )),
            Some("OutOfSync") => progress.push(cause(
                "OutOfSync",
                match &self.revision {
                    Some(revision) => format!("out of sync with revision {revision}"),
                    None => "out of sync".to_string(),
                },
            )),
            _ => {}
        }
        if let Some(cause) = self.health_progress() {
            progress.push(cause);
        }
        progress
    }

    fn health_progress(&self) -> Option<(String, String)> {
        let message = self.health_message;
        Some(match self.health {
            None => cause(
                "NotReconciled",
                "Argo CD has not assessed the Application's health yet",
            ),
            Some("Progressing") => cause("Progressing", with_detail("health Progressing", message)),
            Some("Missing") => cause(
                "Missing",
                with_detail("health Missing: resources do not exist yet", message),
            ),
            Some("Suspended") => cause(
                "Suspended",
                with_detail("health Suspended: waiting for something to resume it", message),
            ),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::rollup::sources::{message, reason};

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
}
