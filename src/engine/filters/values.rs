//! nunjucks' filters that convert a value of any type: `dump`, `default`,
//! `string` and `list`.

use minijinja::Error;
use minijinja::value::{Value, ValueKind};

use super::invalid;
use crate::engine::js;

/// nunjucks `dump`: JSON, with an optional indent (at most 10, as
/// `JSON.stringify` takes); undefined has none, so it prints nothing.
pub(super) fn dump(value: Value, indent: Option<usize>) -> Result<Value, Error> {
    if value.is_undefined() {
        return Ok(Value::UNDEFINED);
    }
    // Numbers as JavaScript writes them: `2`, not `2.0`.
    let value = js::json_numbers(serde_json::to_value(&value).map_err(|e| invalid(e.to_string()))?);
    let json = match indent {
        Some(n) if n > 0 => {
            let mut out = Vec::new();
            let spaces = vec![b' '; n.min(10)];
            let formatter = serde_json::ser::PrettyFormatter::with_indent(&spaces);
            let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
            serde::Serialize::serialize(&value, &mut serializer).map_err(|e| invalid(e.to_string()))?;
            String::from_utf8(out).map_err(|e| invalid(e.to_string()))?
        }
        _ => serde_json::to_string(&value).map_err(|e| invalid(e.to_string()))?,
    };
    // Already JSON: must not be escaped again.
    Ok(Value::from_safe_string(json))
}

/// nunjucks `default(value, default, boolean)`: with `boolean` truthy, any
/// falsy value (as JavaScript has it) is replaced, not only an undefined
/// one.
pub(super) fn nunjucks_default(value: Value, default: Option<Value>, boolean: Option<Value>) -> Value {
    let boolean = boolean.is_some_and(|b| js::truthy(&b));
    if value.is_undefined() || (boolean && !js::truthy(&value)) {
        default.unwrap_or(Value::UNDEFINED)
    } else {
        value
    }
}

/// nunjucks `string`: a value as JavaScript's text (`2`, not `2.0`);
/// null and undefined are refused, as Backstage's engine refuses them.
pub(super) fn string(value: Value) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => Err(invalid(format!(
            "the string filter takes a value, not {}",
            if value.is_undefined() { "undefined" } else { "null" }
        ))),
        ValueKind::String => Ok(value),
        _ => Ok(Value::from(js::to_string(&value))),
    }
}

/// nunjucks `list`: a string's UTF-16 units (`js::unit_texts`), a list itself, an object's
/// entries as `{key, value}` objects.
pub(super) fn list(value: Value) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::String => Ok(Value::from(js::unit_texts(value.as_str().unwrap_or_default()))),
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                entries.push(Value::from_pairs([("key", key), ("value", item)]));
            }
            Ok(Value::from(entries))
        }
        ValueKind::Seq | ValueKind::Iterable => Ok(Value::from(value.try_iter()?.collect::<Vec<_>>())),
        _ => Err(invalid("list filter: type not iterable")),
    }
}
