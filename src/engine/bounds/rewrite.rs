//! Operators and literals rewritten, before a template is compiled, into
//! calls of the checked functions `operators` registers: `*`, `+`, `~` and
//! JavaScript's comparisons and truthiness, slices, list, tuple and map
//! literals, `dict()` and `namespace()`, and each loop iteration counted.

use minijinja::{Error, ErrorKind};

mod source;

pub(super) use source::REGEX;
use source::{parenthesised_conditions, regex_literals, strict_operators};

/// Whether `name` is one of the functions a rewritten template calls in
/// place of an operator or literal.
pub fn is_checked_function(name: &str) -> bool {
    name.starts_with("__goldpath_")
}

/// The function each rewritten operator calls: the checked ones, and the
/// rest with JavaScript's semantics, as nunjucks compiles them.
const OPERATORS: &[(&str, &str)] = &[
    ("Mul", "__goldpath_mul"),
    ("Add", "__goldpath_add"),
    ("Concat", "__goldpath_concat"),
    ("Sub", "__goldpath_sub"),
    ("Div", "__goldpath_div"),
    ("FloorDiv", "__goldpath_floordiv"),
    ("Rem", "__goldpath_rem"),
    ("Pow", "__goldpath_pow"),
    ("Eq", "__goldpath_eq"),
    ("Ne", "__goldpath_ne"),
    ("Lt", "__goldpath_lt"),
    ("Lte", "__goldpath_lte"),
    ("Gt", "__goldpath_gt"),
    ("Gte", "__goldpath_gte"),
    ("ScAnd", AND),
    ("ScOr", OR),
    ("In", "__goldpath_in"),
];

/// The functions that decide the left side of `and` and `or` by
/// JavaScript's truthiness; minijinja's own operator then short-circuits,
/// so the right side is evaluated only when JavaScript would evaluate it,
/// and `UNWRAP` gives back the operand the operator chose.
pub(super) const AND: &str = "__goldpath_and";
pub(super) const OR: &str = "__goldpath_or";
pub(super) const UNWRAP: &str = "__goldpath_unwrap";

/// `===` and `!==`, which minijinja does not parse: written as `==` and
/// `!=` (plus a space, so offsets stay) before parsing, and called as these.
const STRICT: &[(&str, &str)] = &[("Eq", "__goldpath_strict_eq"), ("Ne", "__goldpath_strict_ne")];

/// The function conditions are wrapped in, for JavaScript's truthiness.
pub(super) const TRUTHY: &str = "__goldpath_truthy";

/// Operators, filters, tests, attributes, subscripts and calls one tag may
/// chain. minijinja reads `a - b - c ...` (and `a|f|g ...`, `a.b.c ...`)
/// in a loop, but compiles and drops the result recursively, a level of
/// the stack per link (and `rewrite` nests calls as deeply): a few hundred
/// links overflow a thread's stack and abort the process. `and` and `or`
/// count twice, as their rewriting nests two calls. Backstage templates
/// use a handful.
pub const MAX_CHAIN: usize = 100;

/// The line of the first tag of `source` (as `rewrite` takes it) that
/// chains more than `MAX_CHAIN` links, checked before anything parses it.
pub fn overlong_chain(
    source: &str,
    template: bool,
    syntax: &minijinja::syntax::SyntaxConfig,
) -> Option<usize> {
    use minijinja::machinery::{Token, tokenize};
    if source.len() < 2 * MAX_CHAIN {
        return None;
    }
    let mut links = 0;
    for token in tokenize(source, !template, syntax.clone()) {
        // What does not tokenize is refused when it is parsed.
        let Ok((token, span)) = token else {
            return None;
        };
        match token {
            Token::VariableStart | Token::BlockStart | Token::VariableEnd | Token::BlockEnd => links = 0,
            Token::TemplateData(_)
            | Token::Str(_)
            | Token::String(_)
            | Token::Int(_)
            | Token::Int128(_)
            | Token::Float(_)
            | Token::Comma
            | Token::Colon
            | Token::Assign
            | Token::BracketClose
            | Token::ParenClose
            | Token::BraceClose => {}
            Token::Ident(name) if !matches!(name, "and" | "or" | "not" | "is" | "in" | "if" | "else") => {}
            token => {
                links += if matches!(token, Token::Ident("and" | "or")) {
                    2
                } else {
                    1
                };
                if links > MAX_CHAIN {
                    return Some(span.start_line as usize);
                }
            }
        }
    }
    None
}

