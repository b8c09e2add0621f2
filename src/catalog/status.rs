//! A CatalogEntity's whole status, from what the controller observed: its
//! relations, the references that do not resolve, the objects that roll up
//! into it, and what is wrong with its spec.
//!
//! Times are kept from the previous status wherever nothing changed, so the
//! same observations give a status equal to the one already written, and
//! the controller writes nothing. [`update`] decides that by comparing the
//! observations with the status already there, before building one: a
//! resync of an unchanged catalog builds no status at all.
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

use crate::api::{CatalogEntityStatus, Relation, SourceHealth, SourceStatus};

use super::cached::{CachedEntity, KeptCondition};
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

/// The status to write for `entity`, given `observed` at `now`, or `None`
/// when the status it has is already the one [`status`] would give.
pub fn update(
    entity: &CachedEntity,
    observed: Observed,
    now: Timestamp,
    deadline: Duration,
) -> Option<CatalogEntityStatus> {
    if holds(entity, &observed, now, deadline) {
        return None;
    }
    Some(status(entity, observed, now, deadline))
}

/// Whether `entity`'s status equals what [`status`] gives for `observed`,
/// found without building a status: each piece is compared with what
/// [`status`] would put there.
fn holds(entity: &CachedEntity, observed: &Observed, now: Timestamp, deadline: Duration) -> bool {
    let Some(previous) = entity.status() else {
        return false;
    };
    let generation = entity.generation();
    if previous.observed_generation != generation
        || !previous.has_relations(&observed.relations)
        || !rows_hold(&observed.sources, &previous.sources)
    {
        return false;
    }
    // The rows are the ones written, so the conditions follow from them.
    let health = rollup::aggregate(previous.sources.iter().map(|row| row.status));
    if previous.health != Some(health) {
        return false;
    }
    let kstatus = rollup::conditions(&previous.sources, health, now, deadline);
    let states = [
        &kstatus.ready,
        &kstatus.reconciling,
        &kstatus.stalled,
        &valid(&observed.problems),
        &resolved(&observed.unresolved),
    ];
    previous.says(&states, generation)
}

/// Whether [`rollup::rows`] of `observed` over `previous` gives `previous` again:
/// every observed object has a row there with its normalized status and a
/// transition time (so the time is kept), one row each, and the rows are in
/// [`rollup::rows`]' order. Compares without building a row.
fn rows_hold(observed: &[(SourceRef, Normalized)], previous: &[SourceStatus]) -> bool {
    fn key(row: &SourceStatus) -> (&String, &Option<String>, &String, &String) {
        (&row.kind, &row.namespace, &row.name, &row.api_version)
    }
    let sorted = previous.windows(2).all(|pair| key(&pair[0]) < key(&pair[1]));
    // Bounded by the rows an entity has (`MAX_LABELLED` and its Application).
    let distinct = observed
        .iter()
        .enumerate()
        .all(|(i, (source, _))| observed[..i].iter().all(|(other, _)| other != source));
    sorted
        && distinct
        && observed.len() == previous.len()
        && observed.iter().all(|(source, normalized)| {
            previous.iter().any(|row| {
                source.is(row)
                    && row.status == normalized.status
                    && row.reason == normalized.reason
                    && row.message == normalized.message
                    && row.details == normalized.details
                    && row.last_transition_time.is_some()
            })
        })
}

