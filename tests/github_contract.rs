//! The contract tier for GitHub: no GitHub runs here, so `goldpath scaffold`
//! publishes against a local server that holds each request to GitHub's own
//! OpenAPI description (`@octokit/openapi` from npm, pinned, fetched into
//! ~/.cache/goldpath at test time) and answers with GitHub's documented
//! examples, checked against the same description. The push is git, to bare
//! repositories the server makes when the API creates a repository.
//!
//! What it proves: every call goldpath makes is an operation GitHub
//! documents, with a body and query parameters valid against it, in the
//! order asserted here, and goldpath reads GitHub's documented answers and
//! errors (rate limits, a name taken, an organisation missing, a permission
//! missing). What it cannot: GitHub's behaviour beyond the description
//! (e.g. which token may do what, or how a repository looks after a push).

// Tests report failures by panicking, helpers included.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

#[path = "support/contract.rs"]
mod contract;
#[path = "support/npm.rs"]
mod npm;

use contract::{Answer, Exchange, Request, Server, TOKEN};

/// The description's package and version, and its tarball's digest.
const PACKAGE: &str = "@octokit/openapi";
const VERSION: &str = "23.0.2";
const TARBALL_SHA256: &str = "71a18407dd5e8464f4e0525daf03deabbe65abd9287d6adc7b5d98f516cd0d0c";
/// How deep a schema's references are followed; deeper is any value.
const MAX_SCHEMA_DEPTH: usize = 10;

/// GitHub's description of api.github.com, fetched once per machine.
fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = fetch_spec();
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    })
}

fn fetch_spec() -> PathBuf {
    const FILE: &str = "generated/api.github.com.json";
    npm::package(&format!("{PACKAGE}@{VERSION}"), TARBALL_SHA256, &[FILE])
        .join("package")
        .join(FILE)
}

/// What `$ref` points at, followed until it is not a reference.
fn resolve(value: &Value) -> &Value {
    let mut value = value;
    for _ in 0..16 {
        match value.get("$ref").and_then(Value::as_str) {
            Some(pointer) => value = spec().pointer(pointer.trim_start_matches('#')).unwrap(),
            None => return value,
        }
    }
    value
}

/// An OpenAPI 3.0 schema as a JSON Schema (draft 4) with its references
/// inlined: `nullable` becomes a `null` type, and formats and examples,
/// which say nothing about validity here, go.
fn json_schema(schema: &Value, depth: usize) -> Value {
    if depth > MAX_SCHEMA_DEPTH {
        return json!({});
    }
    let schema = resolve(schema);
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = serde_json::Map::new();
    for (key, value) in object {
        let converted = match key.as_str() {
            "nullable" | "format" | "example" | "examples" | "discriminator" | "readOnly" | "writeOnly"
            | "deprecated" | "x-github" => continue,
            "properties" => Value::Object(
                value
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, property)| (name.clone(), json_schema(property, depth + 1)))
                    .collect(),
            ),
            "items" | "not" => json_schema(value, depth + 1),
            "additionalProperties" if value.is_object() => json_schema(value, depth + 1),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                value
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|one| json_schema(one, depth + 1))
                    .collect(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    if object.get("nullable") == Some(&Value::Bool(true)) {
        match out.get("type").cloned() {
            Some(Value::String(ty)) => {
                out.insert("type".into(), json!([ty, "null"]));
                if let Some(Value::Array(options)) = out.get_mut("enum") {
                    options.push(Value::Null);
                }
            }
            _ => return json!({"anyOf": [Value::Object(out), {"type": "null"}]}),
        }
    }
    Value::Object(out)
}

/// Why `instance` does not fit `schema`, or nothing.
fn violations(schema: &Value, instance: &Value) -> Vec<String> {
    let schema = json_schema(schema, 0);
    let validator = jsonschema::draft4::new(&schema).unwrap();
    validator
        .iter_errors(instance)
        .take(5)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The operation GitHub documents for `method` on `path`: its path
/// template and its description.
fn operation(method: &str, path: &str) -> Option<(String, &'static Value)> {
    let segments: Vec<&str> = path.split('/').collect();
    let paths = spec()["paths"].as_object().unwrap();
    paths
        .iter()
        .filter(|(template, item)| {
            let parts: Vec<&str> = template.split('/').collect();
            item.get(method).is_some()
                && parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part.starts_with('{') && !segment.is_empty() || part == segment)
        })
        // The most literal template: `/repos/{owner}/{repo}/pulls` over a
        // template with a parameter in that place.
        .max_by_key(|(template, _)| template.split('/').filter(|p| !p.starts_with('{')).count())
        .map(|(template, item)| (template.clone(), &item[method]))
}

/// A documented answer of `operation` for `status`: its first example.
fn example(operation: &Value, status: u16) -> Value {
    let response = resolve(&operation["responses"][status.to_string()]);
    let content = &response["content"]["application/json"];
    if let Some(first) = content
        .get("examples")
        .and_then(Value::as_object)
        .and_then(|examples| examples.values().next())
    {
        return resolve(first)["value"].clone();
    }
    content.get("example").cloned().unwrap_or(Value::Null)
}

/// Fills in what GitHub's example leaves out that its schema requires
/// (the examples lag the schemas): each missing required property gets the
/// simplest value its schema allows.
fn complete(value: &mut Value, schema: &Value, depth: usize) {
    if depth > MAX_SCHEMA_DEPTH {
        return;
    }
    let schema = match schema.get("anyOf").or_else(|| schema.get("oneOf")) {
        Some(Value::Array(options)) => options
            .iter()
            .find(|o| o.get("type") != Some(&json!("null")))
            .unwrap_or(schema),
        _ => schema,
    };
    match value {
        Value::Object(object) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                if !object.contains_key(name) {
                    let property = properties.and_then(|p| p.get(name)).unwrap_or(&Value::Null);
                    object.insert(name.to_string(), simplest(property, depth + 1));
                }
            }
            for (name, property) in properties.into_iter().flatten() {
                if let Some(inner) = object.get_mut(name) {
                    complete(inner, property, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                complete(item, &schema["items"], depth + 1);
            }
        }
        _ => {}
    }
}

