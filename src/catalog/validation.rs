//! Backstage's rules for a catalog entity, as problems that name the field
//! and say what is expected.
//!
//! The rules are Backstage's defaults (`FieldFormatEntityPolicy` with the
//! `KubernetesValidatorFunctions`, and the kinds' JSON schemas):
//! - `metadata.name`: 1 to 63 characters, `[a-zA-Z0-9]` first and last,
//!   `[-_.a-zA-Z0-9]` between (Backstage's check accepts repeated
//!   separators, `a--b`, so this does too);
//! - `metadata.namespace`: a DNS label, lowercase;
//! - label keys and annotation keys: an optional DNS-subdomain prefix and
//!   `/`, then a name as above; label values: empty or a name as above;
//! - tags: `[a-z0-9:+#]` words joined by `-`, at most 63 characters;
//! - links: `url` a URL; `title` and `type` not blank; `icon` a name as above;
//! - required fields per kind: Component `type`, `lifecycle`, `owner`; API
//!   those and `definition`; Resource `type`, `owner`; System and Domain
//!   `owner`; Group `type`;
//! - every entity reference the kind's relations come from parses, and its
//!   kind, namespace and name are well formed. `dependsOn` and
//!   `dependencyOf` need an explicit kind, as in Backstage.
//!
//! Backstage also requires a Group's `spec.children` and a User's
//! `spec.memberOf` to be present (possibly empty). `CatalogEntitySpec` holds
//! them as lists that default to empty, so absent and empty are the same
//! here; export to Backstage writes `[]` for them.

use crate::api::EntityRef;
use crate::api::{CatalogEntity, EntityKind, EntityLink};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::relations::{kind_name, reference_fields};

/// One thing wrong with an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, as a path: `metadata.name`, `spec.owner`, `spec.tags[2]`,
    /// `metadata.labels["app/name"]`.
    pub field: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

const NAME_RULE: &str = "sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total";
const NAME_EXPECTED: &str =
    "expected sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total";
const NAMESPACE_EXPECTED: &str =
    "expected sequences of [a-z0-9] separated by [-], at most 63 characters in total";
const TAG_EXPECTED: &str =
    "expected sequences of [a-z0-9:+#] separated by [-], at most 63 characters in total";
const KEY_EXPECTED: &str = "expected an optional prefix that is a lowercase DNS subdomain of at most 253 \
     characters followed by '/', then sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 \
     characters";
const KIND_EXPECTED: &str =
    "expected a letter followed by letters and digits, at most 63 characters in total";

/// A Backstage entity name (Kubernetes-style object name, mixed case allowed).
pub fn is_valid_entity_name(value: &str) -> bool {
    let bytes = value.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            bytes.len() <= 63
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Lowercase `[a-z0-9]` words joined by single `-`, 1 to 63 characters.
pub fn is_valid_dns_label(value: &str) -> bool {
    words(value, 63, |b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Dot-separated DNS labels, at most 253 characters.
pub fn is_valid_dns_subdomain(value: &str) -> bool {
    !value.is_empty() && value.len() <= 253 && value.split('.').all(is_valid_dns_label)
}

/// A Backstage namespace: a DNS label.
pub fn is_valid_namespace(value: &str) -> bool {
    is_valid_dns_label(value)
}

/// A Backstage tag: `[a-z0-9:+#]` words joined by single `-`, 1 to 63
/// characters.
pub fn is_valid_tag(value: &str) -> bool {
    words(value, 63, |b| {
        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b':' | b'+' | b'#')
    })
}

/// Non-empty words of `allowed` bytes joined by single `-`.
fn words(value: &str, max: usize, allowed: impl Fn(u8) -> bool) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value.split('-').all(|w| !w.is_empty() && w.bytes().all(&allowed))
}

/// A Backstage kind: a letter, then letters and digits, at most 63.
pub fn is_valid_kind(value: &str) -> bool {
    let mut bytes = value.bytes();
    value.len() <= 63
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric())
}

/// `[prefix/]name`: an optional DNS-subdomain prefix, then an entity name.
fn is_valid_prefixed_name(value: &str) -> bool {
    let parts: Vec<&str> = value.split('/').collect();
    match parts.as_slice() {
        [name] => is_valid_entity_name(name),
        [prefix, name] => is_valid_dns_subdomain(prefix) && is_valid_entity_name(name),
        _ => false,
    }
}

