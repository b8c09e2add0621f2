//! Template upgrades and parameter changes as pull requests, for a
//! Succeeded request with `spec.upgradePolicy: PullRequest`. When its
//! Template has a new revision, or its parameters change, the template is
//! rendered as the repository was made (the recorded revision and
//! parameters) and as it would be made now, the difference three-way merged
//! into the repository's default branch, and the result pushed on the
//! request's own branch and proposed as one pull request, tracked in
//! `status.upgrades` and the `UpToDate` condition.
//!
//! What is decided is in `rules` (pure); what a rendering would publish is
//! in `render`; this file reads the cluster, the git server and the forge.
//! Everything reaches the repository as the request's publish step did:
//! the same step input, rendered with the same secrets, checked against the
//! namespace's publish owners, through the same `gitHosts` credentials (or
//! the step's own token). Nothing is ever pushed to the default branch and
//! no branch is deleted; a branch someone else committed to is left alone.

mod memo;
mod outcome;
mod render;
mod rules;

pub(crate) use memo::Memos;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use tokio::runtime::Handle;

use super::resolve::{granted, read_secrets};
use super::{Edge, template_name};
use crate::api::conditions::{self, ConditionState, ConditionType};
use crate::api::{
    Phase, PullRequestRef, ScaffoldRequest, ScaffoldRequestStatus, Template, UpgradePolicy, UpgradeState,
};
use crate::config::RepositoryRoute;
use crate::controller::Error;
use crate::controller::effects::ClusterEffects;
use crate::controller::guard::Guarded;
use crate::controller::kube_error;
use crate::controller::template::{Prepared, SourceError, prepared};
use crate::forge::{self, Forge, NewPullRequest, RepoId};
use crate::git::{self, GitError, MergeLabels, PublishRequest};
use memo::{Access, Memo};
use outcome::Outcome;
use render::Rendered;
use rules::{Decision, Reach, Target};

/// Whether `request` follows its Template: it succeeded and asks for
/// upgrades as pull requests.
pub(super) fn follows(request: &ScaffoldRequest) -> bool {
    request.spec.upgrade_policy == UpgradePolicy::PullRequest
        && request.status.as_ref().and_then(|s| s.phase) == Some(Phase::Succeeded)
}

/// Proposes what the request's Template or parameters changed, or looks
/// at the pull request that does; records it in status.
pub(super) async fn reconcile(edge: Edge) -> Result<Action, Error> {
    let request = edge.request.clone();
    let mut status = request.status.clone().unwrap_or_default();
    let before = status.clone();
    status.observed_generation = request.metadata.generation;
    let mut notes = Vec::new();
    let outcome = match follow(&edge, &mut status, &mut notes).await? {
        Ok(outcome) => outcome,
        Err(problem) => problem,
    };
    let condition = ConditionState::new(
        ConditionType::UpToDate,
        outcome.current,
        outcome.reason,
        &outcome.message,
    );
    conditions::set(
        &mut status.conditions,
        &condition,
        request.metadata.generation,
        Timestamp::now(),
    );
    if status != before {
        edge.write_status(&status).await?;
    }
    if outcome.resets_backoff() {
        edge.context.succeeded(&edge.key);
    }
    for (type_, reason, note) in notes {
        edge.context
            .event(request.as_ref(), type_, reason, "Upgrade", note)
            .await;
    }
    Ok(outcome.next)
}

type Followed = Result<Result<Outcome, Outcome>, Error>;

