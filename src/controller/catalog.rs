//! The CatalogEntity controller: relations kept in an incremental graph and
//! the status of Argo CD Applications, ACK resources and KubeVela
//! Applications rolled up into each entity, all driven by watches.
//!
//! - One watch on CatalogEntities feeds both the controller's store and the
//!   [`Index`]: every change updates the relation graph at once and queues
//!   the other entities whose relations it changed.
//! - One watch on CustomResourceDefinitions finds the kinds that roll up
//!   (Argo CD's and KubeVela's Applications, every kind of a group ending in
//!   `.services.k8s.aws`), including ones installed later, and starts a watch
//!   on each; a watch stops when its CRD is deleted. Each source watch keeps
//!   only what the roll-up needs (labels and the normalized status) and
//!   queues the entities an object's change concerns.
//! - Reconciling an entity computes its status from the index
//!   ([`crate::catalog::status::status`]) and writes it only when it differs
//!   from what is there, so a resync of an unchanged catalog writes nothing.
//!   No entity is reconciled before every watch has listed its objects once,
//!   so startup does not write half-known relations.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::guard::{self, Guarded, Reporter};
use super::{Error, FIELD_MANAGER, Leadership, is_transient, kube_error};
use crate::api::SourceHealth;
use crate::api::{CatalogEntity, CatalogEntityStatus};
use crate::catalog::figures::{Figures, figures};
use crate::catalog::lookup::{KUBERNETES_ID, Lookup};
use crate::catalog::relations::{self, Graph};
use crate::catalog::rollup::{self, Normalized, SourceRef};
use crate::catalog::status::{self, Observed};
use crate::catalog::validation;
use crate::config::{Config, pattern_matches};
use crate::telemetry::Metrics;

/// The kinds whose objects roll up into entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Family {
    /// Argo CD `argoproj.io` Application: found by `argocd/app-name`.
    ArgoCd,
    /// Any kind of an ACK `*.services.k8s.aws` group: found by label.
    Ack,
    /// KubeVela `core.oam.dev` Application: found by label.
    KubeVela,
}

impl Family {
    /// The family of a CRD's kind, if it rolls up.
    fn of(group: &str, kind: &str) -> Option<Family> {
        match (group, kind) {
            ("argoproj.io", "Application") => Some(Family::ArgoCd),
            ("core.oam.dev", "Application") => Some(Family::KubeVela),
            (group, _) if group.ends_with(".services.k8s.aws") => Some(Family::Ack),
            _ => None,
        }
    }

    fn normalize(self, object: &serde_json::Value) -> Normalized {
        match self {
            Family::ArgoCd => rollup::argocd(object),
            Family::Ack => rollup::ack(object),
            Family::KubeVela => rollup::kubevela(object),
        }
    }
}

/// What the index keeps of a source object.
#[derive(Debug, Clone, PartialEq)]
struct Source {
    family: Family,
    labels: BTreeMap<String, String>,
    normalized: Normalized,
    /// An Argo CD Application's `spec.project` (empty when it has none);
    /// `None` when the object could not be read.
    project: Option<String>,
}

/// What the index keeps of an entity.
#[derive(Debug, Clone)]
struct Known {
    entity_ref: String,
    lookup: Lookup,
}

/// Entities, their relations and lookups, and the source objects, with the
/// reverse maps that answer "which entities does this object concern".
#[derive(Debug, Default)]
struct Index {
    graph: Graph,
    entities: HashMap<ObjectRef<CatalogEntity>, Known>,
    /// Entities by the Argo CD Application `(namespace, name)` they name.
    by_application: HashMap<(String, String), HashSet<ObjectRef<CatalogEntity>>>,
    /// Entities by namespace and `backstage.io/kubernetes-id`.
    by_id: HashMap<(String, String), HashSet<ObjectRef<CatalogEntity>>>,
    /// Entities with a label selector; each is checked against a changed object.
    with_selector: HashSet<ObjectRef<CatalogEntity>>,
    sources: HashMap<SourceRef, Source>,
    /// Argo CD Applications by `(namespace, name)`.
    applications: HashMap<(String, String), SourceRef>,
    /// Labelled sources by namespace and the value of their
    /// `backstage.io/kubernetes-id`.
    sources_by_id: HashMap<(String, String), BTreeSet<SourceRef>>,
}

/// How many objects found by label roll up into one entity at most, so a
/// broad selector cannot grow a status past what the API server stores.
const MAX_LABELLED: usize = 100;

/// A labelled object's key: its namespace and its `backstage.io/kubernetes-id`.
fn labelled_key(source: &SourceRef, id: &str) -> (String, String) {
    (source.namespace.clone().unwrap_or_default(), id.to_string())
}

fn application_key(source: &SourceRef) -> (String, String) {
    (source.namespace.clone().unwrap_or_default(), source.name.clone())
}

fn entity_object(entity_ref: &str) -> Option<ObjectRef<CatalogEntity>> {
    let (_, rest) = entity_ref.split_once(':')?;
    let (namespace, name) = rest.split_once('/')?;
    Some(ObjectRef::new(name).within(namespace))
}

