//! What the catalog keeps of each entity between its changes. It is held
//! for every entity for as long as the operator runs, so in a large catalog
//! it is most of the operator's memory, and each is kept small:
//!
//! - its namespace and name (shared with the store's key and the queue's,
//!   the namespace by every entity in it), generation and uid; no
//!   `ObjectMeta` (360 bytes even when nearly empty): managed fields, the
//!   last-applied annotation, owner references, timestamps and the
//!   resourceVersion go;
//! - its kind, and its labels, annotations and spec as one compact JSON
//!   text ([`Body`]; a map of one annotation alone would be a 500-byte
//!   node), read again when an entity is looked at (exported, queried,
//!   counted), as a whole or only the fields asked for;
//! - of its status, what deciding the next status needs: its relations as
//!   the JSON they are written as (one allocation rather than one per
//!   relation), its sources whole, and of each condition its type, status
//!   and transition time ([`KeptCondition`]), with what all of them say
//!   (types, statuses, reasons, messages, generations) as one hash, which is
//!   all the comparison with a new status reads.
//!
//! At 100,000 entities of the bench's catalog the store holds 948 bytes
//! per entity, against 2,612 for the typed objects in kube's reflector
//! store (`make bench-catalog-memory`).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::{Arc, LazyLock};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::backstage::{self, LAST_APPLIED};
use crate::api::conditions::{ConditionState, ConditionStatus, ConditionType, Earlier};
use crate::api::{
    CatalogEntity, CatalogEntitySpec, CatalogEntityStatus, EntityKind, Health, Relation, SourceStatus,
};

/// An entity, by namespace and name; cheap to copy (the names are shared).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// Its namespace.
    pub namespace: Arc<str>,
    /// Its name.
    pub name: Arc<str>,
}

impl Key {
    /// The entity named `name` in `namespace`.
    pub fn new(namespace: &str, name: &str) -> Key {
        Key {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One entity as the catalog keeps it.
#[derive(Clone, Debug)]
pub struct CachedEntity {
    key: Key,
    generation: Option<i64>,
    uid: Option<Box<str>>,
    kind: EntityKind,
    /// A [`Body`] as JSON, made from a [`CatalogEntitySpec`] and string
    /// maps, so it reads back as them.
    body: Box<str>,
    status: Option<Box<CachedStatus>>,
}

/// An entity's labels, annotations and spec, as [`CachedEntity`] keeps them
/// in one JSON text; read with `S` (and the maps' types) only what is asked.
#[derive(Deserialize, Default)]
pub struct Body<S, M = Option<BTreeMap<String, String>>> {
    /// Its labels.
    #[serde(default)]
    pub labels: M,
    /// Its annotations, without the last-applied one.
    #[serde(default)]
    pub annotations: M,
    /// Its spec, or the fields of it asked for.
    pub spec: S,
}

/// A [`Body`] as written, without the maps an entity does not have.
#[derive(Serialize)]
struct Written<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
    spec: &'a CatalogEntitySpec,
}

/// What the catalog keeps of an entity's status.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedStatus {
    /// The generation the status describes.
    pub observed_generation: Option<i64>,
    /// Its conditions' types, statuses and times, in order.
    pub conditions: Box<[KeptCondition]>,
    /// What its conditions say, as one hash ([`said`]).
    said: u64,
    /// Its relations as JSON, empty when it has none: the portal and the
    /// export show them.
    relations: Box<str>,
    /// Its source rows, whole: their times are kept and their deadlines
    /// read.
    pub sources: Box<[SourceStatus]>,
    /// Its rolled-up health.
    pub health: Option<Health>,
}

/// A condition as the catalog keeps it: enough to keep its transition time.
#[derive(Clone, Debug, PartialEq)]
pub struct KeptCondition {
    /// `None` for a type goldpath does not write.
    type_: Option<ConditionType>,
    /// `None` for a status that is not one of Kubernetes' three.
    status: Option<ConditionStatus>,
    last_transition_time: Time,
}

/// What conditions say, in order, as one hash: each one's type, status,
/// reason and message and its observed generation, and how many there are.
/// Equal ones hash equal; different ones hash equal only by a collision of
/// a 64-bit hash keyed at random for each process (so nobody can aim at
/// one), which would leave one status unwritten until the entity or what
/// it rolls up changes again.
fn said<'a>(conditions: impl IntoIterator<Item = ([&'a str; 4], Option<i64>)>) -> u64 {
    static KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);
    let mut hasher = KEYS.build_hasher();
    let mut count = 0_usize;
    for condition in conditions {
        condition.hash(&mut hasher);
        count += 1;
    }
    count.hash(&mut hasher);
    hasher.finish()
}

