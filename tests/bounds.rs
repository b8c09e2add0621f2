//! Every class of input that could exhaust goldpath (a filter or operator
//! that multiplies, a whole-expression value that grows as JSON, a huge
//! `each`, deeply nested YAML, deeply nested parameters, a catalog file
//! with a YAML mistake, a Template git source that expands to a billion
//! paths or nests thousands deep, a repository `goldpath upgrade` merges
//! into or a template revision it reads that does the same) is refused with
//! a clear error, exit code
//! 1, in under 2 s of CPU and 100 MB of RSS. Each
//! case runs the goldpath binary under a virtual memory limit, and its
//! figures come from the kernel's accounting of that one process (CPU
//! time, not wall time, so a loaded machine does not fail the test). The
//! kernel counts into a new process's peak RSS its parent's at the fork,
//! so the RSS figure is an upper bound of goldpath's own.

// Tests report failures by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use git2::{Oid, Repository, Signature};

/// The address space each run may use: far above what a bounded run needs,
/// far below what an unbounded one takes.
const MEMORY_LIMIT_KB: u64 = 1 << 20;
const MAX_CPU: Duration = Duration::from_secs(2);
const MAX_RSS_KB: i64 = 100 * 1024;

/// What one goldpath process did and what it cost.
struct Run {
    code: Option<i32>,
    stderr: String,
    cpu: Duration,
    max_rss_kb: i64,
}

/// Runs goldpath with `args` under the memory limit and waits for exactly
/// that process, taking its resource usage from `wait4`.
fn goldpath(args: &[&str]) -> Run {
    goldpath_with_tmpdir(args, &std::env::temp_dir())
}

/// [`goldpath`] with TMPDIR set, where the CLI caches git sources.
// The child is reaped by wait4, which std's wait cannot stand in for.
#[allow(clippy::zombie_processes)]
fn goldpath_with_tmpdir(args: &[&str], tmpdir: &Path) -> Run {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_goldpath"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("TMPDIR", tmpdir)
        .spawn()
        .unwrap();
    let mut pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        pipe.read_to_string(&mut text).ok();
        text
    });
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let mut status = 0;
    // SAFETY: rusage is plain data the kernel fills in; all-zero is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, with pointers to live locals.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    let time =
        |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Run {
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stderr: reader.join().unwrap(),
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        max_rss_kb: usage.ru_maxrss,
    }
}

/// Asserts a run was refused cleanly, quickly and within memory, with an
/// error that mentions each of `expected`.
fn assert_refused(case: &str, run: &Run, expected: &[&str]) {
    assert_eq!(run.code, Some(1), "{case}: exit code\n{}", run.stderr);
    for part in expected {
        assert!(
            run.stderr.contains(part),
            "{case}: stderr should mention {part:?}:\n{}",
            run.stderr
        );
    }
    assert!(!run.stderr.contains("panicked"), "{case}:\n{}", run.stderr);
    assert!(run.cpu < MAX_CPU, "{case}: {:?} of CPU", run.cpu);
    assert!(
        run.max_rss_kb < MAX_RSS_KB,
        "{case}: {} KiB of RSS",
        run.max_rss_kb
    );
    eprintln!(
        "{case}: refused in {:?} of CPU, {} KiB peak RSS",
        run.cpu, run.max_rss_kb
    );
}

const HEAD: &str = "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: t\nspec:\n  type: service\n";

/// A template whose one step logs `message`, in a fresh directory.
fn logging(message: &str) -> tempfile::TempDir {
    let yaml = format!(
        "{HEAD}  steps:\n    - id: log\n      action: debug:log\n      input:\n        message: {}\n",
        serde_json::to_string(message).unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("template.yaml"), yaml).unwrap();
    dir
}

