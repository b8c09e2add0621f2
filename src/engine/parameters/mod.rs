//! Validating a request's parameters against a Template's JSON Schema.
//!
//! This module owns the Backstage semantics of `spec.parameters`: one schema
//! or a list of pages, each validated on its own against the merged values
//! (as Backstage's scaffolder backend does), `ui:*` keys ignored, draft 7
//! (`dependencies` with `oneOf` is how Backstage templates show conditional
//! fields), formats asserted, and defaults filled in the way Backstage's form
//! fills them before a request is submitted. Errors are phrased for the person
//! who filled in the form, never echoing what they submitted: any parameter
//! may be a secret.

use std::fmt;

mod defaults;
mod messages;

use messages::{
    describe, escape_pointer, field_path, join_field, schema_problem, unescape_pointer, value_text,
};

use super::warnings::Warning;
use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator, ValidatorMap};
use serde_json::{Map, Value};

/// One problem with the parameters, naming the field and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterError {
    /// Path of the field, object keys joined by `.` and array indices as
    /// `[i]`, e.g. `name`, `ports[2].number`; empty for the parameters as a
    /// whole.
    pub field: String,
    /// The JSON Schema keyword the value broke, e.g. `required`, `pattern`,
    /// `enum`, `format`, `oneOf`.
    pub rule: String,
    /// What is wrong and what to fix, e.g. `must match the pattern ^[a-z]+$`.
    /// Never contains the submitted value.
    pub message: String,
}

impl ParameterError {
    fn new(field: impl Into<String>, rule: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ParameterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "parameters: {}", self.message)
        } else if self.field.starts_with('[') {
            write!(f, "parameters{}: {}", self.field, self.message)
        } else {
            write!(f, "parameters.{}: {}", self.field, self.message)
        }
    }
}

/// A Template's `spec.parameters` that cannot be used as a JSON Schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct SchemaError {
    /// The page at fault, counted from 1 as a user reading the template
    /// would; `None` when the parameters are a single schema, or their shape
    /// as a whole is wrong.
    pub page: Option<usize>,
    /// The page's `title`, if it has one.
    pub title: Option<String>,
    /// Where in the page the problem is, e.g. `properties.database.enum`;
    /// empty for the page itself.
    pub path: String,
    /// What is wrong, e.g. `must be an array`.
    pub message: String,
}

