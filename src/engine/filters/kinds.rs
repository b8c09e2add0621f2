//! What nunjucks' filters take, as Backstage's engine runs them: filters of
//! text refuse anything else, and the filters of lists read strings,
//! numbers, objects, null and undefined as JavaScript does (`length` of a
//! number is undefined, `join` of an object is an error, `abs` of a list is
//! NaN). Each rule here was checked against that engine.

use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Error, State};

use super::{Filter, invalid};
use crate::engine::bounds::Guard;
use crate::engine::js::{self, pattern};

/// What a filter of text gives for undefined, null and false (nunjucks
/// reads them as empty text in most).
#[derive(Clone, Copy)]
enum Missing {
    /// Empty text for all three.
    Empty,
    /// Empty text for undefined and null; false is refused.
    EmptyButFalse,
    /// An error, as for any other value that is not text.
    Refused,
}

/// nunjucks' filters that take only text.
const TEXT_FILTERS: &[(&str, Missing)] = &[
    ("capitalize", Missing::Empty),
    ("lower", Missing::Empty),
    ("upper", Missing::Empty),
    ("title", Missing::Empty),
    ("indent", Missing::Empty),
    ("striptags", Missing::Empty),
    ("nl2br", Missing::EmptyButFalse),
    ("trim", Missing::Refused),
    ("urlize", Missing::Refused),
];

/// Makes the filters of text in `filters` refuse anything else, as
/// Backstage's engine does (minijinja's would print the value and go on).
pub(super) fn text_only(filters: &mut [Filter]) {
    for (name, filter, _) in filters.iter_mut() {
        if let Some((_, missing)) = TEXT_FILTERS.iter().find(|(text, _)| text == name) {
            *filter = text_filter(name, filter.clone(), *missing);
        }
    }
}

fn text_filter(name: &'static str, inner: Value, missing: Missing) -> Value {
    Value::from_function(
        move |state: &mut State, args: Rest<Value>| -> Result<Value, Error> {
            let value = args.first().cloned().unwrap_or(Value::UNDEFINED);
            let is_false = value.kind() == ValueKind::Bool && !value.is_true();
            match (value.kind(), missing) {
                (ValueKind::String, _) => inner.call(state, &args),
                (ValueKind::Undefined | ValueKind::None, Missing::Empty | Missing::EmptyButFalse) => {
                    Ok(Value::from(""))
                }
                (ValueKind::Bool, Missing::Empty) if is_false => Ok(Value::from("")),
                _ => Err(invalid(format!(
                    "the {name} filter takes text, not {}",
                    kind_name(&value)
                ))),
            }
        },
    )
}

/// The value's type as an error names it.
fn kind_name(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined => "undefined",
        ValueKind::None => "null",
        ValueKind::Bool => "a boolean",
        ValueKind::Number => "a number",
        ValueKind::String => "text",
        ValueKind::Map => "an object",
        _ => "a list",
    }
}

fn is_missing(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Undefined | ValueKind::None)
}

fn is_list(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// nunjucks `join`: the items (or each item's `attribute`) as JavaScript's
/// `Array.prototype.join` writes them (null and undefined as nothing,
/// objects as `[object Object]`). Without an attribute only a list is
/// taken; with one, text is read as its UTF-16 units and anything else as
/// no items.
pub(super) fn join(
    value: Value,
    separator: Option<Value>,
    attribute: Option<Value>,
) -> Result<String, Error> {
    let items: Vec<Value> = match (value.kind(), &attribute) {
        _ if is_list(&value) => value.try_iter()?.collect(),
        (ValueKind::String, Some(_)) => js::unit_texts(value.as_str().unwrap_or_default()),
        (_, Some(_)) => Vec::new(),
        _ => {
            return Err(invalid(format!(
                "the join filter takes a list, not {}",
                kind_name(&value)
            )));
        }
    };
    let separator = separator
        .filter(js::truthy)
        .map(|s| js::to_string(&s))
        .unwrap_or_default();
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&separator);
        }
        let item = match &attribute {
            Some(attribute) => js::item(item, attribute),
            None => item.clone(),
        };
        if !is_missing(&item) {
            out.push_str(&js::to_string(&item));
        }
    }
    Ok(out)
}

