//! Gated steps against the real control plane: a request waits for the
//! Argo CD Application it made (the test writes its status as Argo CD
//! does), holding no thread, and goes on, fails or times out by what the
//! Application says; a SIGKILL of the operator while it waits loses nothing.
//! `wait:catalog-entity` waits for an entity's roll-up, `wait:condition`
//! for an allowed object's condition.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Namespace, Operator, cluster, unique, wait_for};
use crate::scaffold::{apply, condition, events_of, get, wait_condition, wait_phase};

/// Applications of these tests deploy from a chart repository the
/// configuration allows, so no repository needs publishing.
const CONFIG: &str = "tenancy: {publishOwners: [\"*\"], argocd: {projects: [default], destinations: \
                      [{namespace: \"*\"}], repositories: [\"https://charts.example/*\"]}}\n";

/// A Template that makes Application `{app}-<service>`, waits for it
/// (`timeout` if given) and then logs its health.
fn template(name: &str, timeout: Option<&str>) -> String {
    let timeout = timeout.map_or(String::new(), |t| format!("      timeout: {t}\n"));
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: {name}}}\n\
         spec:\n  type: service\n  steps:\n\
         \x20   - id: deploy\n      action: argocd:create-resources\n      input:\n\
         \x20       appName: \"${{{{ parameters.app }}}}\"\n        namespace: \"${{{{ parameters.app }}}}\"\n\
         \x20       repoUrl: https://charts.example/web.git\n\
         \x20   - id: rollout\n      action: wait:argocd-application\n{timeout}\
         \x20   - id: note\n      action: debug:log\n      input: {{message: \"${{{{ steps.rollout.output.health }}}}\"}}\n\
         \x20 source: {{inline: {{}}}}\n"
    )
}

fn request(name: &str, template: &str, app: &str) -> String {
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: {name}}}\n\
         spec:\n  templateRef: {{name: {template}}}\n  parameters: {{app: {app}}}\n"
    )
}

/// Writes an Application's status as Argo CD does: on the object (its CRD
/// has no status subresource).
fn argo_status(namespace: &Namespace, app: &str, sync: &str, health: &str, message: Option<&str>) {
    let mut status = json!({
        "sync": {"status": sync, "revision": "4f1c2e9"},
        "health": {"status": health},
    });
    if let Some(message) = message {
        status["health"]["message"] = json!(message);
    }
    let patch = json!({ "status": status }).to_string();
    cluster().kubectl_ok(&[
        "patch",
        "applications.argoproj.io",
        app,
        "-n",
        &namespace.name,
        "--type=merge",
        "-p",
        &patch,
    ]);
}

/// Waits until step `index` of `request` says it waits for something
/// containing `what`; returns the request.
fn waits_for(namespace: &Namespace, request: &str, index: usize, what: &str) -> Value {
    wait_for(
        &format!("{request} to wait for {what}"),
        Duration::from_secs(60),
        || {
            let object = get(namespace, &format!("scaffoldrequest/{request}"));
            let message = object["status"]["steps"][index]["message"].as_str()?;
            message.contains(what).then_some(object)
        },
    )
}

fn ready_templates(namespace: &Namespace, names: &[&str]) {
    for name in names {
        wait_condition(
            namespace,
            &format!("template/{name}"),
            "Ready",
            "Valid",
            Duration::from_secs(30),
        );
    }
}

