//! A hostile tenant: what team b names in its own Templates and
//! ScaffoldRequests must not reach team a's repositories, templates or
//! hosts goldpath was not configured for, nor show a secret. Each test runs
//! operators as the chart's ServiceAccount against the real API server and
//! git server, one per tenant namespace, configured as a platform team
//! would: each namespace publishes under its own name and a shared owner.
//! Every object a tenant makes is made by that tenant's developer, a user
//! with `edit` in the tenant's namespace and no other rights.
//!
//! Attacks tried as tenant b, each refused:
//! 1. a new branch (`release`) pushed into team a's existing repository;
//! 2. team a's existing branch (`main`) overwritten with b's files;
//! 3. a repository created under team a's owner;
//! 4. an owner with a percent-encoded `/..` path in it;
//! 5. a `repoUrl` host the configuration does not list (loopback port 22);
//! 6. a Template read from team a's repository on the operator's disk (`file://`);
//! 7. a Template read from a plain path on the operator's disk (refused by
//!    the CRD's schema already);
//! 8. a Template over `http://` to a listening loopback port;
//! 9. a Template over `https://` to a host not configured, open and closed
//!    ports alike (the messages are identical, and nothing connects);
//! 10. a Template naming team a's private template repository and commit,
//!     without credentials, on an operator whose cache holds that commit;
//! 11. `${{ secrets.token | upper }}` in `debug:log`;
//! 12. `${{ secrets.token }}` in a `fetch:template` value, bound for a file.
//! 13. a Template over ssh to the git server with a host key the operator
//!     was not configured with (as a server in the middle would present);
//! 14. a Template over ssh to a host not configured (nothing connects).

use std::net::TcpListener;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Namespace, Operator, cluster, unique, wait_for};
use crate::scaffold::{get, phase, wait_condition, wait_phase};

/// A tenant's namespace, whose developer ([`developer`]) has `edit` there
/// and nothing else.
fn tenant(prefix: &str) -> Namespace {
    let namespace = Namespace::new(prefix);
    namespace.grant_edit(&developer(&namespace));
    namespace
}

/// The user who acts for the tenant of `namespace`.
fn developer(namespace: &Namespace) -> String {
    format!("{}-dev", namespace.name)
}

/// `kubectl apply` in `namespace` as its tenant's developer, never as an
/// administrator: what goldpath refuses here, the tenant could ask for.
fn apply(namespace: &Namespace, yaml: &str) {
    let user = developer(namespace);
    let output = cluster().kubectl(
        &["--as", &user, "apply", "-n", &namespace.name, "-f", "-"],
        Some(yaml),
    );
    assert!(
        output.status.success(),
        "kubectl apply as {user}: {}\n{yaml}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Each namespace publishes under its own name and the owner `shared`.
const TENANCY: &str = "tenancy: {publishOwners: [\"{namespace}\", shared]}\n";

/// Publishes an inline skeleton to the `repoUrl` its parameters make.
const PUBLISHER: &str = r##"apiVersion: goldpath.dev/v1alpha1
kind: Template
metadata: {name: publisher}
spec:
  type: service
  parameters:
    - required: [owner, repo]
      properties:
        host: {type: string, default: github.com}
        owner: {type: string}
        repo: {type: string}
        branch: {type: string, default: main}
  steps:
    - id: fetch
      action: fetch:template
      input: {url: ./skeleton, values: {repo: "${{ parameters.repo }}"}}
    - id: publish
      action: publish:github
      input:
        repoUrl: "${{ parameters.host }}?owner=${{ parameters.owner }}&repo=${{ parameters.repo }}"
        defaultBranch: "${{ parameters.branch }}"
  source:
    inline:
      skeleton/README.md: "# ${{ values.repo }} NAMESPACE\n"
"##;

fn publisher(namespace: &Namespace) -> String {
    PUBLISHER.replace("NAMESPACE", &namespace.name)
}

/// A request of `publisher` with `parameters` (a YAML flow mapping's body).
fn publish_request(name: &str, parameters: &str) -> String {
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: {name}}}\n\
         spec:\n  templateRef: {{name: publisher}}\n  parameters: {{{parameters}}}\n"
    )
}

