//! The contract tier for GitLab: no GitLab runs here, and GitLab publishes
//! no complete OpenAPI description, so `goldpath scaffold` publishes against
//! a local server that holds each request to GitLab's official Go client,
//! `gitlab.com/gitlab-org/api/client-go` (from the Go module proxy, pinned
//! with its go.sum hash, cached in ~/.cache/goldpath at test time). From
//! the client's sources it derives each operation (method, path, and the
//! option struct whose `json`/`url` tags name the body fields and query
//! parameters it sends, with their Go types and the constants of named
//! types such as `VisibilityValue`); from the client's own tests it takes
//! each operation's response fixture, which the server answers with,
//! filled from its state with fields the client's response structs
//! define. The push is git, to bare repositories the server makes when
//! the API creates a project.
//!
//! What it proves: every call goldpath makes is one the official client
//! makes, with only fields it sends, of their types, in the order asserted
//! here, and goldpath reads answers shaped as the client's tests answer.
//! What it cannot: GitLab's behaviour beyond the client (which token may do
//! what, its validation, what it does after a push).

// Tests report failures by panicking, helpers included.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

#[path = "support/contract.rs"]
mod contract;

use contract::{Answer, Exchange, Request, Server, TOKEN, decode};

/// The client's module, version and go.sum hash.
const MODULE: &str = "gitlab.com/gitlab-org/api/client-go";
const VERSION: &str = "v1.46.0";
const MODULE_SUM: &str = "h1:YxBWFZIFYKcGESCb9fpkwzouo+apyB9pr/XTWzNoL24=";

/// The client's sources, fetched once per machine.
fn module_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"))
        .join("goldpath/gomod");
    let output = Command::new("go")
        .args(["mod", "download", "-json", &format!("{MODULE}@{VERSION}")])
        .env("GOMODCACHE", &cache)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-modcacherw")
        .current_dir("/")
        .output()
        .expect("go (hack/setup installs it)");
    assert!(
        output.status.success(),
        "go mod download: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let info: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        info["Sum"], MODULE_SUM,
        "{MODULE}@{VERSION} is not the module pinned"
    );
    PathBuf::from(info["Dir"].as_str().unwrap())
}

/// A Go struct's field: its Go type and its `json` and `url` names.
#[derive(Clone, Debug)]
struct Field {
    ty: String,
    json: Option<String>,
    url: Option<String>,
}

/// An operation of the client: `ProjectsService.CreateProject`.
#[derive(Clone, Debug)]
struct Operation {
    name: String,
    method: String,
    /// Segments of the path below `/api/v4/`; `None` for a parameter.
    path: Vec<Option<String>>,
    /// The option struct it sends, if any.
    options: Option<String>,
    /// The type it decodes the answer into, without `*`/`[]`.
    answer: Option<String>,
}

/// What the client says: its operations, structs, named types and their
/// constants, and its tests' fixtures.
#[derive(Default)]
struct Client {
    operations: Vec<Operation>,
    structs: BTreeMap<String, Vec<(Option<String>, Field)>>,
    aliases: BTreeMap<String, String>,
    constants: BTreeMap<String, BTreeSet<String>>,
    custom_json: BTreeSet<String>,
    /// `(method, path below /api/v4/, answer)` of each handler in its tests.
    fixtures: Vec<(String, Vec<String>, Value)>,
}

fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| read_client(&module_dir()))
}

fn read_client(dir: &Path) -> Client {
    let mut client = Client::default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "go"))
        .collect();
    files.sort();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        if file.to_string_lossy().ends_with("_test.go") {
            read_fixtures(&text, dir, &mut client.fixtures);
        } else {
            read_source(&text, &mut client);
        }
    }
    client
}

fn quoted(text: &str) -> Option<&str> {
    let start = text.find('"')? + 1;
    let end = start + text[start..].find('"')?;
    Some(&text[start..end])
}

fn tag(tags: &str, name: &str) -> Option<String> {
    let start = tags.find(&format!("{name}:\""))? + name.len() + 2;
    let value = &tags[start..start + tags[start..].find('"')?];
    let value = value.split(',').next().unwrap_or_default();
    (!value.is_empty() && value != "-").then(|| value.trim_end_matches("[]").to_string())
}

fn read_source(text: &str, client: &mut Client) {
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(rest) = line.strip_prefix("type ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            if words.len() >= 2 && words[1] == "struct" && words.get(2) == Some(&"{") {
                let mut fields = Vec::new();
                i += 1;
                while i < lines.len() && lines[i] != "}" {
                    let field = lines[i].trim();
                    let parts: Vec<&str> = field.split_whitespace().collect();
                    if parts.len() == 1 && !field.starts_with("//") {
                        // Embedded: its fields are this struct's.
                        fields.push((
                            Some(parts[0].trim_start_matches('*').to_string()),
                            Field {
                                ty: String::new(),
                                json: None,
                                url: None,
                            },
                        ));
                    } else if parts.len() >= 2 && !field.starts_with("//") {
                        fields.push((
                            None,
                            Field {
                                ty: parts[1].to_string(),
                                json: tag(field, "json"),
                                url: tag(field, "url"),
                            },
                        ));
                    }
                    i += 1;
                }
                client.structs.insert(words[0].to_string(), fields);
            } else if words.len() == 2 {
                client.aliases.insert(words[0].to_string(), words[1].to_string());
            }
        } else if let Some(rest) = line.strip_prefix("func (") {
            let receiver_end = rest.find(')').unwrap_or(0);
            let receiver = &rest[..receiver_end];
            let signature = &rest[receiver_end + 1..];
            if signature.trim_start().starts_with("MarshalJSON(") {
                let ty = receiver.split_whitespace().last().unwrap_or_default();
                client.custom_json.insert(ty.trim_start_matches('*').to_string());
            }
            if receiver.contains("Service") {
                let mut body = String::new();
                let mut j = i + 1;
                while j < lines.len() && lines[j] != "}" {
                    body.push_str(lines[j]);
                    body.push('\n');
                    j += 1;
                }
                if let Some(operation) = read_operation(receiver, signature, &body) {
                    client.operations.push(operation);
                }
                i = j;
            }
        } else if line.starts_with('\t') && line.contains(" = ") {
            // `PrivateVisibility VisibilityValue = "private"`.
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.len() >= 4 && words[2] == "=" {
                let value = words[3..].join(" ");
                let value = value
                    .split("//")
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .trim_matches('"');
                client
                    .constants
                    .entry(words[1].to_string())
                    .or_default()
                    .insert(value.to_string());
            }
        }
        i += 1;
    }
}

