//! `POST /api/scaffolder/v2/autocomplete/gitea/...` against the real Gitea
//! `e2e/up` starts: the names are listed with the token the caller sends
//! (the user's own), never with goldpath's host token, which could see more.

use std::process::Command;

use serde_json::{Value, json};

use crate::clients::run_clients;
use crate::harness::{Namespace, cluster, unique};
use crate::portal::{Portal, service_account_token};
use crate::scaffold::apply;

/// Calls Gitea's API at `path` with `auth` (curl's `-u user:password`, or a
/// header): the status and the JSON answer.
fn gitea(method: &str, path: &str, auth: &[&str], body: Option<&Value>) -> Value {
    let mut command = Command::new("curl");
    command.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method]);
    command.args(auth);
    command.args(["-H", "Content-Type: application/json"]);
    if let Some(body) = body {
        command.args(["--data", &body.to_string()]);
    }
    let output = command
        .arg(format!("{}{path}", cluster().gitea.api_url))
        .output()
        .expect("running curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("curl printed the status");
    let answer = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string()));
    let status: u16 = status.trim().parse().expect("an HTTP status");
    assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
    answer
}

/// A new Gitea user and an API token of theirs.
fn gitea_user() -> (String, String) {
    let admin = format!("Authorization: token {}", cluster().gitea.token);
    let name = format!("ac{}", unique());
    let password = format!("pw-{}", unique());
    gitea(
        "POST",
        "/admin/users",
        &["-H", &admin],
        Some(
            &json!({"username": name, "email": format!("{name}@goldpath.invalid"),
                     "password": password, "must_change_password": false}),
        ),
    );
    let basic = format!("{name}:{password}");
    let token = gitea(
        "POST",
        &format!("/users/{name}/tokens"),
        &["-u", &basic],
        Some(
            &json!({"name": "autocomplete", "scopes": ["write:user", "write:repository", "write:organization"]}),
        ),
    );
    (name, token["sha1"].as_str().unwrap().to_string())
}

