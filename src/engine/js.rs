//! JavaScript's semantics for template values: nunjucks compiles a
//! template to JavaScript, so how a value prints, compares and adds up in a
//! Backstage template is JavaScript's, not Python's. Pure functions on
//! minijinja values; the renderer calls them where nunjucks' generated code
//! would use a JavaScript operator.

use minijinja::value::{Value, ValueKind};

pub mod pattern;

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

/// Text as JavaScript indexes, counts and cuts it: UTF-16 code units, so
/// a character past U+FFFF (an emoji) is two.
pub fn units(text: &str) -> Vec<u16> {
    text.encode_utf16().collect()
}

/// UTF-16 code units as text. A unit that is half of a character past
/// U+FFFF, cut from its other half, is U+FFFD: JavaScript keeps the lone
/// half, and Backstage writes it as U+FFFD when it encodes the text as
/// UTF-8.
pub fn from_units(units: &[u16]) -> String {
    String::from_utf16_lossy(units)
}

/// Text's UTF-16 code units, each as text (see [`from_units`]): what
/// nunjucks reads as a text's items (`list`, `first`, `for c in text`).
pub fn unit_texts(text: &str) -> Vec<Value> {
    text.encode_utf16()
        .map(|unit| Value::from(from_units(&[unit])))
        .collect()
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

/// JavaScript's truthiness: false, 0, NaN, `""`, null and undefined are
/// false; everything else, empty lists and objects included, is true.
pub fn truthy(value: &Value) -> bool {
    // nunjucks' safe strings (`safe`, `escape`) are objects: always true.
    if value.is_safe() {
        return true;
    }
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => false,
        ValueKind::Bool => value.is_true(),
        ValueKind::Number => {
            let n = number(value);
            n != 0.0 && !n.is_nan()
        }
        ValueKind::String => value.as_str().is_some_and(|s| !s.is_empty()),
        _ => true,
    }
}

/// A number as a template value: integral numbers as integers, so they
/// print and convert to JSON without a fraction.
pub fn from_number(n: f64) -> Value {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.fract() == 0.0 && n.abs() <= EXACT && !(n == 0.0 && n.is_sign_negative()) {
        Value::from(n as i64)
    } else {
        Value::from(n)
    }
}

fn number(value: &Value) -> f64 {
    // As a double first: an integer converts exactly, and -0 stays -0.
    f64::try_from(value.clone())
        .or_else(|_| i64::try_from(value.clone()).map(|n| n as f64))
        .unwrap_or(f64::NAN)
}