fn render(template: &Path, extra: &[&str]) -> Run {
    let out = template.parent().unwrap().join("out");
    let mut args = vec![
        "render",
        template.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    goldpath(&args)
}

#[test]
fn each_filter_and_operator_bomb_is_refused() {
    let huge = 1u64 << 40;
    for expression in [
        format!("${{{{ 'x' | center({huge}) }}}}"),
        format!("${{{{ 'a\\nb' | indent({huge}) }}}}"),
        format!("${{{{ [1] | dump({huge}) }}}}"),
        format!("${{{{ [1] | tojson(indent={huge}) }}}}"),
        format!("${{{{ '%{huge}s' | format('x') }}}}"),
        format!("${{{{ [1] | batch({huge}, 0) | list }}}}"),
        "${{ range(100000) | join('' | center(10000)) }}".into(),
        "${{ ('' | center(10000000)) | replace(' ', 'xxxxxxxx') }}".into(),
        "${{ ('' | center(1000000)) | replace('', 123456789012345678) }}".into(),
        "${{ range(100000) | join(['' | center(10000)]) }}".into(),
        "${{ ('' | center(10000000)).replaceAll(' ', 'xxxxxxxx') }}".into(),
        "${{ ('' | center(10000000)) | split('') | list }}".into(),
        // Counts, widths and slices read as JavaScript reads numbers.
        format!("${{{{ [1] | slice('{huge}') }}}}"),
        "${{ 'x' | center('1e13') }}".into(),
        "${{ [1, 2][0:2:0.0000001] }}".into(),
        "${{ {}[1:] }}".into(),
        "${{ ('' | center(10000000))[::0.5] }}".into(),
        // Text past U+FFFF is iterated by UTF-16 units: two items per emoji.
        "{% for c in ('' | center(3000000) | replace(' ', '😀')) %}${{ c }}{% endfor %}".into(),
        "{% for i, c in ('' | center(3000000) | replace(' ', '😀')) %}${{ c }}{% endfor %}".into(),
        "${{ ('' | center(100000) | replace(' ', 'x')) | replace(r/x/g, '$`') }}".into(),
        "${{ ('' | center(100000) | replace(' ', 'x')).replace(r/x/g, \"$'$'\") }}".into(),
        "{% set ns = namespace(s=('' | center(1000000))) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}${{ ns.s }}".into(),
    ] {
        let dir = logging(&expression);
        let run = render(&dir.path().join("template.yaml"), &[]);
        assert_refused(
            &expression,
            &run,
            &["steps[log].input.message, line 1", "16777216 bytes"],
        );
    }
}

#[test]
fn a_whole_expression_that_grows_as_json_is_refused() {
    // Each string fits; the list of them as JSON does not.
    let dir = logging("${{ ['' | center(9000000), '' | center(9000000)] }}");
    let run = render(&dir.path().join("template.yaml"), &[]);
    assert_refused(
        "whole expression",
        &run,
        &["steps[log].input.message", "16777216 bytes of output"],
    );
}

#[test]
fn a_huge_each_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{HEAD}  steps:\n    - id: many\n      action: debug:log\n      each: ${{{{ ('' | center(2000000)) | list }}}}\n      input:\n        message: ${{{{ each.value }}}}\n"
    );
    std::fs::write(dir.path().join("template.yaml"), yaml).unwrap();
    let run = render(&dir.path().join("template.yaml"), &[]);
    assert_refused("each", &run, &["steps[many].each", "items"]);
}

#[test]
fn a_deeply_nested_manifest_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{HEAD}  steps:\n    - id: apply\n      action: kubernetes:apply\n      input:\n        manifest: ${{{{ '' | center(1000000) | replace(' ', '[') }}}}\n"
    );
    std::fs::write(dir.path().join("template.yaml"), yaml).unwrap();
    let out = dir.path().join("out");
    let run = goldpath(&[
        "scaffold",
        dir.path().join("template.yaml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_refused(
        "nested manifest",
        &run,
        &[
            "step apply (kubernetes:apply)",
            "input.manifest",
            "nested deeper than 64 levels",
        ],
    );
}

#[test]
fn a_deeply_nested_catalog_file_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("catalog-info.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: {}\n",
            "[".repeat(1 << 20)
        ),
    )
    .unwrap();
    let run = goldpath(&["catalog", "import", file.to_str().unwrap()]);
    assert_refused(
        "nested catalog-info",
        &run,
        &[
            "catalog-info.yaml document 1",
            "line 4",
            "nested deeper than 64 levels",
        ],
    );
}

#[test]
fn deeply_nested_parameters_are_refused() {
    let dir = logging("${{ parameters.a }}");
    let values = dir.path().join("values.json");
    std::fs::write(
        &values,
        format!("{}{}", "{\"a\":".repeat(200), "1".to_string() + &"}".repeat(200)),
    )
    .unwrap();
    let run = render(
        &dir.path().join("template.yaml"),
        &["--values", values.to_str().unwrap()],
    );
    assert_refused(
        "nested parameters",
        &run,
        &["values.json", "nested deeper than 64 levels"],
    );
}

