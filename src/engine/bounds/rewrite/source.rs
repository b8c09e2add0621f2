//! Passes over a template's text before it is parsed, for what nunjucks
//! reads and minijinja does not: `===` and `!==`, regular-expression
//! literals (`r/-/g`), and a conditional expression as an `if` condition.
//! Each works inside tags only, outside their string literals.

/// `source` with each `===` and `!==` inside a tag written as `== ` and
/// `!= `, and the offsets where they were.
pub(super) fn strict_operators(
    source: &str,
    template: bool,
    syntax: &minijinja::syntax::SyntaxConfig,
) -> (String, Vec<usize>) {
    if !source.contains("==") {
        return (source.to_string(), Vec::new());
    }
    let mut out = source.as_bytes().to_vec();
    let mut found = Vec::new();
    walk_code(source, template, syntax, &mut |i| {
        let rest = &source[i..];
        if rest.starts_with("===") || rest.starts_with("!==") {
            out[i + 2] = b' ';
            found.push(i);
            return 3;
        }
        0
    });
    // Only ASCII bytes were replaced by ASCII, so the text is still UTF-8.
    (
        String::from_utf8(out).unwrap_or_else(|_| source.to_string()),
        found,
    )
}

/// The function nunjucks' regular-expression literals become.
pub(crate) const REGEX: &str = "__goldpath_regex";

/// `source` with each `r/pattern/flags` literal inside a tag, which
/// minijinja does not parse, written as a call of `REGEX` with the
/// pattern and flags as strings (its line breaks kept after it). A literal
/// nunjucks would refuse is left as it is, for the parser to refuse.
pub(super) fn regex_literals(
    source: &str,
    template: bool,
    syntax: &minijinja::syntax::SyntaxConfig,
) -> String {
    if !source.contains("r/") {
        return source.to_string();
    }
    let mut literals = Vec::new();
    walk_code(source, template, syntax, &mut |i| {
        let word_before = source[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
        if word_before || !source[i..].starts_with("r/") {
            return 0;
        }
        match regex_literal(&source[i..]) {
            Some((len, pattern, flags)) => {
                literals.push((i, len, pattern, flags));
                len
            }
            None => 0,
        }
    });
    let mut out = String::with_capacity(source.len() + literals.len() * 32);
    let mut at = 0;
    for (i, len, pattern, flags) in literals {
        out.push_str(&source[at..i]);
        let quoted: String = pattern
            .chars()
            .flat_map(|c| match c {
                '\\' => vec!['\\', '\\'],
                '\'' => vec!['\\', '\''],
                '\n' => vec!['\\', 'n'],
                '\r' => vec!['\\', 'r'],
                other => vec![other],
            })
            .collect();
        out.push_str(&format!("{REGEX}('{quoted}', '{flags}')"));
        out.push_str(&"\n".repeat(pattern.matches('\n').count()));
        at = i + len;
    }
    out.push_str(&source[at..]);
    out
}

/// `source` with the condition of each `{% if %}` and `{% elif %}` that
/// holds a conditional expression (`{% if a if b else c %}`, which nunjucks
/// parses and minijinja does not) in parentheses.
pub(super) fn parenthesised_conditions(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut at = 0;
    let mut from = 0;
    while let Some(open) = source[from..].find("{%").map(|i| from + i) {
        let Some((start, end)) = condition(source, open + 2) else {
            from = open + 2;
            continue;
        };
        let text = &source[start..end];
        if has_word(text, "if") {
            out.push_str(&source[at..start]);
            out.push('(');
            out.push_str(text);
            out.push(')');
            at = end;
        }
        from = end;
    }
    out.push_str(&source[at..]);
    out
}

/// Where the condition of the `if` or `elif` tag whose body starts at
/// `body` is: after the keyword, up to the tag's end (outside strings),
/// without surrounding whitespace or whitespace control.
fn condition(source: &str, body: usize) -> Option<(usize, usize)> {
    let rest = source.get(body..)?;
    let keyword = rest.trim_start_matches(['-', '+']).trim_start();
    let after = ["elif", "if"].iter().find_map(|k| keyword.strip_prefix(k))?;
    if !after.starts_with(char::is_whitespace) {
        return None;
    }
    let start = source.len() - after.trim_start().len();
    let mut quote = None;
    let mut chars = source[start..].char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '%') if source[start + i..].starts_with("%}") => {
                let end = source[start..start + i].trim_end_matches(['-', '+']).trim_end();
                return Some((start, start + end.len()));
            }
            _ => {}
        }
    }
    None
}

