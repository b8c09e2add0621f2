//! Kubernetes label selectors as written in
//! `backstage.io/kubernetes-label-selector`: `app=web,tier!=cache`,
//! `env in (prod, staging)`, `release notin (canary)`, `team`, `!legacy`.
//! The grammar is `kubectl`'s; requirements are joined by `,` and all must
//! hold.

use std::collections::BTreeMap;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    /// `key=value` or `key==value`.
    Equals(String, String),
    /// `key!=value`: the label is absent or has another value.
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn(String, Vec<String>),
    /// `key`: the label is present.
    Exists(String),
    /// `!key`: the label is absent.
    DoesNotExist(String),
}

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses `text`; the error says what is wrong and where.
    pub fn parse(text: &str) -> Result<Selector, String> {
        let mut requirements = Vec::new();
        for part in split_top_level(text)? {
            let part = part.trim();
            if part.is_empty() {
                return Err(format!("{text:?} has an empty requirement"));
            }
            requirements.push(requirement(part)?);
        }
        if requirements.is_empty() {
            return Err("the selector is empty; an empty selector would match every object".into());
        }
        Ok(Selector { requirements })
    }

    /// Whether an object with `labels` is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|requirement| match requirement {
            Requirement::Equals(key, value) => labels.get(key) == Some(value),
            Requirement::NotEquals(key, value) => labels.get(key) != Some(value),
            Requirement::In(key, values) => labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(key, values) => !labels.get(key).is_some_and(|v| values.contains(v)),
            Requirement::Exists(key) => labels.contains_key(key),
            Requirement::DoesNotExist(key) => !labels.contains_key(key),
        })
    }
}

/// Splits on the commas that are not inside `( )`.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' if depth == 0 => depth = 1,
            '(' => return Err(format!("{text:?} has nested parentheses")),
            ')' if depth == 1 => depth = 0,
            ')' => return Err(format!("{text:?} has a ')' without its '('")),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("{text:?} has a '(' without its ')'"));
    }
    parts.push(&text[start..]);
    Ok(parts)
}

fn requirement(part: &str) -> Result<Requirement, String> {
    if let Some(key) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key_of(part, key.trim())?));
    }
    for (operator, make) in [
        ("!=", Requirement::NotEquals as fn(String, String) -> Requirement),
        ("==", Requirement::Equals),
        ("=", Requirement::Equals),
    ] {
        if let Some((key, value)) = part.split_once(operator) {
            return Ok(make(key_of(part, key.trim())?, value_of(part, value.trim())?));
        }
    }
    if let Some(open) = part.find('(') {
        let (head, list) = part.split_at(open);
        let mut words = head.split_whitespace();
        let (Some(key), Some(operator), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!(
                "{part:?}: expected `key in (values)` or `key notin (values)`"
            ));
        };
        let Some(inner) = list.trim().strip_prefix('(').and_then(|l| l.strip_suffix(')')) else {
            return Err(format!("{part:?}: the value list must end the requirement"));
        };
        let values = inner
            .split(',')
            .map(|value| value_of(part, value.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let key = key_of(part, key)?;
        return match operator {
            "in" => Ok(Requirement::In(key, values)),
            "notin" => Ok(Requirement::NotIn(key, values)),
            other => Err(format!(
                "{part:?}: unknown operator {other:?}; expected in or notin"
            )),
        };
    }
    Ok(Requirement::Exists(key_of(part, part)?))
}

fn key_of(part: &str, key: &str) -> Result<String, String> {
    if super::validation::is_valid_label_key(key) {
        Ok(key.to_string())
    } else {
        Err(format!("{part:?}: {key:?} is not a valid label key"))
    }
}

fn value_of(part: &str, value: &str) -> Result<String, String> {
    if super::validation::is_valid_label_value(value) {
        Ok(value.to_string())
    } else {
        Err(format!("{part:?}: {value:?} is not a valid label value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn equality_requirements_all_hold() {
        let selector = Selector::parse("app=web, tier==front,env!=dev").unwrap();
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(selector.matches(&labels(&[("app", "web"), ("tier", "front"), ("env", "prod")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "front"), ("env", "dev")])));
        assert!(!selector.matches(&labels(&[("app", "web")])));
    }

    #[test]
    fn set_requirements() {
        let selector = Selector::parse("env in (prod, staging),release notin (canary),team,!legacy").unwrap();
        assert!(selector.matches(&labels(&[("env", "prod"), ("team", "a")])));
        assert!(selector.matches(&labels(&[
            ("env", "staging"),
            ("team", "a"),
            ("release", "stable")
        ])));
        assert!(!selector.matches(&labels(&[("env", "dev"), ("team", "a")])));
        assert!(!selector.matches(&labels(&[("env", "prod"), ("team", "a"), ("release", "canary")])));
        assert!(!selector.matches(&labels(&[("env", "prod")])));
        assert!(!selector.matches(&labels(&[("env", "prod"), ("team", "a"), ("legacy", "")])));
    }

    #[test]
    fn prefixed_keys_and_empty_values() {
        let selector =
            Selector::parse("backstage.io/kubernetes-id=orders,app.kubernetes.io/part-of=").unwrap();
        assert!(selector.matches(&labels(&[
            ("backstage.io/kubernetes-id", "orders"),
            ("app.kubernetes.io/part-of", "")
        ])));
    }

    #[test]
    fn malformed_selectors_say_what_is_wrong() {
        for (text, expected) in [
            ("", "empty"),
            ("app=web,", "empty requirement"),
            ("env in (prod", "without its ')'"),
            ("env in prod)", "without its '('"),
            ("env in ((a))", "nested"),
            ("env within (a)", "unknown operator"),
            ("app=we b", "not a valid label value"),
            ("-app=web", "not a valid label key"),
            ("env in (a) x", "must end"),
        ] {
            let error = Selector::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
