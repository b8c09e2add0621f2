//! The API contract: the committed CRDs match the Rust types, the schemas are
//! structural and documented, every sample is accepted and every invalid
//! fixture is rejected by the schema (OpenAPI rules and CEL rules alike).

// Tests report failures by panicking.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use goldpath::api::{self, CatalogEntity, ScaffoldApproval, ScaffoldRequest, Template};
use serde::de::DeserializeOwned;
use serde_json::Value;

#[path = "support/npm.rs"]
mod npm;

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Every YAML document in the files of `dir`, with the file it came from.
fn documents_in(dir: &str) -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_path(dir))
        .unwrap_or_else(|e| panic!("reading {dir}: {e}"))
        .map(|entry| entry.map(|e| e.path()).unwrap_or_else(|e| panic!("{e}")))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{dir} holds no YAML files");
    files
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            serde_yaml_ng::Deserializer::from_str(&text)
                .map(|doc| {
                    let value = serde_yaml_ng::with::singleton_map_recursive::deserialize(doc)
                        .unwrap_or_else(|e| panic!("{name}: {e}"));
                    (name.clone(), value)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn schema_of(kind: &str) -> Value {
    let crd = api::crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD for kind {kind}"));
    let schema = crd.spec.versions[0]
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .unwrap_or_else(|| panic!("{kind} CRD has no schema"));
    serde_json::to_value(schema).unwrap_or_else(|e| panic!("{e}"))
}

/// What the API server would say about `object`, from its OpenAPI schema and
/// its CEL rules; empty when it would accept it.
fn schema_errors(object: &Value) -> Vec<String> {
    let kind = object["kind"].as_str().unwrap_or_default();
    let schema = schema_of(kind);
    let body = serde_json::json!({ "spec": object["spec"], "status": object.get("status") })
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<serde_json::Map<_, _>>()
        })
        .map(Value::Object)
        .unwrap_or_default();
    let validator = jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{kind} schema: {e}"));
    let mut errors: Vec<String> = validator
        .iter_errors(&body)
        .map(|e| {
            // Name the field as the API server does: `spec.templateRef`, not `spec`.
            let mut path = e
                .instance_path()
                .as_str()
                .trim_start_matches('/')
                .replace('/', ".");
            if let jsonschema::error::ValidationErrorKind::Required { property } = e.kind() {
                path = format!("{path}.{}", property.as_str().unwrap_or_default());
            }
            format!("{path}: {e}")
        })
        .collect();
    if let Err(cel) = kube_cel::Validator::new().validate(&schema, &body, None) {
        errors.extend(cel.into_vec().into_iter().map(|e| e.to_string()));
    }
    errors
}

fn round_trip<T: DeserializeOwned + serde::Serialize>(file: &str, object: &Value) {
    let typed: T = serde_json::from_value(object.clone()).unwrap_or_else(|e| panic!("{file}: {e}"));
    let back = serde_json::to_value(&typed).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_contains(file, "spec", &back["spec"], &object["spec"]);
}

/// Every value of `written` is in `typed` (which may add defaults).
fn assert_contains(file: &str, path: &str, typed: &Value, written: &Value) {
    match (typed, written) {
        (Value::Object(typed), Value::Object(written)) => {
            for (key, value) in written {
                let got = typed.get(key).unwrap_or(&Value::Null);
                assert_contains(file, &format!("{path}.{key}"), got, value);
            }
        }
        (Value::Array(typed), Value::Array(written)) if typed.len() == written.len() => {
            for (i, (t, w)) in typed.iter().zip(written).enumerate() {
                assert_contains(file, &format!("{path}[{i}]"), t, w);
            }
        }
        _ => pretty_assertions::assert_eq!(typed, written, "{file}: {path} did not survive the Rust types"),
    }
}

#[test]
fn committed_crds_match_the_types() {
    let generated = api::crds_yaml().unwrap_or_else(|e| panic!("{e}"));
    // The CRDs, and the copy the Helm chart installs.
    for file in ["crds/goldpath.yaml", "charts/goldpath/crds/goldpath.yaml"] {
        let committed = std::fs::read_to_string(repo_path(file)).unwrap_or_default();
        assert!(
            generated == committed,
            "{file} is out of date; regenerate it with `make crds`"
        );
    }
}

