//! The portal API (`goldpath run --api-addr`) against the real API server:
//! callers are ServiceAccounts whose tokens come from the TokenRequest API,
//! verified by the operator with TokenReview and authorized with
//! SubjectAccessReviews, running as the chart's identity with `api.enabled`.
//!
//! Who calls:
//! - `reader`: may get and list CatalogEntities and Templates in the
//!   test's namespace (a Role of its own);
//! - `stranger`: no rights;
//! - `portal`: no rights, names the user `jane` with `Impersonate-User`;
//! - `trusted-portal`: may impersonate `jane` only; jane has the reader's
//!   Role.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Namespace, Operator, cluster, free_port, wait_for};

/// goldpath's own ServiceAccount as the chart's admission policies name
/// it: e2e/up renders them for release `goldpath` in `goldpath-system`.
/// Only this account may record who created a ScaffoldRequest, so the
/// portal API's operator runs as it.
pub const OPERATOR_NAMESPACE: &str = "goldpath-system";
/// See [`OPERATOR_NAMESPACE`].
pub const OPERATOR_ACCOUNT: &str = "goldpath";

/// An operator serving the portal API on a port of its own.
pub struct Portal {
    pub operator: Operator,
    pub port: u16,
    _identity: tempfile::TempDir,
}

impl Portal {
    /// Starts an operator for `namespace` with the chart's RBAC for the
    /// portal API and `--api-addr`, plus `args`, running as goldpath's own
    /// ServiceAccount ([`OPERATOR_ACCOUNT`]) bound to that RBAC.
    pub fn start(namespace: &Namespace, config: &str, args: &[&str]) -> Portal {
        Portal::start_limited(namespace, config, args, None)
    }

    /// [`Portal::start`], the operator limited to `memory_limit_kb` KiB of
    /// address space (`ulimit -v`) when given.
    pub fn start_limited(
        namespace: &Namespace,
        config: &str,
        args: &[&str],
        memory_limit_kb: Option<u64>,
    ) -> Portal {
        namespace.chart_identity_with(&[
            "--set-json".into(),
            format!("config.tenancy.namespaces={{\"{}\":{{}}}}", namespace.name),
            "--set".into(),
            "api.enabled=true".into(),
        ]);
        let (identity, kubeconfig) = operator_identity(&namespace.name);
        let port = free_port();
        let address = format!("--api-addr=127.0.0.1:{port}");
        let mut all = vec![address.as_str()];
        all.extend_from_slice(args);
        let operator = Operator::start_as(namespace, &kubeconfig, config, &all, memory_limit_kb);
        operator.wait_ready();
        Portal {
            operator,
            port,
            _identity: identity,
        }
    }

    /// Calls the API over plain HTTP: the status and the body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connecting to the portal API");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if !body.is_empty() {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    }

