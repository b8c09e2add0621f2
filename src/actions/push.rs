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
use super::publish::{Publish, PublishInput, PublishOutput};
use super::pull_request::{PullRequestInput, PullRequestOutput, PullRequestStep};
use crate::config::{Config, RepositoryRoute};
use crate::engine::files::FileTree;
use crate::forge::{self, Forge, PullRequest};
use crate::git;

/// What publishing needs from where it runs.
pub trait Publisher {
    /// The forge's API client.
    type Forge: Forge;

    /// The operator's configuration: git hosts, the commit author.
    fn config(&self) -> &Config;

    /// The namespace of the request, whose tenancy rules apply.
    fn namespace(&self) -> &str;

    /// Waits for a forge call.
    fn wait<T>(&self, call: impl Future<Output = T>) -> T;

    /// The credentials a push to `route` uses, with the step's own token
    /// in place of the host's password.
    fn credentials(
        &self,
        route: &RepositoryRoute,
        token: Option<&str>,
    ) -> Result<Option<git::Credentials>, ActionError>;

    /// The forge's client for `host` (the repository's, reached through
    /// `route`), or `None` where its API is not called.
    fn forge(
        &self,
        host: &str,
        route: &RepositoryRoute,
        token: Option<&str>,
    ) -> Result<Option<Self::Forge>, ActionError>;

    /// What every push carries to show whose it is: the request's UID.
    fn marker(&self) -> &str;

    /// The marker of a publish step's push; `None` publishes anywhere (the
    /// CLI's own local repositories).
    fn publish_marker(&self) -> Option<&str> {
        Some(self.marker())
    }

    /// Makes ready the repository a publish step pushes to.
    fn prepare(&self, publish: &Publish) -> Result<(), ActionError>;

    /// The branch of the existing repository a pull request goes into when
    /// the step names none; refused when the repository does not exist.
    fn default_branch(
        &self,
        step: &PullRequestStep,
        forge: Option<&Self::Forge>,
    ) -> Result<String, ActionError>;

    /// Told of each push: `branch` of `remote_url`, in `took`.
    fn pushed(&mut self, forge: Option<&Self::Forge>, remote_url: &str, branch: &str, took: Duration);

    /// Told when a step's forge calls are over.
    fn finished(&mut self, forge: Option<&Self::Forge>);
}

/// A publish step: its repository created on a forge where the host is one,
/// the workspace pushed, then its settings applied. Returns what was
/// published, for later steps, and the step's output.
pub fn publish<P: Publisher>(
    publisher: &mut P,
    action: ActionKind,
    input: &PublishInput,
    workspace: &FileTree,
) -> Result<(Publish, PublishOutput), ActionError> {
    let config = publisher.config();
    let publish = Publish::resolve(
        action,
        input,
        config,
        &config.tenant(publisher.namespace()),
        workspace,
    )?;
    let token = step_token(input.token.as_deref());
    let credentials = publisher.credentials(&publish.route, token)?;
    let forge = match &publish.forge {
        Some(_) => publisher.forge(&publish.repo.host, &publish.route, token)?,
        None => None,
    };
    publisher.prepare(&publish)?;
    if let (Some(forge), Some(request)) = (&forge, &publish.forge) {
        publisher.wait(forge::ensure_repository(forge, &request.repository))?;
    }
    let identity = identity(publisher.config(), &publish.author);
    let started = Instant::now();
    let published = git::publish(&git::PublishRequest {
        remote_url: &publish.route.remote_url,
        branch: &publish.branch,
        files: &publish.files,
        message: &publish.message,
        identity: &identity,
        credentials: credentials.as_ref(),
        marker: publisher.publish_marker(),
    })
    .map_err(|e| ActionError::new(e.to_string(), e.is_transient()))?;
    publisher.pushed(
        forge.as_ref(),
        &publish.route.remote_url,
        &publish.branch,
        started.elapsed(),
    );
    // Only once the branch holds this request's commit: a repository
    // with anyone else's content failed the push and is left untouched.
    if let (Some(forge), Some(request)) = (&forge, &publish.forge) {
        publisher.wait(forge::apply_settings(
            forge,
            &request.repository.id,
            &request.settings,
        ))?;
    }
    publisher.finished(forge.as_ref());
    let output = publish.output(&published.commit);
    Ok((publish, output))
}

/// A pull request step: the change pushed as a branch (or the branch an
/// earlier attempt pushed found), then its pull request opened (or the
/// open one found) where there is a forge to ask.
pub fn pull_request<P: Publisher>(
    publisher: &mut P,
    input: &PullRequestInput,
    workspace: &FileTree,
) -> Result<PullRequestOutput, ActionError> {
    let config = publisher.config();
    let step = PullRequestStep::resolve(input, config, &config.tenant(publisher.namespace()), workspace)?;
    let token = step_token(input.token.as_deref());
    let credentials = publisher.credentials(&step.route, token)?;
    let forge = publisher.forge(&step.host, &step.route, token)?;
    let default_branch = publisher.default_branch(&step, forge.as_ref())?;
    let base = step.base.clone().unwrap_or(default_branch);
    let identity = identity(publisher.config(), &step.author);
    let started = Instant::now();
    let published = git::publish_change(&git::ChangeRequest {
        remote_url: &step.route.remote_url,
        base: &base,
        branch: &step.branch,
        files: &step.files,
        message: &step.message,
        identity: &identity,
        credentials: credentials.as_ref(),
        marker: publisher.marker(),
    })
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
    };
    if let Some(forge) = &forge {
        pull = publisher.wait(forge::ensure_pull_request(
            forge,
            &step.id,
            &step.pull_request(&base),
            step.update,
        ))?;
        if !step.reviewers.is_empty() || !step.team_reviewers.is_empty() {
            publisher.wait(forge.request_reviews(
                &step.id,
                pull.number,
                &step.reviewers,
                &step.team_reviewers,
            ))?;
        }
    }
    publisher.finished(forge.as_ref());
    Ok(step.output(&pull, &base, &published.commit))
}

/// The commit author: the step's, else the operator's `gitAuthor`.
fn identity(config: &Config, author: &(Option<String>, Option<String>)) -> git::GitIdentity {
    let configured = &config.git_author;
    git::GitIdentity {
        author_name: author.0.clone().unwrap_or_else(|| configured.name.clone()),
        author_email: author.1.clone().unwrap_or_else(|| configured.email.clone()),
    }
}

/// A step's own `token` input, trimmed, when it has one.
fn step_token(token: Option<&str>) -> Option<&str> {
    token.map(str::trim).filter(|t| !t.is_empty())
}
