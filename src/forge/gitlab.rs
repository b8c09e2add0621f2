//! GitLab's REST API (`/api/v4`, gitlab.com or self-managed): each
//! [`Forge`] call as GitLab's requests, and GitLab's answers read back.
//! A repository is a project, addressed by its URL-encoded full path
//! (`group/subgroup/project`); it is made in the namespace (group,
//! subgroup or user) its owner names. Pull requests are merge requests,
//! found by their source branch.

use serde_json::{Map, Value, json};

use super::transport::{self, ApiCall, ApiResponse, Method, Transport};
use super::{
    Access, BranchProtection, Forge, ForgeError, GroupLevel, MergeRequestOptions, NewPullRequest,
    NewRepository, PullRequest, PullRequestState, RepoId, Repository, Variable, Visibility, text,
};

/// GitLab's API on gitlab.com, a `type: gitlab` host's unless it sets
/// `apiUrl`.
pub const GITLAB_API_URL: &str = "https://gitlab.com/api/v4";

/// GitLab's access levels.
const REPORTER: u64 = 20;
const DEVELOPER: u64 = 30;
const MAINTAINER: u64 = 40;

/// The token scope every write here needs.
const API_SCOPE: &str = "the api scope (and the Maintainer role on the project or group)";

/// A GitLab server.
#[derive(Debug)]
pub struct GitLab<T> {
    transport: T,
}

impl<T: Transport> GitLab<T> {
    /// GitLab over `transport`.
    pub fn new(transport: T) -> Self {
        GitLab { transport }
    }

    /// The transport, e.g. to read a dry run's calls.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    fn refused(&self, call: &ApiCall, response: &ApiResponse) -> ForgeError {
        transport::refused(self.transport.host(), call, response, detail)
    }

    fn not_found(&self, what: String) -> ForgeError {
        ForgeError::NotFound(format!("{}: {what}", self.transport.host()))
    }

    /// Sends `call`; a non-2xx answer is refused, except 404 when
    /// `missing` says what it means.
    async fn expect_ok(&self, call: ApiCall, missing: Option<String>) -> Result<Value, ForgeError> {
        transport::expect_ok(&self.transport, &call, missing, detail).await
    }

    /// The user `username`'s numeric id.
    async fn user_id(&self, username: &str) -> Result<u64, ForgeError> {
        let call = ApiCall::new(
            Method::Get,
            format!("/users?username={}", encoded(username)),
            format!("find user {username}"),
            "read_api",
        );
        let users = self.expect_ok(call, None).await?;
        users
            .as_array()
            .and_then(|users| users.first())
            .and_then(|user| user.get("id"))
            .and_then(Value::as_u64)
            .ok_or_else(|| self.not_found(format!("there is no user {username:?}")))
    }

    /// The namespace (group, subgroup or user) `path`'s id.
    async fn namespace_id(&self, path: &str) -> Result<u64, ForgeError> {
        let call = ApiCall::new(
            Method::Get,
            format!("/namespaces/{}", encoded(path)),
            format!("find namespace {path}"),
            "read_api",
        );
        let found = self
            .expect_ok(
                call,
                Some(format!(
                    "there is no group or user {path:?}, or the token may not see it; create the group \
                     (gitlab:group:ensureExists) or name an existing one as the repoUrl's owner"
                )),
            )
            .await?;
        found
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| self.not_found(format!("namespace {path:?} has no id")))
    }

    /// A project's answer to a create: the project, or, when GitLab says
    /// the name is taken (a concurrent run of the same step), the one there.
    async fn created(&self, id: &RepoId, call: &ApiCall, response: ApiResponse) -> Result<Value, ForgeError> {
        if response.ok() {
            return Ok(response.body);
        }
        if matches!(response.status, 400 | 409) && taken(&response) {
            let found = self.transport.send(&read_project(id)).await?;
            if found.ok() {
                return Ok(found.body);
            }
        }
        Err(self.refused(call, &response))
    }
}

