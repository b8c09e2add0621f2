use git2::Signature;
use tempfile::TempDir;

use super::*;
use crate::git::test_support::*;
use crate::git::tree::{MODE_FILE, MODE_TREE};

// ---- resolve ----

#[test]
fn resolve_finds_branches_tags_and_commit_ids() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "remote.git");
    let repo = Repository::open_bare(&remote).expect("open");
    let files = template_files();
    let first = seed(&repo, &files, None, "main");
    let mut changed = files.clone();
    changed.insert("CHANGELOG.md".to_owned(), FileEntry::text("v2\n"));
    let second = seed(&repo, &changed, Some(first), "main");
    let dev = seed(&repo, &sample_files(), None, "dev");
    repo.set_head("refs/heads/main").expect("HEAD");
    repo.tag_lightweight("v1", &repo.find_object(first, None).expect("obj"), false)
        .expect("tag v1");
    let signature = Signature::now("t", "t@example.com").expect("sig");
    let annotated = repo
        .tag(
            "v2",
            &repo.find_object(second, None).expect("obj"),
            &signature,
            "release 2",
            false,
        )
        .expect("tag v2");
    assert_ne!(annotated, second);

    let resolved = |r: Option<&str>| resolve(&url, r, None);
    assert_eq!(resolved(None).expect("HEAD"), second.to_string());
    assert_eq!(resolved(Some("")).expect("empty"), second.to_string());
    assert_eq!(resolved(Some("main")).expect("main"), second.to_string());
    assert_eq!(resolved(Some("dev")).expect("dev"), dev.to_string());
    assert_eq!(
        resolved(Some("refs/heads/dev")).expect("full ref"),
        dev.to_string()
    );
    assert_eq!(resolved(Some("v1")).expect("v1"), first.to_string());
    assert_eq!(
        resolved(Some("v2")).expect("v2"),
        second.to_string(),
        "an annotated tag resolves to its commit"
    );
    // Commit ids: a tip, full and short; and one no ref points at.
    let full = second.to_string();
    assert_eq!(resolved(Some(&full)).expect("full"), full);
    assert_eq!(resolved(Some(&full[..8])).expect("short"), full);
    assert_eq!(
        resolved(Some(&full[..8].to_ascii_uppercase())).expect("upper"),
        full
    );
    let old = first.to_string();
    let mut repo_without_v1 = repo;
    repo_without_v1.tag_delete("v1").expect("delete v1");
    drop(std::mem::replace(
        &mut repo_without_v1,
        Repository::open_bare(&remote).expect("reopen"),
    ));
    assert_eq!(resolved(Some(&old)).expect("old full"), old);
    assert_eq!(resolved(Some(&old[..10])).expect("old short"), old);

    let error = resolved(Some("nope")).expect_err("missing");
    assert!(matches!(error, GitError::ReferenceNotFound { .. }), "{error:?}");
    assert!(!error.is_transient());
    assert!(error.to_string().contains("nope"), "{error}");
    let error = resolved(Some("deadbeefdeadbeef")).expect_err("unknown id");
    assert!(matches!(error, GitError::ReferenceNotFound { .. }), "{error:?}");
}

#[test]
fn resolve_of_an_empty_repository_says_it_is_empty() {
    let dir = TempDir::new().expect("tempdir");
    let (_, url) = bare_remote(&dir, "empty.git");
    let error = resolve(&url, None, None).expect_err("empty");
    assert!(matches!(error, GitError::ReferenceNotFound { .. }), "{error:?}");
    assert!(error.to_string().contains("empty"), "{error}");
}

// ---- read_tree ----

