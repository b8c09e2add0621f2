//! The Argo CD health checks in `charts/goldpath/argocd-health/`, run in a
//! real Lua 5.1 interpreter set up the way Argo CD runs a custom health check
//! (gopher-lua, Lua 5.1): the object is the global `obj`, only the base,
//! package and table libraries are loaded, and the script's return value
//! must be a table whose `status` is one of Argo CD's health codes and whose
//! `message` is a string.
//!
//! The cases are in `tests/fixtures/argocd-health/`, one file per kind. Every
//! fixture object is also taken apart field by field (each field removed, or
//! replaced by a value of another type) to show the scripts never throw. The
//! copies of the scripts in `argocd-cm-patch.yaml` are checked
//! against the `.lua` files.

// Tests report failures by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mlua::{HookTriggers, Lua, LuaOptions, StdLib, VmState};
use serde::Deserialize;
use serde_json::Value;

/// The health codes Argo CD accepts from a script; anything else it reports
/// as Unknown with "Lua returned an invalid health status".
const HEALTH_CODES: [&str; 6] = [
    "Healthy",
    "Progressing",
    "Degraded",
    "Suspended",
    "Missing",
    "Unknown",
];

/// Argo CD stops a script after a second; a script of ours has no loop that
/// is not bounded by the object, so a budget of VM instructions stands in.
const INSTRUCTION_BUDGET: u32 = 1_000_000;
const HOOK_EVERY: u32 = 1_000;

const SCAFFOLD_REQUEST_KEY: &str = "resource.customizations.health.goldpath.dev_ScaffoldRequest";
const CATALOG_ENTITY_KEY: &str = "resource.customizations.health.goldpath.dev_CatalogEntity";

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(repo_path(relative)).unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

/// A health script and the argocd-cm key it is installed under.
struct Script {
    file: &'static str,
    key: &'static str,
    source: String,
}

impl Script {
    fn load(file: &'static str, key: &'static str) -> Self {
        let source = read(&format!("charts/goldpath/argocd-health/{file}"));
        Self { file, key, source }
    }
}

fn scaffold_request() -> Script {
    Script::load("scaffoldrequest.lua", SCAFFOLD_REQUEST_KEY)
}

fn catalog_entity() -> Script {
    Script::load("catalogentity.lua", CATALOG_ENTITY_KEY)
}

/// What a script returned, checked the way Argo CD checks it.
#[derive(Debug)]
struct Health {
    status: String,
    message: Option<String>,
}

/// A Lua state with what Argo CD opens for a custom health check (its
/// `runLua`, with `useOpenLibs` off): base, package and table; no string,
/// math, io or os (Argo CD adds a cut-down os that these scripts do not use).
fn sandbox() -> Lua {
    let lua = Lua::new_with(StdLib::TABLE | StdLib::PACKAGE, LuaOptions::new()).unwrap();
    let spent = Arc::new(AtomicU32::new(0));
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(HOOK_EVERY),
        move |_, _| {
            if spent.fetch_add(HOOK_EVERY, Ordering::Relaxed) > INSTRUCTION_BUDGET {
                return Err(mlua::Error::runtime("instruction budget exhausted"));
            }
            Ok(VmState::Continue)
        },
    )
    .unwrap();
    lua
}

/// `value` as Argo CD hands it to Lua (its `decodeValue`): objects and arrays
/// become tables, numbers Lua numbers, and nulls nil; a null inside an array
/// is dropped, as gopher-lua's `Append` drops it.
fn to_lua(lua: &Lua, value: &Value) -> mlua::Result<mlua::Value> {
    Ok(match value {
        Value::Null => mlua::Value::Nil,
        Value::Bool(b) => mlua::Value::Boolean(*b),
        Value::Number(n) => mlua::Value::Number(n.as_f64().expect("a JSON number fits an f64")),
        Value::String(s) => mlua::Value::String(lua.create_string(s)?),
        Value::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for item in items.iter().filter(|item| !item.is_null()) {
                table.raw_push(to_lua(lua, item)?)?;
            }
            mlua::Value::Table(table)
        }
        Value::Object(fields) => {
            let table = lua.create_table_with_capacity(0, fields.len())?;
            for (key, item) in fields {
                table.raw_set(key.as_str(), to_lua(lua, item)?)?;
            }
            mlua::Value::Table(table)
        }
    })
}

