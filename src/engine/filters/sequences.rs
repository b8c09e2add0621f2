//! nunjucks' filters that sort, slice, group and sum items (`sort`,
//! `dictsort`, `slice`, `groupby`, `sum`), on values of every type as
//! Backstage's engine reads them: text as its UTF-16 units, most other
//! values as no items, null and undefined refused where it refuses them,
//! and JavaScript's ordering and `+`.

use std::cmp::Ordering;

use minijinja::Error;
use minijinja::value::{Kwargs, Value, ValueKind};

use super::invalid;
use crate::engine::js;

fn is_list(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

fn is_nullish(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Undefined | ValueKind::None)
}

/// The items nunjucks reads from a value: a list's, text's UTF-16 units,
/// none of anything else.
fn items(value: &Value) -> Result<Vec<Value>, Error> {
    Ok(match value.kind() {
        ValueKind::String => js::unit_texts(value.as_str().unwrap_or_default()),
        _ if is_list(value) => value.try_iter()?.collect(),
        _ => Vec::new(),
    })
}

/// Whether `key` is a value's own property, as nunjucks looks one up: an
/// object's key, a list's or text's `length` or index.
fn has_key(value: &Value, key: &str) -> bool {
    let index = |len: usize| {
        key.parse::<usize>()
            .is_ok_and(|i| i < len && i.to_string() == key)
    };
    match value.kind() {
        ValueKind::Map => value.get_item(&Value::from(key)).is_ok_and(|v| !v.is_undefined()),
        ValueKind::String => {
            key == "length" || index(value.as_str().unwrap_or_default().encode_utf16().count())
        }
        _ if is_list(value) => key == "length" || index(value.len().unwrap_or(0)),
        _ => false,
    }
}

/// A value's own property `key` (see [`has_key`]), undefined when absent.
fn own_value(value: &Value, key: &str) -> Value {
    if !has_key(value, key) {
        return Value::UNDEFINED;
    }
    match value.kind() {
        ValueKind::Map => value.get_item(&Value::from(key)).unwrap_or(Value::UNDEFINED),
        ValueKind::String => {
            let text = value.as_str().unwrap_or_default();
            match key.parse::<usize>() {
                Ok(i) => text
                    .encode_utf16()
                    .nth(i)
                    .map_or(Value::UNDEFINED, |unit| Value::from(js::from_units(&[unit]))),
                Err(_) => Value::from(text.encode_utf16().count()),
            }
        }
        _ => match key.parse::<usize>() {
            Ok(i) => value.get_item(&Value::from(i)).unwrap_or(Value::UNDEFINED),
            Err(_) => Value::from(value.len().unwrap_or(0)),
        },
    }
}

/// An attribute of an item, which must be a value.
fn attribute_of(value: &Value, key: &str) -> Result<Value, Error> {
    if is_nullish(value) {
        return Err(invalid(format!(
            "cannot read the attribute {key:?} of {}",
            if value.is_undefined() { "undefined" } else { "null" }
        )));
    }
    Ok(own_value(value, key))
}

/// An attribute path as `sort` and `groupby` take one: none when the
/// argument is falsy, text split at dots, anything else its text.
fn path(argument: Option<&Value>) -> Vec<String> {
    match argument {
        Some(a) if js::truthy(a) => match a.as_str() {
            Some(text) if a.kind() == ValueKind::String => text.split('.').map(str::to_string).collect(),
            _ => vec![js::to_string(a)],
        },
        _ => Vec::new(),
    }
}

/// The value at `path` within `value`: undefined once a step is absent,
/// an error when a step reads from null or undefined.
fn at_path(value: &Value, path: &[String]) -> Result<Value, Error> {
    let mut current = value.clone();
    for segment in path {
        if is_nullish(&current) {
            return Err(invalid(format!(
                "cannot read the attribute {segment:?} of {}",
                if current.is_undefined() {
                    "undefined"
                } else {
                    "null"
                }
            )));
        }
        if !has_key(&current, segment) {
            return Ok(Value::UNDEFINED);
        }
        current = own_value(&current, segment);
    }
    Ok(current)
}