fn read_operation(receiver: &str, signature: &str, body: &str) -> Option<Operation> {
    let path_at = body.find("withPath(")?;
    let format = quoted(&body[path_at..])?;
    let method = body
        .find("withMethod(http.Method")
        .map(|at| {
            let rest = &body[at + "withMethod(http.Method".len()..];
            rest[..rest.find(')').unwrap_or(0)].to_uppercase()
        })
        .unwrap_or_else(|| "GET".into());
    let name = signature.trim_start().split('(').next()?.to_string();
    let params = &signature[signature.find('(')? + 1..];
    let options = body.contains("withAPIOpts(opt)").then(|| {
        let at = params.find("opt *").map(|at| at + 5).unwrap_or(params.len());
        params[at..]
            .split([',', ')'])
            .next()
            .unwrap_or_default()
            .to_string()
    });
    let returns = &params[params.find(") (").map(|at| at + 3).unwrap_or(params.len())..];
    let answer = returns
        .split(',')
        .next()
        .map(|t| {
            t.trim()
                .trim_start_matches("[]")
                .trim_start_matches('*')
                .to_string()
        })
        .filter(|t| t != "Response" && !t.is_empty());
    Some(Operation {
        name: format!(
            "{}.{name}",
            receiver.split_whitespace().last()?.trim_start_matches('*')
        ),
        method,
        path: format
            .split('/')
            .map(|segment| (!segment.contains('%')).then(|| segment.to_string()))
            .collect(),
        options,
        answer,
    })
}

fn read_fixtures(text: &str, dir: &Path, fixtures: &mut Vec<(String, Vec<String>, Value)>) {
    for (at, _) in text.match_indices("mux.HandleFunc(") {
        let rest = &text[at + "mux.HandleFunc(".len()..];
        // A literal path, or `path` set just before.
        let path = if rest.starts_with('"') {
            quoted(rest)
        } else if rest.starts_with("path,") {
            text[..at].rfind("path := \"").and_then(|p| quoted(&text[p..]))
        } else {
            None
        };
        let Some(path) = path.and_then(|p| p.strip_prefix("/api/v4/")) else {
            continue;
        };
        let handler = &rest[..rest.find("\n\t})").unwrap_or(rest.len())];
        let Some(method_at) = handler.find("testMethod(t, r, http.Method") else {
            continue;
        };
        let method = &handler[method_at + "testMethod(t, r, http.Method".len()..];
        let method = method[..method.find(')').unwrap_or(0)].to_uppercase();
        let answer = if let Some(file) = handler
            .find("mustWriteHTTPResponse(t, w, ")
            .and_then(|at| quoted(&handler[at..]))
        {
            std::fs::read(dir.join(file))
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        } else if let Some(at) = handler.find("mustWriteJSONResponse(t, w, ") {
            go_literal(&handler[at + "mustWriteJSONResponse(t, w, ".len()..])
        } else {
            handler.find('`').and_then(|start| {
                let raw = &handler[start + 1..];
                serde_json::from_str(&raw[..raw.find('`')?]).ok()
            })
        };
        if let Some(answer) = answer {
            let segments = path
                .trim_end_matches('/')
                .split('/')
                .map(str::to_string)
                .collect();
            fixtures.push((method, segments, answer));
        }
    }
}

