//! The CatalogEntity controller against the real control plane with the
//! upstream Argo CD, ACK and KubeVela CRDs: the test writes those objects'
//! status the way their controllers do, and the entity's status follows.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Namespace, Operator, cluster, wait_for};

fn apply(yaml: &str) {
    let applied = cluster().kubectl(&["apply", "-f", "-"], Some(yaml));
    assert!(
        applied.status.success(),
        "kubectl apply: {}\n{yaml}",
        String::from_utf8_lossy(&applied.stderr)
    );
}

fn get(namespace: &str, resource: &str, name: &str) -> Option<Value> {
    let output = cluster().kubectl(&["get", resource, name, "-n", namespace, "-o", "json"], None);
    output
        .status
        .success()
        .then(|| serde_json::from_slice(&output.stdout).unwrap())
}

/// Writes `status` the way the object's controller does: through the status
/// subresource where the CRD has one (ACK, KubeVela), on the object itself
/// where it has none (Argo CD).
fn write_status(namespace: &str, resource: &str, name: &str, status: &Value, subresource: bool) {
    let patch = json!({ "status": status }).to_string();
    let mut args = vec![
        "patch",
        resource,
        name,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        &patch,
    ];
    if subresource {
        args.push("--subresource=status");
    }
    cluster().kubectl_ok(&args);
}

fn clear_status(namespace: &str, resource: &str, name: &str, subresource: bool) {
    write_status(namespace, resource, name, &Value::Null, subresource);
}

fn condition<'a>(status: &'a Value, type_: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// The entity's source rows as `kind/name -> status`. Two kinds are called
/// Application; KubeVela's gets the suffix `#vela`.
fn rows(status: &Value) -> BTreeMap<String, String> {
    status["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            let mut key = format!(
                "{}/{}",
                row["kind"].as_str().unwrap(),
                row["name"].as_str().unwrap()
            );
            if row["apiVersion"].as_str().unwrap().starts_with("core.oam.dev/") {
                key.push_str("#vela");
            }
            (key, row["status"].as_str().unwrap().to_string())
        })
        .collect()
}

const APPLICATION: &str = "applications.argoproj.io";
const BUCKET: &str = "buckets.s3.services.k8s.aws";
const VELA: &str = "applications.core.oam.dev";

fn argo(sync: &str, health: &str) -> Value {
    json!({
        "sync": {"status": sync, "revision": "4f1c2e9"},
        "health": {"status": health, "message": format!("health is {health}")},
        "operationState": {"phase": "Succeeded", "message": "successfully synced",
            "operation": {"sync": {"revision": "4f1c2e9"}},
            "startedAt": "2026-11-21T10:00:00Z", "finishedAt": "2026-11-21T10:00:05Z"},
    })
}

fn ack(conditions: Value) -> Value {
    json!({
        "ackResourceMetadata": {"ownerAccountID": "111122223333", "region": "eu-west-1",
            "arn": "arn:aws:s3:::web-assets"},
        "conditions": conditions,
    })
}

fn ack_ready() -> Value {
    ack(json!([
        {"type": "ACK.ResourceSynced", "status": "True", "lastTransitionTime": "2026-11-21T10:00:00Z"},
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-21T10:00:00Z"},
    ]))
}

fn vela(phase: &str, healthy: bool) -> Value {
    json!({
        "status": phase,
        "services": [{"name": "web", "healthy": healthy, "message": if healthy { "" } else { "0/1 replicas ready" }}],
        "workflow": {"status": if phase == "workflowFailed" { "failed" } else { "succeeded" },
            "mode": "StepByStep-DAG", "finished": true, "suspend": false,
            "terminated": phase == "workflowFailed",
            "message": if phase == "workflowFailed" { "step deploy failed: image not found" } else { "" }},
    })
}

