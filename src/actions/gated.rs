//! The gated actions, which wait for something in the cluster
//! ([`super::gate`]): `wait:argocd-application` (an Argo CD Application is
//! Synced and Healthy), `wait:catalog-entity` (a CatalogEntity is `Current`
//! in goldpath's roll-up) and `wait:condition` (any object has a
//! condition); `wait:approval`'s approvals are judged by
//! [`super::approval`]. Each step reads its object once per look; this module judges
//! what was read: done (the step's output), still waiting (what for), or
//! failed. Reading, and who may read what, is the effects'.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ActionError;
use crate::api::{CatalogEntity, Health, SourceHealth};

/// How often what a gated step waits for is looked at again.
pub const RECHECK: Duration = Duration::from_secs(5);

/// The input of `wait:argocd-application`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationWaitInput {
    /// The Application's name; by default the one this request's
    /// `argocd:create-resources` made.
    pub name: Option<String>,
    /// Its namespace: Argo CD's (the default) or the request's own.
    pub namespace: Option<String>,
}

/// The output of `wait:argocd-application`.
#[derive(Serialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct ApplicationWaitOutput {
    /// The Application's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its sync status: `Synced`.
    pub sync: String,
    /// Its health: `Healthy`.
    pub health: String,
    /// The revision it synced, when Argo CD says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// The input of `wait:catalog-entity`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct EntityWaitInput {
    /// The entity, e.g. `component:team-a/web` (kind `Component` and the
    /// request's namespace when left out); by default the first one this
    /// request's `catalog:register` registered.
    pub entity_ref: Option<String>,
}

/// The output of `wait:catalog-entity`.
#[derive(Serialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EntityWaitOutput {
    /// The entity waited for.
    pub entity_ref: String,
    /// Its rolled-up health: `Current`.
    pub health: String,
}

/// The input of `wait:condition`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct ConditionWaitInput {
    /// The object's apiVersion, e.g. `apps/v1`.
    pub api_version: String,
    /// Its kind, e.g. `Deployment`.
    pub kind: String,
    /// Its name, in the request's namespace.
    pub name: String,
    /// The condition's type, e.g. `Available`.
    #[serde(rename = "type")]
    pub condition_type: String,
    /// The status it must have (default `True`).
    pub status: Option<String>,
}

/// The output of `wait:condition`.
#[derive(Serialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct ConditionWaitOutput {
    /// The condition's status.
    pub status: String,
    /// Its reason, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Its message, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A gated step's decoded input.
#[derive(Debug, Clone)]
pub enum Gate {
    /// `wait:argocd-application`.
    Application(ApplicationWaitInput),
    /// `wait:catalog-entity`.
    Entity(EntityWaitInput),
    /// `wait:condition`.
    Condition(ConditionWaitInput),
    /// `wait:approval` ([`super::approval`]).
    Approval(super::approval::ApprovalInput),
}

/// The longest text of another controller's a step's message quotes.
const QUOTED_LIMIT: usize = 1000;

