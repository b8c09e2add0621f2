//! Publishing to a real forge: `publish:gitea` against the Gitea `e2e/up`
//! starts, checked through Gitea's own API.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Namespace, Operator, cluster, unique, wait_for};
use crate::scaffold::{apply, condition, get, phase, wait_phase};

/// Calls Gitea's API as its admin: the status and the JSON answer (a
/// string when it is not JSON).
pub(crate) fn gitea(method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let server = &cluster().gitea;
    let mut command = Command::new("curl");
    command.args(["-sS", "-o", "-", "-w", "\n%{http_code}", "-X", method]);
    command.args(["-H", &format!("Authorization: token {}", server.token)]);
    command.args(["-H", "Content-Type: application/json"]);
    if let Some(body) = body {
        command.args(["--data", &body.to_string()]);
    }
    let output = command
        .arg(format!("{}{path}", server.api_url))
        .output()
        .expect("running curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("curl printed the status");
    (
        status.trim().parse().expect("an HTTP status"),
        serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string())),
    )
}

/// [`gitea`], which must succeed. A read Gitea fails inside (a 5xx: its
/// git process was seen to panic reading a branch a push was changing) is
/// asked again, a few times.
pub(crate) fn gitea_ok(method: &str, path: &str, body: Option<&Value>) -> Value {
    let mut tries = 0;
    loop {
        let (status, answer) = gitea(method, path, body);
        tries += 1;
        if method == "GET" && status >= 500 && tries < 5 {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        assert!((200..300).contains(&status), "{method} {path}: {status} {answer}");
        return answer;
    }
}

/// A new organisation on Gitea.
pub(crate) fn organisation(prefix: &str) -> String {
    let name = format!("{prefix}-{}", unique());
    gitea_ok("POST", "/orgs", Some(&json!({ "username": name })));
    name
}

/// The git URL of Gitea's `org/repo`, with the admin's credentials.
pub(crate) fn git_url(org: &str, repo: &str) -> String {
    let server = &cluster().gitea;
    let authority = server.url.trim_start_matches("http://");
    format!(
        "http://{}:{}@{authority}/{org}/{repo}.git",
        server.username, server.token
    )
}

/// The commits of `branch` of `org/repo`, newest first. Gitea marks a
/// repository as no longer empty in the background after a push, and
/// answers 409 until then.
fn commits(org: &str, repo: &str, branch: &str) -> Vec<Value> {
    let path = format!("/repos/{org}/{repo}/commits?sha={branch}&limit=50");
    wait_for(
        &format!("Gitea to list the commits of {org}/{repo}"),
        Duration::from_secs(30),
        || match gitea("GET", &path, None) {
            (409, _) => None,
            (200, list) => Some(list.as_array().cloned().unwrap_or_default()),
            (status, answer) => panic!("GET {path}: {status} {answer}"),
        },
    )
}

/// The commit ids of `branch` of `org/repo`, newest first, read with git
/// itself rather than Gitea's API. A push cut short by SIGKILL can leave
/// Gitea's record that the repository is empty behind (its processing of
/// the push is cancelled with the connection), and the API then answers
/// 409 for the commits the branch holds.
pub(crate) fn git_history(org: &str, repo: &str, branch: &str) -> Vec<String> {
    rev_list(org, repo, branch, &[])
}

/// The commits of `branch` of `org/repo` that change its files, newest
/// first: [`git_history`] without a commit whose tree is its parent's (a
/// branch pushed again so that Gitea records it, when a push cut short
/// left Gitea's hook unrun).
pub(crate) fn git_changes(org: &str, repo: &str, branch: &str) -> Vec<String> {
    // With a path, rev-list leaves out commits that change nothing under it.
    rev_list(org, repo, branch, &["--", "."])
}

fn rev_list(org: &str, repo: &str, branch: &str, paths: &[&str]) -> Vec<String> {
    let url = git_url(org, repo);
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let output = std::process::Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "git {} of {org}/{repo}: {}",
            args[0],
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    git(&["clone", "--quiet", "--bare", "--branch", branch, &url, "."]);
    let mut args = vec!["rev-list", branch];
    args.extend(paths);
    git(&args).lines().map(str::to_string).collect()
}

/// An operator whose only git host is the Gitea, as a forge; its API token
/// is `token` (the admin's unless a test says otherwise).
pub(crate) fn operator(namespace: &Namespace, token: &str) -> Operator {
    operator_with(namespace, token, "")
}

/// As [`operator`], with `extra` appended to its configuration.
pub(crate) fn operator_with(namespace: &Namespace, token: &str, extra: &str) -> Operator {
    let server = &cluster().gitea;
    let secrets = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: gitea-push}}\nstringData: {{username: {user}, password: {push}}}\n\
         ---\napiVersion: v1\nkind: Secret\nmetadata: {{name: gitea-token}}\nstringData: {{token: \"{token}\"}}\n",
        user = server.username,
        push = server.token,
    );
    apply(namespace, &secrets);
    let hosts = format!(
        "gitHosts:\n  - host: gitea.test\n    type: gitea\n    url: \"{url}/{{owner}}/{{repo}}.git\"\n\
         \x20   contentsUrl: \"{url}/{{owner}}/{{repo}}/src/branch/{{branch}}\"\n    apiUrl: \"{api}\"\n\
         \x20   credentialsSecret: gitea-push\n    tokenSecret: gitea-token\n",
        url = server.url,
        api = server.api_url,
    );
    Operator::start_with(namespace, &cluster().git_url, &format!("{hosts}{extra}"))
}