/// A Go map or slice-of-maps literal of plain values as JSON, or `None`
/// for anything else (a struct, a call).
fn go_literal(text: &str) -> Option<Value> {
    let mut out = String::new();
    let mut closers = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("[]map[string]any{") {
            out.push('[');
            closers.push(']');
            rest = after;
        } else if let Some(after) = rest.strip_prefix("map[string]any{") {
            out.push('{');
            closers.push('}');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            out.push('{');
            closers.push('}');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('}') {
            out.push(closers.pop()?);
            rest = after;
            if closers.is_empty() {
                break;
            }
        } else if rest.starts_with('"') {
            let end = rest[1..].find('"')? + 2;
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        } else {
            let c = rest.chars().next()?;
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    // Go allows a comma before a closing brace; JSON does not.
    let mut json = String::new();
    for c in out.chars() {
        if matches!(c, '}' | ']') {
            let trimmed = json.trim_end().trim_end_matches(',').len();
            json.truncate(trimmed);
        }
        json.push(c);
    }
    serde_json::from_str(&json).ok()
}

impl Client {
    /// The operations `method` on `path` (raw segments below `/api/v4/`) can
    /// be, the most literal first.
    fn operations(&self, method: &str, path: &[&str]) -> Vec<&Operation> {
        let mut found: Vec<&Operation> = self
            .operations
            .iter()
            .filter(|op| {
                op.method == method
                    && op.path.len() == path.len()
                    && op.path.iter().zip(path).all(|(part, segment)| match part {
                        Some(literal) => literal == segment,
                        None => !segment.is_empty(),
                    })
            })
            .collect();
        let literal = |op: &Operation| op.path.iter().filter(|p| p.is_some()).count();
        let most = found.iter().map(|op| literal(op)).max().unwrap_or(0);
        found.retain(|op| literal(op) == most);
        found
    }

    /// The fields of struct `name`, embedded ones included.
    fn fields(&self, name: &str, depth: usize) -> Vec<Field> {
        let mut out = Vec::new();
        for (embedded, field) in self.structs.get(name).into_iter().flatten() {
            match embedded {
                Some(inner) if depth < 5 => out.extend(self.fields(inner, depth + 1)),
                Some(_) => {}
                None => out.push(field.clone()),
            }
        }
        out
    }

    /// Why `value` is not what Go type `ty` marshals to, if it is not.
    fn misfit(&self, value: &Value, ty: &str, depth: usize) -> Option<String> {
        let ty = ty.trim_start_matches('*');
        // Go decodes null into any type as its zero value.
        if depth > 8
            || value.is_null()
            || self.custom_json.contains(ty)
            || matches!(ty, "any" | "interface{}")
        {
            return None;
        }
        let fits = match ty {
            "string" | "ISOTime" | "time.Time" => value.is_string(),
            "bool" => value.is_boolean(),
            "int" | "int64" | "int32" | "float64" => value.is_number(),
            _ if ty.starts_with("[]") => {
                return match value.as_array() {
                    Some(items) => items
                        .iter()
                        .find_map(|item| self.misfit(item, &ty[2..], depth + 1)),
                    None => Some(format!("{value} is not a list ({ty})")),
                };
            }
            _ if ty.starts_with("map[") => value.is_object(),
            _ if self.structs.contains_key(ty) => {
                let Some(object) = value.as_object() else {
                    return Some(format!("{value} is not an object ({ty})"));
                };
                let fields = self.fields(ty, 0);
                for (key, inner) in object {
                    match fields.iter().find(|f| f.json.as_deref() == Some(key)) {
                        Some(field) => {
                            if let Some(why) = self.misfit(inner, &field.ty, depth + 1) {
                                return Some(format!("{key}: {why}"));
                            }
                        }
                        None => return Some(format!("{ty} has no field {key}")),
                    }
                }
                true
            }
            _ => match self.aliases.get(ty) {
                Some(base) => {
                    if let Some(why) = self.misfit(value, base, depth + 1) {
                        return Some(why);
                    }
                    let allowed = self.constants.get(ty);
                    let text = value.as_str().map_or_else(|| value.to_string(), str::to_string);
                    return allowed
                        .filter(|allowed| !allowed.contains(&text))
                        .map(|allowed| format!("{text} is not a {ty} (one of {allowed:?})"));
                }
                None => true,
            },
        };
        (!fits).then(|| format!("{value} is not a {ty}"))
    }

    /// A fixture of `op`: the answer the client's tests give it, else one
    /// they give another operation that decodes into the same type (its
    /// tests give e.g. no answer to an update of a merge request).
    fn fixture(&self, op: &Operation) -> Option<Value> {
        self.own_fixture(op).or_else(|| {
            self.operations
                .iter()
                .filter(|other| other.answer.is_some() && other.answer == op.answer)
                .find_map(|other| self.own_fixture(other))
        })
    }

    fn own_fixture(&self, op: &Operation) -> Option<Value> {
        self.fixtures
            .iter()
            .find(|(method, path, _)| {
                *method == op.method
                    && path.len() == op.path.len()
                    && op.path.iter().zip(path).all(|(part, segment)| match part {
                        Some(literal) => literal == segment,
                        None => true,
                    })
            })
            .map(|(_, _, answer)| answer.clone())
    }
}

#[derive(Clone)]
struct MergeRequest {
    iid: u64,
    project: String,
    source: String,
    target: String,
    /// `opened`, `merged` or `closed`, as GitLab says it.
    state: &'static str,
}

/// GitLab's own state.
#[derive(Default)]
struct State {
    /// Groups and users by full path: their id.
    namespaces: BTreeMap<String, u64>,
    /// Projects by full path: their id.
    projects: BTreeMap<String, u64>,
    merge_requests: Vec<MergeRequest>,
    protected: BTreeSet<String>,
    variables: BTreeSet<String>,
    next_id: u64,
}

/// The contract server; its bare repositories are `{full path}.git`.
type GitLab = Server<State>;

impl GitLab {
    fn start(remotes: &Path, groups: &[&str]) -> GitLab {
        client();
        let state = |_: &str| State {
            namespaces: groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.to_string(), 100 + i as u64))
                .collect(),
            next_id: 1000,
            ..State::default()
        };
        Server::listen(remotes, "GitLab's client", state, answer)
    }
}

/// The request's path below `/api/v4`, as its call is recorded, and that
/// path's raw segments.
fn below_api(request: &Request) -> (&str, Vec<&str>) {
    let path = request.path.trim_start_matches("/api/v4");
    (path, path.strip_prefix('/').unwrap_or(path).split('/').collect())
}

/// Checks the request against the client, then answers it.
fn answer(request: &Request, state: &mut Exchange<State>, remotes: &Path) -> Answer {
    let (path, segments) = below_api(request);
    let what = format!("{} {path}", request.method);
    state.calls.push(what.clone());
    if !request.authorization.starts_with("Bearer ") {
        state.violations.push(format!("{what}: no Bearer token"));
    }
    let operations = client().operations(&request.method, &segments);
    if operations.is_empty() {
        state
            .violations
            .push(format!("{what}: the client makes no such call"));
        return (404, vec![], json!({"message": "404 Not Found"}));
    }
    // The operation it is: the first candidate it fits.
    let verdicts: Vec<Vec<String>> = operations.iter().map(|op| check_request(request, op)).collect();
    let fitting = verdicts.iter().position(Vec::is_empty);
    if fitting.is_none() {
        for violation in verdicts.into_iter().flatten().take(3) {
            state.violations.push(format!("{what}: {violation}"));
        }
    }
    if let Some(fault) = state.take_fault(&request.method, path) {
        return fault;
    }
    let op = operations[fitting.unwrap_or(0)];
    let Some(mut fixture) = client().fixture(op) else {
        state
            .violations
            .push(format!("{what}: no fixture of {} in the client's tests", op.name));
        return (500, vec![], Value::Null);
    };
    if let Value::Array(items) = &fixture {
        fixture = items.first().cloned().unwrap_or(json!({}));
    }
    let (status, body) = simulate(request, &segments, op, fixture.clone(), &mut state.forge, remotes);
    // What the server fills in must be a field of the client's answer type,
    // of its type; the fixture's own fields are the client's tests'.
    if let (Some(answer), true) = (&op.answer, (200..300).contains(&status)) {
        let items = match &body {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        for item in items {
            let filled: serde_json::Map<String, Value> = item
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(key, value)| fixture.get(key.as_str()) != Some(value))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            if let Some(why) = client().misfit(&Value::Object(filled), answer, 0) {
                state.violations.push(format!("answer to {what}: {why}"));
            }
        }
    }
    (status, vec![], body)
}

