//! Backstage's own published clients, unchanged, against the operator's
//! portal API: `CatalogClient` (`@backstage/catalog-client`) and
//! `ScaffolderClient` (`@backstage/plugin-scaffolder-common`), driven by
//! the Node program in tests/clients/ with a discoveryApi answering the
//! operator's base URLs and a fetchApi adding each caller's token.
//!
//! Who calls:
//! - `runner`: may get and list CatalogEntities and Templates, get, list,
//!   create and patch ScaffoldRequests and create Secrets, in the test's
//!   namespace;
//! - `stranger`: no rights.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Namespace, cluster, wait_for};
use crate::portal::{Portal, grant_read, seed, service_account_token};
use crate::scaffold::{apply, get, phase};

/// A Template whose second step waits 20 s, long enough to cancel it, and a
/// request of it.
const PAUSING: &str = r#"apiVersion: goldpath.dev/v1alpha1
kind: Template
metadata: {name: pausing}
spec:
  title: Pausing
  type: service
  parameters:
    - title: Who
      required: [who]
      properties:
        who: {type: string, title: Who is asking}
  steps:
    - {id: greet, action: "debug:log", input: {message: hello}}
    - {id: pause, action: "debug:wait", input: {seconds: 20}}
    - {id: bye, action: "debug:log", input: {message: bye}}
---
apiVersion: goldpath.dev/v1alpha1
kind: ScaffoldRequest
metadata: {name: paused}
spec:
  templateRef: {name: pausing}
  parameters: {who: jane}
"#;

/// Runs the client program with `plan` (see tests/clients/clients.mjs):
/// each call's name with `{"ok": ...}` or `{"error": ...}`.
pub fn run_clients(plan: &Value) -> Value {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    let installed = crate::npm::installed(&source, "backstage-clients");
    let work = tempfile::tempdir().unwrap();
    std::fs::copy(source.join("clients.mjs"), work.path().join("clients.mjs")).unwrap();
    std::os::unix::fs::symlink(installed.join("node_modules"), work.path().join("node_modules")).unwrap();
    let mut child = Command::new("node")
        .arg("clients.mjs")
        .current_dir(work.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node (hack/setup installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(plan.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the client program failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("the client program printed no JSON ({e}): {output:?}"))
}

/// The result of the call `name`, which must have succeeded.
fn ok<'a>(results: &'a Value, name: &str) -> &'a Value {
    let result = &results[name];
    assert!(result.get("ok").is_some(), "{name} failed: {result}");
    &result["ok"]
}

/// The error of the call `name`, which must have failed.
fn error<'a>(results: &'a Value, name: &str) -> &'a Value {
    let result = &results[name];
    assert!(result.get("error").is_some(), "{name} succeeded: {result}");
    &result["error"]
}

/// The `metadata.name` of each entity in `entities`.
fn names(entities: &Value) -> Vec<&str> {
    entities
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {entities}"))
        .iter()
        .map(|e| e["metadata"]["name"].as_str().unwrap_or("null"))
        .collect()
}

/// One call of the plan.
fn call(name: &str, caller: &str, client: &str, method: &str, args: Value) -> Value {
    json!({"name": name, "as": caller, "client": client, "method": method, "args": args})
}

