//! Backstage's template filters (`parseRepoUrl`, `parseEntityRef`, `pick`,
//! `projectSlug`) and the nunjucks built-ins real templates use whose names
//! or behaviour differ from minijinja's.

use std::collections::BTreeMap;

use minijinja::value::{Serde, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State};

mod kinds;
mod predicates;

use super::bounds::{self, Guard, Precheck};
use super::js;
use crate::api::{EntityRef, RepoUrl};

/// Adds every filter a Backstage template may call to `env`, each checked
/// against `guard` (see [`bounds`]): minijinja's own and nunjucks' and
/// Backstage's.
pub fn register(env: &mut Environment<'_>, guard: Guard) {
    let mut filters = backstage_and_nunjucks();
    filters.extend(minijinja_builtins());
    filters.extend(minijinja_collection_builtins());
    filters.extend(minijinja_selection_builtins());
    filters.extend(minijinja_format_builtins());
    kinds::text_only(&mut filters);
    for (name, filter, precheck) in filters {
        bounds::add_checked_filter(env, guard, name, filter, precheck);
    }
    predicates::register(env);
    env.set_unknown_method_callback(move |state, value, method, args| {
        guard.time()?;
        bounds::check_js_method(&guard, value, method, args)?;
        let result = js_method(state, value, method, args)?;
        guard.depth(&format!(".{method}()"), &result)?;
        Ok(result)
    });
}

