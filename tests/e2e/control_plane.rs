//! The control plane itself: CRDs, schema validation, garbage collection and
//! the git server behave as the rest of the tests rely on.

use std::time::Duration;

use goldpath::engine::files::{FileEntry, FileTree};
use goldpath::git;

use crate::harness::{Namespace, cluster, unique, wait_for};

const GOLDPATH_CRDS: &[&str] = &[
    "templates.goldpath.dev",
    "scaffoldrequests.goldpath.dev",
    "catalogentities.goldpath.dev",
];
const UPSTREAM_CRDS: &[&str] = &[
    "applications.argoproj.io",
    "appprojects.argoproj.io",
    "buckets.s3.services.k8s.aws",
    "dbinstances.rds.services.k8s.aws",
    "applications.core.oam.dev",
];

#[test]
fn every_crd_is_established_and_explained() {
    let cluster = cluster();
    for crd in GOLDPATH_CRDS.iter().chain(UPSTREAM_CRDS) {
        let status = cluster.kubectl_ok(&[
            "get",
            "crd",
            crd,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
        ]);
        assert_eq!(status, "True", "{crd} is not Established");
    }
    let explained = cluster.kubectl_ok(&["explain", "scaffoldrequest.spec.parameters"]);
    assert!(
        explained.contains("Values for the template's parameters, checked against its JSON Schema"),
        "{explained}"
    );
    let listed = cluster.kubectl_ok(&["api-resources", "--categories=goldpath", "-o", "name"]);
    for crd in GOLDPATH_CRDS {
        assert!(
            listed.contains(crd),
            "{crd} is not in the goldpath category:\n{listed}"
        );
    }
}

#[test]
fn every_sample_is_accepted_by_the_api_server() {
    let cluster = cluster();
    let namespace = Namespace::new("samples");
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/samples");
    let mut applied = 0;
    for entry in std::fs::read_dir(samples).unwrap() {
        let path = entry.unwrap().path();
        let output = cluster.kubectl(
            &[
                "apply",
                "--server-side",
                "-n",
                &namespace.name,
                "-f",
                path.to_str().unwrap(),
            ],
            None,
        );
        assert!(
            output.status.success(),
            "{} was rejected: {}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        applied += String::from_utf8_lossy(&output.stdout).lines().count();
    }
    let names = cluster.kubectl_ok(&["get", "goldpath", "-n", &namespace.name, "-o", "name"]);
    assert_eq!(names.lines().count(), applied, "{names}");
    assert!(
        names.contains("template.goldpath.dev/spring-boot-microservice"),
        "{names}"
    );
    assert!(
        names.contains("catalogentity.goldpath.dev/payment-service"),
        "{names}"
    );
}

#[test]
fn invalid_objects_are_rejected_with_a_readable_message() {
    let cluster = cluster();
    let namespace = Namespace::new("invalid");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    for entry in std::fs::read_dir(fixtures).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# rejects: "))
            .unwrap();
        let output = cluster.kubectl(
            &["apply", "--server-side", "-n", &namespace.name, "-f", "-"],
            Some(&text),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{} was accepted", path.display());
        assert!(
            stderr.contains(expected),
            "{}: expected the API server to say {expected:?}, it said: {stderr}",
            path.display()
        );
    }
}

#[test]
fn the_garbage_collector_removes_orphans() {
    let cluster = cluster();
    let namespace = Namespace::new("gc");
    let ns = namespace.name.as_str();
    cluster.kubectl_ok(&["create", "configmap", "owner", "-n", ns]);
    let uid = cluster.kubectl_ok(&[
        "get",
        "configmap",
        "owner",
        "-n",
        ns,
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let child = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"child","namespace":"{ns}","ownerReferences":[{{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"{uid}"}}]}}}}"#
    );
    let created = cluster.kubectl(&["apply", "-f", "-"], Some(&child));
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    cluster.kubectl_ok(&["delete", "configmap", "owner", "-n", ns]);
    wait_for(
        "the garbage collector to delete the child",
        Duration::from_secs(60),
        || {
            let output = cluster.kubectl(&["get", "configmap", "child", "-n", ns], None);
            String::from_utf8_lossy(&output.stderr)
                .contains("NotFound")
                .then_some(())
        },
    );
}

#[test]
fn a_push_to_the_git_server_creates_a_repository_that_clones_back() {
    let cluster = cluster();
    let repo = format!("e2e-push-{}", unique());
    let remote = format!("{}/{repo}.git", cluster.git_url);
    let files = FileTree::from([
        ("README.md".to_string(), FileEntry::text("# pushed\n")),
        (
            "bin/run".to_string(),
            FileEntry::File {
                contents: b"#!/bin/sh\n".to_vec(),
                executable: true,
            },
        ),
    ]);
    let identity = git::GitIdentity {
        author_name: "e2e".into(),
        author_email: "e2e@localhost".into(),
    };
    let credentials = git::Credentials::new(cluster.git_username.clone(), cluster.git_token.clone());
    let mut request = git::PublishRequest::new(&remote, &files, "initial commit", &identity);

    let refused = git::publish(&request).expect_err("an anonymous push must be refused");
    assert!(!refused.is_transient(), "{refused}");

    request.credentials = Some(&credentials);
    let first = git::publish(&request).unwrap();
    assert!(first.pushed);
    let again = git::publish(&request).unwrap();
    assert_eq!(
        (again.commit.as_str(), again.pushed),
        (first.commit.as_str(), false)
    );

    let clone_dir = tempfile::tempdir().unwrap();
    let authenticated = remote.replacen(
        "://",
        &format!("://{}:{}@", cluster.git_username, cluster.git_token),
        1,
    );
    let clone = std::process::Command::new("git")
        .args(["clone", "--quiet", "--branch", "main", &authenticated])
        .arg(clone_dir.path().join("repo"))
        .output()
        .unwrap();
    assert!(
        clone.status.success(),
        "{}",
        String::from_utf8_lossy(&clone.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(clone_dir.path().join("repo/README.md")).unwrap(),
        "# pushed\n"
    );
}
