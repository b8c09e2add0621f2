//! Running goldpath as a platform team does: two replicas with leader
//! election.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Namespace, Operator, cluster, unique, wait_for};
use crate::scaffold::{apply, get, phase, request, template};

fn holder(namespace: &Namespace) -> Option<String> {
    let output = cluster().kubectl(
        &[
            "get",
            "lease",
            "goldpath",
            "-n",
            &namespace.name,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        None,
    );
    let holder = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !holder.is_empty()).then_some(holder)
}

fn reconciles(operator: &Operator) -> f64 {
    operator
        .metric(r#"goldpath_reconciles_total{controller="ScaffoldRequest"}"#)
        .unwrap_or(0.0)
}

#[test]
fn two_replicas_reconcile_one_at_a_time_and_the_other_takes_over() {
    let namespace = Namespace::new("leader");
    let args = ["--leader-elect", "--lease-duration=6", "--log-json"];
    let git = &cluster().git_url;
    let first = Operator::start_with_args(&namespace, git, "", &args);
    let leader = wait_for("a leader", Duration::from_secs(30), || holder(&namespace));
    let mut second = Operator::start_with_args(&namespace, git, "", &args);
    second.wait_ready();

    apply(&namespace, &template("svc"));
    let run = unique();
    let names: Vec<String> = (0..12).map(|i| format!("l{run}-{i}")).collect();
    let requests: String = names
        .iter()
        .map(|name| format!("---\n{}", request(name, "svc", name)))
        .collect();
    apply(&namespace, &requests);
    wait_for("some requests to succeed", Duration::from_secs(60), || {
        let list = get(&namespace, "scaffoldrequests");
        let done = list["items"]
            .as_array()?
            .iter()
            .filter(|r| phase(r) == "Succeeded")
            .count();
        (done >= 2).then_some(())
    });
    assert!(reconciles(&first) > 0.0, "the leader reconciles");
    assert_eq!(reconciles(&second), 0.0, "the other replica does not");
    assert_eq!(holder(&namespace).as_deref(), Some(leader.as_str()));

    // Its logs are JSON lines, each reconcile in a span naming the object.
    let log = first.log();
    let lines: Vec<Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(
        lines.iter().any(|line| line["span"]["name"] == "reconcile"
            && line["span"]["controller"] == "ScaffoldRequest"
            && line["span"]["object"]
                .as_str()
                .is_some_and(|o| o.starts_with(&format!("ScaffoldRequest {}/", namespace.name)))),
        "no line logged in a reconcile span:\n{log}"
    );

    // The leader dies without releasing the Lease.
    let mut first = first;
    first.kill();
    let killed = Instant::now();
    let new_leader = wait_for("another leader", Duration::from_secs(20), || {
        holder(&namespace).filter(|h| *h != leader)
    });
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(6 + 3),
        "{new_leader} took over after {took:?}"
    );

    wait_for("every request to succeed", Duration::from_secs(120), || {
        let list = get(&namespace, "scaffoldrequests");
        let items = list["items"].as_array()?;
        let failed: Vec<&Value> = items.iter().filter(|r| phase(r) == "Failed").collect();
        assert!(failed.is_empty(), "requests failed: {failed:#?}");
        (items.iter().filter(|r| phase(r) == "Succeeded").count() == names.len()).then_some(())
    });
    assert!(reconciles(&second) > 0.0, "the new leader reconciles");

    // Nothing lost, nothing done twice.
    let applications = get(&namespace, "applications.argoproj.io");
    assert_eq!(applications["items"].as_array().unwrap().len(), names.len());
    for name in &names {
        let commits = cluster().commits(&format!("e2e-{name}"));
        assert_eq!(commits.len(), 1, "commits in e2e-{name}: {commits:?}");
    }

    // A standby that is asked to stop does so at once, holding nothing.
    let mut third = Operator::start_with_args(&namespace, git, "", &args);
    third.wait_ready();
    let asked = Instant::now();
    let exit = third.terminate().expect("the standby was running");
    assert!(exit.success(), "the standby exited with {exit}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "the standby took {:?} to stop",
        asked.elapsed()
    );
    assert_eq!(holder(&namespace).as_deref(), Some(new_leader.as_str()));

    // The leader that stops releases the Lease at once.
    second.terminate();
    wait_for("the Lease to be released", Duration::from_secs(10), || {
        holder(&namespace).is_none().then_some(())
    });
}
