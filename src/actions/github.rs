//! `publish:github`, `github:repo:create` and `github:repo:push` on a
//! `type: github` host: Backstage's inputs for the repository GitHub makes
//! (visibility, features, merge settings, who may write, how the default
//! branch is protected), each read into what the forge is asked for or
//! refused by name. `github:repo:create` is the first half of
//! `publish:github` (the repository and its settings), `github:repo:push`
//! the second (the push and the branch protection). On a plain git host
//! they push only, as `publish:git` does.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::publish::{
    Collaborator, ForgeRequest, MAX_COLLABORATORS, Publish, PublishInput, bounded_topics, checked_repo,
    collaborators, required_approvals, route,
};
use super::{ActionError, ActionKind};
use crate::api::RepoUrl;
use crate::config::{Config, RepositoryRoute, TenantRules};
use crate::engine::files::FileTree;
use crate::forge::{
    Access, Actors, BranchProtection, Features, ForgeKind, NewRepository, RepoId, RepositorySettings,
    Visibility,
};

/// Most status checks, or users, teams and apps in one list of a branch
/// rule, a step may name.
pub const MAX_RULE_ENTRIES: usize = 50;

/// The input of `publish:github`: Backstage's names.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct GithubPublishInput {
    /// What every publish action takes.
    #[serde(flatten)]
    pub common: PublishInput,
    /// The repository's settings.
    #[serde(flatten)]
    pub settings: RepoSettingsInput,
    /// Whether administrators are held to the branch protection too
    /// (default true).
    pub protect_enforce_admins: Option<bool>,
    /// The default branch's rules. `common` names
    /// `requiredApprovingReviewCount` too, alike: whichever of the two
    /// serde fills, it is read from both ([`GithubPublishInput::rules`]).
    #[serde(flatten)]
    pub rules: BranchRulesInput,
}

/// The repository settings `publish:github` and `github:repo:create` take,
/// defined once and flattened into both inputs.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct RepoSettingsInput {
    /// The repository's homepage.
    pub homepage: Option<String>,
    /// A user, or `owner/team-slug`, given admin access.
    pub access: Option<String>,
    /// Whether a merged pull request's branch is deleted.
    pub delete_branch_on_merge: Option<bool>,
    /// Whether merge commits are allowed.
    pub allow_merge_commit: Option<bool>,
    /// Whether squash merges are allowed.
    pub allow_squash_merge: Option<bool>,
    /// `PR_TITLE` or `COMMIT_OR_PR_TITLE`.
    #[schemars(extend("enum" = SQUASH_TITLES))]
    pub squash_merge_commit_title: Option<String>,
    /// `PR_BODY`, `COMMIT_MESSAGES` or `BLANK`.
    #[schemars(extend("enum" = SQUASH_MESSAGES))]
    pub squash_merge_commit_message: Option<String>,
    /// Whether rebase merges are allowed.
    pub allow_rebase_merge: Option<bool>,
    /// Whether auto-merge is allowed.
    pub allow_auto_merge: Option<bool>,
    /// Whether the repository has projects.
    pub has_projects: Option<bool>,
    /// Whether it has a wiki.
    pub has_wiki: Option<bool>,
    /// Whether it has issues.
    pub has_issues: Option<bool>,
    /// Refused: Actions variables are not set by goldpath.
    pub repo_variables: Option<Value>,
    /// Refused: Actions secrets are not set by goldpath.
    pub secrets: Option<Value>,
    /// Refused: the OIDC subject claim is not set by goldpath.
    pub oidc_customization: Option<Value>,
    /// Refused: custom properties are not set by goldpath.
    pub custom_properties: Option<Value>,
}

/// `squashMergeCommitTitle`'s values.
const SQUASH_TITLES: [&str; 2] = ["PR_TITLE", "COMMIT_OR_PR_TITLE"];
/// `squashMergeCommitMessage`'s values.
const SQUASH_MESSAGES: [&str; 3] = ["PR_BODY", "COMMIT_MESSAGES", "BLANK"];

