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

/// Reads a directory from disk into a tree, keeping executable bits and
/// symlinks (not followed). `.git` directories are left out.
pub fn read_dir(root: &std::path::Path) -> std::io::Result<FileTree> {
    let mut tree = FileTree::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                if entry.file_name() != ".git" {
                    pending.push(path);
                }
                continue;
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
                    executable: is_executable(&entry.metadata()?),
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
