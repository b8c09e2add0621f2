//! The compatibility suite: Backstage-style templates in `tests/compat/`,
//! each run through `goldpath scaffold` as a user runs it, with the rendered
//! workspace, the cluster objects and what the command printed compared to
//! the expected tree checked in beside it (and the warnings it printed, in
//! `stderr.txt`). `GOLDPATH_BLESS=1` rewrites the
//! expected trees from the current output, for review in the diff.

// Tests report failures by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use goldpath::engine::files::{self, FileEntry, FileTree};

/// The compat cases' trees are small; they are read whole.
const WHOLE: files::ReadBounds = files::ReadBounds {
    max_depth: 64,
    max_files: 100_000,
    max_bytes: 1 << 30,
};

fn case_dir(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat")
        .join(case)
}

/// Runs the case and returns what it produced, with the output directory
/// written as `$OUT` so that trees compare across machines.
fn scaffold(case: &str) -> FileTree {
    let dir = case_dir(case);
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_goldpath"))
        .arg("scaffold")
        .arg(dir.join("template.yaml"))
        .arg("--values")
        .arg(dir.join("values.yaml"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let out_path = out.path().canonicalize().unwrap().display().to_string();
    let placeholder = |text: &str| {
        text.replace(&out_path, "$OUT")
            .replace(&out.path().display().to_string(), "$OUT")
    };
    assert!(
        output.status.success(),
        "{case}: goldpath scaffold failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut produced = FileTree::new();
    for part in ["workspace", "cluster"] {
        let tree = files::read_dir(&out.path().join(part), WHOLE).unwrap_or_default();
        for (path, entry) in tree {
            let entry = match entry {
                FileEntry::File { contents, executable } => match String::from_utf8(contents) {
                    Ok(text) => FileEntry::File {
                        contents: placeholder(&text).into_bytes(),
                        executable,
                    },
                    Err(raw) => FileEntry::File {
                        contents: raw.into_bytes(),
                        executable,
                    },
                },
                symlink => symlink,
            };
            produced.insert(format!("{part}/{path}"), entry);
        }
    }
    produced.insert(
        "stdout.txt".into(),
        FileEntry::text(placeholder(&String::from_utf8_lossy(&output.stdout))),
    );
    // Warnings, naming the template file as `$CASE/template.yaml`.
    let stderr = String::from_utf8_lossy(&output.stderr).replace(&dir.display().to_string(), "$CASE");
    if !stderr.is_empty() {
        produced.insert("stderr.txt".into(), FileEntry::text(placeholder(&stderr)));
    }
    produced
}

fn check(case: &str) {
    let produced = scaffold(case);
    let expected_dir = case_dir(case).join("expected");
    if std::env::var_os("GOLDPATH_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(&expected_dir);
        files::write_dir(&produced, &expected_dir).unwrap();
        return;
    }
    let expected = files::read_dir(&expected_dir, WHOLE)
        .unwrap_or_else(|e| panic!("{case}: no expected tree in {} ({e})", expected_dir.display()));
    let names = |tree: &FileTree| tree.keys().cloned().collect::<Vec<_>>();
    pretty_assertions::assert_eq!(names(&produced), names(&expected), "{case}: the files differ");
    for (path, entry) in &expected {
        let got = &produced[path];
        match (got, entry) {
            (
                FileEntry::File {
                    contents: a,
                    executable: x,
                },
                FileEntry::File {
                    contents: b,
                    executable: y,
                },
            ) => {
                pretty_assertions::assert_eq!(
                    String::from_utf8_lossy(a),
                    String::from_utf8_lossy(b),
                    "{case}: {path} differs"
                );
                assert_eq!(a, b, "{case}: {path} differs byte for byte");
                assert_eq!(x, y, "{case}: {path} executable bit differs");
            }
            _ => assert_eq!(got, entry, "{case}: {path} differs"),
        }
    }
}

#[test]
fn steps_expressions_filters_if_and_each() {
    check("steps");
}

#[test]
fn skeleton_rendering() {
    check("skeleton");
}

#[test]
fn cookiecutter_compatibility() {
    check("cookiecutter");
}

#[test]
fn the_seed_spring_boot_template() {
    check("spring-boot");
}

#[test]
fn what_backstage_tolerates_renders_as_in_backstage_with_warnings() {
    check("tolerance");
}

#[test]
fn backstage_expression_semantics() {
    check("nunjucks");
}
