//! What one tenant's bad input must not do to the operator: stop a watch
//! for everyone, spin on a host that is down, or exhaust it with a template
//! source.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Namespace, Operator, cluster, unique, wait_for};
use crate::scaffold::{apply, condition, get, request, template, wait_condition, wait_phase};

/// `{"a":{"a":...1}}`, `levels` objects deep.
fn nested(levels: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..levels {
        value = json!({ "a": value });
    }
    value
}

fn create(namespace: &Namespace, object: &Value) {
    let output = cluster().kubectl(
        &["create", "-n", &namespace.name, "-f", "-"],
        Some(&object.to_string()),
    );
    assert!(
        output.status.success(),
        "kubectl create: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The Events about `kind/name` with `reason`.
fn events_about(namespace: &Namespace, kind: &str, name: &str, reason: &str) -> Vec<Value> {
    let text = cluster().kubectl_ok(&["get", "events.events.k8s.io", "-n", &namespace.name, "-o", "json"]);
    let list: Value = serde_json::from_str(&text).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["regarding"]["kind"] == kind && e["regarding"]["name"] == name && e["reason"] == reason)
        .cloned()
        .collect()
}

/// A ScaffoldRequest, a Template and a CatalogEntity, each with a value 200
/// levels deep where its kind accepts free-form values.
fn poisoned(suffix: &str) -> [(String, &'static str, Value); 3] {
    let deep = nested(200);
    [
        (
            format!("scaffoldrequest/deep-request{suffix}"),
            "ScaffoldRequest",
            json!({
                "apiVersion": "goldpath.dev/v1alpha1", "kind": "ScaffoldRequest",
                "metadata": {"name": format!("deep-request{suffix}")},
                "spec": {"templateRef": {"name": "svc"}, "parameters": {"name": "x", "deep": deep}},
            }),
        ),
        (
            format!("template/deep-template{suffix}"),
            "Template",
            json!({
                "apiVersion": "goldpath.dev/v1alpha1", "kind": "Template",
                "metadata": {"name": format!("deep-template{suffix}")},
                "spec": {"type": "service", "steps": [
                    {"id": "log", "action": "debug:log", "input": {"message": "hi", "deep": deep}},
                ]},
            }),
        ),
        (
            format!("catalogentity/deep-entity{suffix}"),
            "CatalogEntity",
            json!({
                "apiVersion": "goldpath.dev/v1alpha1", "kind": "CatalogEntity",
                "metadata": {"name": format!("deep-entity{suffix}")},
                "spec": {"kind": "System", "owner": "group:platform", "deep": deep},
            }),
        ),
    ]
}

/// The status of `resource`, read alone: the whole object is too deep for
/// serde_json, as it is for the operator.
fn status_of(namespace: &Namespace, resource: &str) -> Value {
    let text = cluster().kubectl_ok(&["get", "-n", &namespace.name, resource, "-o", "jsonpath={.status}"]);
    json!({ "status": serde_json::from_str::<Value>(&text).unwrap_or(Value::Null) })
}

fn assert_reported(namespace: &Namespace, resource: &str, kind: &str) {
    let object = wait_for(
        &format!("{resource} Stalled=True (Undecodable)"),
        Duration::from_secs(30),
        || {
            let object = status_of(namespace, resource);
            let stalled = condition(&object, "Stalled");
            stalled
                .is_some_and(|(status, reason, _)| status == "True" && reason == "Undecodable")
                .then_some(object)
        },
    );
    let (_, _, message) = condition(&object, "Stalled").unwrap();
    assert!(
        message.contains("is nested more than 64 levels deep"),
        "{resource}: {message}"
    );
    let name = resource.split_once('/').unwrap().1;
    let events = wait_for(
        &format!("an Event about {resource}"),
        Duration::from_secs(30),
        || Some(events_about(namespace, kind, name, "Undecodable")).filter(|e| !e.is_empty()),
    );
    assert_eq!(events.len(), 1, "{resource}: reported once: {events:?}");
    assert_eq!(events[0]["type"], "Warning");
}

#[test]
fn objects_nested_200_deep_are_reported_on_themselves_while_the_rest_goes_on() {
    let cluster = cluster();
    // The poisoned objects are in one namespace, the good request in
    // another, and one operator serves both: the lists and watches of every
    // namespace.
    let namespace = Namespace::new("poison");
    let other = Namespace::new("poison-other");
    // In the operator's first lists...
    for (_, _, object) in poisoned("") {
        create(&namespace, &object);
    }
    let mut operator = Operator::start_for_all_namespaces(&namespace);
    operator.wait_ready();
    // ...and in its watches.
    for (_, _, object) in poisoned("-later") {
        create(&namespace, &object);
    }

    apply(&other, &template("svc"));
    let service = format!("p{}", unique());
    apply(&other, &request("good", "svc", &service));
    let done = wait_phase(
        &other,
        "scaffoldrequest/good",
        "Succeeded",
        Duration::from_secs(90),
    );
    assert_eq!(condition(&done, "Ready").unwrap().0, "True");
    assert_eq!(cluster.commits(&format!("e2e-{service}")).len(), 1);
    // The entity the request registered is in the catalog.
    wait_for("the registered entity's status", Duration::from_secs(30), || {
        get(&other, &format!("catalogentity/{service}"))["status"]["health"]
            .as_str()
            .map(drop)
    });

    for (resource, kind, _) in poisoned("").into_iter().chain(poisoned("-later")) {
        assert_reported(&namespace, &resource, kind);
    }
    let (status, _) = operator.get("/readyz").expect("/readyz");
    assert_eq!(status, 200);
    let (_, catalog) = operator.get("/catalog.yaml").expect("/catalog.yaml");
    assert!(catalog.contains(&service), "{catalog}");
    assert!(!catalog.contains("deep-entity"), "{catalog}");

    let started = Instant::now();
    let exit = operator.terminate().expect("the operator was running");
    assert!(exit.success(), "SIGTERM: {exit:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let log = operator.log();
    assert!(!log.contains("could not watch"), "a watch failed:\n{log}");
    // Each object is logged once per generation, not on every relist.
    assert_eq!(
        log.matches("skipping an object goldpath cannot read").count(),
        6,
        "{log}"
    );
}

/// A port that accepts every connection and closes it at once, counting
/// them: a git host that is down.
fn refusing_host() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for connection in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(connection);
        }
    });
    (url, count)
}

