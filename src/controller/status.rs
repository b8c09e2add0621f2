//! How every controller writes status: a server-side apply of the status
//! subresource holding the whole status the controller decided, so that a
//! field it no longer sets is removed rather than left behind, and a
//! conflicting writer is overridden.

use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// Applies `status` as the status of `name` through `api`, as field manager
/// `manager`.
pub async fn apply<K>(api: &Api<K>, name: &str, manager: &str, status: &impl Serialize) -> kube::Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(name, &PatchParams::apply(manager).force(), &Patch::Apply(&patch))
        .await
        .map(drop)
}