#[test]
fn backstages_published_clients_read_the_catalog_and_create_follow_cancel_retry_and_list_tasks() {
    let ns = Namespace::new("clients");
    let n = ns.name.as_str();
    let portal = Portal::start(&ns, "", &[]);
    let runner = service_account_token(n, "runner");
    grant_read(n, &format!("--serviceaccount={n}:runner"), "runner");
    cluster().kubectl_ok(&[
        "create",
        "role",
        "runner-tasks",
        "-n",
        n,
        "--verb=get,list,patch,create",
        "--resource=scaffoldrequests.goldpath.dev",
    ]);
    cluster().kubectl_ok(&[
        "create",
        "role",
        "runner-secrets",
        "-n",
        n,
        "--verb=create",
        "--resource=secrets",
    ]);
    cluster().kubectl_ok(&[
        "create",
        "rolebinding",
        "runner-secrets",
        "-n",
        n,
        "--role=runner-secrets",
        &format!("--serviceaccount={n}:runner"),
    ]);
    cluster().kubectl_ok(&[
        "create",
        "rolebinding",
        "runner-tasks",
        "-n",
        n,
        "--role=runner-tasks",
        &format!("--serviceaccount={n}:runner"),
    ]);
    let stranger = service_account_token(n, "stranger");
    seed(&portal, n, &runner);
    apply(&ns, PAUSING);
    let task = format!("{n}:paused");
    wait_for("the wait step to start", Duration::from_secs(60), || {
        let request = get(&ns, "scaffoldrequest/paused");
        let steps = request["status"]["steps"].as_array().cloned().unwrap_or_default();
        steps
            .iter()
            .any(|s| s["id"] == "pause" && s["phase"] == "Running")
            .then_some(())
    });

    let base = format!("http://127.0.0.1:{}", portal.port);
    let by_name = json!({"field": "metadata.name", "order": "asc"});
    let reads = json!({
        "baseUrl": base,
        "callers": {"runner": runner, "stranger": stranger},
        "calls": [
            call("components", "runner", "catalog", "getEntities", json!([{
                "filter": {"kind": "Component"}, "order": by_name,
                "fields": ["kind", "metadata.name", "spec.lifecycle"],
            }])),
            call("page", "runner", "catalog", "getEntities", json!([{
                "filter": {"kind": ["Component", "Resource"]}, "order": by_name,
                "offset": 1, "limit": 1,
            }])),
            call("owned", "runner", "catalog", "queryEntities", json!([{
                "filter": {"spec.owner": "team-a"}, "orderFields": by_name, "limit": 2,
            }])),
            call("templates", "runner", "catalog", "getEntities", json!([{
                "filter": {"kind": "Template"}, "order": by_name,
            }])),
            call("facets", "runner", "catalog", "getEntityFacets", json!([{
                "facets": ["spec.lifecycle", "kind"], "filter": {"kind": "Component"},
            }])),
            call("web", "runner", "catalog", "getEntityByRef", json!([format!("component:{n}/web")])),
            call("absent", "runner", "catalog", "getEntityByRef", json!([format!("component:{n}/absent")])),
            call("refs", "runner", "catalog", "getEntitiesByRefs", json!([{
                "entityRefs": [
                    format!("component:{n}/web"),
                    format!("resource:{n}/api-db"),
                    format!("component:{n}/absent"),
                ],
            }])),
            call("strangers-list", "stranger", "catalog", "getEntities", json!([{"filter": {"kind": "Component"}}])),
            call("strangers-web", "stranger", "catalog", "getEntityByRef", json!([format!("component:{n}/web")])),
            call("actions", "runner", "scaffolder", "listActions", json!([])),
            call("extensions", "runner", "scaffolder", "listTemplatingExtensions", json!([])),
            call("form", "runner", "scaffolder", "getTemplateParameterSchema", json!([format!("template:{n}/pausing")])),
            call("running", "runner", "scaffolder", "getTask", json!([task])),
            call("strangers-cancel", "stranger", "scaffolder", "cancelTask", json!([task])),
            call("cancel", "runner", "scaffolder", "cancelTask", json!([task])),
        ],
    });
    let results = run_clients(&reads);

    // Catalog: filters, fields, order and paging.
    let components = &ok(&results, "components")["items"];
    assert_eq!(names(components), ["api", "web"]);
    assert_eq!(
        components[1],
        json!({"kind": "Component", "metadata": {"name": "web"}, "spec": {"lifecycle": "production"}})
    );
    assert_eq!(names(&ok(&results, "page")["items"]), ["api-db"]);
    assert_eq!(names(&ok(&results, "templates")["items"]), ["pausing", "service"]);
    // queryEntities pages with a cursor; the second page continues the query.
    let owned = ok(&results, "owned");
    assert_eq!(names(&owned["items"]), ["api", "api-db"]);
    assert_eq!(owned["totalItems"], 3);
    let cursor = owned["pageInfo"]["nextCursor"]
        .as_str()
        .unwrap_or_else(|| panic!("no next cursor: {owned}"));
    let facets = ok(&results, "facets");
    let lifecycles: Vec<(&str, u64)> = facets["facets"]["spec.lifecycle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["value"].as_str().unwrap(), f["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(lifecycles.len(), 2, "{facets}");
    assert!(lifecycles.contains(&("production", 1)) && lifecycles.contains(&("experimental", 1)));
    assert_eq!(
        facets["facets"]["kind"],
        json!([{"value": "Component", "count": 2}])
    );
    let web = ok(&results, "web");
    assert_eq!(
        (&web["kind"], &web["metadata"]["namespace"], &web["spec"]["owner"]),
        (&json!("Component"), &json!(n), &json!("team-a"))
    );
    assert_eq!(
        *ok(&results, "absent"),
        Value::Null,
        "an absent entity is undefined"
    );
    let refs = &ok(&results, "refs")["items"];
    assert_eq!(refs[0]["metadata"]["name"], "web");
    assert_eq!(refs[1]["metadata"]["name"], "api-db");
    assert_eq!(refs[2], Value::Null);
    // A caller without rights sees nothing, as Backstage's permission
    // framework answers: an empty list, and no entity by name.
    assert_eq!(*ok(&results, "strangers-list"), json!({"items": []}));
    assert_eq!(*ok(&results, "strangers-web"), Value::Null);

    // Scaffolder: actions, the form, the running task, cancel.
    let extensions = ok(&results, "extensions");
    assert!(
        extensions["filters"]["parseRepoUrl"]["description"].is_string()
            && extensions["globals"]["functions"]["range"].is_object(),
        "{extensions}"
    );
    let actions = ok(&results, "actions");
    assert!(
        actions
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "debug:wait" && a["schema"]["input"]["properties"]["seconds"].is_object()),
        "{actions}"
    );
    let form = ok(&results, "form");
    assert_eq!(form["title"], "Pausing");
    assert_eq!(form["steps"][0]["title"], "Who");
    assert_eq!(form["steps"][0]["schema"]["required"], json!(["who"]));
    let running = ok(&results, "running");
    assert_eq!(
        (&running["id"], &running["status"]),
        (&json!(task), &json!("processing"))
    );
    assert_eq!(running["spec"]["parameters"]["who"], "jane");
    let refused = error(&results, "strangers-cancel");
    assert_eq!(
        (&refused["name"], &refused["status"]),
        (&json!("NotAllowedError"), &json!(403))
    );
    assert_eq!(ok(&results, "cancel")["status"], "cancelled");
    wait_for("the request to be cancelled", Duration::from_secs(60), || {
        (phase(&get(&ns, "scaffoldrequest/paused")) == "Cancelled").then_some(())
    });

    // The second page, retry, and the log streamed (long-polled) to the end.
    let follow = json!({
        "baseUrl": base,
        "callers": {"runner": runner},
        "longPolling": true,
        "calls": [
            call("second-page", "runner", "catalog", "queryEntities", json!([{"cursor": cursor}])),
            call("cancelled", "runner", "scaffolder", "getTask", json!([task])),
            call("retry", "runner", "scaffolder", "retry", json!([task])),
            json!({"name": "log", "as": "runner", "client": "scaffolder", "method": "streamLogs",
                   "args": [{"taskId": task}], "timeoutMs": 120000}),
            call("done", "runner", "scaffolder", "getTask", json!([task])),
        ],
    });
    let results = run_clients(&follow);
    let second = ok(&results, "second-page");
    assert_eq!(names(&second["items"]), ["web"]);
    assert_eq!(second["totalItems"], 3);
    assert_eq!(ok(&results, "cancelled")["status"], "cancelled");
    assert_eq!(ok(&results, "retry")["id"], task);
    let log = ok(&results, "log").as_array().unwrap().clone();
    let seen: Vec<(String, String, String)> = log
        .iter()
        .map(|e| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&e["type"]),
                text(&e["body"]["stepId"]),
                text(&e["body"]["status"]),
            )
        })
        .collect();
    let ids: Vec<u64> = log.iter().map(|e| e["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "event ids rise: {ids:?}");
    let at = |step: &str, status: &str| {
        seen.iter()
            .rposition(|(_, s, st)| s == step && st == status)
            .unwrap_or_else(|| panic!("no {step} {status} in {seen:?}"))
    };
    assert!(at("greet", "completed") < at("pause", "completed"), "{seen:?}");
    assert!(at("pause", "completed") < at("bye", "completed"), "{seen:?}");
    assert_eq!(
        seen.last()
            .map(|(kind, _, status)| (kind.as_str(), status.as_str())),
        Some(("completion", "completed")),
        "{seen:?}"
    );
    // The first step ran once: its events are the two it had before.
    assert_eq!(
        seen.iter().filter(|(_, s, _)| s == "greet").count(),
        2,
        "{seen:?}"
    );
    assert_eq!(ok(&results, "done")["status"], "completed");
    assert_eq!(phase(&get(&ns, "scaffoldrequest/paused")), "Succeeded");

    // A task made with scaffold(), followed to its end and listed; the
    // secret it was given is in no answer and not in the request.
    let secret = "client-secret-value-7f3a91";
    // Streamed as Backstage's frontend streams it: server-sent events.
    let dry_template = json!({
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": "dry"},
        "spec": {
            "type": "service",
            "parameters": [{"properties": {"name": {"type": "string"}}}],
            "steps": [{"id": "say", "action": "debug:log", "input": {"message": "hello ${{ parameters.name }}"}}],
        },
    });
    let create = json!({
        "baseUrl": base,
        "callers": {"runner": runner},
        "calls": [
            call("dry", "runner", "scaffolder", "dryRun", json!([{
                "template": dry_template, "values": {"name": "dry-client"}, "secrets": {}, "directoryContents": [],
            }])),
            call("create", "runner", "scaffolder", "scaffold", json!([{
                "templateRef": format!("template:{n}/service"),
                "values": {"name": "from-client"},
                "secrets": {"apiKey": secret},
            }])),
            json!({"name": "log", "as": "runner", "client": "scaffolder", "method": "streamLogs",
                   "args": [{"taskId": "$ref:create.taskId"}], "timeoutMs": 120000}),
            call("created", "runner", "scaffolder", "getTask", json!(["$ref:create.taskId"])),
            call("tasks", "runner", "scaffolder", "listTasks", json!([{"filterByOwnership": "all"}])),
        ],
    });
    let results = run_clients(&create);
    let dry = ok(&results, "dry");
    let said: Vec<&str> = dry["log"]
        .as_array()
        .unwrap_or_else(|| panic!("no dry-run log: {dry}"))
        .iter()
        .filter_map(|l| l["body"]["message"].as_str())
        .collect();
    assert!(said.contains(&"hello dry-client"), "{dry}");
    assert!(
        !results.to_string().contains(secret),
        "a secret in an answer: {results}"
    );
    let id = ok(&results, "create")["taskId"].as_str().unwrap().to_string();
    let (namespace, name) = id.split_once(':').unwrap_or_else(|| panic!("a task id: {id}"));
    assert_eq!(namespace, n);
    let log = ok(&results, "log").as_array().unwrap().clone();
    let last = log.last().unwrap_or_else(|| panic!("no events"));
    assert_eq!(
        (&last["type"], &last["body"]["status"]),
        (&json!("completion"), &json!("completed"))
    );
    let created = ok(&results, "created");
    assert_eq!(created["status"], "completed");
    assert_eq!(created["spec"]["parameters"]["name"], "from-client");
    let listed: Vec<&str> = ok(&results, "tasks")["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_default())
        .collect();
    assert!(
        listed.contains(&id.as_str()) && listed.contains(&task.as_str()),
        "{listed:?}"
    );
    let request = get(&ns, &format!("scaffoldrequest/{name}"));
    assert!(
        !request.to_string().contains(secret),
        "the secret is in the request: {request}"
    );
    assert_eq!(phase(&request), "Succeeded");
}