#[test]
fn crds_are_named_and_grouped_for_kubectl() {
    let crds = api::crds();
    let names: Vec<(&str, &str, Option<&Vec<String>>)> = crds
        .iter()
        .map(|crd| {
            (
                crd.spec.names.kind.as_str(),
                crd.spec.scope.as_str(),
                crd.spec.names.short_names.as_ref(),
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            ("Template", "Namespaced", Some(&vec!["tmpl".to_string()])),
            ("ScaffoldRequest", "Namespaced", Some(&vec!["sr".to_string()])),
            ("CatalogEntity", "Namespaced", Some(&vec!["ce".to_string()])),
            ("ScaffoldApproval", "Namespaced", Some(&vec!["sap".to_string()])),
        ]
    );
    for crd in &crds {
        assert_eq!(crd.spec.group, api::GROUP);
        assert_eq!(crd.spec.names.categories, Some(vec!["goldpath".to_string()]));
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        // An approval is a record of a decision, written once by its
        // approver; nothing reports back on it.
        let has_status = version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some();
        assert_eq!(
            has_status,
            crd.spec.names.kind != "ScaffoldApproval",
            "{} status subresource",
            crd.spec.names.kind
        );
        let columns: Vec<&str> = version
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.as_str())
            .collect();
        let expected: &[&str] = match crd.spec.names.kind.as_str() {
            "Template" => &["Title", "Ready", "Revision", "Age"],
            "ScaffoldRequest" => &["Template", "Phase", "Repository", "Age"],
            "ScaffoldApproval" => &["Request", "Step", "Decision", "Approver", "Age"],
            _ => &["Kind", "Owner", "Health", "Age"],
        };
        assert_eq!(columns, expected, "{} printer columns", crd.spec.names.kind);
    }
}

/// Walks every property of a schema, calling `check` with its dotted path.
fn each_property(path: &str, schema: &Value, check: &mut dyn FnMut(&str, &Value)) {
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let path = format!("{path}.{name}");
            check(&path, property);
            each_property(&path, property, check);
        }
    }
    for nested in ["items", "additionalProperties"] {
        if let Some(inner) = schema.get(nested).filter(|v| v.is_object()) {
            each_property(&format!("{path}[]"), inner, check);
        }
    }
}

#[test]
fn every_property_is_documented_and_typed_or_deliberately_free_form() {
    let free_form = [
        "Template.spec.parameters",
        "Template.spec.steps[].input",
        "Template.spec.steps[].if",
        "Template.spec.steps[].each",
        "Template.spec.output",
        "Template.spec.output.links[].if",
        "Template.spec.output.text[].if",
        "Template.spec.secrets",
        "Template.spec.presentation",
        "Template.spec.EXPERIMENTAL_recovery",
        "Template.spec.steps[].backstage:permissions",
        "ScaffoldRequest.status.output.text[].if",
        "ScaffoldRequest.spec.parameters",
        "ScaffoldRequest.status.appliedParameters",
        "ScaffoldRequest.status.upgrades[].parameters",
        "ScaffoldRequest.status.steps[].output",
        "ScaffoldRequest.status.output.links[].if",
        "CatalogEntity.spec",
    ];
    let mut seen_free_form = Vec::new();
    for kind in ["Template", "ScaffoldRequest", "CatalogEntity", "ScaffoldApproval"] {
        each_property(kind, &schema_of(kind), &mut |path, property| {
            let description = property
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default();
            assert!(!description.trim().is_empty(), "{path} has no description");
            let preserves = property.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if preserves {
                assert!(
                    free_form.contains(&path),
                    "{path} keeps unknown fields but is not meant to be free-form"
                );
                seen_free_form.push(path.to_string());
            } else {
                assert!(
                    property.get("type").and_then(Value::as_str).is_some(),
                    "{path} has no type"
                );
            }
        });
    }
    seen_free_form.sort();
    let mut expected: Vec<String> = free_form.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(seen_free_form, expected, "free-form fields");
}

#[test]
fn every_sample_parses_into_the_types_and_passes_the_schema() {
    let samples = documents_in("config/samples");
    let mut kinds: Vec<String> = Vec::new();
    for (file, object) in &samples {
        assert_eq!(object["apiVersion"], "goldpath.dev/v1alpha1", "{file}");
        match object["kind"].as_str() {
            Some("Template") => round_trip::<Template>(file, object),
            Some("ScaffoldRequest") => round_trip::<ScaffoldRequest>(file, object),
            Some("ScaffoldApproval") => round_trip::<ScaffoldApproval>(file, object),
            Some("CatalogEntity") => {
                round_trip::<CatalogEntity>(file, object);
                kinds.push(object["spec"]["kind"].as_str().unwrap_or_default().to_string());
            }
            other => panic!("{file}: unexpected kind {other:?}"),
        }
        let errors = schema_errors(object);
        assert!(
            errors.is_empty(),
            "{file} ({}) is rejected: {errors:#?}",
            object["metadata"]["name"]
        );
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "API",
            "Component",
            "Domain",
            "Group",
            "Resource",
            "System",
            "User"
        ]
    );
}