/// Why the request is not what operation `op` sends; empty if it is.
fn check_request(request: &Request, op: &Operation) -> Vec<String> {
    let client = client();
    let fields = op
        .options
        .as_deref()
        .map(|o| client.fields(o, 0))
        .unwrap_or_default();
    let mut found = Vec::new();
    for (key, value) in &request.query {
        match fields.iter().find(|f| f.url.as_deref() == Some(key)) {
            Some(field) if field.ty.trim_start_matches('*') == "string" || value.is_empty() => {}
            Some(field) => {
                let typed: Value = serde_json::from_str(value).unwrap_or(json!(value));
                if let Some(why) = client.misfit(&typed, &field.ty, 0) {
                    found.push(format!("query {key}: {why}"));
                }
            }
            None => found.push(format!("{} sends no query parameter {key}", op.name)),
        }
    }
    match (&request.body, &op.options) {
        (Some(Value::Object(body)), Some(_)) => {
            for (key, value) in body {
                match fields.iter().find(|f| f.json.as_deref() == Some(key)) {
                    Some(field) => {
                        if let Some(why) = client.misfit(value, &field.ty, 0) {
                            found.push(format!("body {key}: {why}"));
                        }
                    }
                    None => found.push(format!("{} sends no field {key}", op.name)),
                }
            }
        }
        (Some(_), _) => found.push(format!("{} sends no body", op.name)),
        (None, _) => {}
    }
    found
}

fn project_answer(mut fixture: Value, path: &str, id: u64, remotes: &Path) -> Value {
    let bare = git2::Repository::open_bare(remotes.join(format!("{path}.git"))).ok();
    let empty = bare
        .as_ref()
        .is_none_or(|bare| bare.find_reference("refs/heads/main").is_err());
    let (namespace, name) = path.rsplit_once('/').unwrap_or(("", path));
    fixture["id"] = json!(id);
    fixture["name"] = json!(name);
    fixture["path"] = json!(name);
    fixture["path_with_namespace"] = json!(path);
    fixture["empty_repo"] = json!(empty);
    fixture["default_branch"] = if empty { Value::Null } else { json!("main") };
    fixture["created_at"] = json!("2026-11-29T12:00:00Z");
    fixture["namespace"] = json!({"full_path": namespace});
    fixture
}

fn not_found(what: &str) -> (u16, Value) {
    (404, json!({"message": format!("404 {what} Not Found")}))
}

