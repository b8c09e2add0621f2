//! A Template's form as Backstage's `parameter-schema` route answers it:
//! the title and description, one step (page) per parameter schema, each
//! schema as the Template holds it (`ui:*` keys and all), and the
//! Template's `presentation` and form decorators.

use serde_json::{Map, Value, json};

use crate::api::Template;

/// The title of a page whose schema has none, as Backstage gives it.
const UNTITLED_PAGE: &str = "Please enter the following information";

/// `template`'s form, as `GET /v2/templates/.../parameter-schema` answers.
pub fn parameter_schema(template: &Template) -> Value {
    let spec = &template.spec;
    let pages: Vec<Value> = match &spec.parameters {
        None => Vec::new(),
        Some(Value::Array(pages)) => pages.clone(),
        Some(page) => vec![page.clone()],
    };
    let steps: Vec<Value> = pages
        .into_iter()
        .map(|schema| {
            let mut step = Map::new();
            let title = schema.get("title").cloned().unwrap_or(Value::from(UNTITLED_PAGE));
            step.insert("title".into(), title);
            if let Some(description) = schema.get("description") {
                step.insert("description".into(), description.clone());
            }
            step.insert("schema".into(), schema);
            Value::Object(step)
        })
        .collect();
    let title = spec
        .title
        .clone()
        .or_else(|| template.metadata.name.clone())
        .unwrap_or_default();
    let mut form = json!({"title": title, "steps": steps});
    if let Some(description) = &spec.description {
        form["description"] = Value::from(description.as_str());
    }
    if let Some(presentation) = &spec.presentation {
        form["presentation"] = presentation.clone();
    }
    if let Some(decorators) = spec
        .form_decorators
        .as_ref()
        .or(spec.experimental_form_decorators.as_ref())
    {
        form["EXPERIMENTAL_formDecorators"] = Value::Array(decorators.clone());
    }
    form
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(spec: Value) -> Template {
        serde_json::from_value(json!({
            "apiVersion": "goldpath.dev/v1alpha1",
            "kind": "Template",
            "metadata": {"name": "service", "namespace": "team-a"},
            "spec": spec,
        }))
        .unwrap()
    }

    #[test]
    fn each_page_is_a_step_with_its_schema_as_the_template_holds_it() {
        let form = parameter_schema(&template(json!({
            "type": "service",
            "title": "A service",
            "description": "Makes one",
            "presentation": {"buttonLabels": {"createButtonText": "Make it"}},
            "formDecorators": [{"id": "mine", "input": {"x": 1}}],
            "parameters": [
                {"title": "Name", "properties": {"name": {"type": "string", "ui:autofocus": true}}},
                {"properties": {"owner": {"type": "string", "ui:field": "OwnerPicker"}}},
            ],
            "steps": [{"id": "log", "action": "debug:log", "input": {"message": "hi"}}],
        })));
        assert_eq!(form["title"], "A service");
        assert_eq!(form["description"], "Makes one");
        assert_eq!(
            form["presentation"]["buttonLabels"]["createButtonText"],
            "Make it"
        );
        assert_eq!(form["EXPERIMENTAL_formDecorators"][0]["id"], "mine");
        assert_eq!(form["steps"][0]["title"], "Name");
        assert_eq!(
            form["steps"][0]["schema"]["properties"]["name"]["ui:autofocus"],
            true
        );
        assert_eq!(form["steps"][1]["title"], UNTITLED_PAGE);
        assert_eq!(
            form["steps"][1]["schema"]["properties"]["owner"]["ui:field"],
            "OwnerPicker"
        );
    }

    #[test]
    fn one_schema_is_one_page_and_none_is_no_page() {
        let one = parameter_schema(&template(json!({
            "type": "service",
            "parameters": {"title": "Only", "properties": {}},
            "steps": [],
        })));
        assert_eq!(one["title"], "service", "the name stands in for a title");
        assert_eq!(one["steps"].as_array().unwrap().len(), 1);
        let none = parameter_schema(&template(json!({"type": "service", "steps": []})));
        assert_eq!(none["steps"], json!([]));
        assert!(none.get("presentation").is_none());
    }
}