/// Arrays and objects as JavaScript's `ToPrimitive` makes them: their
/// string; other values are primitive already.
fn is_object(value: &Value) -> bool {
    matches!(
        value.kind(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable | ValueKind::Plain
    )
}

/// JavaScript's `Number(value)`.
pub fn to_number(value: &Value) -> f64 {
    match value.kind() {
        ValueKind::Undefined => f64::NAN,
        ValueKind::None => 0.0,
        ValueKind::Bool => {
            if value.is_true() {
                1.0
            } else {
                0.0
            }
        }
        ValueKind::Number => number(value),
        ValueKind::String => string_to_number(value.as_str().unwrap_or_default()),
        ValueKind::Map => f64::NAN,
        _ if is_object(value) => string_to_number(&to_string(value)),
        _ => f64::NAN,
    }
}

/// JavaScript's `Number(text)`: surrounding whitespace ignored, empty text
/// is 0, decimal, `Infinity` and 0x/0o/0b integers; anything else NaN.
fn string_to_number(text: &str) -> f64 {
    let text = text.trim();
    if text.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [("0x", 16), ("0X", 16), ("0o", 8), ("0O", 8), ("0b", 2), ("0B", 2)] {
        if let Some(digits) = text.strip_prefix(prefix) {
            return u64::from_str_radix(digits, radix).map_or(f64::NAN, |n| n as f64);
        }
    }
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned == "Infinity" {
        return if text.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    // Rust also reads `inf`, `nan` and `infinity`, which JavaScript does not.
    if !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        || unsigned
            .chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
    {
        return f64::NAN;
    }
    text.parse().unwrap_or(f64::NAN)
}

/// A value after `ToPrimitive`: arrays and objects become their string.
fn primitive(value: &Value) -> Value {
    if is_object(value) {
        Value::from(to_string(value))
    } else {
        value.clone()
    }
}

/// JavaScript's `a + b`: text if either side is text (or an array or
/// object), else the sum of their numbers.
pub fn add(a: &Value, b: &Value) -> Value {
    let (a, b) = (primitive(a), primitive(b));
    if a.kind() == ValueKind::String || b.kind() == ValueKind::String {
        let mut text = to_string(&a);
        text.push_str(&to_string(&b));
        return Value::from(text);
    }
    from_number(to_number(&a) + to_number(&b))
}

/// nunjucks' `~`: both sides as JavaScript strings, joined.
pub fn concat(a: &Value, b: &Value) -> Value {
    let mut text = to_string(a);
    text.push_str(&to_string(b));
    Value::from(text)
}

/// The arithmetic operators other than `+`, on the operands' numbers.
pub fn arithmetic(op: &str, a: &Value, b: &Value) -> Value {
    let (x, y) = (to_number(a), to_number(b));
    from_number(match op {
        "-" => x - y,
        "*" => x * y,
        "/" => x / y,
        // JavaScript's `%` keeps the sign of the dividend, as Rust's does.
        "%" => x % y,
        "//" => (x / y).floor(),
        "**" => pow(x, y),
        _ => f64::NAN,
    })
}

/// `Math.pow`, which differs from IEEE pow where the result is 1 or NaN.
fn pow(x: f64, y: f64) -> f64 {
    if y.is_nan() || (x.abs() == 1.0 && y.is_infinite()) {
        return f64::NAN;
    }
    x.powf(y)
}

/// JavaScript's unary `-`.
pub fn negate(value: &Value) -> Value {
    from_number(-to_number(value))
}

/// JavaScript's `===`.
pub fn strict_equals(a: &Value, b: &Value) -> bool {
    // Arrays, objects and nunjucks' safe strings are objects, each equal
    // only to itself; two template values are never the same object.
    if is_object(a) || is_object(b) || a.is_safe() || b.is_safe() {
        return false;
    }
    match (a.kind(), b.kind()) {
        (ValueKind::Number, ValueKind::Number) => number(a) == number(b),
        (ValueKind::Undefined, ValueKind::Undefined) | (ValueKind::None, ValueKind::None) => true,
        (ValueKind::String, ValueKind::String) | (ValueKind::Bool, ValueKind::Bool) => a == b,
        _ => false,
    }
}

/// JavaScript's `==`.
pub fn loose_equals(a: &Value, b: &Value) -> bool {
    use ValueKind::*;
    let nullish = |v: &Value| matches!(v.kind(), Undefined | None);
    // A safe string compares with a primitive by its text.
    let text = |v: &Value| {
        if v.is_safe() {
            Value::from(to_string(v))
        } else {
            v.clone()
        }
    };
    if a.is_safe() != b.is_safe() {
        return !(nullish(a) || nullish(b)) && loose_equals(&text(a), &text(b));
    }
    match (a.kind(), b.kind()) {
        _ if nullish(a) || nullish(b) => nullish(a) && nullish(b),
        _ if a.is_safe() => false,
        (x, y) if x == y => strict_equals(a, b),
        _ if is_object(a) && is_object(b) => strict_equals(a, b),
        (Bool, _) => loose_equals(&from_number(to_number(a)), b),
        (_, Bool) => loose_equals(a, &from_number(to_number(b))),
        _ if is_object(a) => loose_equals(&primitive(a), b),
        _ if is_object(b) => loose_equals(a, &primitive(b)),
        // A number and a string: compared as numbers.
        _ => to_number(a) == to_number(b),
    }
}

/// JavaScript's `<`, `>`, `<=` and `>=`: strings by UTF-16 code units,
/// anything else by number; a comparison with NaN is false.
pub fn compare(op: &str, a: &Value, b: &Value) -> bool {
    let Some(ordering) = order(a, b) else {
        return false;
    };
    match op {
        "<" => ordering.is_lt(),
        ">" => ordering.is_gt(),
        "<=" => ordering.is_le(),
        ">=" => ordering.is_ge(),
        _ => false,
    }
}

/// How JavaScript's relational operators order two values: strings by
/// UTF-16 code units, anything else by number; `None` when either is NaN.
pub fn order(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    let (a, b) = (primitive(a), primitive(b));
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        Some(x.encode_utf16().cmp(y.encode_utf16()))
    } else {
        to_number(&a).partial_cmp(&to_number(&b))
    }
}

/// `Array.prototype.sort(compare)` as V8 runs it: undefined items last,
/// unsorted; the rest stable, by binary insertion after the first run
/// (V8's TimSort below 64 items, so a comparator that is not a total
/// order gives V8's result) and by merging above. `compare` is called as
/// V8 calls it below 64 items, so its errors are V8's.
pub fn sort(
    items: Vec<Value>,
    compare: &mut dyn FnMut(&Value, &Value) -> Result<std::cmp::Ordering, minijinja::Error>,
) -> Result<Vec<Value>, minijinja::Error> {
    let (mut items, undefined): (Vec<Value>, Vec<Value>) = items.into_iter().partition(|v| !v.is_undefined());
    if items.len() < 64 {
        insertion_sort(&mut items, compare)?;
    } else {
        items = merge_sort(items, compare)?;
    }
    items.extend(undefined);
    Ok(items)
}

/// V8's `CountAndMakeRun` and `BinaryInsertionSort` over a whole slice.
fn insertion_sort(
    items: &mut [Value],
    compare: &mut dyn FnMut(&Value, &Value) -> Result<std::cmp::Ordering, minijinja::Error>,
) -> Result<(), minijinja::Error> {
    if items.len() < 2 {
        return Ok(());
    }
    let descending = compare(&items[1], &items[0])?.is_lt();
    let mut run = 2;
    while run < items.len() {
        let order = compare(&items[run], &items[run - 1])?;
        if (descending && order.is_ge()) || (!descending && order.is_lt()) {
            break;
        }
        run += 1;
    }
    if descending {
        items[..run].reverse();
    }
    for start in run..items.len() {
        let (mut left, mut right) = (0, start);
        while left < right {
            let mid = left + (right - left) / 2;
            if compare(&items[start], &items[mid])?.is_lt() {
                right = mid;
            } else {
                left = mid + 1;
            }
        }
        items[left..=start].rotate_right(1);
    }
    Ok(())
}

/// A stable merge sort, which gives TimSort's result for a comparator
/// that is a total order.
fn merge_sort(
    items: Vec<Value>,
    compare: &mut dyn FnMut(&Value, &Value) -> Result<std::cmp::Ordering, minijinja::Error>,
) -> Result<Vec<Value>, minijinja::Error> {
    if items.len() < 2 {
        return Ok(items);
    }
    let mut left = items;
    let right = left.split_off(left.len() / 2);
    let (left, right) = (merge_sort(left, compare)?, merge_sort(right, compare)?);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut left, mut right) = (left.into_iter().peekable(), right.into_iter().peekable());
    while let (Some(l), Some(r)) = (left.peek(), right.peek()) {
        if compare(r, l)?.is_lt() {
            out.extend(right.next());
        } else {
            out.extend(left.next());
        }
    }
    out.extend(left);
    out.extend(right);
    Ok(out)
}

