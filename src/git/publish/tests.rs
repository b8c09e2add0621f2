use std::os::unix::fs::PermissionsExt;

use git2::{Oid, Repository};
use tempfile::TempDir;

use std::path::PathBuf;

use super::*;
use crate::config::TemplateSourceLimits;
use crate::engine::files::FileEntry;
use crate::git::read_tree;
use crate::git::test_support::*;

// ---- publish over file:// ----

#[test]
fn first_publish_pushes_one_root_commit_with_exactly_the_files() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "remote.git");
    let files = sample_files();

    let published = publish_files(&url, &files).expect("publish");
    assert!(published.pushed);
    assert_eq!(published.commit.len(), 40);

    let repo = Repository::open_bare(&remote).expect("open");
    let commit = repo
        .find_commit(tip(&remote, "main").expect("main exists"))
        .expect("commit");
    assert_eq!(commit.id().to_string(), published.commit);
    assert_eq!(commit.parent_count(), 0, "a root commit");
    assert_eq!(commit.author().name().ok(), Some("goldpath"));
    assert_eq!(commit.committer().email().ok(), Some("goldpath@example.com"));
    assert_eq!(commit.message().ok(), Some("Initial commit\n"));

    let tree = commit.tree().expect("tree");
    let mode = |p: &str| tree.get_path(Path::new(p)).expect(p).filemode();
    assert_eq!(mode("README.md"), 0o100644);
    assert_eq!(mode("bin/run.sh"), 0o100755);
    assert_eq!(mode("docs/readme-link"), 0o120000);
    assert_eq!(mode("src/deep/nested"), 0o040000);

    // Reading it back yields exactly what was published.
    let cache = TempDir::new().expect("cache");
    let read = read_tree(
        &url,
        &published.commit,
        None,
        None,
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect("read");
    assert_eq!(read, files);

    // And git itself agrees: well-formed objects, and a checkout with
    // the modes and the symlink.
    git(&["fsck", "--strict"], &remote);
    let checkout = dir.path().join("checkout");
    git(
        // A fresh bare repository's HEAD names git's default branch,
        // which need not be main.
        &[
            "clone",
            "--quiet",
            "--branch",
            "main",
            &url,
            checkout.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    assert_eq!(
        std::fs::read_to_string(checkout.join("README.md")).expect("readme"),
        "# hello\n"
    );
    let run = std::fs::metadata(checkout.join("bin/run.sh")).expect("run.sh");
    assert_ne!(run.permissions().mode() & 0o111, 0, "run.sh is executable");
    let readme = std::fs::metadata(checkout.join("README.md")).expect("README");
    assert_eq!(readme.permissions().mode() & 0o111, 0);
    assert_eq!(
        std::fs::read_link(checkout.join("docs/readme-link")).expect("symlink"),
        PathBuf::from("../README.md")
    );
    let listed = git(&["ls-files"], &checkout);
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort_unstable();
    let expected: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(listed, expected);
    assert_eq!(git(&["rev-list", "--count", "HEAD"], &checkout).trim(), "1");
}

#[test]
fn publishing_the_same_files_again_pushes_nothing() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "remote.git");
    let files = sample_files();

    let first = publish_files(&url, &files).expect("first publish");
    let second = publish_files(&url, &files).expect("second publish");
    assert!(first.pushed);
    assert_eq!(
        second,
        Published {
            commit: first.commit.clone(),
            pushed: false
        }
    );
    assert_eq!(commit_count(&remote, "main"), 1);
    // A plain path works as well as a file:// URL.
    let third = publish_files(remote.to_str().expect("utf-8"), &files).expect("path url");
    assert_eq!(third.commit, first.commit);
    assert!(!third.pushed);
}

