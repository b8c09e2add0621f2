//! The client side of `bench/catalog`: creates a catalog in bulk, watches it
//! converge, and measures how fast source status changes reach entities.
//!
//! ```text
//! catalog-load create NAMESPACE COUNT         create COUNT entities, 3 relations per Component
//! catalog-load converge NAMESPACE COUNT        wait until every entity shows all its relations
//! catalog-load ceiling NAMESPACE COUNT         create COUNT's Components and write each status once, as the operator would
//! catalog-load propagate NAMESPACE CHANGES     change ACK Buckets' status, time until entities show it
//! ```
//! `create`, `converge` and `ceiling` print seconds; `propagate` prints
//! latencies in milliseconds, one per line. Uses `KUBECONFIG`.
//!
//! The catalog is `catalog_shape.rs`'s: every Component has three relations
//! of its own plus the inverse `dependencyOf`; `create` makes a labelled ACK
//! Bucket for each annotated `backstage.io/kubernetes-id`, and a synced,
//! healthy Argo CD Application for each annotated `argocd/app-name`.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use goldpath::api::{CatalogEntity, CatalogEntityStatus, Relation, RelationType};
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

#[path = "parallel.rs"]
mod parallel;
use parallel::in_parallel;

#[path = "catalog_shape.rs"]
mod catalog_shape;
use catalog_shape::*;

/// Every entity's name and how many relations it has once converged.
fn expected(count: usize) -> HashMap<String, usize> {
    let components = components(count);
    let mut expected = HashMap::new();
    for i in 0..components {
        // ownedBy, partOf, dependsOn, and dependencyOf from the previous one.
        let own = if components > 1 { 4 } else { 3 };
        expected.insert(format!("c-{i}"), own);
    }
    let (groups, systems) = (groups(count), systems(count));
    for g in 0..groups {
        expected.insert(
            format!("g-{g}"),
            components / groups + usize::from(g < components % groups),
        );
    }
    for s in 0..systems {
        expected.insert(
            format!("s-{s}"),
            components / systems + usize::from(s < components % systems),
        );
    }
    expected
}

fn application_resource() -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Application".into(),
        plural: "applications".into(),
    }
}

fn bucket_resource() -> ApiResource {
    ApiResource {
        group: "s3.services.k8s.aws".into(),
        version: "v1alpha1".into(),
        api_version: "s3.services.k8s.aws/v1alpha1".into(),
        kind: "Bucket".into(),
        plural: "buckets".into(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let client = Client::try_default().await?;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["create", namespace, count] => {
            let count: usize = count.parse()?;
            let start = Instant::now();
            create(&client, namespace, count).await?;
            println!("{:.3}", start.elapsed().as_secs_f64());
        }
        ["converge", namespace, count] => {
            let start = Instant::now();
            converge(&client, namespace, count.parse()?).await?;
            println!("{:.3}", start.elapsed().as_secs_f64());
        }
        ["ceiling", namespace, count] => {
            let start = Instant::now();
            ceiling(&client, namespace, count.parse()?).await?;
            println!("{:.3}", start.elapsed().as_secs_f64());
        }
        ["propagate", namespace, changes] => {
            for latency in propagate(&client, namespace, changes.parse()?).await? {
                println!("{:.1}", latency.as_secs_f64() * 1000.0);
            }
        }
        _ => anyhow::bail!(
            "usage: catalog-load create|converge|ceiling NAMESPACE COUNT | propagate NAMESPACE CHANGES"
        ),
    }
    Ok(())
}

async fn create(client: &Client, namespace: &str, count: usize) -> anyhow::Result<()> {
    let entities: Api<CatalogEntity> = Api::namespaced(client.clone(), namespace);
    let bucket_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &bucket_resource());
    let params = PostParams::default();
    let argocd = Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &application_resource());
    let first = applications(count).start;
    in_parallel(applications(count).len(), |i| {
        let (argocd, params) = (&argocd, &params);
        let i = first + i;
        async move {
            // Argo CD's CRD has no status subresource: the status is created with it.
            let application: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {"name": format!("c-{i}"), "namespace": namespace},
                "spec": {"project": namespace, "destination": {"namespace": namespace},
                         "source": {"repoURL": "https://git.example.com/c.git", "path": "."}},
                "status": {"sync": {"status": "Synced", "revision": "4f1c2e9"},
                           "health": {"status": "Healthy"}},
            }))?;
            argocd.create(params, &application).await?;
            Ok(())
        }
    })
    .await?;
    in_parallel(buckets(count), |i| {
        let (buckets, params) = (&bucket_api, &params);
        async move {
            let bucket: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "s3.services.k8s.aws/v1alpha1", "kind": "Bucket",
                "metadata": {"name": format!("b-{i}"), "namespace": namespace,
                             "labels": {"backstage.io/kubernetes-id": format!("c-{i}")}},
                "spec": {"name": format!("b-{i}")},
            }))?;
            buckets.create(params, &bucket).await?;
            Ok(())
        }
    })
    .await?;
    in_parallel(count, |i| {
        let (entities, params) = (&entities, &params);
        async move {
            let object: CatalogEntity = serde_json::from_value(catalog_entity(namespace, i, count))?;
            entities.create(params, &object).await?;
            Ok(())
        }
    })
    .await
}

