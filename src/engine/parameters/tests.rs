use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use super::*;

pub(super) fn schema(parameters: Value) -> ParameterSchema {
    match ParameterSchema::new(Some(&parameters)) {
        Ok(schema) => schema,
        Err(error) => panic!("schema should compile: {error}"),
    }
}

fn schema_error(parameters: Value) -> String {
    match ParameterSchema::new(Some(&parameters)) {
        Ok(_) => panic!("schema should not compile"),
        Err(error) => error.to_string(),
    }
}

pub(super) fn valid(schema: &ParameterSchema, values: Value) -> Value {
    match schema.validate(&values) {
        Ok(values) => values,
        Err(errors) => panic!("values should be valid: {errors:?}"),
    }
}

pub(super) fn invalid(schema: &ParameterSchema, values: Value) -> Vec<(String, String, String)> {
    match schema.validate(&values) {
        Ok(values) => panic!("values should be invalid: {values}"),
        Err(errors) => errors
            .into_iter()
            .map(|error| (error.field, error.rule, error.message))
            .collect(),
    }
}

pub(super) fn expected(errors: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    errors
        .iter()
        .map(|(field, rule, message)| ((*field).to_owned(), (*rule).to_owned(), (*message).to_owned()))
        .collect()
}

/// The Spring Boot template of the seed document, with the database
/// default a real template would carry.
fn spring_boot() -> Value {
    json!([
        {
            "title": "Service Information",
            "required": ["name", "owner"],
            "properties": {
                "name": {
                    "title": "Service Name",
                    "type": "string",
                    "description": "Unique name for your service"
                },
                "owner": {
                    "title": "Owner",
                    "type": "string",
                    "description": "Team responsible for this service",
                    "ui:field": "OwnerPicker"
                }
            }
        },
        {
            "title": "Database",
            "properties": {
                "database": {
                    "title": "Database Type",
                    "type": "string",
                    "enum": ["postgresql", "mysql", "mongodb", "none"],
                    "default": "postgresql"
                }
            }
        }
    ])
}

/// Backstage's classic conditional field: choosing PostgreSQL adds a
/// required size, with a default.
pub(super) fn database_dependencies(size_default: Option<&str>) -> Value {
    let mut size = json!({"type": "string", "enum": ["small", "large"]});
    if let (Some(default), Some(size)) = (size_default, size.as_object_mut()) {
        size.insert("default".into(), json!(default));
    }
    json!({
        "title": "Database",
        "properties": {
            "database": {
                "type": "string",
                "enum": ["postgresql", "mysql", "none"],
                "default": "none",
                "ui:widget": "radio"
            }
        },
        "dependencies": {
            "database": {
                "oneOf": [
                    {
                        "properties": {
                            "database": {"enum": ["postgresql"]},
                            "dbSize": size
                        },
                        "required": ["dbSize"]
                    },
                    {
                        "properties": {"database": {"enum": ["mysql", "none"]}}
                    }
                ]
            }
        }
    })
}

#[test]
fn no_schema_accepts_any_object() {
    let schema = match ParameterSchema::new(None) {
        Ok(schema) => schema,
        Err(error) => panic!("{error}"),
    };
    assert_eq!(valid(&schema, json!({"a": 1})), json!({"a": 1}));
    assert_eq!(valid(&schema, Value::Null), json!({}));
    for empty in [json!([]), json!({}), Value::Null] {
        let schema = self::schema(empty);
        assert_eq!(valid(&schema, json!({"x": [1]})), json!({"x": [1]}));
    }
}

#[test]
fn a_type_json_schema_does_not_define_accepts_any_value_and_is_reported() {
    let schema = schema(json!([
        {"title": "Basics", "properties": {"name": {"type": "string"}}},
        {"properties": {
            "vars": {"type": "map(any)"},
            "list": {"type": "array", "items": {"type": ["string", "list(string)"]}},
            "type": {"type": "string"}
        }}
    ]));
    for value in [json!({"a": 1}), json!("text"), json!(3), json!([1])] {
        let values = json!({"vars": value, "list": [1, "x", {"y": true}], "type": "t"});
        assert_eq!(valid(&schema, values.clone()), values);
    }
    assert_eq!(
        invalid(&schema, json!({"type": 3})),
        expected(&[("type", "type", "must be a string")])
    );
    let warnings: Vec<String> = schema.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "parameters page 2: properties.vars.type: names a type JSON Schema does not define; as in \
             Backstage, the field accepts any value",
            "parameters page 2: properties.list.items.type: names a type JSON Schema does not define; \
             as in Backstage, the field accepts any value",
        ]
    );
    assert!(
        self::schema(json!({"properties": {"n": {"type": "integer"}}}))
            .warnings()
            .is_empty()
    );
}

