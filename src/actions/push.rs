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
#[path = "push_tests.rs"]
mod tests;