#[test]
fn different_files_on_an_existing_branch_are_refused_and_nothing_is_pushed() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "remote.git");
    let first = publish_files(&url, &sample_files()).expect("publish");
    let before = tip(&remote, "main");

    let mut other = sample_files();
    other.insert("README.md".to_owned(), FileEntry::text("# changed\n"));
    let error = publish_files(&url, &other).expect_err("must refuse");
    assert!(
        matches!(&error, GitError::DifferentContent { commit, branch, .. }
            if *commit == first.commit && branch == "main"),
        "{error:?}"
    );
    assert!(!error.is_transient());
    let message = error.to_string();
    assert!(message.contains("the branch main of"), "{message}");
    assert!(message.contains(&url), "{message}");
    assert!(message.contains(&first.commit[..7]), "{message}");
    assert!(message.contains("does not overwrite"), "{message}");
    assert_eq!(tip(&remote, "main"), before);
    assert_eq!(commit_count(&remote, "main"), 1);

    // Only the executable bit differs: still different content.
    let mut mode_only = sample_files();
    mode_only.insert("bin/run.sh".to_owned(), FileEntry::text("#!/bin/sh\necho run\n"));
    assert!(matches!(
        publish_files(&url, &mode_only),
        Err(GitError::DifferentContent { .. })
    ));
    assert_eq!(tip(&remote, "main"), before);
}

#[test]
fn another_branch_of_a_used_repository_gets_its_own_root_commit() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "remote.git");
    publish_files(&url, &sample_files()).expect("main");
    let identity = identity();
    let files = template_files();
    let mut request = PublishRequest::new(&url, &files, "docs", &identity);
    request.branch = "gh-pages";
    let published = publish(&request).expect("gh-pages");
    assert!(published.pushed);
    assert_eq!(commit_count(&remote, "gh-pages"), 1);
    assert_eq!(commit_count(&remote, "main"), 1);
}

#[test]
fn a_branch_created_by_someone_else_meanwhile_is_a_transient_conflict() {
    // The moment between publish's fetch and its push: the scratch
    // repository's commit meets a branch it has never seen.
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "remote.git");
    let theirs = publish_files(&url, &sample_files()).expect("their publish");
    let scratch = TempDir::new().expect("scratch");
    let repo = Repository::init_bare(scratch.path()).expect("scratch repo");
    seed(&repo, &template_files(), None, "main");
    let spec = RemoteSpec::parse(&url, None).expect("spec");

    let error = spec
        .push(&repo, "refs/heads/main", "main")
        .expect_err("must not overwrite");
    assert!(matches!(error, GitError::Conflict { .. }), "{error:?}");
    assert!(error.is_transient());
    assert_eq!(tip(&remote, "main").map(|o| o.to_string()), Some(theirs.commit));
}

#[test]
fn an_empty_file_tree_publishes_an_empty_commit() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "remote.git");
    let published = publish_files(&url, &FileTree::new()).expect("publish");
    assert!(published.pushed);
    let again = publish_files(&url, &FileTree::new()).expect("again");
    assert!(!again.pushed);
    assert_eq!(commit_count(&remote, "main"), 1);
}

#[test]
fn unusable_paths_and_branches_are_refused_before_anything_is_pushed() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "remote.git");
    for bad in [
        "../escape",
        "/absolute",
        "a//b",
        "a/./b",
        "trailing/",
        ".git/config",
        "sub/.GIT/hooks",
        "",
    ] {
        let mut files = sample_files();
        files.insert(bad.to_owned(), FileEntry::text("x"));
        let error = publish_files(&url, &files).expect_err(bad);
        assert!(
            matches!(&error, GitError::InvalidPath { path, .. } if path == bad),
            "{bad}: {error:?}"
        );
        assert!(!error.is_transient());
    }
    let mut clash = FileTree::new();
    clash.insert("a".to_owned(), FileEntry::text("file"));
    clash.insert("a/b".to_owned(), FileEntry::text("under a file"));
    assert!(matches!(
        publish_files(&url, &clash),
        Err(GitError::InvalidPath { .. })
    ));

    let identity = identity();
    let files = sample_files();
    for branch in ["", "bad branch", "a..b", "-x/"] {
        let mut request = PublishRequest::new(&url, &files, "m", &identity);
        request.branch = branch;
        assert!(
            matches!(publish(&request), Err(GitError::InvalidReference { .. })),
            "{branch:?}"
        );
    }
    let nobody = GitIdentity {
        author_name: String::new(),
        author_email: String::new(),
    };
    assert!(matches!(
        publish(&PublishRequest::new(&url, &files, "m", &nobody)),
        Err(GitError::InvalidIdentity { .. })
    ));
    assert_eq!(tip(&remote, "main"), None);
}

