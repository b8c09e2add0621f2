//! Gitea's REST API (`/api/v1`, which Forgejo serves too): each [`Forge`]
//! call as Gitea's requests, and Gitea's answers read back. Calls go
//! through a [`Transport`], so the same code runs against a server or
//! prints what it would send.

use serde_json::{Value, json};

use super::transport::{self, ApiCall, ApiResponse, Method, Transport};
use super::{
    Access, BranchProtection, Forge, ForgeError, NewPullRequest, NewRepository, PullRequest,
    PullRequestState, RepoId, Repository, Visibility, text,
};

/// A Gitea server.
#[derive(Debug)]
pub struct Gitea<T> {
    transport: T,
}

impl<T: Transport> Gitea<T> {
    /// Gitea over `transport`.
    pub fn new(transport: T) -> Self {
        Gitea { transport }
    }

    /// The transport, e.g. to read a dry run's calls.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    fn refused(&self, call: &ApiCall, response: &ApiResponse) -> ForgeError {
        transport::refused(self.transport.host(), call, response, ApiResponse::detail)
    }

    /// Sends `call`; a non-2xx answer is refused, except 404 when
    /// `missing` says what it means.
    async fn expect_ok(&self, call: ApiCall, missing: Option<String>) -> Result<Value, ForgeError> {
        transport::expect_ok(&self.transport, &call, missing, ApiResponse::detail).await
    }

    fn repo_path(id: &RepoId) -> String {
        format!("/repos/{}/{}", segment(&id.owner), segment(&id.name))
    }
}

/// `text` for a URL path: unreserved characters and `/` kept, the rest
/// percent-encoded.
pub(super) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn repository(body: &Value, fallback_branch: &str) -> Repository {
    Repository {
        default_branch: text(body, "default_branch")
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| fallback_branch.to_string()),
        empty: body.get("empty").and_then(Value::as_bool).unwrap_or(true),
        created_at: text(body, "created_at")
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok())
            .map(|at| at.timestamp()),
    }
}

