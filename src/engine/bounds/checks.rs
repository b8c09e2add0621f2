//! Filters: each registered with a check of its arguments, its inputs
//! measured before it runs and its result after.

use std::fmt::Write as _;
use std::sync::Arc;

use minijinja::value::{Rest, Value, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State};

use super::{BoundedWriter, Counter, Guard, Hit};
use crate::engine::js;

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
    let positional = args.get(index).filter(|v| !v.is_kwargs()).and_then(count);
    positional.or_else(|| {
        args.last()
            .filter(|v| v.is_kwargs())
            .and_then(|kwargs| kwargs.get_attr(name).ok())
            .and_then(|v| count(&v))
    })
}

/// A count or width as nunjucks reads one, with JavaScript's `Number`
/// (`'1e9'` and `1e9` are a billion), so text or a fraction cannot pass a
/// bound a whole number would not.
fn count(value: &Value) -> Option<usize> {
    let n = js::to_number(value);
    if n.is_nan() || n < 0.0 {
        None
    } else if n >= usize::MAX as f64 {
        Some(usize::MAX)
    } else {
        Some(n.ceil() as usize)
    }
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
    let new = args.get(2).map_or(0, written_len);
    let occurrences = if old.is_empty() {
        text.encode_utf16().count() + 1
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

/// The length of a value written as text, at most: a value that is not
/// text is written as JavaScript's string, never longer than minijinja's.
fn written_len(value: &Value) -> usize {
    value.as_str().map_or_else(|| value.to_string().len(), str::len)
}

/// `join(separator)`: one separator between each two items.
pub fn check_join(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    let items = args.first().and_then(Value::len).unwrap_or(0);
    let separator = args.get(1).filter(|v| !v.is_kwargs()).map_or(0, written_len);
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

/// `urlize`: each word may become a link that holds it twice, with up to
/// 48 bytes of markup.
pub fn check_urlize(guard: &Guard, args: &[Value]) -> Result<(), Error> {
    let text = args.first().and_then(Value::as_str).unwrap_or_default();
    let words = text.split_whitespace().count();
    let bytes = text
        .len()
        .checked_mul(2)
        .and_then(|b| b.checked_add(words.checked_mul(48)?));
    guard.bytes("urlize", bytes)
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
            guard.items("listing characters", Some(text.encode_utf16().count()))
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
            // Counts and widths are read as JavaScript reads them.
            format!("${{{{ l | slice('{huge}') }}}}"),
            "${{ l | slice(1e13) }}".into(),
            "${{ 'x' | center('1e13') }}".into(),
            "${{ l | center(1e13) }}".into(),
            "${{ ('' | center(16000000)) | replace(' ', 'yy') }}".into(),
            "${{ ('' | center(1000000)) | replace('', 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy') }}".into(),
            "${{ range(100000) | join('' | center(1000)) }}".into(),
            "${{ ('' | center(10000000)).replaceAll(' ', 'yy') }}".into(),
            "${{ ('' | center(10000000)).concat('' | center(10000000)) }}".into(),
            "${{ ('' | center(10000000)) | split('') | length }}".into(),
            "${{ ('' | center(10000000)) | list | length }}".into(),
            "${{ ('' | center(4000000) | replace(' ', 'ß')) | upper }}".into(),
            "${{ ('' | center(4000000) | replace(' ', '<')) | escape }}".into(),
            "${{ ('' | center(4000000) | replace(' ', '<')) | urlencode }}".into(),
            "${{ ('' | center(2000000) | replace(' ', 'a.com ')) | urlize }}".into(),
            format!("${{{{ [{}] | pprint }}}}", ["range(100000)"; 20].join(", ")),
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
            render("${{ 'ab' | center(6) }}|${{ s | indent(2) }}|${{ l | dump }}|${{ '%5s' | format('x') }}|${{ l | join('-') }}|${{ 'aXa' | replace('a', 'bb') }}|${{ l | batch(3, 'x') | list }}").unwrap(),
            "  ab  |ab\n  cd|[1,2]|    x|1-2|bbXbb|1,2,x"
        );
    }

    #[test]
    fn a_whole_expression_is_counted_as_it_converts_to_json() {
        let renderer = Renderer::new(Limits::default());
        let context = Value::from(minijinja::value::Serde(json!({})));
        let error = renderer
            .render_value(
                "steps[a].input.x",
                &json!("${{ ['' | center(9000000), '' | center(9000000)] }}"),
                &context,
            )
            .unwrap_err();
        assert!(error.limit, "{error}");
        assert!(error.message.contains("16777216 bytes of output"), "{error}");
        assert_eq!(error.location, "steps[a].input.x");
        let five = format!("${{{{ [{}] }}}}", ["'' | center(1000)"; 5].join(", "));
        let fits = renderer
            .render_value("x", &json!(five), &context)
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
