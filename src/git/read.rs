//! Reading: a reference resolved to a commit id, and a commit's files read
//! through the cache within the configured limits.

use std::path::Path;
use std::sync::PoisonError;

use git2::{ErrorCode, Oid, Repository};

use super::cache::{cache_lock, open_cache};
use super::error::local_error;
use super::remote::{RemoteSpec, configure_libgit2, peeled};
use super::tree::{MODE_SUBMODULE, MODE_SYMLINK, MODE_TREE};
use super::{Credentials, GitError};
use crate::config::TemplateSourceLimits;
use crate::engine::files::{FileEntry, FileTree};

/// Resolve `reference` of a remote to a commit id (full hex).
///
/// `reference` may be a branch or tag name (tags win over branches of the
/// same name, as in git), a full ref (`refs/heads/x`), `HEAD`, or a full or
/// abbreviated commit id; `None` (or empty) means the remote's default
/// branch. Annotated tags resolve to the commit they tag.
pub fn resolve(
    url: &str,
    reference: Option<&str>,
    credentials: Option<&Credentials>,
) -> Result<String, GitError> {
    configure_libgit2();
    let remote = RemoteSpec::parse(url, credentials)?;
    remote.check_local()?;
    let refs = remote.list_refs()?;
    let wanted = reference.map(str::trim).filter(|r| !r.is_empty());
    let Some(wanted) = wanted else {
        return peeled(&refs, "HEAD")
            .map(|oid| oid.to_string())
            .ok_or_else(|| GitError::ReferenceNotFound {
                url: remote.display.clone(),
                reference: "HEAD".to_owned(),
                detail: "the repository has no default branch; is it empty?".to_owned(),
            });
    };
    let candidates = if wanted == "HEAD" || wanted.starts_with("refs/") {
        vec![wanted.to_owned()]
    } else {
        vec![
            format!("refs/{wanted}"),
            format!("refs/tags/{wanted}"),
            format!("refs/heads/{wanted}"),
        ]
    };
    if let Some(oid) = candidates.iter().find_map(|name| peeled(&refs, name)) {
        return Ok(oid.to_string());
    }
    if (4..=40).contains(&wanted.len()) && wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        return remote.resolve_commit_id(&refs, &wanted.to_ascii_lowercase());
    }
    Err(GitError::ReferenceNotFound {
        url: remote.display.clone(),
        reference: wanted.to_owned(),
        detail: "no branch or tag has that name".to_owned(),
    })
}

/// Read the files under `path` (`None` or empty: the whole tree) of
/// `commit` (a full commit id, as [`resolve`] returns) of a remote, with
/// paths relative to `path`, executable bits and symlinks kept. Submodules
/// are left out. A tree past `limits` is refused with
/// [`GitError::TooLarge`] naming the limit and the path where it was passed.
///
/// Objects are cached in a bare repository under `cache_dir`, one per
/// remote; a commit already there is read without touching the network, so
/// each commit is fetched once.
pub fn read_tree(
    url: &str,
    commit: &str,
    path: Option<&str>,
    credentials: Option<&Credentials>,
    cache_dir: &Path,
    limits: &TemplateSourceLimits,
) -> Result<FileTree, GitError> {
    read_remote(url, commit, path, credentials, cache_dir, limits, TEMPLATE_LIMITS)
}

/// [`read_tree`] of the whole tree of a repository goldpath published
/// into, which its users have grown since: within `limits`, the operator's
/// `upgradeRepositoryLimits`, which a refusal names.
pub fn read_repository(
    url: &str,
    commit: &str,
    credentials: Option<&Credentials>,
    cache_dir: &Path,
    limits: &TemplateSourceLimits,
) -> Result<FileTree, GitError> {
    read_remote(
        url,
        commit,
        None,
        credentials,
        cache_dir,
        limits,
        REPOSITORY_LIMITS,
    )
}

/// The configuration keys of the limits a refusal names.
const TEMPLATE_LIMITS: &str = "templateSourceLimits";
const REPOSITORY_LIMITS: &str = "upgradeRepositoryLimits";