/// nunjucks `sort(reverse=false, case_sensitive=false, attribute)`: a
/// list's items, text's UTF-16 units, or no items, in JavaScript's order.
pub(super) fn sort(
    value: Value,
    reverse: Option<Value>,
    case_sensitive: Option<Value>,
    attribute: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let named = |name: &str, given: Option<Value>| -> Result<Option<Value>, Error> {
        Ok(kwargs.get::<Option<Value>>(name)?.or(given))
    };
    let reverse = named("reverse", reverse)?.is_some_and(|v| js::truthy(&v));
    let case_sensitive = named("case_sensitive", case_sensitive)?.is_some_and(|v| js::truthy(&v));
    let path = path(named("attribute", attribute)?.as_ref());
    kwargs.assert_all_used()?;
    let sorted = js::sort(items(&value)?, &mut |a, b| {
        let (a, b) = (at_path(a, &path)?, at_path(b, &path)?);
        // Text is compared case-insensitively only with text.
        let (a, b) = match (a.as_str(), b.as_str()) {
            (Some(x), Some(y))
                if !case_sensitive && a.kind() == ValueKind::String && b.kind() == ValueKind::String =>
            {
                (Value::from(x.to_lowercase()), Value::from(y.to_lowercase()))
            }
            _ => (a, b),
        };
        let order = js::order(&a, &b).unwrap_or(Ordering::Equal);
        Ok(if reverse { order.reverse() } else { order })
    })?;
    Ok(Value::from(sorted))
}

/// nunjucks `dictsort(case_sensitive=false, by='key')`: an object's
/// `[key, value]` entries, sorted; anything else is refused.
pub(super) fn dictsort(
    value: Value,
    case_sensitive: Option<Value>,
    by: Option<Value>,
) -> Result<Value, Error> {
    if value.kind() != ValueKind::Map {
        return Err(invalid("the dictsort filter takes an object"));
    }
    let case_sensitive = case_sensitive.is_some_and(|v| js::truthy(&v));
    let by_value = match by.as_ref().filter(|b| !b.is_undefined()) {
        None => false,
        Some(b) if b.as_str() == Some("key") => false,
        Some(b) if b.as_str() == Some("value") => true,
        Some(_) => return Err(invalid("dictsort can only sort by key or value")),
    };
    let mut entries = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        entries.push(Value::from(vec![key, item]));
    }
    let part = |entry: &Value| -> Value {
        let part = entry
            .get_item(&Value::from(usize::from(by_value)))
            .unwrap_or(Value::UNDEFINED);
        match part.as_str() {
            Some(text) if !case_sensitive && part.kind() == ValueKind::String => {
                Value::from(text.to_uppercase())
            }
            _ => part,
        }
    };
    let sorted = js::sort(entries, &mut |a, b| {
        let (a, b) = (part(a), part(b));
        Ok(if js::order(&a, &b) == Some(Ordering::Greater) {
            Ordering::Greater
        } else if js::strict_equals(&a, &b) {
            Ordering::Equal
        } else {
            Ordering::Less
        })
    })?;
    Ok(Value::from(sorted))
}

