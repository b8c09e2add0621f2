//! `goldpath catalog import` and the export format: Backstage's
//! catalog-info.yaml survives import and export unchanged, for every kind.

// Tests report failures by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;

use goldpath::api::{CatalogEntity, CatalogEntityStatus, RelationType};
use goldpath::catalog::backstage;
use goldpath::catalog::cached::CachedEntity;
use goldpath::catalog::relations::{Graph, outgoing};
use serde::Deserialize;
use serde_json::Value;

const CORPUS: &str = "tests/fixtures/catalog/every-kind.yaml";

fn documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn goldpath(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_goldpath"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn imported() -> Vec<CatalogEntity> {
    let (ok, stdout, stderr) = goldpath(&["catalog", "import", CORPUS]);
    assert!(ok, "{stderr}");
    assert_eq!(stderr, "", "nothing is left out of a valid corpus");
    documents(&stdout)
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect()
}

#[test]
fn import_then_export_gives_back_every_kind_unchanged() {
    let original = documents(&std::fs::read_to_string(CORPUS).unwrap());
    let kinds: std::collections::BTreeSet<&str> =
        original.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "API",
            "Component",
            "Domain",
            "Group",
            "Resource",
            "System",
            "User"
        ]
    );

    let entities = imported();
    assert_eq!(entities.len(), original.len());
    for (entity, document) in entities.iter().zip(&original) {
        assert_eq!(
            &backstage::to_backstage(entity),
            document,
            "{}",
            document["metadata"]["name"]
        );
    }
    // The whole export holds the same documents, in its own order.
    let all: Vec<Arc<CatalogEntity>> = entities.into_iter().map(Arc::new).collect();
    let mut exported = documents(&exported(&all));
    let mut expected = original.clone();
    let key = |d: &Value| d["kind"].to_string() + d["metadata"]["name"].as_str().unwrap();
    exported.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(exported, expected);
}

fn exported(entities: &[Arc<CatalogEntity>]) -> String {
    let kept: Vec<Arc<CachedEntity>> = entities
        .iter()
        .map(|entity| Arc::new(CachedEntity::from(CatalogEntity::clone(entity))))
        .collect();
    let mut out = Vec::new();
    backstage::export(&kept, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn export_carries_relations_in_both_directions() {
    let entities = imported();
    let mut graph = Graph::new();
    let reference = |e: &CatalogEntity| goldpath::actions::catalog::entity_ref(e);
    for entity in &entities {
        graph.upsert(&reference(entity), outgoing("default", &entity.spec).relations);
    }
    let with_relations: Vec<Arc<CatalogEntity>> = entities
        .iter()
        .cloned()
        .map(|mut entity| {
            entity.status = Some(CatalogEntityStatus {
                relations: graph.relations(&reference(&entity)),
                ..CatalogEntityStatus::default()
            });
            Arc::new(entity)
        })
        .collect();
    let exported = documents(&exported(&with_relations));
    let relations = |kind: &str, name: &str| -> Vec<(String, String)> {
        let document = exported
            .iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap();
        document["relations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["type"].as_str().unwrap().into(),
                    r["targetRef"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let has = |list: &[(String, String)], type_: RelationType, target: &str| {
        let type_ = serde_json::to_value(type_).unwrap().as_str().unwrap().to_string();
        list.contains(&(type_, target.to_string()))
    };
    let finance = relations("Group", "finance");
    assert!(has(
        &finance,
        RelationType::OwnerOf,
        "component:default/orders-api"
    ));
    assert!(has(&finance, RelationType::HasMember, "user:default/jane"));
    assert!(has(
        &finance,
        RelationType::ParentOf,
        "group:default/payments-team"
    ));
    let api = relations("API", "orders");
    assert!(has(
        &api,
        RelationType::ApiProvidedBy,
        "component:default/orders-api"
    ));
    assert!(has(&api, RelationType::PartOf, "system:default/checkout"));
    let db = relations("Resource", "orders-db");
    assert!(has(
        &db,
        RelationType::DependencyOf,
        "component:default/orders-api"
    ));
    let jane = relations("User", "jane");
    assert_eq!(
        jane,
        [("memberOf".to_string(), "group:default/finance".to_string())]
    );
}

#[test]
fn empty_labels_and_annotations_survive_the_way_back() {
    // Found by the catalog_import fuzz target: `annotations: {}` was kept on
    // import and left out on export, so the entity changed on the way back.
    let text = "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n  labels: {}\n  annotations:\n   {}\nspec: {type: service, lifecycle: production, owner: team}\n";
    let imported = backstage::import(text, None).unwrap().entities;
    let entity = &imported[0];
    let again = backstage::from_backstage(&backstage::to_backstage(entity), "default");
    assert_eq!(again.as_ref(), Ok(entity));
}

#[test]
fn kubectls_last_applied_annotation_is_not_imported_so_the_way_back_holds() {
    // Found by the catalog_import fuzz target: the annotation was kept on
    // import and left out on export.
    let text = format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n  annotations:\n    {}: x\n    backstage.io/techdocs-ref: dir:.\nspec: {{type: service, lifecycle: production, owner: team}}\n",
        backstage::LAST_APPLIED
    );
    let imported = backstage::import(&text, None).unwrap().entities;
    let entity = &imported[0];
    let annotations = entity.metadata.annotations.as_ref().unwrap();
    assert_eq!(
        annotations.keys().collect::<Vec<_>>(),
        ["backstage.io/techdocs-ref"]
    );
    let again = backstage::from_backstage(&backstage::to_backstage(entity), "default");
    assert_eq!(again.as_ref(), Ok(entity));
}

#[test]
fn export_leaves_out_what_kubectl_apply_keeps() {
    let mut entity = imported().remove(0);
    let annotations = entity.metadata.annotations.get_or_insert_default();
    annotations.insert(backstage::LAST_APPLIED.into(), "{\"apiVersion\": \"...\"}".into());
    let exported = backstage::to_backstage(&entity);
    let original = &documents(&std::fs::read_to_string(CORPUS).unwrap())[0];
    assert_eq!(&exported, original);
}

#[test]
fn import_names_the_document_it_cannot_take() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    std::fs::write(
        &file,
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: ok}\n\
         spec: {type: service, lifecycle: production, owner: a}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\nspec: {targets: [./a.yaml]}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: Gadget\nmetadata: {name: g}\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = goldpath(&["catalog", "import", file.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(stdout, "", "nothing is printed when a document fails");
    assert!(
        stderr.contains("document 2: a Location points at other files"),
        "{stderr}"
    );
    assert!(
        stderr.contains("document 3: Gadget g: unknown variant `Gadget`"),
        "{stderr}"
    );
}

#[test]
fn import_into_a_namespace_and_report_what_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    std::fs::write(
        &file,
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team, uid: x, custom: y}\n\
         spec: {type: team, children: []}\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = goldpath(&["catalog", "import", "-n", "platform", file.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let entity: CatalogEntity = serde_json::from_value(documents(&stdout).remove(0)).unwrap();
    assert_eq!(entity.metadata.namespace.as_deref(), Some("platform"));
    assert!(
        stderr.contains("document 1: metadata.custom has no place"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("metadata.uid"),
        "Backstage's own fields are not reported: {stderr}"
    );
}