/// A template that publishes its skeleton to `gitea.test?owner=<org>&repo=<name>`
/// with every repository setting publish:gitea takes.
fn template(name: &str) -> String {
    r##"apiVersion: goldpath.dev/v1alpha1
kind: Template
metadata: {name: NAME}
spec:
  type: service
  owner: group:platform
  parameters:
    - required: [name, org]
      properties:
        name: {type: string}
        org: {type: string}
  steps:
    - id: fetch
      action: fetch:template
      input: {url: ./skeleton, values: {name: "${{ parameters.name }}"}}
    - id: publish
      action: publish:gitea
      input:
        repoUrl: "gitea.test?owner=${{ parameters.org }}&repo=${{ parameters.name }}"
        description: "The ${{ parameters.name }} service"
        repoVisibility: private
        defaultBranch: trunk
        gitCommitMessage: "Scaffold ${{ parameters.name }}"
        gitAuthorName: Platform Bot
        gitAuthorEmail: platform-bot@example.com
        topics: [goldpath, e2e]
        collaborators: [{user: alice, access: push}]
        protectDefaultBranch: true
        requiredApprovingReviewCount: 2
  source:
    inline:
      skeleton/README.md: "# ${{ values.name }}\n"
"##
    .replace("NAME", name)
}

fn request(name: &str, template: &str, org: &str, service: &str) -> String {
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: {name}}}\n\
         spec:\n  templateRef: {{name: {template}}}\n  parameters: {{name: {service}, org: {org}}}\n"
    )
}

