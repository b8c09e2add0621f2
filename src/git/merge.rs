//! The three-way merge behind template upgrades: what a template rendered
//! at the old revision (the base), what the repository holds now (ours) and
//! what the template renders at the new revision (theirs) become one tree,
//! as `git merge` would make it, with the conflicts listed.
//!
//! It runs on an object database held in memory: nothing is read from or
//! written to disk, so the merge is a pure function of its three trees.
//! Renames are followed on both sides. A text conflict is left in the file
//! as conflict markers; a conflict that markers cannot show (binary files,
//! symlinks, a file deleted on one side and changed on the other) keeps the
//! repository's side, so an upgrade never overwrites or resurrects what the
//! repository's owners decided, and is listed all the same.
//!
//! The result is at most the size of the two sides plus the markers: every
//! bound on the trees handed in bounds the merge.

use git2::{IndexEntry, MergeFileInput, MergeFileOptions, MergeOptions, Odb, Repository};

use super::GitError;
use super::tree::{MODE_EXECUTABLE, MODE_SYMLINK, build_tree};
use crate::engine::files::{FileEntry, FileTree};

/// How many leading bytes decide whether a file is binary, as git decides.
const BINARY_PROBE: usize = 8000;

/// Which side of a merge the conflict markers name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeLabels {
    /// The base: what the template rendered before, e.g. its old revision.
    pub base: String,
    /// Ours: the repository's side, e.g. its default branch.
    pub ours: String,
    /// Theirs: the template's new rendering, e.g. its new revision.
    pub theirs: String,
}

/// Why a path could not be merged cleanly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictKind {
    /// Both sides changed the same lines: the file holds conflict markers.
    Content,
    /// Both sides changed a binary file or a symlink: the repository's
    /// version is kept.
    Binary,
    /// The template no longer renders a file the repository changed: the
    /// repository's version is kept.
    DeletedByTemplate,
    /// The repository deleted a file the template changed: it stays deleted.
    DeletedInRepository,
}

impl ConflictKind {
    /// What happened, for a report or a status message.
    pub fn describe(self) -> &'static str {
        match self {
            ConflictKind::Content => "both changed the same lines; conflict markers written",
            ConflictKind::Binary => "both changed a binary file or symlink; the repository's version kept",
            ConflictKind::DeletedByTemplate => {
                "the template removed a file the repository changed; the repository's version kept"
            }
            ConflictKind::DeletedInRepository => {
                "the repository deleted a file the template changed; left deleted"
            }
        }
    }
}

/// One path the merge could not settle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The path in the merged tree (the repository's name for it when a
    /// side renamed it).
    pub path: String,
    /// What kind of conflict, and so what the merged tree holds there.
    pub kind: ConflictKind,
}

/// The merged files and the conflicts among them, sorted by path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// Every file of the result, conflicted ones included.
    pub files: FileTree,
    /// The conflicted paths.
    pub conflicts: Vec<Conflict>,
}

impl Merged {
    /// What the merge changed in `ours`, the tree it was merged into: the
    /// files added or changed, and the paths of `ours` it removed. A
    /// proposal writes only these over the repository, so what `ours` did
    /// not hold (submodules) and what the merge left alone stay as they are.
    pub fn changes_from(&self, ours: &FileTree) -> (FileTree, Vec<String>) {
        let written = self
            .files
            .iter()
            .filter(|(path, entry)| ours.get(*path) != Some(*entry))
            .map(|(path, entry)| (path.clone(), entry.clone()))
            .collect();
        let removed = ours
            .keys()
            .filter(|path| !self.files.contains_key(*path))
            .cloned()
            .collect();
        (written, removed)
    }
}

/// Merges into `ours` the change from `base` to `theirs`.
pub fn merge_trees(
    base: &FileTree,
    ours: &FileTree,
    theirs: &FileTree,
    labels: &MergeLabels,
) -> Result<Merged, GitError> {
    let repo = in_memory_repository()?;
    let local = |e: git2::Error| GitError::Local {
        path: "(in-memory merge)".to_owned(),
        detail: e.message().to_owned(),
    };
    let tree = |files: &FileTree| -> Result<git2::Tree<'_>, GitError> {
        let id = build_tree(&repo, files)?;
        repo.find_tree(id).map_err(local)
    };
    let (base_tree, our_tree, their_tree) = (tree(base)?, tree(ours)?, tree(theirs)?);
    let mut options = MergeOptions::new();
    options.find_renames(true);
    let index = repo
        .merge_trees(&base_tree, &our_tree, &their_tree, Some(&options))
        .map_err(local)?;

    let mut merged = Merged::default();
    for entry in index.iter().filter(|entry| stage(entry) == 0) {
        let contents = blob(&repo, &entry)?;
        merged
            .files
            .insert(entry_path(&entry)?, file_entry(entry.mode, contents));
    }
    for conflict in index.conflicts().map_err(local)? {
        let conflict = conflict.map_err(local)?;
        resolve(&repo, conflict, labels, &mut merged)?;
    }
    merged.conflicts.sort_by(|a, b| a.path.cmp(&b.path));
    merged.conflicts.dedup();
    Ok(merged)
}

