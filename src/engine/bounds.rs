//! What one render may allocate and how long it may run. Every operator and
//! filter that can make a value larger than its inputs is checked here
//! before it allocates, against the same bytes-per-value bound and the
//! request's deadline that bound rendered text:
//!
//! - `*`, `+` and `~` are rewritten, before a template is compiled, into
//!   calls of checked functions (minijinja evaluates them natively, with
//!   bounds far above ours, and folds constant operands while compiling);
//!   so are list, tuple and map literals and `dict()` and `namespace()`,
//!   which check how deeply values nest: a value nested thousands deep
//!   overflows the stack when it is printed or dropped;
//! - every filter is wrapped: its inputs are measured, its parameters that
//!   multiply (widths, indents, counts, replacements) are checked, and its
//!   result is measured before it is handed on;
//! - a whole-expression value is converted to JSON through a writer that
//!   stops at the bound.
//!
//! Measuring writes a value's text into a counter that stops at the bound,
//! so a value built lazily (`[[0] * 1000] * 1000`) is never expanded past it.

use std::fmt::{self, Write as _};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use minijinja::value::{Rest, Value, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State};

use super::js;

/// A limit a render ran into; carried as the source of the template error,
/// so the renderer reports it as a limit rather than as the template's fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    /// A value or the output would pass the bytes bound.
    Size,
    /// The request's deadline passed.
    Time,
}

impl fmt::Display for Hit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hit::Size => "size limit",
            Hit::Time => "time limit",
        })
    }
}

impl std::error::Error for Hit {}

/// Levels one value may nest: lists, maps and their items. Values from a
/// request (parameters, step outputs) nest less, as JSON decoding allows
/// 128 levels at most and YAML is read to 64.
pub const MAX_DEPTH: usize = 100;

/// Bytes a list item counts for at least, so a list of many small items is
/// bounded like the text it would print.
pub const BYTES_PER_ITEM: usize = 16;

/// The bounds every checked operation holds to.
#[derive(Clone, Copy, Debug)]
pub struct Guard {
    /// Bytes one value (or one rendered text) may hold.
    pub max_bytes: usize,
    /// When the request's time is up.
    pub deadline: Instant,
    /// The request's time, for messages.
    pub timeout: Duration,
}

impl Guard {
    /// Items one list may hold.
    pub fn max_items(&self) -> usize {
        self.max_bytes / BYTES_PER_ITEM
    }

    /// Fails once the deadline has passed.
    pub fn time(&self) -> Result<(), Error> {
        if Instant::now() > self.deadline {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "rendering stopped after {:?}; the template takes too long",
                    self.timeout
                ),
            )
            .with_source(Hit::Time));
        }
        Ok(())
    }

    /// Fails when `what` would take `bytes` (None: more than fits a usize).
    pub fn bytes(&self, what: &str, bytes: Option<usize>) -> Result<(), Error> {
        match bytes {
            Some(bytes) if bytes <= self.max_bytes => Ok(()),
            _ => Err(self.too_large(what)),
        }
    }

    /// Fails when a list of `items` items would be longer than allowed.
    pub fn items(&self, what: &str, items: Option<usize>) -> Result<(), Error> {
        match items {
            Some(items) if items <= self.max_items() => Ok(()),
            _ => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "{what} would make a list of more than {} items; a list counts {BYTES_PER_ITEM} bytes \
                     per item toward the bound of {} bytes on one value",
                    self.max_items(),
                    self.max_bytes
                ),
            )
            .with_source(Hit::Size)),
        }
    }

    /// Fails when `value` nests more than [`MAX_DEPTH`] levels deep. Only
    /// the first levels past the bound are visited, so this never recurses
    /// deeper than the bound itself.
    pub fn depth(&self, what: &str, value: &Value) -> Result<(), Error> {
        fn deeper_than(value: &Value, levels: usize) -> bool {
            if !matches!(
                value.kind(),
                ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
            ) {
                return false;
            }
            if levels == 0 {
                return true;
            }
            let Ok(items) = value.try_iter() else {
                return false;
            };
            let is_map = value.kind() == ValueKind::Map;
            for item in items {
                let item = if is_map {
                    value.get_item(&item).unwrap_or_default()
                } else {
                    item
                };
                if deeper_than(&item, levels - 1) {
                    return true;
                }
            }
            false
        }
        if deeper_than(value, MAX_DEPTH) {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{what} would nest values more than {MAX_DEPTH} levels deep"),
            )
            .with_source(Hit::Size));
        }
        Ok(())
    }

    /// Bytes one render may write in all, into `{% set %}` blocks, macro
    /// calls and `{% filter %}` blocks included: those collect their output
    /// where the bound on the rendered file does not see it. Text a macro
    /// returns counts once when the macro writes it and again when it is
    /// written out.
    pub fn max_written(&self) -> usize {
        self.max_bytes
    }

    /// Counts `bytes` toward what the render of `state` has written.
    pub fn written(&self, state: &mut State, bytes: usize) -> Result<(), Error> {
        const KEY: &str = "__goldpath_written";
        let so_far = state.get_temp(KEY).and_then(|v| v.as_usize()).unwrap_or(0);
        let total = so_far.saturating_add(bytes);
        if total > self.max_written() {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "rendering stopped at {} bytes of output, counting what {{% set %}} blocks, \
                     macros and {{% filter %}} blocks collect; the template produces too much",
                    self.max_written()
                ),
            )
            .with_source(Hit::Size));
        }
        state.set_temp(KEY, Value::from(total));
        Ok(())
    }

    fn too_large(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "{what} would produce more than {} bytes, the bound on one value",
                self.max_bytes
            ),
        )
        .with_source(Hit::Size)
    }

    /// The bytes `value` takes as text, or an error past the bound. Lists
    /// count [`BYTES_PER_ITEM`] per item at least.
    pub fn measure(&self, what: &str, value: &Value) -> Result<usize, Error> {
        match value.kind() {
            ValueKind::String => {
                let len = value.as_str().map_or(0, str::len);
                self.bytes(what, Some(len))?;
                Ok(len)
            }
            ValueKind::Undefined
            | ValueKind::None
            | ValueKind::Bool
            | ValueKind::Number
            | ValueKind::Invalid => Ok(0),
            _ => {
                self.time()?;
                if let Some(len) = value.len() {
                    self.items(what, Some(len))?;
                }
                let mut counter = Counter {
                    bytes: 0,
                    limit: self.max_bytes,
                };
                if write!(counter, "{value}").is_err() {
                    return Err(self.too_large(what));
                }
                Ok(counter.bytes)
            }
        }
    }
}

