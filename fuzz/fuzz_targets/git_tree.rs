//! The git tree reader: a small repository built from the input (blobs,
//! symlinks, submodules, directories that share subtrees, long chains of
//! nested directories, odd names) in memory, read back with
//! `git::read_tree_in`: the walk and limits `git::read_tree` applies to a
//! Template's git source once the commit is fetched.
//!
//! Invariants: no panic, no stack overflow, no unbounded expansion (a tree
//! whose shared subtrees expand to millions of paths is refused, not read;
//! libFuzzer's timeout and memory limits catch the rest); every path read is
//! relative and normalised; a tree is read exactly when it is within the
//! template source limits (depth, paths, bytes), and then with exactly the
//! files the repository holds.
#![no_main]

use std::collections::BTreeMap;

use git2::{ObjectType, Oid, Repository, Signature, Time};
use goldpath::config::TemplateSourceLimits;
use goldpath_fuzz::assert_relative_path;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tempfile::TempDir;

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

thread_local! {
    /// An empty bare repository, made once per run (hack/fuzz points TMPDIR
    /// at a directory it removes afterwards).
    static SCRATCH: Option<TempDir> = tempfile::tempdir()
        .ok()
        .filter(|dir| Repository::init_bare(dir.path()).is_ok());
}

fuzz_target!(|input: Input| {
    SCRATCH.with(|dir| {
        let Some(repo) = dir
            .as_ref()
            .and_then(|dir| Repository::open_bare(dir.path()).ok())
        else {
            return;
        };
        // The input's objects go to memory, ahead of the repository's own
        // stores, and go with it: no disk, no fetch, so an input costs
        // what building and reading its tree costs.
        let Ok(odb) = repo.odb() else {
            return;
        };
        let Ok(_objects) = odb.add_new_mempack_backend(1000) else {
            return;
        };
        run(&input, &repo);
    });
});

fn run(input: &Input, repo: &Repository) {
    let mut built: Vec<Built> = Vec::new();
    for object in &input.objects {
        if let Some(object) = build(repo, object, &built) {
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
    // What a Template's git source reads once its pinned commit is in the
    // cache.
    let read = goldpath::git::read_tree_in(repo, &commit.to_string(), input.path.as_deref(), &LIMITS);
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
