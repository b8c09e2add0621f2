//! `fs:delete`, `fs:rename` and `debug:log`: workspace housekeeping.

use globset::Glob;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::fetch::BoolOrText;
use super::{ActionContext, ActionError};
use crate::engine::files::{FileEntry, FileTree};
use crate::engine::workspace::{self, is_within};

/// The input of `fs:delete`.
#[derive(Deserialize, JsonSchema, Debug, Clone)]
pub struct DeleteInput {
    /// The files to delete; globs allowed.
    pub files: Vec<String>,
}

/// The input of `fs:rename`.
#[derive(Deserialize, JsonSchema, Debug, Clone)]
pub struct RenameInput {
    /// What to move where.
    pub files: Vec<Move>,
}

/// One move of `fs:rename`.
#[derive(Deserialize, JsonSchema, Debug, Clone)]
pub struct Move {
    /// The file or directory to move.
    pub from: Option<String>,
    /// Where it goes.
    pub to: Option<String>,
    /// Whether files already there are replaced.
    pub overwrite: Option<bool>,
}

/// The input of `debug:log`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct DebugLogInput {
    /// What to log.
    pub message: Option<Value>,
    /// `true` or `with-filenames` to log the workspace's files,
    /// `with-contents` to log their contents too.
    #[schemars(with = "Option<BoolOrText>")]
    pub list_workspace: Option<Value>,
}

/// `fs:delete`: removes the files (globs allowed) listed in `input.files`.
pub fn delete(input: &DeleteInput, workspace: &mut FileTree) -> Result<(), ActionError> {
    let patterns = &input.files;
    if patterns.is_empty() {
        return Err(ActionError::permanent(
            "input.files is required: the files to delete",
        ));
    }
    for pattern in patterns {
        let normalised =
            workspace::join("", pattern).map_err(|e| ActionError::permanent(format!("input.files: {e}")))?;
        let glob = Glob::new(&normalised)
            .map_err(|e| {
                ActionError::permanent(format!("input.files: {pattern:?} is not a valid glob: {e}"))
            })?
            .compile_matcher();
        workspace.retain(|path, _| !(glob.is_match(path) || is_within(path, &normalised)));
    }
    Ok(())
}

/// `fs:rename`: moves files or directories, `input.files: [{from, to, overwrite}]`.
pub fn rename(input: &RenameInput, workspace: &mut FileTree) -> Result<(), ActionError> {
    for (i, item) in input.files.iter().enumerate() {
        let field = |key: &str, value: &Option<String>| -> Result<String, ActionError> {
            let value = value
                .as_deref()
                .ok_or_else(|| ActionError::permanent(format!("input.files[{i}].{key} is required")))?;
            workspace::join("", value)
                .map_err(|e| ActionError::permanent(format!("input.files[{i}].{key}: {e}")))
        };
        let (from, to) = (field("from", &item.from)?, field("to", &item.to)?);
        let overwrite = item.overwrite.unwrap_or(false);
        let moving: Vec<String> = workspace
            .keys()
            .filter(|path| is_within(path, &from))
            .cloned()
            .collect();
        if moving.is_empty() {
            return Err(ActionError::permanent(format!(
                "input.files[{i}].from: there is no {from} in the workspace"
            )));
        }
        let destinations: Vec<(String, String)> = moving
            .into_iter()
            .map(|path| {
                let dest = format!("{to}{}", &path[from.len()..]);
                (path, dest)
            })
            .collect();
        if !overwrite
            && let Some((_, taken)) = destinations.iter().find(|(_, dest)| workspace.contains_key(dest))
        {
            return Err(ActionError::permanent(format!(
                "input.files[{i}]: {taken} already exists; set overwrite: true to replace it"
            )));
        }
        for (path, dest) in destinations {
            if let Some(entry) = workspace.remove(&path) {
                workspace.insert(dest, entry);
            }
        }
    }
    Ok(())
}

/// `debug:log`: logs `input.message`, and the workspace's files when
/// `input.listWorkspace` is true or `with-filenames` (or `with-contents`).
pub fn debug_log(input: &DebugLogInput, context: &mut ActionContext, workspace: &FileTree) {
    if let Some(message) = &input.message {
        context.log.push(match message {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    let listing = match &input.list_workspace {
        Some(Value::Bool(true)) => Some(false),
        Some(Value::String(mode)) if mode == "with-filenames" => Some(false),
        Some(Value::String(mode)) if mode == "with-contents" => Some(true),
        _ => None,
    };
    if let Some(with_contents) = listing {
        for (path, entry) in workspace {
            match (entry, with_contents) {
                (FileEntry::File { contents, .. }, true) => context
                    .log
                    .push(format!("{path}:\n{}", String::from_utf8_lossy(contents))),
                (FileEntry::Symlink { target }, _) => context.log.push(format!("{path} -> {target}")),
                _ => context.log.push(path.clone()),
            }
        }
    }
}