/// `text` as one URL path segment or query value: everything but
/// unreserved characters percent-encoded, `/` too, as GitLab wants a
/// project's or group's full path.
pub(super) fn encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn full_path(id: &RepoId) -> String {
    format!("{}/{}", id.owner, id.name)
}

fn project_path(id: &RepoId) -> String {
    format!("/projects/{}", encoded(&full_path(id)))
}

fn read_project(id: &RepoId) -> ApiCall {
    ApiCall::new(
        Method::Get,
        project_path(id),
        format!("read project {id}"),
        "read_api",
    )
}

/// Whether GitLab says a name or key is taken: `{"message": {"name":
/// ["has already been taken"]}}` and its kin.
fn taken(response: &ApiResponse) -> bool {
    let text = response.body.to_string();
    text.contains("has already been taken") || text.contains("already exists")
}

/// GitLab's words about a failure: its `message` (a text, or fields and
/// their errors) or `error`.
fn detail(response: &ApiResponse) -> String {
    let words = match response
        .body
        .get("message")
        .or_else(|| response.body.get("error"))
    {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Object(fields)) => fields
            .iter()
            .take(5)
            .map(|(field, errors)| {
                let errors: Vec<&str> = errors
                    .as_array()
                    .map(|e| e.iter().take(3).filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                format!("{field} {}", errors.join(", "))
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => return response.detail(),
    };
    let words: String = words.trim().chars().take(300).collect();
    if words.is_empty() {
        String::new()
    } else {
        format!(": {words}")
    }
}

fn repository(body: &Value, fallback_branch: &str) -> Repository {
    Repository {
        default_branch: text(body, "default_branch")
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| fallback_branch.to_string()),
        empty: body.get("empty_repo").and_then(Value::as_bool).unwrap_or(true),
        created_at: text(body, "created_at")
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok())
            .map(|at| at.timestamp()),
    }
}

fn merge_request(body: &Value) -> PullRequest {
    PullRequest {
        number: body.get("iid").and_then(Value::as_u64).unwrap_or_default(),
        url: text(body, "web_url").unwrap_or_default(),
        head: None,
    }
}

fn access_level(access: Access) -> u64 {
    match access {
        Access::Read | Access::Triage => REPORTER,
        Access::Write => DEVELOPER,
        Access::Maintain | Access::Admin => MAINTAINER,
    }
}