#[test]
fn a_marked_publish_goes_only_to_a_new_repository_or_one_it_created() {
    let root = TempDir::new().expect("root");
    let ours = http_remote(&root, "ours.git");
    let theirs = http_remote(&root, "theirs.git");
    {
        let repo = Repository::open_bare(&theirs).expect("open");
        seed(&repo, &template_files(), None, "main");
    }
    let server = protected_server(&root);
    let identity = identity();
    let credentials = alice();
    let files = sample_files();
    let publish_as = |url: &str, branch: &str, marker: &str| {
        let mut request = PublishRequest::new(url, &files, "Initial commit", &identity);
        request.credentials = Some(&credentials);
        request.branch = branch;
        request.marker = Some(marker);
        publish(&request)
    };
    let ours_url = format!("{}/ours.git", server.base);
    let first = publish_as(&ours_url, "main", "uid-a").expect("a new repository");
    assert!(first.pushed);
    let message = git(&["log", "-1", "--format=%B", "main"], &ours);
    assert!(message.contains("Goldpath-Request: uid-a"), "{message}");
    assert!(!publish_as(&ours_url, "main", "uid-a").expect("again").pushed);
    publish_as(&ours_url, "docs", "uid-a").expect("another branch of its own repository");

    // Another request: neither the existing branch nor a new one.
    let error = publish_as(&ours_url, "main", "uid-b").expect_err("someone else's branch");
    assert!(matches!(error, GitError::NotCreatedByRequest { .. }), "{error:?}");
    assert!(error.to_string().contains("the branch main"), "{error}");
    let error = publish_as(&ours_url, "release", "uid-b").expect_err("a new branch");
    assert!(error.to_string().contains("other branches"), "{error}");
    assert!(!error.is_transient());
    assert_eq!(tip(&ours, "release"), None);

    // A repository someone made without goldpath.
    let theirs_url = format!("{}/theirs.git", server.base);
    let before = tip(&theirs, "main");
    let error = publish_as(&theirs_url, "release", "uid-a").expect_err("their repository");
    assert!(matches!(error, GitError::NotCreatedByRequest { .. }), "{error:?}");
    assert_eq!(tip(&theirs, "release"), None);
    assert_eq!(tip(&theirs, "main"), before);
}

#[test]
fn a_marked_publish_to_a_local_repository_keeps_to_its_own_too() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "local.git");
    let identity = identity();
    let files = sample_files();
    let publish_as = |branch: &str, marker: &str| {
        let mut request = PublishRequest::new(&url, &files, "m", &identity);
        request.branch = branch;
        request.marker = Some(marker);
        publish(&request)
    };
    publish_as("main", "uid-a").expect("new");
    publish_as("docs", "uid-a").expect("its own");
    for (branch, what) in [("main", "the branch main"), ("release", "other branches")] {
        let error = publish_as(branch, "uid-b").expect_err("not its own");
        assert!(error.to_string().contains(what), "{error}");
    }
    assert_eq!(tip(&remote, "release"), None);
}