fn read_remote(
    url: &str,
    commit: &str,
    path: Option<&str>,
    credentials: Option<&Credentials>,
    cache_dir: &Path,
    limits: &TemplateSourceLimits,
    key: &str,
) -> Result<FileTree, GitError> {
    configure_libgit2();
    let remote = RemoteSpec::parse(url, credentials)?;
    let oid = parse_full_commit_id(commit)?;
    let subdir = normalize_subdir(path.unwrap_or(""))?;

    let repo_dir = cache_dir.join(format!("{}.git", remote.cache_name()));
    let lock = cache_lock(&repo_dir);
    let _guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
    let repo = open_cache(cache_dir, &repo_dir)?;

    remote.check_local()?;
    if find_commit(&repo, oid).is_none() {
        remote.fetch_commit(&repo, oid)?;
    } else {
        // The cache is shared by every reader naming this URL: a commit in
        // it is served only once these credentials have proven access.
        remote.list_refs()?;
    }
    let Some(found) = find_commit(&repo, oid) else {
        return Err(GitError::CommitNotFound {
            url: remote.display.clone(),
            commit: oid.to_string(),
        });
    };
    // Keeps the commit's objects referenced even if the branch that brought
    // them is rewritten and anyone ever runs `git gc` on the cache.
    repo.reference(
        &format!("refs/goldpath/commits/{oid}"),
        found,
        true,
        "goldpath: read",
    )
    .map_err(|e| local_error(&repo_dir, &e))?;

    let result = read_commit(&repo, found, &subdir, &remote.display, limits, key);
    if let Err(GitError::Local { .. }) = &result {
        // A damaged cache would fail the same way forever; dropping it makes
        // the retry fetch afresh.
        drop(repo);
        if let Err(e) = std::fs::remove_dir_all(&repo_dir) {
            tracing::warn!(path = %repo_dir.display(), error = %e, "cannot remove a damaged git cache");
        }
    }
    result
}

/// [`read_tree`] without the remote: the files under `path` of `commit` in
/// `repo`, which must already hold the commit's objects (as the cache does
/// once fetched). The same walk and limits; the fuzzer reads the trees it
/// builds in memory through it, so a million trees need no fetch.
pub fn read_tree_in(
    repo: &Repository,
    commit: &str,
    path: Option<&str>,
    limits: &TemplateSourceLimits,
) -> Result<FileTree, GitError> {
    let oid = parse_full_commit_id(commit)?;
    let subdir = normalize_subdir(path.unwrap_or(""))?;
    let display = repo.path().display().to_string();
    let Some(found) = find_commit(repo, oid) else {
        return Err(GitError::CommitNotFound {
            url: display,
            commit: oid.to_string(),
        });
    };
    read_commit(repo, found, &subdir, &display, limits, TEMPLATE_LIMITS)
}

fn read_commit(
    repo: &Repository,
    oid: Oid,
    subdir: &str,
    display_url: &str,
    limits: &TemplateSourceLimits,
    key: &str,
) -> Result<FileTree, GitError> {
    let local = |e: git2::Error| local_error(repo.path(), &e);
    let commit = repo.find_commit(oid).map_err(local)?;
    let root = commit.tree().map_err(local)?;
    let tree = if subdir.is_empty() {
        root
    } else {
        let entry = match root.get_path(Path::new(subdir)) {
            Ok(entry) => entry,
            Err(e) if e.code() == ErrorCode::NotFound => {
                return Err(GitError::PathNotFound {
                    url: display_url.to_owned(),
                    commit: oid.to_string(),
                    path: subdir.to_owned(),
                });
            }
            Err(e) => return Err(local(e)),
        };
        if entry.filemode() != MODE_TREE {
            return Err(GitError::NotADirectory {
                url: display_url.to_owned(),
                commit: oid.to_string(),
                path: subdir.to_owned(),
            });
        }
        repo.find_tree(entry.id()).map_err(local)?
    };
    let over = |path: &str, limit: String| GitError::TooLarge {
        url: display_url.to_owned(),
        commit: oid.to_string(),
        path: shorten_path(path),
        limit,
    };
    collect_tree(repo, tree.id(), limits, key, over)
}