/// Counts text written to it, refusing past a limit.
struct Counter {
    bytes: usize,
    limit: usize,
}

impl fmt::Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes += s.len();
        if self.bytes > self.limit {
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// Collects bytes up to a limit, checking the deadline every 64 KiB.
pub struct BoundedWriter {
    /// What was written so far.
    pub bytes: Vec<u8>,
    limit: usize,
    deadline: Instant,
    /// Which limit stopped the writing, if one did.
    pub stopped: Option<Hit>,
}

const CLOCK_CHECK_BYTES: usize = 64 << 10;

impl BoundedWriter {
    /// A writer that takes at most `limit` bytes, until `deadline`.
    pub fn new(limit: usize, deadline: Instant) -> Self {
        BoundedWriter {
            bytes: Vec::new(),
            limit,
            deadline,
            stopped: None,
        }
    }
}

impl std::io::Write for BoundedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            self.stopped = Some(Hit::Size);
            return Err(std::io::Error::other(Hit::Size));
        }
        // Reading the clock on every small write would cost more than the
        // writes; once per 64 KiB bounds the time just as well.
        let crossed =
            self.bytes.len() / CLOCK_CHECK_BYTES != (self.bytes.len() + buf.len()) / CLOCK_CHECK_BYTES;
        if (crossed || self.bytes.is_empty()) && Instant::now() > self.deadline {
            self.stopped = Some(Hit::Time);
            return Err(std::io::Error::other(Hit::Time));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `value` as JSON, written through a [`BoundedWriter`] so that a value
/// that expands (a repeated list of long strings) stops at the bound.
pub fn to_json(guard: &Guard, value: &Value) -> Result<serde_json::Value, ToJsonError> {
    let mut writer = BoundedWriter::new(guard.max_bytes, guard.deadline);
    if let Err(error) = serde_json::to_writer(&mut writer, value) {
        return Err(match writer.stopped {
            Some(hit) => ToJsonError::Limit(hit),
            None => ToJsonError::Invalid(error.to_string()),
        });
    }
    serde_json::from_slice(&writer.bytes).map_err(|e| ToJsonError::Invalid(e.to_string()))
}

/// Why a value did not become JSON.
#[derive(Debug)]
pub enum ToJsonError {
    /// It is larger than the bound, or took past the deadline.
    Limit(Hit),
    /// It has no JSON form.
    Invalid(String),
}

// ---------------------------------------------------------------------------
// Operators

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
    ("ScAnd", "__goldpath_and"),
    ("ScOr", "__goldpath_or"),
    ("In", "__goldpath_in"),
];

/// `===` and `!==`, which minijinja does not parse: written as `==` and
/// `!=` (plus a space, so offsets stay) before parsing, and called as these.
const STRICT: &[(&str, &str)] = &[("Eq", "__goldpath_strict_eq"), ("Ne", "__goldpath_strict_ne")];