impl Index {
    /// Records an entity; returns the other entities to look at again.
    fn entity_applied(&mut self, entity: &CatalogEntity, argocd_namespace: &str) -> BTreeSet<String> {
        let object = ObjectRef::from_obj(entity);
        let namespace = entity.namespace().unwrap_or_default();
        let entity_ref = relations::entity_ref(entity.spec.kind, &namespace, &entity.name_any());
        let outgoing = relations::outgoing(&namespace, &entity.spec);
        let lookup = Lookup::of(entity.annotations(), argocd_namespace);
        let mut touched = self.forget_entity(&object, Some(&entity_ref));
        touched.extend(self.graph.upsert(&entity_ref, outgoing.relations));
        if let Some(application) = &lookup.application {
            self.by_application
                .entry(application.clone())
                .or_default()
                .insert(object.clone());
        }
        if let Some(id) = &lookup.kubernetes_id {
            self.by_id
                .entry((namespace.clone(), id.clone()))
                .or_default()
                .insert(object.clone());
        }
        if lookup.selector.is_some() {
            self.with_selector.insert(object.clone());
        }
        touched.remove(&entity_ref);
        self.entities.insert(object, Known { entity_ref, lookup });
        touched
    }

    /// Drops an entity's lookups, and from the graph unless it stays there
    /// as `keep`; returns the entities the removal touched.
    fn forget_entity(&mut self, object: &ObjectRef<CatalogEntity>, keep: Option<&str>) -> BTreeSet<String> {
        let Some(known) = self.entities.remove(object) else {
            return BTreeSet::new();
        };
        if let Some(application) = &known.lookup.application
            && let Some(set) = self.by_application.get_mut(application)
        {
            set.remove(object);
            if set.is_empty() {
                self.by_application.remove(application);
            }
        }
        if let Some(id) = &known.lookup.kubernetes_id {
            let key = (object.namespace.clone().unwrap_or_default(), id.clone());
            if let Some(set) = self.by_id.get_mut(&key) {
                set.remove(object);
                if set.is_empty() {
                    self.by_id.remove(&key);
                }
            }
        }
        self.with_selector.remove(object);
        if keep == Some(known.entity_ref.as_str()) {
            BTreeSet::new()
        } else {
            self.graph.remove(&known.entity_ref)
        }
    }

    /// Records a source object; returns the entities it concerns, before or
    /// after, when what the roll-up reads of it changed.
    fn source_applied(&mut self, source: SourceRef, new: Source) -> HashSet<ObjectRef<CatalogEntity>> {
        let old = self.sources.get(&source).cloned();
        if old.as_ref() == Some(&new) {
            return HashSet::new();
        }
        let mut concerned = old
            .as_ref()
            .map(|old| self.concerned(&source, old))
            .unwrap_or_default();
        concerned.extend(self.concerned(&source, &new));
        self.unindex_source(&source, old.as_ref());
        if new.family == Family::ArgoCd {
            self.applications.insert(application_key(&source), source.clone());
        } else if let Some(id) = new.labels.get(KUBERNETES_ID) {
            self.sources_by_id
                .entry(labelled_key(&source, id))
                .or_default()
                .insert(source.clone());
        }
        self.sources.insert(source, new);
        concerned
    }

    /// Forgets every source object `gone` selects; returns the entities
    /// they concerned.
    fn forget_sources(&mut self, gone: impl Fn(&SourceRef) -> bool) -> HashSet<ObjectRef<CatalogEntity>> {
        let gone: Vec<SourceRef> = self.sources.keys().filter(|s| gone(s)).cloned().collect();
        let mut concerned = HashSet::new();
        for source in gone {
            concerned.extend(self.source_deleted(&source));
        }
        concerned
    }

    /// Forgets a source object; returns the entities it concerned.
    fn source_deleted(&mut self, source: &SourceRef) -> HashSet<ObjectRef<CatalogEntity>> {
        let Some(old) = self.sources.remove(source) else {
            return HashSet::new();
        };
        self.unindex_source(source, Some(&old));
        self.concerned(source, &old)
    }

    fn unindex_source(&mut self, source: &SourceRef, old: Option<&Source>) {
        if old.is_some_and(|old| old.family == Family::ArgoCd) {
            self.applications.remove(&application_key(source));
        }
        if let Some(id) = old.and_then(|old| old.labels.get(KUBERNETES_ID)) {
            let key = labelled_key(source, id);
            if let Some(set) = self.sources_by_id.get_mut(&key) {
                set.remove(source);
                if set.is_empty() {
                    self.sources_by_id.remove(&key);
                }
            }
        }
    }

