//! The methods templates call on values: JavaScript's string and array
//! methods, and with cookiecutterCompat Python's dict methods.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind, State};

use crate::engine::bounds::Guard;
use crate::engine::js::{self, pattern};

/// The global that marks an environment as cookiecutterCompat's.
pub const COMPAT: &str = "__goldpath_compat";

/// The JavaScript string and array methods nunjucks templates call, e.g.
/// `parameters.name.toUpperCase()` or `parameters.tags.includes('java')`.
pub(super) fn js_method(
    state: &mut State,
    guard: &Guard,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if value.kind() == ValueKind::Map && state.lookup(COMPAT).is_some_and(|c| c.is_true()) {
        return dict_method(value, method);
    }
    if let Some(s) = value.as_str() {
        if let Some(found) = args.first().and_then(pattern::as_pattern) {
            return match method {
                "replace" => {
                    let to = args
                        .get(1)
                        .map(js::to_string)
                        .unwrap_or_else(|| "undefined".into());
                    found
                        .replace(s, &to, guard.max_bytes)
                        .map(Value::from)
                        .map_err(|_| {
                            guard
                                .bytes("replacing with a regular expression", None)
                                .err()
                                .unwrap_or_else(|| Error::from(ErrorKind::InvalidOperation))
                        })
                }
                _ => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(".{method}() takes no regular expression; .replace() and the replace filter do"),
                )),
            };
        }
        return string_method(s, method, args);
    }
    if value.kind() == ValueKind::Seq {
        return list_method(value, method, args);
    }
    Err(Error::from(ErrorKind::UnknownMethod))
}

/// Python's dict methods, which cookiecutterCompat's jinja-compat gives
/// objects.
fn dict_method(value: &Value, method: &str) -> Result<Value, Error> {
    let keys: Vec<Value> = value.try_iter()?.collect();
    Ok(match method {
        "keys" => Value::from(keys),
        "values" => Value::from(
            keys.iter()
                .map(|k| value.get_item(k))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        "items" => Value::from(
            keys.into_iter()
                .map(|k| Ok(Value::from(vec![k.clone(), value.get_item(&k)?])))
                .collect::<Result<Vec<_>, Error>>()?,
        ),
        _ => return Err(Error::from(ErrorKind::UnknownMethod)),
    })
}

/// JavaScript's string methods.
fn string_method(s: &str, method: &str, args: &[Value]) -> Result<Value, Error> {
    let arg = |i: usize| args.get(i).map(|v| v.to_string()).unwrap_or_default();
    let index = |i: usize| args.get(i).and_then(|v| i64::try_from(v.clone()).ok());
    // Positions are UTF-16 units, as JavaScript's.
    let units = js::units(s);
    let slice = |start: Option<i64>, end: Option<i64>| -> String {
        let len = units.len() as i64;
        let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) } as usize;
        let (from, to) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(len)));
        if from >= to {
            String::new()
        } else {
            js::from_units(&units[from..to])
        }
    };
    Ok(match method {
        "toUpperCase" => Value::from(s.to_uppercase()),
        "toLowerCase" => Value::from(s.to_lowercase()),
        "trim" => Value::from(s.trim()),
        "trimStart" => Value::from(s.trim_start()),
        "trimEnd" => Value::from(s.trim_end()),
        "startsWith" => Value::from(s.starts_with(&arg(0))),
        "endsWith" => Value::from(s.ends_with(&arg(0))),
        "includes" => Value::from(s.contains(&arg(0))),
        "indexOf" => Value::from(
            s.find(&arg(0))
                .map(|b| s[..b].encode_utf16().count() as i64)
                .unwrap_or(-1),
        ),
        "split" => Value::from(s.split(&arg(0)).map(str::to_string).collect::<Vec<_>>()),
        "replace" => Value::from(s.replacen(&arg(0), &arg(1), 1)),
        "replaceAll" => Value::from(s.replace(&arg(0), &arg(1))),
        "slice" => Value::from(slice(index(0), index(1))),
        "substring" => Value::from(slice(index(0).map(|i| i.max(0)), index(1).map(|i| i.max(0)))),
        "concat" => Value::from(format!(
            "{s}{}",
            args.iter().map(|a| a.to_string()).collect::<String>()
        )),
        "toString" => Value::from(s),
        _ => return Err(Error::from(ErrorKind::UnknownMethod)),
    })
}

/// JavaScript's array methods.
fn list_method(value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    let items: Vec<Value> = value.try_iter()?.collect();
    Ok(match method {
        "includes" => Value::from(args.first().is_some_and(|needle| items.contains(needle))),
        "indexOf" => Value::from(
            args.first()
                .and_then(|needle| items.iter().position(|i| i == needle))
                .map(|p| p as i64)
                .unwrap_or(-1),
        ),
        "join" => Value::from(
            items
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(args.first().and_then(Value::as_str).unwrap_or(",")),
        ),
        "concat" => {
            let mut all = items;
            for arg in args {
                match arg.kind() {
                    ValueKind::Seq => all.extend(arg.try_iter()?),
                    _ => all.push(arg.clone()),
                }
            }
            Value::from(all)
        }
        _ => return Err(Error::from(ErrorKind::UnknownMethod)),
    })
}