/// The function conditions are wrapped in, for JavaScript's truthiness.
const TRUTHY: &str = "__goldpath_truthy";

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
    let (written, strict) = strict_operators(source, template, syntax);
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
/// extent and its arguments' (the operands, or the whole literal).
#[derive(Debug, Clone)]
struct Edit {
    function: &'static str,
    whole: (usize, usize),
    arguments: Vec<(usize, usize)>,
    /// Text inserted at `whole.0` instead of a call.
    insert: Option<String>,
}

/// The checked function literals are wrapped in.
const NESTED: &str = "__goldpath_nested";

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
                Some("List" | "Tuple" | "Map") if !is_constant(node) => {
                    edits.extend(expr_span(node).map(|whole| Edit {
                        function: NESTED,
                        whole,
                        arguments: vec![whole],
                        insert: None,
                    }))
                }
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
        arguments: vec![left, right],
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
    // Every operand's extent is within the expression's.
    if let Some(fields) = expr.pointer("/inner/0").and_then(|f| f.as_object()) {
        for key in ["expr", "left", "right", "test_expr", "true_expr", "false_expr"] {
            if let Some(operand) = fields.get(key).filter(|o| o.get("expr").is_some()) {
                let (from, to) = real_span(source, operand)?;
                start = start.min(from);
                end = end.max(to);
            }
        }
    }
    // A binary operator's span may start at the tag, before its left operand.
    if expr.get("expr").and_then(|e| e.as_str()) == Some("BinOp") {
        start = real_span(source, expr.pointer("/inner/0/left")?)?.0;
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
        arguments: vec![real_span(source, inner.pointer("/0/expr")?)?],
        insert: None,
    })
}

/// An expression wrapped in a call of `function`.
fn wrap(source: &str, function: &'static str, expr: &serde_json::Value) -> Option<Edit> {
    let whole = real_span(source, expr)?;
    Some(Edit {
        function,
        whole,
        arguments: vec![whole],
        insert: None,
    })
}

/// What a `for` loop iterates, as nunjucks iterates it: an object's
/// entries for `for k, v in`, nothing for `for x in` an object.
fn loop_over(source: &str, node: &serde_json::Value) -> Option<Edit> {
    let header = node.pointer("/inner/0")?;
    let unpacks = header.pointer("/target/expr").and_then(|e| e.as_str()) != Some("Var");
    wrap(
        source,
        if unpacks {
            "__goldpath_entries"
        } else {
            "__goldpath_items"
        },
        header.get("iter")?,
    )
}

/// `source` with each `===` and `!==` inside a tag written as `== ` and
/// `!= `, and the offsets where they were.
fn strict_operators(
    source: &str,
    template: bool,
    syntax: &minijinja::syntax::SyntaxConfig,
) -> (String, Vec<usize>) {
    if !source.contains("==") {
        return (source.to_string(), Vec::new());
    }
    let bytes = source.as_bytes();
    let (var_start, var_end) = syntax.variable_delimiters();
    let mut out = source.as_bytes().to_vec();
    let mut found = Vec::new();
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
                    let tag_end = rest.find("%}").map_or(rest.len(), |e| e + 2);
                    let tag =
                        rest[2..tag_end.saturating_sub(2).max(2)].trim_matches(['-', '+', ' ', '\t', '\n']);
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
                        i += 2;
                        continue;
                    }
                    if bytes[i] == q {
                        quote = None;
                    }
                } else if bytes[i] == b'"' || bytes[i] == b'\'' {
                    quote = Some(bytes[i]);
                } else if !end.is_empty() && rest.starts_with(end) {
                    closing = None;
                    i += end.len();
                    continue;
                } else if rest.starts_with("===") || rest.starts_with("!==") {
                    out[i + 2] = b' ';
                    found.push(i);
                    i += 3;
                    continue;
                }
            }
        }
        i += 1;
    }
    // Only ASCII bytes were replaced by ASCII, so the text is still UTF-8.
    (
        String::from_utf8(out).unwrap_or_else(|_| source.to_string()),
        found,
    )
}

/// The function each loop iteration calls with the loop's size in bytes.
const ITERATION: &str = "__goldpath_iteration";

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
            out.push_str(&source[at..inner_edit.whole.0]);
            out.push_str(&render_edit(source, inner_edit, &inner));
            at = inner_edit.whole.1;
        }
        out.push_str(&source[at..range.1]);
        out
    };
    // Text between the arguments (the operator, parentheses) is dropped,
    // but its line breaks are kept.
    let breaks = |from: usize, to: usize| "\n".repeat(source[from..to].matches('\n').count());
    let mut out = format!("{}(", edit.function);
    let mut at = edit.whole.0;
    for (i, argument) in edit.arguments.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&breaks(at, argument.0));
        out.push_str(&operand(*argument));
        at = argument.1;
    }
    out.push(')');
    out.push_str(&breaks(at, edit.whole.1));
    out
}