    /// GETs `path` with `token`: the status and the body as JSON (`Null`
    /// when it is not JSON).
    pub fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let authorization = format!("Bearer {token}");
        let (status, body) = self.call("GET", path, &[("Authorization", &authorization)], None);
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

/// A kubeconfig of [`OPERATOR_ACCOUNT`], which the bindings the chart
/// rendered for `namespace`'s operator (label `app.kubernetes.io/instance`)
/// now name too. The bindings go with the namespace's.
fn operator_identity(namespace: &str) -> (tempfile::TempDir, PathBuf) {
    let c = cluster();
    // Made by the first test that needs them; later ones find them.
    let _ = c.kubectl(&["create", "namespace", OPERATOR_NAMESPACE], None);
    let _ = c.kubectl(
        &[
            "create",
            "serviceaccount",
            OPERATOR_ACCOUNT,
            "-n",
            OPERATOR_NAMESPACE,
        ],
        None,
    );
    let selector = format!("app.kubernetes.io/instance={namespace}");
    let bindings: Value = serde_json::from_str(&c.kubectl_ok(&[
        "get",
        "rolebindings,clusterrolebindings",
        "-A",
        "-l",
        &selector,
        "-o",
        "json",
    ]))
    .unwrap();
    let subject = serde_json::json!([{
        "op": "add",
        "path": "/subjects/-",
        "value": {"kind": "ServiceAccount", "name": OPERATOR_ACCOUNT, "namespace": OPERATOR_NAMESPACE},
    }])
    .to_string();
    for binding in bindings["items"].as_array().unwrap() {
        let kind = binding["kind"].as_str().unwrap().to_lowercase();
        let name = format!("{kind}/{}", binding["metadata"]["name"].as_str().unwrap());
        let mut args = vec!["patch", name.as_str(), "--type=json", "-p", subject.as_str()];
        if let Some(namespace) = binding["metadata"]["namespace"].as_str() {
            args.extend(["-n", namespace]);
        }
        c.kubectl_ok(&args);
    }
    c.token_kubeconfig(OPERATOR_ACCOUNT, OPERATOR_NAMESPACE)
}

/// Creates the ServiceAccount `name` in `namespace` and returns a token of
/// it from the TokenRequest API.
pub fn service_account_token(namespace: &str, name: &str) -> String {
    cluster().kubectl_ok(&["create", "serviceaccount", name, "-n", namespace]);
    cluster()
        .kubectl_ok(&["create", "token", name, "-n", namespace, "--duration=1h"])
        .trim()
        .to_string()
}

/// The ServiceAccount's user name.
pub fn account(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Grants `subject` (`--serviceaccount=ns:name` or `--user=name`) get and
/// list of CatalogEntities and Templates in `namespace`.
pub fn grant_read(namespace: &str, subject: &str, binding: &str) {
    let c = cluster();
    let _ = c.kubectl(
        &[
            "create",
            "role",
            "catalog-reader",
            "-n",
            namespace,
            "--verb=get,list",
            "--resource=catalogentities.goldpath.dev,templates.goldpath.dev",
        ],
        None,
    );
    c.kubectl_ok(&[
        "create",
        "rolebinding",
        binding,
        "-n",
        namespace,
        "--role=catalog-reader",
        subject,
    ]);
}

/// A CatalogEntity and a Template in `namespace`, and waits until the
/// operator's API serves the entity to `token`.
pub fn seed(portal: &Portal, namespace: &str, token: &str) {
    let yaml = format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata: {{name: web, namespace: {namespace}, labels: {{tier: frontend}}}}\n\
         spec: {{kind: Component, type: service, lifecycle: production, owner: team-a, title: Web, tags: [java, web]}}\n---\n\
         apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata: {{name: api, namespace: {namespace}}}\n\
         spec: {{kind: Component, type: service, lifecycle: experimental, owner: team-a, dependsOn: [component:api-db], tags: [rust]}}\n---\n\
         apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata: {{name: api-db, namespace: {namespace}}}\n\
         spec: {{kind: Resource, type: database, owner: team-a}}\n---\n\
         apiVersion: goldpath.dev/v1alpha1\nkind: CatalogEntity\nmetadata: {{name: team-a, namespace: {namespace}}}\n\
         spec: {{kind: Group, type: team, children: []}}\n---\n\
         apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: service, namespace: {namespace}}}\n\
         spec:\n  title: A service\n  type: service\n  parameters: [{{title: Name, properties: {{name: {{type: string}}}}}}]\n  steps: [{{id: log, action: 'debug:log', input: {{message: hi}}}}]\n"
    );
    let applied = cluster().kubectl(&["apply", "-f", "-"], Some(&yaml));
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let path = format!("/api/catalog/entities/by-name/template/{namespace}/service");
    wait_for(
        "the API to serve the seeded entities",
        Duration::from_secs(60),
        || {
            let (status, _) = portal.get(&path, token);
            (status == 200).then_some(())
        },
    );
}

