//! Checking a template before any request uses it: known actions, a valid
//! parameter schema, and expressions and skeleton files that parse. Every
//! problem names the step, field, file and line; what Backstage accepts but
//! is likely a mistake (a repeated step id) is a warning, not a problem.
//!
//! It sits above the template engine, the actions and the step runner,
//! since it asks each of them what a template may use.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::actions::fetch::{self, FetchTemplateInput, TemplateInput};
use crate::actions::{self, ActionKind};
use crate::api::{Step, TemplateOutput, TemplateSpec};
use crate::engine::expression::Renderer;
use crate::engine::files::{FileEntry, TemplateFiles};
use crate::engine::parameters::ParameterSchema;
use crate::engine::skeleton::RawFiles;
use crate::engine::warnings::{Warning, Warnings};
use crate::engine::workspace;

/// A template that passed its check.
pub struct Checked {
    /// Its compiled parameter schema.
    pub schema: ParameterSchema,
    /// What Backstage accepts in it but is likely a mistake.
    pub warnings: Warnings,
}

/// What a check makes of an action goldpath does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownActions {
    /// A problem: the template cannot run (the operator, `goldpath scaffold`).
    Refuse,
    /// Allowed: the step is shown with its rendered input and not run
    /// (`goldpath render`).
    ShowNotRun,
}

/// Checks `template` and returns its compiled parameter schema and its
/// warnings, or every problem found. Skeleton files checked here stay
/// compiled in `renderer`.
pub fn check(
    template: &TemplateSpec,
    files: &TemplateFiles,
    renderer: &Renderer,
    unknown_actions: UnknownActions,
) -> Result<Checked, Vec<String>> {
    let mut problems = Vec::new();
    let mut warnings = Warnings::new();
    let schema = ParameterSchema::new(template.parameters.as_ref())
        .map_err(|e| problems.push(e.to_string()))
        .ok();
    for warning in schema.iter().flat_map(ParameterSchema::warnings) {
        warnings.push(warning);
    }
    let mut ids = BTreeSet::new();
    for (index, step) in template.steps.iter().enumerate() {
        let id = crate::scaffold::step_id(template, index);
        let label = format!("step {id}");
        // Backstage runs both; the later output replaces the earlier one.
        if !ids.insert(id.clone()) {
            warnings.push(Warning::new(
                &label,
                None,
                format!(
                    "the id {id:?} is also an earlier step's; from this step on, steps['{id}'].output is \
                     this step's output"
                ),
            ));
        }
        let action = actions::find(&step.action);
        if action.is_none() && unknown_actions == UnknownActions::Refuse {
            problems.push(format!(
                "{label}: unknown action {:?}; goldpath knows {}",
                step.action,
                known_actions()
            ));
        }
        if let Some(action) = action {
            check_input_names(&label, action, step.input.as_ref(), &mut problems);
        }
        if let Some(Err(error)) = step.timeout.as_deref().map(actions::gate::parse_timeout) {
            problems.push(format!("{label}: {error}"));
        }
        let secret_inputs = action.map(actions::Action::secret_inputs).unwrap_or_default();
        check_step_expressions(
            &label,
            step,
            &secret_inputs,
            renderer,
            &mut problems,
            &mut warnings,
        );
        if matches!(
            action.map(|a| a.kind),
            Some(ActionKind::FetchTemplate | ActionKind::FetchTemplateFile)
        ) {
            check_skeleton(&label, step.input.as_ref(), files, renderer, &mut problems);
        }
    }
    if let Some(output) = &template.output {
        check_output(output, renderer, &mut problems, &mut warnings);
    }
    match schema {
        Some(schema) if problems.is_empty() => Ok(Checked { schema, warnings }),
        _ => Err(problems),
    }
}

