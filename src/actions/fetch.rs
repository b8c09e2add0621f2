//! `fetch:template`, `fetch:template:file`, `fetch:plain`, `fetch:plain:file`:
//! copy files from the template's source into the workspace, rendered or not.

use minijinja::Value as Context;
use minijinja::value::Serde;
use serde_json::Value;

use super::{ActionContext, ActionError, optional_bool, optional_str, required_str, string_list};
use crate::engine::expression::{Syntax, Whitespace};
use crate::engine::files::FileTree;
use crate::engine::skeleton::{self, SkeletonOptions};
use crate::engine::workspace::{self, subtree};

/// `fetch:template` (a directory) and `fetch:template:file` (one file).
pub fn template(
    input: &Value,
    context: &mut ActionContext,
    workspace: &mut FileTree,
    single_file: bool,
) -> Result<Value, ActionError> {
    let (source, target, origin) = locate(input, context, single_file)?;
    let how = TemplateInput::read(input)?;
    let values = input
        .get("values")
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    let name = match how.syntax {
        Syntax::Cookiecutter => "cookiecutter",
        Syntax::Backstage => "values",
    };
    let renderer = context.renderer.for_files(how.syntax, how.whitespace);
    let render_context = Context::from_pairs([(name, Context::from(Serde(&values)))]);
    let options = SkeletonOptions {
        renderer: &renderer,
        context: &render_context,
        copy_without_templating: &how.copy_without_templating,
        template_file_extension: how.template_file_extension.as_deref(),
        render: true,
        replace: optional_bool(input, "replace")?.unwrap_or(false),
        origin: &origin,
    };
    skeleton::render_into(&source, &target, &options, workspace)
        .map_err(|e| ActionError::permanent(e.to_string()))?;
    Ok(Value::Object(Default::default()))
}

/// How a `fetch:template` step renders its files, as its input says.
pub struct TemplateInput {
    /// `${{ }}`, or `{{ }}` with `cookiecutterCompat`.
    pub syntax: Syntax,
    /// `trimBlocks` and `lstripBlocks`.
    pub whitespace: Whitespace,
    /// `copyWithoutTemplating` and the older `copyWithoutRender`.
    pub copy_without_templating: Vec<String>,
    /// `templateFileExtension`: `.njk` for `true`, or the extension given.
    pub template_file_extension: Option<String>,
}

impl TemplateInput {
    /// Reads the step's rendering options from its (rendered) input.
    pub fn read(input: &Value) -> Result<TemplateInput, ActionError> {
        let flag =
            |key: &str| -> Result<bool, ActionError> { Ok(optional_bool(input, key)?.unwrap_or(false)) };
        let mut copy_without_templating = string_list(input, "copyWithoutTemplating")?;
        copy_without_templating.extend(string_list(input, "copyWithoutRender")?);
        let template_file_extension = match input.get("templateFileExtension") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(".njk".to_string()),
            Some(Value::String(ext)) if !ext.is_empty() => Some(if ext.starts_with('.') {
                ext.clone()
            } else {
                format!(".{ext}")
            }),
            Some(_) => {
                return Err(ActionError::permanent(
                    "input.templateFileExtension must be true, false or an extension such as .njk",
                ));
            }
        };
        Ok(TemplateInput {
            syntax: if flag("cookiecutterCompat")? {
                Syntax::Cookiecutter
            } else {
                Syntax::Backstage
            },
            whitespace: Whitespace {
                trim_blocks: flag("trimBlocks")?,
                lstrip_blocks: flag("lstripBlocks")?,
            },
            copy_without_templating,
            template_file_extension,
        })
    }
}

/// `fetch:plain` (a directory) and `fetch:plain:file` (one file).
pub fn plain(
    input: &Value,
    context: &mut ActionContext,
    workspace: &mut FileTree,
    single_file: bool,
) -> Result<Value, ActionError> {
    let (source, target, origin) = locate(input, context, single_file)?;
    let options = SkeletonOptions {
        renderer: context.renderer,
        context: &Context::UNDEFINED,
        copy_without_templating: &[],
        template_file_extension: None,
        render: false,
        replace: optional_bool(input, "replace")?.unwrap_or(false),
        origin: &origin,
    };
    skeleton::render_into(&source, &target, &options, workspace)
        .map_err(|e| ActionError::permanent(e.to_string()))?;
    Ok(Value::Object(Default::default()))
}

/// The files `input.url` names in the template's source, the workspace
/// directory they go to, and where they lie among the template's files.
fn locate(
    input: &Value,
    context: &ActionContext,
    single_file: bool,
) -> Result<(FileTree, String, String), ActionError> {
    let url = required_str(input, "url")?;
    if url.contains("://") {
        return Err(ActionError::permanent(format!(
            "input.url {url:?}: fetching from a URL is not supported; put the files in the template's source and use a relative path such as ./skeleton"
        )));
    }
    let location = workspace::join("", url).map_err(|e| ActionError::permanent(format!("input.url: {e}")))?;
    let target = optional_str(input, "targetPath")?;
    if single_file {
        let Some(entry) = context.template_files.get(&location) else {
            return Err(ActionError::permanent(format!(
                "input.url {url:?}: the template has no file {location}"
            )));
        };
        let target = target.ok_or_else(|| {
            ActionError::permanent("input.targetPath is required: the path of the file to write")
        })?;
        let target = workspace::join("", target)
            .map_err(|e| ActionError::permanent(format!("input.targetPath: {e}")))?;
        let (dir, name) = match target.rsplit_once('/') {
            Some((dir, name)) => (dir.to_string(), name.to_string()),
            None => (String::new(), target.clone()),
        };
        if name.is_empty() {
            return Err(ActionError::permanent("input.targetPath must name a file"));
        }
        let origin = location
            .rsplit_once('/')
            .map_or(String::new(), |(parent, _)| parent.to_string());
        return Ok((FileTree::from([(name, entry.clone())]), dir, origin));
    }
    let files = subtree(context.template_files, &location);
    if files.is_empty() {
        return Err(ActionError::permanent(format!(
            "input.url {url:?}: the template has no files under {location:?}"
        )));
    }
    let target = workspace::join("", target.unwrap_or("./"))
        .map_err(|e| ActionError::permanent(format!("input.targetPath: {e}")))?;
    Ok((files, target, location))
}