#[test]
fn a_value_nested_deeper_than_the_stack_allows_is_refused() {
    for nesting in ["[ns.v]", "{'a': ns.v}", "dict(a=ns.v)", "ns.v | batch(1)"] {
        let expression = format!(
            "{{% set ns = namespace(v=[0]) %}}{{% for i in range(100000) %}}{{% set ns.v = {nesting} %}}{{% endfor %}}${{{{ ns.v }}}}"
        );
        let dir = logging(&expression);
        let run = render(&dir.path().join("template.yaml"), &[]);
        assert_refused(
            &expression,
            &run,
            &["steps[log].input.message, line 1", "more than 100 levels deep"],
        );
    }
}

#[test]
fn output_collected_in_set_blocks_and_macros_is_counted() {
    for expression in [
        format!(
            "{{% set s %}}{{% for i in range(100000) %}}{}{{% endfor %}}{{% endset %}}",
            "x".repeat(1000)
        ),
        "{% macro m() %}${{ '' | center(10000000) }}{% endmacro %}{% set s %}{% for i in range(100) %}${{ m() }}{% endfor %}{% endset %}".into(),
    ] {
        let dir = logging(&expression);
        let run = render(&dir.path().join("template.yaml"), &[]);
        assert_refused(
            &expression[..60],
            &run,
            &["steps[log].input.message, line 1", "16777216 bytes of output, counting what"],
        );
    }
}

/// Refused naming the file, the document and the line of the mistake.
#[test]
fn a_catalog_file_with_a_yaml_mistake_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, expected) in [
        (
            "typo.yaml",
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n---\nkind: Component\nmetadata:\n  name: b\n  tags: [unclosed\nspec:\n  type: service\n",
            "typo.yaml document 2: not YAML (line 10)",
        ),
        (
            "alias.yaml",
            "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: *nope\n",
            "alias.yaml document 1: not YAML (line 4): alias *nope refers to no anchor",
        ),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let run = goldpath(&["catalog", "import", file.to_str().unwrap()]);
        assert_refused(name, &run, &[expected]);
    }
}

const MODE_TREE: i32 = 0o040000;
const MODE_FILE: i32 = 0o100644;

/// A tree of `entries` names for the same `child`.
fn fan_out(repo: &Repository, child: Oid, entries: usize) -> Oid {
    let mut builder = repo.treebuilder(None).unwrap();
    for name in 0..entries {
        builder.insert(name.to_string(), child, MODE_TREE).unwrap();
    }
    builder.write().unwrap()
}

/// A Template in `dir` whose files come from a repository there whose
/// `skeleton` is `levels` levels of `entries` names around one README.
fn template_with_git_source(dir: &Path, levels: usize, entries: usize) -> std::path::PathBuf {
    let repo = Repository::init_bare(dir.join("source.git")).unwrap();
    let mut tree = {
        let mut builder = repo.treebuilder(None).unwrap();
        let blob = repo.blob(b"# ${{ parameters.name }}\n").unwrap();
        builder.insert("README.md", blob, MODE_FILE).unwrap();
        builder.write().unwrap()
    };
    for _ in 0..levels {
        tree = fan_out(&repo, tree, entries);
    }
    let mut root = repo.treebuilder(None).unwrap();
    root.insert("skeleton", tree, MODE_TREE).unwrap();
    let root = repo.find_tree(root.write().unwrap()).unwrap();
    let signature = Signature::now("t", "t@example.com").unwrap();
    repo.commit(Some("refs/heads/main"), &signature, &signature, "m", &root, &[])
        .unwrap();
    let url = url::Url::from_file_path(dir.join("source.git")).unwrap();
    let template = dir.join("template.yaml");
    std::fs::write(
        &template,
        format!(
            "apiVersion: goldpath.dev/v1alpha1\nkind: Template\nmetadata: {{name: t}}\n\
             spec:\n  type: service\n  steps:\n\
             \x20   - {{id: fetch, action: fetch:template, input: {{url: ./skeleton}}}}\n\
             \x20 source:\n    git: {{url: \"{url}\", ref: main}}\n"
        ),
    )
    .unwrap();
    template
}