/// What `x[start:stop:step]` gives in nunjucks: a list of the items (of
/// text, the UTF-16 units, see [`unit_texts`]) from `start` by `step` while before `stop`, as
/// JavaScript computes the positions (so an index past the end gives
/// undefined items, and text positions add as text). Null bounds are the
/// ends; the step must be a non-zero number. Only the first `max_items`
/// items are made: `Err(None)` past them (nunjucks gives up too, where a
/// position is no number), `Err(Some(error))` for a bad step.
pub fn slice(
    value: &Value,
    start: &Value,
    stop: &Value,
    step: &Value,
    max_items: usize,
) -> Result<Value, Option<minijinja::Error>> {
    use std::cmp::Ordering::{Greater, Less};
    let target = if truthy(value) {
        value.clone()
    } else {
        Value::from(Vec::<Value>::new())
    };
    let length = match target.kind() {
        ValueKind::String => Value::from(target.as_str().unwrap_or_default().encode_utf16().count()),
        ValueKind::Seq | ValueKind::Iterable => Value::from(target.len().unwrap_or(0)),
        ValueKind::Map => target
            .get_item(&Value::from("length"))
            .unwrap_or(Value::UNDEFINED),
        _ => Value::UNDEFINED,
    };
    if !to_number(step).is_finite() || to_number(step) == 0.0 {
        return Err(Some(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "a slice's step must be a number other than 0",
        )));
    }
    let backwards = order(step, &Value::from(0)) == Some(Less);
    let mut index = match start.kind() {
        ValueKind::None if backwards => from_number(to_number(&length) - 1.0),
        ValueKind::None => Value::from(0),
        _ => start.clone(),
    };
    let stop = match stop.kind() {
        ValueKind::None if backwards => Value::from(-1),
        ValueKind::None => length.clone(),
        _ if order(stop, &Value::from(0)) == Some(Less) => add(stop, &length),
        _ => stop.clone(),
    };
    if order(&index, &Value::from(0)) == Some(Less) {
        index = add(&index, &length);
    }
    let mut items = Vec::new();
    let mut cursor = Cursor::default();
    loop {
        if order(&index, &Value::from(0)) == Some(Less) || order(&index, &length) == Some(Greater) {
            break;
        }
        let past = order(&index, &stop);
        if (!backwards && matches!(past, Some(o) if o.is_ge()))
            || (backwards && matches!(past, Some(o) if o.is_le()))
        {
            break;
        }
        // A position that is no number never reaches the end.
        if items.len() >= max_items || to_number(&index).is_nan() {
            return Err(None);
        }
        items.push(item_at(&target, &to_string(&index), &mut cursor));
        index = add(&index, step);
    }
    Ok(Value::from(items))
}