/// GitLab as far as publishing goes.
fn simulate(
    request: &Request,
    segments: &[&str],
    op: &Operation,
    fixture: Value,
    state: &mut State,
    remotes: &Path,
) -> (u16, Value) {
    let segment = |i: usize| decode(segments.get(i).copied().unwrap_or_default());
    let body = request.body.clone().unwrap_or(Value::Null);
    let query: BTreeMap<_, _> = request.query.iter().cloned().collect();
    let project = segment(1);
    let name = op.name.split('.').nth(1).unwrap_or_default();
    match name {
        "GetNamespace" => match state.namespaces.get(&segment(1)) {
            Some(id) => {
                let mut answer = fixture;
                answer["id"] = json!(id);
                answer["full_path"] = json!(segment(1));
                answer["kind"] = json!("group");
                (200, answer)
            }
            None => not_found("Namespace"),
        },
        "GetProject" => match state.projects.get(&project) {
            Some(id) => (200, project_answer(fixture, &project, *id, remotes)),
            None => not_found("Project"),
        },
        "CreateProject" => {
            let namespace = body["namespace_id"].as_u64().unwrap_or_default();
            let Some(group) = state
                .namespaces
                .iter()
                .find(|(_, id)| **id == namespace)
                .map(|(path, _)| path.clone())
            else {
                return not_found("Namespace");
            };
            let path = format!("{group}/{}", body["path"].as_str().unwrap_or_default());
            if state.projects.contains_key(&path) {
                return (
                    400,
                    json!({"message": {"name": ["has already been taken"], "path": ["has already been taken"]}}),
                );
            }
            state.next_id += 1;
            let id = state.next_id;
            state.projects.insert(path.clone(), id);
            std::fs::create_dir_all(remotes.join(&group)).unwrap();
            git2::Repository::init_bare(remotes.join(format!("{path}.git"))).unwrap();
            (201, project_answer(fixture, &path, id, remotes))
        }
        "EditProject" => match state.projects.get(&project) {
            Some(id) => (200, project_answer(fixture, &project, *id, remotes)),
            None => not_found("Project"),
        },
        "GetProtectedBranch" => {
            if state.protected.contains(&format!("{project}:{}", segment(3))) {
                let mut answer = fixture;
                answer["name"] = json!(segment(3));
                (200, answer)
            } else {
                not_found("Protected Branch")
            }
        }
        "ProtectRepositoryBranches" => {
            let branch = body["name"].as_str().unwrap_or_default().to_string();
            state.protected.insert(format!("{project}:{branch}"));
            let mut answer = fixture;
            answer["name"] = json!(branch);
            (201, answer)
        }
        "GetBranch" => {
            let bare = git2::Repository::open_bare(remotes.join(format!("{project}.git"))).unwrap();
            if bare.find_reference(&format!("refs/heads/{}", segment(4))).is_ok() {
                let mut answer = fixture;
                answer["name"] = json!(segment(4));
                (200, answer)
            } else {
                not_found("Branch")
            }
        }
        "CreateBranch" => {
            let bare = git2::Repository::open_bare(remotes.join(format!("{project}.git"))).unwrap();
            let from = body["ref"].as_str().unwrap_or_default();
            let Ok(commit) = bare.revparse_single(&format!("refs/heads/{from}")) else {
                return (400, json!({"message": "Invalid reference name"}));
            };
            let branch = body["branch"].as_str().unwrap_or_default();
            bare.branch(branch, &commit.peel_to_commit().unwrap(), false)
                .unwrap();
            let mut answer = fixture;
            answer["name"] = json!(branch);
            (201, answer)
        }
        "CreateVariable" => {
            let key = format!("{project}:{}", body["key"].as_str().unwrap_or_default());
            if !state.variables.insert(key) {
                return (400, json!({"message": {"key": ["(K) has already been taken"]}}));
            }
            let mut answer = fixture;
            answer["key"] = body["key"].clone();
            (201, answer)
        }
        "UpdateVariable" => (200, fixture),
        "ListUsers" => {
            let mut answer = fixture;
            answer["id"] = json!(7 + query.get("username").map_or(0, |u| u.len() as u64));
            answer["username"] = json!(query.get("username"));
            (200, json!([answer]))
        }
        "ListProjectMergeRequests" => {
            let found: Vec<Value> = state
                .merge_requests
                .iter()
                .filter(|mr| {
                    mr.project == project
                        && query.get("source_branch") == Some(&mr.source)
                        && query.get("target_branch").is_none_or(|t| *t == mr.target)
                })
                .map(|mr| merge_request_answer(fixture.clone(), mr))
                .collect();
            (200, Value::Array(found))
        }
        "CreateMergeRequest" => {
            let mr = MergeRequest {
                iid: state.merge_requests.len() as u64 + 1,
                project: project.clone(),
                source: body["source_branch"].as_str().unwrap_or_default().into(),
                target: body["target_branch"].as_str().unwrap_or_default().into(),
                state: "opened",
            };
            state.merge_requests.push(mr.clone());
            (201, merge_request_answer(fixture, &mr))
        }
        "GetMergeRequest" | "UpdateMergeRequest" => {
            let iid: u64 = segment(3).parse().unwrap_or_default();
            match state.merge_requests.iter().find(|mr| mr.iid == iid) {
                Some(mr) => (200, merge_request_answer(fixture, mr)),
                None => not_found("Merge Request"),
            }
        }
        "GetGroup" => match state.namespaces.get(&segment(1)) {
            Some(id) => {
                let mut answer = fixture;
                answer["id"] = json!(id);
                answer["full_path"] = json!(segment(1));
                (200, answer)
            }
            None => not_found("Group"),
        },
        "CreateGroup" => {
            let parent = body["parent_id"].as_u64();
            let prefix = match parent {
                Some(parent) => match state.namespaces.iter().find(|(_, id)| **id == parent) {
                    Some((path, _)) => format!("{path}/"),
                    None => return not_found("Parent Group"),
                },
                None => String::new(),
            };
            state.next_id += 1;
            let id = state.next_id;
            let path = format!("{prefix}{}", body["path"].as_str().unwrap_or_default());
            state.namespaces.insert(path.clone(), id);
            let mut answer = fixture;
            answer["id"] = json!(id);
            answer["full_path"] = json!(path);
            (201, answer)
        }
        "CurrentUser" => {
            let mut answer = fixture;
            answer["id"] = json!(USER_ID);
            answer["username"] = json!(USER);
            (200, answer)
        }
        "ListGroups" => {
            let groups: Vec<Value> = state
                .namespaces
                .iter()
                .map(|(path, id)| {
                    let mut answer = fixture.clone();
                    answer["id"] = json!(id);
                    answer["full_path"] = json!(path);
                    answer
                })
                .collect();
            (200, Value::Array(page_of(groups, &query)))
        }
        "ListGroupProjects" | "ListUserProjects" => {
            let owner = if name == "ListUserProjects" {
                (segment(1) == USER_ID.to_string()).then(|| USER.to_string())
            } else {
                state
                    .namespaces
                    .iter()
                    .find(|(_, id)| id.to_string() == segment(1))
                    .map(|(path, _)| path.clone())
            };
            let Some(owner) = owner else {
                return not_found("Group");
            };
            let projects: Vec<Value> = state
                .projects
                .iter()
                .filter(|(path, _)| path.rsplit_once('/').is_some_and(|(parent, _)| parent == owner))
                .map(|(path, id)| project_answer(fixture.clone(), path, *id, remotes))
                .collect();
            (200, Value::Array(page_of(projects, &query)))
        }
        _ => (200, fixture),
    }
}

/// The token's user, as `GET /user` names them.
const USER: &str = "jane";
const USER_ID: u64 = 5;

/// The page `page` of `per_page` items that the query asks for, as
/// GitLab's offset pagination answers (20 a page unless asked).
fn page_of(items: Vec<Value>, query: &BTreeMap<String, String>) -> Vec<Value> {
    let number = |key: &str, default: usize| query.get(key).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (page, per_page) = (number("page", 1).max(1), number("per_page", 20).min(100));
    items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect()
}

fn merge_request_answer(mut fixture: Value, mr: &MergeRequest) -> Value {
    fixture["iid"] = json!(mr.iid);
    fixture["source_branch"] = json!(mr.source);
    fixture["target_branch"] = json!(mr.target);
    fixture["state"] = json!(mr.state);
    fixture["web_url"] = json!(format!(
        "https://gitlab.test/{}/-/merge_requests/{}",
        mr.project, mr.iid
    ));
    fixture
}

/// Runs `goldpath scaffold` on a template of `step` with the contract
/// server as gitlab.test's API; the exit status and what it printed.
fn scaffold(gitlab: &GitLab, step: &str) -> (bool, String) {
    let config = format!(
        "gitHosts:\n  - host: gitlab.test\n    type: gitlab\n    url: \"file://{}/{{owner}}/{{repo}}.git\"\n    apiUrl: {}/api/v4\n    tokenSecret: gitlab-token\n",
        gitlab.remotes.display(),
        gitlab.url
    );
    contract::scaffold(step, &config, &format!("gitlab-token: {TOKEN}\n"))
}

/// A step that prints a publish step's outputs.
const SHOW: &str = "    - id: show\n      action: debug:log\n      input:\n        message: \"project ${{ steps.publish.output.projectId }} created ${{ steps.publish.output.created }} commit .${{ steps.publish.output.commitHash }}\"\n";

const PROJECT: &str = "/projects/platform%2Fpayments%2Fapi";