impl SchemaError {
    fn describe(&self) -> String {
        let mut out = String::from("parameters");
        if let Some(page) = self.page {
            out.push_str(&format!(" page {page}"));
        }
        if let Some(title) = &self.title {
            out.push_str(&format!(" ({title})"));
        }
        out.push_str(": ");
        if !self.path.is_empty() {
            out.push_str(&self.path);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

/// The template's parameter schema, compiled once and reused for every request.
#[derive(Debug)]
pub struct ParameterSchema {
    pages: Vec<Page>,
}

impl ParameterSchema {
    /// `parameters` is spec.parameters: None, one JSON Schema object, or a
    /// list of page objects.
    ///
    /// # Errors
    ///
    /// A [`SchemaError`] naming the first page that is not a valid draft 7
    /// schema once its `ui:*` keys are removed (wrong keyword types, a
    /// `pattern` that is not a regular expression, a `$ref` outside the page).
    pub fn new(parameters: Option<&Value>) -> Result<Self, SchemaError> {
        let pages = match parameters {
            None | Some(Value::Null) => Vec::new(),
            Some(page @ Value::Object(_)) => vec![Page::compile(page, None)?],
            Some(Value::Array(pages)) => pages
                .iter()
                .enumerate()
                .map(|(index, page)| Page::compile(page, Some(index + 1)))
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(SchemaError {
                    page: None,
                    title: None,
                    path: String::new(),
                    message: "must be a JSON Schema object or a list of page objects".into(),
                });
            }
        };
        Ok(Self { pages })
    }

    /// What Backstage accepts in the schema but is likely a mistake: each
    /// `type` JSON Schema does not define (it accepts any value).
    pub fn warnings(&self) -> Vec<Warning> {
        let mut warnings = Vec::new();
        for page in &self.pages {
            let mut location = String::from("parameters");
            if let Some(number) = page.number {
                location.push_str(&format!(" page {number}"));
            }
            if let Some(title) = &page.title {
                location.push_str(&format!(" ({title})"));
            }
            for path in &page.unknown_types {
                warnings.push(Warning::new(
                    format!("{location}: {path}"),
                    None,
                    "names a type JSON Schema does not define; as in Backstage, the field accepts any value",
                ));
            }
        }
        warnings
    }

    /// Applies defaults (recursively, including nested objects and defaults
    /// inside `dependencies`/`if-then` branches that apply) and validates.
    /// Returns the values with defaults applied, or every error found (not
    /// just the first), sorted by field.
    ///
    /// Defaults fill absent properties of every object present in the
    /// values; an absent object is created only when it has a default of its
    /// own. They are applied before validating, so a default satisfies
    /// `required`, and pages are filled in order, so a later page's
    /// conditions see an earlier page's defaults.
    ///
    /// # Errors
    ///
    /// Every problem found, one [`ParameterError`] each, sorted by field.
    pub fn validate(&self, values: &Value) -> Result<Value, Vec<ParameterError>> {
        let mut values = match values {
            Value::Null => Value::Object(Map::new()),
            Value::Object(_) => values.clone(),
            _ => return Err(vec![ParameterError::new("", "type", "must be an object")]),
        };
        for page in &self.pages {
            page.apply_defaults("", &page.schema, &mut values, None, 0);
        }
        let mut errors = Vec::new();
        for page in &self.pages {
            for error in page.validator.iter_errors(&values) {
                page.report(&error, &values, None, &mut errors);
            }
        }
        if errors.is_empty() {
            return Ok(values);
        }
        errors.sort_by(|a, b| (&a.field, &a.rule, &a.message).cmp(&(&b.field, &b.rule, &b.message)));
        // Pages are validated separately, so a rule two pages share fails on
        // both; the user needs to hear about it once.
        errors.dedup();
        Err(errors)
    }
}

/// One page of the form: the schema Backstage validates on its own.
#[derive(Debug)]
struct Page {
    /// The page with its `ui:*` keys removed: what the validators were built
    /// from, and what defaults and messages are read from.
    schema: Value,
    validator: Validator,
    /// A validator for every subschema, keyed by URI-fragment pointer
    /// (`#/dependencies/database/oneOf/0`), to decide which conditional
    /// branch applies when filling defaults; built from the whole page so
    /// that a branch's local `$ref`s still resolve.
    subschemas: ValidatorMap,
    /// Where the page names a `type` JSON Schema does not define, e.g.
    /// `properties.tags.type`; such a `type` accepts any value.
    unknown_types: Vec<String>,
    /// The page's number (from 1) when the parameters are a list of pages.
    number: Option<usize>,
    /// The page's `title`.
    title: Option<String>,
}

impl Page {
    fn compile(page: &Value, number: Option<usize>) -> Result<Self, SchemaError> {
        let title = page.get("title").and_then(Value::as_str).map(str::to_owned);
        let fail = |path: String, message: String| SchemaError {
            page: number,
            title: title.clone(),
            path,
            message,
        };
        if !page.is_object() {
            return Err(fail(String::new(), "must be a JSON Schema object".into()));
        }
        let mut schema = page.clone();
        let mut unknown_types = Vec::new();
        strip_ui_keys(&mut schema, "", &mut unknown_types);
        // Templates never declare `$schema`; draft 7 is the one whose
        // `dependencies` their conditional fields are written in.
        let options = jsonschema::options()
            .with_draft(Draft::Draft7)
            .should_validate_formats(true);
        let built = options
            .build(&schema)
            .and_then(|validator| Ok((validator, options.build_map(&schema)?)));
        match built {
            Ok((validator, subschemas)) => Ok(Self {
                schema,
                validator,
                subschemas,
                unknown_types,
                number,
                title,
            }),
            Err(error) => {
                let mut path = field_path(&schema, error.instance_path().as_str());
                if let ValidationErrorKind::Required { property } = error.kind() {
                    path = join_field(&path, &value_text(property));
                }
                Err(fail(path, schema_problem(error.kind())))
            }
        }
    }

    /// Turns one validation error into the errors a user reads. `choice`
    /// names the `dependencies` key whose chosen value brought the failing
    /// branch in, so the message can say why the rule applies.
    fn report(
        &self,
        error: &ValidationError<'_>,
        values: &Value,
        choice: Option<&str>,
        out: &mut Vec<ParameterError>,
    ) {
        let instance_pointer = error.instance_path().as_str();
        let field = field_path(values, instance_pointer);
        let problems: Vec<(String, String)> = match error.kind() {
            ValidationErrorKind::Required { property } => {
                let property = value_text(property);
                let message = match self.required_by(error, &property) {
                    Some(trigger) => format!("is required when {trigger} is set"),
                    None => "is required".to_owned(),
                };
                vec![(join_field(&field, &property), message)]
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
                .iter()
                .map(|property| (join_field(&field, property), "is not allowed".to_owned()))
                .collect(),
            ValidationErrorKind::OneOfNotValid { context } | ValidationErrorKind::AnyOf { context } => {
                let discriminator = dependency_key(error.schema_path().as_str());
                let candidates: Vec<&Vec<ValidationError<'static>>> = context
                    .iter()
                    .filter(|branch| !ruled_out(branch, instance_pointer, discriminator.as_deref()))
                    .collect();
                if let [branch] = candidates.as_slice() {
                    // The user's choice is clear: what they need to fix is
                    // that branch's rules, not "match one of the options".
                    for inner in branch.iter() {
                        self.report(inner, values, discriminator.as_deref().or(choice), out);
                    }
                    return;
                }
                vec![(
                    field.clone(),
                    self.options_summary(error.kind(), context, &field, values),
                )]
            }
            kind => vec![(field, describe(kind))],
        };
        let rule = error.kind().keyword();
        for (field, message) in problems {
            let message = match choice {
                Some(key) if message == "is required" => {
                    format!("is required for the chosen {key}")
                }
                Some(key) => format!("{message} (for the chosen {key})"),
                None => message,
            };
            out.push(ParameterError::new(field, rule, message));
        }
    }

    /// The message for a `oneOf`/`anyOf` no branch of which fits, when the
    /// user's choice is unclear: each option with what it would need.
    fn options_summary(
        &self,
        kind: &ValidationErrorKind,
        context: &[Vec<ValidationError<'static>>],
        field: &str,
        values: &Value,
    ) -> String {
        let lead = describe(kind);
        let options: Vec<String> = context
            .iter()
            .enumerate()
            .map(|(index, branch)| {
                let mut problems = Vec::new();
                for inner in branch {
                    self.report(inner, values, None, &mut problems);
                }
                problems.sort_by(|a, b| a.field.cmp(&b.field));
                let problems: Vec<String> = problems
                    .iter()
                    .map(|problem| relative_problem(field, problem))
                    .collect();
                format!("option {}: {}", index + 1, problems.join(", "))
            })
            .collect();
        if options.is_empty() {
            lead
        } else {
            format!("{lead}; {}", options.join("; "))
        }
    }

    /// For a `required` broken through a property dependency
    /// (`dependencies: {a: [b]}`), the property whose presence requires it.
    fn required_by(&self, error: &ValidationError<'_>, property: &str) -> Option<String> {
        let schema_pointer = error.schema_path().as_str();
        if !schema_pointer.ends_with("/dependencies") {
            return None;
        }
        let dependencies = self.schema.pointer(schema_pointer)?.as_object()?;
        let present = error.instance().as_object()?;
        dependencies
            .iter()
            .find(|(key, needed)| {
                present.contains_key(key.as_str())
                    && needed
                        .as_array()
                        .is_some_and(|needed| needed.iter().any(|name| name == property))
            })
            .map(|(key, _)| key.clone())
    }
}

/// Removes `ui:*` keys wherever a schema can be, and only there: a `ui:`
/// key in a `default` or `enum` value is data, and a property may be named
/// anything.
fn strip_ui_keys(schema: &mut Value, path: &str, unknown_types: &mut Vec<String>) {
    let Value::Object(keywords) = schema else {
        return;
    };
    keywords.retain(|key, _| !key.starts_with("ui:"));
    // Backstage's validator lets any value through a `type` it does not
    // know (`map(any)`), alone or in a list of types.
    if keywords.get("type").is_some_and(names_unknown_type) {
        keywords.remove("type");
        unknown_types.push(join_field(path, "type"));
    }
    for (keyword, value) in keywords.iter_mut() {
        let here = join_field(path, keyword);
        match keyword.as_str() {
            "properties" | "patternProperties" | "definitions" | "dependencies" => {
                if let Value::Object(named) = value {
                    for (name, schema) in named.iter_mut() {
                        strip_ui_keys(schema, &join_field(&here, name), unknown_types);
                    }
                }
            }
            "items" | "allOf" | "anyOf" | "oneOf" => match value {
                Value::Array(branches) => {
                    for (i, branch) in branches.iter_mut().enumerate() {
                        strip_ui_keys(branch, &format!("{here}[{i}]"), unknown_types);
                    }
                }
                other => strip_ui_keys(other, &here, unknown_types),
            },
            "additionalItems"
            | "additionalProperties"
            | "contains"
            | "propertyNames"
            | "if"
            | "then"
            | "else"
            | "not" => strip_ui_keys(value, &here, unknown_types),
            _ => {}
        }
    }
}

/// Whether a `type` keyword names a type JSON Schema does not define.
fn names_unknown_type(types: &Value) -> bool {
    const KNOWN: [&str; 7] = [
        "array", "boolean", "integer", "null", "number", "object", "string",
    ];
    let unknown = |name: &Value| name.as_str().is_some_and(|name| !KNOWN.contains(&name));
    match types {
        Value::Array(names) => names.iter().any(unknown),
        name => unknown(name),
    }
}

/// Whether a `oneOf`/`anyOf` branch's errors show it is not the branch the
/// user chose, as opposed to the chosen branch being filled in wrongly.
/// Under `dependencies.<key>`, a branch is out when it rejects `<key>`
/// (Backstage's form picks the branch the same way); otherwise when it
/// rejects the value's type or an `enum`/`const` of the value or one of its
/// properties, which is how branches of a plain `oneOf` are told apart.
fn ruled_out(errors: &[ValidationError<'_>], base: &str, discriminator: Option<&str>) -> bool {
    errors.iter().any(|error| {
        let path = error.instance_path().as_str();
        match discriminator {
            Some(key) => path == format!("{base}/{}", escape_pointer(key)),
            None => match error.kind() {
                ValidationErrorKind::Enum { .. } | ValidationErrorKind::Constant { .. } => {
                    path == base || path.rsplit_once('/').is_some_and(|(parent, _)| parent == base)
                }
                ValidationErrorKind::Type { .. } => path == base,
                _ => false,
            },
        }
    })
}

/// The `<key>` of a `.../dependencies/<key>/oneOf` (or `anyOf`) schema path.
fn dependency_key(schema_pointer: &str) -> Option<String> {
    let segments: Vec<&str> = schema_pointer.split('/').collect();
    match segments.as_slice() {
        [.., "dependencies", key, "oneOf" | "anyOf"] => Some(unescape_pointer(key)),
        _ => None,
    }
}

/// A branch's problem as read inside its `oneOf` field's message:
/// `dbSize is required` rather than the full path.
fn relative_problem(base: &str, problem: &ParameterError) -> String {
    let relative = problem
        .field
        .strip_prefix(base)
        .map(|rest| rest.strip_prefix('.').unwrap_or(rest))
        .unwrap_or(&problem.field);
    if relative.is_empty() {
        problem.message.clone()
    } else {
        format!("{relative} {}", problem.message)
    }
}

#[cfg(test)]
#[allow(clippy::panic, reason = "a test fails by panicking")]
mod tests;
