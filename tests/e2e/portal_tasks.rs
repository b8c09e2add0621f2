//! Tasks created through the portal API (`POST /api/scaffolder/v2/tasks`)
//! against the real API server and git server: the operator (goldpath's
//! own ServiceAccount, the one the chart's admission policy believes)
//! records the verified caller as the request's requester and then acts
//! as that caller; the task's secrets live in a Secret the request owns
//! and appear nowhere else. Every response is checked against Backstage's
//! own scaffolder OpenAPI document, from the pinned
//! `@backstage/plugin-scaffolder-backend` npm package.
//!
//! The tasks are then listed (`GET /v2/tasks`) as each caller may.
//!
//! Who calls:
//! - `runner`: may create requests, read Templates, write Secrets, Argo CD
//!   Applications and CatalogEntities in the test's namespace;
//! - `limited`: the same but Applications;
//! - `stranger`: no rights.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Namespace, cluster, unique, wait_for};
use crate::openapi::{conforms, conforms_to, document};
use crate::portal::{Portal, account, service_account_token};
use crate::scaffold::{apply, events, get, template};

/// The package whose OpenAPI document the responses are checked against.
const PACKAGE: &str = "@backstage/plugin-scaffolder-backend@4.3.0";
/// The SHA-256 of its tarball.
const SHA256: &str = "3673f89b50a69d1e40e6fdc710737d27b139f729202d9ea8e03b068064a2ad3a";

/// Backstage's scaffolder OpenAPI document, as the pinned package ships it.
pub fn scaffolder_openapi() -> Value {
    document(PACKAGE, SHA256, "dist/schema/openapi/generated/router.cjs.js")
}

/// Gives the ServiceAccount `name` of `namespace` what a task of the
/// service template needs, plus `resources`.
fn grant(namespace: &str, name: &str, resources: &str) {
    let c = cluster();
    c.kubectl_ok(&[
        "create",
        "role",
        name,
        "-n",
        namespace,
        "--verb=get,list,watch,create,patch",
        &format!(
            "--resource=scaffoldrequests.goldpath.dev,templates.goldpath.dev,catalogentities.goldpath.dev,secrets{resources}"
        ),
    ]);
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        name,
        "-n",
        namespace,
        &format!("--role={name}"),
        &format!("--serviceaccount={namespace}:{name}"),
    ]);
}

