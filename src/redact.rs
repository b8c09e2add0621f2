//! Keeping secret values out of everything a person or a log can read.

use serde_json::Value;

/// What replaces a secret value.
pub const MASK: &str = "***";

/// The secret values of one request.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    /// Secrets from their values. Each is masked as given, trimmed (a
    /// Secret's value often ends in a newline, and `| trim` takes it off),
    /// and, in case one still reaches a shown place transformed, upper- and
    /// lower-cased, reversed and URL-encoded. Values shorter than 3
    /// characters are not masked, since masking them would mangle ordinary
    /// text.
    pub fn new<I: IntoIterator<Item = String>>(values: I) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .flat_map(|value| {
                let trimmed = value.trim().to_string();
                [
                    trimmed.to_uppercase(),
                    trimmed.to_lowercase(),
                    trimmed.chars().rev().collect(),
                    url::form_urlencoded::byte_serialize(trimmed.as_bytes()).collect(),
                    urlencoding_path(&trimmed),
                    trimmed,
                    value,
                ]
            })
            .filter(|v| v.len() >= 3)
            .collect();
        // The longest first, so a secret containing another is masked whole.
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        Secrets { values }
    }

    /// `text` with every secret value masked.
    pub fn redact(&self, text: &str) -> String {
        self.values.iter().fold(text.to_string(), |text, secret| {
            text.replace(secret.as_str(), MASK)
        })
    }

    /// `value` with every secret value masked in every string it holds.
    pub fn redact_value(&self, value: &Value) -> Value {
        if self.values.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.redact_value(v)).collect()),
            Value::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, v)| (self.redact(k), self.redact_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// Percent-encoding as JavaScript's `encodeURIComponent` (and minijinja's
/// `urlencode`) does it: space as `%20`, not `+`.
fn urlencoding_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(
                byte,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
        {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence_in_text_and_values() {
        let secrets = Secrets::new(["s3cr3t-token".to_string(), "s3cr3t".to_string(), "ab".to_string()]);
        assert_eq!(
            secrets.redact("token=s3cr3t-token, short=s3cr3t, ab"),
            "token=***, short=***, ab"
        );
        let value = serde_json::json!({"url": "https://x:s3cr3t@host", "list": ["s3cr3t-token", 3]});
        assert_eq!(
            secrets.redact_value(&value),
            serde_json::json!({"url": "https://x:***@host", "list": ["***", 3]})
        );
    }

    #[test]
    fn masks_the_trimmed_and_transformed_forms_too() {
        let secrets = Secrets::new(["Tok/en 42+x\n".to_string()]);
        for shown in [
            "Tok/en 42+x\n",
            "Tok/en 42+x",
            "TOK/EN 42+X",
            "tok/en 42+x",
            "x+24 ne/koT",
            "Tok%2Fen+42%2Bx",
            "Tok%2Fen%2042%2Bx",
        ] {
            let text = format!("before {shown} after");
            assert_eq!(secrets.redact(&text), "before *** after", "{shown:?}");
        }
    }
}