#[test]
fn a_removing_change_takes_its_files_out_of_the_base_and_refuses_one_it_lacks() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "remote.git");
    publish_files(&url, &sample_files()).expect("publish");
    let gone: FileTree = [("README.md".to_string(), FileEntry::text(""))]
        .into_iter()
        .collect();
    let identity = identity();
    let request = PublishRequest {
        remote_url: &url,
        branch: "remove-readme",
        files: &gone,
        message: "Remove",
        identity: &identity,
        credentials: None,
        marker: None,
    };
    publish_change_as(&request, "main", Change::Remove).expect("remove");
    let repo = Repository::open_bare(&remote).expect("open");
    let commit = repo
        .find_commit(tip(&remote, "remove-readme").expect("pushed"))
        .expect("commit");
    let tree = commit.tree().expect("tree");
    assert!(tree.get_path(Path::new("README.md")).is_err());
    assert!(
        tree.get_path(Path::new("bin/run.sh")).is_ok(),
        "the base's other files stay"
    );
    let missing: FileTree = [("nope.txt".to_string(), FileEntry::text(""))]
        .into_iter()
        .collect();
    let request = PublishRequest {
        branch: "remove-nope",
        files: &missing,
        ..request
    };
    let error = publish_change_as(&request, "main", Change::Remove).unwrap_err();
    assert!(
        matches!(&error, GitError::PathNotFound { path, .. } if path == "nope.txt"),
        "{error}"
    );
    assert!(tip(&remote, "remove-nope").is_none(), "nothing pushed");
}

/// A commit on `branch` of the bare repository `remote` with `files`, over
/// its tip, by someone other than goldpath.
fn commit_by_hand(remote: &Path, branch: &str, files: &FileTree) -> Oid {
    let repo = Repository::open_bare(remote).expect("open");
    let parent = repo
        .find_commit(tip(remote, branch).expect("branch"))
        .expect("tip");
    let tree = repo
        .find_tree(build_tree(&repo, files).expect("tree"))
        .expect("tree");
    let someone = git2::Signature::now("someone", "someone@example.com").expect("signature");
    repo.commit(
        Some(&format!("refs/heads/{branch}")),
        &someone,
        &someone,
        "by hand",
        &tree,
        &[&parent],
    )
    .expect("commit")
}

#[test]
fn a_proposal_is_brought_up_to_date_by_new_commits_and_leaves_a_branch_someone_else_wrote() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "remote.git");
    let first = publish_files(&url, &sample_files()).expect("publish");
    let identity = identity();
    let mut proposed = sample_files();
    proposed.insert("README.md".into(), FileEntry::text("# upgraded\n"));
    let request = PublishRequest {
        remote_url: &url,
        branch: "goldpath/upgrade-r",
        files: &proposed,
        message: "Upgrade",
        identity: &identity,
        credentials: None,
        marker: Some("uid-a"),
    };
    let opened = propose(&request, "main", &first.commit, &[]).expect("propose");
    assert!(opened.pushed);
    let repo = Repository::open_bare(&remote).expect("open");
    let oid = |id: &str| Oid::from_str(id).unwrap();
    let parents = |id: &str| {
        repo.find_commit(oid(id))
            .unwrap()
            .parent_ids()
            .collect::<Vec<_>>()
    };
    assert_eq!(parents(&opened.commit), [oid(&first.commit)]);
    assert_eq!(tip(&remote, "main"), Some(oid(&first.commit)), "main untouched");
    // Asked again (a restart): nothing is pushed.
    let again = propose(&request, "main", &first.commit, &[]).expect("again");
    assert_eq!(
        (again.pushed, again.commit.as_str()),
        (false, opened.commit.as_str())
    );

    // The default branch moves on and a new revision is proposed: one more
    // commit on the branch, over both its old tip and the new base.
    let moved = commit_by_hand(&remote, "main", &sample_files());
    let mut newer = proposed.clone();
    newer.insert("NEW.md".into(), FileEntry::text("new\n"));
    let request = PublishRequest {
        files: &newer,
        ..request
    };
    let updated = propose(&request, "main", &moved.to_string(), &[]).expect("update");
    assert!(updated.pushed);
    assert_eq!(parents(&updated.commit), [oid(&opened.commit), moved]);
    let cache = dir.path().join("cache");
    let limits = TemplateSourceLimits::default();
    let read = read_tree(&url, &updated.commit, None, None, &cache, &limits).unwrap();
    assert_eq!(read, newer);

    // A base commit the branch no longer has: read it again.
    let error = propose(&request, "main", &"1".repeat(40), &[]).unwrap_err();
    assert!(
        matches!(error, GitError::Conflict { .. }) && error.is_transient(),
        "{error:?}"
    );

    // A reviewer's commit on the branch is never written over.
    let theirs = commit_by_hand(&remote, "goldpath/upgrade-r", &sample_files());
    let mut newest = newer.clone();
    newest.insert("NEWER.md".into(), FileEntry::text("newer\n"));
    let request = PublishRequest {
        files: &newest,
        ..request
    };
    let error = propose(&request, "main", &moved.to_string(), &[]).unwrap_err();
    assert!(matches!(error, GitError::NotCreatedByRequest { .. }), "{error:?}");
    assert_eq!(tip(&remote, "goldpath/upgrade-r"), Some(theirs));
}

