//! Rendering a skeleton into the workspace, as Backstage's `fetch:template`
//! and `fetch:plain` do: file and directory names rendered (a name that
//! renders empty drops the file), contents rendered unless binary or listed
//! in `copyWithoutTemplating`, symlinks and modes kept.

use globset::{Glob, GlobSet, GlobSetBuilder};
use minijinja::Value;

use super::expression::{RenderError, Renderer};
use super::files::{FileEntry, FileTree};
use super::workspace;

/// What can go wrong while rendering a skeleton.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SkeletonError {
    /// A name or a file did not render.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// A rendered path would leave the workspace, or the directory the
    /// files are fetched into.
    #[error("{file}: the rendered path {rendered:?} leaves the workspace or the target directory")]
    Escapes { file: String, rendered: String },
    /// A rendered path names the directory it is written into, not a file.
    #[error("{file}: the rendered path {rendered:?} names a directory, not a file")]
    NotAFile { file: String, rendered: String },
    /// A `copyWithoutTemplating` pattern is not a valid glob.
    #[error("copyWithoutTemplating: {0}")]
    Glob(String),
    /// The workspace would grow past its limit.
    #[error("{file}: the workspace would exceed {limit} bytes; the template produces too much")]
    TooLarge { file: String, limit: usize },
}

/// How a skeleton's files are rendered.
pub struct SkeletonOptions<'a> {
    /// The renderer, set up with the step's syntax and whitespace options.
    pub renderer: &'a Renderer,
    /// The context names and contents see: `values` (or `cookiecutter`).
    pub context: &'a Value,
    /// Globs of files whose names are rendered but contents copied as they are.
    pub copy_without_templating: &'a [String],
    /// When set, only files ending in this extension are rendered, and lose it.
    pub template_file_extension: Option<&'a str>,
    /// Render names and contents at all (`fetch:plain` does not).
    pub render: bool,
    /// Overwrite files already in the workspace instead of keeping them.
    pub replace: bool,
    /// Where the skeleton lies among the template's files (e.g. `skeleton`),
    /// so that errors name files as the template's author knows them.
    pub origin: &'a str,
}

/// Renders `skeleton` (paths relative to the skeleton's root) into
/// `workspace` below `target` (a workspace-relative directory).
pub fn render_into(
    skeleton: &FileTree,
    target: &str,
    options: &SkeletonOptions,
    workspace: &mut FileTree,
) -> Result<(), SkeletonError> {
    let raw = RawFiles::new(options.copy_without_templating)?;
    let limit = options.renderer.limits().max_workspace_bytes;
    let mut size = workspace::size(workspace);
    for (path, entry) in skeleton {
        let shown = if options.origin.is_empty() {
            path.clone()
        } else {
            format!("{}/{path}", options.origin)
        };
        let templated_by_extension = options.template_file_extension.map(|ext| path.ends_with(ext));
        let name = match templated_by_extension {
            Some(true) => &path[..path.len() - options.template_file_extension.map_or(0, str::len)],
            _ => path.as_str(),
        };
        let Some(rendered) = render_path(name, &shown, options)? else {
            continue;
        };
        // As in Backstage, a file stays below the directory it is fetched
        // into (`targetPath`), not only within the workspace.
        let destination = workspace::join(target, &rendered)
            .ok()
            .filter(|destination| workspace::is_within(destination, target))
            .ok_or_else(|| SkeletonError::Escapes {
                file: shown.clone(),
                rendered: rendered.clone(),
            })?;
        // `.` (or a path that climbs back to where it started) would make
        // the file the workspace root itself.
        if destination.is_empty() {
            return Err(SkeletonError::NotAFile {
                file: shown,
                rendered,
            });
        }
        if !options.replace && workspace.contains_key(&destination) {
            continue;
        }
        let render_contents = options.render && templated_by_extension.unwrap_or(true) && !raw.matches(path);
        let output = match entry {
            FileEntry::File { contents, executable } if render_contents => {
                match std::str::from_utf8(contents) {
                    Ok(text) if !text.contains('\0') => FileEntry::File {
                        contents: options
                            .renderer
                            .render_text(&shown, text, options.context)?
                            .into_bytes(),
                        executable: *executable,
                    },
                    _ => entry.clone(),
                }
            }
            _ => entry.clone(),
        };
        size += output.size();
        if size > limit {
            return Err(SkeletonError::TooLarge { file: shown, limit });
        }
        workspace.insert(destination, output);
    }
    Ok(())
}

