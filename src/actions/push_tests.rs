use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::json;

use super::*;
use crate::engine::files::FileEntry;
use crate::forge::{
    Access, BranchProtection, ForgeError, ForgeKind, NewPullRequest, NewRepository, RepoId, Repository,
};

/// When the step under test first started.
const STARTED: i64 = 1_000;

/// A forge whose repositories are bare repositories on disk, and which
/// can be made to lose or break them as killed runs do.
#[derive(Default)]
struct Server {
    root: PathBuf,
    /// How many creates are rolled back, as Gitea rolls back one whose
    /// caller was killed: the repository is never on disk.
    lost_creates: usize,
    /// The lookup finds the repository once before any create: a
    /// killed run's create, seen before its rollback.
    seen_once: bool,
    /// A repository the forge has but that refuses every push (its
    /// directory is missing), made at this time; cleared by a delete.
    broken_since: Option<i64>,
    /// When a workflow run was dispatched, if one was.
    run_made: Option<i64>,
    /// A dispatch GitHub gives no answer to.
    dispatch_unanswered: bool,
    calls: Vec<&'static str>,
}

#[derive(Clone)]
struct FakeForge(Rc<RefCell<Server>>);

fn path(root: &Path, id: &RepoId) -> PathBuf {
    root.join(&id.owner).join(format!("{}.git", id.name))
}

fn repository(created_at: i64) -> Repository {
    Repository {
        default_branch: "main".into(),
        empty: true,
        created_at: Some(created_at),
    }
}

impl Forge for FakeForge {
    async fn repository(&self, id: &RepoId) -> Result<Option<Repository>, ForgeError> {
        let mut server = self.0.borrow_mut();
        server.calls.push("get");
        if let Some(made) = server.broken_since {
            return Ok(Some(repository(made)));
        }
        let seen = std::mem::take(&mut server.seen_once);
        Ok((path(&server.root, id).exists() || seen).then(|| repository(STARTED)))
    }
    async fn create_repository(&self, new: &NewRepository) -> Result<Repository, ForgeError> {
        let mut server = self.0.borrow_mut();
        server.calls.push("create");
        if server.lost_creates > 0 {
            server.lost_creates -= 1;
        } else {
            git2::Repository::init_bare(path(&server.root, &new.id)).unwrap();
        }
        Ok(repository(STARTED))
    }
    async fn delete_repository(&self, _: &RepoId) -> Result<(), ForgeError> {
        let mut server = self.0.borrow_mut();
        server.calls.push("delete");
        server.broken_since = None;
        Ok(())
    }
    async fn set_topics(&self, _: &RepoId, _: &[String]) -> Result<(), ForgeError> {
        unreachable!()
    }
    async fn find_dispatched_run(
        &self,
        _: &RepoId,
        _: &str,
        _: &str,
        since: i64,
    ) -> Result<Option<u64>, ForgeError> {
        let mut server = self.0.borrow_mut();
        server.calls.push("runs");
        Ok(server.run_made.filter(|made| *made >= since).map(|_| 1))
    }
    async fn dispatch_workflow(
        &self,
        _: &RepoId,
        _: &str,
        _: &str,
        _: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ForgeError> {
        let mut server = self.0.borrow_mut();
        server.calls.push("dispatch");
        if server.dispatch_unanswered {
            return Err(ForgeError::Unavailable {
                host: "github.test".into(),
                call: "dispatch".into(),
                detail: "timed out (not sent again)".into(),
            });
        }
        server.run_made = Some(STARTED + 1);
        Ok(())
    }
    async fn add_collaborator(&self, _: &RepoId, _: &str, _: Access) -> Result<(), ForgeError> {
        unreachable!()
    }
    async fn protect_branch(&self, _: &RepoId, _: &BranchProtection) -> Result<(), ForgeError> {
        unreachable!()
    }
    async fn find_pull_request(
        &self,
        _: &RepoId,
        _: &str,
        _: &str,
    ) -> Result<Option<PullRequest>, ForgeError> {
        unreachable!()
    }
    async fn create_pull_request(&self, _: &RepoId, _: &NewPullRequest) -> Result<PullRequest, ForgeError> {
        unreachable!()
    }
    async fn request_reviews(
        &self,
        _: &RepoId,
        _: u64,
        _: &[String],
        _: &[String],
    ) -> Result<(), ForgeError> {
        unreachable!()
    }
    async fn update_pull_request(
        &self,
        _: &RepoId,
        _: u64,
        _: &NewPullRequest,
    ) -> Result<PullRequest, ForgeError> {
        unreachable!()
    }
}

struct FakePublisher {
    config: Config,
    forge: FakeForge,
}

impl Publisher for FakePublisher {
    type Forge = FakeForge;