#[test]
fn invalid_fixtures_are_rejected_naming_what_is_wrong() {
    let fixtures = documents_in("tests/fixtures/invalid");
    assert!(fixtures.len() >= 5);
    for dir_entry in std::fs::read_dir(repo_path("tests/fixtures/invalid"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(dir_entry.path()).unwrap_or_default();
        let expected = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# rejects: "))
            .unwrap_or_else(|| {
                panic!(
                    "{}: first line must be `# rejects: <what the error names>`",
                    dir_entry.path().display()
                )
            });
        let object: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        let errors = schema_errors(&object);
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{}: expected an error naming {expected:?}, got {errors:#?}",
            dir_entry.path().display()
        );
    }
}

#[test]
fn repeated_step_ids_pass_the_schema_as_in_backstage() {
    let template = serde_json::json!({
        "kind": "Template",
        "spec": { "type": "service", "steps": [
            { "action": "debug:log" }, { "action": "debug:log" },
            { "id": "a", "action": "debug:log" }, { "id": "a", "action": "debug:log" }
        ]}
    });
    assert_eq!(schema_errors(&template), Vec::<String>::new());
}

#[test]
fn entity_kinds_that_need_an_owner_are_exactly_backstages() {
    for (kind, needs_owner) in [
        ("Component", true),
        ("API", true),
        ("Resource", true),
        ("System", true),
        ("Domain", true),
        ("Group", false),
        ("User", false),
    ] {
        let entity = serde_json::json!({
            "kind": "CatalogEntity",
            "spec": { "kind": kind, "type": "t", "lifecycle": "production", "definition": "openapi: 3.0.0" }
        });
        let errors = schema_errors(&entity);
        let rejected = errors.iter().any(|e| e.contains("spec.owner is required"));
        assert_eq!(rejected, needs_owner, "{kind}: {errors:?}");
    }
}

/// Backstage's Template.v1beta3 JSON Schema, as the pinned npm package that
/// ships it has it; fetched with npm once and cached under ~/.cache/goldpath.
fn backstage_template_schema() -> Value {
    const PACKAGE: &str = "@backstage/plugin-scaffolder-common@2.4.0";
    const SHA256: &str = "7735f5258dc1d5b17b10ee8e5f0f749a5f1dcc8059d26482abe9ab6350f707e8";
    let cache = npm::package(PACKAGE, SHA256, &[]);
    let module = cache.join("package/dist/Template.v1beta3.schema.json.cjs.js");
    let printed = Command::new("node")
        .arg("-e")
        .arg("const m = require(process.argv[1]); process.stdout.write(JSON.stringify(m.default || m))")
        .arg(&module)
        .output()
        .unwrap_or_else(|e| panic!("node (needed to read {PACKAGE}'s schema): {e}"));
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    serde_json::from_slice(&printed.stdout).unwrap()
}

/// Where `backstage` (a JSON Schema) names a property that `crd` (the
/// Template CRD's schema at the same place) would prune.
fn pruned_fields(backstage: &Value, crd: &Value, path: &str, pruned: &mut Vec<String>) {
    if crd["x-kubernetes-preserve-unknown-fields"] == true {
        return;
    }
    if let Some(properties) = backstage["properties"].as_object() {
        for (name, schema) in properties {
            let field = format!("{path}.{name}");
            match crd["properties"].get(name) {
                Some(kept) => pruned_fields(schema, kept, &field, pruned),
                None => pruned.push(field),
            }
        }
    }
    if backstage["items"].is_object() {
        pruned_fields(&backstage["items"], &crd["items"], &format!("{path}[]"), pruned);
    }
    for keyword in ["oneOf", "anyOf", "allOf"] {
        for branch in backstage[keyword].as_array().into_iter().flatten() {
            pruned_fields(branch, crd, path, pruned);
        }
    }
    if backstage["additionalProperties"].is_object() {
        pruned.push(format!("{path}: any other key"));
    }
}

#[test]
fn every_field_of_backstages_template_schema_has_a_place_in_the_template_crd() {
    let backstage = backstage_template_schema();
    let template_part = backstage["allOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|part| part["properties"]["spec"].is_object())
        .unwrap();
    let spec = &template_part["properties"]["spec"];
    assert!(
        spec["properties"]["steps"].is_object(),
        "not the schema expected: {spec}"
    );
    let mut pruned = Vec::new();
    pruned_fields(
        spec,
        &schema_of("Template")["properties"]["spec"],
        "spec",
        &mut pruned,
    );
    assert_eq!(
        pruned,
        Vec::<String>::new(),
        "fields of Template.v1beta3 the CRD would prune"
    );
}

#[test]
fn a_backstage_template_using_every_field_survives_import_and_export() {
    let text =
        std::fs::read_to_string(repo_path("tests/fixtures/backstage-template-every-field.yaml")).unwrap();
    let original: Value = serde_yaml_ng::from_str(&text).unwrap();
    // The fixture is a valid Backstage template, by Backstage's own schema
    // (its Entity part aside, which is the catalog's).
    let backstage = backstage_template_schema();
    let template_part = backstage["allOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|part| part["properties"]["spec"].is_object())
        .unwrap()
        .clone();
    let validator = jsonschema::draft7::new(&template_part).unwrap();
    let errors: Vec<String> = validator.iter_errors(&original).map(|e| e.to_string()).collect();
    assert_eq!(errors, Vec::<String>::new());

    let template = Template::from_backstage(original.clone()).unwrap();
    let as_resource = serde_json::to_value(&template).unwrap();
    assert_eq!(schema_errors(&as_resource), Vec::<String>::new());
    assert_eq!(template.to_backstage().unwrap(), original);
}
