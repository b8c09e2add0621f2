//! The Template and ScaffoldRequest controllers, run as `goldpath run`
//! against the real control plane and git server.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Gate, Namespace, Operator, cluster, unique, wait_for};

/// A small service template: an inline skeleton published to
/// `github.com?owner=e2e&repo=<name>`, an Argo CD Application and a
/// catalog entry. `extra` is appended to its `spec` (steps replaced when it
/// holds `steps:`).
pub(crate) fn template(name: &str) -> String {
    r#"apiVersion: goldpath.dev/v1alpha1
kind: Template
metadata: {name: NAME}
spec:
  type: service
  owner: group:platform
  parameters:
    - required: [name, owner]
      properties:
        name: {type: string, pattern: "^[a-z][a-z0-9-]*$", maxLength: 40}
        owner: {type: string}
        replicas: {type: integer, minimum: 1, default: 2}
  steps:
    - id: fetch
      action: fetch:template
      input:
        url: ./skeleton
        values: {name: "${{ parameters.name }}", owner: "${{ parameters.owner }}", replicas: "${{ parameters.replicas }}"}
    - id: publish
      action: publish:github
      input: {repoUrl: "github.com?owner=e2e&repo=${{ parameters.name }}"}
    - id: deploy
      action: argocd:create-resources
      input:
        appName: "${{ parameters.name }}"
        namespace: "${{ parameters.name }}"
        repoUrl: "${{ steps.publish.output.remoteUrl }}"
        path: deploy
    - id: register
      action: catalog:register
      input: {repoContentsUrl: "${{ steps.publish.output.repoContentsUrl }}", catalogInfoPath: /catalog-info.yaml}
  output:
    links:
      - {title: Repository, url: "${{ steps.publish.output.remoteUrl }}"}
      - {title: Catalog, icon: catalog, entityRef: "${{ steps.register.output.entityRef }}"}
  source:
    inline:
      skeleton/catalog-info.yaml: |
        apiVersion: backstage.io/v1alpha1
        kind: Component
        metadata:
          name: ${{ values.name }}
        spec:
          type: service
          lifecycle: experimental
          owner: ${{ values.owner }}
      skeleton/README.md: |
        # ${{ values.name }}
      skeleton/deploy/replicas.txt: "${{ values.replicas }}"
"#
    .replace("NAME", name)
}

pub(crate) fn request(name: &str, template: &str, service: &str) -> String {
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: {name}}}\n\
         spec:\n  templateRef: {{name: {template}}}\n  parameters: {{name: {service}, owner: group:team-a}}\n"
    )
}

pub(crate) fn apply(namespace: &Namespace, yaml: &str) {
    let output = cluster().kubectl(&["apply", "-n", &namespace.name, "-f", "-"], Some(yaml));
    assert!(
        output.status.success(),
        "kubectl apply: {}\n{yaml}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(crate) fn get(namespace: &Namespace, resource: &str) -> Value {
    let text = cluster().kubectl_ok(&["get", "-n", &namespace.name, resource, "-o", "json"]);
    serde_json::from_str(&text).unwrap()
}

pub(crate) fn condition(object: &Value, type_: &str) -> Option<(String, String, String)> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
}

/// Waits until `resource` has condition `type_` True with `reason`; returns the object.
pub(crate) fn wait_condition(
    namespace: &Namespace,
    resource: &str,
    type_: &str,
    reason: &str,
    limit: Duration,
) -> Value {
    wait_for(&format!("{resource} {type_}=True ({reason})"), limit, || {
        let object = get(namespace, resource);
        match condition(&object, type_) {
            Some((status, r, _)) if status == "True" && r == reason => Some(object),
            _ => None,
        }
    })
}

pub(crate) fn phase(object: &Value) -> &str {
    object["status"]["phase"].as_str().unwrap_or_default()
}

pub(crate) fn wait_phase(namespace: &Namespace, resource: &str, wanted: &str, limit: Duration) -> Value {
    wait_for(&format!("{resource} to be {wanted}"), limit, || {
        let object = get(namespace, resource);
        (phase(&object) == wanted).then_some(object)
    })
}

pub(crate) fn events(namespace: &Namespace) -> String {
    cluster().kubectl_ok(&["get", "events", "-n", &namespace.name, "-o", "json"])
}

