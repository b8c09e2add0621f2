//! KubeVela Applications (`core.oam.dev/v1beta1`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{items, text, with_detail};
use crate::api::SourceHealth;
use crate::catalog::rollup::Normalized;

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::rollup::sources::{message, reason};

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
}
