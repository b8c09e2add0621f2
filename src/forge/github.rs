//! GitHub's REST API (api.github.com, or GitHub Enterprise Server's
//! `/api/v3`): each [`Forge`] call as GitHub's requests, and GitHub's
//! answers read back. Calls go through a [`Transport`], so the same code
//! runs against a server or prints what it would send.

use serde_json::{Map, Value, json};

use super::gitea::segment;
use super::transport::{self, ApiCall, ApiResponse, Method, Transport};
use super::{
    Access, Actors, BranchProtection, Forge, ForgeError, NewPullRequest, NewRepository, Pages, PullRequest,
    PullRequestState, RepoId, Repository, Visibility, Webhook, text,
};

/// What a call changing a repository's settings needs.
const ADMINISTRATION: &str = "the repo scope (fine-grained: Administration read and write)";
/// What a pull request call needs.
const PULL_REQUESTS: &str = "the repo scope (fine-grained: Pull requests read and write)";
/// What reading a repository needs.
const METADATA: &str = "the repo scope (fine-grained: Metadata read)";
/// What a workflow call needs.
const ACTIONS: &str = "the repo and workflow scopes (fine-grained: Actions write)";
/// Most pages of a repository's webhooks read, 100 each: more than any
/// repository has (GitHub allows 20 per event). A list longer than that
/// fails the step rather than risk a second hook with the same URL.
pub const MAX_HOOK_PAGES: usize = 10;

/// A GitHub server.
#[derive(Debug)]
pub struct GitHub<T> {
    transport: T,
}

impl<T: Transport> GitHub<T> {
    /// GitHub over `transport`.
    pub fn new(transport: T) -> Self {
        GitHub { transport }
    }

    /// The transport, e.g. to read a dry run's calls.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    fn refused(&self, call: &ApiCall, response: &ApiResponse) -> ForgeError {
        transport::refused(self.transport.host(), call, response, detail)
    }

    /// Sends `call`; a non-2xx answer is refused, except 404 when
    /// `missing` says what it means.
    async fn expect_ok(&self, call: ApiCall, missing: Option<String>) -> Result<Value, ForgeError> {
        transport::expect_ok(&self.transport, &call, missing, detail).await
    }

    /// Creates the repository for the token's own user, when that is the
    /// owner `repoUrl` names (it is not an organisation).
    async fn create_for_user(&self, new: &NewRepository, body: Value) -> Result<Value, ForgeError> {
        let me = self
            .expect_ok(
                ApiCall::new(
                    Method::Get,
                    "/user".into(),
                    "read the token's user".into(),
                    METADATA,
                ),
                None,
            )
            .await?;
        let login = text(&me, "login").unwrap_or_default();
        if !login.eq_ignore_ascii_case(&new.id.owner) {
            return Err(ForgeError::NotFound(format!(
                "{}: there is no organisation {:?} the token can see, and it is not the token's user \
                 ({login:?}); name an existing organisation as the repoUrl's owner",
                self.transport.host(),
                new.id.owner
            )));
        }
        if new.visibility == Visibility::Internal {
            return Err(ForgeError::Invalid(format!(
                "{}: {} belongs to a user, and only an organisation's repositories can be internal",
                self.transport.host(),
                new.id
            )));
        }
        let call = ApiCall::new(
            Method::Post,
            "/user/repos".into(),
            format!("create repository {}", new.id),
            ADMINISTRATION,
        )
        .with_body(body);
        let response = self.transport.send(&call).await?;
        self.created(new, &call, response).await
    }

    /// A creation's answer: the repository, or, when GitHub says the name
    /// is taken (a concurrent run of the same step), the one there.
    async fn created(
        &self,
        new: &NewRepository,
        call: &ApiCall,
        response: ApiResponse,
    ) -> Result<Value, ForgeError> {
        if response.ok() {
            return Ok(response.body);
        }
        if response.status == 422 && detail(&response).contains("already exists") {
            let found = self.transport.send(&read_repository(&new.id)).await?;
            if found.ok() {
                return Ok(found.body);
            }
        }
        Err(self.refused(call, &response))
    }
}

