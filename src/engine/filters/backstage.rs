//! Backstage's own filters: `parseRepoUrl`, `parseEntityRef`, `pick` and
//! `projectSlug`.

use std::collections::BTreeMap;

use minijinja::Error;
use minijinja::value::{Serde, Value};

use super::invalid;
use crate::api::{EntityRef, RepoUrl};

pub(super) fn parse_repo_url(repo_url: &str) -> Result<Value, Error> {
    let parsed = RepoUrl::parse(repo_url).map_err(invalid)?;
    let mut map = BTreeMap::new();
    map.insert("host", Value::from(parsed.host));
    for (key, value) in [
        ("owner", parsed.owner),
        ("repo", parsed.repo),
        ("organization", parsed.organization),
        ("workspace", parsed.workspace),
        ("project", parsed.project),
    ] {
        if let Some(value) = value {
            map.insert(key, Value::from(value));
        }
    }
    Ok(Value::from(Serde(&map)))
}

pub(super) fn project_slug(repo_url: &str) -> Result<String, Error> {
    Ok(RepoUrl::parse(repo_url).map_err(invalid)?.slug())
}

pub(super) fn parse_entity_ref(reference: &str, options: Option<Value>) -> Result<Value, Error> {
    let option = |key: &str| -> Option<String> {
        options
            .as_ref()
            .and_then(|o| o.get_attr(key).ok())
            .filter(|v| !v.is_undefined() && !v.is_none())
            .map(|v| v.to_string())
    };
    let (kind, namespace) = (option("defaultKind"), option("defaultNamespace"));
    let parsed = EntityRef::parse(reference, kind.as_deref(), namespace.as_deref()).map_err(invalid)?;
    Ok(Value::from_pairs([
        ("kind", parsed.kind),
        ("namespace", parsed.namespace),
        ("name", parsed.name),
    ]))
}

pub(super) fn pick(object: Value, key: &str) -> Result<Value, Error> {
    object.get_attr(key)
}
