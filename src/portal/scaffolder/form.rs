//! A Template's form as Backstage's `parameter-schema` route answers it:
//! the title and description, one step (page) per parameter schema, each
//! schema as the Template holds it (`ui:*` keys and all), and the
//! Template's `presentation` and form decorators; and values the form's
//! schema refuses, as Backstage's `400 {errors: [...]}` tells them.

use hyper::StatusCode;
use serde_json::{Map, Value, json};

use crate::api::Template;
use crate::engine::parameters::ParameterError;
use crate::portal::reply::Reply;

/// The title of a page whose schema has none, as Backstage gives it.
const UNTITLED_PAGE: &str = "Please enter the following information";

/// `400` with Backstage's `errors`: one `ValidationError` per problem
/// `errors` (from the same validation the operator applies) found, naming
/// the field (`property`, `path`) and the rule broken (`name`). The value
/// submitted is never echoed (`instance` is empty): any value may be a
/// secret.
pub fn refused(errors: &[ParameterError]) -> Reply {
    let errors: Vec<Value> = errors
        .iter()
        .map(|error| {
            let path: Vec<Value> = field_path(&error.field);
            let property = if error.field.is_empty() || error.field.starts_with('[') {
                format!("instance{}", error.field)
            } else {
                format!("instance.{}", error.field)
            };
            json!({
                "path": path,
                "property": property,
                "message": error.message,
                "schema": {},
                "instance": {},
                "name": error.rule,
                "argument": error.rule,
                "stack": format!("{property} {}", error.message),
            })
        })
        .collect();
    Reply::with_status(StatusCode::BAD_REQUEST, json!({ "errors": errors }))
}

/// A field's path (`ports[2].number`) as Backstage's `path`: its keys and
/// indices (`["ports", 2, "number"]`).
fn field_path(field: &str) -> Vec<Value> {
    let mut path = Vec::new();
    for part in field.split('.').filter(|part| !part.is_empty()) {
        let (key, indices) = part.split_once('[').map_or((part, ""), |(k, rest)| (k, rest));
        if !key.is_empty() {
            path.push(Value::from(key));
        }
        for index in indices.split('[').map(|i| i.trim_end_matches(']')) {
            if let Ok(index) = index.parse::<u64>() {
                path.push(Value::from(index));
            }
        }
    }
    path
}

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
    fn refused_values_are_backstages_errors_naming_field_and_rule() {
        use crate::engine::parameters::ParameterSchema;
        let schema = ParameterSchema::new(Some(&json!({
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "ports": {"type": "array", "items": {"properties": {"number": {"type": "integer", "minimum": 1}}}},
            },
        })))
        .unwrap();
        let errors = schema
            .validate(&json!({"ports": [{"number": 5}, {"number": -7}]}))
            .unwrap_err();
        let reply = refused(&errors);
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        let body = reply.body.unwrap();
        let named: Vec<(Value, Value, Value)> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["path"].clone(), e["property"].clone(), e["name"].clone()))
            .collect();
        assert_eq!(
            named,
            [
                (json!(["name"]), json!("instance.name"), json!("required")),
                (
                    json!(["ports", 1, "number"]),
                    json!("instance.ports[1].number"),
                    json!("minimum")
                ),
            ],
            "{body}"
        );
        assert!(!body.to_string().contains("-7"), "{body}");
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