/// Checks the expressions of a step's input, `if` and `each`: only the
/// inputs the action declares secret may read secrets.
fn check_step_expressions(
    label: &str,
    step: &Step,
    secret_inputs: &[String],
    renderer: &Renderer,
    problems: &mut Vec<String>,
    warnings: &mut Warnings,
) {
    let secret_rule = || match secret_inputs {
        [] => format!("{} has no secret inputs", step.action),
        names => format!(
            "{} declares secret only input.{}",
            step.action,
            names.join(", input.")
        ),
    };
    match &step.input {
        Some(Value::Object(fields)) => {
            for (key, field) in fields {
                let secrets = if secret_inputs.contains(key) {
                    Secrets::Allowed
                } else {
                    Secrets::Refused(secret_rule())
                };
                let location = format!("{label}: input.{key}");
                check_expressions(&location, field, renderer, &secrets, problems, warnings);
            }
        }
        Some(other) => {
            let secrets = Secrets::Refused(secret_rule());
            check_expressions(
                &format!("{label}: input"),
                other,
                renderer,
                &secrets,
                problems,
                warnings,
            );
        }
        None => {}
    }
    for (field, value) in [("if", &step.if_), ("each", &step.each)] {
        if let Some(value) = value {
            let secrets = Secrets::Refused(format!("a step's {field} is never secret"));
            check_expressions(
                &format!("{label}: {field}"),
                value,
                renderer,
                &secrets,
                problems,
                warnings,
            );
        }
    }
}

/// Checks the expressions of the output's links and text, which may read
/// no secret.
fn check_output(
    output: &TemplateOutput,
    renderer: &Renderer,
    problems: &mut Vec<String>,
    warnings: &mut Warnings,
) {
    let output_secrets = Secrets::Refused("the output is shown to anyone who can read the request".into());
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
                    &output_secrets,
                    problems,
                    warnings,
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
                &output_secrets,
                problems,
                warnings,
            );
        }
    }
}

/// Refuses inputs the action does not take (each action declares every
/// input Backstage's takes, so none is silently dropped), and required
/// inputs a step leaves out (when its input is written out, not an
/// expression).
fn check_input_names(
    label: &str,
    action: &actions::Action,
    input: Option<&Value>,
    problems: &mut Vec<String>,
) {
    let empty = serde_json::Map::new();
    let fields = match input {
        None => &empty,
        Some(Value::Object(fields)) => fields,
        Some(_) => return,
    };
    let known = action.inputs();
    for key in fields.keys().filter(|key| !known.contains(key)) {
        problems.push(format!(
            "{label}: input.{key} is not an input of {}; it takes {}",
            action.name,
            known.join(", ")
        ));
    }
    // A value written out (no expression in it) is checked now as the step
    // would check it when it runs: its type, and the values or range its
    // schema allows.
    let schema = action.input_schema();
    let properties = schema.get("properties").and_then(Value::as_object);
    for (key, value) in fields.iter().filter(|(_, value)| is_literal(value)) {
        if let Some(property) = properties.and_then(|p| p.get(key))
            && let Err(error) = actions::input::check_value(key, property, value)
        {
            problems.push(format!("{label}: {error} ({})", action.name));
        }
    }
    for name in action.required_inputs() {
        if fields.get(&name).is_none_or(Value::is_null) {
            problems.push(format!("{label}: input.{name} is required by {}", action.name));
        }
    }
}

/// Whether `value` is the same whatever a request gives: no expression
/// anywhere in it, and not `null` (which means "not given").
fn is_literal(value: &Value) -> bool {
    !value.is_null() && !serde_json::to_string(value).is_ok_and(|text| text.contains("${{"))
}