#[test]
fn values_must_be_an_object() {
    let schema = schema(json!({}));
    for values in [json!([]), json!("name"), json!(3)] {
        assert_eq!(
            invalid(&schema, values),
            expected(&[("", "type", "must be an object")])
        );
    }
}

#[test]
fn single_object_schema() {
    let schema = schema(json!({
        "required": ["name"],
        "properties": {"name": {"type": "string", "pattern": "^[a-z]+$"}}
    }));
    assert_eq!(valid(&schema, json!({"name": "svc"})), json!({"name": "svc"}));
    assert_eq!(
        invalid(&schema, json!({})),
        expected(&[("name", "required", "is required")])
    );
    assert_eq!(
        invalid(&schema, json!({"name": "Svc"})),
        expected(&[("name", "pattern", "must match the pattern ^[a-z]+$")])
    );
}

#[test]
fn spring_boot_pages() {
    let schema = schema(spring_boot());
    assert_eq!(
        valid(&schema, json!({"name": "orders", "owner": "group:team-a"})),
        json!({"name": "orders", "owner": "group:team-a", "database": "postgresql"})
    );
    assert_eq!(
        valid(
            &schema,
            json!({"name": "orders", "owner": "team-a", "database": "none"})
        ),
        json!({"name": "orders", "owner": "team-a", "database": "none"})
    );
    // Every page is checked, and every problem reported, sorted by field.
    assert_eq!(
        invalid(&schema, json!({"database": "oracle"})),
        expected(&[
            (
                "database",
                "enum",
                "must be one of: postgresql, mysql, mongodb, none"
            ),
            ("name", "required", "is required"),
            ("owner", "required", "is required"),
        ])
    );
    assert_eq!(
        invalid(&schema, json!({"name": 7, "owner": "team-a"})),
        expected(&[("name", "type", "must be a string")])
    );
}

#[test]
fn each_page_is_validated_against_all_values() {
    // A later page may constrain a field shown on an earlier one, as
    // Backstage validates every page against the merged values.
    let schema = schema(json!([
        {"title": "One", "properties": {"name": {"type": "string"}}},
        {"title": "Two", "required": ["name"], "properties": {"name": {"maxLength": 3}}}
    ]));
    assert_eq!(
        invalid(&schema, json!({})),
        expected(&[("name", "required", "is required")])
    );
    assert_eq!(
        invalid(&schema, json!({"name": "toolong"})),
        expected(&[("name", "maxLength", "must be at most 3 characters long")])
    );
}

#[test]
fn repeated_rules_across_pages_are_reported_once() {
    let page = json!({"required": ["name"], "properties": {"name": {"type": "string"}}});
    let schema = schema(json!([page.clone(), page]));
    assert_eq!(
        invalid(&schema, json!({})),
        expected(&[("name", "required", "is required")])
    );
}

