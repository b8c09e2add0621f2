//! Backstage's entity format (catalog-info.yaml) and CatalogEntities, both
//! ways. `metadata.name`, `labels` and `annotations` are the object's own
//! metadata; `metadata.title`, `description`, `tags` and `links` and the
//! entity's `kind` live in `spec`; every other spec field is kept as
//! written. Export adds the relations from status, as Backstage's catalog
//! API serves them.

use std::collections::BTreeMap;
use std::sync::Arc;

use kube::api::ObjectMeta;
use serde_json::{Value, json};

use super::cached::CachedEntity;
use crate::api::{CatalogEntity, CatalogEntitySpec, EntityKind, Relation};

/// The apiVersion Backstage's built-in kinds are written with.
pub const API_VERSION: &str = "backstage.io/v1alpha1";

/// The annotation `kubectl apply` keeps its last input in: the object's,
/// not the entity's.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Metadata fields Backstage fills in itself; they are not the entity's.
const GENERATED_METADATA: [&str; 3] = ["uid", "etag", "generation"];

/// Metadata fields that have a place in a CatalogEntity.
const KEPT_METADATA: [&str; 8] = [
    "name",
    "namespace",
    "labels",
    "annotations",
    "title",
    "description",
    "tags",
    "links",
];
/// Turns one Backstage entity into a CatalogEntity in `namespace`:
/// `metadata.title`, `description`, `tags` and `links` move into `spec`,
/// `kind` into `spec.kind`; names, labels and annotations stay metadata.
pub fn from_backstage(entity: &Value, namespace: &str) -> Result<CatalogEntity, String> {
    let metadata = entity
        .get("metadata")
        .and_then(Value::as_object)
        .ok_or("the entity has no metadata")?;
    let name = metadata
        .get("name")
        .and_then(Value::as_str)
        .ok_or("the entity has no metadata.name")?;
    let kind = entity
        .get("kind")
        .and_then(Value::as_str)
        .ok_or("the entity has no kind")?;
    let mut spec = entity
        .get("spec")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    spec.insert("kind".into(), Value::String(kind.to_string()));
    for key in ["title", "description", "tags", "links"] {
        if let Some(value) = metadata.get(key) {
            spec.insert(key.into(), value.clone());
        }
    }
    let spec: CatalogEntitySpec =
        serde_json::from_value(Value::Object(spec)).map_err(|e| format!("{kind} {name}: {e}"))?;
    // An empty map is no map, so `annotations: {}` survives the way back;
    // kubectl's last-applied annotation is the object's, not the entity's,
    // and the way back leaves it out, so it is not taken in either.
    let strings = |key: &str| -> Result<Option<BTreeMap<String, String>>, String> {
        let map: Option<BTreeMap<String, String>> = metadata
            .get(key)
            .map(|v| serde_json::from_value(v.clone()).map_err(|e| format!("metadata.{key}: {e}")))
            .transpose()?;
        Ok(map
            .map(|mut map| {
                map.remove(LAST_APPLIED);
                map
            })
            .filter(|map| !map.is_empty()))
    };
    Ok(CatalogEntity {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: strings("labels")?,
            annotations: strings("annotations")?,
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    })
}

/// The entity in Backstage's own format, as catalog-info.yaml holds it.
pub fn to_backstage(entity: &CatalogEntity) -> Value {
    let spec = serde_json::to_value(&entity.spec).unwrap_or_default();
    let relations = entity
        .status
        .as_ref()
        .map(|status| &status.relations[..])
        .unwrap_or_default();
    assemble(&entity.metadata, entity.spec.kind, spec, relations)
}

