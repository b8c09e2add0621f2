//! `GET /v2/templating-extensions`: the filters and global functions a
//! Template's expressions may call, from the engine's own registration
//! ([`crate::engine::expression::extensions`]), in Backstage's shape.
//! Each filter and function carries its description, the schemas of its
//! input, arguments and output, and an example with what it renders to
//! ([`filters::documented`], held by its tests to what the engine
//! registers).

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
                || json!({"description": format!("the filter {name}, as nunjucks or Jinja define it")}),
            );
            (name.to_string(), documented)
        })
        .collect();
    let functions: Map<String, Value> = extensions
        .functions
        .iter()
        .map(|name| {
            let documented = filters::documented_function(name)
                .unwrap_or_else(|| json!({"description": format!("the function {name}")}));
            (name.clone(), documented)
        })
        .collect();
    json!({
        "filters": filters,
        "globals": {"functions": functions, "values": {}},
    })
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
    fn every_filter_and_function_is_documented_with_schema_and_example() {
        let listed = list();
        let filters = listed["filters"].as_object().unwrap();
        for (name, filter) in filters
            .iter()
            .chain(listed["globals"]["functions"].as_object().unwrap())
        {
            assert!(filter["description"].is_string(), "{name}");
            assert!(filter["schema"]["output"].is_object(), "{name}");
            assert!(filter["schema"]["arguments"].is_array(), "{name}");
            assert!(filter["examples"][0]["example"].is_string(), "{name}");
        }
        for name in filters.keys() {
            assert!(filters[name]["schema"]["input"].is_object(), "{name}");
        }
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