/// A position in text, by UTF-16 units, that moves to another in as many
/// steps as they are apart: a slice reads text in order, so reading all
/// of it costs its length, not its length squared. `bytes` is where the
/// character holding unit `units` (or the one after it) starts.
#[derive(Default)]
struct Cursor {
    units: usize,
    bytes: usize,
}

impl Cursor {
    fn unit_at(&mut self, text: &str, at: usize) -> Option<u16> {
        // Back first: a cursor past the end (an earlier index beyond the
        // text) still reaches the units before it.
        while self.units > at {
            let c = text[..self.bytes].chars().next_back()?;
            self.bytes -= c.len_utf8();
            self.units -= c.len_utf16();
        }
        loop {
            let c = text[self.bytes..].chars().next()?;
            if self.units + c.len_utf16() > at {
                let mut buffer = [0u16; 2];
                return c.encode_utf16(&mut buffer).get(at - self.units).copied();
            }
            self.bytes += c.len_utf8();
            self.units += c.len_utf16();
        }
    }
}

/// What `value[key]` gives in nunjucks: text's UTF-16 unit at an index
/// (see [`from_units`]) and its `length`, a list's `length`; anything else
/// as minijinja looks it up, undefined when absent.
pub fn item(value: &Value, key: &Value) -> Value {
    match value.kind() {
        ValueKind::String => {
            let key = to_string(key);
            if key == "length" {
                Value::from(value.as_str().unwrap_or_default().encode_utf16().count())
            } else {
                item_at(value, &key, &mut Cursor::default())
            }
        }
        ValueKind::Seq if key.as_str() == Some("length") => Value::from(value.len().unwrap_or(0)),
        _ => value.get_item(key).unwrap_or(Value::UNDEFINED),
    }
}

