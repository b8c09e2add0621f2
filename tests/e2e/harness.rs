//! The end-to-end harness: the control plane `e2e/up` starts (or the one
//! already running), a namespace per test, waiting with deadlines, and on
//! failure a dump of what a person needs to see.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The running control plane and git server.
pub struct Cluster {
    state: PathBuf,
    /// The git server's HTTP URL, e.g. `http://127.0.0.1:23232`.
    pub git_url: String,
    /// The user allowed to push.
    pub git_username: String,
    /// That user's access token.
    pub git_token: String,
    /// The git server's ssh URL, e.g. `ssh://127.0.0.1:23231`.
    pub git_ssh_url: String,
    /// The private key file of `git_username` on the ssh listener.
    pub git_ssh_key: PathBuf,
    /// The Gitea forge beside the git server.
    pub gitea: GiteaServer,
}

/// The Gitea `e2e/up` starts: its URLs, an admin with an API token, and a
/// second user.
pub struct GiteaServer {
    /// e.g. `http://127.0.0.1:3000`.
    pub url: String,
    /// `<url>/api/v1`.
    pub api_url: String,
    /// The admin.
    pub username: String,
    /// The admin's API token (all scopes).
    pub token: String,
    /// Another user, e.g. to add as a collaborator.
    pub other_user: String,
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The control plane, brought up once per test process.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        remember_failures();
        let up = Command::new(repo_root().join("e2e/up"))
            .output()
            .expect("running e2e/up");
        assert!(
            up.status.success(),
            "e2e/up failed:\n{}\n{}",
            String::from_utf8_lossy(&up.stdout),
            String::from_utf8_lossy(&up.stderr)
        );
        let state = repo_root().join("e2e/.state");
        let git_env = std::fs::read_to_string(state.join("git.env")).expect("reading e2e/.state/git.env");
        let value = |key: &str| {
            git_env
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{key}=")))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_else(|| panic!("{key} missing from git.env"))
        };
        Cluster {
            git_url: value("GIT_HTTP_URL"),
            git_username: value("GIT_USERNAME"),
            git_token: value("GIT_TOKEN"),
            git_ssh_url: value("GIT_SSH_URL"),
            git_ssh_key: PathBuf::from(value("GIT_SSH_KEY")),
            gitea: GiteaServer {
                url: value("GITEA_URL"),
                api_url: value("GITEA_API_URL"),
                username: value("GITEA_USERNAME"),
                token: value("GITEA_TOKEN"),
                other_user: value("GITEA_OTHER_USER"),
            },
            state,
        }
    })
}

impl Cluster {
    /// The git server's ssh host key, as `known_hosts` writes it:
    /// `ssh-ed25519 AAAA...`.
    pub fn git_ssh_host_key(&self) -> String {
        let text = std::fs::read_to_string(self.state.join("softserve/ssh/soft_serve_host_ed25519.pub"))
            .expect("reading Soft Serve's host key");
        text.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    }

