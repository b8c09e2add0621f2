//! Carrying out the GitLab steps: `publish:gitlab` (the shared publish,
//! then the settings, branches and variables only GitLab's API sets),
//! `publish:gitlab:merge-request` (the shared pull request step, then the
//! merge request's own options) and `gitlab:group:ensureExists`.

use super::gitlab::{self, AfterPush, GitlabPublishInput, GitlabPublishOutput};
use super::gitlab_api::{self, GroupInput, GroupOutput, MergeRequestInput, MergeRequestOutput};
use super::publish::ForgeRequest;
use super::push::{Publisher, Remote, propose, publish_then, step_token};
use super::{ActionError, ActionKind};
use crate::engine::files::FileTree;
use crate::forge::{self, Forge};

/// A `publish:gitlab` step: the project made in its namespace (or found,
/// when it holds this request's commit), pushed, its topics, settings,
/// branches and variables set; with `skipExisting`, a project that has
/// commits and that this step did not make is reported and left as it is.
pub fn publish_gitlab<P: Publisher + ?Sized>(
    publisher: &mut P,
    input: &GitlabPublishInput,
    workspace: &FileTree,
) -> Result<GitlabPublishOutput, ActionError> {
    let publishing = publisher.publishing();
    let config = publishing.config;
    let resolved = gitlab::resolve(input, config, &config.tenant(publishing.namespace), workspace)?;
    let token = step_token(input.token.as_deref());
    if let (true, Some(request)) = (resolved.skip_existing, &resolved.publish.forge) {
        let publish = &resolved.publish;
        let Remote { forge, .. } = publisher.remote(&publish.repo.host, &publish.route, token, true)?;
        if let Some(forge) = &forge {
            let id = &request.repository.id;
            let found = publisher.wait(forge.repository(id)).map_err(ActionError::from);
            let started = publishing.step_started;
            let skipped = match found {
                Ok(Some(found)) if gitlab::skips(&found, started) => publisher
                    .wait(forge.repository_number(id))
                    .map_err(ActionError::from)
                    .map(|number| Some((found, number))),
                Ok(_) => Ok(None),
                Err(error) => Err(error),
            };
            publisher.finished(Some(forge));
            if let Some((found, number)) = skipped? {
                return Ok(GitlabPublishOutput {
                    remote_url: publish.route.remote_url.clone(),
                    repo_contents_url: publish.route.contents_url.replace(
                        &format!("/{}", publish.branch),
                        &format!("/{}", found.default_branch),
                    ),
                    commit_hash: String::new(),
                    project_id: Some(number),
                    created: false,
                });
            }
        }
    }
    let after = resolved.after;
    let (output, project_id) = publish_then(
        publisher,
        resolved.publish,
        input.token.as_deref(),
        true,
        |publisher, forge, request| gitlab_after_push(publisher, forge, request, &after),
    )?;
    Ok(GitlabPublishOutput {
        remote_url: output.remote_url,
        repo_contents_url: output.repo_contents_url,
        commit_hash: output.commit_hash,
        project_id,
        created: true,
    })
}

/// What `publish:gitlab` sets once the project holds this request's
/// commit, in Backstage's order: settings, branches (made, then
/// protected), variables; each call sets a state, so a retried step
/// changes nothing twice. The project's id, for the output.
fn gitlab_after_push<P: Publisher + ?Sized>(
    publisher: &P,
    forge: &P::Forge,
    request: &ForgeRequest,
    after: &AfterPush,
) -> Result<Option<u64>, ActionError> {
    let id = &request.repository.id;
    if !after.settings.is_empty() {
        publisher.wait(forge.edit_repository(id, &after.settings))?;
    }
    for (branch, from) in &after.create_branches {
        publisher.wait(forge.ensure_branch(id, branch, from))?;
    }
    for branch in &after.protect_branches {
        let rule = forge::BranchProtection {
            branch: branch.clone(),
            ..forge::BranchProtection::default()
        };
        publisher.wait(forge.protect_branch(id, &rule))?;
    }
    for variable in &after.variables {
        publisher.wait(forge.ensure_variable(id, variable))?;
    }
    // A dry run's project was never made, so it has no id.
    match publisher.wait(forge.repository_number(id)) {
        Ok(number) => Ok(Some(number)),
        Err(forge::ForgeError::NotFound(_)) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// A `publish:gitlab:merge-request` step: the change pushed as a branch,
/// its merge request opened (or the open one from that branch found),
/// then its reviewers, assignee, labels and branch removal set.
pub fn gitlab_merge_request<P: Publisher + ?Sized>(
    publisher: &mut P,
    input: &MergeRequestInput,
    workspace: &FileTree,
) -> Result<MergeRequestOutput, ActionError> {
    let (pull, options) = input.to_pull_request()?;
    let output = propose(
        publisher,
        ActionKind::PublishGitlabMergeRequest,
        &pull,
        workspace,
        Some(&options),
        input.change()?,
    )?;
    let repo = crate::api::RepoUrl::parse(&input.repo_url)
        .map_err(|e| ActionError::permanent(format!("input.repoUrl: {e}")))?;
    let path = format!(
        "{}/{}",
        repo.owner.unwrap_or_default(),
        repo.repo.unwrap_or_default()
    );
    Ok(MergeRequestOutput {
        target_branch_name: output.target_branch_name,
        projectid: path.clone(),
        project_path: path,
        merge_request_url: output.remote_url,
    })
}

/// A `gitlab:group:ensureExists` step: each missing group of its path
/// made, outermost first.
pub fn gitlab_group<P: Publisher + ?Sized>(
    publisher: &mut P,
    input: &GroupInput,
) -> Result<GroupOutput, ActionError> {
    let publishing = publisher.publishing();
    let config = publishing.config;
    let (host, route, levels) =
        gitlab_api::resolve_group(input, config, &config.tenant(publishing.namespace))?;
    let Remote { forge, .. } = publisher.remote(&host, &route, step_token(input.token.as_deref()), true)?;
    let forge = forge.ok_or_else(|| ActionError::permanent("the repoUrl's host has no API client"))?;
    let group = publisher.wait(forge.ensure_group(&levels));
    publisher.finished(Some(&forge));
    Ok(GroupOutput { group_id: group? })
}
