//! What a platform team reports about its catalog: entities by kind,
//! lifecycle and health; entities whose owner is missing or does not
//! resolve (ownership coverage); entities with documentation
//! (`backstage.io/techdocs-ref`).

use std::collections::BTreeMap;

use std::borrow::Cow;

use serde::Deserialize;

use super::cached::{Body, CachedEntity};
use super::relations::{kind_name, resolve};
use crate::api::EntityKind;

/// The annotation that points Backstage's TechDocs at an entity's docs.
pub const TECHDOCS_REF: &str = "backstage.io/techdocs-ref";

/// Why an entity counts as unowned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unowned {
    /// `spec.owner` is not set on a kind that needs one.
    Missing,
    /// `spec.owner` names no entity in the catalog, or does not parse.
    Unresolved,
}

impl Unowned {
    /// As the metric's `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Unowned::Missing => "missing",
            Unowned::Unresolved => "unresolved",
        }
    }
}

/// The catalog's figures.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// Entities by `(kind, lifecycle, health)`; lifecycle is empty for kinds
    /// without one, health `Pending` before the first status.
    pub entities: BTreeMap<(&'static str, String, String), u64>,
    /// Entities that need an owner and have none that resolves, by `(kind, why)`.
    pub unowned: BTreeMap<(&'static str, Unowned), u64>,
    /// Entities with a `backstage.io/techdocs-ref` annotation, by kind.
    pub documented: BTreeMap<&'static str, u64>,
}

fn needs_owner(kind: EntityKind) -> bool {
    matches!(
        kind,
        EntityKind::Component
            | EntityKind::Api
            | EntityKind::Resource
            | EntityKind::System
            | EntityKind::Domain
    )
}

/// The fields of a spec the figures count, read from the catalog's JSON
/// without making the spec.
#[derive(Deserialize, Default)]
struct Counted<'a> {
    #[serde(borrow, default)]
    lifecycle: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    owner: Option<Cow<'a, str>>,
}

/// The annotation the figures count ([`TECHDOCS_REF`]; the figures' test
/// fails if the two differ).
#[derive(Deserialize, Default)]
struct Documented<'a> {
    #[serde(borrow, default, rename = "backstage.io/techdocs-ref")]
    techdocs_ref: Option<Cow<'a, str>>,
}

/// The figures of `entities`; `exists` says whether a canonical entity
/// reference names an entity in the catalog.
pub fn figures<'a>(
    entities: impl IntoIterator<Item = &'a CachedEntity>,
    exists: impl Fn(&str) -> bool,
) -> Figures {
    let mut figures = Figures::default();
    for entity in entities {
        let kind = kind_name(entity.kind());
        let health = entity
            .status()
            .and_then(|status| status.health)
            .map(|health| format!("{health:?}"))
            .unwrap_or_else(|| "Pending".into());
        let body: Body<Counted, Option<Documented>> = entity.body().unwrap_or_default();
        let spec = body.spec;
        let lifecycle = spec.lifecycle.unwrap_or_default().into_owned();
        *figures.entities.entry((kind, lifecycle, health)).or_default() += 1;

        if needs_owner(entity.kind()) {
            let namespace = match entity.namespace() {
                "" => "default",
                namespace => namespace,
            };
            let unowned = match spec.owner.as_deref() {
                None => Some(Unowned::Missing),
                Some(owner) => match resolve(owner, Some("Group"), namespace) {
                    Ok(owner) if exists(&owner) => None,
                    _ => Some(Unowned::Unresolved),
                },
            };
            if let Some(why) = unowned {
                *figures.unowned.entry((kind, why)).or_default() += 1;
            }
        }
        if body
            .annotations
            .and_then(|annotations| annotations.techdocs_ref)
            .is_some_and(|docs| !docs.trim().is_empty())
        {
            *figures.documented.entry(kind).or_default() += 1;
        }
    }
    figures
}

#[cfg(test)]
mod tests {
    use kube::api::ObjectMeta;
    use serde_json::json;

    use super::*;
    use crate::api::{CatalogEntity, CatalogEntityStatus, Health};

    fn entity(name: &str, spec: serde_json::Value, docs: bool, health: Option<Health>) -> CachedEntity {
        CachedEntity::from(CatalogEntity {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                annotations: docs.then(|| [(TECHDOCS_REF.to_string(), "dir:.".to_string())].into()),
                ..ObjectMeta::default()
            },
            spec: serde_json::from_value(spec).unwrap(),
            status: health.map(|health| CatalogEntityStatus {
                health: Some(health),
                ..CatalogEntityStatus::default()
            }),
        })
    }

    #[test]
    fn counts_by_kind_lifecycle_health_ownership_and_docs() {
        let component = |name: &str, owner: &str, docs, health| {
            entity(
                name,
                json!({"kind": "Component", "type": "service", "lifecycle": "production", "owner": owner}),
                docs,
                health,
            )
        };
        let entities = [
            component("a", "team-a", true, Some(Health::Current)),
            component("b", "group:default/team-a", false, Some(Health::Current)),
            component("c", "team-gone", true, Some(Health::Failed)),
            component("d", "not a ref!", false, None),
            entity("sys", json!({"kind": "System"}), false, None),
            entity("team-a", json!({"kind": "Group", "type": "team"}), false, None),
        ];
        let figures = figures(&entities, |r| r == "group:default/team-a");
        let production = |health: &str| figures.entities[&("Component", "production".into(), health.into())];
        assert_eq!(production("Current"), 2);
        assert_eq!(production("Failed"), 1);
        assert_eq!(production("Pending"), 1);
        assert_eq!(figures.entities[&("Group", String::new(), "Pending".into())], 1);
        assert_eq!(figures.unowned[&("Component", Unowned::Unresolved)], 2);
        assert_eq!(figures.unowned[&("System", Unowned::Missing)], 1);
        assert!(
            !figures.unowned.contains_key(&("Group", Unowned::Missing)),
            "a Group needs no owner"
        );
        assert_eq!(figures.documented[&"Component"], 2);
        assert_eq!(figures.documented.len(), 1);
    }
}
