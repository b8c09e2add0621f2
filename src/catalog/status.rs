//! A CatalogEntity's whole status, from what the controller observed: its
//! relations, the references that do not resolve, the objects that roll up
//! into it, and what is wrong with its spec.
//!
//! Times are kept from the previous status wherever nothing changed, so the
//! same observations give a status equal to the one already written, and
//! the controller writes nothing.
//!
//! Conditions, in this order:
//! - `Ready`, `Reconciling`, `Stalled`: the roll-up of the sources (see
//!   [`super::rollup::conditions`]);
//! - `Valid`: `False` (reason `InvalidSpec`) when a Backstage rule is
//!   broken or an annotation cannot be read, naming each field;
//! - `ReferencesResolved`: `False` (reason `UnresolvedReferences`) while a
//!   reference points at an entity that does not exist, naming each one.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::api::{CatalogEntity, CatalogEntityStatus, Relation, SourceHealth};

use super::rollup::{self, Normalized, SourceRef};
use super::validation::Problem;
use crate::api::conditions::{ConditionState, ConditionType};

/// How many unresolved references a message names before it counts the rest.
const LISTED: usize = 20;

/// What the controller observed about one entity.
#[derive(Debug, Default)]
pub struct Observed {
    /// Every relation, both directions (`Graph::relations`).
    pub relations: Vec<Relation>,
    /// References to entities that do not exist (`Graph::unresolved`).
    pub unresolved: Vec<String>,
    /// The objects that roll up into the entity, normalized.
    pub sources: Vec<(SourceRef, Normalized)>,
    /// What is wrong with the spec or the annotations.
    pub problems: Vec<Problem>,
}

/// The status `entity` should have, given `observed` at `now`, with sources
/// stalling after `deadline` without progress.
pub fn status(
    entity: &CatalogEntity,
    observed: Observed,
    now: Timestamp,
    deadline: Duration,
) -> CatalogEntityStatus {
    let previous = entity.status.clone().unwrap_or_default();
    let generation = entity.metadata.generation;
    let rows = rollup::rows(observed.sources, &previous.sources, now);
    let health = rollup::aggregate(rows.iter().map(|row| row.status));
    let mut conditions =
        rollup::conditions(&rows, health, now, deadline).to_conditions(&previous.conditions, now, generation);
    conditions.push(valid(&observed.problems).to_condition(&previous.conditions, now, generation));
    conditions.push(resolved(&observed.unresolved).to_condition(&previous.conditions, now, generation));
    CatalogEntityStatus {
        observed_generation: generation,
        conditions,
        relations: observed.relations,
        sources: rows,
        health: Some(health),
    }
}

fn valid(problems: &[Problem]) -> ConditionState {
    if problems.is_empty() {
        return ConditionState::new(
            ConditionType::Valid,
            true,
            "Valid",
            "the entity follows Backstage's rules",
        );
    }
    let listed: Vec<String> = problems.iter().map(Problem::to_string).collect();
    ConditionState::new(
        ConditionType::Valid,
        false,
        "InvalidSpec",
        rollup::clip(&listed.join("; "), rollup::MESSAGE_LIMIT * 4),
    )
}

fn resolved(unresolved: &[String]) -> ConditionState {
    if unresolved.is_empty() {
        return ConditionState::new(
            ConditionType::ReferencesResolved,
            true,
            "Resolved",
            "every referenced entity exists",
        );
    }
    let mut listed: Vec<&str> = unresolved.iter().take(LISTED).map(String::as_str).collect();
    let more = format!("and {} more", unresolved.len().saturating_sub(LISTED));
    if unresolved.len() > LISTED {
        listed.push(&more);
    }
    ConditionState::new(
        ConditionType::ReferencesResolved,
        false,
        "UnresolvedReferences",
        format!("no such entity: {}", listed.join(", ")),
    )
}

/// How long until a source of `status` passes the progress deadline and the
/// entity must be looked at again, if one is still progressing.
pub fn next_deadline(status: &CatalogEntityStatus, now: Timestamp, deadline: Duration) -> Option<Duration> {
    status
        .sources
        .iter()
        .filter(|row| matches!(row.status, SourceHealth::InProgress | SourceHealth::NotFound))
        .filter(|row| !rollup::stalled(row, now, deadline))
        .filter_map(|row| {
            let since = row.last_transition_time.as_ref()?;
            let elapsed = Duration::try_from(now.duration_since(since.0)).unwrap_or_default();
            Some(deadline.saturating_sub(elapsed) + Duration::from_secs(1))
        })
        .min()
}