#[test]
fn read_tree_returns_a_subdirectory_with_modes_and_symlinks_and_caches_it() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url, commit) = template_remote(&dir);
    let files = template_files();
    let cache = TempDir::new().expect("cache");

    let skeleton = read_tree(
        &url,
        &commit,
        Some("skeleton"),
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect("read");
    assert_eq!(skeleton, skeleton_of(&files));
    assert_eq!(
        skeleton.get("scripts/build.sh"),
        Some(&FileEntry::File {
            contents: b"#!/bin/sh\n".to_vec(),
            executable: true
        })
    );
    assert_eq!(
        skeleton.get("link"),
        Some(&FileEntry::Symlink {
            target: "README.md".to_owned()
        })
    );
    let whole = read_tree(
        &url,
        &commit,
        None,
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect("root");
    assert_eq!(whole, files);

    for spelling in ["./skeleton/", "/skeleton", "skeleton"] {
        let again = read_tree(
            &url,
            &commit,
            Some(spelling),
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect(spelling);
        assert_eq!(again, skeleton, "{spelling}");
    }

    // The cached commit is served only to a reader that can still
    // reach the repository: with the remote gone, nothing is read.
    std::fs::remove_dir_all(&remote).expect("delete remote");
    let error = read_tree(
        &url,
        &commit,
        Some("skeleton"),
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect_err("gone");
    assert!(matches!(error, GitError::RepositoryNotFound { .. }), "{error:?}");
}

#[test]
fn a_cached_commit_is_served_only_after_the_readers_credentials_prove_access() {
    let root = TempDir::new().expect("root");
    let remote = http_remote(&root, "private.git");
    let commit = {
        let repo = Repository::open_bare(&remote).expect("open");
        seed(&repo, &template_files(), None, "main").to_string()
    };
    let server = protected_server(&root);
    let url = format!("{}/private.git", server.base);
    let cache = TempDir::new().expect("cache");
    let owner = alice();
    let read = read_tree(
        &url,
        &commit,
        Some("skeleton"),
        Some(&owner),
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect("owner reads");
    assert!(!read.is_empty());

    // Another reader names the same URL and commit: the commit is in the
    // shared cache, but without (or with wrong) credentials no byte of it
    // is returned.
    let before = server.authorizations().len();
    let error = read_tree(
        &url,
        &commit,
        Some("skeleton"),
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect_err("anonymous");
    assert!(
        matches!(error, GitError::AuthenticationFailed { .. }),
        "{error:?}"
    );
    let wrong = Credentials::new("mallory", "guessed-password");
    let error = read_tree(
        &url,
        &commit,
        None,
        Some(&wrong),
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect_err("wrong");
    assert!(
        matches!(error, GitError::AuthenticationFailed { .. }),
        "{error:?}"
    );
    assert!(
        server.authorizations().len() > before,
        "the server was asked each time"
    );
    let again = read_tree(
        &url,
        &commit,
        Some("skeleton"),
        Some(&owner),
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect("owner again");
    assert_eq!(again, read);
}

#[test]
fn read_tree_fetches_commits_that_are_no_branch_tip() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "templates.git");
    let files = template_files();
    let repo = Repository::open_bare(&remote).expect("open");
    let old = seed(&repo, &files, None, "main");
    let mut newer = files.clone();
    newer.remove("skeleton/link");
    let new = seed(&repo, &newer, Some(old), "main");
    let cache = TempDir::new().expect("cache");

    let read_new = read_tree(
        &url,
        &new.to_string(),
        None,
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect("new");
    assert_eq!(read_new, newer);
    let read_old = read_tree(
        &url,
        &old.to_string(),
        None,
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect("old");
    assert_eq!(read_old, files);
}

#[test]
fn read_tree_names_what_is_missing() {
    let dir = TempDir::new().expect("tempdir");
    let (_, url, commit) = template_remote(&dir);
    let cache = TempDir::new().expect("cache");

    let error = read_tree(
        &url,
        &commit,
        Some("skeletons/web"),
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect_err("missing path");
    assert!(matches!(error, GitError::PathNotFound { .. }), "{error:?}");
    assert!(!error.is_transient());
    let message = error.to_string();
    assert!(message.contains("skeletons/web"), "{message}");
    assert!(message.contains(&commit), "{message}");

    let error = read_tree(
        &url,
        &commit,
        Some("template.yaml"),
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect_err("a file");
    assert!(matches!(error, GitError::NotADirectory { .. }), "{error:?}");

    let error = read_tree(
        &url,
        &commit,
        Some("../x"),
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect_err("escape");
    assert!(matches!(error, GitError::InvalidPath { .. }), "{error:?}");

    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let error = read_tree(
        &url,
        unknown,
        None,
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect_err("unknown commit");
    assert!(matches!(error, GitError::CommitNotFound { .. }), "{error:?}");
    assert!(!error.is_transient());

    let error = read_tree(
        &url,
        &commit[..12],
        None,
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect_err("short id");
    assert!(matches!(error, GitError::InvalidReference { .. }), "{error:?}");
}

/// Commits `root` (a tree id) as the branch `branch` of the bare
/// repository.
fn commit_tree(repo: &Repository, root: Oid, branch: &str) -> String {
    let tree = repo.find_tree(root).expect("tree");
    let signature = Signature::now("t", "t@example.com").expect("signature");
    let commit = repo
        .commit(None, &signature, &signature, "m", &tree, &[])
        .expect("commit");
    repo.reference(&format!("refs/heads/{branch}"), commit, true, "test")
        .expect("branch");
    commit.to_string()
}

/// A tree holding `entries` names, every one the same subtree `child`.
fn fan_out(repo: &Repository, child: Oid, entries: usize) -> Oid {
    let mut builder = repo.treebuilder(None).expect("builder");
    for name in 0..entries {
        builder
            .insert(name.to_string(), child, MODE_TREE)
            .expect("insert");
    }
    builder.write().expect("write tree")
}

fn file_tree(repo: &Repository, files: &[(&str, &[u8])]) -> Oid {
    let mut builder = repo.treebuilder(None).expect("builder");
    for (name, contents) in files {
        let blob = repo.blob(contents).expect("blob");
        builder.insert(name, blob, MODE_FILE).expect("insert");
    }
    builder.write().expect("write tree")
}

fn too_large(error: GitError) -> (String, String) {
    match error {
        GitError::TooLarge { path, limit, .. } => (path, limit),
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn thousands_of_nested_directories_are_refused_at_the_depth_limit() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "deep.git");
    let commit = {
        let repo = Repository::open_bare(&remote).expect("open");
        let mut tree = file_tree(&repo, &[("README.md", b"deep\n")]);
        for _ in 0..5000 {
            tree = fan_out(&repo, tree, 1);
        }
        commit_tree(&repo, tree, "main")
    };
    let cache = TempDir::new().expect("cache");
    let limits = TemplateSourceLimits::default();
    let error = read_tree(&url, &commit, None, None, cache.path(), &limits).expect_err("too deep");
    let message = error.to_string();
    let (path, limit) = too_large(error);
    assert_eq!(
        path,
        vec!["0"; 33].join("/"),
        "the first directory past the limit"
    );
    assert!(
        limit.contains("nested more than 32 deep (templateSourceLimits.maxDepth)"),
        "{limit}"
    );
    assert!(message.contains(&commit), "{message}");
    assert!(
        !error_is_transient(&url, &commit, &cache),
        "a limit is not retried"
    );

    // The same tree read from inside passes once the rest fits.
    let inside = vec!["0"; 4990].join("/");
    let files = read_tree(&url, &commit, Some(&inside), None, cache.path(), &limits).expect("inside");
    assert_eq!(files.len(), 1);
    assert!(files.contains_key(&format!("{}/README.md", ["0"; 10].join("/"))));
}

fn error_is_transient(url: &str, commit: &str, cache: &TempDir) -> bool {
    read_tree(
        url,
        commit,
        None,
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect_err("refused")
    .is_transient()
}

#[test]
fn a_tree_of_shared_subtrees_is_refused_before_it_expands() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "bomb.git");
    // Nine levels of ten names for one subtree: 10^9 files from eleven
    // objects.
    let commit = {
        let repo = Repository::open_bare(&remote).expect("open");
        let mut tree = file_tree(&repo, &[("f", b"x")]);
        for _ in 0..9 {
            tree = fan_out(&repo, tree, 10);
        }
        commit_tree(&repo, tree, "main")
    };
    let cache = TempDir::new().expect("cache");
    let limits = TemplateSourceLimits {
        max_files: 5_000,
        ..TemplateSourceLimits::default()
    };
    let error = read_tree(&url, &commit, None, None, cache.path(), &limits).expect_err("bomb");
    let (path, limit) = too_large(error);
    assert_eq!(
        limit,
        "more than 5000 files and directories (templateSourceLimits.maxFiles)"
    );
    assert!(path.starts_with("9/"), "{path}");

    // Empty directories count too: 10^9 of them hold no file at all.
    let empty = {
        let repo = Repository::open_bare(&remote).expect("open");
        let mut tree = repo.treebuilder(None).expect("builder").write().expect("empty");
        for _ in 0..9 {
            tree = fan_out(&repo, tree, 10);
        }
        commit_tree(&repo, tree, "empty")
    };
    let error = read_tree(&url, &empty, None, None, cache.path(), &limits).expect_err("empty bomb");
    assert!(too_large(error).1.contains("maxFiles"));
}

#[test]
fn the_byte_limit_is_checked_before_a_blob_is_read() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "big.git");
    let commit = {
        let repo = Repository::open_bare(&remote).expect("open");
        let tree = file_tree(
            &repo,
            &[("a", &[b'a'; 1000]), ("b", &[b'b'; 1000]), ("c", &[b'c'; 1])],
        );
        commit_tree(&repo, tree, "main")
    };
    let cache = TempDir::new().expect("cache");
    let exact = TemplateSourceLimits {
        max_depth: 0,
        max_files: 3,
        max_bytes: 2001,
    };
    let files = read_tree(&url, &commit, None, None, cache.path(), &exact).expect("at the limits");
    assert_eq!(files.len(), 3);

    let smaller = TemplateSourceLimits {
        max_bytes: 1500,
        ..exact
    };
    let (path, limit) =
        too_large(read_tree(&url, &commit, None, None, cache.path(), &smaller).expect_err("bytes"));
    assert_eq!(path, "b");
    assert_eq!(
        limit,
        "more than 1500 bytes of files (templateSourceLimits.maxBytes)"
    );

    let fewer = TemplateSourceLimits {
        max_files: 2,
        ..exact
    };
    let (path, _) = too_large(read_tree(&url, &commit, None, None, cache.path(), &fewer).expect_err("files"));
    assert_eq!(path, "c");

    // A repository read for an upgrade has its own limits, and a refusal
    // names them.
    let whole = read_repository(&url, &commit, None, cache.path(), &exact).expect("repository");
    assert_eq!(whole, files);
    let (_, limit) =
        too_large(read_repository(&url, &commit, None, cache.path(), &smaller).expect_err("bytes"));
    assert_eq!(
        limit,
        "more than 1500 bytes of files (upgradeRepositoryLimits.maxBytes)"
    );
}

#[test]
fn long_paths_are_cut_in_the_middle_for_messages() {
    let path = vec!["directory"; 100].join("/");
    let short = shorten_path(&path);
    assert!(short.len() < 170, "{}", short.len());
    assert!(short.starts_with("directory/directory/") && short.ends_with("/directory"));
    assert!(short.contains("..."));
    assert_eq!(shorten_path("a/b"), "a/b");
}

#[test]
fn a_commit_in_a_repository_at_hand_is_read_with_the_same_walk_and_limits() {
    let dir = TempDir::new().expect("tempdir");
    let repo = Repository::init_bare(dir.path()).expect("init");
    let inner = file_tree(&repo, &[("main.rs", b"fn main() {}\n")]);
    let mut builder = repo.treebuilder(None).expect("builder");
    builder.insert("src", inner, MODE_TREE).expect("insert");
    let root = builder.write().expect("root");
    let tree = repo.find_tree(root).expect("tree");
    let signature = Signature::now("t", "t@example.com").expect("signature");
    let commit = repo
        .commit(None, &signature, &signature, "m", &tree, &[])
        .expect("commit")
        .to_string();
    let limits = TemplateSourceLimits::default();

    let files = read_tree_in(&repo, &commit, None, &limits).expect("whole tree");
    assert_eq!(files.keys().collect::<Vec<_>>(), ["src/main.rs"]);
    let files = read_tree_in(&repo, &commit, Some("./src/"), &limits).expect("subdirectory");
    assert_eq!(files.keys().collect::<Vec<_>>(), ["main.rs"]);

    let shallow = TemplateSourceLimits {
        max_depth: 0,
        ..limits
    };
    let (path, limit) = too_large(read_tree_in(&repo, &commit, None, &shallow).expect_err("depth"));
    assert_eq!(path, "src");
    assert!(limit.contains("maxDepth"), "{limit}");

    let missing = "0".repeat(40);
    match read_tree_in(&repo, &missing, None, &limits) {
        Err(GitError::CommitNotFound { commit, .. }) => assert_eq!(commit, missing),
        other => panic!("expected CommitNotFound, got {other:?}"),
    }
}