#[test]
fn a_request_waits_for_its_application_through_a_sigkill_and_goes_on_when_it_is_healthy() {
    let namespace = Namespace::new("gated");
    let mut operator = Operator::start_with(&namespace, &cluster().git_url, CONFIG);
    apply(&namespace, &template("rollout", None));
    ready_templates(&namespace, &["rollout"]);
    let app = format!("web-{}", unique());
    apply(&namespace, &request("web", "rollout", &app));

    // Made but not yet synced: the step waits and says for what.
    let waiting = waits_for(
        &namespace,
        "web",
        1,
        &format!("Application {}/{app} to be Synced and Healthy", namespace.name),
    );
    let (status, reason, message) = condition(&waiting, "Reconciling").unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "Waiting"),
        "{waiting}"
    );
    assert!(
        message.contains("step rollout (wait:argocd-application) waits for"),
        "{message}"
    );
    assert!(message.contains("times out at"), "{message}");
    assert_eq!(waiting["status"]["phase"], "Running");
    let deadline = waiting["status"]["steps"][1]["waitUntil"].clone();
    assert!(deadline.is_string(), "the deadline is in status: {waiting}");
    let deployed_at = waiting["status"]["steps"][0]["completedAt"].clone();

    argo_status(&namespace, &app, "OutOfSync", "Progressing", None);
    waits_for(&namespace, "web", 1, "it is OutOfSync, Progressing");

    // Killed while it waits, and started again: the wait goes on from its
    // record, with the same deadline, and the Application is not made again.
    operator.kill();
    argo_status(&namespace, &app, "Synced", "Progressing", None);
    operator.restart();
    let resumed = waits_for(&namespace, "web", 1, "it is Synced, Progressing");
    assert_eq!(resumed["status"]["steps"][1]["waitUntil"], deadline);

    argo_status(&namespace, &app, "Synced", "Healthy", None);
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/web",
        "Succeeded",
        Duration::from_secs(60),
    );
    let steps = &done["status"]["steps"];
    assert_eq!(steps[1]["phase"], "Succeeded", "{done}");
    assert_eq!(steps[1]["output"]["health"], "Healthy");
    assert_eq!(steps[1]["output"]["sync"], "Synced");
    assert_eq!(steps[1]["output"]["revision"], "4f1c2e9");
    assert_eq!(
        steps[2]["message"], "Healthy",
        "the next step read the gate's output: {done}"
    );
    assert_eq!(
        steps[0]["completedAt"], deployed_at,
        "the Application step ran once"
    );
    let succeeded = events_of(&namespace, "scaffoldrequest/web", "StepSucceeded");
    let deploys = succeeded
        .iter()
        .filter(|e| e["message"].as_str().unwrap_or_default().contains("step deploy "))
        .count();
    assert_eq!(deploys, 1, "deploy succeeded once: {succeeded:?}");
    assert_eq!(
        events_of(&namespace, "scaffoldrequest/web", "StepWaiting").len(),
        1,
        "the wait is announced once\n{}",
        operator.log()
    );
}

#[test]
fn a_degraded_application_fails_its_step_with_argo_cds_message_and_a_timeout_stalls_the_request() {
    let namespace = Namespace::new("gatefail");
    let _operator = Operator::start_with(&namespace, &cluster().git_url, CONFIG);
    apply(&namespace, &template("rollout", None));
    apply(&namespace, &template("brief", Some("20s")));
    ready_templates(&namespace, &["rollout", "brief"]);
    let degraded = format!("bad-{}", unique());
    let slow = format!("slow-{}", unique());
    apply(&namespace, &request("bad", "rollout", &degraded));

    waits_for(&namespace, "bad", 1, "to be Synced and Healthy");
    argo_status(
        &namespace,
        &degraded,
        "Synced",
        "Degraded",
        Some("Deployment bad exceeded its progress deadline"),
    );
    let failed = wait_phase(
        &namespace,
        "scaffoldrequest/bad",
        "Failed",
        Duration::from_secs(60),
    );
    let (status, reason, message) = condition(&failed, "Stalled").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "StepFailed"));
    assert!(
        message.contains(&format!(
            "Application {}/{degraded} is Degraded: Deployment bad exceeded its progress deadline",
            namespace.name
        )),
        "{message}"
    );
    assert_eq!(
        failed["status"]["steps"][2]["phase"], "Pending",
        "nothing after it ran"
    );

    // Never healthy within its 20 s: Stalled, naming the step, the action
    // and what it still waited for. Its deadline runs from its first wait,
    // so it starts only now, and its Application's status is written as
    // soon as it waits, well within the 20 s on a loaded machine.
    apply(&namespace, &request("slow", "brief", &slow));
    waits_for(&namespace, "slow", 1, "to be Synced and Healthy");
    argo_status(&namespace, &slow, "Synced", "Progressing", None);
    let timed_out = wait_phase(
        &namespace,
        "scaffoldrequest/slow",
        "Failed",
        Duration::from_secs(60),
    );
    let (status, reason, message) = condition(&timed_out, "Stalled").unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "StepTimedOut"),
        "{timed_out}"
    );
    assert!(
        message.starts_with(
            "step rollout (wait:argocd-application) timed out after 20s: still waiting for Application"
        ),
        "{message}"
    );
    assert!(message.ends_with("it is Synced, Progressing"), "{message}");
    assert_eq!(condition(&timed_out, "Ready").unwrap().0, "False");
    assert_eq!(
        events_of(&namespace, "scaffoldrequest/slow", "StepTimedOut").len(),
        1
    );
}

/// A Template whose step `gate` is `action` with `input` (YAML), then logs
/// `note` (rendered with the gate's output).
fn gate_template(name: &str, action: &str, input: &str, note: &str) -> String {
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: {name}}}\n\
         spec:\n  type: service\n  steps:\n\
         \x20   - id: gate\n      action: {action}\n      input: {input}\n\
         \x20   - id: note\n      action: debug:log\n      input: {{message: \"{note}\"}}\n\
         \x20 source: {{inline: {{}}}}\n"
    )
}

