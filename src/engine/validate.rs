//! Checking a template before any request uses it: known actions, unique
//! step ids, a valid parameter schema, and expressions and skeleton files
//! that parse. Every problem names the step, field, file and line.

use std::collections::BTreeSet;

use serde_json::Value;

use super::expression::Renderer;
use super::files::{FileEntry, FileTree};
use super::parameters::ParameterSchema;
use super::skeleton::RawFiles;
use super::workspace;
use crate::actions;
use crate::actions::fetch::TemplateInput;
use crate::api::TemplateSpec;

/// Checks `template` and returns its compiled parameter schema, or every
/// problem found. Skeleton files checked here stay compiled in `renderer`.
pub fn check(
    template: &TemplateSpec,
    files: &FileTree,
    renderer: &Renderer,
) -> Result<ParameterSchema, Vec<String>> {
    let mut problems = Vec::new();
    let schema = ParameterSchema::new(template.parameters.as_ref())
        .map_err(|e| problems.push(e.to_string()))
        .ok();
    let mut ids = BTreeSet::new();
    for (index, step) in template.steps.iter().enumerate() {
        let id = crate::scaffold::step_id(template, index);
        let label = format!("step {id}");
        if !ids.insert(id.clone()) {
            problems.push(format!(
                "{label}: the id {id:?} is used by an earlier step; step ids must be unique"
            ));
        }
        if actions::reach(&step.action).is_none() {
            problems.push(format!(
                "{label}: unknown action {:?}; goldpath knows {}",
                step.action,
                known_actions()
            ));
        }
        for (field, value) in [("input", &step.input), ("if", &step.if_), ("each", &step.each)] {
            if let Some(value) = value {
                check_expressions(&format!("{label}: {field}"), value, renderer, &mut problems);
            }
        }
        if step.action.starts_with("fetch:template") {
            check_skeleton(&label, step.input.as_ref(), files, renderer, &mut problems);
        }
    }
    if let Some(output) = &template.output {
        for (i, link) in output.links.iter().enumerate() {
            for (field, text) in [
                ("title", &link.title),
                ("url", &link.url),
                ("entityRef", &link.entity_ref),
            ] {
                if let Some(text) = text {
                    check_expressions(
                        &format!("output.links[{i}].{field}"),
                        &Value::String(text.clone()),
                        renderer,
                        &mut problems,
                    );
                }
            }
        }
        for (i, block) in output.text.iter().enumerate() {
            if let Some(content) = &block.content {
                check_expressions(
                    &format!("output.text[{i}].content"),
                    &Value::String(content.clone()),
                    renderer,
                    &mut problems,
                );
            }
        }
    }
    match schema {
        Some(schema) if problems.is_empty() => Ok(schema),
        _ => Err(problems),
    }
}

fn known_actions() -> String {
    actions::ACTIONS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_expressions(location: &str, value: &Value, renderer: &Renderer, problems: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            if let Err(error) = renderer.check(location, text) {
                problems.push(error.to_string());
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_expressions(&format!("{location}[{i}]"), item, renderer, problems);
            }
        }
        Value::Object(fields) => {
            for (key, field) in fields {
                check_expressions(&format!("{location}.{key}"), field, renderer, problems);
            }
        }
        _ => {}
    }
}

/// Parses every text file of a `fetch:template` step's skeleton, when its
/// `url` is literal (an expression is only known per request).
fn check_skeleton(
    label: &str,
    input: Option<&Value>,
    files: &FileTree,
    renderer: &Renderer,
    problems: &mut Vec<String>,
) {
    let Some(input) = input else { return };
    let Some(url) = input
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| !u.contains("${{") && !u.contains("://"))
    else {
        return;
    };
    let Ok(location) = workspace::join("", url) else {
        problems.push(format!("{label}: input.url {url:?} leaves the template's files"));
        return;
    };
    let skeleton = workspace::subtree(files, &location);
    if skeleton.is_empty() {
        problems.push(format!(
            "{label}: input.url {url:?}: the template has no files under {location:?}"
        ));
        return;
    }
    // Options still holding an expression are only known per request.
    let Ok(how) = TemplateInput::read(input) else {
        return;
    };
    let file_renderer = renderer.for_files(how.syntax, how.whitespace);
    let extension = how.template_file_extension;
    let raw = match RawFiles::new(&how.copy_without_templating) {
        Ok(raw) => raw,
        Err(error) => {
            problems.push(format!("{label}: input.{error}"));
            return;
        }
    };
    for (path, entry) in &skeleton {
        let shown = if location.is_empty() {
            path.clone()
        } else {
            format!("{location}/{path}")
        };
        if let Err(error) = file_renderer.check(&format!("{shown} (name)"), path) {
            problems.push(format!("{label}: {error}"));
        }
        if raw.matches(path) || extension.as_deref().is_some_and(|ext| !path.ends_with(ext)) {
            continue;
        }
        if let FileEntry::File { contents, .. } = entry
            && let Ok(text) = std::str::from_utf8(contents)
            && let Err(error) = file_renderer.check(&shown, text)
        {
            problems.push(format!("{label}: {error}"));
        }
    }
}