/// GitHub's words about a failure: its `message`, and the `errors` a 422
/// lists (e.g. `name already exists on this account`).
fn detail(response: &ApiResponse) -> String {
    let errors: Vec<&str> = response
        .body
        .get("errors")
        .and_then(Value::as_array)
        .map(|errors| {
            errors
                .iter()
                .take(5)
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let mut detail = response.detail();
    if !errors.is_empty() {
        detail.push_str(&format!(" ({})", errors.join("; ")));
    }
    detail
}

fn repo_path(id: &RepoId) -> String {
    format!("/repos/{}/{}", segment(&id.owner), segment(&id.name))
}

fn read_repository(id: &RepoId) -> ApiCall {
    ApiCall::new(
        Method::Get,
        repo_path(id),
        format!("read repository {id}"),
        METADATA,
    )
}

fn repository(body: &Value, fallback_branch: &str) -> Repository {
    Repository {
        default_branch: text(body, "default_branch")
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| fallback_branch.to_string()),
        // A hint only: GitHub reports a size of 0 for no commits, and for
        // a few small ones too. `has_branches` asks.
        empty: body.get("size").and_then(Value::as_u64).unwrap_or(0) == 0,
        // Not read: GitHub does not roll back a repository it reported
        // made, so a publish never deletes one there.
        created_at: None,
    }
}

fn pull_request(body: &Value) -> PullRequest {
    PullRequest {
        number: body.get("number").and_then(Value::as_u64).unwrap_or_default(),
        url: text(body, "html_url").unwrap_or_default(),
        head: None,
    }
}

fn permission(access: Access) -> &'static str {
    match access {
        Access::Read => "pull",
        Access::Triage => "triage",
        Access::Write => "push",
        Access::Maintain => "maintain",
        Access::Admin => "admin",
    }
}

/// The body of a repository's creation: what the step gives, and nothing
/// for what it leaves to GitHub's defaults.
fn create_body(new: &NewRepository, in_org: bool) -> Value {
    let mut body = Map::new();
    body.insert("name".into(), json!(new.id.name));
    if !new.description.is_empty() {
        body.insert("description".into(), json!(new.description));
    }
    if !new.homepage.is_empty() {
        body.insert("homepage".into(), json!(new.homepage));
    }
    body.insert("private".into(), json!(new.visibility != Visibility::Public));
    if in_org {
        let visibility = match new.visibility {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Internal => "internal",
        };
        body.insert("visibility".into(), json!(visibility));
    }
    // Empty: the first push makes the default branch.
    body.insert("auto_init".into(), json!(false));
    let features = &new.features;
    let flags = [
        ("has_issues", features.has_issues),
        ("has_wiki", features.has_wiki),
        ("has_projects", features.has_projects),
        ("allow_merge_commit", features.allow_merge_commit),
        ("allow_squash_merge", features.allow_squash_merge),
        ("allow_rebase_merge", features.allow_rebase_merge),
        ("allow_auto_merge", features.allow_auto_merge),
        ("delete_branch_on_merge", features.delete_branch_on_merge),
    ];
    for (key, value) in flags {
        if let Some(value) = value {
            body.insert(key.into(), json!(value));
        }
    }
    let texts = [
        ("squash_merge_commit_title", &features.squash_merge_commit_title),
        (
            "squash_merge_commit_message",
            &features.squash_merge_commit_message,
        ),
    ];
    for (key, value) in texts {
        if let Some(value) = value {
            body.insert(key.into(), json!(value));
        }
    }
    Value::Object(body)
}

fn actors(actors: &Actors) -> Value {
    json!({ "users": actors.users, "teams": actors.teams, "apps": actors.apps })
}

/// The body of `PUT .../protection`, which replaces the branch's rules.
fn protection_body(rule: &BranchProtection) -> Value {
    let mut reviews = json!({
        "dismiss_stale_reviews": rule.dismiss_stale_reviews,
        "require_code_owner_reviews": rule.require_code_owner_reviews,
        "required_approving_review_count": rule.required_approvals,
        "require_last_push_approval": rule.require_last_push_approval,
    });
    if rule.bypass != Actors::default() {
        reviews["bypass_pull_request_allowances"] = actors(&rule.bypass);
    }
    json!({
        "required_status_checks": {
            "strict": rule.require_up_to_date,
            "contexts": rule.required_status_checks,
        },
        "enforce_admins": rule.enforce_admins,
        "required_pull_request_reviews": reviews,
        "restrictions": rule.restrictions.as_ref().map(actors),
        "required_linear_history": rule.require_linear_history,
        "required_conversation_resolution": rule.require_conversation_resolution,
        "block_creations": rule.block_creations,
    })
}