/// `source` (a whole template when `template` is true, else one expression)
/// with every `*`, `+` and `~` replaced by a call of its checked function,
/// and every list, tuple and map literal that holds more than constants
/// wrapped in the check of its nesting. Line breaks are kept, so errors still name the author's lines. Text that
/// does not parse is returned as it is: compiling it reports the error.
pub fn rewrite(source: &str, template: bool, syntax: &minijinja::syntax::SyntaxConfig) -> String {
    if !source.contains(['*', '+', '~', '[', '(', ',', ':', '-', '/', '%', '=', '<', '>'])
        && !["for", "if", "not", "and", "or", "in"]
            .iter()
            .any(|word| source.contains(word))
    {
        return source.to_string();
    }
    let literals = regex_literals(source, template, syntax);
    let conditions = if template {
        parenthesised_conditions(&literals)
    } else {
        literals
    };
    let (written, strict) = strict_operators(&conditions, template, syntax);
    let source = written.as_str();
    use minijinja::machinery::{parse, parse_expr};
    let ast = if template {
        parse(source, "<template>", syntax.clone()).and_then(|ast| {
            serde_json::to_value(&ast).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
        })
    } else {
        parse_expr(source).and_then(|ast| {
            serde_json::to_value(&ast).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))
        })
    };
    let Ok(ast) = ast else {
        return source.to_string();
    };
    let mut edits = Vec::new();
    collect_operators(source, &ast, &strict, &mut edits);
    if edits.is_empty() {
        return source.to_string();
    }
    // Outermost first; inner operators are rewritten inside their operands.
    let mut out = String::with_capacity(source.len() + edits.len() * 24);
    let mut at = 0;
    for edit in outermost(&edits) {
        if edit.whole.0 < at || edit.whole.1 > source.len() {
            return source.to_string();
        }
        out.push_str(&source[at..edit.whole.0]);
        out.push_str(&render_edit(source, edit, &edits));
        at = edit.whole.1;
    }
    out.push_str(&source[at..]);
    out
}

/// One expression to replace by a call: the function, the expression's
/// extent and its arguments (the operands, or the whole literal).
#[derive(Debug, Clone)]
struct Edit {
    function: &'static str,
    whole: (usize, usize),
    arguments: Vec<Argument>,
    /// Text inserted at `whole.0` instead of a call.
    insert: Option<String>,
}

/// An argument of the call that replaces an expression: an operand, by
/// its extent in the source, or a value written in for one left out.
#[derive(Debug, Clone)]
enum Argument {
    Source((usize, usize)),
    Written(String),
}

/// The function slices (`x[1:]`) become.
pub(super) const SLICE: &str = "__goldpath_slice";

/// The function subscripts (`x[1]`) become.
pub(super) const ITEM: &str = "__goldpath_item";

/// The checked function literals are wrapped in.
pub(super) const NESTED: &str = "__goldpath_nested";

