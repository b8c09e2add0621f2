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
//!
//! Each kind's normalizer is in its own module; the helpers here read the
//! JSON the way all three need.

mod ack;
mod argocd;
mod kubevela;

use std::collections::BTreeMap;

use serde_json::Value;

use super::Normalized;
use crate::api::SourceHealth;

pub use ack::ack;
pub use argocd::argocd;
pub use kubevela::kubevela;

pub(super) fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

pub(super) fn items<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

pub(super) fn has_status(object: &Value) -> bool {
    object
        .get("status")
        .and_then(Value::as_object)
        .is_some_and(|status| !status.is_empty())
}

/// The first cause names the reason; the message lists every cause.
pub(super) fn from_causes(
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

pub(super) fn cause(reason: &str, message: impl Into<String>) -> (String, String) {
    (reason.to_string(), message.into())
}

pub(super) fn with_detail(what: &str, detail: Option<&str>) -> String {
    match detail {
        Some(detail) => format!("{what}: {detail}"),
        None => what.to_string(),
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

/// A normalized status's reason, for tests.
#[cfg(test)]
fn reason(n: &Normalized) -> &str {
    n.reason.as_deref().unwrap_or_default()
}

/// A normalized status's message, for tests.
#[cfg(test)]
fn message(n: &Normalized) -> &str {
    n.message.as_deref().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn normalize_dispatches_by_api_version_and_kind() {
        let app = json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}},
        });
        assert_eq!(normalize(&app), Some(argocd(&app)));
        let b = json!({
            "apiVersion": "s3.services.k8s.aws/v1alpha1",
            "kind": "Bucket",
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        });
        assert_eq!(normalize(&b).map(|n| n.status), Some(SourceHealth::Current));
        let v = json!({
            "apiVersion": "core.oam.dev/v1beta1",
            "kind": "Application",
            "status": {"status": "running"},
        });
        assert_eq!(normalize(&v), Some(kubevela(&v)));
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment"});
        assert_eq!(normalize(&deployment), None);
        assert_eq!(normalize(&json!({"kind": "Application"})), None);
    }
}