/// The user's commit on main of `remote` adding a submodule (a gitlink,
/// which reading leaves out) and a file of their own: the commit, the
/// submodule's commit and the file's blob.
fn add_submodule_and_own_file(repo: &Repository, remote: &Path) -> (Oid, Oid, Oid) {
    let main = repo.find_commit(tip(remote, "main").unwrap()).unwrap();
    let pinned = Oid::from_str(&"ab".repeat(20)).unwrap();
    let mut root = repo.treebuilder(Some(&main.tree().unwrap())).unwrap();
    root.insert("vendor-lib", pinned, 0o160000).unwrap();
    let own = repo.blob(b"mine\n").unwrap();
    root.insert("OWN.md", own, 0o100644).unwrap();
    let tree = repo.find_tree(root.write().unwrap()).unwrap();
    let someone = git2::Signature::now("someone", "someone@example.com").unwrap();
    let user = repo
        .commit(
            Some("refs/heads/main"),
            &someone,
            &someone,
            "submodule",
            &tree,
            &[&main],
        )
        .unwrap();
    (user, pinned, own)
}

#[test]
fn a_proposal_writes_only_what_the_merge_changed_and_keeps_submodules_and_untouched_files() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "remote.git");
    let template = sample_files();
    publish_files(&url, &template).expect("publish");
    let repo = Repository::open_bare(&remote).expect("open");
    let (user, pinned, own) = add_submodule_and_own_file(&repo, &remote);

    // The template changes README.md and drops catalog-info.yaml.
    let cache = dir.path().join("cache");
    let limits = TemplateSourceLimits::default();
    let ours = read_tree(&url, &user.to_string(), None, None, &cache, &limits).unwrap();
    assert!(!ours.contains_key("vendor-lib"), "reading leaves submodules out");
    let mut theirs = template.clone();
    theirs.insert("README.md".into(), FileEntry::text("# upgraded\n"));
    theirs.remove("catalog-info.yaml");
    let labels = crate::git::MergeLabels {
        base: "base".into(),
        ours: "main".into(),
        theirs: "new".into(),
    };
    let merged = crate::git::merge_trees(&template, &ours, &theirs, &labels).unwrap();
    let (written, removed) = merged.changes_from(&ours);
    assert_eq!(written.keys().collect::<Vec<_>>(), ["README.md"]);
    assert_eq!(removed, ["catalog-info.yaml"]);

    let identity = identity();
    let request = PublishRequest {
        remote_url: &url,
        branch: "goldpath/upgrade-r",
        files: &written,
        message: "Upgrade",
        identity: &identity,
        credentials: None,
        marker: Some("uid-a"),
    };
    let opened = propose(&request, "main", &user.to_string(), &removed).expect("propose");
    let proposal = repo.find_commit(Oid::from_str(&opened.commit).unwrap()).unwrap();
    let tree = proposal.tree().unwrap();
    let entry = |p: &str| tree.get_path(Path::new(p)).map(|e| (e.id(), e.filemode()));
    assert_eq!(
        entry("vendor-lib").ok(),
        Some((pinned, 0o160000)),
        "submodule kept"
    );
    assert_eq!(entry("OWN.md").ok(), Some((own, 0o100644)), "untouched file kept");
    assert!(entry("catalog-info.yaml").is_err(), "removed by the template");
    let base_tree = user.to_string();
    let before = repo
        .find_commit(Oid::from_str(&base_tree).unwrap())
        .unwrap()
        .tree()
        .unwrap();
    for kept in ["bin/run.sh", "docs/readme-link", "src/deep/nested/lib.rs"] {
        assert_eq!(
            entry(kept).ok(),
            before
                .get_path(Path::new(kept))
                .ok()
                .map(|e| (e.id(), e.filemode())),
            "{kept}"
        );
    }
    let read = read_tree(&url, &opened.commit, None, None, &cache, &limits).unwrap();
    assert_eq!(read.get("README.md"), Some(&FileEntry::text("# upgraded\n")));
    // Asked again: the same tree, nothing pushed; so too after the branch
    // was pushed again for a forge that lost the first push's record.
    let again = propose(&request, "main", &user.to_string(), &removed).expect("again");
    assert_eq!((again.pushed, &again.commit), (false, &opened.commit));
    let repushed = push_again(&request, &opened.commit, Duration::ZERO).expect("push again");
    let after = propose(&request, "main", &user.to_string(), &removed).expect("after");
    assert_eq!((after.pushed, after.commit), (false, repushed.commit));
}