    fn publishing(&self) -> Publishing<'_> {
        Publishing {
            config: &self.config,
            namespace: "acme",
            marker: "request-uid",
            guard_publish: true,
            step_started: Some(STARTED),
        }
    }
    fn wait<T>(&self, call: impl Future<Output = T>) -> T {
        futures::executor::block_on(call)
    }
    fn remote(
        &self,
        _: &str,
        _: &RepositoryRoute,
        _: Option<&str>,
        _: bool,
    ) -> Result<Remote<FakeForge>, ActionError> {
        Ok(Remote {
            credentials: None,
            forge: Some(self.forge.clone()),
        })
    }
    fn default_branch(&self, _: &PullRequestStep, _: Option<&FakeForge>) -> Result<String, ActionError> {
        unreachable!()
    }
    fn pushed(&mut self, _: Option<&FakeForge>, _: &str, _: &str, _: Duration) {}
    fn published(&mut self, _: Publish, _: &PublishOutput) {}
}

struct Outcome {
    result: Result<PublishOutput, ActionError>,
    calls: Vec<&'static str>,
    repository: PathBuf,
}

/// Publishes one file to `gitea.test?owner=acme&repo=app` on `server`.
fn run(server: Server) -> Outcome {
    let root = server.root.clone();
    let config = Config::publishing_to(
        "gitea.test",
        &format!("file://{}/{{owner}}/{{repo}}.git", root.display()),
        ForgeKind::Gitea,
    );
    std::fs::create_dir_all(root.join("acme")).unwrap();
    let server = Rc::new(RefCell::new(server));
    let mut publisher = FakePublisher {
        config,
        forge: FakeForge(server.clone()),
    };
    let files: FileTree = [("README.md".to_string(), FileEntry::text("# app\n"))]
        .into_iter()
        .collect();
    let input = super::super::input::decode(&json!({"repoUrl": "gitea.test?owner=acme&repo=app"})).unwrap();
    let result = publish(&mut publisher, ActionKind::PublishGitea, &input, &files);
    let calls = server.borrow().calls.clone();
    Outcome {
        result,
        calls,
        repository: root.join("acme/app.git"),
    }
}

/// Runs a `github:actions:dispatch` step on `server`.
fn dispatch(server: Server) -> (Result<serde_json::Value, ActionError>, Vec<&'static str>) {
    let config = Config::publishing_to(
        "github.test",
        "file:///nowhere/{owner}/{repo}.git",
        ForgeKind::Github,
    );
    let server = Rc::new(RefCell::new(server));
    let mut publisher = FakePublisher {
        config,
        forge: FakeForge(server.clone()),
    };
    let input = super::super::input::decode(&json!({
        "repoUrl": "github.test?owner=acme&repo=app",
        "workflowId": "deploy.yaml",
        "branchOrTagName": "main",
    }))
    .unwrap();
    let result = super::super::github_steps::github_dispatch(&mut publisher, &input);
    let calls = server.borrow().calls.clone();
    (result, calls)
}

#[test]
fn a_dispatch_starts_a_run_unless_an_earlier_attempt_of_the_step_started_one() {
    let (result, calls) = dispatch(Server::default());
    assert!(result.is_ok());
    assert_eq!(calls, ["runs", "dispatch"]);
    // Killed after its dispatch: the run made since the step started
    // is found, and no second one is started.
    let (result, calls) = dispatch(Server {
        run_made: Some(STARTED + 3),
        ..Server::default()
    });
    assert!(result.is_ok());
    assert_eq!(calls, ["runs"]);
    // A run from before the step started is someone else's.
    let (result, calls) = dispatch(Server {
        run_made: Some(STARTED - 1),
        ..Server::default()
    });
    assert!(result.is_ok());
    assert_eq!(calls, ["runs", "dispatch"]);
    // No answer: whether a run started is unknown, so the step is
    // tried again once GitHub would list it.
    let (result, calls) = dispatch(Server {
        dispatch_unanswered: true,
        ..Server::default()
    });
    let error = result.unwrap_err();
    assert!(error.transient, "{error:?}");
    assert_eq!(
        error.retry_after,
        Some(super::super::github_steps::DISPATCH_SETTLE)
    );
    assert_eq!(calls, ["runs", "dispatch"]);
}

fn tip(repository: &Path) -> String {
    let pushed = git2::Repository::open_bare(repository).unwrap();
    let tip = pushed
        .find_reference("refs/heads/main")
        .unwrap()
        .target()
        .unwrap();
    tip.to_string()
}

#[test]
fn a_repository_the_forge_lost_after_a_killed_create_is_made_again_and_pushed_to() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(Server {
        root: dir.path().into(),
        seen_once: true,
        ..Server::default()
    });
    let output = outcome.result.unwrap();
    // Found (about to be rolled back), the push refused, looked up:
    // gone, so made again and pushed to.
    assert_eq!(outcome.calls, ["get", "get", "get", "create"]);
    assert_eq!(output.commit_hash, tip(&outcome.repository));
}