/// POSTs `body` to `path` with `token` (none when empty).
pub fn post(portal: &Portal, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let authorization = format!("Bearer {token}");
    let headers: Vec<(&str, &str)> = if token.is_empty() {
        Vec::new()
    } else {
        vec![("Authorization", authorization.as_str())]
    };
    let (status, body) = portal.call("POST", path, &headers, Some(body));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Waits until task `id` has ended; returns it.
fn ended(portal: &Portal, id: &str, token: &str) -> Value {
    wait_for(&format!("task {id} to end"), Duration::from_secs(120), || {
        let (status, task) = portal.get(&format!("/api/scaffolder/v2/tasks/{id}"), token);
        assert_eq!(status, 200, "{task}");
        ["completed", "failed", "cancelled"]
            .contains(&task["status"].as_str().unwrap_or_default())
            .then_some(task)
    })
}

#[test]
fn a_task_created_through_the_api_runs_as_its_caller_and_keeps_its_secrets() {
    let spec = scaffolder_openapi();
    let ns = Namespace::new("portal-tasks");
    let n = ns.name.as_str();
    let portal = Portal::start(&ns, "", &[]);
    let runner = service_account_token(n, "runner");
    grant(n, "runner", ",applications.argoproj.io");
    let limited = service_account_token(n, "limited");
    grant(n, "limited", "");
    let stranger = service_account_token(n, "stranger");
    // The publish step pushes with the `token` secret, so the push works
    // only if the value reached the step; it must show up nowhere else.
    let secret_value = cluster().git_token.clone();
    let with_token = template("svc").replace(
        "input: {repoUrl: \"github.com?owner=e2e&repo=${{ parameters.name }}\"}",
        "input: {repoUrl: \"github.com?owner=e2e&repo=${{ parameters.name }}\", token: \"${{ secrets.token }}\"}",
    );
    assert!(with_token.contains("secrets.token"));
    apply(&ns, &with_token);
    let body = |service: &str| {
        json!({
            "templateRef": format!("template:{n}/svc"),
            "values": {"name": service, "owner": "group:team-a"},
            "secrets": {"token": secret_value},
        })
    };
    let tasks = "/api/scaffolder/v2/tasks";
    let requests = || {
        let list = cluster().kubectl_ok(&["get", "scaffoldrequests", "-n", n, "-o", "name"]);
        list.lines().map(str::to_string).collect::<Vec<_>>()
    };

    // Refused: no token, and a caller who may not create requests there.
    let (status, refused) = post(&portal, tasks, "", &body("nobody"));
    assert_eq!(status, 401, "{refused}");
    let (status, refused) = post(&portal, tasks, &stranger, &body("nobody"));
    assert_eq!(status, 403, "{refused}");
    let (status, refused) = post(
        &portal,
        tasks,
        &runner,
        &json!({"templateRef": format!("template:{n}/svc")}),
    );
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("values"),
        "{refused}"
    );
    let (status, refused) = post(
        &portal,
        tasks,
        &runner,
        &json!({"templateRef": format!("template:{n}/nothing"), "values": {}}),
    );
    assert_eq!(status, 404, "{refused}");
    // Values the Template's form refuses: Backstage's `errors`, naming the
    // field and the rule, never echoing the value.
    let mut wrong = body("Not A Name");
    wrong["values"]["replicas"] = json!(0);
    let (status, refused) = post(&portal, tasks, &runner, &wrong);
    assert_eq!(status, 400, "{refused}");
    conforms(&spec, "post", "/v2/tasks", status, &refused);
    let named: Vec<(Value, Value)> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].clone(), e["name"].clone()))
        .collect();
    assert_eq!(
        named,
        [
            (json!(["name"]), json!("pattern")),
            (json!(["replicas"]), json!("minimum"))
        ],
        "{refused}"
    );
    assert!(!refused.to_string().contains("Not A Name"), "{refused}");
    assert!(requests().is_empty(), "a refused call created {:?}", requests());

    // Created: the request is the runner's, and its secrets are a Secret
    // it owns, named in spec.secretRef.
    let service = format!("s{}", unique());
    let (status, created) = post(&portal, tasks, &runner, &body(&service));
    assert_eq!(status, 201, "{created}");
    conforms(&spec, "post", "/v2/tasks", status, &created);
    let id = created["id"].as_str().unwrap().to_string();
    let (namespace, name) = id.split_once(':').unwrap();
    assert_eq!(namespace, n);
    let request = get(&ns, &format!("scaffoldrequest/{name}"));
    assert_eq!(request["spec"]["requester"]["username"], account(n, "runner"));
    assert!(
        request["spec"]["requester"]["groups"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g == "system:serviceaccounts")),
        "{request:#}"
    );
    assert!(request["spec"]["requester"]["uid"].is_string(), "{request:#}");
    assert_eq!(request["spec"]["secretRef"]["name"], name);
    assert_eq!(request["spec"]["parameters"]["name"], service.as_str());
    let secret = get(&ns, &format!("secret/{name}"));
    let owner = &secret["metadata"]["ownerReferences"][0];
    assert_eq!(
        (&owner["kind"], &owner["uid"]),
        (&json!("ScaffoldRequest"), &request["metadata"]["uid"]),
        "{secret:#}"
    );

    // It runs to the end as the runner, with the secret.
    let task = ended(&portal, &id, &runner);
    assert_eq!(task["status"], "completed", "{task:#}");
    conforms(&spec, "get", "/v2/tasks/{taskId}", 200, &task);
    assert_eq!(
        task["createdBy"],
        format!("user:default/system-serviceaccount-{n}-runner")
    );
    let (status, told) = portal.get(&format!("{tasks}/{id}/events"), &runner);
    assert_eq!(status, 200, "{told}");
    conforms(&spec, "get", "/v2/tasks/{taskId}/events", status, &told);

    // The limited caller's task is theirs too: the step they may not do
    // (make an Argo CD Application) is refused to them.
    let other = format!("s{}", unique());
    let (status, created) = post(&portal, tasks, &limited, &body(&other));
    assert_eq!(status, 201, "{created}");
    let limited_id = created["id"].as_str().unwrap().to_string();
    let task = ended(&portal, &limited_id, &limited);
    assert_eq!(task["status"], "failed", "{task:#}");
    let limited_name = limited_id.split_once(':').unwrap().1;
    let failed = get(&ns, &format!("scaffoldrequest/{limited_name}"));
    assert_eq!(failed["spec"]["requester"]["username"], account(n, "limited"));
    let deploy = failed["status"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "deploy")
        .cloned()
        .unwrap();
    assert_eq!(deploy["phase"], "Failed", "{failed:#}");
    let message = deploy["message"].as_str().unwrap_or_default();
    assert!(message.contains(&account(n, "limited")), "{message}");
    assert!(message.contains("applications"), "{message}");

    // A user creating a request with kubectl cannot claim another
    // requester: the API server stamps who they are.
    let forged = format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: forged, namespace: {n}}}\n\
         spec:\n  templateRef: {{name: svc}}\n  parameters: {{name: forged, owner: group:team-a}}\n\
         \x20 requester: {{username: \"{}\", groups: [system:masters]}}\n",
        account(n, "runner")
    );
    let made = cluster().kubectl(
        &["create", "-f", "-", &format!("--as={}", account(n, "limited"))],
        Some(&forged),
    );
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let stamped = get(&ns, "scaffoldrequest/forged");
    assert_eq!(stamped["spec"]["requester"]["username"], account(n, "limited"));
    assert!(
        !stamped["spec"]["requester"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "system:masters"),
        "{stamped:#}"
    );

    // The list: what the caller may list, filtered as Backstage filters.
    let ids = |listed: &Value| -> Vec<String> {
        listed["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    // The list is the operator's store, which a watch fills a moment after
    // a create.
    let listed = wait_for("the three tasks to be listed", Duration::from_secs(10), || {
        let (status, listed) = portal.get(tasks, &runner);
        assert_eq!(status, 200, "{listed}");
        (listed["totalTasks"] == 3).then_some(listed)
    });
    conforms(&spec, "get", "/v2/tasks", 200, &listed);
    for task in [&id, &limited_id, &format!("{n}:forged")] {
        assert!(ids(&listed).contains(task), "{task} not in {listed}");
    }
    let mine = format!("createdBy=user:default/system-serviceaccount-{n}-runner");
    let (_, listed) = portal.get(&format!("{tasks}?{mine}&status=completed"), &runner);
    assert_eq!(ids(&listed), std::slice::from_ref(&id));
    assert_eq!(listed["totalTasks"], 1);
    let (_, listed) = portal.get(&format!("{tasks}?order=asc:created_at&limit=1&offset=1"), &runner);
    assert_eq!(
        (ids(&listed).len(), &listed["totalTasks"]),
        (1, &json!(3)),
        "{listed}"
    );
    let (status, listed) = portal.get(tasks, &stranger);
    assert_eq!((status, ids(&listed)), (200, Vec::<String>::new()));
    let (status, refused) = portal.get(&format!("{tasks}?order=up:name"), &runner);
    assert_eq!(status, 400, "{refused}");

    // The secret is in no status, Event, log or response.
    let responses = [
        portal.get(&format!("{tasks}/{id}"), &runner).1,
        portal.get(&format!("{tasks}/{id}/events"), &runner).1,
        portal.get(&format!("{tasks}/{limited_id}/events"), &limited).1,
    ];
    for response in responses {
        assert!(!response.to_string().contains(&secret_value), "{response}");
    }
    let everything = cluster().kubectl_ok(&["get", "-n", n, "goldpath", "-o", "json"]);
    assert!(
        !everything.contains(&secret_value),
        "the secret is in a goldpath object"
    );
    assert!(!events(&ns).contains(&secret_value), "the secret is in an Event");
    let log = portal.operator.log();
    assert!(log.contains(name), "the operator logged nothing about the task");
    assert!(
        !log.contains(&secret_value),
        "the secret is in the operator's log"
    );

    // Every create is audited: who, the outcome.
    let audits: Vec<(Value, u64)> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["audit"] == "goldpath.dev/portal" && l["path"] == tasks)
        .map(|l| (l["user"].clone(), l["status"].as_u64().unwrap_or_default()))
        .collect();
    assert_eq!(
        audits,
        [
            (Value::Null, 401),
            (json!(account(n, "stranger")), 403),
            (json!(account(n, "runner")), 400),
            (json!(account(n, "runner")), 404),
            (json!(account(n, "runner")), 400),
            (json!(account(n, "runner")), 201),
            (json!(account(n, "limited")), 201),
        ]
    );

    // Deleting the request deletes its Secret.
    cluster().kubectl_ok(&["delete", "-n", n, &format!("scaffoldrequest/{name}")]);
    wait_for(
        "the task's Secret to go with its request",
        Duration::from_secs(60),
        || {
            let left = cluster().kubectl(&["get", "-n", n, &format!("secret/{name}")], None);
            (!left.status.success()).then_some(())
        },
    );
}

/// A template whose middle step waits: its events come while a stream is
/// open.
const PAUSING: &str = r#"apiVersion: goldpath.dev/v1alpha1
kind: Template
metadata: {name: pausing}
spec:
  type: service
  steps:
    - {id: greet, action: "debug:log", input: {message: hello}}
    - {id: pause, action: "debug:wait", input: {seconds: 8}}
    - {id: bye, action: "debug:log", input: {message: bye}}
"#;

/// Opens `GET path` as server-sent events (HTTP/1.0, so the body is the
/// stream itself, ended by closing the connection): the status line and
/// headers, and the connection to read the events from.
fn open_stream(portal: &Portal, path: &str, headers: &[(&str, &str)]) -> (String, TcpStream) {
    let mut stream = TcpStream::connect(("127.0.0.1", portal.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).unwrap(),
            1,
            "the response ended in its head"
        );
        head.push(byte[0]);
    }
    (String::from_utf8(head).unwrap(), stream)
}

