//! The finalizer and the deletion policy: a request with
//! `deletionPolicy: Delete` keeps a finalizer, and when it is deleted its
//! Argo CD Applications and CatalogEntities go with it.

use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::json;

use super::transition::{self, Cleanup};
use crate::actions::REQUEST_UID_LABEL;
use crate::api::{CatalogEntity, ScaffoldRequest};
use crate::controller::{Context, Error, kube_error};

/// Finalizer that removes what a request with `deletionPolicy: Delete` created.
const FINALIZER: &str = "goldpath.dev/cleanup";

/// Adds the cleanup finalizer to a request that asks for `Delete`, and
/// removes it from one that no longer does.
pub(super) async fn keep_finalizer(
    api: &Api<ScaffoldRequest>,
    request: &ScaffoldRequest,
) -> Result<(), Error> {
    match transition::finalizers(request.finalizers(), request.spec.deletion_policy, FINALIZER) {
        Some(finalizers) => patch_finalizers(api, request, finalizers).await,
        None => Ok(()),
    }
}

async fn patch_finalizers(
    api: &Api<ScaffoldRequest>,
    request: &ScaffoldRequest,
    finalizers: Vec<String>,
) -> Result<(), Error> {
    // The resourceVersion makes this a compare-and-swap: a finalizer someone
    // else added meanwhile is not lost; the conflict is retried.
    let patch = json!({
        "metadata": { "finalizers": finalizers, "resourceVersion": request.resource_version() }
    });
    api.patch(&request.name_any(), &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map(drop)
        .map_err(kube_error(format!(
            "updating the finalizers of {}",
            crate::controller::key(request)
        )))
}

/// A request being deleted: with `deletionPolicy: Delete` its Argo CD
/// Applications and CatalogEntities go (its repository stays), then the
/// finalizer lets it go.
pub(super) async fn finalize(
    context: &Context,
    api: &Api<ScaffoldRequest>,
    request: &ScaffoldRequest,
) -> Result<Action, Error> {
    match transition::cleanup(request.finalizers(), request.spec.deletion_policy, FINALIZER) {
        Cleanup::Nothing => return Ok(Action::await_change()),
        Cleanup::DeleteCreated => delete_created(context, request).await?,
        Cleanup::Release => {}
    }
    let finalizers = request
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    patch_finalizers(api, request, finalizers).await?;
    Ok(Action::await_change())
}

/// Deletes the Applications and CatalogEntities labelled with the
/// request's uid, and says so in an Event.
async fn delete_created(context: &Context, request: &ScaffoldRequest) -> Result<(), Error> {
    let uid = request.uid().unwrap_or_default();
    let selector = ListParams::default().labels(&format!("{REQUEST_UID_LABEL}={uid}"));
    let applications: Api<DynamicObject> = Api::namespaced_with(
        context.client.clone(),
        &context.config.argocd.namespace,
        &ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application")),
    );
    let entities =
        Api::<CatalogEntity>::namespaced(context.client.clone(), &request.namespace().unwrap_or_default());
    let mut removed = Vec::new();
    let listed = match applications.list_metadata(&selector).await {
        Ok(list) => list.items,
        // Without Argo CD's CRD there is no Application to delete.
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(error) => return Err(kube_error("listing the request's Applications")(error)),
    };
    for application in listed {
        delete(&applications, &application.name_any()).await?;
        removed.push(format!("Application {}", application.name_any()));
    }
    for entity in entities
        .list_metadata(&selector)
        .await
        .map_err(kube_error("listing the request's CatalogEntities"))?
    {
        delete(&entities, &entity.name_any()).await?;
        removed.push(format!("CatalogEntity {}", entity.name_any()));
    }
    if !removed.is_empty() {
        let note = format!("deleted {} (the repository is kept)", removed.join(", "));
        context
            .event(request, EventType::Normal, "Deleted", "Delete", note)
            .await;
    }
    Ok(())
}

async fn delete<K>(api: &Api<K>, name: &str) -> Result<(), Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(error) => Err(kube_error(format!("deleting {name}"))(error)),
    }
}