/// minijinja's own operators, for operands already checked.
static NATIVE: LazyLock<Environment<'static>> = LazyLock::new(Environment::new);

fn native(expression: &'static str, left: &Value, right: &Value) -> Result<Value, Error> {
    NATIVE
        .compile_expression(expression)?
        .eval(minijinja::context! { a => left.clone(), b => right.clone() })
}

fn is_list(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// Registers the checked operators, literals and constructors in `env`.
pub fn register_operators(env: &mut Environment<'_>, guard: Guard) {
    env.add_function(ITERATION, move |state: &mut State, bytes: usize| {
        guard.time()?;
        guard.written(state, bytes)?;
        Ok::<_, Error>(Value::from(""))
    });
    env.set_formatter(move |out, state, value| {
        guard.time()?;
        let bytes = guard.measure("the output", value)?;
        guard.written(state, bytes)?;
        // nunjucks writes values as JavaScript prints them (`true`, `1`,
        // `a,b`, `[object Object]`, nothing for null and undefined).
        match value.as_str() {
            Some(text) => out.write_str(text)?,
            None => out.write_str(&super::js::output(value))?,
        }
        Ok(())
    });
    env.add_function(NESTED, move |value: Value| {
        guard.time()?;
        guard.depth("a list or map", &value)?;
        Ok::<_, Error>(value)
    });
    env.add_function(
        "dict",
        move |value: Option<Value>, kwargs: minijinja::value::Kwargs| {
            guard.time()?;
            let dict = minijinja::functions::dict(value, kwargs)?;
            guard.depth("dict()", &dict)?;
            Ok::<_, Error>(dict)
        },
    );
    env.add_function("namespace", move |defaults: Option<ValueOrKwargs>| {
        guard.time()?;
        if let Some(defaults) = &defaults {
            guard.depth("namespace()", defaults)?;
            guard.measure("namespace()", defaults)?;
        }
        minijinja::functions::namespace(defaults)
    });
    env.add_function("__goldpath_mul", move |left: Value, right: Value| {
        guard.time()?;
        let (repeated, count) = if left.kind() == ValueKind::Number {
            (&right, &left)
        } else {
            (&left, &right)
        };
        if let (Some(text), Some(n)) = (repeated.as_str(), count.as_usize()) {
            guard.bytes("repeating a string", text.len().checked_mul(n))?;
        } else if is_list(repeated)
            && let Some(n) = count.as_usize()
        {
            let len = repeated.len().unwrap_or(0);
            guard.items("repeating a list", len.checked_mul(n))?;
            let size = guard.measure("repeating a list", repeated)?;
            guard.bytes("repeating a list", size.max(len * BYTES_PER_ITEM).checked_mul(n))?;
        }
        // A string or list times a number repeats it, as in minijinja
        // (JavaScript gives NaN); anything else multiplies as numbers.
        if (repeated.as_str().is_some() || is_list(repeated)) && count.kind() == ValueKind::Number {
            return native("a * b", &left, &right);
        }
        Ok(js::arithmetic("*", &left, &right))
    });
    env.add_function("__goldpath_add", move |left: Value, right: Value| {
        guard.time()?;
        // JavaScript's `+` joins text (arrays and objects as their text):
        // no more than both sides' sizes.
        if let (Some(a), Some(b)) = (left.as_str(), right.as_str()) {
            guard.bytes("joining strings", a.len().checked_add(b.len()))?;
        } else if is_list(&left) || is_list(&right) {
            let size = guard
                .measure("joining lists", &left)?
                .checked_add(guard.measure("joining lists", &right)?);
            guard.bytes("joining lists", size)?;
        }
        Ok::<_, Error>(js::add(&left, &right))
    });
    env.add_function("__goldpath_concat", move |left: Value, right: Value| {
        guard.time()?;
        let size = guard
            .measure("joining with ~", &left)?
            .checked_add(guard.measure("joining with ~", &right)?);
        guard.bytes("joining with ~", size)?;
        Ok::<_, Error>(js::concat(&left, &right))
    });
    for (name, op) in [
        ("__goldpath_sub", "-"),
        ("__goldpath_div", "/"),
        ("__goldpath_floordiv", "//"),
        ("__goldpath_rem", "%"),
        ("__goldpath_pow", "**"),
    ] {
        env.add_function(name, move |left: Value, right: Value| {
            Ok::<_, Error>(js::arithmetic(op, &left, &right))
        });
    }
    for (name, op) in [
        ("__goldpath_lt", "<"),
        ("__goldpath_lte", "<="),
        ("__goldpath_gt", ">"),
        ("__goldpath_gte", ">="),
    ] {
        env.add_function(name, move |left: Value, right: Value| {
            Ok::<_, Error>(js::compare(op, &left, &right))
        });
    }
    env.add_function("__goldpath_eq", |a: Value, b: Value| js::loose_equals(&a, &b));
    env.add_function("__goldpath_ne", |a: Value, b: Value| !js::loose_equals(&a, &b));
    env.add_function("__goldpath_strict_eq", |a: Value, b: Value| {
        js::strict_equals(&a, &b)
    });
    env.add_function("__goldpath_strict_ne", |a: Value, b: Value| {
        !js::strict_equals(&a, &b)
    });
    // `and` and `or` give one of their operands, as JavaScript's && and ||.
    env.add_function(
        "__goldpath_and",
        |a: Value, b: Value| if js::truthy(&a) { b } else { a },
    );
    env.add_function(
        "__goldpath_or",
        |a: Value, b: Value| if js::truthy(&a) { a } else { b },
    );
    env.add_function("__goldpath_not", |a: Value| !js::truthy(&a));
    env.add_function("__goldpath_neg", |a: Value| js::negate(&a));
    env.add_function(TRUTHY, |a: Value| js::truthy(&a));
    env.add_function("__goldpath_in", |key: Value, within: Value| {
        js::contains(&within, &key)
    });
    env.add_function("__goldpath_entries", |value: Value| js::entries(&value));
    env.add_function("__goldpath_items", |value: Value| {
        // `for x in` an object iterates nothing in nunjucks.
        if value.kind() == ValueKind::Map {
            Value::from(Vec::<Value>::new())
        } else {
            value
        }
    });
}

// ---------------------------------------------------------------------------
// Filters

/// A check of a filter's arguments before it runs; `args[0]` is the value
/// filtered.
pub type Precheck = fn(&Guard, &[Value]) -> Result<(), Error>;

/// Registers `filter` under `name`, checked: the deadline, every input's
/// size, the filter's own `precheck`, then the size of what it returns.
pub fn add_checked_filter(
    env: &mut Environment<'_>,
    guard: Guard,
    name: &'static str,
    filter: Value,
    precheck: Option<Precheck>,
) {
    let what: Arc<str> = Arc::from(format!("the {name} filter"));
    env.add_filter(name, move |state: &mut State, args: Rest<ValueOrKwargs>| {
        // Keyword arguments are passed on as they came.
        let args = args.into_values();
        guard.time()?;
        for arg in args.iter() {
            guard.measure(&what, arg)?;
        }
        if let Some(precheck) = precheck {
            precheck(&guard, &args)?;
        }
        let result = filter.call(state, &args)?;
        guard.measure(&what, &result)?;
        guard.depth(&what, &result)?;
        Ok(result)
    });
}

/// The positional argument `index` or keyword `name`, as a number.
fn numeric_arg(args: &[Value], index: usize, name: &str) -> Option<usize> {
    let positional = args
        .get(index)
        .filter(|v| !v.is_kwargs())
        .and_then(Value::as_usize);
    positional.or_else(|| {
        args.last()
            .filter(|v| v.is_kwargs())
            .and_then(|kwargs| kwargs.get_attr(name).ok())
            .and_then(|v| v.as_usize())
    })
}

fn text_len(args: &[Value]) -> usize {
    args.first().and_then(Value::as_str).map_or(0, str::len)
}

/// `center(width)`.
pub fn check_width(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    let width = numeric_arg(args, 1, "width").unwrap_or(0);
    guard.bytes("centering", Some(width.max(text_len(args))))
}

/// `indent(width)`: every line gains `width` spaces.
pub fn check_indent(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    let width = numeric_arg(args, 1, "width").unwrap_or(4);
    let lines = args
        .first()
        .and_then(Value::as_str)
        .map_or(1, |s| s.matches('\n').count() + 1);
    guard.bytes(
        "indenting",
        width
            .checked_mul(lines)
            .and_then(|n| n.checked_add(text_len(args))),
    )
}

/// `replace(old, new)`: each occurrence grows by the difference.
pub fn check_replace(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    let text = args.first().and_then(Value::as_str).unwrap_or_default();
    let old = args.get(1).map(|v| v.to_string()).unwrap_or_default();
    let new = args.get(2).and_then(Value::as_str).map_or(0, str::len);
    let occurrences = if old.is_empty() {
        text.chars().count() + 1
    } else {
        text.matches(old.as_str()).count()
    };
    guard.bytes(
        "replacing",
        occurrences
            .checked_mul(new)
            .and_then(|n| n.checked_add(text.len())),
    )
}

/// `join(separator)`: one separator between each two items.
pub fn check_join(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    let items = args.first().and_then(Value::len).unwrap_or(0);
    let separator = args
        .get(1)
        .filter(|v| !v.is_kwargs())
        .and_then(Value::as_str)
        .map_or(0, str::len);
    guard.bytes("joining", items.checked_mul(separator))
}

/// `batch(count, fill)` and `slice(count, fill)`: up to `count` fillers.
pub fn check_count(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    guard.items("batching", numeric_arg(args, 1, "count").or(Some(0)))
}

/// `dump(indent)` and `tojson(indent)`: the JSON text is measured as it
/// is written, before the filter builds it.
pub fn check_json(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    let Some(value) = args.first() else {
        return Ok(());
    };
    let indent = match args.get(1) {
        Some(v) if v.kind() == ValueKind::Bool => usize::from(v.is_true()) * 2,
        _ => numeric_arg(args, 1, "indent").unwrap_or(0),
    };
    guard.bytes("indenting JSON", Some(indent))?;
    let mut writer = BoundedWriter::new(guard.max_bytes, guard.deadline);
    let written = if indent > 0 {
        let spaces = vec![b' '; indent];
        let formatter = serde_json::ser::PrettyFormatter::with_indent(&spaces);
        let mut serializer = serde_json::Serializer::with_formatter(&mut writer, formatter);
        serde::Serialize::serialize(value, &mut serializer).map_err(|e| e.to_string())
    } else {
        serde_json::to_writer(&mut writer, value).map_err(|e| e.to_string())
    };
    match (written, writer.stopped) {
        (_, Some(Hit::Time)) => guard.time(),
        (_, Some(Hit::Size)) => Err(guard.too_large("writing JSON")),
        (Err(message), None) => Err(Error::new(ErrorKind::InvalidOperation, message)),
        (Ok(()), None) => Ok(()),
    }
}

/// `pprint`: measured in the form it prints.
pub fn check_pprint(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    let mut counter = Counter {
        bytes: 0,
        limit: guard.max_bytes,
    };
    match args.first() {
        Some(value) if write!(counter, "{value:#?}").is_err() => Err(guard.too_large("pprint")),
        _ => Ok(()),
    }
}

/// `format`: printf-style widths and precisions pad up to their number.
pub fn check_format(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    let Some(format) = args.first().and_then(Value::as_str) else {
        return Ok(());
    };
    let mut total = format.len();
    for argument in args.iter().skip(1) {
        total = total.saturating_add(guard.measure("format", argument)?);
    }
    let mut rest = format;
    while let Some(at) = rest.find('%') {
        rest = &rest[at + 1..];
        // Flags, then width, then `.precision`: every number pads or cuts.
        let spec_end = rest
            .find(|c: char| !(c.is_ascii_digit() || "-+ #0.*".contains(c)))
            .unwrap_or(rest.len());
        for number in rest[..spec_end].split(|c: char| !c.is_ascii_digit()) {
            if !number.is_empty() {
                let n = number.parse::<usize>().unwrap_or(usize::MAX);
                total = total.saturating_add(n);
            }
        }
        rest = &rest[spec_end..];
    }
    guard.bytes("formatting", Some(total))
}

/// Case mapping can lengthen text beyond ASCII up to threefold.
pub fn check_case(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    match args.first().and_then(Value::as_str) {
        Some(text) if !text.is_ascii() => guard.bytes("changing case", text.len().checked_mul(3)),
        _ => Ok(()),
    }
}

/// `escape` and `urlencode` grow each escaped byte up to sixfold.
pub fn check_escape(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    let len = match args.first() {
        Some(v) if v.as_str().is_some() => v.as_str().map_or(0, |s| {
            s.bytes().filter(|b| !b.is_ascii_alphanumeric()).count() * 5 + s.len()
        }),
        Some(v) => guard.measure("escaping", v)?.saturating_mul(6),
        None => 0,
    };
    guard.bytes("escaping", Some(len))
}

/// `split(separator)` and `lines`: one list item per piece.
pub fn check_split(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    let text = args.first().and_then(Value::as_str).unwrap_or_default();
    let pieces = match args.get(1).filter(|v| !v.is_kwargs()).and_then(Value::as_str) {
        Some("") => text.chars().count(),
        Some(separator) => text.matches(separator).count() + 1,
        None => text.split_whitespace().count().max(text.lines().count()),
    };
    guard.items("splitting", Some(pieces))
}

/// Filters that turn a string into a list of its characters.
pub fn check_chars(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    match args.first().and_then(Value::as_str) {
        Some(text) if text.len() > guard.max_items() => {
            guard.items("listing characters", Some(text.chars().count()))
        }
        _ => Ok(()),
    }
}

/// The JavaScript methods that grow a value: `concat`, `replace`,
/// `replaceAll`, `split`, `join` and case changes.
pub fn check_js_method(guard: &Guard, value: &Value, method: &str, args: &[Value]) -> Result<(), Error> {
    let what = format!(".{method}()");
    let size = guard.measure(&what, value)?;
    let mut arg_sizes = 0usize;
    for arg in args {
        arg_sizes = arg_sizes.saturating_add(guard.measure(&what, arg)?);
    }
    let with_value: Vec<Value> = std::iter::once(value.clone())
        .chain(args.iter().cloned())
        .collect();
    match method {
        "concat" => {
            if let Some(items) = value.len().filter(|_| value.as_str().is_none()) {
                let added: usize = args.iter().map(|a| a.len().unwrap_or(1)).sum();
                guard.items(&what, items.checked_add(added))?;
            }
            guard.bytes(&what, size.checked_add(arg_sizes))
        }
        "replace" | "replaceAll" => check_replace(guard, &with_value),
        "split" => check_split(guard, &with_value),
        "join" => check_join(guard, &with_value),
        "toUpperCase" | "toLowerCase" => check_case(guard, &with_value),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::expression::{Limits, Renderer, Syntax, Whitespace};
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
            "__goldpath_and(__goldpath_not(__goldpath_eq(a, 1)), __goldpath_or(b, c))"
        );
        assert_eq!(
            rewrite(
                "{% for a, b in [[x, 1]] %}${{ {'k': [a] * 2} }}{% endfor %}${{ [1, [2]] }}",
                true,
                &syntax()
            ),
            "{% for a, b in __goldpath_entries(__goldpath_nested([__goldpath_nested([x, 1])])) %}${{ __goldpath_nested({'k': __goldpath_mul(__goldpath_nested([a]), 2)}) }}{% endfor %}${{ [1, [2]] }}"
        );
    }

    fn render(source: &str) -> Result<String, crate::engine::expression::RenderError> {
        let context = Value::from(minijinja::value::Serde(json!({ "n": 3, "s": "ab", "l": [1, 2] })));
        Renderer::new(Limits::default()).render_text("f.txt", source, &context)
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

    #[test]
    fn checked_operators_compute_what_minijinja_computes() {
        assert_eq!(
            render("${{ s * n }}|${{ n * s }}|${{ l * 2 }}|${{ l + [3] }}|${{ s ~ n }}|${{ n + 1.5 }}|${{ 2 * 3 }}|${{ s + 'c' }}").unwrap(),
            "ababab|ababab|1,2,1,2|1,23|ab3|4.5|6|abc"
        );
    }

    #[test]
    fn every_growing_operator_is_refused_before_it_allocates() {
        let set_block_of_raw_text = format!(
            "{{% set s %}}{{% for i in range(100000) %}}{}{{% endfor %}}{{% endset %}}",
            "x".repeat(1000)
        );
        for (source, names) in [
            ("${{ 'x' * 100000000 }}", "repeating a string"),
            ("${{ 'x' * 1099511627776 }}", "repeating a string"),
            ("${{ [0] * 100000000 }}", "repeating a list"),
            ("${{ (range(100000) * 1000) | length }}", "repeating a list"),
            ("${{ [[0] * 1000000] * 1000 }}", "repeating a list"),
            (
                "{% set ns = namespace(s='x' * 1000000) %}{% for i in range(30) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                "joining with ~",
            ),
            (
                "{% set ns = namespace(v=[]) %}{% for i in range(100000) %}{% set ns.v = [ns.v] %}{% endfor %}",
                "nest values more than 100 levels",
            ),
            (&set_block_of_raw_text, "16777216 bytes of output, counting what"),
            (
                "{% macro m() %}${{ 'x' * 10000000 }}{% endmacro %}{% set s %}{% for i in range(100) %}${{ m() }}{% endfor %}{% endset %}",
                "16777216 bytes of output, counting what",
            ),
            (
                "{% set ns = namespace(v=[]) %}{% for i in range(100000) %}{% set ns.v = {'a': ns.v} %}{% endfor %}",
                "nest values more than 100 levels",
            ),
            (
                "{% set ns = namespace(v=[]) %}{% for i in range(100000) %}{% set ns.v = dict(a=ns.v) %}{% endfor %}",
                "nest values more than 100 levels",
            ),
            (
                "{% set ns = namespace(v=[0]) %}{% for i in range(100000) %}{% set ns.v = ns.v | batch(1) %}{% endfor %}",
                "nest values more than 100 levels",
            ),
            (
                "{% set ns = namespace(s='x' * 1000000) %}{% for i in range(30) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
                "joining strings",
            ),
        ] {
            let error = render(source).unwrap_err();
            assert!(error.limit, "{source}: {error}");
            assert!(error.message.contains(names), "{source}: {error}");
            assert!(
                error.message.contains("16777216 bytes") || error.message.contains("100 levels"),
                "{source}: {error}"
            );
            assert_eq!(error.line, Some(1), "{source}: {error}");
        }
    }
}

#[cfg(test)]
mod filter_tests {
    use crate::engine::expression::{Limits, Renderer};
    use minijinja::Value;
    use serde_json::json;

    fn render(source: &str) -> Result<String, crate::engine::expression::RenderError> {
        let context = Value::from(minijinja::value::Serde(json!({ "s": "ab\ncd", "l": [1, 2] })));
        Renderer::new(Limits::default()).render_text("f.txt", source, &context)
    }

    #[test]
    fn filters_that_multiply_are_refused_before_they_allocate() {
        let huge = 1u64 << 40;
        for source in [
            format!("${{{{ 'x' | center({huge}) }}}}"),
            format!("${{{{ s | indent({huge}) }}}}"),
            format!("${{{{ s | indent(width={huge}) }}}}"),
            format!("${{{{ l | dump({huge}) }}}}"),
            format!("${{{{ l | tojson(indent={huge}) }}}}"),
            format!("${{{{ '%{huge}s' | format('x') }}}}"),
            format!("${{{{ '%.{huge}f' | format(1.5) }}}}"),
            format!("${{{{ l | batch({huge}, 0) }}}}"),
            format!("${{{{ l | slice({huge}, 0) }}}}"),
            "${{ ('x' * 16000000) | replace('x', 'yy') }}".into(),
            "${{ ('x' * 1000000) | replace('', 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy') }}".into(),
            "${{ range(100000) | join('x' * 1000) }}".into(),
            "${{ ('x' * 10000000).replaceAll('x', 'yy') }}".into(),
            "${{ ('x' * 10000000).concat('x' * 10000000) }}".into(),
            "${{ ('x' * 10000000) | split('') | length }}".into(),
            "${{ ('x' * 10000000) | list | length }}".into(),
            "${{ ('ß' * 4000000) | upper }}".into(),
            "${{ ('<' * 4000000) | escape }}".into(),
            "${{ ('<' * 4000000) | urlencode }}".into(),
            "${{ ([range(100000)] * 20) | pprint }}".into(),
        ] {
            let error = match render(&source) {
                Ok(out) => panic!("{source}: rendered {} bytes", out.len()),
                Err(error) => error,
            };
            assert!(error.limit, "{source}: {error}");
            assert!(
                error.message.contains("16777216 bytes") || error.message.contains("100 levels"),
                "{source}: {error}"
            );
            assert_eq!(error.line, Some(1), "{source}: {error}");
        }
    }

    #[test]
    fn filters_within_bounds_behave_as_before() {
        assert_eq!(
            render("${{ 'ab' | center(6) }}|${{ s | indent(2) }}|${{ l | dump }}|${{ '%5s' | format('x') }}|${{ l | join('-') }}|${{ 'aXa' | replace('a', 'bb') }}|${{ l | batch(3, 0) | list }}").unwrap(),
            "  ab  |ab\n  cd|[1,2]|    x|1-2|bbXbb|1,2,0"
        );
    }

    #[test]
    fn a_whole_expression_is_counted_as_it_converts_to_json() {
        let renderer = Renderer::new(Limits::default());
        let context = Value::from(minijinja::value::Serde(json!({})));
        let error = renderer
            .render_value(
                "steps[a].input.x",
                &json!("${{ ['x' * 9000000, 'x' * 9000000] }}"),
                &context,
            )
            .unwrap_err();
        assert!(error.limit, "{error}");
        assert!(error.message.contains("16777216 bytes of output"), "{error}");
        assert_eq!(error.location, "steps[a].input.x");
        let fits = renderer
            .render_value("x", &json!("${{ ['x' * 1000] * 5 }}"), &context)
            .unwrap()
            .unwrap();
        assert_eq!(fits.as_array().map(Vec::len), Some(5));
    }

    #[test]
    fn the_deadline_stops_a_whole_expression() {
        let renderer = Renderer::new(Limits {
            timeout: std::time::Duration::ZERO,
            ..Limits::default()
        });
        let context = Value::from(minijinja::value::Serde(json!({})));
        let error = renderer
            .render_value("steps[a].each", &json!("${{ range(10) }}"), &context)
            .unwrap_err();
        assert!(error.limit && error.message.contains("takes too long"), "{error}");
    }
}
