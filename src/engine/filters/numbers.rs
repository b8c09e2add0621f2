//! nunjucks' filters that read numbers: `round`, `float` and `int`, with
//! JavaScript's `parseFloat` and `parseInt`.

use minijinja::value::Value;

use crate::engine::js;

/// nunjucks `round(precision=0, method='common')`: JavaScript's
/// `Math.round` (halves up), `Math.floor` or `Math.ceil` at the precision.
pub(super) fn round(value: Value, precision: Option<Value>, method: Option<&str>) -> Value {
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
pub(super) fn float(value: Value, default: Option<Value>) -> Value {
    let parsed = parse_float(&js::to_string(&value));
    if parsed.is_nan() {
        default.unwrap_or(Value::UNDEFINED)
    } else {
        js::from_number(parsed)
    }
}

/// nunjucks `int(default, base=10)`: JavaScript's `parseInt`.
pub(super) fn int(value: Value, default: Option<Value>, base: Option<u32>) -> Value {
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
