//! Sizes: no source file in `src/` is longer than 800 lines, and no function
//! or method longer than 80.
//!
//! How lines are counted:
//! - a file: every line of it, comments and tests included;
//! - a function or method (free, in an `impl` or a trait, nested in another
//!   function or in a test module alike): the lines of its item from the
//!   first token after its attributes (its visibility, qualifiers or `fn`)
//!   to its closing brace, so attributes and doc comments do not count and
//!   everything else does. Each file is parsed with `syn`; proc-macro2's
//!   `span-locations` feature gives the lines.
//!
//! Generated code would be left out by [`GENERATED`]; nothing in `src/` is
//! generated today (the CRDs are generated from `src/api`, into `crds/`).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use syn::visit::{self, Visit};

const MAX_FILE_LINES: usize = 800;
const MAX_FUNCTION_LINES: usize = 80;

/// Generated files under `src/`, relative to the repository, that the limits
/// do not apply to.
const GENERATED: &[&str] = &[];

/// A function and the lines its item spans.
#[derive(Debug, PartialEq)]
struct Function {
    name: String,
    line: usize,
    lines: usize,
}

#[derive(Default)]
struct Functions(Vec<Function>);

impl Functions {
    fn record(&mut self, name: &syn::Ident, vis: &syn::Visibility, sig: &syn::Signature, body: &syn::Block) {
        let start = match vis {
            syn::Visibility::Inherited => sig_start(sig),
            vis => syn::spanned::Spanned::span(vis).start().line.min(sig_start(sig)),
        };
        let end = body.brace_token.span.close().end().line;
        self.0.push(Function {
            name: name.to_string(),
            line: start,
            lines: end + 1 - start,
        });
    }
}

fn sig_start(sig: &syn::Signature) -> usize {
    syn::spanned::Spanned::span(sig).start().line
}

impl<'ast> Visit<'ast> for Functions {
    fn visit_item_fn(&mut self, item: &'ast syn::ItemFn) {
        self.record(&item.sig.ident, &item.vis, &item.sig, &item.block);
        visit::visit_item_fn(self, item);
    }

    fn visit_impl_item_fn(&mut self, item: &'ast syn::ImplItemFn) {
        self.record(&item.sig.ident, &item.vis, &item.sig, &item.block);
        visit::visit_impl_item_fn(self, item);
    }

    fn visit_trait_item_fn(&mut self, item: &'ast syn::TraitItemFn) {
        if let Some(body) = &item.default {
            self.record(&item.sig.ident, &syn::Visibility::Inherited, &item.sig, body);
        }
        visit::visit_trait_item_fn(self, item);
    }
}

/// Every function of a file's source, with its length.
fn functions(source: &str) -> Result<Vec<Function>, syn::Error> {
    let file = syn::parse_file(source)?;
    let mut functions = Functions::default();
    functions.visit_file(&file);
    Ok(functions.0)
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// What in `src/` is past a limit, one line each.
fn oversized() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut found = Vec::new();
    for path in files {
        let relative = path
            .strip_prefix(root)
            .expect("under the root")
            .display()
            .to_string();
        if GENERATED.contains(&relative.as_str()) {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {relative}: {e}"));
        let lines = source.lines().count();
        if lines > MAX_FILE_LINES {
            found.push(format!("{relative}: {lines} lines (at most {MAX_FILE_LINES})"));
        }
        let functions = functions(&source).unwrap_or_else(|e| panic!("parsing {relative}: {e}"));
        for function in functions.into_iter().filter(|f| f.lines > MAX_FUNCTION_LINES) {
            found.push(format!(
                "{relative}:{}: fn {}: {} lines (at most {MAX_FUNCTION_LINES})",
                function.line, function.name, function.lines
            ));
        }
    }
    found
}

#[test]
fn no_file_or_function_in_src_is_too_long() {
    let found = oversized();
    assert!(
        found.is_empty(),
        "split these, or list generated files in GENERATED:\n{}",
        found.join("\n")
    );
}

#[test]
fn a_function_counts_from_its_signature_to_its_closing_brace() {
    let source = r#"
/// A doc comment, not counted.
#[inline]
#[allow(dead_code)]
pub(crate) fn three() {
    let _ = 1;
}

struct S;

impl S {
    /// Not counted either.
    #[must_use]
    fn method(
        &self,
    ) -> u8 {
        fn nested() {}
        nested();
        0
    }
}

trait T {
    fn required(&self);

    #[doc = "counted from the `fn`"]
    async unsafe fn provided(&self) { }
}
"#;
    let found = functions(source).expect("parses");
    let summary: Vec<(&str, usize, usize)> =
        found.iter().map(|f| (f.name.as_str(), f.line, f.lines)).collect();
    assert_eq!(
        summary,
        [
            ("three", 5, 3),
            ("method", 14, 7),
            ("nested", 17, 1),
            ("provided", 27, 1)
        ]
    );
}
