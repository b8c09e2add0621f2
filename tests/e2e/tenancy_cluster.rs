//! Hostile tenants, cluster side: one operator serves two tenant
//! namespaces with the chart's RBAC, and tenant b (user `bob`, the `edit`
//! ClusterRole bound in its own namespace only, impersonated by the admin
//! kubeconfig) tries, through ScaffoldRequests and Templates only, to reach
//! past its own rights. Tenant a (user `alice`, `edit` in its namespace and
//! the right to make Argo CD Applications) runs the legitimate flow.
//!
//! Attacks tried as tenant b, each refused:
//! 1. `forged_requester`: a request claiming `spec.requester` (alice, in
//!    `system:masters`) and the `goldpath.dev/requested-by: the-cto`
//!    annotation: the API server stamps bob; `${{ user.ref }}` is bob.
//! 2. `changed_requester`: changing `spec.requester` afterwards: refused
//!    by the API server.
//! 3. `configmap_into_a`: `kubernetes:apply` of a ConfigMap into tenant
//!    a's namespace, which the operator's allow-list and RBAC permit:
//!    refused by a SubjectAccessReview as bob; nothing written.
//! 4. `quota_in_own_namespace`: `kubernetes:apply` of a ResourceQuota in
//!    its own namespace (allow-listed; `edit` may not create quotas):
//!    refused by the SubjectAccessReview.
//! 5. `project_default`: an Application in AppProject `default`: refused,
//!    `tenancy.argocd.projects`.
//! 6. `destination_kube_system`: an Application deploying to
//!    `kube-system`: refused, `tenancy.argocd.destinations`.
//! 7. `repository_of_a`: an Application of tenant a's repository: refused,
//!    `tenancy.argocd.repositories`.
//! 8. `application_without_rights`: an Application within every rule, by a
//!    user who may not make Applications: refused by the
//!    SubjectAccessReview.
//! 9. `fetch_entity_of_a`: `catalog:fetch` of tenant a's entity: refused by
//!    the SubjectAccessReview (`get catalogentities`).
//! 10. `spy`: a CatalogEntity of tenant b naming tenant a's Argo CD
//!     Application in `argocd/app-name`: its roll-up shows it `NotFound`
//!     (not an Application of b's projects), never a's status.
//!
//! `an_appproject_labelled_for_a_namespace_is_that_namespaces_only` tries
//! one more: 11. an Application in an AppProject the platform labelled for
//! tenant a: refused for b, naming the rule, while a uses it.
//!
//! After them, tenant a's namespace holds nothing of tenant b's, and every
//! Application in Argo CD's namespace is tenant a's, in its own project and
//! namespace. `the_operators_rights_are_what_the_configuration_says` compares
//! `kubectl auth can-i --list` for the operator's ServiceAccount with the
//! configuration.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{Namespace, Operator, cluster, unique, wait_for};
use crate::scaffold::{get, phase};

/// A tenant: its namespace and the user who acts in it.
struct Tenant {
    namespace: Namespace,
    user: String,
    group: String,
}

impl Tenant {
    fn new(prefix: &str, user: &str) -> Tenant {
        let namespace = Namespace::new(prefix);
        let group = format!("{}-members", namespace.name);
        namespace.grant_edit(user);
        Tenant {
            namespace,
            user: user.to_string(),
            group,
        }
    }

