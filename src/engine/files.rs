//! A tree of files held in memory: a template's source files (inline or
//! fetched from git) and what rendering makes of them.

use std::collections::BTreeMap;

/// One file of a tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileEntry {
    /// A regular file and whether it is executable.
    File { contents: Vec<u8>, executable: bool },
    /// A symbolic link and its target, kept as written.
    Symlink { target: String },
}

/// Files by path relative to the tree's root, `/`-separated, without a
/// leading `./` or `/`. Directories are implied by their files.
pub type FileTree = BTreeMap<String, FileEntry>;

/// A template's files: what was read of its source, from the root of what
/// was read, and the template's own directory among them, which fetch urls
/// are relative to. A url may climb from `dir` up to that root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TemplateFiles {
    /// The files, by path from the root of what was read.
    pub files: FileTree,
    /// The template's directory, relative to that root (empty: the root).
    pub dir: String,
}

impl TemplateFiles {
    /// Files read from directory `read` of a source, for a template in its
    /// directory `template_dir` (at or below `read`; both relative to the
    /// source's root).
    pub fn read_from(files: FileTree, read: &str, template_dir: &str) -> Self {
        let dir = template_dir
            .strip_prefix(read)
            .unwrap_or(template_dir)
            .trim_start_matches('/');
        TemplateFiles {
            files,
            dir: dir.to_string(),
        }
    }

    /// Files whose root is the template's own directory.
    pub fn at_root(files: FileTree) -> Self {
        TemplateFiles {
            files,
            dir: String::new(),
        }
    }
}

impl FileEntry {
    /// A regular, non-executable file.
    pub fn text(contents: impl Into<Vec<u8>>) -> Self {
        FileEntry::File {
            contents: contents.into(),
            executable: false,
        }
    }

    /// Bytes the entry holds: a file's contents, a symlink's target.
    pub fn size(&self) -> usize {
        match self {
            FileEntry::File { contents, .. } => contents.len(),
            FileEntry::Symlink { target } => target.len(),
        }
    }
}

/// A template's inline files (`spec.source.inline`) as a tree; a leading
/// `./` on a path is dropped.
pub fn from_inline(inline: &BTreeMap<String, String>) -> FileTree {
    inline
        .iter()
        .map(|(path, contents)| {
            (
                path.trim_start_matches("./").to_string(),
                FileEntry::text(contents.as_bytes()),
            )
        })
        .collect()
}

/// A digest of a tree's paths, kinds and contents, `sha256:<hex>`: the
/// revision of an inline template.
pub fn digest(tree: &FileTree) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for (path, entry) in tree {
        let (kind, bytes): (&[u8], &[u8]) = match entry {
            FileEntry::File {
                contents,
                executable: false,
            } => (b"f", contents),
            FileEntry::File {
                contents,
                executable: true,
            } => (b"x", contents),
            FileEntry::Symlink { target } => (b"l", target.as_bytes()),
        };
        for part in [path.as_bytes(), kind, bytes] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
    }
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// How much of a directory a read takes before it stops: how deeply
/// directories nest, how many files and directories, how many bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadBounds {
    pub max_depth: usize,
    pub max_files: usize,
    pub max_bytes: u64,
}

/// Reads a directory from disk into a tree, keeping executable bits and
/// symlinks (not followed). `.git` directories are left out. A directory
/// past any of `bounds` is refused, naming the bound, before its excess is
/// read.
pub fn read_dir(root: &std::path::Path, bounds: ReadBounds) -> std::io::Result<FileTree> {
    let refused = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut tree = FileTree::new();
    let (mut entries, mut bytes) = (0usize, 0u64);
    let mut pending = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let file_type = entry.file_type()?;
            if file_type.is_dir() && entry.file_name() == ".git" {
                continue;
            }
            entries += 1;
            if entries > bounds.max_files {
                return Err(refused(format!(
                    "{}: more than {} files and directories (templateSourceLimits.maxFiles)",
                    root.display(),
                    bounds.max_files
                )));
            }
            if file_type.is_dir() {
                if depth + 1 > bounds.max_depth {
                    return Err(refused(format!(
                        "{}: directories nest more than {} levels deep (templateSourceLimits.maxDepth)",
                        path.display(),
                        bounds.max_depth
                    )));
                }
                pending.push((path, depth + 1));
                continue;
            }
            let metadata = entry.metadata()?;
            bytes = bytes.saturating_add(metadata.len());
            if bytes > bounds.max_bytes {
                return Err(refused(format!(
                    "{}: more than {} bytes of files (templateSourceLimits.maxBytes)",
                    root.display(),
                    bounds.max_bytes
                )));
            }
            let relative = path
                .strip_prefix(root)
                .map_err(std::io::Error::other)?
                .to_string_lossy()
                .replace('\\', "/");
            let file = if file_type.is_symlink() {
                FileEntry::Symlink {
                    target: std::fs::read_link(&path)?.to_string_lossy().into_owned(),
                }
            } else {
                FileEntry::File {
                    contents: std::fs::read(&path)?,
                    executable: is_executable(&metadata),
                }
            };
            tree.insert(relative, file);
        }
    }
    Ok(tree)
}

