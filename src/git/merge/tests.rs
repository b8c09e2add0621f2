use super::*;

fn labels() -> MergeLabels {
    MergeLabels {
        base: "template r1".to_owned(),
        ours: "repository".to_owned(),
        theirs: "template r2".to_owned(),
    }
}

fn tree(files: &[(&str, &[u8])]) -> FileTree {
    files
        .iter()
        .map(|(path, contents)| ((*path).to_owned(), FileEntry::text(*contents)))
        .collect()
}

fn text(merged: &Merged, path: &str) -> String {
    match merged.files.get(path) {
        Some(FileEntry::File { contents, .. }) => String::from_utf8_lossy(contents).into_owned(),
        other => panic!("{path}: expected a file, found {other:?}"),
    }
}

fn conflict(path: &str, kind: ConflictKind) -> Conflict {
    Conflict {
        path: path.to_owned(),
        kind,
    }
}

const README_V1: &[u8] = b"# service\n\nintro\n\nbuild: make\n\nlicense: MIT\n";

#[test]
fn a_template_change_to_lines_the_repository_left_alone_merges_cleanly() {
    let base = tree(&[("README.md", README_V1)]);
    let ours = tree(&[(
        "README.md",
        b"# service\n\nintro, written by the team\n\nbuild: make\n\nlicense: MIT\n",
    )]);
    let theirs = tree(&[(
        "README.md",
        b"# service\n\nintro\n\nbuild: cargo build\n\nlicense: MIT\n",
    )]);
    let merged = merge_trees(&base, &ours, &theirs, &labels()).unwrap();
    assert_eq!(merged.conflicts, vec![]);
    assert_eq!(
        text(&merged, "README.md"),
        "# service\n\nintro, written by the team\n\nbuild: cargo build\n\nlicense: MIT\n"
    );
}

#[test]
fn both_sides_changing_the_same_lines_leave_markers_and_list_the_path() {
    let base = tree(&[("README.md", README_V1), ("a.txt", b"a\n")]);
    let ours = tree(&[
        (
            "README.md",
            b"# service\n\nintro\n\nbuild: just\n\nlicense: MIT\n",
        ),
        ("a.txt", b"a\n"),
    ]);
    let theirs = tree(&[
        (
            "README.md",
            b"# service\n\nintro\n\nbuild: cargo build\n\nlicense: MIT\n",
        ),
        ("a.txt", b"a2\n"),
    ]);
    let merged = merge_trees(&base, &ours, &theirs, &labels()).unwrap();
    assert_eq!(
        merged.conflicts,
        vec![conflict("README.md", ConflictKind::Content)]
    );
    let readme = text(&merged, "README.md");
    assert!(
        readme
            .contains("<<<<<<< repository\nbuild: just\n=======\nbuild: cargo build\n>>>>>>> template r2\n"),
        "{readme}"
    );
    assert!(readme.starts_with("# service\n\nintro\n\n"), "{readme}");
    assert_eq!(text(&merged, "a.txt"), "a2\n");
}

#[test]
fn a_file_the_repository_edited_and_the_template_did_not_change_is_kept() {
    let base = tree(&[("src/main.rs", b"fn main() {}\n"), ("Makefile", b"all:\n")]);
    let ours = tree(&[("src/main.rs", b"fn main() { run() }\n"), ("Makefile", b"all:\n")]);
    let theirs = tree(&[("src/main.rs", b"fn main() {}\n"), ("Makefile", b"all: build\n")]);
    let merged = merge_trees(&base, &ours, &theirs, &labels()).unwrap();
    assert_eq!(merged.conflicts, vec![]);
    assert_eq!(text(&merged, "src/main.rs"), "fn main() { run() }\n");
    assert_eq!(text(&merged, "Makefile"), "all: build\n");
}

#[test]
fn files_the_repository_added_stay_and_files_the_template_added_arrive() {
    let base = tree(&[("README.md", README_V1)]);
    let ours = tree(&[("README.md", README_V1), ("docs/ours.md", b"ours\n")]);
    let theirs = tree(&[("README.md", README_V1), (".github/ci.yaml", b"on: push\n")]);
    let merged = merge_trees(&base, &ours, &theirs, &labels()).unwrap();
    assert_eq!(merged.conflicts, vec![]);
    assert_eq!(
        merged.files.keys().collect::<Vec<_>>(),
        vec![".github/ci.yaml", "README.md", "docs/ours.md"]
    );
}

#[test]
fn both_sides_adding_the_same_path_differently_conflict_with_markers() {
    let base = tree(&[]);
    let ours = tree(&[("ci.yaml", b"on: push\n")]);
    let theirs = tree(&[("ci.yaml", b"on: pull_request\n")]);
    let merged = merge_trees(&base, &ours, &theirs, &labels()).unwrap();
    assert_eq!(merged.conflicts, vec![conflict("ci.yaml", ConflictKind::Content)]);
    let ci = text(&merged, "ci.yaml");
    assert!(
        ci.contains("on: push") && ci.contains("on: pull_request") && ci.contains("======="),
        "{ci}"
    );
}

#[test]
fn a_file_the_template_deleted_goes_unless_the_repository_changed_it() {
    let base = tree(&[("old.txt", b"old\n"), ("edited.txt", b"v1\n"), ("keep", b"k\n")]);
    let ours = tree(&[
        ("old.txt", b"old\n"),
        ("edited.txt", b"v1, edited\n"),
        ("keep", b"k\n"),
    ]);
    let theirs = tree(&[("keep", b"k\n")]);
    let merged = merge_trees(&base, &ours, &theirs, &labels()).unwrap();
    assert!(!merged.files.contains_key("old.txt"));
    assert_eq!(text(&merged, "edited.txt"), "v1, edited\n");
    assert_eq!(
        merged.conflicts,
        vec![conflict("edited.txt", ConflictKind::DeletedByTemplate)]
    );
}

