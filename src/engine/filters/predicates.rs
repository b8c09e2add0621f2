//! nunjucks' tests (`x is odd`, `x is truthy`), as JavaScript evaluates
//! them in Backstage's engine: `odd` is `x % 2 === 1` (so `-3` is not odd
//! and `true` is), `eq` is `===`, `gt` is JavaScript's `>`, and the tests
//! minijinja lacks (`truthy`, `falsy`, `null`, `callable`, `escaped`).

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, Error};

use super::invalid;
use crate::engine::js;

/// Adds nunjucks' tests to `env`, in place of minijinja's of the same name.
pub(super) fn register(env: &mut Environment<'_>) {
    env.add_test("truthy", |v: Value| js::truthy(&v));
    env.add_test("falsy", |v: Value| !js::truthy(&v));
    env.add_test("null", |v: Value| v.is_none());
    env.add_test("none", |v: Value| v.is_none());
    env.add_test("callable", |_: Value| false);
    env.add_test("escaped", |v: Value| v.is_safe());
    env.add_test("mapping", |v: Value| v.kind() == ValueKind::Map);
    env.add_test("number", |v: Value| v.kind() == ValueKind::Number);
    env.add_test("odd", |v: Value| remainder(&v, 2) == 1.0);
    env.add_test("even", |v: Value| remainder(&v, 2) == 0.0);
    env.add_test("divisibleby", |v: Value, by: Value| {
        js::to_number(&js::arithmetic("%", &v, &by)) == 0.0
    });
    for name in ["eq", "equalto", "sameas"] {
        env.add_test(name, |a: Value, b: Value| js::strict_equals(&a, &b));
    }
    env.add_test("ne", |a: Value, b: Value| !js::strict_equals(&a, &b));
    for (name, op) in [
        ("gt", ">"),
        ("greaterthan", ">"),
        ("ge", ">="),
        ("lt", "<"),
        ("lessthan", "<"),
        ("le", "<="),
    ] {
        env.add_test(name, move |a: Value, b: Value| js::compare(op, &a, &b));
    }
    env.add_test("iterable", iterable);
    env.add_test("lower", |v: Value| case(&v, "lower", |s| s.to_lowercase() == s));
    env.add_test("upper", |v: Value| case(&v, "upper", |s| s.to_uppercase() == s));
}

/// JavaScript's `value % n`.
fn remainder(value: &Value, n: i64) -> f64 {
    js::to_number(&js::arithmetic("%", value, &Value::from(n)))
}

/// Whether JavaScript can iterate the value: text and lists; reading
/// that of undefined or null is an error.
fn iterable(value: Value) -> Result<bool, Error> {
    match value.kind() {
        ValueKind::Undefined | ValueKind::None => Err(invalid(format!(
            "the iterable test cannot read {}",
            if value.is_undefined() { "undefined" } else { "null" }
        ))),
        ValueKind::String | ValueKind::Seq | ValueKind::Iterable => Ok(true),
        _ => Ok(false),
    }
}

/// The `lower` and `upper` tests: of text only, as nunjucks calls a text
/// method on the value.
fn case(value: &Value, name: &str, test: impl Fn(&str) -> bool) -> Result<bool, Error> {
    match value.as_str().filter(|_| value.kind() == ValueKind::String) {
        Some(text) => Ok(test(text)),
        None => Err(invalid(format!("the {name} test takes text"))),
    }
}