fn plain_request(name: &str, template: &str) -> String {
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: {name}}}\n\
         spec:\n  templateRef: {{name: {template}}}\n"
    )
}

#[test]
fn a_request_waits_until_a_catalog_entity_is_current_in_the_roll_up() {
    let namespace = Namespace::new("gateentity");
    let ns = namespace.name.clone();
    let _operator = Operator::start(&namespace);
    // An entity whose health is its Argo CD Application's.
    apply(
        &namespace,
        &format!(
            "apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata:\n  name: web\n  annotations: {{argocd/app-name: web}}\n\
             spec: {{kind: Component, type: service, lifecycle: production, owner: team-a}}\n---\n\
             apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: web, namespace: {ns}}}\n\
             spec:\n  project: default\n  destination: {{server: https://kubernetes.default.svc, namespace: web}}\n\
             \x20 source: {{repoURL: https://charts.example/web.git, path: deploy, targetRevision: HEAD}}\n"
        ),
    );
    apply(
        &namespace,
        &gate_template(
            "entity",
            "wait:catalog-entity",
            &format!("{{entityRef: \"component:{ns}/web\"}}"),
            "${{ steps.gate.output.entityRef }} is ${{ steps.gate.output.health }}",
        ),
    );
    ready_templates(&namespace, &["entity"]);
    apply(&namespace, &plain_request("svc", "entity"));
    let waiting = waits_for(
        &namespace,
        "svc",
        0,
        &format!("component:{ns}/web to be Current; it is "),
    );
    assert_eq!(waiting["status"]["phase"], "Running", "{waiting}");
    assert_eq!(waiting["status"]["steps"][1]["phase"], "Pending");

    argo_status(&namespace, "web", "Synced", "Healthy", None);
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/svc",
        "Succeeded",
        Duration::from_secs(60),
    );
    let steps = &done["status"]["steps"];
    assert_eq!(steps[0]["output"]["health"], "Current", "{done}");
    assert_eq!(
        steps[1]["message"],
        format!("component:{ns}/web is Current"),
        "{done}"
    );
}

#[test]
fn a_request_waits_until_an_allowed_object_has_a_condition_and_may_not_read_others() {
    cluster().install_stand_in_crds();
    let namespace = Namespace::new("gatecond");
    let ns = namespace.name.clone();
    let _operator = Operator::start(&namespace);
    // The operator's configuration allows Pipelines (tekton.dev), not ConfigMaps.
    apply(
        &namespace,
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: build}\nspec: {tasks: []}\n",
    );
    apply(
        &namespace,
        &gate_template(
            "pipeline",
            "wait:condition",
            "{apiVersion: tekton.dev/v1, kind: Pipeline, name: build, type: Succeeded}",
            "build ${{ steps.gate.output.reason }}",
        ),
    );
    apply(
        &namespace,
        &gate_template(
            "configmap",
            "wait:condition",
            "{apiVersion: v1, kind: ConfigMap, name: kube-root-ca.crt, type: Ready}",
            "never",
        ),
    );
    ready_templates(&namespace, &["pipeline", "configmap"]);
    apply(&namespace, &plain_request("build", "pipeline"));
    apply(&namespace, &plain_request("peek", "configmap"));

    waits_for(
        &namespace,
        "build",
        0,
        &format!("Pipeline {ns}/build to have condition Succeeded=True; it has no Succeeded condition"),
    );
    // The stand-in CRD has no status subresource: status is written on the object.
    let write = |status: &str, reason: &str| {
        let patch = json!({"status": {"conditions": [
            {"type": "Succeeded", "status": status, "reason": reason, "message": format!("pipeline {reason}")},
        ]}})
        .to_string();
        cluster().kubectl_ok(&[
            "patch",
            "pipelines.tekton.dev",
            "build",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            &patch,
        ]);
    };
    write("Unknown", "Running");
    waits_for(
        &namespace,
        "build",
        0,
        "it is Unknown (Running: pipeline Running)",
    );
    write("True", "Completed");
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/build",
        "Succeeded",
        Duration::from_secs(60),
    );
    let steps = &done["status"]["steps"];
    assert_eq!(steps[0]["output"]["status"], "True", "{done}");
    assert_eq!(steps[0]["output"]["message"], "pipeline Completed");
    assert_eq!(steps[1]["message"], "build Completed", "{done}");

    let refused = wait_phase(
        &namespace,
        "scaffoldrequest/peek",
        "Failed",
        Duration::from_secs(60),
    );
    let message = refused["status"]["steps"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains(&format!(
            "wait:condition may not read ConfigMap in namespace {ns}"
        )) && message.contains("kubernetesApply.allow"),
        "{refused}"
    );
}