/// One row of the table: the sources' status as their controllers write it,
/// and what the entity must show.
struct Case {
    name: &'static str,
    argo: Value,
    bucket: Value,
    vela: Value,
    health: &'static str,
    rows: [&'static str; 3],
    ready: &'static str,
    /// The kstatus condition that must be `True` besides `Ready`, if any.
    abnormal: Option<&'static str>,
}

#[test]
fn entity_status_follows_argo_cd_ack_and_kubevela() {
    let ns = Namespace::new("rollup");
    let n = ns.name.as_str();
    let operator = Operator::start(&ns);
    apply(&format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata:\n  name: web\n  namespace: {n}\n  annotations:\n    argocd/app-name: web\n    backstage.io/kubernetes-id: web\n\
         spec: {{kind: Component, type: service, lifecycle: production, owner: team-a}}\n---\n\
         apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata:\n  name: ghost\n  namespace: {n}\n  annotations:\n    argocd/app-name: ghost\n\
         spec: {{kind: Component, type: service, lifecycle: production, owner: team-a}}\n---\n\
         apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: web, namespace: {n}}}\n\
         spec:\n  project: default\n  destination: {{server: https://kubernetes.default.svc, namespace: web}}\n  source: {{repoURL: https://git.example.com/web.git, path: deploy, targetRevision: HEAD}}\n---\n\
         apiVersion: s3.services.k8s.aws/v1alpha1\nkind: Bucket\nmetadata:\n  name: web-assets\n  namespace: {n}\n  labels: {{backstage.io/kubernetes-id: web}}\nspec: {{name: web-assets}}\n---\n\
         apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: web\n  namespace: {n}\n  labels: {{backstage.io/kubernetes-id: web}}\n\
         spec:\n  components: [{{name: web, type: webservice, properties: {{image: nginx}}}}]\n",
    ));