#[test]
fn the_sample_request_becomes_a_repository_an_application_and_an_entity() {
    let cluster = cluster();
    let namespace = Namespace::new("sample");
    let mut operator = Operator::start(&namespace);
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples");
    for file in [
        "template-spring-boot-microservice.yaml",
        "scaffoldrequest-spring-boot-microservice.yaml",
    ] {
        apply(&namespace, &std::fs::read_to_string(samples.join(file)).unwrap());
    }
    // kstatus-compatible: kubectl wait works on the Ready condition.
    cluster.kubectl_ok(&[
        "wait",
        "-n",
        &namespace.name,
        "--for=condition=Ready",
        "--timeout=90s",
        "scaffoldrequest/payment-service",
    ]);
    let request = get(&namespace, "scaffoldrequest/payment-service");
    assert_eq!(phase(&request), "Succeeded");
    let steps = request["status"]["steps"].as_array().unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| s["phase"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Succeeded"; 5]
    );
    for step in steps {
        assert!(
            step["startedAt"].is_string() && step["completedAt"].is_string(),
            "{step}"
        );
    }
    let remote = format!("{}/myorg-payment-service.git", cluster.git_url);
    assert_eq!(request["status"]["repository"], remote.as_str());
    assert!(
        request["status"]["templateRevision"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );

    // The repository holds the rendered skeleton.
    let dir = tempfile::tempdir().unwrap();
    let clone = dir.path().join("clone");
    cluster.clone_repository("myorg-payment-service", &clone);
    let catalog_info = std::fs::read_to_string(clone.join("catalog-info.yaml")).unwrap();
    assert!(catalog_info.contains("name: payment-service"), "{catalog_info}");
    assert!(
        catalog_info.contains("owner: group:team-payments"),
        "{catalog_info}"
    );
    assert!(!catalog_info.contains("${{"), "{catalog_info}");

    // The Application points at it, labelled with the request.
    let application = get(&namespace, "applications.argoproj.io/payment-service");
    assert_eq!(application["spec"]["source"]["repoURL"], remote.as_str());
    assert_eq!(application["spec"]["source"]["path"], "deploy");
    assert_eq!(
        application["metadata"]["labels"]["goldpath.dev/scaffold-request-uid"],
        request["metadata"]["uid"]
    );

    // The Pipeline the template applies exists.
    get(&namespace, "pipelines.tekton.dev/payment-service-pipeline");

    // The entity is registered with its owner, links and annotations.
    let entity = get(&namespace, "catalogentity/payment-service");
    assert_eq!(entity["spec"]["kind"], "Component");
    assert_eq!(entity["spec"]["owner"], "group:team-payments");
    let annotations = &entity["metadata"]["annotations"];
    assert_eq!(annotations["argocd/app-name"], "payment-service");
    assert_eq!(
        annotations["backstage.io/source-template"],
        format!("template:{}/spring-boot-microservice", namespace.name)
    );
    assert!(
        annotations["backstage.io/source-location"]
            .as_str()
            .unwrap()
            .starts_with(&format!("url:{}/myorg-payment-service", cluster.git_url))
    );

    // Output links are rendered in status.
    let links = request["status"]["output"]["links"].as_array().unwrap();
    assert!(links.iter().any(|l| l["url"] == remote.as_str()), "{links:?}");
    assert!(
        links
            .iter()
            .any(|l| l["entityRef"] == format!("component:{}/payment-service", namespace.name)),
        "{links:?}"
    );

    // An Event for each step's start and success.
    let events: Value = serde_json::from_str(&events(&namespace)).unwrap();
    let seen: BTreeSet<(String, String)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_string(),
                e["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    for step in [
        "fetch-template",
        "create-repo",
        "create-pipeline",
        "deploy",
        "register",
    ] {
        for reason in ["StepStarted", "StepSucceeded"] {
            assert!(
                seen.contains(&(format!("Step {step}"), reason.to_string())),
                "no {reason} Event for {step}: {seen:?}"
            );
        }
    }

    // What it did is in its metrics, in OpenMetrics text.
    let (status, metrics) = operator.get("/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(metrics.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF");
    let value = |series: &str| {
        operator
            .metric(series)
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    };
    let n = &namespace.name;
    assert_eq!(
        value(&format!(
            r#"goldpath_scaffold_requests_total{{template="{n}/spring-boot-microservice",outcome="Succeeded"}}"#
        )),
        1.0
    );
    assert_eq!(value("goldpath_scaffold_duration_seconds_count"), 1.0);
    let took = value("goldpath_scaffold_duration_seconds_sum");
    assert!(took > 0.0 && took < 90.0, "scaffolding took {took} s");
    for action in [
        "fetch:template",
        "publish:github",
        "kubernetes:apply",
        "argocd:create-resources",
        "catalog:register",
    ] {
        assert!(
            value(&format!(
                r#"goldpath_step_duration_seconds_count{{action="{action}"}}"#
            )) >= 1.0,
            "{action}"
        );
    }
    assert_eq!(value("goldpath_git_push_duration_seconds_count"), 1.0);
    // One reconcile runs every step: the status it writes does not wake it.
    assert!(value(r#"goldpath_reconciles_total{controller="ScaffoldRequest"}"#) >= 1.0);
    assert!(value(r#"goldpath_reconciles_total{controller="Template"}"#) >= 1.0);
    assert_eq!(
        value(r#"goldpath_catalog_entities{kind="Component",lifecycle="experimental",health="InProgress"}"#),
        1.0
    );
    assert_eq!(operator.get("/healthz").unwrap().0, 200);
    assert_eq!(operator.get("/readyz").unwrap().0, 200);

    // SIGTERM stops it cleanly.
    let exit = operator.terminate().expect("the operator was running");
    assert!(exit.success(), "goldpath run exited with {exit}");
    assert!(operator.log().contains("goldpath stopped"), "{}", operator.log());
}

#[test]
fn killed_at_random_moments_the_operator_finishes_every_request_exactly_once() {
    let cluster = cluster();
    let namespace = Namespace::new("crash");
    apply(&namespace, &template("svc"));
    let run = unique();
    let names: Vec<String> = (0..50).map(|i| format!("c{run}-{i}")).collect();
    let requests: String = names
        .iter()
        .map(|name| format!("---\n{}", request(name, "svc", name)))
        .collect();
    let mut operator = Operator::start(&namespace);
    apply(&namespace, &requests);

    // Kill the operator (SIGKILL) every 0.4-2 s and start it again, until
    // every request has succeeded.
    //
    // The git server kills its receive-pack when the client goes away; one
    // killed while holding the branch's lock leaves the lock file behind, and
    // the request waits, saying so. Once the killing stops, the test removes
    // such locks, as the server's administrator would.
    let mut seed = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    loop {
        let list = get(&namespace, "scaffoldrequests");
        let items = list["items"].as_array().unwrap();
        let succeeded = items.iter().filter(|r| phase(r) == "Succeeded").count();
        let failed: Vec<&Value> = items.iter().filter(|r| phase(r) == "Failed").collect();
        assert!(failed.is_empty(), "requests failed: {failed:#?}");
        if succeeded == names.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {succeeded} of {} requests succeeded after {kills} kills",
            names.len()
        );
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(400 + seed % 1600));
        if kills < 25 {
            operator.restart();
            kills += 1;
        } else {
            for request in items {
                let waits_for_lock = condition(request, "Reconciling")
                    .is_some_and(|(_, _, message)| message.contains("could not lock refs/heads/main"));
                if waits_for_lock {
                    let name = request["metadata"]["name"].as_str().unwrap();
                    cluster.remove_stale_lock(&format!("e2e-{name}"), "refs/heads/main");
                }
            }
        }
    }
    assert!(kills >= 5, "the operator was killed only {kills} times");

    // Exactly one repository with one commit, one Application and one
    // CatalogEntity per request.
    let applications = get(&namespace, "applications.argoproj.io");
    let entities = get(&namespace, "catalogentities");
    let count = |list: &Value, name: &str| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["metadata"]["name"] == name)
            .count()
    };
    assert_eq!(applications["items"].as_array().unwrap().len(), names.len());
    assert_eq!(entities["items"].as_array().unwrap().len(), names.len());
    for name in &names {
        assert_eq!(count(&applications, name), 1, "Applications named {name}");
        assert_eq!(count(&entities, name), 1, "CatalogEntities named {name}");
        let commits = cluster.commits(&format!("e2e-{name}"));
        assert_eq!(commits.len(), 1, "commits in e2e-{name}: {commits:?}");
        let request = get(&namespace, &format!("scaffoldrequest/{name}"));
        assert_eq!(
            request["status"]["steps"][1]["output"]["commitHash"],
            commits[0].as_str(),
            "{name} reports the commit the repository holds"
        );
    }
}

#[test]
fn a_request_waits_for_its_template_and_says_what_is_wrong() {
    let namespace = Namespace::new("template");
    let other = Namespace::new("other");
    let _operator = Operator::start(&namespace);
    let service = format!("w{}", unique());

    // An unknown template: the request says so, and starts once it exists.
    apply(&namespace, &request("early", "later", &service));
    let early = wait_condition(
        &namespace,
        "scaffoldrequest/early",
        "Stalled",
        "TemplateNotFound",
        Duration::from_secs(30),
    );
    let (_, _, message) = condition(&early, "Stalled").unwrap();
    assert!(
        message.contains("spec.templateRef") && message.contains("later"),
        "{message}"
    );
    apply(&namespace, &template("later"));
    wait_phase(
        &namespace,
        "scaffoldrequest/early",
        "Succeeded",
        Duration::from_secs(60),
    );

    // A template in a namespace that does not grant access.
    apply(&other, &template("private"));
    apply(
        &namespace,
        &format!(
            "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: denied}}\n\
             spec:\n  templateRef: {{name: private, namespace: {}}}\n  parameters: {{name: x, owner: y}}\n",
            other.name
        ),
    );
    let denied = wait_condition(
        &namespace,
        "scaffoldrequest/denied",
        "Stalled",
        "AccessDenied",
        Duration::from_secs(30),
    );
    let (_, _, message) = condition(&denied, "Stalled").unwrap();
    assert!(
        message.contains(&namespace.name) && message.contains("spec.access.namespaces"),
        "{message}"
    );

    // A template with a syntax error: the template names the step and line;
    // its requests wait for it to be fixed.
    let broken = template("broken").replace(
        "skeleton/README.md: |\n        # ${{ values.name }}",
        "skeleton/README.md: |\n        # title\n        ${{ values.name | }}",
    );
    apply(&namespace, &broken);
    let checked = wait_condition(
        &namespace,
        "template/broken",
        "Stalled",
        "Invalid",
        Duration::from_secs(30),
    );
    let (_, _, message) = condition(&checked, "Stalled").unwrap();
    assert!(
        message.contains("step fetch") && message.contains("README.md") && message.contains("line 2"),
        "{message}"
    );
    assert_eq!(condition(&checked, "Ready").unwrap().0, "False");
    apply(
        &namespace,
        &request("waiting", "broken", &format!("b{}", unique())),
    );
    let waiting = wait_condition(
        &namespace,
        "scaffoldrequest/waiting",
        "Stalled",
        "TemplateInvalid",
        Duration::from_secs(30),
    );
    assert_eq!(phase(&waiting), "Pending");
    assert!(waiting["status"]["steps"].is_null(), "no step ran: {waiting}");
}

#[test]
fn parameters_that_fail_the_schema_fail_the_request_naming_each_field() {
    let namespace = Namespace::new("params");
    let _operator = Operator::start(&namespace);
    apply(&namespace, &template("svc"));
    apply(
        &namespace,
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {name: bad}\n\
         spec:\n  templateRef: {name: svc}\n  parameters: {name: Not_Valid, replicas: 0}\n",
    );
    let failed = wait_phase(
        &namespace,
        "scaffoldrequest/bad",
        "Failed",
        Duration::from_secs(30),
    );
    let (status, reason, message) = condition(&failed, "Stalled").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "InvalidParameters"));
    for field in [
        "spec.parameters.name",
        "spec.parameters.owner",
        "spec.parameters.replicas",
    ] {
        assert!(message.contains(field), "{field} not named: {message}");
    }
    assert!(
        !message.contains("Not_Valid"),
        "the message repeats the value: {message}"
    );
    let events = events(&namespace);
    assert!(events.contains("InvalidParameters"), "no Event");
}

