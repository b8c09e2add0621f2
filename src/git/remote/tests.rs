use tempfile::TempDir;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;

use super::*;
use crate::config::TemplateSourceLimits;
use crate::engine::files::FileEntry;
use crate::git::test_support::*;
use crate::git::{PublishRequest, publish, read_tree, resolve};

#[test]
fn a_missing_repository_directory_is_a_permanent_error() {
    let dir = TempDir::new().expect("tempdir");
    let missing = dir.path().join("nope.git");
    let url = url::Url::from_file_path(&missing).expect("url").to_string();
    let error = publish_files(&url, &sample_files()).expect_err("missing");
    assert!(matches!(error, GitError::RepositoryNotFound { .. }), "{error:?}");
    assert!(!error.is_transient());
    assert!(error.to_string().contains("nope.git"), "{error}");

    // A directory that is not a repository.
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).expect("mkdir");
    let error = publish_files(plain.to_str().expect("utf-8"), &sample_files()).expect_err("not a repository");
    assert!(matches!(error, GitError::RepositoryNotFound { .. }), "{error:?}");
    assert!(!error.is_transient(), "{error:?}");
}

#[test]
fn network_failures_are_transient() {
    // Nothing listens on a port just released.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let refused = format!("http://127.0.0.1:{port}/repo.git");
    let error = publish_files(&refused, &sample_files()).expect_err("refused");
    assert!(matches!(error, GitError::Unavailable { .. }), "{error:?}");
    assert!(error.is_transient());

    let error = resolve("https://nohost.invalid/org/repo.git", None, None).expect_err("no such host");
    assert!(matches!(error, GitError::Unavailable { .. }), "{error:?}");
    assert!(error.is_transient());
    assert!(error.to_string().contains("nohost.invalid"), "{error}");
}

#[test]
fn unsupported_urls_are_refused_with_what_to_use() {
    for url in [
        "",
        "ssh://git@github.com/org/repo.git",
        "git@github.com:org/repo.git",
        "ftp://host/repo",
        "https://",
        "https://user:pa ss@exa mple.com/x",
    ] {
        let error = resolve(url, None, None).expect_err(url);
        assert!(matches!(error, GitError::InvalidUrl { .. }), "{url}: {error:?}");
        assert!(!error.is_transient());
    }
    let error = resolve("ftp://host/repo", None, None).expect_err("ftp");
    assert!(error.to_string().contains("https://, ssh://"), "{error}");
}

#[test]
fn an_ssh_remote_is_not_contacted_without_a_key_and_known_host_keys() {
    for url in ["ssh://git@127.0.0.1:1/org/repo.git", "git@127.0.0.1:org/repo.git"] {
        let error = resolve(url, None, None).expect_err(url);
        assert!(matches!(error, GitError::InvalidUrl { .. }), "{url}: {error:?}");
        assert!(error.to_string().contains("private key"), "{error}");
        let password = Credentials::new("git", "secret");
        let error = resolve(url, None, Some(&password)).expect_err(url);
        assert!(error.to_string().contains("private key"), "{error}");
        let unknown = Credentials::ssh("", "-----BEGIN OPENSSH PRIVATE KEY-----", Vec::new());
        let error = resolve(url, None, Some(&unknown)).expect_err(url);
        assert!(matches!(error, GitError::InvalidUrl { .. }), "{url}: {error:?}");
        assert!(error.to_string().contains("no known host key"), "{error}");
        assert!(!error.to_string().contains("PRIVATE KEY"), "{error}");
    }
    let error = resolve("ssh://git:pw@127.0.0.1/r.git", None, None).expect_err("password");
    assert!(error.to_string().contains("no password"), "{error}");
    assert_eq!(
        scp_address("git@host.example:org/r.git"),
        Some(("host.example", "org/r.git"))
    );
    assert_eq!(scp_address("host.example:r.git"), Some(("host.example", "r.git")));
    assert_eq!(scp_address("C:repo"), None);
    assert_eq!(scp_address("./a:b"), None);
    assert_eq!(scp_address("/srv/repo.git"), None);
}