fn collect_operators(source: &str, node: &serde_json::Value, strict: &[usize], edits: &mut Vec<Edit>) {
    use serde_json::Value as Json;
    match node {
        Json::Object(fields) => {
            match fields.get("stmt").and_then(Json::as_str) {
                Some("ForLoop") => {
                    edits.extend(count_iterations(source, node));
                    edits.extend(loop_over(source, node));
                }
                Some("IfCond") => edits.extend(
                    node.pointer("/inner/0/expr")
                        .and_then(|e| wrap(source, TRUTHY, e)),
                ),
                _ => {}
            }
            match fields.get("expr").and_then(Json::as_str) {
                Some("BinOp") => edits.extend(as_edit(node, source, strict)),
                Some("UnaryOp") => edits.extend(unary(source, node)),
                Some("IfExpr") => edits.extend(
                    node.pointer("/inner/0/test_expr")
                        .and_then(|e| wrap(source, TRUTHY, e)),
                ),
                Some("Map") => edits.extend(names_as_keys(node)),
                _ => {}
            }
            match fields.get("expr").and_then(Json::as_str) {
                Some("List" | "Tuple" | "Map") if !is_constant(node) => {
                    edits.extend(expr_span(node).map(|whole| Edit {
                        function: NESTED,
                        whole,
                        arguments: vec![Argument::Source(whole)],
                        insert: None,
                    }))
                }
                Some("Slice") => edits.extend(slice(source, node)),
                Some("GetItem") => edits.extend(subscript(source, node)),
                _ => {}
            }
            for (key, child) in fields {
                // Assignment targets (`for a, b in`, `set a, b =`) are
                // names, not values.
                if key != "target" {
                    collect_operators(source, child, strict, edits);
                }
            }
        }
        Json::Array(items) => items
            .iter()
            .for_each(|item| collect_operators(source, item, strict, edits)),
        _ => {}
    }
}

/// Whether a serialized expression holds only constants, whose nesting the
/// template's text bounds.
fn is_constant(node: &serde_json::Value) -> bool {
    use serde_json::Value as Json;
    match node {
        Json::Object(fields) => {
            fields
                .get("expr")
                .and_then(Json::as_str)
                .is_none_or(|kind| matches!(kind, "Const" | "List" | "Tuple" | "Map"))
                && fields.values().all(is_constant)
        }
        Json::Array(items) => items.iter().all(is_constant),
        _ => true,
    }
}

/// A serialized `BinOp` node (`{"expr": "BinOp", "inner": [{op, left,
/// right}, span]}`) as an edit, when its operator is one that is checked.
fn as_edit(node: &serde_json::Value, source: &str, strict: &[usize]) -> Option<Edit> {
    let inner = node.get("inner")?;
    let op = inner.get(0)?;
    let name = op.get("op").and_then(|o| o.as_str())?;
    let (left, right) = (
        real_span(source, op.get("left")?)?,
        real_span(source, op.get("right")?)?,
    );
    // The operator is written between the operands; `===` was written `== `.
    let between = left.1..right.0;
    let table = if strict.iter().any(|at| between.contains(at)) && source.get(between).is_some() {
        STRICT
    } else {
        OPERATORS
    };
    let function = table.iter().find(|(kind, _)| *kind == name)?.1;
    Some(Edit {
        function,
        whole: real_span(source, node)?,
        arguments: vec![Argument::Source(left), Argument::Source(right)],
        insert: None,
    })
}

