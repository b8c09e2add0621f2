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
    /// Secrets from their values. Values shorter than 3 characters are not
    /// masked, since masking them would mangle ordinary text.
    pub fn new<I: IntoIterator<Item = String>>(values: I) -> Self {
        let mut values: Vec<String> = values.into_iter().filter(|v| v.len() >= 3).collect();
        // The longest first, so a secret containing another is masked whole.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
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
}
