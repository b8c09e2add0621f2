//! JavaScript's semantics for template values: nunjucks compiles a
//! template to JavaScript, so how a value prints, compares and adds up in a
//! Backstage template is JavaScript's, not Python's. Pure functions on
//! minijinja values; the renderer calls them where nunjucks' generated code
//! would use a JavaScript operator.

use minijinja::value::{Value, ValueKind};

/// A value as nunjucks writes it into the output: `null` and `undefined`
/// write nothing, anything else its JavaScript string.
pub fn output(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => String::new(),
        _ => to_string(value),
    }
}

/// JavaScript's `String(value)`.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_string(value, &mut out);
    out
}

fn write_string(value: &Value, out: &mut String) {
    match value.kind() {
        ValueKind::Undefined => out.push_str("undefined"),
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&number_string(value)),
        ValueKind::String => out.push_str(value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            // Array.prototype.toString: items joined by commas, null and
            // undefined items as empty text.
            if let Ok(items) = value.try_iter() {
                for (i, item) in items.enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if !matches!(item.kind(), ValueKind::Undefined | ValueKind::None) {
                        write_string(&item, out);
                    }
                }
            }
        }
        ValueKind::Map => out.push_str("[object Object]"),
        _ => out.push_str(&value.to_string()),
    }
}

/// A number value's JavaScript text: integers as they are, other numbers
/// as `Number.prototype.toString` writes them.
fn number_string(value: &Value) -> String {
    if value.is_integer()
        && let Ok(n) = i64::try_from(value.clone())
    {
        return n.to_string();
    }
    match f64::try_from(value.clone()) {
        Ok(f) => format_number(f),
        Err(_) => value.to_string(),
    }
}

/// `Number.prototype.toString()` for a double: the shortest text that
/// reads back as the same number, in exponent form below 1e-6 and from
/// 1e21 up, without a fraction when the number is integral.
pub fn format_number(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return "0".into();
    }
    let magnitude = f.abs();
    if !(1e-6..1e21).contains(&magnitude) {
        // Rust writes `1e21` and `1.5e-7`; JavaScript `1e+21` and `1.5e-7`.
        let text = format!("{f:e}");
        return match text.split_once('e') {
            Some((mantissa, exponent)) if !exponent.starts_with('-') => format!("{mantissa}e+{exponent}"),
            _ => text,
        };
    }
    // Rust's shortest round-trip text, without Rust's `.0` on integers.
    let text = format!("{f}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

/// JSON with numbers as JavaScript holds them: an integral number is an
/// integer (`3`, not `3.0`), as `JSON.stringify` writes it.
pub fn json_numbers(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value as Json;
    /// Integers a double holds exactly.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Json::Number(n) if n.is_f64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => Json::from(f as i64),
            _ => Json::Number(n),
        },
        Json::Array(items) => Json::Array(items.into_iter().map(json_numbers).collect()),
        Json::Object(fields) => Json::Object(fields.into_iter().map(|(k, v)| (k, json_numbers(v))).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_print_as_javascript_prints_them() {
        let v = |json: serde_json::Value| Value::from(minijinja::value::Serde(json));
        assert_eq!(output(&v(serde_json::json!(true))), "true");
        assert_eq!(output(&v(serde_json::json!(null))), "");
        assert_eq!(output(&Value::UNDEFINED), "");
        assert_eq!(to_string(&Value::UNDEFINED), "undefined");
        assert_eq!(output(&v(serde_json::json!(2.0))), "2");
        assert_eq!(output(&v(serde_json::json!(1.5))), "1.5");
        assert_eq!(output(&v(serde_json::json!(["web", "java"]))), "web,java");
        assert_eq!(output(&v(serde_json::json!([null, 1, [2, 3]]))), ",1,2,3");
        assert_eq!(output(&v(serde_json::json!({"a": 1}))), "[object Object]");
        assert_eq!(format_number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_number(1e21), "1e+21");
        assert_eq!(format_number(1.5e-7), "1.5e-7");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(f64::NAN), "NaN");
        assert_eq!(format_number(-f64::INFINITY), "-Infinity");
        assert_eq!(format_number(123456789012.0), "123456789012");
    }
}
