//! GitHub's calls for the [`Forge`] methods, in order, as a dry run
//! records them, and GitHub's errors as a message reads them.

use super::*;
use crate::forge::{DryRun, Features, RepositorySettings, apply_settings, ensure_repository};

fn new_repository() -> NewRepository {
    NewRepository {
        id: RepoId {
            owner: "acme".into(),
            name: "payments".into(),
        },
        description: "Payments".into(),
        visibility: Visibility::Internal,
        default_branch: "main".into(),
        homepage: "https://payments.example".into(),
        features: Features {
            has_wiki: Some(false),
            delete_branch_on_merge: Some(true),
            squash_merge_commit_title: Some("PR_TITLE".into()),
            ..Features::default()
        },
    }
}

fn methods_and_urls(calls: &[String]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

#[tokio::test]
async fn a_publish_reads_creates_then_sets_topics_access_and_protection_in_that_order() {
    let github = GitHub::new(DryRun::new("api.github.com", "https://api.github.com"));
    let new = new_repository();
    ensure_repository(&github, &new).await.unwrap();
    apply_settings(
        &github,
        &new.id,
        &RepositorySettings {
            topics: vec!["payments".into()],
            collaborators: vec![("alice".into(), Access::Maintain)],
            teams: vec![("platform".into(), Access::Admin)],
            protection: Some(BranchProtection {
                branch: "main".into(),
                required_approvals: 2,
                required_status_checks: vec!["ci".into()],
                require_signatures: true,
                ..BranchProtection::default()
            }),
        },
    )
    .await
    .unwrap();
    let calls = github.transport().calls();
    let api = "https://api.github.com";
    assert_eq!(
        methods_and_urls(&calls),
        [
            format!("GET {api}/repos/acme/payments"),
            format!("POST {api}/orgs/acme/repos"),
            format!("PUT {api}/repos/acme/payments/topics"),
            format!("PUT {api}/repos/acme/payments/collaborators/alice"),
            format!("PUT {api}/orgs/acme/teams/platform/repos/acme/payments"),
            format!("PUT {api}/repos/acme/payments/branches/main/protection"),
            format!("POST {api}/repos/acme/payments/branches/main/protection/required_signatures"),
        ]
    );
    for expected in [
        r#""visibility":"internal""#,
        r#""homepage":"https://payments.example""#,
        r#""has_wiki":false"#,
        r#""delete_branch_on_merge":true"#,
        r#""squash_merge_commit_title":"PR_TITLE""#,
    ] {
        assert!(calls[1].contains(expected), "{expected} in {}", calls[1]);
    }
    assert!(!calls[1].contains("has_issues"), "{}", calls[1]);
    assert!(calls[2].contains(r#"{"names":["payments"]}"#), "{}", calls[2]);
    assert!(calls[3].contains(r#""permission":"maintain""#), "{}", calls[3]);
    assert!(
        calls[5].contains(r#""required_approving_review_count":2"#),
        "{}",
        calls[5]
    );
    assert!(calls[5].contains(r#""contexts":["ci"]"#), "{}", calls[5]);
}

#[tokio::test]
async fn a_pull_request_is_looked_up_by_owner_and_branch_then_opened_as_a_draft() {
    let github = GitHub::new(DryRun::new("api.github.com", "https://api.github.com"));
    let id = RepoId {
        owner: "acme".into(),
        name: "app".into(),
    };
    let new = NewPullRequest {
        head: "feature/docs".into(),
        base: "main".into(),
        title: "Docs".into(),
        body: "More".into(),
        draft: true,
    };
    crate::forge::ensure_pull_request(&github, &id, &new, false)
        .await
        .unwrap();
    let calls = github.transport().calls();
    assert_eq!(
        methods_and_urls(&calls),
        [
            "GET https://api.github.com/repos/acme/app/pulls?state=open&head=acme%3Afeature%2Fdocs&base=main&per_page=1",
            "POST https://api.github.com/repos/acme/app/pulls",
        ]
    );
    assert!(calls[1].contains(r#""draft":true"#), "{}", calls[1]);
}

#[test]
fn a_validation_failure_names_githubs_errors() {
    let response = ApiResponse {
        status: 422,
        body: json!({
            "message": "Repository creation failed.",
            "errors": [{"resource": "Repository", "field": "name", "message": "name already exists on this account"}],
        }),
        ..ApiResponse::default()
    };
    assert_eq!(
        detail(&response),
        ": Repository creation failed. (name already exists on this account)"
    );
}
