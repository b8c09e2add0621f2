//! The catalog's entities as the entity watch last saw them, each as the
//! catalog keeps it ([`CachedEntity`]), by namespace and name: what the
//! controller reconciles and the portal, the export and the metrics read.
//!
//! kube's reflector store would key each entity by a 96-byte reference
//! (with copies of its uid and resourceVersion) and need each to carry a
//! whole `ObjectMeta`; here an entity's key is its own (`Key`, two shared
//! names), and a namespace's name is held once for all its entities.
//!
//! A list (the watch's first, or one after its resourceVersion expired) is
//! taken whole when it is done, as the reflector does: until then the
//! entities seen before it are still the ones read.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use kube::runtime::watcher::Event;

use super::cached::{CachedEntity, Key};
use crate::api::CatalogEntity;

/// Every entity, by key.
#[derive(Default)]
pub struct Entities {
    entities: RwLock<HashMap<Key, Arc<CachedEntity>>>,
    /// The list under way, if one is.
    listing: Mutex<Option<HashMap<Key, Arc<CachedEntity>>>>,
    /// Each namespace's name, once.
    namespaces: Mutex<HashSet<Arc<str>>>,
}

impl Entities {
    /// The entity `key` names, if there is one.
    pub fn get(&self, key: &Key) -> Option<Arc<CachedEntity>> {
        self.read().get(key).cloned()
    }

    /// Every entity.
    pub fn all(&self) -> Vec<Arc<CachedEntity>> {
        self.read().values().cloned().collect()
    }

    /// Every entity's key.
    pub fn keys(&self) -> Vec<Key> {
        self.read().keys().cloned().collect()
    }

    /// Takes in a watch event; returns the entity it applied, if it applied
    /// one that can be read at once (not part of a list under way).
    pub fn apply(&self, event: Event<CatalogEntity>) -> Option<Key> {
        match event {
            Event::Apply(entity) => {
                let entity = self.keep(entity);
                let key = entity.key().clone();
                self.write().insert(key.clone(), entity);
                Some(key)
            }
            Event::Delete(entity) => {
                let namespace = entity.metadata.namespace.as_deref().unwrap_or_default();
                let name = entity.metadata.name.as_deref().unwrap_or_default();
                self.write().remove(&Key::new(namespace, name));
                None
            }
            Event::Init => {
                *self.list() = Some(HashMap::new());
                None
            }
            Event::InitApply(entity) => {
                let entity = self.keep(entity);
                self.list()
                    .get_or_insert_default()
                    .insert(entity.key().clone(), entity);
                None
            }
            Event::InitDone => {
                if let Some(listed) = self.list().take() {
                    *self.write() = listed;
                }
                None
            }
        }
    }

    /// `entity` as kept, its namespace's name shared.
    fn keep(&self, entity: CatalogEntity) -> Arc<CachedEntity> {
        let namespace = entity.metadata.namespace.as_deref().unwrap_or_default();
        let mut namespaces = self.namespaces.lock().unwrap_or_else(PoisonError::into_inner);
        let shared = match namespaces.get(namespace) {
            Some(shared) => shared.clone(),
            None => {
                let shared: Arc<str> = namespace.into();
                namespaces.insert(shared.clone());
                shared
            }
        };
        drop(namespaces);
        Arc::new(CachedEntity::new(entity, shared))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Key, Arc<CachedEntity>>> {
        self.entities.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Key, Arc<CachedEntity>>> {
        self.entities.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn list(&self) -> std::sync::MutexGuard<'_, Option<HashMap<Key, Arc<CachedEntity>>>> {
        self.listing.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entity(namespace: &str, name: &str, owner: &str) -> CatalogEntity {
        serde_json::from_value(json!({
            "apiVersion": "goldpath.dev/v1alpha1", "kind": "CatalogEntity",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"kind": "Component", "type": "service", "lifecycle": "production", "owner": owner},
        }))
        .unwrap()
    }

    fn owner(entities: &Entities, namespace: &str, name: &str) -> Option<String> {
        let entity = entities.get(&Key::new(namespace, name))?;
        entity.entity().spec.owner
    }

    #[test]
    fn changes_are_read_at_once_and_a_list_when_it_is_done() {
        let entities = Entities::default();
        let applied = entities.apply(Event::Apply(entity("team-a", "web", "a")));
        assert_eq!(applied, Some(Key::new("team-a", "web")));
        assert_eq!(owner(&entities, "team-a", "web").as_deref(), Some("a"));

        // A list: the old entities are read until it is done, then only
        // what it listed.
        assert_eq!(entities.apply(Event::Init), None);
        assert_eq!(
            entities.apply(Event::InitApply(entity("team-a", "db", "a"))),
            None
        );
        assert_eq!(
            entities.apply(Event::InitApply(entity("team-b", "web", "b"))),
            None
        );
        assert_eq!(owner(&entities, "team-a", "web").as_deref(), Some("a"));
        assert_eq!(owner(&entities, "team-a", "db"), None);
        entities.apply(Event::InitDone);
        assert_eq!(owner(&entities, "team-a", "web"), None, "not listed: gone");
        assert_eq!(owner(&entities, "team-a", "db").as_deref(), Some("a"));
        assert_eq!(owner(&entities, "team-b", "web").as_deref(), Some("b"));
        let mut keys = entities.keys();
        keys.sort();
        assert_eq!(keys, [Key::new("team-a", "db"), Key::new("team-b", "web")]);

        entities.apply(Event::Delete(entity("team-b", "web", "b")));
        assert_eq!(entities.all().len(), 1);
    }

    #[test]
    fn a_namespaces_name_is_held_once() {
        let entities = Entities::default();
        entities.apply(Event::Apply(entity("team-a", "web", "a")));
        entities.apply(Event::Apply(entity("team-a", "db", "a")));
        let web = entities.get(&Key::new("team-a", "web")).unwrap();
        let db = entities.get(&Key::new("team-a", "db")).unwrap();
        assert!(Arc::ptr_eq(&web.key().namespace, &db.key().namespace));
    }
}