/// Where an expression is written. minijinja's span of a binary operator
/// can start before its left operand (at the tag, or at a parenthesis), and
/// that of a test or filter starts at its name, so these are taken from
/// their operands; parentheses that close inside (around the left operand)
/// or open inside (around the right one) are taken in, so that what
/// replaces the expression stays balanced.
fn real_span(source: &str, expr: &serde_json::Value) -> Option<(usize, usize)> {
    let (mut start, mut end) = expr_span(expr)?;
    // Every operand's extent is within the expression's. Each operand is
    // measured once: a chain of operators nests as deeply as it is long.
    let mut left = None;
    if let Some(fields) = expr.pointer("/inner/0").and_then(|f| f.as_object()) {
        for key in ["expr", "left", "right", "test_expr", "true_expr", "false_expr"] {
            if let Some(operand) = fields.get(key).filter(|o| o.get("expr").is_some()) {
                let (from, to) = real_span(source, operand)?;
                if key == "left" {
                    left = Some(from);
                }
                start = start.min(from);
                end = end.max(to);
            }
        }
    }
    // A binary operator's span may start at the tag, before its left operand.
    if expr.get("expr").and_then(|e| e.as_str()) == Some("BinOp") {
        start = left?;
    }
    let text = source.get(start..end)?;
    let (opens, closes) = (text.matches('(').count(), text.matches(')').count());
    let bytes = source.as_bytes();
    let mut missing = closes.saturating_sub(opens);
    while missing > 0 && start > 0 {
        match bytes[start - 1] {
            b'(' => missing -= 1,
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => break,
        }
        start -= 1;
    }
    let mut missing = opens.saturating_sub(closes);
    while missing > 0 && end < bytes.len() {
        match bytes[end] {
            b')' => missing -= 1,
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => break,
        }
        end += 1;
    }
    Some((start, end))
}

/// `not x` and `-x` as calls, with JavaScript's semantics.
fn unary(source: &str, node: &serde_json::Value) -> Option<Edit> {
    let inner = node.get("inner")?;
    let function = match inner.pointer("/0/op")?.as_str()? {
        "Not" => "__goldpath_not",
        "Neg" => "__goldpath_neg",
        _ => return None,
    };
    Some(Edit {
        function,
        whole: span(inner.get(1)?)?,
        arguments: vec![Argument::Source(real_span(source, inner.pointer("/0/expr")?)?)],
        insert: None,
    })
}

/// An expression wrapped in a call of `function`.
fn wrap(source: &str, function: &'static str, expr: &serde_json::Value) -> Option<Edit> {
    let whole = real_span(source, expr)?;
    Some(Edit {
        function,
        whole,
        arguments: vec![Argument::Source(whole)],
        insert: None,
    })
}

/// `x[start:stop:step]` as a call, as nunjucks slices (see `js::slice`):
/// a bound left out is none, a step left out 1.
fn slice(source: &str, node: &serde_json::Value) -> Option<Edit> {
    let parts = node.pointer("/inner/0")?;
    let mut arguments = vec![Argument::Source(real_span(source, parts.get("expr")?)?)];
    for (part, left_out) in [("start", "none"), ("stop", "none"), ("step", "1")] {
        arguments.push(match parts.get(part).filter(|p| !p.is_null()) {
            Some(part) => Argument::Source(real_span(source, part)?),
            None => Argument::Written(left_out.to_string()),
        });
    }
    let (value, (from, to)) = (real_span(source, parts.get("expr")?)?, expr_span(node)?);
    Some(Edit {
        function: SLICE,
        whole: (from.min(value.0), to.max(value.1)),
        arguments,
        insert: None,
    })
}

/// `x[key]` as a call, as nunjucks looks an item up (see `js::item`):
/// text by UTF-16 units, not characters.
fn subscript(source: &str, node: &serde_json::Value) -> Option<Edit> {
    let parts = node.pointer("/inner/0")?;
    let value = real_span(source, parts.get("expr")?)?;
    let key = real_span(source, parts.get("subscript_expr")?)?;
    let (from, to) = expr_span(node)?;
    Some(Edit {
        function: ITEM,
        whole: (from.min(value.0), to.max(value.1)),
        arguments: vec![Argument::Source(value), Argument::Source(key)],
        insert: None,
    })
}

/// What a `for` loop iterates, as nunjucks iterates it: for `for a, b in`
/// each item taken apart into as many values (`js::entries`), for `for x
/// in` nothing of an object.
fn loop_over(source: &str, node: &serde_json::Value) -> Option<Edit> {
    let header = node.pointer("/inner/0")?;
    let iter = header.get("iter")?;
    if header.pointer("/target/expr").and_then(|e| e.as_str()) == Some("Var") {
        return wrap(source, "__goldpath_items", iter);
    }
    let names = header.pointer("/target/inner/0/items")?.as_array()?.len();
    let whole = real_span(source, iter)?;
    Some(Edit {
        function: "__goldpath_entries",
        whole,
        arguments: vec![Argument::Source(whole), Argument::Written(names.to_string())],
        insert: None,
    })
}

