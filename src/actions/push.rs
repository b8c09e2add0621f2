//! Carrying out publish and pull request steps: the one order of calls
//! (create the repository on the forge, push, apply its settings; or push
//! a branch and open its pull request) that the cluster and
//! `goldpath scaffold` both follow. Where a step runs supplies what differs
//! through [`Publisher`]: credentials, the forge's client, how a call is
//! waited for.

use std::future::Future;
use std::time::{Duration, Instant};

use super::ActionError;
use super::ActionKind;
use super::github::{self, GithubPublishInput, RepoCreateInput, RepoCreateOutput, RepoPushInput};
use super::publish::{ForgeRequest, Publish, PublishInput, PublishOutput};
use super::pull_request::{PullRequestInput, PullRequestOutput, PullRequestStep};
use crate::config::{Config, RepositoryRoute};
use crate::engine::files::FileTree;
use crate::forge::{self, Forge, MergeRequestOptions, PullRequest};
use crate::git;

/// How long after a push a forge that still does not show the pushed
/// branch is taken to have lost the push's record: Gitea was seen taking up
/// to 17 s to record one on a loaded machine.
const UNRECORDED_AFTER: Duration = Duration::from_secs(60);

/// Who publishes, and under which rules.
pub struct Publishing<'a> {
    /// The operator's configuration: git hosts, the commit author.
    pub config: &'a Config,
    /// The request's namespace, whose tenancy rules apply.
    pub namespace: &'a str,
    /// What every push carries to show whose it is: the request's UID.
    pub marker: &'a str,
    /// Whether a publish step's push carries it too, and so goes only into
    /// a repository without branches or one of its own; off for the CLI's
    /// own local repositories, made for the run.
    pub guard_publish: bool,
    /// When the step first started (seconds since the Unix epoch), recorded
    /// before it made any forge call: an empty repository the forge made
    /// since then is the step's own, which it may delete and make again
    /// when a killed push left it refusing pushes. `None`: never delete.
    pub step_started: Option<i64>,
}

/// How a repository is reached: the credentials a push uses and the
/// forge's client, where its API is called.
pub struct Remote<F> {
    /// For the push; `None` for anonymous access.
    pub credentials: Option<git::Credentials>,
    /// The forge's client.
    pub forge: Option<F>,
}

/// What publishing needs from where it runs.
pub trait Publisher {
    /// The forge's API client.
    type Forge: Forge;

    /// Who publishes, and under which rules.
    fn publishing(&self) -> Publishing<'_>;

    /// Waits for a forge call.
    fn wait<T>(&self, call: impl Future<Output = T>) -> T;

    /// How to reach the repository of `host` through `route`, with the
    /// step's own token in place of the host's password; the forge's client
    /// only when `forge` asks for it.
    fn remote(
        &self,
        host: &str,
        route: &RepositoryRoute,
        token: Option<&str>,
        forge: bool,
    ) -> Result<Remote<Self::Forge>, ActionError>;

    /// The branch of the existing repository a pull request goes into when
    /// the step names none; refused when the repository does not exist.
    fn default_branch(
        &self,
        step: &PullRequestStep,
        forge: Option<&Self::Forge>,
    ) -> Result<String, ActionError>;

    /// Told of each push: `branch` of `remote_url`, in `took`.
    fn pushed(&mut self, forge: Option<&Self::Forge>, remote_url: &str, branch: &str, took: Duration);

    /// Makes ready the repository a publish step pushes to.
    fn prepare(&self, _publish: &Publish) -> Result<(), ActionError> {
        Ok(())
    }

    /// Told when a step's forge calls are over.
    fn finished(&mut self, _forge: Option<&Self::Forge>) {}

    /// Told of what a publish step published, for later steps
    /// (`catalog:register` reads catalog-info.yaml from it).
    fn published(&mut self, publish: Publish, output: &PublishOutput);
}

/// A publish step: its repository created on a forge where the host is one,
/// the workspace pushed, then its settings applied.
pub fn publish<P: Publisher + ?Sized>(
    publisher: &mut P,
    action: ActionKind,
    input: &PublishInput,
    workspace: &FileTree,
) -> Result<PublishOutput, ActionError> {
    let publishing = publisher.publishing();
    let config = publishing.config;
    let publish = Publish::resolve(
        action,
        input,
        config,
        &config.tenant(publishing.namespace),
        workspace,
    )?;
    publish_resolved(publisher, publish, input.token.as_deref(), true)
}