/// Whether `text` holds `word` as a word, outside string literals.
fn has_word(text: &str, word: &str) -> bool {
    let mut quote = None;
    let mut escaped = false;
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None => {
                let boundary = |j: Option<&u8>| !j.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
                if text[i..].starts_with(word)
                    && boundary(i.checked_sub(1).and_then(|j| bytes.get(j)))
                    && boundary(bytes.get(i + word.len()))
                {
                    return true;
                }
            }
        }
    }
    false
}

/// The length, pattern and flags of the `r/pattern/flags` literal `text`
/// starts with, scanned as nunjucks scans one: a `/` after an odd number of
/// backslashes is part of the pattern, after an even one ambiguous; the
/// letters after it are its flags.
fn regex_literal(text: &str) -> Option<(usize, String, String)> {
    let mut backslashes = 0;
    for (at, c) in text.char_indices().skip(2) {
        match c {
            '\\' => backslashes += 1,
            '/' if backslashes % 2 == 1 => backslashes = 0,
            '/' if backslashes > 0 => return None,
            '/' => {
                let pattern = text[2..at].to_string();
                if pattern.len() > crate::engine::js::pattern::MAX_PATTERN {
                    return None;
                }
                // Every letter after it is a flag, for the pattern to
                // check (nunjucks refuses an unknown or repeated one).
                let flags: String = text[at + 1..]
                    .chars()
                    .take_while(char::is_ascii_alphabetic)
                    .collect();
                return Some((at + 1 + flags.len(), pattern, flags));
            }
            _ => backslashes = 0,
        }
    }
    None
}

/// Calls `visit` with each offset of `source` inside a tag's code, outside
/// its string literals; `visit` gives how many bytes it took (0: none),
/// which are then stepped over.
fn walk_code(
    source: &str,
    template: bool,
    syntax: &minijinja::syntax::SyntaxConfig,
    visit: &mut dyn FnMut(usize) -> usize,
) {
    let bytes = source.as_bytes();
    let (var_start, var_end) = syntax.variable_delimiters();
    let mut i = 0;
    // Outside a tag (`None`), or inside one until its closing delimiter.
    let mut closing: Option<&str> = if template { None } else { Some("") };
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let rest = &source[i..];
        match closing {
            None => {
                if rest.starts_with(var_start) {
                    closing = Some(var_end);
                    i += var_start.len();
                    continue;
                }
                if rest.starts_with("{%") {
                    // An unclosed tag runs to the end of the text.
                    let body_end = rest.find("%}").unwrap_or(rest.len()).max(2);
                    let tag = rest[2..body_end].trim_matches(['-', '+', ' ', '\t', '\n']);
                    if tag == "raw" {
                        // Nothing in a raw block is a tag.
                        i += rest.find("endraw").unwrap_or(rest.len());
                        continue;
                    }
                    closing = Some("%}");
                    i += 2;
                    continue;
                }
                if rest.starts_with("{#") {
                    i += rest.find("#}").map_or(rest.len(), |e| e + 2);
                    continue;
                }
            }
            Some(end) => {
                if let Some(q) = quote {
                    if bytes[i] == b'\\' {
                        i += 1 + char_len(source, i + 1);
                        continue;
                    }
                    if bytes[i] == q {
                        quote = None;
                    }
                } else if !end.is_empty() && rest.starts_with(end) {
                    closing = None;
                    i += end.len();
                    continue;
                } else {
                    let taken = visit(i);
                    if taken > 0 {
                        i += taken;
                        continue;
                    }
                    if bytes[i] == b'"' || bytes[i] == b'\'' {
                        quote = Some(bytes[i]);
                    }
                }
            }
        }
        i += char_len(source, i);
    }
}

/// The length in bytes of the character at `i` (1 past the end), so a scan
/// that steps with it stays on character boundaries.
pub(super) fn char_len(source: &str, i: usize) -> usize {
    source
        .get(i..)
        .and_then(|rest| rest.chars().next())
        .map_or(1, char::len_utf8)
}