/// `goldpath render` of `template`, caching its git source beside it.
fn render_git_source(template: &Path) -> Run {
    let dir = template.parent().unwrap();
    let out = dir.join("out");
    goldpath_with_tmpdir(
        &[
            "render",
            template.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        dir,
    )
}

#[test]
fn a_git_source_that_fits_renders_under_the_same_limits() {
    let dir = tempfile::tempdir().unwrap();
    let run = render_git_source(&template_with_git_source(dir.path(), 2, 3));
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(dir.path().join("out/0/2/README.md").exists());
}

#[test]
fn a_git_source_that_expands_to_a_billion_paths_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = render_git_source(&template_with_git_source(dir.path(), 9, 10));
    assert_refused(
        "10^9 paths",
        &run,
        &[
            "spec.source.git",
            "more than 10000 files and directories (templateSourceLimits.maxFiles)",
        ],
    );
}

#[test]
fn a_git_source_nested_thousands_deep_is_refused_without_overflowing_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let run = render_git_source(&template_with_git_source(dir.path(), 5000, 1));
    assert_refused(
        "5000 directories deep",
        &run,
        &["directories nested more than 32 deep (templateSourceLimits.maxDepth)"],
    );
    assert!(!run.stderr.contains("overflow"), "{}", run.stderr);
}

/// A commit on HEAD of a new work tree at `dir` whose tree holds
/// `files` and, under `skeleton`, `levels` levels of `entries` names
/// around one README.
fn work_tree_with_fan_out(dir: &Path, files: &[(&str, &str)], levels: usize, entries: usize) {
    let repo = Repository::init(dir).unwrap();
    let mut tree = {
        let mut builder = repo.treebuilder(None).unwrap();
        builder
            .insert("README.md", repo.blob(b"# readme\n").unwrap(), MODE_FILE)
            .unwrap();
        builder.write().unwrap()
    };
    for _ in 0..levels {
        tree = fan_out(&repo, tree, entries);
    }
    let mut root = repo.treebuilder(None).unwrap();
    root.insert("skeleton", tree, MODE_TREE).unwrap();
    for (path, contents) in files {
        std::fs::write(dir.join(path), contents).unwrap();
        root.insert(path, repo.blob(contents.as_bytes()).unwrap(), MODE_FILE)
            .unwrap();
    }
    let root = repo.find_tree(root.write().unwrap()).unwrap();
    let signature = Signature::now("t", "t@example.com").unwrap();
    let commit = repo
        .commit(Some("HEAD"), &signature, &signature, "m", &root, &[])
        .unwrap();
    repo.tag_lightweight("v1", &repo.find_object(commit, None).unwrap(), false)
        .unwrap();
}

/// A work tree at `dir` with one committed file and nothing uncommitted.
fn clean_work_tree(dir: &Path) {
    let repo = Repository::init(dir).unwrap();
    std::fs::write(dir.join("README.md"), "# readme\n").unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new("README.md")).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let signature = Signature::now("t", "t@example.com").unwrap();
    repo.commit(Some("HEAD"), &signature, &signature, "m", &tree, &[])
        .unwrap();
}

const UPGRADED_TEMPLATE: &str = "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: t\nspec:\n  type: service\n  steps:\n    - id: fetch\n      action: fetch:template\n      input: {url: ./skeleton}\n";

fn upgrade(template: &Path, repo: &Path) -> Run {
    goldpath(&[
        "upgrade",
        template.to_str().unwrap(),
        "--from",
        "v1",
        "--repo",
        repo.to_str().unwrap(),
    ])
}

#[test]
fn upgrading_a_repository_that_expands_to_a_billion_paths_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template");
    std::fs::create_dir(&template).unwrap();
    work_tree_with_fan_out(&template, &[("template.yaml", UPGRADED_TEMPLATE)], 1, 2);
    let made = dir.path().join("made");
    work_tree_with_fan_out(&made, &[], 9, 10);
    let run = upgrade(&template.join("template.yaml"), &made);
    assert_refused(
        "upgrade --repo with 10^9 paths",
        &run,
        &[
            "reading --repo",
            "more than 10000 files and directories (templateSourceLimits.maxFiles)",
        ],
    );
}

#[test]
fn upgrading_from_a_template_revision_that_expands_to_a_billion_paths_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template");
    std::fs::create_dir(&template).unwrap();
    work_tree_with_fan_out(&template, &[("template.yaml", UPGRADED_TEMPLATE)], 9, 10);
    let made = dir.path().join("made");
    clean_work_tree(&made);
    let run = upgrade(&template.join("template.yaml"), &made);
    assert_refused(
        "upgrade --from a revision with 10^9 paths",
        &run,
        &[
            "at v1",
            "more than 10000 files and directories (templateSourceLimits.maxFiles)",
        ],
    );
}
