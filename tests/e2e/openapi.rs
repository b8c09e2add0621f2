//! Backstage's own OpenAPI documents, from its pinned npm packages, and a
//! check that a response is what a document says.

use std::process::Command;

use serde_json::Value;

/// The OpenAPI document of `package` (`name@version`, its tarball's
/// SHA-256 `sha256`), as its generated router module (`module`, inside the
/// package) holds it (`spec`). Fetched with npm once and cached under
/// ~/.cache/goldpath/npm.
pub fn document(package: &str, sha256: &str, module: &str) -> Value {
    let cache = crate::npm::package(package, sha256, &[]);
    let module = cache.join("package").join(module);
    // The module needs Backstage's backend packages only to build a router
    // around the document; stand-ins let it load without them.
    let script = "const Module = require('module'); const load = Module._load;\
        Module._load = function (request) { if (request.startsWith('@backstage/')) \
        return new Proxy({}, { get: () => () => ({}) }); return load.apply(this, arguments); };\
        process.stdout.write(JSON.stringify(require(process.argv[1]).spec));";
    let printed = Command::new("node")
        .args(["-e", script])
        .arg(&module)
        .output()
        .unwrap_or_else(|e| panic!("node (needed to read {package}'s OpenAPI document): {e}"));
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    serde_json::from_slice(&printed.stdout).unwrap()
}

/// Fails the test when `body` is not the document's schema `name`
/// (`#/components/schemas/<name>`).
pub fn conforms_to(spec: &Value, name: &str, body: &Value) {
    let schema = serde_json::json!({
        "$ref": format!("#/components/schemas/{name}"),
        "components": spec["components"].clone(),
    });
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{body:#}");
}

/// Fails the test when `body` is not what the document `spec` says
/// `method` `path` answers with `status`.
pub fn conforms(spec: &Value, method: &str, path: &str, status: u16, body: &Value) {
    let responses = &spec["paths"][path][method]["responses"];
    assert!(responses.is_object(), "the document has no {method} {path}");
    let mut response = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
        .unwrap_or_else(|| panic!("{method} {path} does not answer {status} in the document"))
        .clone();
    if let Some(reference) = response["$ref"].as_str() {
        let pointer = reference.trim_start_matches('#');
        response = spec.pointer(pointer).unwrap().clone();
    }
    let Some(schema) = response.pointer("/content/application~1json/schema") else {
        assert!(
            body.is_null(),
            "{method} {path} {status} has no body in the document: {body}"
        );
        return;
    };
    let mut root = schema.clone();
    root["components"] = spec["components"].clone();
    let validator = jsonschema::validator_for(&root).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: {errors:#?}\n{body:#}"
    );
}