/// nunjucks `wordcount`: the runs of letters, digits and `_` in text, or
/// null when there are none; null of any other falsy value, and an error
/// of any other value but text.
pub(super) fn wordcount(value: Value) -> Result<Value, Error> {
    if !js::truthy(&value) {
        return Ok(Value::from(()));
    }
    let Some(text) = value.as_str().filter(|_| value.kind() == ValueKind::String) else {
        return Err(invalid(format!(
            "the wordcount filter takes text, not {}",
            kind_name(&value)
        )));
    };
    let words = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .count();
    Ok(if words == 0 {
        Value::from(())
    } else {
        Value::from(words)
    })
}

/// nunjucks `length`: of text, a list or an object's keys; 0 of null,
/// undefined and false (read as empty text); undefined of anything else.
pub(super) fn length(value: Value) -> Value {
    match value.kind() {
        ValueKind::String => Value::from(value.as_str().unwrap_or_default().encode_utf16().count()),
        ValueKind::Undefined | ValueKind::None => Value::from(0),
        ValueKind::Bool if !value.is_true() => Value::from(0),
        ValueKind::Seq | ValueKind::Map => value.len().map_or(Value::UNDEFINED, Value::from),
        ValueKind::Iterable => Value::from(value.try_iter().map(Iterator::count).unwrap_or(0)),
        _ => Value::UNDEFINED,
    }
}

/// nunjucks `abs`: JavaScript's `Math.abs`, of the value as a number.
pub(super) fn abs(value: Value) -> Value {
    js::from_number(js::to_number(&value).abs())
}

/// The first (`last`: the last) item of a list or UTF-16 unit of a text;
/// undefined of anything else but null and undefined, which are refused.
pub(super) fn first(value: Value) -> Result<Value, Error> {
    end(value, "first", |items| items.first().cloned())
}

/// See [`first`].
pub(super) fn last(value: Value) -> Result<Value, Error> {
    end(value, "last", |items| items.last().cloned())
}

fn end(value: Value, name: &str, pick: impl Fn(&[Value]) -> Option<Value>) -> Result<Value, Error> {
    let items: Vec<Value> = match value.kind() {
        ValueKind::Undefined | ValueKind::None => {
            return Err(invalid(format!(
                "the {name} filter takes a list or text, not {}",
                kind_name(&value)
            )));
        }
        ValueKind::String => {
            // One unit, not a list of them all.
            let mut units = value.as_str().unwrap_or_default().encode_utf16();
            let unit = if name == "first" {
                units.next()
            } else {
                units.last()
            };
            return Ok(unit.map_or(Value::UNDEFINED, |unit| Value::from(js::from_units(&[unit]))));
        }
        _ if is_list(&value) => value.try_iter()?.collect(),
        _ => Vec::new(),
    };
    Ok(pick(&items).unwrap_or(Value::UNDEFINED))
}

/// nunjucks `reverse`: text's UTF-16 units reversed (a character past
/// U+FFFF into two halves, see `js::from_units`), a list reversed, and an
/// empty list of anything else.
pub(super) fn reverse(value: Value) -> Result<Value, Error> {
    Ok(match value.kind() {
        ValueKind::String => {
            let mut units = js::units(value.as_str().unwrap_or_default());
            units.reverse();
            Value::from(js::from_units(&units))
        }
        _ if is_list(&value) => {
            let mut items: Vec<Value> = value.try_iter()?.collect();
            items.reverse();
            Value::from(items)
        }
        _ => Value::from(Vec::<Value>::new()),
    })
}

/// A value as the filters of markup read it: text as it is, null and
/// undefined as nothing, anything else as JavaScript's string (not
/// minijinja's, which would write a list as `[1, 2]`).
fn markup_text(value: Value) -> Value {
    match value.kind() {
        ValueKind::String => value,
        _ => Value::from(js::output(&value)),
    }
}

/// nunjucks `escape` (and `forceescape`): the value's JavaScript string
/// with `&`, `<`, `>`, `"`, `'` and `\` as nunjucks escapes them; text
/// already marked safe is left as it is.
pub(super) fn escape(value: Value) -> Value {
    let text = markup_text(value);
    if text.is_safe() {
        return text;
    }
    let mut out = String::new();
    for c in text.as_str().unwrap_or_default().chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\\' => out.push_str("&#92;"),
            other => out.push(other),
        }
    }
    Value::from_safe_string(out)
}

/// nunjucks `safe`: the value's JavaScript string, marked safe.
pub(super) fn safe(value: Value) -> Value {
    match value.kind() {
        ValueKind::String => minijinja::filters::safe(value.as_str().unwrap_or_default().to_string()),
        _ => Value::from_safe_string(js::output(&value)),
    }
}