    /// The entities an object with these labels concerns.
    fn concerned(&self, source: &SourceRef, object: &Source) -> HashSet<ObjectRef<CatalogEntity>> {
        let mut concerned = HashSet::new();
        if object.family == Family::ArgoCd {
            let key = application_key(source);
            concerned.extend(self.by_application.get(&key).into_iter().flatten().cloned());
            return concerned;
        }
        if let Some(id) = object.labels.get(KUBERNETES_ID) {
            let entities = self.by_id.get(&labelled_key(source, id));
            concerned.extend(entities.into_iter().flatten().cloned());
        }
        concerned.extend(
            self.with_selector
                .iter()
                .filter(|entity| entity.namespace == source.namespace)
                .filter(|entity| {
                    self.entities
                        .get(*entity)
                        .is_some_and(|known| known.lookup.selects(&object.labels))
                })
                .cloned(),
        );
        concerned
    }

    /// Everything the status of `entity` is computed from.
    /// `projects` are the AppProjects the entity's namespace may use
    /// (`tenancy.argocd.projects`): an Application of another project is
    /// not shown, as if it did not exist, so an entity cannot read another
    /// team's Application by naming it.
    fn observe(&self, entity: &CatalogEntity, argocd_namespace: &str, projects: &[String]) -> Observed {
        let namespace = entity.namespace().unwrap_or_default();
        let entity_ref = relations::entity_ref(entity.spec.kind, &namespace, &entity.name_any());
        // The lookup the entity's watch event parsed, when the index has it.
        let parsed;
        let lookup = match self.entities.get(&ObjectRef::from_obj(entity)) {
            Some(known) => &known.lookup,
            None => {
                parsed = Lookup::of(entity.annotations(), argocd_namespace);
                &parsed
            }
        };
        let mut sources = Vec::new();
        if let Some(application) = &lookup.application {
            let (namespace, name) = application;
            let found = self
                .applications
                .get(application)
                .and_then(|source| Some((source, self.sources.get(source)?)));
            let permitted = |object: &Source| match object.project.as_deref() {
                Some(project) => projects.iter().any(|p| pattern_matches(p, project)),
                // Unreadable: its row tells only that, nothing of the object.
                None => true,
            };
            sources.push(match found {
                Some((source, object)) if permitted(object) => (source.clone(), object.normalized.clone()),
                _ => {
                    let source = SourceRef::new("argoproj.io/v1alpha1", "Application", namespace, name);
                    let mut normalized = rollup::not_found(&source);
                    normalized.message = Some(format!(
                        "{source} does not exist in an AppProject of namespace {} \
                         (tenancy.argocd.projects)",
                        entity.namespace().unwrap_or_default()
                    ));
                    (source, normalized)
                }
            });
        }
        // Objects found by label: in the entity's own namespace only, so an
        // entity cannot show another team's objects by naming their labels.
        let mut labelled: BTreeSet<&SourceRef> = BTreeSet::new();
        if let Some(id) = &lookup.kubernetes_id {
            let key = (namespace.clone(), id.clone());
            labelled.extend(self.sources_by_id.get(&key).into_iter().flatten());
        }
        if lookup.selector.is_some() {
            labelled.extend(
                self.sources
                    .iter()
                    .filter(|(source, object)| {
                        object.family != Family::ArgoCd
                            && source.namespace.as_deref() == Some(namespace.as_str())
                            && lookup.selects(&object.labels)
                    })
                    .map(|(source, _)| source),
            );
        }
        let mut problems = validation::validate(entity);
        problems.extend(lookup.problems.iter().cloned());
        if labelled.len() > MAX_LABELLED {
            problems.push(validation::Problem {
                field: "metadata.annotations".into(),
                message: format!(
                    "{} objects carry its {KUBERNETES_ID} label or match its label selector; \
                     the first {MAX_LABELLED} by apiVersion, kind and name roll up",
                    labelled.len()
                ),
            });
        }
        for source in labelled.into_iter().take(MAX_LABELLED) {
            if let Some(object) = self.sources.get(source)
                && object.family != Family::ArgoCd
            {
                sources.push((source.clone(), object.normalized.clone()));
            }
        }
        Observed {
            relations: self.graph.relations(&entity_ref),
            unresolved: self.graph.unresolved(&entity_ref),
            sources,
            problems,
        }
    }
}

/// The live catalog: what the HTTP endpoint, the metrics and the controller
/// read.
pub struct Catalog {
    index: Mutex<Index>,
    store: Store<CatalogEntity>,
    queue: mpsc::UnboundedSender<ObjectRef<CatalogEntity>>,
    /// How many watches have not listed their objects yet.
    unlisted: watch::Sender<usize>,
    /// Whether the entity watch has listed once.
    entities_listed: AtomicBool,
    /// The operator's configuration: Argo CD's namespace and what each
    /// namespace's entities may show.
    config: Arc<Config>,
    deadline: Duration,
    metrics: Arc<Metrics>,
}

impl Catalog {
    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every entity, as the watch last saw it.
    pub fn entities(&self) -> Vec<Arc<CatalogEntity>> {
        self.store.state()
    }

    /// Whether every watch has listed its objects, so statuses are complete.
    pub fn is_synced(&self) -> bool {
        *self.unlisted.borrow() == 0
    }

    /// The catalog's figures for the metrics.
    pub fn figures(&self) -> Figures {
        let entities = self.store.state();
        let index = self.index();
        figures(entities.iter().map(Arc::as_ref), |entity_ref| {
            index.graph.contains(entity_ref)
        })
    }

