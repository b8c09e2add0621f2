//! Backstage's own filters: `parseRepoUrl`, `parseEntityRef`, `pick` and
//! `projectSlug`.

use std::collections::BTreeMap;

use minijinja::Error;
use minijinja::value::{Serde, Value};

use serde_json::json;

use super::invalid;
use crate::api::{EntityRef, RepoUrl};

/// What Backstage documents of its own filter `name` (its description,
/// the JSON Schemas of its input, arguments and output, and an example),
/// for the portal's list of templating extensions; `None` for any other
/// filter.
pub fn documented(name: &str) -> Option<serde_json::Value> {
    let repo_url = json!({"type": "string", "description": "a repository URL as the RepoUrlPicker gives it"});
    let example = |text: &str, notes: &str| json!([{"example": text, "notes": notes}]);
    let documented = match name {
        "parseRepoUrl" => json!({
            "description": "The parts of a repository URL: host, owner, repo and, where the host has them, organization, workspace and project.",
            "schema": {
                "input": repo_url,
                "output": {
                    "type": "object",
                    "required": ["host", "repo"],
                    "properties": {
                        "host": {"type": "string"}, "repo": {"type": "string"},
                        "owner": {"type": "string"}, "organization": {"type": "string"},
                        "workspace": {"type": "string"}, "project": {"type": "string"},
                    },
                },
            },
            "examples": example(
                "${{ parameters.repoUrl | parseRepoUrl }}",
                "github.com?owner=acme&repo=shop gives {\"host\":\"github.com\",\"owner\":\"acme\",\"repo\":\"shop\"}",
            ),
        }),
        "parseEntityRef" => json!({
            "description": "The kind, namespace and name of an entity reference, with defaults for the parts it leaves out.",
            "schema": {
                "input": {"type": "string", "description": "an entity reference, [kind:][namespace/]name"},
                "arguments": [{
                    "type": "object",
                    "properties": {
                        "defaultKind": {"type": "string", "description": "the kind when the reference has none"},
                        "defaultNamespace": {"type": "string", "description": "the namespace when the reference has none"},
                    },
                }],
                "output": {
                    "type": "object",
                    "required": ["kind", "namespace", "name"],
                    "properties": {"kind": {"type": "string"}, "namespace": {"type": "string"}, "name": {"type": "string"}},
                },
            },
            "examples": example(
                "${{ parameters.owner | parseEntityRef({ defaultKind: 'group' }) }}",
                "team-a gives {\"kind\":\"group\",\"namespace\":\"default\",\"name\":\"team-a\"}",
            ),
        }),
        "pick" => json!({
            "description": "One property of an object.",
            "schema": {
                "input": {"type": "object"},
                "arguments": [{"type": "string", "description": "the property"}],
                "output": {"description": "the property's value"},
            },
            "examples": example(
                "${{ parameters.owner | parseEntityRef | pick('name') }}",
                "group:default/team-a gives team-a",
            ),
        }),
        "projectSlug" => json!({
            "description": "The owner/repo slug of a repository URL.",
            "schema": {"input": repo_url, "output": {"type": "string"}},
            "examples": example(
                "${{ parameters.repoUrl | projectSlug }}",
                "github.com?owner=acme&repo=shop gives acme/shop",
            ),
        }),
        _ => return None,
    };
    Some(documented)
}

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
