//! `goldpath upgrade`: a template's change since a git revision, merged
//! into a repository made from it, through the binary as a user runs it.

// Tests report failures by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const TEMPLATE: &str = "apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: service
spec:
  type: service
  parameters:
    properties:
      name: {type: string}
  steps:
    - id: fetch
      action: fetch:template
      input:
        url: ./skeleton
        values:
          name: ${{ parameters.name }}
";

const README_V1: &str = "# ${{ values.name }}\n\nA service.\n\nBuild: make\n\nLicense: MIT\n";
const README_V2: &str = "# ${{ values.name }}\n\nA service.\n\nBuild: cargo build\n\nLicense: MIT\n";
const CONFIG: &str = "name: ${{ values.name }}\nport: 8080\nreplicas: 1\nlog: info\n";

fn write(root: &Path, files: &[(&str, &str)]) {
    for (path, contents) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

/// Commits everything in the work tree of `repo` (staging deletions too).
fn commit_all(repo: &git2::Repository, message: &str) -> git2::Oid {
    let mut index = repo.index().unwrap();
    index.add_all(["*"], git2::IndexAddOption::DEFAULT, None).unwrap();
    index.update_all(["*"], None).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = git2::Signature::now("Test", "test@example.com").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &parents)
        .unwrap()
}

/// A template repository whose first commit (tagged `v1`) is the template
/// with `v1`; its work tree then holds `v2` uncommitted, as an author has
/// it before publishing.
fn template_repo(v1: &[(&str, &str)], v2: &[(&str, &str)], removed: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(dir.path()).unwrap();
    write(dir.path(), &[("template.yaml", TEMPLATE)]);
    write(dir.path(), v1);
    let commit = commit_all(&repo, "v1");
    repo.tag_lightweight("v1", &repo.find_object(commit, None).unwrap(), false)
        .unwrap();
    write(dir.path(), v2);
    for path in removed {
        std::fs::remove_file(dir.path().join(path)).unwrap();
    }
    dir
}

/// A repository made from the template at `v1` with `name`: `goldpath
/// render`'s output, committed, then `edits` committed on top.
fn made_repo(template: &Path, name: &str, edits: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let old = tempfile::tempdir().unwrap();
    let source = git2::Repository::open(template).unwrap();
    let v1 = source.revparse_single("v1").unwrap().peel_to_commit().unwrap();
    // The template as it was at v1, rendered as it was published.
    let mut checkout = git2::build::CheckoutBuilder::new();
    checkout.target_dir(old.path()).force();
    source.checkout_tree(v1.as_object(), Some(&mut checkout)).unwrap();
    let values = old.path().join("values.yaml");
    std::fs::write(&values, format!("name: {name}\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_goldpath"))
        .arg("render")
        .arg(old.path().join("template.yaml"))
        .arg("--values")
        .arg(&values)
        .arg("--out")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let repo = git2::Repository::init(dir.path()).unwrap();
    commit_all(&repo, "made from the template");
    write(dir.path(), edits);
    commit_all(&repo, "local edits");
    dir
}

