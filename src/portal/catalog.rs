//! Backstage's catalog routes (`/api/catalog/...`), read from the
//! controllers' stores: every CatalogEntity as its Backstage entity, and
//! every Template as a `kind: Template` entity, as Backstage's catalog holds
//! templates. A caller sees an entity only where a SubjectAccessReview lets
//! them `list` (`get` for one by name) its resource, CatalogEntities or
//! Templates, in its namespace.

use std::collections::HashMap;

use hyper::{Method, StatusCode};
use serde_json::Value;

use super::{Call, Portal, reply::Reply};
use crate::api::GROUP;
use crate::tenancy::review::Permission;

/// One entity of the catalog, with the resource it is made from.
struct Entry {
    /// `catalogentities` or `templates`.
    resource: &'static str,
    /// Its Kubernetes namespace, which is its Backstage namespace.
    namespace: String,
    /// The Backstage entity.
    entity: Value,
}

/// Every entity the portal serves, CatalogEntities first.
fn entries(portal: &Portal) -> Vec<Entry> {
    let mut all = Vec::new();
    for entity in portal.source.entities() {
        all.push(Entry {
            resource: "catalogentities",
            namespace: entity.metadata.namespace.clone().unwrap_or_default(),
            entity: crate::catalog::backstage::to_backstage(&entity),
        });
    }
    for template in portal.source.templates() {
        let namespace = template.metadata.namespace.clone().unwrap_or_default();
        let Ok(mut entity) = template.to_backstage() else {
            continue;
        };
        if let Some(metadata) = entity.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.insert("namespace".into(), Value::String(namespace.clone()));
        }
        all.push(Entry {
            resource: "templates",
            namespace,
            entity,
        });
    }
    all
}

/// The resource an entity of `kind` is made from.
fn resource_of(kind: &str) -> &'static str {
    if kind.eq_ignore_ascii_case("template") {
        "templates"
    } else {
        "catalogentities"
    }
}

/// Answers a call of `/api/catalog/...`.
pub async fn route(portal: &Portal, call: &Call<'_>) -> Reply {
    let segments: Vec<&str> = call.path.trim_start_matches('/').split('/').collect();
    match (call.method, segments.as_slice()) {
        (&Method::GET, ["entities", "by-name", kind, namespace, name]) => {
            by_name(portal, call, kind, namespace, name).await
        }
        _ => Reply::not_found(format!("no route {} /api/catalog{}", call.method, call.path)),
    }
}

/// The readable subset of the catalog, asking once per namespace and
/// resource within this call.
struct Readable<'a> {
    portal: &'a Portal,
    call: &'a Call<'a>,
    verb: &'static str,
    answers: HashMap<(&'static str, String), bool>,
}

impl<'a> Readable<'a> {
    fn new(portal: &'a Portal, call: &'a Call<'a>, verb: &'static str) -> Readable<'a> {
        Readable {
            portal,
            call,
            verb,
            answers: HashMap::new(),
        }
    }

    async fn may_read(
        &mut self,
        resource: &'static str,
        namespace: &str,
        name: Option<&str>,
    ) -> Result<bool, Reply> {
        let key = (resource, namespace.to_string());
        if let Some(answer) = self.answers.get(&key) {
            return Ok(*answer);
        }
        let permission = Permission {
            verb: self.verb,
            group: GROUP,
            resource,
            namespace,
            name,
        };
        let answer = self.portal.allowed(self.call.caller, &permission).await?;
        self.answers.insert(key, answer);
        Ok(answer)
    }
}

/// `GET /entities/by-name/{kind}/{namespace}/{name}`: kind, namespace and
/// name compared without case, as Backstage compares references.
async fn by_name(portal: &Portal, call: &Call<'_>, kind: &str, namespace: &str, name: &str) -> Reply {
    let mut readable = Readable::new(portal, call, "get");
    let resource = resource_of(kind);
    let found = entries(portal).into_iter().find(|entry| {
        let field = |pointer: &str| {
            entry
                .entity
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        entry.resource == resource
            && field("/kind").eq_ignore_ascii_case(kind)
            && entry.namespace.eq_ignore_ascii_case(namespace)
            && field("/metadata/name").eq_ignore_ascii_case(name)
    });
    // Refused before looking, as the API server refuses: whether an
    // entity exists is not told to a caller who may not read the namespace.
    match readable.may_read(resource, namespace, Some(name)).await {
        Ok(true) => {}
        Ok(false) => {
            return Reply::error(
                StatusCode::FORBIDDEN,
                format!(
                    "{} may not get {resource}.{GROUP} in namespace {namespace}",
                    call.caller.user.username
                ),
            );
        }
        Err(reply) => return reply,
    }
    match found {
        Some(entry) => Reply::ok(entry.entity),
        None => Reply::not_found(format!("no entity named {kind}:{namespace}/{name}")),
    }
}