/// Reads every file under `root`. The walk is iterative (a stack of
/// directories still to read) and each limit is checked before what it
/// limits is read: a directory's depth before it is opened, the count before
/// a path is added, a blob's size (from the object's header) before its
/// contents are inflated. Trees that share subtrees therefore cost at most
/// `max_files` steps however many paths they would expand to.
fn collect_tree(
    repo: &Repository,
    root: Oid,
    limits: &TemplateSourceLimits,
    key: &str,
    over: impl Fn(&str, String) -> GitError,
) -> Result<FileTree, GitError> {
    let local = |e: git2::Error| local_error(repo.path(), &e);
    let odb = repo.odb().map_err(local)?;
    let mut files = FileTree::new();
    let mut paths = 0usize;
    let mut bytes = 0u64;
    // (tree, its path, its depth below the root)
    let mut pending = vec![(root, String::new(), 0usize)];
    while let Some((tree_id, prefix, depth)) = pending.pop() {
        let tree = repo.find_tree(tree_id).map_err(local)?;
        for entry in tree.iter() {
            let name = String::from_utf8_lossy(entry.name_bytes());
            let path = if prefix.is_empty() {
                name.into_owned()
            } else {
                format!("{prefix}/{name}")
            };
            if std::str::from_utf8(entry.name_bytes()).is_err() {
                return Err(GitError::InvalidPath {
                    path,
                    reason: "the file name is not valid UTF-8".to_owned(),
                });
            }
            paths += 1;
            if paths > limits.max_files {
                return Err(over(
                    &path,
                    format!(
                        "more than {} files and directories ({key}.maxFiles)",
                        limits.max_files
                    ),
                ));
            }
            let mode = entry.filemode();
            if mode == MODE_TREE {
                if depth + 1 > limits.max_depth {
                    return Err(over(
                        &path,
                        format!(
                            "directories nested more than {} deep ({key}.maxDepth)",
                            limits.max_depth
                        ),
                    ));
                }
                pending.push((entry.id(), path, depth + 1));
                continue;
            }
            if mode == MODE_SUBMODULE {
                // A submodule is a pointer into another repository; there
                // are no files here to render.
                tracing::debug!(path, "leaving out a submodule");
                continue;
            }
            let (size, _) = odb.read_header(entry.id()).map_err(local)?;
            bytes = bytes.saturating_add(size as u64);
            if bytes > limits.max_bytes {
                return Err(over(
                    &path,
                    format!("more than {} bytes of files ({key}.maxBytes)", limits.max_bytes),
                ));
            }
            let file = read_file(repo, entry.id(), mode, &path)?;
            files.insert(path, file);
        }
    }
    Ok(files)
}

/// The blob `id` of a tree entry of `mode`, as a file or a symlink.
fn read_file(repo: &Repository, id: Oid, mode: i32, path: &str) -> Result<FileEntry, GitError> {
    let blob = repo.find_blob(id).map_err(|e| local_error(repo.path(), &e))?;
    if mode == MODE_SYMLINK {
        let target = String::from_utf8(blob.content().to_vec()).map_err(|_| GitError::InvalidPath {
            path: path.to_owned(),
            reason: "the symlink's target is not valid UTF-8".to_owned(),
        })?;
        Ok(FileEntry::Symlink { target })
    } else {
        Ok(FileEntry::File {
            contents: blob.content().to_vec(),
            executable: mode & 0o111 != 0,
        })
    }
}

/// A path for a message: a path nested thousands deep is cut in the middle.
fn shorten_path(path: &str) -> String {
    const KEEP: usize = 80;
    if path.len() <= 2 * KEEP + 3 {
        return path.to_owned();
    }
    let mut head = KEEP;
    while !path.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = path.len() - KEEP;
    while !path.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}...{}", &path[..head], &path[tail..])
}

fn parse_full_commit_id(commit: &str) -> Result<Oid, GitError> {
    let commit = commit.trim();
    // `Oid::from_str` pads short input with zeros; only a full id is a pin.
    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(GitError::InvalidReference {
            reference: commit.to_owned(),
            reason: "expected a full 40-character commit id, as resolve returns".to_owned(),
        });
    }
    Oid::from_str(commit).map_err(|e| GitError::InvalidReference {
        reference: commit.to_owned(),
        reason: e.message().to_owned(),
    })
}

pub(super) fn find_commit(repo: &Repository, oid: Oid) -> Option<Oid> {
    let object = repo.find_object(oid, None).ok()?;
    let commit = object.peel_to_commit().ok()?;
    Some(commit.id())
}

/// A subdirectory as templates write it (`./skeleton/`, `/skeleton`) in the
/// form git trees use (`skeleton`); empty for the root.
fn normalize_subdir(path: &str) -> Result<String, GitError> {
    let mut trimmed = path.trim();
    while let Some(rest) = trimmed.strip_prefix("./") {
        trimmed = rest;
    }
    let trimmed = trimmed.trim_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        return Ok(String::new());
    }
    let components: Vec<&str> = trimmed
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if components.contains(&"..") {
        return Err(GitError::InvalidPath {
            path: path.to_owned(),
            reason: "the path must stay inside the repository (no `..`)".to_owned(),
        });
    }
    Ok(components.join("/"))
}

#[cfg(test)]
mod tests;