/// The keys of an object literal that are names (`{a: 1}`) as the text
/// nunjucks reads them as (`{'a': 1}`), not the variables minijinja would.
fn names_as_keys(node: &serde_json::Value) -> Vec<Edit> {
    let keys = node.pointer("/inner/0/keys").and_then(|k| k.as_array());
    keys.into_iter()
        .flatten()
        .filter(|key| key.get("expr").and_then(|e| e.as_str()) == Some("Var"))
        .filter_map(|key| {
            let name = key.pointer("/inner/0/id")?.as_str()?;
            Some(Edit {
                function: "",
                whole: expr_span(key)?,
                arguments: Vec::new(),
                insert: Some(format!("'{name}'")),
            })
        })
        .collect()
}

/// The function each loop iteration calls with the loop's size in bytes.
pub(super) const ITERATION: &str = "__goldpath_iteration";

/// For a serialized `ForLoop`, a `{% do %}` right after its opening tag
/// that counts each iteration's literal text (all of the loop's, an upper
/// bound) toward what the render writes, captured output included; values
/// are counted as they are written. The tag's whitespace control is
/// repeated on it, so output is unchanged.
fn count_iterations(source: &str, node: &serde_json::Value) -> Option<Edit> {
    let inner = node.get("inner")?;
    let header = inner.get(0)?;
    let text = raw_text(header.get("body")?);
    if text == 0 {
        return None;
    }
    let mut header_end = expr_span(header.get("iter")?)?.1;
    if let Some(filter) = header.get("filter_expr").filter(|f| !f.is_null()) {
        header_end = header_end.max(expr_span(filter)?.1);
    }
    let tag_end = header_end + source.get(header_end..)?.find("%}")?;
    let control = match source.as_bytes().get(tag_end.checked_sub(1)?) {
        Some(b'-') => "-",
        Some(b'+') => "+",
        _ => "",
    };
    let at = tag_end + 2;
    Some(Edit {
        function: ITERATION,
        whole: (at, at),
        arguments: Vec::new(),
        insert: Some(format!("{{% do {ITERATION}({text}) {control}%}}")),
    })
}

/// Bytes of literal text in serialized statements, nested ones included.
fn raw_text(node: &serde_json::Value) -> usize {
    use serde_json::Value as Json;
    match node {
        Json::Object(fields) => {
            let own = match fields.get("stmt").and_then(Json::as_str) {
                Some("EmitRaw") => node
                    .pointer("/inner/0/raw")
                    .and_then(Json::as_str)
                    .map_or(0, str::len),
                _ => 0,
            };
            fields.values().map(raw_text).fold(own, usize::saturating_add)
        }
        Json::Array(items) => items.iter().map(raw_text).fold(0, usize::saturating_add),
        _ => 0,
    }
}

/// The span of a serialized expression: `{"expr": kind, "inner": [node, span]}`.
fn expr_span(expr: &serde_json::Value) -> Option<(usize, usize)> {
    span(expr.get("inner")?.get(1)?)
}

fn span(span: &serde_json::Value) -> Option<(usize, usize)> {
    let start = usize::try_from(span.get("start_offset")?.as_u64()?).ok()?;
    let end = usize::try_from(span.get("end_offset")?.as_u64()?).ok()?;
    (start <= end).then_some((start, end))
}

/// The edits not inside another, in source order.
fn outermost(edits: &[Edit]) -> Vec<&Edit> {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.whole.0, std::cmp::Reverse(e.whole.1)));
    let mut out: Vec<&Edit> = Vec::new();
    for edit in sorted {
        if out.last().is_none_or(|last| edit.whole.0 >= last.whole.1) {
            out.push(edit);
        }
    }
    out
}