/// A branch's protection rules as `publish:github`, `github:repo:push` and
/// `github:branch-protection:create` take them, defined once and
/// flattened into the three inputs. Whether administrators are held to
/// them is each action's own input (`protectEnforceAdmins`, or
/// `enforceAdmins`), as in Backstage.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct BranchRulesInput {
    /// Approvals a pull request needs, 0 to 6 (default 1).
    #[schemars(with = "Option<u8>", range(max = 6))]
    pub required_approving_review_count: Option<Value>,
    /// Whether code owners must approve.
    pub require_code_owner_reviews: Option<bool>,
    /// Whether a new push dismisses approvals.
    pub dismiss_stale_reviews: Option<bool>,
    /// Status checks that must pass.
    pub required_status_check_contexts: Option<Vec<String>>,
    /// Whether a branch must be up to date to merge (default true).
    pub require_branches_to_be_up_to_date: Option<bool>,
    /// Whether conversations must be resolved to merge.
    pub required_conversation_resolution: Option<bool>,
    /// Whether the last push needs someone else's approval.
    pub require_last_push_approval: Option<bool>,
    /// Whether commits to the protected branch must be signed.
    pub required_commit_signing: Option<bool>,
    /// Whether merge commits are refused on the protected branch.
    pub required_linear_history: Option<bool>,
    /// Who may merge without the required reviews.
    pub bypass_pull_request_allowances: Option<ActorsInput>,
    /// Who alone may push to the protected branch.
    pub restrictions: Option<ActorsInput>,
}

/// Users, teams and apps, as a branch rule names them.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
pub struct ActorsInput {
    /// User logins.
    pub users: Option<Vec<String>>,
    /// Team slugs.
    pub teams: Option<Vec<String>>,
    /// App slugs.
    pub apps: Option<Vec<String>>,
}