fn step_message(request: &Value, index: usize) -> String {
    request["status"]["steps"][index]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_request_creates_a_gitea_repository_in_an_organisation_with_its_settings() {
    let server = &cluster().gitea;
    let namespace = Namespace::new("gitea");
    let org = organisation("acme");
    apply(&namespace, &template("svc"));
    let _operator = operator(&namespace, &server.token);
    apply(&namespace, &request("payments", "svc", &org, "payments"));
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/payments",
        "Succeeded",
        Duration::from_secs(120),
    );

    let repository = gitea_ok("GET", &format!("/repos/{org}/payments"), None);
    assert_eq!(repository["private"], true, "{repository}");
    assert_eq!(repository["description"], "The payments service");
    assert_eq!(repository["default_branch"], "trunk");
    assert_eq!(repository["owner"]["login"], org.as_str());

    let topics = gitea_ok("GET", &format!("/repos/{org}/payments/topics"), None);
    let mut topics: Vec<&str> = topics["topics"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    topics.sort_unstable();
    assert_eq!(topics, ["e2e", "goldpath"]);

    let permission = gitea_ok(
        "GET",
        &format!(
            "/repos/{org}/payments/collaborators/{}/permission",
            server.other_user
        ),
        None,
    );
    assert_eq!(permission["permission"], "write", "{permission}");

    let rules = gitea_ok("GET", &format!("/repos/{org}/payments/branch_protections"), None);
    let rules = rules.as_array().unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert_eq!(rules[0]["rule_name"], "trunk");
    assert_eq!(rules[0]["required_approvals"], 2);

    let history = commits(&org, "payments", "trunk");
    assert_eq!(history.len(), 1, "{history:?}");
    let commit = &history[0];
    let output = &done["status"]["steps"][1]["output"];
    assert_eq!(output["commitHash"], commit["sha"]);
    assert_eq!(commit["commit"]["author"]["name"], "Platform Bot");
    assert_eq!(commit["commit"]["author"]["email"], "platform-bot@example.com");
    let message = commit["commit"]["message"].as_str().unwrap();
    let uid = done["metadata"]["uid"].as_str().unwrap();
    assert!(message.starts_with("Scaffold payments"), "{message}");
    assert!(message.contains(&format!("Goldpath-Request: {uid}")), "{message}");
    assert_eq!(
        output["remoteUrl"],
        format!("{}/{org}/payments.git", server.url).as_str()
    );
    assert_eq!(
        output["repoContentsUrl"],
        format!("{}/{org}/payments/src/branch/trunk", server.url).as_str()
    );
    let readme = gitea_ok(
        "GET",
        &format!("/repos/{org}/payments/raw/README.md?ref=trunk"),
        None,
    );
    assert_eq!(readme, "# payments\n");

    // A second request for the same repository holds someone else's
    // content: it fails and the repository is left as it was.
    apply(&namespace, &request("again", "svc", &org, "payments"));
    let refused = wait_phase(
        &namespace,
        "scaffoldrequest/again",
        "Failed",
        Duration::from_secs(60),
    );
    let message = step_message(&refused, 1);
    assert!(message.contains("this request did not publish"), "{message}");
    assert_eq!(commits(&org, "payments", "trunk").len(), 1);
    assert_eq!(
        gitea_ok("GET", &format!("/repos/{org}/payments/topics"), None)["topics"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // An organisation that does not exist is named.
    apply(&namespace, &request("nowhere", "svc", "no-such-org", "x"));
    let missing = wait_phase(
        &namespace,
        "scaffoldrequest/nowhere",
        "Failed",
        Duration::from_secs(60),
    );
    let message = step_message(&missing, 1);
    assert!(
        message.contains("there is no organisation \"no-such-org\""),
        "{message}"
    );
}

#[test]
fn a_repository_someone_else_made_on_gitea_is_refused_and_left_untouched() {
    let server = &cluster().gitea;
    let namespace = Namespace::new("gitea-foreign");
    let org = organisation("other");
    gitea_ok(
        "POST",
        &format!("/orgs/{org}/repos"),
        Some(
            &json!({"name": "taken", "auto_init": true, "default_branch": "trunk", "description": "theirs"}),
        ),
    );
    let before = commits(&org, "taken", "trunk");
    assert_eq!(before.len(), 1);
    apply(&namespace, &template("svc"));
    let _operator = operator(&namespace, &server.token);
    apply(&namespace, &request("taken", "svc", &org, "taken"));
    let failed = wait_phase(
        &namespace,
        "scaffoldrequest/taken",
        "Failed",
        Duration::from_secs(120),
    );
    let message = step_message(&failed, 1);
    assert!(message.contains("this request did not publish"), "{message}");
    let repository = gitea_ok("GET", &format!("/repos/{org}/taken"), None);
    assert_eq!(repository["description"], "theirs");
    assert_eq!(repository["private"], false);
    assert_eq!(commits(&org, "taken", "trunk"), before);
    let topics = gitea_ok("GET", &format!("/repos/{org}/taken/topics"), None);
    assert_eq!(topics["topics"].as_array().map(Vec::len), Some(0), "{topics}");
}

#[test]
fn a_token_gitea_refuses_fails_the_step_naming_the_host_the_call_and_the_permission() {
    let server = &cluster().gitea;
    let namespace = Namespace::new("gitea-denied");
    let org = organisation("denied");
    apply(&namespace, &template("svc"));
    let bogus = format!("bogus{}", unique());
    let operator = operator(&namespace, &bogus);
    apply(&namespace, &request("denied", "svc", &org, "app"));
    let failed = wait_phase(
        &namespace,
        "scaffoldrequest/denied",
        "Failed",
        Duration::from_secs(60),
    );
    let message = step_message(&failed, 1);
    let host = server.url.trim_start_matches("http://");
    for part in [
        host,
        &format!("read repository {org}/app"),
        "(401)",
        "the token needs",
    ] {
        assert!(message.contains(part), "{part:?} missing from {message}");
    }
    let (_, _, stalled) = condition(&failed, "Stalled").expect("a Stalled condition");
    assert!(stalled.contains("the token needs"), "{stalled}");
    assert!(!message.contains(&bogus) && !operator.log().contains(&bogus));
    assert_eq!(gitea("GET", &format!("/repos/{org}/app"), None).0, 404);
}

/// Kills the operator (SIGKILL) every 0.3-1.5 s and starts it again, at
/// least and at most as many times as `kills_between` says, until `done`
/// gives a value (it may assert on what it sees); that value and how many
/// times it was killed.
pub(crate) fn kill_until<T>(
    what: &str,
    operator: &mut Operator,
    kills_between: std::ops::RangeInclusive<usize>,
    mut done: impl FnMut() -> Option<T>,
) -> (T, usize) {
    let mut seed = std::process::id() as u64 ^ 0x2545_f491_4f6c_dd1d;
    let mut kills = 0;
    let found = wait_for(what, Duration::from_secs(300), || {
        // Done counts only once the operator was killed the fewest times
        // asked, however fast the work went.
        if kills >= *kills_between.start()
            && let Some(found) = done()
        {
            return Some(found);
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(300 + seed % 1200));
        if kills < *kills_between.end() {
            operator.restart();
            kills += 1;
        }
        None
    });
    (found, kills)
}

/// [`kill_until`] all `count` requests of `namespace` have succeeded; none
/// may fail. How many times it was killed.
fn kill_until_every_request_succeeds(
    namespace: &Namespace,
    operator: &mut Operator,
    count: usize,
    max_kills: usize,
) -> usize {
    let (_, kills) = kill_until("every request to succeed", operator, 0..=max_kills, || {
        let list = get(namespace, "scaffoldrequests");
        let items = list["items"].as_array().unwrap();
        let failed: Vec<&Value> = items.iter().filter(|r| phase(r) == "Failed").collect();
        assert!(failed.is_empty(), "requests failed: {failed:#?}");
        (items.iter().filter(|r| phase(r) == "Succeeded").count() == count).then_some(())
    });
    kills
}

#[test]
fn killed_at_random_moments_the_operator_makes_each_gitea_repository_and_commit_once() {
    let server = &cluster().gitea;
    let namespace = Namespace::new("gitea-crash");
    let org = organisation("crash");
    apply(&namespace, &template("svc"));
    let run = unique();
    let names: Vec<String> = (0..12).map(|i| format!("k{run}-{i}")).collect();
    let requests: String = names
        .iter()
        .map(|name| format!("---\n{}", request(name, "svc", &org, name)))
        .collect();
    let mut operator = operator(&namespace, &server.token);
    apply(&namespace, &requests);

    let kills = kill_until_every_request_succeeds(&namespace, &mut operator, names.len(), 15);
    assert!(kills >= 5, "the operator was killed only {kills} times");

    let repositories = gitea_ok("GET", &format!("/orgs/{org}/repos?limit=50"), None);
    let mut found: Vec<&str> = repositories
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    found.sort_unstable();
    let mut wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    wanted.sort_unstable();
    assert_eq!(found, wanted, "exactly one repository per request");
    for name in &names {
        let history = git_history(&org, name, "trunk");
        assert_eq!(history.len(), 1, "commits in {org}/{name}: {history:?}");
        let request = get(&namespace, &format!("scaffoldrequest/{name}"));
        assert_eq!(
            request["status"]["steps"][1]["output"]["commitHash"].as_str(),
            Some(history[0].as_str())
        );
        let rules = gitea_ok("GET", &format!("/repos/{org}/{name}/branch_protections"), None);
        assert_eq!(rules.as_array().map(Vec::len), Some(1), "{name}: {rules}");
    }
}

/// A template that proposes its skeleton, under `services/<name>`, as a
/// pull request into `gitea.test?owner=<org>&repo=<repo>`.
fn pull_request_template(name: &str) -> String {
    r##"apiVersion: goldpath.dev/v1alpha1
kind: Template
metadata: {name: NAME}
spec:
  type: service
  owner: group:platform
  parameters:
    - required: [name, org, repo]
      properties:
        name: {type: string}
        org: {type: string}
        repo: {type: string}
  steps:
    - id: fetch
      action: fetch:template
      input: {url: ./skeleton, values: {name: "${{ parameters.name }}"}}
    - id: propose
      action: publish:gitea:pull-request
      input:
        repoUrl: "gitea.test?owner=${{ parameters.org }}&repo=${{ parameters.repo }}"
        branchName: "add-${{ parameters.name }}"
        title: "Add ${{ parameters.name }}"
        description: "The ${{ parameters.name }} service, from its golden path"
        targetPath: "services/${{ parameters.name }}"
        commitMessage: "Add ${{ parameters.name }}"
        gitAuthorName: Platform Bot
        gitAuthorEmail: platform-bot@example.com
        reviewers: [alice]
        update: true
  source:
    inline:
      skeleton/README.md: "# ${{ values.name }}\n"
"##
    .replace("NAME", name)
}

fn pull_request_request(name: &str, template: &str, org: &str, repo: &str, service: &str) -> String {
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: {name}}}\n\
         spec:\n  templateRef: {{name: {template}}}\n  parameters: {{name: {service}, org: {org}, repo: {repo}}}\n"
    )
}