#[test]
fn a_request_waits_while_the_git_server_is_down_and_then_completes() {
    let cluster = cluster();
    let namespace = Namespace::new("gitdown");
    let gate = Gate::closed(&cluster.git_url);
    let _operator = Operator::start_with(&namespace, &gate.url, "");
    apply(&namespace, &template("svc"));
    let service = format!("g{}", unique());
    apply(&namespace, &request("waits", "svc", &service));
    let retrying = wait_condition(
        &namespace,
        "scaffoldrequest/waits",
        "Reconciling",
        "Retrying",
        Duration::from_secs(30),
    );
    assert_eq!(phase(&retrying), "Running");
    assert_eq!(retrying["status"]["steps"][1]["phase"], "Pending");
    let message = retrying["status"]["steps"][1]["message"].as_str().unwrap();
    assert!(message.contains("trying again"), "{message}");
    std::thread::sleep(Duration::from_secs(3));
    gate.open();
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/waits",
        "Succeeded",
        Duration::from_secs(90),
    );
    assert_eq!(cluster.commits(&format!("e2e-{service}")).len(), 1);
    assert_eq!(condition(&done, "Ready").unwrap().0, "True");
}

#[test]
fn a_repository_that_holds_different_content_is_refused_and_left_untouched() {
    let cluster = cluster();
    let namespace = Namespace::new("taken");
    let service = format!("t{}", unique());
    // Someone else's repository, already there.
    cluster.push_commit(
        &format!("e2e-{service}"),
        "main",
        &[("README.md", "not goldpath's\n")],
    );
    let before = cluster.commits(&format!("e2e-{service}"));

    let _operator = Operator::start(&namespace);
    apply(&namespace, &template("svc"));
    apply(&namespace, &request("collides", "svc", &service));
    let failed = wait_phase(
        &namespace,
        "scaffoldrequest/collides",
        "Failed",
        Duration::from_secs(60),
    );
    let step = &failed["status"]["steps"][1];
    assert_eq!(step["phase"], "Failed");
    let message = step["message"].as_str().unwrap();
    assert!(message.contains("step publish (publish:github)"), "{message}");
    assert_eq!(condition(&failed, "Stalled").unwrap().1, "StepFailed");
    assert_eq!(
        cluster.commits(&format!("e2e-{service}")),
        before,
        "the repository changed"
    );
    // Not retried: the failure stays, with no Application made.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(phase(&get(&namespace, "scaffoldrequest/collides")), "Failed");
    let applications = get(&namespace, "applications.argoproj.io");
    assert!(applications["items"].as_array().unwrap().is_empty());
}

