//! The checked functions a rewritten template calls in place of its
//! operators, literals and constructors: each refuses a value past the
//! bounds before it allocates.

use minijinja::value::{Value, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, State};

use super::Guard;
use super::rewrite::{AND, ITEM, ITERATION, NESTED, OR, REGEX, SLICE, TRUTHY, UNWRAP};
use crate::engine::js;

fn is_list(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// An operand of `and` or `or` whose truth for minijinja is JavaScript's.
#[derive(Debug)]
struct Decided {
    value: Value,
    truth: bool,
}

impl Decided {
    /// `value` itself when minijinja already sees its truth as `truth`.
    fn with_truth(value: Value, truth: bool) -> Value {
        if value.is_true() == truth {
            value
        } else {
            Value::from_object(Decided { value, truth })
        }
    }
}

impl minijinja::value::Object for Decided {
    fn is_true(self: &std::sync::Arc<Self>) -> bool {
        self.truth
    }
}

/// Registers the checked operators, literals and constructors in `env`.
pub fn register_operators(env: &mut Environment<'_>, guard: Guard, warnings: crate::engine::warnings::Sink) {
    // Backstage renders undefined in arithmetic as `undefined` or NaN,
    // and so does goldpath; it is almost always a misspelt name.
    let undefined_in: Warn = std::sync::Arc::new(move |op: &str, left: &Value, right: &Value| {
        if left.is_undefined() || right.is_undefined() {
            warnings.warn(
                None,
                format!(
                    "an undefined value in `{op}` renders as {} (as in Backstage); is a name misspelt?",
                    if op == "+" || op == "~" {
                        "\"undefined\""
                    } else {
                        "NaN"
                    }
                ),
            );
        }
    });
    register_output(env, guard);
    register_constructors(env, guard);
    register_growing(env, guard, &undefined_in);
    register_javascript(env, &undefined_in);
}

/// Reports an undefined operand of an operator.
type Warn = std::sync::Arc<dyn Fn(&str, &Value, &Value) + Send + Sync>;

/// What a template writes: each loop iteration's text and each value,
/// counted against the bound as it is written.
fn register_output(env: &mut Environment<'_>, guard: Guard) {
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
            None => out.write_str(&js::output(value))?,
        }
        Ok(())
    });
}

/// Literals, `dict()` and `namespace()`, checked for how deeply they nest.
fn register_constructors(env: &mut Environment<'_>, guard: Guard) {
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
}