/// A filter's name, the filter, and the check of its arguments.
type Filter = (&'static str, Value, Option<Precheck>);

/// Backstage's filters, and nunjucks' where its names or semantics differ
/// from minijinja's.
fn backstage_and_nunjucks() -> Vec<Filter> {
    vec![
        // Backstage's.
        ("parseRepoUrl", Value::from_function(parse_repo_url), None),
        ("parseEntityRef", Value::from_function(parse_entity_ref), None),
        ("pick", Value::from_function(pick), None),
        ("projectSlug", Value::from_function(project_slug), None),
        // nunjucks' names and semantics.
        ("dump", Value::from_function(dump), Some(bounds::check_json)),
        ("jsonify", Value::from_function(dump), Some(bounds::check_json)),
        ("truncate", Value::from_function(truncate), None),
        ("wordcount", Value::from_function(kinds::wordcount), None),
        ("center", Value::from_function(center), Some(bounds::check_width)),
        ("striptags", Value::from_function(striptags), None),
        ("nl2br", Value::from_function(nl2br), Some(bounds::check_escape)),
        ("default", Value::from_function(nunjucks_default), None),
        ("d", Value::from_function(nunjucks_default), None),
    ]
}

/// minijinja's own filters over text that templates use, with the checks
/// of those that can grow a value (as in the two lists after it).
fn minijinja_builtins() -> Vec<Filter> {
    use minijinja::filters as builtin;
    vec![
        ("safe", Value::from_function(kinds::safe), None),
        (
            "escape",
            Value::from_function(kinds::escape),
            Some(bounds::check_escape),
        ),
        (
            "e",
            Value::from_function(kinds::escape),
            Some(bounds::check_escape),
        ),
        (
            "forceescape",
            Value::from_function(kinds::escape),
            Some(bounds::check_escape),
        ),
        (
            "lower",
            Value::from_function(builtin::lower),
            Some(bounds::check_case),
        ),
        (
            "upper",
            Value::from_function(builtin::upper),
            Some(bounds::check_case),
        ),
        ("title", Value::from_function(title), Some(bounds::check_case)),
        (
            "capitalize",
            Value::from_function(builtin::capitalize),
            Some(bounds::check_case),
        ),
        (
            "replace",
            Value::from_function(kinds::replace),
            Some(bounds::check_replace),
        ),
        ("length", Value::from_function(kinds::length), None),
        ("count", Value::from_function(builtin::length), None),
    ]
}

/// minijinja's filters over lists and maps that sort, pick or reshape them.
fn minijinja_collection_builtins() -> Vec<Filter> {
    use minijinja::filters as builtin;
    vec![
        (
            "dictsort",
            Value::from_function(builtin::dictsort),
            Some(bounds::check_chars),
        ),
        (
            "items",
            Value::from_function(builtin::items),
            Some(bounds::check_chars),
        ),
        (
            "reverse",
            Value::from_function(kinds::reverse),
            Some(bounds::check_chars),
        ),
        ("trim", Value::from_function(builtin::trim), None),
        (
            "join",
            Value::from_function(kinds::join),
            Some(bounds::check_join),
        ),
        (
            "split",
            Value::from_function(builtin::split),
            Some(bounds::check_split),
        ),
        (
            "lines",
            Value::from_function(builtin::lines),
            Some(bounds::check_split),
        ),
        ("round", Value::from_function(round), None),
        ("abs", Value::from_function(kinds::abs), None),
        ("int", Value::from_function(int), None),
        ("float", Value::from_function(float), None),
        ("urlize", Value::from_function(urlize), Some(bounds::check_urlize)),
        ("attr", Value::from_function(builtin::attr), None),
        ("first", Value::from_function(kinds::first), None),
        ("last", Value::from_function(kinds::last), None),
        (
            "min",
            Value::from_function(builtin::min),
            Some(bounds::check_chars),
        ),
        (
            "max",
            Value::from_function(builtin::max),
            Some(bounds::check_chars),
        ),
        (
            "sort",
            Value::from_function(builtin::sort),
            Some(bounds::check_chars),
        ),
        ("list", Value::from_function(list), Some(bounds::check_chars)),
        ("string", Value::from_function(string), None),
        ("bool", Value::from_function(builtin::bool), None),
        (
            "batch",
            kinds::sequence("batch", Value::from_function(builtin::batch)),
            Some(bounds::check_count),
        ),
    ]
}

/// minijinja's filters that select, map or group items.
fn minijinja_selection_builtins() -> Vec<Filter> {
    use minijinja::filters as builtin;
    vec![
        (
            "slice",
            Value::from_function(builtin::slice),
            Some(bounds::check_count),
        ),
        (
            "sum",
            Value::from_function(builtin::sum),
            Some(bounds::check_chars),
        ),
        (
            "indent",
            Value::from_function(builtin::indent),
            Some(bounds::check_indent),
        ),
        (
            "select",
            kinds::sequence("select", Value::from_function(builtin::select)),
            Some(bounds::check_chars),
        ),
        (
            "reject",
            kinds::sequence("reject", Value::from_function(builtin::reject)),
            Some(bounds::check_chars),
        ),
        (
            "selectattr",
            kinds::list_only("selectattr", Value::from_function(builtin::selectattr)),
            Some(bounds::check_chars),
        ),
        (
            "rejectattr",
            kinds::list_only("rejectattr", Value::from_function(builtin::rejectattr)),
            Some(bounds::check_chars),
        ),
        (
            "map",
            Value::from_function(builtin::map),
            Some(bounds::check_chars),
        ),
        (
            "groupby",
            Value::from_function(builtin::groupby),
            Some(bounds::check_chars),
        ),
        (
            "unique",
            Value::from_function(builtin::unique),
            Some(bounds::check_chars),
        ),
        (
            "chain",
            Value::from_function(builtin::chain),
            Some(bounds::check_chars),
        ),
        (
            "zip",
            Value::from_function(builtin::zip),
            Some(bounds::check_chars),
        ),
    ]
}

/// minijinja's filters that format values as text.
fn minijinja_format_builtins() -> Vec<Filter> {
    use minijinja::filters as builtin;
    vec![
        (
            "pprint",
            Value::from_function(builtin::pprint),
            Some(bounds::check_pprint),
        ),
        (
            "format",
            Value::from_function(builtin::format),
            Some(bounds::check_format),
        ),
        (
            "tojson",
            Value::from_function(builtin::tojson),
            Some(bounds::check_json),
        ),
        (
            "urlencode",
            Value::from_function(builtin::urlencode),
            Some(bounds::check_escape),
        ),
    ]
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, message.into())
}

fn parse_repo_url(repo_url: &str) -> Result<Value, Error> {
    let parsed = RepoUrl::parse(repo_url).map_err(invalid)?;
    let mut map = BTreeMap::new();
    map.insert("host", Value::from(parsed.host));
    for (key, value) in [
        ("owner", parsed.owner),
        ("repo", parsed.repo),
        ("organization", parsed.organization),
        ("workspace", parsed.workspace),
        ("project", parsed.project),
    ] {
        if let Some(value) = value {
            map.insert(key, Value::from(value));
        }
    }
    Ok(Value::from(Serde(&map)))
}

fn project_slug(repo_url: &str) -> Result<String, Error> {
    Ok(RepoUrl::parse(repo_url).map_err(invalid)?.slug())
}