#[test]
fn an_empty_repository_this_step_made_that_refuses_pushes_is_deleted_and_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(Server {
        root: dir.path().into(),
        broken_since: Some(STARTED + 5),
        ..Server::default()
    });
    let output = outcome.result.unwrap();
    assert_eq!(outcome.calls, ["get", "get", "delete", "get", "create"]);
    assert_eq!(output.commit_hash, tip(&outcome.repository));
}

#[test]
fn a_repository_made_before_the_step_started_that_refuses_pushes_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(Server {
        root: dir.path().into(),
        broken_since: Some(STARTED - 1),
        ..Server::default()
    });
    let error = outcome.result.unwrap_err();
    assert!(!error.transient, "{}", error.message);
    assert!(error.message.contains("no git repository"), "{}", error.message);
    assert_eq!(outcome.calls, ["get", "get"]);
    assert!(!outcome.repository.exists());
}

#[test]
fn a_repository_lost_at_every_push_is_made_again_at_most_max_remakes_times() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(Server {
        root: dir.path().into(),
        lost_creates: usize::MAX,
        ..Server::default()
    });
    let error = outcome.result.unwrap_err();
    assert!(error.transient, "{}", error.message);
    assert!(error.message.contains("acme/app"), "{}", error.message);
    let creates = outcome.calls.iter().filter(|call| **call == "create").count();
    assert_eq!(creates, 1 + MAX_REMAKES, "{:?}", outcome.calls);
}

/// A bare repository whose branch `upgrade` is one commit made long
/// ago carrying the marker `uid-a`: its path, URL and the commit.
fn pushed_long_ago(dir: &Path) -> (PathBuf, String, String) {
    let path = dir.join("app.git");
    let repo = git2::Repository::init_bare(&path).unwrap();
    let then = git2::Signature::new("goldpath", "goldpath@example.com", &git2::Time::new(1_000, 0)).unwrap();
    let blob = repo.blob(b"# app\n").unwrap();
    let mut root = repo.treebuilder(None).unwrap();
    root.insert("README.md", blob, 0o100644).unwrap();
    let tree = repo.find_tree(root.write().unwrap()).unwrap();
    let message = "Upgrade\n\nGoldpath-Request: uid-a\n";
    let commit = repo
        .commit(Some("refs/heads/upgrade"), &then, &then, message, &tree, &[])
        .unwrap();
    (
        path.clone(),
        format!("file://{}", path.display()),
        commit.to_string(),
    )
}

#[test]
fn a_pull_request_whose_head_the_forge_did_not_record_gets_the_branch_pushed_again_once() {
    let dir = tempfile::TempDir::new().unwrap();
    let (path, url, commit) = pushed_long_ago(dir.path());
    let tip = || {
        git2::Repository::open_bare(&path)
            .unwrap()
            .refname_to_id("refs/heads/upgrade")
            .unwrap()
            .to_string()
    };
    let identity = git::GitIdentity {
        author_name: "goldpath".into(),
        author_email: "goldpath@example.com".into(),
    };
    let files = FileTree::new();
    let change = git::PublishRequest {
        remote_url: &url,
        branch: "upgrade",
        files: &files,
        message: "Upgrade",
        identity: &identity,
        credentials: None,
        marker: Some("uid-a"),
    };
    let pull = |head: Option<&str>| PullRequest {
        number: 1,
        url: "https://gitea.test/acme/app/pulls/1".into(),
        head: head.map(str::to_string),
    };
    let earlier = git::Published {
        commit: commit.clone(),
        pushed: false,
    };
    // The forge shows the branch, or does not say: nothing to do.
    for shown in [pull(Some("upgrade")), pull(None)] {
        assert!(recorded_or_pushed_again(&shown, &change, &earlier).unwrap());
        assert_eq!(tip(), commit);
    }
    let unrecorded = pull(Some("refs/pull/1/head"));
    // Pushed just now: the forge may still be recording it.
    let fresh = git::Published {
        commit: commit.clone(),
        pushed: true,
    };
    assert!(!recorded_or_pushed_again(&unrecorded, &change, &fresh).unwrap());
    assert_eq!(tip(), commit);
    // Pushed by an earlier attempt long ago: pushed again, the same files.
    assert!(!recorded_or_pushed_again(&unrecorded, &change, &earlier).unwrap());
    let again = tip();
    assert_ne!(again, commit);
    let repo = git2::Repository::open_bare(&path).unwrap();
    let pushed = repo.find_commit(git2::Oid::from_str(&again).unwrap()).unwrap();
    let original = repo.find_commit(git2::Oid::from_str(&commit).unwrap()).unwrap();
    assert_eq!(pushed.tree_id(), original.tree_id());
    assert_eq!(pushed.parent_ids().collect::<Vec<_>>(), [original.id()]);
    // Just pushed again: not again until that push settles.
    let latest = git::Published {
        commit: again.clone(),
        pushed: false,
    };
    assert!(!recorded_or_pushed_again(&unrecorded, &change, &latest).unwrap());
    assert_eq!(tip(), again);
}