/// The Template, the target and then the rules, in order; `Err(outcome)`
/// when something stands in the way.
async fn follow(edge: &Edge, status: &mut ScaffoldRequestStatus, notes: &mut Vec<Note>) -> Followed {
    let template = match template(edge).await? {
        Ok(template) => template,
        Err(outcome) => return Ok(Err(outcome)),
    };
    let name = template_name(&template);
    let Some(revision) = ready_revision(&template) else {
        let message = format!("waiting for Template {name} to be checked");
        return Ok(Err(Outcome::waiting("TemplateNotReady", message)));
    };
    let inline = template.spec.source.as_ref().is_none_or(|s| s.git.is_none());
    let context = &edge.context;
    let target_prepared = match prepared(context, &template, Some(&revision)).await {
        Ok(Ok(found)) => found,
        Ok(Err(problems)) => {
            let message = format!("Template {name} is invalid: {}", problems.join("; "));
            return Ok(Err(Outcome::waiting("TemplateInvalid", message)));
        }
        Err(error) => return Ok(Err(source_problem(edge, &name, error))),
    };
    let parameters = match target_prepared.schema.validate(&edge.request.spec.parameters) {
        Ok(parameters) => parameters,
        Err(errors) => {
            let message = errors
                .iter()
                .map(|e| {
                    format!(
                        "spec.parameters{}{}: {}",
                        if e.field.is_empty() { "" } else { "." },
                        e.field,
                        e.message
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Ok(Err(Outcome::waiting("InvalidParameters", message)));
        }
    };
    let secrets = match read_secrets(context, &edge.request).await? {
        Ok(secrets) => secrets,
        Err(message) => return Ok(Err(Outcome::waiting("SecretNotFound", message))),
    };
    let target = Target {
        revision,
        parameters,
        generation: edge.request.metadata.generation.unwrap_or_default(),
        inline,
    };
    let work = Work {
        edge: edge.clone(),
        template: Arc::new(template),
        fingerprint: rules::fingerprint(&target, &secrets),
        target,
        target_prepared,
        secrets,
        handle: Handle::current(),
    };
    let mut owned = std::mem::take(status);
    let (owned, outcome, made) = tokio::task::spawn_blocking(move || {
        let mut notes = Vec::new();
        let outcome = work.run(&mut owned, &mut notes);
        (owned, outcome, notes)
    })
    .await
    .map_err(|e| Error::Worker(e.to_string()))?;
    *status = owned;
    notes.extend(made);
    Ok(outcome)
}

/// An Event to publish: its type, reason and note.
type Note = (EventType, &'static str, String);

/// The Template the request names, if it can be read and grants access.
async fn template(edge: &Edge) -> Result<Result<Template, Outcome>, Error> {
    let request = &edge.request;
    let own = request.namespace().unwrap_or_default();
    let reference = &request.spec.template_ref;
    let namespace = reference.namespace.clone().unwrap_or_else(|| own.clone());
    let name = format!("{namespace}/{}", reference.name);
    let found = Api::<Guarded<Template>>::namespaced(edge.context.client.clone(), &namespace)
        .get_opt(&reference.name)
        .await
        .map_err(kube_error(format!("reading Template {name}")))?;
    Ok(match found {
        Some(Guarded(Ok(template))) if granted(&template, &namespace, &own) => Ok(template),
        Some(Guarded(Ok(_))) => Err(Outcome::waiting(
            "AccessDenied",
            format!("spec.templateRef: Template {name} does not grant namespace {own} access"),
        )),
        Some(Guarded(Err(bad))) => Err(Outcome::waiting(
            "TemplateUndecodable",
            format!(
                "spec.templateRef: Template {name} cannot be read: {}",
                bad.problem
            ),
        )),
        None => Err(Outcome::waiting(
            "TemplateNotFound",
            format!("spec.templateRef: Template {name} does not exist"),
        )),
    })
}

/// The Template's checked revision, once its status describes its spec
/// and it is Ready.
fn ready_revision(template: &Template) -> Option<String> {
    let status = template.status.as_ref()?;
    let ready = conditions::find(&status.conditions, ConditionType::Ready)?;
    (status.observed_generation == template.metadata.generation && ready.status == "True")
        .then(|| status.revision.clone())
        .flatten()
}

/// A template source that could not be read: tried again with backoff
/// when that may help.
fn source_problem(edge: &Edge, name: &str, error: SourceError) -> Outcome {
    match error {
        SourceError::Unavailable(message) => {
            let delay = edge.context.backoff(&edge.key);
            Outcome::retrying(
                "TemplateUnavailable",
                format!("Template {name}: {message}"),
                delay,
            )
        }
        SourceError::Invalid(message) | SourceError::TooLarge(message) => {
            Outcome::waiting("TemplateUnavailable", format!("Template {name}: {message}"))
        }
    }
}

/// One follow-up of a request, on a blocking thread: rendering, git and the
/// forge block.
struct Work {
    edge: Edge,
    template: Arc<Template>,
    target: Target,
    target_prepared: Arc<Prepared>,
    secrets: std::collections::BTreeMap<String, String>,
    /// [`rules::fingerprint`] of the target and secrets.
    fingerprint: u64,
    handle: Handle,
}

/// What failed, as the outcome that reports it.
type Step<T> = Result<T, Outcome>;

/// The published repository, as the publish step reaches it.
struct Remote {
    id: RepoId,
    forge: forge::client::Client<forge::HttpTransport>,
    credentials: Option<git::Credentials>,
}

/// The template's change since `from_revision` merged into the default
/// branch's tip `commit`, whose files are `ours`.
struct Merge {
    from_revision: String,
    default_branch: String,
    commit: String,
    ours: crate::engine::files::FileTree,
    merged: git::Merged,
}

impl Work {
    /// Applies the rules until they settle: at most an observation and a
    /// proposal per reconcile. A request left without an open pull request
    /// is forgotten.
    fn run(&self, status: &mut ScaffoldRequestStatus, notes: &mut Vec<Note>) -> Result<Outcome, Outcome> {
        let outcome = self.settle(status, notes);
        if !status.upgrades.iter().any(|u| u.state == UpgradeState::Open) {
            self.edge.context.upgrades.forget(&self.edge.key);
        }
        outcome
    }

    fn settle(&self, status: &mut ScaffoldRequestStatus, notes: &mut Vec<Note>) -> Result<Outcome, Outcome> {
        let template = template_name(&self.template);
        // The forge the open pull request was observed through, once it was.
        let mut observed: Option<Access> = None;
        let mut target_render = None;
        // Observe, propose, then settle: three rounds at most.
        for _ in 0..3 {
            match rules::decide(status, &self.target, observed.is_some()) {
                Decision::UpToDate => {
                    let message = format!(
                        "the repository follows Template {template} at revision {} with the parameters of \
                         generation {}",
                        self.target.revision, self.target.generation
                    );
                    return Ok(Outcome::waiting("Current", message)).map(|o| Outcome { current: true, ..o });
                }
                Decision::NoBase => {
                    return Err(Outcome::waiting(
                        "NoBase",
                        "status.appliedParameters does not record the parameters the repository was made \
                         with (the request ran before it asked for upgrades), so there is no base to merge \
                         against; create the request again with spec.upgradePolicy: PullRequest"
                            .into(),
                    ));
                }
                Decision::InlineChanged => return Err(self.inline_changed(status, observed)),
                Decision::Declined(index) => {
                    let upgrade = &status.upgrades[index];
                    let message = format!(
                        "pull request {} proposing revision {} for generation {} was closed; it is not \
                         proposed again. A newer revision or a parameter change is proposed anew",
                        upgrade.pull_request.as_ref().map_or("", |p| p.url.as_str()),
                        upgrade.to,
                        upgrade.generation
                    );
                    return Ok(Outcome::waiting("UpgradeDeclined", message));
                }
                Decision::Wait(index) => {
                    let wait = self.poll(observed, false);
                    return Ok(open_outcome(status, index, wait));
                }
                Decision::Observe(index) => {
                    let access = self.access(&mut target_render)?;
                    let now = repository_of(&access.route);
                    if !rules::in_repository(&status.upgrades[index], &now) {
                        return Err(moved(&status.upgrades[index], &now));
                    }
                    self.observe(status, index, &access, notes)?;
                    observed = Some(access);
                }
                Decision::Propose {
                    from_revision,
                    from_parameters,
                    update,
                } => {
                    let rendered = self.rendered_target(&mut target_render)?;
                    match self.propose(status, rendered, &from_revision, from_parameters, update, notes)? {
                        Some(index) => {
                            let wait = self.poll(Some(access_of(rendered)), true);
                            return Ok(open_outcome(status, index, wait));
                        }
                        None => continue,
                    }
                }
            }
        }
        Ok(Outcome {
            current: false,
            reason: "UpgradePending",
            message: "looking again shortly".into(),
            next: Action::requeue(rules::FIRST_POLL),
            retrying: false,
        })
    }

    /// Why nothing is proposed over changed inline files. An open pull
    /// request (`observed`, still open) is still looked at: its merge is
    /// recorded although the files differ.
    fn inline_changed(&self, status: &ScaffoldRequestStatus, observed: Option<Access>) -> Outcome {
        let message = format!(
            "Template {} keeps its files inline, and goldpath keeps no earlier revision of inline files: \
             the change from revision {} to {} cannot be told apart from the repository's own changes, so \
             no upgrade is proposed. Templates with a git source (spec.source.git) are upgraded; parameter \
             changes are proposed while the files stay as they were",
            template_name(&self.template),
            status.template_revision.as_deref().unwrap_or("(none)"),
            self.target.revision
        );
        let mut outcome = Outcome::waiting("InlineTemplate", message);
        if observed.is_some() {
            outcome.next = Action::requeue(self.poll(observed, false));
        }
        outcome
    }

    /// Asks the forge what became of upgrade `index`'s pull request and
    /// records it.
    fn observe(
        &self,
        status: &mut ScaffoldRequestStatus,
        index: usize,
        access: &Access,
        notes: &mut Vec<Note>,
    ) -> Step<()> {
        let number = status.upgrades[index]
            .pull_request
            .as_ref()
            .map_or(0, |p| p.number);
        let forge = self.forge(&access.route, access.token.as_deref())?;
        let answer = self
            .handle
            .block_on(forge.pull_request_state(&access.repo, u64::try_from(number).unwrap_or(0)));
        let state = rules::answered(answer).map_err(|e| self.failed(e.to_string(), e.is_transient()))?;
        if let Some(note) = rules::observed(status, index, state) {
            notes.push((EventType::Normal, "UpgradeObserved", note));
        }
        Ok(())
    }

    /// The forge the target publishes to: remembered from the last
    /// rendering of the same target, else learnt by rendering it now.
    fn access(&self, made: &mut Option<Rendered>) -> Step<Access> {
        let remembered = self.edge.context.upgrades.get(&self.edge.key);
        match (
            rules::reach(remembered.as_ref().map(|m| m.fingerprint), self.fingerprint),
            remembered,
        ) {
            (Reach::Remembered, Some(memo)) => Ok(memo.access),
            _ => self.rendered_target(made).map(access_of),
        }
    }

    /// The wait before the open pull request is looked at again, which
    /// doubles while nothing changes; remembers it with `access`.
    fn poll(&self, access: Option<Access>, changed: bool) -> Duration {
        let memos = &self.edge.context.upgrades;
        let previous = memos
            .get(&self.edge.key)
            .filter(|memo| !changed && memo.fingerprint == self.fingerprint)
            .and_then(|memo| memo.poll);
        let max = Duration::from_secs(self.edge.context.config.upgrade_poll_max_seconds);
        let wait = rules::next_poll(previous, max);
        if let Some(access) = access {
            let memo = Memo {
                fingerprint: self.fingerprint,
                access,
                poll: Some(wait),
            };
            memos.put(&self.edge.key, memo);
        }
        wait
    }
    /// The rendering of the target, made once per reconcile.
    fn rendered_target<'a>(&self, made: &'a mut Option<Rendered>) -> Step<&'a Rendered> {
        if made.is_none() {
            *made = Some(self.render(&self.target_prepared, self.target.parameters.clone())?);
        }
        made.as_ref()
            .ok_or_else(|| self.failed("no rendering".into(), true))
    }

    fn render(&self, prepared: &Prepared, parameters: serde_json::Value) -> Step<Rendered> {
        let config = &self.edge.context.config;
        let tenant = config.tenant(&self.edge.request.namespace().unwrap_or_default());
        render::render(
            prepared,
            parameters,
            self.secrets.clone(),
            self.edge.request.user(),
            config,
            &tenant,
        )
        .map_err(|message| {
            Outcome::waiting(
                "RenderFailed",
                format!(
                    "rendering Template {} at revision {}: {message}",
                    template_name(&self.template),
                    prepared.revision
                ),
            )
        })
    }

    fn effects(&self) -> ClusterEffects<'_> {
        let template_ref = format!("template:{}", template_name(&self.template));
        ClusterEffects::new(
            &self.edge.context,
            &self.edge.request,
            &template_ref,
            self.handle.clone(),
        )
    }

    fn forge(
        &self,
        route: &RepositoryRoute,
        token: Option<&str>,
    ) -> Step<forge::client::Client<forge::HttpTransport>> {
        self.effects()
            .forge_client(route, crate::actions::push::step_token(token))
            .map_err(|e| self.failed(e.message, e.transient))
    }

    /// Renders the base, merges the target's change into the default
    /// branch, pushes the request's branch and opens or updates its pull
    /// request. `None` when the repository already holds the target.
    fn propose(
        &self,
        status: &mut ScaffoldRequestStatus,
        theirs: &Rendered,
        from_revision: &str,
        from_parameters: serde_json::Value,
        update: Option<usize>,
        notes: &mut Vec<Note>,
    ) -> Step<Option<usize>> {
        let base = self.base(from_revision, from_parameters)?;
        if base.publish.route.remote_url != theirs.publish.route.remote_url {
            let message = format!(
                "the template publishes to {} now, not to {}, which the repository was made as; a pull \
                 request goes into the repository that was made",
                git::redact_url(&theirs.publish.route.remote_url),
                git::redact_url(&base.publish.route.remote_url)
            );
            return Err(Outcome::waiting("RepositoryChanged", message));
        }
        let forge = self.forge(&theirs.publish.route, theirs.token.as_deref())?;
        let token = crate::actions::push::step_token(theirs.token.as_deref());
        let credentials = self
            .effects()
            .push_credentials(&theirs.publish.route, token)
            .map_err(|e| self.failed(e.message, e.transient))?;
        let remote = Remote {
            id: repo_id(&theirs.publish),
            forge,
            credentials,
        };
        let merge = self.merge(&remote, &base, theirs, from_revision)?;
        if merge.merged.files == merge.ours && update.is_none() {
            rules::already_applied(status, &self.target);
            notes.push((
                EventType::Normal,
                "UpgradeApplied",
                format!(
                    "the default branch {} already holds revision {} with these parameters; no pull request \
                     is needed",
                    merge.default_branch, self.target.revision
                ),
            ));
            return Ok(None);
        }
        self.push(status, &remote, theirs, merge, update, notes).map(Some)
    }

    /// The rendering the repository was made from.
    fn base(&self, from_revision: &str, from_parameters: serde_json::Value) -> Step<Rendered> {
        let name = template_name(&self.template);
        let context = &self.edge.context;
        match self
            .handle
            .block_on(prepared(context, &self.template, Some(from_revision)))
        {
            Ok(Ok(found)) => self.render(&found, from_parameters),
            Ok(Err(problems)) => {
                let message = format!(
                    "Template {name} at revision {from_revision}, which the repository was made from, is \
                     invalid now: {}",
                    problems.join("; ")
                );
                Err(Outcome::waiting("BaseUnavailable", message))
            }
            Err(error) => Err(source_problem(&self.edge, &name, error)),
        }
    }

    /// The template's change from `base` to `theirs` merged into the
    /// repository's default branch as it is now.
    fn merge(&self, remote: &Remote, base: &Rendered, theirs: &Rendered, from_revision: &str) -> Step<Merge> {
        let id = &remote.id;
        let repository = self
            .handle
            .block_on(remote.forge.repository(id))
            .map_err(|e| self.failed(e.to_string(), e.is_transient()))?
            .ok_or_else(|| {
                Outcome::waiting(
                    "RepositoryNotFound",
                    format!("the repository {id} the request published does not exist any more"),
                )
            })?;
        let default_branch = repository.default_branch;
        let remote_url = theirs.publish.route.remote_url.as_str();
        let credentials = remote.credentials.as_ref();
        let git_failed = |e: GitError| self.failed(e.to_string(), e.is_transient());
        let commit = git::resolve(remote_url, Some(&default_branch), credentials).map_err(git_failed)?;
        let ours = git::read_repository(
            remote_url,
            &commit,
            credentials,
            &self.edge.context.git_cache,
            &self.edge.context.config.upgrade_repository_limits.into(),
        )
        .map_err(git_failed)?;
        let labels = MergeLabels {
            base: format!("template at {}", rules::short(from_revision)),
            ours: default_branch.clone(),
            theirs: format!("template at {}", rules::short(&self.target.revision)),
        };
        let merged = git::merge_trees(&base.publish.files, &ours, &theirs.publish.files, &labels)
            .map_err(git_failed)?;
        Ok(Merge {
            from_revision: from_revision.to_string(),
            default_branch,
            commit,
            ours,
            merged,
        })
    }

    /// Pushes the merge on the request's branch and opens or updates its
    /// pull request; returns the upgrade's index in status.
    fn push(
        &self,
        status: &mut ScaffoldRequestStatus,
        remote: &Remote,
        theirs: &Rendered,
        merge: Merge,
        update: Option<usize>,
        notes: &mut Vec<Note>,
    ) -> Step<usize> {
        let from_revision = merge.from_revision.as_str();
        let conflicts: Vec<String> = merge.merged.conflicts.iter().map(|c| c.path.clone()).collect();
        let name = self.edge.request.name_any();
        let first = rules::branch(&name, status, update);
        let fresh = rules::fresh_branch(&name, &self.target);
        let title = rules::title(&template_name(&self.template), from_revision, &self.target);
        let body = rules::body(&self.edge.key, from_revision, &self.target, &conflicts);
        let identity = crate::actions::push::identity(&self.edge.context.config, &theirs.publish.author);
        let uid = self.edge.request.uid().unwrap_or_default();
        let (written, removed) = merge.merged.changes_from(&merge.ours);
        let mut push = PublishRequest {
            remote_url: &theirs.publish.route.remote_url,
            branch: &first,
            files: &written,
            message: &title,
            identity: &identity,
            credentials: remote.credentials.as_ref(),
            marker: Some(&uid),
        };
        let mut attempt = git::propose(&push, &merge.default_branch, &merge.commit, &removed);
        if matches!(attempt, Err(GitError::NotCreatedByRequest { .. })) && update.is_none() && first != fresh
        {
            // Someone else's commits on the request's branch, whose pull
            // request is finished: a new proposal gets a branch of its own.
            push.branch = &fresh;
            attempt = git::propose(&push, &merge.default_branch, &merge.commit, &removed);
        }
        let published = match attempt {
            Ok(published) => published,
            Err(GitError::NotCreatedByRequest { .. }) => {
                return Err(self.branch_edited(status, update, push.branch));
            }
            Err(error) => return Err(self.failed(error.to_string(), error.is_transient())),
        };
        let branch = push.branch.to_string();
        let new = NewPullRequest {
            head: branch.clone(),
            base: merge.default_branch,
            title: title.clone(),
            body,
            draft: false,
        };
        let pull = self.pull_request(remote, &new, &push, &published)?;
        let count = conflicts.len();
        let proposal = rules::Proposal {
            branch,
            repository: repository_of(&theirs.publish.route),
            pull_request: PullRequestRef {
                url: pull.url.clone(),
                number: i64::try_from(pull.number).unwrap_or(i64::MAX),
            },
            conflicts,
        };
        let index = rules::proposed(status, &self.target, from_revision, update, proposal);
        notes.push((
            EventType::Normal,
            "UpgradeProposed",
            format!(
                "pull request {} proposes revision {} with the parameters of generation {} ({count} \
                 conflicts)",
                pull.url, self.target.revision, self.target.generation
            ),
        ));
        Ok(index)
    }

    /// Opens or updates the pull request of the pushed branch, once the
    /// forge shows that branch as its head.
    fn pull_request(
        &self,
        remote: &Remote,
        new: &NewPullRequest,
        push: &PublishRequest<'_>,
        published: &git::Published,
    ) -> Step<forge::PullRequest> {
        let pull = self
            .handle
            .block_on(forge::ensure_pull_request(&remote.forge, &remote.id, new, true))
            .map_err(|e| self.failed(e.to_string(), e.is_transient()))?;
        let recorded = crate::actions::push::recorded_or_pushed_again(&pull, push, published)
            .map_err(|e| self.failed(e.to_string(), e.is_transient()))?;
        if !recorded {
            let message = format!(
                "pull request {} does not show branch {} as its head yet: the forge has not recorded the \
                 pushed branch",
                pull.url, push.branch
            );
            return Err(self.failed(message, true));
        }
        Ok(pull)
    }

    /// The open upgrade's branch has commits goldpath did not make: nothing
    /// is pushed until its pull request is merged or closed, which is looked
    /// at after the longest wait between looks rather than soon, as each try
    /// renders and fetches.
    fn branch_edited(
        &self,
        status: &mut ScaffoldRequestStatus,
        update: Option<usize>,
        branch: &str,
    ) -> Outcome {
        let message = format!(
            "branch {branch} has commits goldpath did not make (a reviewer's); it is left as it is and \
             revision {} is not pushed to it. Merge or close its pull request to go on",
            self.target.revision
        );
        if let Some(upgrade) = update.and_then(|index| status.upgrades.get_mut(index)) {
            upgrade.message = Some(message.clone());
        }
        let wait = Duration::from_secs(self.edge.context.config.upgrade_poll_max_seconds);
        Outcome {
            next: Action::requeue(wait.max(rules::FIRST_POLL)),
            ..Outcome::waiting("BranchEdited", message)
        }
    }

    /// A failure of the git server or forge: tried again with backoff when
    /// transient, else reported until the request or Template changes.
    fn failed(&self, message: String, transient: bool) -> Outcome {
        let message = format!("proposing the upgrade: {message}");
        if transient {
            let delay = self.edge.context.backoff(&self.edge.key);
            Outcome::retrying("UpgradeFailed", message, delay)
        } else {
            Outcome::waiting("UpgradeFailed", message)
        }
    }
}

/// The open upgrade `index`, as the condition says it.
fn open_outcome(status: &ScaffoldRequestStatus, index: usize, wait: Duration) -> Outcome {
    let upgrade = &status.upgrades[index];
    let url = upgrade.pull_request.as_ref().map_or("", |p| p.url.as_str());
    let conflicts = upgrade.conflicts.len() + usize::try_from(upgrade.conflicts_omitted).unwrap_or(0);
    Outcome {
        current: false,
        reason: "UpgradeProposed",
        message: format!(
            "pull request {url} proposes revision {} with the parameters of generation {}; {conflicts} \
             conflicting paths",
            upgrade.to, upgrade.generation
        ),
        next: Action::requeue(wait),
        retrying: false,
    }
}

/// The repository a route reaches, as `status.upgrades[].repository`
/// records it: its git URL without credentials.
fn repository_of(route: &RepositoryRoute) -> String {
    git::redact_url(&route.remote_url)
}

/// The target publishes to another repository than the one upgrade's pull
/// request was opened in, now `repository`: that pull request is not looked
/// at in the other repository (its number names another pull request
/// there), and nothing is proposed until the target publishes where the
/// repository was made again.
fn moved(upgrade: &crate::api::UpgradeStatus, repository: &str) -> Outcome {
    let url = upgrade.pull_request.as_ref().map_or("", |p| p.url.as_str());
    let message = format!(
        "the template publishes to {repository} now, not to {}, where pull request {url} is open; a pull \
         request is only followed in the repository it was opened in. Change the parameters back, or merge \
         or close it there",
        upgrade.repository.as_deref().unwrap_or("(unknown)")
    );
    Outcome::waiting("RepositoryChanged", message)
}

/// The forge a rendering publishes to.
fn access_of(rendered: &Rendered) -> Access {
    Access {
        route: rendered.publish.route.clone(),
        token: rendered.token.clone(),
        repo: repo_id(&rendered.publish),
    }
}

/// The repository a publish step names.
fn repo_id(publish: &crate::actions::publish::Publish) -> RepoId {
    RepoId {
        owner: publish.repo.owner.clone().unwrap_or_default(),
        name: publish.repo.repo.clone().unwrap_or_default(),
    }
}
