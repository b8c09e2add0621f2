//! Which objects roll up into an entity, by Backstage's own annotations:
//! - `argocd/app-name` (and `argocd/app-namespace`, defaulting to the
//!   namespace Argo CD watches): one Argo CD Application, shown as
//!   `NotFound` while it does not exist;
//! - `backstage.io/kubernetes-id`: every ACK resource and KubeVela
//!   Application labelled `backstage.io/kubernetes-id=<id>`;
//! - `backstage.io/kubernetes-label-selector`: every ACK resource and
//!   KubeVela Application the selector matches.
//!
//! Objects found by label are looked for in the entity's own namespace only,
//! so an entity cannot show another team's objects by naming their labels.
//! They have no row until one exists; when one is deleted, its row goes
//! with it.

use std::collections::BTreeMap;

use super::selector::Selector;
use super::validation::Problem;

/// The annotation naming an entity's Argo CD Application.
pub const ARGOCD_APP_NAME: &str = "argocd/app-name";
/// The annotation naming the Application's namespace.
pub const ARGOCD_APP_NAMESPACE: &str = "argocd/app-namespace";
/// The annotation and label that tie objects to an entity.
pub const KUBERNETES_ID: &str = "backstage.io/kubernetes-id";
/// The annotation holding a label selector for an entity's objects.
pub const KUBERNETES_LABEL_SELECTOR: &str = "backstage.io/kubernetes-label-selector";

/// What an entity's annotations ask to roll up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lookup {
    /// The Argo CD Application: `(namespace, name)`.
    pub application: Option<(String, String)>,
    /// Objects labelled `backstage.io/kubernetes-id` with this value.
    pub kubernetes_id: Option<String>,
    /// Objects this selector matches.
    pub selector: Option<Selector>,
    /// Annotations that cannot be read, naming the annotation.
    pub problems: Vec<Problem>,
}

impl Lookup {
    /// Reads the annotations of an entity; `argocd_namespace` is where an
    /// Application is looked for when `argocd/app-namespace` is not set.
    pub fn of(annotations: &BTreeMap<String, String>, argocd_namespace: &str) -> Lookup {
        let value = |key: &str| annotations.get(key).map(|v| v.trim()).filter(|v| !v.is_empty());
        let mut lookup = Lookup {
            application: value(ARGOCD_APP_NAME).map(|name| {
                let namespace = value(ARGOCD_APP_NAMESPACE).unwrap_or(argocd_namespace);
                (namespace.to_string(), name.to_string())
            }),
            kubernetes_id: value(KUBERNETES_ID).map(str::to_string),
            ..Lookup::default()
        };
        if let Some(text) = value(KUBERNETES_LABEL_SELECTOR) {
            match Selector::parse(text) {
                Ok(selector) => lookup.selector = Some(selector),
                Err(message) => lookup.problems.push(Problem {
                    field: format!("metadata.annotations[{KUBERNETES_LABEL_SELECTOR:?}]"),
                    message: format!("is not a label selector: {message}"),
                }),
            }
        }
        lookup
    }

    /// Whether an ACK resource or KubeVela Application with `labels` rolls
    /// up into the entity.
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.kubernetes_id
            .as_ref()
            .is_some_and(|id| labels.get(KUBERNETES_ID) == Some(id))
            || self.selector.as_ref().is_some_and(|s| s.matches(labels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn argocd_application_defaults_to_argo_cds_namespace() {
        let lookup = Lookup::of(&map(&[(ARGOCD_APP_NAME, "web")]), "argocd");
        assert_eq!(lookup.application, Some(("argocd".into(), "web".into())));
        let lookup = Lookup::of(
            &map(&[(ARGOCD_APP_NAME, "web"), (ARGOCD_APP_NAMESPACE, "team-a")]),
            "argocd",
        );
        assert_eq!(lookup.application, Some(("team-a".into(), "web".into())));
        assert_eq!(
            Lookup::of(&map(&[(ARGOCD_APP_NAME, " ")]), "argocd").application,
            None
        );
    }

    #[test]
    fn objects_are_selected_by_id_or_selector() {
        let by_id = Lookup::of(&map(&[(KUBERNETES_ID, "orders")]), "argocd");
        assert!(by_id.selects(&map(&[(KUBERNETES_ID, "orders")])));
        assert!(!by_id.selects(&map(&[(KUBERNETES_ID, "payments")])));
        assert!(!by_id.selects(&map(&[])));

        let by_selector = Lookup::of(
            &map(&[(KUBERNETES_LABEL_SELECTOR, "app=orders,env in (prod)")]),
            "x",
        );
        assert!(by_selector.selects(&map(&[("app", "orders"), ("env", "prod")])));
        assert!(!by_selector.selects(&map(&[("app", "orders")])));

        assert!(!Lookup::of(&map(&[]), "argocd").selects(&map(&[(KUBERNETES_ID, "")])));
    }

    #[test]
    fn a_bad_selector_is_a_problem_naming_the_annotation() {
        let lookup = Lookup::of(&map(&[(KUBERNETES_LABEL_SELECTOR, "app in (a")]), "argocd");
        assert_eq!(lookup.selector, None);
        assert_eq!(lookup.problems.len(), 1);
        assert_eq!(
            lookup.problems[0].field,
            "metadata.annotations[\"backstage.io/kubernetes-label-selector\"]"
        );
        assert!(lookup.problems[0].message.contains("without its ')'"));
    }
}