/// A label key.
pub fn is_valid_label_key(value: &str) -> bool {
    is_valid_prefixed_name(value)
}

/// A label value: empty, or an entity name.
pub fn is_valid_label_value(value: &str) -> bool {
    value.is_empty() || is_valid_entity_name(value)
}

/// An annotation key (values can be any string).
pub fn is_valid_annotation_key(value: &str) -> bool {
    is_valid_prefixed_name(value)
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        field: field.into(),
        message: message.into(),
    }
}

/// Every problem with `entity`, in field order; empty when it is valid.
pub fn validate(entity: &CatalogEntity) -> Vec<Problem> {
    let mut problems = Vec::new();
    let spec = &entity.spec;
    metadata_problems(&entity.metadata, &mut problems);

    if spec.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
        problems.push(problem("spec.title", "must not be blank when given"));
    }
    for (i, tag) in spec.tags.iter().enumerate() {
        if !is_valid_tag(tag) {
            problems.push(problem(
                format!("spec.tags[{i}]"),
                format!("{tag:?} is not a valid tag; {TAG_EXPECTED}"),
            ));
        }
    }
    link_problems(&spec.links, &mut problems);

    required_fields(entity, &mut problems);

    let namespace = entity.metadata.namespace.as_deref().unwrap_or("default");
    for field in reference_fields(spec) {
        if let Err(message) = check_reference(field.value, field.default_kind, namespace) {
            problems.push(problem(field.path, message));
        }
    }
    problems
}

/// The problems of the name, namespace, labels and annotations.
fn metadata_problems(metadata: &ObjectMeta, problems: &mut Vec<Problem>) {
    match metadata.name.as_deref() {
        None | Some("") => problems.push(problem(
            "metadata.name",
            "is required; ".to_string() + NAME_EXPECTED,
        )),
        Some(name) if !is_valid_entity_name(name) => problems.push(problem(
            "metadata.name",
            format!("{name:?} is not a valid entity name; {NAME_EXPECTED}"),
        )),
        Some(_) => {}
    }
    let namespace = metadata.namespace.as_deref().unwrap_or("default");
    if !is_valid_namespace(namespace) {
        problems.push(problem(
            "metadata.namespace",
            format!("{namespace:?} is not a valid namespace; {NAMESPACE_EXPECTED}"),
        ));
    }
    for (key, value) in metadata.labels.iter().flatten() {
        let field = format!("metadata.labels[{key:?}]");
        if !is_valid_label_key(key) {
            problems.push(problem(
                &field,
                format!("{key:?} is not a valid label key; {KEY_EXPECTED}"),
            ));
        }
        if !is_valid_label_value(value) {
            problems.push(problem(
                &field,
                format!("{value:?} is not a valid label value; expected an empty string or {NAME_RULE}"),
            ));
        }
    }
    for key in metadata.annotations.iter().flatten().map(|(key, _)| key) {
        if !is_valid_annotation_key(key) {
            problems.push(problem(
                format!("metadata.annotations[{key:?}]"),
                format!("{key:?} is not a valid annotation key; {KEY_EXPECTED}"),
            ));
        }
    }
}

/// The problems of `spec.links`.
fn link_problems(links: &[EntityLink], problems: &mut Vec<Problem>) {
    for (i, link) in links.iter().enumerate() {
        if let Err(e) = url::Url::parse(&link.url) {
            problems.push(problem(
                format!("spec.links[{i}].url"),
                format!(
                    "{:?} is not a valid URL ({e}); expected an absolute URL, e.g. https://example.com/page",
                    link.url
                ),
            ));
        }
        for (what, value) in [("title", &link.title), ("type", &link.type_)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                problems.push(problem(
                    format!("spec.links[{i}].{what}"),
                    "must not be blank when given",
                ));
            }
        }
        if let Some(icon) = link.icon.as_deref().filter(|icon| !is_valid_entity_name(icon)) {
            problems.push(problem(
                format!("spec.links[{i}].icon"),
                format!("{icon:?} is not a valid icon name; {NAME_EXPECTED}"),
            ));
        }
    }
}

