//! What the fuzz targets share: the limits they render under, the context
//! expressions see, and the invariants every target checks on what goldpath
//! gives back.

use std::time::Duration;

use goldpath::engine::expression::Limits;
use goldpath::engine::workspace;
use minijinja::Value;
use serde_json::json;

/// The engine's limits, smaller than the operator's defaults so that one
/// input runs in milliseconds, and the same code paths enforce them. The
/// fuzzer's own `-malloc_limit_mb` (64 MB, see Makefile) sits far above
/// these: any allocation that reaches it was made before a limit was checked.
pub fn limits() -> Limits {
    Limits {
        fuel: 100_000,
        max_render_bytes: 1 << 20,
        max_workspace_bytes: 4 << 20,
        timeout: Duration::from_secs(5),
    }
}

/// Values an expression can reach: every JSON type, nesting, lists to loop
/// over, and the names Backstage templates use.
pub fn parameters() -> serde_json::Value {
    json!({
        "name": "svc",
        "owner": "team-a",
        "replicas": 3,
        "ratio": 0.5,
        "enabled": true,
        "nothing": null,
        "empty": "",
        "tags": ["a", "b", "c"],
        "repoUrl": "github.com?owner=o&repo=r",
        "entity": "component:default/svc",
        "nested": { "list": [1, [2, [3]]], "map": { "k": "v" } },
    })
}

/// The context step inputs render in.
pub fn step_context() -> Value {
    Value::from(minijinja::value::Serde(json!({
        "parameters": parameters(),
        "steps": { "fetch": { "output": { "remoteUrl": "https://git.example/o/r.git" } } },
        "user": { "entity": { "metadata": { "name": "alice" } } },
        "each": { "key": "k", "value": "v" },
    })))
}

/// The context skeleton files render in.
pub fn values_context() -> Value {
    Value::from(minijinja::value::Serde(json!({ "values": parameters() })))
}

/// A workspace path must be what [`workspace::join`] makes of it: relative,
/// normalised, never climbing out.
pub fn assert_workspace_path(path: &str) {
    assert_eq!(
        workspace::join("", path).as_deref(),
        Ok(path),
        "{path:?} is not a normalised path inside the workspace"
    );
    assert!(!path.is_empty(), "an empty path names the workspace itself");
}

/// A path as a tree reader returns it: relative, every segment a name
/// (`c:` is a name on disk; [`workspace::join`] refuses it later, naming it).
pub fn assert_relative_path(path: &str) {
    assert!(
        path.split('/').all(|s| !s.is_empty() && s != "." && s != ".."),
        "{path:?} is not a relative path of names"
    );
}