impl BranchRulesInput {
    /// The rules the step gives, by input name.
    fn given(&self) -> impl Iterator<Item = &'static str> {
        [
            (
                "requiredApprovingReviewCount",
                self.required_approving_review_count.is_some(),
            ),
            (
                "requireCodeOwnerReviews",
                self.require_code_owner_reviews.is_some(),
            ),
            ("dismissStaleReviews", self.dismiss_stale_reviews.is_some()),
            (
                "requiredStatusCheckContexts",
                self.required_status_check_contexts.is_some(),
            ),
            (
                "requireBranchesToBeUpToDate",
                self.require_branches_to_be_up_to_date.is_some(),
            ),
            (
                "requiredConversationResolution",
                self.required_conversation_resolution.is_some(),
            ),
            (
                "requireLastPushApproval",
                self.require_last_push_approval.is_some(),
            ),
            ("requiredCommitSigning", self.required_commit_signing.is_some()),
            ("requiredLinearHistory", self.required_linear_history.is_some()),
            (
                "bypassPullRequestAllowances",
                self.bypass_pull_request_allowances.is_some(),
            ),
            ("restrictions", self.restrictions.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
    }

    /// The rules for `branch`, with Backstage's defaults: one approval,
    /// administrators held to them (unless `enforce_admins` says not),
    /// branches up to date before they merge.
    pub fn protection(
        &self,
        branch: &str,
        enforce_admins: Option<bool>,
    ) -> Result<BranchProtection, ActionError> {
        let checks = bounded(
            "requiredStatusCheckContexts",
            self.required_status_check_contexts.as_ref(),
        )?;
        Ok(BranchProtection {
            branch: branch.to_string(),
            required_approvals: required_approvals(self.required_approving_review_count.as_ref())?,
            enforce_admins: enforce_admins.unwrap_or(true),
            require_code_owner_reviews: self.require_code_owner_reviews.unwrap_or(false),
            dismiss_stale_reviews: self.dismiss_stale_reviews.unwrap_or(false),
            require_last_push_approval: self.require_last_push_approval.unwrap_or(false),
            required_status_checks: checks,
            require_up_to_date: self.require_branches_to_be_up_to_date.unwrap_or(true),
            require_conversation_resolution: self.required_conversation_resolution.unwrap_or(false),
            require_linear_history: self.required_linear_history.unwrap_or(false),
            require_signatures: self.required_commit_signing.unwrap_or(false),
            block_creations: false,
            bypass: actors(
                "bypassPullRequestAllowances",
                self.bypass_pull_request_allowances.as_ref(),
            )?,
            restrictions: self
                .restrictions
                .as_ref()
                .map(|r| actors("restrictions", Some(r)))
                .transpose()?,
        })
    }
}

impl RepoSettingsInput {
    /// The settings the step gives, by input name.
    fn given(&self) -> impl Iterator<Item = &'static str> {
        [
            ("homepage", self.homepage.is_some()),
            ("access", self.access.is_some()),
            ("deleteBranchOnMerge", self.delete_branch_on_merge.is_some()),
            ("allowMergeCommit", self.allow_merge_commit.is_some()),
            ("allowSquashMerge", self.allow_squash_merge.is_some()),
            ("squashMergeCommitTitle", self.squash_merge_commit_title.is_some()),
            (
                "squashMergeCommitMessage",
                self.squash_merge_commit_message.is_some(),
            ),
            ("allowRebaseMerge", self.allow_rebase_merge.is_some()),
            ("allowAutoMerge", self.allow_auto_merge.is_some()),
            ("hasProjects", self.has_projects.is_some()),
            ("hasWiki", self.has_wiki.is_some()),
            ("hasIssues", self.has_issues.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
    }

    /// Inputs goldpath does not carry out on any host.
    fn refused_input(&self) -> Option<(&'static str, &'static str)> {
        [
            (
                "repoVariables",
                self.repo_variables.is_some(),
                "goldpath does not set Actions variables",
            ),
            (
                "secrets",
                self.secrets.is_some(),
                "goldpath does not set Actions secrets",
            ),
            (
                "oidcCustomization",
                self.oidc_customization.is_some(),
                "goldpath does not set the OIDC subject claim",
            ),
            (
                "customProperties",
                self.custom_properties.is_some(),
                "goldpath does not set custom properties",
            ),
        ]
        .into_iter()
        .find_map(|(name, given, why)| given.then_some((name, why)))
    }
}

impl GithubPublishInput {
    /// The inputs only GitHub's API honours that the step gives.
    fn github_only_inputs(&self) -> Vec<&'static str> {
        let enforce = self.protect_enforce_admins.map(|_| "protectEnforceAdmins");
        self.settings
            .given()
            .chain(enforce)
            .chain(self.rules().given())
            .collect()
    }

    /// The branch rules, `requiredApprovingReviewCount` included wherever
    /// serde put it (the two flattened inputs both name it).
    fn rules(&self) -> BranchRulesInput {
        let mut rules = self.rules.clone();
        if rules.required_approving_review_count.is_none() {
            rules.required_approving_review_count = self.common.required_approving_review_count.clone();
        }
        rules
    }
}

/// The input of `github:repo:create`: Backstage's names for the repository
/// and its settings; it pushes nothing.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct RepoCreateInput {
    /// `github.com?owner=owner&repo=repo`.
    pub repo_url: String,
    /// The repository's description.
    pub description: Option<String>,
    /// `private` (the default), `public` or `internal`.
    #[schemars(extend("enum" = ["private", "public", "internal"]))]
    pub repo_visibility: Option<String>,
    /// Users and teams given access.
    pub collaborators: Option<Vec<Collaborator>>,
    /// The repository's topics.
    pub topics: Option<Vec<String>>,
    /// Its settings.
    #[serde(flatten)]
    pub settings: RepoSettingsInput,
    /// Calls GitHub as the user this token is for.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
}

/// The output of `github:repo:create`.
#[derive(Serialize, JsonSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct RepoCreateOutput {
    /// The repository's clone URL.
    pub remote_url: String,
}

