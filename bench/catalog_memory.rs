//! `make bench-catalog-memory`: what the operator holds per catalog entity,
//! by part, without a cluster.
//!
//! ```text
//! catalog-memory [COUNT]     default 10,000; the shape of `bench/catalog`'s catalog
//! ```
//!
//! Each entity is made as `bench/catalog` makes it, with what the API server
//! adds (uid, resourceVersion, generation, creation time) and the status the
//! operator converges to (relations, conditions, health; computed here by
//! the catalog's own index and status code, without source objects), and
//! serialized as the watch receives it. Then, with a counting allocator:
//!
//! - the catalog's store: what the controller reads, filled from that JSON
//!   as the entity watch fills it, each entity as the catalog keeps it
//!   (`catalog::store`, `catalog::cached`);
//! - the index: relations, lookups, reverse maps;
//! - the peers: the same objects typed and whole (managedFields and the
//!   last-applied annotation stripped) in kube's reflector store, what the
//!   operator held before it kept entities compact; held as `serde_json::Value`, what a cache of untyped
//!   objects would hold; and the JSON itself;
//! - an entity as the portal's catalog routes read it: its Backstage form
//!   and searchable values, which a query makes one entity at a time.
//!
//! Prints bytes per entity and the ratios. Allocator overhead, the
//! controller's queue and the process are not counted; `bench/catalog`
//! measures RSS.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use goldpath::api::CatalogEntity;
use goldpath::catalog::backstage::LAST_APPLIED;
use goldpath::catalog::cached::CachedEntity;
use goldpath::catalog::index::Index;
use goldpath::catalog::status;
use goldpath::catalog::store::Entities;
use goldpath::config::Config;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::reflector;
use kube::runtime::watcher::Event;
use serde_json::json;

#[path = "catalog_shape.rs"]
mod catalog_shape;

/// The system allocator, counting the bytes live.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: each call forwards to `System` with the caller's arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        LIVE.fetch_add(size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated by `make` and still held by what it returns.
fn held<T>(make: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    let made = make();
    (made, LIVE.load(Ordering::Relaxed).saturating_sub(before))
}

const NAMESPACE: &str = "catalog-bench";

/// Every entity as the entity watch receives it once the catalog converged.
fn watched(count: usize, config: &Config) -> Vec<Vec<u8>> {
    let argocd = &config.argocd.namespace;
    let mut entities: Vec<CatalogEntity> = (0..count)
        .map(|i| {
            let mut entity = catalog_shape::catalog_entity(NAMESPACE, i, count);
            let metadata = entity["metadata"].as_object_mut().unwrap();
            metadata.insert("uid".into(), json!(format!("8d5c1c6e-0f0b-4a53-9c1e-{i:012x}")));
            metadata.insert("resourceVersion".into(), json!((1_000_000 + i).to_string()));
            metadata.insert("generation".into(), json!(1));
            metadata.insert("creationTimestamp".into(), json!("2026-11-30T05:00:00Z"));
            serde_json::from_value(entity).unwrap()
        })
        .collect();
    let mut index = Index::default();
    for entity in &entities {
        index.entity_applied(entity, argocd);
    }
    let now = Timestamp::now();
    for entity in &mut entities {
        let tenant = config.tenant(NAMESPACE);
        let kept = CachedEntity::from(entity.clone());
        let observed = index.observe(&kept, argocd, &tenant);
        entity.status = status::update(&kept, observed, now, Duration::from_secs(600));
    }
    entities.iter().map(|e| serde_json::to_vec(e).unwrap()).collect()
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse().expect("COUNT is a number"))
        .unwrap_or(10_000);
    let config = Config::default();
    let wire = watched(count, &config);
    let json: usize = wire.iter().map(Vec::len).sum();

    let (store, cached) = held(|| {
        let store = Entities::default();
        store.apply(Event::Init);
        for bytes in &wire {
            // As the entity watch keeps them (controller::catalog).
            let entity: CatalogEntity = serde_json::from_slice(bytes).unwrap();
            store.apply(Event::InitApply(entity));
        }
        store.apply(Event::InitDone);
        store
    });
    let (index, indexed) = held(|| {
        let mut index = Index::default();
        for bytes in &wire {
            let entity: CatalogEntity = serde_json::from_slice(bytes).unwrap();
            index.entity_applied(&entity, &config.argocd.namespace);
        }
        index
    });
    let (portal, listed) = held(|| {
        store
            .all()
            .iter()
            .map(|entity| {
                let backstage = entity.to_backstage();
                let flat = goldpath::catalog::query::flatten(&backstage);
                (backstage, flat)
            })
            .collect::<Vec<_>>()
    });
    drop((portal, index, store));
    let (typed, whole) = held(|| {
        let (store, mut writer) = reflector::store::<CatalogEntity>();
        writer.apply_watcher_event(&Event::Init);
        for bytes in &wire {
            let mut entity: CatalogEntity = serde_json::from_slice(bytes).unwrap();
            entity.managed_fields_mut().clear();
            entity.annotations_mut().remove(LAST_APPLIED);
            writer.apply_watcher_event(&Event::InitApply(entity));
        }
        writer.apply_watcher_event(&Event::InitDone);
        store
    });
    drop(typed);
    let (values, untyped) = held(|| {
        wire.iter()
            .map(|bytes| serde_json::from_slice::<serde_json::Value>(bytes).unwrap())
            .collect::<Vec<_>>()
    });
    drop(values);

    let per = |bytes: usize| bytes as f64 / count as f64;
    let ours = cached + indexed;
    println!("{count} entities (the shape of bench/catalog's catalog, converged)");
    println!(
        "{:<46} {:>8.0} B",
        "JSON as the watch receives it, per entity",
        per(json)
    );
    println!(
        "{:<46} {:>8.0} B",
        "the catalog's store (the controller's cache)",
        per(cached)
    );
    println!("{:<46} {:>8.0} B", "the index (relations, lookups)", per(indexed));
    println!(
        "{:<46} {:>8.0} B",
        "peer: the typed objects, whole, in kube's store",
        per(whole)
    );
    println!("{:<46} {:>8.0} B", "goldpath: store and index", per(ours));
    println!(
        "{:<46} {:>8.0} B",
        "peer: the objects as serde_json::Value",
        per(untyped)
    );
    println!(
        "{:<46} {:>8.0} B",
        "an entity as the portal reads it (one at a time)",
        per(listed)
    );
    println!(
        "store / typed objects {:.2}x; goldpath / untyped objects {:.2}x; goldpath / JSON {:.2}x",
        cached as f64 / whole as f64,
        ours as f64 / untyped as f64,
        ours as f64 / json as f64
    );
}
