//! `POST /v2/tasks`: Backstage's scaffold options (`templateRef`, `values`,
//! `secrets`) become a ScaffoldRequest in the Template's namespace, and the
//! secrets a Secret the request owns. The pure half reads the body and
//! builds both objects; [`create`] authorizes the caller and writes them.
//!
//! The request is written first and names its Secret in `spec.secretRef`;
//! the Secret follows, owned by the request (so deleting the request
//! deletes it). Should goldpath stop between the two, the request waits
//! with `SecretNotFound` naming the Secret, and nothing is left behind
//! that outlives the request. Secret values never reach the request's
//! spec, a reply or a log line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use hyper::StatusCode;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Resource};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{form, task};
use crate::api::{
    EntityRef, GROUP, Requester, ScaffoldRequest, ScaffoldRequestSpec, SecretRef, Template, TemplateRef,
};
use crate::engine::parameters::ParameterSchema;
use crate::portal::reply::{Reply, cluster_refused};
use crate::portal::{Call, Portal};
use crate::tenancy::review::Permission;

/// How many secrets a task may carry.
pub const SECRETS_LIMIT: usize = 64;
/// How often a name the API server already holds is drawn again.
const NAME_ATTEMPTS: usize = 3;
/// The label on a task's Secret naming its request.
pub const SECRET_LABEL: &str = "goldpath.dev/scaffoldrequest";

/// What a caller asks to run: Backstage's `ScaffolderScaffoldOptions`.
#[derive(Debug, PartialEq)]
pub struct Options {
    /// The Template, by namespace and name.
    pub template: EntityRef,
    /// The form's values: the request's `spec.parameters`.
    pub values: Value,
    /// `${{ secrets.* }}`.
    pub secrets: BTreeMap<String, String>,
}

/// Reads the body of `POST /v2/tasks`; the error names the field.
pub fn options(body: &[u8]) -> Result<Options, String> {
    let body: Value = serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let reference = body
        .get("templateRef")
        .and_then(Value::as_str)
        .ok_or("templateRef: required, a Template's entity reference (template:namespace/name)")?;
    let template = EntityRef::parse(reference, Some("template"), Some("default"))
        .map_err(|e| format!("templateRef: {e}"))?;
    if !template.kind.eq_ignore_ascii_case("template") {
        return Err(format!("templateRef: {reference:?} does not name a Template"));
    }
    let values = match body.get("values") {
        Some(Value::Object(values)) => Value::Object(values.clone()),
        _ => return Err("values: required, an object of the template's parameters".into()),
    };
    let secrets = match body.get("secrets") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(secrets)) => secrets
            .iter()
            .map(|(key, value)| match value {
                Value::String(value) if valid_key(key) => Ok((key.clone(), value.clone())),
                Value::String(_) => Err(format!(
                    "secrets.{key}: a secret's name holds letters, digits, '-', '_' and '.' only"
                )),
                _ => Err(format!("secrets.{key}: must be a string")),
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("secrets: must be an object of strings".into()),
    };
    if secrets.len() > SECRETS_LIMIT {
        return Err(format!(
            "secrets: {} given, at most {SECRETS_LIMIT} are taken",
            secrets.len()
        ));
    }
    Ok(Options {
        template,
        values,
        secrets,
    })
}