#[test]
fn an_unreachable_git_host_is_tried_at_most_seven_times_a_minute() {
    let namespace = Namespace::new("backoff");
    let (url, connections) = refusing_host();
    let _operator = Operator::start_with(&namespace, &url, "");
    apply(&namespace, &template("svc"));
    apply(&namespace, &request("waits", "svc", &format!("b{}", unique())));
    wait_for("the first attempt", Duration::from_secs(60), || {
        (connections.load(Ordering::SeqCst) > 0).then_some(())
    });
    let first = Instant::now();
    // 1 s doubling: attempts at 0, 1, 3, 7, 15 and 31 s, the next at 63 s.
    std::thread::sleep(Duration::from_secs(60).saturating_sub(first.elapsed()));
    let attempts = connections.load(Ordering::SeqCst);
    let retries = events_about(&namespace, "ScaffoldRequest", "waits", "StepRetrying");
    let starts = events_about(&namespace, "ScaffoldRequest", "waits", "StepStarted");
    let request = get(&namespace, "scaffoldrequest/waits");
    eprintln!(
        "a git host down for 60 s: {attempts} connections, {} StepRetrying Events",
        retries.len()
    );
    assert!(
        (5..=7).contains(&attempts),
        "{attempts} connections in 60 s; status: {}",
        request["status"]
    );
    assert!(
        (5..=7).contains(&retries.len()),
        "{} StepRetrying Events in 60 s",
        retries.len()
    );
    assert_eq!(starts.len(), 2, "each step's start is announced once");
    assert_eq!(request["status"]["phase"], "Running");
    let message = request["status"]["steps"][1]["message"].as_str().unwrap();
    assert!(
        message.contains("trying again in 32s") || message.contains("trying again in 16s"),
        "{message}"
    );
}

#[test]
fn a_template_source_past_the_configured_limits_is_stalled_naming_the_limit() {
    let cluster = cluster();
    let namespace = Namespace::new("srclimit");
    let repository = format!("e2e-deep-{}", unique());
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let deep = work.join("golden/skeleton/a/b/c/d");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("README.md"), "deep\n").unwrap();
    let remote = format!("{}/{repository}.git", cluster.git_url);
    for args in [
        vec!["init", "--quiet"],
        vec!["add", "."],
        vec!["commit", "--quiet", "-m", "deep"],
        vec!["push", "--quiet", &remote, "HEAD:main"],
    ] {
        let output = cluster.git(&args, Some(work));
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let _operator = Operator::start_with(
        &namespace,
        &cluster.git_url,
        "templateSourceLimits: {maxDepth: 4}\n",
    );
    let from_git = format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: deep}}\n\
         spec:\n  type: service\n  steps:\n\
         \x20   - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n\
         \x20 source:\n    git: {{url: \"{remote}\", ref: main, path: golden, secretRef: {{name: git-push}}}}\n"
    );
    apply(&namespace, &from_git);
    let stalled = wait_condition(
        &namespace,
        "template/deep",
        "Stalled",
        "SourceTooLarge",
        Duration::from_secs(60),
    );
    let (_, _, message) = condition(&stalled, "Stalled").unwrap();
    assert!(
        message.contains("skeleton/a/b/c/d in commit")
            && message.contains("directories nested more than 4 deep (templateSourceLimits.maxDepth)"),
        "{message}"
    );
    let events = events_about(&namespace, "Template", "deep", "SourceTooLarge");
    assert_eq!(events.len(), 1, "{events:?}");
}

