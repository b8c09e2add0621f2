//! Backstage's scaffolder routes (`/api/scaffolder/v2/...`) against the
//! real API server, with callers verified by TokenReview and authorized by
//! SubjectAccessReview (see `portal`): a task is read, followed through its
//! events, cancelled and retried, and refused to callers without the
//! rights. Each answer is checked against Backstage's scaffolder OpenAPI
//! document.
//!
//! Who calls:
//! - `runner`: may get and patch ScaffoldRequests in the test's namespace;
//! - `viewer`: may only get them;
//! - `stranger`: no rights.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Namespace, cluster, wait_for};
use crate::openapi::conforms;
use crate::portal::{Portal, service_account_token};
use crate::portal_tasks::scaffolder_openapi;
use crate::scaffold::{apply, get, phase};

/// A request whose second step waits 20 s: long enough to cancel it.
const PAUSING: &str = r#"apiVersion: goldpath.dev/v1alpha1
kind: Template
metadata: {name: pausing}
spec:
  type: service
  presentation: {buttonLabels: {createButtonText: Pause}}
  parameters:
    - title: Who
      properties:
        who: {type: string, "ui:autofocus": true}
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
"#;

/// Gives the ServiceAccount `account` of `namespace` `verbs` on
/// ScaffoldRequests and Templates there.
fn grant(namespace: &str, account: &str, verbs: &str) {
    let c = cluster();
    c.kubectl_ok(&[
        "create",
        "role",
        account,
        "-n",
        namespace,
        &format!("--verb={verbs}"),
        "--resource=scaffoldrequests.goldpath.dev,templates.goldpath.dev",
    ]);
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        account,
        "-n",
        namespace,
        &format!("--role={account}"),
        &format!("--serviceaccount={namespace}:{account}"),
    ]);
}

