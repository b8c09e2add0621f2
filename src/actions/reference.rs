//! The reference of every action, as Markdown, made from the same
//! definitions the Template check reads: each action's inputs (name, type,
//! whether required, what it does) and outputs. `goldpath actions` prints
//! it, and README's list of actions is this text (a test holds them equal).

use std::fmt::Write;

use serde_json::Value;

use super::definition::{ACTIONS, Action};

/// Every action's reference, in the order of [`ACTIONS`].
pub fn markdown() -> String {
    let mut out = String::new();
    for action in ACTIONS {
        write_action(&mut out, action);
    }
    // One newline at the end, not the blank line after every action.
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn write_action(out: &mut String, action: &Action) {
    let input = action.input_schema();
    let output = action.output_schema();
    let required = action.required_inputs();
    let _ = writeln!(out, "#### `{}`\n", action.name);
    let inputs = properties(input.as_value());
    if inputs.is_empty() {
        out.push_str("Inputs: none.\n\n");
    } else {
        out.push_str("| Input | Type | Required | Description |\n| --- | --- | --- | --- |\n");
        for (name, property) in inputs {
            let _ = writeln!(
                out,
                "| `{name}` | {} | {} | {} |",
                type_of(input.as_value(), property),
                if required.contains(name) { "yes" } else { "no" },
                description(property)
            );
        }
        out.push('\n');
    }
    let outputs = properties(output.as_value());
    if outputs.is_empty() {
        out.push_str("Outputs: none.\n\n");
    } else {
        out.push_str("| Output | Type | Description |\n| --- | --- | --- |\n");
        for (name, property) in outputs {
            let _ = writeln!(
                out,
                "| `{name}` | {} | {} |",
                type_of(output.as_value(), property),
                description(property)
            );
        }
        out.push('\n');
    }
}

fn properties(schema: &Value) -> Vec<(&String, &Value)> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| properties.iter().collect())
        .unwrap_or_default()
}

/// A property's type in words: `string`, `list of strings`, `boolean or
/// string`, `object`, `any`; the values it allows when its schema lists
/// them, the range of a bounded number; `(secret)` for a write-only input.
fn type_of(root: &Value, property: &Value) -> String {
    let mut named = type_words(root, property, 0);
    if let Some(values) = property.get("enum").and_then(Value::as_array) {
        let values: Vec<String> = values
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| format!("`{}`", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
            .collect();
        named = format!("{named}: {}", values.join(", "));
    } else if let (Some(min), Some(max)) = (property.get("minimum"), property.get("maximum")) {
        named = format!("{named}, {min} to {max}");
    }
    if property.get("writeOnly") == Some(&Value::Bool(true)) {
        format!("{named} (secret)")
    } else {
        named
    }
}

/// The schema's types, `$ref`s followed through `root`'s `$defs` at most
/// a few levels deep (the schemas are goldpath's own, so this is a
/// formality).
fn type_words(root: &Value, schema: &Value, depth: usize) -> String {
    if depth > 4 {
        return "any".into();
    }
    if let Some(target) = schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| root.pointer(&format!("/$defs/{name}")))
    {
        return type_words(root, target, depth + 1);
    }
    let alternatives = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array);
    if let Some(alternatives) = alternatives {
        let words: Vec<String> = alternatives
            .iter()
            .filter(|one| one.get("type") != Some(&Value::from("null")))
            .map(|one| type_words(root, one, depth + 1))
            .collect();
        return join_unique(words);
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => return "any".into(),
    };
    let words = types
        .into_iter()
        .filter(|ty| *ty != "null")
        .map(|ty| match ty {
            "array" => match schema.get("items") {
                Some(items) => format!("list of {}", plural(&type_words(root, items, depth + 1))),
                None => "list".into(),
            },
            "integer" => "whole number".into(),
            other => other.to_string(),
        })
        .collect();
    join_unique(words)
}

fn plural(word: &str) -> String {
    match word {
        "any" => "values".into(),
        "whole number" => "whole numbers".into(),
        other => format!("{other}s"),
    }
}

fn join_unique(mut words: Vec<String>) -> String {
    words.dedup();
    if words.is_empty() {
        "any".into()
    } else {
        words.join(" or ")
    }
}

/// The property's description on one line, safe in a table cell.
fn description(property: &Value) -> String {
    property
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_is_listed_with_its_inputs_and_outputs() {
        let text = markdown();
        for action in ACTIONS {
            assert!(
                text.contains(&format!("#### `{}`\n", action.name)),
                "{}",
                action.name
            );
            for input in action.inputs() {
                assert!(
                    text.contains(&format!("| `{input}` |")),
                    "{}: {input}",
                    action.name
                );
            }
        }
        assert!(
            text.contains("| `repoUrl` | string | yes | `host?owner=owner&repo=repo`. |"),
            "{text}"
        );
        assert!(text.contains("| `token` | string (secret) | no |"), "{text}");
        assert!(text.contains("| `topics` | list of strings | no |"), "{text}");
        assert!(
            text.contains(
                "| `squashMergeCommitMessage` | string: `PR_BODY`, `COMMIT_MESSAGES`, `BLANK` | no |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| `requiredApprovingReviewCount` | whole number, 0 to 6 | no |"),
            "{text}"
        );
        assert!(
            text.contains("| `commitHash` | string | The commit published. |"),
            "{text}"
        );
        assert!(
            text.contains("| `templateFileExtension` | boolean or string | no |"),
            "{text}"
        );
    }
}
