//! File trees written as git trees: paths checked as git would check them,
//! modes and symlinks kept.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use git2::{Oid, Repository};

use super::GitError;
use super::error::local_error;
use crate::engine::files::{FileEntry, FileTree};

pub(super) const MODE_TREE: i32 = 0o040000;
pub(super) const MODE_FILE: i32 = 0o100644;
pub(super) const MODE_EXECUTABLE: i32 = 0o100755;
pub(super) const MODE_SYMLINK: i32 = 0o120000;
pub(super) const MODE_SUBMODULE: i32 = 0o160000;

/// Splits a tree path into components, refusing what git would refuse or
/// what could escape or corrupt a checkout.
pub(super) fn split_tree_path(path: &str) -> Result<Vec<&str>, GitError> {
    let invalid = |reason: &str| GitError::InvalidPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.is_empty() {
        return Err(invalid("the path is empty"));
    }
    if path.contains('\0') {
        return Err(invalid("the path contains a NUL byte"));
    }
    if path.starts_with('/') {
        return Err(invalid("the path must be relative"));
    }
    let components: Vec<&str> = path.split('/').collect();
    for component in &components {
        match *component {
            "" => {
                return Err(invalid(
                    "the path has an empty component (`//` or a trailing `/`)",
                ));
            }
            "." | ".." => return Err(invalid("the path must not contain `.` or `..` components")),
            c if c.eq_ignore_ascii_case(".git") => {
                return Err(invalid("git refuses `.git` inside a tree"));
            }
            _ => {}
        }
    }
    Ok(components)
}

enum Node {
    Leaf { oid: Oid, mode: i32 },
    Dir(BTreeMap<String, Node>),
}

/// Writes `files` as blobs and nested trees; returns the root tree's id.
pub(super) fn build_tree(repo: &Repository, files: &FileTree) -> Result<Oid, GitError> {
    let local = |e: git2::Error| local_error(repo.path(), &e);
    let mut root = BTreeMap::new();
    for (path, entry) in files {
        let components = split_tree_path(path)?;
        let (oid, mode) = match entry {
            FileEntry::File { contents, executable } => (
                repo.blob(contents).map_err(local)?,
                if *executable { MODE_EXECUTABLE } else { MODE_FILE },
            ),
            FileEntry::Symlink { target } => (repo.blob(target.as_bytes()).map_err(local)?, MODE_SYMLINK),
        };
        insert_node(&mut root, path, &components, Node::Leaf { oid, mode })?;
    }
    write_dir(repo, &root).map_err(local)
}

/// Writes `write` over `base`, a tree of `repo`, after taking the paths of
/// `remove` out of it: every other entry of the base (submodules, symlinks,
/// files nobody changed) stays exactly as it is. Returns the new root
/// tree's id.
pub(super) fn build_tree_over<'p>(
    repo: &Repository,
    base: &git2::Tree<'_>,
    write: &FileTree,
    remove: impl IntoIterator<Item = &'p str>,
) -> Result<Oid, GitError> {
    let local = |e: git2::Error| local_error(repo.path(), &e);
    let mut index = git2::Index::new().map_err(local)?;
    index.read_tree(base).map_err(local)?;
    // Removed first, so a file replaced by a directory (or the reverse) is
    // not taken for a clash with itself.
    for path in remove {
        split_tree_path(path)?;
        index.remove_path(std::path::Path::new(path)).map_err(local)?;
    }
    for (path, entry) in write {
        split_tree_path(path)?;
        let (contents, mode) = match entry {
            FileEntry::File { contents, executable } => (
                contents.as_slice(),
                if *executable { MODE_EXECUTABLE } else { MODE_FILE },
            ),
            FileEntry::Symlink { target } => (target.as_bytes(), MODE_SYMLINK),
        };
        let id = repo.blob(contents).map_err(local)?;
        index
            .add(&git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: mode as u32,
                uid: 0,
                gid: 0,
                file_size: u32::try_from(contents.len()).unwrap_or(u32::MAX),
                id,
                flags: u16::try_from(path.len().min(0xfff)).unwrap_or(0xfff),
                flags_extended: 0,
                path: path.as_bytes().to_vec(),
            })
            .map_err(local)?;
    }
    index.write_tree_to(repo).map_err(local)
}

fn insert_node(
    root: &mut BTreeMap<String, Node>,
    path: &str,
    components: &[&str],
    leaf: Node,
) -> Result<(), GitError> {
    let conflict = || GitError::InvalidPath {
        path: path.to_owned(),
        reason: "another entry uses a part of this path as a file".to_owned(),
    };
    let Some((last, parents)) = components.split_last() else {
        return Err(GitError::InvalidPath {
            path: path.to_owned(),
            reason: "the path is empty".to_owned(),
        });
    };
    let mut dir = root;
    for name in parents {
        let node = dir
            .entry((*name).to_owned())
            .or_insert_with(|| Node::Dir(BTreeMap::new()));
        dir = match node {
            Node::Dir(children) => children,
            Node::Leaf { .. } => return Err(conflict()),
        };
    }
    match dir.entry((*last).to_owned()) {
        Entry::Vacant(slot) => {
            slot.insert(leaf);
            Ok(())
        }
        Entry::Occupied(_) => Err(GitError::InvalidPath {
            path: path.to_owned(),
            reason: "the path is both a file and a directory".to_owned(),
        }),
    }
}

fn write_dir(repo: &Repository, dir: &BTreeMap<String, Node>) -> Result<Oid, git2::Error> {
    let mut builder = repo.treebuilder(None)?;
    for (name, node) in dir {
        let (oid, mode) = match node {
            Node::Leaf { oid, mode } => (*oid, *mode),
            Node::Dir(children) => (write_dir(repo, children)?, MODE_TREE),
        };
        builder.insert(name.as_str(), oid, mode)?;
    }
    builder.write()
}