    fn enqueue(&self, objects: impl IntoIterator<Item = ObjectRef<CatalogEntity>>) {
        for object in objects {
            // The receiver lives as long as the controller; after it stops
            // nothing needs reconciling.
            let _ = self.queue.send(object);
        }
    }

    fn enqueue_refs(&self, entity_refs: BTreeSet<String>) {
        self.enqueue(entity_refs.iter().filter_map(|r| entity_object(r)));
    }

    fn unlisted(&self) {
        self.unlisted.send_modify(|n| *n += 1);
    }

    async fn wait_synced(&self) {
        let mut unlisted = self.unlisted.subscribe();
        // Err only when the sender is gone, which is never while `self` lives.
        let _ = unlisted.wait_for(|n| *n == 0).await;
    }
}

/// Options of the catalog controller.
pub struct CatalogOptions {
    /// Watch only this namespace; `None` watches all.
    pub watch_namespace: Option<String>,
    /// The operator's configuration: where Argo CD Applications are, when
    /// `argocd/app-namespace` is not set, and the AppProjects whose
    /// Applications each namespace's entities may show.
    pub config: Arc<Config>,
    /// How long a source may stay in progress before the entity is Stalled.
    pub deadline: Duration,
    /// How many entities are reconciled at once.
    pub concurrency: u16,
}

