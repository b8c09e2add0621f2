//! The workspace a request's steps build: a tree of files in memory, with
//! paths that cannot leave it.

use super::files::{FileEntry, FileTree};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is absolute.
    #[error("{0:?} is an absolute path; paths must stay inside the workspace")]
    Absolute(String),
    /// The path climbs out with `..`.
    #[error("{0:?} leaves the workspace")]
    Escapes(String),
}

/// Joins `relative` onto `base` (both workspace-relative) and normalises the
/// result: `.` segments dropped, `..` resolved, and an error when the result
/// would leave the workspace. The empty string is the workspace root.
pub fn join(base: &str, relative: &str) -> Result<String, PathError> {
    if relative.starts_with('/') || relative.starts_with('\\') || has_drive(relative) {
        return Err(PathError::Absolute(relative.to_string()));
    }
    let mut parts: Vec<&str> = Vec::new();
    for segment in base.split('/').chain(relative.split('/')) {
        match segment {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PathError::Escapes(relative.to_string()));
                }
            }
            other => parts.push(other),
        }
    }
    Ok(parts.join("/"))
}

fn has_drive(path: &str) -> bool {
    let bytes = path.as_bytes();
    bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':'
}

/// Whether `path` is `dir` or lies below it (`dir` empty means the root).
pub fn is_within(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || path.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/'))
}

/// The files below `dir`, with paths relative to `dir`. A `dir` naming a
/// single file yields that file under its own name.
pub fn subtree(files: &FileTree, dir: &str) -> FileTree {
    if let Some(entry) = files.get(dir) {
        let name = dir.rsplit('/').next().unwrap_or(dir);
        return FileTree::from([(name.to_string(), entry.clone())]);
    }
    files
        .iter()
        .filter(|(path, _)| is_within(path, dir))
        .map(|(path, entry)| {
            let relative = if dir.is_empty() {
                path.as_str()
            } else {
                &path[dir.len() + 1..]
            };
            (relative.to_string(), entry.clone())
        })
        .collect()
}

/// The total size of a tree's file contents.
pub fn size(files: &FileTree) -> usize {
    files.values().map(FileEntry::size).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_normalises_and_refuses_to_leave() {
        assert_eq!(join("", "./skeleton"), Ok("skeleton".into()));
        assert_eq!(join("app", "src/../README.md"), Ok("app/README.md".into()));
        assert_eq!(join("", "."), Ok(String::new()));
        assert_eq!(join("app", ".."), Ok(String::new()));
        assert_eq!(
            join("app", "../../etc/passwd"),
            Err(PathError::Escapes("../../etc/passwd".into()))
        );
        assert_eq!(
            join("", "/etc/passwd"),
            Err(PathError::Absolute("/etc/passwd".into()))
        );
        assert_eq!(
            join("", "C:/Windows"),
            Err(PathError::Absolute("C:/Windows".into()))
        );
    }

    #[test]
    fn subtree_takes_a_directory_or_a_file() {
        let files = FileTree::from([
            ("skeleton/a.txt".to_string(), FileEntry::text("a")),
            ("skeleton/sub/b.txt".to_string(), FileEntry::text("b")),
            ("skeletons/c.txt".to_string(), FileEntry::text("c")),
        ]);
        let keys = |t: FileTree| t.into_keys().collect::<Vec<_>>();
        assert_eq!(keys(subtree(&files, "skeleton")), ["a.txt", "sub/b.txt"]);
        assert_eq!(keys(subtree(&files, "skeleton/sub/b.txt")), ["b.txt"]);
        assert_eq!(keys(subtree(&files, "")).len(), 3);
    }
}
