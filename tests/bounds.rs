//! Every class of input that could exhaust goldpath (a filter or operator
//! that multiplies, a whole-expression value that grows as JSON, a huge
//! `each`, deeply nested YAML, deeply nested parameters) is refused with a
//! clear error, exit code 1, in under 2 s of CPU and 100 MB of RSS. Each
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
// The child is reaped by wait4, which std's wait cannot stand in for.
#[allow(clippy::zombie_processes)]
fn goldpath(args: &[&str]) -> Run {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_goldpath"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
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
        format!("${{{{ 'x' * {huge} }}}}"),
        "${{ 'x' * 100000000 }}".into(),
        "${{ [0] * 100000000 }}".into(),
        "${{ [[0] * 1000000] * 1000000 }}".into(),
        "${{ range(100000) | join('x' * 10000) }}".into(),
        "${{ ('x' * 10000000) | replace('x', 'xxxxxxxx') }}".into(),
        "${{ ('x' * 10000000).replaceAll('x', 'xxxxxxxx') }}".into(),
        "${{ ('x' * 10000000) | split('') | list }}".into(),
        "{% set ns = namespace(s='x' * 1000000) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}${{ ns.s }}".into(),
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
    let dir = logging("${{ ['x' * 9000000, 'x' * 9000000] }}");
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
        "{HEAD}  steps:\n    - id: many\n      action: debug:log\n      each: ${{{{ range(100000) * 1000 }}}}\n      input:\n        message: ${{{{ each.value }}}}\n"
    );
    std::fs::write(dir.path().join("template.yaml"), yaml).unwrap();
    let run = render(&dir.path().join("template.yaml"), &[]);
    assert_refused("each", &run, &["steps[many].each", "repeating a list", "items"]);
}

#[test]
fn a_deeply_nested_manifest_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "{HEAD}  steps:\n    - id: apply\n      action: kubernetes:apply\n      input:\n        manifest: ${{{{ '[' * 1000000 }}}}\n"
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
        "{% macro m() %}${{ 'x' * 10000000 }}{% endmacro %}{% set s %}{% for i in range(100) %}${{ m() }}{% endfor %}{% endset %}".into(),
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