/// The simplest value `schema` allows.
fn simplest(schema: &Value, depth: usize) -> Value {
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    let ty = match &schema["type"] {
        Value::Array(types) if types.contains(&json!("null")) => return Value::Null,
        Value::Array(types) => types[0].as_str().unwrap_or("object").to_string(),
        Value::String(ty) => ty.clone(),
        _ => match schema.get("anyOf").or_else(|| schema.get("oneOf")) {
            Some(Value::Array(options)) if options.contains(&json!({"type": "null"})) => return Value::Null,
            Some(Value::Array(options)) => return simplest(&options[0], depth),
            _ => "object".into(),
        },
    };
    match ty.as_str() {
        "string" => json!(""),
        "integer" | "number" => json!(0),
        "boolean" => json!(false),
        "array" => json!([]),
        _ => {
            let mut object = json!({});
            complete(&mut object, schema, depth);
            object
        }
    }
}

/// A pull request the server holds.
#[derive(Clone)]
struct Pull {
    number: u64,
    repo: String,
    head: String,
    base: String,
    title: String,
    /// `open` or `closed`, as GitHub says it.
    state: &'static str,
    /// Closed by a merge.
    merged: bool,
}

/// GitHub's own state.
#[derive(Default)]
struct State {
    /// Organisations that exist.
    orgs: Vec<String>,
    /// Repositories by `owner/name`: their default branch.
    repos: BTreeMap<String, String>,
    pulls: Vec<Pull>,
    /// Webhooks by repository: their URL.
    hooks: Vec<(String, String)>,
    /// Repositories with pages on.
    pages: Vec<String>,
    /// Workflow runs: repository, workflow, ref, when made (as GitHub
    /// writes it), run id.
    runs: Vec<(String, String, String, String, u64)>,
    /// The server's base URL, for the `Link` of a list's next page.
    base: String,
    /// The `Authorization` header of each request, in order.
    authorizations: Vec<String>,
    /// Owners a GitHub App is installed on.
    installed_on: Vec<String>,
}

/// The contract server; its bare repositories are `{owner}/{repo}.git`.
type GitHub = Server<State>;

impl GitHub {
    fn start(remotes: &Path, orgs: &[&str]) -> GitHub {
        spec();
        let state = |url: &str| State {
            orgs: orgs.iter().map(|o| o.to_string()).collect(),
            base: url.to_string(),
            ..State::default()
        };
        Server::listen(remotes, "GitHub's description", state, answer)
    }

    /// Makes GitHub hold repository `full_name` (`owner/name`), with
    /// `default_branch`, as one made before the test.
    fn holds_repository(&self, full_name: &str, default_branch: &str) {
        self.state
            .lock()
            .unwrap()
            .forge
            .repos
            .insert(full_name.into(), default_branch.into());
    }
}

/// Checks the request against the description, then answers it.
fn answer(request: &Request, state: &mut Exchange<State>, remotes: &Path) -> Answer {
    let method = request.method.to_uppercase();
    state.calls.push(format!("{method} {}", request.path));
    let what = format!("{method} {}", request.path);
    // A GitHub App's own calls take its JWT; every other call a token.
    let app_call = request.path.starts_with("/app/") || request.path.ends_with("/installation");
    let scheme = if app_call { "Bearer " } else { "token " };
    if !request.authorization.starts_with(scheme) {
        state.violations.push(format!("{what}: no {scheme}credential"));
    }
    state.forge.authorizations.push(request.authorization.clone());
    let Some((template, op)) = operation(&request.method.to_lowercase(), &request.path) else {
        state.violations.push(format!("{what}: no such operation"));
        return (404, vec![], json!({"message": "Not Found"}));
    };
    check_request(request, op, &what, &mut state.violations);
    let (status, headers, body) = match state.take_fault(&method, &request.path) {
        Some(fault) => fault,
        None => simulate(request, &template, op, &mut state.forge, remotes),
    };
    // Answers the description lists are held to it; GitHub sends a 404
    // for a missing organisation that this operation does not list.
    let documented = &op["responses"][status.to_string()];
    let mut body = body;
    if !documented.is_null() {
        let schema = &resolve(documented)["content"]["application/json"]["schema"];
        if !schema.is_null() {
            complete(&mut body, &json_schema(schema, 0), 0);
            for violation in violations(schema, &body) {
                state
                    .violations
                    .push(format!("answer to {what} ({status}): {violation}"));
            }
        }
    } else if status != 404 {
        state
            .violations
            .push(format!("{what}: {status} is not a documented answer"));
    }
    (status, headers, body)
}

fn check_request(request: &Request, op: &Value, what: &str, violations_found: &mut Vec<String>) {
    let parameters: Vec<&Value> = op["parameters"]
        .as_array()
        .map(|p| p.iter().map(resolve).collect())
        .unwrap_or_default();
    for (key, value) in &request.query {
        let declared = parameters
            .iter()
            .find(|p| p["in"] == "query" && p["name"] == key.as_str());
        let Some(declared) = declared else {
            violations_found.push(format!("{what}: query parameter {key} is not documented"));
            continue;
        };
        let typed = match declared["schema"]["type"].as_str() {
            Some("integer") => value.parse::<i64>().map(Value::from).unwrap_or(json!(value)),
            Some("boolean") => value.parse::<bool>().map(Value::from).unwrap_or(json!(value)),
            _ => json!(value),
        };
        for violation in violations(&declared["schema"], &typed) {
            violations_found.push(format!("{what}: query {key}: {violation}"));
        }
    }
    let documented = resolve(&op["requestBody"]);
    match (&request.body, documented.is_null()) {
        (Some(body), false) => {
            let schema = &documented["content"]["application/json"]["schema"];
            for violation in violations(schema, body) {
                violations_found.push(format!("{what}: body: {violation}"));
            }
        }
        (None, false) if documented["required"] == true => {
            violations_found.push(format!("{what}: the body is required"));
        }
        (Some(_), true) => violations_found.push(format!("{what}: takes no body")),
        _ => {}
    }
}

