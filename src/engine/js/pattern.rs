//! JavaScript's regular expressions, as nunjucks' `r/.../flags` literals
//! write them (`'a-b' | replace(r/-/g, '_')`), run on the `regex` crate:
//! linear in the text, with a bounded compiled size. A pattern is
//! translated where the two syntaxes read the same text differently
//! (`\d`, `\w`, `\s`, `\b` and `.` are JavaScript's, `\uXXXX`, `\/`, `\a`),
//! and refused, naming what, where JavaScript means something the crate
//! cannot do (backreferences, lookaround, the `y` flag).

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Object, ObjectRepr, Value};
use minijinja::{Error, ErrorKind};

/// The longest pattern a literal may hold, as Backstage's engine bounds it.
pub const MAX_PATTERN: usize = 16 * 1024;

/// Bytes a compiled pattern may take.
const COMPILED_LIMIT: usize = 1 << 20;

/// A compiled `r/source/flags` literal.
#[derive(Debug)]
pub struct Pattern {
    source: String,
    flags: String,
    regex: regex::Regex,
}

fn refused(message: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, message)
}

impl Pattern {
    /// Compiles a literal's pattern and flags (`g`, `i`, `m`, `y`).
    pub fn new(source: &str, flags: &str) -> Result<Pattern, Error> {
        if source.len() > MAX_PATTERN {
            return Err(refused(format!(
                "a regular expression may be at most {MAX_PATTERN} bytes long"
            )));
        }
        let mut prefix = String::new();
        for (i, flag) in flags.char_indices() {
            if flags[..i].contains(flag) {
                return Err(refused(format!(
                    "the regular expression /{source}/{flags}: the flag {flag:?} is given twice"
                )));
            }
            match flag {
                'g' | 'y' => {}
                'i' => prefix.push_str("(?i)"),
                'm' => prefix.push_str("(?m)"),
                other => {
                    return Err(refused(format!(
                        "the regular expression /{source}/{flags}: the flag {other:?} is not supported"
                    )));
                }
            }
        }
        let translated = translate(source)
            .map_err(|why| refused(format!("the regular expression /{source}/{flags}: {why}")))?;
        let regex = regex::RegexBuilder::new(&format!("{prefix}{translated}"))
            .size_limit(COMPILED_LIMIT)
            .dfa_size_limit(COMPILED_LIMIT)
            .build()
            .map_err(|e| {
                let why = match e {
                    regex::Error::CompiledTooBig(_) => "it compiles to more than 1 MiB".to_string(),
                    other => other.to_string(),
                };
                refused(format!(
                    "the regular expression /{source}/{flags} is not supported: {why}"
                ))
            })?;
        Ok(Pattern {
            source: source.to_string(),
            flags: flags.to_string(),
            regex,
        })
    }

    fn global(&self) -> bool {
        self.flags.contains('g')
    }

    /// JavaScript's `text.replace(pattern, replacement)`: the first match
    /// (all, with `g`) replaced, `$&`, `$1`, `` $` ``, `$'`, `$<name>` and
    /// `$$` expanded. Fails once the result would pass `max_bytes`.
    pub fn replace(&self, text: &str, replacement: &str, max_bytes: usize) -> Result<String, TooLong> {
        let mut out = Bounded {
            text: String::new(),
            max_bytes,
        };
        let (mut last, mut at) = (0, 0);
        // As `RegExp.prototype[Symbol.replace]` searches: from where the
        // last match ended, one character on after an empty one.
        while at <= text.len()
            && let Some(captures) = self.regex.captures_at(text, at)
            && let Some(whole) = captures.get(0)
        {
            // A sticky pattern matches only where the search starts.
            if self.flags.contains('y') && whole.start() != at {
                break;
            }
            out.push(&text[last..whole.start()])?;
            self.expand(&captures, text, replacement, &mut out)?;
            last = whole.end();
            at = match text[whole.end()..].chars().next() {
                _ if !whole.is_empty() => whole.end(),
                Some(next) => whole.end() + next.len_utf8(),
                None => text.len() + 1,
            };
            if !self.global() {
                break;
            }
        }
        out.push(&text[last..])?;
        Ok(out.text)
    }

