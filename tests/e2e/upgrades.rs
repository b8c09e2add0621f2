//! Template upgrades and parameter changes as pull requests: requests with
//! `upgradePolicy: PullRequest` made from a git-sourced Template publish to
//! the e2e Gitea; new revisions of the template's repository (on the git
//! server) become pull requests, checked through Gitea's own API.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::forge::{
    git_changes, git_history, gitea, gitea_ok, kill_until, open_pull_requests, operator_with, organisation,
};
use crate::harness::{Namespace, cluster, unique, wait_for};
use crate::scaffold::{apply, condition, get, phase};

/// How many requests follow the one Template.
const REQUESTS: usize = 20;

/// The skeleton at a version: three files a new revision changes
/// (`README.md`, `app.yaml`, `Makefile`) and one it leaves (`NOTES.md`).
fn skeleton(version: u32) -> BTreeMap<&'static str, String> {
    let mut files = BTreeMap::new();
    files.insert(
        "README.md",
        format!(
            "# ${{{{ values.name }}}}\n\nServed by the ${{{{ values.team }}}} team.\n\nTemplate version {version}.\n"
        ),
    );
    files.insert(
        "app.yaml",
        format!("name: ${{{{ values.name }}}}\nreplicas: 2\nimage: registry.test/app:{version}.0\n"),
    );
    files.insert(
        "Makefile",
        format!("build:\n\tgo build ./...\n\ntest:\n\tgo test -count={version} ./...\n"),
    );
    files.insert("NOTES.md", "Notes stay as they are.\n".to_string());
    files
}

