//! What a request needs before its steps run: the Template it names (if
//! that grants access and is checked), the values of its Secret, and
//! `${{ user }}` from the stamped requester.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

use super::{Run, template_name};
use crate::api::EntityRef;
use crate::api::{ScaffoldRequest, Template};
use crate::controller::conditions::State;
use crate::controller::guard::Guarded;
use crate::controller::{Error, kube_error};

impl Run {
    /// The Template the request names, if it exists and grants access;
    /// otherwise the status says why and `None` is returned.
    pub(super) async fn template(&mut self) -> Result<Option<Template>, Error> {
        let own_namespace = self.request.namespace().unwrap_or_default();
        let reference = self.request.spec.template_ref.clone();
        let namespace = reference
            .namespace
            .clone()
            .unwrap_or_else(|| own_namespace.clone());
        let found = Api::<Guarded<Template>>::namespaced(self.context.client.clone(), &namespace)
            .get_opt(&reference.name)
            .await
            .map_err(kube_error(format!(
                "reading Template {namespace}/{}",
                reference.name
            )))?;
        let found = match found {
            Some(Guarded(Err(bad))) => {
                self.wait(
                    State::Stalled,
                    "TemplateUndecodable",
                    format!(
                        "spec.templateRef: Template {namespace}/{} cannot be read: {}",
                        reference.name, bad.problem
                    ),
                )
                .await?;
                return Ok(None);
            }
            Some(Guarded(Ok(template))) => Some(template),
            None => None,
        };
        let Some(template) = found else {
            self.wait(
                State::Stalled,
                "TemplateNotFound",
                format!(
                    "spec.templateRef: Template {namespace}/{} does not exist; the request starts when it \
                     is created",
                    reference.name
                ),
            )
            .await?;
            return Ok(None);
        };
        let granted = namespace == own_namespace
            || template
                .spec
                .access
                .as_ref()
                .is_some_and(|a| a.namespaces.iter().any(|n| n == "*" || *n == own_namespace));
        if !granted {
            self.wait(
                State::Stalled,
                "AccessDenied",
                format!(
                    "spec.templateRef: Template {namespace}/{} does not grant namespace {own_namespace} \
                     access; its owners can add it to spec.access.namespaces",
                    reference.name
                ),
            )
            .await?;
            return Ok(None);
        }
        if self.status.template_revision.is_none() {
            let status = template.status.clone().unwrap_or_default();
            let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
            let current = status.observed_generation == template.metadata.generation;
            match ready {
                Some(ready) if current && ready.status == "True" => {}
                Some(ready) if current && ready.reason != "SourceUnavailable" => {
                    self.wait(
                        State::Stalled,
                        "TemplateInvalid",
                        format!(
                            "Template {} is invalid: {}",
                            template_name(&template),
                            ready.message
                        ),
                    )
                    .await?;
                    return Ok(None);
                }
                _ => {
                    self.wait(
                        State::Reconciling,
                        "TemplateNotReady",
                        format!("waiting for Template {} to be checked", template_name(&template)),
                    )
                    .await?;
                    return Ok(None);
                }
            }
        }
        Ok(Some(template))
    }

    /// The values of `spec.secretRef`, or why they cannot be read.
    pub(super) async fn secrets(&self) -> Result<Result<BTreeMap<String, String>, String>, Error> {
        let Some(reference) = &self.request.spec.secret_ref else {
            return Ok(Ok(BTreeMap::new()));
        };
        let namespace = self.request.namespace().unwrap_or_default();
        let secret = Api::<Secret>::namespaced(self.context.client.clone(), &namespace)
            .get_opt(&reference.name)
            .await
            .map_err(kube_error(format!(
                "reading Secret {namespace}/{}",
                reference.name
            )))?;
        Ok(match secret {
            None => Err(format!(
                "spec.secretRef: Secret {namespace}/{} does not exist",
                reference.name
            )),
            Some(secret) => Ok(secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| (key, String::from_utf8_lossy(&value.0).into_owned()))
                .chain(secret.string_data.unwrap_or_default())
                .collect()),
        })
    }
}

/// `${{ user }}` from the request's `spec.requester`, which the API server
/// stamped: `user:default/<name>`, the Kubernetes user name with what an
/// entity name cannot hold (`:`, `@`, ...) turned into `-`, cut to 63
/// characters. Annotations are not read: anyone who writes the request
/// could set them.
pub(super) fn user(request: &ScaffoldRequest) -> Value {
    let Some(requester) = &request.spec.requester else {
        return Value::Null;
    };
    let name: String = requester
        .username
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    match EntityRef::parse(name, Some("user"), Some("default")) {
        Ok(parsed) => json!({
            "ref": parsed.to_string(),
            "entity": {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "User",
                "metadata": { "name": parsed.name, "namespace": parsed.namespace },
            },
            "kubernetes": { "username": requester.username, "groups": requester.groups },
        }),
        Err(_) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::request::tests::request;

    #[test]
    fn the_user_is_the_stamped_requester_never_an_annotation() {
        let user = user(&request(1, None));
        assert_eq!(user["ref"], "user:default/oidc-jane-example.com");
        assert_eq!(user["entity"]["metadata"]["name"], "oidc-jane-example.com");
        assert_eq!(user["kubernetes"]["username"], "oidc:jane@example.com");
        let mut long = request(1, None);
        long.spec.requester = Some(crate::api::Requester {
            username: format!("system:serviceaccount:team:{}", "x".repeat(100)),
            ..Default::default()
        });
        let name = super::user(&long)["entity"]["metadata"]["name"].clone();
        assert_eq!(name.as_str().unwrap().len(), 63);
        let mut anonymous = request(1, None);
        anonymous.spec.requester = None;
        assert_eq!(super::user(&anonymous), Value::Null);
    }
}