/// A `publish:github` step, as [`publish`].
pub fn publish_github<P: Publisher + ?Sized>(
    publisher: &mut P,
    input: &GithubPublishInput,
    workspace: &FileTree,
) -> Result<PublishOutput, ActionError> {
    let publishing = publisher.publishing();
    let config = publishing.config;
    let publish = github::resolve(input, config, &config.tenant(publishing.namespace), workspace)?;
    publish_resolved(publisher, publish, input.common.token.as_deref(), true)
}

/// A `github:repo:push` step: as [`publish_github`], into a repository
/// that must exist already.
pub fn github_repo_push<P: Publisher + ?Sized>(
    publisher: &mut P,
    input: &RepoPushInput,
    workspace: &FileTree,
) -> Result<PublishOutput, ActionError> {
    let publishing = publisher.publishing();
    let config = publishing.config;
    let input = input.as_publish();
    let publish = github::resolve(&input, config, &config.tenant(publishing.namespace), workspace)?;
    publish_resolved(publisher, publish, input.common.token.as_deref(), false)
}

/// A `github:repo:create` step: the repository made (or the empty one an
/// earlier attempt made found) and its settings applied; nothing pushed.
pub fn github_repo_create<P: Publisher + ?Sized>(
    publisher: &mut P,
    input: &RepoCreateInput,
) -> Result<RepoCreateOutput, ActionError> {
    let publishing = publisher.publishing();
    let config = publishing.config;
    let (repo, route, request) = github::resolve_create(input, config, &config.tenant(publishing.namespace))?;
    let token = step_token(input.token.as_deref());
    let Remote { forge, .. } = publisher.remote(&repo.host, &route, token, request.is_some())?;
    if let (Some(forge), Some(request)) = (&forge, &request) {
        publisher.wait(forge::ensure_new_repository(forge, &request.repository))?;
        publisher.wait(forge::apply_settings(
            forge,
            &request.repository.id,
            &request.settings,
        ))?;
    }
    publisher.finished(forge.as_ref());
    Ok(RepoCreateOutput {
        remote_url: route.remote_url,
    })
}

/// Pushes a resolved publish step: into the repository it makes on a
/// forge (`create`), or into one that must exist.
fn publish_resolved<P: Publisher + ?Sized>(
    publisher: &mut P,
    publish: Publish,
    token: Option<&str>,
    create: bool,
) -> Result<PublishOutput, ActionError> {
    publish_then(publisher, publish, token, create, |_, _, _| Ok(())).map(|(output, ())| output)
}

/// As [`publish_resolved`], then `after` with the forge's client, once the
/// repository holds this request's commit and its settings are applied;
/// `R::default()` where there is no forge to call.
pub(super) fn publish_then<P: Publisher + ?Sized, R: Default>(
    publisher: &mut P,
    publish: Publish,
    token: Option<&str>,
    create: bool,
    after: impl FnOnce(&P, &P::Forge, &ForgeRequest) -> Result<R, ActionError>,
) -> Result<(PublishOutput, R), ActionError> {
    let token = step_token(token);
    let Remote { credentials, forge } =
        publisher.remote(&publish.repo.host, &publish.route, token, publish.forge.is_some())?;
    publisher.prepare(&publish)?;
    let publishing = publisher.publishing();
    let identity = identity(publishing.config, &publish.author);
    let started = Instant::now();
    let push = git::PublishRequest {
        remote_url: &publish.route.remote_url,
        branch: &publish.branch,
        files: &publish.files,
        message: &publish.message,
        identity: &identity,
        credentials: credentials.as_ref(),
        marker: publishing.guard_publish.then_some(publishing.marker),
    };
    let request = forge.as_ref().zip(publish.forge.as_ref());
    let published = create_and_push(publisher, request, create, &push, publishing.step_started)?;
    publisher.pushed(
        forge.as_ref(),
        &publish.route.remote_url,
        &publish.branch,
        started.elapsed(),
    );
    // Only once the branch holds this request's commit: a repository
    // with anyone else's content failed the push and is left untouched.
    let mut extra = R::default();
    if let (Some(forge), Some(request)) = (&forge, &publish.forge) {
        publisher.wait(forge::apply_settings(
            forge,
            &request.repository.id,
            &request.settings,
        ))?;
        extra = after(publisher, forge, request)?;
    }
    publisher.finished(forge.as_ref());
    let output = publish.output(&published.commit);
    publisher.published(publish, &output);
    Ok((output, extra))
}