/// The operators that can make a value larger than its operands, `+` and
/// `~` (checked before they allocate), and `*` beside them.
fn register_growing(env: &mut Environment<'_>, guard: Guard, undefined_in: &Warn) {
    let warn = undefined_in.clone();
    env.add_function("__goldpath_mul", move |left: Value, right: Value| {
        guard.time()?;
        warn("*", &left, &right);
        // JavaScript's `*` converts both sides to numbers (`'3' * 2` is 6,
        // `'x' * 3` NaN), so it never makes a string or list.
        Ok::<_, Error>(js::arithmetic("*", &left, &right))
    });
    let warn = undefined_in.clone();
    env.add_function("__goldpath_add", move |left: Value, right: Value| {
        guard.time()?;
        warn("+", &left, &right);
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
    // A loop over text makes a list of its UTF-16 units: as many items
    // as a slice of it would.
    let units = move |value: &Value| match value.as_str().filter(|_| value.kind() == ValueKind::String) {
        Some(text) => guard.items("iterating over text", Some(text.encode_utf16().count())),
        None => Ok(()),
    };
    env.add_function("__goldpath_entries", move |value: Value, count: usize| {
        guard.time()?;
        units(&value)?;
        js::entries(&value, count)
    });
    env.add_function("__goldpath_items", move |value: Value| {
        guard.time()?;
        units(&value)?;
        // `for x in` an object iterates nothing in nunjucks, and text its
        // UTF-16 units.
        Ok::<_, Error>(match value.kind() {
            ValueKind::Map => Value::from(Vec::<Value>::new()),
            ValueKind::String => Value::from(js::unit_texts(value.as_str().unwrap_or_default())),
            _ => value,
        })
    });
    env.add_function(
        SLICE,
        move |value: Value, start: Value, stop: Value, step: Value| {
            guard.time()?;
            js::slice(&value, &start, &stop, &step, guard.max_items()).map_err(|error| {
                error.unwrap_or_else(|| {
                    guard
                        .items("slicing", None)
                        .err()
                        .unwrap_or_else(|| Error::from(minijinja::ErrorKind::InvalidOperation))
                })
            })
        },
    );
    env.add_function(REGEX, move |source: String, flags: String| {
        guard.time()?;
        js::pattern::Pattern::new(&source, &flags).map(Value::from_object)
    });
    env.add_function("__goldpath_concat", move |left: Value, right: Value| {
        guard.time()?;
        let size = guard
            .measure("joining with ~", &left)?
            .checked_add(guard.measure("joining with ~", &right)?);
        guard.bytes("joining with ~", size)?;
        Ok::<_, Error>(js::concat(&left, &right))
    });
}

/// The other operators, with JavaScript's semantics; none grows a value.
fn register_javascript(env: &mut Environment<'_>, undefined_in: &Warn) {
    for (name, op) in [
        ("__goldpath_sub", "-"),
        ("__goldpath_div", "/"),
        ("__goldpath_floordiv", "//"),
        ("__goldpath_rem", "%"),
        ("__goldpath_pow", "**"),
    ] {
        let warn = undefined_in.clone();
        env.add_function(name, move |left: Value, right: Value| {
            warn(op, &left, &right);
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
    // `and` and `or` give one of their operands, as JavaScript's && and
    // ||: the left one, when it decides, with minijinja's truth made
    // JavaScript's (an empty list is true, NaN is false).
    env.add_function(AND, |a: Value| {
        if js::truthy(&a) {
            Value::from(true)
        } else {
            Decided::with_truth(a, false)
        }
    });
    env.add_function(OR, |a: Value| {
        if js::truthy(&a) {
            Decided::with_truth(a, true)
        } else {
            Value::from(false)
        }
    });
    env.add_function(UNWRAP, |value: Value| {
        match value.downcast_object_ref::<Decided>() {
            Some(decided) => decided.value.clone(),
            None => value,
        }
    });
    env.add_function("__goldpath_not", |a: Value| !js::truthy(&a));
    env.add_function("__goldpath_neg", |a: Value| js::negate(&a));
    env.add_function(TRUTHY, |a: Value| js::truthy(&a));
    env.add_function("__goldpath_in", |key: Value, within: Value| {
        js::contains(&within, &key)
    });
    env.add_function(ITEM, |value: Value, key: Value| js::item(&value, &key));
}

#[cfg(test)]
mod tests {
    use crate::engine::expression::{Limits, Renderer};
    use minijinja::Value;
    use serde_json::json;

    fn render(source: &str) -> Result<String, crate::engine::expression::RenderError> {
        let context = Value::from(minijinja::value::Serde(json!({ "n": 3, "s": "ab", "l": [1, 2] })));
        Renderer::new(Limits::default()).render_text("f.txt", source, &context)
    }

    #[test]
    fn checked_operators_compute_what_javascript_computes() {
        assert_eq!(
            render("${{ s * n }}|${{ n * s }}|${{ l * 2 }}|${{ l + [3] }}|${{ s ~ n }}|${{ n + 1.5 }}|${{ 2 * 3 }}|${{ s + 'c' }}").unwrap(),
            "NaN|NaN|NaN|1,23|ab3|4.5|6|abc"
        );
    }

    #[test]
    fn and_and_or_evaluate_their_right_side_only_when_javascript_does() {
        assert_eq!(
            render("${{ x and x.y.split(',') }}|${{ s or x.y.z }}|${{ 0 or '' or 'last' }}|${{ n and s }}")
                .unwrap(),
            "|ab|last|ab"
        );
        // JavaScript's truth: an empty list is true, NaN is false; the
        // operand chosen is given back as it is.
        assert_eq!(
            render("${{ [] and 'yes' }}|${{ ([] or 'no') | length }}|${{ (0 / 0) and 'yes' }}|${{ (0 / 0) or 'no' }}|{% if [] and l %}T{% endif %}").unwrap(),
            "yes|0|NaN|no|T"
        );
    }

    #[test]
    fn times_converts_both_sides_to_numbers_as_javascript_does() {
        assert_eq!(
            render("${{ '3' * 2 }}|${{ 'x' * 3 }}|${{ [2] * 3 }}|${{ [1, 2] * 2 }}|${{ true * 2 }}|${{ {} * 2 }}|${{ ' 4 ' * '0x10' }}").unwrap(),
            "6|NaN|6|NaN|2|NaN|64"
        );
        // A huge count gives a number, never a huge value.
        assert_eq!(
            render("${{ 'x' * 1099511627776 }}|${{ [0] * 1099511627776 }}").unwrap(),
            "NaN|0"
        );
    }

    #[test]
    fn every_growing_operator_is_refused_before_it_allocates() {
        let set_block_of_raw_text = format!(
            "{{% set s %}}{{% for i in range(100000) %}}{}{{% endfor %}}{{% endset %}}",
            "x".repeat(1000)
        );
        for (source, names) in [
            (
                "{% set ns = namespace(s=('' | center(1000000))) %}{% for i in range(30) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                "joining with ~",
            ),
            (
                "{% set ns = namespace(v=[]) %}{% for i in range(100000) %}{% set ns.v = [ns.v] %}{% endfor %}",
                "nest values more than 100 levels",
            ),
            (&set_block_of_raw_text, "16777216 bytes of output, counting what"),
            (
                "{% macro m() %}${{ '' | center(10000000) }}{% endmacro %}{% set s %}{% for i in range(100) %}${{ m() }}{% endfor %}{% endset %}",
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
                "{% set ns = namespace(s=('' | center(1000000))) %}{% for i in range(30) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
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