    /// kubectl as this tenant's user.
    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let mut all = vec!["--as", &self.user, "--as-group", &self.group];
        all.extend_from_slice(args);
        cluster().kubectl(&all, stdin)
    }

    fn create(&self, yaml: &str) {
        let output = self.kubectl(&["create", "-n", &self.namespace.name, "-f", "-"], Some(yaml));
        assert!(
            output.status.success(),
            "kubectl create as {}: {}\n{yaml}",
            self.user,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The operator, Argo CD's namespace and the two tenants.
struct Platform {
    _operator: Operator,
    ops: Namespace,
    a: Tenant,
    b: Tenant,
}

fn config_and_chart(ops: &str, a: &str, b: &str) -> (String, Vec<String>) {
    let cluster = cluster();
    let config = format!(
        "gitHosts:\n  - {{host: github.com, url: \"{git}/{{owner}}-{{repo}}.git\", credentialsSecret: git-push}}\n\
         argocd: {{namespace: {ops}}}\n\
         tenancy:\n  namespaces: {{{a}: {{}}, {b}: {{}}}}\n\
         kubernetesApply:\n  allow:\n    - {{kind: ConfigMap, namespaces: [{a}, {b}]}}\n    - {{kind: ResourceQuota}}\n",
        git = cluster.git_url
    );
    let chart = vec![
        "--set-json".to_string(),
        format!(
            "config.kubernetesApply.allow=[{{\"kind\":\"ConfigMap\",\"resource\":\"configmaps\",\"namespaces\":[\"{a}\",\"{b}\"]}},\
             {{\"kind\":\"ResourceQuota\",\"resource\":\"resourcequotas\"}}]"
        ),
        "--set-json".to_string(),
        format!("config.tenancy.namespaces={{\"{a}\":{{}},\"{b}\":{{}}}}"),
        "--set".to_string(),
        "rbac.secretsInWatchedNamespaces=false".to_string(),
    ];
    (config, chart)
}

impl Platform {
    fn start() -> Platform {
        let cluster = cluster();
        let ops = Namespace::new("tenancy-ops");
        let a = Tenant::new("tenant-a", "alice");
        let b = Tenant::new("tenant-b", "bob");
        // What a platform team sets up per tenant: an AppProject named after
        // the namespace, and, for a tenant that deploys, the right to make
        // Applications in Argo CD's namespace.
        for tenant in [&a, &b] {
            let project = format!(
                "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\nmetadata: {{name: {t}, namespace: {ops}}}\n\
                 spec:\n  sourceRepos: ['*']\n  destinations: [{{server: https://kubernetes.default.svc, namespace: {t}}}]\n",
                t = tenant.namespace.name,
                ops = ops.name
            );
            let applied = cluster.kubectl(&["apply", "-f", "-"], Some(&project));
            assert!(
                applied.status.success(),
                "{}",
                String::from_utf8_lossy(&applied.stderr)
            );
        }
        cluster.kubectl_ok(&[
            "create",
            "role",
            "applications",
            "--verb=get,create,patch",
            "--resource=applications.argoproj.io",
            "-n",
            &ops.name,
        ]);
        cluster.kubectl_ok(&[
            "create",
            "rolebinding",
            "alice-applications",
            "--role=applications",
            "--user=alice",
            "-n",
            &ops.name,
        ]);
        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: git-push, namespace: {}}}\nstringData: {{username: {}, password: {}}}\n",
            ops.name, cluster.git_username, cluster.git_token
        );
        let applied = cluster.kubectl(&["apply", "-f", "-"], Some(&secret));
        assert!(applied.status.success(), "creating the git credentials Secret");
        let (config, chart) = config_and_chart(&ops.name, &a.namespace.name, &b.namespace.name);
        let operator = Operator::start_serving_all(&ops, &config, &chart);
        Platform {
            _operator: operator,
            ops,
            a,
            b,
        }
    }
}

/// A Template named `name` whose skeleton is a catalog-info.yaml for
/// component `name`, with `steps`.
fn template(name: &str, steps: &str) -> String {
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: {name}}}\n\
         spec:\n  type: service\n  owner: group:platform\n  parameters: {{}}\n  steps:\n{steps}\n\
         \x20 source:\n    inline:\n      skeleton/catalog-info.yaml: |\n\
         \x20       apiVersion: backstage.io/v1alpha1\n        kind: Component\n        metadata: {{name: {name}}}\n\
         \x20       spec: {{type: service, lifecycle: experimental, owner: group:team}}\n"
    )
}

fn request(name: &str, template: &str) -> String {
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: {name}}}\n\
         spec:\n  templateRef: {{name: {template}}}\n"
    )
}

/// Creates a Template `name` and a request of it as `tenant`.
fn run(tenant: &Tenant, name: &str, steps: &str) {
    tenant.create(&template(name, steps));
    tenant.create(&request(name, name));
}

fn wait_finished(tenant: &Tenant, name: &str) -> Value {
    wait_for(
        &format!("request {name} in {} to finish", tenant.namespace.name),
        Duration::from_secs(90),
        || {
            let object = get(&tenant.namespace, &format!("scaffoldrequest/{name}"));
            matches!(phase(&object), "Succeeded" | "Failed").then_some(object)
        },
    )
}

