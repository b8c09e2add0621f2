//! The layers of the crate, written once: each top-level module of `src/`
//! belongs to one layer, and names (in a `use` or a `crate::` path) only
//! modules of lower layers. Peers in one layer do not name each other.
//! ARCHITECTURE.md describes the same layers.

// Tests report failures by panicking.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Lowest first.
const LAYERS: &[(&str, &[&str])] = &[
    ("types and formats", &["api", "yaml", "redact"]),
    ("template engine", &["engine"]),
    ("git hosts", &["forge"]),
    ("configuration", &["config"]),
    ("catalog and git", &["catalog", "git"]),
    ("tenants", &["tenancy"]),
    ("telemetry", &["telemetry"]),
    ("actions", &["actions"]),
    ("step runner", &["scaffold"]),
    ("template check", &["template_check"]),
    ("portal API", &["portal"]),
    ("controllers", &["controller"]),
    ("command line", &["cli"]),
];

/// Where `module` sits: its layer's index and name.
fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, modules))| modules.contains(&module))
        .map(|(rank, (name, _))| (rank, *name))
}

/// The top-level module a file of `src/` belongs to, `None` for the crate
/// root and the binary.
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" => None,
        file => Some(file.trim_end_matches(".rs").to_string()),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `source` with comments, strings and character literals blanked out
/// (newlines kept, so lines still count), leaving only code.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        let skip = if rest.starts_with(&['/', '/']) {
            rest.iter().position(|&c| c == '\n').unwrap_or(rest.len())
        } else if rest.starts_with(&['/', '*']) {
            block_comment(rest)
        } else if rest[0] == '"' || (rest[0] == 'b' && rest.get(1) == Some(&'"')) {
            let open = if rest[0] == 'b' { 1 } else { 0 };
            open + 1 + quoted(&rest[open + 1..])
        } else if let Some(len) = raw_string(rest) {
            len
        } else if rest[0] == '\'' {
            char_literal(rest)
        } else {
            0
        };
        if skip == 0 {
            out.push(rest[0]);
            i += 1;
        } else {
            out.extend(rest[..skip].iter().map(|&c| blank(c)));
            i += skip;
        }
    }
    out
}

fn block_comment(rest: &[char]) -> usize {
    let mut depth = 0;
    let mut i = 0;
    while i + 1 < rest.len() {
        match (rest[i], rest[i + 1]) {
            ('/', '*') => {
                depth += 1;
                i += 2;
            }
            ('*', '/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    rest.len()
}

/// The length of a string's body and closing quote, after the opening one.
fn quoted(rest: &[char]) -> usize {
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    rest.len()
}

/// The length of a raw string (`r"…"`, `br#"…"#`) starting here, if one does.
fn raw_string(rest: &[char]) -> Option<usize> {
    let start = match rest {
        ['r', ..] => 1,
        ['b', 'r', ..] => 2,
        _ => return None,
    };
    let hashes = rest[start..].iter().take_while(|&&c| c == '#').count();
    if rest.get(start + hashes) != Some(&'"') {
        return None;
    }
    let body = start + hashes + 1;
    let close: Vec<char> = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    let end = (body..rest.len()).find(|&i| rest[i..].starts_with(&close))?;
    Some(end + close.len())
}

/// The length of a character literal here, or 0 for a lifetime.
fn char_literal(rest: &[char]) -> usize {
    match rest {
        ['\'', '\\', ..] => rest[2..].iter().position(|&c| c == '\'').map_or(0, |end| end + 3),
        ['\'', _, '\'', ..] => 3,
        _ => 0,
    }
}

/// Every top-level module `code` names through `crate::`, with its line:
/// `crate::a::…`, and each name in `crate::{a, b::c}`.
fn named_modules(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let ident = |text: &str| -> String {
        text.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let line = code[..at].matches('\n').count() + 1;
        let after = code[at + "crate::".len()..].trim_start();
        if let Some(group) = after.strip_prefix('{') {
            // Top-level names of the group: those at brace depth 0.
            let mut depth = 0;
            let mut start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && depth == 0 && !c.is_whitespace() => {
                        start = false;
                        let name = ident(&group[i..]);
                        if !name.is_empty() {
                            found.push((line, name));
                        }
                    }
                    _ => {}
                }
            }
        } else {
            found.push((line, ident(after)));
        }
    }
    found
}

#[test]
fn every_import_points_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut upward = Vec::new();
    let mut unplaced = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(module) = module_of(relative) else {
            continue;
        };
        let Some((rank, layer)) = layer_of(&module) else {
            unplaced.insert(module, relative.display().to_string());
            continue;
        };
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for (line, named) in named_modules(&code) {
            if named == module {
                continue;
            }
            let Some((named_rank, named_layer)) = layer_of(&named) else {
                continue;
            };
            if named_rank >= rank {
                upward.push(format!(
                    "src/{}:{line}: `{module}` (layer {rank}, {layer}) names `{named}` (layer {named_rank}, \
                     {named_layer}); a module names only modules of lower layers",
                    relative.display()
                ));
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules without a layer in tests/architecture.rs (and ARCHITECTURE.md): {unplaced:?}"
    );
    assert!(
        upward.is_empty(),
        "imports that do not point down:\n{}",
        upward.join("\n")
    );
}

#[test]
fn every_layer_names_a_module_that_exists() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (_, modules) in LAYERS {
        for module in *modules {
            assert!(
                src.join(format!("{module}.rs")).exists() || src.join(module).join("mod.rs").exists(),
                "the layer list names `{module}`, which src/ does not have"
            );
        }
    }
}

#[test]
fn the_scanner_sees_code_and_not_comments_or_strings() {
    let code = code_only(
        "use crate::api::X; // crate::cli\n/* crate::controller */ let s = \"crate::git\";\n\
         let r = r#\"crate::forge\"#; let c = '\"'; fn f<'a>() {}\nuse crate::{engine::x, catalog};\n",
    );
    let named: Vec<(usize, String)> = named_modules(&code);
    assert_eq!(
        named,
        [
            (1, "api".to_string()),
            (4, "engine".to_string()),
            (4, "catalog".to_string())
        ]
    );
}
