//! `fetch:template`, `fetch:template:file`, `fetch:plain`, `fetch:plain:file`:
//! copy files from the template's source into the workspace, rendered or not.

use minijinja::Value as Context;
use minijinja::value::Serde;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{ActionContext, ActionError};
use crate::api::TemplateSpec;
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

/// Where `url` (relative to the template's directory `dir`) points among
/// the template's files, whose root is the root of the template's source:
/// a url may climb above the template's directory, as in Backstage, but
/// not above that root.
pub fn source_path(dir: &str, url: &str) -> Result<String, String> {
    workspace::join(dir, url).map_err(|e| match e {
        workspace::PathError::Escapes(_) => {
            format!("input.url {url:?} climbs above the root of the template's source")
        }
        other => format!("input.url: {other}"),
    })
}

/// What to read of a source whose template lies in directory
/// `template_dir` (relative to the source's root): the directory to read
/// and the template's directory, both normalised. The directory to read is
/// the template's own, or the nearest ancestor holding every directory a
/// literal fetch `url` names; the root when a url is an expression, known
/// only per request. Reading no more than this keeps a template in a large
/// repository within the source limits. A `template_dir` that does not
/// normalise is passed on as it is, for the read to refuse.
pub fn source_dirs(spec: &TemplateSpec, template_dir: &str) -> (String, String) {
    match workspace::join("", template_dir) {
        Ok(dir) => (source_dir(spec, &dir), dir),
        Err(_) => (template_dir.to_string(), template_dir.to_string()),
    }
}

fn source_dir(spec: &TemplateSpec, dir: &str) -> String {
    let mut base: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
    for step in &spec.steps {
        let fetches = crate::actions::find(&step.action).is_some_and(|action| {
            use crate::actions::ActionKind as K;
            matches!(
                action.kind,
                K::FetchTemplate | K::FetchTemplateFile | K::FetchPlain | K::FetchPlainFile
            )
        });
        let Some(url) = step
            .input
            .as_ref()
            .and_then(|i| i.get("url"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        if !fetches || url.contains("://") {
            continue;
        }
        if url.contains("${{") {
            return String::new();
        }
        // A url above the root is refused when the step runs.
        let Ok(location) = workspace::join(dir, url) else {
            continue;
        };
        let shared = base
            .iter()
            .zip(location.split('/'))
            .take_while(|(a, b)| *a == b)
            .count();
        base.truncate(shared);
    }
    base.join("/")
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
    let location = source_path(&context.template_files.dir, url).map_err(ActionError::permanent)?;
    if single_file {
        let Some(entry) = context.template_files.files.get(&location) else {
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
    let files = subtree(&context.template_files.files, &location);
    if files.is_empty() {
        return Err(ActionError::permanent(format!(
            "input.url {url:?}: the template has no files under {location:?}"
        )));
    }
    let target = workspace::join("", target.unwrap_or("./"))
        .map_err(|e| ActionError::permanent(format!("input.targetPath: {e}")))?;
    Ok((files, target, location))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(urls: &[(&str, &str)]) -> TemplateSpec {
        let steps: Vec<Value> = urls
            .iter()
            .map(|(action, url)| serde_json::json!({"action": action, "input": {"url": url}}))
            .collect();
        serde_json::from_value(serde_json::json!({"type": "service", "steps": steps})).unwrap()
    }

    #[test]
    fn the_source_is_read_from_the_nearest_directory_holding_every_fetched_one() {
        let dirs = |urls: &[(&str, &str)], dir: &str| source_dirs(&spec(urls), dir);
        let own = [("fetch:template", "./skeleton")];
        assert_eq!(
            dirs(&own, "templates/a"),
            ("templates/a".into(), "templates/a".into())
        );
        let shared = [
            ("fetch:template", "./skeleton"),
            ("fetch:plain", "../../shared/x"),
        ];
        assert_eq!(dirs(&shared, "./templates/a/"), ("".into(), "templates/a".into()));
        let sibling = [("fetch:template:file", "../b/catalog-info.yaml")];
        assert_eq!(
            dirs(&sibling, "templates/a"),
            ("templates".into(), "templates/a".into())
        );
        // Known only per request: the whole source.
        let expression = [("fetch:template", "../${{ parameters.kind }}")];
        assert_eq!(
            dirs(&expression, "templates/a"),
            ("".into(), "templates/a".into())
        );
        // Not a fetch, a URL, and a url above the root (refused when checked)
        // change nothing.
        let others = [
            ("debug:log", "../../x"),
            ("fetch:plain", "https://example.com/x"),
            ("fetch:plain", "../../../x"),
        ];
        assert_eq!(
            dirs(&others, "templates/a"),
            ("templates/a".into(), "templates/a".into())
        );
        // A path that does not normalise is left for the read to refuse.
        assert_eq!(dirs(&own, "../x"), ("../x".into(), "../x".into()));
    }

    #[test]
    fn a_url_climbs_up_to_the_root_of_the_source_and_no_further() {
        assert_eq!(source_path("templates/a", "../../shared"), Ok("shared".into()));
        assert_eq!(source_path("", "./skeleton/"), Ok("skeleton".into()));
        let refused = source_path("templates/a", "../../../shared").unwrap_err();
        assert!(
            refused.contains("climbs above the root of the template's source"),
            "{refused}"
        );
        assert!(source_path("a", "/etc").unwrap_err().contains("absolute"));
    }
}
