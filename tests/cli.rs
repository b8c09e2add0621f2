//! `goldpath render` and `goldpath scaffold` on bad input: each exits
//! non-zero with a message that says what to fix and where.

// Tests report failures by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

/// Writes a Backstage template (and its files) into a temporary directory.
fn template_dir(template: &str, files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("template.yaml"), template).unwrap();
    for (path, contents) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    dir
}

/// What one `goldpath render` did; `out` holds the rendered files.
struct Rendered {
    ok: bool,
    stdout: String,
    stderr: String,
    out: tempfile::TempDir,
}

/// Runs `goldpath render`, writing each `(flag, contents)` input (values,
/// secrets) to a file first.
fn render_with(template: &Path, inputs: &[(&str, &str)]) -> Rendered {
    render_args(template, inputs, &[])
}

/// Runs `goldpath render` with inputs as [`render_with`] and other arguments.
fn render_args(template: &Path, inputs: &[(&str, &str)], args: &[&str]) -> Rendered {
    let out = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_goldpath"));
    command
        .arg("render")
        .arg(template)
        .arg("--out")
        .arg(out.path().join("out"))
        .args(args);
    for (flag, contents) in inputs {
        let path = out.path().join(format!("{}.yaml", flag.trim_start_matches('-')));
        std::fs::write(&path, contents).unwrap();
        command.arg(flag).arg(path);
    }
    let output = command.output().unwrap();
    Rendered {
        ok: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        out,
    }
}

/// Runs `goldpath render` and returns (success, stderr).
fn render(template: &Path, values: Option<&str>) -> (bool, String) {
    let rendered = render_with(
        template,
        &values.map(|v| ("--values", v)).into_iter().collect::<Vec<_>>(),
    );
    (rendered.ok, rendered.stderr)
}

fn expect_error(template: &Path, values: Option<&str>, expected: &[&str]) {
    let (ok, stderr) = render(template, values);
    assert!(!ok, "expected a failure, got success");
    for part in expected {
        assert!(stderr.contains(part), "stderr should mention {part:?}:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

const HEAD: &str = "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: t\nspec:\n  type: service\n";

/// Steps that render `./skeleton` and nothing more.
const FETCH_SKELETON: &str =
    "  steps:\n    - id: fetch\n      action: fetch:template\n      input:\n        url: ./skeleton\n";

/// Renders a template whose steps are [`FETCH_SKELETON`], with `files`
/// beside it, and expects it to fail naming each of `expected`.
fn expect_skeleton_error(files: &[(&str, &str)], expected: &[&str]) {
    let dir = template_dir(&format!("{HEAD}{FETCH_SKELETON}"), files);
    expect_error(&dir.path().join("template.yaml"), None, expected);
}

#[test]
fn a_missing_template_file() {
    expect_error(
        Path::new("/nonexistent/template.yaml"),
        None,
        &["cannot read /nonexistent/template.yaml"],
    );
}

#[test]
fn invalid_yaml_names_the_file_and_line() {
    let dir = template_dir("kind: Template\n  bad: [", &[]);
    expect_error(
        &dir.path().join("template.yaml"),
        None,
        &["template.yaml: invalid YAML", "line"],
    );
}

#[test]
fn parameters_failing_the_schema_name_each_field() {
    let dir = template_dir(
        &format!(
            "{HEAD}  parameters:\n    required: [name]\n    properties:\n      name: {{ type: string, pattern: '^[a-z]+$' }}\n      size: {{ type: string, enum: [s, m] }}\n  steps: []\n"
        ),
        &[],
    );
    expect_error(
        &dir.path().join("template.yaml"),
        Some("size: xl\n"),
        &[
            "parameters.name: is required",
            "parameters.size: must be one of: s, m",
        ],
    );
}

#[test]
fn render_shows_a_step_of_an_unknown_action_as_not_run_and_scaffold_refuses_it() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton, values: {{name: svc}}}}\n    \
             - id: deploy\n      action: acme:deploy\n      input:\n        target: \"${{{{ parameters.env }}}}-cluster\"\n    \
             - id: log\n      action: debug:log\n      input: {{message: after}}\n"
        ),
        &[("skeleton/README.md", "# ${{ values.name }}\n")],
    );
    let template = dir.path().join("template.yaml");
    let rendered = render_with(&template, &[("--values", "env: prod\n")]);
    assert!(rendered.ok, "{}{}", rendered.stdout, rendered.stderr);
    assert!(
        rendered
            .stdout
            .contains(" 2. deploy (acme:deploy): not run: goldpath does not know this action\n      target: prod-cluster\n"),
        "{}",
        rendered.stdout
    );
    assert!(
        rendered.stdout.contains(" 3. log (debug:log): done"),
        "{}",
        rendered.stdout
    );
    let readme = std::fs::read_to_string(rendered.out.path().join("out/README.md")).unwrap();
    assert_eq!(readme, "# svc\n");

    let (ok, _, stderr, _) = scaffold(&template, &[]);
    assert!(!ok, "scaffold ran an unknown action");
    assert!(
        stderr.contains("step deploy: unknown action \"acme:deploy\""),
        "{stderr}"
    );
}