/// Whether `key` may be a key of a Secret (the API server's rule).
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A fresh name for a request of `template`: its name (cut so the whole
/// fits a label value) and 10 characters that differ on every call.
pub fn request_name(template: &str) -> String {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let mut digest = Sha256::new();
    digest.update(std::process::id().to_le_bytes());
    digest.update(CALLS.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    digest.update(now.as_nanos().to_le_bytes());
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let suffix: String = digest
        .finalize()
        .iter()
        .take(10)
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    let stem: String = template.chars().take(52).collect();
    format!("{}-{suffix}", stem.trim_end_matches(['-', '.']))
}

/// The request `options` make, named `name`, for `requester`. It names its
/// Secret (the same name) when there are secrets.
pub fn request(options: &Options, name: &str, requester: &Requester) -> ScaffoldRequest {
    let mut request = ScaffoldRequest::new(
        name,
        ScaffoldRequestSpec {
            template_ref: TemplateRef {
                name: options.template.name.clone(),
                namespace: None,
            },
            parameters: options.values.clone(),
            secret_ref: (!options.secrets.is_empty()).then(|| SecretRef { name: name.into() }),
            requester: Some(requester.clone()),
            ..ScaffoldRequestSpec::default()
        },
    );
    request.metadata.namespace = Some(options.template.namespace.clone());
    request
}

/// The Secret holding `secrets`, owned by `request` (as the API server
/// returned it, with its uid).
pub fn secret(request: &ScaffoldRequest, secrets: &BTreeMap<String, String>) -> Secret {
    let name = request.metadata.name.clone().unwrap_or_default();
    let owner = OwnerReference {
        api_version: ScaffoldRequest::api_version(&()).into_owned(),
        kind: ScaffoldRequest::kind(&()).into_owned(),
        name: name.clone(),
        uid: request.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    };
    Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: request.metadata.namespace.clone(),
            labels: Some(BTreeMap::from([(SECRET_LABEL.to_string(), name)])),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        string_data: Some(secrets.clone()),
        ..Secret::default()
    }
}

/// `POST /v2/tasks`, for a caller who may get the Template and create
/// ScaffoldRequests (and, with secrets, Secrets) in its namespace.
pub async fn create(portal: &Portal, call: &Call<'_>) -> Result<Reply, Reply> {
    let options = options(&call.body).map_err(Reply::bad_request)?;
    let namespace = options.template.namespace.as_str();
    let template = options.template.name.as_str();
    let mut needed = vec![
        Permission {
            verb: "get",
            group: GROUP,
            resource: "templates",
            namespace,
            name: Some(template),
        },
        Permission {
            verb: "create",
            group: GROUP,
            resource: "scaffoldrequests",
            namespace,
            name: None,
        },
    ];
    if !options.secrets.is_empty() {
        needed.push(Permission {
            verb: "create",
            group: "",
            resource: "secrets",
            namespace,
            name: None,
        });
    }
    for permission in &needed {
        portal.require(call.caller, permission).await?;
    }
    let exists = Api::<Template>::namespaced(portal.client.clone(), namespace)
        .get_opt(template)
        .await
        .map_err(|e| cluster_refused(&format!("reading Template {namespace}/{template}"), &e))?;
    let Some(found) = exists else {
        return Err(Reply::not_found(format!(
            "no template template:{namespace}/{template}"
        )));
    };
    check_values(&found, &options.values)?;
    let requests = Api::<ScaffoldRequest>::namespaced(portal.client.clone(), namespace);
    let created = create_request(&requests, &options, &call.caller.user).await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    if !options.secrets.is_empty() {
        let secrets = Api::<Secret>::namespaced(portal.client.clone(), namespace);
        if let Err(error) = secrets
            .create(&PostParams::default(), &secret(&created, &options.secrets))
            .await
        {
            // Without its Secret the request would only wait: take it back,
            // so the caller's retry is the one request.
            let _ = requests.delete(&name, &DeleteParams::background()).await;
            return Err(cluster_refused(
                &format!("creating the Secret of task {namespace}:{name}"),
                &error,
            ));
        }
    }
    Ok(Reply::with_status(
        StatusCode::CREATED,
        json!({"id": task::task_id(namespace, &name)}),
    ))
}

/// Refuses `values` that `template`'s parameter schema refuses, as the
/// operator would once the request exists, so no request is made that
/// could only fail.
fn check_values(template: &Template, values: &Value) -> Result<(), Reply> {
    let name = template.metadata.name.as_deref().unwrap_or_default();
    let schema = ParameterSchema::new(template.spec.parameters.as_ref())
        .map_err(|error| Reply::bad_request(format!("template {name}: {error}")))?;
    schema
        .validate(values)
        .map(drop)
        .map_err(|errors| form::refused(&errors))
}

/// Creates the request, drawing another name when one is taken.
async fn create_request(
    requests: &Api<ScaffoldRequest>,
    options: &Options,
    requester: &Requester,
) -> Result<ScaffoldRequest, Reply> {
    let namespace = &options.template.namespace;
    let mut last = None;
    for _ in 0..NAME_ATTEMPTS {
        let wanted = request(options, &request_name(&options.template.name), requester);
        match requests.create(&PostParams::default(), &wanted).await {
            Ok(created) => return Ok(created),
            Err(kube::Error::Api(status)) if status.code == 409 => last = Some(status.message),
            Err(error) => {
                return Err(cluster_refused(
                    &format!("creating a ScaffoldRequest in namespace {namespace}"),
                    &error,
                ));
            }
        }
    }
    Err(Reply::error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "creating a ScaffoldRequest in namespace {namespace}: every name drawn was taken ({})",
            last.unwrap_or_default()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jane() -> Requester {
        Requester {
            username: "jane".into(),
            uid: Some("u-1".into()),
            groups: vec!["team-a".into()],
        }
    }

    #[test]
    fn the_options_name_the_template_the_values_and_the_secrets() {
        let body = json!({
            "templateRef": "template:team-a/service",
            "values": {"name": "orders"},
            "secrets": {"TOKEN": "s3cret"},
        });
        let read = options(body.to_string().as_bytes()).unwrap();
        assert_eq!(read.template.namespace, "team-a");
        assert_eq!(read.template.name, "service");
        assert_eq!(read.values, json!({"name": "orders"}));
        assert_eq!(read.secrets["TOKEN"], "s3cret");
        let short = options(br#"{"templateRef": "service", "values": {}}"#).unwrap();
        assert_eq!(
            (short.template.namespace.as_str(), short.secrets.len()),
            ("default", 0)
        );
    }

    #[test]
    fn bad_options_are_refused_naming_the_field() {
        let cases = [
            (r#"{"values": {}}"#, "templateRef"),
            (
                r#"{"templateRef": "component:a/b", "values": {}}"#,
                "does not name a Template",
            ),
            (r#"{"templateRef": "template:a/b"}"#, "values"),
            (r#"{"templateRef": "template:a/b", "values": []}"#, "values"),
            (
                r#"{"templateRef": "template:a/b", "values": {}, "secrets": {"k": 1}}"#,
                "secrets.k",
            ),
            (
                r#"{"templateRef": "template:a/b", "values": {}, "secrets": {"a b": "x"}}"#,
                "secrets.a b",
            ),
            (
                r#"{"templateRef": "template:a/b", "values": {}, "secrets": []}"#,
                "secrets",
            ),
            ("nope", "not JSON"),
        ];
        for (body, named) in cases {
            let error = options(body.as_bytes()).unwrap_err();
            assert!(error.contains(named), "{body}: {error}");
        }
    }

    #[test]
    fn the_number_of_secrets_is_bounded() {
        let many: serde_json::Map<String, Value> = (0..=SECRETS_LIMIT)
            .map(|i| (format!("k{i}"), json!("v")))
            .collect();
        let body = json!({"templateRef": "template:a/b", "values": {}, "secrets": many});
        let error = options(body.to_string().as_bytes()).unwrap_err();
        assert!(error.contains(&SECRETS_LIMIT.to_string()), "{error}");
    }

    #[test]
    fn names_are_fresh_valid_and_fit_a_label() {
        let long = "t".repeat(80);
        let names: std::collections::BTreeSet<String> = (0..200).map(|_| request_name("service")).collect();
        assert_eq!(names.len(), 200, "every call draws another name");
        for name in names.iter().chain([&request_name(&long), &request_name("a-")]) {
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !name.starts_with('-')
                    && !name.contains("--"),
                "{name}"
            );
        }
    }

    #[test]
    fn the_request_holds_the_requester_and_names_its_secret_never_a_value() {
        let read = options(
            json!({"templateRef": "template:team-a/service", "values": {"name": "orders"}, "secrets": {"TOKEN": "s3cret"}})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let mut made = request(&read, "service-abc", &jane());
        assert_eq!(made.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(made.spec.template_ref.name, "service");
        assert_eq!(made.spec.requester, Some(jane()));
        assert_eq!(
            made.spec.secret_ref,
            Some(SecretRef {
                name: "service-abc".into()
            })
        );
        assert!(!serde_json::to_string(&made).unwrap().contains("s3cret"));

        made.metadata.uid = Some("uid-1".into());
        let owned = secret(&made, &read.secrets);
        let owner = &owned.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.uid.as_str()),
            ("ScaffoldRequest", "service-abc", "uid-1")
        );
        assert_eq!(owner.api_version, "goldpath.dev/v1alpha1");
        assert_eq!(owned.string_data.as_ref().unwrap()["TOKEN"], "s3cret");

        let without = options(br#"{"templateRef": "template:team-a/service", "values": {}}"#).unwrap();
        assert_eq!(request(&without, "x", &jane()).spec.secret_ref, None);
    }
}
