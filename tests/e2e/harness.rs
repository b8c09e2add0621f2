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
}

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The control plane, brought up once per test process.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
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
            state,
        }
    })
}

impl Cluster {
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
}

impl Namespace {
    /// Creates `e2e-<prefix>-<random>`.
    pub fn new(prefix: &str) -> Namespace {
        let name = format!("e2e-{prefix}-{}", unique());
        cluster().kubectl_ok(&["create", "namespace", &name]);
        Namespace { name }
    }
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
        }
        let _ = cluster.kubectl(&["delete", "namespace", &self.name, "--wait=false"], None);
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