    /// Runs kubectl (built at the server's version) against the cluster.
    pub fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = Command::new(self.state.join("bin/kubectl"));
        command
            .args(args)
            .env("KUBECONFIG", self.state.join("kubeconfig"));
        match stdin {
            None => command.output().expect("running kubectl"),
            Some(input) => {
                use std::io::Write;
                command
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                let mut child = command.spawn().expect("running kubectl");
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(input.as_bytes())
                    .expect("writing to kubectl");
                child.wait_with_output().expect("waiting for kubectl")
            }
        }
    }

    /// Runs kubectl and returns its stdout, failing the test if it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let output = self.kubectl(args, None);
        assert!(
            output.status.success(),
            "kubectl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// A namespace of its own for one test; deleted when the test ends, and
/// dumped (objects, status, Events) when the test fails.
pub struct Namespace {
    /// The namespace's name.
    pub name: String,
    identity: OnceLock<(tempfile::TempDir, PathBuf)>,
}

impl Namespace {
    /// Creates `e2e-<prefix>-<random>`.
    pub fn new(prefix: &str) -> Namespace {
        let name = format!("e2e-{prefix}-{}", unique());
        cluster().kubectl_ok(&["create", "namespace", &name]);
        Namespace {
            name,
            identity: OnceLock::new(),
        }
    }

    /// Gives `user` the `edit` ClusterRole in this namespace and nothing
    /// else: a tenant's developer, who reaches goldpath's kinds through the
    /// chart's aggregated roles. `kubectl --as` then acts as them.
    pub fn grant_edit(&self, user: &str) {
        cluster().kubectl_ok(&[
            "create",
            "rolebinding",
            &format!("edit-{user}"),
            "--clusterrole=edit",
            &format!("--user={user}"),
            "-n",
            &self.name,
        ]);
    }

    /// A kubeconfig with a token of the ServiceAccount the Helm chart makes
    /// when installed into this namespace, bound to the RBAC the chart
    /// renders (tests/e2e/chart-values.yaml; cluster-wide, as by default,
    /// since tests reach Templates in other namespaces): what operators in
    /// the tests run as.
    pub fn chart_identity(&self) -> &Path {
        self.chart_identity_with(&[
            "--set-json".into(),
            format!("config.tenancy.namespaces={{\"{}\":{{}}}}", self.name),
        ])
    }

    /// Like [`Namespace::chart_identity`], with more `helm template`
    /// arguments (`--set` ...) the first time it is asked for.
    pub fn chart_identity_with(&self, helm_args: &[String]) -> &Path {
        &self
            .identity
            .get_or_init(|| cluster().chart_identity(&self.name, helm_args))
            .1
    }
}

std::thread_local! {
    /// What the test running on this thread failed with, once it has.
    static FAILURE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Keeps each failing test's panic message and location, so the dump that
/// follows can end with it: long dumps push it out of a log's tail.
fn remember_failures() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let location = info.location().map(|l| format!(" at {l}")).unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        FAILURE.with(|failure| *failure.borrow_mut() = Some(format!("{message}{location}")));
        report(info);
    }));
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let cluster = cluster();
        if std::thread::panicking() {
            let objects = cluster.kubectl(
                &["get", "goldpath,configmaps", "-n", &self.name, "-o", "yaml"],
                None,
            );
            let events = cluster.kubectl(
                &["get", "events", "-n", &self.name, "--sort-by=.lastTimestamp"],
                None,
            );
            eprintln!(
                "--- namespace {} at failure ---\n{}\n--- events ---\n{}",
                self.name,
                String::from_utf8_lossy(&objects.stdout),
                String::from_utf8_lossy(&events.stdout)
            );
            if let Some(failure) = FAILURE.with(|failure| failure.borrow().clone()) {
                eprintln!("--- the test failed (namespace {}) ---\n{failure}", self.name);
            }
        }
        let _ = cluster.kubectl(&["delete", "namespace", &self.name, "--wait=false"], None);
        if self.identity.get().is_some() {
            let _ = cluster.kubectl(
                &[
                    "delete",
                    "clusterrole,clusterrolebinding",
                    "-l",
                    &format!("app.kubernetes.io/instance={}", self.name),
                    "--wait=false",
                ],
                None,
            );
        }
    }
}

impl Cluster {
    /// Renders the chart's ServiceAccount and RBAC for an operator serving
    /// `namespace` (release name: the namespace), applies them, and writes a
    /// kubeconfig with a token for the ServiceAccount.
    fn chart_identity(&self, namespace: &str, helm_args: &[String]) -> (tempfile::TempDir, PathBuf) {
        let root = repo_root();
        let rendered = Command::new(self.state.join("bin/helm"))
            .args(["template", namespace])
            .arg(root.join("charts/goldpath"))
            .args(["--namespace", namespace, "-f"])
            .arg(root.join("tests/e2e/chart-values.yaml"))
            .args([
                "--set",
                &format!("config.argocd.namespace={namespace}"),
                "--show-only",
                "templates/serviceaccount.yaml",
                "--show-only",
                "templates/rbac.yaml",
            ])
            .args(helm_args)
            .output()
            .expect("running helm (e2e/up links it into e2e/.state/bin)");
        assert!(
            rendered.status.success(),
            "helm template: {}",
            String::from_utf8_lossy(&rendered.stderr)
        );
        let rendered = String::from_utf8(rendered.stdout).expect("helm prints YAML");
        let applied = self.kubectl(&["apply", "-f", "-"], Some(&rendered));
        assert!(
            applied.status.success(),
            "applying the chart's RBAC: {}",
            String::from_utf8_lossy(&applied.stderr)
        );
        let account = rendered
            .split("\n---")
            .find(|document| document.contains("kind: ServiceAccount"))
            .and_then(|document| {
                let value: serde_json::Value = serde_yaml_ng::from_str(document).ok()?;
                Some(value["metadata"]["name"].as_str()?.to_string())
            })
            .expect("the chart renders a ServiceAccount");
        self.token_kubeconfig(&account, namespace)
    }