// ---- over HTTP, through git's own http-backend ----

#[test]
fn publish_over_http_with_credentials_is_idempotent_and_refuses_other_content() {
    let root = TempDir::new().expect("root");
    let remote = http_remote(&root, "svc.git");
    let server = protected_server(&root);
    let url = format!("{}/svc.git", server.base);
    let identity = identity();
    let credentials = alice();
    let files = sample_files();
    let mut request = PublishRequest::new(&url, &files, "Initial commit", &identity);
    request.credentials = Some(&credentials);

    let first = publish(&request).expect("first");
    assert!(first.pushed);
    let second = publish(&request).expect("second");
    assert_eq!(second.commit, first.commit);
    assert!(!second.pushed);
    assert_eq!(commit_count(&remote, "main"), 1);

    let other = template_files();
    request.files = &other;
    let error = publish(&request).expect_err("different");
    assert!(matches!(error, GitError::DifferentContent { .. }), "{error:?}");
    assert_eq!(
        tip(&remote, "main").map(|o| o.to_string()),
        Some(first.commit.clone())
    );
    assert!(
        server
            .authorizations()
            .iter()
            .flatten()
            .all(|a| *a == basic("alice", PASSWORD))
    );

    // Credentials in the URL work too, and never show in messages.
    let with_password = format!(
        "http://alice:{PASSWORD}@{}/svc.git",
        server.base.trim_start_matches("http://")
    );
    let error = publish_files(&with_password, &other).expect_err("different");
    let message = error.to_string();
    assert!(matches!(error, GitError::DifferentContent { .. }), "{error:?}");
    assert!(message.contains("alice:***@127.0.0.1"), "{message}");
    assert!(!message.contains(PASSWORD), "{message}");

    // resolve and read_tree over HTTP; the server does not allow
    // fetching by commit id, so read_tree falls back to the branches.
    let resolved = resolve(&url, Some("main"), Some(&credentials)).expect("resolve");
    assert_eq!(resolved, first.commit);
    let cache = TempDir::new().expect("cache");
    let read = read_tree(
        &url,
        &resolved,
        Some("bin"),
        Some(&credentials),
        cache.path(),
        &TemplateSourceLimits::default(),
    )
    .expect("read_tree");
    assert_eq!(
        read.get("run.sh"),
        Some(&FileEntry::File {
            contents: b"#!/bin/sh\necho run\n".to_vec(),
            executable: true
        })
    );
}

