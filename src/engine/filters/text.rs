//! nunjucks' filters that write text: `truncate`, `center`, `striptags`,
//! `nl2br`, `title` and `urlize`.

use minijinja::value::Value;

use crate::engine::js;

/// nunjucks `truncate(length=255, killwords=false, end='...')`. Works on
/// byte offsets of the text, so nothing larger than the result is built.
pub(super) fn truncate(
    value: &str,
    length: Option<usize>,
    killwords: Option<bool>,
    end: Option<&str>,
) -> String {
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

pub(super) fn center(value: &str, width: Option<usize>) -> String {
    let width = width.unwrap_or(80);
    let len = value.chars().count();
    if len >= width {
        return value.to_string();
    }
    let left = (width - len) / 2;
    let right = width - len - left;
    format!("{}{value}{}", " ".repeat(left), " ".repeat(right))
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