impl<T: Transport> Forge for GitHub<T> {
    async fn repository(&self, id: &RepoId) -> Result<Option<Repository>, ForgeError> {
        let call = read_repository(id);
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(Some(repository(&response.body, "main"))),
            404 => Ok(None),
            _ => Err(self.refused(&call, &response)),
        }
    }

    async fn create_repository(&self, new: &NewRepository) -> Result<Repository, ForgeError> {
        let in_org = ApiCall::new(
            Method::Post,
            format!("/orgs/{}/repos", segment(&new.id.owner)),
            format!("create repository {}", new.id),
            ADMINISTRATION,
        )
        .with_body(create_body(new, true));
        let response = self.transport.send(&in_org).await?;
        let created = if response.status == 404 {
            // Not an organisation: the owner may be the token's own user.
            self.create_for_user(new, create_body(new, false)).await?
        } else {
            self.created(new, &in_org, response).await?
        };
        Ok(repository(&created, &new.default_branch))
    }

    async fn delete_repository(&self, id: &RepoId) -> Result<(), ForgeError> {
        let call = ApiCall::new(
            Method::Delete,
            repo_path(id),
            format!("delete repository {id}"),
            "the delete_repo scope (fine-grained: Administration read and write)",
        );
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() || response.status == 404 => Ok(()),
            _ => Err(self.refused(&call, &response)),
        }
    }

    async fn set_topics(&self, id: &RepoId, topics: &[String]) -> Result<(), ForgeError> {
        let call = ApiCall::new(
            Method::Put,
            format!("{}/topics", repo_path(id)),
            format!("set the topics of {id}"),
            ADMINISTRATION,
        )
        .with_body(json!({ "names": topics }));
        self.expect_ok(call, Some(format!("repository {id} does not exist")))
            .await
            .map(drop)
    }

    async fn add_collaborator(&self, id: &RepoId, user: &str, access: Access) -> Result<(), ForgeError> {
        let call = ApiCall::new(
            Method::Put,
            format!("{}/collaborators/{}", repo_path(id), segment(user)),
            format!("add {user} as a collaborator of {id}"),
            ADMINISTRATION,
        )
        .with_body(json!({ "permission": permission(access) }));
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(()),
            404 | 422 => Err(ForgeError::NotFound(format!(
                "{}: cannot add collaborator {user:?} to {id}: no such user{}",
                self.transport.host(),
                detail(&response)
            ))),
            _ => Err(self.refused(&call, &response)),
        }
    }

    async fn add_team(&self, id: &RepoId, team: &str, access: Access) -> Result<(), ForgeError> {
        let call = ApiCall::new(
            Method::Put,
            format!(
                "/orgs/{}/teams/{}{}",
                segment(&id.owner),
                segment(team),
                repo_path(id)
            ),
            format!("give team {team} access to {id}"),
            "the repo and admin:org scopes (fine-grained: Administration write, and Members read on the \
             organisation)",
        )
        .with_body(json!({ "permission": permission(access) }));
        self.expect_ok(
            call,
            Some(format!(
                "there is no team {team:?} in organisation {:?}",
                id.owner
            )),
        )
        .await
        .map(drop)
    }

    async fn protect_branch(&self, id: &RepoId, rule: &BranchProtection) -> Result<(), ForgeError> {
        let path = format!("{}/branches/{}/protection", repo_path(id), segment(&rule.branch));
        let call = ApiCall::new(
            Method::Put,
            path.clone(),
            format!("protect {id} branch {}", rule.branch),
            ADMINISTRATION,
        )
        .with_body(protection_body(rule));
        let missing = Some(format!(
            "repository {id} or its branch {} does not exist",
            rule.branch
        ));
        self.expect_ok(call, missing.clone()).await?;
        if rule.require_signatures {
            let call = ApiCall::new(
                Method::Post,
                format!("{path}/required_signatures"),
                format!("require signed commits on {id} branch {}", rule.branch),
                ADMINISTRATION,
            );
            self.expect_ok(call, missing).await?;
        }
        Ok(())
    }

    async fn find_pull_request(
        &self,
        id: &RepoId,
        head: &str,
        base: &str,
    ) -> Result<Option<PullRequest>, ForgeError> {
        // GitHub names a branch of the same repository `owner:branch`.
        let call = ApiCall::new(
            Method::Get,
            format!(
                "{}/pulls?state=open&head={}%3A{}&base={}&per_page=1",
                repo_path(id),
                segment(&id.owner),
                query(head),
                query(base)
            ),
            format!("find the pull request of {id} from {head} into {base}"),
            PULL_REQUESTS,
        );
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(response
                .body
                .as_array()
                .and_then(|pulls| pulls.first())
                .map(pull_request)),
            // No repository, so no pull request: opening one says which.
            404 => Ok(None),
            _ => Err(self.refused(&call, &response)),
        }
    }

    async fn create_pull_request(
        &self,
        id: &RepoId,
        new: &NewPullRequest,
    ) -> Result<PullRequest, ForgeError> {
        let call = ApiCall::new(
            Method::Post,
            format!("{}/pulls", repo_path(id)),
            format!("open a pull request on {id} from {}", new.head),
            PULL_REQUESTS,
        )
        .with_body(json!({
            "title": new.title,
            "head": new.head,
            "base": new.base,
            "body": new.body,
            "draft": new.draft,
        }));
        let body = self
            .expect_ok(call, Some(format!("repository {id} does not exist")))
            .await?;
        Ok(pull_request(&body))
    }

    async fn request_reviews(
        &self,
        id: &RepoId,
        number: u64,
        users: &[String],
        teams: &[String],
    ) -> Result<(), ForgeError> {
        let call = ApiCall::new(
            Method::Post,
            format!("{}/pulls/{number}/requested_reviewers", repo_path(id)),
            format!("request reviews of pull request {number} of {id}"),
            PULL_REQUESTS,
        )
        .with_body(json!({ "reviewers": users, "team_reviewers": teams }));
        self.expect_ok(
            call,
            Some(format!("pull request {number} of {id} does not exist")),
        )
        .await
        .map(drop)
    }

    async fn update_pull_request(
        &self,
        id: &RepoId,
        number: u64,
        new: &NewPullRequest,
    ) -> Result<PullRequest, ForgeError> {
        let call = ApiCall::new(
            Method::Patch,
            format!("{}/pulls/{number}", repo_path(id)),
            format!("update pull request {number} of {id}"),
            PULL_REQUESTS,
        )
        .with_body(json!({ "title": new.title, "body": new.body }));
        let body = self
            .expect_ok(
                call,
                Some(format!("pull request {number} of {id} does not exist")),
            )
            .await?;
        Ok(pull_request(&body))
    }

    async fn pull_request_state(&self, id: &RepoId, number: u64) -> Result<PullRequestState, ForgeError> {
        let call = ApiCall::new(
            Method::Get,
            format!("{}/pulls/{number}", repo_path(id)),
            format!("read pull request {number} of {id}"),
            PULL_REQUESTS,
        );
        let body = self
            .expect_ok(
                call.clone(),
                Some(format!("pull request {number} of {id} does not exist")),
            )
            .await?;
        PullRequestState::from_answer(&body, self.transport.host(), &call.what)
    }

    /// Whether the repository has a branch: its first page of one.
    async fn has_branches(&self, id: &RepoId) -> Result<bool, ForgeError> {
        let call = ApiCall::new(
            Method::Get,
            format!("{}/branches?per_page=1", repo_path(id)),
            format!("list the branches of {id}"),
            METADATA,
        );
        let branches = self
            .expect_ok(call, Some(format!("repository {id} does not exist")))
            .await?;
        Ok(branches.as_array().is_some_and(|b| !b.is_empty()))
    }

    /// Makes the webhook, unless one with its URL is there already (a
    /// retried step), which is left as it is. Every page of the
    /// repository's hooks is looked through, at most [`MAX_HOOK_PAGES`].
    async fn ensure_webhook(&self, id: &RepoId, hook: &Webhook) -> Result<bool, ForgeError> {
        let mut page = Some(format!("{}/hooks?per_page=100", repo_path(id)));
        let mut read = 0;
        while let Some(path) = page.take() {
            if read == MAX_HOOK_PAGES {
                return Err(ForgeError::Invalid(format!(
                    "{}: repository {id} has more than {} webhooks; goldpath reads at most {MAX_HOOK_PAGES} \
                     pages of them to find one with the URL it would make",
                    self.transport.host(),
                    MAX_HOOK_PAGES * 100
                )));
            }
            read += 1;
            let list = ApiCall::new(
                Method::Get,
                path,
                format!("list the webhooks of {id}"),
                "the admin:repo_hook scope (fine-grained: Webhooks read)",
            );
            let response = self.transport.send(&list).await?;
            if response.status == 404 {
                return Err(ForgeError::NotFound(format!(
                    "{}: repository {id} does not exist",
                    self.transport.host()
                )));
            }
            if !response.ok() {
                return Err(self.refused(&list, &response));
            }
            let exists = response.body.as_array().into_iter().flatten().any(|existing| {
                existing.pointer("/config/url").and_then(Value::as_str) == Some(hook.url.as_str())
            });
            if exists {
                return Ok(false);
            }
            page = response.next;
        }
        let mut config = json!({
            "url": hook.url,
            "content_type": hook.content_type,
            "insecure_ssl": if hook.insecure_ssl { "1" } else { "0" },
        });
        if !hook.secret.is_empty() {
            config["secret"] = json!(hook.secret);
        }
        let create = ApiCall::new(
            Method::Post,
            format!("{}/hooks", repo_path(id)),
            format!("create a webhook on {id}"),
            "the admin:repo_hook scope (fine-grained: Webhooks write)",
        )
        .with_body(json!({
            "name": "web",
            "config": config,
            "events": hook.events,
            "active": hook.active,
        }));
        self.expect_ok(create, Some(format!("repository {id} does not exist")))
            .await
            .map(|_| true)
    }

    /// Starts a run of a workflow that has a `workflow_dispatch` trigger.
    async fn dispatch_workflow(
        &self,
        id: &RepoId,
        workflow: &str,
        git_ref: &str,
        inputs: &serde_json::Map<String, Value>,
    ) -> Result<(), ForgeError> {
        let call = ApiCall::new(
            Method::Post,
            format!(
                "{}/actions/workflows/{}/dispatches",
                repo_path(id),
                segment(workflow)
            ),
            format!("dispatch workflow {workflow} of {id} on {git_ref}"),
            ACTIONS,
        )
        .with_body(json!({ "ref": git_ref, "inputs": inputs }))
        // GitHub cannot tell a second dispatch from a new one.
        .sent_once();
        self.expect_ok(
            call,
            Some(format!(
                "repository {id} or its workflow {workflow:?} does not exist"
            )),
        )
        .await
        .map(drop)
    }

    /// The newest run of `workflow` on `git_ref` a dispatch started at or
    /// after `since` (seconds since the Unix epoch): one an earlier attempt
    /// of a step may have started.
    async fn find_dispatched_run(
        &self,
        id: &RepoId,
        workflow: &str,
        git_ref: &str,
        since: i64,
    ) -> Result<Option<u64>, ForgeError> {
        let since = k8s_openapi::jiff::Timestamp::from_second(since)
            .map_err(|e| ForgeError::Invalid(format!("the step's start time: {e}")))?
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let call = ApiCall::new(
            Method::Get,
            format!(
                "{}/actions/workflows/{}/runs?event=workflow_dispatch&branch={}&created={}&per_page=1",
                repo_path(id),
                segment(workflow),
                query(git_ref),
                query(&format!(">={since}"))
            ),
            format!("list the runs of workflow {workflow} of {id} on {git_ref} since {since}"),
            ACTIONS,
        );
        let runs = self
            .expect_ok(
                call,
                Some(format!(
                    "repository {id} or its workflow {workflow:?} does not exist"
                )),
            )
            .await?;
        Ok(runs.pointer("/workflow_runs/0/id").and_then(Value::as_u64))
    }

    /// Turns GitHub Pages on; pages that are on already (409) are left as
    /// they are.
    async fn enable_pages(&self, id: &RepoId, pages: &Pages) -> Result<(), ForgeError> {
        let mut body = json!({ "build_type": pages.build_type });
        if pages.build_type == "legacy" {
            body["source"] = json!({ "branch": pages.branch, "path": pages.path });
        }
        let call = ApiCall::new(
            Method::Post,
            format!("{}/pages", repo_path(id)),
            format!("enable GitHub Pages on {id}"),
            "the repo scope (fine-grained: Pages write and Administration write)",
        )
        .with_body(body);
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(()),
            409 => Ok(()),
            404 => Err(ForgeError::NotFound(format!(
                "{}: repository {id} does not exist",
                self.transport.host()
            ))),
            _ => Err(self.refused(&call, &response)),
        }
    }
}

/// `text` for a query parameter: as a path segment, `/` encoded too.
fn query(text: &str) -> String {
    segment(text).replace('/', "%2F")
}

#[cfg(test)]
mod tests;