#[test]
fn wrong_credentials_fail_once_with_a_clear_message() {
    let root = TempDir::new().expect("root");
    let remote = http_remote(&root, "svc.git");
    let server = protected_server(&root);
    let url = format!("{}/svc.git", server.base);
    let wrong = Credentials::new("alice", "not-the-Password-99");
    let identity = identity();
    let files = sample_files();
    let mut request = PublishRequest::new(&url, &files, "m", &identity);
    request.credentials = Some(&wrong);

    let error = publish(&request).expect_err("wrong credentials");
    assert!(
        matches!(error, GitError::AuthenticationFailed { .. }),
        "{error:?}"
    );
    assert!(!error.is_transient());
    let message = error.to_string();
    assert!(
        message.starts_with(&format!("authentication failed for {url}")),
        "{message}"
    );
    assert!(message.contains("alice"), "{message}");
    assert!(!message.contains("not-the-Password-99"), "{message}");
    assert!(!format!("{error:?}").contains("not-the-Password-99"));
    // libgit2 asked once with the wrong password and was then told to stop.
    let tries = server.authorizations();
    assert_eq!(tries.iter().flatten().count(), 1, "{tries:?}");
    assert_eq!(tip(&remote, "main"), None);

    let error = resolve(&url, None, None).expect_err("no credentials");
    assert!(
        matches!(error, GitError::AuthenticationFailed { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("none are configured"), "{error}");

    let error = resolve(&url, None, Some(&wrong)).expect_err("wrong again");
    assert!(
        matches!(error, GitError::AuthenticationFailed { .. }),
        "{error:?}"
    );
}

#[test]
fn http_statuses_map_to_transient_or_permanent() {
    for (status, transient) in [(503, true), (500, true), (429, true), (404, false), (403, false)] {
        let server = HttpServer::start(Behaviour::Status(status));
        let url = format!("{}/svc.git", server.base);
        let error = resolve(&url, None, None).expect_err("status");
        assert_eq!(error.is_transient(), transient, "{status}: {error:?}");
    }
    let server = HttpServer::start(Behaviour::Status(404));
    let error = publish_files(&format!("{}/svc.git", server.base), &sample_files()).expect_err("404");
    assert!(matches!(error, GitError::RepositoryNotFound { .. }), "{error:?}");
}

#[test]
fn a_push_refused_by_the_server_is_reported_with_its_reason() {
    let root = TempDir::new().expect("root");
    let remote = http_remote(&root, "svc.git");
    let hook = remote.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'branch creation is frozen' >&2\nexit 1\n").expect("hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let server = HttpServer::start(Behaviour::Backend {
        root: root.path().to_path_buf(),
        credentials: None,
    });
    let url = format!("{}/svc.git", server.base);
    let error = publish_files(&url, &sample_files()).expect_err("refused");
    assert!(matches!(error, GitError::PushRejected { .. }), "{error:?}");
    assert!(!error.is_transient());
    let message = error.to_string();
    assert!(message.contains("refs/heads/main"), "{message}");
    assert!(message.contains("hook declined"), "{message}");
    assert!(message.contains("branch creation is frozen"), "{message}");
    assert_eq!(tip(&remote, "main"), None);
}

#[test]
fn a_hook_that_fails_inside_the_server_is_tried_again_not_taken_for_a_refusal() {
    let root = TempDir::new().expect("root");
    let remote = http_remote(&root, "svc.git");
    let hook = remote.join("hooks/pre-receive");
    // What Gitea's hook prints when its own API fails.
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'error: Internal Server Error (no message for end users)' >&2\nexit 1\n",
    )
    .expect("hook");
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let server = HttpServer::start(Behaviour::Backend {
        root: root.path().to_path_buf(),
        credentials: None,
    });
    let url = format!("{}/svc.git", server.base);
    let error = publish_files(&url, &sample_files()).expect_err("failed");
    assert!(matches!(error, GitError::Unavailable { .. }), "{error:?}");
    assert!(error.is_transient());
    assert!(error.to_string().contains("Internal Server Error"), "{error}");
    assert_eq!(tip(&remote, "main"), None);

    std::fs::remove_file(&hook).expect("the server recovers");
    publish_files(&url, &sample_files()).expect("published");
}

#[test]
fn a_lock_left_on_the_server_is_waited_out() {
    let root = TempDir::new().expect("root");
    let remote = http_remote(&root, "svc.git");
    // What a receive-pack killed while updating the branch leaves.
    let lock = remote.join("refs/heads/main.lock");
    std::fs::create_dir_all(remote.join("refs/heads")).expect("refs/heads");
    std::fs::write(&lock, "").expect("lock");
    let server = HttpServer::start(Behaviour::Backend {
        root: root.path().to_path_buf(),
        credentials: None,
    });
    let url = format!("{}/svc.git", server.base);
    let error = publish_files(&url, &sample_files()).expect_err("locked");
    assert!(matches!(error, GitError::RefLocked { .. }), "{error:?}");
    assert!(error.is_transient());
    let message = error.to_string();
    assert!(message.contains("could not lock refs/heads/main"), "{message}");
    assert!(message.contains("main.lock"), "{message}");
    assert_eq!(tip(&remote, "main"), None);

    std::fs::remove_file(&lock).expect("unlock");
    let published = publish_files(&url, &sample_files()).expect("published");
    assert_eq!(
        tip(&remote, "main").map(|id| id.to_string()),
        Some(published.commit)
    );
}
