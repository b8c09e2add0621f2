//! A Template's git source that would expand past what the operator can
//! hold: `goldpath render` refuses it, under a memory limit, in little CPU
//! time, naming the limit. The same reader serves the Template controller.

// Tests report failures by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use git2::{Oid, Repository, Signature};

const MODE_TREE: i32 = 0o040000;
const MODE_FILE: i32 = 0o100644;

/// The address space `goldpath render` gets: far less than a source of
/// 10^9 paths would take, ample for a real template.
const MEMORY_LIMIT_KB: u64 = 1_000_000;

fn commit(repo: &Repository, tree: Oid) {
    let tree = repo.find_tree(tree).unwrap();
    let signature = Signature::now("t", "t@example.com").unwrap();
    repo.commit(Some("refs/heads/main"), &signature, &signature, "m", &tree, &[])
        .unwrap();
}

fn leaf(repo: &Repository) -> Oid {
    let mut builder = repo.treebuilder(None).unwrap();
    let blob = repo.blob(b"# ${{ parameters.name }}\n").unwrap();
    builder.insert("README.md", blob, MODE_FILE).unwrap();
    builder.write().unwrap()
}

/// A tree of `entries` names for the same `child`.
fn fan_out(repo: &Repository, child: Oid, entries: usize) -> Oid {
    let mut builder = repo.treebuilder(None).unwrap();
    for name in 0..entries {
        builder.insert(name.to_string(), child, MODE_TREE).unwrap();
    }
    builder.write().unwrap()
}

/// A repository whose `skeleton` is `levels` levels of `entries` names.
fn repository(dir: &Path, levels: usize, entries: usize) -> String {
    let repo = Repository::init_bare(dir.join("source.git")).unwrap();
    let mut tree = leaf(&repo);
    for _ in 0..levels {
        tree = fan_out(&repo, tree, entries);
    }
    let mut root = repo.treebuilder(None).unwrap();
    root.insert("skeleton", tree, MODE_TREE).unwrap();
    let root = root.write().unwrap();
    commit(&repo, root);
    url::Url::from_file_path(dir.join("source.git"))
        .unwrap()
        .to_string()
}

/// `goldpath render` of a Template whose files are `url`, under
/// [`MEMORY_LIMIT_KB`]: (success, stderr, CPU seconds of the child).
fn render(dir: &Path, url: &str) -> (bool, String, f64) {
    let template = dir.join("template.yaml");
    std::fs::write(
        &template,
        format!(
            "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: t}}\n\
             spec:\n  type: service\n  steps:\n\
             \x20   - {{id: fetch, action: fetch:template, input: {{url: ./skeleton}}}}\n\
             \x20 source:\n    git: {{url: \"{url}\", ref: main}}\n"
        ),
    )
    .unwrap();
    // `times` prints the shell's CPU times, then its children's.
    let script = format!(
        "ulimit -v {MEMORY_LIMIT_KB}; \"$0\" render \"$1\" --out \"$2\"; status=$?; times >&2; exit $status"
    );
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_goldpath"))
        .arg(&template)
        .arg(dir.join("out"))
        // The CLI caches sources under the temporary directory.
        .env("TMPDIR", dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let children = stderr.lines().last().unwrap_or_default();
    let cpu = children.split_whitespace().map(seconds).sum();
    (output.status.success(), stderr, cpu)
}

/// `1m2.500s` as seconds.
fn seconds(time: &str) -> f64 {
    let (minutes, rest) = time.split_once('m').unwrap_or(("0", time));
    minutes.parse::<f64>().unwrap_or(0.0) * 60.0 + rest.trim_end_matches('s').parse::<f64>().unwrap_or(0.0)
}

#[test]
fn a_source_that_fits_renders_under_the_same_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let url = repository(dir.path(), 2, 3);
    let (ok, stderr, _) = render(dir.path(), &url);
    assert!(ok, "{stderr}");
    assert!(dir.path().join("out/0/2/README.md").exists());
}

#[test]
fn a_source_that_expands_to_a_billion_paths_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = repository(dir.path(), 9, 10);
    let (ok, stderr, cpu) = render(dir.path(), &url);
    assert!(!ok, "rendered a source of 10^9 files");
    assert!(
        stderr.contains("spec.source.git")
            && stderr.contains("more than 10000 files and directories (templateSourceLimits.maxFiles)"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(cpu < 2.0, "{cpu} s of CPU");
    eprintln!("10^9 paths refused in {cpu:.2} s of CPU under a {MEMORY_LIMIT_KB} KB limit");
}

#[test]
fn a_source_nested_thousands_deep_is_refused_without_overflowing_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let url = repository(dir.path(), 5000, 1);
    let (ok, stderr, cpu) = render(dir.path(), &url);
    assert!(!ok, "rendered a source 5000 directories deep");
    assert!(
        stderr.contains("directories nested more than 32 deep (templateSourceLimits.maxDepth)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("overflow") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(cpu < 2.0, "{cpu} s of CPU");
}
