//! `GET /v2/templating-extensions`: the filters and global functions a
//! Template's expressions may call, from the engine's own registration
//! ([`crate::engine::expression::extensions`]), in Backstage's shape.
//! Backstage's four filters carry its descriptions, schemas and examples;
//! the rest name where they come from.

use serde_json::{Map, Value, json};

use crate::engine::expression;
use crate::engine::filters;

/// Backstage's `ListTemplatingExtensionsResponse` for goldpath's engine.
pub fn list() -> Value {
    let extensions = expression::extensions();
    let filters: Map<String, Value> = extensions
        .filters
        .iter()
        .map(|name| {
            let documented = filters::documented(name).unwrap_or_else(
                || json!({"description": format!("nunjucks' filter {name}, as nunjucks or Jinja define it")}),
            );
            (name.to_string(), documented)
        })
        .collect();
    let functions: Map<String, Value> = extensions
        .functions
        .iter()
        .map(|name| (name.clone(), json!({"description": function_description(name)})))
        .collect();
    json!({
        "filters": filters,
        "globals": {"functions": functions, "values": {}},
    })
}

/// What the global function `name` does.
fn function_description(name: &str) -> String {
    match name {
        "range" => "range([start,] stop[, step]): the integers from start up to stop".into(),
        "dict" => "dict(key=value, ...): a map of the arguments given".into(),
        "namespace" => {
            "namespace(key=value, ...): an object whose attributes `set` may change inside a loop".into()
        }
        "debug" => "debug(): the values a template can see, as text".into(),
        _ => format!("the function {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::expression::{Limits, Renderer};

    /// Every filter listed is one a template can call: it renders, or
    /// fails on its input, but is never unknown; a name not listed is.
    #[test]
    fn every_listed_filter_renders() {
        let renderer = Renderer::new(Limits::default());
        let context = minijinja::Value::from(());
        let listed = list();
        let filters = listed["filters"].as_object().unwrap();
        assert!(filters.len() > 40, "{}", filters.len());
        for name in filters.keys() {
            let source = format!("${{{{ 'github.com?owner=a&repo=b' | {name} }}}}");
            if let Err(error) = renderer.render_text("test", &source, &context) {
                assert!(!error.to_string().contains("unknown filter"), "{name}: {error}");
            }
        }
        let error = renderer
            .render_text("test", "${{ 'x' | notAFilter }}", &context)
            .unwrap_err();
        assert!(error.to_string().contains("unknown filter"), "{error}");
    }

    #[test]
    fn backstages_filters_are_documented_and_functions_exist() {
        let listed = list();
        for name in ["parseRepoUrl", "parseEntityRef", "pick", "projectSlug"] {
            let filter = &listed["filters"][name];
            assert!(filter["description"].is_string(), "{name}");
            assert!(filter["schema"]["output"].is_object(), "{name}");
            assert!(filter["examples"][0]["example"].is_string(), "{name}");
        }
        let functions = listed["globals"]["functions"].as_object().unwrap();
        for name in ["range", "dict", "namespace"] {
            assert!(functions.contains_key(name), "{name}: {functions:?}");
        }
        assert!(functions.keys().all(|name| !name.starts_with("__")));
        let renderer = Renderer::new(Limits::default());
        let context = minijinja::Value::from(());
        for name in functions.keys() {
            let rendered = renderer.render_text("test", &format!("${{{{ {name}(1) }}}}"), &context);
            if let Err(error) = rendered {
                assert!(!error.to_string().contains("unknown function"), "{name}: {error}");
            }
        }
    }
}