    // Source missing: an annotated Application that does not exist.
    let ghost = wait_for("the missing Application's row", Duration::from_secs(30), || {
        let status = get(n, "catalogentity", "ghost")?["status"].clone();
        (rows(&status).get("Application/ghost")? == "NotFound").then_some(status)
    });
    assert_eq!(ghost["health"], "InProgress");
    assert_eq!(condition(&ghost, "Reconciling").unwrap()["status"], "True");
    assert!(
        condition(&ghost, "Ready").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "Application {n}/ghost: Application {n}/ghost does not exist"
            )),
        "{ghost:#}"
    );

    let healthy = || (argo("Synced", "Healthy"), ack_ready(), vela("running", true));
    let case = |name, (argo, bucket, vela): (Value, Value, Value)| Case {
        name,
        argo,
        bucket,
        vela,
        health: "Current",
        rows: ["Current"; 3],
        ready: "True",
        abnormal: None,
    };
    let cases = [
        case("synced and healthy", healthy()),
        Case {
            health: "InProgress",
            rows: ["InProgress", "Current", "Current"],
            ready: "False",
            abnormal: Some("Reconciling"),
            ..case(
                "out of sync",
                (argo("OutOfSync", "Healthy"), ack_ready(), vela("running", true)),
            )
        },
        Case {
            health: "InProgress",
            rows: ["InProgress", "Current", "Current"],
            ready: "False",
            abnormal: Some("Reconciling"),
            ..case(
                "progressing",
                (argo("Synced", "Progressing"), ack_ready(), vela("running", true)),
            )
        },
        Case {
            health: "Failed",
            rows: ["Failed", "Current", "Current"],
            ready: "False",
            abnormal: Some("Stalled"),
            ..case(
                "degraded",
                (argo("Synced", "Degraded"), ack_ready(), vela("running", true)),
            )
        },
        Case {
            health: "Failed",
            rows: ["Current", "Failed", "Current"],
            ready: "False",
            abnormal: Some("Stalled"),
            ..case(
                "ACK terminal",
                (
                    argo("Synced", "Healthy"),
                    ack(json!([
                        {"type": "ACK.Terminal", "status": "True", "reason": "InvalidParameter",
                         "message": "BucketAlreadyExists: the bucket name is taken"},
                        {"type": "ACK.ResourceSynced", "status": "False"},
                    ])),
                    vela("running", true),
                ),
            )
        },
        Case {
            health: "InProgress",
            rows: ["Current", "InProgress", "Current"],
            ready: "False",
            abnormal: Some("Reconciling"),
            ..case(
                "ACK recoverable",
                (
                    argo("Synced", "Healthy"),
                    ack(json!([
                        {"type": "ACK.Recoverable", "status": "True", "reason": "Throttling",
                         "message": "Rate exceeded"},
                        {"type": "ACK.ResourceSynced", "status": "False"},
                        {"type": "Ready", "status": "False"},
                    ])),
                    vela("running", true),
                ),
            )
        },
        Case {
            health: "Failed",
            rows: ["Current", "Current", "Failed"],
            ready: "False",
            abnormal: Some("Stalled"),
            ..case(
                "KubeVela workflowFailed",
                (
                    argo("Synced", "Healthy"),
                    ack_ready(),
                    vela("workflowFailed", true),
                ),
            )
        },
        Case {
            health: "InProgress",
            rows: ["Current", "Current", "InProgress"],
            ready: "False",
            abnormal: Some("Reconciling"),
            ..case(
                "unhealthy service",
                (argo("Synced", "Healthy"), ack_ready(), vela("running", false)),
            )
        },
    ];
    for case in &cases {
        // Each case starts from no status at all, as after a controller restart.
        clear_status(n, APPLICATION, "web", false);
        write_status(n, APPLICATION, "web", &case.argo, false);
        clear_status(n, BUCKET, "web-assets", true);
        write_status(n, BUCKET, "web-assets", &case.bucket, true);
        clear_status(n, VELA, "web", true);
        write_status(n, VELA, "web", &case.vela, true);
        let expected: BTreeMap<String, String> =
            ["Application/web", "Bucket/web-assets", "Application/web#vela"]
                .iter()
                .zip(case.rows)
                .map(|(row, status)| (row.to_string(), status.to_string()))
                .collect();
        let status = wait_for(case.name, Duration::from_secs(30), || {
            let status = get(n, "catalogentity", "web")?["status"].clone();
            (rows(&status) == expected && status["health"] == case.health).then_some(status)
        });
        assert_eq!(
            condition(&status, "Ready").unwrap()["status"],
            case.ready,
            "{}: {status:#}",
            case.name
        );
        for type_ in ["Reconciling", "Stalled"] {
            let expected = if case.abnormal == Some(type_) {
                "True"
            } else {
                "False"
            };
            assert_eq!(
                condition(&status, type_).unwrap()["status"],
                expected,
                "{}: {type_}",
                case.name
            );
        }
        for row in status["sources"].as_array().unwrap() {
            let reason = row["reason"].as_str().unwrap_or_default();
            assert!(
                reason.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                    && reason
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ",:_".contains(c)),
                "{}: reason {reason:?} does not match the Kubernetes reason pattern",
                case.name
            );
        }
    }

    // Stalled messages name the failing source and its controller's words.
    write_status(
        n,
        BUCKET,
        "web-assets",
        &ack(json!([{"type": "ACK.Terminal", "status": "True", "message": "BucketAlreadyExists"}])),
        true,
    );
    let stalled = wait_for("ACK terminal named in Stalled", Duration::from_secs(30), || {
        let status = get(n, "catalogentity", "web")?["status"].clone();
        let message = condition(&status, "Stalled")?["message"].as_str()?.to_string();
        message.contains("BucketAlreadyExists").then_some(message)
    });
    assert!(stalled.contains(&format!("Bucket {n}/web-assets")), "{stalled}");

    // Source deleted: a labelled object's row goes; the annotated
    // Application's row becomes NotFound.
    cluster().kubectl_ok(&["delete", BUCKET, "web-assets", "-n", n]);
    wait_for("the deleted Bucket's row to go", Duration::from_secs(30), || {
        let status = get(n, "catalogentity", "web")?["status"].clone();
        (!rows(&status).contains_key("Bucket/web-assets")).then_some(())
    });
    cluster().kubectl_ok(&["delete", APPLICATION, "web", "-n", n]);
    wait_for("the deleted Application's row", Duration::from_secs(30), || {
        let status = get(n, "catalogentity", "web")?["status"].clone();
        (rows(&status).get("Application/web")? == "NotFound").then_some(())
    });
    drop(operator);
}

