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

mod messages;

use messages::{
    describe, escape_pointer, field_path, join_field, schema_problem, unescape_pointer, value_text,
};

use super::warnings::Warning;
use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator, ValidatorMap};
use serde_json::{Map, Value};

/// Schemas nest only as deep as their authors write them, but a local `$ref`
/// can loop (`{"$ref": "#"}`); filling defaults stops following it here.
const MAX_DEFAULTS_DEPTH: usize = 64;

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

    /// Fills defaults into `value` as the subschema at `pointer` (an escaped
    /// JSON pointer into the page, `""` for the page) describes it.
    /// `discriminator` is set for the schema of `dependencies.<key>`: its
    /// `oneOf` branches are told apart by what they allow for `<key>`, as
    /// Backstage's form does.
    fn apply_defaults(
        &self,
        pointer: &str,
        schema: &Value,
        value: &mut Value,
        discriminator: Option<&str>,
        depth: usize,
    ) {
        if depth > MAX_DEFAULTS_DEPTH {
            return;
        }
        let Value::Object(keywords) = schema else {
            return;
        };
        if let Some(Value::String(reference)) = keywords.get("$ref") {
            // Draft 7 ignores a `$ref`'s siblings; so do defaults.
            if let Some(target_pointer) = reference.strip_prefix('#')
                && let Some(target) = self.schema.pointer(target_pointer)
            {
                self.apply_defaults(target_pointer, target, value, discriminator, depth + 1);
            }
            return;
        }

        if let (Some(Value::Object(properties)), Value::Object(object)) =
            (keywords.get("properties"), &mut *value)
        {
            for (key, property) in properties {
                if !object.contains_key(key)
                    && let Some(default) = self.default_of(property)
                {
                    object.insert(key.clone(), default.clone());
                }
                if let Some(child) = object.get_mut(key) {
                    let child_pointer = format!("{pointer}/properties/{}", escape_pointer(key));
                    self.apply_defaults(&child_pointer, property, child, None, depth + 1);
                }
            }
        }
        if let Some(Value::Object(dependencies)) = keywords.get("dependencies") {
            for (key, dependency) in dependencies {
                if dependency.is_object() && value.get(key).is_some() {
                    let dependency_pointer = format!("{pointer}/dependencies/{}", escape_pointer(key));
                    self.apply_defaults(&dependency_pointer, dependency, value, Some(key), depth + 1);
                }
            }
        }
        if let Value::Array(items) = &mut *value {
            match keywords.get("items") {
                Some(item_schema @ Value::Object(_)) => {
                    let item_pointer = format!("{pointer}/items");
                    for item in items.iter_mut() {
                        self.apply_defaults(&item_pointer, item_schema, item, None, depth + 1);
                    }
                }
                Some(Value::Array(item_schemas)) => {
                    for (index, (item_schema, item)) in item_schemas.iter().zip(items.iter_mut()).enumerate()
                    {
                        let item_pointer = format!("{pointer}/items/{index}");
                        self.apply_defaults(&item_pointer, item_schema, item, None, depth + 1);
                    }
                }
                _ => {}
            }
        }
        if let Some(Value::Array(all)) = keywords.get("allOf") {
            for (index, branch) in all.iter().enumerate() {
                let branch_pointer = format!("{pointer}/allOf/{index}");
                self.apply_defaults(&branch_pointer, branch, value, None, depth + 1);
            }
        }
        if keywords.contains_key("if") {
            let branch = if self.matches(&format!("{pointer}/if"), value) {
                "then"
            } else {
                "else"
            };
            if let Some(branch_schema) = keywords.get(branch) {
                let branch_pointer = format!("{pointer}/{branch}");
                self.apply_defaults(&branch_pointer, branch_schema, value, None, depth + 1);
            }
        }
        for (keyword, exactly_one) in [("oneOf", true), ("anyOf", false)] {
            if let Some(Value::Array(branches)) = keywords.get(keyword) {
                let branches_pointer = format!("{pointer}/{keyword}");
                self.apply_branch_defaults(
                    &branches_pointer,
                    branches,
                    value,
                    exactly_one,
                    discriminator,
                    depth,
                );
            }
        }
    }

    /// Fills the defaults of the one `oneOf`/`anyOf` branch the values are
    /// in. A branch is in if the values pass it once its defaults are filled
    /// (a branch's own default may be what satisfies its `required`); when
    /// none passes, the branch the user picked is the one whose
    /// discriminating value still fits, so its other defaults are kept and
    /// only the real problem is reported.
    fn apply_branch_defaults(
        &self,
        pointer: &str,
        branches: &[Value],
        value: &mut Value,
        exactly_one: bool,
        discriminator: Option<&str>,
        depth: usize,
    ) {
        let trials: Vec<(String, Value)> = branches
            .iter()
            .enumerate()
            .map(|(index, branch)| {
                let branch_pointer = format!("{pointer}/{index}");
                let mut trial = value.clone();
                self.apply_defaults(&branch_pointer, branch, &mut trial, None, depth + 1);
                (branch_pointer, trial)
            })
            .collect();
        let passing: Vec<usize> = trials
            .iter()
            .enumerate()
            .filter(|(_, (branch_pointer, trial))| self.matches(branch_pointer, trial))
            .map(|(index, _)| index)
            .collect();
        let chosen = match (passing.as_slice(), exactly_one) {
            ([only], _) => Some(*only),
            ([first, ..], false) => Some(*first),
            ([], _) => {
                let picked: Vec<usize> = trials
                    .iter()
                    .enumerate()
                    .filter(|(_, (branch_pointer, trial))| {
                        self.subschemas
                            .get(&format!("#{branch_pointer}"))
                            .is_some_and(|validator| {
                                let errors: Vec<_> = validator.iter_errors(trial).collect();
                                !ruled_out(&errors, "", discriminator)
                            })
                    })
                    .map(|(index, _)| index)
                    .collect();
                match picked.as_slice() {
                    [only] => Some(*only),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some((_, trial)) = chosen.and_then(|index| trials.into_iter().nth(index)) {
            *value = trial;
        }
    }

    /// Whether `value` passes the subschema at `pointer`.
    fn matches(&self, pointer: &str, value: &Value) -> bool {
        self.subschemas
            .get(&format!("#{pointer}"))
            .is_some_and(|validator| validator.is_valid(value))
    }

    /// A property's `default`, looking through a local `$ref` once since
    /// shared definitions often carry the default.
    fn default_of<'a>(&'a self, property: &'a Value) -> Option<&'a Value> {
        if let Some(Value::String(reference)) = property.get("$ref") {
            return reference
                .strip_prefix('#')
                .and_then(|target| self.schema.pointer(target))
                .and_then(|target| target.get("default"));
        }
        property.get("default")
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
mod tests {
    use pretty_assertions::assert_eq;
    use serde_json::{Value, json};

    use super::*;

    fn schema(parameters: Value) -> ParameterSchema {
        match ParameterSchema::new(Some(&parameters)) {
            Ok(schema) => schema,
            Err(error) => panic!("schema should compile: {error}"),
        }
    }

    fn schema_error(parameters: Value) -> String {
        match ParameterSchema::new(Some(&parameters)) {
            Ok(_) => panic!("schema should not compile"),
            Err(error) => error.to_string(),
        }
    }

    fn valid(schema: &ParameterSchema, values: Value) -> Value {
        match schema.validate(&values) {
            Ok(values) => values,
            Err(errors) => panic!("values should be valid: {errors:?}"),
        }
    }

    fn invalid(schema: &ParameterSchema, values: Value) -> Vec<(String, String, String)> {
        match schema.validate(&values) {
            Ok(values) => panic!("values should be invalid: {values}"),
            Err(errors) => errors
                .into_iter()
                .map(|error| (error.field, error.rule, error.message))
                .collect(),
        }
    }

    fn expected(errors: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
        errors
            .iter()
            .map(|(field, rule, message)| ((*field).to_owned(), (*rule).to_owned(), (*message).to_owned()))
            .collect()
    }

    /// The Spring Boot template of the seed document, with the database
    /// default a real template would carry.
    fn spring_boot() -> Value {
        json!([
            {
                "title": "Service Information",
                "required": ["name", "owner"],
                "properties": {
                    "name": {
                        "title": "Service Name",
                        "type": "string",
                        "description": "Unique name for your service"
                    },
                    "owner": {
                        "title": "Owner",
                        "type": "string",
                        "description": "Team responsible for this service",
                        "ui:field": "OwnerPicker"
                    }
                }
            },
            {
                "title": "Database",
                "properties": {
                    "database": {
                        "title": "Database Type",
                        "type": "string",
                        "enum": ["postgresql", "mysql", "mongodb", "none"],
                        "default": "postgresql"
                    }
                }
            }
        ])
    }

    /// Backstage's classic conditional field: choosing PostgreSQL adds a
    /// required size, with a default.
    fn database_dependencies(size_default: Option<&str>) -> Value {
        let mut size = json!({"type": "string", "enum": ["small", "large"]});
        if let (Some(default), Some(size)) = (size_default, size.as_object_mut()) {
            size.insert("default".into(), json!(default));
        }
        json!({
            "title": "Database",
            "properties": {
                "database": {
                    "type": "string",
                    "enum": ["postgresql", "mysql", "none"],
                    "default": "none",
                    "ui:widget": "radio"
                }
            },
            "dependencies": {
                "database": {
                    "oneOf": [
                        {
                            "properties": {
                                "database": {"enum": ["postgresql"]},
                                "dbSize": size
                            },
                            "required": ["dbSize"]
                        },
                        {
                            "properties": {"database": {"enum": ["mysql", "none"]}}
                        }
                    ]
                }
            }
        })
    }

    #[test]
    fn no_schema_accepts_any_object() {
        let schema = match ParameterSchema::new(None) {
            Ok(schema) => schema,
            Err(error) => panic!("{error}"),
        };
        assert_eq!(valid(&schema, json!({"a": 1})), json!({"a": 1}));
        assert_eq!(valid(&schema, Value::Null), json!({}));
        for empty in [json!([]), json!({}), Value::Null] {
            let schema = self::schema(empty);
            assert_eq!(valid(&schema, json!({"x": [1]})), json!({"x": [1]}));
        }
    }

    #[test]
    fn a_type_json_schema_does_not_define_accepts_any_value_and_is_reported() {
        let schema = schema(json!([
            {"title": "Basics", "properties": {"name": {"type": "string"}}},
            {"properties": {
                "vars": {"type": "map(any)"},
                "list": {"type": "array", "items": {"type": ["string", "list(string)"]}},
                "type": {"type": "string"}
            }}
        ]));
        for value in [json!({"a": 1}), json!("text"), json!(3), json!([1])] {
            let values = json!({"vars": value, "list": [1, "x", {"y": true}], "type": "t"});
            assert_eq!(valid(&schema, values.clone()), values);
        }
        assert_eq!(
            invalid(&schema, json!({"type": 3})),
            expected(&[("type", "type", "must be a string")])
        );
        let warnings: Vec<String> = schema.warnings().iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "parameters page 2: properties.vars.type: names a type JSON Schema does not define; as in \
                 Backstage, the field accepts any value",
                "parameters page 2: properties.list.items.type: names a type JSON Schema does not define; \
                 as in Backstage, the field accepts any value",
            ]
        );
        assert!(
            self::schema(json!({"properties": {"n": {"type": "integer"}}}))
                .warnings()
                .is_empty()
        );
    }

    #[test]
    fn values_must_be_an_object() {
        let schema = schema(json!({}));
        for values in [json!([]), json!("name"), json!(3)] {
            assert_eq!(
                invalid(&schema, values),
                expected(&[("", "type", "must be an object")])
            );
        }
    }

    #[test]
    fn single_object_schema() {
        let schema = schema(json!({
            "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}}
        }));
        assert_eq!(valid(&schema, json!({"name": "svc"})), json!({"name": "svc"}));
        assert_eq!(
            invalid(&schema, json!({})),
            expected(&[("name", "required", "is required")])
        );
        assert_eq!(
            invalid(&schema, json!({"name": "Svc"})),
            expected(&[("name", "pattern", "must match the pattern ^[a-z]+$")])
        );
    }

    #[test]
    fn spring_boot_pages() {
        let schema = schema(spring_boot());
        assert_eq!(
            valid(&schema, json!({"name": "orders", "owner": "group:team-a"})),
            json!({"name": "orders", "owner": "group:team-a", "database": "postgresql"})
        );
        assert_eq!(
            valid(
                &schema,
                json!({"name": "orders", "owner": "team-a", "database": "none"})
            ),
            json!({"name": "orders", "owner": "team-a", "database": "none"})
        );
        // Every page is checked, and every problem reported, sorted by field.
        assert_eq!(
            invalid(&schema, json!({"database": "oracle"})),
            expected(&[
                (
                    "database",
                    "enum",
                    "must be one of: postgresql, mysql, mongodb, none"
                ),
                ("name", "required", "is required"),
                ("owner", "required", "is required"),
            ])
        );
        assert_eq!(
            invalid(&schema, json!({"name": 7, "owner": "team-a"})),
            expected(&[("name", "type", "must be a string")])
        );
    }

    #[test]
    fn each_page_is_validated_against_all_values() {
        // A later page may constrain a field shown on an earlier one, as
        // Backstage validates every page against the merged values.
        let schema = schema(json!([
            {"title": "One", "properties": {"name": {"type": "string"}}},
            {"title": "Two", "required": ["name"], "properties": {"name": {"maxLength": 3}}}
        ]));
        assert_eq!(
            invalid(&schema, json!({})),
            expected(&[("name", "required", "is required")])
        );
        assert_eq!(
            invalid(&schema, json!({"name": "toolong"})),
            expected(&[("name", "maxLength", "must be at most 3 characters long")])
        );
    }

    #[test]
    fn repeated_rules_across_pages_are_reported_once() {
        let page = json!({"required": ["name"], "properties": {"name": {"type": "string"}}});
        let schema = schema(json!([page.clone(), page]));
        assert_eq!(
            invalid(&schema, json!({})),
            expected(&[("name", "required", "is required")])
        );
    }

    #[test]
    fn defaults_fill_absent_properties_and_satisfy_required() {
        let schema = schema(json!({
            "required": ["region", "replicas"],
            "properties": {
                "region": {"type": "string", "default": "us-west-2"},
                "replicas": {"type": "integer", "minimum": 1, "default": 2},
                "name": {"type": "string"}
            }
        }));
        assert_eq!(
            valid(&schema, json!({})),
            json!({"region": "us-west-2", "replicas": 2})
        );
        // Given values win over defaults, and are still validated.
        assert_eq!(
            valid(&schema, json!({"region": "eu-west-1"})),
            json!({"region": "eu-west-1", "replicas": 2})
        );
        assert_eq!(
            invalid(&schema, json!({"replicas": 0})),
            expected(&[("replicas", "minimum", "must be at least 1")])
        );
    }

    #[test]
    fn nested_defaults() {
        let schema = schema(json!({
            "properties": {
                "deploy": {
                    "type": "object",
                    "required": ["namespace"],
                    "properties": {
                        "namespace": {"type": "string", "default": "team-a"},
                        "limits": {
                            "type": "object",
                            "properties": {"cpu": {"type": "string", "default": "500m"}}
                        }
                    }
                },
                "monitoring": {
                    "type": "object",
                    "default": {"enabled": true},
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "interval": {"type": "string", "default": "30s"}
                    }
                },
                "optional": {
                    "type": "object",
                    "properties": {"x": {"type": "string", "default": "y"}}
                }
            }
        }));
        // A present object gets its defaults; an absent object appears only
        // if it has a default itself, and then gets its own defaults too.
        assert_eq!(
            valid(&schema, json!({"deploy": {}})),
            json!({
                "deploy": {"namespace": "team-a"},
                "monitoring": {"enabled": true, "interval": "30s"}
            })
        );
        assert_eq!(
            valid(
                &schema,
                json!({"deploy": {"limits": {}}, "monitoring": {"enabled": false}})
            ),
            json!({
                "deploy": {"namespace": "team-a", "limits": {"cpu": "500m"}},
                "monitoring": {"enabled": false, "interval": "30s"}
            })
        );
    }

    #[test]
    fn defaults_in_array_items() {
        let schema = schema(json!({
            "properties": {
                "ports": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["number", "protocol"],
                        "properties": {
                            "number": {"type": "integer"},
                            "protocol": {"type": "string", "default": "TCP"}
                        }
                    }
                }
            }
        }));
        assert_eq!(
            valid(
                &schema,
                json!({"ports": [{"number": 80}, {"number": 53, "protocol": "UDP"}]})
            ),
            json!({"ports": [
                {"number": 80, "protocol": "TCP"},
                {"number": 53, "protocol": "UDP"}
            ]})
        );
    }

    #[test]
    fn defaults_through_a_local_ref() {
        let schema = schema(json!({
            "definitions": {"region": {"type": "string", "default": "us-west-2", "minLength": 2}},
            "properties": {"region": {"$ref": "#/definitions/region"}}
        }));
        assert_eq!(valid(&schema, json!({})), json!({"region": "us-west-2"}));
        assert_eq!(
            invalid(&schema, json!({"region": "x"})),
            expected(&[("region", "minLength", "must be at least 2 characters long")])
        );
    }

    #[test]
    fn every_keyword_reports_its_field_and_rule() {
        let schema = schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "minLength": 3, "maxLength": 5},
                "short": {"type": "string", "maxLength": 1},
                "one": {"type": "string", "minLength": 1},
                "tier": {"const": "gold"},
                "count": {"type": "integer", "minimum": 1, "maximum": 10},
                "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "step": {"type": "number", "multipleOf": 5},
                "tags": {"type": "array", "minItems": 2, "maxItems": 3, "uniqueItems": true},
                "labels": {"type": "object", "minProperties": 1},
                "nullable": {"type": ["string", "null"]},
                "flag": {"type": "boolean"},
                "size": {"enum": [1, 2, "many"]}
            }
        }));
        assert_eq!(
            valid(
                &schema,
                json!({"name": "abc", "count": 10, "ratio": 0.5, "tags": ["a", "b"], "nullable": null})
            ),
            json!({"name": "abc", "count": 10, "ratio": 0.5, "tags": ["a", "b"], "nullable": null})
        );
        assert_eq!(
            invalid(
                &schema,
                json!({
                    "name": "ab",
                    "short": "ab",
                    "one": "",
                    "tier": "silver",
                    "count": 11,
                    "ratio": 1,
                    "step": 7,
                    "tags": ["a", "a"],
                    "labels": {},
                    "nullable": 3,
                    "flag": "yes",
                    "size": 3,
                    "extra": true
                })
            ),
            expected(&[
                ("count", "maximum", "must be at most 10"),
                ("extra", "additionalProperties", "is not allowed"),
                ("flag", "type", "must be a boolean"),
                ("labels", "minProperties", "must have at least 1 property"),
                ("name", "minLength", "must be at least 3 characters long"),
                ("nullable", "type", "must be a string or null"),
                ("one", "minLength", "must be at least 1 character long"),
                ("ratio", "exclusiveMaximum", "must be less than 1"),
                ("short", "maxLength", "must be at most 1 character long"),
                ("size", "enum", "must be one of: 1, 2, many"),
                ("step", "multipleOf", "must be a multiple of 5"),
                ("tags", "uniqueItems", "must not contain duplicate items"),
                ("tier", "const", "must be: gold"),
            ])
        );
        assert_eq!(
            invalid(
                &schema,
                json!({"count": 0, "ratio": 0, "tags": ["a", "b", "c", "d"]})
            ),
            expected(&[
                ("count", "minimum", "must be at least 1"),
                ("ratio", "exclusiveMinimum", "must be greater than 0"),
                ("tags", "maxItems", "must have at most 3 items"),
            ])
        );
        assert_eq!(
            invalid(&schema, json!({"tags": ["a"]})),
            expected(&[("tags", "minItems", "must have at least 2 items")])
        );
    }

    #[test]
    fn formats_are_validated() {
        let schema = schema(json!({
            "properties": {
                "email": {"type": "string", "format": "email"},
                "homepage": {"type": "string", "format": "uri"},
                "launch": {"type": "string", "format": "date"},
                "at": {"type": "string", "format": "date-time"},
                "custom": {"type": "string", "format": "team-name"}
            }
        }));
        assert_eq!(
            valid(
                &schema,
                json!({
                    "email": "dev@example.com",
                    "homepage": "https://example.com/docs",
                    "launch": "2024-01-31",
                    "at": "2024-01-31T09:00:00Z",
                    "custom": "anything"
                })
            )["email"],
            json!("dev@example.com")
        );
        assert_eq!(
            invalid(
                &schema,
                json!({
                    "email": "not-an-email",
                    "homepage": "example dot com",
                    "launch": "2024-13-01",
                    "at": "yesterday"
                })
            ),
            expected(&[
                (
                    "at",
                    "format",
                    "must be a valid date-time (e.g. 2024-01-31T09:00:00Z)"
                ),
                ("email", "format", "must be a valid email"),
                ("homepage", "format", "must be a valid URI"),
                ("launch", "format", "must be a valid date (YYYY-MM-DD)"),
            ])
        );
    }

    #[test]
    fn dependencies_with_one_of() {
        let schema = schema(database_dependencies(None));
        assert_eq!(valid(&schema, json!({})), json!({"database": "none"}));
        assert_eq!(
            valid(&schema, json!({"database": "mysql"})),
            json!({"database": "mysql"})
        );
        assert_eq!(
            valid(&schema, json!({"database": "postgresql", "dbSize": "large"})),
            json!({"database": "postgresql", "dbSize": "large"})
        );
        assert_eq!(
            invalid(&schema, json!({"database": "postgresql"})),
            expected(&[("dbSize", "required", "is required for the chosen database")])
        );
        assert_eq!(
            invalid(&schema, json!({"database": "postgresql", "dbSize": "huge"})),
            expected(&[(
                "dbSize",
                "enum",
                "must be one of: small, large (for the chosen database)"
            )])
        );
        assert_eq!(
            invalid(&schema, json!({"database": "oracle"})),
            expected(&[
                (
                    "",
                    "oneOf",
                    "must match exactly one of the allowed options; option 1: database must be one of: postgresql, dbSize is required; option 2: database must be one of: mysql, none"
                ),
                ("database", "enum", "must be one of: postgresql, mysql, none"),
            ])
        );
    }

    #[test]
    fn defaults_from_the_chosen_dependency_branch() {
        let schema = schema(database_dependencies(Some("small")));
        assert_eq!(
            valid(&schema, json!({"database": "postgresql"})),
            json!({"database": "postgresql", "dbSize": "small"})
        );
        // The other branch's defaults stay out.
        assert_eq!(
            valid(&schema, json!({"database": "mysql"})),
            json!({"database": "mysql"})
        );
        assert_eq!(valid(&schema, json!({})), json!({"database": "none"}));
    }

    #[test]
    fn branch_defaults_are_kept_when_another_rule_of_the_branch_fails() {
        let schema = schema(json!({
            "properties": {"kind": {"enum": ["service", "library"]}},
            "dependencies": {
                "kind": {
                    "oneOf": [
                        {
                            "properties": {
                                "kind": {"const": "service"},
                                "port": {"type": "integer", "default": 8080},
                                "path": {"type": "string", "pattern": "^/"}
                            },
                            "required": ["port", "path"]
                        },
                        {"properties": {"kind": {"const": "library"}}}
                    ]
                }
            }
        }));
        assert_eq!(
            invalid(&schema, json!({"kind": "service", "path": "api"})),
            expected(&[(
                "path",
                "pattern",
                "must match the pattern ^/ (for the chosen kind)"
            )])
        );
        assert_eq!(
            valid(&schema, json!({"kind": "service", "path": "/api"})),
            json!({"kind": "service", "path": "/api", "port": 8080})
        );
    }

    #[test]
    fn property_dependencies() {
        let schema = schema(json!({
            "properties": {"billing": {"type": "boolean"}, "costCenter": {"type": "string"}},
            "dependencies": {"billing": ["costCenter"]}
        }));
        assert_eq!(valid(&schema, json!({})), json!({}));
        assert_eq!(
            invalid(&schema, json!({"billing": true})),
            expected(&[("costCenter", "required", "is required when billing is set")])
        );
    }

    #[test]
    fn all_of_if_then_else() {
        let schema = schema(json!({
            "properties": {"kind": {"type": "string", "enum": ["service", "job"]}},
            "allOf": [
                {
                    "if": {"properties": {"kind": {"const": "service"}}, "required": ["kind"]},
                    "then": {
                        "properties": {
                            "port": {"type": "integer", "maximum": 65535},
                            "replicas": {"type": "integer", "default": 2}
                        },
                        "required": ["port"]
                    },
                    "else": {"properties": {"schedule": {"type": "string", "default": "@daily"}}}
                }
            ]
        }));
        assert_eq!(
            valid(&schema, json!({"kind": "service", "port": 80})),
            json!({"kind": "service", "port": 80, "replicas": 2})
        );
        assert_eq!(
            valid(&schema, json!({"kind": "job"})),
            json!({"kind": "job", "schedule": "@daily"})
        );
        assert_eq!(
            invalid(&schema, json!({"kind": "service"})),
            expected(&[("port", "required", "is required")])
        );
        assert_eq!(
            invalid(&schema, json!({"kind": "service", "port": 70000})),
            expected(&[("port", "maximum", "must be at most 65535")])
        );
    }

    #[test]
    fn plain_one_of_and_any_of() {
        let schema = schema(json!({
            "properties": {
                "source": {
                    "type": "object",
                    "oneOf": [
                        {
                            "properties": {"type": {"const": "git"}, "url": {"format": "uri"}},
                            "required": ["type", "url"]
                        },
                        {
                            "properties": {"type": {"const": "inline"}, "files": {"type": "object"}},
                            "required": ["type", "files"]
                        }
                    ]
                },
                "contact": {
                    "anyOf": [{"required": ["email"]}, {"required": ["slack"]}]
                }
            }
        }));
        assert_eq!(
            valid(
                &schema,
                json!({"source": {"type": "git", "url": "https://x.io/r"}})
            )["source"]["type"],
            json!("git")
        );
        // The chosen branch is clear from `type`: report what it needs.
        assert_eq!(
            invalid(&schema, json!({"source": {"type": "inline"}})),
            expected(&[("source.files", "required", "is required")])
        );
        // Unclear: say what each option needs.
        assert_eq!(
            invalid(&schema, json!({"source": {}, "contact": {}})),
            expected(&[
                (
                    "contact",
                    "anyOf",
                    "must match at least one of the allowed options; option 1: email is required; option 2: slack is required"
                ),
                (
                    "source",
                    "oneOf",
                    "must match exactly one of the allowed options; option 1: type is required, url is required; option 2: files is required, type is required"
                ),
            ])
        );
    }

    #[test]
    fn ui_keys_are_ignored() {
        let schema = schema(json!({
            "title": "Details",
            "ui:order": ["name", "*"],
            "properties": {
                "name": {
                    "type": "string",
                    "ui:autofocus": true,
                    "ui:help": "lowercase",
                    "ui:options": {"rows": "five", "type": 42, "required": "yes"}
                },
                "password": {
                    "type": "string",
                    "ui:widget": "password",
                    "ui:field": {"not": "a schema"}
                },
                "hosts": {
                    "type": "array",
                    "items": {"type": "string", "ui:options": {"enum": 1}}
                }
            },
            "dependencies": {
                "name": {"oneOf": [{"properties": {"name": {"ui:widget": 5}}}]}
            }
        }));
        assert_eq!(
            valid(&schema, json!({"name": "svc", "hosts": ["a"]})),
            json!({"name": "svc", "hosts": ["a"]})
        );
        assert_eq!(
            invalid(&schema, json!({"name": 1})),
            expected(&[("name", "type", "must be a string")])
        );
        // The validators were built from a page without them.
        let compiled = schema.pages[0].schema.to_string();
        assert!(!compiled.contains("\"ui:"), "{compiled}");
        assert!(compiled.contains("\"dependencies\""), "{compiled}");
    }

    #[test]
    fn ui_like_keys_in_data_are_kept() {
        let schema = schema(json!({
            "properties": {
                "opts": {"type": "object", "default": {"ui:theme": "dark"}, "required": ["ui:theme"]}
            }
        }));
        assert_eq!(valid(&schema, json!({})), json!({"opts": {"ui:theme": "dark"}}));
    }

    #[test]
    fn array_item_errors_name_the_item() {
        let schema = schema(json!({
            "properties": {
                "ports": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["number"],
                        "properties": {"number": {"type": "integer", "minimum": 1, "maximum": 65535}}
                    }
                }
            }
        }));
        assert_eq!(
            invalid(
                &schema,
                json!({"ports": [{"number": 80}, {"number": 0}, {}, {"number": "http"}]})
            ),
            expected(&[
                ("ports[1].number", "minimum", "must be at least 1"),
                ("ports[2].number", "required", "is required"),
                ("ports[3].number", "type", "must be an integer"),
            ])
        );
    }

    #[test]
    fn odd_keys_are_quoted_in_fields() {
        let schema = schema(json!({
            "properties": {"app.kubernetes.io/name": {"type": "string"}, "0": {"type": "string"}}
        }));
        let errors = match schema.validate(&json!({"app.kubernetes.io/name": 1, "0": 1})) {
            Ok(values) => panic!("should be invalid: {values}"),
            Err(errors) => errors,
        };
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "parameters.0: must be a string",
                "parameters[\"app.kubernetes.io/name\"]: must be a string",
            ]
        );
    }

    #[test]
    fn submitted_values_are_never_echoed() {
        let schema = schema(json!({
            "properties": {
                "password": {"type": "string", "ui:widget": "password", "pattern": "^[0-9]+$", "minLength": 20},
                "token": {"enum": ["a", "b"], "ui:field": "Secret"},
                "key": {"format": "email"}
            }
        }));
        let secret = "hunter2-secret";
        let errors = match schema.validate(&json!({"password": secret, "token": secret, "key": secret})) {
            Ok(values) => panic!("should be invalid: {values}"),
            Err(errors) => errors,
        };
        assert_eq!(errors.len(), 4);
        for error in errors {
            assert!(!error.to_string().contains(secret), "{error}");
        }
    }

    #[test]
    fn error_display() {
        assert_eq!(
            ParameterError::new("name", "required", "is required").to_string(),
            "parameters.name: is required"
        );
        assert_eq!(
            ParameterError::new("", "type", "must be an object").to_string(),
            "parameters: must be an object"
        );
        assert_eq!(
            ParameterError::new("ports[1].number", "minimum", "must be at least 1").to_string(),
            "parameters.ports[1].number: must be at least 1"
        );
    }

    #[test]
    fn invalid_schemas_name_the_page() {
        let mut pages = spring_boot();
        pages[1]["properties"]["database"]["enum"] = json!("postgresql");
        assert_eq!(
            schema_error(pages),
            "parameters page 2 (Database): properties.database.enum: must be an array"
        );
        assert_eq!(
            schema_error(json!([{"properties": {"name": {"type": "string", "pattern": "^([a-z"}}}])),
            "parameters page 1: properties.name.pattern: is not a valid regular expression"
        );
        assert_eq!(
            schema_error(json!({"title": "Only", "required": "name"})),
            "parameters (Only): required: must be an array"
        );
        assert_eq!(
            schema_error(json!({"allOf": [{"minLength": -1}]})),
            "parameters: allOf[0].minLength: must be at least 0"
        );
        assert_eq!(
            schema_error(json!([{"title": "A"}, "oops"])),
            "parameters page 2: must be a JSON Schema object"
        );
        assert_eq!(
            schema_error(json!("name")),
            "parameters: must be a JSON Schema object or a list of page objects"
        );
        assert_eq!(
            schema_error(json!({"properties": {"x": {"$ref": "https://example.com/s.json"}}})),
            "parameters: has a $ref that cannot be resolved; only references within the same page (#/...) are supported"
        );
    }

    #[test]
    fn schema_error_fields() {
        let error = match ParameterSchema::new(Some(&json!([
            {"title": "Service Information"},
            {"title": "Database", "properties": {"database": {"enum": "x"}}}
        ]))) {
            Ok(_) => panic!("schema should not compile"),
            Err(error) => error,
        };
        assert_eq!(
            error,
            SchemaError {
                page: Some(2),
                title: Some("Database".into()),
                path: "properties.database.enum".into(),
                message: "must be an array".into(),
            }
        );
    }

    #[test]
    fn self_referencing_schema_does_not_loop() {
        let schema = schema(json!({
            "properties": {"child": {"$ref": "#"}, "name": {"default": "x"}},
            "allOf": [{"$ref": "#"}]
        }));
        assert_eq!(
            valid(&schema, json!({"child": {}})),
            json!({"child": {"name": "x"}, "name": "x"})
        );
    }

    #[test]
    fn compiled_schema_can_be_shared_across_tasks() {
        fn shared<T: Send + Sync>() {}
        shared::<ParameterSchema>();
    }
}