/// An existing repository someone made, with `alice` as a collaborator.
fn existing_repository(org: &str, name: &str) {
    gitea_ok(
        "POST",
        &format!("/orgs/{org}/repos"),
        Some(&json!({"name": name, "auto_init": true, "default_branch": "main"})),
    );
    gitea_ok(
        "PUT",
        &format!("/repos/{org}/{name}/collaborators/{}", cluster().gitea.other_user),
        Some(&json!({"permission": "read"})),
    );
}

/// What Gitea says of pull request `number` and of `branch`, for a failure
/// to explain itself: the pull request's state and head, its timeline, the
/// branch as Gitea's branch list knows it, and the branch's commits as git
/// has them.
fn pull_request_history(org: &str, repo: &str, branch: &str, number: &Value) -> String {
    let pull = gitea("GET", &format!("/repos/{org}/{repo}/pulls/{number}"), None);
    let summary = |p: &Value| {
        json!({
            "number": p["number"], "state": p["state"], "merged": p["merged"],
            "head": {"label": p["head"]["label"], "ref": p["head"]["ref"], "sha": p["head"]["sha"]},
            "created_at": p["created_at"], "closed_at": p["closed_at"],
        })
    };
    let timeline = gitea(
        "GET",
        &format!("/repos/{org}/{repo}/issues/{number}/timeline?limit=50"),
        None,
    );
    let events: Vec<Value> = timeline
        .1
        .as_array()
        .map(|events| {
            events
                .iter()
                .map(|e| json!({"type": e["type"], "created_at": e["created_at"], "body": e["body"]}))
                .collect()
        })
        .unwrap_or_default();
    let known = gitea("GET", &format!("/repos/{org}/{repo}/branches/{branch}"), None);
    format!(
        "pull request {number}: {} {}\ntimeline: {events:?}\nGitea's branch {branch}: {} {}\n\
         git's {branch}: {:?}",
        pull.0,
        summary(&pull.1),
        known.0,
        known.1["commit"]["id"],
        git_history(org, repo, branch),
    )
}