    /// A kubeconfig with a token of the ServiceAccount `account` of
    /// `namespace`.
    pub fn token_kubeconfig(&self, account: &str, namespace: &str) -> (tempfile::TempDir, PathBuf) {
        let token = self.kubectl_ok(&["create", "token", account, "-n", namespace, "--duration=6h"]);
        let admin: serde_json::Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(self.state.join("kubeconfig")).expect("reading the kubeconfig"),
        )
        .expect("the kubeconfig is YAML");
        let config = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "e2e", "cluster": admin["clusters"][0]["cluster"].clone()}],
            "users": [{"name": account, "user": {"token": token.trim()}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": account}}],
            "current-context": "e2e",
        });
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, serde_json::to_string(&config).expect("JSON")).expect("writing the kubeconfig");
        (dir, path)
    }
}

/// Polls `check` until it returns `Some`, failing with `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A short string unique within this machine for a while.
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:x}",
        nanos ^ std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Operators that serve one namespace hold this shared; one that serves
/// every namespace ([`Operator::start_serving_all`]) holds it alone, so it
/// never acts on another test's objects while that test runs.
static SERVING: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// A `goldpath run` process watching one test's namespace, configured to
/// publish `github.com` repositories to the git server (through `git_url`)
/// and to make Argo CD Applications in that namespace, running as the Helm
/// chart's ServiceAccount ([`Namespace::chart_identity`]). Stopped (SIGTERM)
/// when dropped; its log is printed when the test fails.
pub struct Operator {
    child: Option<std::process::Child>,
    namespace: String,
    /// Where it serves `/metrics`, `/healthz`, `/readyz` and `/catalog.yaml`.
    pub http_port: u16,
    args: Vec<String>,
    config: PathBuf,
    /// Where it caches template repositories.
    pub cache: PathBuf,
    kubeconfig: PathBuf,
    log: PathBuf,
    /// Serve every namespace rather than `namespace` only.
    all_namespaces: bool,
    /// The address space the process may take (`ulimit -v`, in KiB).
    memory_limit_kb: Option<u64>,
    _serving: ServingGuard,
    _dir: tempfile::TempDir,
}

enum ServingGuard {
    Shared(#[allow(dead_code)] std::rc::Rc<std::sync::RwLockReadGuard<'static, ()>>),
    Alone(#[allow(dead_code)] std::sync::RwLockWriteGuard<'static, ()>),
}

std::thread_local! {
    /// The shared hold of this test's thread, while one of its operators
    /// runs: a second operator of the same test shares it rather than
    /// queueing behind an operator that waits to serve alone, which would
    /// wait for this test to end.
    static SHARED: std::cell::RefCell<std::rc::Weak<std::sync::RwLockReadGuard<'static, ()>>> =
        const { std::cell::RefCell::new(std::rc::Weak::new()) };
}

impl ServingGuard {
    fn shared() -> ServingGuard {
        SHARED.with(|held| {
            let mut held = held.borrow_mut();
            let guard = held.upgrade().unwrap_or_else(|| {
                std::rc::Rc::new(SERVING.read().unwrap_or_else(std::sync::PoisonError::into_inner))
            });
            *held = std::rc::Rc::downgrade(&guard);
            ServingGuard::Shared(guard)
        })
    }
}

impl Operator {
    /// Starts an operator for `namespace` that pushes to the git server.
    pub fn start(namespace: &Namespace) -> Operator {
        Operator::start_with(namespace, &cluster().git_url, "")
    }

    /// Starts an operator that reaches the git server at `git_url`, with
    /// `extra` appended to its configuration file.
    pub fn start_with(namespace: &Namespace, git_url: &str, extra: &str) -> Operator {
        Operator::start_with_args(namespace, git_url, extra, &[])
    }

    /// Like [`Operator::start_with`], with more command-line arguments.
    pub fn start_with_args(namespace: &Namespace, git_url: &str, extra: &str, args: &[&str]) -> Operator {
        let mut operator = Operator::configure(namespace, git_url, extra, args, ServingGuard::shared());
        operator.spawn();
        operator
    }

    /// Like [`Operator::start_with_args`], running with `kubeconfig` rather
    /// than the namespace's chart identity, and limited to
    /// `memory_limit_kb` KiB of address space (`ulimit -v`) when given.
    pub fn start_as(
        namespace: &Namespace,
        kubeconfig: &Path,
        extra: &str,
        args: &[&str],
        memory_limit_kb: Option<u64>,
    ) -> Operator {
        let mut operator =
            Operator::configure(namespace, &cluster().git_url, extra, args, ServingGuard::shared());
        operator.kubeconfig = kubeconfig.to_path_buf();
        operator.memory_limit_kb = memory_limit_kb;
        operator.spawn();
        operator
    }

    /// The process's peak resident set and peak address space, in KiB
    /// (`VmHWM`, `VmPeak`); fails the test when the process is not running
    /// (then it has no memory to tell, and a bound would hold for nothing).
    pub fn peak_memory_kb(&self) -> (u64, u64) {
        let pid = self
            .child
            .as_ref()
            .map(std::process::Child::id)
            .unwrap_or_default();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kb| kb.parse().ok())
                .unwrap_or_default()
        };
        let (rss, peak) = (field("VmHWM:"), field("VmPeak:"));
        assert!(
            rss > 0 && peak > 0,
            "the operator (pid {pid}) is not running: /proc/{pid}/status says {status:?}"
        );
        (rss, peak)
    }