fn post(portal: &Portal, path: &str, token: &str) -> (u16, Value) {
    let authorization = format!("Bearer {token}");
    let (status, body) = portal.call("POST", path, &[("Authorization", &authorization)], None);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The `(id, type, stepId, status)` of each event.
fn summary(events: &Value) -> Vec<(u64, String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    events
        .as_array()
        .expect("a list of events")
        .iter()
        .map(|e| {
            (
                e["id"].as_u64().unwrap(),
                text(&e["type"]),
                text(&e["body"]["stepId"]),
                text(&e["body"]["status"]),
            )
        })
        .collect()
}

#[test]
fn a_task_is_followed_cancelled_and_retried_through_backstages_routes() {
    let ns = Namespace::new("scaffolder-api");
    let n = ns.name.as_str();
    let spec = scaffolder_openapi();
    let portal = Portal::start(&ns, "", &[]);
    let runner = service_account_token(n, "runner");
    grant(n, "runner", "get,patch");
    let viewer = service_account_token(n, "viewer");
    grant(n, "viewer", "get");
    let stranger = service_account_token(n, "stranger");
    apply(&ns, PAUSING);
    let task = format!("/api/scaffolder/v2/tasks/{n}:paused");

    // The task runs; its events follow its steps.
    let events = wait_for("the wait step to start", Duration::from_secs(60), || {
        let (status, events) = portal.get(&format!("{task}/events"), &runner);
        assert_eq!(status, 200, "{events}");
        let seen = summary(&events);
        seen.iter()
            .any(|(_, _, step, status)| step == "pause" && status == "processing")
            .then_some(seen)
    });
    assert_eq!(
        events[..2],
        [
            (1, "log".into(), "greet".into(), "processing".into()),
            (2, "log".into(), "greet".into(), "completed".into()),
        ]
    );
    let (status, body) = portal.get(&task, &viewer);
    assert_eq!(status, 200, "{body}");
    conforms(&spec, "get", "/v2/tasks/{taskId}", status, &body);
    assert_eq!(body["id"], format!("{n}:paused"));
    assert_eq!(body["status"], "processing");
    assert_eq!(
        body["spec"]["templateInfo"]["entityRef"],
        format!("template:{n}/pausing")
    );
    assert!(
        body["createdBy"]
            .as_str()
            .unwrap_or_default()
            .starts_with("user:default/"),
        "{body}"
    );
    // Only what is new after `after`.
    let (_, newer) = portal.get(&format!("{task}/events?after=2"), &runner);
    assert!(summary(&newer).iter().all(|(id, ..)| *id > 2), "{newer}");

    // Refused: a caller who may not read, or may only read, changes nothing.
    let (status, body) = portal.get(&task, &stranger);
    assert_eq!(status, 403, "{body}");
    let (status, body) = post(&portal, &format!("{task}/cancel"), &viewer);
    assert_eq!(status, 403, "{body}");
    assert_eq!(get(&ns, "scaffoldrequest/paused")["spec"]["cancel"], Value::Null);

    // Cancel, as Backstage's cancel button does.
    let (status, body) = post(&portal, &format!("{task}/cancel"), &runner);
    conforms(&spec, "post", "/v2/tasks/{taskId}/cancel", status, &body);
    assert_eq!(
        (status, &body["status"]),
        (200, &Value::from("cancelled")),
        "{body}"
    );
    let cancelled = wait_for("the task to be cancelled", Duration::from_secs(30), || {
        let (_, body) = portal.get(&task, &runner);
        (body["status"] == "cancelled").then_some(body)
    });
    assert_eq!(cancelled["id"], format!("{n}:paused"));
    let (status, events) = portal.get(&format!("{task}/events"), &runner);
    conforms(&spec, "get", "/v2/tasks/{taskId}/events", status, &events);
    let told = summary(&events);
    let ends: Vec<(&str, &str)> = told[told.len() - 2..]
        .iter()
        .map(|e| (e.1.as_str(), e.3.as_str()))
        .collect();
    assert_eq!(ends, [("cancelled", "cancelled"), ("completion", "cancelled")]);
    let told_before = told.last().unwrap().0;
    assert_eq!(phase(&get(&ns, "scaffoldrequest/paused")), "Cancelled");

    // Retry: it resumes at the wait and completes, without the first step
    // running again (its event is as it was).
    let (status, body) = post(&portal, &format!("{task}/retry"), &runner);
    conforms(&spec, "post", "/v2/tasks/{taskId}/retry", status, &body);
    assert_eq!(
        (status, &body["id"]),
        (201, &Value::from(format!("{n}:paused"))),
        "{body}"
    );
    // What the retried run tells comes under ids above everything told
    // before, the cancel's completion included.
    let done = wait_for("the task to complete", Duration::from_secs(90), || {
        let (_, body) = portal.get(&format!("{task}/events?after={told_before}"), &runner);
        let seen = summary(&body);
        seen.iter()
            .any(|(_, kind, ..)| kind == "completion")
            .then_some(seen)
    });
    assert_eq!(done.last().unwrap().3, "completed", "{done:?}");
    let (_, events) = portal.get(&format!("{task}/events"), &runner);
    assert_eq!(
        summary(&events)[..2],
        [
            (1, "log".into(), "greet".into(), "processing".into()),
            (2, "log".into(), "greet".into(), "completed".into()),
        ]
    );
    let (status, body) = post(&portal, &format!("{task}/retry"), &runner);
    assert_eq!(status, 409, "a completed task is not retried: {body}");

    // Unknown tasks, and the actions list.
    let (status, _) = portal.get(&format!("/api/scaffolder/v2/tasks/{n}:nothing"), &runner);
    assert_eq!(status, 404);
    let (status, _) = portal.get("/api/scaffolder/v2/tasks/no-colon", &runner);
    assert_eq!(status, 404);
    let (status, actions) = portal.get("/api/scaffolder/v2/actions", &stranger);
    assert_eq!(status, 200);
    conforms(&spec, "get", "/v2/actions", status, &actions);
    assert!(
        actions
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == "debug:wait" && a["schema"]["input"]["properties"]["seconds"].is_object()),
        "{actions}"
    );

    // The templating surface: Backstage's filters, documented, among the
    // rest, and the global functions.
    let (status, extensions) = portal.get("/api/scaffolder/v2/templating-extensions", &stranger);
    assert_eq!(status, 200, "{extensions}");
    conforms(&spec, "get", "/v2/templating-extensions", status, &extensions);
    for filter in [
        "parseRepoUrl",
        "parseEntityRef",
        "pick",
        "projectSlug",
        "dump",
        "lower",
    ] {
        assert!(
            extensions["filters"][filter].is_object(),
            "{filter}: {extensions}"
        );
    }
    assert!(extensions["filters"]["parseEntityRef"]["schema"]["arguments"].is_array());
    assert!(
        extensions["globals"]["functions"]["range"].is_object(),
        "{extensions}"
    );

    // The Template's form, as it holds it.
    let form = format!("/api/scaffolder/v2/templates/{n}/template/pausing/parameter-schema");
    let (status, body) = portal.get(&form, &viewer);
    assert_eq!(status, 200, "{body}");
    conforms(
        &spec,
        "get",
        "/v2/templates/{namespace}/{kind}/{name}/parameter-schema",
        status,
        &body,
    );
    assert_eq!(body["title"], "pausing");
    assert_eq!(body["presentation"]["buttonLabels"]["createButtonText"], "Pause");
    assert_eq!(body["steps"][0]["title"], "Who");
    assert_eq!(
        body["steps"][0]["schema"]["properties"]["who"]["ui:autofocus"],
        true
    );
    let (status, _) = portal.get(&form, &stranger);
    assert_eq!(status, 403);
    let (status, _) = portal.get(&form.replace("/template/", "/component/"), &viewer);
    assert_eq!(status, 404);

    // Every write is audited: who, what, the outcome.
    let log = portal.operator.log();
    let audits: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["audit"] == "goldpath.dev/portal")
        .collect();
    let cancel_path = format!("{task}/cancel");
    let outcomes: Vec<(String, u64)> = audits
        .iter()
        .filter(|a| a["path"] == cancel_path.as_str())
        .map(|a| {
            (
                a["user"].as_str().unwrap_or_default().to_string(),
                a["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (format!("system:serviceaccount:{n}:viewer"), 403),
            (format!("system:serviceaccount:{n}:runner"), 200),
        ]
    );
}
