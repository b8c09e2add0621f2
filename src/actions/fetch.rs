//! `fetch:template`, `fetch:template:file`, `fetch:plain`, `fetch:plain:file`:
//! copy files from the template's source into the workspace, rendered or not.

use minijinja::Value as Context;
use minijinja::value::Serde;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{ActionContext, ActionError};
use crate::engine::expression::{Syntax, Whitespace};
use crate::engine::files::FileTree;
use crate::engine::skeleton::{self, SkeletonOptions};
use crate::engine::workspace::{self, subtree};

/// `fetch:template` (a directory) and `fetch:template:file` (one file).
pub fn template(
    input: &FetchTemplateInput,
    context: &mut ActionContext,
    workspace: &mut FileTree,
    single_file: bool,
) -> Result<(), ActionError> {
    let (source, target, origin) = locate(&input.url, input.target_path.as_deref(), context, single_file)?;
    let how = TemplateInput::read(input)?;
    let values = input
        .values
        .clone()
        .map_or_else(|| Value::Object(Default::default()), Value::Object);
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
        replace: input.replace.unwrap_or(false),
        origin: &origin,
    };
    skeleton::render_into(&source, &target, &options, workspace)
        .map_err(|e| ActionError::permanent(e.to_string()))
}

/// The input of `fetch:template` and `fetch:template:file`, with
/// Backstage's names.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct FetchTemplateInput {
    /// The files in the template's source, e.g. `./skeleton`
    /// (for `fetch:template:file`, one file).
    pub url: String,
    /// Where they go in the workspace (for `fetch:template:file`, required:
    /// the path of the file to write).
    pub target_path: Option<String>,
    /// The values the files are rendered with, as `${{ values.* }}`.
    pub values: Option<serde_json::Map<String, Value>>,
    /// Globs of files copied as they are.
    pub copy_without_templating: Option<Vec<String>>,
    /// The older name of `copyWithoutTemplating`.
    pub copy_without_render: Option<Vec<String>>,
    /// Render `{{ cookiecutter.* }}` instead of `${{ values.* }}`.
    pub cookiecutter_compat: Option<bool>,
    /// Nunjucks's `trimBlocks`.
    pub trim_blocks: Option<bool>,
    /// Nunjucks's `lstripBlocks`.
    pub lstrip_blocks: Option<bool>,
    /// Render only files with this extension (`true`: `.njk`), which it
    /// loses.
    #[schemars(with = "Option<BoolOrText>")]
    pub template_file_extension: Option<Value>,
    /// Whether files already in the workspace are replaced.
    pub replace: Option<bool>,
    /// Accepted and never sent: the template's files are read with the
    /// operator's credentials.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
}

/// The input of `fetch:plain` and `fetch:plain:file`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct FetchPlainInput {
    /// The files in the template's source, e.g. `./static`.
    pub url: String,
    /// Where they go in the workspace (for `fetch:plain:file`, required).
    pub target_path: Option<String>,
    /// Whether files already in the workspace are replaced.
    pub replace: Option<bool>,
    /// Accepted and never sent.
    #[schemars(extend("writeOnly" = true))]
    pub token: Option<String>,
}

/// A flag or a text, for the schema of inputs that take either.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum BoolOrText {
    Flag(bool),
    Text(String),
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
    /// Reads the step's rendering options from its input.
    pub fn read(input: &FetchTemplateInput) -> Result<TemplateInput, ActionError> {
        let mut copy_without_templating = input.copy_without_templating.clone().unwrap_or_default();
        copy_without_templating.extend(input.copy_without_render.iter().flatten().cloned());
        let template_file_extension = match &input.template_file_extension {
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
            syntax: if input.cookiecutter_compat.unwrap_or(false) {
                Syntax::Cookiecutter
            } else {
                Syntax::Backstage
            },
            whitespace: Whitespace {
                trim_blocks: input.trim_blocks.unwrap_or(false),
                lstrip_blocks: input.lstrip_blocks.unwrap_or(false),
            },
            copy_without_templating,
            template_file_extension,
        })
    }
}

/// `fetch:plain` (a directory) and `fetch:plain:file` (one file).
pub fn plain(
    input: &FetchPlainInput,
    context: &mut ActionContext,
    workspace: &mut FileTree,
    single_file: bool,
) -> Result<(), ActionError> {
    let (source, target, origin) = locate(&input.url, input.target_path.as_deref(), context, single_file)?;
    let options = SkeletonOptions {
        renderer: context.renderer,
        context: &Context::UNDEFINED,
        copy_without_templating: &[],
        template_file_extension: None,
        render: false,
        replace: input.replace.unwrap_or(false),
        origin: &origin,
    };
    skeleton::render_into(&source, &target, &options, workspace)
        .map_err(|e| ActionError::permanent(e.to_string()))
}

/// The files `input.url` names in the template's source, the workspace
/// directory they go to (`input.targetPath`), and where they lie among the
/// template's files.
fn locate(
    url: &str,
    target: Option<&str>,
    context: &ActionContext,
    single_file: bool,
) -> Result<(FileTree, String, String), ActionError> {
    if url.contains("://") {
        return Err(ActionError::permanent(format!(
            "input.url {url:?}: fetching from a URL is not supported; put the files in the template's source and use a relative path such as ./skeleton"
        )));
    }
    let location = workspace::join("", url).map_err(|e| ActionError::permanent(format!("input.url: {e}")))?;
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