/// Renders each segment of a path. `None` when a segment renders empty: the
/// conditional-file idiom. A segment may render to several (`a/b`), never to
/// an absolute path or one that climbs out.
fn render_path(
    name: &str,
    original: &str,
    options: &SkeletonOptions,
) -> Result<Option<String>, SkeletonError> {
    if !options.render {
        return Ok(Some(name.to_string()));
    }
    let mut segments = Vec::new();
    for segment in name.split('/') {
        let rendered =
            options
                .renderer
                .render_text(&format!("{original} (name)"), segment, options.context)?;
        if rendered.is_empty() {
            return Ok(None);
        }
        if rendered.starts_with('/') || rendered.split('/').any(|s| s == "..") {
            return Err(SkeletonError::Escapes {
                file: original.to_string(),
                rendered,
            });
        }
        segments.push(rendered);
    }
    Ok(Some(segments.join("/")))
}

/// The files `copyWithoutTemplating` names: their names are rendered, their
/// contents copied as they are.
pub struct RawFiles(GlobSet);

impl RawFiles {
    /// Compiles the step's globs (relative to the skeleton's root).
    pub fn new(patterns: &[String]) -> Result<RawFiles, SkeletonError> {
        let mut builder = GlobSetBuilder::new();
        for pattern in patterns {
            // globby reads `dir/` as everything below `dir`, as it reads `dir`.
            let pattern = pattern.trim_start_matches("./").trim_end_matches('/');
            let glob = Glob::new(pattern).map_err(|e| SkeletonError::Glob(format!("{pattern:?}: {e}")))?;
            builder.add(glob);
        }
        builder
            .build()
            .map(RawFiles)
            .map_err(|e| SkeletonError::Glob(e.to_string()))
    }

    /// Whether `path` or a directory above it matches, as globby's directory
    /// expansion does in Backstage.
    pub fn matches(&self, path: &str) -> bool {
        if self.0.is_empty() {
            return false;
        }
        let mut prefix = path;
        loop {
            if self.0.is_match(prefix) {
                return true;
            }
            match prefix.rfind('/') {
                Some(slash) => prefix = &prefix[..slash],
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::expression::Limits;

    fn render(skeleton: FileTree, target: &str, render: bool) -> Result<FileTree, SkeletonError> {
        let renderer = Renderer::new(Limits::default());
        let context = minijinja::Value::from(minijinja::value::Serde(serde_json::json!({
            "values": { "dot": "." }
        })));
        let options = SkeletonOptions {
            renderer: &renderer,
            context: &context,
            copy_without_templating: &[],
            template_file_extension: None,
            render,
            replace: false,
            origin: "skeleton",
        };
        let mut workspace = FileTree::new();
        render_into(&skeleton, target, &options, &mut workspace).map(|()| workspace)
    }

    #[test]
    fn a_path_that_names_the_workspace_root_is_refused_naming_the_file() {
        // A name that renders empty drops its file; copied as it is
        // (`fetch:plain`), an empty name is still the root.
        for (path, rendered) in [
            ("", false),
            (".", true),
            (".", false),
            ("${{ values.dot }}", true),
            ("a/..", false),
        ] {
            let skeleton = FileTree::from([(path.to_string(), FileEntry::text("x"))]);
            let error = render(skeleton, "", rendered).unwrap_err();
            assert!(
                matches!(
                    error,
                    SkeletonError::NotAFile { .. } | SkeletonError::Escapes { .. }
                ),
                "{path:?}: {error}"
            );
            assert!(
                error.to_string().starts_with(&format!("skeleton/{path}")),
                "{error}"
            );
        }
        // A path that climbs out of the target directory, even within the
        // workspace, is refused (found by the skeleton fuzz target).
        for path in ["..", "x/../../y", "${{ values.dot }}/../z"] {
            let skeleton = FileTree::from([(path.to_string(), FileEntry::text("x"))]);
            let error = render(skeleton, "app/sub", true).unwrap_err();
            assert!(
                matches!(error, SkeletonError::Escapes { .. }),
                "{path:?}: {error}"
            );
        }
        // Below a target directory, `.` is a file named as the target: kept
        // as before, since the target names it.
        let skeleton = FileTree::from([("${{ values.dot }}".to_string(), FileEntry::text("x"))]);
        assert_eq!(
            render(skeleton, "app", true).unwrap().keys().collect::<Vec<_>>(),
            ["app"]
        );
    }

    #[test]
    fn a_glob_naming_a_directory_with_or_without_a_slash_matches_everything_below_it() {
        for pattern in [".github/workflows/", ".github/workflows", "./.github/workflows/"] {
            let raw = RawFiles::new(&[pattern.to_string()]).unwrap();
            for path in [".github/workflows/ci.yaml", ".github/workflows/deep/release.yml"] {
                assert!(raw.matches(path), "{pattern} should match {path}");
            }
            for path in [
                ".github/CODEOWNERS",
                "workflows/ci.yaml",
                ".github/workflows-old/x",
            ] {
                assert!(!raw.matches(path), "{pattern} should not match {path}");
            }
        }
    }
}