/// The item of a list or UTF-16 unit of text at `key`, a canonical index
/// (`1`, not `01` or `1.5`), or an object's value under it; else undefined.
fn item_at(target: &Value, key: &str, cursor: &mut Cursor) -> Value {
    let index = key.parse::<usize>().ok().filter(|i| i.to_string() == key);
    match (target.kind(), index) {
        (ValueKind::String, Some(i)) => cursor
            .unit_at(target.as_str().unwrap_or_default(), i)
            .map_or(Value::UNDEFINED, |unit| Value::from(from_units(&[unit]))),
        (ValueKind::Seq | ValueKind::Iterable, Some(i)) => {
            target.get_item(&Value::from(i)).unwrap_or(Value::UNDEFINED)
        }
        (ValueKind::Map, _) => target.get_item(&Value::from(key)).unwrap_or(Value::UNDEFINED),
        _ => Value::UNDEFINED,
    }
}

/// nunjucks' `in`: an item of a list (`===`), text within text, a key of
/// an object; anything else is an error.
pub fn contains(within: &Value, key: &Value) -> Result<bool, minijinja::Error> {
    match within.kind() {
        ValueKind::String => Ok(within
            .as_str()
            .unwrap_or_default()
            .contains(to_string(key).as_str())),
        ValueKind::Seq | ValueKind::Iterable => Ok(within.try_iter()?.any(|item| strict_equals(&item, key))),
        ValueKind::Map => Ok(within.try_iter()?.any(|k| to_string(&k) == to_string(key))),
        _ => Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!(
                "cannot use \"in\" to search for {:?} in {}",
                to_string(key),
                within.kind()
            ),
        )),
    }
}

