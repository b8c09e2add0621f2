//! Skeleton path rendering and writing: a skeleton of any paths, contents
//! and symlinks rendered with `fetch:template`'s options, then written to a
//! directory on disk twice (a second render into the same directory, as
//! `goldpath scaffold` does when run again).
//!
//! Invariants: no panic; every workspace path is relative and normalised;
//! the workspace stays within its byte bound; writing never creates or
//! changes anything outside the output directory, and never writes a file
//! through a symlink.
#![no_main]

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use goldpath::engine::expression::{Renderer, Syntax, Whitespace};
use goldpath::engine::files::{self, FileEntry, FileTree};
use goldpath::engine::skeleton::{self, SkeletonOptions};
use goldpath::engine::workspace;
use goldpath_fuzz::{assert_workspace_path, limits, values_context};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tempfile::TempDir;

#[derive(Arbitrary, Debug)]
struct Input {
    first: Vec<Entry>,
    second: Vec<Entry>,
    target: String,
    copy_without_templating: Vec<String>,
    template_file_extension: Option<String>,
    cookiecutter: bool,
    render: bool,
    replace: bool,
}

#[derive(Arbitrary, Debug)]
struct Entry {
    path: String,
    contents: String,
    kind: Kind,
}

#[derive(Arbitrary, Debug)]
enum Kind {
    File,
    Executable,
    Symlink,
}

thread_local! {
    /// One scratch directory for all inputs of a run, emptied below `out`
    /// before each: making and removing a fresh tree of directories for
    /// every input cost more than the rest of the input did. hack/fuzz
    /// points TMPDIR at a directory it removes afterwards.
    static ROOT: RefCell<Option<TempDir>> = const { RefCell::new(None) };
}

fuzz_target!(|input: Input| {
    ROOT.with_borrow_mut(|root| {
        // Deep enough that a symlink climbing out with `..` still lands
        // inside the root, where it is seen.
        let out = |root: &TempDir| root.path().join("a/b/c/d/e/f/out");
        // Only `out` holds what an input wrote (anything else fails the
        // input): removing it leaves a clean directory for the next. A root
        // that cannot be cleaned is replaced.
        if root
            .as_ref()
            .is_some_and(|r| std::fs::remove_dir_all(out(r)).is_err())
        {
            *root = None;
        }
        if root.is_none() {
            *root = tempfile::tempdir().ok();
        }
        let Some(root) = root.as_ref() else {
            return;
        };
        if std::fs::create_dir_all(out(root)).is_ok() {
            run(&input, root.path(), &out(root));
        }
    });
});

fn run(input: &Input, root: &Path, out: &Path) {
    for entries in [&input.first, &input.second] {
        let Some(workspace) = render(input, entries, root) else {
            continue;
        };
        let written = files::write_dir(&workspace, out);
        assert_nothing_outside(root, out);
        if written.is_ok() {
            assert_written(&workspace, out);
        }
    }
}

/// The skeleton rendered into a fresh workspace; `None` when goldpath
/// refused it (which must be for a reason it names).
fn render(input: &Input, entries: &[Entry], root: &Path) -> Option<FileTree> {
    let skeleton: FileTree = entries
        .iter()
        .map(|entry| {
            let file = match entry.kind {
                Kind::File => FileEntry::text(entry.contents.as_bytes()),
                Kind::Executable => FileEntry::File {
                    contents: entry.contents.clone().into_bytes(),
                    executable: true,
                },
                // An absolute target would point anywhere on this machine;
                // under `root` an escape through it is seen and harmless.
                Kind::Symlink if entry.contents.starts_with('/') => FileEntry::Symlink {
                    target: format!("{}{}", root.display(), entry.contents),
                },
                Kind::Symlink => FileEntry::Symlink {
                    target: entry.contents.clone(),
                },
            };
            (entry.path.clone(), file)
        })
        .collect();
    let limits = limits();
    let syntax = if input.cookiecutter {
        Syntax::Cookiecutter
    } else {
        Syntax::Backstage
    };
    let renderer = Renderer::new(limits).for_files(syntax, Whitespace::default());
    let context = values_context();
    let options = SkeletonOptions {
        renderer: &renderer,
        context: &context,
        copy_without_templating: &input.copy_without_templating,
        template_file_extension: input.template_file_extension.as_deref(),
        render: input.render,
        replace: input.replace,
        origin: "skeleton",
    };
    let target = workspace::join("", &input.target).ok()?;
    let mut workspace = FileTree::new();
    match skeleton::render_into(&skeleton, &target, &options, &mut workspace) {
        Ok(()) => {
            for path in workspace.keys() {
                assert_workspace_path(path);
                assert!(
                    workspace::is_within(path, &target),
                    "{path:?} is outside {target:?}"
                );
            }
            let size = workspace::size(&workspace);
            assert!(
                size <= limits.max_workspace_bytes,
                "a workspace of {size} bytes passed the {} byte bound",
                limits.max_workspace_bytes
            );
            Some(workspace)
        }
        Err(error) => {
            assert!(!error.to_string().trim().is_empty(), "an error without a message");
            None
        }
    }
}

/// Everything under `root` is the chain of directories down to `out`, or
/// inside `out`.
fn assert_nothing_outside(root: &Path, out: &Path) {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.starts_with(out) {
                continue;
            }
            assert!(
                out.starts_with(&path) && path.is_dir(),
                "writing created {} outside the output directory",
                path.display()
            );
            pending.push(path);
        }
    }
}

/// Each file is where its path says, and no directory on the way to it is a
/// symlink (which would have put it somewhere else).
fn assert_written(workspace: &FileTree, out: &Path) {
    for (path, entry) in workspace {
        let mut on_disk = out.to_path_buf();
        let segments: Vec<&str> = path.split('/').collect();
        for segment in &segments[..segments.len() - 1] {
            on_disk.push(segment);
            let is_link = std::fs::symlink_metadata(&on_disk).is_ok_and(|m| m.file_type().is_symlink());
            assert!(
                !is_link,
                "{path:?} was written through the symlink {}",
                on_disk.display()
            );
        }
        on_disk.push(segments[segments.len() - 1]);
        let Ok(metadata) = std::fs::symlink_metadata(&on_disk) else {
            panic!("{path:?} was not written");
        };
        match entry {
            FileEntry::File { contents, .. } => {
                assert!(metadata.is_file(), "{path:?} is not a regular file on disk");
                let read = std::fs::read(PathBuf::from(&on_disk)).unwrap_or_default();
                assert!(read == *contents, "{path:?} holds other bytes on disk");
            }
            FileEntry::Symlink { .. } => {
                assert!(
                    metadata.file_type().is_symlink(),
                    "{path:?} is not a symlink on disk"
                )
            }
        }
    }
}
