//! nunjucks' filters that write text: `truncate`, `center`, `urlencode`,
//! `striptags`, `nl2br`, `title` and `urlize`.

use minijinja::Error;
use minijinja::value::{Value, ValueKind};

use super::invalid;
use crate::engine::js;

/// What nunjucks' filters of text read for undefined, null and false:
/// empty text; anything else as it is.
fn normalized(value: Value) -> Value {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => Value::from(""),
        ValueKind::Bool if !value.is_true() => Value::from(""),
        _ => value,
    }
}

/// The length nunjucks compares with a width: of text, a list, or an
/// object's own `length`; undefined of anything else.
fn direct_length(value: &Value) -> Value {
    match value.kind() {
        ValueKind::String => Value::from(value.as_str().unwrap_or_default().encode_utf16().count()),
        ValueKind::Seq | ValueKind::Iterable => Value::from(value.len().unwrap_or(0)),
        ValueKind::Map => value.get_item(&Value::from("length")).unwrap_or(Value::UNDEFINED),
        _ => Value::UNDEFINED,
    }
}

/// `output` marked safe when `like` is.
fn same_safety(like: &Value, output: String) -> Value {
    if like.is_safe() {
        Value::from_safe_string(output)
    } else {
        Value::from(output)
    }
}

/// JavaScript's `ToIntegerOrInfinity(n)` clamped to `0..=len`, as
/// `substring` and `lastIndexOf` clamp a position (NaN is `nan_as`).
fn position(n: f64, len: usize, nan_as: usize) -> usize {
    if n.is_nan() {
        nan_as
    } else if n <= 0.0 {
        0
    } else {
        (n.trunc() as usize).min(len)
    }
}

/// nunjucks `truncate(length=255, killwords=false, end='...')`: text
/// longer than `length` cut at the last space at or before it (or at it,
/// with `killwords`), and `end` added. A list or text no longer than
/// `length` is given back as it is; undefined, null and false are empty
/// text; anything else is refused. Lengths and cuts are in UTF-16 units,
/// as JavaScript's; a cut inside a character past U+FFFF keeps its first
/// half (see `js::from_units`).
pub(super) fn truncate(
    value: Value,
    length: Option<Value>,
    killwords: Option<Value>,
    end: Option<Value>,
) -> Result<Value, Error> {
    let value = normalized(value);
    let length = length.filter(js::truthy).unwrap_or(Value::from(255));
    if matches!(js::order(&direct_length(&value), &length), Some(o) if o.is_le()) {
        return Ok(value);
    }
    let Some(text) = value.as_str().filter(|_| value.kind() == ValueKind::String) else {
        return Err(invalid("the truncate filter takes text"));
    };
    let units = js::units(text);
    let length = js::to_number(&length);
    let cut = if killwords.is_some_and(|k| js::truthy(&k)) {
        position(length, units.len(), 0)
    } else {
        let from = position(length, units.len(), units.len()).min(units.len().saturating_sub(1));
        match units
            .get(..=from)
            .and_then(|head| head.iter().rposition(|unit| *unit == u16::from(b' ')))
        {
            Some(space) => space,
            None => position(length, units.len(), 0),
        }
    };
    let end = match end {
        Some(end) if !end.is_undefined() && !end.is_none() => js::to_string(&end),
        _ => "...".to_string(),
    };
    let mut out = js::from_units(&units[..cut]);
    out.push_str(&end);
    Ok(same_safety(&value, out))
}

/// nunjucks `center(width=80)`: text or a list's text between spaces to
/// `width` (the left side one shorter when the spaces are odd), given back
/// as it is when it is that long already; another value's text as it is
/// (nunjucks knows no length of it).
pub(super) fn center(value: Value, width: Option<Value>) -> Result<Value, Error> {
    let value = normalized(value);
    let width = width.filter(js::truthy).unwrap_or(Value::from(80));
    let length = direct_length(&value);
    if matches!(js::order(&length, &width), Some(o) if o.is_ge()) {
        return Ok(value);
    }
    let spaces = js::to_number(&width) - js::to_number(&length);
    let pad = |n: f64| -> Result<String, Error> {
        if n.is_nan() || n <= 0.0 {
            Ok(String::new())
        } else if n.is_finite() && n <= 16.0 * 1024.0 * 1024.0 {
            Ok(" ".repeat(n.ceil() as usize))
        } else {
            Err(invalid("the center filter's width is too large"))
        }
    };
    let out = format!(
        "{}{}{}",
        pad(spaces / 2.0 - spaces % 2.0)?,
        js::to_string(&value),
        pad(spaces / 2.0)?
    );
    Ok(same_safety(&value, out))
}