#[test]
fn a_syntax_error_in_a_skeleton_file_names_the_file_and_line() {
    expect_skeleton_error(
        &[(
            "skeleton/README.md",
            "# title\n\n{% if values.x %}\nnever closed\n",
        )],
        &["step fetch", "skeleton/README.md", "line"],
    );
}

#[test]
fn text_nunjucks_cannot_parse_in_a_step_input_or_the_output_is_kept_as_written_with_a_warning() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: log\n      action: debug:log\n      input:\n        message: \"${{{{ parameters.a || 'x' }}}}\"\n  \
             output:\n    text:\n      - content: \"see ${{{{ parameters.name | }}}}\"\n"
        ),
        &[],
    );
    let template = dir.path().join("template.yaml");
    let rendered = render_with(&template, &[]);
    assert!(rendered.ok, "{}{}", rendered.stdout, rendered.stderr);
    assert!(
        rendered.stdout.contains("${{ parameters.a ||"),
        "{}",
        rendered.stdout
    );
    for location in ["step log: input.message", "output.text[0].content"] {
        let warning = format!("warning: {}: {location}", template.display());
        assert!(
            rendered.stderr.contains(&warning),
            "{warning}:\n{}",
            rendered.stderr
        );
    }
    assert!(rendered.stderr.contains("used as written"), "{}", rendered.stderr);
    let strict = render_args(&template, &[], &["--strict"]);
    assert!(
        !strict.ok && strict.stderr.contains("step log: input.message"),
        "{}",
        strict.stderr
    );
}

#[test]
fn a_rendered_path_that_leaves_the_workspace_is_refused() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input:\n        url: ./skeleton\n        values:\n          dir: ../../etc\n"
        ),
        &[("skeleton/${{ values.dir }}/passwd", "x")],
    );
    expect_error(
        &dir.path().join("template.yaml"),
        None,
        &["skeleton/${{ values.dir }}/passwd", "leaves the workspace"],
    );
}

#[test]
fn a_target_path_that_leaves_the_workspace_is_refused() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:plain\n      input:\n        url: ./skeleton\n        targetPath: /etc\n"
        ),
        &[("skeleton/a.txt", "x")],
    );
    expect_error(
        &dir.path().join("template.yaml"),
        None,
        &["input.targetPath", "absolute"],
    );
}

#[test]
fn a_template_that_loops_too_long_runs_out_of_fuel() {
    expect_skeleton_error(
        &[(
            "skeleton/big.txt",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        )],
        &["skeleton/big.txt", "rendering stopped after", "loop"],
    );
}

#[test]
fn a_template_that_produces_too_much_is_stopped() {
    expect_skeleton_error(
        &[(
            "skeleton/big.txt",
            "{% for i in range(1000) %}${{ '' | center(100000) }}{% endfor %}",
        )],
        &["skeleton/big.txt", "bytes of output"],
    );
}

#[test]
fn templates_cannot_include_other_files() {
    expect_skeleton_error(
        &[("skeleton/a.txt", "{% include '/etc/passwd' %}")],
        &["skeleton/a.txt", "/etc/passwd"],
    );
}

#[test]
fn a_request_file_supplies_its_parameters() {
    let dir = template_dir(
        &format!(
            "{HEAD}  parameters:\n    required: [name]\n    properties:\n      name: {{ type: string }}\n  steps:\n    - id: write\n      action: catalog:write\n      input:\n        entity:\n          name: ${{{{ parameters.name }}}}\n"
        ),
        &[],
    );
    let request = "apiVersion: goldpath.dev/v1alpha1\nkind: ScaffoldRequest\nmetadata:\n  name: r\nspec:\n  templateRef:\n    name: t\n  parameters:\n    name: from-request\n";
    let rendered = render_with(&dir.path().join("template.yaml"), &[("--values", request)]);
    assert!(rendered.ok, "{}", rendered.stderr);
    let written = std::fs::read_to_string(rendered.out.path().join("out/catalog-info.yaml")).unwrap();
    assert_eq!(written, "name: from-request\n");
}

#[test]
fn secrets_are_usable_in_secret_inputs_and_never_printed() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: publish\n      action: publish:github\n      input:\n        repoUrl: github.com?owner=o&repo=r\n        token: ${{{{ secrets.token }}}}\n"
        ),
        &[],
    );
    let rendered = render_with(
        &dir.path().join("template.yaml"),
        &[("--secrets", "token: hunter2-very-secret\n")],
    );
    let stdout = &rendered.stdout;
    assert!(rendered.ok, "{}", rendered.stderr);
    assert!(
        stdout.contains("token: '***'") || stdout.contains("token: \"***\""),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"), "{stdout}");
}