    /// JavaScript's `GetSubstitution`.
    fn expand(
        &self,
        captures: &regex::Captures<'_>,
        text: &str,
        replacement: &str,
        out: &mut Bounded,
    ) -> Result<(), TooLong> {
        let whole = captures.get(0).map_or(0..0, |m| m.range());
        let groups = captures.len() - 1;
        let named = self.regex.capture_names().flatten().next().is_some();
        let mut rest = replacement;
        while let Some(at) = rest.find('$') {
            out.push(&rest[..at])?;
            let after = &rest[at + 1..];
            let digits: Vec<usize> = after
                .chars()
                .take(2)
                .map_while(|c| c.to_digit(10).map(|d| d as usize))
                .collect();
            // Two digits when they name a group, else one.
            let group = match digits.as_slice() {
                [a, b, ..] if (1..=groups).contains(&(a * 10 + b)) => Some((a * 10 + b, 2)),
                [a, ..] if (1..=groups).contains(a) => Some((*a, 1)),
                _ => None,
            };
            let (written, used): (&str, usize) = match (after.chars().next(), group) {
                (_, Some((n, used))) => (captures.get(n).map_or("", |m| m.as_str()), used),
                (Some('$'), _) => ("$", 1),
                (Some('&'), _) => (&text[whole.clone()], 1),
                (Some('`'), _) => (&text[..whole.start], 1),
                (Some('\''), _) => (&text[whole.end..], 1),
                (Some('<'), _) if named => match after.find('>') {
                    Some(close) => (
                        captures.name(&after[1..close]).map_or("", |m| m.as_str()),
                        close + 1,
                    ),
                    None => ("$", 0),
                },
                _ => ("$", 0),
            };
            out.push(written)?;
            rest = &after[used..];
        }
        out.push(rest)
    }
}

/// A result that would pass its bound.
#[derive(Debug)]
pub struct TooLong;

/// Text that fails to grow past `max_bytes`.
struct Bounded {
    text: String,
    max_bytes: usize,
}

impl Bounded {
    fn push(&mut self, part: &str) -> Result<(), TooLong> {
        if self.text.len().saturating_add(part.len()) > self.max_bytes {
            return Err(TooLong);
        }
        self.text.push_str(part);
        Ok(())
    }
}

impl Object for Pattern {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}/{}", self.source, self.flags)
    }
}

/// The pattern a value holds, if it is one.
pub fn as_pattern(value: &Value) -> Option<Arc<Pattern>> {
    value.downcast_object::<Pattern>()
}

/// JavaScript's whitespace (`\s`), as the inside of a class.
const SPACE: &str =
    r"\t\n\x0B\x0C\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}";