    /// Like [`Operator::start`], serving every namespace rather than its
    /// own only (which still holds its credentials and Applications); while
    /// it runs no other operator does.
    pub fn start_for_all_namespaces(namespace: &Namespace) -> Operator {
        let alone = ServingGuard::Alone(SERVING.write().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut operator = Operator::configure(namespace, &cluster().git_url, "", &[], alone);
        operator.all_namespaces = true;
        operator.spawn();
        operator
    }

    /// Writes the configuration and credentials; the process is not started.
    fn configure(
        namespace: &Namespace,
        git_url: &str,
        extra: &str,
        args: &[&str],
        serving: ServingGuard,
    ) -> Operator {
        let cluster = cluster();
        cluster.install_stand_in_crds();
        let secret = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: git-push, namespace: {}}}\nstringData: {{username: {}, password: {}}}\n",
            namespace.name, cluster.git_username, cluster.git_token
        );
        let applied = cluster.kubectl(&["apply", "-f", "-"], Some(&secret));
        assert!(applied.status.success(), "creating the git credentials Secret");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = dir.path().join("config.yaml");
        // Tests that are not about tenancy publish under any owner, to the
        // git server, make Applications in project `default` for any
        // namespace, and read git-sourced Templates from the git server (plain
        // http on loopback); `extra` replaces any of these sections by naming
        // it.
        let mut sections = String::new();
        if !extra.contains("tenancy:") {
            sections.push_str(
                "tenancy: {publishOwners: [\"*\"], argocd: {projects: [default], destinations: [{namespace: \"*\"}]}}\n",
            );
        }
        if !extra.contains("templateSources:") {
            let authority = cluster.git_url.trim_start_matches("http://");
            sections.push_str(&format!(
                "templateSources: {{hosts: [\"{authority}\"], allowHttp: true}}\n"
            ));
        }
        if !extra.contains("gitHosts:") {
            sections.push_str(&format!(
                "gitHosts:\n  - host: github.com\n    url: \"{git_url}/{{owner}}-{{repo}}.git\"\n    credentialsSecret: git-push\n"
            ));
        }
        std::fs::write(
            &config,
            format!(
                "argocd: {{namespace: {ns}, destinationServer: https://kubernetes.default.svc}}\n\
                 kubernetesApply:\n  allow:\n    - {{apiGroup: tekton.dev, kind: Pipeline}}\n{sections}{extra}",
                ns = namespace.name
            ),
        )
        .expect("writing the operator configuration");
        Operator {
            child: None,
            namespace: namespace.name.clone(),
            http_port: free_port(),
            args: args.iter().map(|a| a.to_string()).collect(),
            kubeconfig: namespace.chart_identity().to_path_buf(),
            log: dir.path().join("operator.log"),
            cache: dir.path().join("cache"),
            config,
            all_namespaces: false,
            memory_limit_kb: None,
            _serving: serving,
            _dir: dir,
        }
    }

    /// Starts an operator whose own namespace is `namespace`, that serves
    /// every namespace, with the configuration file `config` and the chart's
    /// RBAC rendered with `helm_args`; while it runs no other operator does.
    pub fn start_serving_all(namespace: &Namespace, config: &str, helm_args: &[String]) -> Operator {
        let serving = ServingGuard::Alone(SERVING.write().unwrap_or_else(std::sync::PoisonError::into_inner));
        let cluster = cluster();
        cluster.install_stand_in_crds();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, config).expect("writing the operator configuration");
        let mut operator = Operator {
            child: None,
            namespace: namespace.name.clone(),
            http_port: free_port(),
            args: Vec::new(),
            kubeconfig: namespace.chart_identity_with(helm_args).to_path_buf(),
            log: dir.path().join("operator.log"),
            cache: dir.path().join("cache"),
            config: path,
            all_namespaces: true,
            memory_limit_kb: None,
            _serving: serving,
            _dir: dir,
        };
        operator.spawn();
        operator
    }

    /// Like [`Operator::start_with`], with its template cache in `cache`
    /// (another operator's), as one operator serving both namespaces has.
    pub fn start_sharing_cache(namespace: &Namespace, extra: &str, cache: &Path) -> Operator {
        let mut operator =
            Operator::configure(namespace, &cluster().git_url, extra, &[], ServingGuard::shared());
        operator.cache = cache.to_path_buf();
        operator.spawn();
        operator
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("opening the operator log");
        // Under a limit the shell sets it, then becomes goldpath (same pid).
        let mut command = match self.memory_limit_kb {
            Some(kb) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("ulimit -v {kb}; exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_goldpath"));
                shell
            }
            None => Command::new(env!("CARGO_BIN_EXE_goldpath")),
        };
        let child = command
            .args(["run", "--config"])
            .arg(&self.config)
            .args(["--namespace", &self.namespace])
            .args(if self.all_namespaces {
                vec![]
            } else {
                vec!["--watch-namespace", &self.namespace]
            })
            .arg("--cache-dir")
            .arg(&self.cache)
            .arg(format!("--http-addr=127.0.0.1:{}", self.http_port))
            .args(&self.args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "info,kube=warn")
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("starting goldpath run");
        self.child = Some(child);
    }

    /// Kills the process with SIGKILL, as a node failure would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again after [`Operator::kill`].
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Stops the process with SIGTERM and returns how it exited.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// Everything the operator logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GETs `path` from the operator's HTTP endpoint: the status code and
    /// body, or `None` while nothing listens.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.http_port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
        Some((status, if chunked { dechunk(body)? } else { body.to_string() }))
    }

    /// Waits until `/readyz` answers 200: every catalog watch has listed.
    pub fn wait_ready(&self) {
        wait_for("the operator's /readyz", Duration::from_secs(60), || {
            self.get("/readyz").filter(|(status, _)| *status == 200)
        });
    }

    /// The value of the sample `series` (a name with its labels, as
    /// `/metrics` prints it), or `None` when it is not there. Fails the test
    /// when `/metrics` cannot be read.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (status, body) = self.get("/metrics").expect("reading the operator's /metrics");
        assert_eq!(status, 200, "/metrics: {body}");
        body.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
    }
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("address").port()
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.terminate();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- operator log ({}), last 60 lines ---\n{}",
                self.namespace,
                lines[lines.len().saturating_sub(60)..].join("\n")
            );
        }
    }
}