/// The text from `from` to `to`, or none where minijinja's spans of text
/// that is not a template overlap (what is rewritten then fails to compile
/// and is reported as the author's syntax error).
fn between(source: &str, from: usize, to: usize) -> &str {
    source.get(from..to).unwrap_or_default()
}

/// `function(arguments)` for one edit, its arguments rewritten in turn.
fn render_edit(source: &str, edit: &Edit, all: &[Edit]) -> String {
    if let Some(text) = &edit.insert {
        return text.clone();
    }
    let operand = |range: (usize, usize)| -> String {
        let inner: Vec<Edit> = all
            .iter()
            .filter(|e| {
                e.whole.0 >= range.0
                    && e.whole.1 <= range.1
                    && !(e.whole == edit.whole && e.function == edit.function)
            })
            .cloned()
            .collect();
        let mut out = String::new();
        let mut at = range.0;
        for inner_edit in outermost(&inner) {
            out.push_str(between(source, at, inner_edit.whole.0));
            out.push_str(&render_edit(source, inner_edit, &inner));
            at = inner_edit.whole.1;
        }
        out.push_str(between(source, at, range.1));
        out
    };
    // Text between the arguments (the operator, parentheses) is dropped,
    // but its line breaks are kept.
    let breaks = |from: usize, to: usize| "\n".repeat(between(source, from, to).matches('\n').count());
    let (mut out, separator) = match edit.function {
        AND => (format!("{UNWRAP}({AND}("), ") and "),
        OR => (format!("{UNWRAP}({OR}("), ") or "),
        function => (format!("{function}("), ", "),
    };
    let mut at = edit.whole.0;
    for (i, argument) in edit.arguments.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        match argument {
            Argument::Source(argument) => {
                out.push_str(&breaks(at, argument.0));
                out.push_str(&operand(*argument));
                at = argument.1;
            }
            Argument::Written(value) => out.push_str(value),
        }
    }
    out.push(')');
    out.push_str(&breaks(at, edit.whole.1));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::expression::{Limits, Renderer, Syntax, Whitespace};
    use minijinja::Value;
    use serde_json::json;

    fn syntax() -> minijinja::syntax::SyntaxConfig {
        let mut config = minijinja::syntax::SyntaxConfig::builder();
        config.variable_delimiters("${{", "}}");
        config.build().unwrap()
    }

    #[test]
    fn operators_and_literals_become_checked_calls_and_keep_their_lines() {
        let rewritten = rewrite("a ${{ (x ~ 'y') * 3 }}\n${{ a\n+ b }}", true, &syntax());
        assert_eq!(
            rewritten,
            "a ${{ __goldpath_mul(__goldpath_concat(x, 'y'), 3) }}\n${{ __goldpath_add(a, \nb) }}"
        );
        assert_eq!(
            rewrite("[1] + [2] * 2", false, &syntax()),
            "__goldpath_add([1], __goldpath_mul([2], 2))"
        );
        assert_eq!(rewrite("a - b", false, &syntax()), "__goldpath_sub(a, b)");
        assert_eq!(
            rewrite("a === b ${{ a !== '===' }}", true, &syntax()),
            "a === b ${{ __goldpath_strict_ne(a, '===') }}"
        );
        assert_eq!(
            rewrite("not a == 1 and (b or c)", false, &syntax()),
            "__goldpath_unwrap(__goldpath_and(__goldpath_not(__goldpath_eq(a, 1))) and __goldpath_unwrap(__goldpath_or(b) or c))"
        );
        assert_eq!(
            rewrite(
                "{% for a, b in [[x, 1]] %}${{ {'k': [a] * 2} }}{% endfor %}${{ [1, [2]] }}",
                true,
                &syntax()
            ),
            "{% for a, b in __goldpath_entries(__goldpath_nested([__goldpath_nested([x, 1])]), 2) %}${{ __goldpath_nested({'k': __goldpath_mul(__goldpath_nested([a]), 2)}) }}{% endfor %}${{ [1, [2]] }}"
        );
        assert_eq!(
            rewrite("${{ {a: 1, 'b': {c: a}} }}", true, &syntax()),
            "${{ __goldpath_nested({'a': 1, 'b': __goldpath_nested({'c': a})}) }}"
        );
        assert_eq!(
            parenthesised_conditions("{%- if a if b else c -%}x{% elif 'if' %}{% if (d) %}{% if e if f %}"),
            "{%- if (a if b else c) -%}x{% elif 'if' %}{% if (d) %}{% if (e if f) %}"
        );
        assert_eq!(
            rewrite(
                "${{ a.b[1:] }} ${{ (x ~ y)[:-1] }} ${{ s[::a + 1] }}",
                true,
                &syntax()
            ),
            "${{ __goldpath_slice(a.b, 1, none, 1) }} ${{ __goldpath_slice(__goldpath_concat(x, y), none, __goldpath_neg(1), 1) }} ${{ __goldpath_slice(s, none, none, __goldpath_add(a, 1)) }}"
        );
    }

    #[test]
    fn a_long_chain_of_operators_measures_each_operand_once() {
        // Found by the `expression` fuzz target: each operand's extent was
        // measured twice per level, so `a-b-c-...` took 2^n steps.
        let chain = (0..200).map(|i| format!("v{i}")).collect::<Vec<_>>().join("-");
        let rewritten = rewrite(&chain, false, &syntax());
        assert_eq!(rewritten.matches("__goldpath_sub(").count(), 199);
        assert!(
            rewritten.starts_with("__goldpath_sub(__goldpath_sub("),
            "{rewritten}"
        );
        assert!(rewritten.ends_with("v198), v199)"), "{rewritten}");
        let found = "g-boog-boot-st-ssrin*g-oog-boot-st-ssrin*g-boog-boot-st-ssrin*g-oog-boot-st-ssrin*g-boog-boot-sog-boot-st-boog-boot-sog-boot-st-s";
        let context = Value::from(minijinja::value::Serde(json!({})));
        let value = serde_json::Value::String(format!("${{{{ {found} }}}}"));
        let rendered = Renderer::new(Limits::default())
            .render_value("steps.s.input.v", &value, &context)
            .unwrap();
        assert!(rendered.is_some_and(|v| v.is_null()), "NaN has no JSON form");
    }

    #[test]
    fn a_tag_chaining_more_than_the_bound_is_found_before_it_is_parsed() {
        let chain = |n: usize, link: &str| (0..n).map(|_| "a").collect::<Vec<_>>().join(link);
        for link in ["-", " and ", "|f|", ".", " is defined and "] {
            let long = chain(MAX_CHAIN + 2, link);
            assert_eq!(overlong_chain(&long, false, &syntax()), Some(1), "{link}");
            let text = format!(
                "line\n${{{{ {} }}}}\n${{{{ {long} }}}}",
                chain(MAX_CHAIN / 4, link)
            );
            assert_eq!(overlong_chain(&text, true, &syntax()), Some(3), "{link}");
        }
        // Links are counted per tag; a long list is not a chain.
        let tags = (0..10)
            .map(|_| format!("${{{{ {} }}}}", chain(MAX_CHAIN / 2, "-")))
            .collect::<String>();
        assert_eq!(overlong_chain(&tags, true, &syntax()), None);
        let list = format!(
            "[{}]",
            (0..2 * MAX_CHAIN)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert_eq!(overlong_chain(&list, false, &syntax()), None);
        // Refused by the renderer, where minijinja alone overflowed a
        // thread's stack (2 MiB, as tokio's workers have) and aborted.
        let bomb = chain(20_000, "-");
        let refused = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let context = Value::from(minijinja::value::Serde(json!({})));
                let renderer = Renderer::new(Limits::default());
                let text = renderer.render_text("skeleton/a.txt", &format!("x\n${{{{ {bomb} }}}}"), &context);
                let value = serde_json::Value::String(format!("${{{{ {bomb} }}}}"));
                let value = renderer.render_value("steps.s.input.v", &value, &context);
                // The longest chain allowed compiles and renders on that stack.
                let longest = format!("${{{{ {} }}}}", chain(MAX_CHAIN + 1, "-"));
                assert_eq!(
                    renderer
                        .render_text("skeleton/b.txt", &longest, &context)
                        .unwrap(),
                    "NaN"
                );
                (text.unwrap_err(), value.unwrap_err())
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(refused.0.line, Some(2));
        for error in [refused.0, refused.1] {
            assert!(error.limit, "{error}");
            assert!(error.message.contains("chains more than 100"), "{error}");
        }
    }

    #[test]
    fn overlapping_spans_of_garbled_text_do_not_panic() {
        // Found by the `expression` fuzz target (mode 3: a skeleton file in
        // cookiecutter's syntax): spans that overlap made a slice panic.
        let found = include_bytes!("../../../fuzz/seeds/expression/overlapping-spans");
        let text = String::from_utf8_lossy(&found[1..]);
        let whitespace = Whitespace {
            trim_blocks: true,
            lstrip_blocks: false,
        };
        let renderer = Renderer::new(Limits::default()).for_files(Syntax::Cookiecutter, whitespace);
        let context = Value::from(minijinja::value::Serde(json!({})));
        let error = renderer
            .render_text("skeleton/f.txt", &text, &context)
            .unwrap_err();
        assert_eq!(error.location, "skeleton/f.txt", "{error}");
    }

    #[test]
    fn strict_operators_step_over_characters_of_several_bytes() {
        // Found by the `expression` fuzz target: a scan by bytes stopped
        // inside 'é' and panicked on the slice.
        assert_eq!(
            rewrite("é ${{ 'é\\é' === \"ü\" ~ x }} ü", true, &syntax()),
            "é ${{ __goldpath_strict_eq('é\\é', __goldpath_concat(\"ü\", x)) }} ü"
        );
        // An unclosed tag that ends in such a character.
        let unclosed = "{%- if values.database == 'postgresql' %€";
        assert_eq!(rewrite(unclosed, true, &syntax()), unclosed);
    }

    #[test]
    fn each_loop_iteration_counts_its_text_with_the_same_whitespace_control() {
        assert_eq!(
            rewrite("{% for x in xs if x -%}\n a{% endfor %}", true, &syntax()),
            "{% for x in __goldpath_items(xs) if x -%}{% do __goldpath_iteration(1) -%}\n a{% endfor %}"
        );
        let context = Value::from(minijinja::value::Serde(json!({ "xs": [1, 2] })));
        for whitespace in [
            Whitespace::default(),
            Whitespace {
                trim_blocks: true,
                lstrip_blocks: true,
            },
        ] {
            let renderer = Renderer::new(Limits::default()).for_files(Syntax::Backstage, whitespace);
            let source = "{% for x in xs %}\n  ${{ x }}\n  {% for y in xs -%}\n   [${{ y }}]\n  {%- endfor %}\n{% endfor %}\n";
            let mut native = minijinja::Environment::new();
            let mut config = minijinja::syntax::SyntaxConfig::builder();
            config
                .variable_delimiters("${{", "}}")
                .trim_blocks(whitespace.trim_blocks)
                .lstrip_blocks(whitespace.lstrip_blocks)
                .keep_trailing_newline(true);
            native.set_syntax(config.build().unwrap());
            assert_eq!(
                renderer.render_text("f.txt", source, &context).unwrap(),
                native.render_str(source, context.clone()).unwrap(),
                "{whitespace:?}"
            );
        }
    }
}
