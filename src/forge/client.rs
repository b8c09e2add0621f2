//! The forge a `gitHosts` entry names, as one [`Forge`]: the places that
//! publish hold a [`Client`] and never match on the kind of forge.

use super::gitea::Gitea;
use super::github::GitHub;
use super::gitlab::GitLab;
use super::{
    Access, BranchProtection, Forge, ForgeError, ForgeKind, GroupLevel, MergeRequestOptions, NewPullRequest,
    NewRepository, Pages, PullRequest, PullRequestState, RepoId, Repository, Transport, Variable, Webhook,
};

/// A forge's client over a transport.
#[derive(Debug)]
pub enum Client<T> {
    /// Gitea or Forgejo.
    Gitea(Gitea<T>),
    /// GitHub or GitHub Enterprise Server.
    GitHub(GitHub<T>),
    /// GitLab.
    GitLab(GitLab<T>),
}

impl<T: Transport> Client<T> {
    /// The client of a `kind` forge over `transport`; `None` for a plain
    /// git server or a forge goldpath has no client for.
    pub fn new(kind: ForgeKind, transport: T) -> Option<Self> {
        match kind {
            ForgeKind::Gitea => Some(Client::Gitea(Gitea::new(transport))),
            ForgeKind::Github => Some(Client::GitHub(GitHub::new(transport))),
            ForgeKind::Gitlab => Some(Client::GitLab(GitLab::new(transport))),
            ForgeKind::Git => None,
        }
    }

    /// The transport, e.g. to read a dry run's calls.
    pub fn transport(&self) -> &T {
        match self {
            Client::Gitea(forge) => forge.transport(),
            Client::GitHub(forge) => forge.transport(),
            Client::GitLab(forge) => forge.transport(),
        }
    }
}

/// Calls the same method on whichever forge it is.
macro_rules! each {
    ($self:ident, $forge:ident => $call:expr) => {
        match $self {
            Client::Gitea($forge) => $call.await,
            Client::GitHub($forge) => $call.await,
            Client::GitLab($forge) => $call.await,
        }
    };
}

impl<T: Transport> Forge for Client<T> {
    async fn repository(&self, id: &RepoId) -> Result<Option<Repository>, ForgeError> {
        each!(self, forge => forge.repository(id))
    }
    async fn create_repository(&self, new: &NewRepository) -> Result<Repository, ForgeError> {
        each!(self, forge => forge.create_repository(new))
    }
    async fn delete_repository(&self, id: &RepoId) -> Result<(), ForgeError> {
        each!(self, forge => forge.delete_repository(id))
    }
    async fn set_topics(&self, id: &RepoId, topics: &[String]) -> Result<(), ForgeError> {
        each!(self, forge => forge.set_topics(id, topics))
    }
    async fn add_collaborator(&self, id: &RepoId, user: &str, access: Access) -> Result<(), ForgeError> {
        each!(self, forge => forge.add_collaborator(id, user, access))
    }
    async fn add_team(&self, id: &RepoId, team: &str, access: Access) -> Result<(), ForgeError> {
        each!(self, forge => forge.add_team(id, team, access))
    }
    async fn protect_branch(&self, id: &RepoId, rule: &BranchProtection) -> Result<(), ForgeError> {
        each!(self, forge => forge.protect_branch(id, rule))
    }
    async fn find_pull_request(
        &self,
        id: &RepoId,
        head: &str,
        base: &str,
    ) -> Result<Option<PullRequest>, ForgeError> {
        each!(self, forge => forge.find_pull_request(id, head, base))
    }
    async fn create_pull_request(
        &self,
        id: &RepoId,
        new: &NewPullRequest,
    ) -> Result<PullRequest, ForgeError> {
        each!(self, forge => forge.create_pull_request(id, new))
    }
    async fn request_reviews(
        &self,
        id: &RepoId,
        number: u64,
        users: &[String],
        teams: &[String],
    ) -> Result<(), ForgeError> {
        each!(self, forge => forge.request_reviews(id, number, users, teams))
    }
    async fn update_pull_request(
        &self,
        id: &RepoId,
        number: u64,
        new: &NewPullRequest,
    ) -> Result<PullRequest, ForgeError> {
        each!(self, forge => forge.update_pull_request(id, number, new))
    }
    async fn pull_request_state(&self, id: &RepoId, number: u64) -> Result<PullRequestState, ForgeError> {
        each!(self, forge => forge.pull_request_state(id, number))
    }
    async fn has_branches(&self, id: &RepoId) -> Result<bool, ForgeError> {
        each!(self, forge => forge.has_branches(id))
    }
    async fn ensure_webhook(&self, id: &RepoId, hook: &Webhook) -> Result<bool, ForgeError> {
        each!(self, forge => forge.ensure_webhook(id, hook))
    }
    async fn dispatch_workflow(
        &self,
        id: &RepoId,
        workflow: &str,
        git_ref: &str,
        inputs: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ForgeError> {
        each!(self, forge => forge.dispatch_workflow(id, workflow, git_ref, inputs))
    }
    async fn find_dispatched_run(
        &self,
        id: &RepoId,
        workflow: &str,
        git_ref: &str,
        since: i64,
    ) -> Result<Option<u64>, ForgeError> {
        each!(self, forge => forge.find_dispatched_run(id, workflow, git_ref, since))
    }
    async fn enable_pages(&self, id: &RepoId, pages: &Pages) -> Result<(), ForgeError> {
        each!(self, forge => forge.enable_pages(id, pages))
    }
    async fn repository_number(&self, id: &RepoId) -> Result<u64, ForgeError> {
        each!(self, forge => forge.repository_number(id))
    }
    async fn edit_repository(
        &self,
        id: &RepoId,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), ForgeError> {
        each!(self, forge => forge.edit_repository(id, settings))
    }
    async fn ensure_branch(&self, id: &RepoId, branch: &str, from: &str) -> Result<(), ForgeError> {
        each!(self, forge => forge.ensure_branch(id, branch, from))
    }
    async fn ensure_variable(&self, id: &RepoId, variable: &Variable) -> Result<(), ForgeError> {
        each!(self, forge => forge.ensure_variable(id, variable))
    }
    async fn set_merge_request_options(
        &self,
        id: &RepoId,
        number: u64,
        options: &MergeRequestOptions,
    ) -> Result<(), ForgeError> {
        each!(self, forge => forge.set_merge_request_options(id, number, options))
    }
    async fn ensure_group(&self, path: &[GroupLevel]) -> Result<u64, ForgeError> {
        each!(self, forge => forge.ensure_group(path))
    }
}