impl Cluster {
    /// CRDs of kinds the samples write whose projects' modules the proxy
    /// does not serve (Tekton's Pipeline): schemaless stand-ins, so a
    /// `kubernetes:apply` step has a kind to write.
    pub fn install_stand_in_crds(&self) {
        static DONE: OnceLock<()> = OnceLock::new();
        DONE.get_or_init(|| {
            let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                metadata: {name: pipelines.tekton.dev}\n\
                spec:\n  group: tekton.dev\n  names: {kind: Pipeline, plural: pipelines, singular: pipeline}\n  scope: Namespaced\n\
                \x20 versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n";
            let applied = self.kubectl(&["apply", "--server-side", "-f", "-"], Some(crd));
            assert!(
                applied.status.success(),
                "installing the Pipeline stand-in: {}",
                String::from_utf8_lossy(&applied.stderr)
            );
            self.kubectl_ok(&["wait", "--for=condition=Established", "crd/pipelines.tekton.dev"]);
        });
    }

    /// Runs `git` with the push user's credentials on every URL of the git server.
    pub fn git(&self, args: &[&str], dir: Option<&Path>) -> Output {
        let authority = self.git_url.trim_start_matches("http://");
        let mut command = Command::new("git");
        command
            .args([
                "-c",
                &format!(
                    "url.http://{}:{}@{authority}/.insteadOf={}/",
                    self.git_username, self.git_token, self.git_url
                ),
            ])
            .args([
                "-c",
                "user.name=e2e",
                "-c",
                "user.email=e2e@localhost",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0");
        if let Some(dir) = dir {
            command.current_dir(dir);
        }
        command.output().expect("running git")
    }

    /// Clones branch `main` of `repository` (its name on the git server) into `into`.
    pub fn clone_repository(&self, repository: &str, into: &Path) {
        let url = format!("{}/{repository}.git", self.git_url);
        let output = self.git(
            &[
                "clone",
                "--quiet",
                "--branch",
                "main",
                &url,
                &into.to_string_lossy(),
            ],
            None,
        );
        assert!(
            output.status.success(),
            "git clone {url}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Pushes one commit holding `files` (path, text) to `branch` of
    /// `repository` on the git server, as someone other than goldpath.
    pub fn push_commit(&self, repository: &str, branch: &str, files: &[(&str, &str)]) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let work = dir.path();
        for (path, text) in files {
            std::fs::write(work.join(path), text).expect("writing a file to commit");
        }
        let remote = format!("{}/{repository}.git", self.git_url);
        let refspec = format!("HEAD:{branch}");
        for args in [
            vec!["init", "--quiet"],
            vec!["add", "."],
            vec!["commit", "--quiet", "--allow-empty", "-m", "theirs"],
            vec!["push", "--quiet", &remote, &refspec],
        ] {
            let output = self.git(&args, Some(work));
            assert!(
                output.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// Where the git server keeps `repository` on disk.
    pub fn git_server_repository(&self, repository: &str) -> PathBuf {
        self.state
            .join("softserve/repos")
            .join(format!("{repository}.git"))
    }

    /// Removes the lock file of `reference` in `repository` on the git
    /// server if it is older than 5 s, which a live git process never holds
    /// it for: what the server's administrator does about a lock a git
    /// process that died there left behind.
    pub fn remove_stale_lock(&self, repository: &str, reference: &str) {
        let lock = self
            .git_server_repository(repository)
            .join(format!("{reference}.lock"));
        let stale = std::fs::metadata(&lock)
            .and_then(|m| m.modified())
            .is_ok_and(|modified| modified.elapsed().unwrap_or_default() > Duration::from_secs(5));
        if stale {
            std::fs::remove_file(&lock).unwrap_or_else(|e| panic!("removing {}: {e}", lock.display()));
            eprintln!("removed the stale lock {}", lock.display());
        }
    }

    /// The commits on branch `main` of `repository`, newest first.
    pub fn commits(&self, repository: &str) -> Vec<String> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        self.clone_repository(repository, &dir.path().join("r"));
        let output = self.git(&["rev-list", "HEAD"], Some(&dir.path().join("r")));
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// A port that refuses connections until opened, then forwards them to a
/// server: a git server that is down for a while.
pub struct Gate {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    port: u16,
    target: String,
}

impl Gate {
    /// A closed gate in front of `target` (`http://host:port`).
    pub fn closed(target: &str) -> Gate {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        Gate {
            url: format!("http://127.0.0.1:{port}"),
            port,
            target: target.trim_start_matches("http://").to_string(),
        }
    }

    /// Starts forwarding, for the rest of the test process.
    pub fn open(&self) {
        self.open_slowly(Duration::ZERO);
    }

    /// Starts forwarding, each connection only after `delay`: a slow
    /// server, whose every call takes at least that long.
    pub fn open_slowly(&self, delay: Duration) {
        let listener =
            std::net::TcpListener::bind(("127.0.0.1", self.port)).expect("reopening the gate's port");
        let target = self.target.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let target = target.clone();
                std::thread::spawn(move || forward(client, &target, delay));
            }
        });
    }
}

/// Forwards `client` to `target` after `delay`, both ways.
fn forward(client: std::net::TcpStream, target: &str, delay: Duration) {
    std::thread::sleep(delay);
    let Ok(server) = std::net::TcpStream::connect(target) else {
        return;
    };
    for (mut from, mut to) in [
        (
            client.try_clone().expect("socket"),
            server.try_clone().expect("socket"),
        ),
        (server, client),
    ] {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    }
}

/// A chunked HTTP/1.1 body (a streamed response such as `/catalog.yaml`)
/// as one text: each chunk is its size in hex, CRLF, the bytes, CRLF; a
/// chunk of size 0 ends it.
fn dechunk(mut body: &str) -> Option<String> {
    let mut text = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(text);
        }
        text.push_str(rest.get(..size)?);
        body = rest.get(size..)?.strip_prefix("\r\n")?;
    }
}