/// Commits the skeleton at `version` to the template repository in `work`
/// and pushes it to `remote`'s main; returns the commit.
fn commit_template(work: &Path, remote: &str, version: u32) -> String {
    let cluster = cluster();
    for (path, text) in skeleton(version) {
        std::fs::write(work.join("golden/skeleton").join(path), text).unwrap();
    }
    let message = format!("v{version}");
    for args in [
        vec!["add", "."],
        vec!["commit", "--quiet", "-m", &message],
        vec!["push", "--quiet", remote, "HEAD:main"],
    ] {
        let output = cluster.git(&args, Some(work));
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8(cluster.git(&["rev-parse", "HEAD"], Some(work)).stdout)
        .unwrap()
        .trim()
        .to_string()
}

fn template(remote: &str) -> String {
    format!(
        r#"apiVersion: goldpath.dev/v1alpha1
kind: Template
metadata: {{name: followed}}
spec:
  type: service
  parameters:
    - required: [name, org]
      properties:
        name: {{type: string}}
        org: {{type: string}}
        team: {{type: string, default: platform}}
  steps:
    - id: fetch
      action: fetch:template
      input: {{url: ./skeleton, values: {{name: "${{{{ parameters.name }}}}", team: "${{{{ parameters.team }}}}"}}}}
    - id: publish
      action: publish:gitea
      input: {{repoUrl: "gitea.test?owner=${{{{ parameters.org }}}}&repo=${{{{ parameters.name }}}}"}}
  source:
    git: {{url: "{remote}", ref: main, path: golden, secretRef: {{name: git-push}}}}
"#
    )
}

fn request(name: &str, org: &str, team: Option<&str>) -> String {
    let team = team.map(|t| format!(", team: {t}")).unwrap_or_default();
    format!(
        "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata: {{name: {name}}}\n\
         spec:\n  templateRef: {{name: followed}}\n  upgradePolicy: PullRequest\n\
         \x20 parameters: {{name: {name}, org: {org}{team}}}\n"
    )
}

/// Every ScaffoldRequest of the namespace, by name, in one read.
fn requests(namespace: &Namespace) -> BTreeMap<String, Value> {
    let output = cluster().kubectl(
        &["get", "scaffoldrequests", "-n", &namespace.name, "-o", "json"],
        None,
    );
    assert!(output.status.success(), "listing the requests");
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["metadata"]["name"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

/// Waits until every one of `names` passes `check`; returns them all.
fn wait_all(
    namespace: &Namespace,
    names: &[String],
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> BTreeMap<String, Value> {
    wait_for(what, Duration::from_secs(300), || {
        let found = requests(namespace);
        names
            .iter()
            .all(|name| found.get(name).is_some_and(&check))
            .then_some(found)
    })
}

/// A file of `org/repo` at `reference`, as Gitea serves it.
fn raw(org: &str, repo: &str, path: &str, reference: &str) -> String {
    match gitea_ok(
        "GET",
        &format!("/repos/{org}/{repo}/raw/{path}?ref={reference}"),
        None,
    ) {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// The tip of `branch` of `org/repo`.
fn tip(org: &str, repo: &str, branch: &str) -> String {
    gitea_ok("GET", &format!("/repos/{org}/{repo}/branches/{branch}"), None)["commit"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Someone's own commit on the default branch of `org/repo`: the line of
/// README.md a new template revision changes rewritten, through git.
fn edit_readme(org: &str, repo: &str) {
    let url = crate::forge::git_url(org, repo);
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let output = cluster().git(args, Some(dir.path()));
        assert!(
            output.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    git(&["clone", "--quiet", &url, "."]);
    let readme = dir.path().join("README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    let edited = text.replacen("Template version 1.\n", "Template version 1, pinned by us.\n", 1);
    assert_ne!(edited, text, "{text}");
    std::fs::write(&readme, edited).unwrap();
    git(&["commit", "--quiet", "-am", "pin the version"]);
    git(&["push", "--quiet", "origin", "HEAD:main"]);
}

fn upgrade(request: &Value, index: usize) -> &Value {
    &request["status"]["upgrades"][index]
}

#[test]
fn new_template_revisions_and_parameter_changes_become_one_pull_request_per_request() {
    let cluster = cluster();
    let namespace = Namespace::new("upgrades");
    let org = organisation("upg");
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("golden/skeleton")).unwrap();
    assert!(cluster.git(&["init", "--quiet"], Some(&work)).status.success());
    let remote = format!("{}/e2e-upgrades-{}.git", cluster.git_url, unique());
    let first = commit_template(&work, &remote, 1);
    let server = &cluster.gitea;
    // The Gitea host, and the template's branch looked at every second.
    let _operator = operator_with(
        &namespace,
        &server.token,
        "templateRefreshSeconds: 1\nupgradePollMaxSeconds: 15\n",
    );
    apply(&namespace, &template(&remote));
    let names: Vec<String> = (0..REQUESTS).map(|i| format!("svc{i}-{}", unique())).collect();
    let all: String = names
        .iter()
        .map(|name| format!("---\n{}", request(name, &org, None)))
        .collect();
    apply(&namespace, &all);
    let made = wait_all(&namespace, &names, "every request to succeed", |r| {
        phase(r) == "Succeeded"
    });
    for name in &names {
        assert_eq!(made[name]["status"]["templateRevision"], first.as_str());
        assert_eq!(
            made[name]["status"]["appliedParameters"],
            json!({"name": name, "org": org, "team": "platform"})
        );
    }

    // One repository gets its own edit of a line the template changes.
    let edited = &names[0];
    edit_readme(&org, edited);
    let mains: BTreeMap<&String, String> = names.iter().map(|n| (n, tip(&org, n, "main"))).collect();

    let second = commit_template(&work, &remote, 2);
    let proposed = wait_all(&namespace, &names, "every request to propose revision 2", |r| {
        upgrade(r, 0)["to"] == second.as_str() && upgrade(r, 0)["state"] == "Open"
    });
    let mut numbers = BTreeMap::new();
    for name in &names {
        let request = &proposed[name];
        let proposal = upgrade(request, 0);
        assert_eq!(proposal["from"], first.as_str(), "{request}");
        let branch = format!("goldpath/upgrade-{name}");
        assert_eq!(proposal["branch"], branch.as_str());
        let pulls = open_pull_requests(&org, name);
        assert_eq!(pulls.len(), 1, "{name}: {pulls:?}");
        let pull = &pulls[0];
        assert_eq!(pull["head"]["ref"], branch.as_str());
        assert_eq!(pull["base"]["ref"], "main");
        assert_eq!(proposal["pullRequest"]["number"], pull["number"]);
        assert_eq!(proposal["pullRequest"]["url"], pull["html_url"]);
        numbers.insert(name.clone(), pull["number"].clone());
        let readme = raw(&org, name, "README.md", &branch);
        let up_to_date = condition(request, "UpToDate").unwrap();
        assert_eq!(
            (up_to_date.0.as_str(), up_to_date.1.as_str()),
            ("False", "UpgradeProposed")
        );
        assert_eq!(
            tip(&org, name, "main"),
            mains[name],
            "{name}: nothing pushed to main"
        );
        assert_eq!(
            raw(&org, name, "app.yaml", &branch),
            format!("name: {name}\nreplicas: 2\nimage: registry.test/app:2.0\n")
        );
        assert!(raw(&org, name, "Makefile", &branch).contains("-count=2"));
        if name == edited {
            assert_eq!(proposal["conflicts"], json!(["README.md"]), "{request}");
            assert!(
                readme.contains("<<<<<<< main") && readme.contains(">>>>>>> template at"),
                "{readme}"
            );
            assert!(
                readme.contains("pinned by us") && readme.contains("Template version 2."),
                "{readme}"
            );
            let body = pull["body"].as_str().unwrap();
            assert!(body.contains("`README.md`"), "{body}");
        } else {
            assert!(proposal["conflicts"].is_null(), "{request}");
            assert_eq!(
                readme,
                format!("# {name}\n\nServed by the platform team.\n\nTemplate version 2.\n")
            );
            assert!(pull["body"].as_str().unwrap().contains("The merge is clean."));
        }
    }

    // A second new revision updates the same pull requests.
    let third = commit_template(&work, &remote, 3);
    let updated = wait_all(&namespace, &names, "every request to propose revision 3", |r| {
        upgrade(r, 0)["to"] == third.as_str()
    });
    for name in &names {
        let proposal = upgrade(&updated[name], 0);
        assert_eq!(proposal["from"], first.as_str());
        assert_eq!(proposal["pullRequest"]["number"], numbers[name]);
        assert_eq!(updated[name]["status"]["upgrades"].as_array().unwrap().len(), 1);
        let pulls = open_pull_requests(&org, name);
        assert_eq!(pulls.len(), 1, "{name}: {pulls:?}");
        let branch = format!("goldpath/upgrade-{name}");
        assert!(raw(&org, name, "Makefile", &branch).contains("-count=3"));
        assert_eq!(tip(&org, name, "main"), mains[name]);
    }
    assert_eq!(upgrade(&updated[edited], 0)["conflicts"], json!(["README.md"]));

    // Merging one through Gitea advances its request's revision.
    let merged = &names[1];
    wait_for("Gitea to merge the pull request", Duration::from_secs(60), || {
        let (status, _) = gitea(
            "POST",
            &format!("/repos/{org}/{merged}/pulls/{}/merge", numbers[merged]),
            Some(&json!({"Do": "merge"})),
        );
        (200..300).contains(&status).then_some(())
    });
    let advanced = wait_for(
        "the merge to advance the revision",
        Duration::from_secs(120),
        || {
            let request = get(&namespace, &format!("scaffoldrequest/{merged}"));
            (request["status"]["templateRevision"] == third.as_str()).then_some(request)
        },
    );
    assert_eq!(upgrade(&advanced, 0)["state"], "Merged");
    let current = condition(&advanced, "UpToDate").unwrap();
    assert_eq!(
        (current.0.as_str(), current.1.as_str()),
        ("True", "Current"),
        "{advanced}"
    );

    // Closing one: it is not proposed again for that revision.
    let closed = &names[2];
    gitea_ok(
        "PATCH",
        &format!("/repos/{org}/{closed}/pulls/{}", numbers[closed]),
        Some(&json!({"state": "closed"})),
    );
    let declined = wait_for("the close to be seen", Duration::from_secs(120), || {
        let request = get(&namespace, &format!("scaffoldrequest/{closed}"));
        (upgrade(&request, 0)["state"] == "Closed").then_some(request)
    });
    assert_eq!(declined["status"]["templateRevision"], first.as_str());
    assert_eq!(condition(&declined, "UpToDate").unwrap().1, "UpgradeDeclined");
    // Looked at again below, after two of the operator's longest waits.
    let closed_seen = std::time::Instant::now();

    // A parameter edit of the request whose upgrade was merged opens a new
    // pull request with the re-rendered difference.
    apply(&namespace, &request(merged, &org, Some("payments")));
    let changed = wait_for(
        "the parameter change to be proposed",
        Duration::from_secs(120),
        || {
            let request = get(&namespace, &format!("scaffoldrequest/{merged}"));
            (upgrade(&request, 1)["state"] == "Open").then_some(request)
        },
    );
    let proposal = upgrade(&changed, 1);
    assert_eq!(
        (proposal["from"].as_str(), proposal["to"].as_str()),
        (Some(third.as_str()), Some(third.as_str()))
    );
    assert_eq!(proposal["generation"], changed["metadata"]["generation"]);
    let open: Vec<Value> = open_pull_requests(&org, merged)
        .into_iter()
        .filter(|p| p["state"] == "open")
        .collect();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(proposal["pullRequest"]["number"], open[0]["number"]);
    let branch = format!("goldpath/upgrade-{merged}");
    assert_eq!(
        raw(&org, merged, "README.md", &branch),
        format!("# {merged}\n\nServed by the payments team.\n\nTemplate version 3.\n")
    );
    let events = crate::scaffold::events_of(&namespace, &format!("scaffoldrequest/{merged}"), "SpecChanged");
    assert!(
        events.is_empty(),
        "a followed request's change is proposed, not refused: {events:?}"
    );

    // The closed pull request's request was looked at twice since (its
    // longest wait is 15 s): still one pull request, closed, not reopened
    // nor proposed again.
    std::thread::sleep(Duration::from_secs(31).saturating_sub(closed_seen.elapsed()));
    let pulls = open_pull_requests(&org, closed);
    assert_eq!(pulls.len(), 1, "{pulls:#?}");
    assert_eq!(pulls[0]["state"], "closed", "{pulls:#?}");
    let still = get(&namespace, &format!("scaffoldrequest/{closed}"));
    let upgrades = still["status"]["upgrades"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(upgrades.len(), 1, "{still:#}");
    assert_eq!(upgrades[0]["state"], "Closed", "{still:#}");
}

#[test]
fn killed_at_random_moments_the_operator_proposes_each_revision_once_per_request() {
    let cluster = cluster();
    let namespace = Namespace::new("upgrades-crash");
    let org = organisation("upgcrash");
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(work.join("golden/skeleton")).unwrap();
    assert!(cluster.git(&["init", "--quiet"], Some(&work)).status.success());
    let remote = format!("{}/e2e-upgrades-crash-{}.git", cluster.git_url, unique());
    commit_template(&work, &remote, 1);
    let mut operator = operator_with(
        &namespace,
        &cluster.gitea.token,
        "templateRefreshSeconds: 1\nupgradePollMaxSeconds: 15\n",
    );
    apply(&namespace, &template(&remote));
    let names: Vec<String> = (0..5).map(|i| format!("crash{i}-{}", unique())).collect();
    let all: String = names
        .iter()
        .map(|name| format!("---\n{}", request(name, &org, None)))
        .collect();
    apply(&namespace, &all);
    wait_all(&namespace, &names, "every request to succeed", |r| {
        phase(r) == "Succeeded"
    });
    let mains: BTreeMap<&String, Vec<String>> =
        names.iter().map(|n| (n, git_history(&org, n, "main"))).collect();

    // Each new revision is proposed while the operator is killed again and
    // again: one pull request per request, one commit per revision on its
    // branch, nothing on the default branch.
    let mut numbers = BTreeMap::new();
    for version in [2u32, 3] {
        let revision = commit_template(&work, &remote, version);
        let what = format!("every request to propose revision {version}");
        let (proposed, _) = kill_until(&what, &mut operator, 3..=10, || {
            let found = requests(&namespace);
            names
                .iter()
                .all(|name| {
                    found.get(name).is_some_and(|r| {
                        upgrade(r, 0)["to"] == revision.as_str() && upgrade(r, 0)["state"] == "Open"
                    })
                })
                .then_some(found)
        });
        for name in &names {
            let request = &proposed[name];
            assert_eq!(
                request["status"]["upgrades"].as_array().unwrap().len(),
                1,
                "{request}"
            );
            let pulls = open_pull_requests(&org, name);
            assert_eq!(pulls.len(), 1, "{name}: {pulls:?}");
            assert_eq!(pulls[0]["state"], "open");
            let number = upgrade(request, 0)["pullRequest"]["number"].clone();
            assert_eq!(number, pulls[0]["number"]);
            assert_eq!(
                numbers.entry(name.clone()).or_insert_with(|| number.clone()),
                &number,
                "{name}: the same pull request for every revision"
            );
            // A commit per revision; a branch pushed again only so that
            // Gitea records it (same tree) changes nothing.
            let branch = git_changes(&org, name, &format!("goldpath/upgrade-{name}"));
            assert_eq!(
                branch.len(),
                mains[name].len() + version as usize - 1,
                "{name}: commits changing its branch: {branch:?}"
            );
            assert_eq!(
                git_history(&org, name, "main"),
                mains[name],
                "{name}: main untouched"
            );
            assert_eq!(
                raw(&org, name, "app.yaml", &format!("goldpath/upgrade-{name}")),
                format!("name: {name}\nreplicas: 2\nimage: registry.test/app:{version}.0\n")
            );
        }
    }
}

#[test]
fn an_inline_template_proposes_parameter_changes_but_no_upgrade_of_its_files() {
    let namespace = Namespace::new("upgrades-inline");
    let org = organisation("upi");
    let _operator = operator_with(&namespace, &cluster().gitea.token, "");
    let inline = |version: u32| {
        format!(
            "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: followed}}\nspec:\n  type: service\n\
             \x20 parameters: [{{required: [name, org], properties: {{name: {{type: string}}, org: {{type: string}}, \
             team: {{type: string, default: platform}}}}}}]\n  steps:\n\
             \x20   - {{id: fetch, action: \"fetch:template\", input: {{url: ./skeleton, values: {{name: \"${{{{ parameters.name }}}}\", team: \"${{{{ parameters.team }}}}\"}}}}}}\n\
             \x20   - {{id: publish, action: \"publish:gitea\", input: {{repoUrl: \"gitea.test?owner=${{{{ parameters.org }}}}&repo=${{{{ parameters.name }}}}\"}}}}\n\
             \x20 source:\n    inline:\n      skeleton/README.md: \"# ${{{{ values.name }}}} by ${{{{ values.team }}}}, v{version}\\n\"\n"
        )
    };
    apply(&namespace, &inline(1));
    let name = format!("inl{}", unique());
    apply(&namespace, &request(&name, &org, None));
    let resource = format!("scaffoldrequest/{name}");
    wait_for("the request to succeed", Duration::from_secs(120), || {
        (phase(&get(&namespace, &resource)) == "Succeeded").then_some(())
    });

    // A parameter change while the inline files are as they were: proposed.
    apply(&namespace, &request(&name, &org, Some("payments")));
    let proposed = wait_for(
        "the parameter change to be proposed",
        Duration::from_secs(120),
        || {
            let request = get(&namespace, &resource);
            (upgrade(&request, 0)["state"] == "Open").then_some(request)
        },
    );
    let branch = format!("goldpath/upgrade-{name}");
    assert_eq!(
        raw(&org, &name, "README.md", &branch),
        format!("# {name} by payments, v1\n")
    );
    assert_eq!(upgrade(&proposed, 0)["generation"], 2);

    // New inline files: no earlier revision is kept, so nothing is proposed
    // for them, and the condition says why.
    apply(&namespace, &inline(2));
    let refused = wait_for(
        "the inline change to be refused",
        Duration::from_secs(120),
        || {
            let request = get(&namespace, &resource);
            condition(&request, "UpToDate")
                .filter(|c| c.1 == "InlineTemplate")
                .map(|c| (request, c))
        },
    );
    let (request, (status, _, message)) = refused;
    assert_eq!(status, "False");
    assert!(
        message.contains("spec.source.git") && message.contains("inline"),
        "{message}"
    );
    assert_eq!(request["status"]["phase"], "Succeeded");
    assert_eq!(request["status"]["upgrades"].as_array().unwrap().len(), 1);
    assert_eq!(open_pull_requests(&org, &name).len(), 1);
}