impl Earlier for [KeptCondition] {
    fn since(&self, type_: ConditionType, status: ConditionStatus) -> Option<Time> {
        self.iter()
            .find(|kept| kept.type_ == Some(type_))
            .filter(|kept| kept.status == Some(status))
            .map(|kept| kept.last_transition_time.clone())
    }
}

impl CachedStatus {
    /// Whether its conditions are what [`ConditionState::to_condition`]
    /// gives for `states` about `generation`, in order: the same states
    /// (their times are then kept).
    pub fn says(&self, states: &[&ConditionState], generation: Option<i64>) -> bool {
        let said_now = said(states.iter().map(|state| {
            let texts = [
                state.type_.as_str(),
                state.status.as_str(),
                state.reason.as_str(),
                state.message.as_str(),
            ];
            (texts, generation)
        }));
        self.said == said_now
    }

    /// Its relations.
    pub fn relations(&self) -> Vec<Relation> {
        // Written from relations by `from`, so they read back.
        serde_json::from_str(&self.relations).unwrap_or_default()
    }

    fn relations_json(relations: &[Relation]) -> Box<str> {
        if relations.is_empty() {
            return Box::default();
        }
        // Relations are plain data: they always serialize.
        serde_json::to_string(relations)
            .unwrap_or_default()
            .into_boxed_str()
    }

    /// Whether its relations are `relations`, compared as JSON without
    /// writing `relations` out.
    pub fn has_relations(&self, relations: &[Relation]) -> bool {
        if relations.is_empty() {
            return self.relations.is_empty();
        }
        let mut same = SameBytes(self.relations.as_bytes());
        serde_json::to_writer(&mut same, relations).is_ok() && same.0.is_empty()
    }
}

/// A writer that takes only the bytes it holds, in order, each once: what
/// is written equals them if every write succeeds and none are left.
struct SameBytes<'a>(&'a [u8]);