#[test]
fn a_file_the_repository_deleted_stays_deleted_and_is_listed_when_the_template_changed_it() {
    let base = tree(&[("a.txt", b"a\n"), ("b.txt", b"b\n")]);
    let ours = tree(&[]);
    let theirs = tree(&[("a.txt", b"a2\n"), ("b.txt", b"b\n")]);
    let merged = merge_trees(&base, &ours, &theirs, &labels()).unwrap();
    assert!(merged.files.is_empty(), "{:?}", merged.files);
    assert_eq!(
        merged.conflicts,
        vec![conflict("a.txt", ConflictKind::DeletedInRepository)]
    );
}

const SERVICE: &[u8] = b"line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\n";
const SERVICE_EDITED: &[u8] =
    b"line 1 (ours)\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\n";

#[test]
fn a_file_the_template_renamed_carries_the_repository_edit_to_its_new_name() {
    let base = tree(&[("service.conf", SERVICE)]);
    let ours = tree(&[("service.conf", SERVICE_EDITED)]);
    let theirs = tree(&[("config/service.conf", SERVICE)]);
    let merged = merge_trees(&base, &ours, &theirs, &labels()).unwrap();
    assert_eq!(merged.conflicts, vec![]);
    assert_eq!(
        merged.files.keys().collect::<Vec<_>>(),
        vec!["config/service.conf"]
    );
    assert_eq!(text(&merged, "config/service.conf").as_bytes(), SERVICE_EDITED);
}

#[test]
fn a_file_the_repository_renamed_receives_the_template_change() {
    let base = tree(&[("service.conf", SERVICE)]);
    let ours = tree(&[("etc/service.conf", SERVICE)]);
    let theirs = tree(&[("service.conf", SERVICE_EDITED)]);
    let merged = merge_trees(&base, &ours, &theirs, &labels()).unwrap();
    assert_eq!(merged.conflicts, vec![]);
    assert_eq!(merged.files.keys().collect::<Vec<_>>(), vec!["etc/service.conf"]);
    assert_eq!(text(&merged, "etc/service.conf").as_bytes(), SERVICE_EDITED);
}

#[test]
fn a_binary_file_both_changed_keeps_the_repository_version_without_markers() {
    let base = tree(&[("logo.png", b"\x89PNG\0\x01base"), ("font.bin", b"\0f1")]);
    let ours = tree(&[("logo.png", b"\x89PNG\0\x01ours"), ("font.bin", b"\0f1")]);
    let theirs = tree(&[("logo.png", b"\x89PNG\0\x01theirs"), ("font.bin", b"\0f2")]);
    let merged = merge_trees(&base, &ours, &theirs, &labels()).unwrap();
    assert_eq!(merged.conflicts, vec![conflict("logo.png", ConflictKind::Binary)]);
    assert_eq!(
        merged.files.get("logo.png"),
        Some(&FileEntry::text(&b"\x89PNG\0\x01ours"[..]))
    );
    // A binary file only the template changed takes the template's bytes.
    assert_eq!(merged.files.get("font.bin"), Some(&FileEntry::text(&b"\0f2"[..])));
}

#[test]
fn modes_and_symlinks_survive_the_merge() {
    let mut base = tree(&[("run.sh", b"echo 1\nexit 0\n")]);
    base.insert(
        "link".to_owned(),
        FileEntry::Symlink {
            target: "run.sh".to_owned(),
        },
    );
    let mut ours = base.clone();
    ours.insert(
        "run.sh".to_owned(),
        FileEntry::File {
            contents: b"echo 1\nexit 0\n".to_vec(),
            executable: true,
        },
    );
    let mut theirs = tree(&[("run.sh", b"echo 2\nexit 0\n")]);
    theirs.insert(
        "link".to_owned(),
        FileEntry::Symlink {
            target: "bin/run.sh".to_owned(),
        },
    );
    let merged = merge_trees(&base, &ours, &theirs, &labels()).unwrap();
    assert_eq!(merged.conflicts, vec![]);
    assert_eq!(
        merged.files.get("run.sh"),
        Some(&FileEntry::File {
            contents: b"echo 2\nexit 0\n".to_vec(),
            executable: true,
        })
    );
    assert_eq!(
        merged.files.get("link"),
        Some(&FileEntry::Symlink {
            target: "bin/run.sh".to_owned()
        })
    );
}

#[test]
fn a_symlink_both_changed_keeps_the_repository_target() {
    let link = |target: &str| {
        let mut files = FileTree::new();
        files.insert(
            "current".to_owned(),
            FileEntry::Symlink {
                target: target.to_owned(),
            },
        );
        files
    };
    let merged = merge_trees(&link("v1"), &link("v1-local"), &link("v2"), &labels()).unwrap();
    assert_eq!(merged.conflicts, vec![conflict("current", ConflictKind::Binary)]);
    assert_eq!(merged.files, link("v1-local"));
}

#[test]
fn an_unchanged_template_changes_nothing() {
    let base = tree(&[("README.md", README_V1)]);
    let ours = tree(&[("README.md", b"rewritten\n"), ("extra", b"x\n")]);
    let merged = merge_trees(&base, &ours, &base, &labels()).unwrap();
    assert_eq!(
        merged,
        Merged {
            files: ours,
            conflicts: vec![]
        }
    );
}

#[test]
fn a_path_git_refuses_is_an_error_naming_it() {
    let bad = tree(&[("../escape", b"x\n")]);
    let error = merge_trees(&tree(&[]), &tree(&[]), &bad, &labels()).unwrap_err();
    assert!(error.to_string().contains("../escape"), "{error}");
}