/// The input of `github:repo:push`: Backstage's names for the push and the
/// default branch's protection, into a repository that exists.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct RepoPushInput {
    /// `github.com?owner=owner&repo=repo`.
    pub repo_url: String,
    /// The branch to create (default `main`).
    pub default_branch: Option<String>,
    /// The commit message (default `initial commit`).
    pub git_commit_message: Option<String>,
    /// The commit author's name (default the operator's `gitAuthor`).
    pub git_author_name: Option<String>,
    /// The commit author's email.
    pub git_author_email: Option<String>,
    /// The workspace directory to publish (default all of it).
    pub source_path: Option<String>,
    /// Whether the default branch is protected (default true).
    pub protect_default_branch: Option<bool>,
    /// Whether administrators are held to the protection (default true).
    pub protect_enforce_admins: Option<bool>,
    /// The default branch's rules.
    #[serde(flatten)]
    pub rules: BranchRulesInput,
    /// Pushes and calls GitHub as the user this token is for.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
}

impl RepoCreateInput {
    /// As `publish:github`'s input, with no branch protection: the
    /// repository is made empty.
    pub fn as_publish(&self) -> GithubPublishInput {
        GithubPublishInput {
            common: PublishInput {
                repo_url: self.repo_url.clone(),
                description: self.description.clone(),
                repo_visibility: self.repo_visibility.clone(),
                topics: self.topics.clone(),
                collaborators: self.collaborators.clone(),
                protect_default_branch: Some(false),
                token: self.token.clone(),
                ..PublishInput::default()
            },
            settings: self.settings.clone(),
            ..GithubPublishInput::default()
        }
    }
}

impl RepoPushInput {
    /// As `publish:github`'s input, with no repository settings: the
    /// repository exists.
    pub fn as_publish(&self) -> GithubPublishInput {
        GithubPublishInput {
            common: PublishInput {
                repo_url: self.repo_url.clone(),
                default_branch: self.default_branch.clone(),
                git_commit_message: self.git_commit_message.clone(),
                git_author_name: self.git_author_name.clone(),
                git_author_email: self.git_author_email.clone(),
                source_path: self.source_path.clone(),
                protect_default_branch: self.protect_default_branch,
                token: self.token.clone(),
                ..PublishInput::default()
            },
            rules: self.rules.clone(),
            protect_enforce_admins: self.protect_enforce_admins,
            ..GithubPublishInput::default()
        }
    }
}

/// Reads a `publish:github` step's input: what every publish step reads,
/// then what GitHub is asked for.
pub fn resolve(
    input: &GithubPublishInput,
    config: &Config,
    tenant: &TenantRules,
    workspace_files: &FileTree,
) -> Result<Publish, ActionError> {
    let mut publish = Publish::resolve(
        ActionKind::PublishGithub,
        &input.common,
        config,
        tenant,
        workspace_files,
    )?;
    publish.forge = forge_request(input, &publish.repo, &publish.branch, publish.route.kind)?;
    Ok(publish)
}

/// Reads a `github:repo:create` step's input: the repository, where it
/// lives, and what GitHub is asked for (`None` on a plain git host, which
/// makes a repository on its first push).
pub fn resolve_create(
    input: &RepoCreateInput,
    config: &Config,
    tenant: &TenantRules,
) -> Result<(RepoUrl, RepositoryRoute, Option<ForgeRequest>), ActionError> {
    let repo = checked_repo(ActionKind::GithubRepoCreate, &input.repo_url, tenant)?;
    let route = route(config, &repo, "main")?;
    let request = forge_request(&input.as_publish(), &repo, "main", route.kind)?;
    Ok((repo, route, request))
}