/// Reads whole events from `stream` until `enough` holds for what was
/// read, or the stream ends: each event's `id:`, `event:` and `data:`.
fn read_events(
    stream: &mut TcpStream,
    enough: impl Fn(&[(u64, String, Value)]) -> bool,
) -> Vec<(u64, String, Value)> {
    let mut text = String::new();
    let mut buffer = [0u8; 4096];
    loop {
        let events = parse_events(&text);
        if enough(&events) {
            return events;
        }
        let read = stream.read(&mut buffer).unwrap();
        if read == 0 {
            return events;
        }
        text.push_str(std::str::from_utf8(&buffer[..read]).unwrap());
    }
}

fn parse_events(text: &str) -> Vec<(u64, String, Value)> {
    let whole = &text[..text.rfind("\n\n").map_or(0, |end| end + 2)];
    whole
        .split("\n\n")
        .filter(|block| !block.is_empty() && !block.starts_with(':'))
        .map(|block| {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                    .unwrap_or_else(|| panic!("no {name} in {block:?}"))
                    .to_string()
            };
            let data: Value = serde_json::from_str(&field("data")).unwrap();
            (field("id").parse().unwrap(), field("event"), data)
        })
        .collect()
}

#[test]
fn a_task_streams_its_events_as_they_happen_and_the_stream_ends_with_it() {
    let spec = scaffolder_openapi();
    let ns = Namespace::new("portal-stream");
    let n = ns.name.as_str();
    let portal = Portal::start(&ns, "", &[]);
    let runner = service_account_token(n, "runner");
    grant(n, "runner", "");
    let stranger = service_account_token(n, "stranger");
    apply(&ns, PAUSING);
    let (status, created) = post(
        &portal,
        "/api/scaffolder/v2/tasks",
        &runner,
        &json!({"templateRef": format!("template:{n}/pausing"), "values": {}}),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/scaffolder/v2/tasks/{id}/eventstream");
    let authorization = format!("Bearer {runner}");

    // Refused before any stream opens.
    let (head, _) = open_stream(&portal, &path, &[]);
    assert!(head.starts_with("HTTP/1.0 401"), "{head}");
    let (head, _) = open_stream(
        &portal,
        &path,
        &[("Authorization", &format!("Bearer {stranger}"))],
    );
    assert!(head.starts_with("HTTP/1.0 403"), "{head}");

    // The wait step's start arrives while the task still runs.
    let (head, mut stream) = open_stream(&portal, &path, &[("Authorization", &authorization)]);
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(
        head.to_lowercase().contains("content-type: text/event-stream"),
        "{head}"
    );
    let early = read_events(&mut stream, |seen| {
        seen.iter().any(|(_, _, e)| e["body"]["stepId"] == "pause")
    });
    assert!(
        early.iter().all(|(_, kind, _)| kind == "log"),
        "told before the task ended: {early:?}"
    );
    let (_, task) = portal.get(&format!("/api/scaffolder/v2/tasks/{id}"), &runner);
    assert_eq!(
        task["status"], "processing",
        "the stream ran ahead of the task: {task}"
    );
    // The rest, up to the completion; then the server ends the stream.
    let rest = read_events(&mut stream, |_| false);
    let all: Vec<_> = early.into_iter().chain(rest).collect();
    let ids: Vec<u64> = all.iter().map(|(id, ..)| *id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7], "{all:?}");
    let (_, kind, last) = all.last().unwrap();
    assert_eq!(
        (kind.as_str(), &last["body"]["status"]),
        ("completion", &json!("completed"))
    );
    for (id, kind, event) in &all {
        assert_eq!(
            (event["id"].as_u64(), event["type"].as_str()),
            (Some(*id), Some(kind.as_str()))
        );
        conforms_to(&spec, "SerializedTaskEvent", event);
    }
    // The same events as /events tells.
    let (_, told) = portal.get(&format!("/api/scaffolder/v2/tasks/{id}/events"), &runner);
    let told: Vec<&Value> = told.as_array().unwrap().iter().collect();
    assert_eq!(told, all.iter().map(|(_, _, e)| e).collect::<Vec<_>>());

    // A client that reconnects with the last id it has gets the rest, and
    // the stream of an ended task ends at once.
    let (_, mut stream) = open_stream(
        &portal,
        &path,
        &[("Authorization", &authorization), ("Last-Event-ID", "4")],
    );
    let after: Vec<u64> = read_events(&mut stream, |_| false)
        .iter()
        .map(|(id, ..)| *id)
        .collect();
    assert_eq!(after, [5, 6, 7]);
    let (_, mut stream) = open_stream(
        &portal,
        &format!("{path}?after=6"),
        &[("Authorization", &authorization)],
    );
    let after: Vec<u64> = read_events(&mut stream, |_| false)
        .iter()
        .map(|(id, ..)| *id)
        .collect();
    assert_eq!(after, [7]);
    let (head, _) = open_stream(
        &portal,
        &format!("/api/scaffolder/v2/tasks/{n}:nothing/eventstream"),
        &[("Authorization", &authorization)],
    );
    assert!(head.starts_with("HTTP/1.0 404"), "{head}");
}