#[test]
fn a_secret_anywhere_but_a_secret_input_is_refused_naming_step_and_field() {
    let log = |input: &str| format!("{HEAD}  steps:\n    - id: log\n      action: debug:log\n{input}");
    // (template, skeleton files, what the error names)
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            log("      input:\n        message: \"${{ secrets.token | upper }}\"\n"),
            vec![],
            vec![
                "step log: input.message: uses ${{ secrets }}",
                "debug:log has no secret inputs",
            ],
        ),
        (
            log("      input:\n        message: \"{% for c in secrets.token %}{{ c }}{% endfor %}\"\n"),
            vec![],
            vec!["step log: input.message"],
        ),
        (
            log("      if: \"${{ secrets.token == 'x' }}\"\n      input: {message: hi}\n"),
            vec![],
            vec!["step log: if: uses ${{ secrets }}", "a step's if is never secret"],
        ),
        (
            log("      input:\n        message: \"${{ debug() }}\"\n"),
            vec![],
            vec!["step log: input.message: debug() prints every value"],
        ),
        (
            format!(
                "{HEAD}  steps:\n    - id: publish\n      action: publish:github\n      input:\n        repoUrl: \"github.com?owner=o&repo=${{{{ secrets.token }}}}\"\n"
            ),
            vec![],
            vec![
                "step publish: input.repoUrl",
                "publish:github declares secret only input.token",
            ],
        ),
        (
            format!(
                "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input:\n        url: ./skeleton\n        values: {{t: \"${{{{ secrets.token | trim }}}}\"}}\n"
            ),
            vec![("skeleton/README.md", "${{ values.t }}\n")],
            vec!["step fetch: input.values.t: uses ${{ secrets }}"],
        ),
        (
            format!(
                "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n"
            ),
            vec![("skeleton/notes.txt", "${{ secrets.token }}\n")],
            vec!["step fetch: skeleton/notes.txt: skeleton files see only values"],
        ),
        (
            format!(
                "{HEAD}  steps: []\n  output:\n    links:\n      - {{title: x, url: \"https://x/?t=${{{{ secrets.token | urlencode }}}}\"}}\n"
            ),
            vec![],
            vec!["output.links[0].url: uses ${{ secrets }}"],
        ),
    ];
    for (template, files, expected) in cases {
        let dir = template_dir(&template, &files);
        expect_error(&dir.path().join("template.yaml"), None, &expected);
    }
}