#[test]
fn a_branch_lock_the_git_server_left_behind_is_waited_out() {
    let cluster = cluster();
    let namespace = Namespace::new("locked");
    let service = format!("l{}", unique());
    let repository = format!("e2e-{service}");
    // The repository exists without branches (goldpath publishes only to
    // such a repository or one of its own), and its main is locked, as a
    // receive-pack killed while updating it leaves it.
    cluster.push_commit(&repository, "other", &[]);
    let on_server = cluster.git_server_repository(&repository);
    let deleted = cluster.git(
        &[
            &format!("--git-dir={}", on_server.display()),
            "update-ref",
            "-d",
            "refs/heads/other",
        ],
        None,
    );
    assert!(
        deleted.status.success(),
        "deleting the branch: {}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    let lock = cluster
        .git_server_repository(&repository)
        .join("refs/heads/main.lock");
    let file = std::fs::File::create(&lock).unwrap();
    file.set_modified(std::time::SystemTime::now() - Duration::from_secs(60))
        .unwrap();

    let _operator = Operator::start(&namespace);
    apply(&namespace, &template("svc"));
    apply(&namespace, &request("locked", "svc", &service));
    let waiting = wait_condition(
        &namespace,
        "scaffoldrequest/locked",
        "Reconciling",
        "Retrying",
        Duration::from_secs(60),
    );
    let (_, _, message) = condition(&waiting, "Reconciling").unwrap();
    assert!(
        message.contains("could not lock refs/heads/main") && message.contains("main.lock"),
        "{message}"
    );
    assert_eq!(phase(&waiting), "Running");
    assert_eq!(waiting["status"]["steps"][1]["phase"], "Pending");

    cluster.remove_stale_lock(&repository, "refs/heads/main");
    assert!(!lock.exists(), "the lock is still there");
    wait_phase(
        &namespace,
        "scaffoldrequest/locked",
        "Succeeded",
        Duration::from_secs(90),
    );
    assert_eq!(cluster.commits(&repository).len(), 1);
}

#[test]
fn a_secret_value_appears_nowhere_it_must_not() {
    let namespace = Namespace::new("secret");
    let operator = Operator::start(&namespace);
    // A step's `token` input is the credential its publish pushes with, so
    // the secret is the git server's real token: the push works only if the
    // value reached the step, and it must show up nowhere else.
    let secret_value = cluster().git_token.clone();
    // A Secret's value with a trailing newline, as `echo | kubectl create`
    // makes it: the trimmed form is masked too.
    apply(
        &namespace,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\nstringData: {{token: \"{secret_value}\\n\"}}\n"
        ),
    );
    let service = format!("s{}", unique());
    let with_token = template("with-token").replace(
        "input: {repoUrl: \"github.com?owner=e2e&repo=${{ parameters.name }}\"}",
        "input: {repoUrl: \"github.com?owner=e2e&repo=${{ parameters.name }}\", token: \"${{ secrets.token | trim }}\"}",
    );
    assert!(with_token.contains("secrets.token"));
    apply(&namespace, &with_token);
    apply(
        &namespace,
        &format!(
            "{}  secretRef: {{name: creds}}\n",
            request("uses-secret", "with-token", &service)
        ),
    );
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/uses-secret",
        "Succeeded",
        Duration::from_secs(60),
    );
    let status = done["status"].to_string();
    assert!(
        !status.contains(&secret_value),
        "the secret is in status: {status}"
    );
    let events = events(&namespace);
    assert!(!events.contains(&secret_value), "the secret is in an Event");
    let everything = cluster().kubectl_ok(&[
        "get",
        "-n",
        &namespace.name,
        "goldpath,applications.argoproj.io",
        "-o",
        "yaml",
    ]);
    assert!(!everything.contains(&secret_value), "the secret is in an object");
    let log = operator.log();
    assert!(
        log.contains("uses-secret"),
        "the operator logged nothing about the request"
    );
    assert!(
        !log.contains(&secret_value),
        "the secret is in the operator's log"
    );
}

#[test]
fn deleting_a_request_removes_what_it_made_only_when_asked() {
    let cluster = cluster();
    let namespace = Namespace::new("delete");
    let _operator = Operator::start(&namespace);
    apply(&namespace, &template("svc"));
    let kept = format!("k{}", unique());
    let removed = format!("r{}", unique());
    apply(&namespace, &request("keep", "svc", &kept));
    apply(
        &namespace,
        &format!("{}  deletionPolicy: Delete\n", request("remove", "svc", &removed)),
    );
    wait_phase(
        &namespace,
        "scaffoldrequest/keep",
        "Succeeded",
        Duration::from_secs(60),
    );
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/remove",
        "Succeeded",
        Duration::from_secs(60),
    );
    assert_eq!(
        done["metadata"]["finalizers"],
        serde_json::json!(["goldpath.dev/cleanup"])
    );
    cluster.kubectl_ok(&[
        "delete",
        "-n",
        &namespace.name,
        "scaffoldrequest/keep",
        "scaffoldrequest/remove",
        "--timeout=60s",
    ]);
    let names = |resource: &str| -> BTreeSet<String> {
        get(&namespace, resource)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("applications.argoproj.io"), BTreeSet::from([kept.clone()]));
    assert_eq!(names("catalogentities"), BTreeSet::from([kept.clone()]));
    // Repositories are never deleted.
    assert_eq!(cluster.commits(&format!("e2e-{kept}")).len(), 1);
    assert_eq!(cluster.commits(&format!("e2e-{removed}")).len(), 1);
}