impl std::io::Write for SameBytes<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self.0.strip_prefix(bytes) {
            Some(rest) => {
                self.0 = rest;
                Ok(bytes.len())
            }
            None => Err(std::io::ErrorKind::InvalidData.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl From<CatalogEntityStatus> for CachedStatus {
    fn from(status: CatalogEntityStatus) -> CachedStatus {
        CachedStatus {
            observed_generation: status.observed_generation,
            conditions: status
                .conditions
                .iter()
                .map(|condition| KeptCondition {
                    type_: ConditionType::parse(&condition.type_),
                    status: ConditionStatus::parse(&condition.status),
                    last_transition_time: condition.last_transition_time.clone(),
                })
                .collect(),
            said: said(status.conditions.iter().map(|condition| {
                let texts = [
                    condition.type_.as_str(),
                    condition.status.as_str(),
                    condition.reason.as_str(),
                    condition.message.as_str(),
                ];
                (texts, condition.observed_generation)
            })),
            relations: CachedStatus::relations_json(&status.relations),
            sources: status.sources.into(),
            health: status.health,
        }
    }
}

impl From<CatalogEntity> for CachedEntity {
    fn from(entity: CatalogEntity) -> CachedEntity {
        let namespace = entity.metadata.namespace.as_deref().unwrap_or_default().into();
        CachedEntity::new(entity, namespace)
    }
}

impl CachedEntity {
    /// `entity` as the catalog keeps it, its namespace given as `namespace`
    /// (one shared by every entity of a namespace).
    pub fn new(entity: CatalogEntity, namespace: Arc<str>) -> CachedEntity {
        let ObjectMeta {
            name,
            uid,
            generation,
            labels,
            annotations,
            ..
        } = entity.metadata;
        let annotations = annotations
            .map(|mut annotations| {
                annotations.remove(LAST_APPLIED);
                annotations
            })
            .filter(|annotations| !annotations.is_empty());
        let body = Written {
            labels: labels.filter(|labels| !labels.is_empty()),
            annotations,
            spec: &entity.spec,
        };
        // A spec and string maps are plain data: they always serialize.
        let body = serde_json::to_string(&body).unwrap_or_default();
        CachedEntity {
            key: Key {
                namespace,
                name: name.unwrap_or_default().into(),
            },
            generation,
            uid: uid.map(String::into_boxed_str),
            kind: entity.spec.kind,
            body: body.into_boxed_str(),
            status: entity.status.map(|status| Box::new(status.into())),
        }
    }

    /// Its namespace and name.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Its namespace.
    pub fn namespace(&self) -> &str {
        &self.key.namespace
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.key.name
    }

    /// Its `metadata.generation`.
    pub fn generation(&self) -> Option<i64> {
        self.generation
    }

    /// Its kind.
    pub fn kind(&self) -> EntityKind {
        self.kind
    }

    /// Its Kubernetes UID.
    pub fn uid(&self) -> Option<&str> {
        self.uid.as_deref()
    }

    /// Its status, as kept.
    pub fn status(&self) -> Option<&CachedStatus> {
        self.status.as_deref()
    }

    /// Its labels, annotations and spec, or the fields of them `T` asks
    /// for, read from the kept JSON without making the rest; `None` if
    /// they do not read as `T`.
    pub fn body<'a, T: Deserialize<'a>>(&'a self) -> Option<T> {
        serde_json::from_str(&self.body).ok()
    }

    /// Its metadata with the labels and annotations of `body`.
    fn metadata_with(&self, body: &mut Body<impl Sized>) -> ObjectMeta {
        ObjectMeta {
            name: Some(self.name().to_string()),
            namespace: Some(self.namespace().to_string()),
            uid: self.uid.as_deref().map(str::to_string),
            generation: self.generation,
            labels: body.labels.take(),
            annotations: body.annotations.take(),
            ..ObjectMeta::default()
        }
    }

    /// The entity without its status and resourceVersion: what validation
    /// and the index read.
    pub fn entity(&self) -> CatalogEntity {
        let mut body: Body<CatalogEntitySpec> = self.body().unwrap_or_else(|| Body {
            spec: CatalogEntitySpec {
                kind: self.kind,
                ..CatalogEntitySpec::default()
            },
            ..Body::default()
        });
        CatalogEntity {
            metadata: self.metadata_with(&mut body),
            spec: body.spec,
            status: None,
        }
    }

    /// Its Backstage entity, with its relations ([`backstage::to_backstage`]).
    pub fn to_backstage(&self) -> Value {
        let mut body: Body<Value> = self.body().unwrap_or_default();
        let relations = self.status().map(CachedStatus::relations).unwrap_or_default();
        let metadata = self.metadata_with(&mut body);
        backstage::assemble(&metadata, self.kind, body.spec, &relations)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;

    use super::*;
    use crate::api::{RelationType, SourceHealth};

    fn entity() -> CatalogEntity {
        let mut entity: CatalogEntity = serde_json::from_value(json!({
            "apiVersion": "goldpath.dev/v1alpha1",
            "kind": "CatalogEntity",
            "metadata": {
                "name": "web", "namespace": "team-a", "uid": "u-1", "resourceVersion": "7",
                "generation": 3, "creationTimestamp": "2026-11-30T05:00:00Z",
                "labels": {"tier": "frontend"},
                "annotations": {LAST_APPLIED: "{}", "backstage.io/techdocs-ref": "dir:."},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
            },
            "spec": {"kind": "Component", "type": "service", "lifecycle": "production",
                     "owner": "team-a", "title": "Web", "dependsOn": ["component:db"]},
        }))
        .unwrap();
        entity.status = Some(CatalogEntityStatus {
            observed_generation: Some(3),
            conditions: vec![
                ConditionState::new(ConditionType::Ready, true, "Current", "all good").to_condition(
                    &Vec::new(),
                    Timestamp::from_second(1_700_000_000).unwrap(),
                    Some(3),
                ),
            ],
            relations: vec![Relation {
                type_: RelationType::OwnedBy,
                target_ref: "group:team-a/team-a".into(),
            }],
            sources: Vec::new(),
            health: Some(Health::Current),
        });
        entity
    }

    #[test]
    fn an_entity_keeps_what_is_read_and_drops_what_is_not() {
        let full = entity();
        let cached = CachedEntity::from(full.clone());
        assert_eq!(cached.key(), &Key::new("team-a", "web"));
        assert_eq!((cached.namespace(), cached.name()), ("team-a", "web"));
        assert_eq!(cached.uid(), Some("u-1"));
        assert_eq!(cached.generation(), Some(3));
        // Labels, annotations and spec read back whole.
        let entity = cached.entity();
        assert_eq!(entity.spec, full.spec);
        assert_eq!(entity.metadata.labels, full.metadata.labels);
        assert_eq!(
            entity.metadata.annotations,
            Some(BTreeMap::from([(
                "backstage.io/techdocs-ref".into(),
                "dir:.".into()
            )]))
        );
        assert_eq!(entity.metadata.uid.as_deref(), Some("u-1"));
        assert_eq!(entity.metadata.generation, Some(3));
        assert_eq!(entity.metadata.name.as_deref(), Some("web"));
        assert_eq!(entity.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(entity.metadata.managed_fields, None);
        assert_eq!(entity.metadata.creation_timestamp, None);
        assert_eq!(entity.metadata.resource_version, None);
        assert_eq!(cached.kind(), EntityKind::Component);
        let status = cached.status().unwrap();
        let relations = &full.status.as_ref().unwrap().relations;
        assert_eq!(&status.relations(), relations);
        assert!(status.has_relations(relations));
        assert!(!status.has_relations(&relations[..0]));
        let mut more = relations.clone();
        more.push(more[0].clone());
        assert!(!status.has_relations(&more));
        more[0].target_ref.push('x');
        assert!(!status.has_relations(&more[..1]));
        assert_eq!(status.health, Some(Health::Current));
    }

    #[test]
    fn the_backstage_entity_of_a_kept_entity_is_the_full_ones() {
        let full = entity();
        assert_eq!(
            CachedEntity::from(full.clone()).to_backstage(),
            backstage::to_backstage(&full)
        );
    }

    #[test]
    fn kept_conditions_say_only_the_same_states_about_the_same_generation() {
        let state = ConditionState::new(ConditionType::Ready, true, "Current", "all good");
        let cached = CachedEntity::from(entity());
        let status = cached.status().unwrap();
        assert!(status.says(&[&state], Some(3)));
        assert!(!status.says(&[&state], Some(4)), "another generation");
        assert!(!status.says(&[&state, &state], Some(3)), "one more");
        assert!(!status.says(&[], Some(3)), "none");
        let differs = [
            ConditionState::new(ConditionType::Ready, false, "Current", "all good"),
            ConditionState::new(ConditionType::Ready, true, "Progressing", "all good"),
            ConditionState::new(ConditionType::Ready, true, "Current", "all good!"),
            ConditionState::new(ConditionType::Stalled, true, "Current", "all good"),
            // The same words split elsewhere between reason and message.
            ConditionState::new(ConditionType::Ready, true, "Curren", "tall good"),
        ];
        for state in differs {
            assert!(!status.says(&[&state], Some(3)), "{state:?}");
        }
        let kept = &status.conditions[..];
        assert_eq!(
            kept.since(ConditionType::Ready, ConditionStatus::True),
            Some(Time(Timestamp::from_second(1_700_000_000).unwrap()))
        );
        assert_eq!(kept.since(ConditionType::Ready, ConditionStatus::False), None);
        assert_eq!(kept.since(ConditionType::Valid, ConditionStatus::True), None);
    }

    #[test]
    fn a_condition_goldpath_does_not_write_says_nothing_goldpath_would() {
        let mut full = entity();
        let status = full.status.as_mut().unwrap();
        status.conditions[0].type_ = "Healthy".into();
        status.conditions[0].status = "Maybe".into();
        status.sources = vec![SourceStatus {
            api_version: "s3.services.k8s.aws/v1alpha1".into(),
            kind: "Bucket".into(),
            namespace: Some("team-a".into()),
            name: "web".into(),
            status: SourceHealth::Current,
            reason: None,
            message: None,
            details: BTreeMap::new(),
            last_transition_time: None,
        }];
        let cached = CachedEntity::from(full.clone());
        let status = cached.status().unwrap();
        let state = ConditionState::new(ConditionType::Ready, true, "Current", "all good");
        assert!(!status.says(&[&state], Some(3)));
        assert_eq!(
            status.conditions[..].since(ConditionType::Ready, ConditionStatus::True),
            None
        );
        assert_eq!(status.sources[..], full.status.unwrap().sources[..]);
    }
}