/// The status `entity` should have, given `observed` at `now`, with sources
/// stalling after `deadline` without progress.
pub fn status(
    entity: &CachedEntity,
    observed: Observed,
    now: Timestamp,
    deadline: Duration,
) -> CatalogEntityStatus {
    #[cfg(test)]
    tests::BUILT.with(|built| built.set(built.get() + 1));
    let (previous_rows, previous): (&[SourceStatus], &[KeptCondition]) = match entity.status() {
        Some(previous) => (&previous.sources, &previous.conditions),
        None => (&[], &[]),
    };
    let generation = entity.generation();
    let rows = rollup::rows(observed.sources, previous_rows, now);
    let health = rollup::aggregate(rows.iter().map(|row| row.status));
    let mut conditions =
        rollup::conditions(&rows, health, now, deadline).to_conditions(previous, now, generation);
    conditions.push(valid(&observed.problems).to_condition(previous, now, generation));
    conditions.push(resolved(&observed.unresolved).to_condition(previous, now, generation));
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

/// How long until one of a status's source rows passes the progress
/// deadline and the entity must be looked at again, if one is still
/// progressing.
pub fn next_deadline(sources: &[SourceStatus], now: Timestamp, deadline: Duration) -> Option<Duration> {
    sources
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
pub(crate) mod tests {
    use std::cell::Cell;

    use kube::api::ObjectMeta;

    use super::*;
    use crate::api::{CatalogEntity, CatalogEntitySpec, EntityKind, Health, RelationType};

    thread_local! {
        /// How many statuses [`status`] built on this thread.
        pub(super) static BUILT: Cell<usize> = const { Cell::new(0) };
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + second).unwrap()
    }

    /// `entity` as the catalog keeps it.
    pub(crate) fn kept(entity: &CatalogEntity) -> CachedEntity {
        CachedEntity::from(entity.clone())
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
        let first = status(
            &kept(&entity),
            observed(SourceHealth::InProgress),
            at(0),
            deadline,
        );
        entity.status = Some(first.clone());
        let again = status(
            &kept(&entity),
            observed(SourceHealth::InProgress),
            at(30),
            deadline,
        );
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
        let status = status(&kept(&entity()), seen, at(0), Duration::from_secs(600));
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
        let status = status(
            &kept(&entity()),
            observed(SourceHealth::InProgress),
            at(0),
            deadline,
        );
        assert_eq!(
            next_deadline(&status.sources, at(100), deadline),
            Some(Duration::from_secs(501))
        );
        assert_eq!(
            next_deadline(&status.sources, at(700), deadline),
            None,
            "already stalled"
        );
        let current = super::status(&kept(&entity()), observed(SourceHealth::Current), at(0), deadline);
        assert_eq!(next_deadline(&current.sources, at(100), deadline), None);
    }
}

/// [`update`] against [`status`] on a catalog the way the controller keeps
/// it: the index observes, and the entity gets what was written.
#[cfg(test)]
mod resync {
    use std::collections::BTreeMap;

    use kube::api::ObjectMeta;
    use serde_json::json;

    use super::tests::{BUILT, kept};
    use super::*;
    use crate::api::CatalogEntity;
    use crate::catalog::index::{Family, Index, Source, object_of};
    use crate::config::TenantRules;

    const DEADLINE: Duration = Duration::from_secs(600);

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + second).unwrap()
    }

    fn built() -> usize {
        BUILT.with(std::cell::Cell::get)
    }

    fn tenant() -> TenantRules {
        let mut rules = crate::config::Config::default().tenant("default");
        rules.argocd.projects = vec!["*".into()];
        rules
    }

    /// `count` entities: 10 Groups, 5 Systems, and Components owned by a
    /// Group, part of a System and depending on the next Component; the
    /// first 20 Components show a Bucket, the next 10 an Argo CD Application.
    fn catalog(count: usize) -> Vec<CatalogEntity> {
        let components = count - 15;
        let entity =
            |name: String, spec: serde_json::Value, annotations: BTreeMap<String, String>| CatalogEntity {
                metadata: ObjectMeta {
                    name: Some(name),
                    namespace: Some("default".into()),
                    generation: Some(1),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                },
                spec: serde_json::from_value(spec).unwrap(),
                status: None,
            };
        let mut entities = Vec::new();
        for g in 0..10 {
            entities.push(entity(
                format!("g-{g}"),
                json!({"kind": "Group", "type": "team"}),
                BTreeMap::new(),
            ));
        }
        for s in 0..5 {
            entities.push(entity(
                format!("s-{s}"),
                json!({"kind": "System", "owner": "g-0"}),
                BTreeMap::new(),
            ));
        }
        for i in 0..components {
            let annotations = match i {
                0..20 => [("backstage.io/kubernetes-id".to_string(), format!("c-{i}"))].into(),
                20..30 => [("argocd/app-name".to_string(), format!("c-{i}"))].into(),
                _ => BTreeMap::new(),
            };
            let spec = json!({
                "kind": "Component", "type": "service", "lifecycle": "production",
                "owner": format!("g-{}", i % 10), "system": format!("s-{}", i % 5),
                "dependsOn": [format!("component:c-{}", (i + 1) % components)],
            });
            entities.push(entity(format!("c-{i}"), spec, annotations));
        }
        entities
    }

    fn bucket(i: usize, status: SourceHealth) -> (SourceRef, Source) {
        let source = SourceRef::new(
            "s3.services.k8s.aws/v1alpha1",
            "Bucket",
            "default",
            &format!("b-{i}"),
        );
        let labels = [("backstage.io/kubernetes-id".to_string(), format!("c-{i}"))].into();
        let normalized = Normalized::new(status, "Ready", "");
        let object = Source {
            family: Family::Ack,
            labels,
            normalized,
            project: None,
        };
        (source, object)
    }

    fn index(entities: &[CatalogEntity]) -> Index {
        let mut index = Index::default();
        for entity in entities {
            index.entity_applied(entity, "argocd");
        }
        for i in 0..20 {
            let (source, object) = bucket(i, SourceHealth::Current);
            index.source_applied(source, object);
        }
        for i in 20..30 {
            let source = SourceRef::new("argoproj.io/v1alpha1", "Application", "argocd", &format!("c-{i}"));
            let normalized = Normalized::new(SourceHealth::InProgress, "OutOfSync", "syncing");
            let object = Source {
                family: Family::ArgoCd,
                labels: BTreeMap::new(),
                normalized,
                project: Some("default".into()),
            };
            index.source_applied(source, object);
        }
        index
    }

    /// Reconciles every entity as the controller does; returns the names
    /// of those whose status was written.
    fn reconcile_all(index: &Index, entities: &mut [CatalogEntity], now: Timestamp) -> Vec<String> {
        let tenant = tenant();
        let mut written = Vec::new();
        for entity in entities.iter_mut() {
            let observed = index.observe(&kept(entity), "argocd", &tenant);
            if let Some(status) = update(&kept(entity), observed, now, DEADLINE) {
                entity.status = Some(status);
                written.push(entity.metadata.name.clone().unwrap_or_default());
            }
        }
        written
    }

    #[test]
    fn a_resync_of_an_unchanged_catalog_builds_no_status_and_writes_nothing() {
        let mut entities = catalog(1000);
        let index = index(&entities);
        let before = built();
        assert_eq!(reconcile_all(&index, &mut entities, at(0)).len(), 1000);
        assert_eq!(built() - before, 1000);

        let before = built();
        assert!(reconcile_all(&index, &mut entities, at(30)).is_empty());
        assert_eq!(built() - before, 0, "a resync builds no status");

        // After a restart: a new index from the listed entities, statuses and all.
        let restarted = self::index(&entities);
        let before = built();
        assert!(reconcile_all(&restarted, &mut entities, at(60)).is_empty());
        assert_eq!(built() - before, 0, "a restart's resync builds no status");
    }

    #[test]
    fn a_resync_writes_exactly_the_entities_a_change_concerns() {
        let mut entities = catalog(1000);
        let mut index = index(&entities);
        reconcile_all(&index, &mut entities, at(0));

        let (source, object) = bucket(3, SourceHealth::Failed);
        index.source_applied(source, object);
        assert_eq!(reconcile_all(&index, &mut entities, at(10)), ["c-3"]);

        // A System goes: it and the Components part of it lose a relation,
        // and the Group owning it loses `ownerOf`.
        let gone = entities
            .iter()
            .position(|e| e.metadata.name.as_deref() == Some("s-4"))
            .unwrap();
        index.forget_entity(&object_of(&entities.remove(gone)), None);
        let written = reconcile_all(&index, &mut entities, at(20));
        assert_eq!(written.len(), 197 + 1, "{written:?}");
        assert!(written.contains(&"g-0".to_string()));

        // Past the deadline the Applications still in progress stall.
        let written = reconcile_all(&index, &mut entities, at(700));
        assert_eq!(written.len(), 10, "{written:?}");
    }

    #[test]
    fn update_agrees_with_status_whatever_changed() {
        let mut entities = catalog(40);
        let index = index(&entities);
        reconcile_all(&index, &mut entities, at(0));
        let tenant = tenant();
        let check = |entity: &CatalogEntity, now: Timestamp| {
            let full = status(
                &kept(entity),
                index.observe(&kept(entity), "argocd", &tenant),
                now,
                DEADLINE,
            );
            let decided = update(
                &kept(entity),
                index.observe(&kept(entity), "argocd", &tenant),
                now,
                DEADLINE,
            );
            assert_eq!(
                decided.is_none(),
                entity.status.as_ref() == Some(&full),
                "{entity:?}"
            );
            if let Some(decided) = decided {
                assert_eq!(decided, full);
            }
            entity.status.as_ref() == Some(&full)
        };
        type Change = fn(&mut CatalogEntityStatus);
        let changes: [(&str, Change); 10] = [
            ("nothing", |_| {}),
            ("generation", |s| s.observed_generation = Some(7)),
            ("a relation", |s| {
                s.relations.pop();
            }),
            ("a row's message", |s| s.sources[0].message = Some("other".into())),
            ("a row's time", |s| s.sources[0].last_transition_time = None),
            ("a row too many", |s| {
                let row = s.sources[0].clone();
                s.sources.push(row);
            }),
            ("no rows", |s| s.sources.clear()),
            ("health", |s| s.health = Some(crate::api::Health::Unknown)),
            ("a condition's message", |s| s.conditions[3].message.push('!')),
            ("the conditions' order", |s| s.conditions.swap(0, 1)),
        ];
        // c-0 shows a Bucket, c-20 an Application.
        for name in ["c-0", "c-20"] {
            let entity = entities
                .iter()
                .find(|e| e.metadata.name.as_deref() == Some(name))
                .unwrap();
            for (what, change) in changes {
                let mut changed = entity.clone();
                if let Some(status) = &mut changed.status {
                    change(status);
                }
                let holds = check(&changed, at(30));
                assert_eq!(holds, what == "nothing", "{name}: {what}");
            }
            assert_eq!(
                check(entity, at(700)),
                name == "c-0",
                "{name}: stalled past the deadline"
            );
        }
        let mut unwritten = entities[0].clone();
        unwritten.status = None;
        assert!(!check(&unwritten, at(30)));
    }
}