/// Settles one conflicted path into `merged`, by the rules in the module doc.
fn resolve(
    repo: &Repository,
    conflict: git2::IndexConflict,
    labels: &MergeLabels,
    merged: &mut Merged,
) -> Result<(), GitError> {
    let (ours, theirs) = match (conflict.our, conflict.their) {
        (Some(ours), Some(theirs)) => (ours, theirs),
        (Some(ours), None) => {
            let path = entry_path(&ours)?;
            merged
                .files
                .insert(path.clone(), file_entry(ours.mode, blob(repo, &ours)?));
            merged.conflicts.push(Conflict {
                path,
                kind: ConflictKind::DeletedByTemplate,
            });
            return Ok(());
        }
        (None, Some(theirs)) => {
            let path = entry_path(&theirs)?;
            merged.files.remove(&path);
            merged.conflicts.push(Conflict {
                path,
                kind: ConflictKind::DeletedInRepository,
            });
            return Ok(());
        }
        (None, None) => return Ok(()),
    };
    let path = entry_path(&ours)?;
    let base_contents = match &conflict.ancestor {
        Some(ancestor) => blob(repo, ancestor)?,
        None => Vec::new(),
    };
    let (our_contents, their_contents) = (blob(repo, &ours)?, blob(repo, &theirs)?);
    let textual = [ours.mode, theirs.mode]
        .iter()
        .all(|mode| *mode as i32 != MODE_SYMLINK)
        && [&base_contents, &our_contents, &their_contents]
            .iter()
            .all(|contents| !is_binary(contents));
    if !textual {
        merged
            .files
            .insert(path.clone(), file_entry(ours.mode, our_contents));
        merged.conflicts.push(Conflict {
            path,
            kind: ConflictKind::Binary,
        });
        return Ok(());
    }
    let result = merge_text(&path, &base_contents, &our_contents, &their_contents, labels)?;
    // A mode only one side changed follows that side, as git's merge does.
    let base_mode = conflict.ancestor.as_ref().map_or(ours.mode, |a| a.mode);
    let mode = if ours.mode == base_mode {
        theirs.mode
    } else {
        ours.mode
    };
    merged
        .files
        .insert(path.clone(), file_entry(mode, result.content().to_vec()));
    if !result.is_automergeable() {
        merged.conflicts.push(Conflict {
            path,
            kind: ConflictKind::Content,
        });
    }
    Ok(())
}

fn merge_text(
    path: &str,
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
    labels: &MergeLabels,
) -> Result<git2::MergeFileResult, GitError> {
    let input = |contents| {
        let mut input = MergeFileInput::new();
        input.content(contents);
        input
    };
    let mut options = MergeFileOptions::new();
    options
        .ancestor_label(labels.base.as_str())
        .our_label(labels.ours.as_str())
        .their_label(labels.theirs.as_str());
    git2::merge_file(&input(base), &input(ours), &input(theirs), Some(&mut options)).map_err(|e| {
        GitError::Local {
            path: path.to_owned(),
            detail: e.message().to_owned(),
        }
    })
}

/// A repository whose objects live only in memory.
fn in_memory_repository() -> Result<Repository, GitError> {
    let local = |e: git2::Error| GitError::Local {
        path: "(in-memory merge)".to_owned(),
        detail: e.message().to_owned(),
    };
    let odb = Odb::new().map_err(local)?;
    odb.add_new_mempack_backend(1).map_err(local)?;
    Repository::from_odb(odb).map_err(local)
}

fn stage(entry: &IndexEntry) -> u16 {
    (entry.flags >> 12) & 0x3
}

fn entry_path(entry: &IndexEntry) -> Result<String, GitError> {
    String::from_utf8(entry.path.clone()).map_err(|_| GitError::InvalidPath {
        path: String::from_utf8_lossy(&entry.path).into_owned(),
        reason: "the path is not UTF-8".to_owned(),
    })
}

fn blob(repo: &Repository, entry: &IndexEntry) -> Result<Vec<u8>, GitError> {
    repo.find_blob(entry.id)
        .map(|blob| blob.content().to_vec())
        .map_err(|e| GitError::Local {
            path: String::from_utf8_lossy(&entry.path).into_owned(),
            detail: e.message().to_owned(),
        })
}

fn file_entry(mode: u32, contents: Vec<u8>) -> FileEntry {
    if mode as i32 == MODE_SYMLINK {
        FileEntry::Symlink {
            target: String::from_utf8_lossy(&contents).into_owned(),
        }
    } else {
        FileEntry::File {
            contents,
            executable: mode as i32 == MODE_EXECUTABLE,
        }
    }
}

/// Whether git would treat `contents` as binary: a NUL byte early on.
fn is_binary(contents: &[u8]) -> bool {
    contents[..contents.len().min(BINARY_PROBE)].contains(&0)
}

#[cfg(test)]
mod tests;
