//! AWS Controllers for Kubernetes resources (`*.services.k8s.aws`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::{has_status, items, text};
use crate::api::SourceHealth;
use crate::catalog::rollup::Normalized;

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::catalog::rollup::sources::{message, reason};

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
}