#[test]
fn a_branch_the_forge_did_not_record_is_pushed_again_as_one_commit_of_the_same_tree_once_it_settled() {
    let dir = TempDir::new().expect("tempdir");
    let (remote, url) = bare_remote(&dir, "remote.git");
    publish_files(&url, &sample_files()).expect("publish");
    let identity = identity();
    let mut files = FileTree::new();
    files.insert("NEW.md".into(), FileEntry::text("new\n"));
    let request = PublishRequest {
        remote_url: &url,
        branch: "add-new",
        files: &files,
        message: "Add NEW.md",
        identity: &identity,
        credentials: None,
        marker: Some("uid-a"),
    };
    let first = publish_change(&request, "main").expect("publish change");
    let hour = Duration::from_secs(3600);

    // A push the forge may still be recording is not repeated.
    let early = push_again(&request, &first.commit, hour).expect("too early");
    assert_eq!(
        (early.pushed, early.commit.as_str()),
        (false, first.commit.as_str())
    );
    assert_eq!(
        tip(&remote, "add-new"),
        Some(Oid::from_str(&first.commit).unwrap())
    );

    let again = push_again(&request, &first.commit, Duration::ZERO).expect("push again");
    assert!(again.pushed);
    let repo = Repository::open_bare(&remote).expect("open");
    let pushed = repo
        .find_commit(Oid::from_str(&again.commit).unwrap())
        .expect("commit");
    let original = repo
        .find_commit(Oid::from_str(&first.commit).unwrap())
        .expect("commit");
    assert_eq!(pushed.parent_ids().collect::<Vec<_>>(), [original.id()]);
    assert_eq!(pushed.tree_id(), original.tree_id(), "the same files");
    assert_eq!(
        pushed.message(),
        original.message(),
        "the same message, marker included"
    );
    assert_eq!(tip(&remote, "add-new"), Some(pushed.id()));

    // From a tip it no longer has, nothing is pushed: look again.
    let error = push_again(&request, &first.commit, Duration::ZERO).unwrap_err();
    assert!(
        matches!(error, GitError::Conflict { .. }) && error.is_transient(),
        "{error:?}"
    );
    assert_eq!(tip(&remote, "add-new"), Some(pushed.id()));

    // Someone else's commit on the branch is never built on.
    let theirs = commit_by_hand(&remote, "add-new", &files);
    let error = push_again(&request, &theirs.to_string(), Duration::ZERO).unwrap_err();
    assert!(matches!(error, GitError::NotCreatedByRequest { .. }), "{error:?}");
    assert_eq!(tip(&remote, "add-new"), Some(theirs));
}