fn names(answer: &Value) -> Vec<String> {
    let mut names: Vec<String> = answer["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results: {answer}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn autocomplete_lists_what_the_callers_own_gitea_token_sees_and_nothing_more() {
    let ns = Namespace::new("autocomplete");
    let n = ns.name.as_str();
    let server = &cluster().gitea;
    // goldpath's own token for the host is the admin's, which sees everything.
    apply(
        &ns,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: gitea-token}}\nstringData: {{token: \"{}\"}}\n",
            server.token
        ),
    );
    let config = format!(
        "gitHosts:\n  - host: gitea.test\n    type: gitea\n    url: \"{url}/{{owner}}/{{repo}}.git\"\n\
         \x20   apiUrl: \"{api}\"\n    tokenSecret: gitea-token\n  - host: \"*\"\n    type: gitea\n\
         \x20   url: \"{url}/{{owner}}/{{repo}}.git\"\n    apiUrl: \"{api}\"\n    tokenSecret: gitea-token\n",
        url = server.url,
        api = server.api_url,
    );
    let portal = Portal::start(&ns, &config, &[]);
    let caller = service_account_token(n, "portal-user");

    // The admin's private repository, which the user may not see.
    let admin = format!("Authorization: token {}", server.token);
    let hidden = format!("hidden{}", unique());
    gitea(
        "POST",
        "/user/repos",
        &["-H", &admin],
        Some(&json!({"name": hidden, "private": true})),
    );
    // The user's own repository with two branches, and an organisation.
    let (user, token) = gitea_user();
    let own = format!("Authorization: token {token}");
    gitea(
        "POST",
        "/user/repos",
        &["-H", &own],
        Some(&json!({"name": "mine", "private": true, "auto_init": true, "default_branch": "main"})),
    );
    gitea(
        "POST",
        &format!("/repos/{user}/mine/branches"),
        &["-H", &own],
        Some(&json!({"new_branch_name": "feature"})),
    );
    let org = format!("{user}-team");
    gitea("POST", "/orgs", &["-H", &own], Some(&json!({"username": org})));

    let ask = |resource: &str, body: Value| {
        let bearer = format!("Bearer {caller}");
        let (status, answer) = portal.call(
            "POST",
            &format!("/api/scaffolder/v2/autocomplete/gitea/{resource}"),
            &[("Authorization", &bearer)],
            Some(&body),
        );
        (
            status,
            serde_json::from_str::<Value>(&answer).unwrap_or(Value::Null),
        )
    };
    let context = json!({"host": "gitea.test"});

    // The user's token: their repository, not the admin's.
    let (status, answer) = ask(
        "repositoriesWithOwner",
        json!({"token": token, "context": context}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(names(&answer), [format!("{user}/mine")]);
    let (_, answer) = ask(
        "branches",
        json!({"token": token, "context": {"host": "gitea.test", "owner": user, "repository": "mine"}}),
    );
    assert_eq!(names(&answer), ["feature", "main"]);
    let (_, answer) = ask("owners", json!({"token": token, "context": context}));
    assert_eq!(names(&answer), [org]);
    // The admin's token sees the hidden repository: the answer is the
    // token's, not goldpath's.
    let (_, answer) = ask(
        "repositoriesWithOwner",
        json!({"token": server.token, "context": context}),
    );
    assert!(
        names(&answer).contains(&format!("{}/{hidden}", server.username)),
        "{answer}"
    );
    // The user asking for the admin's repository's branches is refused by Gitea.
    let (status, answer) = ask(
        "branches",
        json!({"token": token, "context": {"host": "gitea.test", "owner": server.username, "repository": hidden}}),
    );
    assert_eq!(status, 404, "{answer}");

    // Refused as Backstage refuses, and hosts not named in gitHosts (even
    // under `*`) are never called.
    let refusals = [
        (
            "repositoriesWithOwner",
            json!({"context": context}),
            400,
            "Missing token",
        ),
        (
            "tags",
            json!({"token": token, "context": context}),
            400,
            "Invalid resource: tags",
        ),
        (
            "repositoriesWithOwner",
            json!({"token": token, "context": {"host": "elsewhere.example"}}),
            400,
            "elsewhere.example is not a gitea host",
        ),
        (
            "repositoriesWithOwner",
            json!({"token": "not-a-token", "context": context}),
            403,
            "refused",
        ),
    ];
    for (resource, body, status, words) in refusals {
        let (got, answer) = ask(resource, body);
        assert_eq!(got, status, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(words), "{message}");
    }
    let bearer = format!("Bearer {caller}");
    let (status, answer) = portal.call(
        "POST",
        "/api/scaffolder/v2/autocomplete/bitbucketCloud/workspaces",
        &[("Authorization", &bearer)],
        Some(&json!({"token": token})),
    );
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("Unsupported provider: bitbucketCloud"),
        "{answer}"
    );
    let (status, _) = portal.call(
        "POST",
        "/api/scaffolder/v2/autocomplete/gitea/owners",
        &[],
        Some(&json!({"token": token, "context": context})),
    );
    assert_eq!(status, 401, "a caller is verified first");

    // Backstage's own ScaffolderClient asks the same way.
    let results = run_clients(&json!({
        "baseUrl": format!("http://127.0.0.1:{}", portal.port),
        "callers": {"portal": caller},
        "calls": [{"name": "repos", "as": "portal", "client": "scaffolder", "method": "autocomplete",
                   "args": [{"token": token, "provider": "gitea", "resource": "repositoriesWithOwner",
                             "context": {"host": "gitea.test"}}]}],
    }));
    assert_eq!(
        names(&results["repos"]["ok"]),
        [format!("{user}/mine")],
        "{results}"
    );

    let log = portal.operator.log();
    assert!(
        !log.contains(&token) && !log.contains(&server.token),
        "a forge token is in the log"
    );
}