/// The message of the failed step of a request that must have failed.
fn refusal(tenant: &Tenant, name: &str) -> String {
    let object = wait_finished(tenant, name);
    assert_eq!(phase(&object), "Failed", "{name} must be refused: {object:#}");
    let stalled = object["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Stalled"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(stalled["status"], "True", "{name}: {object:#}");
    stalled["message"].as_str().unwrap_or_default().to_string()
}

fn step_message(request: &Value, id: &str) -> String {
    request["status"]["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["id"] == id))
        .and_then(|s| s["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn names(kind: &str, namespace: &str, selector: Option<&str>) -> Vec<Value> {
    let mut args = vec!["get", kind, "-n", namespace, "-o", "json"];
    if let Some(selector) = selector {
        args.extend(["-l", selector]);
    }
    let list: Value = serde_json::from_str(&cluster().kubectl_ok(&args)).unwrap();
    list["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_hostile_tenant_gets_no_more_than_its_own_rights() {
    let platform = Platform::start();
    let (ops, a, b) = (&platform.ops.name, &platform.a, &platform.b);
    let (a_ns, b_ns) = (&a.namespace.name, &b.namespace.name);
    let repo = format!("web-{}", unique());

    // The legitimate flow: tenant a publishes, deploys in its own project
    // and namespace, registers, applies a ConfigMap and reads its entity.
    run(
        a,
        "web",
        &format!(
            "    - {{id: fetch, action: fetch:template, input: {{url: ./skeleton}}}}\n\
             \x20   - {{id: publish, action: publish:github, input: {{repoUrl: \"github.com?owner={a_ns}&repo={repo}\"}}}}\n\
             \x20   - id: deploy\n      action: argocd:create-resources\n      input: {{appName: {repo}, namespace: {a_ns}, repoUrl: \"${{{{ steps.publish.output.remoteUrl }}}}\"}}\n\
             \x20   - {{id: register, action: catalog:register, input: {{repoContentsUrl: \"${{{{ steps.publish.output.repoContentsUrl }}}}\", catalogInfoPath: /catalog-info.yaml}}}}\n\
             \x20   - {{id: config, action: kubernetes:apply, input: {{manifest: {{apiVersion: v1, kind: ConfigMap, metadata: {{name: web-settings}}, data: {{a: b}}}}}}}}\n\
             \x20   - {{id: read, action: catalog:fetch, input: {{entityRef: component:web}}}}\n\
             \x20   - {{id: who, action: debug:log, input: {{message: \"user=${{{{ user.ref }}}}\"}}}}"
        ),
    );
    let legitimate = wait_finished(a, "web");
    assert_eq!(phase(&legitimate), "Succeeded", "{legitimate:#}");
    assert_eq!(legitimate["spec"]["requester"]["username"], "alice");
    assert!(step_message(&legitimate, "who").contains("user=user:default/alice"));
    let application =
        cluster().kubectl_ok(&["get", "applications.argoproj.io", &repo, "-n", ops, "-o", "json"]);
    let application: Value = serde_json::from_str(&application).unwrap();
    assert_eq!(application["spec"]["project"], a_ns.as_str());
    assert_eq!(application["spec"]["destination"]["namespace"], a_ns.as_str());
    cluster().kubectl_ok(&["get", "configmap", "web-settings", "-n", a_ns]);
    let a_repository = legitimate["status"]["steps"][1]["output"]["remoteUrl"]
        .as_str()
        .unwrap()
        .to_string();

    // 1, 2: identity.
    b.create(&template(
        "forged-requester",
        "    - {id: who, action: debug:log, input: {message: \"user=${{ user.ref }}\"}}",
    ));
    b.create(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\n\
         metadata: {name: forged-requester, annotations: {goldpath.dev/requested-by: user:default/the-cto}}\n\
         spec:\n  templateRef: {name: forged-requester}\n  requester: {username: alice, uid: \"0\", groups: [system:masters]}\n",
    );
    let changed = b.kubectl(
        &[
            "patch",
            "scaffoldrequest",
            "forged-requester",
            "-n",
            b_ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"requester":{"username":"alice","groups":["system:masters"]}}}"#,
        ],
        None,
    );
    assert!(!changed.status.success(), "changed_requester must be refused");
    let error = String::from_utf8_lossy(&changed.stderr);
    assert!(
        error.contains("spec.requester") && error.contains("cannot be changed"),
        "{error}"
    );

    // 3-9: effects and reads past bob's rights.
    let application = |name: &str, input: &str| {
        format!(
            "    - {{id: fetch, action: fetch:template, input: {{url: ./skeleton}}}}\n\
             \x20   - {{id: publish, action: publish:github, input: {{repoUrl: \"github.com?owner={b_ns}&repo={name}-{u}\"}}}}\n\
             \x20   - {{id: deploy, action: argocd:create-resources, input: {{appName: {name}-{u}, {input}}}}}",
            u = unique()
        )
    };
    let published = "repoUrl: \"${{ steps.publish.output.remoteUrl }}\"";
    let attacks: Vec<(&str, String, String)> = vec![
        (
            "configmap-into-a",
            format!(
                "    - {{id: apply, action: kubernetes:apply, input: {{manifest: {{apiVersion: v1, kind: ConfigMap, metadata: {{name: stolen, namespace: {a_ns}}}, data: {{x: y}}}}}}}}"
            ),
            format!("bob (the request's creator, spec.requester) may not create configmaps in namespace {a_ns}"),
        ),
        (
            "quota-in-own-namespace",
            "    - {id: apply, action: kubernetes:apply, input: {manifest: {apiVersion: v1, kind: ResourceQuota, metadata: {name: q}, spec: {hard: {pods: \"1\"}}}}}".into(),
            format!("may not create resourcequotas in namespace {b_ns}"),
        ),
        (
            "project-default",
            application("project-default", &format!("projectName: default, namespace: {b_ns}, {published}")),
            "tenancy.argocd.projects".into(),
        ),
        (
            "destination-kube-system",
            application("destination-kube-system", &format!("namespace: kube-system, {published}")),
            "tenancy.argocd.destinations".into(),
        ),
        (
            "repository-of-a",
            application("repository-of-a", &format!("namespace: {b_ns}, repoUrl: \"{a_repository}\"")),
            "tenancy.argocd.repositories".into(),
        ),
        (
            "application-without-rights",
            application("application-without-rights", &format!("namespace: {b_ns}, {published}")),
            format!("may not create applications.argoproj.io in namespace {ops}"),
        ),
        (
            "fetch-entity-of-a",
            format!("    - {{id: read, action: catalog:fetch, input: {{entityRef: \"component:{a_ns}/web\"}}}}"),
            format!("may not get catalogentities.goldpath.dev in namespace {a_ns}"),
        ),
    ];
    for (name, steps, _) in &attacks {
        run(b, name, steps);
    }

    let forged = wait_finished(b, "forged-requester");
    assert_eq!(forged["spec"]["requester"]["username"], "bob", "{forged:#}");
    let groups = forged["spec"]["requester"]["groups"].to_string();
    assert!(
        !groups.contains("system:masters") && groups.contains(&b.group),
        "{groups}"
    );
    let who = step_message(&forged, "who");
    assert!(
        who.contains("user=user:default/bob") && !who.contains("the-cto"),
        "{who}"
    );

    let mut refused = 2;
    for (name, _, rule) in &attacks {
        let message = refusal(b, name);
        assert!(
            message.contains(rule.as_str()),
            "{name}: {message:?} must name {rule:?}"
        );
        refused += 1;
    }

    // 10: tenant a's entity rolls up its own Application; tenant b's entity
    // naming it sees nothing of it.
    let source = |namespace: &Namespace, name: &str| {
        wait_for(&format!("the roll-up of {name}"), Duration::from_secs(30), || {
            let entity = get(namespace, &format!("catalogentity/{name}"));
            entity["status"]["sources"].get(0).cloned()
        })
    };
    let own = source(&a.namespace, "web");
    assert_ne!(own["status"], "NotFound", "{own:#}");
    b.create(&format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata:\n  name: spy\n  annotations: {{argocd/app-name: {repo}}}\n\
         spec: {{kind: Component, type: service, lifecycle: production, owner: team-b}}\n"
    ));
    let spied = source(&b.namespace, "spy");
    assert_eq!(spied["status"], "NotFound", "{spied:#}");
    let message = spied["message"].as_str().unwrap_or_default();
    assert!(message.contains("tenancy.argocd.projects"), "{spied:#}");
    assert!(
        spied
            .get("details")
            .is_none_or(|d| d.as_object().is_none_or(|d| d.is_empty())),
        "{spied:#}"
    );
    refused += 1;
    eprintln!("attacks tried: {}, refused: {refused}", attacks.len() + 3);

    // Nothing of tenant b's anywhere else.
    let uids: Vec<String> = names("scaffoldrequests", b_ns, None)
        .iter()
        .filter_map(|r| r["metadata"]["uid"].as_str().map(str::to_string))
        .collect();
    for uid in &uids {
        let selector = format!("goldpath.dev/scaffold-request-uid={uid}");
        for (kind, namespace) in [
            ("configmaps", a_ns.as_str()),
            ("catalogentities", a_ns.as_str()),
            ("resourcequotas", b_ns.as_str()),
            ("applications.argoproj.io", ops.as_str()),
        ] {
            let found = names(kind, namespace, Some(&selector));
            assert!(found.is_empty(), "{kind} of tenant b in {namespace}: {found:#?}");
        }
    }
    let stolen = cluster().kubectl(&["get", "configmap", "stolen", "-n", a_ns], None);
    assert!(
        !stolen.status.success(),
        "tenant b wrote a ConfigMap into tenant a"
    );
    for application in names("applications.argoproj.io", ops, None) {
        assert_eq!(application["spec"]["project"], a_ns.as_str(), "{application:#}");
        assert_eq!(application["spec"]["destination"]["namespace"], a_ns.as_str());
    }
}

/// One row of `kubectl auth can-i --list`: a resource and its verbs.
fn can_i(namespace: &str, account: &str) -> Vec<(String, Vec<String>)> {
    let out = cluster().kubectl_ok(&[
        "auth",
        "can-i",
        "--list",
        "-n",
        namespace,
        &format!("--as={account}"),
    ]);
    out.lines()
        .skip(1)
        .filter_map(|line| {
            let columns: Vec<&str> = line.split_whitespace().collect();
            let verbs = line.split_once('[')?.1.rsplit_once(']')?.0;
            let resource = columns.first()?.to_string();
            Some((resource, verbs.split_whitespace().map(str::to_string).collect()))
        })
        .collect()
}

#[test]
fn the_operators_rights_are_what_the_configuration_says() {
    let ops = Namespace::new("tenancy-rbac");
    let a = Namespace::new("tenant-a");
    let b = Namespace::new("tenant-b");
    let other = Namespace::new("not-a-tenant");
    let (_, chart) = config_and_chart(&ops.name, &a.name, &b.name);
    ops.chart_identity_with(&chart);
    let account = format!("system:serviceaccount:{0}:{0}-goldpath", ops.name);
    // What the configuration says the operator may write, by namespace:
    // ConfigMaps in a and b (listed), ResourceQuotas in the served
    // namespaces (the request's own), Applications in Argo CD's namespace,
    // its Lease in its own, and its own kinds, Events and reviews.
    let own = [
        "templates.goldpath.dev",
        "scaffoldrequests.goldpath.dev",
        "catalogentities.goldpath.dev",
        "templates.goldpath.dev/status",
        "scaffoldrequests.goldpath.dev/status",
        "catalogentities.goldpath.dev/status",
        "events.events.k8s.io",
        "subjectaccessreviews.authorization.k8s.io",
        "selfsubjectreviews.authentication.k8s.io",
        "selfsubjectaccessreviews.authorization.k8s.io",
        "selfsubjectrulesreviews.authorization.k8s.io",
    ];
    for (namespace, expected) in [
        (&a.name, vec!["configmaps", "resourcequotas"]),
        (&b.name, vec!["configmaps", "resourcequotas"]),
        (&other.name, vec![]),
        (&"kube-system".to_string(), vec![]),
        (
            &ops.name,
            vec!["applications.argoproj.io", "leases.coordination.k8s.io"],
        ),
    ] {
        let writes: Vec<String> = can_i(namespace, &account)
            .into_iter()
            .filter(|(_, verbs)| {
                verbs
                    .iter()
                    .any(|v| ["create", "patch", "*", "update"].contains(&v.as_str()))
            })
            .map(|(resource, _)| resource)
            .filter(|resource| !own.contains(&resource.as_str()))
            .collect();
        let mut expected: Vec<String> = expected.into_iter().map(str::to_string).collect();
        expected.sort();
        let mut writes = writes;
        writes.sort();
        assert_eq!(writes, expected, "what the operator may write in {namespace}");
        for (verb, resource) in [
            ("get", "secrets"),
            ("create", "pods/exec"),
            ("create", "serviceaccounts/token"),
        ] {
            let allowed = cluster().kubectl(
                &[
                    "auth",
                    "can-i",
                    verb,
                    resource,
                    "-n",
                    namespace,
                    &format!("--as={account}"),
                ],
                None,
            );
            assert!(
                !allowed.status.success(),
                "the operator may {verb} {resource} in {namespace}"
            );
        }
        // AppProjects are read (for tenancy.argocd.projectLabel) in Argo
        // CD's namespace only, and never written.
        for verb in ["get", "list", "watch", "create", "patch"] {
            let allowed = cluster().kubectl(
                &[
                    "auth",
                    "can-i",
                    verb,
                    "appprojects.argoproj.io",
                    "-n",
                    namespace,
                    &format!("--as={account}"),
                ],
                None,
            );
            let expected = *namespace == ops.name && ["get", "list", "watch"].contains(&verb);
            assert_eq!(
                allowed.status.success(),
                expected,
                "may the operator {verb} appprojects in {namespace}"
            );
        }
    }
}

/// A request the admission policy did not stamp (as when the chart's policy
/// is not installed) is not run: it fails with reason `RequesterUnknown`.
/// Made by removing the stamp while the policy that guards it is unbound
/// for a moment; only this test changes a requester, so the others run on.
#[test]
fn a_request_without_a_requester_is_refused_saying_why() {
    let cluster = cluster();
    let namespace = Namespace::new("unstamped");
    let _operator = Operator::start(&namespace);
    let binding = "validatingadmissionpolicybinding/goldpath-requester-immutable";
    let saved = cluster.kubectl_ok(&["get", binding, "-o", "json"]);
    let mut saved: Value = serde_json::from_str(&saved).unwrap();
    for key in [
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "managedFields",
        "generation",
    ] {
        saved["metadata"].as_object_mut().unwrap().remove(key);
    }
    let tenant_view = format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: unstamped, namespace: {}}}\n\
         spec:\n  templateRef: {{name: not-yet}}\n",
        namespace.name
    );
    let created = cluster.kubectl(&["create", "-f", "-"], Some(&tenant_view));
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    cluster.kubectl_ok(&["delete", binding]);
    wait_for("the requester to be removable", Duration::from_secs(30), || {
        let patched = cluster.kubectl(
            &[
                "patch",
                "scaffoldrequest",
                "unstamped",
                "-n",
                &namespace.name,
                "--type=json",
                "-p",
                r#"[{"op":"remove","path":"/spec/requester"}]"#,
            ],
            None,
        );
        patched.status.success().then_some(())
    });
    let restored = cluster.kubectl(&["create", "-f", "-"], Some(&saved.to_string()));
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    // The guard is back once a change (tried as a dry run, so nothing
    // changes while it loads) is refused again.
    wait_for(
        "the requester policy to refuse changes again",
        Duration::from_secs(30),
        || {
            let patched = cluster.kubectl(
                &[
                    "patch",
                    "scaffoldrequest",
                    "unstamped",
                    "-n",
                    &namespace.name,
                    "--dry-run=server",
                    "--type=merge",
                    "-p",
                    r#"{"spec":{"requester":{"username":"x"}}}"#,
                ],
                None,
            );
            (!patched.status.success()).then_some(())
        },
    );
    let object = wait_for("the request to fail", Duration::from_secs(60), || {
        let object = get(&namespace, "scaffoldrequest/unstamped");
        (phase(&object) == "Failed").then_some(object)
    });
    let stalled = object["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Stalled"))
        .cloned()
        .unwrap();
    assert_eq!(stalled["reason"], "RequesterUnknown", "{object:#}");
    let message = stalled["message"].as_str().unwrap();
    assert!(
        message.contains("spec.requester") && message.contains("MutatingAdmissionPolicy"),
        "{message}"
    );
    assert!(
        object["status"]["steps"].as_array().is_none_or(Vec::is_empty),
        "{object:#}"
    );
}