/// nunjucks `urlencode`: text as JavaScript's `encodeURIComponent`, an
/// object as `key=value` pairs joined by `&`, a list of pairs likewise (an
/// item's first two items or UTF-16 units; null and undefined items are
/// refused, and so is half of a character past U+FFFF, as
/// `encodeURIComponent` refuses it), and anything else as empty text.
pub(super) fn urlencode(value: Value) -> Result<String, Error> {
    let pair = |key: &Value, item: &Value| {
        format!(
            "{}={}",
            encode_uri_component(&js::to_string(key)),
            encode_uri_component(&js::to_string(item))
        )
    };
    let mut pairs = Vec::new();
    match value.kind() {
        ValueKind::String => return Ok(encode_uri_component(value.as_str().unwrap_or_default())),
        ValueKind::Map => {
            for key in value.try_iter()? {
                pairs.push(pair(&key, &value.get_item(&key)?));
            }
        }
        ValueKind::Seq | ValueKind::Iterable => {
            for item in value.try_iter()? {
                let (key, item) = match item.kind() {
                    ValueKind::Undefined | ValueKind::None => {
                        return Err(invalid("the urlencode filter takes no null or undefined items"));
                    }
                    ValueKind::String => {
                        let units: Vec<u16> =
                            item.as_str().unwrap_or_default().encode_utf16().take(2).collect();
                        if units.iter().any(|unit| (0xD800..=0xDFFF).contains(unit)) {
                            return Err(invalid(
                                "the urlencode filter cannot encode half of a character past U+FFFF (URI malformed)",
                            ));
                        }
                        let unit = |i: usize| {
                            units
                                .get(i)
                                .map_or(Value::UNDEFINED, |unit| Value::from(js::from_units(&[*unit])))
                        };
                        (unit(0), unit(1))
                    }
                    ValueKind::Seq | ValueKind::Iterable => (
                        item.get_item(&Value::from(0)).unwrap_or(Value::UNDEFINED),
                        item.get_item(&Value::from(1)).unwrap_or(Value::UNDEFINED),
                    ),
                    ValueKind::Map => (
                        item.get_item(&Value::from("0")).unwrap_or(Value::UNDEFINED),
                        item.get_item(&Value::from("1")).unwrap_or(Value::UNDEFINED),
                    ),
                    _ => (Value::UNDEFINED, Value::UNDEFINED),
                };
                pairs.push(pair(&key, &item));
            }
        }
        _ => {}
    }
    Ok(pairs.join("&"))
}

/// JavaScript's `encodeURIComponent`: every byte of the UTF-8 text but
/// letters, digits and `-_.!~*'()` as `%XX`.
fn encode_uri_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

pub(super) fn striptags(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut in_tag = false;
    for c in value.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// nunjucks `nl2br`; the result is safe (and so always true, as an
/// object) only when the text was.
pub(super) fn nl2br(value: Value) -> Value {
    let text = value.as_str().unwrap_or_default();
    let out = text.replace("\r\n", "<br />\n").replace('\n', "<br />\n");
    if value.is_safe() {
        Value::from_safe_string(out)
    } else {
        Value::from(out)
    }
}

/// nunjucks `title`: each space-separated word capitalised, the rest of
/// it lower case (`demo-svc` is `Demo-svc`).
pub(super) fn title(value: Value) -> String {
    let text = js::output(&value);
    text.split(' ').map(capitalize_word).collect::<Vec<_>>().join(" ")
}

fn capitalize_word(word: &str) -> String {
    let lower = word.to_lowercase();
    let mut chars = lower.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// nunjucks `urlize(length, nofollow)`: words that are URLs (http(s)://,
/// www., a .com, .org or .net host) or e-mail addresses become links.
pub(super) fn urlize(value: &str, length: Option<Value>, nofollow: Option<bool>) -> String {
    let length = length
        .map(|l| js::to_number(&l))
        .filter(|l| !l.is_nan())
        .map_or(usize::MAX, |l| if l <= 0.0 { 0 } else { l as usize });
    let rel = if nofollow == Some(true) {
        " rel=\"nofollow\""
    } else {
        ""
    };
    let mut out = String::with_capacity(value.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            out.push_str(&urlize_word(word, length, rel));
            word.clear();
        }
    };
    for c in value.chars() {
        if c.is_whitespace() {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn urlize_word(word: &str, length: usize, rel: &str) -> String {
    // One opening and one closing punctuation mark are not part of a URL.
    let inner = word
        .strip_prefix('(')
        .or_else(|| word.strip_prefix('<'))
        .or_else(|| word.strip_prefix("&lt;"))
        .unwrap_or(word);
    let url = [".", ",", ")", "\n", "&gt;"]
        .iter()
        .find_map(|end| inner.strip_suffix(end))
        .unwrap_or(inner);
    // JavaScript's `substr(0, length)`: UTF-16 units.
    let units = js::units(url);
    let short = js::from_units(&units[..units.len().min(length)]);
    if url.starts_with("http://") || url.starts_with("https://") {
        return format!("<a href=\"{url}\"{rel}>{short}</a>");
    }
    if url.starts_with("www.") {
        return format!("<a href=\"http://{url}\"{rel}>{short}</a>");
    }
    if is_email(url) {
        return format!("<a href=\"mailto:{url}\">{url}</a>");
    }
    let tld = ["org", "net", "com"].iter().any(|tld| {
        url.match_indices(&format!(".{tld}"))
            .any(|(at, m)| matches!(url[at + m.len()..].chars().next(), None | Some(':' | '/')))
    });
    if tld {
        return format!("<a href=\"http://{url}\"{rel}>{short}</a>");
    }
    word.to_string()
}

/// `user@host.tld`, as nunjucks' pattern has it.
fn is_email(text: &str) -> bool {
    let Some((user, domain)) = text.split_once('@') else {
        return false;
    };
    let user_ok = !user.is_empty()
        && user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || ".!#$%&'*+-/=?^`{|}~".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    user_ok
        && labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}