fn required_fields(entity: &CatalogEntity, problems: &mut Vec<Problem>) {
    let spec = &entity.spec;
    let kind = spec.kind;
    let needed: &[(&str, &Option<String>, &str)] = match kind {
        EntityKind::Component => &[
            ("type", &spec.type_, "e.g. service, website or library"),
            (
                "lifecycle",
                &spec.lifecycle,
                "e.g. experimental, production or deprecated",
            ),
            (
                "owner",
                &spec.owner,
                "a reference to the owning Group or User, e.g. team-a",
            ),
        ],
        EntityKind::Api => &[
            ("type", &spec.type_, "e.g. openapi, asyncapi, graphql or grpc"),
            (
                "lifecycle",
                &spec.lifecycle,
                "e.g. experimental, production or deprecated",
            ),
            (
                "owner",
                &spec.owner,
                "a reference to the owning Group or User, e.g. team-a",
            ),
            (
                "definition",
                &spec.definition,
                "the API's definition, e.g. its OpenAPI document",
            ),
        ],
        EntityKind::Resource => &[
            (
                "type",
                &spec.type_,
                "e.g. database, s3-bucket or kubernetes-cluster",
            ),
            (
                "owner",
                &spec.owner,
                "a reference to the owning Group or User, e.g. team-a",
            ),
        ],
        EntityKind::System | EntityKind::Domain => &[(
            "owner",
            &spec.owner,
            "a reference to the owning Group or User, e.g. team-a",
        )],
        EntityKind::Group => &[("type", &spec.type_, "e.g. team, business-unit or product-area")],
        EntityKind::User => &[],
    };
    for (name, value, expected) in needed {
        let field = format!("spec.{name}");
        match value.as_deref() {
            None => problems.push(problem(
                field,
                format!(
                    "is required for a {} entity; expected {expected}",
                    kind_name(kind)
                ),
            )),
            Some("") => problems.push(problem(field, format!("must not be empty; expected {expected}"))),
            Some(_) => {}
        }
    }
}