#[test]
fn a_dry_run_renders_inside_goldpath_and_nothing_leaves_it() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    let mut spec = scaffolder_openapi();
    // Backstage's document asks each file of a dry run's answer for a
    // `content`, which Backstage's own router does not send (it sends
    // `base64Content`, as goldpath does): the check asks for what the
    // router sends.
    spec["components"]["schemas"]["SerializedFile"]["required"] = json!(["path"]);
    let ns = Namespace::new("portal-dry-run");
    let n = ns.name.as_str();
    let portal = Portal::start(&ns, "", &[]);
    // A caller with no rights in the cluster: a dry run touches nothing.
    let caller = service_account_token(n, "caller");
    let service = format!("dry{}", unique());
    let secret_value = cluster().git_token.clone();
    let template = json!({
        "apiVersion": "scaffolder.backstage.io/v1beta3",
        "kind": "Template",
        "metadata": {"name": "dry", "namespace": n},
        "spec": {
            "type": "service",
            "parameters": [{"required": ["name"], "properties": {"name": {"type": "string"}}}],
            "steps": [
                {"id": "fetch", "action": "fetch:template", "input": {"url": "./skeleton", "values": {"name": "${{ parameters.name }}"}}},
                {"id": "publish", "action": "publish:github", "input": {"repoUrl": "github.com?owner=e2e&repo=${{ parameters.name }}", "token": "${{ secrets.token }}"}},
            ],
            "output": {"text": [{"title": "Rendered", "content": "${{ parameters.name }} for ${{ user.ref }}"}]},
        },
    });
    let files = [
        ("skeleton/README.md", "# ${{ values.name }}\n"),
        (
            "skeleton/catalog-info.yaml",
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: ${{ values.name }}}\nspec: {type: service, lifecycle: experimental, owner: group:team-a}\n",
        ),
    ];
    let contents: Vec<Value> = files
        .iter()
        .map(|(path, text)| json!({"path": path, "base64Content": BASE64.encode(text)}))
        .collect();
    let body = json!({
        "template": template,
        "values": {"name": service},
        "secrets": {"token": secret_value},
        "directoryContents": contents,
    });
    let dry_run = "/api/scaffolder/v2/dry-run";
    let (status, refused) = post(&portal, dry_run, "", &body);
    assert_eq!(status, 401, "{refused}");
    let (status, answer) = post(&portal, dry_run, &caller, &body);
    assert_eq!(status, 200, "{answer}");
    conforms(&spec, "post", "/v2/dry-run", status, &answer);
    let rendered: Vec<(String, String)> = answer["directoryContents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let text = BASE64.decode(f["base64Content"].as_str().unwrap()).unwrap();
            (
                f["path"].as_str().unwrap().to_string(),
                String::from_utf8(text).unwrap(),
            )
        })
        .collect();
    assert!(
        rendered.contains(&("README.md".into(), format!("# {service}\n"))),
        "{rendered:?}"
    );
    let steps: Vec<&str> = answer["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["fetch", "publish"]);
    assert_eq!(
        answer["output"]["text"][0]["content"],
        format!("{service} for user:default/system-serviceaccount-{n}-caller")
    );
    assert!(
        !answer.to_string().contains(&secret_value),
        "the secret is in the answer"
    );

    // Nothing left the process: no repository, no object in the namespace.
    assert!(
        !cluster()
            .git_server_repository(&format!("e2e-{service}"))
            .exists()
    );
    let left = cluster().kubectl_ok(&["get", "-n", n, "goldpath", "-o", "name"]);
    assert!(left.trim().is_empty(), "{left}");
    assert!(!portal.operator.log().contains(&secret_value));

    // What is wrong is named.
    let mut bad = body.clone();
    bad["values"] = json!({});
    let (status, refused) = post(&portal, dry_run, &caller, &bad);
    assert_eq!(status, 400, "{refused}");
    conforms(&spec, "post", "/v2/dry-run", status, &refused);
    assert_eq!(refused["errors"][0]["name"], "required", "{refused}");
    assert_eq!(refused["errors"][0]["path"], json!(["name"]), "{refused}");
}