/// nunjucks `slice(count, fill)`: a list's items or text's UTF-16 units in
/// `count` parts (text in parts of text), the first ones one longer; a
/// truthy `fill` ends each shorter part of a list. Anything else is
/// refused, as is a count that is not a positive whole number.
pub(super) fn slice(value: Value, count: Option<Value>, fill: Option<Value>) -> Result<Value, Error> {
    // Text is cut into parts of text, by UTF-16 units: a character past
    // U+FFFF split between two parts leaves half in each.
    let units = value
        .as_str()
        .filter(|_| value.kind() == ValueKind::String)
        .map(js::units);
    let values: Vec<Value> = match units {
        Some(_) => Vec::new(),
        None if is_list(&value) => value.try_iter()?.collect(),
        None => return Err(invalid("the slice filter takes a list or text")),
    };
    let count = count.map_or(f64::NAN, |c| js::to_number(&c)).trunc();
    if !(1.0..=9_007_199_254_740_991.0).contains(&count) {
        return Err(invalid(
            "the slice filter's count must be a positive whole number",
        ));
    }
    let count = count as usize;
    let total = units.as_ref().map_or(values.len(), Vec::len);
    let (base, extra) = (total / count, total % count);
    let fill = fill.filter(js::truthy);
    let mut parts = Vec::new();
    let mut offset = 0;
    for index in 0..count {
        let length = base + usize::from(index < extra);
        let range = offset..offset + length;
        offset += length;
        let fills = fill.is_some() && index >= extra;
        if let Some(units) = &units {
            if fills {
                return Err(invalid("the slice filter cannot fill a part of text"));
            }
            parts.push(Value::from(js::from_units(&units[range])));
        } else {
            let mut part = values[range].to_vec();
            part.extend(fill.clone().filter(|_| fills));
            parts.push(Value::from(part));
        }
    }
    Ok(Value::from(parts))
}

/// nunjucks `groupby(attribute)`: an object from each item's attribute, as
/// text, to the items that have it; text is read as its UTF-16 units, and
/// anything else but null and undefined (refused) as no items.
pub(super) fn groupby(value: Value, attribute: Option<Value>) -> Result<Value, Error> {
    if is_nullish(&value) {
        return Err(invalid("the groupby filter takes a list or text"));
    }
    let path = path(attribute.as_ref());
    let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
    for item in items(&value)? {
        let key = js::to_string(&at_path(&item, &path)?);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(item),
            None => groups.push((key, vec![item])),
        }
    }
    // A JavaScript object lists keys that are array indexes first, in
    // numeric order.
    let index = |key: &str| key.parse::<u32>().ok().filter(|i| i.to_string() == key);
    groups.sort_by_key(|(key, _)| index(key).map_or((1, 0), |i| (0, i)));
    Ok(Value::from_pairs(
        groups
            .into_iter()
            .map(|(key, members)| (key, Value::from(members))),
    ))
}

/// nunjucks `sum(attribute, start=0)`: the items (or each item's
/// attribute) added with JavaScript's `+`, then added to `start`. Without
/// an attribute only a list is taken; with one, text is read as its UTF-16
/// units and anything else as no items.
pub(super) fn sum(value: Value, attribute: Option<Value>, start: Option<Value>) -> Result<Value, Error> {
    let attribute = attribute.filter(js::truthy).map(|a| js::to_string(&a));
    let values: Vec<Value> = match &attribute {
        None if is_list(&value) => value.try_iter()?.collect(),
        None => return Err(invalid("the sum filter takes a list")),
        Some(key) => {
            let items = match value.kind() {
                // nunjucks reads marked-safe text as one undefined item.
                ValueKind::String if value.is_safe() && !value.as_str().unwrap_or_default().is_empty() => {
                    vec![Value::UNDEFINED]
                }
                ValueKind::Map => Vec::new(),
                _ => items(&value)?,
            };
            items
                .iter()
                .map(|item| attribute_of(item, key))
                .collect::<Result<_, _>>()?
        }
    };
    // Once the total is text, each further item only adds its text: kept
    // in one string, so a long list is not copied once per item.
    let mut total = Value::from(0);
    let mut text: Option<String> = None;
    for item in &values {
        match &mut text {
            Some(text) => text.push_str(&js::to_string(item)),
            None => {
                total = js::add(&total, item);
                if total.kind() == ValueKind::String {
                    text = Some(total.as_str().unwrap_or_default().to_string());
                }
            }
        }
    }
    let total = text.map_or(total, Value::from);
    Ok(js::add(&start.unwrap_or(Value::from(0)), &total))
}