/// Why a reference written in a spec field is not a valid entity reference.
fn check_reference(value: &str, default_kind: Option<&str>, namespace: &str) -> Result<(), String> {
    if default_kind.is_none() && !value.contains(':') {
        return Err(format!(
            "{value:?} has no kind; Backstage requires one here, e.g. component:{value} or resource:{value}"
        ));
    }
    let parsed = EntityRef::parse(value, default_kind, Some(namespace))
        .map_err(|e| format!("{e}; expected [kind:][namespace/]name"))?;
    if !is_valid_kind(&parsed.kind) {
        return Err(format!(
            "{value:?} has kind {:?}, which is not a valid kind; {KIND_EXPECTED}",
            parsed.kind
        ));
    }
    if !is_valid_namespace(&parsed.namespace.to_lowercase()) {
        return Err(format!(
            "{value:?} has namespace {:?}, which is not a valid namespace; {NAMESPACE_EXPECTED}",
            parsed.namespace
        ));
    }
    if !is_valid_entity_name(&parsed.name) {
        return Err(format!(
            "{value:?} has name {:?}, which is not a valid entity name; {NAME_EXPECTED}",
            parsed.name
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::api::EntityLink;

    fn entity(spec: serde_json::Value) -> CatalogEntity {
        serde_json::from_value(json!({
            "apiVersion": "goldpath.dev/v1alpha1",
            "kind": "CatalogEntity",
            "metadata": {"name": "orders", "namespace": "shop"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn component() -> CatalogEntity {
        entity(json!({
            "kind": "Component",
            "type": "service",
            "lifecycle": "production",
            "owner": "team-a",
            "system": "payments",
            "dependsOn": ["resource:orders-db"],
            "providesApis": ["orders-api"],
            "tags": ["rust", "c++", "c#", "k8s:cluster", "multi-word-tag"],
            "links": [{"url": "https://example.com/runbook", "title": "Runbook", "icon": "docs"}],
        }))
    }

    fn fields(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn a_complete_component_is_valid() {
        assert_eq!(validate(&component()), vec![]);
    }

    #[test]
    fn entity_names_follow_backstage() {
        for good in [
            "a",
            "A1",
            "visits-tracking-service",
            "CircleciBuildsDumpV2_avro_gcs",
            "a--b",
            "a.b_c-d",
        ] {
            assert!(is_valid_entity_name(good), "{good}");
        }
        let too_long = "a".repeat(64);
        for bad in ["", "-a", "a-", "_a", "a.", "a b", "a/b", "ä", too_long.as_str()] {
            assert!(!is_valid_entity_name(bad), "{bad}");
        }
        assert!(is_valid_entity_name(&"a".repeat(63)));
    }

    #[test]
    fn namespaces_are_dns_labels() {
        for good in ["default", "team-a", "a1", "0"] {
            assert!(is_valid_namespace(good), "{good}");
        }
        for bad in ["", "Default", "a--b", "-a", "a-", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_valid_namespace(bad), "{bad}");
        }
    }

    #[test]
    fn tags_follow_backstage() {
        for good in ["java", "c++", "c#", "k8s:v1", "a-b-c", "0"] {
            assert!(is_valid_tag(good), "{good}");
        }
        for bad in [
            "",
            "Java",
            "a--b",
            "-a",
            "a-",
            "a b",
            "a_b",
            "a.b",
            &"a".repeat(64),
        ] {
            assert!(!is_valid_tag(bad), "{bad}");
        }
    }

    #[test]
    fn label_and_annotation_keys_take_an_optional_prefix() {
        for good in [
            "app",
            "app.kubernetes.io/name",
            "backstage.io/kubernetes-id",
            "example.com/Mixed_Case",
        ] {
            assert!(is_valid_label_key(good), "{good}");
            assert!(is_valid_annotation_key(good), "{good}");
        }
        for bad in [
            "",
            "/name",
            "prefix/",
            "a/b/c",
            "Upper.com/name",
            "bad_prefix/name",
            "name-",
        ] {
            assert!(!is_valid_label_key(bad), "{bad}");
        }
        assert!(is_valid_label_value(""));
        assert!(is_valid_label_value("v1.2_beta"));
        assert!(!is_valid_label_value("has space"));
    }

    #[test]
    fn kinds_are_letters_then_alphanumerics() {
        assert!(is_valid_kind("Component"));
        assert!(is_valid_kind("api"));
        assert!(is_valid_kind("K8sCluster"));
        assert!(!is_valid_kind(""));
        assert!(!is_valid_kind("1kind"));
        assert!(!is_valid_kind("my-kind"));
    }

    #[test]
    fn bad_metadata_is_named() {
        let mut e = component();
        e.metadata.name = Some("-orders".into());
        e.metadata.namespace = Some("Shop".into());
        e.metadata.labels = Some(BTreeMap::from([("bad key".to_string(), "bad value".to_string())]));
        e.metadata.annotations = Some(BTreeMap::from([(
            "a/b/c".to_string(),
            "anything goes".to_string(),
        )]));
        let problems = validate(&e);
        assert_eq!(
            fields(&problems),
            vec![
                "metadata.name",
                "metadata.namespace",
                "metadata.labels[\"bad key\"]",
                "metadata.labels[\"bad key\"]",
                "metadata.annotations[\"a/b/c\"]",
            ]
        );
        assert!(
            problems[0]
                .message
                .contains("\"-orders\" is not a valid entity name")
        );
        assert!(problems[0].message.contains("at most 63 characters"));
        assert!(
            problems[3]
                .message
                .contains("expected an empty string or sequences"),
            "{}",
            problems[3]
        );
    }

    #[test]
    fn missing_name_is_reported() {
        let mut e = component();
        e.metadata.name = None;
        let problems = validate(&e);
        assert_eq!(fields(&problems), vec!["metadata.name"]);
        assert!(problems[0].message.starts_with("is required"));
    }

    #[test]
    fn bad_tags_are_named_by_index() {
        let mut e = component();
        e.spec.tags = vec!["ok".into(), "fine-too".into(), "Not_OK".into()];
        let problems = validate(&e);
        assert_eq!(fields(&problems), vec!["spec.tags[2]"]);
        assert_eq!(
            problems[0].to_string(),
            "spec.tags[2]: \"Not_OK\" is not a valid tag; expected sequences of [a-z0-9:+#] \
             separated by [-], at most 63 characters in total"
        );
    }

    #[test]
    fn bad_links_are_named() {
        let mut e = component();
        e.spec.links = vec![
            EntityLink {
                url: "not a url".into(),
                title: Some("  ".into()),
                icon: Some("bad icon".into()),
                type_: Some(String::new()),
            },
            EntityLink {
                url: "https://ok.example".into(),
                ..EntityLink::default()
            },
        ];
        let problems = validate(&e);
        assert_eq!(
            fields(&problems),
            vec![
                "spec.links[0].url",
                "spec.links[0].title",
                "spec.links[0].type",
                "spec.links[0].icon"
            ]
        );
    }

    #[test]
    fn required_fields_per_kind() {
        let cases = [
            ("Component", vec!["spec.type", "spec.lifecycle", "spec.owner"]),
            (
                "API",
                vec!["spec.type", "spec.lifecycle", "spec.owner", "spec.definition"],
            ),
            ("Resource", vec!["spec.type", "spec.owner"]),
            ("System", vec!["spec.owner"]),
            ("Domain", vec!["spec.owner"]),
            ("Group", vec!["spec.type"]),
            ("User", vec![]),
        ];
        for (kind, expected) in cases {
            let problems = validate(&entity(json!({"kind": kind})));
            assert_eq!(fields(&problems), expected, "{kind}");
            for p in &problems {
                assert!(
                    p.message
                        .starts_with(&format!("is required for a {kind} entity; expected ")),
                    "{p}"
                );
            }
        }
    }

    #[test]
    fn required_fields_must_not_be_empty() {
        let problems = validate(&entity(json!({
            "kind": "API", "type": "", "lifecycle": "production", "owner": "team-a", "definition": "",
        })));
        assert_eq!(fields(&problems), vec!["spec.type", "spec.definition"]);
        assert!(problems[0].message.starts_with("must not be empty"));
    }

    #[test]
    fn entity_references_must_parse() {
        let problems = validate(&entity(json!({
            "kind": "Component",
            "type": "service",
            "lifecycle": "production",
            "owner": "group:",
            "system": "a:b:c",
            "subcomponentOf": "1kind:x",
            "dependsOn": ["orders-db", "resource:ok", "resource:Bad_NS/db", "resource:db-"],
            "consumesApis": ["team/"],
        })));
        assert_eq!(
            fields(&problems),
            vec![
                "spec.owner",
                "spec.system",
                "spec.subcomponentOf",
                "spec.consumesApis[0]",
                "spec.dependsOn[0]",
                "spec.dependsOn[2]",
                "spec.dependsOn[3]",
            ]
        );
        let by_field = |f: &str| problems.iter().find(|p| p.field == f).unwrap().message.clone();
        assert!(by_field("spec.dependsOn[0]").contains("has no kind; Backstage requires one here"));
        assert!(by_field("spec.dependsOn[0]").contains("resource:orders-db"));
        assert!(by_field("spec.subcomponentOf").contains("not a valid kind"));
        assert!(by_field("spec.dependsOn[2]").contains("not a valid namespace"));
        assert!(by_field("spec.dependsOn[3]").contains("not a valid entity name"));
        assert!(by_field("spec.owner").contains("expected [kind:][namespace/]name"));
    }

    #[test]
    fn references_are_case_insensitive_and_may_cross_namespaces() {
        let problems = validate(&entity(json!({
            "kind": "Group",
            "type": "team",
            "parent": "Group:Org/Engineering",
            "children": ["team-b", "other/team-c"],
            "members": ["user:jdoe"],
        })));
        assert_eq!(problems, vec![]);
    }

    #[test]
    fn fields_the_kind_does_not_read_are_not_checked() {
        let problems = validate(&entity(json!({
            "kind": "User",
            "memberOf": ["team-a"],
            "dependsOn": ["no-kind-but-ignored"],
        })));
        assert_eq!(problems, vec![]);
    }

    #[test]
    fn blank_title_is_reported() {
        let mut e = component();
        e.spec.title = Some(" ".into());
        assert_eq!(fields(&validate(&e)), vec!["spec.title"]);
    }
}