/// What a `publish:github` step asks of GitHub, or `None` on a plain git
/// server, which it only pushes to.
pub fn forge_request(
    input: &GithubPublishInput,
    repo: &RepoUrl,
    branch: &str,
    kind: ForgeKind,
) -> Result<Option<ForgeRequest>, ActionError> {
    if let Some((name, why)) = input.settings.refused_input() {
        return Err(ActionError::permanent(format!(
            "input.{name}: {why}; remove the input"
        )));
    }
    match kind {
        ForgeKind::Github => {}
        ForgeKind::Git => {
            if let Some(name) = input.github_only_inputs().first() {
                return Err(ActionError::permanent(format!(
                    "input.{name}: the repoUrl's host is a plain git server (gitHosts type git), where only \
                     GitHub's API could honour it; configure the host as type github, or remove the input"
                )));
            }
            return Ok(None);
        }
        other => {
            return Err(ActionError::permanent(format!(
                "publish:github: the repoUrl's host is configured as type {other}, not github"
            )));
        }
    }
    let common = &input.common;
    let visibility = match common.repo_visibility.as_deref().unwrap_or("private") {
        "public" => Visibility::Public,
        "private" => Visibility::Private,
        "internal" => Visibility::Internal,
        other => {
            return Err(ActionError::permanent(format!(
                "input.repoVisibility: {other:?} is not public, private or internal"
            )));
        }
    };
    let id = RepoId {
        owner: repo.owner.clone().unwrap_or_default(),
        name: repo.repo.clone().unwrap_or_default(),
    };
    let (mut users, mut teams) = collaborators(common.collaborators.as_deref(), true)?;
    if let Some(access) = input.settings.access.as_deref().filter(|a| !a.is_empty()) {
        // Backstage's `access`: `owner/team` is a team, anything else a
        // user; the owner itself has access already.
        match access.split_once('/') {
            Some((_, team)) => teams.push((team.to_string(), Access::Admin)),
            None if access.eq_ignore_ascii_case(&id.owner) => {}
            None => users.push((access.to_string(), Access::Admin)),
        }
    }
    if users.len() + teams.len() > MAX_COLLABORATORS {
        return Err(ActionError::permanent(format!(
            "input.collaborators and input.access: at most {MAX_COLLABORATORS} together"
        )));
    }
    let protection = if common.protect_default_branch.unwrap_or(true) {
        Some(input.rules().protection(branch, input.protect_enforce_admins)?)
    } else {
        None
    };
    Ok(Some(ForgeRequest {
        repository: NewRepository {
            id,
            description: common.description.clone().unwrap_or_default(),
            visibility,
            default_branch: branch.to_string(),
            homepage: input.settings.homepage.clone().unwrap_or_default(),
            features: features(&input.settings)?,
        },
        settings: RepositorySettings {
            topics: bounded_topics(common.topics.as_deref())?,
            collaborators: users,
            teams,
            protection,
        },
    }))
}

fn features(input: &RepoSettingsInput) -> Result<Features, ActionError> {
    let one_of = |name: &str, value: &Option<String>, allowed: &[&str]| match value.as_deref() {
        None => Ok(None),
        Some(text) if allowed.contains(&text) => Ok(Some(text.to_string())),
        Some(text) => Err(ActionError::permanent(format!(
            "input.{name}: {text:?} is not one of {}",
            allowed.join(", ")
        ))),
    };
    Ok(Features {
        has_issues: input.has_issues,
        has_wiki: input.has_wiki,
        has_projects: input.has_projects,
        allow_merge_commit: input.allow_merge_commit,
        allow_squash_merge: input.allow_squash_merge,
        allow_rebase_merge: input.allow_rebase_merge,
        allow_auto_merge: input.allow_auto_merge,
        delete_branch_on_merge: input.delete_branch_on_merge,
        squash_merge_commit_title: one_of(
            "squashMergeCommitTitle",
            &input.squash_merge_commit_title,
            &SQUASH_TITLES,
        )?,
        squash_merge_commit_message: one_of(
            "squashMergeCommitMessage",
            &input.squash_merge_commit_message,
            &SQUASH_MESSAGES,
        )?,
    })
}