#[test]
fn the_portal_api_refuses_callers_it_cannot_verify_or_who_may_not_read() {
    let ns = Namespace::new("portal-auth");
    let n = ns.name.as_str();
    let portal = Portal::start(&ns, "", &[]);
    let reader = service_account_token(n, "reader");
    grant_read(n, &format!("--serviceaccount={n}:reader"), "reader");
    let stranger = service_account_token(n, "stranger");
    let portal_token = service_account_token(n, "portal");
    let trusted = service_account_token(n, "trusted-portal");
    grant_read(n, "--user=jane", "jane");
    let impersonator = format!("{n}-impersonate-jane");
    cluster().kubectl_ok(&[
        "create",
        "clusterrole",
        &impersonator,
        "--verb=impersonate",
        "--resource=users",
        "--resource-name=jane",
    ]);
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = cluster().kubectl(&["delete", "clusterrole,clusterrolebinding", &self.0], None);
        }
    }
    let _remove = Remove(impersonator.clone());
    cluster().kubectl_ok(&[
        "create",
        "clusterrolebinding",
        &impersonator,
        "--clusterrole",
        &impersonator,
        &format!("--serviceaccount={n}:trusted-portal"),
    ]);
    seed(&portal, n, &reader);
    let web = format!("/api/catalog/entities/by-name/component/{n}/web");

    // No token, a token the API server does not know.
    let (status, body) = portal.call("GET", &web, &[], None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("AuthenticationError"), "{body}");
    let (status, body) = portal.get(&web, "not-a-token-of-this-cluster");
    assert_eq!(status, 401, "{body}");
    assert!(!body.to_string().contains("not-a-token"), "{body}");

    // A verified user without rights: as Backstage answers, the entity is
    // not found, in the words of one that is absent, and its ancestry is
    // refused.
    let (status, body) = portal.get(&web, &stranger);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["name"], "NotFoundError");
    assert!(!body.to_string().contains("team-a"), "{body}");
    let (_, absent) = portal.get(&web.replace("/web", "/absent"), &stranger);
    assert_eq!(
        body["error"]["message"]
            .as_str()
            .map(|m| m.replace("/web", "/absent")),
        absent["error"]["message"].as_str().map(str::to_string)
    );
    let (status, body) = portal.get(&format!("{web}/ancestry"), &stranger);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["name"], "NotAllowedError");

    // A portal without the right to impersonate naming a user who could read.
    let bearer = format!("Bearer {portal_token}");
    let (status, body) = portal.call(
        "GET",
        &web,
        &[("Authorization", &bearer), ("Impersonate-User", "jane")],
        None,
    );
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains("may not impersonate") && body.contains(&account(n, "portal")),
        "{body}"
    );
    assert!(!body.contains("team-a"), "{body}");

    // The reader, and a portal allowed to act for jane, read it.
    let (status, body) = portal.get(&web, &reader);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "Component");
    assert_eq!(body["metadata"]["name"], "web");
    assert_eq!(body["spec"]["owner"], "team-a");
    let bearer = format!("Bearer {trusted}");
    let (status, body) = portal.call(
        "GET",
        &web,
        &[("Authorization", &bearer), ("Impersonate-User", "jane")],
        None,
    );
    assert_eq!(status, 200, "{body}");
    // jane only: naming a group the portal may not impersonate is refused.
    let (status, body) = portal.call(
        "GET",
        &web,
        &[
            ("Authorization", &bearer),
            ("Impersonate-User", "jane"),
            ("Impersonate-Group", "system:masters"),
        ],
        None,
    );
    assert_eq!(status, 403, "{body}");

    // A write is audited, refused or not, and no token reaches the log.
    let (status, _) = portal.call(
        "POST",
        "/api/catalog/refresh",
        &[("Authorization", &bearer)],
        None,
    );
    assert_eq!(status, 404);
    let log = portal.operator.log();
    let audit = log
        .lines()
        .find(|line| {
            line.contains("\"audit\":\"goldpath.dev/portal\"") && line.contains("/api/catalog/refresh")
        })
        .unwrap_or_else(|| panic!("no audit line for the POST in:\n{log}"));
    let audit: Value = serde_json::from_str(audit).unwrap();
    assert_eq!(audit["user"], account(n, "trusted-portal"));
    assert_eq!(audit["status"], 404);
    for token in [&reader, &stranger, &portal_token, &trusted] {
        assert!(
            !log.contains(token.as_str()),
            "a bearer token is in the operator's log"
        );
    }
}

#[test]
fn the_portal_api_serves_https_with_the_certificate_it_is_given() {
    let ns = Namespace::new("portal-tls");
    let n = ns.name.as_str();
    let dir = tempfile::tempdir().unwrap();
    let (certificate, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    // A self-signed certificate for 127.0.0.1 with a new key, written to
    // `certificate` and `key`; a copy of the certificate is left at `ca`.
    let make = |ca: &Path| {
        let made = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
            ])
            .args([
                "-subj",
                "/CN=goldpath-api",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&certificate)
            .output()
            .expect("running openssl");
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        std::fs::copy(&certificate, ca).unwrap();
    };
    let (first, renewed) = (dir.path().join("first.crt"), dir.path().join("renewed.crt"));
    make(&first);
    let cert_arg = format!("--api-tls-cert={}", certificate.display());
    let key_arg = format!("--api-tls-key={}", key.display());
    let portal = Portal::start(&ns, "", &[&cert_arg, &key_arg]);
    let reader = service_account_token(n, "reader");
    grant_read(n, &format!("--serviceaccount={n}:reader"), "reader");
    let url = format!(
        "https://127.0.0.1:{}/api/catalog/entities/by-name/component/{n}/nothing",
        portal.port
    );
    let curl = |ca: &Path| {
        let output = std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(ca)
            .args(["-H", &format!("Authorization: Bearer {reader}"), &url])
            .output()
            .expect("running curl");
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    assert_eq!(curl(&first), "404", "served over TLS with the given certificate");
    // A renewed certificate, as cert-manager writes it, is served without
    // a restart; the one before is not.
    make(&renewed);
    wait_for(
        "the renewed certificate to be served",
        Duration::from_secs(60),
        || (curl(&renewed) == "404").then_some(()),
    );
    assert_eq!(curl(&first), "000", "the certificate before is no longer served");
    assert!(portal.operator.log().contains("renewed TLS certificate"));
    // Plain HTTP is not served on the TLS port.
    let plain = std::process::Command::new("curl")
        .args(["-sS", "-m", "10", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://127.0.0.1:{}/api/catalog/entities", portal.port))
        .output()
        .expect("running curl");
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "401");
}
