//! The bench catalog's shape, shared by its load client and its memory
//! figures: one Group per 100 entities, one System per 200, and Components
//! `c-0`... owned by a Group, part of a System, depending on the next
//! Component. One Component in 100 (at least 100) is annotated
//! `backstage.io/kubernetes-id: c-N` and has a Bucket; the next one in 100 is
//! annotated `argocd/app-name: c-N` and has an Argo CD Application.

use serde_json::json;

/// The Buckets `propagate` changes in turn.
pub const PROPAGATE: usize = 100;

pub fn groups(count: usize) -> usize {
    (count / 100).max(1)
}

pub fn systems(count: usize) -> usize {
    (count / 200).max(1)
}

pub fn components(count: usize) -> usize {
    count.saturating_sub(groups(count) + systems(count))
}

/// Components with a Bucket each: the first ones.
pub fn buckets(count: usize) -> usize {
    (components(count) / 100).max(PROPAGATE).min(components(count))
}

/// Components with an Argo CD Application each: those after the Buckets'.
pub fn applications(count: usize) -> std::ops::Range<usize> {
    let first = buckets(count);
    first..(first + components(count) / 100).min(components(count))
}

/// The `i`th of `count` entities: the Groups, then the Systems, then the
/// Components.
pub fn catalog_entity(namespace: &str, i: usize, count: usize) -> serde_json::Value {
    let (groups, systems) = (groups(count), systems(count));
    if i < groups {
        json!({"apiVersion": "goldpath.dev/v1alpha1", "kind": "CatalogEntity",
               "metadata": {"name": format!("g-{i}"), "namespace": namespace},
               "spec": {"kind": "Group", "type": "team"}})
    } else if i < groups + systems {
        json!({"apiVersion": "goldpath.dev/v1alpha1", "kind": "CatalogEntity",
               "metadata": {"name": format!("s-{}", i - groups), "namespace": namespace},
               "spec": {"kind": "System", "owner": "g-0"}})
    } else {
        component(namespace, i - groups - systems, count)
    }
}

/// The `i`th Component of a catalog of `count` entities.
pub fn component(namespace: &str, i: usize, count: usize) -> serde_json::Value {
    let components = components(count);
    let mut annotations = serde_json::Map::new();
    if i < buckets(count) {
        annotations.insert("backstage.io/kubernetes-id".into(), json!(format!("c-{i}")));
    }
    if applications(count).contains(&i) {
        annotations.insert("argocd/app-name".into(), json!(format!("c-{i}")));
    }
    json!({
        "apiVersion": "goldpath.dev/v1alpha1",
        "kind": "CatalogEntity",
        "metadata": {"name": format!("c-{i}"), "namespace": namespace, "annotations": annotations},
        "spec": {
            "kind": "Component", "type": "service", "lifecycle": "production",
            "owner": format!("g-{}", i % groups(count)),
            "system": format!("s-{}", i % systems(count)),
            "dependsOn": [format!("component:c-{}", (i + 1) % components)],
        },
    })
}