fn bounded(name: &str, list: Option<&Vec<String>>) -> Result<Vec<String>, ActionError> {
    let list = list.cloned().unwrap_or_default();
    if list.len() > MAX_RULE_ENTRIES {
        return Err(ActionError::permanent(format!(
            "input.{name}: {} entries; at most {MAX_RULE_ENTRIES}",
            list.len()
        )));
    }
    Ok(list)
}

fn actors(name: &str, input: Option<&ActorsInput>) -> Result<Actors, ActionError> {
    let Some(input) = input else {
        return Ok(Actors::default());
    };
    Ok(Actors {
        users: bounded(&format!("{name}.users"), input.users.as_ref())?,
        teams: bounded(&format!("{name}.teams"), input.teams.as_ref())?,
        apps: bounded(&format!("{name}.apps"), input.apps.as_ref())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(kind: ForgeKind, input: Value) -> Result<Option<ForgeRequest>, ActionError> {
        let input: GithubPublishInput = crate::actions::input::decode(&input)?;
        let repo = RepoUrl::parse(&input.common.repo_url).unwrap();
        forge_request(&input, &repo, "main", kind)
    }

    #[test]
    fn every_input_reaches_the_repository_its_settings_or_its_protection() {
        let forge = request(
            ForgeKind::Github,
            json!({
                "repoUrl": "github.com?owner=acme&repo=app",
                "description": "d",
                "homepage": "https://app.example",
                "repoVisibility": "internal",
                "access": "acme/platform",
                "collaborators": [{"user": "alice", "access": "triage"}, {"team": "ops", "access": "maintain"}],
                "topics": ["web"],
                "hasWiki": false,
                "allowAutoMerge": true,
                "squashMergeCommitMessage": "PR_BODY",
                "requiredApprovingReviewCount": 2,
                "requireCodeOwnerReviews": true,
                "requiredStatusCheckContexts": ["ci"],
                "requireBranchesToBeUpToDate": false,
                "bypassPullRequestAllowances": {"users": ["bot"]},
                "restrictions": {"teams": ["release"]},
                "requiredCommitSigning": true,
            }),
        )
        .unwrap()
        .unwrap();
        let repository = &forge.repository;
        assert_eq!(repository.visibility, Visibility::Internal);
        assert_eq!(repository.homepage, "https://app.example");
        assert_eq!(repository.features.has_wiki, Some(false));
        assert_eq!(repository.features.allow_auto_merge, Some(true));
        assert_eq!(repository.features.has_issues, None);
        assert_eq!(
            repository.features.squash_merge_commit_message.as_deref(),
            Some("PR_BODY")
        );
        let settings = &forge.settings;
        assert_eq!(settings.collaborators, [("alice".to_string(), Access::Triage)]);
        assert_eq!(
            settings.teams,
            [
                ("ops".to_string(), Access::Maintain),
                ("platform".to_string(), Access::Admin)
            ]
        );
        let rule = settings.protection.as_ref().unwrap();
        assert_eq!(rule.required_approvals, 2);
        assert!(rule.require_code_owner_reviews && rule.enforce_admins && rule.require_signatures);
        assert!(!rule.require_up_to_date);
        assert_eq!(rule.required_status_checks, ["ci"]);
        assert_eq!(rule.bypass.users, ["bot"]);
        assert_eq!(rule.restrictions.as_ref().unwrap().teams, ["release"]);
    }

    #[test]
    fn one_definition_of_the_branch_rules_serves_the_three_actions_that_take_them() {
        let rules = schemars::schema_for!(BranchRulesInput);
        let rules = rules.get("properties").and_then(Value::as_object).unwrap();
        assert_eq!(rules.len(), 11);
        let given = json!({
            "repoUrl": "github.com?owner=acme&repo=app",
            "requiredApprovingReviewCount": 3,
            "requireCodeOwnerReviews": true,
            "requiredStatusCheckContexts": ["ci"],
            "restrictions": {"users": ["release-bot"]},
        });
        let mut made = Vec::new();
        for (kind, enforce) in [
            (ActionKind::PublishGithub, "protectEnforceAdmins"),
            (ActionKind::GithubRepoPush, "protectEnforceAdmins"),
            (ActionKind::GithubBranchProtection, "enforceAdmins"),
        ] {
            let schema = kind.definition().input_schema();
            for (name, property) in rules {
                assert_eq!(
                    schema.pointer(&format!("/properties/{name}")),
                    Some(property),
                    "{name}"
                );
            }
            assert!(kind.definition().inputs().contains(&enforce.to_string()));
            let mut input = given.clone();
            input[enforce] = json!(false);
            let decoded = crate::actions::WorldInput::decode(kind, &input).unwrap();
            let rule = match decoded {
                crate::actions::WorldInput::PublishGithub(input) => {
                    input.rules().protection("main", input.protect_enforce_admins)
                }
                crate::actions::WorldInput::GithubRepoPush(input) => input
                    .as_publish()
                    .rules()
                    .protection("main", input.protect_enforce_admins),
                crate::actions::WorldInput::GithubBranchProtection(input) => {
                    crate::actions::github_api::branch_rule(&input)
                }
                _ => unreachable!(),
            }
            .unwrap();
            made.push(BranchProtection {
                branch: "main".into(),
                ..rule
            });
        }
        assert_eq!(made[0].required_approvals, 3);
        assert!(!made[0].enforce_admins && made[0].require_code_owner_reviews);
        assert_eq!(made[0].restrictions.as_ref().unwrap().users, ["release-bot"]);
        assert!(made.iter().all(|rule| *rule == made[0]), "{made:?}");
    }

    #[test]
    fn backstages_defaults_a_private_repository_with_a_protected_branch() {
        let forge = request(
            ForgeKind::Github,
            json!({"repoUrl": "github.com?owner=acme&repo=app"}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(forge.repository.visibility, Visibility::Private);
        let rule = forge.settings.protection.unwrap();
        assert_eq!(
            (
                rule.required_approvals,
                rule.enforce_admins,
                rule.require_up_to_date
            ),
            (1, true, true)
        );
        let unprotected = request(
            ForgeKind::Github,
            json!({"repoUrl": "github.com?owner=acme&repo=app", "protectDefaultBranch": false}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(unprotected.settings.protection, None);
    }

    #[test]
    fn what_goldpath_cannot_honour_is_refused_by_name() {
        let base = json!({"repoUrl": "github.com?owner=acme&repo=app"});
        let cases = [
            (
                ForgeKind::Github,
                "secrets",
                json!({"A": "b"}),
                "input.secrets: goldpath does not set",
            ),
            (
                ForgeKind::Github,
                "repoVariables",
                json!({"A": "b"}),
                "input.repoVariables: ",
            ),
            (
                ForgeKind::Github,
                "repoVisibility",
                json!("hidden"),
                "input.repoVisibility: \"hidden\" is not one of \"public\", \"private\", \"internal\"",
            ),
            (
                ForgeKind::Github,
                "squashMergeCommitTitle",
                json!("X"),
                "input.squashMergeCommitTitle",
            ),
            (
                ForgeKind::Git,
                "hasWiki",
                json!(true),
                "input.hasWiki: the repoUrl's host is a plain git",
            ),
            (
                ForgeKind::Gitea,
                "description",
                json!("d"),
                "configured as type gitea, not github",
            ),
        ];
        for (kind, key, value, expected) in cases {
            let mut input = base.clone();
            input[key] = value;
            let error = request(kind, input).unwrap_err();
            assert!(error.message.contains(expected), "{key}: {}", error.message);
        }
        let checks: Vec<String> = (0..=MAX_RULE_ENTRIES).map(|i| format!("c{i}")).collect();
        let mut input = base.clone();
        input["requiredStatusCheckContexts"] = json!(checks);
        let error = request(ForgeKind::Github, input).unwrap_err();
        assert!(error.message.contains("at most 50"), "{}", error.message);
        // On a plain git server the step pushes only.
        assert_eq!(request(ForgeKind::Git, base).unwrap(), None);
    }
}