/// When the task's Secret cannot be written (here an admission policy
/// refuses every Secret made in the namespace), the request made for it is
/// taken back: the caller is told which Secret failed and why, with the
/// status its refusal means (never `503`, which says "try again"), and nothing
/// is left behind, neither the request nor its secret values.
#[test]
fn a_task_whose_secret_cannot_be_written_leaves_nothing_behind() {
    let ns = Namespace::new("portal-no-secret");
    let n = ns.name.as_str();
    let portal = Portal::start(&ns, "", &[]);
    let runner = service_account_token(n, "runner");
    grant(n, "runner", "");
    apply(&ns, &template("svc"));
    let policy = format!("e2e-no-secrets-{n}");
    let closed = format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\n\
         metadata: {{name: {policy}}}\nspec:\n  failurePolicy: Fail\n  matchConstraints:\n\
         \x20   resourceRules: [{{apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE], resources: [secrets]}}]\n\
         \x20 validations: [{{expression: \"false\", message: \"secrets are closed in {n}\"}}]\n---\n\
         apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicyBinding\n\
         metadata: {{name: {policy}}}\nspec:\n  policyName: {policy}\n  validationActions: [Deny]\n\
         \x20 matchResources:\n    namespaceSelector:\n      matchLabels: {{kubernetes.io/metadata.name: {n}}}\n"
    );
    let c = cluster();
    let output = c.kubectl(&["apply", "-f", "-"], Some(&closed));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The policy takes effect once the API server has loaded it: a probe
    // made before that succeeds, and the next probe of the same name then
    // fails for another reason, so only the policy's own refusal counts.
    wait_for("the policy to refuse Secrets", Duration::from_secs(60), || {
        let probe = c.kubectl(
            &[
                "create",
                "secret",
                "generic",
                &format!("probe-{}", unique()),
                "-n",
                n,
            ],
            None,
        );
        String::from_utf8_lossy(&probe.stderr)
            .contains(&format!("secrets are closed in {n}"))
            .then_some(())
    });

    let secret_value = format!("v{}", unique());
    let body = json!({
        "templateRef": format!("template:{n}/svc"),
        "values": {"name": "orders", "owner": "group:team-a"},
        "secrets": {"token": secret_value},
    });
    let (status, refused) = post(&portal, "/api/scaffolder/v2/tasks", &runner, &body);
    c.kubectl_ok(&[
        "delete",
        "validatingadmissionpolicybinding,validatingadmissionpolicy",
        &policy,
    ]);
    // The policy's refusal is the API server's 422 Invalid: the caller's
    // input was refused, not the service unavailable.
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["name"], "InputError", "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("creating the Secret of task"), "{refused}");
    assert!(message.contains("422 Invalid"), "{refused}");
    assert!(
        message.contains(&format!("secrets are closed in {n}")),
        "{refused}"
    );
    assert!(!refused.to_string().contains(&secret_value), "{refused}");
    wait_for("the request to be taken back", Duration::from_secs(60), || {
        let left = c.kubectl_ok(&["get", "scaffoldrequests,secrets", "-n", n, "-o", "name"]);
        let left: Vec<&str> = left
            .lines()
            .filter(|l| l.starts_with("scaffoldrequest") || l.contains("svc-"))
            .collect();
        left.is_empty().then_some(())
    });
    assert!(!portal.operator.log().contains(&secret_value));
}

/// The address space the operator may take in
/// [`the_portals_bounds_hold_under_a_memory_limit`] (`ulimit -v`, KiB).
const PORTAL_MEMORY_LIMIT_KB: u64 = 2 << 20;

/// The portal's bounds that input can drive hold with the operator under a
/// memory limit (`ulimit -v`): 256 event streams open at once (each one
/// a watch and a buffer) and the next refused with `503`, then served
/// again once one closes; dry runs at once, each with a body near the
/// 1 MiB limit and a skeleton whose loop asks for 10^8 iterations, each
/// answered; a task list asked for past its page cap refused, and
/// the largest page served. The process serves on after all of it.
#[test]
fn the_portals_bounds_hold_under_a_memory_limit() {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;

    let ns = Namespace::new("portal-bounds");
    let n = ns.name.as_str();
    let portal = Portal::start_limited(&ns, "", &[], Some(PORTAL_MEMORY_LIMIT_KB));
    let runner = service_account_token(n, "runner");
    grant(n, "runner", "");
    apply(
        &ns,
        "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {name: waiting}\nspec:\n  type: service\n  steps:\n    - {id: pause, action: \"debug:wait\", input: {seconds: 300}}\n",
    );
    let (status, created) = post(
        &portal,
        "/api/scaffolder/v2/tasks",
        &runner,
        &json!({"templateRef": format!("template:{n}/waiting"), "values": {}}),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/api/scaffolder/v2/tasks/{id}/eventstream");
    let authorization = format!("Bearer {runner}");
    let headers = [("Authorization", authorization.as_str())];

    let mut open = Vec::new();
    for i in 0..256 {
        let (head, stream) = open_stream(&portal, &path, &headers);
        assert!(head.starts_with("HTTP/1.0 200"), "stream {i}: {head}");
        open.push(stream);
    }
    let (head, mut refused) = open_stream(&portal, &path, &headers);
    assert!(head.starts_with("HTTP/1.0 503"), "{head}");
    let mut answer = String::new();
    refused.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("256 event streams are open"), "{answer}");
    drop(open.pop());
    wait_for(
        "a closed stream's place to be free",
        Duration::from_secs(30),
        || {
            let (head, stream) = open_stream(&portal, &path, &headers);
            head.starts_with("HTTP/1.0 200").then_some(stream)
        },
    );
    drop(open);

    // Dry runs: a body near the limit, and a skeleton file whose loop asks
    // for far more than the engine's bounds allow.
    let filler = "x".repeat(600 * 1024);
    let files = [
        ("skeleton/big.txt", filler.as_str()),
        (
            "skeleton/grow.txt",
            "{% for i in range(100000000) %}${{ values.name }}{% endfor %}",
        ),
    ];
    let contents: Vec<Value> = files
        .iter()
        .map(|(path, text)| json!({"path": path, "base64Content": BASE64.encode(text)}))
        .collect();
    let body = json!({
        "template": {
            "apiVersion": "scaffolder.backstage.io/v1beta3",
            "kind": "Template",
            "metadata": {"name": "dry", "namespace": n},
            "spec": {"type": "service", "steps": [
                {"id": "fetch", "action": "fetch:template", "input": {"url": "./skeleton", "values": {"name": "${{ parameters.name }}"}}},
            ]},
        },
        "values": {"name": "grown"},
        "directoryContents": contents,
    });
    let body_size = body.to_string().len();
    assert!(body_size > 800 * 1024 && body_size < 1024 * 1024, "{body_size}");
    // Six at once, on their own connections (the portal handle stays on
    // this thread).
    let request = format!(
        "POST /api/scaffolder/v2/dry-run HTTP/1.0\r\nHost: localhost\r\nAuthorization: Bearer {runner}\r\n\
         Content-Type: application/json\r\nContent-Length: {body_size}\r\n\r\n{body}"
    );
    let port = portal.port;
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..6)
            .map(|_| {
                scope.spawn(|| {
                    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                    stream.write_all(request.as_bytes()).unwrap();
                    let mut response = String::new();
                    stream.read_to_string(&mut response).unwrap();
                    let status = response.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
                    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
                    (status, serde_json::from_str(body).unwrap_or(Value::Null))
                })
            })
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    for (status, answer) in &answers {
        assert!(matches!(status, 200 | 400), "{status} {answer}");
        assert!(answer.to_string().len() < 4 * 1024 * 1024, "{status}");
    }

    // The task list's page cap.
    let tasks = "/api/scaffolder/v2/tasks";
    let (status, refused) = portal.get(&format!("{tasks}?limit=1001"), &runner);
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("limit"), "{refused}");
    let (status, listed) = portal.get(&format!("{tasks}?limit=1000"), &runner);
    assert_eq!(status, 200, "{listed}");

    let (status, _) = portal.get(&format!("/api/scaffolder/v2/tasks/{id}"), &runner);
    assert_eq!(status, 200, "the operator serves on");
    let (rss, peak) = portal.operator.peak_memory_kb();
    println!(
        "operator under ulimit -v {PORTAL_MEMORY_LIMIT_KB} KiB: peak RSS {} MiB, peak address space {} MiB; \
         dry runs answered {:?}",
        rss / 1024,
        peak / 1024,
        answers.iter().map(|(s, _)| *s).collect::<Vec<_>>()
    );
    // About 70 MiB in a debug build; the margin is generous.
    assert!(rss < 256 * 1024, "peak RSS {rss} KiB");
}