#[test]
fn a_spec_change_after_success_is_reported_and_not_run_again() {
    let namespace = Namespace::new("change");
    let _operator = Operator::start(&namespace);
    apply(&namespace, &template("svc"));
    let service = format!("u{}", unique());
    apply(&namespace, &request("once", "svc", &service));
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/once",
        "Succeeded",
        Duration::from_secs(60),
    );
    let commit = done["status"]["steps"][1]["output"]["commitHash"].clone();
    apply(
        &namespace,
        &request("once", "svc", &service).replace("owner: group:team-a", "owner: group:team-b"),
    );
    let changed = wait_condition(
        &namespace,
        "scaffoldrequest/once",
        "SpecChanged",
        "NotRerun",
        Duration::from_secs(30),
    );
    assert_eq!(phase(&changed), "Succeeded");
    assert_eq!(changed["status"]["observedGeneration"], 2);
    assert_eq!(changed["status"]["steps"][1]["output"]["commitHash"], commit);
    assert_eq!(condition(&changed, "Ready").unwrap().0, "True");
    let entity = get(&namespace, &format!("catalogentity/{service}"));
    assert_eq!(entity["spec"]["owner"], "group:team-a", "the request ran again");
}

#[test]
fn kubernetes_apply_refuses_what_the_configuration_does_not_allow() {
    let namespace = Namespace::new("apply");
    let _operator = Operator::start(&namespace);
    let applies = template("applies").replace(
        "  output:\n",
        "    - id: secret\n      action: kubernetes:apply\n      input:\n        manifest: |\n          apiVersion: v1\n          kind: Secret\n          metadata: {name: planted}\n          stringData: {a: b}\n  output:\n",
    );
    apply(&namespace, &applies);
    apply(
        &namespace,
        &request("plants", "applies", &format!("p{}", unique())),
    );
    let failed = wait_phase(
        &namespace,
        "scaffoldrequest/plants",
        "Failed",
        Duration::from_secs(60),
    );
    let message = failed["status"]["steps"][4]["message"].as_str().unwrap();
    assert!(
        message.contains("may not write Secret") && message.contains("kubernetesApply.allow"),
        "{message}"
    );
    let secrets = cluster().kubectl(&["get", "-n", &namespace.name, "secret/planted"], None);
    assert!(!secrets.status.success(), "the Secret was written");
}