/// The Backstage entity of an object with `object`'s metadata, a spec of
/// `kind` whose JSON is `spec`, and `relations`.
pub(super) fn assemble(
    object: &ObjectMeta,
    kind_of: EntityKind,
    mut spec: Value,
    relations: &[Relation],
) -> Value {
    let mut metadata = serde_json::Map::new();
    metadata.insert("name".into(), json!(object.name));
    metadata.insert(
        "namespace".into(),
        json!(object.namespace.as_deref().unwrap_or("default")),
    );
    let kind = spec
        .as_object_mut()
        .and_then(|s| s.remove("kind"))
        .unwrap_or_default();
    if let Some(fields) = spec.as_object_mut() {
        for key in ["title", "description", "tags", "links"] {
            if let Some(value) = fields.remove(key) {
                metadata.insert(key.into(), value);
            }
        }
    }
    if let Some(labels) = &object.labels {
        metadata.insert("labels".into(), json!(labels));
    }
    if let Some(annotations) = &object.annotations {
        let annotations: BTreeMap<&String, &String> = annotations
            .iter()
            .filter(|(key, _)| key.as_str() != LAST_APPLIED)
            .collect();
        if !annotations.is_empty() {
            metadata.insert("annotations".into(), json!(annotations));
        }
    }
    // Backstage requires these lists even when empty.
    let required = match kind_of {
        EntityKind::Group => Some("children"),
        EntityKind::User => Some("memberOf"),
        _ => None,
    };
    if let (Some(field), Some(fields)) = (required, spec.as_object_mut()) {
        fields.entry(field).or_insert_with(|| json!([]));
    }
    let mut out = json!({
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
    });
    if !relations.is_empty() {
        out["relations"] = json!(relations);
    }
    out
}

/// One document of a catalog-info file that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    /// Which document, counting from 1.
    pub document: usize,
    /// What is wrong with it.
    pub message: String,
}

/// What importing a catalog-info file gave.
#[derive(Debug, Default)]
pub struct Imported {
    /// The entities, in file order.
    pub entities: Vec<CatalogEntity>,
    /// Metadata fields that have no place in a CatalogEntity and were left
    /// out, as `document N: metadata.field`.
    pub dropped: Vec<String>,
}

/// Reads every document of a catalog-info file (multi-document YAML) as a
/// CatalogEntity. Each goes to `namespace` when given, else to its own
/// `metadata.namespace`, else to `default`. Documents that are empty are
/// skipped; `Location` entities (which only point at other files) are
/// refused, naming the document.
pub fn import(text: &str, namespace: Option<&str>) -> Result<Imported, Vec<ImportError>> {
    let mut imported = Imported::default();
    let mut errors = Vec::new();
    // The documents after one that does not parse cannot be trusted to
    // start where they seem to: a YAML error stops the file.
    let documents: Vec<Value> = crate::yaml::documents(text).map_err(|e| {
        vec![ImportError {
            document: e.document,
            message: format!(
                "not YAML{}: {}",
                e.line.map(|l| format!(" (line {l})")).unwrap_or_default(),
                e.message
            ),
        }]
    })?;
    for (i, value) in documents.into_iter().enumerate() {
        let number = i + 1;
        let fail = |message: String| ImportError {
            document: number,
            message,
        };
        if value.is_null() {
            continue;
        }
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or_default();
        if kind == "Location" {
            errors.push(fail(
                "a Location points at other files; import those files instead".into(),
            ));
            continue;
        }
        let metadata = value.get("metadata").and_then(Value::as_object);
        for key in metadata.into_iter().flat_map(|m| m.keys()) {
            if !KEPT_METADATA.contains(&key.as_str()) && !GENERATED_METADATA.contains(&key.as_str()) {
                imported
                    .dropped
                    .push(format!("document {number}: metadata.{key}"));
            }
        }
        let own = metadata.and_then(|m| m.get("namespace")).and_then(Value::as_str);
        let target = namespace.or(own).unwrap_or("default");
        match from_backstage(&value, target) {
            Ok(entity) => imported.entities.push(entity),
            Err(message) => errors.push(fail(message)),
        }
    }
    if errors.is_empty() {
        Ok(imported)
    } else {
        Err(errors)
    }
}

/// Writes every entity as a Backstage entity with its relations, one YAML
/// document each, sorted by namespace, kind and name. Each document goes to
/// `out` as it is made, so a catalog of any size costs one document's
/// memory beyond the list of entities.
pub fn export(entities: &[Arc<CachedEntity>], out: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut sorted: Vec<&CachedEntity> = entities.iter().map(Arc::as_ref).collect();
    fn key(e: &CachedEntity) -> (&str, &'static str, &str) {
        (e.namespace(), super::relations::kind_name(e.kind()), e.name())
    }
    sorted.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
    for entity in sorted {
        out.write_all(b"---\n")?;
        serde_yaml_ng::to_writer(&mut *out, &entity.to_backstage()).map_err(std::io::Error::other)?;
    }
    Ok(())
}
