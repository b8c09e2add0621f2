//! `POST /v2/autocomplete/:provider/:resource`: the names a form's picker
//! offers (GitHub's and Gitea's repositories, organisations and branches,
//! GitLab's groups and projects, as Backstage's modules for each answer
//! them), listed by the forge with
//! the token the caller sends, the user's own, as Backstage's frontend
//! sends it. goldpath's own forge tokens are never used here, so a caller
//! sees exactly what the forge lets that user see and cannot enumerate
//! with goldpath's rights. Only hosts the configuration lists by name as a
//! forge are called, so the route cannot be aimed anywhere else.

use hyper::StatusCode;
use serde_json::{Map, Value, json};

use crate::forge::client::Client;
use crate::forge::listing::{Choice, Listing};
use crate::forge::{ForgeError, ForgeKind, HttpTransport, RepoId};
use crate::portal::{Call, Portal, reply::Reply};

/// The host Backstage's GitHub autocomplete asks when the context names none.
const GITHUB_HOST: &str = "github.com";
/// The host Backstage's GitLab autocomplete asks when the context names none.
const GITLAB_HOST: &str = "gitlab.com";

/// What a call asks: the forge kind, the listing and the host.
#[derive(Debug, PartialEq)]
struct Ask {
    kind: ForgeKind,
    listing: Listing,
    host: String,
    token: String,
}