#[test]
fn an_ack_kind_installed_later_rolls_up() {
    let ns = Namespace::new("ackcrd");
    let n = ns.name.as_str();
    let operator = Operator::start(&ns);
    operator.wait_ready();
    apply(&format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata:\n  name: queue-user\n  namespace: {n}\n  annotations:\n    backstage.io/kubernetes-label-selector: app=queue-user\n\
         spec: {{kind: Component, type: service, lifecycle: production, owner: team-a}}\n"
    ));
    // A kind of an ACK group the operator has never seen, installed now
    // (the chart's values grant reading its group: tests/e2e/chart-values.yaml).
    let group = "e2e.services.k8s.aws";
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: queues.{group}}}\n\
         spec:\n  group: {group}\n  names: {{kind: Queue, plural: queues, singular: queue}}\n  scope: Namespaced\n\
         \x20 versions:\n    - name: v1alpha1\n      served: true\n      storage: true\n      subresources: {{status: {{}}}}\n      schema:\n        openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}\n"
    );
    apply(&crd);
    struct Uninstall(String);
    impl Drop for Uninstall {
        fn drop(&mut self) {
            let _ = cluster().kubectl(&["delete", "crd", &self.0], None);
        }
    }
    let _uninstall = Uninstall(format!("queues.{group}"));
    cluster().kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        &format!("crd/queues.{group}"),
    ]);
    apply(&format!(
        "apiVersion: {group}/v1alpha1\nkind: Queue\nmetadata:\n  name: jobs\n  namespace: {n}\n  labels: {{app: queue-user}}\nspec: {{queueName: jobs}}\n"
    ));
    write_status(
        n,
        &format!("queues.{group}"),
        "jobs",
        &json!({"conditions": [{"type": "Ready", "status": "True"}]}),
        true,
    );
    wait_for("the Queue's row", Duration::from_secs(30), || {
        let status = get(n, "catalogentity", "queue-user")?["status"].clone();
        (rows(&status).get("Queue/jobs")? == "Current" && status["health"] == "Current").then_some(())
    });
    drop(operator);
}

#[test]
fn a_source_progressing_past_the_deadline_stalls_the_entity() {
    let ns = Namespace::new("deadline");
    let n = ns.name.as_str();
    let operator = Operator::start_with(&ns, &cluster().git_url, "catalog: {progressDeadlineSeconds: 3}\n");
    apply(&format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata:\n  name: slow\n  namespace: {n}\n  labels: {{}}\n  annotations:\n    backstage.io/kubernetes-id: slow\n\
         spec: {{kind: Resource, type: s3-bucket, owner: team-a}}\n---\n\
         apiVersion: s3.services.k8s.aws/v1alpha1\nkind: Bucket\nmetadata:\n  name: slow\n  namespace: {n}\n  labels: {{backstage.io/kubernetes-id: slow}}\nspec: {{name: slow}}\n"
    ));
    write_status(
        n,
        BUCKET,
        "slow",
        &ack(json!([{"type": "ACK.ResourceSynced", "status": "False", "reason": "Pending"}])),
        true,
    );
    let status = wait_for("Stalled after the deadline", Duration::from_secs(30), || {
        let status = get(n, "catalogentity", "slow")?["status"].clone();
        (condition(&status, "Stalled")?["status"] == "True").then_some(status)
    });
    let stalled = condition(&status, "Stalled").unwrap();
    assert_eq!(stalled["reason"], "ProgressDeadlineExceeded");
    assert!(
        stalled["message"]
            .as_str()
            .unwrap()
            .contains(&format!("no progress for more than 3s: Bucket {n}/slow")),
        "{stalled}"
    );
    drop(operator);
}