#[test]
fn every_keyword_reports_its_field_and_rule() {
    let schema = schema(json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "name": {"type": "string", "minLength": 3, "maxLength": 5},
            "short": {"type": "string", "maxLength": 1},
            "one": {"type": "string", "minLength": 1},
            "tier": {"const": "gold"},
            "count": {"type": "integer", "minimum": 1, "maximum": 10},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "step": {"type": "number", "multipleOf": 5},
            "tags": {"type": "array", "minItems": 2, "maxItems": 3, "uniqueItems": true},
            "labels": {"type": "object", "minProperties": 1},
            "nullable": {"type": ["string", "null"]},
            "flag": {"type": "boolean"},
            "size": {"enum": [1, 2, "many"]}
        }
    }));
    assert_eq!(
        valid(
            &schema,
            json!({"name": "abc", "count": 10, "ratio": 0.5, "tags": ["a", "b"], "nullable": null})
        ),
        json!({"name": "abc", "count": 10, "ratio": 0.5, "tags": ["a", "b"], "nullable": null})
    );
    assert_eq!(
        invalid(
            &schema,
            json!({
                "name": "ab",
                "short": "ab",
                "one": "",
                "tier": "silver",
                "count": 11,
                "ratio": 1,
                "step": 7,
                "tags": ["a", "a"],
                "labels": {},
                "nullable": 3,
                "flag": "yes",
                "size": 3,
                "extra": true
            })
        ),
        expected(&[
            ("count", "maximum", "must be at most 10"),
            ("extra", "additionalProperties", "is not allowed"),
            ("flag", "type", "must be a boolean"),
            ("labels", "minProperties", "must have at least 1 property"),
            ("name", "minLength", "must be at least 3 characters long"),
            ("nullable", "type", "must be a string or null"),
            ("one", "minLength", "must be at least 1 character long"),
            ("ratio", "exclusiveMaximum", "must be less than 1"),
            ("short", "maxLength", "must be at most 1 character long"),
            ("size", "enum", "must be one of: 1, 2, many"),
            ("step", "multipleOf", "must be a multiple of 5"),
            ("tags", "uniqueItems", "must not contain duplicate items"),
            ("tier", "const", "must be: gold"),
        ])
    );
    assert_eq!(
        invalid(
            &schema,
            json!({"count": 0, "ratio": 0, "tags": ["a", "b", "c", "d"]})
        ),
        expected(&[
            ("count", "minimum", "must be at least 1"),
            ("ratio", "exclusiveMinimum", "must be greater than 0"),
            ("tags", "maxItems", "must have at most 3 items"),
        ])
    );
    assert_eq!(
        invalid(&schema, json!({"tags": ["a"]})),
        expected(&[("tags", "minItems", "must have at least 2 items")])
    );
}

#[test]
fn formats_are_validated() {
    let schema = schema(json!({
        "properties": {
            "email": {"type": "string", "format": "email"},
            "homepage": {"type": "string", "format": "uri"},
            "launch": {"type": "string", "format": "date"},
            "at": {"type": "string", "format": "date-time"},
            "custom": {"type": "string", "format": "team-name"}
        }
    }));
    assert_eq!(
        valid(
            &schema,
            json!({
                "email": "dev@example.com",
                "homepage": "https://example.com/docs",
                "launch": "2024-01-31",
                "at": "2024-01-31T09:00:00Z",
                "custom": "anything"
            })
        )["email"],
        json!("dev@example.com")
    );
    assert_eq!(
        invalid(
            &schema,
            json!({
                "email": "not-an-email",
                "homepage": "example dot com",
                "launch": "2024-13-01",
                "at": "yesterday"
            })
        ),
        expected(&[
            (
                "at",
                "format",
                "must be a valid date-time (e.g. 2024-01-31T09:00:00Z)"
            ),
            ("email", "format", "must be a valid email"),
            ("homepage", "format", "must be a valid URI"),
            ("launch", "format", "must be a valid date (YYYY-MM-DD)"),
        ])
    );
}

#[test]
fn dependencies_with_one_of() {
    let schema = schema(database_dependencies(None));
    assert_eq!(valid(&schema, json!({})), json!({"database": "none"}));
    assert_eq!(
        valid(&schema, json!({"database": "mysql"})),
        json!({"database": "mysql"})
    );
    assert_eq!(
        valid(&schema, json!({"database": "postgresql", "dbSize": "large"})),
        json!({"database": "postgresql", "dbSize": "large"})
    );
    assert_eq!(
        invalid(&schema, json!({"database": "postgresql"})),
        expected(&[("dbSize", "required", "is required for the chosen database")])
    );
    assert_eq!(
        invalid(&schema, json!({"database": "postgresql", "dbSize": "huge"})),
        expected(&[(
            "dbSize",
            "enum",
            "must be one of: small, large (for the chosen database)"
        )])
    );
    assert_eq!(
        invalid(&schema, json!({"database": "oracle"})),
        expected(&[
            (
                "",
                "oneOf",
                "must match exactly one of the allowed options; option 1: database must be one of: postgresql, dbSize is required; option 2: database must be one of: mysql, none"
            ),
            ("database", "enum", "must be one of: postgresql, mysql, none"),
        ])
    );
}

#[test]
fn property_dependencies() {
    let schema = schema(json!({
        "properties": {"billing": {"type": "boolean"}, "costCenter": {"type": "string"}},
        "dependencies": {"billing": ["costCenter"]}
    }));
    assert_eq!(valid(&schema, json!({})), json!({}));
    assert_eq!(
        invalid(&schema, json!({"billing": true})),
        expected(&[("costCenter", "required", "is required when billing is set")])
    );
}

