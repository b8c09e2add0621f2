//! The CatalogEntity controller: relations kept in an incremental graph and
//! the status of Argo CD Applications, ACK resources and KubeVela
//! Applications rolled up into each entity, all driven by watches.
//!
//! - One watch on CatalogEntities feeds both the catalog's store
//!   ([`Entities`], each entity kept compact) and its [`Index`] (which reads
//!   the whole entity from the event once): every change updates the
//!   relation graph at once and queues the other entities whose relations
//!   it changed.
//! - AppProjects in Argo CD's namespace are watched too (found from their
//!   CRD like the sources): their labels say which namespace's entities may
//!   show an Application of them, so a label change queues those entities.
//! - One watch on CustomResourceDefinitions finds the kinds that roll up
//!   (Argo CD's and KubeVela's Applications, every kind of a group ending in
//!   `.services.k8s.aws`), including ones installed later, and starts a watch
//!   on each; a watch stops when its CRD is deleted. Each source watch keeps
//!   only what the roll-up needs (labels and the normalized status) and
//!   queues the entities an object's change concerns (`sources`).
//! - Reconciling an entity compares what the index observes with the status
//!   it has and builds and writes a status only when they differ
//!   ([`crate::catalog::status::update`]), so a resync of an unchanged
//!   catalog builds no status and writes nothing.
//!   No entity is reconciled before every watch has listed its objects once,
//!   so startup does not write half-known relations. Entities are
//!   reconciled through the catalog's own loop (`runner`), which holds
//!   nothing for an entity that is not queued.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::watcher;
use kube::{Api, Client};
use tokio::sync::watch;
use tracing::{debug, warn};

use super::guard::{self, Reporter};
use super::{Error, FIELD_MANAGER, Leadership, is_transient, kube_error};
use crate::api::{CatalogEntity, CatalogEntityStatus};
use crate::catalog::cached::{CachedEntity, Key};
use crate::catalog::figures::{Figures, figures};
use crate::catalog::index::{Index, entity_object, object_of};
use crate::catalog::status;
use crate::catalog::store::Entities;
use crate::config::Config;
use crate::telemetry::Metrics;
use runner::Queue;

mod runner;
mod sources;

/// The live catalog: what the HTTP endpoint, the metrics and the controller
/// read.
pub struct Catalog {
    index: Mutex<Index>,
    store: Entities,
    queue: Queue,
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

    /// Every entity, as the watch last saw it and the catalog keeps it.
    pub fn entities(&self) -> Vec<Arc<CachedEntity>> {
        self.store.all()
    }

    /// Whether every watch has listed its objects, so statuses are complete.
    pub fn is_synced(&self) -> bool {
        *self.unlisted.borrow() == 0
    }

    /// The catalog's figures for the metrics.
    pub fn figures(&self) -> Figures {
        let entities = self.store.all();
        // The index is locked for each owner looked up, not while every
        // entity is read.
        figures(entities.iter().map(Arc::as_ref), |entity_ref| {
            self.index().contains(entity_ref)
        })
    }

