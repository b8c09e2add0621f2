//! The Node reference (`reference.js`): installed from the npm registry with
//! the versions `package-lock.json` pins, into a cache outside the checkout,
//! and fed cases in batches, one process per batch, JSON lines both ways.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One template (or step input) to render, with how to render it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    /// What the case is, for failure messages.
    #[serde(default)]
    pub name: String,
    pub template: String,
    #[serde(default)]
    pub context: serde_json::Value,
    /// `text` (a skeleton file) or `value` (a step input string).
    #[serde(default = "text")]
    pub mode: String,
    /// cookiecutterCompat: `{{ }}` and nunjucks' jinja-compat.
    #[serde(default)]
    pub compat: bool,
    #[serde(default, rename = "trimBlocks")]
    pub trim_blocks: bool,
    #[serde(default, rename = "lstripBlocks")]
    pub lstrip_blocks: bool,
}

fn text() -> String {
    "text".into()
}

/// What one engine made of a case.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Outcome {
    /// The text or value; `Some(Null)` for a value that is null.
    #[serde(default, deserialize_with = "present")]
    pub ok: Option<serde_json::Value>,
    #[serde(default)]
    pub undefined: bool,
    pub error: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// The reference's answer: Backstage's engine today, and nunjucks 3.2.4.
#[derive(Debug, Clone, Deserialize)]
pub struct Answer {
    pub nunjitsu: Outcome,
    pub nunjucks: Outcome,
}

/// The installed reference: a directory holding `reference.js` and its
/// `node_modules`.
pub struct Reference {
    dir: PathBuf,
}

impl Reference {
    /// Installs the reference once per machine and lockfile (`npm ci`),
    /// under `~/.cache/goldpath/nunjucks-<digest>`.
    pub fn install() -> Reference {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nunjucks");
        let mut digest = Sha256::new();
        for file in ["package.json", "package-lock.json", "reference.js"] {
            digest.update(std::fs::read(source.join(file)).unwrap());
        }
        let digest: String = digest.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
        let dir = cache.join("goldpath").join(format!("nunjucks-{digest}"));
        if !dir.join("node_modules/nunjitsu/package.json").exists() {
            // One staging directory per install: the tests of one process
            // run at once, and may each install.
            static INSTALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let install = INSTALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let staging = cache
                .join("goldpath")
                .join(format!("nunjucks-{digest}.{}.{install}", std::process::id()));
            let _ = std::fs::remove_dir_all(&staging);
            std::fs::create_dir_all(&staging).unwrap();
            for file in ["package.json", "package-lock.json", "reference.js"] {
                std::fs::copy(source.join(file), staging.join(file)).unwrap();
            }
            let status = Command::new("npm")
                .args([
                    "ci",
                    "--ignore-scripts",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                ])
                .current_dir(&staging)
                .status()
                .expect("npm is needed for the nunjucks reference (hack/setup installs it)");
            assert!(status.success(), "npm ci of the nunjucks reference failed");
            // Another test process may have installed it meanwhile; either copy will do.
            if std::fs::rename(&staging, &dir).is_err() {
                let _ = std::fs::remove_dir_all(&staging);
            }
        }
        Reference { dir }
    }

    /// Renders `cases` with one reference process, in order.
    pub fn render(&self, cases: &[Case]) -> Vec<Answer> {
        let mut child = Command::new("node")
            .arg("reference.js")
            .current_dir(&self.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node is needed for the nunjucks reference");
        let mut stdin = child.stdin.take().unwrap();
        let input: Vec<u8> = cases
            .iter()
            .flat_map(|case| {
                let mut line = serde_json::to_vec(case).unwrap();
                line.push(b'\n');
                line
            })
            .collect();
        let writer = std::thread::spawn(move || {
            stdin.write_all(&input).unwrap();
        });
        let answers: Vec<Answer> = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map(|line| serde_json::from_str(&line.unwrap()).unwrap())
            .collect();
        writer.join().unwrap();
        assert!(child.wait().unwrap().success(), "the nunjucks reference failed");
        assert_eq!(answers.len(), cases.len(), "the reference answered every case");
        answers
    }
}