#[test]
fn a_kind_the_cluster_does_not_serve_fails_the_step_once() {
    let namespace = Namespace::new("nokind");
    let _operator = Operator::start(&namespace);
    let applies = r#"apiVersion: goldpath.dev/v1alpha1
kind: Template
metadata: {name: widget}
spec:
  type: service
  steps:
    - id: widget
      action: kubernetes:apply
      input:
        manifest: |
          apiVersion: v1
          kind: Widget
          metadata: {name: w}
"#;
    apply(&namespace, applies);
    apply(
        &namespace,
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {name: widget}\nspec:\n  templateRef: {name: widget}\n",
    );
    let failed = wait_phase(
        &namespace,
        "scaffoldrequest/widget",
        "Failed",
        Duration::from_secs(60),
    );
    let message = failed["status"]["steps"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("input.manifest: finding v1 Widget: the cluster does not serve it"),
        "{message}"
    );
    assert!(
        events_about(&namespace, "ScaffoldRequest", "widget", "StepRetrying").is_empty(),
        "retried"
    );
}

/// `wait:condition` asks the allow list before it reads anything, so its
/// refusal of a kind the list does not name says nothing of whether the
/// cluster serves it (`kubernetes:apply`, above, finds the kind first).
#[test]
fn wait_condition_refuses_an_unlisted_kind_before_looking_for_it() {
    let namespace = Namespace::new("unlisted");
    let _operator = Operator::start(&namespace);
    let waits = r#"apiVersion: goldpath.dev/v1alpha1
kind: Template
metadata: {name: waits}
spec:
  type: service
  steps:
    - id: widget
      action: wait:condition
      input: {apiVersion: v1, kind: Widget, name: w, type: Ready}
"#;
    apply(&namespace, waits);
    apply(
        &namespace,
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {name: waits}\nspec:\n  templateRef: {name: waits}\n",
    );
    let failed = wait_phase(
        &namespace,
        "scaffoldrequest/waits",
        "Failed",
        Duration::from_secs(60),
    );
    let message = failed["status"]["steps"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "wait:condition may not read Widget in namespace {}: the operator's configuration \
             (kubernetesApply.allow) does not allow it",
            namespace.name
        )),
        "{message}"
    );
    assert!(!message.contains("finding"), "{message}");
}

#[test]
fn an_argo_cd_application_nested_200_deep_rolls_up_as_unknown_and_the_rest_goes_on() {
    let namespace = Namespace::new("deepsource");
    let n = namespace.name.as_str();
    let operator = Operator::start(&namespace);
    let application = |name: &str, values: Value| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name},
            "spec": {
                "project": "default",
                "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
                "source": {"repoURL": "https://git.example.com/x.git", "path": "deploy",
                           "helm": {"valuesObject": values}},
            },
        })
    };
    create(&namespace, &application("deep", nested(200)));
    create(&namespace, &application("fine", json!({"replicas": 2})));
    for name in ["deep", "fine"] {
        apply(
            &namespace,
            &format!(
                "apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata:\n  name: {name}\n  annotations: {{argocd/app-name: {name}}}\n\
                 spec: {{kind: Component, type: service, lifecycle: production, owner: team-a}}\n"
            ),
        );
    }
    let row = |entity: &str| {
        let status = get(&namespace, &format!("catalogentity/{entity}"))["status"].clone();
        status["sources"]
            .as_array()
            .and_then(|rows| rows.first())
            .cloned()
    };
    let deep = wait_for("the deep Application's row", Duration::from_secs(30), || {
        row("deep").filter(|r| r["status"] == "Unknown")
    });
    assert_eq!(deep["reason"], "Undecodable", "{deep}");
    assert!(
        deep["message"]
            .as_str()
            .unwrap()
            .contains("spec.source.helm.valuesObject... is nested more than 64 levels deep"),
        "{deep}"
    );
    // The other Application in the same watch rolls up as ever (no status
    // yet: in progress).
    let fine = wait_for("the other Application's row", Duration::from_secs(30), || {
        row("fine").filter(|r| r["status"] == "InProgress")
    });
    assert_eq!(fine["name"], "fine");
    // Nothing is written to another controller's object.
    let status = cluster().kubectl_ok(&[
        "get",
        "-n",
        n,
        "applications.argoproj.io/deep",
        "-o",
        "jsonpath={.status}",
    ]);
    assert_eq!(status, "");
    assert_eq!(operator.get("/readyz").expect("/readyz").0, 200);
}
