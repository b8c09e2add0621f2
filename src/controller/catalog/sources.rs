//! Where the catalog's source objects come from: a watch on
//! CustomResourceDefinitions finds the kinds that roll up, and one watch per
//! such kind follows its objects into the catalog's index.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tracing::{info, warn};

use super::Catalog;
use crate::api::SourceHealth;
use crate::catalog::index::{Family, Source};
use crate::catalog::rollup::{Normalized, SourceRef};
use crate::controller::guard::{self, Guarded, listing};

/// A running watch on one kind's objects.
struct SourceWatch {
    resource: ApiResource,
    task: tokio::task::JoinHandle<()>,
}

/// Watches CRDs and keeps one source watch per kind that rolls up: started
/// when its CRD is established, restarted when the served version changes,
/// stopped (and its objects forgotten) when the CRD goes, also when it went
/// while this watch was down (the relist no longer lists it).
pub(super) async fn discover_sources(client: Client, catalog: Arc<Catalog>, namespace: Option<String>) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut watches: HashMap<(String, String), SourceWatch> = HashMap::new();
    let mut listing: HashSet<(String, String)> = HashSet::new();
    let mut listed = false;
    let mut last_error = None;
    let mut events = listing::watch(crds, watcher::Config::default().any_semantic())
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
                let watch = start_watch(&client, &catalog, namespace.as_deref(), family, resource, !listed);
                watches.insert(key, watch);
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

/// Starts following one kind's objects: in the watched namespace, or for
/// Argo CD's Applications in Argo CD's, when the operator watches one.
fn start_watch(
    client: &Client,
    catalog: &Arc<Catalog>,
    namespace: Option<&str>,
    family: Family,
    resource: ApiResource,
    initial: bool,
) -> SourceWatch {
    let api = match (namespace, family) {
        // AppProjects are read in Argo CD's namespace only: the chart
        // grants nothing wider.
        (_, Family::AppProject) | (Some(_), Family::ArgoCd) => {
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
        initial,
    ));
    SourceWatch { resource, task }
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
    let mut events = listing::watch(api, watcher::Config::default().any_semantic())
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
