//! The operator's own repositories on disk: the cache of fetched objects
//! (one bare repository per remote, created atomically and shared by every
//! reader in the process under one lock per repository), and throwaway
//! scratch repositories.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use git2::Repository;
use tempfile::TempDir;

use super::GitError;
use super::error::local_error;

/// A throwaway bare repository in the temporary directory, removed when the
/// returned directory is dropped.
pub(super) fn scratch_repository(prefix: &str) -> Result<(TempDir, Repository), GitError> {
    let scratch = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| GitError::Local {
            path: std::env::temp_dir().display().to_string(),
            detail: format!("cannot create a scratch repository: {e}"),
        })?;
    let repo = Repository::init_bare(scratch.path()).map_err(|e| local_error(scratch.path(), &e))?;
    Ok((scratch, repo))
}

pub(super) fn cache_lock(repo_dir: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    locks.entry(repo_dir.to_path_buf()).or_default().clone()
}

/// Opens the cache repository, creating it atomically (init aside, then
/// rename) so that a crash or another process never leaves a half-made one
/// in place; one that no longer opens is replaced.
pub(super) fn open_cache(cache_dir: &Path, repo_dir: &Path) -> Result<Repository, GitError> {
    let io_error = |path: &Path, what: &str, e: std::io::Error| GitError::Local {
        path: path.display().to_string(),
        detail: format!("{what}: {e}"),
    };
    if repo_dir.exists() {
        match Repository::open_bare(repo_dir) {
            Ok(repo) => return Ok(repo),
            Err(e) => {
                tracing::warn!(path = %repo_dir.display(), error = %e, "replacing a git cache that does not open");
                std::fs::remove_dir_all(repo_dir)
                    .map_err(|e| io_error(repo_dir, "cannot remove a damaged cache", e))?;
            }
        }
    }
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| io_error(cache_dir, "cannot create the cache directory", e))?;
    let staging = tempfile::Builder::new()
        .prefix(".init-")
        .tempdir_in(cache_dir)
        .map_err(|e| io_error(cache_dir, "cannot create a directory", e))?;
    Repository::init_bare(staging.path()).map_err(|e| local_error(staging.path(), &e))?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, repo_dir) {
        // Another process may have won the race; its repository is as good.
        if let Err(cleanup) = std::fs::remove_dir_all(&staged) {
            tracing::debug!(path = %staged.display(), error = %cleanup, "cannot remove a staging directory");
        }
        if !repo_dir.exists() {
            return Err(io_error(repo_dir, "cannot create the cache repository", e));
        }
    }
    Repository::open_bare(repo_dir).map_err(|e| local_error(repo_dir, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TemplateSourceLimits;
    use crate::git::read_tree;
    use crate::git::test_support::{template_files, template_remote};

    #[test]
    fn concurrent_reads_share_one_cache() {
        let dir = TempDir::new().expect("tempdir");
        let (_, url, commit) = template_remote(&dir);
        let files = template_files();
        let cache = TempDir::new().expect("cache");
        std::thread::scope(|scope| {
            let readers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        read_tree(
                            &url,
                            &commit,
                            None,
                            None,
                            cache.path(),
                            &TemplateSourceLimits::default(),
                        )
                    })
                })
                .collect();
            for reader in readers {
                assert_eq!(reader.join().expect("thread").expect("read"), files);
            }
        });
        let entries: Vec<_> = std::fs::read_dir(cache.path())
            .expect("cache dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
    }
}