#[test]
fn a_template_from_git_is_pinned_to_a_commit_and_follows_its_branch() {
    let cluster = cluster();
    let namespace = Namespace::new("gitsource");
    let repository = format!("e2e-template-{}", unique());
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("golden/skeleton")).unwrap();
    let remote = format!("{}/{repository}.git", cluster.git_url);
    let commit = |version: &str| {
        std::fs::write(
            work.join("golden/skeleton/README.md"),
            format!("# ${{{{ values.name }}}} {version}\n"),
        )
        .unwrap();
        for args in [
            vec!["add", "."],
            vec!["commit", "--quiet", "-m", version],
            vec!["push", "--quiet", &remote, "HEAD:main"],
        ] {
            let output = cluster.git(&args, Some(&work));
            assert!(
                output.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        String::from_utf8(cluster.git(&["rev-parse", "HEAD"], Some(&work)).stdout)
            .unwrap()
            .trim()
            .to_string()
    };
    assert!(cluster.git(&["init", "--quiet"], Some(&work)).status.success());
    let first = commit("v1");
    let _operator = Operator::start_with(&namespace, &cluster.git_url, "templateRefreshSeconds: 1\n");
    let from_git = format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: from-git}}\n\
         spec:\n  type: service\n  steps:\n\
         \x20   - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton, values: {{name: \"${{{{ parameters.name }}}}\"}}}}\n\
         \x20   - id: publish\n      action: publish:github\n      input: {{repoUrl: \"github.com?owner=e2e&repo=${{{{ parameters.name }}}}\"}}\n\
         \x20 source:\n    git: {{url: \"{remote}\", ref: main, path: golden, secretRef: {{name: git-push}}}}\n"
    );
    apply(&namespace, &from_git);
    let ready = wait_condition(
        &namespace,
        "template/from-git",
        "Ready",
        "Valid",
        Duration::from_secs(30),
    );
    assert_eq!(ready["status"]["revision"], first.as_str());

    let service = format!("f{}", unique());
    apply(&namespace, &request("uses-git", "from-git", &service));
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/uses-git",
        "Succeeded",
        Duration::from_secs(60),
    );
    assert_eq!(done["status"]["templateRevision"], first.as_str());
    let clone = dir.path().join("clone");
    cluster.clone_repository(&format!("e2e-{service}"), &clone);
    assert_eq!(
        std::fs::read_to_string(clone.join("README.md")).unwrap(),
        format!("# {service} v1\n")
    );

    // A new commit on the branch is picked up on the next refresh.
    let second = commit("v2");
    wait_for(
        "the template to follow its branch",
        Duration::from_secs(30),
        || (get(&namespace, "template/from-git")["status"]["revision"] == second.as_str()).then_some(()),
    );
}