const PUBLISH: &str = "    - id: publish\n      action: publish:gitlab\n      input:\n        repoUrl: \"gitlab.test?owner=platform/payments&repo=api\"\n        repoVisibility: internal\n        topics: [payments]\n        settings:\n          description: Payments API\n          merge_method: ff\n          squash_option: default_on\n          ci_config_path: ci/.gitlab-ci.yml\n          only_allow_merge_if_pipeline_succeeds: true\n        branches: [{name: release, create: true, ref: main}, {name: main, protect: true}]\n        projectVariables: [{key: REGION, value: eu, masked: true, environment_scope: production}]\n";

fn merge_request() -> String {
    "    - id: propose\n      action: publish:gitlab:merge-request\n      input:\n        repoUrl: \"gitlab.test?owner=platform/payments&repo=api\"\n        branchName: add-docs\n        title: Add docs\n        description: More docs\n        targetPath: docs\n        sourcePath: .\n        removeSourceBranch: true\n        assignee: alice\n        reviewers: [bob]\n        labels: [docs]\n        commitAction: create\n    - id: show\n      action: debug:log\n      input:\n        message: \"merge request ${{ steps.propose.output.mergeRequestUrl }} into ${{ steps.propose.output.targetBranchName }} of ${{ steps.propose.output.projectPath }}\"\n".to_string()
}