fn parse_entity_ref(reference: &str, options: Option<Value>) -> Result<Value, Error> {
    let option = |key: &str| -> Option<String> {
        options
            .as_ref()
            .and_then(|o| o.get_attr(key).ok())
            .filter(|v| !v.is_undefined() && !v.is_none())
            .map(|v| v.to_string())
    };
    let (kind, namespace) = (option("defaultKind"), option("defaultNamespace"));
    let parsed = EntityRef::parse(reference, kind.as_deref(), namespace.as_deref()).map_err(invalid)?;
    Ok(Value::from_pairs([
        ("kind", parsed.kind),
        ("namespace", parsed.namespace),
        ("name", parsed.name),
    ]))
}

fn pick(object: Value, key: &str) -> Result<Value, Error> {
    object.get_attr(key)
}

/// nunjucks `dump`: JSON, with an optional indent; undefined has none, so
/// it prints nothing.
fn dump(value: Value, indent: Option<usize>) -> Result<Value, Error> {
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

/// nunjucks `truncate(length=255, killwords=false, end='...')`. Works on
/// byte offsets of the text, so nothing larger than the result is built.
fn truncate(value: &str, length: Option<usize>, killwords: Option<bool>, end: Option<&str>) -> String {
    let length = length.unwrap_or(255);
    let end = end.unwrap_or("...");
    let Some((cut_at, next)) = value.char_indices().nth(length) else {
        return value.to_string();
    };
    let cut = if killwords.unwrap_or(false) {
        cut_at
    } else {
        // nunjucks cuts at the last space at or before `length`.
        value[..cut_at + next.len_utf8()].rfind(' ').unwrap_or(cut_at)
    };
    format!("{}{end}", &value[..cut])
}

fn center(value: &str, width: Option<usize>) -> String {
    let width = width.unwrap_or(80);
    let len = value.chars().count();
    if len >= width {
        return value.to_string();
    }
    let left = (width - len) / 2;
    let right = width - len - left;
    format!("{}{value}{}", " ".repeat(left), " ".repeat(right))
}

fn striptags(value: &str) -> String {
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
fn nl2br(value: Value) -> Value {
    let text = value.as_str().unwrap_or_default();
    let out = text.replace("\r\n", "<br />\n").replace('\n', "<br />\n");
    if value.is_safe() {
        Value::from_safe_string(out)
    } else {
        Value::from(out)
    }
}

/// nunjucks `default(value, default, boolean)`: with `boolean` true, any
/// falsy value is replaced, not only an undefined one.
fn nunjucks_default(value: Value, default: Option<Value>, boolean: Option<bool>) -> Value {
    let replace = value.is_undefined() || (boolean.unwrap_or(false) && !value.is_true());
    if replace {
        default.unwrap_or_else(|| Value::from(""))
    } else {
        value
    }
}

/// nunjucks `title`: each space-separated word capitalised, the rest of
/// it lower case (`demo-svc` is `Demo-svc`).
fn title(value: Value) -> String {
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

/// nunjucks `round(precision=0, method='common')`: JavaScript's
/// `Math.round` (halves up), `Math.floor` or `Math.ceil` at the precision.
fn round(value: Value, precision: Option<Value>, method: Option<&str>) -> Value {
    let precision = precision.map_or(0.0, |p| js::to_number(&p));
    let precision = if precision.is_nan() { 0.0 } else { precision };
    let factor = 10f64.powf(precision);
    let scaled = js::to_number(&value) * factor;
    let rounded = match method {
        Some("ceil") => scaled.ceil(),
        Some("floor") => scaled.floor(),
        _ => {
            let floor = scaled.floor();
            if scaled - floor >= 0.5 { floor + 1.0 } else { floor }
        }
    };
    js::from_number(rounded / factor)
}

/// nunjucks `float(default)`: JavaScript's `parseFloat`, or the default
/// (undefined unless given) when the text does not start with a number.
fn float(value: Value, default: Option<Value>) -> Value {
    let parsed = parse_float(&js::to_string(&value));
    if parsed.is_nan() {
        default.unwrap_or(Value::UNDEFINED)
    } else {
        js::from_number(parsed)
    }
}

/// nunjucks `int(default, base=10)`: JavaScript's `parseInt`.
fn int(value: Value, default: Option<Value>, base: Option<u32>) -> Value {
    match parse_int(&js::to_string(&value), base.unwrap_or(10)) {
        Some(n) => js::from_number(n),
        None => default.unwrap_or(Value::UNDEFINED),
    }
}

/// `parseFloat`: the longest decimal number at the start of the text,
/// after whitespace.
fn parse_float(text: &str) -> f64 {
    let text = text.trim_start();
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    if unsigned.starts_with("Infinity") {
        return if text.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    let bytes = text.as_bytes();
    let mut end = text.len() - unsigned.len();
    let digits = |from: usize| bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let whole = digits(end);
    end += whole;
    let mut fraction = 0;
    if bytes.get(end) == Some(&b'.') {
        fraction = digits(end + 1);
        if whole > 0 || fraction > 0 {
            end += 1 + fraction;
        }
    }
    if whole == 0 && fraction == 0 {
        return f64::NAN;
    }
    if matches!(bytes.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(bytes.get(end + 1), Some(b'+' | b'-')));
        let exponent = digits(end + 1 + sign);
        if exponent > 0 {
            end += 1 + sign + exponent;
        }
    }
    text[..end].parse().unwrap_or(f64::NAN)
}

/// `parseInt(text, base)`: the digits of the base at the start of the
/// text, after whitespace, a sign and, in base 16, `0x`.
fn parse_int(text: &str, base: u32) -> Option<f64> {
    if !(2..=36).contains(&base) {
        return None;
    }
    let text = text.trim_start();
    let negative = text.starts_with('-');
    let mut rest = text.strip_prefix(['+', '-']).unwrap_or(text);
    if base == 16 {
        rest = rest
            .strip_prefix("0x")
            .or_else(|| rest.strip_prefix("0X"))
            .unwrap_or(rest);
    }
    let digits: Vec<u32> = rest.chars().map_while(|c| c.to_digit(base)).collect();
    if digits.is_empty() {
        return None;
    }
    let n = digits
        .iter()
        .fold(0f64, |n, d| n * f64::from(base) + f64::from(*d));
    Some(if negative { -n } else { n })
}

/// nunjucks `string`: a value as JavaScript's text (`2`, not `2.0`);
/// null and undefined are refused, as Backstage's engine refuses them.
fn string(value: Value) -> Result<Value, Error> {
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
fn list(value: Value) -> Result<Value, Error> {
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

/// nunjucks `urlize(length, nofollow)`: words that are URLs (http(s)://,
/// www., a .com, .org or .net host) or e-mail addresses become links.
fn urlize(value: &str, length: Option<Value>, nofollow: Option<bool>) -> String {
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
    let short: String = url.chars().take(length).collect();
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

/// The global that marks an environment as cookiecutterCompat's.
pub const COMPAT: &str = "__goldpath_compat";

/// The JavaScript string and array methods nunjucks templates call, e.g.
/// `parameters.name.toUpperCase()` or `parameters.tags.includes('java')`.
fn js_method(state: &mut State, value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    if value.kind() == ValueKind::Map && state.lookup(COMPAT).is_some_and(|c| c.is_true()) {
        return dict_method(value, method);
    }
    if let Some(s) = value.as_str() {
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
    let chars: Vec<char> = s.chars().collect();
    let slice = |start: Option<i64>, end: Option<i64>| -> String {
        let len = chars.len() as i64;
        let clamp = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) } as usize;
        let (from, to) = (clamp(start.unwrap_or(0)), clamp(end.unwrap_or(len)));
        if from >= to {
            String::new()
        } else {
            chars[from..to].iter().collect()
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
                .map(|b| s[..b].chars().count() as i64)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nunjucks_filters_behave_as_nunjucks() {
        assert_eq!(
            truncate("a long description of the service", Some(12), None, None),
            "a long..."
        );
        assert_eq!(truncate("short", Some(12), None, None), "short");
        assert_eq!(truncate("abcdefghij", Some(4), Some(true), Some("~")), "abcd~");
        assert_eq!(truncate("ab cd ef", Some(5), None, None), "ab cd...");
        assert_eq!(truncate("äb cd éf", Some(4), None, Some("…")), "äb…");
        assert_eq!(truncate("äbcdéf", Some(3), None, None), "äbc...");
        assert_eq!(
            kinds::wordcount(Value::from("one two-three, _four")).unwrap(),
            Value::from(4)
        );
        assert_eq!(kinds::wordcount(Value::from("--")).unwrap(), Value::from(()));
        assert_eq!(center("ab", Some(6)), "  ab  ");
        assert_eq!(striptags("<p>Hello <b>you</b></p>"), "Hello you");
        assert_eq!(
            nunjucks_default(Value::from(""), Some(Value::from("x")), Some(true)),
            Value::from("x")
        );
        assert_eq!(
            nunjucks_default(Value::from(""), Some(Value::from("x")), None),
            Value::from("")
        );
        assert_eq!(
            nunjucks_default(Value::UNDEFINED, Some(Value::from("x")), None),
            Value::from("x")
        );
    }
}