/// What `for a, b in value` iterates in nunjucks, each item as `count`
/// values (undefined where there are fewer): an object's `[key, value]`
/// entries, text's `[index, UTF-16 unit]` pairs, a list's items each taken
/// apart (a list into its items, text into its UTF-16 units, an object into
/// its values under `"0"`, `"1"`, ..., null and undefined refused, anything
/// else into undefined values); nothing of anything else.
pub fn entries(value: &Value, count: usize) -> Result<Value, minijinja::Error> {
    let padded = |mut items: Vec<Value>| {
        items.resize(count, Value::UNDEFINED);
        Value::from(items)
    };
    let mut out = Vec::new();
    match value.kind() {
        ValueKind::Map => {
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                out.push(padded(vec![key, item]));
            }
        }
        ValueKind::String => {
            for (i, unit) in unit_texts(value.as_str().unwrap_or_default())
                .into_iter()
                .enumerate()
            {
                out.push(padded(vec![Value::from(i), unit]));
            }
        }
        ValueKind::Seq | ValueKind::Iterable => {
            for item in value.try_iter()? {
                let parts: Vec<Value> = match item.kind() {
                    ValueKind::Undefined | ValueKind::None => {
                        return Err(minijinja::Error::new(
                            minijinja::ErrorKind::InvalidOperation,
                            format!("`for` cannot take {} apart", output_kind(&item)),
                        ));
                    }
                    ValueKind::Seq | ValueKind::Iterable => item.try_iter()?.take(count).collect(),
                    ValueKind::String => {
                        let units: Vec<u16> = item
                            .as_str()
                            .unwrap_or_default()
                            .encode_utf16()
                            .take(count)
                            .collect();
                        units
                            .iter()
                            .map(|unit| Value::from(from_units(&[*unit])))
                            .collect()
                    }
                    ValueKind::Map => (0..count)
                        .map(|i| {
                            item.get_item(&Value::from(i.to_string()))
                                .unwrap_or(Value::UNDEFINED)
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                out.push(padded(parts));
            }
        }
        _ => {}
    }
    Ok(Value::from(out))
}

/// `undefined` or `null`, as a message names a value.
fn output_kind(value: &Value) -> &'static str {
    if value.is_undefined() { "undefined" } else { "null" }
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

    #[test]
    fn operators_are_javascripts() {
        let v = |json: serde_json::Value| Value::from(minijinja::value::Serde(json));
        let (one, text_one) = (v(serde_json::json!(1)), v(serde_json::json!("1")));
        assert!(loose_equals(&one, &text_one));
        assert!(!strict_equals(&one, &text_one));
        assert!(loose_equals(&Value::UNDEFINED, &v(serde_json::json!(null))));
        assert!(!loose_equals(
            &v(serde_json::json!(0)),
            &v(serde_json::json!(null))
        ));
        assert!(loose_equals(&v(serde_json::json!([])), &v(serde_json::json!(""))));
        assert!(loose_equals(&v(serde_json::json!(true)), &one));
        assert_eq!(
            to_string(&add(&Value::UNDEFINED, &v(serde_json::json!("/")))),
            "undefined/"
        );
        assert_eq!(output(&arithmetic("*", &Value::UNDEFINED, &one)), "NaN");
        assert_eq!(
            output(&add(&v(serde_json::json!([1, 2])), &v(serde_json::json!([3])))),
            "1,23"
        );
        assert_eq!(output(&add(&v(serde_json::json!(true)), &one)), "2");
        assert_eq!(
            output(&arithmetic(
                "//",
                &v(serde_json::json!(-7)),
                &v(serde_json::json!(2))
            )),
            "-4"
        );
        assert!(compare(
            "<",
            &v(serde_json::json!("10")),
            &v(serde_json::json!("9"))
        ));
        assert!(!compare(
            "<",
            &v(serde_json::json!(10)),
            &v(serde_json::json!("9"))
        ));
        assert!(!compare("<=", &Value::UNDEFINED, &one));
        assert!(truthy(&v(serde_json::json!([]))) && truthy(&v(serde_json::json!({}))));
        assert!(!truthy(&arithmetic("-", &Value::UNDEFINED, &one)));
        assert_eq!(to_number(&v(serde_json::json!(" 0x1f "))), 31.0);
        assert!(to_number(&v(serde_json::json!("inf"))).is_nan());
    }

    #[test]
    fn slices_of_text_read_utf16_units_in_either_direction() {
        let text = Value::from("a😀b😀");
        let n = |n: i64| Value::from(n);
        let slice_text = |start: Value, stop: Value, step: i64| {
            output(&slice(&text, &start, &stop, &n(step), 100).unwrap())
        };
        let none = || Value::from(());
        // Units: a, 😀's halves, b, 😀's halves; a lone half is U+FFFD.
        assert_eq!(
            slice_text(none(), none(), 1),
            "a,\u{fffd},\u{fffd},b,\u{fffd},\u{fffd}"
        );
        assert_eq!(slice_text(n(1), n(4), 1), "\u{fffd},\u{fffd},b");
        assert_eq!(
            slice_text(none(), none(), -1),
            "\u{fffd},\u{fffd},b,\u{fffd},\u{fffd},a"
        );
        assert_eq!(slice_text(n(5), n(0), -2), "\u{fffd},b,\u{fffd}");
        assert_eq!(slice_text(n(3), n(6), 3), "b");
        assert_eq!(slice_text(n(-2), none(), 1), "\u{fffd},\u{fffd}");
        // A start at the end, backwards: undefined, then the units.
        assert_eq!(slice_text(n(6), n(3), -1), ",\u{fffd},\u{fffd}");
        assert_eq!(units("😀").len(), 2);
        assert_eq!(from_units(&units("a😀")), "a😀");
        assert_eq!(from_units(&units("a😀")[..2]), "a\u{fffd}");
    }
}