/// Most times a publish step makes its repository again when the forge
/// has lost it, or a killed push left it refusing pushes.
pub const MAX_REMAKES: usize = 2;

/// Makes the repository on the forge (where there is one and `create`
/// asks for it; else finds it there), then pushes.
/// A killed run can leave the repository in two states that refuse the
/// next run's push, both seen on Gitea:
///
/// - gone: a create whose caller was killed is rolled back after the
///   repository became visible, so the next run found it and skipped the
///   create (Gitea answers 403 to a push into an organisation's repository
///   that does not exist). It is made again.
/// - stuck: a push killed while the server held the branch's lock leaves
///   the lock file behind, and every later push to that branch is refused.
///   An empty repository the forge made after this step first started is
///   this step's own: it is deleted and made again. Any other repository
///   is left as it is and the push's error stands.
fn create_and_push<P: Publisher + ?Sized>(
    publisher: &P,
    forge: Option<(&P::Forge, &ForgeRequest)>,
    create: bool,
    push: &git::PublishRequest<'_>,
    step_started: Option<i64>,
) -> Result<git::Published, ActionError> {
    let mut remakes = 0;
    loop {
        if let Some((forge, request)) = forge {
            if create {
                publisher.wait(forge::ensure_repository(forge, &request.repository))?;
            } else {
                publisher.wait(forge::existing_repository(forge, &request.repository.id))?;
            }
        }
        let error = match git::publish(push) {
            Ok(published) => return Ok(published),
            Err(error) => error,
        };
        let failed = |error: git::GitError| ActionError::new(error.to_string(), error.is_transient());
        let Some((forge, request)) = forge.filter(|_| create && error.may_be_left_by_a_killed_run()) else {
            return Err(failed(error));
        };
        let id = &request.repository.id;
        match publisher.wait(forge.repository(id))? {
            None => {}
            Some(found) if found.empty && made_since(&found, step_started) => {
                publisher.wait(forge.delete_repository(id))?;
            }
            Some(_) => return Err(failed(error)),
        }
        if remakes == MAX_REMAKES {
            return Err(ActionError::new(
                format!(
                    "the repository {id} refused each of {} pushes, though it was made again before each; \
                     something deletes or breaks it: {error}",
                    remakes + 1
                ),
                true,
            ));
        }
        remakes += 1;
    }
}

/// Whether the forge made `repository` after `step_started`: a
/// repository this step made on an earlier attempt.
pub(super) fn made_since(repository: &forge::Repository, step_started: Option<i64>) -> bool {
    matches!((repository.created_at, step_started), (Some(made), Some(started)) if made >= started)
}

/// A pull request step: the change pushed as a branch (or the branch an
/// earlier attempt pushed found), then its pull request opened (or the
/// open one found) where there is a forge to ask.
pub fn pull_request<P: Publisher + ?Sized>(
    publisher: &mut P,
    action: ActionKind,
    input: &PullRequestInput,
    workspace: &FileTree,
) -> Result<PullRequestOutput, ActionError> {
    propose(publisher, action, input, workspace, None, git::Change::Write)
}

