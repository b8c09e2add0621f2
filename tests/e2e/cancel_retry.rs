//! Cancelling and retrying a ScaffoldRequest through its spec, as a kubectl
//! user does: `spec.cancel` stops it after the step that is running, and
//! raising `spec.retry` resumes a failed one at its failed step.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Gate, Namespace, Operator, cluster, unique, wait_for};
use crate::scaffold::{apply, condition, events, get, phase, request, template, wait_phase};

/// `kubectl patch --type merge` of the request's spec.
fn patch_spec(namespace: &Namespace, name: &str, spec: &str) {
    cluster().kubectl_ok(&[
        "patch",
        "-n",
        &namespace.name,
        &format!("scaffoldrequest/{name}"),
        "--type",
        "merge",
        "-p",
        &format!(r#"{{"spec":{spec}}}"#),
    ]);
}

/// The phases of the request's steps, in order.
fn step_phases(request: &Value) -> Vec<String> {
    request["status"]["steps"]
        .as_array()
        .map(|steps| {
            steps
                .iter()
                .map(|s| s["phase"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Ready False with reason Cancelled, and neither Reconciling nor Stalled:
/// kstatus finds a cancelled request current, `kubectl wait` for Ready
/// does not pass.
fn assert_cancelled_kstatus(request: &Value) {
    let ready = condition(request, "Ready").expect("Ready");
    assert_eq!(
        (ready.0.as_str(), ready.1.as_str()),
        ("False", "Cancelled"),
        "{ready:?}"
    );
    for abnormal in ["Reconciling", "Stalled"] {
        let found = condition(request, abnormal).expect(abnormal);
        assert_eq!(found.0, "False", "{abnormal}: {found:?}");
    }
    assert_eq!(
        request["status"]["observedGeneration"], request["metadata"]["generation"],
        "the status describes the spec that cancelled"
    );
}

#[test]
fn a_cancelled_request_stops_after_its_running_step_and_keeps_what_it_made() {
    let cluster = cluster();
    let namespace = Namespace::new("cancel");
    // Every connection to the git server waits 2 s: publishing takes a
    // few seconds, long enough to cancel during it.
    let slow = Gate::closed(&cluster.git_url);
    slow.open_slowly(Duration::from_secs(2));
    let _operator = Operator::start_with(&namespace, &slow.url, "");
    apply(&namespace, &template("svc"));
    let service = format!("c{}", unique());
    apply(&namespace, &request("stops", "svc", &service));
    wait_for("the publish step to run", Duration::from_secs(60), || {
        let request = get(&namespace, "scaffoldrequest/stops");
        (step_phases(&request).get(1).map(String::as_str) == Some("Running")).then_some(())
    });
    patch_spec(&namespace, "stops", r#"{"cancel":true}"#);

    let cancelled = wait_phase(
        &namespace,
        "scaffoldrequest/stops",
        "Cancelled",
        Duration::from_secs(90),
    );
    // The running step finished; the next one never started.
    assert_eq!(
        step_phases(&cancelled),
        ["Succeeded", "Succeeded", "Pending", "Pending"],
        "{}",
        cancelled["status"]
    );
    assert!(cancelled["status"]["steps"][2]["startedAt"].is_null());
    assert_cancelled_kstatus(&cancelled);
    let message = condition(&cancelled, "Ready").unwrap().2;
    assert!(
        message.contains("after step publish: 2 of 4 steps finished"),
        "{message}"
    );
    assert!(events(&namespace).contains("Cancelled"), "no Event");

    // It stays so, and what it made stays: the repository, and no
    // Application or entity from the steps it did not run.
    std::thread::sleep(Duration::from_secs(3));
    let later = get(&namespace, "scaffoldrequest/stops");
    assert_eq!(phase(&later), "Cancelled");
    assert_eq!(cluster.commits(&format!("e2e-{service}")).len(), 1);
    let applications = get(&namespace, "applications.argoproj.io");
    assert!(applications["items"].as_array().unwrap().is_empty());
}

#[test]
fn a_request_cancelled_while_its_git_host_is_down_stays_so_and_resumes_when_cancel_is_cleared() {
    let cluster = cluster();
    let namespace = Namespace::new("uncancel");
    let gate = Gate::closed(&cluster.git_url);
    let _operator = Operator::start_with(&namespace, &gate.url, "");
    apply(&namespace, &template("svc"));
    let service = format!("r{}", unique());
    apply(&namespace, &request("paused", "svc", &service));
    wait_for("the publish step to be retried", Duration::from_secs(60), || {
        let request = get(&namespace, "scaffoldrequest/paused");
        condition(&request, "Reconciling")
            .filter(|(status, reason, _)| status == "True" && reason == "Retrying")
    });
    patch_spec(&namespace, "paused", r#"{"cancel":true}"#);
    let cancelled = wait_phase(
        &namespace,
        "scaffoldrequest/paused",
        "Cancelled",
        Duration::from_secs(30),
    );
    assert_cancelled_kstatus(&cancelled);
    assert_eq!(
        cancelled["status"]["steps"][1]["message"],
        "cancelled before this step finished"
    );

    // The host comes back: a cancelled request does not try it again.
    gate.open();
    std::thread::sleep(Duration::from_secs(5));
    let still = get(&namespace, "scaffoldrequest/paused");
    assert_eq!(phase(&still), "Cancelled");
    assert_eq!(step_phases(&still)[1], "Pending");

    patch_spec(&namespace, "paused", r#"{"cancel":false}"#);
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/paused",
        "Succeeded",
        Duration::from_secs(90),
    );
    assert_eq!(cluster.commits(&format!("e2e-{service}")).len(), 1);
    assert_eq!(condition(&done, "Ready").unwrap().0, "True");
    assert!(events(&namespace).contains("spec.cancel was cleared: resuming at step publish"));
}

#[test]
fn a_retried_request_resumes_at_its_failed_step_without_running_finished_ones_again() {
    let cluster = cluster();
    let namespace = Namespace::new("retry");
    let _operator = Operator::start(&namespace);
    // After publishing, the template reads an entity that is not in the
    // catalog yet: the request fails there, for good, until retried.
    let reads = template("reads").replace(
        "  output:\n",
        "    - id: lookup\n      action: catalog:fetch\n      input: {entityRef: \"component:platform-db\"}\n  output:\n",
    );
    apply(&namespace, &reads);
    let service = format!("y{}", unique());
    apply(&namespace, &request("again", "reads", &service));
    let failed = wait_phase(
        &namespace,
        "scaffoldrequest/again",
        "Failed",
        Duration::from_secs(60),
    );
    assert_eq!(
        step_phases(&failed),
        ["Succeeded", "Succeeded", "Succeeded", "Succeeded", "Failed"]
    );
    let message = failed["status"]["steps"][4]["message"].as_str().unwrap();
    assert!(message.contains("no entity component:"), "{message}");
    let finished: Vec<Value> = failed["status"]["steps"].as_array().unwrap()[..4].to_vec();

    // The cause is fixed; the request is retried.
    apply(
        &namespace,
        "apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata: {name: platform-db}\n\
         spec: {kind: Component, type: database, lifecycle: production, owner: group:platform}\n",
    );
    patch_spec(&namespace, "again", r#"{"retry":1}"#);
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/again",
        "Succeeded",
        Duration::from_secs(60),
    );
    let steps = done["status"]["steps"].as_array().unwrap();
    // Each finished step's record, outputs and times, is as it was: none
    // ran again as a recorded step, and the repository has one commit.
    assert_eq!(steps[..4], finished[..], "{}", done["status"]);
    assert_eq!(steps[4]["output"]["entity"]["metadata"]["name"], "platform-db");
    assert_eq!(done["status"]["observedRetry"], 1);
    assert_eq!(cluster.commits(&format!("e2e-{service}")).len(), 1);
    assert!(events(&namespace).contains("retry 1: resuming at step lookup, keeping the 4 finished steps"));
}