/// Events of `reason` about `object` (`kind/name`) in the namespace.
pub(crate) fn events_of(namespace: &Namespace, object: &str, reason: &str) -> Vec<Value> {
    let events: Value = serde_json::from_str(&events(namespace)).unwrap();
    let (kind, name) = object.split_once('/').unwrap();
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["reason"] == reason
                && e["involvedObject"]["name"] == name
                && e["involvedObject"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .eq_ignore_ascii_case(kind)
        })
        .cloned()
        .collect()
}

#[test]
fn a_template_with_a_repeated_step_id_is_ready_with_warnings_and_one_event() {
    let namespace = Namespace::new("warnings");
    let operator = Operator::start(&namespace);
    // Two fetch:template steps under one id: Backstage runs both.
    let repeated = template("twice").replace(
        "    - id: publish\n",
        "    - id: fetch\n      action: fetch:template\n      input: {url: ./skeleton, targetPath: copy, values: {name: x}}\n    - id: publish\n",
    );
    apply(&namespace, &repeated);
    let ready = wait_condition(
        &namespace,
        "template/twice",
        "Ready",
        "Valid",
        Duration::from_secs(30),
    );
    let warnings = ready["status"]["warnings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{ready}");
    let warning = warnings[0].as_str().unwrap();
    assert!(warning.starts_with("step fetch: the id \"fetch\""), "{warning}");
    assert!(
        condition(&ready, "Stalled").is_none_or(|c| c.0 == "False"),
        "{ready}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let first = loop {
        let found = events_of(&namespace, "template/twice", "TemplateWarnings");
        if !found.is_empty() {
            break found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no TemplateWarnings Event:\n{}\n{}",
            events(&namespace),
            operator.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["type"], "Warning");
    assert!(
        first[0]["message"].as_str().unwrap().contains(warning),
        "{}",
        first[0]
    );

    // A request of it runs both steps.
    let service = format!("t{}", unique());
    apply(&namespace, &request("both", "twice", &service));
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/both",
        "Succeeded",
        Duration::from_secs(90),
    );
    let ids: Vec<&str> = done["status"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids[..2], ["fetch", "fetch"], "{done}");

    // Reconciled again without a change: no second Event.
    cluster().kubectl_ok(&["annotate", "-n", &namespace.name, "template/twice", "touched=yes"]);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        events_of(&namespace, "template/twice", "TemplateWarnings").len(),
        1
    );

    // Fixed: the warnings go.
    apply(&namespace, &template("twice"));
    wait_for("the warnings to clear", Duration::from_secs(30), || {
        let object = get(&namespace, "template/twice");
        (object["status"]["warnings"].is_null()
            && object["status"]["observedGeneration"] == object["metadata"]["generation"])
            .then_some(())
    });
}

#[test]
fn a_backstage_template_using_every_field_is_stored_whole_by_the_api_server() {
    let namespace = Namespace::new("everyfield");
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/backstage-template-every-field.yaml"
    );
    let original: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let template = goldpath::api::Template::from_backstage(original.clone()).unwrap();
    // Created, not applied: `kubectl apply` adds an annotation of its own.
    let created = cluster().kubectl(
        &["create", "-n", &namespace.name, "-f", "-"],
        Some(&serde_json::to_string(&template).unwrap()),
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stored = get(&namespace, "template/every-field");
    assert_eq!(stored["spec"], serde_json::to_value(&template.spec).unwrap());
    let stored: goldpath::api::Template = serde_json::from_value(stored).unwrap();
    assert_eq!(stored.to_backstage().unwrap(), original);
}

