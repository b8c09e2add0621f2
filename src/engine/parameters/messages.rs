//! How parameter problems are put to the person who filled in the form:
//! the rule in words, limits and allowed values from the schema, and field
//! paths as they read them. The submitted value is never repeated.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

/// What a user is told for each rule. Limits and allowed values come from
/// the schema; the submitted value is never repeated.
pub(super) fn describe(kind: &ValidationErrorKind) -> String {
    match kind {
        ValidationErrorKind::Type { kind } => format!("must be {}", type_names(kind)),
        ValidationErrorKind::Enum { options } => match options.as_array() {
            Some(options) => format!(
                "must be one of: {}",
                options.iter().map(value_text).collect::<Vec<_>>().join(", ")
            ),
            None => format!("must be {}", value_text(options)),
        },
        ValidationErrorKind::Constant { expected_value } => {
            format!("must be: {}", value_text(expected_value))
        }
        ValidationErrorKind::Pattern { pattern } => format!("must match the pattern {pattern}"),
        ValidationErrorKind::BacktrackLimitExceeded { .. }
        | ValidationErrorKind::RegexEngineFailure { .. } => {
            "could not be checked against its pattern; try a shorter value".to_owned()
        }
        ValidationErrorKind::MinLength { limit } => {
            format!("must be at least {limit} {} long", plural(*limit, "character"))
        }
        ValidationErrorKind::MaxLength { limit } => {
            format!("must be at most {limit} {} long", plural(*limit, "character"))
        }
        ValidationErrorKind::Minimum { limit } => format!("must be at least {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("must be at most {limit}"),
        ValidationErrorKind::ExclusiveMinimum { limit } => format!("must be greater than {limit}"),
        ValidationErrorKind::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
        ValidationErrorKind::MultipleOf { multiple_of } => {
            format!("must be a multiple of {multiple_of}")
        }
        ValidationErrorKind::MinItems { limit } => {
            format!("must have at least {limit} {}", plural(*limit, "item"))
        }
        ValidationErrorKind::MaxItems { limit } => {
            format!("must have at most {limit} {}", plural(*limit, "item"))
        }
        ValidationErrorKind::AdditionalItems { limit } => {
            format!("must have at most {limit} {}", plural(*limit as u64, "item"))
        }
        ValidationErrorKind::UniqueItems => "must not contain duplicate items".to_owned(),
        ValidationErrorKind::Contains => "must contain at least one allowed item".to_owned(),
        ValidationErrorKind::MinProperties { limit } => {
            format!("must have at least {limit} {}", plural(*limit, "property"))
        }
        ValidationErrorKind::MaxProperties { limit } => {
            format!("must have at most {limit} {}", plural(*limit, "property"))
        }
        ValidationErrorKind::Format { format } => format_rule(format),
        ValidationErrorKind::Required { .. } => "is required".to_owned(),
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            "must match exactly one of the allowed options, but matches more than one".to_owned()
        }
        ValidationErrorKind::OneOfNotValid { .. } => {
            "must match exactly one of the allowed options".to_owned()
        }
        ValidationErrorKind::AnyOf { .. } => "must match at least one of the allowed options".to_owned(),
        ValidationErrorKind::Not { .. }
        | ValidationErrorKind::FalseSchema
        | ValidationErrorKind::AdditionalProperties { .. }
        | ValidationErrorKind::UnevaluatedItems { .. }
        | ValidationErrorKind::UnevaluatedProperties { .. } => "is not allowed".to_owned(),
        ValidationErrorKind::PropertyNames { .. } => "has a property name that is not allowed".to_owned(),
        ValidationErrorKind::Referencing(_) => {
            "has a $ref that cannot be resolved; only references within the same page (#/...) are supported"
                .to_owned()
        }
        ValidationErrorKind::Custom { message, .. } => message.clone(),
        ValidationErrorKind::ContentEncoding { content_encoding } => {
            format!("must be {content_encoding}-encoded")
        }
        ValidationErrorKind::FromUtf8 { .. } => "must decode to UTF-8 text".to_owned(),
        ValidationErrorKind::ContentMediaType { content_media_type } => {
            format!("must be valid {content_media_type}")
        }
    }
}