/// Watches until every entity has all its relations in status.
async fn converge(client: &Client, namespace: &str, count: usize) -> anyhow::Result<()> {
    let mut missing = expected(count);
    // Systems own nothing but are owned by g-0: one more relation each, and
    // g-0 owns every System.
    for s in 0..systems(count) {
        *missing.get_mut(&format!("s-{s}")).unwrap() += 1;
    }
    *missing.get_mut("g-0").unwrap() += systems(count);
    let api: Api<CatalogEntity> = Api::namespaced(client.clone(), namespace);
    let mut events = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .applied_objects()
        .boxed();
    while let Some(entity) = events.try_next().await? {
        let name = entity.name_any();
        let have = entity.status.as_ref().map_or(0, |s| s.relations.len());
        if missing.get(&name).is_some_and(|want| have >= *want) {
            missing.remove(&name);
            if missing.is_empty() {
                return Ok(());
            }
        }
    }
    anyhow::bail!("the watch ended with {} entities incomplete", missing.len())
}

/// What the operator's writes cost the API server on their own: as many
/// entities as a catalog of `count` has Components, and one server-side
/// apply of a status of the same size to each.
async fn ceiling(client: &Client, namespace: &str, count: usize) -> anyhow::Result<()> {
    let entities: Api<CatalogEntity> = Api::namespaced(client.clone(), namespace);
    let params = PostParams::default();
    in_parallel(components(count), |i| {
        let (entities, params) = (&entities, &params);
        async move {
            let name = format!("ceiling-{i}");
            let mut object: CatalogEntity = serde_json::from_value(component(namespace, i, count))?;
            object.metadata.name = Some(name.clone());
            object.metadata.annotations = None;
            entities.create(params, &object).await?;
            let target = |type_, target_ref: &str| Relation {
                type_,
                target_ref: target_ref.into(),
            };
            let status = CatalogEntityStatus {
                relations: vec![
                    target(RelationType::DependencyOf, "component:bench/c-0"),
                    target(RelationType::DependsOn, "component:bench/c-1"),
                    target(RelationType::OwnedBy, "group:bench/g-0"),
                    target(RelationType::PartOf, "system:bench/s-0"),
                ],
                ..CatalogEntityStatus::default()
            };
            let patch =
                json!({"apiVersion": "goldpath.dev/v1alpha1", "kind": "CatalogEntity", "status": status});
            entities
                .patch_status(
                    &name,
                    &PatchParams::apply("ceiling").force(),
                    &Patch::Apply(&patch),
                )
                .await?;
            Ok(())
        }
    })
    .await
}

/// Flips each Bucket's `Ready` condition in turn and measures how long
/// until its entity's row shows the new status.
async fn propagate(client: &Client, namespace: &str, changes: usize) -> anyhow::Result<Vec<Duration>> {
    let buckets: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &bucket_resource());
    let entities: Api<CatalogEntity> = Api::namespaced(client.clone(), namespace);
    // entity name -> (status its Bucket row must show, when it was written)
    let pending: Arc<Mutex<HashMap<String, (String, Instant)>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    // Set once the watch has listed every entity: a change written before
    // would be timed from before the list, not until the operator shows it.
    let (listed, mut listed_rx) = tokio::sync::watch::channel(false);
    let watching = {
        let (pending, latencies) = (pending.clone(), latencies.clone());
        tokio::spawn(async move {
            let mut events = watcher(entities, watcher::Config::default().any_semantic())
                .default_backoff()
                .boxed();
            while let Ok(Some(event)) = events.try_next().await {
                let entity = match event {
                    watcher::Event::InitDone => {
                        let _ = listed.send(true);
                        continue;
                    }
                    watcher::Event::Apply(entity) => entity,
                    _ => continue,
                };
                let row = entity
                    .status
                    .as_ref()
                    .and_then(|s| s.sources.iter().find(|r| r.kind == "Bucket"))
                    .map(|r| format!("{:?}", r.status));
                let mut pending = pending.lock().unwrap();
                if let Some((want, since)) = pending.get(&entity.name_any())
                    && row.as_deref() == Some(want.as_str())
                {
                    latencies.lock().unwrap().push(since.elapsed());
                    pending.remove(&entity.name_any());
                }
            }
        })
    };
    listed_rx.wait_for(|listed| *listed).await?;
    for change in 0..changes {
        let i = change % PROPAGATE;
        // The opposite of the Bucket's Ready condition now, so every write
        // is a change, on a fresh catalog or one a previous run flipped.
        let bucket = buckets.get_status(&format!("b-{i}")).await?;
        let ready = bucket.data["status"]["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
            .is_none_or(|c| c["status"] != "True");
        let status = json!({"status": {"conditions": [
            {"type": "Ready", "status": if ready { "True" } else { "False" }},
            {"type": "ACK.ResourceSynced", "status": if ready { "True" } else { "False" }},
        ]}});
        pending.lock().unwrap().insert(
            format!("c-{i}"),
            (
                if ready { "Current" } else { "InProgress" }.to_string(),
                Instant::now(),
            ),
        );
        buckets
            .patch_status(&format!("b-{i}"), &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        // Spread the changes out, as real controllers' updates are.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pending.lock().unwrap().is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watching.abort();
    let missed = pending.lock().unwrap().len();
    anyhow::ensure!(
        missed == 0,
        "{missed} changes never reached their entity within 60 s"
    );
    let mut latencies = latencies.lock().unwrap().clone();
    latencies.sort();
    Ok(latencies)
}