fn known_actions() -> String {
    actions::ACTIONS
        .iter()
        .map(|action| action.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether an expression may read `${{ secrets }}`, and if not, why.
enum Secrets {
    Allowed,
    Refused(String),
}

/// Checks the expressions in a step's field or the output. Text nunjucks
/// cannot parse is a warning: Backstage keeps it as written.
fn check_expressions(
    location: &str,
    value: &Value,
    renderer: &Renderer,
    secrets: &Secrets,
    problems: &mut Vec<String>,
    warnings: &mut Warnings,
) {
    match value {
        Value::String(text) => match renderer.references(location, text) {
            Err(error) if error.syntax => warnings.push(Warning::new(
                location,
                error.line,
                format!(
                    "{}; this text is used as written, without rendering, as Backstage does",
                    error.message
                ),
            )),
            Err(error) => problems.push(error.to_string()),
            Ok(names) => {
                if let Secrets::Refused(why) = secrets
                    && names.contains("secrets")
                {
                    problems.push(format!(
                        "{location}: uses ${{{{ secrets }}}}, which may appear only in an action's secret \
                         inputs ({why})"
                    ));
                }
                // debug() prints the whole context, every secret included.
                if names.contains("debug") {
                    problems.push(format!(
                        "{location}: debug() prints every value, secrets included; it is not allowed"
                    ));
                }
            }
        },
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_expressions(
                    &format!("{location}[{i}]"),
                    item,
                    renderer,
                    secrets,
                    problems,
                    warnings,
                );
            }
        }
        Value::Object(fields) => {
            for (key, field) in fields {
                check_expressions(
                    &format!("{location}.{key}"),
                    field,
                    renderer,
                    secrets,
                    problems,
                    warnings,
                );
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
    files: &TemplateFiles,
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
    let location = match fetch::source_path(&files.dir, url) {
        Ok(location) => location,
        Err(error) => {
            problems.push(format!("{label}: {error}"));
            return;
        }
    };
    let skeleton = workspace::subtree(&files.files, &location);
    if skeleton.is_empty() {
        problems.push(format!(
            "{label}: input.url {url:?}: the template has no files under {location:?}"
        ));
        return;
    }
    // Options still holding an expression are only known per request.
    let Ok(how) =
        actions::input::decode::<FetchTemplateInput>(input).and_then(|input| TemplateInput::read(&input))
    else {
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
        {
            match file_renderer.references(&shown, text) {
                Err(error) => problems.push(format!("{label}: {error}")),
                Ok(names) if names.contains("secrets") || names.contains("debug") => problems.push(format!(
                    "{label}: {shown}: skeleton files see only values, and secrets may appear only in an \
                     action's secret inputs; rendered files end up in a repository"
                )),
                Ok(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;

    /// What the check says of a step of `action` given `input`.
    fn problems(action: &actions::Action, input: &Map<String, Value>) -> Vec<String> {
        let mut problems = Vec::new();
        check_input_names(
            "step s",
            action,
            Some(&Value::Object(input.clone())),
            &mut problems,
        );
        problems
    }

    #[test]
    fn every_action_refuses_an_input_it_does_not_declare_naming_the_step_and_the_input() {
        for action in actions::ACTIONS {
            let schema = action.input_schema();
            // A value of the type each required input takes.
            let value = |name: &str| match schema.pointer(&format!("/properties/{name}/type")) {
                Some(ty) if ty == "array" => json!(["x"]),
                Some(ty) if ty == "object" => json!({}),
                _ => json!("x"),
            };
            let mut input: Map<String, Value> = action
                .required_inputs()
                .into_iter()
                .map(|name| {
                    let value = value(&name);
                    (name, value)
                })
                .collect();
            assert_eq!(problems(action, &input), Vec::<String>::new(), "{}", action.name);
            input.insert("notAnInput".into(), json!(1));
            let found = problems(action, &input);
            assert_eq!(found.len(), 1, "{}: {found:?}", action.name);
            assert!(
                found[0].starts_with(&format!(
                    "step s: input.notAnInput is not an input of {}; it takes ",
                    action.name
                )),
                "{}",
                found[0]
            );
        }
    }

    #[test]
    fn a_value_written_out_is_checked_against_what_the_input_allows() {
        let input = |fields: Value| fields.as_object().cloned().unwrap_or_default();
        let create = actions::ActionKind::GithubRepoCreate.definition();
        let found = problems(
            create,
            &input(
                json!({"repoUrl": "github.com?owner=a&repo=b", "repoVisibility": "hidden",
                          "squashMergeCommitTitle": "TITLE"}),
            ),
        );
        assert_eq!(
            found,
            [
                "step s: input.repoVisibility: \"hidden\" is not one of \"private\", \"public\", \"internal\" \
                 (github:repo:create)",
                "step s: input.squashMergeCommitTitle: \"TITLE\" is not one of \"PR_TITLE\", \
                 \"COMMIT_OR_PR_TITLE\" (github:repo:create)"
            ]
        );
        let push = actions::ActionKind::GithubRepoPush.definition();
        let found = problems(
            push,
            &input(json!({"repoUrl": "r", "requiredApprovingReviewCount": 9, "protectDefaultBranch": "yes"})),
        );
        assert_eq!(
            found,
            [
                "step s: input.requiredApprovingReviewCount must be from 0 to 6, not 9 (github:repo:push)",
                "step s: input.protectDefaultBranch must be true or false, not a string (github:repo:push)"
            ]
        );
        // Known only per request: checked when the step runs.
        let rendered = input(
            json!({"repoUrl": "r", "repoVisibility": "${{ parameters.visibility }}",
                                    "topics": ["${{ parameters.topic }}"], "description": null}),
        );
        assert_eq!(problems(create, &rendered), Vec::<String>::new());
        let rendered = input(json!({"repoUrl": "r", "requiredApprovingReviewCount": "${{ parameters.n }}"}));
        assert_eq!(problems(push, &rendered), Vec::<String>::new());
    }

    /// Backstage's own actions and the inputs each takes.
    const BACKSTAGE: &[(&str, &[&str])] = &[
        (
            "fetch:template",
            &[
                "url",
                "targetPath",
                "values",
                "copyWithoutRender",
                "copyWithoutTemplating",
                "cookiecutterCompat",
                "templateFileExtension",
                "replace",
                "trimBlocks",
                "lstripBlocks",
                "token",
            ],
        ),
        (
            "fetch:template:file",
            &[
                "url",
                "targetPath",
                "values",
                "cookiecutterCompat",
                "replace",
                "trimBlocks",
                "lstripBlocks",
                "token",
            ],
        ),
        ("fetch:plain", &["url", "targetPath", "token"]),
        ("fetch:plain:file", &["url", "targetPath", "token"]),
        ("fs:delete", &["files"]),
        ("fs:rename", &["files"]),
        ("debug:log", &["message", "listWorkspace"]),
        ("debug:wait", &["minutes", "seconds", "milliseconds"]),
        ("catalog:write", &["filePath", "entity"]),
        (
            "catalog:register",
            &["catalogInfoUrl", "repoContentsUrl", "catalogInfoPath", "optional"],
        ),
        (
            "catalog:fetch",
            &[
                "entityRef",
                "entityRefs",
                "optional",
                "defaultKind",
                "defaultNamespace",
            ],
        ),
        (
            "publish:gitlab",
            &[
                "repoUrl",
                "repoVisibility",
                "defaultBranch",
                "gitCommitMessage",
                "gitAuthorName",
                "gitAuthorEmail",
                "signCommit",
                "sourcePath",
                "skipExisting",
                "token",
                "setUserAsOwner",
                "topics",
                "settings",
                "branches",
                "projectVariables",
            ],
        ),
        (
            "argocd:create-resources",
            &[
                "argoInstance",
                "namespace",
                "projectName",
                "appName",
                "repoUrl",
                "path",
                "labelValue",
            ],
        ),
    ];

    #[test]
    fn backstages_own_inputs_are_declared() {
        let backstage = BACKSTAGE;
        for (name, inputs) in backstage {
            let action = actions::find(name).unwrap();
            let declared = action.inputs();
            for input in *inputs {
                assert!(
                    declared.contains(&input.to_string()),
                    "{name}: {input} not declared"
                );
            }
        }
    }
}