/// What a user is told for a value that is not of its `format`.
fn format_rule(format: &str) -> String {
    match format {
        "uri" => "must be a valid URI".to_owned(),
        "uri-reference" => "must be a valid URI reference".to_owned(),
        "date" => "must be a valid date (YYYY-MM-DD)".to_owned(),
        "date-time" => "must be a valid date-time (e.g. 2024-01-31T09:00:00Z)".to_owned(),
        "time" => "must be a valid time (e.g. 09:00:00Z)".to_owned(),
        other => format!("must be a valid {other}"),
    }
}

/// What a schema author is told for a page that does not compile: the
/// draft 7 meta-schema's rule, or the compiler's complaint.
pub(super) fn schema_problem(kind: &ValidationErrorKind) -> String {
    match kind {
        ValidationErrorKind::Format { format } if format == "regex" => {
            "is not a valid regular expression".to_owned()
        }
        // The meta-schema's alternatives (e.g. `type`: one name or a list of
        // names) are each worth reading; name the first problem of each.
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            let alternatives: Vec<String> = context
                .iter()
                .filter_map(|branch| branch.first())
                .map(|error| describe(error.kind()))
                .collect();
            if alternatives.is_empty() {
                describe(kind)
            } else {
                alternatives.join(", or ")
            }
        }
        other => describe(other),
    }
}

fn type_names(kind: &TypeKind) -> String {
    let names: Vec<&str> = match kind {
        TypeKind::Single(single) => vec![single.as_str()],
        TypeKind::Multiple(set) => set.iter().map(|single| single.as_str()).collect(),
    };
    // `null` reads best last: "a string or null".
    let (mut names, nulls): (Vec<&str>, Vec<&str>) = names.into_iter().partition(|name| *name != "null");
    names.extend(nulls);
    let names: Vec<String> = names
        .into_iter()
        .map(|name| match name {
            "null" => "null".to_owned(),
            "array" | "integer" | "object" => format!("an {name}"),
            other => format!("a {other}"),
        })
        .collect();
    match names.as_slice() {
        [] => "of an allowed type".to_owned(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn plural(count: u64, noun: &str) -> String {
    match (count, noun) {
        (1, _) => noun.to_owned(),
        (_, "property") => "properties".to_owned(),
        _ => format!("{noun}s"),
    }
}

/// A schema value as a user reads it in a message: strings bare, anything
/// else as JSON.
pub(super) fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A JSON pointer into `document` as a readable path (`ports[1].number`):
/// a segment is an index only where the document holds an array, since a
/// pointer alone cannot tell `/0` the key from `/0` the index.
pub(super) fn field_path(document: &Value, pointer: &str) -> String {
    let mut field = String::new();
    let mut current = Some(document);
    for segment in pointer.split('/').skip(1) {
        let segment = unescape_pointer(segment);
        match (current, segment.parse::<usize>()) {
            (Some(Value::Array(items)), Ok(index)) => {
                field.push_str(&format!("[{index}]"));
                current = items.get(index);
            }
            _ => {
                current = current.and_then(|value| value.get(&segment));
                field = join_field(&field, &segment);
            }
        }
    }
    field
}

/// Appends an object key to a readable path; keys that would be misread
/// after a `.` (spaces, dots, brackets) are written `["like this"]`.
pub(super) fn join_field(field: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '$' | ':' | '@'));
    if !plain {
        let quoted = Value::String(key.to_owned()).to_string();
        return format!("{field}[{quoted}]");
    }
    if field.is_empty() {
        key.to_owned()
    } else {
        format!("{field}.{key}")
    }
}

pub(super) fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

pub(super) fn unescape_pointer(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}