/// Reads a call's provider, resource and body, with Backstage's messages
/// for what it refuses.
fn ask(provider: &str, resource: &str, body: &[u8]) -> Result<Ask, Reply> {
    let body: Value =
        serde_json::from_slice(body).map_err(|e| Reply::bad_request(format!("the body is not JSON: {e}")))?;
    let token = body
        .get("token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Reply::bad_request("Missing token query parameter"))?;
    let kind = match provider {
        "github" => ForgeKind::Github,
        "gitea" => ForgeKind::Gitea,
        "gitlab" => ForgeKind::Gitlab,
        _ => return Err(Reply::bad_request(format!("Unsupported provider: {provider}"))),
    };
    let empty = Map::new();
    let context = body.get("context").and_then(Value::as_object).unwrap_or(&empty);
    let text = |key: &str| context.get(key).and_then(Value::as_str).filter(|v| !v.is_empty());
    let listing = match (kind, resource) {
        (ForgeKind::Gitlab, "groups") => Listing::Groups,
        (ForgeKind::Gitlab, "repositories") => match text("id") {
            Some(id) => Listing::Projects(id.to_string()),
            None => return Err(Reply::bad_request("Missing groupId and userId context parameter")),
        },
        (ForgeKind::Gitlab, _) => return Err(Reply::bad_request(format!("Invalid resource: {resource}"))),
        (_, "repositoriesWithOwner" | "repositories") => Listing::Repositories,
        (_, "owners") => Listing::Owners,
        (_, "branches") => {
            let (Some(owner), Some(name)) = (text("owner"), text("repository")) else {
                return Err(Reply::bad_request(
                    "Missing owner and/or repository context parameter",
                ));
            };
            for (key, value) in [("owner", owner), ("repository", name)] {
                if value.contains('/') || value == "." || value == ".." {
                    return Err(Reply::bad_request(format!(
                        "context.{key}: {value:?} is not a name (no '/', '.' or '..')"
                    )));
                }
            }
            Listing::Branches(RepoId {
                owner: owner.into(),
                name: name.into(),
            })
        }
        _ => return Err(Reply::bad_request(format!("Invalid resource: {resource}"))),
    };
    let host = match (text("host"), kind) {
        (Some(host), _) => host.to_string(),
        (None, ForgeKind::Github) => GITHUB_HOST.to_string(),
        (None, ForgeKind::Gitlab) => GITLAB_HOST.to_string(),
        (None, _) => return Err(Reply::bad_request("context.host: name the Gitea host")),
    };
    Ok(Ask {
        kind,
        listing,
        host,
        token: token.to_string(),
    })
}

/// Answers the call: `{"results": [{"title": shown, "id": value}, ...]}`,
/// `title` only where the forge's value is not what a person reads.
pub async fn autocomplete(
    portal: &Portal,
    call: &Call<'_>,
    provider: &str,
    resource: &str,
) -> Result<Reply, Reply> {
    let ask = ask(provider, resource, &call.body)?;
    let api_url = match portal.config.forge_api(&ask.host) {
        Some((kind, api_url)) if kind == ask.kind => api_url,
        _ => {
            return Err(Reply::bad_request(format!(
                "context.host: {} is not a {provider} host in goldpath's gitHosts",
                ask.host
            )));
        }
    };
    let transport = HttpTransport::new(&api_url, &ask.token)
        .map_err(|e| forge_error(&e))?
        .with_scheme(ask.kind.auth_scheme());
    let client = Client::new(ask.kind, transport)
        .ok_or_else(|| Reply::bad_request(format!("Unsupported provider: {provider}")))?;
    let choices = client.list(&ask.listing).await.map_err(|e| forge_error(&e))?;
    Ok(Reply::ok(results(choices)))
}

/// Backstage's answer shape for `choices`.
fn results(choices: Vec<Choice>) -> Value {
    let results: Vec<Value> = choices
        .into_iter()
        .map(|Choice { title, id }| match title {
            Some(title) => json!({ "title": title, "id": id }),
            None => json!({ "id": id }),
        })
        .collect();
    json!({ "results": results })
}

/// The answer to a forge's refusal: `403` when it refused the user's
/// token, `404` for what it does not have, `503` when it did not answer.
fn forge_error(error: &ForgeError) -> Reply {
    let status = match error {
        ForgeError::Denied { .. } => StatusCode::FORBIDDEN,
        ForgeError::NotFound(_) => StatusCode::NOT_FOUND,
        ForgeError::Invalid(_) | ForgeError::Refused { .. } => StatusCode::BAD_REQUEST,
        ForgeError::RateLimited { .. } | ForgeError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
    };
    Reply::error(status, error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(value: Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    #[test]
    fn a_call_is_read_as_backstages_route_reads_it() {
        let asked = ask(
            "gitea",
            "branches",
            &body(json!({"token": "t", "context": {"host": "git.example", "owner": "team-a", "repository": "web"}})),
        )
        .unwrap();
        assert_eq!(
            asked,
            Ask {
                kind: ForgeKind::Gitea,
                listing: Listing::Branches(RepoId {
                    owner: "team-a".into(),
                    name: "web".into()
                }),
                host: "git.example".into(),
                token: "t".into(),
            }
        );
        let github = ask("github", "repositoriesWithOwner", &body(json!({"token": "t"}))).unwrap();
        assert_eq!(
            (github.host.as_str(), github.listing),
            ("github.com", Listing::Repositories)
        );
    }

    #[test]
    fn a_gitlab_call_is_read_as_backstages_gitlab_module_reads_it() {
        let groups = ask("gitlab", "groups", &body(json!({"token": "t"}))).unwrap();
        assert_eq!(
            (groups.kind, groups.listing, groups.host.as_str()),
            (ForgeKind::Gitlab, Listing::Groups, "gitlab.com")
        );
        let projects = ask(
            "gitlab",
            "repositories",
            &body(json!({"token": "t", "context": {"host": "gitlab.example", "id": "42"}})),
        )
        .unwrap();
        assert_eq!(
            (projects.listing, projects.host.as_str()),
            (Listing::Projects("42".into()), "gitlab.example")
        );
        assert_eq!(
            results(vec![
                Choice {
                    title: Some("team/web".into()),
                    id: "9".into()
                },
                Choice {
                    title: None,
                    id: "main".into()
                }
            ]),
            json!({"results": [{"title": "team/web", "id": "9"}, {"id": "main"}]})
        );
    }

    #[test]
    fn what_backstage_refuses_is_refused_with_its_words() {
        let refused = |provider: &str, resource: &str, value: Value| {
            let reply = ask(provider, resource, &body(value)).unwrap_err();
            assert_eq!(reply.status, StatusCode::BAD_REQUEST);
            reply.body.unwrap()["error"]["message"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            refused("github", "owners", json!({})),
            "Missing token query parameter"
        );
        assert_eq!(
            refused("bitbucketCloud", "workspaces", json!({"token": "t"})),
            "Unsupported provider: bitbucketCloud"
        );
        assert_eq!(
            refused("github", "tags", json!({"token": "t"})),
            "Invalid resource: tags"
        );
        assert_eq!(
            refused(
                "github",
                "branches",
                json!({"token": "t", "context": {"owner": "o"}})
            ),
            "Missing owner and/or repository context parameter"
        );
        let climbing = refused(
            "gitea",
            "branches",
            json!({"token": "t", "context": {"host": "h", "owner": "..", "repository": "r"}}),
        );
        assert!(climbing.contains("context.owner"), "{climbing}");
        assert_eq!(
            refused("gitlab", "repositories", json!({"token": "t", "context": {}})),
            "Missing groupId and userId context parameter"
        );
        assert_eq!(
            refused("gitlab", "branches", json!({"token": "t"})),
            "Invalid resource: branches"
        );
        let no_host = refused("gitea", "owners", json!({"token": "t"}));
        assert!(no_host.contains("context.host"), "{no_host}");
    }
}