fn pull_request(body: &Value) -> PullRequest {
    PullRequest {
        number: body.get("number").and_then(Value::as_u64).unwrap_or_default(),
        url: text(body, "html_url").unwrap_or_default(),
        head: body
            .pointer("/head/ref")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

impl<T: Transport> Forge for Gitea<T> {
    async fn repository(&self, id: &RepoId) -> Result<Option<Repository>, ForgeError> {
        let call = ApiCall::new(
            Method::Get,
            Self::repo_path(id),
            format!("read repository {id}"),
            "read access to the repository",
        );
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(Some(repository(&response.body, "main"))),
            404 => Ok(None),
            _ => Err(self.refused(&call, &response)),
        }
    }

    async fn create_repository(&self, new: &NewRepository) -> Result<Repository, ForgeError> {
        let body = json!({
            "name": new.id.name,
            "description": new.description,
            "private": new.visibility == Visibility::Private,
            "default_branch": new.default_branch,
            // Empty: the first push makes the default branch.
            "auto_init": false,
        });
        let in_org = ApiCall::new(
            Method::Post,
            format!("/orgs/{}/repos", segment(&new.id.owner)),
            format!("create repository {}", new.id),
            "write:organization (and to be an owner or a member of a team that may create repositories)",
        )
        .with_body(body.clone());
        let response = self.transport.send(&in_org).await?;
        if response.ok() {
            return Ok(repository(&response.body, &new.default_branch));
        }
        if response.status != 404 {
            return Err(self.refused(&in_org, &response));
        }
        // Not an organisation: the owner may be the token's own user.
        let me = self
            .expect_ok(
                ApiCall::new(
                    Method::Get,
                    "/user".into(),
                    "read the token's user".into(),
                    "read:user",
                ),
                None,
            )
            .await?;
        let login = text(&me, "login").unwrap_or_default();
        if !login.eq_ignore_ascii_case(&new.id.owner) {
            return Err(ForgeError::NotFound(format!(
                "{}: there is no organisation {:?}, and it is not the token's user ({login:?}); create the \
                 organisation or name an existing one as the repoUrl's owner",
                self.transport.host(),
                new.id.owner
            )));
        }
        let for_user = ApiCall::new(
            Method::Post,
            "/user/repos".into(),
            format!("create repository {}", new.id),
            "write:repository",
        )
        .with_body(body);
        let created = self.expect_ok(for_user, None).await?;
        Ok(repository(&created, &new.default_branch))
    }

    async fn delete_repository(&self, id: &RepoId) -> Result<(), ForgeError> {
        let call = ApiCall::new(
            Method::Delete,
            Self::repo_path(id),
            format!("delete repository {id}"),
            "write:repository (owner or admin of the repository)",
        );
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(()),
            404 => Ok(()),
            _ => Err(self.refused(&call, &response)),
        }
    }

    async fn set_topics(&self, id: &RepoId, topics: &[String]) -> Result<(), ForgeError> {
        let call = ApiCall::new(
            Method::Put,
            format!("{}/topics", Self::repo_path(id)),
            format!("set the topics of {id}"),
            "write:repository (admin of the repository)",
        )
        .with_body(json!({ "topics": topics }));
        self.expect_ok(call, Some(format!("repository {id} does not exist")))
            .await
            .map(drop)
    }

    async fn add_collaborator(&self, id: &RepoId, user: &str, access: Access) -> Result<(), ForgeError> {
        let permission = match access {
            // publish:gitea refuses GitHub's triage and maintain when it
            // reads its input; these are their nearest levels.
            Access::Read | Access::Triage => "read",
            Access::Write | Access::Maintain => "write",
            Access::Admin => "admin",
        };
        let call = ApiCall::new(
            Method::Put,
            format!("{}/collaborators/{}", Self::repo_path(id), segment(user)),
            format!("add {user} as a collaborator of {id}"),
            "write:repository (admin of the repository)",
        )
        .with_body(json!({ "permission": permission }));
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(()),
            404 | 422 => Err(ForgeError::NotFound(format!(
                "{}: cannot add collaborator {user:?} to {id}: no such user{}",
                self.transport.host(),
                response.detail()
            ))),
            _ => Err(self.refused(&call, &response)),
        }
    }

    async fn protect_branch(&self, id: &RepoId, rule: &BranchProtection) -> Result<(), ForgeError> {
        let path = format!("{}/branch_protections", Self::repo_path(id));
        let existing = ApiCall::new(
            Method::Get,
            format!("{path}/{}", segment(&rule.branch)),
            format!("read the protection of {id} branch {}", rule.branch),
            "write:repository (admin of the repository)",
        );
        let response = self.transport.send(&existing).await?;
        let body = json!({
            "rule_name": rule.branch,
            "branch_name": rule.branch,
            "required_approvals": rule.required_approvals,
        });
        let call = match response.status {
            _ if response.ok() => ApiCall::new(
                Method::Patch,
                format!("{path}/{}", segment(&rule.branch)),
                format!("update the protection of {id} branch {}", rule.branch),
                "write:repository (admin of the repository)",
            )
            .with_body(json!({ "required_approvals": rule.required_approvals })),
            404 => ApiCall::new(
                Method::Post,
                path,
                format!("protect {id} branch {}", rule.branch),
                "write:repository (admin of the repository)",
            )
            .with_body(body),
            _ => return Err(self.refused(&existing, &response)),
        };
        self.expect_ok(call, Some(format!("repository {id} does not exist")))
            .await
            .map(drop)
    }

    async fn find_pull_request(
        &self,
        id: &RepoId,
        head: &str,
        base: &str,
    ) -> Result<Option<PullRequest>, ForgeError> {
        let call = ApiCall::new(
            Method::Get,
            format!(
                "{}/pulls/{}/{}",
                Self::repo_path(id),
                segment(base),
                segment(head)
            ),
            format!("find the pull request of {id} from {head} into {base}"),
            "read access to the repository",
        );
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => match text(&response.body, "state").as_deref() {
                Some("open") => Ok(Some(pull_request(&response.body))),
                Some(_) => Ok(None),
                // Gitea answers 200 with `null` when it found the pull
                // request but could not read its branch (seen under load):
                // that says nothing of whether one is open, and taking it
                // for none would open a second one.
                None => Err(ForgeError::Unavailable {
                    host: self.transport.host().to_string(),
                    call: call.what.clone(),
                    detail: format!("answered {} without a pull request", response.status),
                }),
            },
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
            format!("{}/pulls", Self::repo_path(id)),
            format!("open a pull request on {id} from {}", new.head),
            "write:repository",
        )
        .with_body(json!({
            "head": new.head,
            "base": new.base,
            "title": new.title,
            "body": new.body,
        }));
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(pull_request(&response.body)),
            // "already exists": a killed run's create that Gitea finished
            // only after this run looked for an open pull request. That
            // one is the step's.
            409 => match self.find_pull_request(id, &new.head, &new.base).await? {
                Some(found) => Ok(found),
                None => Err(self.refused(&call, &response)),
            },
            404 => Err(ForgeError::NotFound(format!(
                "{}: repository {id} does not exist",
                self.transport.host()
            ))),
            _ => Err(self.refused(&call, &response)),
        }
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
            format!("{}/pulls/{number}/requested_reviewers", Self::repo_path(id)),
            format!("request reviews of pull request {number} of {id}"),
            "write:repository",
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
            format!("{}/pulls/{number}", Self::repo_path(id)),
            format!("update pull request {number} of {id}"),
            "write:repository",
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
            format!("{}/pulls/{number}", Self::repo_path(id)),
            format!("read pull request {number} of {id}"),
            "read access to the repository",
        );
        let body = self
            .expect_ok(
                call.clone(),
                Some(format!("pull request {number} of {id} does not exist")),
            )
            .await?;
        PullRequestState::from_answer(&body, self.transport.host(), &call.what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::{DryRun, RepositorySettings, apply_settings, ensure_repository};

    fn new_repository() -> NewRepository {
        NewRepository {
            id: RepoId {
                owner: "acme".into(),
                name: "payments".into(),
            },
            description: "Payments".into(),
            visibility: Visibility::Private,
            default_branch: "main".into(),
            ..NewRepository::default()
        }
    }

    #[tokio::test]
    async fn a_publish_reads_creates_then_sets_topics_collaborators_and_protection_in_that_order() {
        let gitea = Gitea::new(DryRun::new("git.example", "https://git.example/api/v1/"));
        let new = new_repository();
        let created = ensure_repository(&gitea, &new).await.unwrap();
        assert_eq!(created.default_branch, "main");
        apply_settings(
            &gitea,
            &new.id,
            &RepositorySettings {
                topics: vec!["payments".into()],
                collaborators: vec![("alice".into(), Access::Write)],
                teams: Vec::new(),
                protection: Some(BranchProtection {
                    branch: "main".into(),
                    required_approvals: 1,
                    ..BranchProtection::default()
                }),
            },
        )
        .await
        .unwrap();
        let calls = gitea.transport().calls();
        let methods_and_urls: Vec<_> = calls
            .iter()
            .map(|c| c.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            methods_and_urls,
            [
                "GET https://git.example/api/v1/repos/acme/payments",
                "POST https://git.example/api/v1/orgs/acme/repos",
                "PUT https://git.example/api/v1/repos/acme/payments/topics",
                "PUT https://git.example/api/v1/repos/acme/payments/collaborators/alice",
                "GET https://git.example/api/v1/repos/acme/payments/branch_protections/main",
                "POST https://git.example/api/v1/repos/acme/payments/branch_protections",
            ]
        );
        assert!(calls[1].contains(r#""private":true"#), "{}", calls[1]);
        assert!(calls[1].contains(r#""description":"Payments""#), "{}", calls[1]);
    }

    #[tokio::test]
    async fn a_repository_is_deleted_by_its_path_and_its_creation_time_read() {
        let gitea = Gitea::new(DryRun::new("git.example", "https://git.example/api/v1/"));
        gitea.delete_repository(&new_repository().id).await.unwrap();
        assert_eq!(
            gitea.transport().calls(),
            ["DELETE https://git.example/api/v1/repos/acme/payments"]
        );
        let read = repository(
            &serde_json::json!({"empty": true, "created_at": "2026-11-29T19:38:41+01:00"}),
            "main",
        );
        assert_eq!(read.created_at, Some(1_795_977_521));
        assert_eq!(repository(&serde_json::json!({}), "main").created_at, None);
    }

    /// A transport that answers calls with these statuses and bodies, in
    /// order, recording each call's method and path.
    #[derive(Default)]
    struct Answers {
        answers: std::sync::Mutex<Vec<(u16, Value)>>,
        calls: std::sync::Mutex<Vec<String>>,
    }

    impl Answers {
        fn new(answers: Vec<(u16, Value)>) -> Self {
            Answers {
                answers: std::sync::Mutex::new(answers),
                ..Answers::default()
            }
        }
    }

    impl Transport for Answers {
        fn host(&self) -> &str {
            "git.example"
        }
        async fn send(&self, call: &ApiCall) -> Result<ApiResponse, ForgeError> {
            let mut calls = self.calls.lock().unwrap();
            calls.push(format!("{:?} {}", call.method, call.path));
            let (status, body) = self.answers.lock().unwrap().remove(0);
            Ok(ApiResponse {
                status,
                body,
                next: None,
            })
        }
    }

    #[tokio::test]
    async fn a_create_gitea_says_exists_finds_the_pull_request_a_killed_run_opened() {
        let open = json!({"number": 8, "state": "open", "html_url": "u/8", "head": {"ref": "add-x"}});
        let gitea = Gitea::new(Answers::new(vec![
            (
                409,
                json!({"message": "pull request already exists for these targets"}),
            ),
            (200, open),
        ]));
        let new = NewPullRequest {
            head: "add-x".into(),
            base: "main".into(),
            title: "Add x".into(),
            body: String::new(),
            draft: false,
        };
        let found = gitea
            .create_pull_request(&new_repository().id, &new)
            .await
            .unwrap();
        assert_eq!(found.number, 8);
        assert_eq!(
            *gitea.transport().calls.lock().unwrap(),
            [
                "Post /repos/acme/payments/pulls",
                "Get /repos/acme/payments/pulls/main/add-x"
            ]
        );
        // Exists, yet not found open: refused, as Gitea said.
        let gitea = Gitea::new(Answers::new(vec![
            (
                409,
                json!({"message": "pull request already exists for these targets"}),
            ),
            (404, Value::Null),
        ]));
        let error = gitea
            .create_pull_request(&new_repository().id, &new)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("already exists"), "{error}");
    }

    #[tokio::test]
    async fn a_pull_request_lookup_answered_without_a_pull_request_is_retried_not_taken_for_none() {
        async fn find(status: u16, body: Value) -> Result<Option<PullRequest>, ForgeError> {
            Gitea::new(Answers::new(vec![(status, body)]))
                .find_pull_request(&new_repository().id, "add-x", "main")
                .await
        }
        let open = json!({"number": 8, "state": "open", "head": {"ref": "add-x"}});
        assert_eq!(find(200, open).await.unwrap().map(|p| p.number), Some(8));
        assert_eq!(
            find(200, json!({"number": 8, "state": "closed"})).await.unwrap(),
            None
        );
        assert_eq!(find(404, Value::Null).await.unwrap(), None);
        // Gitea's 200 with `null`, seen when it could not read the branch.
        let error = find(200, Value::Null).await.unwrap_err();
        assert!(error.is_transient(), "{error}");
        assert!(error.to_string().contains("git.example"), "{error}");
    }

    #[tokio::test]
    async fn a_pull_requests_state_is_open_merged_or_closed_and_a_missing_one_an_error() {
        async fn state(status: u16, body: Value) -> Result<PullRequestState, ForgeError> {
            Gitea::new(Answers::new(vec![(status, body)]))
                .pull_request_state(&new_repository().id, 8)
                .await
        }
        let read = |state: &str, merged: bool| json!({"number": 8, "state": state, "merged": merged});
        assert_eq!(
            state(200, read("open", false)).await.unwrap(),
            PullRequestState::Open
        );
        assert_eq!(
            state(200, read("closed", true)).await.unwrap(),
            PullRequestState::Merged
        );
        assert_eq!(
            state(200, read("closed", false)).await.unwrap(),
            PullRequestState::Closed
        );
        let error = state(404, Value::Null).await.unwrap_err();
        assert!(
            error.to_string().contains("pull request 8 of acme/payments"),
            "{error}"
        );
        let error = state(200, Value::Null).await.unwrap_err();
        assert!(error.is_transient(), "{error}");
    }

    #[test]
    fn a_pull_requests_head_is_read_as_gitea_names_it() {
        // Gitea's answer for a pull request whose branch it has recorded,
        // and for one whose branch it has not (its own ref instead).
        let recorded = json!({"number": 8, "html_url": "u/8", "head": {"label": "add-x", "ref": "add-x"}});
        assert_eq!(pull_request(&recorded).head.as_deref(), Some("add-x"));
        let unrecorded =
            json!({"number": 8, "html_url": "u/8", "head": {"label": "add-x", "ref": "refs/pull/8/head"}});
        assert_eq!(
            pull_request(&unrecorded).head.as_deref(),
            Some("refs/pull/8/head")
        );
        // A dry run echoes the request, whose head is a plain name.
        assert_eq!(pull_request(&json!({"head": "add-x"})).head, None);
    }

    #[test]
    fn path_segments_are_encoded_but_slashes_in_branches_kept() {
        assert_eq!(segment("feature/x y"), "feature/x%20y");
        assert_eq!(segment("a?b#c"), "a%3Fb%23c");
    }
}
