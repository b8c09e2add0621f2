//! `fs:delete`, `fs:rename` and `debug:log`: workspace housekeeping.

use globset::Glob;
use serde_json::Value;

use super::{ActionContext, ActionError, optional_bool, string_list};
use crate::engine::files::{FileEntry, FileTree};
use crate::engine::workspace::{self, is_within};

/// `fs:delete`: removes the files (globs allowed) listed in `input.files`.
pub fn delete(input: &Value, workspace: &mut FileTree) -> Result<Value, ActionError> {
    let patterns = string_list(input, "files")?;
    if patterns.is_empty() {
        return Err(ActionError::permanent(
            "input.files is required: the files to delete",
        ));
    }
    for pattern in patterns {
        let normalised =
            workspace::join("", &pattern).map_err(|e| ActionError::permanent(format!("input.files: {e}")))?;
        let glob = Glob::new(&normalised)
            .map_err(|e| {
                ActionError::permanent(format!("input.files: {pattern:?} is not a valid glob: {e}"))
            })?
            .compile_matcher();
        workspace.retain(|path, _| !(glob.is_match(path) || is_within(path, &normalised)));
    }
    Ok(Value::Object(Default::default()))
}

/// `fs:rename`: moves files or directories, `input.files: [{from, to, overwrite}]`.
pub fn rename(input: &Value, workspace: &mut FileTree) -> Result<Value, ActionError> {
    let Some(Value::Array(moves)) = input.get("files") else {
        return Err(ActionError::permanent(
            "input.files is required: a list of {from, to}",
        ));
    };
    for (i, item) in moves.iter().enumerate() {
        let field = |key: &str| -> Result<String, ActionError> {
            let value = item
                .get(key)
                .and_then(Value::as_str)
                .ok_or_else(|| ActionError::permanent(format!("input.files[{i}].{key} is required")))?;
            workspace::join("", value)
                .map_err(|e| ActionError::permanent(format!("input.files[{i}].{key}: {e}")))
        };
        let (from, to) = (field("from")?, field("to")?);
        let overwrite = optional_bool(item, "overwrite")?.unwrap_or(false);
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
    Ok(Value::Object(Default::default()))
}

/// `debug:log`: logs `input.message`, and the workspace's files when
/// `input.listWorkspace` is true or `with-filenames` (or `with-contents`).
pub fn debug_log(
    input: &Value,
    context: &mut ActionContext,
    workspace: &FileTree,
) -> Result<Value, ActionError> {
    if let Some(message) = input.get("message") {
        context.log.push(match message {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    }
    let listing = match input.get("listWorkspace") {
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
    Ok(Value::Object(Default::default()))
}