/// GitHub as far as publishing goes: organisations, repositories (made as
/// bare repositories on disk), pull requests.
fn simulate(
    request: &Request,
    template: &str,
    op: &'static Value,
    state: &mut State,
    remotes: &Path,
) -> Answer {
    let method = request.method.to_lowercase();
    let parts: Vec<&str> = request.path.split('/').collect();
    let (owner, repo) = (
        parts.get(2).copied().unwrap_or_default(),
        parts.get(3).copied().unwrap_or_default(),
    );
    let key = format!("{owner}/{repo}");
    let body = request.body.clone().unwrap_or(Value::Null);
    let repository = |owner: &str, name: &str, branch: &str| {
        let mut answer = example(op, if method == "post" { 201 } else { 200 });
        answer["name"] = json!(name);
        answer["full_name"] = json!(format!("{owner}/{name}"));
        answer["default_branch"] = json!(branch);
        answer["size"] = json!(0);
        answer
    };
    let pull_answer = |pull: &Pull, status: u16| {
        let mut answer = example(op, status);
        if let Value::Array(items) = &answer {
            answer = items[0].clone();
        }
        answer["number"] = json!(pull.number);
        answer["html_url"] = json!(format!("https://github.com/{}/pull/{}", pull.repo, pull.number));
        answer["title"] = json!(pull.title);
        answer["head"]["ref"] = json!(pull.head);
        answer["base"]["ref"] = json!(pull.base);
        answer["state"] = json!(pull.state);
        answer
    };
    match (method.as_str(), template) {
        ("get", "/repos/{owner}/{repo}") => match state.repos.get(&key) {
            Some(branch) => (200, vec![], repository(owner, repo, branch)),
            None => (
                404,
                vec![],
                json!({"message": "Not Found", "documentation_url": "https://docs.github.com"}),
            ),
        },
        ("post", "/orgs/{org}/repos") => {
            let org = parts[2];
            if !state.orgs.iter().any(|o| o == org) {
                return (
                    404,
                    vec![],
                    json!({"message": "Not Found", "documentation_url": "https://docs.github.com"}),
                );
            }
            let name = body["name"].as_str().unwrap_or_default().to_string();
            state.repos.insert(format!("{org}/{name}"), "main".into());
            git2::Repository::init_bare(remotes.join(format!("{org}/{name}.git"))).unwrap();
            (201, vec![], repository(org, &name, "main"))
        }
        ("get", "/user") => {
            let mut answer = example(op, 200);
            answer["login"] = json!("octocat");
            (200, vec![], answer)
        }
        ("put", "/repos/{owner}/{repo}/topics") => (200, vec![], json!({"names": body["names"]})),
        ("put", "/repos/{owner}/{repo}/collaborators/{username}") => (204, vec![], Value::Null),
        ("put", "/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}") => (204, vec![], Value::Null),
        ("put", "/repos/{owner}/{repo}/branches/{branch}/protection")
        | ("post", "/repos/{owner}/{repo}/branches/{branch}/protection/required_signatures") => {
            (200, vec![], example(op, 200))
        }
        ("get", "/repos/{owner}/{repo}/pulls") => {
            let query: BTreeMap<_, _> = request.query.iter().cloned().collect();
            let head = query.get("head").cloned().unwrap_or_default();
            let found: Vec<Value> = state
                .pulls
                .iter()
                .filter(|p| p.repo == key && format!("{owner}:{}", p.head) == head)
                .filter(|p| query.get("base").is_none_or(|b| *b == p.base))
                .map(|p| pull_answer(p, 200))
                .collect();
            (200, vec![], Value::Array(found))
        }
        ("post", "/repos/{owner}/{repo}/pulls") => {
            let pull = Pull {
                number: state.pulls.len() as u64 + 1,
                repo: key,
                head: body["head"].as_str().unwrap_or_default().into(),
                base: body["base"].as_str().unwrap_or_default().into(),
                title: body["title"].as_str().unwrap_or_default().into(),
                state: "open",
                merged: false,
            };
            state.pulls.push(pull.clone());
            (201, vec![], pull_answer(&pull, 201))
        }
        ("get", "/repos/{owner}/{repo}/pulls/{pull_number}") => {
            let number: u64 = parts[5].parse().unwrap_or_default();
            match state.pulls.iter().find(|p| p.repo == key && p.number == number) {
                Some(pull) => {
                    let mut answer = pull_answer(pull, 200);
                    answer["merged"] = json!(pull.merged);
                    (200, vec![], answer)
                }
                None => (
                    404,
                    vec![],
                    json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
                ),
            }
        }
        ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}") => {
            let number: u64 = parts[5].parse().unwrap();
            let pull = state.pulls.iter_mut().find(|p| p.number == number).unwrap();
            pull.title = body["title"].as_str().unwrap_or_default().into();
            let pull = pull.clone();
            (200, vec![], pull_answer(&pull, 200))
        }
        ("post", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers") => {
            let number: u64 = parts[5].parse().unwrap();
            let pull = state.pulls.iter().find(|p| p.number == number).unwrap().clone();
            (201, vec![], pull_answer(&pull, 201))
        }
        ("get", "/repos/{owner}/{repo}/branches") => {
            // The branches the bare repository holds.
            let names: Vec<String> = git2::Repository::open_bare(remotes.join(format!("{key}.git")))
                .map(|bare| {
                    bare.branches(Some(git2::BranchType::Local))
                        .unwrap()
                        .filter_map(|b| b.ok()?.0.name().ok()?.map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let branches = names
                .iter()
                .map(|name| {
                    let mut branch = example(op, 200)[0].clone();
                    branch["name"] = json!(name);
                    branch
                })
                .collect();
            (200, vec![], Value::Array(branches))
        }
        ("get", "/repos/{owner}/{repo}/hooks") => {
            // GitHub's paging: `per_page` a page, the next one in `Link`.
            let number = |name: &str, default: usize| {
                request
                    .query
                    .iter()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(default)
            };
            let (per_page, page) = (number("per_page", 30), number("page", 1));
            let all: Vec<&String> = state
                .hooks
                .iter()
                .filter(|(repo, _)| *repo == key)
                .map(|(_, url)| url)
                .collect();
            let hooks = all
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|url| {
                    let mut hook = example(op, 200)[0].clone();
                    hook["config"]["url"] = json!(url);
                    hook
                })
                .collect();
            let mut headers = vec![];
            if page * per_page < all.len() {
                headers.push((
                    "link".to_string(),
                    format!(
                        "<{}/repos/{key}/hooks?per_page={per_page}&page={}>; rel=\"next\", <{}/repos/{key}/hooks?per_page={per_page}&page=1>; rel=\"first\"",
                        state.base,
                        page + 1,
                        state.base
                    ),
                ));
            }
            (200, headers, Value::Array(hooks))
        }
        ("post", "/repos/{owner}/{repo}/hooks") => {
            let url = body["config"]["url"].as_str().unwrap_or_default().to_string();
            state.hooks.push((key, url.clone()));
            let mut hook = example(op, 201);
            hook["config"]["url"] = json!(url);
            (201, vec![], hook)
        }
        ("post", "/repos/{owner}/{repo}/pages") if state.pages.contains(&key) => (
            409,
            vec![],
            json!({"message": "GitHub Pages is already enabled.", "documentation_url": "https://docs.github.com/rest"}),
        ),
        ("post", "/repos/{owner}/{repo}/pages") => {
            state.pages.push(key);
            (201, vec![], example(op, 201))
        }
        ("post", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches") => {
            let id = state.runs.len() as u64 + 1;
            let made = k8s_openapi::jiff::Timestamp::now()
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            let git_ref = body["ref"].as_str().unwrap_or_default().to_string();
            state.runs.push((key, parts[6].to_string(), git_ref, made, id));
            (204, vec![], Value::Null)
        }
        ("get", "/orgs/{org}/installation") | ("get", "/users/{username}/installation") => {
            if state.installed_on.iter().any(|o| o == parts[2]) {
                let mut installation = example(op, 200);
                installation["id"] = json!(7);
                (200, vec![], installation)
            } else {
                (
                    404,
                    vec![],
                    json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
                )
            }
        }
        ("post", "/app/installations/{installation_id}/access_tokens") => {
            let mut token = example(op, 201);
            token["token"] = json!(format!("ghs_installation{}", parts[3]));
            token["expires_at"] = json!(
                k8s_openapi::jiff::Timestamp::now()
                    .checked_add(k8s_openapi::jiff::SignedDuration::from_hours(1))
                    .unwrap()
                    .strftime("%Y-%m-%dT%H:%M:%SZ")
                    .to_string()
            );
            (201, vec![], token)
        }
        ("get", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs") => {
            let param = |name: &str| {
                request
                    .query
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let since = param("created");
            let since = since.strip_prefix(">=").unwrap_or(&since).to_string();
            // The same format both sides: text order is time order.
            let found: Vec<Value> = state
                .runs
                .iter()
                .rev()
                .filter(|(repo, workflow, git_ref, made, _)| {
                    *repo == key && workflow == parts[6] && *git_ref == param("branch") && *made >= since
                })
                .map(|(_, _, git_ref, made, id)| {
                    let mut run = example(op, 200)["workflow_runs"][0].clone();
                    run["id"] = json!(id);
                    run["head_branch"] = json!(git_ref);
                    run["created_at"] = json!(made);
                    run["event"] = json!("workflow_dispatch");
                    run
                })
                .collect();
            (
                200,
                vec![],
                json!({"total_count": found.len(), "workflow_runs": found}),
            )
        }
        _ => (404, vec![], json!({"message": "Not Found"})),
    }
}

/// Runs `goldpath scaffold` on a template of `step` with the contract
/// server as github.com's API; the exit status and what it printed.
fn scaffold(github: &GitHub, step: &str) -> (bool, String) {
    scaffold_as(
        github,
        step,
        "    tokenSecret: github-token\n",
        &format!("github-token: {TOKEN}\n"),
    )
}

/// As [`scaffold`], with `credentials` (YAML lines of the host's entry) and
/// `secrets` (the `--secrets` file).
fn scaffold_as(github: &GitHub, step: &str, credentials: &str, secrets: &str) -> (bool, String) {
    let config = format!(
        "gitHosts:\n  - host: github.com\n    type: github\n    url: \"file://{}/{{owner}}/{{repo}}.git\"\n    apiUrl: {}\n{credentials}",
        github.remotes.display(),
        github.url
    );
    contract::scaffold(step, &config, secrets)
}

const PUBLISH: &str = "    - id: publish\n      action: publish:github\n      input:\n        repoUrl: \"github.com?owner=acme&repo=app\"\n        description: The app\n        homepage: https://app.example\n        repoVisibility: private\n        topics: [web]\n        collaborators: [{user: alice, access: triage}, {team: ops, access: maintain}]\n        access: acme/platform\n        hasWiki: false\n        allowAutoMerge: true\n        deleteBranchOnMerge: true\n        squashMergeCommitTitle: PR_TITLE\n        requiredApprovingReviewCount: 2\n        requireCodeOwnerReviews: true\n        requiredStatusCheckContexts: [ci]\n        bypassPullRequestAllowances: {users: [release-bot]}\n        restrictions: {users: [alice], teams: [ops]}\n        requiredCommitSigning: true\n        requiredLinearHistory: true\n";

fn pull_request(update: bool) -> String {
    format!(
        "    - id: propose\n      action: publish:github:pull-request\n      input:\n        repoUrl: \"github.com?owner=acme&repo=app\"\n        branchName: add-docs\n        title: Add docs\n        description: More docs\n        targetPath: docs\n        draft: true\n        reviewers: [alice]\n        teamReviewers: [ops]\n        update: {update}\n        commitMessage: Docs\n"
    )
}

#[test]
fn a_publish_and_its_pull_request_make_only_documented_calls_in_order() {
    let remotes = tempfile::tempdir().unwrap();
    let github = GitHub::start(remotes.path(), &["acme"]);
    let (ok, output) = scaffold(&github, PUBLISH);
    assert!(ok, "{output}");
    assert_eq!(
        github.take_calls(),
        [
            "GET /repos/acme/app",
            "POST /orgs/acme/repos",
            "PUT /repos/acme/app/topics",
            "PUT /repos/acme/app/collaborators/alice",
            "PUT /orgs/acme/teams/ops/repos/acme/app",
            "PUT /orgs/acme/teams/platform/repos/acme/app",
            "PUT /repos/acme/app/branches/main/protection",
            "POST /repos/acme/app/branches/main/protection/required_signatures",
        ]
    );
    let pushed = git2::Repository::open_bare(remotes.path().join("acme/app.git")).unwrap();
    assert!(
        pushed.find_reference("refs/heads/main").is_ok(),
        "the push happened"
    );

    let (ok, output) = scaffold(&github, &pull_request(false));
    assert!(ok, "{output}");
    let pulls = "/repos/acme/app/pulls";
    assert_eq!(
        github.take_calls(),
        [
            "GET /repos/acme/app".to_string(),
            format!("GET {pulls}"),
            format!("POST {pulls}"),
            format!("POST {pulls}/1/requested_reviewers"),
        ]
    );
    let branch = pushed
        .find_reference("refs/heads/add-docs")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert!(
        branch
            .tree()
            .unwrap()
            .get_path(Path::new("docs/README.md"))
            .is_ok()
    );
    assert!(branch.message().unwrap().starts_with("Docs"));
    // Again, with update: the open pull request is found and updated,
    // never opened twice.
    let (ok, output) = scaffold(&github, &pull_request(true));
    assert!(ok, "{output}");
    assert_eq!(
        github.take_calls(),
        [
            "GET /repos/acme/app".to_string(),
            format!("GET {pulls}"),
            format!("PATCH {pulls}/1"),
            format!("POST {pulls}/1/requested_reviewers"),
        ]
    );
    assert_eq!(github.state.lock().unwrap().forge.pulls.len(), 1);
}

#[test]
fn githubs_documented_errors_fail_the_step_naming_what_went_wrong() {
    let remotes = tempfile::tempdir().unwrap();
    let github = GitHub::start(remotes.path(), &["acme"]);
    let basic =
        |message: &str| json!({"message": message, "documentation_url": "https://docs.github.com/rest"});
    let publish = |repo: &str| {
        format!(
            "    - id: publish\n      action: publish:github\n      input:\n        repoUrl: \"github.com?owner=acme&repo={repo}\"\n"
        )
    };
    let reset = contract::ten_minutes_from_now().to_string();
    github.fault(
        "POST",
        "/orgs/acme/repos",
        403,
        &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", &reset)],
        basic("API rate limit exceeded"),
    );
    let (ok, output) = scaffold(&github, &publish("limited"));
    assert!(!ok);
    assert!(
        output.contains("rate-limited create repository acme/limited; waiting"),
        "{output}"
    );
    github.take_calls();

    github.fault(
        "POST",
        "/orgs/acme/repos",
        422,
        &[],
        json!({
            "message": "Repository creation failed.",
            "errors": [{"resource": "Repository", "code": "custom", "field": "name", "message": "name already exists on this account"}],
            "documentation_url": "https://docs.github.com/rest",
        }),
    );
    let (ok, output) = scaffold(&github, &publish("taken"));
    assert!(!ok);
    assert!(
        output.contains("(422): Repository creation failed. (name already exists on this account)"),
        "{output}"
    );
    // The name taken is read back once: it is not this request's.
    assert_eq!(
        github.take_calls(),
        [
            "GET /repos/acme/taken",
            "POST /orgs/acme/repos",
            "GET /repos/acme/taken"
        ]
    );

    let (ok, output) = scaffold(
        &github,
        "    - id: publish\n      action: publish:github\n      input:\n        repoUrl: \"github.com?owner=nobody&repo=app\"\n",
    );
    assert!(!ok);
    assert!(output.contains("there is no organisation \"nobody\""), "{output}");
    assert_eq!(
        github.take_calls(),
        ["GET /repos/nobody/app", "POST /orgs/nobody/repos", "GET /user"]
    );

    github.fault(
        "PUT",
        "/repos/acme/guarded/branches/main/protection",
        403,
        &[("x-accepted-github-permissions", "administration=write")],
        basic("Resource not accessible by personal access token"),
    );
    let (ok, output) = scaffold(&github, &publish("guarded"));
    assert!(!ok);
    let host = github.url.trim_start_matches("http://");
    for part in [
        host,
        "protect acme/guarded branch main",
        "GitHub accepts: administration=write",
        "Resource not accessible by personal access token",
    ] {
        assert!(output.contains(part), "{part:?} in {output}");
    }
    github.take_calls();
}

#[test]
fn a_repeated_publish_reuses_its_repository_and_leaves_anyone_elses_untouched() {
    let remotes = tempfile::tempdir().unwrap();
    let github = GitHub::start(remotes.path(), &["acme"]);
    let publish = |repo: &str| {
        format!(
            "    - id: publish\n      action: publish:github\n      input:\n        repoUrl: \"github.com?owner=acme&repo={repo}\"\n        topics: [web]\n        protectDefaultBranch: false\n"
        )
    };
    let (ok, output) = scaffold(&github, &publish("app"));
    assert!(ok, "{output}");
    github.take_calls();
    // The same request again (a retry): its commit is found, the
    // repository is not made again, and its settings are set again.
    let (ok, output) = scaffold(&github, &publish("app"));
    assert!(ok, "{output}");
    assert_eq!(
        github.take_calls(),
        ["GET /repos/acme/app", "PUT /repos/acme/app/topics"]
    );

    // Someone else's repository of that name: the step fails before any
    // setting is changed, and the repository keeps its one commit.
    let (theirs, commit) = contract::someone_elses_repository(&remotes.path().join("acme/theirs.git"));
    github.holds_repository("acme/theirs", "main");
    let (ok, output) = scaffold(&github, &publish("theirs"));
    assert!(!ok, "{output}");
    assert_eq!(github.take_calls(), ["GET /repos/acme/theirs"]);
    assert_eq!(theirs.refname_to_id("refs/heads/main").unwrap(), commit);
}

#[test]
fn the_contract_refuses_what_github_does_not_document() {
    let (_, create) = operation("post", "/orgs/acme/repos").unwrap();
    let schema = &resolve(&create["requestBody"])["content"]["application/json"]["schema"];
    let body = |value: Value| violations(schema, &value);
    assert!(body(json!({"name": "app", "visibility": "private"})).is_empty());
    assert!(!body(json!({"name": 5})).is_empty(), "a name must be a string");
    // internal is GitHub Enterprise's; api.github.com does not document it.
    assert!(!body(json!({"name": "app", "visibility": "internal"})).is_empty());
    let (_, protect) = operation("put", "/repos/acme/app/branches/main/protection").unwrap();
    let mut found = Vec::new();
    let request = Request {
        method: "PUT".into(),
        path: "/repos/acme/app/branches/main/protection".into(),
        query: vec![("bogus".into(), "1".into())],
        authorization: "token t".into(),
        body: Some(json!({"enforce_admins": true})),
    };
    check_request(&request, protect, "PUT protection", &mut found);
    assert!(
        found.iter().any(|v| v.contains("query parameter bogus")),
        "{found:?}"
    );
    assert!(
        found.iter().any(|v| v.contains("required_status_checks")),
        "{found:?}"
    );
    assert!(operation("post", "/repos/acme/app/nonsense").is_none());
}

#[test]
fn repo_create_then_repo_push_make_a_publish_in_two_steps() {
    let remotes = tempfile::tempdir().unwrap();
    let github = GitHub::start(remotes.path(), &["acme"]);
    let create = |repo: &str| {
        format!(
            "    - id: create\n      action: github:repo:create\n      input:\n        repoUrl: \"github.com?owner=acme&repo={repo}\"\n        description: Split\n        topics: [web]\n        collaborators: [{{user: alice, access: push}}]\n        hasIssues: true\n"
        )
    };
    let push = |repo: &str| {
        format!(
            "    - id: push\n      action: github:repo:push\n      input:\n        repoUrl: \"github.com?owner=acme&repo={repo}\"\n        gitCommitMessage: First\n        requiredStatusCheckContexts: [ci]\n"
        )
    };
    let (ok, output) = scaffold(&github, &create("split"));
    assert!(ok, "{output}");
    assert_eq!(
        github.take_calls(),
        [
            "GET /repos/acme/split",
            "POST /orgs/acme/repos",
            "PUT /repos/acme/split/topics",
            "PUT /repos/acme/split/collaborators/alice",
        ]
    );
    // A retried step finds the empty repository it made.
    let (ok, output) = scaffold(&github, &create("split"));
    assert!(ok, "{output}");
    assert_eq!(
        github.take_calls(),
        [
            "GET /repos/acme/split",
            "GET /repos/acme/split/branches",
            "PUT /repos/acme/split/topics",
            "PUT /repos/acme/split/collaborators/alice",
        ]
    );
    let (ok, output) = scaffold(&github, &push("split"));
    assert!(ok, "{output}");
    assert_eq!(
        github.take_calls(),
        [
            "GET /repos/acme/split",
            "PUT /repos/acme/split/branches/main/protection"
        ]
    );
    let pushed = git2::Repository::open_bare(remotes.path().join("acme/split.git")).unwrap();
    let head = pushed
        .find_reference("refs/heads/main")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert!(head.message().unwrap().starts_with("First"));
    // Once it has commits, a create leaves it as it is.
    let (ok, output) = scaffold(&github, &create("split"));
    assert!(!ok);
    assert!(output.contains("acme/split exists and has commits"), "{output}");
    assert_eq!(
        github.take_calls(),
        ["GET /repos/acme/split", "GET /repos/acme/split/branches"]
    );
    // A push makes no repository.
    let (ok, output) = scaffold(&github, &push("missing"));
    assert!(!ok);
    assert!(
        output.contains("repository acme/missing does not exist"),
        "{output}"
    );
    assert_eq!(github.take_calls(), ["GET /repos/acme/missing"]);
}

#[test]
fn branch_protection_create_protects_the_default_branch_or_the_one_named() {
    let remotes = tempfile::tempdir().unwrap();
    let github = GitHub::start(remotes.path(), &["acme"]);
    github.holds_repository("acme/app", "trunk");
    let protect = |extra: &str| {
        format!(
            "    - id: protect\n      action: github:branch-protection:create\n      input:\n        repoUrl: \"github.com?owner=acme&repo=app\"\n        requiredStatusCheckContexts: [ci]\n        blockCreations: true\n{extra}"
        )
    };
    let (ok, output) = scaffold(&github, &protect(""));
    assert!(ok, "{output}");
    assert_eq!(
        github.take_calls(),
        [
            "GET /repos/acme/app",
            "PUT /repos/acme/app/branches/trunk/protection"
        ]
    );
    let (ok, output) = scaffold(&github, &protect("        branch: release\n"));
    assert!(ok, "{output}");
    assert_eq!(
        github.take_calls(),
        ["PUT /repos/acme/app/branches/release/protection"]
    );
}

#[test]
fn a_webhook_pages_and_a_dispatch_are_documented_calls_and_a_webhook_is_made_once() {
    let remotes = tempfile::tempdir().unwrap();
    let github = GitHub::start(remotes.path(), &["acme"]);
    github.holds_repository("acme/app", "main");
    let repo = "repoUrl: \"github.com?owner=acme&repo=app\"";
    let hook = format!(
        "    - id: hook\n      action: github:webhook\n      input:\n        {repo}\n        webhookUrl: https://ci.example/hook\n        webhookSecret: hook-secret\n        events: [push, pull_request]\n        contentType: json\n"
    );
    let (ok, output) = scaffold(&github, &hook);
    assert!(ok, "{output}");
    assert_eq!(
        github.take_calls(),
        ["GET /repos/acme/app/hooks", "POST /repos/acme/app/hooks"]
    );
    // Again: the hook with that URL is found and left alone.
    let (ok, output) = scaffold(&github, &hook);
    assert!(ok, "{output}");
    assert_eq!(github.take_calls(), ["GET /repos/acme/app/hooks"]);
    assert_eq!(github.state.lock().unwrap().forge.hooks.len(), 1);

    let pages = format!(
        "    - id: pages\n      action: github:pages:enable\n      input:\n        {repo}\n        buildType: legacy\n        sourcePath: /docs\n"
    );
    for _ in 0..2 {
        // The second time GitHub answers 409: pages are on already.
        let (ok, output) = scaffold(&github, &pages);
        assert!(ok, "{output}");
        assert_eq!(github.take_calls(), ["POST /repos/acme/app/pages"]);
    }

    let dispatch = format!(
        "    - id: deploy\n      action: github:actions:dispatch\n      input:\n        {repo}\n        workflowId: deploy.yaml\n        branchOrTagName: main\n        workflowInputs: {{environment: staging, dryRun: true}}\n"
    );
    let (ok, output) = scaffold(&github, &dispatch);
    assert!(ok, "{output}");
    assert_eq!(
        github.take_calls(),
        ["POST /repos/acme/app/actions/workflows/deploy.yaml/dispatches"]
    );
}

#[test]
fn a_webhook_is_looked_for_on_every_page_of_hooks_within_a_bound() {
    let remotes = tempfile::tempdir().unwrap();
    let github = GitHub::start(remotes.path(), &["acme"]);
    let hook = |repo: &str| {
        format!(
            "    - id: hook\n      action: github:webhook\n      input:\n        repoUrl: \"github.com?owner=acme&repo={repo}\"\n        webhookUrl: https://ci.example/hook\n"
        )
    };
    let seed = |repo: &str, others: usize, ours_at: Option<usize>| {
        let mut state = github.state.lock().unwrap();
        state.forge.repos.insert(format!("acme/{repo}"), "main".into());
        for i in 0..others {
            let url = if Some(i) == ours_at {
                "https://ci.example/hook".to_string()
            } else {
                format!("https://other.example/{i}")
            };
            state.forge.hooks.push((format!("acme/{repo}"), url));
        }
    };
    // On the second page of two: found, none made.
    seed("found", 150, Some(140));
    let (ok, output) = scaffold(&github, &hook("found"));
    assert!(ok, "{output}");
    assert_eq!(github.take_calls(), ["GET /repos/acme/found/hooks"; 2]);
    // On no page of three: made once, after every page was read.
    seed("absent", 250, None);
    let (ok, output) = scaffold(&github, &hook("absent"));
    assert!(ok, "{output}");
    let mut expected = vec!["GET /repos/acme/absent/hooks"; 3];
    expected.push("POST /repos/acme/absent/hooks");
    assert_eq!(github.take_calls(), expected);
    // More pages than the bound: the step fails, naming it, and makes none.
    seed("crowded", 1001, None);
    let (ok, output) = scaffold(&github, &hook("crowded"));
    assert!(!ok);
    assert!(
        output.contains("acme/crowded has more than 1000 webhooks"),
        "{output}"
    );
    assert_eq!(github.take_calls(), ["GET /repos/acme/crowded/hooks"; 10]);
}

#[test]
fn a_dispatch_retried_after_a_crash_finds_the_run_it_started_and_starts_none() {
    use goldpath::forge::{Forge, HttpTransport, RepoId, github::GitHub as Client};
    let remotes = tempfile::tempdir().unwrap();
    let github = GitHub::start(remotes.path(), &["acme"]);
    github.holds_repository("acme/app", "main");
    let client = Client::new(HttpTransport::new(&github.url, "contract-token").unwrap());
    let id = RepoId {
        owner: "acme".into(),
        name: "app".into(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let inputs = serde_json::Map::new();
    runtime.block_on(async {
        // The first attempt: no run since the step started, so it dispatches.
        assert_eq!(
            client
                .find_dispatched_run(&id, "deploy.yaml", "main", now)
                .await
                .unwrap(),
            None
        );
        client
            .dispatch_workflow(&id, "deploy.yaml", "main", &inputs)
            .await
            .unwrap();
        // Killed before it recorded the step done; the retry finds the run.
        assert_eq!(
            client
                .find_dispatched_run(&id, "deploy.yaml", "main", now)
                .await
                .unwrap(),
            Some(1)
        );
        // Not a run on another ref, nor one made before the step started.
        assert_eq!(
            client
                .find_dispatched_run(&id, "deploy.yaml", "release", now)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            client
                .find_dispatched_run(&id, "deploy.yaml", "main", now + 3600)
                .await
                .unwrap(),
            None
        );
    });
    assert_eq!(
        github.take_calls(),
        [
            "GET /repos/acme/app/actions/workflows/deploy.yaml/runs",
            "POST /repos/acme/app/actions/workflows/deploy.yaml/dispatches",
            "GET /repos/acme/app/actions/workflows/deploy.yaml/runs",
            "GET /repos/acme/app/actions/workflows/deploy.yaml/runs",
            "GET /repos/acme/app/actions/workflows/deploy.yaml/runs",
        ]
    );
    // A dispatch GitHub fails with 5xx is not sent again by the transport:
    // the step's next attempt decides, after looking for the run.
    github.fault(
        "POST",
        "/repos/acme/app/actions/workflows/deploy.yaml/dispatches",
        500,
        &[],
        json!({"message": "Server Error"}),
    );
    let error = runtime
        .block_on(client.dispatch_workflow(&id, "deploy.yaml", "main", &inputs))
        .unwrap_err();
    assert!(error.to_string().contains("not sent again"), "{error}");
    assert_eq!(
        github.state.lock().unwrap().calls,
        ["POST /repos/acme/app/actions/workflows/deploy.yaml/dispatches"]
    );
}

#[test]
fn a_github_app_finds_its_installation_mints_a_token_and_publishes_with_it() {
    let remotes = tempfile::tempdir().unwrap();
    let github = GitHub::start(remotes.path(), &["acme"]);
    github
        .state
        .lock()
        .unwrap()
        .forge
        .installed_on
        .push("acme".into());
    let made = Command::new("openssl")
        .args(["genrsa", "-traditional", "2048"])
        .output()
        .unwrap();
    assert!(made.status.success());
    let pem = String::from_utf8(made.stdout).unwrap();
    let secrets = format!(
        "github-app: |\n{}",
        pem.lines().map(|l| format!("  {l}\n")).collect::<String>()
    );
    let publish = |repo: &str| {
        format!(
            "    - id: publish\n      action: publish:github\n      input:\n        repoUrl: \"github.com?owner=acme&repo={repo}\"\n        protectDefaultBranch: false\n"
        )
    };
    let app = "    app:\n      appId: 12\n      privateKeySecret: github-app\n";
    let (ok, output) = scaffold_as(&github, &publish("app"), app, &secrets);
    assert!(ok, "{output}");
    assert!(
        !output.contains("ghs_installation") && !output.contains("PRIVATE KEY"),
        "{output}"
    );
    let authorizations = std::mem::take(&mut github.state.lock().unwrap().forge.authorizations);
    assert_eq!(
        github.take_calls(),
        [
            "GET /orgs/acme/installation",
            "POST /app/installations/7/access_tokens",
            "GET /repos/acme/app",
            "POST /orgs/acme/repos",
        ]
    );
    // The App's calls carry its JWT, the publish's the token minted.
    assert!(authorizations[0].starts_with("Bearer ey") && authorizations[1] == authorizations[0]);
    assert!(
        authorizations[2..].iter().all(|a| a == "token ghs_installation7"),
        "{authorizations:?}"
    );

    // A named installation is not looked up.
    let named = "    app:\n      appId: 12\n      installationId: 9\n      privateKeySecret: github-app\n";
    let (ok, output) = scaffold_as(&github, &publish("named"), named, &secrets);
    assert!(ok, "{output}");
    assert_eq!(
        github.take_calls()[..2],
        ["POST /app/installations/9/access_tokens", "GET /repos/acme/named"]
    );

    // An owner the App is not installed on: named, after the organisation
    // and the user were looked up.
    let (ok, output) = scaffold_as(
        &github,
        &publish("app").replace("owner=acme", "owner=elsewhere"),
        app,
        &secrets,
    );
    assert!(!ok);
    assert!(
        output.contains("the GitHub App is not installed on elsewhere"),
        "{output}"
    );
    assert_eq!(
        github.take_calls(),
        [
            "GET /orgs/elsewhere/installation",
            "GET /users/elsewhere/installation"
        ]
    );
}

#[test]
fn an_upgrades_pull_request_is_read_open_merged_or_closed_with_a_documented_call() {
    use goldpath::forge::{ForgeKind, PullRequestState};

    let remotes = tempfile::tempdir().unwrap();
    let github = GitHub::start(remotes.path(), &["acme"]);
    let pull = |number: u64, state: &'static str, merged: bool| Pull {
        number,
        repo: "acme/app".into(),
        head: "goldpath/upgrade-app".into(),
        base: "main".into(),
        title: "Upgrade".into(),
        state,
        merged,
    };
    github.state.lock().unwrap().forge.pulls.extend([
        pull(1, "open", false),
        pull(2, "closed", true),
        pull(3, "closed", false),
    ]);
    let (states, missing) = contract::pull_request_states(ForgeKind::Github, &github.url);
    assert_eq!(
        states,
        [
            PullRequestState::Open,
            PullRequestState::Merged,
            PullRequestState::Closed
        ]
    );
    assert!(
        missing.contains("pull request 9 of acme/app does not exist"),
        "{missing}"
    );
    let pulls = "/repos/acme/app/pulls";
    assert_eq!(
        github.take_calls(),
        (1..=3)
            .chain([9])
            .map(|n| format!("GET {pulls}/{n}"))
            .collect::<Vec<_>>()
    );
}