/// The message of the failed publish step of a Failed request.
fn failed_publish(namespace: &Namespace, request: &str) -> String {
    let done = wait_phase(
        namespace,
        &format!("scaffoldrequest/{request}"),
        "Failed",
        Duration::from_secs(60),
    );
    let step = &done["status"]["steps"][1];
    assert_eq!(step["id"], "publish", "{done}");
    assert_eq!(step["phase"], "Failed", "{done}");
    step["message"].as_str().unwrap_or_default().to_string()
}

/// `git ls-remote` of `repository` on the git server.
fn ls_remote(repository: &str) -> Output {
    let cluster = cluster();
    cluster.git(
        &["ls-remote", &format!("{}/{repository}.git", cluster.git_url)],
        None,
    )
}

/// The branches of `repository` on the git server, `name commit` each.
fn branches(repository: &str) -> String {
    let output = ls_remote(repository);
    assert!(
        output.status.success(),
        "git ls-remote {repository}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains("refs/heads/"))
        .map(str::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn tenant_b_cannot_publish_into_team_as_repositories_or_owners() {
    let team_a = tenant("tenant-a");
    let team_b = tenant("tenant-b");
    let _operator_a = Operator::start_with(&team_a, &cluster().git_url, TENANCY);
    let _operator_b = Operator::start_with(&team_b, &cluster().git_url, TENANCY);
    apply(&team_a, &publisher(&team_a));
    apply(&team_b, &publisher(&team_b));

    // Team a's legitimate flow: a repository under the shared owner.
    let repo = format!("r{}", unique());
    apply(
        &team_a,
        &publish_request("mine", &format!("owner: shared, repo: {repo}")),
    );
    wait_phase(
        &team_a,
        "scaffoldrequest/mine",
        "Succeeded",
        Duration::from_secs(60),
    );
    let repository = format!("shared-{repo}");
    let before = branches(&repository);
    assert!(before.contains("refs/heads/main"), "{before}");

    // 1. A new branch in team a's repository.
    apply(
        &team_b,
        &publish_request(
            "new-branch",
            &format!("owner: shared, repo: {repo}, branch: release"),
        ),
    );
    let message = failed_publish(&team_b, "new-branch");
    assert!(
        message.contains("already holds other branches that this request did not publish"),
        "{message}"
    );
    // 2. Team a's own branch.
    apply(
        &team_b,
        &publish_request("same-branch", &format!("owner: shared, repo: {repo}")),
    );
    let message = failed_publish(&team_b, "same-branch");
    assert!(
        message.contains("the branch main that this request did not publish"),
        "{message}"
    );
    assert_eq!(branches(&repository), before, "team a's repository changed");
    let clone = tempfile::tempdir().unwrap();
    cluster().clone_repository(&repository, &clone.path().join("r"));
    let readme = std::fs::read_to_string(clone.path().join("r/README.md")).unwrap();
    assert!(
        readme.contains(&team_a.name) && !readme.contains(&team_b.name),
        "{readme}"
    );

    // 3. Team a's owner.
    let stolen = format!("s{}", unique());
    apply(
        &team_b,
        &publish_request("their-owner", &format!("owner: {}, repo: {stolen}", team_a.name)),
    );
    let message = failed_publish(&team_b, "their-owner");
    assert!(
        message.contains(&format!(
            "namespace {} may not publish under owner \"{}\"",
            team_b.name, team_a.name
        )) && message.contains("tenancy.publishOwners"),
        "{message}"
    );
    assert!(
        !ls_remote(&format!("{}-{stolen}", team_a.name)).status.success(),
        "a repository was created under team a's owner"
    );

    // 4. A decoded path in the owner.
    apply(
        &team_b,
        &publish_request(
            "dot-dot",
            &format!("owner: \"shared%2F..%2F{}\", repo: {stolen}", team_a.name),
        ),
    );
    let message = failed_publish(&team_b, "dot-dot");
    assert!(message.contains("is not a valid name"), "{message}");

    // 5. A host nobody configured: the same message whether anything
    // listens there or not, and nothing connects.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut messages = Vec::new();
    for (name, host) in [
        ("open-host", format!("127.0.0.1:{port}")),
        ("ssh-host", "127.0.0.1:22".to_string()),
    ] {
        apply(
            &team_b,
            &publish_request(name, &format!("host: \"{host}\", owner: shared, repo: {stolen}")),
        );
        let message = failed_publish(&team_b, name);
        assert!(
            message.contains("not one of the operator's gitHosts"),
            "{message}"
        );
        assert!(!message.contains("127.0.0.1"), "{message}");
        messages.push(message);
    }
    assert_eq!(messages[0], messages[1]);
    assert!(
        listener.accept().is_err(),
        "the operator connected to an unlisted host"
    );
    let events = cluster().kubectl_ok(&["get", "events", "-n", &team_a.name, "-o", "json"]);
    assert!(
        !events.contains(&team_b.name),
        "team b's requests left Events in team a's namespace"
    );
}

/// A Template whose files come from `url` (no credentials unless `secret`).
fn git_template(name: &str, url: &str, reference: &str, secret: Option<&str>) -> String {
    let secret = secret.map_or(String::new(), |s| format!(", secretRef: {{name: {s}}}"));
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: {name}}}\n\
         spec:\n  type: service\n  steps:\n\
         \x20   - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n\
         \x20 source:\n    git: {{url: \"{url}\", ref: \"{reference}\", path: golden{secret}}}\n"
    )
}

/// The message of a Template's `Stalled` condition once it has one.
fn stalled(namespace: &Namespace, name: &str) -> (String, Value) {
    let template = wait_for(
        &format!("template/{name} to stall"),
        Duration::from_secs(30),
        || {
            let template = get(namespace, &format!("template/{name}"));
            let stalled = template["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Stalled" && c["status"] == "True");
            stalled.then_some(template)
        },
    );
    let message = template["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Stalled")
        .map(|c| c["message"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    (message, template)
}

#[test]
fn tenant_b_cannot_read_templates_from_the_operators_disk_or_unlisted_hosts() {
    let cluster = cluster();
    let team_b = tenant("tenant-b");
    // No template hosts configured, as by default.
    let _operator = Operator::start_with(&team_b, &cluster.git_url, "templateSources: {hosts: []}\n");
    let secret_text = format!("team-a-only-{}", unique());
    let repository = format!("templates-{}", unique());
    cluster.push_commit(&repository, "main", &[("README.md", &secret_text)]);
    let on_disk = cluster.git_server_repository(&repository);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let open = listener.local_addr().unwrap().port();
    let closed = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let attacks = [
        (
            "disk-url",
            format!("file://{}", on_disk.display()),
            "file:// URLs are read only by the goldpath CLI",
        ),
        (
            "plain-http",
            format!("http://127.0.0.1:{open}/t.git"),
            "plain http:// is refused",
        ),
        (
            "open-port",
            format!("https://127.0.0.1:{open}/t.git"),
            "not in the operator's templateSources.hosts, so goldpath did not contact it",
        ),
        (
            "closed-port",
            format!("https://127.0.0.1:{closed}/t.git"),
            "not in the operator's templateSources.hosts, so goldpath did not contact it",
        ),
    ];
    // A plain path does not even reach the operator: the CRD's schema
    // refuses it.
    let refused = cluster.kubectl(
        &[
            "--as",
            &developer(&team_b),
            "apply",
            "-n",
            &team_b.name,
            "-f",
            "-",
        ],
        Some(&git_template(
            "disk-path",
            &on_disk.display().to_string(),
            "main",
            None,
        )),
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("spec.source.git.url"), "{stderr}");
    for (name, url, _) in &attacks {
        apply(&team_b, &git_template(name, url, "main", None));
    }
    let mut by_name = std::collections::BTreeMap::new();
    for (name, _, rule) in &attacks {
        let (message, template) = stalled(&team_b, name);
        assert!(message.contains(rule), "{name}: {message}");
        let status = template["status"].to_string();
        for leak in [secret_text.as_str(), &open.to_string(), &closed.to_string()] {
            assert!(!status.contains(leak), "{name}: {leak} in {status}");
        }
        assert!(template["status"]["revision"].is_null(), "{name}: {status}");
        by_name.insert(*name, message);
    }
    assert_eq!(by_name["open-port"], by_name["closed-port"]);
    assert!(
        listener.accept().is_err(),
        "the operator connected to a refused host"
    );
}

#[test]
fn tenant_b_gets_no_byte_of_team_as_private_template() {
    let cluster = cluster();
    let team_a = tenant("tenant-a");
    let team_b = tenant("tenant-b");
    let secret_text = format!("team-a-only-{}", unique());
    let repository = format!("private-{}", unique());
    cluster.push_commit(&repository, "main", &[("README.md", &secret_text)]);
    let work = tempfile::tempdir().unwrap();
    let clone = work.path().join("r");
    cluster.clone_repository(&repository, &clone);
    std::fs::create_dir_all(clone.join("golden/skeleton")).unwrap();
    std::fs::write(clone.join("golden/skeleton/notes.txt"), &secret_text).unwrap();
    for args in [
        vec!["add", "."],
        vec!["commit", "--quiet", "-m", "golden path"],
        vec!["push", "--quiet", "origin", "main"],
    ] {
        assert!(cluster.git(&args, Some(&clone)).status.success(), "git {args:?}");
    }
    let url = format!("{}/{repository}.git", cluster.git_url);

    // Team a reads its private template with its credentials; the commit is
    // now in the cache that team b's operator shares.
    let operator_a = Operator::start_with(&team_a, &cluster.git_url, TENANCY);
    apply(&team_a, &git_template("golden", &url, "main", Some("git-push")));
    let ready = wait_condition(
        &team_a,
        "template/golden",
        "Ready",
        "Valid",
        Duration::from_secs(30),
    );
    let commit = ready["status"]["revision"].as_str().unwrap().to_string();

    let _operator_b = Operator::start_sharing_cache(&team_b, TENANCY, &operator_a.cache);
    for (name, reference) in [("by-branch", "main"), ("by-commit", commit.as_str())] {
        apply(&team_b, &git_template(name, &url, reference, None));
        let (message, template) = stalled(&team_b, name);
        assert!(message.contains("authentication failed"), "{name}: {message}");
        let status = template["status"].to_string();
        assert!(!status.contains(&secret_text), "{name}: {status}");
        assert!(template["status"]["revision"].is_null(), "{name}: {status}");
    }
    // A request of it cannot run either.
    apply(
        &team_b,
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {name: steal}\n\
         spec:\n  templateRef: {name: by-commit}\n  parameters: {}\n",
    );
    std::thread::sleep(Duration::from_secs(2));
    let request = get(&team_b, "scaffoldrequest/steal");
    assert_ne!(phase(&request), "Succeeded");
    assert!(!request.to_string().contains(&secret_text), "{request}");
}

#[test]
fn tenant_b_cannot_put_a_secret_where_it_can_be_read() {
    let team_b = tenant("tenant-b");
    let _operator = Operator::start_with(&team_b, &cluster().git_url, TENANCY);
    let leaks = [
        (
            "upper-log",
            "    - id: log\n      action: debug:log\n      input: {message: \"${{ secrets.token | upper }}\"}\n",
            "step log: input.message: uses ${{ secrets }}",
        ),
        (
            "into-file",
            "    - id: fetch\n      action: fetch:template\n      input: {url: ./skeleton, values: {t: \"${{ secrets.token | reverse }}\"}}\n",
            "step fetch: input.values.t: uses ${{ secrets }}",
        ),
    ];
    for (name, steps, _) in &leaks {
        apply(
            &team_b,
            &format!(
                "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: {name}}}\n\
                 spec:\n  type: service\n  steps:\n{steps}  source:\n    inline:\n      skeleton/README.md: \"${{{{ values.t }}}}\"\n"
            ),
        );
    }
    for (name, _, problem) in &leaks {
        let (message, template) = stalled(&team_b, name);
        assert!(message.contains(problem), "{name}: {message}");
        let reason = template["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Stalled")
            .map(|c| c["reason"].clone());
        assert_eq!(reason, Some(Value::from("Invalid")), "{name}");
    }
}

/// An ssh Secret of the tenant's: its private key logs in as the git
/// server's user.
fn ssh_secret(namespace: &Namespace, name: &str) {
    let key = std::fs::read_to_string(&cluster().git_ssh_key).unwrap();
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/ssh-auth",
        "metadata": {"name": name},
        "stringData": {"ssh-privatekey": key},
    });
    apply(namespace, &secret.to_string());
}

/// Template sources over ssh: with a `kubernetes.io/ssh-auth` Secret and
/// the git server's host key in `templateSources.sshKnownHosts`, a Template
/// from an ssh URL (and from its scp-style form on the default port's
/// rules) becomes Ready and a request of it succeeds. An operator that
/// knows another key for the host refuses it naming the host, and an ssh
/// host not in `templateSources.hosts` is refused without a connection.
#[test]
fn an_ssh_template_source_is_read_with_its_key_and_a_verified_host_key() {
    let cluster = cluster();
    let team_a = tenant("tenant-a");
    let team_b = tenant("tenant-b");
    let secret_text = format!("over-ssh-{}", unique());
    let repository = format!("ssh-{}", unique());
    cluster.push_commit(&repository, "main", &[("README.md", "x")]);
    let work = tempfile::tempdir().unwrap();
    let clone = work.path().join("r");
    cluster.clone_repository(&repository, &clone);
    std::fs::create_dir_all(clone.join("golden/skeleton")).unwrap();
    std::fs::write(clone.join("golden/skeleton/notes.txt"), &secret_text).unwrap();
    for args in [
        vec!["add", "."],
        vec!["commit", "--quiet", "-m", "golden path"],
        vec!["push", "--quiet", "origin", "main"],
    ] {
        assert!(cluster.git(&args, Some(&clone)).status.success(), "git {args:?}");
    }
    let ssh = cluster.git_ssh_url.trim_start_matches("ssh://");
    let (host, port) = ssh.split_once(':').unwrap();
    let url = format!("ssh://git@{ssh}/{repository}.git");
    let sources = |key: &str| {
        format!("templateSources:\n  hosts: [\"{ssh}\"]\n  sshKnownHosts: \"[{host}]:{port} {key}\\n\"\n")
    };
    // The same server's key under another name: a key it does not hold.
    let wrong = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKDcZ8cYp+8Xn1Xm2PnJ9sDx1y3MkcOz8ldt8rJ3cXyZ";

    let _operator_a = Operator::start_with(&team_a, &cluster.git_url, &sources(&cluster.git_ssh_host_key()));
    ssh_secret(&team_a, "ssh-key");
    apply(&team_a, &git_template("golden", &url, "main", Some("ssh-key")));
    let ready = wait_condition(
        &team_a,
        "template/golden",
        "Ready",
        "Valid",
        Duration::from_secs(60),
    );
    assert!(ready["status"]["revision"].as_str().is_some(), "{ready:#}");
    apply(
        &team_a,
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {name: from-ssh}\n\
         spec:\n  templateRef: {name: golden}\n  parameters: {}\n",
    );
    let done = wait_phase(
        &team_a,
        "scaffoldrequest/from-ssh",
        "Succeeded",
        Duration::from_secs(60),
    );
    assert!(!done.to_string().contains("PRIVATE KEY"), "{done:#}");
    // Without a key, or with a password Secret: refused, saying what is needed.
    apply(&team_a, &git_template("keyless", &url, "main", None));
    let (message, _) = stalled(&team_a, "keyless");
    assert!(message.contains("kubernetes.io/ssh-auth"), "{message}");

    // Another operator that knows a different key for the same host.
    let _operator_b = Operator::start_with(&team_b, &cluster.git_url, &sources(wrong));
    ssh_secret(&team_b, "ssh-key");
    apply(&team_b, &git_template("spoofed", &url, "main", Some("ssh-key")));
    let (message, template) = stalled(&team_b, "spoofed");
    assert!(
        message.contains(&format!(
            "ssh server {ssh} presented a host key that is not one of the known keys"
        )),
        "{message}"
    );
    assert!(template["status"]["revision"].is_null(), "{template:#}");
    assert!(!template.to_string().contains(&secret_text), "{template:#}");

    // An ssh host not listed: refused before any connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let open = listener.local_addr().unwrap().port();
    apply(
        &team_b,
        &git_template(
            "unlisted",
            &format!("ssh://git@127.0.0.1:{open}/t.git"),
            "main",
            Some("ssh-key"),
        ),
    );
    let (message, template) = stalled(&team_b, "unlisted");
    assert!(
        message.contains("not in the operator's templateSources.hosts, so goldpath did not contact it"),
        "{message}"
    );
    assert!(!template["status"].to_string().contains(&open.to_string()));
    assert!(
        listener.accept().is_err(),
        "the operator connected to an unlisted ssh host"
    );
}