/// The catalog and the future that runs its controller until `shutdown`.
pub fn catalog(
    client: Client,
    options: CatalogOptions,
    metrics: Arc<Metrics>,
    leadership: Leadership,
    reporter: Arc<Reporter>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> (Arc<Catalog>, impl Future<Output = ()>) {
    let (reader, writer) = reflector::store();
    let (queue, mut queued) = mpsc::unbounded_channel();
    let catalog = Arc::new(Catalog {
        index: Mutex::default(),
        store: reader.clone(),
        queue,
        // The entity watch and the CRD watch.
        unlisted: watch::Sender::new(2),
        entities_listed: AtomicBool::new(false),
        config: options.config.clone(),
        deadline: options.deadline,
        metrics,
    });

    let entities = super::guarded_api::<CatalogEntity>(&client, options.watch_namespace.as_deref());
    let indexing = catalog.clone();
    let mut listing = HashSet::new();
    // An entity that cannot be decoded is reported on itself and left out
    // of the catalog; the rest of the catalog goes on.
    let entity_events = guard::watch(entities, watcher::Config::default().any_semantic(), reporter)
        // Kept for every entity: what neither status nor export reads goes.
        .modify(|entity: &mut CatalogEntity| {
            entity.managed_fields_mut().clear();
            entity
                .annotations_mut()
                .remove(crate::catalog::backstage::LAST_APPLIED);
        })
        .map_ok(move |event| {
            indexing.entity_event(&event, &mut listing);
            event
        });
    let entity_stream = reflector::reflector(writer, entity_events).applied_objects();

    let sources = tokio::spawn(discover_sources(
        client.clone(),
        catalog.clone(),
        options.watch_namespace,
    ));
    let context = Arc::new(Reconciler {
        client,
        catalog: catalog.clone(),
        leadership,
    });
    let metrics = catalog.metrics.clone();
    let controller = Controller::for_stream(entity_stream, reader)
        .reconcile_on(futures::stream::poll_fn(move |cx| queued.poll_recv(cx)))
        .with_config(controller::Config::default().concurrency(options.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(
            |entity, context| super::instrumented("CatalogEntity", entity, context, reconcile),
            error_policy,
            context,
        )
        .for_each(move |result| {
            super::log_result("CatalogEntity", &metrics, result);
            std::future::ready(())
        });
    let run = async move {
        controller.await;
        sources.abort();
    };
    (catalog, run)
}

impl Catalog {
    /// Keeps the index in step with the entity watch. A relist (after a
    /// watch expired) is followed by removing the entities it no longer saw.
    fn entity_event(
        &self,
        event: &watcher::Event<CatalogEntity>,
        listing: &mut HashSet<ObjectRef<CatalogEntity>>,
    ) {
        let touched = {
            let mut index = self.index();
            match event {
                watcher::Event::Apply(entity) => index.entity_applied(entity, &self.config.argocd.namespace),
                watcher::Event::Delete(entity) => index.forget_entity(&ObjectRef::from_obj(entity), None),
                watcher::Event::Init => {
                    listing.clear();
                    BTreeSet::new()
                }
                watcher::Event::InitApply(entity) => {
                    listing.insert(ObjectRef::from_obj(entity));
                    // Every listed entity is reconciled anyway; only those
                    // the list no longer holds need queueing (InitDone).
                    index.entity_applied(entity, &self.config.argocd.namespace);
                    BTreeSet::new()
                }
                watcher::Event::InitDone => {
                    let gone: Vec<ObjectRef<CatalogEntity>> = index
                        .entities
                        .keys()
                        .filter(|object| !listing.contains(*object))
                        .cloned()
                        .collect();
                    let mut touched = BTreeSet::new();
                    for object in gone {
                        touched.extend(index.forget_entity(&object, None));
                    }
                    listing.clear();
                    touched
                }
            }
        };
        self.enqueue_refs(touched);
        if matches!(event, watcher::Event::InitDone) && !self.entities_listed.swap(true, Ordering::SeqCst) {
            self.listed_once("CatalogEntity");
        }
    }

    /// A watch whose first list the catalog waited for has listed.
    fn listed_once(&self, what: &str) {
        debug!(what, "listed");
        self.unlisted.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A running watch on one kind's objects.
struct SourceWatch {
    resource: ApiResource,
    task: tokio::task::JoinHandle<()>,
}

/// Watches CRDs and keeps one source watch per kind that rolls up: started
/// when its CRD is established, restarted when the served version changes,
/// stopped (and its objects forgotten) when the CRD goes, also when it went
/// while this watch was down (the relist no longer lists it).
async fn discover_sources(client: Client, catalog: Arc<Catalog>, namespace: Option<String>) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut watches: HashMap<(String, String), SourceWatch> = HashMap::new();
    let mut listing: HashSet<(String, String)> = HashSet::new();
    let mut listed = false;
    let mut last_error = None;
    let mut events = watcher(crds, watcher::Config::default().any_semantic())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        let event = match event {
            Ok(event) => {
                last_error = None;
                event
            }
            Err(error) => {
                let message = error.to_string();
                if last_error.as_ref() != Some(&message) {
                    warn!(error = %message, "cannot watch CustomResourceDefinitions; sources are not rolled up");
                    last_error = Some(message);
                }
                if !listed {
                    listed = true;
                    catalog.listed_once("CustomResourceDefinition");
                }
                continue;
            }
        };
        match event {
            watcher::Event::Apply(crd) | watcher::Event::InitApply(crd) => {
                let Some((family, resource)) = source_kind(&crd) else {
                    continue;
                };
                let key = (resource.group.clone(), resource.kind.clone());
                listing.insert(key.clone());
                match watches.get(&key) {
                    Some(watch)
                        if watch.resource.api_version == resource.api_version
                            && !watch.task.is_finished() =>
                    {
                        continue;
                    }
                    Some(_) => stop_watch(&mut watches, &key, &catalog).await,
                    None => {}
                }
                info!(group = %resource.group, kind = %resource.kind, version = %resource.version, "rolling up");
                if !listed {
                    catalog.unlisted();
                }
                let api = match (&namespace, family) {
                    (Some(_), Family::ArgoCd) => {
                        Api::namespaced_with(client.clone(), &catalog.config.argocd.namespace, &resource)
                    }
                    (Some(namespace), _) => Api::namespaced_with(client.clone(), namespace, &resource),
                    (None, _) => Api::all_with(client.clone(), &resource),
                };
                let task = tokio::spawn(watch_sources(
                    api,
                    family,
                    resource.clone(),
                    catalog.clone(),
                    !listed,
                ));
                watches.insert(key, SourceWatch { resource, task });
            }
            watcher::Event::Delete(crd) => {
                let key = (crd.spec.group.clone(), crd.spec.names.kind.clone());
                if watches.contains_key(&key) {
                    info!(group = %key.0, kind = %key.1, "no longer rolling up: CRD deleted");
                    stop_watch(&mut watches, &key, &catalog).await;
                }
            }
            watcher::Event::Init => listing.clear(),
            watcher::Event::InitDone => {
                let gone: Vec<(String, String)> = watches
                    .keys()
                    .filter(|key| !listing.contains(*key))
                    .cloned()
                    .collect();
                for key in gone {
                    info!(group = %key.0, kind = %key.1, "no longer rolling up: CRD gone");
                    stop_watch(&mut watches, &key, &catalog).await;
                }
                listing.clear();
                if !listed {
                    listed = true;
                    catalog.listed_once("CustomResourceDefinition");
                }
            }
        }
    }
}

/// Stops a kind's watch, waits for it to end, and forgets its objects.
async fn stop_watch(
    watches: &mut HashMap<(String, String), SourceWatch>,
    key: &(String, String),
    catalog: &Catalog,
) {
    if let Some(watch) = watches.remove(key) {
        watch.task.abort();
        // Ended, so no event of it lands after its objects are forgotten.
        let _ = watch.task.await;
        catalog.forget_kind(&watch.resource.api_version, &watch.resource.kind);
    }
}

/// The family and served version of a CRD whose objects roll up, once it
/// is established.
fn source_kind(crd: &CustomResourceDefinition) -> Option<(Family, ApiResource)> {
    let spec = &crd.spec;
    let family = Family::of(&spec.group, &spec.names.kind)?;
    let established = crd
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        });
    if !established {
        return None;
    }
    let version = spec
        .versions
        .iter()
        .filter(|v| v.served)
        .max_by_key(|v| v.storage)?;
    Some((
        family,
        ApiResource {
            group: spec.group.clone(),
            version: version.name.clone(),
            api_version: format!("{}/{}", spec.group, version.name),
            kind: spec.names.kind.clone(),
            plural: spec.names.plural.clone(),
        },
    ))
}

impl Catalog {
    fn source_event(
        &self,
        family: Family,
        resource: &ApiResource,
        event: watcher::Event<Guarded<DynamicObject>>,
        listing: &mut HashSet<SourceRef>,
    ) {
        let reference = |object: &Guarded<DynamicObject>| SourceRef {
            api_version: resource.api_version.clone(),
            kind: resource.kind.clone(),
            namespace: object.namespace(),
            name: object.name_any(),
        };
        // Another controller's object goldpath cannot read rolls up as
        // Unknown, saying so; it is not written to.
        let record = |object: Guarded<DynamicObject>| {
            let source = reference(&object);
            let labels = object.labels().clone();
            // An Application goldpath cannot read has no project it could
            // check: its row says only that it cannot be read.
            let project = match &object.0 {
                Ok(object) => Some(
                    object.data["spec"]["project"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
                Err(_) => None,
            };
            let normalized = match object.0 {
                Ok(object) => family.normalize(&serde_json::to_value(&object).unwrap_or_default()),
                Err(bad) => {
                    warn!(kind = %resource.kind, object = %format!("{}/{}", source.namespace.as_deref().unwrap_or_default(), source.name),
                        problem = %bad.problem, "a source goldpath cannot read rolls up as Unknown");
                    Normalized::new(
                        SourceHealth::Unknown,
                        guard::REASON,
                        format!("goldpath cannot read it: {}", bad.problem),
                    )
                }
            };
            (
                source,
                Source {
                    family,
                    labels,
                    normalized,
                    project,
                },
            )
        };
        let concerned = {
            match event {
                watcher::Event::Apply(object) => {
                    let (source, row) = record(object);
                    self.index().source_applied(source, row)
                }
                watcher::Event::InitApply(object) => {
                    let (source, row) = record(object);
                    listing.insert(source.clone());
                    self.index().source_applied(source, row)
                }
                watcher::Event::Delete(object) => self.index().source_deleted(&reference(&object)),
                watcher::Event::Init => {
                    listing.clear();
                    HashSet::new()
                }
                watcher::Event::InitDone => {
                    let concerned = self.index().forget_sources(|s| {
                        s.api_version == resource.api_version
                            && s.kind == resource.kind
                            && !listing.contains(s)
                    });
                    listing.clear();
                    concerned
                }
            }
        };
        self.enqueue(concerned);
    }

    /// Forgets every object of a kind whose CRD was deleted.
    fn forget_kind(&self, api_version: &str, kind: &str) {
        let concerned = self
            .index()
            .forget_sources(|s| s.api_version == api_version && s.kind == kind);
        self.enqueue(concerned);
    }
}

/// Counts a watch's first list as done when it is, or when the watch ends
/// (stopped, or its task aborted) before it could list.
struct FirstList {
    catalog: Arc<Catalog>,
    what: String,
    waiting: bool,
}

impl FirstList {
    fn done(&mut self) {
        if std::mem::take(&mut self.waiting) {
            self.catalog.listed_once(&self.what);
        }
    }
}

impl Drop for FirstList {
    fn drop(&mut self) {
        self.done();
    }
}

/// Follows one kind's objects into the index. `initial` says whether the
/// catalog waits for this watch's first list before it reconciles; a watch
/// that cannot list (forbidden, say) stops the wait too, so the rest of the
/// catalog is not held up.
async fn watch_sources(
    api: Api<Guarded<DynamicObject>>,
    family: Family,
    resource: ApiResource,
    catalog: Arc<Catalog>,
    initial: bool,
) {
    let mut first = FirstList {
        catalog: catalog.clone(),
        what: resource.kind.clone(),
        waiting: initial,
    };
    let mut listing = HashSet::new();
    // The watch retries with backoff; the same error is logged once.
    let mut last_error = None;
    let mut events = watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => {
                last_error = None;
                let done = matches!(event, watcher::Event::InitDone);
                catalog.source_event(family, &resource, event, &mut listing);
                if done {
                    first.done();
                }
            }
            Err(error) => {
                let message = error.to_string();
                if last_error.as_ref() != Some(&message) {
                    warn!(kind = %resource.kind, group = %resource.group, error = %message,
                        "cannot watch a source kind; retrying with backoff");
                    last_error = Some(message);
                }
                first.done();
            }
        }
    }
}

struct Reconciler {
    client: Client,
    catalog: Arc<Catalog>,
    leadership: Leadership,
}

impl super::Leads for Reconciler {
    fn leadership(&self) -> &Leadership {
        &self.leadership
    }
}

async fn reconcile(entity: Arc<CatalogEntity>, context: Arc<Reconciler>) -> Result<Action, Error> {
    let catalog = &context.catalog;
    catalog.wait_synced().await;
    let projects = catalog
        .config
        .tenant(&entity.namespace().unwrap_or_default())
        .argocd
        .projects;
    let observed = catalog
        .index()
        .observe(&entity, &catalog.config.argocd.namespace, &projects);
    let now = Timestamp::now();
    let status = status::status(&entity, observed, now, catalog.deadline);
    if entity.status.as_ref() != Some(&status) {
        write_status(&context.client, &entity, &status).await?;
        catalog.metrics.catalog_status_writes.inc();
    }
    Ok(match status::next_deadline(&status, now, catalog.deadline) {
        Some(wait) => Action::requeue(wait),
        None => Action::await_change(),
    })
}

async fn write_status(
    client: &Client,
    entity: &CatalogEntity,
    status: &CatalogEntityStatus,
) -> Result<(), Error> {
    let api: Api<CatalogEntity> = Api::namespaced(client.clone(), &entity.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": CatalogEntity::api_version(&()),
        "kind": CatalogEntity::kind(&()),
        "status": status,
    });
    api.patch_status(
        &entity.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map(drop)
    .map_err(kube_error(format!(
        "writing the status of {}",
        super::key(entity)
    )))
}

fn error_policy(entity: Arc<CatalogEntity>, error: &Error, _: Arc<Reconciler>) -> Action {
    let transient = match error {
        Error::Kube { source, .. } => is_transient(source),
        Error::Worker(_) => true,
    };
    if !transient {
        // Not found: the entity was deleted while its status was computed.
        debug!(entity = %super::key(entity.as_ref()), %error, "status not written");
        return Action::await_change();
    }
    Action::requeue(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CatalogEntitySpec, RelationType};
    use kube::api::ObjectMeta;

    fn entity(name: &str, spec: serde_json::Value, annotations: &[(&str, &str)]) -> CatalogEntity {
        let spec: CatalogEntitySpec = serde_json::from_value(spec).unwrap();
        CatalogEntity {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("default".into()),
                annotations: Some(
                    annotations
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            spec,
            status: None,
        }
    }

    fn every_project() -> Vec<String> {
        vec!["*".into()]
    }

    fn component(name: &str, annotations: &[(&str, &str)]) -> CatalogEntity {
        entity(
            name,
            json!({"kind": "Component", "type": "service", "lifecycle": "production", "owner": "team-a"}),
            annotations,
        )
    }

    fn bucket(name: &str, id: &str) -> (SourceRef, Source) {
        (
            SourceRef::new("s3.services.k8s.aws/v1alpha1", "Bucket", "default", name),
            Source {
                family: Family::Ack,
                labels: [(KUBERNETES_ID.to_string(), id.to_string())].into(),
                normalized: Normalized::new(crate::api::SourceHealth::Current, "Ready", ""),
                project: None,
            },
        )
    }

    #[test]
    fn an_owner_appearing_queues_its_owned_entities() {
        let mut index = Index::default();
        assert!(index.entity_applied(&component("web", &[]), "argocd").is_empty());
        let team = entity("team-a", json!({"kind": "Group", "type": "team"}), &[]);
        let touched = index.entity_applied(&team, "argocd");
        assert_eq!(touched, BTreeSet::from(["component:default/web".to_string()]));
        let observed = index.observe(&component("web", &[]), "argocd", &every_project());
        assert!(observed.unresolved.is_empty());
        assert!(
            observed
                .relations
                .iter()
                .any(|r| r.type_ == RelationType::OwnedBy)
        );
        // Applying the same entity again touches nothing.
        assert!(index.entity_applied(&team, "argocd").is_empty());
        let touched = index.forget_entity(&ObjectRef::from_obj(&team), None);
        assert_eq!(touched, BTreeSet::from(["component:default/web".to_string()]));
    }

    #[test]
    fn sources_concern_the_entities_that_name_them() {
        let mut index = Index::default();
        let web = component(
            "web",
            &[("backstage.io/kubernetes-id", "web"), ("argocd/app-name", "web")],
        );
        let other = component("other", &[("backstage.io/kubernetes-label-selector", "team=a")]);
        index.entity_applied(&web, "argocd");
        index.entity_applied(&other, "argocd");

        let (source, object) = bucket("assets", "web");
        assert_eq!(
            index.source_applied(source.clone(), object.clone()),
            HashSet::from([ObjectRef::from_obj(&web)])
        );
        assert!(
            index.source_applied(source.clone(), object.clone()).is_empty(),
            "unchanged"
        );

        // Relabelled to the other entity's selector: both are concerned.
        let mut moved = object.clone();
        moved.labels = [("team".to_string(), "a".to_string())].into();
        assert_eq!(
            index.source_applied(source.clone(), moved),
            HashSet::from([ObjectRef::from_obj(&web), ObjectRef::from_obj(&other)])
        );
        let observed = index.observe(&other, "argocd", &every_project());
        assert_eq!(observed.sources.len(), 1);
        let observed = index.observe(&web, "argocd", &every_project());
        assert_eq!(observed.sources.len(), 1, "only the Application, not found");
        assert_eq!(observed.sources[0].1.status, crate::api::SourceHealth::NotFound);

        assert_eq!(
            index.source_deleted(&source),
            HashSet::from([ObjectRef::from_obj(&other)])
        );
        assert!(
            index
                .observe(&other, "argocd", &every_project())
                .sources
                .is_empty()
        );
    }

    #[test]
    fn labelled_objects_roll_up_only_within_the_entitys_namespace() {
        let mut index = Index::default();
        let web = component("web", &[("backstage.io/kubernetes-id", "web")]);
        index.entity_applied(&web, "argocd");
        let (mut source, object) = bucket("elsewhere", "web");
        source.namespace = Some("other-team".into());
        assert!(index.source_applied(source, object).is_empty());
        assert!(index.observe(&web, "argocd", &every_project()).sources.is_empty());
    }

    #[test]
    fn a_selector_matching_too_many_objects_is_capped_and_said() {
        let mut index = Index::default();
        let web = component("web", &[("backstage.io/kubernetes-label-selector", "!legacy")]);
        index.entity_applied(&web, "argocd");
        for i in 0..MAX_LABELLED + 5 {
            let (source, object) = bucket(&format!("b{i:03}"), "any");
            index.source_applied(source, object);
        }
        let observed = index.observe(&web, "argocd", &every_project());
        assert_eq!(observed.sources.len(), MAX_LABELLED);
        assert!(
            observed
                .problems
                .iter()
                .any(|p| p.message.starts_with("105 objects carry")),
            "{:?}",
            observed.problems
        );
    }

    #[test]
    fn an_argocd_application_is_found_by_name_and_namespace() {
        let mut index = Index::default();
        let web = component(
            "web",
            &[("argocd/app-name", "web"), ("argocd/app-namespace", "apps")],
        );
        index.entity_applied(&web, "argocd");
        let source = SourceRef::new("argoproj.io/v1alpha1", "Application", "apps", "web");
        let object = Source {
            family: Family::ArgoCd,
            labels: BTreeMap::new(),
            normalized: Normalized::new(crate::api::SourceHealth::Failed, "Degraded", "down"),
            project: Some("apps".into()),
        };
        let elsewhere = SourceRef::new("argoproj.io/v1alpha1", "Application", "argocd", "web");
        assert!(index.source_applied(elsewhere, object.clone()).is_empty());
        assert_eq!(
            index.source_applied(source, object),
            HashSet::from([ObjectRef::from_obj(&web)])
        );
        let observed = index.observe(&web, "argocd", &every_project());
        assert_eq!(observed.sources[0].1.status, crate::api::SourceHealth::Failed);
        assert_eq!(observed.sources[0].0.namespace.as_deref(), Some("apps"));
    }

    #[test]
    fn an_application_of_a_project_the_namespace_may_not_use_is_not_shown() {
        let mut index = Index::default();
        let web = component("web", &[("argocd/app-name", "payments")]);
        index.entity_applied(&web, "argocd");
        let source = SourceRef::new("argoproj.io/v1alpha1", "Application", "argocd", "payments");
        let object = Source {
            family: Family::ArgoCd,
            labels: BTreeMap::new(),
            normalized: Normalized::new(crate::api::SourceHealth::Failed, "Degraded", "secret detail"),
            project: Some("team-a".into()),
        };
        index.source_applied(source, object);
        let hidden = index.observe(&web, "argocd", &["default".into()]);
        assert_eq!(hidden.sources[0].1.status, crate::api::SourceHealth::NotFound);
        let message = hidden.sources[0].1.message.clone().unwrap_or_default();
        assert!(message.contains("tenancy.argocd.projects"), "{message}");
        assert!(
            !message.contains("secret detail") && !message.contains("team-a"),
            "{message}"
        );
        let shown = index.observe(&web, "argocd", &["team-*".into()]);
        assert_eq!(shown.sources[0].1.status, crate::api::SourceHealth::Failed);
        // One goldpath cannot read has no project to check; its row says only that.
        let unreadable = Source {
            family: Family::ArgoCd,
            labels: BTreeMap::new(),
            normalized: Normalized::new(crate::api::SourceHealth::Unknown, "Unreadable", "too deep"),
            project: None,
        };
        let source = SourceRef::new("argoproj.io/v1alpha1", "Application", "argocd", "payments");
        index.source_applied(source, unreadable);
        let row = index.observe(&web, "argocd", &["default".into()]);
        assert_eq!(row.sources[0].1.status, crate::api::SourceHealth::Unknown);
    }

    #[test]
    fn a_kind_change_moves_the_entity_in_the_graph() {
        let mut index = Index::default();
        index.entity_applied(&component("web", &[]), "argocd");
        let team = entity("team-a", json!({"kind": "Group", "type": "team"}), &[]);
        index.entity_applied(&team, "argocd");
        // team-a becomes a User: the component's owner (a Group) no longer resolves.
        let user = entity("team-a", json!({"kind": "User"}), &[]);
        let touched = index.entity_applied(&user, "argocd");
        assert_eq!(touched, BTreeSet::from(["component:default/web".to_string()]));
        assert!(index.graph.contains("user:default/team-a"));
        assert!(!index.graph.contains("group:default/team-a"));
    }
}