#[test]
fn all_of_if_then_else() {
    let schema = schema(json!({
        "properties": {"kind": {"type": "string", "enum": ["service", "job"]}},
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": "service"}}, "required": ["kind"]},
                "then": {
                    "properties": {
                        "port": {"type": "integer", "maximum": 65535},
                        "replicas": {"type": "integer", "default": 2}
                    },
                    "required": ["port"]
                },
                "else": {"properties": {"schedule": {"type": "string", "default": "@daily"}}}
            }
        ]
    }));
    assert_eq!(
        valid(&schema, json!({"kind": "service", "port": 80})),
        json!({"kind": "service", "port": 80, "replicas": 2})
    );
    assert_eq!(
        valid(&schema, json!({"kind": "job"})),
        json!({"kind": "job", "schedule": "@daily"})
    );
    assert_eq!(
        invalid(&schema, json!({"kind": "service"})),
        expected(&[("port", "required", "is required")])
    );
    assert_eq!(
        invalid(&schema, json!({"kind": "service", "port": 70000})),
        expected(&[("port", "maximum", "must be at most 65535")])
    );
}

#[test]
fn plain_one_of_and_any_of() {
    let schema = schema(json!({
        "properties": {
            "source": {
                "type": "object",
                "oneOf": [
                    {
                        "properties": {"type": {"const": "git"}, "url": {"format": "uri"}},
                        "required": ["type", "url"]
                    },
                    {
                        "properties": {"type": {"const": "inline"}, "files": {"type": "object"}},
                        "required": ["type", "files"]
                    }
                ]
            },
            "contact": {
                "anyOf": [{"required": ["email"]}, {"required": ["slack"]}]
            }
        }
    }));
    assert_eq!(
        valid(
            &schema,
            json!({"source": {"type": "git", "url": "https://x.io/r"}})
        )["source"]["type"],
        json!("git")
    );
    // The chosen branch is clear from `type`: report what it needs.
    assert_eq!(
        invalid(&schema, json!({"source": {"type": "inline"}})),
        expected(&[("source.files", "required", "is required")])
    );
    // Unclear: say what each option needs.
    assert_eq!(
        invalid(&schema, json!({"source": {}, "contact": {}})),
        expected(&[
            (
                "contact",
                "anyOf",
                "must match at least one of the allowed options; option 1: email is required; option 2: slack is required"
            ),
            (
                "source",
                "oneOf",
                "must match exactly one of the allowed options; option 1: type is required, url is required; option 2: files is required, type is required"
            ),
        ])
    );
}

#[test]
fn ui_keys_are_ignored() {
    let schema = schema(json!({
        "title": "Details",
        "ui:order": ["name", "*"],
        "properties": {
            "name": {
                "type": "string",
                "ui:autofocus": true,
                "ui:help": "lowercase",
                "ui:options": {"rows": "five", "type": 42, "required": "yes"}
            },
            "password": {
                "type": "string",
                "ui:widget": "password",
                "ui:field": {"not": "a schema"}
            },
            "hosts": {
                "type": "array",
                "items": {"type": "string", "ui:options": {"enum": 1}}
            }
        },
        "dependencies": {
            "name": {"oneOf": [{"properties": {"name": {"ui:widget": 5}}}]}
        }
    }));
    assert_eq!(
        valid(&schema, json!({"name": "svc", "hosts": ["a"]})),
        json!({"name": "svc", "hosts": ["a"]})
    );
    assert_eq!(
        invalid(&schema, json!({"name": 1})),
        expected(&[("name", "type", "must be a string")])
    );
    // The validators were built from a page without them.
    let compiled = schema.pages[0].schema.to_string();
    assert!(!compiled.contains("\"ui:"), "{compiled}");
    assert!(compiled.contains("\"dependencies\""), "{compiled}");
}

#[test]
fn ui_like_keys_in_data_are_kept() {
    let schema = schema(json!({
        "properties": {
            "opts": {"type": "object", "default": {"ui:theme": "dark"}, "required": ["ui:theme"]}
        }
    }));
    assert_eq!(valid(&schema, json!({})), json!({"opts": {"ui:theme": "dark"}}));
}