struct Upgraded {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn upgrade(template: &Path, from: &str, repo: &Path, name: &str) -> Upgraded {
    let values = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(values.path(), format!("name: {name}\n")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_goldpath"))
        .arg("upgrade")
        .arg(template.join("template.yaml"))
        .args(["--from", from, "--repo"])
        .arg(repo)
        .arg("--values")
        .arg(values.path())
        .output()
        .unwrap();
    Upgraded {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn read(dir: &Path, path: &str) -> String {
    std::fs::read_to_string(dir.join(path)).unwrap()
}

#[test]
fn a_template_change_merges_into_the_work_tree_and_keeps_local_edits() {
    let template = template_repo(
        &[
            ("skeleton/README.md", README_V1),
            ("skeleton/config.yaml", CONFIG),
            ("skeleton/old.txt", "retired\n"),
        ],
        &[
            ("skeleton/README.md", README_V2),
            ("skeleton/ci.yaml", "on: push\n"),
        ],
        &["skeleton/old.txt"],
    );
    let repo = made_repo(
        template.path(),
        "payments",
        &[(
            "config.yaml",
            "name: payments\nport: 8080\nreplicas: 3\nlog: info\n",
        )],
    );
    let run = upgrade(template.path(), "v1", repo.path(), "payments");
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert_eq!(
        read(repo.path(), "README.md"),
        "# payments\n\nA service.\n\nBuild: cargo build\n\nLicense: MIT\n"
    );
    assert_eq!(read(repo.path(), "ci.yaml"), "on: push\n");
    assert!(!repo.path().join("old.txt").exists());
    // The repository's own edit, to a file the template did not change.
    assert_eq!(
        read(repo.path(), "config.yaml"),
        "name: payments\nport: 8080\nreplicas: 3\nlog: info\n"
    );
    assert!(run.stdout.contains("updated README.md\n"), "{}", run.stdout);
    assert!(run.stdout.contains("added ci.yaml\n"), "{}", run.stdout);
    assert!(run.stdout.contains("removed old.txt\n"), "{}", run.stdout);
    assert!(!run.stdout.contains("config.yaml"), "{}", run.stdout);
    assert!(
        run.stdout.contains("3 paths changed, 0 conflicts"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_edit_to_the_lines_the_template_changed_leaves_markers_and_is_listed() {
    let template = template_repo(
        &[
            ("skeleton/README.md", README_V1),
            ("skeleton/config.yaml", CONFIG),
        ],
        &[
            ("skeleton/README.md", README_V2),
            (
                "skeleton/config.yaml",
                "name: ${{ values.name }}\nport: 8080\nreplicas: 1\nlog: debug\n",
            ),
        ],
        &[],
    );
    let repo = made_repo(
        template.path(),
        "billing",
        &[(
            "README.md",
            "# billing\n\nA service.\n\nBuild: just build\n\nLicense: MIT\n",
        )],
    );
    let run = upgrade(template.path(), "v1", repo.path(), "billing");
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let readme = read(repo.path(), "README.md");
    assert!(
        readme.starts_with("# billing\n\nA service.\n\n<<<<<<< "),
        "{readme}"
    );
    assert!(
        readme.contains("Build: just build\n=======\nBuild: cargo build\n>>>>>>> template\n"),
        "{readme}"
    );
    assert_eq!(
        read(repo.path(), "config.yaml"),
        "name: billing\nport: 8080\nreplicas: 1\nlog: debug\n"
    );
    assert!(
        run.stdout
            .contains("conflict: README.md: both changed the same lines"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1 conflicts (1 with conflict markers)"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_revision_the_template_repository_lacks_is_an_error_naming_it() {
    let template = template_repo(&[("skeleton/README.md", README_V1)], &[], &[]);
    let repo = made_repo(template.path(), "a", &[]);
    let run = upgrade(template.path(), "v9", repo.path(), "a");
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("--from v9: not a revision of"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn a_repository_with_uncommitted_changes_is_refused_and_left_alone() {
    let template = template_repo(
        &[("skeleton/README.md", README_V1)],
        &[("skeleton/README.md", README_V2)],
        &[],
    );
    let repo = made_repo(template.path(), "a", &[]);
    std::fs::write(repo.path().join("notes.txt"), "draft\n").unwrap();
    let run = upgrade(template.path(), "v1", repo.path(), "a");
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("uncommitted changes (first: notes.txt)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        read(repo.path(), "README.md"),
        "# a\n\nA service.\n\nBuild: make\n\nLicense: MIT\n"
    );
}

#[test]
fn a_repo_that_is_not_a_git_work_tree_is_refused() {
    let template = template_repo(&[("skeleton/README.md", README_V1)], &[], &[]);
    let plain = tempfile::tempdir().unwrap();
    let run = upgrade(template.path(), "v1", plain.path(), "a");
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("not a git work tree"), "{}", run.stderr);
}

#[test]
fn values_the_old_revision_rejects_are_reported_against_that_revision() {
    let template = template_repo(&[("skeleton/README.md", README_V1)], &[], &[]);
    let repo = made_repo(template.path(), "a", &[]);
    let values = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(values.path(), "name: [not, a, string]\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_goldpath"))
        .arg("upgrade")
        .arg(template.path().join("template.yaml"))
        .args(["--from", "v1", "--repo"])
        .arg(repo.path())
        .arg("--values")
        .arg(values.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rendering the template at v1"), "{stderr}");
    assert!(stderr.contains("name"), "{stderr}");
}