/// Runs `script` with `object` as `obj`; an error is what Argo CD would
/// report as a failed health check.
fn run(script: &Script, object: &Value) -> Result<Health, String> {
    let lua = sandbox();
    let obj = to_lua(&lua, object).map_err(|e| format!("converting obj: {e}"))?;
    lua.globals().set("obj", obj).map_err(|e| e.to_string())?;
    let returned: mlua::MultiValue = lua
        .load(&script.source)
        .set_name(format!("@{}", script.file))
        .call(())
        .map_err(|e| format!("script error: {e}"))?;
    // Argo CD reads the value on top of the stack: the last one returned.
    let table = match returned.into_iter().last() {
        Some(mlua::Value::Table(table)) => table,
        Some(other) => return Err(format!("returned a {}, not a table", other.type_name())),
        None => return Err("returned nothing".into()),
    };
    let status = match table
        .raw_get::<mlua::Value>("status")
        .map_err(|e| e.to_string())?
    {
        mlua::Value::String(s) => s.to_string_lossy(),
        other => return Err(format!("status is a {}, not a string", other.type_name())),
    };
    if !HEALTH_CODES.contains(&status.as_str()) {
        return Err(format!("status {status:?} is not an Argo CD health code"));
    }
    let message = match table
        .raw_get::<mlua::Value>("message")
        .map_err(|e| e.to_string())?
    {
        mlua::Value::Nil => None,
        mlua::Value::String(s) => Some(s.to_string_lossy()),
        other => return Err(format!("message is a {}, not a string", other.type_name())),
    };
    Ok(Health { status, message })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    expect: Expect,
    object: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    status: String,
    /// Strings the message must contain.
    #[serde(default)]
    message: Vec<String>,
}