/// A JavaScript pattern in the `regex` crate's syntax, or why it cannot be.
fn translate(source: &str) -> Result<String, String> {
    let mut out = String::with_capacity(source.len() * 2);
    let mut chars = source.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    return Err("it ends in a lone \\".into());
                };
                out.push_str(&escape(e, in_class, &mut chars)?);
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                // JavaScript reads `]` first in a class as its end.
                if chars.peek() == Some(&']') {
                    return Err("an empty class ([] or [^]) is not supported".into());
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            // The crate reads `[` and `&&`, `--`, `~~` in a class as
            // nested classes and set operations; JavaScript as characters.
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '.' if !in_class => out.push_str(r"[^\n\r\x{2028}\x{2029}]"),
            // JavaScript reads a `{` that starts no `{n}`, `{n,}` or
            // `{n,m}` as itself.
            '{' if !in_class && is_quantifier(chars.clone()) => {
                out.push('{');
                for c in chars.by_ref() {
                    out.push(c);
                    if c == '}' {
                        break;
                    }
                }
            }
            '{' | '}' if !in_class => {
                out.push('\\');
                out.push(c);
            }
            '(' if !in_class && chars.peek() == Some(&'?') => {
                let mut ahead = chars.clone();
                ahead.next();
                match (ahead.next(), ahead.next()) {
                    (Some('=' | '!'), _) | (Some('<'), Some('=' | '!')) => {
                        return Err("lookaround ((?=, (?!, (?<=, (?<!) is not supported".into());
                    }
                    _ => out.push('('),
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Whether the text after a `{` closes a quantifier: digits, then `}`, or
/// `,` and optional digits and `}`.
fn is_quantifier(mut rest: std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let mut digits = 0;
    while rest.next_if(char::is_ascii_digit).is_some() {
        digits += 1;
    }
    if digits == 0 {
        return false;
    }
    if rest.next_if_eq(&',').is_some() {
        while rest.next_if(char::is_ascii_digit).is_some() {}
    }
    rest.next() == Some('}')
}

/// The escape `\e` (in a class or not) in the crate's syntax.
fn escape(
    e: char,
    in_class: bool,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
) -> Result<String, String> {
    let class = |inner: &str, negated: bool| match (in_class, negated) {
        (true, false) => inner.to_string(),
        (true, true) => format!("[^{inner}]"),
        (false, false) => format!("[{inner}]"),
        (false, true) => format!("[^{inner}]"),
    };
    let mut hex = |n: usize| -> Result<String, String> {
        let digits: String = (0..n)
            .map_while(|_| chars.next_if(char::is_ascii_hexdigit))
            .collect();
        if digits.len() == n {
            Ok(format!("\\x{{{digits}}}"))
        } else {
            Err(format!("\\{e} needs {n} hexadecimal digits"))
        }
    };
    Ok(match e {
        'd' => class("0-9", false),
        'D' => class("0-9", true),
        'w' => class("0-9A-Za-z_", false),
        'W' => class("0-9A-Za-z_", true),
        's' => class(SPACE, false),
        'S' => class(SPACE, true),
        'b' if in_class => r"\x08".into(),
        'b' => r"(?-u:\b)".into(),
        'B' => r"(?-u:\B)".into(),
        'n' | 'r' | 't' | 'v' | 'f' => format!("\\{e}"),
        'x' => hex(2)?,
        'u' => hex(4)?,
        'c' => match chars.next_if(char::is_ascii_alphabetic) {
            Some(letter) => format!("\\x{{{:02X}}}", u32::from(letter) % 32),
            None => return Err("\\c needs a letter".into()),
        },
        '0' if !chars.peek().is_some_and(char::is_ascii_digit) => r"\x00".into(),
        '1'..='9' if !in_class => return Err("backreferences (\\1) are not supported".into()),
        'k' if chars.peek() == Some(&'<') => {
            return Err("backreferences (\\k<name>) are not supported".into());
        }
        // Any other escaped character is itself.
        other => regex::escape(&other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replace(source: &str, flags: &str, text: &str, with: &str) -> String {
        Pattern::new(source, flags)
            .unwrap()
            .replace(text, with, 1 << 20)
            .unwrap()
    }

    #[test]
    fn patterns_read_as_javascript_reads_them() {
        assert_eq!(replace(r"\d+", "g", "a1b22٣", "#"), "a#b#٣");
        assert_eq!(replace(r"\w", "g", "é_x", "."), "é..");
        assert_eq!(replace(r"\s", "g", "a\u{FEFF}b\u{85}c", "_"), "a_b\u{85}c");
        assert_eq!(replace(r"\bx", "g", "éx x", "y"), "éy y");
        assert_eq!(replace(".", "g", "a\rb", "-"), "-\r-");
        assert_eq!(replace(r"\/\u0041\a", "", "/Aa", "ok"), "ok");
        assert_eq!(replace("[a[]", "g", "a[b", "."), "..b");
        assert_eq!(replace("-", "", "a-b-c", "_"), "a_b-c");
        assert_eq!(replace("A", "gi", "aAb", "x"), "xxb");
        assert_eq!(replace("a{", "", "a{1}", "x"), "x1}");
        assert_eq!(replace("a{2}", "", "aa", "x"), "x");
        assert_eq!(replace("a", "gy", "aab", "x"), "xxb");
        assert_eq!(replace("a", "y", "bab", "x"), "bab");
    }

    #[test]
    fn replacements_expand_as_javascript_expands_them() {
        assert_eq!(
            replace("(a)(b)?", "", "xaby", "[$2$1$&$$$`$'$3$10]"),
            "x[baab$xy$3a0]y"
        );
        assert_eq!(replace("(?<n>a)", "", "ab", "<$<n>>"), "<a>b");
        assert_eq!(replace("a*", "g", "baaac", "-"), "-b--c-");
        assert_eq!(replace("a*", "g", "aaa", "-"), "--");
    }

    #[test]
    fn what_the_crate_cannot_do_is_refused_naming_it() {
        for (source, flags, why) in [
            (r"(a)\1", "", "backreferences"),
            ("a(?=b)", "", "lookaround"),
            ("(?<!a)b", "", "lookaround"),
            ("a", "u", "flag 'u'"),
            ("a", "gig", "given twice"),
            ("[]", "", "empty class"),
            ("(a{1000}){1000}", "", "more than 1 MiB"),
        ] {
            let error = Pattern::new(source, flags).unwrap_err().to_string();
            assert!(error.contains(why), "/{source}/{flags}: {error}");
            assert!(error.contains(source), "/{source}/{flags}: {error}");
        }
    }

    #[test]
    fn a_replacement_is_refused_past_its_bound() {
        let pattern = Pattern::new(".", "g").unwrap();
        let text = "x".repeat(1000);
        assert!(pattern.replace(&text, "$`", 1 << 16).is_err());
        assert_eq!(
            pattern.replace(&text, "$`", 1 << 20).unwrap().len(),
            999 * 1000 / 2
        );
    }
}