fn relations(namespace: &str, name: &str) -> Vec<(String, String)> {
    get(namespace, "catalogentity", name)
        .map(|entity| {
            entity["status"]["relations"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    (
                        r["type"].as_str().unwrap().into(),
                        r["targetRef"].as_str().unwrap().into(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn resource_versions(namespace: &str) -> BTreeMap<String, String> {
    let list: Value = serde_json::from_str(&cluster().kubectl_ok(&[
        "get",
        "catalogentities",
        "-n",
        namespace,
        "-o",
        "json",
    ]))
    .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["metadata"]["name"].as_str().unwrap().to_string(),
                e["metadata"]["resourceVersion"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn goldpath(args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_goldpath"))
        .args(args)
        .env("KUBECONFIG", cluster_kubeconfig())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "goldpath {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn cluster_kubeconfig() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/.state/kubeconfig")
}

#[test]
fn relations_are_kept_in_status_written_only_when_changed_and_exported() {
    let ns = Namespace::new("relations");
    let n = ns.name.as_str();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    std::fs::write(
        &file,
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team}\nspec: {type: team, children: []}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: System\nmetadata: {name: shop}\nspec: {owner: team}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: web\n  annotations: {backstage.io/techdocs-ref: 'dir:.'}\n\
         spec: {type: service, lifecycle: production, owner: team, system: shop, dependsOn: ['resource:db'], providesApis: [web-api]}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: web-api}\nspec: {type: openapi, lifecycle: production, owner: team, definition: 'openapi: 3.0.0'}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata: {name: db}\nspec: {type: database, owner: group:ghost-team}\n---\n\
         apiVersion: backstage.io/v1alpha1\nkind: Resource\nmetadata:\n  name: cache\n  annotations: {backstage.io/kubernetes-label-selector: 'app in (cache'}\n\
         spec: {type: cache, owner: team}\n",
    )
    .unwrap();
    let mut operator = Operator::start(&ns);
    let applied = goldpath(&["catalog", "import", "--apply", "-n", n, file.to_str().unwrap()]);
    assert_eq!(applied.lines().count(), 6, "{applied}");

    let has =
        |list: &[(String, String)], type_: &str, target: String| list.contains(&(type_.to_string(), target));
    wait_for("every relation in status", Duration::from_secs(30), || {
        let web = relations(n, "web");
        let team = relations(n, "team");
        (has(&web, "ownedBy", format!("group:{n}/team"))
            && has(&web, "partOf", format!("system:{n}/shop"))
            && has(&web, "dependsOn", format!("resource:{n}/db"))
            && has(&web, "providesApi", format!("api:{n}/web-api"))
            && has(&team, "ownerOf", format!("component:{n}/web"))
            && has(&team, "ownerOf", format!("system:{n}/shop"))
            && has(&relations(n, "shop"), "hasPart", format!("component:{n}/web"))
            && has(
                &relations(n, "web-api"),
                "apiProvidedBy",
                format!("component:{n}/web"),
            )
            && has(&relations(n, "db"), "dependencyOf", format!("component:{n}/web")))
        .then_some(())
    });

    // A reference to an entity that does not exist is named, not dropped.
    let db = get(n, "catalogentity", "db").unwrap()["status"].clone();
    let resolved = condition(&db, "ReferencesResolved").unwrap();
    assert_eq!(resolved["status"], "False");
    assert_eq!(
        resolved["message"],
        format!("no such entity: group:{n}/ghost-team")
    );
    assert!(has(
        &relations(n, "db"),
        "ownedBy",
        format!("group:{n}/ghost-team")
    ));
    assert_eq!(
        operator.metric(r#"goldpath_catalog_entities_unowned{kind="Resource",reason="unresolved"}"#),
        Some(1.0),
        "db's owner does not resolve yet"
    );
    // An annotation that cannot be read is a condition naming it.
    let cache = get(n, "catalogentity", "cache").unwrap()["status"].clone();
    let valid = condition(&cache, "Valid").unwrap();
    assert_eq!(valid["status"], "False");
    assert!(
        valid["message"].as_str().unwrap().starts_with(
            "metadata.annotations[\"backstage.io/kubernetes-label-selector\"]: is not a label selector"
        ),
        "{valid}"
    );

    // The owner appears: the reference resolves.
    apply(&format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata: {{name: ghost-team, namespace: {n}}}\nspec: {{kind: Group, type: team}}\n"
    ));
    wait_for("the owner to resolve", Duration::from_secs(30), || {
        let db = get(n, "catalogentity", "db")?["status"].clone();
        (condition(&db, "ReferencesResolved")?["status"] == "True").then_some(())
    });
    wait_for("the new Group's ownerOf", Duration::from_secs(30), || {
        has(&relations(n, "ghost-team"), "ownerOf", format!("resource:{n}/db")).then_some(())
    });

    // One entity changes: only the entities whose relations changed are written.
    let before = resource_versions(n);
    cluster().kubectl_ok(&[
        "patch",
        "catalogentity",
        "web",
        "-n",
        n,
        "--type=json",
        "-p",
        r#"[{"op": "remove", "path": "/spec/dependsOn"}]"#,
    ]);
    wait_for("db to lose dependencyOf", Duration::from_secs(30), || {
        (!has(&relations(n, "db"), "dependencyOf", format!("component:{n}/web"))
            && !has(&relations(n, "web"), "dependsOn", format!("resource:{n}/db")))
        .then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let after = resource_versions(n);
    let changed: Vec<&String> = before
        .keys()
        .filter(|name| before.get(*name) != after.get(*name))
        .collect();
    assert_eq!(
        changed,
        ["db", "web"],
        "only web (its spec and status) and db were written"
    );

    // A restarted operator resyncs the whole catalog and writes nothing.
    operator.restart();
    operator.wait_ready();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        resource_versions(n),
        after,
        "a resync of an unchanged catalog writes nothing"
    );
    assert_eq!(operator.metric("goldpath_catalog_status_writes_total"), Some(0.0));

    // Metrics: the catalog's figures.
    assert_eq!(
        operator
            .metric(r#"goldpath_catalog_entities{kind="Component",lifecycle="production",health="Current"}"#),
        Some(1.0)
    );
    assert_eq!(
        operator.metric(r#"goldpath_catalog_entities_documented{kind="Component"}"#),
        Some(1.0)
    );
    let (_, metrics) = operator.get("/metrics").unwrap();
    assert!(
        metrics.contains("# TYPE goldpath_catalog_entities_unowned gauge"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("goldpath_catalog_entities_unowned{"),
        "every owner resolves now:\n{metrics}"
    );
    assert!(
        operator
            .metric(r#"goldpath_reconciles_total{controller="CatalogEntity"}"#)
            .unwrap()
            >= 7.0
    );

    // Export, from the CLI and from the operator's endpoint, with relations.
    let exported = goldpath(&["catalog", "export", "-n", n]);
    let (status, served) = operator.get("/catalog.yaml").unwrap();
    assert_eq!(status, 200);
    for yaml in [&exported, &served] {
        let documents: Vec<Value> = serde_yaml_ng::Deserializer::from_str(yaml)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(documents.len(), 7, "{yaml}");
        let web = documents.iter().find(|d| d["metadata"]["name"] == "web").unwrap();
        assert_eq!(web["apiVersion"], "backstage.io/v1alpha1");
        assert_eq!(web["kind"], "Component");
        assert_eq!(web["spec"]["owner"], "team");
        assert!(
            web["relations"]
                .as_array()
                .unwrap()
                .contains(&json!({"type": "ownedBy", "targetRef": format!("group:{n}/team")})),
            "{web}"
        );
    }
    assert_eq!(
        exported, served,
        "the CLI and the endpoint export the same catalog"
    );
}