/// An AppProject with another name, labelled `goldpath.dev/namespace:
/// <tenant a>` by the platform, is tenant a's: a's Application in it is
/// made and rolls up into a's entity. Tenant b (allowed to make
/// Applications, so only the project rule can refuse it) naming the same
/// project is refused with the rule; b's entity naming a's Application sees
/// `NotFound`. Relabelled for b, the roll-ups swap without anything else
/// changing.
#[test]
fn an_appproject_labelled_for_a_namespace_is_that_namespaces_only() {
    let platform = Platform::start();
    let (ops, a, b) = (&platform.ops.name, &platform.a, &platform.b);
    let (a_ns, b_ns) = (&a.namespace.name, &b.namespace.name);
    let project = format!("shared-{}", unique());
    let label = |namespace: &str| {
        let applied = cluster().kubectl(
            &["apply", "-f", "-"],
            Some(&format!(
                "apiVersion: argoproj.io/v1alpha1\nkind: AppProject\n\
                 metadata: {{name: {project}, namespace: {ops}, labels: {{goldpath.dev/namespace: {namespace}}}}}\n\
                 spec:\n  sourceRepos: ['*']\n  destinations: [{{server: '*', namespace: '*'}}]\n"
            )),
        );
        assert!(
            applied.status.success(),
            "{}",
            String::from_utf8_lossy(&applied.stderr)
        );
    };
    label(a_ns);
    cluster().kubectl_ok(&[
        "create",
        "rolebinding",
        "bob-applications",
        "--role=applications",
        "--user=bob",
        "-n",
        ops,
    ]);
    let deploy = |tenant: &Tenant, name: &str| {
        let namespace = &tenant.namespace.name;
        run(
            tenant,
            name,
            &format!(
                "    - {{id: fetch, action: fetch:template, input: {{url: ./skeleton}}}}\n\
                 \x20   - {{id: publish, action: publish:github, input: {{repoUrl: \"github.com?owner={namespace}&repo={name}\"}}}}\n\
                 \x20   - id: deploy\n      action: argocd:create-resources\n      input: {{appName: {name}, projectName: {project}, namespace: {namespace}, repoUrl: \"${{{{ steps.publish.output.remoteUrl }}}}\"}}"
            ),
        );
    };
    let app = format!("labelled-{}", unique());
    deploy(a, &app);
    let made = wait_finished(a, &app);
    assert_eq!(phase(&made), "Succeeded", "{made:#}");
    let application =
        cluster().kubectl_ok(&["get", "applications.argoproj.io", &app, "-n", ops, "-o", "json"]);
    let application: Value = serde_json::from_str(&application).unwrap();
    assert_eq!(application["spec"]["project"], project.as_str());

    let refused = format!("labelled-{}", unique());
    deploy(b, &refused);
    let message = refusal(b, &refused);
    assert!(
        message.contains(&format!("AppProject \"{project}\" is not one"))
            && message.contains("tenancy.argocd.projects")
            && message.contains(&format!("labelled goldpath.dev/namespace={b_ns}")),
        "{message}"
    );
    let stolen = cluster().kubectl(&["get", "applications.argoproj.io", &refused, "-n", ops], None);
    assert!(
        !stolen.status.success(),
        "tenant b made an Application in a's project"
    );

    // The roll-up: a's entity shows the Application, b's does not; after
    // the label names b, the other way round.
    let entity = |tenant: &Tenant, name: &str| {
        tenant.create(&format!(
            "apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata:\n  name: {name}\n  annotations: {{argocd/app-name: {app}}}\n\
             spec: {{kind: Component, type: service, lifecycle: production, owner: team}}\n"
        ));
    };
    entity(a, "shown");
    entity(b, "hidden");
    let row = |tenant: &Tenant, name: &str, found: bool| {
        wait_for(
            &format!(
                "the roll-up of {name} in {} to {} the Application",
                tenant.namespace.name,
                if found { "show" } else { "hide" }
            ),
            Duration::from_secs(30),
            || {
                let entity = get(&tenant.namespace, &format!("catalogentity/{name}"));
                let row = entity["status"]["sources"].get(0).cloned()?;
                ((row["status"] != "NotFound") == found).then_some(row)
            },
        )
    };
    row(a, "shown", true);
    let hidden = row(b, "hidden", false);
    let message = hidden["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("labelled goldpath.dev/namespace={b_ns}")),
        "{hidden:#}"
    );
    label(b_ns);
    row(a, "shown", false);
    row(b, "hidden", true);
}