/// Writes a tree into a directory on disk, creating it; existing files of
/// the same names are replaced.
pub fn write_dir(tree: &FileTree, root: &std::path::Path) -> std::io::Result<()> {
    // Into a directory that did not exist, nothing can be in the way.
    let fresh = !root.exists();
    std::fs::create_dir_all(root)?;
    let mut dirs: Vec<&std::path::Path> = tree
        .keys()
        .filter_map(|relative| std::path::Path::new(relative).parent())
        .collect();
    dirs.dedup();
    for dir in dirs {
        if fresh {
            std::fs::create_dir_all(root.join(dir))?;
        } else {
            real_dirs(root, dir)?;
        }
    }
    // Writing is most of the cost of a large tree; two writers halve it.
    let entries: Vec<(&String, &FileEntry)> = tree.iter().collect();
    let (first, second) = entries.split_at(entries.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| write_entries(root, second, fresh));
        let mine = write_entries(root, first, fresh);
        other
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("a file writer panicked")))
            .and(mine)
    })
}

/// Creates `dir` below `root` as real directories: a symlink on the way,
/// left by an earlier write into the same directory, is replaced, never
/// followed out of the tree.
fn real_dirs(root: &std::path::Path, dir: &std::path::Path) -> std::io::Result<()> {
    let mut path = root.to_path_buf();
    for part in dir.components() {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => continue,
            Ok(_) => std::fs::remove_file(&path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        std::fs::create_dir(&path)?;
    }
    Ok(())
}

fn write_entries(
    root: &std::path::Path,
    entries: &[(&String, &FileEntry)],
    fresh: bool,
) -> std::io::Result<()> {
    for (relative, entry) in entries {
        let path = root.join(relative);
        let named = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{relative}: {e}"));
        if !fresh && std::fs::symlink_metadata(&path).is_ok() {
            std::fs::remove_file(&path).map_err(named)?;
        }
        match entry {
            FileEntry::File { contents, executable } => {
                std::fs::write(&path, contents).map_err(named)?;
                if *executable {
                    set_executable(&path).map_err(named)?;
                }
            }
            FileEntry::Symlink { target } => symlink(target, &path).map_err(named)?,
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
}

#[cfg(unix)]
fn set_executable(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn set_executable(_: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn symlink(target: &str, path: &std::path::Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, path)
}

#[cfg(not(unix))]
fn symlink(target: &str, path: &std::path::Path) -> std::io::Result<()> {
    std::fs::write(path, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: ReadBounds = ReadBounds {
        max_depth: 4,
        max_files: 10,
        max_bytes: 100,
    };

    #[test]
    fn a_directory_read_stops_at_each_bound_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/c.txt"), "0123456789").unwrap();
        std::fs::write(dir.path().join("d.txt"), "x").unwrap();
        std::fs::create_dir_all(dir.path().join(".git/objects")).unwrap();
        std::fs::write(dir.path().join(".git/objects/big"), vec![0; 1000]).unwrap();

        let tree = read_dir(dir.path(), ROOMY).unwrap();
        assert_eq!(tree.keys().collect::<Vec<_>>(), ["a/b/c.txt", "d.txt"]);
        // a, a/b, a/b/c.txt and d.txt: four entries, two levels, 11 bytes.
        for (bounds, names) in [
            (
                ReadBounds {
                    max_files: 3,
                    ..ROOMY
                },
                "maxFiles",
            ),
            (
                ReadBounds {
                    max_depth: 1,
                    ..ROOMY
                },
                "maxDepth",
            ),
            (
                ReadBounds {
                    max_bytes: 10,
                    ..ROOMY
                },
                "maxBytes",
            ),
        ] {
            let error = read_dir(dir.path(), bounds).unwrap_err();
            assert!(error.to_string().contains(names), "{bounds:?}: {error}");
        }
        let exact = ReadBounds {
            max_depth: 2,
            max_files: 4,
            max_bytes: 11,
        };
        assert_eq!(read_dir(dir.path(), exact).unwrap(), tree);
    }
}