fn cases(file: &str) -> Vec<Case> {
    let path = format!("tests/fixtures/argocd-health/{file}");
    let cases: Vec<Case> = serde_yaml_ng::from_str(&read(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(!cases.is_empty(), "{path} holds no cases");
    cases
}

/// Runs every case of `file` through `script`, and reports every mismatch at once.
fn check_cases(script: &Script, file: &str) {
    let failures: Vec<String> = cases(file)
        .iter()
        .filter_map(|case| {
            let problem = match run(script, &case.object) {
                Err(e) => e,
                Ok(health) => {
                    let message = health.message.clone().unwrap_or_default();
                    let missing: Vec<&String> = case
                        .expect
                        .message
                        .iter()
                        .filter(|want| !message.contains(want.as_str()))
                        .collect();
                    if health.status == case.expect.status && missing.is_empty() {
                        return None;
                    }
                    format!(
                        "got {} {message:?}; want {} with a message containing {:?}",
                        health.status, case.expect.status, case.expect.message
                    )
                }
            };
            Some(format!("{file}: {}: {problem}", case.name))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_sandbox_is_argo_cds() {
    let lua = sandbox();
    for absent in ["string", "math", "io", "os", "debug"] {
        let value: mlua::Value = lua.globals().get(absent).unwrap();
        assert!(value.is_nil(), "{absent} is loaded, but Argo CD does not load it");
    }
    for present in ["table", "ipairs", "pairs", "tostring", "tonumber", "type"] {
        let value: mlua::Value = lua.globals().get(present).unwrap();
        assert!(!value.is_nil(), "{present} is missing, but Argo CD loads it");
    }
    // So a script that reaches for the string library fails here as it does in Argo CD.
    let script = Script {
        file: "uses-string.lua",
        key: "",
        source: "return { status = string.upper(\"healthy\") }".into(),
    };
    assert!(run(&script, &serde_json::json!({})).is_err());
}

#[test]
fn scaffold_request_health() {
    check_cases(&scaffold_request(), "scaffoldrequest.yaml");
}

#[test]
fn catalog_entity_health() {
    check_cases(&catalog_entity(), "catalogentity.yaml");
}

/// Every node of `value` (not the root), as a JSON pointer.
fn pointers(value: &Value, at: &str, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(fields) => fields
            .iter()
            .map(|(key, item)| (key.replace('~', "~0").replace('/', "~1"), item))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (i.to_string(), item))
            .collect(),
        _ => Vec::new(),
    };
    for (segment, child) in children {
        let pointer = format!("{at}/{segment}");
        out.push(pointer.clone());
        pointers(child, &pointer, out);
    }
}

/// `value` without the node at `pointer`.
fn without(value: &Value, pointer: &str) -> Value {
    let mut copy = value.clone();
    let (parent, last) = pointer.rsplit_once('/').expect("a pointer below the root");
    let last = last.replace("~1", "/").replace("~0", "~");
    match copy.pointer_mut(parent) {
        Some(Value::Object(fields)) => {
            fields.remove(&last);
        }
        Some(Value::Array(items)) => {
            items.remove(last.parse::<usize>().expect("an array index"));
        }
        _ => panic!("{pointer} has no parent"),
    }
    copy
}

/// `value` with the node at `pointer` replaced by `replacement`.
fn replaced(value: &Value, pointer: &str, replacement: &Value) -> Value {
    let mut copy = value.clone();
    *copy.pointer_mut(pointer).expect("the pointer exists") = replacement.clone();
    copy
}

#[test]
fn scripts_never_throw_on_missing_or_mistyped_fields() {
    let scripts = [scaffold_request(), catalog_entity()];
    let mut objects: Vec<Value> = ["scaffoldrequest.yaml", "catalogentity.yaml"]
        .iter()
        .flat_map(|file| cases(file))
        .map(|case| case.object)
        .collect();
    // Objects Argo CD never hands over, and shapes no fixture has.
    objects.extend(
        [
            "{}",
            "{status: null}",
            "{status: []}",
            "{status: running}",
            "{status: 7}",
            "{metadata: {generation: two}, status: {observedGeneration: {}}}",
            "{metadata: [], status: {observedGeneration: 1}}",
            "{status: {phase: {}, health: [], conditions: {}, steps: {}, sources: {}}}",
            "{status: {conditions: [Ready, 1, true, []]}}",
            "{status: {conditions: [{type: Stalled, status: 'True', message: {}, reason: []}]}}",
            "{status: {conditions: [{type: Stalled, status: true}], phase: Failed, steps: [{phase: Failed}]}}",
            "{status: {conditions: [{type: Ready, status: 'True', message: 5}], phase: Succeeded}}",
            "{status: {steps: [a, 1, {id: {}, action: [], phase: {}, message: 3}]}}",
            "{status: {health: Failed, sources: [x, 2, {kind: {}, name: [], namespace: 1, status: Failed}]}}",
            "{status: {health: Current, sources: [{}, {}, {}]}}",
            "{status: {health: Unknown, sources: [{status: Unknown, message: ''}]}}",
            "{status: {health: 3}}",
        ]
        .iter()
        .map(|yaml| serde_yaml_ng::from_str::<Value>(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))),
    );
    let replacements: Vec<Value> = ["null", "''", "x", "0", "-1", "true", "{}", "[]", "[{}]", "[x]"]
        .iter()
        .map(|yaml| serde_yaml_ng::from_str(yaml).unwrap())
        .collect();

    let mut variants: Vec<Value> = Vec::new();
    for object in &objects {
        variants.push(object.clone());
        variants.extend(replacements.iter().cloned());
        let mut at = Vec::new();
        pointers(object, "", &mut at);
        for pointer in &at {
            variants.push(without(object, pointer));
            for replacement in &replacements {
                variants.push(replaced(object, pointer, replacement));
            }
        }
    }
    assert!(variants.len() > 2_000, "only {} variants", variants.len());

    let mut failures = Vec::new();
    for script in &scripts {
        for variant in &variants {
            match run(script, variant) {
                Ok(Health { message: Some(m), .. }) if !m.is_empty() => {}
                Ok(health) => failures.push(format!("{}: {variant}: no message ({health:?})", script.file)),
                Err(e) => failures.push(format!("{}: {variant}: {e}", script.file)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs failed:\n{}",
        failures.len(),
        variants.len() * scripts.len(),
        failures.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// The `data` of an argocd-cm document: the health keys and their scripts.
fn health_entries(data: &serde_yaml_ng::Value, source: &str) -> Vec<(String, String)> {
    let mapping = data
        .as_mapping()
        .unwrap_or_else(|| panic!("{source}: data is not a mapping"));
    mapping
        .iter()
        .filter_map(|(key, value)| {
            let key = key.as_str()?;
            key.starts_with("resource.customizations.").then(|| {
                let script = value
                    .as_str()
                    .unwrap_or_else(|| panic!("{source}: {key} is not a string"));
                (key.to_owned(), script.to_owned())
            })
        })
        .collect()
}

/// `entries` are exactly the two scripts, under their keys, as the `.lua` files hold them.
fn assert_installs_the_scripts(entries: &[(String, String)], source: &str) {
    let scripts = [scaffold_request(), catalog_entity()];
    let keys: Vec<&str> = entries.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, [SCAFFOLD_REQUEST_KEY, CATALOG_ENTITY_KEY], "{source}: keys");
    for script in &scripts {
        let (_, copy) = entries.iter().find(|(key, _)| key == script.key).unwrap();
        assert!(
            *copy == script.source,
            "{source}: {} is not a copy of {}; paste the script again, indented under the key",
            script.key,
            script.file
        );
    }
}

#[test]
fn the_argocd_cm_patch_installs_the_scripts() {
    let path = "charts/goldpath/argocd-health/argocd-cm-patch.yaml";
    let patch: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let keys: Vec<&str> = patch
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    assert_eq!(keys, ["data"], "{path} patches only data");
    assert_installs_the_scripts(&health_entries(&patch["data"], path), path);
}