/// As [`pull_request`], then a merge request's `options` set (GitLab);
/// `change` says whether the files are written or removed.
pub(super) fn propose<P: Publisher + ?Sized>(
    publisher: &mut P,
    action: ActionKind,
    input: &PullRequestInput,
    workspace: &FileTree,
    options: Option<&MergeRequestOptions>,
    change_kind: git::Change,
) -> Result<PullRequestOutput, ActionError> {
    let publishing = publisher.publishing();
    let config = publishing.config;
    let step = PullRequestStep::resolve(
        action,
        input,
        config,
        &config.tenant(publishing.namespace),
        workspace,
    )?;
    let token = step_token(input.token.as_deref());
    let Remote { credentials, forge } = publisher.remote(&step.host, &step.route, token, true)?;
    let default_branch = publisher.default_branch(&step, forge.as_ref())?;
    let base = step.base.clone().unwrap_or(default_branch);
    let publishing = publisher.publishing();
    let identity = identity(publishing.config, &step.author);
    let marker = publishing.marker.to_owned();
    let started = Instant::now();
    let change = git::PublishRequest {
        remote_url: &step.route.remote_url,
        branch: &step.branch,
        files: &step.files,
        message: &step.message,
        identity: &identity,
        credentials: credentials.as_ref(),
        marker: Some(&marker),
    };
    let published = git::publish_change_as(&change, &base, change_kind)
        .map_err(|e| ActionError::new(e.to_string(), e.is_transient()))?;
    publisher.pushed(
        forge.as_ref(),
        &step.route.remote_url,
        &step.branch,
        started.elapsed(),
    );
    let mut pull = PullRequest {
        number: 0,
        url: String::new(),
        head: None,
    };
    if let Some(forge) = &forge {
        pull = publisher.wait(forge::ensure_pull_request(
            forge,
            &step.id,
            &step.pull_request(&base),
            step.update,
        ))?;
        confirm_head(&step, &pull, &change, &published)?;
        if !step.reviewers.is_empty() || !step.team_reviewers.is_empty() {
            publisher.wait(forge.request_reviews(
                &step.id,
                pull.number,
                &step.reviewers,
                &step.team_reviewers,
            ))?;
        }
        if let Some(options) = options.filter(|o| **o != MergeRequestOptions::default()) {
            publisher.wait(forge.set_merge_request_options(&step.id, pull.number, options))?;
        }
    }
    publisher.finished(forge.as_ref());
    Ok(step.output(&pull, &base, &published.commit))
}

/// That the forge shows `pull`'s head as the step's branch; when it does
/// not, the step tries again (see [`recorded_or_pushed_again`]).
fn confirm_head(
    step: &PullRequestStep,
    pull: &PullRequest,
    change: &git::PublishRequest<'_>,
    published: &git::Published,
) -> Result<(), ActionError> {
    let unrecorded = match step.check_head(pull) {
        Ok(()) => return Ok(()),
        Err(unrecorded) => unrecorded,
    };
    recorded_or_pushed_again(pull, change, published)
        .map_err(|e| ActionError::new(e.to_string(), e.is_transient()))?;
    Err(unrecorded)
}

/// Whether the forge shows `pull`'s head as `change`'s branch, which
/// `published` says was pushed. When it does not and the branch was pushed
/// by an earlier attempt, that push was most likely cut before the forge
/// recorded it (Gitea records a branch in a hook after git took the push),
/// and a forge records one only when a push changes it: the branch is
/// pushed again once the first push is older than what a forge takes to
/// record one. `false` means: look again later. Pull request steps and
/// upgrade proposals both go through here.
pub(crate) fn recorded_or_pushed_again(
    pull: &PullRequest,
    change: &git::PublishRequest<'_>,
    published: &git::Published,
) -> Result<bool, git::GitError> {
    if pull.head.as_deref().is_none_or(|head| head == change.branch) {
        return Ok(true);
    }
    if !published.pushed {
        git::push_again(change, &published.commit, UNRECORDED_AFTER)?;
    }
    Ok(false)
}

/// The commit author: the step's, else the operator's `gitAuthor`.
pub(crate) fn identity(config: &Config, author: &(Option<String>, Option<String>)) -> git::GitIdentity {
    let configured = &config.git_author;
    git::GitIdentity {
        author_name: author.0.clone().unwrap_or_else(|| configured.name.clone()),
        author_email: author.1.clone().unwrap_or_else(|| configured.email.clone()),
    }
}

/// A step's own `token` input, trimmed, when it has one.
pub(crate) fn step_token(token: Option<&str>) -> Option<&str> {
    token.map(str::trim).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
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
        async fn create_pull_request(
            &self,
            _: &RepoId,
            _: &NewPullRequest,
        ) -> Result<PullRequest, ForgeError> {
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
        let input =
            super::super::input::decode(&json!({"repoUrl": "gitea.test?owner=acme&repo=app"})).unwrap();
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
        let then =
            git2::Signature::new("goldpath", "goldpath@example.com", &git2::Time::new(1_000, 0)).unwrap();
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
}