pub(crate) fn open_pull_requests(org: &str, repo: &str) -> Vec<Value> {
    gitea_ok(
        "GET",
        &format!("/repos/{org}/{repo}/pulls?state=all&limit=50"),
        None,
    )
    .as_array()
    .cloned()
    .unwrap_or_default()
}

#[test]
fn a_request_opens_a_pull_request_on_gitea_with_its_change_and_reviewer() {
    let server = &cluster().gitea;
    let namespace = Namespace::new("gitea-pr");
    let org = organisation("mono");
    existing_repository(&org, "platform");
    apply(&namespace, &pull_request_template("propose"));
    let _operator = operator(&namespace, &server.token);
    apply(
        &namespace,
        &pull_request_request("billing", "propose", &org, "platform", "billing"),
    );
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/billing",
        "Succeeded",
        Duration::from_secs(120),
    );

    let pulls = open_pull_requests(&org, "platform");
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pull = &pulls[0];
    assert_eq!(pull["head"]["ref"], "add-billing");
    assert_eq!(pull["base"]["ref"], "main");
    assert_eq!(pull["title"], "Add billing");
    assert_eq!(pull["body"], "The billing service, from its golden path");
    let reviewers: Vec<&str> = pull["requested_reviewers"]
        .as_array()
        .map(|r| r.iter().filter_map(|u| u["login"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(reviewers, [server.other_user.as_str()], "{pull}");
    let output = &done["status"]["steps"][1]["output"];
    assert_eq!(output["pullRequestNumber"], pull["number"]);
    assert_eq!(output["remoteUrl"], pull["html_url"]);
    assert_eq!(output["targetBranchName"], "main");

    // One commit on top of main, holding the base's files and the change.
    let branch = commits(&org, "platform", "add-billing");
    let main = commits(&org, "platform", "main");
    assert_eq!(branch.len(), main.len() + 1, "{branch:?}");
    assert_eq!(branch[1]["sha"], main[0]["sha"]);
    assert_eq!(output["commitHash"], branch[0]["sha"]);
    assert_eq!(branch[0]["commit"]["author"]["name"], "Platform Bot");
    let added = gitea_ok(
        "GET",
        &format!("/repos/{org}/platform/raw/services/billing/README.md?ref=add-billing"),
        None,
    );
    assert_eq!(added, "# billing\n");
    let (status, _) = gitea(
        "GET",
        &format!("/repos/{org}/platform/raw/README.md?ref=add-billing"),
        None,
    );
    assert_eq!(status, 200, "the base's README stays on the branch");

    // Another request naming the same branch finds it made by someone else.
    apply(
        &namespace,
        &pull_request_request("again", "propose", &org, "platform", "billing"),
    );
    let refused = wait_phase(
        &namespace,
        "scaffoldrequest/again",
        "Failed",
        Duration::from_secs(60),
    );
    let message = step_message(&refused, 1);
    assert!(message.contains("this request did not publish"), "{message}");
    assert_eq!(open_pull_requests(&org, "platform").len(), 1);
}

#[test]
fn killed_at_random_moments_the_operator_opens_each_gitea_pull_request_once() {
    let server = &cluster().gitea;
    let namespace = Namespace::new("gitea-pr-crash");
    let org = organisation("prcrash");
    existing_repository(&org, "platform");
    apply(&namespace, &pull_request_template("propose"));
    let run = unique();
    let names: Vec<String> = (0..8).map(|i| format!("p{run}-{i}")).collect();
    let requests: String = names
        .iter()
        .map(|name| {
            format!(
                "---\n{}",
                pull_request_request(name, "propose", &org, "platform", name)
            )
        })
        .collect();
    let mut operator = operator(&namespace, &server.token);
    apply(&namespace, &requests);
    let kills = kill_until_every_request_succeeds(&namespace, &mut operator, names.len(), 12);
    assert!(kills >= 4, "the operator was killed only {kills} times");
    let pulls = open_pull_requests(&org, "platform");
    let main = commits(&org, "platform", "main").len();
    for name in &names {
        let branch = format!("add-{name}");
        let mine: Vec<&Value> = pulls
            .iter()
            .filter(|p| p["head"]["ref"] == branch.as_str())
            .collect();
        let request = get(&namespace, &format!("scaffoldrequest/{name}"));
        let named = &request["status"]["steps"][1]["output"]["pullRequestNumber"];
        assert_eq!(
            mine.len(),
            1,
            "pull requests from {branch}: {mine:?}\nall, by number, state and head: {:?}\n{}",
            pulls
                .iter()
                .map(|p| format!(
                    "#{} {} {} {}",
                    p["number"], p["state"], p["head"]["label"], p["head"]["ref"]
                ))
                .collect::<Vec<_>>(),
            pull_request_history(&org, "platform", &branch, named)
        );
        assert_eq!(commits(&org, "platform", &branch).len(), main + 1, "{branch}");
        assert_eq!(named, &mine[0]["number"]);
    }
    assert_eq!(pulls.len(), names.len());
}

#[test]
fn a_steps_own_token_acts_for_the_user_over_the_hosts_and_is_shown_nowhere() {
    let server = &cluster().gitea;
    let namespace = Namespace::new("gitea-token");
    let org = organisation("usertoken");
    let with_token = template("svc").replace(
        "        requiredApprovingReviewCount: 2\n",
        "        requiredApprovingReviewCount: 2\n        token: \"${{ secrets.giteaToken }}\"\n",
    );
    apply(&namespace, &with_token);
    // The host's own token is refused by Gitea: only the step's can work.
    let bogus = format!("bogus{}", unique());
    let operator = operator(&namespace, &bogus);
    apply(
        &namespace,
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: user-token}}\nstringData: {{giteaToken: \"{}\"}}\n",
            server.token
        ),
    );
    apply(
        &namespace,
        &format!(
            "{}  secretRef: {{name: user-token}}\n",
            request("mine", "svc", &org, "mine")
        ),
    );
    let done = wait_phase(
        &namespace,
        "scaffoldrequest/mine",
        "Succeeded",
        Duration::from_secs(120),
    );
    assert_eq!(commits(&org, "mine", "trunk").len(), 1);
    let shown = format!(
        "{done}\n{}\n{}",
        crate::scaffold::events(&namespace),
        operator.log()
    );
    assert!(!shown.contains(&server.token), "the step's token was shown");
}

/// Writes `files` over `org/repo`'s main as a commit on `branch` straight
/// into Gitea's repository on disk, made `age` ago with `message`: a push
/// that git took and whose hook never ran, so Gitea's records lack the branch.
fn branch_gitea_did_not_record(
    org: &str,
    repo: &str,
    branch: &str,
    files: &[(&str, &str)],
    message: &str,
    age: i64,
) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("e2e/.state/gitea/repos")
        .join(org.to_lowercase())
        .join(format!("{}.git", repo.to_lowercase()));
    let git = git2::Repository::open_bare(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let main = git
        .find_reference("refs/heads/main")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let mut tree = git2::build::TreeUpdateBuilder::new();
    for (file, content) in files {
        let blob = git.blob(content.as_bytes()).unwrap();
        tree.upsert(*file, blob, git2::FileMode::Blob);
    }
    let tree = git
        .find_tree(tree.create_updated(&git, &main.tree().unwrap()).unwrap())
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let when = git2::Time::new(now - age, 0);
    let author = git2::Signature::new("Platform Bot", "platform-bot@example.com", &when).unwrap();
    git.commit(
        Some(&format!("refs/heads/{branch}")),
        &author,
        &author,
        message,
        &tree,
        &[&main],
    )
    .unwrap();
}

#[test]
fn a_branch_gitea_never_recorded_is_pushed_again_and_its_pull_request_succeeds() {
    let server = &cluster().gitea;
    let namespace = Namespace::new("gitea-unrecorded");
    let org = organisation("unrecorded");
    existing_repository(&org, "platform");
    apply(&namespace, &pull_request_template("propose"));
    let name = format!("u{}", unique());
    // The request exists before any operator runs: its UID is the trailer a
    // branch of its own carries.
    apply(
        &namespace,
        &pull_request_request(&name, "propose", &org, "platform", &name),
    );
    let uid = get(&namespace, &format!("scaffoldrequest/{name}"))["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let branch = format!("add-{name}");
    let readme = format!("services/{name}/README.md");
    let content = format!("# {name}\n");
    branch_gitea_did_not_record(
        &org,
        "platform",
        &branch,
        &[(readme.as_str(), content.as_str())],
        &format!("Add {name}\nGoldpath-Request: {uid}\n"),
        120,
    );
    let branches = format!("/repos/{org}/platform/branches/{branch}");
    assert_eq!(
        gitea("GET", &branches, None).0,
        404,
        "Gitea does not know the branch"
    );

    let _operator = operator(&namespace, &server.token);
    let done = wait_phase(
        &namespace,
        &format!("scaffoldrequest/{name}"),
        "Succeeded",
        Duration::from_secs(120),
    );
    assert_eq!(
        gitea("GET", &branches, None).0,
        200,
        "Gitea records the branch pushed again"
    );
    let pulls: Vec<Value> = open_pull_requests(&org, "platform")
        .into_iter()
        .filter(|p| p["title"] == format!("Add {name}").as_str())
        .collect();
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    assert_eq!(pulls[0]["head"]["ref"], branch.as_str(), "{:#?}", pulls[0]);
    assert_eq!(
        done["status"]["steps"][1]["output"]["pullRequestNumber"], pulls[0]["number"],
        "{done:#}"
    );
    // One commit over the one git held: the same files, the same message.
    let history = git_history(&org, "platform", &branch);
    let main = git_history(&org, "platform", "main");
    assert_eq!(history.len(), main.len() + 2, "{history:?}");
}
