//! The portal API's catalog routes against the real API server, each
//! response checked against Backstage's own catalog OpenAPI document, taken
//! from the pinned `@backstage/plugin-catalog-backend` npm package.

use serde_json::{Value, json};

use crate::harness::Namespace;
use crate::openapi::conforms;
use crate::portal::{Portal, grant_read, seed, service_account_token};

/// The package whose OpenAPI document the responses are checked against.
const PACKAGE: &str = "@backstage/plugin-catalog-backend@4.0.5";
/// The SHA-256 of its tarball.
const SHA256: &str = "6fd84e22cc82b42100a0191a80e2ab68f64f279ef196903bd9e1e61fc67d8635";

/// Backstage's catalog OpenAPI document, as the pinned package ships it.
fn catalog_openapi() -> Value {
    crate::openapi::document(PACKAGE, SHA256, "dist/schema/openapi/generated/router.cjs.js")
}

#[test]
fn the_catalog_routes_answer_as_backstages_openapi_document_says() {
    let spec = catalog_openapi();
    let ns = Namespace::new("portal-catalog");
    let n = ns.name.as_str();
    let portal = Portal::start(&ns, "", &[]);
    let reader = service_account_token(n, "reader");
    grant_read(n, &format!("--serviceaccount={n}:reader"), "reader");
    let stranger = service_account_token(n, "stranger");
    seed(&portal, n, &reader);
    let get = |path: &str, token: &str| {
        let (status, body) = portal.get(&format!("/api/catalog{path}"), token);
        (status, body)
    };
    let ours = format!("filter=metadata.namespace={n}");

    // GET /entities: filter, fields, order, offset and limit.
    let (status, body) = get(
        &format!("/entities?{ours},kind=component&order=desc:metadata.name"),
        &reader,
    );
    assert_eq!(status, 200, "{body}");
    conforms(&spec, "get", "/entities", status, &body);
    let names: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "api"]);
    let (_, body) = get(
        &format!("/entities?{ours}&fields=kind,metadata.name&order=asc:metadata.name&offset=1&limit=2"),
        &reader,
    );
    assert_eq!(
        body,
        json!([{"kind": "Resource", "metadata": {"name": "api-db"}}, {"kind": "Template", "metadata": {"name": "service"}}])
    );
    let (_, body) = get(&format!("/entities?{ours},kind=template"), &reader);
    assert_eq!(body[0]["apiVersion"], "scaffolder.backstage.io/v1beta3", "{body}");
    assert_eq!(body[0]["metadata"]["namespace"], n);

    // A caller without rights sees nothing, and is told nothing of it.
    let (status, body) = get(&format!("/entities?{ours}"), &stranger);
    assert_eq!((status, body), (200, json!([])));

    // by-query: cursor paging over the same query, the total, full text.
    // (The document's Entity requires kind and apiVersion, so the fields
    // selected keep them where a response is checked against it.)
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, first) = get(
        &format!(
            "/entities/by-query?{ours}&orderField=metadata.name,asc&limit=2&fields=kind,apiVersion,metadata.name"
        ),
        &reader,
    );
    assert_eq!(status, 200, "{first}");
    conforms(&spec, "get", "/entities/by-query", status, &first);
    assert_eq!(first["totalItems"], 5);
    assert_eq!(names(&first), ["api", "api-db"]);
    assert_eq!(
        first["items"][0],
        json!({"kind": "Component", "apiVersion": "backstage.io/v1alpha1", "metadata": {"name": "api"}})
    );
    let next = first["pageInfo"]["nextCursor"].as_str().unwrap();
    let (_, second) = get(&format!("/entities/by-query?cursor={next}&limit=2"), &reader);
    conforms(&spec, "get", "/entities/by-query", 200, &second);
    assert_eq!(names(&second), ["service", "team-a"]);
    assert!(second["pageInfo"]["prevCursor"].is_string());
    let (_, found) = get(
        &format!("/entities/by-query?{ours}&fullTextFilterTerm=DB&fullTextFilterFields=metadata.name"),
        &reader,
    );
    assert_eq!(found["totalItems"], 1, "{found}");
    let (status, bad) = get("/entities/by-query?cursor=garbage", &reader);
    assert_eq!(status, 400, "{bad}");
    conforms(&spec, "get", "/entities/by-query", status, &bad);

    // by-name, with relations, and its ancestry.
    let (status, web) = get(&format!("/entities/by-name/component/{n}/web"), &reader);
    conforms(
        &spec,
        "get",
        "/entities/by-name/{kind}/{namespace}/{name}",
        status,
        &web,
    );
    assert_eq!(web["metadata"]["tags"], json!(["java", "web"]));
    let (status, missing) = get(&format!("/entities/by-name/component/{n}/nothing"), &reader);
    assert_eq!(status, 404);
    conforms(
        &spec,
        "get",
        "/entities/by-name/{kind}/{namespace}/{name}",
        status,
        &missing,
    );
    let (status, ancestry) = get(&format!("/entities/by-name/component/{n}/web/ancestry"), &reader);
    conforms(
        &spec,
        "get",
        "/entities/by-name/{kind}/{namespace}/{name}/ancestry",
        status,
        &ancestry,
    );
    assert_eq!(ancestry["rootEntityRef"], format!("component:{n}/web"));

    // by-uid.
    let uid = web["metadata"]["uid"].as_str().unwrap();
    let (status, by_uid) = get(&format!("/entities/by-uid/{uid}"), &reader);
    conforms(&spec, "get", "/entities/by-uid/{uid}", status, &by_uid);
    assert_eq!(by_uid["metadata"]["name"], "web");

    // by-refs: in order, null for what is not there.
    let bearer = format!("Bearer {reader}");
    let refs = json!({"entityRefs": [format!("component:{n}/web"), format!("component:{n}/nothing"), format!("template:{n}/service")], "fields": ["kind", "apiVersion", "metadata.name"]});
    let (status, body) = portal.call(
        "POST",
        "/api/catalog/entities/by-refs",
        &[("Authorization", &bearer)],
        Some(&refs),
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    conforms(&spec, "post", "/entities/by-refs", status, &body);
    assert_eq!(body["items"][0]["metadata"], json!({"name": "web"}));
    assert!(body["items"][1].is_null());
    assert_eq!(body["items"][2]["kind"], "Template");

    // Facets.
    let (status, facets) = get(
        &format!("/entity-facets?facet=kind&facet=metadata.tags&{ours}"),
        &reader,
    );
    conforms(&spec, "get", "/entity-facets", status, &facets);
    assert_eq!(
        facets["facets"]["kind"][0],
        json!({"value": "Component", "count": 2}),
        "{facets}"
    );

    // validate-entity: goldpath's rules, Backstage's answer.
    let entity = json!({"apiVersion": "backstage.io/v1alpha1", "kind": "Component", "metadata": {"name": "ok"}, "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"}});
    let valid = json!({"location": "url:https://example.com/catalog-info.yaml", "entity": entity});
    let (status, body) = portal.call(
        "POST",
        "/api/catalog/validate-entity",
        &[("Authorization", &bearer)],
        Some(&valid),
    );
    assert_eq!(status, 200, "{body}");
    let mut broken = valid.clone();
    broken["entity"]["metadata"]["name"] = json!("not ok!");
    broken["entity"]["spec"]["owner"] = Value::Null;
    let (status, body) = portal.call(
        "POST",
        "/api/catalog/validate-entity",
        &[("Authorization", &bearer)],
        Some(&broken),
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    conforms(&spec, "post", "/validate-entity", status, &body);
    assert_eq!(status, 400);
    let messages = body["errors"].to_string();
    assert!(
        messages.contains("metadata.name") && messages.contains("spec.owner"),
        "{messages}"
    );
}