#[test]
fn files_copied_without_templating_are_not_parsed() {
    let workflow = "on: push\njobs:\n  build:\n    if: ${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}\n";
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input:\n        url: ./skeleton\n        copyWithoutTemplating: [.github/workflows/*]\n"
        ),
        &[("skeleton/.github/workflows/ci.yaml", workflow)],
    );
    let rendered = render_with(&dir.path().join("template.yaml"), &[]);
    assert!(rendered.ok, "{}", rendered.stderr);
    let copied = std::fs::read_to_string(rendered.out.path().join("out/.github/workflows/ci.yaml")).unwrap();
    assert_eq!(copied, workflow);
}

#[test]
fn the_user_is_who_the_command_line_names() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: write\n      action: catalog:write\n      input:\n        entity:\n          ref: ${{{{ user.ref }}}}\n          name: ${{{{ user.entity.metadata.name }}}}\n"
        ),
        &[],
    );
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_goldpath"))
        .args(["render", "--user", "jane"])
        .arg(dir.path().join("template.yaml"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let written = std::fs::read_to_string(out.path().join("catalog-info.yaml")).unwrap();
    assert_eq!(written, "ref: user:default/jane\nname: jane\n");
}

#[test]
fn scaffold_refuses_a_repo_url_whose_names_would_leave_the_repositories_directory() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n    - id: publish\n      action: publish:github\n      input:\n        repoUrl: \"github.com?owner=%2E%2E&repo=escaped\"\n"
        ),
        &[("skeleton/README.md", "# hi\n")],
    );
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_goldpath"))
        .arg("scaffold")
        .arg(dir.path().join("template.yaml"))
        .arg("--out")
        .arg(out.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("step publish") && stderr.contains("owner \"..\" is not a valid name"),
        "{stderr}"
    );
    // `repos/github.com/../escaped.git` would have been `repos/escaped.git`.
    assert!(!out.path().join("out/repos/escaped.git").exists());
    assert!(!out.path().join("out/repos/github.com/escaped.git").exists());
}

#[test]
fn an_input_publish_gitea_does_not_take_is_refused_naming_the_step_and_input() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: publish\n      action: publish:gitea\n      input:\n        repoUrl: \"gitea.test?owner=acme&repo=app\"\n        repoVisability: private\n"
        ),
        &[],
    );
    expect_error(
        &dir.path().join("template.yaml"),
        None,
        &[
            "step publish: input.repoVisability is not an input of publish:gitea",
            "repoVisibility",
        ],
    );
}

#[test]
fn render_refuses_an_unknown_input_of_any_known_action_and_shows_unknown_actions_as_not_run() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input:\n        url: ./skeleton\n        valuez: {{name: svc}}\n    \
             - id: deploy\n      action: acme:deploy\n      input: {{anything: goes}}\n    \
             - id: register\n      action: catalog:register\n      input:\n        catalogInfoUrl: https://x/catalog-info.yaml\n        optionl: true\n"
        ),
        &[("skeleton/README.md", "# hi\n")],
    );
    expect_error(
        &dir.path().join("template.yaml"),
        None,
        &[
            "step fetch: input.valuez is not an input of fetch:template; it takes ",
            "step register: input.optionl is not an input of catalog:register",
        ],
    );
    let (_, stderr) = render(&dir.path().join("template.yaml"), None);
    assert!(
        !stderr.contains("acme:deploy"),
        "an unknown action is no error in render: {stderr}"
    );
}

#[test]
fn every_input_of_backstages_publish_gitlab_is_known() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n    - id: publish\n      action: publish:gitlab\n      input:\n        repoUrl: \"gitlab.com?owner=g&repo=p\"\n        repoVisibility: private\n        defaultBranch: main\n        gitCommitMessage: m\n        gitAuthorName: n\n        gitAuthorEmail: e@example.com\n        signCommit: false\n        sourcePath: true\n        skipExisting: false\n        setUserAsOwner: false\n        topics: [a]\n        settings: {{visibility: private}}\n        branches: [{{name: main, protect: true}}]\n        projectVariables: [{{key: K, value: v}}]\n"
        ),
        &[("skeleton/README.md", "# hi\n")],
    );
    // Rendered, the step is not run: where its host's type decides what
    // it may take, it is checked when it runs (unit tests of publish:gitlab).
    let rendered = render_with(&dir.path().join("template.yaml"), &[]);
    assert!(rendered.ok, "{}", rendered.stderr);
    assert!(
        !rendered.stderr.contains("is not an input of"),
        "{}",
        rendered.stderr
    );
}

const GITEA_PUBLISH: &str = "    - id: fetch\n      action: fetch:template\n      input: {url: ./skeleton}\n    - id: publish\n      action: publish:gitea\n      input:\n        repoUrl: \"gitea.test?owner=acme&repo=app\"\n        description: The app\n        repoVisibility: private\n        defaultBranch: trunk\n        topics: [web]\n        collaborators: [{user: alice, access: pull}]\n        protectDefaultBranch: true\n";

fn scaffold(template: &Path, args: &[&str]) -> (bool, String, String, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_goldpath"))
        .arg("scaffold")
        .arg(template)
        .arg("--out")
        .arg(out.path().join("out"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        out,
    )
}

#[test]
fn scaffold_publishes_gitea_steps_to_a_local_repository_and_prints_api_calls_only_when_asked() {
    let dir = template_dir(
        &format!("{HEAD}  steps:\n{GITEA_PUBLISH}"),
        &[("skeleton/README.md", "# app\n")],
    );
    let template = dir.path().join("template.yaml");
    let (ok, stdout, stderr, out) = scaffold(&template, &[]);
    assert!(ok, "{stderr}");
    assert!(!stdout.contains("forge:"), "{stdout}");
    let repo = git2::Repository::open_bare(out.path().join("out/repos/gitea.test/acme/app.git")).unwrap();
    assert!(repo.find_reference("refs/heads/trunk").is_ok());

    let (ok, stdout, stderr, out) = scaffold(&template, &["--forge-dry-run"]);
    assert!(ok, "{stderr}");
    // Method and URL of each call; the push's URL and branch.
    let calls: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("forge: "))
        .map(|line| {
            let words = if line.starts_with("git ") { 4 } else { 2 };
            line.split(' ').take(words).collect::<Vec<_>>().join(" ")
        })
        .collect();
    let api = "https://gitea.test/api/v1";
    assert_eq!(
        calls,
        [
            format!("GET {api}/repos/acme/app"),
            format!("POST {api}/orgs/acme/repos"),
            format!(
                "git push file://{}/out/repos/gitea.test/acme/app.git trunk",
                out.path().display()
            ),
            format!("PUT {api}/repos/acme/app/topics"),
            format!("PUT {api}/repos/acme/app/collaborators/alice"),
            format!("GET {api}/repos/acme/app/branch_protections/trunk"),
            format!("POST {api}/repos/acme/app/branch_protections"),
        ]
    );
    assert!(stdout.contains(r#""private":true"#), "{stdout}");
}

#[test]
fn scaffold_prints_a_gitlab_publishs_api_calls_when_asked() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n    - id: publish\n      action: publish:gitlab\n      input:\n        repoUrl: \"gitlab.com?owner=platform/team&repo=app\"\n        topics: [web]\n        settings: {{visibility: internal, merge_method: ff}}\n        branches: [{{name: main, protect: true}}]\n"
        ),
        &[("skeleton/README.md", "# app\n")],
    );
    let (ok, stdout, stderr, out) = scaffold(&dir.path().join("template.yaml"), &["--forge-dry-run"]);
    assert!(ok, "{stderr}");
    let calls: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("forge: "))
        .map(|line| {
            let words = if line.starts_with("git ") { 4 } else { 2 };
            line.split(' ').take(words).collect::<Vec<_>>().join(" ")
        })
        .collect();
    let project = "https://gitlab.com/api/v4/projects/platform%2Fteam%2Fapp";
    assert_eq!(
        calls,
        [
            format!("GET {project}"),
            "GET https://gitlab.com/api/v4/namespaces/platform%2Fteam".to_string(),
            "POST https://gitlab.com/api/v4/projects".to_string(),
            format!(
                "git push file://{}/out/repos/gitlab.com/platform/team/app.git main",
                out.path().display()
            ),
            format!("PUT {project}"),
            format!("PUT {project}"),
            format!("GET {project}/protected_branches/main"),
            format!("POST {project}/protected_branches"),
            format!("GET {project}"),
        ]
    );
    assert!(stdout.contains(r#""visibility":"internal""#), "{stdout}");
}

#[test]
fn scaffold_refuses_what_publish_gitea_cannot_honour() {
    for (input, expected) in [
        (
            "repoVisibility: internal",
            "input.repoVisibility: \"internal\" is not public or private",
        ),
        (
            "signCommit: true",
            "input.signCommit: goldpath does not sign commits",
        ),
        ("collaborators: [{team: devs}]", "input.collaborators[0].team"),
        (
            "collaborators: [{user: bob, access: triage}]",
            "\"triage\" is not pull, push or admin",
        ),
        (
            "requiredApprovingReviewCount: 99",
            "input.requiredApprovingReviewCount must be from 0 to 6, not 99",
        ),
    ] {
        let dir = template_dir(
            &format!(
                "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n    - id: publish\n      action: publish:gitea\n      input:\n        repoUrl: \"gitea.test?owner=acme&repo=app\"\n        {input}\n"
            ),
            &[("skeleton/README.md", "# app\n")],
        );
        let (ok, _, stderr, out) = scaffold(&dir.path().join("template.yaml"), &[]);
        assert!(!ok, "{input}: expected a failure");
        assert!(
            stderr.contains("step publish") && stderr.contains(expected),
            "{input}: {stderr}"
        );
        assert!(
            !out.path().join("out/repos/gitea.test/acme/app.git").exists(),
            "{input}"
        );
    }
}

/// Runs goldpath with `args`; returns (exit code, stderr).
fn goldpath(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_goldpath"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Runs `goldpath scaffold` of a template into `out`.
fn scaffold_into(template: &Path, out: &Path) -> (Option<i32>, String) {
    goldpath(&[
        "scaffold".as_ref(),
        template.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
}

/// Every file below `dir`, relative to it.
fn files_below(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                found.push(entry.path().strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[test]
fn scaffold_writes_nothing_outside_out() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("deep/er/out");
    let skeleton = [("skeleton/a.txt", "a")];
    for (step, expected) in [
        (
            "action: kubernetes:apply\n      input:\n        manifest:\n          apiVersion: v1\n          kind: ConfigMap\n          metadata:\n            name: ../../../../escaped",
            "input.manifest: metadata.name \"../../../../escaped\" is not a Kubernetes name",
        ),
        (
            "action: kubernetes:apply\n      input:\n        manifest:\n          apiVersion: v1\n          kind: ../../../../escaped\n          metadata:\n            name: n",
            "input.manifest: kind \"../../../../escaped\" is not a Kubernetes name",
        ),
    ] {
        let dir = template_dir(
            &format!(
                "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input:\n        url: ./skeleton\n    - id: out\n      {step}\n"
            ),
            &skeleton,
        );
        let (code, stderr) = scaffold_into(&dir.path().join("template.yaml"), &out);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("step out ("), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        let outside: Vec<String> = files_below(root.path())
            .into_iter()
            .filter(|f| !f.starts_with("deep/er/out/"))
            .collect();
        assert!(outside.is_empty(), "written outside --out: {outside:?}");
    }
}

#[cfg(unix)]
#[test]
fn a_symlink_from_an_earlier_render_is_not_written_through() {
    let root = tempfile::tempdir().unwrap();
    let outside = root.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let fetch = format!("{HEAD}{FETCH_SKELETON}");
    let first = template_dir(&fetch, &[]);
    std::fs::create_dir(first.path().join("skeleton")).unwrap();
    std::os::unix::fs::symlink(&outside, first.path().join("skeleton/link")).unwrap();
    let second = template_dir(&fetch, &[("skeleton/link/planted.txt", "planted")]);
    let out = root.path().join("out");
    for template in [&first, &second] {
        let (code, stderr) = goldpath(&[
            "render".as_ref(),
            template.path().join("template.yaml").as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        assert_eq!(code, Some(0), "{stderr}");
    }
    assert!(files_below(&outside).is_empty(), "written through the symlink");
    assert_eq!(
        std::fs::read_to_string(out.join("link/planted.txt")).unwrap(),
        "planted"
    );
}

#[test]
fn catalog_write_to_a_directory_names_the_step_and_field() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: write\n      action: catalog:write\n      input:\n        filePath: .\n        entity:\n          kind: Component\n"
        ),
        &[],
    );
    expect_error(
        &dir.path().join("template.yaml"),
        None,
        &[
            "step write (catalog:write)",
            "input.filePath: \".\" names a directory of the workspace",
        ],
    );
}

#[test]
fn scaffold_proposes_a_pull_request_branch_on_a_local_repository_and_prints_its_api_calls() {
    let repos = tempfile::tempdir().unwrap();
    let repos_arg = repos.path().to_str().unwrap();
    let first = template_dir(
        &format!("{HEAD}  steps:\n{GITEA_PUBLISH}"),
        &[("skeleton/README.md", "# app\n")],
    );
    let (ok, _, stderr, _out) = scaffold(&first.path().join("template.yaml"), &["--repos", repos_arg]);
    assert!(ok, "{stderr}");
    let change = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n    - id: propose\n      action: publish:gitea:pull-request\n      input:\n        repoUrl: \"gitea.test?owner=acme&repo=app\"\n        branchName: add-docs\n        title: Add docs\n        description: More docs\n        targetPath: docs\n        draft: true\n        reviewers: [alice]\n"
        ),
        &[("skeleton/index.md", "# docs\n")],
    );
    let (ok, stdout, stderr, _out) = scaffold(
        &change.path().join("template.yaml"),
        &["--repos", repos_arg, "--forge-dry-run"],
    );
    assert!(ok, "{stderr}");
    let repo = git2::Repository::open_bare(repos.path().join("gitea.test/acme/app.git")).unwrap();
    let tip = repo
        .find_reference("refs/heads/add-docs")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    let base = repo
        .find_reference("refs/heads/trunk")
        .unwrap()
        .peel_to_commit()
        .unwrap();
    assert_eq!(tip.parent_id(0).unwrap(), base.id());
    let tree = tip.tree().unwrap();
    assert!(
        tree.get_path(Path::new("README.md")).is_ok(),
        "the base's files stay"
    );
    assert!(
        tree.get_path(Path::new("docs/index.md")).is_ok(),
        "the change is under targetPath"
    );

    let api = "https://gitea.test/api/v1/repos/acme/app";
    let calls: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("forge: "))
        .map(|line| line.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        calls,
        [
            format!("GET {api}"),
            "git push".to_string(),
            format!("GET {api}/pulls/trunk/add-docs"),
            format!("POST {api}/pulls"),
            format!("POST {api}/pulls/0/requested_reviewers"),
        ]
    );
    assert!(stdout.contains(r#""title":"WIP: Add docs""#), "{stdout}");

    let missing = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n    - id: propose\n      action: publish:gitea:pull-request\n      input:\n        repoUrl: \"gitea.test?owner=acme&repo=nothing\"\n        branchName: b\n        title: t\n        description: d\n"
        ),
        &[("skeleton/index.md", "# docs\n")],
    );
    let (ok, _, stderr, _out) = scaffold(&missing.path().join("template.yaml"), &["--repos", repos_arg]);
    assert!(!ok);
    assert!(
        stderr.contains("step propose") && stderr.contains("acme/nothing does not exist"),
        "{stderr}"
    );
}

const GITHUB_PUBLISH: &str = "    - id: fetch\n      action: fetch:template\n      input: {url: ./skeleton}\n    - id: publish\n      action: publish:github\n      input:\n        repoUrl: \"github.com?owner=acme&repo=app\"\n        description: The app\n        homepage: https://app.example\n        repoVisibility: internal\n        topics: [web]\n        collaborators: [{user: alice, access: triage}, {team: ops, access: maintain}]\n        hasWiki: false\n        requiredStatusCheckContexts: [ci]\n        requiredCommitSigning: true\n";

#[test]
fn scaffold_prints_the_github_api_calls_of_a_publish_and_a_pull_request() {
    let repos = tempfile::tempdir().unwrap();
    let repos_arg = repos.path().to_str().unwrap();
    let first = template_dir(
        &format!("{HEAD}  steps:\n{GITHUB_PUBLISH}"),
        &[("skeleton/README.md", "# app\n")],
    );
    let (ok, stdout, stderr, _out) = scaffold(
        &first.path().join("template.yaml"),
        &["--repos", repos_arg, "--forge-dry-run"],
    );
    assert!(ok, "{stderr}");
    let calls = |stdout: &str| -> Vec<String> {
        stdout
            .lines()
            .filter_map(|line| line.strip_prefix("forge: "))
            .map(|line| line.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect()
    };
    let api = "https://api.github.com";
    assert_eq!(
        calls(&stdout),
        [
            format!("GET {api}/repos/acme/app"),
            format!("POST {api}/orgs/acme/repos"),
            "git push".to_string(),
            format!("PUT {api}/repos/acme/app/topics"),
            format!("PUT {api}/repos/acme/app/collaborators/alice"),
            format!("PUT {api}/orgs/acme/teams/ops/repos/acme/app"),
            format!("PUT {api}/repos/acme/app/branches/main/protection"),
            format!("POST {api}/repos/acme/app/branches/main/protection/required_signatures"),
        ]
    );
    for expected in [
        r#""visibility":"internal""#,
        r#""has_wiki":false"#,
        r#""permission":"triage""#,
        r#""contexts":["ci"]"#,
    ] {
        assert!(stdout.contains(expected), "{expected} in {stdout}");
    }
    assert!(repos.path().join("github.com/acme/app.git").exists());

    let change = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n    - id: propose\n      action: publish:github:pull-request\n      input:\n        repoUrl: \"github.com?owner=acme&repo=app\"\n        branchName: add-docs\n        title: Add docs\n        description: More docs\n        draft: true\n        teamReviewers: [ops]\n"
        ),
        &[("skeleton/index.md", "# docs\n")],
    );
    let (ok, stdout, stderr, _out) = scaffold(
        &change.path().join("template.yaml"),
        &["--repos", repos_arg, "--forge-dry-run"],
    );
    assert!(ok, "{stderr}");
    assert_eq!(
        calls(&stdout),
        [
            format!("GET {api}/repos/acme/app"),
            "git push".to_string(),
            format!("GET {api}/repos/acme/app/pulls?state=open&head=acme%3Aadd-docs&base=main&per_page=1"),
            format!("POST {api}/repos/acme/app/pulls"),
            format!("POST {api}/repos/acme/app/pulls/0/requested_reviewers"),
        ]
    );
    // GitHub marks a draft by its flag, not by the title.
    assert!(stdout.contains(r#""draft":true"#), "{stdout}");
    assert!(stdout.contains(r#""title":"Add docs""#), "{stdout}");
}

#[test]
fn what_publish_github_cannot_honour_is_refused_naming_the_step_and_input() {
    for (input, expected) in [
        (
            "repoVisability: private",
            "step publish: input.repoVisability is not an input of publish:github",
        ),
        (
            "secrets: {A: b}",
            "input.secrets: goldpath does not set Actions secrets",
        ),
    ] {
        let dir = template_dir(
            &format!(
                "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n    - id: publish\n      action: publish:github\n      input:\n        repoUrl: \"github.com?owner=acme&repo=app\"\n        {input}\n"
            ),
            &[("skeleton/README.md", "# app\n")],
        );
        let (ok, _, stderr, out) = scaffold(&dir.path().join("template.yaml"), &[]);
        assert!(!ok, "{input}");
        assert!(stderr.contains(expected), "{input}: {stderr}");
        assert!(
            !out.path().join("out/repos/github.com/acme/app.git").exists(),
            "{input}"
        );
    }
}

#[test]
fn a_repeated_step_id_renders_with_a_warning_and_fails_with_strict() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./a}}\n    \
             - id: fetch\n      action: fetch:template\n      input: {{url: ./b}}\n"
        ),
        &[("a/one.txt", "one\n"), ("b/two.txt", "two\n")],
    );
    let template = dir.path().join("template.yaml");
    let rendered = render_args(&template, &[], &[]);
    assert!(rendered.ok, "{}{}", rendered.stdout, rendered.stderr);
    let warning = format!(
        "warning: {}: step fetch: the id \"fetch\" is also an earlier step's",
        template.display()
    );
    assert!(rendered.stderr.contains(&warning), "{}", rendered.stderr);
    assert_eq!(rendered.stderr.lines().count(), 1, "{}", rendered.stderr);
    let out = rendered.out.path().join("out");
    assert!(out.join("one.txt").exists() && out.join("two.txt").exists());

    let strict = render_args(&template, &[], &["--strict"]);
    assert!(!strict.ok, "--strict passed:\n{}", strict.stdout);
    assert!(
        strict.stderr.contains("warnings are errors with --strict")
            && strict.stderr.contains("step fetch: the id \"fetch\""),
        "{}",
        strict.stderr
    );
    assert!(!strict.out.path().join("out").exists(), "--strict wrote files");
}

#[test]
fn a_required_input_left_out_is_refused_naming_the_step_and_input() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: publish\n      action: publish:github\n      input:\n        description: no repository named\n"
        ),
        &[],
    );
    expect_error(
        &dir.path().join("template.yaml"),
        None,
        &["step publish: input.repoUrl is required by publish:github"],
    );
}

#[test]
fn scaffold_fetches_several_entities_as_the_cluster_does() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n    - id: publish\n      action: publish:git\n      input: {{repoUrl: \"local.test?owner=acme&repo=web\"}}\n    - id: register\n      action: catalog:register\n      input: {{repoContentsUrl: \"${{{{ steps.publish.output.repoContentsUrl }}}}\"}}\n    - id: read\n      action: catalog:fetch\n      input: {{entityRefs: [\"component:web\", \"component:missing\"], optional: true}}\n  output:\n    links:\n      - title: fetched\n        url: \"${{{{ steps.read.output.entities[0].metadata.name }}}}/${{{{ steps.read.output.entities | length }}}}\"\n"
        ),
        &[(
            "skeleton/catalog-info.yaml",
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: web\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n",
        )],
    );
    let (ok, stdout, stderr, _out) = scaffold(&dir.path().join("template.yaml"), &[]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("fetched: web/2"), "{stdout}");
}

/// A set of templates sharing a skeleton two levels up, as in
/// `templates/service/template.yaml` with `url: ../../skeletons/shared`.
fn template_set() -> tempfile::TempDir {
    let set = template_dir(
        "unused: true\n",
        &[
            ("skeletons/shared/catalog-info.yaml", "name: ${{ values.name }}\n"),
            (
                "templates/service/template.yaml",
                &format!(
                    "{HEAD}  steps:\n    - id: shared\n      action: fetch:template\n      input:\n        url: ../../skeletons/shared\n        values:\n          name: svc\n"
                ),
            ),
        ],
    );
    std::fs::remove_file(set.path().join("template.yaml")).unwrap();
    set
}

#[test]
fn a_fetch_url_may_climb_above_the_template_up_to_the_root() {
    let set = template_set();
    let template = set.path().join("templates/service/template.yaml");
    let root = set.path().to_str().unwrap();
    let rendered = render_args(&template, &[], &["--root", root]);
    assert!(rendered.ok, "{}", rendered.stderr);
    let written = std::fs::read_to_string(rendered.out.path().join("out/catalog-info.yaml")).unwrap();
    assert_eq!(written, "name: svc\n");

    // The root defaults to the git work tree the template is in.
    std::fs::create_dir(set.path().join(".git")).unwrap();
    let rendered = render_args(&template, &[], &[]);
    assert!(rendered.ok, "{}", rendered.stderr);
    assert!(rendered.out.path().join("out/catalog-info.yaml").exists());
}

#[test]
fn a_fetch_url_may_not_climb_above_the_root() {
    let set = template_set();
    let template = set.path().join("templates/service/template.yaml");
    // Without a git work tree the root is the template's directory.
    let rendered = render_args(&template, &[], &[]);
    assert!(!rendered.ok);
    assert!(
        rendered
            .stderr
            .contains("step shared: input.url \"../../skeletons/shared\" climbs above the root"),
        "{}",
        rendered.stderr
    );
    let below = set.path().join("templates").to_str().unwrap().to_string();
    let rendered = render_args(&template, &[], &["--root", &below]);
    assert!(!rendered.ok);
    assert!(
        rendered.stderr.contains("climbs above the root"),
        "{}",
        rendered.stderr
    );
    // A root the template is not inside is refused.
    let elsewhere = tempfile::tempdir().unwrap();
    let rendered = render_args(&template, &[], &["--root", elsewhere.path().to_str().unwrap()]);
    assert!(!rendered.ok);
    assert!(
        rendered.stderr.contains("the template is not inside --root"),
        "{}",
        rendered.stderr
    );
}

#[test]
fn scaffold_strict_stops_at_a_warning_before_any_step_reaches_outside() {
    let dir = template_dir(
        &format!(
            "{HEAD}  steps:\n    - id: fetch\n      action: fetch:template\n      input: {{url: ./skeleton}}\n    - id: publish\n      action: publish:git\n      input:\n        repoUrl: local.test?owner=acme&repo=web\n        description: \"${{{{ parameters.count + 1 }}}}\"\n"
        ),
        &[("skeleton/README.md", "# web\n")],
    );
    let template = dir.path().join("template.yaml");
    let (ok, _, stderr, out) = scaffold(&template, &["--strict"]);
    assert!(!ok, "{stderr}");
    assert!(stderr.contains("warnings are errors with --strict"), "{stderr}");
    assert!(stderr.contains("steps[publish].input.description"), "{stderr}");
    assert!(!out.path().join("out/repos").join("local.test").exists());

    // Without --strict the same template runs, and the warning is printed.
    let (ok, _, stderr, out) = scaffold(&template, &[]);
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains("warning: ") && stderr.contains("steps[publish].input.description"),
        "{stderr}"
    );
    assert!(out.path().join("out/repos/local.test/acme/web.git").exists());
}

#[test]
fn debug_wait_sleeps_in_scaffold_is_not_run_by_render_and_is_bounded() {
    let wait = |input: &str| {
        template_dir(
            &format!("{HEAD}  steps:\n    - id: pause\n      action: debug:wait\n      input: {input}\n"),
            &[],
        )
    };
    let dir = wait("{seconds: 0.2, milliseconds: 100}");
    let template = dir.path().join("template.yaml");
    let started = std::time::Instant::now();
    let (ok, stdout, stderr, _out) = scaffold(&template, &[]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("pause (debug:wait): done"), "{stdout}");
    // A lower bound only: a loaded machine may take longer, never shorter.
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));

    let rendered = render_args(&template, &[], &[]);
    assert!(rendered.ok, "{}", rendered.stderr);
    assert!(
        rendered.stdout.contains("pause (debug:wait): not run: it waits"),
        "{}",
        rendered.stdout
    );

    // Past Backstage's ten minutes the step fails at once, naming the bound.
    let dir = wait("{minutes: 10, seconds: 1}");
    let (ok, _, stderr, _out) = scaffold(&dir.path().join("template.yaml"), &[]);
    assert!(!ok);
    assert!(stderr.contains("longer than the maximum of 600s"), "{stderr}");
    let dir = wait("{seconds: -1}");
    let (ok, _, stderr, _out) = scaffold(&dir.path().join("template.yaml"), &[]);
    assert!(!ok);
    assert!(
        stderr.contains("input.seconds must be a number of zero or more"),
        "{stderr}"
    );
}

#[test]
fn readmes_action_reference_is_what_goldpath_actions_prints() {
    let output = Command::new(env!("CARGO_BIN_EXE_goldpath"))
        .arg("actions")
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let (_, rest) = readme.split_once("<!-- actions:begin -->\n").unwrap();
    let (listed, _) = rest.split_once("<!-- actions:end -->").unwrap();
    assert!(
        listed == printed,
        "README.md's action reference differs from `goldpath actions`; regenerate it with `make readme`"
    );
    assert!(printed.contains("#### `publish:gitea`\n"), "{printed}");
}

#[test]
fn a_step_timeout_that_does_not_read_is_refused_naming_the_step() {
    for (timeout, says) in [
        ("10 minutes", "timeout \"10 minutes\" has ' '"),
        ("45d", "longer than the maximum of 30d"),
    ] {
        let dir = template_dir(
            &format!(
                "{HEAD}  steps:\n    - id: settle\n      action: debug:wait\n      timeout: {timeout}\n      input:\n        seconds: 1\n"
            ),
            &[],
        );
        expect_error(&dir.path().join("template.yaml"), None, &["step settle: ", says]);
    }
}
