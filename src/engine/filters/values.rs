//! nunjucks' filters that convert a value of any type: `dump`, `default`,
//! `string` and `list`.

use minijinja::Error;
use minijinja::value::{Value, ValueKind};

use super::invalid;
use crate::engine::js;

/// nunjucks `dump`: JSON, with an optional indent; undefined has none, so
/// it prints nothing.
pub(super) fn dump(value: Value, indent: Option<usize>) -> Result<Value, Error> {
    if value.is_undefined() {
        return Ok(Value::UNDEFINED);
    }
    let json = match indent {
        Some(n) if n > 0 => {
            let mut out = Vec::new();
            let spaces = vec![b' '; n];
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

/// nunjucks `default(value, default, boolean)`: with `boolean` true, any
/// falsy value is replaced, not only an undefined one.
pub(super) fn nunjucks_default(value: Value, default: Option<Value>, boolean: Option<bool>) -> Value {
    let replace = value.is_undefined() || (boolean.unwrap_or(false) && !value.is_true());
    if replace {
        default.unwrap_or_else(|| Value::from(""))
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

/// nunjucks `list`: a string's characters, a list itself, an object's
/// entries as `{key, value}` objects.
pub(super) fn list(value: Value) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::String => Ok(Value::from(
            value
                .as_str()
                .unwrap_or_default()
                .chars()
                .map(String::from)
                .collect::<Vec<_>>(),
        )),
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