#[test]
fn a_publish_and_its_merge_request_make_only_the_clients_calls_in_order() {
    let remotes = tempfile::tempdir().unwrap();
    let gitlab = GitLab::start(remotes.path(), &["platform", "platform/payments"]);
    let (ok, output) = scaffold(&gitlab, &format!("{PUBLISH}{SHOW}"));
    assert!(ok, "{output}");
    assert_eq!(
        gitlab.take_calls(),
        [
            format!("GET {PROJECT}"),
            "GET /namespaces/platform%2Fpayments".to_string(),
            "POST /projects".to_string(),
            format!("PUT {PROJECT}"),
            format!("PUT {PROJECT}"),
            format!("GET {PROJECT}/repository/branches/release"),
            format!("POST {PROJECT}/repository/branches"),
            format!("GET {PROJECT}/protected_branches/main"),
            format!("POST {PROJECT}/protected_branches"),
            format!("POST {PROJECT}/variables"),
            format!("GET {PROJECT}"),
        ]
    );
    assert!(output.contains("project 1001 created true"), "{output}");
    let pushed = git2::Repository::open_bare(remotes.path().join("platform/payments/api.git")).unwrap();
    assert!(
        pushed.find_reference("refs/heads/main").is_ok(),
        "the push happened"
    );
    assert!(pushed.find_reference("refs/heads/release").is_ok());

    let (ok, output) = scaffold(&gitlab, &merge_request());
    assert!(ok, "{output}");
    let mrs = format!("{PROJECT}/merge_requests");
    assert_eq!(
        gitlab.take_calls(),
        [
            format!("GET {PROJECT}"),
            format!("GET {mrs}"),
            format!("POST {mrs}"),
            "GET /users".to_string(),
            format!("PUT {mrs}/1"),
            "GET /users".to_string(),
            format!("PUT {mrs}/1"),
        ]
    );
    assert!(
        output.contains(
            "merge request https://gitlab.test/platform/payments/api/-/merge_requests/1 into main of platform/payments/api"
        ),
        "{output}"
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
    // Again: the open merge request from the branch is found, never
    // opened twice.
    let (ok, output) = scaffold(&gitlab, &merge_request());
    assert!(ok, "{output}");
    let calls = gitlab.take_calls();
    assert_eq!(calls[..2], [format!("GET {PROJECT}"), format!("GET {mrs}")]);
    assert!(!calls.contains(&format!("POST {mrs}")), "{calls:?}");
    assert_eq!(gitlab.state.lock().unwrap().forge.merge_requests.len(), 1);
}

#[test]
fn a_merge_request_with_commit_action_delete_removes_its_files_from_the_branch() {
    let remotes = tempfile::tempdir().unwrap();
    let gitlab = GitLab::start(remotes.path(), &["acme"]);
    let (ok, output) = scaffold(
        &gitlab,
        "    - id: publish\n      action: publish:gitlab\n      input:\n        repoUrl: \"gitlab.test?owner=acme&repo=app\"\n",
    );
    assert!(ok, "{output}");
    gitlab.take_calls();
    let (ok, output) = scaffold(
        &gitlab,
        "    - id: propose\n      action: publish:gitlab:merge-request\n      input:\n        repoUrl: \"gitlab.test?owner=acme&repo=app\"\n        branchName: cleanup\n        title: Remove the readme\n        commitAction: delete\n",
    );
    assert!(ok, "{output}");
    let mrs = "/projects/acme%2Fapp/merge_requests";
    assert_eq!(
        gitlab.take_calls(),
        [
            "GET /projects/acme%2Fapp".to_string(),
            format!("GET {mrs}"),
            format!("POST {mrs}"),
        ]
    );
    let pushed = git2::Repository::open_bare(remotes.path().join("acme/app.git")).unwrap();
    let tree = |branch: &str| {
        pushed
            .find_reference(&format!("refs/heads/{branch}"))
            .unwrap()
            .peel_to_tree()
            .unwrap()
    };
    assert!(tree("cleanup").get_path(Path::new("README.md")).is_err());
    assert!(tree("main").get_path(Path::new("README.md")).is_ok());
}

#[test]
fn gitlabs_errors_fail_the_step_naming_what_went_wrong() {
    let remotes = tempfile::tempdir().unwrap();
    let gitlab = GitLab::start(remotes.path(), &["acme"]);
    let publish = |owner: &str, repo: &str| {
        format!(
            "    - id: publish\n      action: publish:gitlab\n      input:\n        repoUrl: \"gitlab.test?owner={owner}&repo={repo}\"\n"
        )
    };
    let reset = contract::ten_minutes_from_now();
    gitlab.fault(
        "POST",
        "/projects",
        429,
        &[("RateLimit-Reset", &reset.to_string())],
        json!({"message": "Retry later"}),
    );
    let (ok, output) = scaffold(&gitlab, &publish("acme", "limited"));
    assert!(!ok);
    assert!(
        output.contains("rate-limited create project acme/limited; waiting"),
        "{output}"
    );
    gitlab.take_calls();

    // Taken by someone else since the lookup: read back, and not ours.
    gitlab.fault(
        "POST",
        "/projects",
        400,
        &[],
        json!({"message": {"name": ["has already been taken"]}}),
    );
    let (ok, output) = scaffold(&gitlab, &publish("acme", "taken"));
    assert!(!ok);
    assert!(output.contains("(400): name has already been taken"), "{output}");
    assert_eq!(
        gitlab.take_calls(),
        [
            "GET /projects/acme%2Ftaken",
            "GET /namespaces/acme",
            "POST /projects",
            "GET /projects/acme%2Ftaken"
        ]
    );

    let (ok, output) = scaffold(&gitlab, &publish("nobody", "app"));
    assert!(!ok);
    assert!(
        output.contains("there is no group or user \"nobody\""),
        "{output}"
    );
    assert_eq!(
        gitlab.take_calls(),
        ["GET /projects/nobody%2Fapp", "GET /namespaces/nobody"]
    );

    gitlab.fault("POST", "/projects", 403, &[], json!({"message": "403 Forbidden"}));
    let (ok, output) = scaffold(&gitlab, &publish("acme", "guarded"));
    assert!(!ok);
    let host = gitlab.url.trim_start_matches("http://");
    for part in [host, "create project acme/guarded", "api scope", "403 Forbidden"] {
        assert!(output.contains(part), "{part:?} in {output}");
    }
    gitlab.take_calls();
}

#[test]
fn a_repeated_publish_reuses_its_project_and_leaves_anyone_elses_untouched() {
    let remotes = tempfile::tempdir().unwrap();
    let gitlab = GitLab::start(remotes.path(), &["acme"]);
    let publish = |repo: &str, extra: &str| {
        format!(
            "    - id: publish\n      action: publish:gitlab\n      input:\n        repoUrl: \"gitlab.test?owner=acme&repo={repo}\"\n        topics: [web]\n{extra}{SHOW}"
        )
    };
    let (ok, output) = scaffold(&gitlab, &publish("app", ""));
    assert!(ok, "{output}");
    gitlab.take_calls();
    // The same request again (a retry): its commit is found, the project
    // is not made again, and its settings are set again.
    let (ok, output) = scaffold(&gitlab, &publish("app", ""));
    assert!(ok, "{output}");
    assert_eq!(
        gitlab.take_calls(),
        [
            "GET /projects/acme%2Fapp",
            "PUT /projects/acme%2Fapp",
            "GET /projects/acme%2Fapp"
        ]
    );

    // Someone else's project of that name: the step fails before any
    // setting is changed, and the project keeps its one commit.
    let (theirs, commit) = contract::someone_elses_repository(&remotes.path().join("acme/theirs.git"));
    gitlab
        .state
        .lock()
        .unwrap()
        .forge
        .projects
        .insert("acme/theirs".into(), 77);
    let (ok, output) = scaffold(&gitlab, &publish("theirs", ""));
    assert!(!ok, "{output}");
    assert_eq!(gitlab.take_calls(), ["GET /projects/acme%2Ftheirs"]);
    assert_eq!(theirs.refname_to_id("refs/heads/main").unwrap(), commit);
    // With skipExisting it is reported, not published to.
    let (ok, output) = scaffold(&gitlab, &publish("theirs", "        skipExisting: true\n"));
    assert!(ok, "{output}");
    assert!(output.contains("project 77 created false commit ."), "{output}");
    assert_eq!(
        gitlab.take_calls(),
        ["GET /projects/acme%2Ftheirs", "GET /projects/acme%2Ftheirs"]
    );
    assert_eq!(theirs.refname_to_id("refs/heads/main").unwrap(), commit);
}

#[test]
fn group_ensure_exists_makes_only_the_missing_groups_once() {
    let remotes = tempfile::tempdir().unwrap();
    let gitlab = GitLab::start(remotes.path(), &["platform"]);
    let step = "    - id: groups\n      action: gitlab:group:ensureExists\n      input:\n        repoUrl: \"gitlab.test?owner=platform&repo=x\"\n        path: [platform, {name: Payments Team, slug: payments}]\n";
    let (ok, output) = scaffold(&gitlab, step);
    assert!(ok, "{output}");
    assert_eq!(
        gitlab.take_calls(),
        [
            "GET /groups/platform",
            "GET /groups/platform%2Fpayments",
            "POST /groups"
        ]
    );
    let (ok, output) = scaffold(&gitlab, step);
    assert!(ok, "{output}");
    assert_eq!(
        gitlab.take_calls(),
        ["GET /groups/platform", "GET /groups/platform%2Fpayments"]
    );
}

#[test]
fn the_contract_refuses_what_the_client_does_not_send() {
    let client = client();
    let request = |method: &str, path: &str, query: &[(&str, &str)], body: Option<Value>| Request {
        method: method.into(),
        path: format!("/api/v4/{path}"),
        query: query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        authorization: "Bearer t".into(),
        body,
    };
    let verdict = |r: &Request| {
        let (path, segments) = below_api(r);
        let operations = client.operations(&r.method, &segments);
        assert!(!operations.is_empty(), "{path}");
        let found: Vec<Vec<String>> = operations.iter().map(|op| check_request(r, op)).collect();
        (!found.iter().any(Vec::is_empty)).then(|| found.concat())
    };
    assert_eq!(
        verdict(&request(
            "POST",
            "projects",
            &[],
            Some(json!({"name": "a", "visibility": "internal", "namespace_id": 4}))
        )),
        None
    );
    let wrong = verdict(&request(
        "POST",
        "projects",
        &[],
        Some(json!({"name": "a", "visibility": "hidden"})),
    ))
    .unwrap();
    assert!(wrong.iter().any(|v| v.contains("VisibilityValue")), "{wrong:?}");
    let unknown = verdict(&request(
        "POST",
        "projects",
        &[],
        Some(json!({"name": "a", "colour": "red"})),
    ))
    .unwrap();
    assert!(
        unknown.iter().any(|v| v.contains("no field colour")),
        "{unknown:?}"
    );
    let typed = verdict(&request("POST", "projects", &[], Some(json!({"name": 5})))).unwrap();
    assert!(typed.iter().any(|v| v.contains("name")), "{typed:?}");
    let query = verdict(&request(
        "GET",
        "projects/a%2Fb/merge_requests",
        &[("bogus", "1")],
        None,
    ))
    .unwrap();
    assert!(query.iter().any(|v| v.contains("bogus")), "{query:?}");
    assert!(
        client
            .operations("POST", &["projects", "a%2Fb", "nonsense"])
            .is_empty()
    );
}

/// Lists what a portal's GitLab autocomplete asks for (`groups`, and
/// `repositories` of a group or of the token's user), as goldpath's portal
/// does, against the contract server: only the client's calls, pages read
/// in turn, and at most `MAX_PAGES` of them however many groups there are.
#[test]
fn autocomplete_lists_groups_and_projects_with_the_clients_calls_in_bounded_pages() {
    use goldpath::forge::client::Client;
    use goldpath::forge::listing::{Choice, Listing, MAX_PAGES, PAGE_SIZE};
    use goldpath::forge::{ForgeError, ForgeKind, HttpTransport};

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let remotes = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..120).map(|i| format!("g{i:03}")).collect();
    let groups: Vec<&str> = names.iter().map(String::as_str).collect();
    let gitlab = GitLab::start(remotes.path(), &groups);
    {
        let mut state = gitlab.state.lock().unwrap();
        for (path, id) in [
            ("g000/web", 2001),
            ("g000/api", 2002),
            ("g001/other", 2003),
            ("jane/mine", 2004),
        ] {
            state.forge.projects.insert(path.to_string(), id);
        }
    }
    let client = |url: &str| {
        let transport = HttpTransport::new(&format!("{url}/api/v4"), "user-token")
            .unwrap()
            .with_scheme(ForgeKind::Gitlab.auth_scheme());
        Client::new(ForgeKind::Gitlab, transport).unwrap()
    };
    let gitlab_client = client(&gitlab.url);

    let listed = runtime.block_on(gitlab_client.list(&Listing::Groups)).unwrap();
    assert_eq!(listed.len(), 121, "every group and the user's own namespace");
    assert_eq!(
        (&listed[0], listed.last().unwrap()),
        (
            &Choice {
                title: Some("g000".into()),
                id: "100".into()
            },
            &Choice {
                title: Some(USER.into()),
                id: USER_ID.to_string()
            }
        )
    );
    assert_eq!(
        gitlab.take_calls(),
        ["GET /user", "GET /groups", "GET /groups", "GET /groups"]
    );

    let projects = runtime
        .block_on(gitlab_client.list(&Listing::Projects("100".into())))
        .unwrap();
    let ids: Vec<(&str, &str)> = projects
        .iter()
        .map(|c| (c.title.as_deref().unwrap(), c.id.as_str()))
        .collect();
    assert_eq!(ids, [("api", "api"), ("web", "web")]);
    assert_eq!(gitlab.take_calls(), ["GET /user", "GET /groups/100/projects"]);

    let own = runtime
        .block_on(gitlab_client.list(&Listing::Projects(USER_ID.to_string())))
        .unwrap();
    assert_eq!(own.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["mine"]);
    assert_eq!(gitlab.take_calls(), ["GET /user", "GET /users/5/projects"]);

    let missing = runtime
        .block_on(gitlab_client.list(&Listing::Projects("999".into())))
        .unwrap_err();
    assert!(missing.to_string().contains("not found"), "{missing}");
    gitlab.take_calls();

    // However many groups GitLab holds, one listing reads MAX_PAGES pages.
    let many: Vec<String> = (0..PAGE_SIZE * MAX_PAGES + 75)
        .map(|i| format!("m{i:04}"))
        .collect();
    let crowded = GitLab::start(
        remotes.path(),
        &many.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let crowded_client = client(&crowded.url);
    let bounded = runtime.block_on(crowded_client.list(&Listing::Groups)).unwrap();
    assert_eq!(bounded.len(), PAGE_SIZE * MAX_PAGES + 1);
    assert_eq!(crowded.take_calls().len(), MAX_PAGES + 1);

    // A token GitLab refuses is named as refused, not as an empty list.
    gitlab.fault("GET", "/user", 401, &[], json!({"message": "401 Unauthorized"}));
    let refused = runtime
        .block_on(gitlab_client.list(&Listing::Groups))
        .unwrap_err();
    assert!(
        matches!(refused, ForgeError::Denied { status: 401, .. }),
        "{refused}"
    );
}

#[test]
fn an_upgrades_merge_request_is_read_opened_merged_or_closed_with_the_clients_call() {
    use goldpath::forge::{ForgeKind, PullRequestState};

    let remotes = tempfile::tempdir().unwrap();
    let gitlab = GitLab::start(remotes.path(), &["acme"]);
    let merge_request = |iid: u64, state: &'static str| MergeRequest {
        iid,
        project: "acme/app".into(),
        source: "goldpath/upgrade-app".into(),
        target: "main".into(),
        state,
    };
    gitlab.state.lock().unwrap().forge.merge_requests.extend([
        merge_request(1, "opened"),
        merge_request(2, "merged"),
        merge_request(3, "closed"),
    ]);
    let (states, missing) =
        contract::pull_request_states(ForgeKind::Gitlab, &format!("{}/api/v4", gitlab.url));
    assert_eq!(
        states,
        [
            PullRequestState::Open,
            PullRequestState::Merged,
            PullRequestState::Closed
        ]
    );
    assert!(
        missing.contains("merge request 9 of acme/app does not exist"),
        "{missing}"
    );
    let mrs = "/projects/acme%2Fapp/merge_requests";
    assert_eq!(
        gitlab.take_calls(),
        (1..=3)
            .chain([9])
            .map(|n| format!("GET {mrs}/{n}"))
            .collect::<Vec<_>>()
    );
}