    fn enqueue(&self, keys: impl IntoIterator<Item = Key>) {
        for key in keys {
            self.queue.add(key);
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
    let catalog = Arc::new(Catalog {
        index: Mutex::default(),
        store: Entities::default(),
        queue: Queue::default(),
        // The entity watch and the CRD watch.
        unlisted: watch::Sender::new(2),
        entities_listed: AtomicBool::new(false),
        config: options.config.clone(),
        deadline: options.deadline,
        metrics,
    });

    let entities = super::guard::api::<CatalogEntity>(&client, options.watch_namespace.as_deref());
    let indexing = catalog.clone();
    // An entity that cannot be decoded is reported on itself and left out
    // of the catalog; the rest of the catalog goes on.
    let watching =
        guard::watch(entities, watcher::Config::default().any_semantic(), reporter).for_each(move |event| {
            match event {
                Ok(event) => indexing.entity_event(event),
                Err(error) => warn!(%error, "the CatalogEntity watch failed; it is retried"),
            }
            std::future::ready(())
        });

    let sources = tokio::spawn(sources::discover_sources(
        client.clone(),
        catalog.clone(),
        options.watch_namespace,
    ));
    let context = Arc::new(Reconciler {
        client,
        catalog: catalog.clone(),
        leadership,
    });
    let running = catalog.clone();
    let run = async move {
        let reconciling = runner::run(
            &running.queue,
            usize::from(options.concurrency),
            shutdown,
            |key| reconcile_key(key, context.clone()),
        );
        // The watch never ends by itself; the loop ends at shutdown, once
        // its running reconciles are done.
        tokio::select! {
            () = reconciling => {}
            () = watching => {}
        }
        sources.abort();
    };
    (catalog, run)
}

/// Reconciles the entity `key` names as the store has it, if it still
/// exists; returns when to look at it again.
async fn reconcile_key(key: Key, context: Arc<Reconciler>) -> Option<Duration> {
    let Some(entity) = context.catalog.store.get(&key) else {
        debug!(entity = %key, "gone before its reconcile");
        return None;
    };
    let metrics = context.catalog.metrics.clone();
    let result = super::instrumented("CatalogEntity", entity.clone(), context, reconcile).await;
    match result {
        Ok(again) => {
            metrics.reconciled("CatalogEntity", None);
            again
        }
        Err(error) => {
            metrics.reconciled("CatalogEntity", Some(error.metric_label()));
            warn!(kind = "CatalogEntity", object = %key, %error, "reconcile failed");
            error_policy(&entity, &error)
        }
    }
}

impl Catalog {
    /// Keeps the index and the store in step with the entity watch, and
    /// queues what an event concerns: the entity itself, the others whose
    /// relations it changed, and after a list every entity (the store takes
    /// a list whole at its end) and those of the entities the list no
    /// longer holds. During a list the index already has the listed
    /// entities while the store still has the earlier ones; a reconcile in
    /// between may write what the list's end then corrects.
    fn entity_event(&self, event: watcher::Event<CatalogEntity>) {
        let argocd = &self.config.argocd.namespace;
        let listed = matches!(event, watcher::Event::InitDone);
        let touched = match &event {
            watcher::Event::Apply(entity) => self.index().entity_applied(entity, argocd),
            watcher::Event::Delete(entity) => self.index().forget_entity(&object_of(entity), None),
            // Every listed entity is reconciled anyway.
            watcher::Event::InitApply(entity) => {
                self.index().entity_applied(entity, argocd);
                BTreeSet::new()
            }
            watcher::Event::Init | watcher::Event::InitDone => BTreeSet::new(),
        };
        let applied = self.store.apply(event);
        self.enqueue(applied);
        if listed {
            let gone = self.index().forget_unlisted(|key| self.store.get(key).is_some());
            self.enqueue(self.store.keys());
            self.enqueue_refs(gone);
        }
        self.enqueue_refs(touched);
        if listed && !self.entities_listed.swap(true, Ordering::SeqCst) {
            self.listed_once("CatalogEntity");
        }
    }

    /// A watch whose first list the catalog waited for has listed.
    fn listed_once(&self, what: &str) {
        debug!(what, "listed");
        self.unlisted.send_modify(|n| *n = n.saturating_sub(1));
    }
}

struct Reconciler {
    client: Client,
    catalog: Arc<Catalog>,
    leadership: Leadership,
}

impl super::Shared for Reconciler {
    fn leadership(&self) -> &Leadership {
        &self.leadership
    }

    fn metrics(&self) -> &Metrics {
        &self.catalog.metrics
    }
}

async fn reconcile(entity: Arc<CachedEntity>, context: Arc<Reconciler>) -> Result<Option<Duration>, Error> {
    let catalog = &context.catalog;
    catalog.wait_synced().await;
    let tenant = catalog.config.tenant(entity.namespace());
    let observed = catalog
        .index()
        .observe(&entity, &catalog.config.argocd.namespace, &tenant);
    let now = Timestamp::now();
    let written = status::update(&entity, observed, now, catalog.deadline);
    if let Some(status) = &written {
        write_status(&context.client, &entity, status).await?;
        catalog.metrics.catalog_status_writes.inc();
    }
    let sources = match (&written, entity.status()) {
        (Some(written), _) => &written.sources[..],
        (None, Some(kept)) => &kept.sources[..],
        (None, None) => &[],
    };
    Ok(status::next_deadline(sources, now, catalog.deadline))
}

async fn write_status(
    client: &Client,
    entity: &CachedEntity,
    status: &CatalogEntityStatus,
) -> Result<(), Error> {
    let api: Api<CatalogEntity> = Api::namespaced(client.clone(), entity.namespace());
    super::status::apply(&api, entity.name(), FIELD_MANAGER, status)
        .await
        .map_err(kube_error(format!(
            "writing the status of CatalogEntity {}",
            entity.key()
        )))
}

/// When to try an entity whose reconcile failed with `error` again.
fn error_policy(entity: &CachedEntity, error: &Error) -> Option<Duration> {
    let transient = match error {
        Error::Kube { source, .. } => is_transient(source),
        Error::Worker(_) => true,
    };
    if !transient {
        // Not found: the entity was deleted while its status was computed.
        debug!(entity = %entity.key(), %error, "status not written");
        return None;
    }
    Some(Duration::from_secs(5))
}
