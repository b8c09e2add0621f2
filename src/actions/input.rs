//! Decoding a step's rendered input into its action's typed input, once.
//! The input's JSON Schema (derived from the same struct) is checked first,
//! so a wrong type, a value outside the schema's `enum` or range, or a
//! missing input is reported as `input.<name>` with what was expected;
//! serde then fills the struct. The Template check applies the same check
//! to the values a template writes out ([`check_value`]).

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{ActionError, kind_of};

/// Decodes `input` into `T`. Inputs set to `null` count as not given, as
/// in Backstage, where an empty parameter renders to nothing.
pub fn decode<T: DeserializeOwned + JsonSchema>(input: &Value) -> Result<T, ActionError> {
    let fields: Map<String, Value> = match input {
        Value::Object(fields) => fields
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
        Value::Null => Map::new(),
        other => {
            return Err(ActionError::permanent(format!(
                "input must be an object, not {}",
                kind_of(other)
            )));
        }
    };
    let schema = schemars::schema_for!(T);
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !fields.contains_key(name) {
                return Err(ActionError::permanent(format!("input.{name} is required")));
            }
        }
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, value) in &fields {
            if let Some(property) = properties.get(name) {
                check_value(name, property, value)?;
            }
        }
    }
    serde_json::from_value(Value::Object(fields)).map_err(|e| ActionError::permanent(format!("input: {e}")))
}

/// Checks `value` against its property's schema: its `type`, and the
/// `enum` or `minimum`/`maximum` the schema gives, with the words goldpath
/// uses everywhere for a wrong input.
pub fn check_value(name: &str, property: &Value, value: &Value) -> Result<(), ActionError> {
    check_type(name, property, value)?;
    if let Some(allowed) = property.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let words: Vec<String> = allowed
            .iter()
            .filter(|v| !v.is_null())
            .map(Value::to_string)
            .collect();
        return Err(ActionError::permanent(format!(
            "input.{name}: {value} is not one of {}",
            words.join(", ")
        )));
    }
    if let Some(number) = value.as_f64() {
        let bound = |key: &str| property.get(key).and_then(Value::as_f64);
        let (min, max) = (bound("minimum"), bound("maximum"));
        if min.is_some_and(|min| number < min) || max.is_some_and(|max| number > max) {
            let show = |b: Option<f64>| b.map_or_else(|| "any".to_string(), |b| b.to_string());
            return Err(ActionError::permanent(format!(
                "input.{name} must be from {} to {}, not {value}",
                show(min),
                show(max)
            )));
        }
    }
    Ok(())
}

/// Checks `value` against the `type` its property's schema names.
fn check_type(name: &str, property: &Value, value: &Value) -> Result<(), ActionError> {
    let types: Vec<&str> = match property.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        // No single type (any value, or one of several shapes): the action
        // reads it itself.
        _ => return Ok(()),
    };
    let fits = |ty: &str| match ty {
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    };
    let strings = property.pointer("/items/type") == Some(&Value::from("string"));
    if let Some(ty) = types.iter().copied().find(|ty| *ty != "null") {
        if !types.iter().any(|ty| fits(ty)) {
            let expected = match ty {
                "string" => "a string",
                "boolean" => "true or false",
                "integer" => "a whole number",
                "number" => "a number",
                "array" if strings => "a list of strings",
                "array" => "a list",
                _ => "an object",
            };
            return Err(ActionError::permanent(format!(
                "input.{name} must be {expected}, not {}",
                kind_of(value)
            )));
        }
        if let (true, Value::Array(items)) = (strings, value)
            && !items.iter().all(Value::is_string)
        {
            return Err(ActionError::permanent(format!(
                "input.{name} must be a list of strings"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, JsonSchema, Debug)]
    #[serde(rename_all = "camelCase")]
    struct Sample {
        repo_url: String,
        draft: Option<bool>,
        topics: Option<Vec<String>>,
        count: Option<u32>,
    }

    fn error(input: Value) -> String {
        decode::<Sample>(&input).unwrap_err().message
    }

    #[test]
    fn a_missing_or_mistyped_input_is_named() {
        assert_eq!(error(json!({})), "input.repoUrl is required");
        assert_eq!(error(json!({"repoUrl": null})), "input.repoUrl is required");
        assert_eq!(
            error(json!({"repoUrl": 3})),
            "input.repoUrl must be a string, not a number"
        );
        assert_eq!(
            error(json!({"repoUrl": "h", "draft": "yes"})),
            "input.draft must be true or false, not a string"
        );
        assert_eq!(
            error(json!({"repoUrl": "h", "topics": ["a", 1]})),
            "input.topics must be a list of strings"
        );
        assert_eq!(
            error(json!({"repoUrl": "h", "count": 1.5})),
            "input.count must be a whole number, not a number"
        );
        assert_eq!(error(json!("text")), "input must be an object, not a string");
        let property = json!({"type": ["string", "null"], "enum": ["a", "b"]});
        let message = |value: Value| check_value("kind", &property, &value).unwrap_err().message;
        assert_eq!(message(json!("c")), r#"input.kind: "c" is not one of "a", "b""#);
        assert_eq!(message(json!(1)), "input.kind must be a string, not a number");
        assert!(check_value("kind", &property, &json!("b")).is_ok());
        let property = json!({"type": "integer", "minimum": 0, "maximum": 6});
        assert_eq!(
            check_value("count", &property, &json!(7)).unwrap_err().message,
            "input.count must be from 0 to 6, not 7"
        );
        assert!(check_value("count", &property, &json!(6)).is_ok());
    }

    #[test]
    fn a_good_input_is_decoded_and_nulls_are_not_given() {
        let sample: Sample =
            decode(&json!({"repoUrl": "h", "draft": null, "topics": ["a"], "extra": 1})).unwrap();
        assert_eq!(sample.repo_url, "h");
        assert_eq!(sample.draft, None);
        assert_eq!(sample.topics, Some(vec!["a".to_string()]));
        assert_eq!(sample.count, None);
    }
}