impl<T: Transport> Forge for GitLab<T> {
    async fn repository(&self, id: &RepoId) -> Result<Option<Repository>, ForgeError> {
        let call = read_project(id);
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(Some(repository(&response.body, "main"))),
            404 => Ok(None),
            _ => Err(self.refused(&call, &response)),
        }
    }

    async fn create_repository(&self, new: &NewRepository) -> Result<Repository, ForgeError> {
        let namespace = self.namespace_id(&new.id.owner).await?;
        let visibility = match new.visibility {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Internal => "internal",
        };
        let mut body = json!({
            "name": new.id.name,
            "path": new.id.name,
            "namespace_id": namespace,
            "visibility": visibility,
            "default_branch": new.default_branch,
            // Empty: the first push makes the default branch.
            "initialize_with_readme": false,
        });
        if !new.description.is_empty() {
            body["description"] = json!(new.description);
        }
        let call = ApiCall::new(
            Method::Post,
            "/projects".into(),
            format!("create project {}", new.id),
            "the api scope (and a role in the group that may create projects)",
        )
        .with_body(body);
        let response = self.transport.send(&call).await?;
        let created = self.created(&new.id, &call, response).await?;
        Ok(repository(&created, &new.default_branch))
    }

    async fn delete_repository(&self, id: &RepoId) -> Result<(), ForgeError> {
        let call = ApiCall::new(
            Method::Delete,
            project_path(id),
            format!("delete project {id}"),
            "the api scope (and the Owner role on the project)",
        );
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(()),
            404 => Ok(()),
            _ => Err(self.refused(&call, &response)),
        }
    }

    async fn set_topics(&self, id: &RepoId, topics: &[String]) -> Result<(), ForgeError> {
        let mut settings = Map::new();
        settings.insert("topics".into(), json!(topics));
        self.edit_repository(id, &settings).await
    }

    async fn add_collaborator(&self, id: &RepoId, user: &str, access: Access) -> Result<(), ForgeError> {
        let user_id = self.user_id(user).await?;
        let call = ApiCall::new(
            Method::Post,
            format!("{}/members", project_path(id)),
            format!("add {user} as a member of {id}"),
            API_SCOPE,
        )
        .with_body(json!({ "user_id": user_id, "access_level": access_level(access) }));
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(()),
            // A member already: a retried step.
            409 => Ok(()),
            404 => Err(self.not_found(format!("project {id} does not exist"))),
            _ => Err(self.refused(&call, &response)),
        }
    }

    async fn protect_branch(&self, id: &RepoId, rule: &BranchProtection) -> Result<(), ForgeError> {
        let path = format!("{}/protected_branches", project_path(id));
        let existing = ApiCall::new(
            Method::Get,
            format!("{path}/{}", encoded(&rule.branch)),
            format!("read the protection of {id} branch {}", rule.branch),
            API_SCOPE,
        );
        let response = self.transport.send(&existing).await?;
        match response.status {
            // Protected already: left as it is.
            _ if response.ok() => return Ok(()),
            404 => {}
            _ => return Err(self.refused(&existing, &response)),
        }
        let call = ApiCall::new(
            Method::Post,
            path,
            format!("protect {id} branch {}", rule.branch),
            API_SCOPE,
        )
        .with_body(json!({
            "name": rule.branch,
            "push_access_level": MAINTAINER,
            "merge_access_level": MAINTAINER,
        }));
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(()),
            409 => Ok(()),
            404 => Err(self.not_found(format!("project {id} does not exist"))),
            _ => Err(self.refused(&call, &response)),
        }
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
                "{}/merge_requests?state=opened&source_branch={}&target_branch={}",
                project_path(id),
                encoded(head),
                encoded(base)
            ),
            format!("find the merge request of {id} from {head} into {base}"),
            "read_api",
        );
        let response = self.transport.send(&call).await?;
        match response.status {
            _ if response.ok() => Ok(response
                .body
                .as_array()
                .and_then(|requests| requests.first())
                .map(merge_request)),
            // No project: nothing to find; opening one names what is missing.
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
            format!("{}/merge_requests", project_path(id)),
            format!("open a merge request on {id} from {}", new.head),
            API_SCOPE,
        )
        .with_body(json!({
            "source_branch": new.head,
            "target_branch": new.base,
            "title": new.title,
            "description": new.body,
        }));
        let body = self
            .expect_ok(call, Some(format!("project {id} does not exist")))
            .await?;
        Ok(merge_request(&body))
    }

    async fn request_reviews(
        &self,
        id: &RepoId,
        number: u64,
        users: &[String],
        teams: &[String],
    ) -> Result<(), ForgeError> {
        if let Some(team) = teams.first() {
            return Err(ForgeError::Invalid(format!(
                "cannot ask team {team:?} to review a merge request of {id}: GitLab asks users"
            )));
        }
        let mut ids = Vec::with_capacity(users.len());
        for user in users {
            ids.push(self.user_id(user).await?);
        }
        let call = ApiCall::new(
            Method::Put,
            format!("{}/merge_requests/{number}", project_path(id)),
            format!("ask for reviews of merge request {number} of {id}"),
            API_SCOPE,
        )
        .with_body(json!({ "reviewer_ids": ids }));
        self.expect_ok(
            call,
            Some(format!("merge request {number} of {id} does not exist")),
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
            Method::Put,
            format!("{}/merge_requests/{number}", project_path(id)),
            format!("update merge request {number} of {id}"),
            API_SCOPE,
        )
        .with_body(json!({ "title": new.title, "description": new.body }));
        let body = self
            .expect_ok(
                call,
                Some(format!("merge request {number} of {id} does not exist")),
            )
            .await?;
        Ok(merge_request(&body))
    }

    async fn pull_request_state(&self, id: &RepoId, number: u64) -> Result<PullRequestState, ForgeError> {
        let call = ApiCall::new(
            Method::Get,
            format!("{}/merge_requests/{number}", project_path(id)),
            format!("read merge request {number} of {id}"),
            API_SCOPE,
        );
        let body = self
            .expect_ok(
                call.clone(),
                Some(format!("merge request {number} of {id} does not exist")),
            )
            .await?;
        PullRequestState::from_answer(&body, self.transport.host(), &call.what)
    }

    async fn repository_number(&self, id: &RepoId) -> Result<u64, ForgeError> {
        let found = self
            .expect_ok(read_project(id), Some(format!("project {id} does not exist")))
            .await?;
        found
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| self.not_found(format!("project {id} has no id")))
    }

    async fn edit_repository(&self, id: &RepoId, settings: &Map<String, Value>) -> Result<(), ForgeError> {
        let call = ApiCall::new(
            Method::Put,
            project_path(id),
            format!("set the settings of {id}"),
            API_SCOPE,
        )
        .with_body(Value::Object(settings.clone()));
        self.expect_ok(call, Some(format!("project {id} does not exist")))
            .await
            .map(drop)
    }

    async fn ensure_branch(&self, id: &RepoId, branch: &str, from: &str) -> Result<(), ForgeError> {
        let branches = format!("{}/repository/branches", project_path(id));
        let existing = ApiCall::new(
            Method::Get,
            format!("{branches}/{}", encoded(branch)),
            format!("read {id} branch {branch}"),
            "read_api",
        );
        let response = self.transport.send(&existing).await?;
        match response.status {
            _ if response.ok() => return Ok(()),
            404 => {}
            _ => return Err(self.refused(&existing, &response)),
        }
        let call = ApiCall::new(
            Method::Post,
            branches,
            format!("create {id} branch {branch} from {from}"),
            API_SCOPE,
        )
        .with_body(json!({ "branch": branch, "ref": from }));
        self.expect_ok(
            call,
            Some(format!("project {id} or its ref {from:?} does not exist")),
        )
        .await
        .map(drop)
    }

    async fn ensure_variable(&self, id: &RepoId, variable: &Variable) -> Result<(), ForgeError> {
        let variables = format!("{}/variables", project_path(id));
        let mut body = variable.options.clone();
        body.insert("value".into(), json!(variable.value));
        let mut create = body.clone();
        create.insert("key".into(), json!(variable.key));
        let call = ApiCall::new(
            Method::Post,
            variables.clone(),
            format!("create variable {} of {id}", variable.key),
            API_SCOPE,
        )
        .with_body(Value::Object(create));
        let response = self.transport.send(&call).await?;
        if response.ok() {
            return Ok(());
        }
        if !(matches!(response.status, 400 | 409) && taken(&response)) {
            return match response.status {
                404 => Err(self.not_found(format!("project {id} does not exist"))),
                _ => Err(self.refused(&call, &response)),
            };
        }
        // There already (a retried step): set to this value.
        let update = ApiCall::new(
            Method::Put,
            format!("{variables}/{}", encoded(&variable.key)),
            format!("update variable {} of {id}", variable.key),
            API_SCOPE,
        )
        .with_body(Value::Object(body));
        self.expect_ok(update, Some(format!("project {id} does not exist")))
            .await
            .map(drop)
    }

    async fn set_merge_request_options(
        &self,
        id: &RepoId,
        number: u64,
        options: &MergeRequestOptions,
    ) -> Result<(), ForgeError> {
        let mut body = json!({
            "remove_source_branch": options.remove_source_branch,
            "labels": options.labels.join(","),
        });
        if let Some(assignee) = &options.assignee {
            body["assignee_id"] = json!(self.user_id(assignee).await?);
        }
        let call = ApiCall::new(
            Method::Put,
            format!("{}/merge_requests/{number}", project_path(id)),
            format!("set the assignee and labels of merge request {number} of {id}"),
            API_SCOPE,
        )
        .with_body(body);
        self.expect_ok(
            call,
            Some(format!("merge request {number} of {id} does not exist")),
        )
        .await
        .map(drop)
    }

    async fn ensure_group(&self, path: &[GroupLevel]) -> Result<u64, ForgeError> {
        let mut parent: Option<u64> = None;
        let mut full = String::new();
        for level in path {
            if !full.is_empty() {
                full.push('/');
            }
            full.push_str(&level.slug);
            let read = ApiCall::new(
                Method::Get,
                format!("/groups/{}", encoded(&full)),
                format!("read group {full}"),
                "read_api",
            );
            let response = self.transport.send(&read).await?;
            let group = match response.status {
                _ if response.ok() => response.body,
                404 => {
                    let mut body = json!({ "name": level.name, "path": level.slug });
                    if let Some(parent) = parent {
                        body["parent_id"] = json!(parent);
                    }
                    let create = ApiCall::new(
                        Method::Post,
                        "/groups".into(),
                        format!("create group {full}"),
                        "the api scope (and the right to create groups, or Owner of the parent group)",
                    )
                    .with_body(body);
                    let response = self.transport.send(&create).await?;
                    if response.ok() {
                        response.body
                    } else if matches!(response.status, 400 | 409) && taken(&response) {
                        // Made by a concurrent run since the read.
                        self.expect_ok(read, Some(format!("group {full} vanished while being created")))
                            .await?
                    } else {
                        return Err(self.refused(&create, &response));
                    }
                }
                _ => return Err(self.refused(&read, &response)),
            };
            parent = group.get("id").and_then(Value::as_u64);
        }
        parent.ok_or_else(|| ForgeError::Invalid("a group path needs at least one group".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::{DryRun, RepositorySettings, apply_settings, ensure_pull_request, ensure_repository};

    fn gitlab() -> GitLab<DryRun> {
        GitLab::new(DryRun::new("gitlab.example", "https://gitlab.example/api/v4"))
    }

    fn methods_and_urls(gitlab: &GitLab<DryRun>) -> Vec<String> {
        gitlab
            .transport()
            .calls()
            .iter()
            .map(|c| c.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect()
    }

    fn id() -> RepoId {
        RepoId {
            owner: "platform/payments".into(),
            name: "api".into(),
        }
    }

    #[test]
    fn a_full_path_is_one_encoded_segment() {
        assert_eq!(encoded("platform/payments/api"), "platform%2Fpayments%2Fapi");
        assert_eq!(encoded("a b?c"), "a%20b%3Fc");
        assert_eq!(project_path(&id()), "/projects/platform%2Fpayments%2Fapi");
    }

    #[tokio::test]
    async fn a_project_is_made_in_its_namespace_then_given_topics_members_and_protection() {
        let gitlab = gitlab();
        let new = NewRepository {
            id: id(),
            description: "Payments API".into(),
            visibility: Visibility::Internal,
            default_branch: "main".into(),
            ..NewRepository::default()
        };
        let created = ensure_repository(&gitlab, &new).await.unwrap();
        assert!(created.empty);
        let calls = gitlab.transport().calls();
        assert_eq!(
            methods_and_urls(&gitlab),
            [
                "GET https://gitlab.example/api/v4/projects/platform%2Fpayments%2Fapi",
                "GET https://gitlab.example/api/v4/namespaces/platform%2Fpayments",
                "POST https://gitlab.example/api/v4/projects",
            ]
        );
        for part in [
            r#""namespace_id":0"#,
            r#""visibility":"internal""#,
            r#""path":"api""#,
            r#""description":"Payments API""#,
        ] {
            assert!(calls[2].contains(part), "{part} in {}", calls[2]);
        }
        let settings = RepositorySettings {
            topics: vec!["payments".into()],
            collaborators: Vec::new(),
            teams: Vec::new(),
            protection: Some(BranchProtection {
                branch: "main".into(),
                ..BranchProtection::default()
            }),
        };
        apply_settings(&gitlab, &new.id, &settings).await.unwrap();
        let calls = gitlab.transport().calls();
        assert_eq!(
            methods_and_urls(&gitlab)[3..],
            [
                "PUT https://gitlab.example/api/v4/projects/platform%2Fpayments%2Fapi",
                "GET https://gitlab.example/api/v4/projects/platform%2Fpayments%2Fapi/protected_branches/main",
                "POST https://gitlab.example/api/v4/projects/platform%2Fpayments%2Fapi/protected_branches",
            ]
        );
        assert!(calls[3].contains(r#"{"topics":["payments"]}"#), "{}", calls[3]);
        assert!(calls[5].contains(r#""push_access_level":40"#), "{}", calls[5]);
    }

    #[tokio::test]
    async fn a_merge_request_is_looked_for_by_its_source_branch_before_one_is_opened() {
        let gitlab = gitlab();
        let new = NewPullRequest {
            head: "feature/docs".into(),
            base: "main".into(),
            title: "Docs".into(),
            body: "More".into(),
            draft: false,
        };
        ensure_pull_request(&gitlab, &id(), &new, false).await.unwrap();
        let calls = methods_and_urls(&gitlab);
        assert_eq!(
            calls,
            [
                "GET https://gitlab.example/api/v4/projects/platform%2Fpayments%2Fapi/merge_requests?state=opened&source_branch=feature%2Fdocs&target_branch=main",
                "POST https://gitlab.example/api/v4/projects/platform%2Fpayments%2Fapi/merge_requests",
            ]
        );
    }

    #[tokio::test]
    async fn groups_are_made_outermost_first_each_under_its_parent() {
        let gitlab = gitlab();
        let levels = [
            GroupLevel {
                name: "Platform".into(),
                slug: "platform".into(),
            },
            GroupLevel {
                name: "Payments".into(),
                slug: "payments".into(),
            },
        ];
        // The dry run answers a create with its body, which has no id: the
        // second level goes under no parent, and no id comes back.
        let error = gitlab.ensure_group(&levels).await.unwrap_err();
        assert!(error.to_string().contains("at least one group"), "{error}");
        assert_eq!(
            methods_and_urls(&gitlab),
            [
                "GET https://gitlab.example/api/v4/groups/platform",
                "POST https://gitlab.example/api/v4/groups",
                "GET https://gitlab.example/api/v4/groups/platform%2Fpayments",
                "POST https://gitlab.example/api/v4/groups",
            ]
        );
    }

    #[test]
    fn gitlabs_field_errors_are_named_in_a_refusal() {
        let response = ApiResponse {
            status: 400,
            body: json!({"message": {"name": ["has already been taken"], "path": ["has already been taken"]}}),
            next: None,
        };
        assert!(taken(&response));
        assert_eq!(
            detail(&response),
            ": name has already been taken; path has already been taken"
        );
        let plain = ApiResponse {
            status: 403,
            body: json!({"error": "insufficient_scope"}),
            next: None,
        };
        assert_eq!(detail(&plain), ": insufficient_scope");
        let project = repository(
            &json!({"default_branch": "trunk", "empty_repo": false, "created_at": "2026-11-29T19:38:41.000Z"}),
            "main",
        );
        assert_eq!((project.default_branch.as_str(), project.empty), ("trunk", false));
        assert!(project.created_at.is_some());
    }
}