/// Commits the files of `work` and pushes them to `remote`'s main branch.
fn push_all(work: &std::path::Path, remote: &str) {
    let cluster = cluster();
    assert!(cluster.git(&["init", "--quiet"], Some(work)).status.success());
    for args in [
        vec!["add", "."],
        vec!["commit", "--quiet", "-m", "templates"],
        vec!["push", "--quiet", remote, "HEAD:main"],
    ] {
        let output = cluster.git(&args, Some(work));
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_git_template_fetches_a_skeleton_shared_above_its_directory_up_to_the_repository_root() {
    let cluster = cluster();
    let namespace = Namespace::new("climb");
    let repository = format!("e2e-climb-{}", unique());
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("skeletons/base")).unwrap();
    std::fs::create_dir_all(work.join("templates/svc")).unwrap();
    std::fs::write(
        work.join("skeletons/base/README.md"),
        "# ${{ values.name }} shared\n",
    )
    .unwrap();
    std::fs::write(
        work.join("templates/svc/notes.txt"),
        "the template's own directory\n",
    )
    .unwrap();
    let remote = format!("{}/{repository}.git", cluster.git_url);
    push_all(&work, &remote);
    let _operator = Operator::start(&namespace);
    let climbing = |name: &str, url: &str| {
        format!(
            "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: {name}}}\n\
             spec:\n  type: service\n  steps:\n\
             \x20   - id: fetch\n      action: fetch:template\n      input: {{url: \"{url}\", values: {{name: \"${{{{ parameters.name }}}}\"}}}}\n\
             \x20   - id: publish\n      action: publish:github\n      input: {{repoUrl: \"github.com?owner=e2e&repo=${{{{ parameters.name }}}}\"}}\n\
             \x20 source:\n    git: {{url: \"{remote}\", ref: main, path: templates/svc, secretRef: {{name: git-push}}}}\n"
        )
    };
    apply(&namespace, &climbing("shared", "../../skeletons/base"));
    wait_condition(
        &namespace,
        "template/shared",
        "Ready",
        "Valid",
        Duration::from_secs(30),
    );
    let service = format!("c{}", unique());
    apply(&namespace, &request("uses-shared", "shared", &service));
    wait_phase(
        &namespace,
        "scaffoldrequest/uses-shared",
        "Succeeded",
        Duration::from_secs(60),
    );
    let clone = dir.path().join("clone");
    cluster.clone_repository(&format!("e2e-{service}"), &clone);
    assert_eq!(
        std::fs::read_to_string(clone.join("README.md")).unwrap(),
        format!("# {service} shared\n")
    );

    // One level more leaves the repository: the Template says so.
    apply(&namespace, &climbing("beyond", "../../../skeletons/base"));
    let stalled = wait_condition(
        &namespace,
        "template/beyond",
        "Stalled",
        "Invalid",
        Duration::from_secs(30),
    );
    let message = condition(&stalled, "Stalled").unwrap().2;
    assert!(
        message.contains(
            "step fetch: input.url \"../../../skeletons/base\" climbs above the root of the template's source"
        ),
        "{message}"
    );
}

#[test]
fn a_waiting_request_holds_no_worker_and_render_warnings_reach_its_status() {
    let namespace = Namespace::new("waits");
    // One worker: a request that slept on it would hold up the other.
    let operator = Operator::start_with(&namespace, &cluster().git_url, "concurrency: 1\n");
    let waiting = "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {name: waiting}\n\
         spec:\n  type: service\n  steps:\n\
         \x20   - id: pause\n      action: debug:wait\n      input: {seconds: 20}\n\
         \x20   - id: note\n      action: debug:log\n      input: {message: \"${{ parameters.count + 1 }}\"}\n\
         \x20 source: {inline: {}}\n";
    let quick = "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {name: quick}\n\
         spec:\n  type: service\n  steps:\n\
         \x20   - id: note\n      action: debug:log\n      input: {message: hello}\n\
         \x20 source: {inline: {}}\n";
    apply(&namespace, waiting);
    apply(&namespace, quick);
    for name in ["waiting", "quick"] {
        wait_condition(
            &namespace,
            &format!("template/{name}"),
            "Ready",
            "Valid",
            Duration::from_secs(30),
        );
    }
    let request = |name: &str, template: &str| {
        format!(
            "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: {name}}}\n\
             spec:\n  templateRef: {{name: {template}}}\n  parameters: {{}}\n"
        )
    };
    apply(&namespace, &request("slow", "waiting"));
    let waits = wait_for("the wait to be recorded", Duration::from_secs(30), || {
        let object = get(&namespace, "scaffoldrequest/slow");
        (!object["status"]["steps"][0]["waitUntil"].is_null()).then_some(object)
    });
    assert_eq!(
        condition(&waits, "Reconciling").map(|c| c.1),
        Some("Waiting".into()),
        "{waits}"
    );

    // The other request runs meanwhile on the one worker.
    apply(&namespace, &request("fast", "quick"));
    wait_phase(
        &namespace,
        "scaffoldrequest/fast",
        "Succeeded",
        Duration::from_secs(15),
    );
    assert_eq!(phase(&get(&namespace, "scaffoldrequest/slow")), "Running");

    let done = wait_phase(
        &namespace,
        "scaffoldrequest/slow",
        "Succeeded",
        Duration::from_secs(60),
    );
    let warnings = done["status"]["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{done}");
    let warning = warnings[0].as_str().unwrap();
    assert!(
        warning.starts_with("steps[note].input.message") && warning.contains("undefined"),
        "{warning}"
    );
    let events = events_of(&namespace, "scaffoldrequest/slow", "RenderWarnings");
    assert_eq!(events.len(), 1, "{}", operator.log());
    assert!(
        events[0]["message"].as_str().unwrap().contains(warning),
        "{}",
        events[0]
    );
}
