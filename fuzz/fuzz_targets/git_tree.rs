//! The git tree reader: a small repository built from the input (blobs,
//! symlinks, submodules, directories that share subtrees, long chains of
//! nested directories, odd names), read back with `git::read_tree` as a
//! Template's git source is.
//!
//! Invariants: no panic, no stack overflow, no unbounded expansion (a tree
//! whose shared subtrees expand to millions of paths is refused, not read;
//! libFuzzer's timeout and memory limits catch the rest); every path read is
//! relative and normalised; a tree is read exactly when it is within the
//! template source limits (depth, paths, bytes), and then with exactly the
//! files the repository holds.
#![no_main]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

use git2::{ObjectType, Oid, Repository, Signature, Time};
use goldpath::config::TemplateSourceLimits;
use goldpath_fuzz::assert_relative_path;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Object {
    Blob {
        contents: Vec<u8>,
        executable: bool,
    },
    Symlink {
        target: Vec<u8>,
    },
    Submodule,
    /// Entries point at objects made before this one, so subtrees can be
    /// shared as often as the input likes.
    Dir {
        entries: Vec<(Vec<u8>, u16)>,
    },
    /// `depth` directories named `name`, one inside the other, around an
    /// earlier object.
    Nest {
        depth: u16,
        name: u8,
        child: u16,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    objects: Vec<Object>,
    path: Option<String>,
}

const MODE_TREE: i32 = 0o040000;
const MODE_FILE: i32 = 0o100644;
const MODE_EXECUTABLE: i32 = 0o100755;
const MODE_SYMLINK: i32 = 0o120000;
const MODE_SUBMODULE: i32 = 0o160000;

/// Chains this deep are far past any depth limit; building deeper ones
/// would only slow the run.
const MAX_NEST: u16 = 2_000;

/// The operator's limits scaled down, so that small inputs reach them.
const LIMITS: TemplateSourceLimits = TemplateSourceLimits {
    max_depth: 8,
    max_files: 300,
    max_bytes: 64 << 10,
};

/// Repositories and caches are started afresh now and then so the disk
/// does not fill over a million runs.
const RUNS_PER_REPOSITORY: u32 = 2_000;

struct Scratch {
    dir: tempfile::TempDir,
    runs: u32,
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// What a built object holds when read whole, saturating: files (symlinks
/// included, submodules left out), paths (files, directories and
/// submodules), bytes of files and symlink targets, and how deeply
/// directories nest; `None` when a name or a symlink's target is not UTF-8
/// (the reader refuses those).
#[derive(Clone, Copy, Debug)]
struct Expected {
    files: u64,
    paths: u64,
    bytes: u64,
    depth: u64,
}

impl Expected {
    const LEAF: Expected = Expected {
        files: 1,
        paths: 0,
        bytes: 0,
        depth: 0,
    };

    fn within(&self, limits: &TemplateSourceLimits) -> bool {
        self.paths <= limits.max_files as u64
            && self.bytes <= limits.max_bytes
            && self.depth <= limits.max_depth as u64
    }
}

struct Built {
    oid: Oid,
    mode: i32,
    expected: Option<Expected>,
}

fuzz_target!(|input: Input| {
    SCRATCH.with_borrow_mut(|scratch| {
        if scratch.as_ref().is_none_or(|s| s.runs >= RUNS_PER_REPOSITORY) {
            *scratch = tempfile::tempdir().ok().map(|dir| Scratch { dir, runs: 0 });
        }
        let Some(scratch) = scratch.as_mut() else {
            return;
        };
        scratch.runs += 1;
        run(&input, scratch.dir.path().to_path_buf());
    });
});

fn run(input: &Input, dir: PathBuf) {
    let source = dir.join("source.git");
    let repo = match Repository::open_bare(&source) {
        Ok(repo) => repo,
        Err(_) => match Repository::init_bare(&source) {
            Ok(repo) => repo,
            Err(_) => return,
        },
    };
    let mut built: Vec<Built> = Vec::new();
    for object in &input.objects {
        if let Some(object) = build(&repo, object, &built) {
            built.push(object);
        }
    }
    let Some(root) = built.iter().rev().find(|b| b.mode == MODE_TREE) else {
        return;
    };
    let Ok(tree) = repo.find_tree(root.oid) else {
        return;
    };
    let Ok(signature) = Signature::new("fuzz", "fuzz@example.com", &Time::new(0, 0)) else {
        return;
    };
    let Ok(commit) = repo.commit(None, &signature, &signature, "fuzz", &tree, &[]) else {
        return;
    };
    // A fetch asks for what a ref reaches, as a Template's pinned commit is.
    if repo.reference("refs/heads/main", commit, true, "fuzz").is_err() {
        return;
    }
    let url = source.to_string_lossy();
    let read = goldpath::git::read_tree(
        &url,
        &commit.to_string(),
        input.path.as_deref(),
        None,
        &dir.join("cache"),
        &LIMITS,
    );
    // With a path, what is read is a part of the tree this model does not
    // follow; only the general invariants apply.
    let expected = root.expected.filter(|_| input.path.is_none());
    match read {
        Ok(files) => {
            assert!(files.len() <= LIMITS.max_files, "{} files read", files.len());
            let bytes: usize = files.values().map(|f| f.size()).sum();
            assert!(bytes as u64 <= LIMITS.max_bytes, "{bytes} bytes read");
            for path in files.keys() {
                assert_relative_path(path);
            }
            if let Some(expected) = expected {
                assert!(
                    expected.within(&LIMITS),
                    "a tree past the limits was read: {expected:?}"
                );
                assert_eq!(
                    files.len() as u64,
                    expected.files,
                    "the reader returned another number of files than the tree holds"
                );
            }
        }
        Err(error) => {
            assert!(!error.to_string().trim().is_empty(), "an error without a message");
            if let Some(expected) = expected {
                assert!(
                    !expected.within(&LIMITS),
                    "a tree within the limits ({expected:?}) was refused: {error}"
                );
            }
        }
    }
}

fn build(repo: &Repository, object: &Object, built: &[Built]) -> Option<Built> {
    let pick = |index: u16| (!built.is_empty()).then(|| &built[usize::from(index) % built.len()]);
    match object {
        Object::Blob { contents, executable } => Some(Built {
            oid: repo.blob(contents).ok()?,
            mode: if *executable { MODE_EXECUTABLE } else { MODE_FILE },
            expected: Some(Expected {
                bytes: contents.len() as u64,
                ..Expected::LEAF
            }),
        }),
        Object::Symlink { target } => Some(Built {
            oid: repo.blob(target).ok()?,
            mode: MODE_SYMLINK,
            expected: std::str::from_utf8(target).ok().map(|_| Expected {
                bytes: target.len() as u64,
                ..Expected::LEAF
            }),
        }),
        // A submodule entry names a commit the repository does not hold.
        Object::Submodule => Some(Built {
            oid: Oid::hash_object(ObjectType::Commit, b"tree 0\n").ok()?,
            mode: MODE_SUBMODULE,
            expected: Some(Expected {
                files: 0,
                ..Expected::LEAF
            }),
        }),
        Object::Dir { entries } => {
            // A tree holds each name once; the last entry of a name wins,
            // as it does in the tree builder.
            let mut children: BTreeMap<&[u8], &Built> = BTreeMap::new();
            for (name, child) in entries {
                if let Some(child) = pick(*child) {
                    children.insert(name, child);
                }
            }
            let mut builder = repo.treebuilder(None).ok()?;
            let mut inserted = Vec::new();
            for (name, child) in children {
                if builder.insert(name, child.oid, child.mode).is_ok() {
                    inserted.push((name, child));
                }
            }
            let oid = builder.write().ok()?;
            let mut expected = Some(Expected {
                files: 0,
                ..Expected::LEAF
            });
            for (name, child) in inserted {
                let nesting = u64::from(child.mode == MODE_TREE);
                expected = match (expected, child.expected, std::str::from_utf8(name)) {
                    (Some(sum), Some(child), Ok(_)) => Some(Expected {
                        files: sum.files.saturating_add(child.files),
                        paths: sum.paths.saturating_add(child.paths).saturating_add(1),
                        bytes: sum.bytes.saturating_add(child.bytes),
                        depth: sum.depth.max(child.depth.saturating_add(nesting)),
                    }),
                    _ => None,
                };
            }
            Some(Built {
                oid,
                mode: MODE_TREE,
                expected,
            })
        }
        Object::Nest { depth, name, child } => {
            let inner = pick(*child)?;
            let name = format!("d{name}");
            let mut oid = inner.oid;
            let mut mode = inner.mode;
            let mut expected = inner.expected;
            for _ in 0..(*depth % MAX_NEST).max(1) {
                let mut builder = repo.treebuilder(None).ok()?;
                builder.insert(&name, oid, mode).ok()?;
                oid = builder.write().ok()?;
                let nesting = u64::from(mode == MODE_TREE);
                mode = MODE_TREE;
                expected = expected.map(|e| Expected {
                    paths: e.paths.saturating_add(1),
                    depth: e.depth.saturating_add(nesting),
                    ..e
                });
            }
            Some(Built { oid, mode, expected })
        }
    }
}