#[test]
fn array_item_errors_name_the_item() {
    let schema = schema(json!({
        "properties": {
            "ports": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["number"],
                    "properties": {"number": {"type": "integer", "minimum": 1, "maximum": 65535}}
                }
            }
        }
    }));
    assert_eq!(
        invalid(
            &schema,
            json!({"ports": [{"number": 80}, {"number": 0}, {}, {"number": "http"}]})
        ),
        expected(&[
            ("ports[1].number", "minimum", "must be at least 1"),
            ("ports[2].number", "required", "is required"),
            ("ports[3].number", "type", "must be an integer"),
        ])
    );
}

#[test]
fn odd_keys_are_quoted_in_fields() {
    let schema = schema(json!({
        "properties": {"app.kubernetes.io/name": {"type": "string"}, "0": {"type": "string"}}
    }));
    let errors = match schema.validate(&json!({"app.kubernetes.io/name": 1, "0": 1})) {
        Ok(values) => panic!("should be invalid: {values}"),
        Err(errors) => errors,
    };
    assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "parameters.0: must be a string",
            "parameters[\"app.kubernetes.io/name\"]: must be a string",
        ]
    );
}

#[test]
fn submitted_values_are_never_echoed() {
    let schema = schema(json!({
        "properties": {
            "password": {"type": "string", "ui:widget": "password", "pattern": "^[0-9]+$", "minLength": 20},
            "token": {"enum": ["a", "b"], "ui:field": "Secret"},
            "key": {"format": "email"}
        }
    }));
    let secret = "hunter2-secret";
    let errors = match schema.validate(&json!({"password": secret, "token": secret, "key": secret})) {
        Ok(values) => panic!("should be invalid: {values}"),
        Err(errors) => errors,
    };
    assert_eq!(errors.len(), 4);
    for error in errors {
        assert!(!error.to_string().contains(secret), "{error}");
    }
}

#[test]
fn error_display() {
    assert_eq!(
        ParameterError::new("name", "required", "is required").to_string(),
        "parameters.name: is required"
    );
    assert_eq!(
        ParameterError::new("", "type", "must be an object").to_string(),
        "parameters: must be an object"
    );
    assert_eq!(
        ParameterError::new("ports[1].number", "minimum", "must be at least 1").to_string(),
        "parameters.ports[1].number: must be at least 1"
    );
}

#[test]
fn invalid_schemas_name_the_page() {
    let mut pages = spring_boot();
    pages[1]["properties"]["database"]["enum"] = json!("postgresql");
    assert_eq!(
        schema_error(pages),
        "parameters page 2 (Database): properties.database.enum: must be an array"
    );
    assert_eq!(
        schema_error(json!([{"properties": {"name": {"type": "string", "pattern": "^([a-z"}}}])),
        "parameters page 1: properties.name.pattern: is not a valid regular expression"
    );
    assert_eq!(
        schema_error(json!({"title": "Only", "required": "name"})),
        "parameters (Only): required: must be an array"
    );
    assert_eq!(
        schema_error(json!({"allOf": [{"minLength": -1}]})),
        "parameters: allOf[0].minLength: must be at least 0"
    );
    assert_eq!(
        schema_error(json!([{"title": "A"}, "oops"])),
        "parameters page 2: must be a JSON Schema object"
    );
    assert_eq!(
        schema_error(json!("name")),
        "parameters: must be a JSON Schema object or a list of page objects"
    );
    assert_eq!(
        schema_error(json!({"properties": {"x": {"$ref": "https://example.com/s.json"}}})),
        "parameters: has a $ref that cannot be resolved; only references within the same page (#/...) are supported"
    );
}

#[test]
fn schema_error_fields() {
    let error = match ParameterSchema::new(Some(&json!([
        {"title": "Service Information"},
        {"title": "Database", "properties": {"database": {"enum": "x"}}}
    ]))) {
        Ok(_) => panic!("schema should not compile"),
        Err(error) => error,
    };
    assert_eq!(
        error,
        SchemaError {
            page: Some(2),
            title: Some("Database".into()),
            path: "properties.database.enum".into(),
            message: "must be an array".into(),
        }
    );
}

#[test]
fn self_referencing_schema_does_not_loop() {
    let schema = schema(json!({
        "properties": {"child": {"$ref": "#"}, "name": {"default": "x"}},
        "allOf": [{"$ref": "#"}]
    }));
    assert_eq!(
        valid(&schema, json!({"child": {}})),
        json!({"child": {"name": "x"}, "name": "x"})
    );
}

#[test]
fn compiled_schema_can_be_shared_across_tasks() {
    fn shared<T: Send + Sync>() {}
    shared::<ParameterSchema>();
}