/// nunjucks `replace`: `count` (all when not given or negative)
/// occurrences of `from` in text or a number's text, by `to`'s JavaScript
/// string; an empty `from` puts `to` around every character. Anything
/// else, or a `from` neither text nor a number, is given back unchanged.
/// Characters are UTF-16 units, as in JavaScript's `split('')`.
pub(super) fn replace(value: Value, from: Value, to: Value, count: Option<i64>) -> Value {
    let text = match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        ValueKind::Number => js::to_string(&value),
        _ => return value,
    };
    let from = match from.kind() {
        ValueKind::String | ValueKind::Number => js::to_string(&from),
        _ => return value,
    };
    let to = js::to_string(&to);
    let out = if from.is_empty() {
        let mut out = to.clone();
        for unit in js::units(&text) {
            out.push_str(&js::from_units(&[unit]));
            out.push_str(&to);
        }
        out
    } else {
        let limit = count.filter(|n| *n >= 0).map_or(usize::MAX, |n| n as usize);
        let mut out = String::new();
        let mut rest = text.as_str();
        let mut done = 0;
        while done < limit
            && let Some(at) = rest.find(&from)
        {
            out.push_str(&rest[..at]);
            out.push_str(&to);
            rest = &rest[at + from.len()..];
            done += 1;
        }
        out.push_str(rest);
        out
    };
    if value.is_safe() {
        Value::from_safe_string(out)
    } else {
        Value::from(out)
    }
}

/// nunjucks `replace` with a regular expression (`r/-/g`): of text only,
/// as JavaScript's `text.replace(pattern, to)` (`count` is not read); the
/// result is refused once it passes `guard`'s bound on one value.
pub(super) fn replace_matching(guard: Guard) -> Value {
    Value::from_function(
        move |value: Value, from: Value, to: Value, count: Option<i64>| -> Result<Value, Error> {
            let Some(pattern) = pattern::as_pattern(&from) else {
                return Ok(replace(value, from, to, count));
            };
            let Some(text) = value.as_str().filter(|_| value.kind() == ValueKind::String) else {
                return Err(invalid(format!(
                    "the replace filter with a regular expression takes text, not {}",
                    kind_name(&value)
                )));
            };
            match pattern.replace(text, &js::to_string(&to), guard.max_bytes) {
                Ok(out) => Ok(Value::from(out)),
                Err(pattern::TooLong) => Err(guard
                    .bytes("replacing with a regular expression", None)
                    .err()
                    .unwrap_or_else(|| invalid("the replacement is too long"))),
            }
        },
    )
}

/// Makes `selectattr` and `rejectattr` refuse anything but a list, as
/// Backstage's engine does.
pub(super) fn list_only(name: &'static str, inner: Value) -> Value {
    Value::from_function(
        move |state: &mut State, args: Rest<Value>| -> Result<Value, Error> {
            let value = args.first().cloned().unwrap_or(Value::UNDEFINED);
            if !is_list(&value) {
                return Err(invalid(format!(
                    "the {name} filter takes a list, not {}",
                    kind_name(&value)
                )));
            }
            inner.call(state, &args)
        },
    )
}

/// Makes `select`, `reject` and `batch` read their input as nunjucks does:
/// text as its UTF-16 units, a list as it is, null and undefined refused,
/// and anything else as no items; `batch` fills only with a truthy value.
pub(super) fn sequence(name: &'static str, inner: Value) -> Value {
    Value::from_function(
        move |state: &mut State, args: Rest<Value>| -> Result<Value, Error> {
            let mut args: Vec<Value> = args.0;
            let Some(value) = args.first_mut() else {
                return inner.call(state, &[]);
            };
            match value.kind() {
                ValueKind::Undefined | ValueKind::None => {
                    return Err(invalid(format!(
                        "the {name} filter takes a list or text, not {}",
                        kind_name(value)
                    )));
                }
                ValueKind::String => *value = Value::from(js::unit_texts(value.as_str().unwrap_or_default())),
                _ if is_list(value) => {}
                _ => *value = Value::from(Vec::<Value>::new()),
            }
            // nunjucks fills the last batch only with a truthy filler.
            if name == "batch" && args.get(2).is_some_and(|fill| !js::truthy(fill)) {
                args.truncate(2);
            }
            inner.call(state, &args)
        },
    )
}