#[cfg(test)]
mod tests {
    use kube::api::ObjectMeta;

    use super::*;
    use crate::api::{CatalogEntitySpec, EntityKind, Health, RelationType};

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + second).unwrap()
    }

    fn entity() -> CatalogEntity {
        let spec: CatalogEntitySpec = serde_json::from_value(serde_json::json!({
            "kind": "Component", "type": "service", "lifecycle": "production", "owner": "team-a"
        }))
        .unwrap();
        assert_eq!(spec.kind, EntityKind::Component);
        CatalogEntity {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("default".into()),
                generation: Some(3),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        }
    }

    fn app() -> SourceRef {
        SourceRef::new("argoproj.io/v1alpha1", "Application", "argocd", "web")
    }

    fn observed(status: SourceHealth) -> Observed {
        Observed {
            relations: vec![Relation {
                type_: RelationType::OwnedBy,
                target_ref: "group:default/team-a".into(),
            }],
            unresolved: vec!["group:default/team-a".into()],
            sources: vec![(app(), Normalized::new(status, "Why", "because"))],
            problems: Vec::new(),
        }
    }

    fn condition<'a>(status: &'a CatalogEntityStatus, type_: &str) -> &'a crate::api::Condition {
        status.conditions.iter().find(|c| c.type_ == type_).unwrap()
    }

    #[test]
    fn the_same_observations_give_the_same_status() {
        let deadline = Duration::from_secs(600);
        let mut entity = entity();
        let first = status(&entity, observed(SourceHealth::InProgress), at(0), deadline);
        entity.status = Some(first.clone());
        let again = status(&entity, observed(SourceHealth::InProgress), at(30), deadline);
        assert_eq!(first, again);
        assert_eq!(first.observed_generation, Some(3));
        assert_eq!(first.health, Some(Health::InProgress));
        let types: Vec<&str> = first.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            ["Ready", "Reconciling", "Stalled", "Valid", "ReferencesResolved"]
        );
    }

    #[test]
    fn unresolved_references_and_problems_are_named() {
        let mut seen = observed(SourceHealth::Current);
        seen.problems.push(Problem {
            field: "spec.tags[0]".into(),
            message: "\"Bad Tag\" is not a valid tag".into(),
        });
        let status = status(&entity(), seen, at(0), Duration::from_secs(600));
        let resolved = condition(&status, ConditionType::ReferencesResolved.as_str());
        assert_eq!(
            (resolved.status.as_str(), resolved.reason.as_str()),
            ("False", "UnresolvedReferences")
        );
        assert_eq!(resolved.message, "no such entity: group:default/team-a");
        let valid = condition(&status, ConditionType::Valid.as_str());
        assert_eq!(
            (valid.status.as_str(), valid.reason.as_str()),
            ("False", "InvalidSpec")
        );
        assert!(valid.message.starts_with("spec.tags[0]: "), "{}", valid.message);
        assert_eq!(condition(&status, "Ready").status, "True");
    }

    #[test]
    fn many_unresolved_references_are_counted() {
        let unresolved: Vec<String> = (0..25).map(|i| format!("group:default/g{i}")).collect();
        let message = resolved(&unresolved).message;
        assert!(message.ends_with("g19, and 5 more"), "{message}");
    }

    #[test]
    fn a_progressing_source_is_looked_at_again_when_its_deadline_passes() {
        let deadline = Duration::from_secs(600);
        let status = status(&entity(), observed(SourceHealth::InProgress), at(0), deadline);
        assert_eq!(
            next_deadline(&status, at(100), deadline),
            Some(Duration::from_secs(501))
        );
        assert_eq!(next_deadline(&status, at(700), deadline), None, "already stalled");
        let current = super::status(&entity(), observed(SourceHealth::Current), at(0), deadline);
        assert_eq!(next_deadline(&current, at(100), deadline), None);
    }
}