/// Another controller's text, trimmed and cut at [`QUOTED_LIMIT`] characters.
fn quoted(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(QUOTED_LIMIT) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

fn text(value: &Value) -> Option<&str> {
    value.as_str().filter(|s| !s.is_empty())
}

/// Whether Application `reference` (`namespace/name`), as read
/// (`None`: it does not exist), is Synced and Healthy. Degraded fails the
/// step with Argo CD's own message (`status.health.message`, and the
/// messages of its error conditions).
pub fn application(
    name: &str,
    namespace: &str,
    application: Option<&Value>,
) -> Result<ApplicationWaitOutput, ActionError> {
    let reference = format!("Application {namespace}/{name}");
    let Some(application) = application else {
        return Err(ActionError::waiting(format!("{reference} to exist"), RECHECK));
    };
    let status = &application["status"];
    let sync = text(&status["sync"]["status"]).unwrap_or("Unknown");
    let health = text(&status["health"]["status"]).unwrap_or("Unknown");
    if health == "Degraded" {
        let mut said: Vec<String> = text(&status["health"]["message"])
            .map(quoted)
            .into_iter()
            .collect();
        for condition in status["conditions"].as_array().into_iter().flatten() {
            if let Some(message) = text(&condition["message"]) {
                let type_ = text(&condition["type"]).unwrap_or("condition");
                said.push(format!("{type_}: {}", quoted(message)));
            }
        }
        let said = if said.is_empty() {
            "Argo CD gave no message".to_string()
        } else {
            said.join("; ")
        };
        return Err(ActionError::permanent(format!("{reference} is Degraded: {said}")));
    }
    if sync == "Synced" && health == "Healthy" {
        return Ok(ApplicationWaitOutput {
            name: name.into(),
            namespace: namespace.into(),
            sync: sync.into(),
            health: health.into(),
            revision: text(&status["sync"]["revision"]).map(str::to_string),
        });
    }
    Err(ActionError::waiting(
        format!("{reference} to be Synced and Healthy; it is {sync}, {health}"),
        RECHECK,
    ))
}

/// Whether `entity` (`reference`; `None`: it does not exist) is `Current`
/// in goldpath's roll-up for its present spec. `Failed` fails the step,
/// naming the sources that failed and why.
pub fn entity(reference: &str, entity: Option<&CatalogEntity>) -> Result<EntityWaitOutput, ActionError> {
    let Some(entity) = entity else {
        return Err(ActionError::waiting(format!("{reference} to exist"), RECHECK));
    };
    let status = entity.status.as_ref();
    let observed = status.and_then(|s| s.observed_generation);
    if observed.is_none() || observed != entity.metadata.generation {
        return Err(ActionError::waiting(
            format!("{reference} to be rolled up for its present spec"),
            RECHECK,
        ));
    }
    let health = status.and_then(|s| s.health);
    match health {
        Some(Health::Current) => Ok(EntityWaitOutput {
            entity_ref: reference.into(),
            health: "Current".into(),
        }),
        Some(Health::Failed) => {
            let failed: Vec<String> = status
                .map(|s| s.sources.as_slice())
                .unwrap_or_default()
                .iter()
                .filter(|source| source.status == SourceHealth::Failed)
                .map(|source| {
                    let why = source
                        .message
                        .as_deref()
                        .or(source.reason.as_deref())
                        .unwrap_or("failed");
                    format!("{} {}: {}", source.kind, source.name, quoted(why))
                })
                .collect();
            Err(ActionError::permanent(format!(
                "{reference} is Failed in the catalog's roll-up: {}",
                if failed.is_empty() {
                    "no source says why".to_string()
                } else {
                    failed.join("; ")
                }
            )))
        }
        other => Err(ActionError::waiting(
            format!(
                "{reference} to be Current; it is {}",
                match other {
                    Some(Health::InProgress) => "InProgress",
                    Some(Health::Unknown) => "Unknown",
                    _ => "not rolled up yet",
                }
            ),
            RECHECK,
        )),
    }
}

/// Whether `object` (`what`, e.g. `Deployment team-a/web`; `None`: it
/// does not exist) has condition `input.type` with `input.status`.
pub fn condition(
    what: &str,
    input: &ConditionWaitInput,
    object: Option<&Value>,
) -> Result<ConditionWaitOutput, ActionError> {
    let wanted = input.status.as_deref().unwrap_or("True");
    let goal = format!("{what} to have condition {}={wanted}", input.condition_type);
    let Some(object) = object else {
        return Err(ActionError::waiting(
            format!("{goal}; it does not exist"),
            RECHECK,
        ));
    };
    let found = object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"].as_str() == Some(input.condition_type.as_str()));
    let Some(found) = found else {
        return Err(ActionError::waiting(
            format!("{goal}; it has no {} condition", input.condition_type),
            RECHECK,
        ));
    };
    let status = text(&found["status"]).unwrap_or("Unknown");
    let reason = text(&found["reason"]).map(quoted);
    let message = text(&found["message"]).map(quoted);
    if status == wanted {
        return Ok(ConditionWaitOutput {
            status: status.into(),
            reason,
            message,
        });
    }
    let why = [reason.as_deref(), message.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    Err(ActionError::waiting(
        if why.is_empty() {
            format!("{goal}; it is {status}")
        } else {
            format!("{goal}; it is {status} ({why})")
        },
        RECHECK,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn argo(sync: &str, health: Value) -> Value {
        json!({"status": {"sync": {"status": sync, "revision": "abc"}, "health": health}})
    }

    #[test]
    fn an_application_is_done_when_synced_and_healthy_waits_until_then_and_fails_when_degraded() {
        let waiting = application("web", "argocd", None).unwrap_err();
        assert!(waiting.waiting);
        assert_eq!(waiting.message, "Application argocd/web to exist");
        let progressing = application(
            "web",
            "argocd",
            Some(&argo("OutOfSync", json!({"status": "Progressing"}))),
        )
        .unwrap_err();
        assert!(progressing.waiting);
        assert_eq!(
            progressing.message,
            "Application argocd/web to be Synced and Healthy; it is OutOfSync, Progressing"
        );
        let unread = application("web", "argocd", Some(&json!({}))).unwrap_err();
        assert!(
            unread.message.ends_with("it is Unknown, Unknown"),
            "{}",
            unread.message
        );
        let done = application(
            "web",
            "argocd",
            Some(&argo("Synced", json!({"status": "Healthy"}))),
        )
        .unwrap();
        assert_eq!((done.sync.as_str(), done.health.as_str()), ("Synced", "Healthy"));
        assert_eq!(done.revision.as_deref(), Some("abc"));
        let mut degraded = argo(
            "Synced",
            json!({"status": "Degraded", "message": "Deployment web exceeded its progress deadline"}),
        );
        degraded["status"]["conditions"] =
            json!([{"type": "SyncError", "message": "one or more objects failed"}]);
        let failed = application("web", "argocd", Some(&degraded)).unwrap_err();
        assert!(!failed.waiting && !failed.transient);
        assert_eq!(
            failed.message,
            "Application argocd/web is Degraded: Deployment web exceeded its progress deadline; SyncError: one \
             or more objects failed"
        );
        // What another controller wrote is quoted, bounded.
        let long = argo(
            "Synced",
            json!({"status": "Degraded", "message": "x".repeat(100_000)}),
        );
        assert!(
            application("web", "argocd", Some(&long))
                .unwrap_err()
                .message
                .len()
                < 1100
        );
    }

    fn catalog_entity(generation: i64, observed: Option<i64>, health: Option<Health>) -> CatalogEntity {
        let mut entity: CatalogEntity = serde_json::from_value(json!({
            "apiVersion": "goldpath.dev/v1alpha1", "kind": "CatalogEntity",
            "metadata": {"name": "web", "namespace": "team-a", "generation": generation},
            "spec": {"kind": "Component"},
        }))
        .unwrap();
        entity.status = Some(crate::api::CatalogEntityStatus {
            observed_generation: observed,
            health,
            sources: vec![
                serde_json::from_value(json!({
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "name": "web",
                    "status": "Failed", "message": "Degraded: back-off restarting",
                }))
                .unwrap(),
            ],
            ..Default::default()
        });
        entity
    }

    #[test]
    fn an_entity_is_done_when_current_for_its_present_spec_and_fails_when_failed() {
        let reference = "component:team-a/web";
        assert_eq!(
            entity(reference, None).unwrap_err().message,
            "component:team-a/web to exist"
        );
        let stale = entity(
            reference,
            Some(&catalog_entity(2, Some(1), Some(Health::Current))),
        )
        .unwrap_err();
        assert!(stale.waiting && stale.message.contains("present spec"), "{stale}");
        let progressing = entity(
            reference,
            Some(&catalog_entity(2, Some(2), Some(Health::InProgress))),
        )
        .unwrap_err();
        assert!(progressing.waiting);
        assert_eq!(
            progressing.message,
            "component:team-a/web to be Current; it is InProgress"
        );
        let done = entity(
            reference,
            Some(&catalog_entity(2, Some(2), Some(Health::Current))),
        )
        .unwrap();
        assert_eq!(done.health, "Current");
        let failed = entity(reference, Some(&catalog_entity(2, Some(2), Some(Health::Failed)))).unwrap_err();
        assert!(!failed.waiting);
        assert_eq!(
            failed.message,
            "component:team-a/web is Failed in the catalog's roll-up: Application web: Degraded: back-off \
             restarting"
        );
    }

    #[test]
    fn a_condition_is_done_at_the_status_asked_and_waited_for_otherwise() {
        let input = ConditionWaitInput {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
            condition_type: "Available".into(),
            status: None,
        };
        let what = "Deployment team-a/web";
        let missing = condition(what, &input, None).unwrap_err();
        assert_eq!(
            missing.message,
            "Deployment team-a/web to have condition Available=True; it does not exist"
        );
        let none = condition(what, &input, Some(&json!({"status": {}}))).unwrap_err();
        assert!(none.waiting && none.message.ends_with("it has no Available condition"));
        let object = |status: &str| {
            json!({"status": {"conditions": [
                {"type": "Progressing", "status": "True"},
                {"type": "Available", "status": status, "reason": "MinimumReplicasUnavailable",
                 "message": "0 of 2 ready"},
            ]}})
        };
        let unavailable = condition(what, &input, Some(&object("False"))).unwrap_err();
        assert!(unavailable.waiting);
        assert!(
            unavailable
                .message
                .ends_with("it is False (MinimumReplicasUnavailable: 0 of 2 ready)"),
            "{}",
            unavailable.message
        );
        let done = condition(what, &input, Some(&object("True"))).unwrap();
        assert_eq!(done.status, "True");
        let asked_false = ConditionWaitInput {
            status: Some("False".into()),
            ..input
        };
        assert!(condition(what, &asked_false, Some(&object("False"))).is_ok());
    }
}
