//! The SubjectAccessReview that asks whether a user may do one thing: a
//! verb on a resource in a namespace. Built here, pure; the controllers
//! (for a request's steps) and the portal API (for its callers) send it.

use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use kube::core::ObjectMeta;

use crate::api::Requester;

/// One thing a caller does: a verb on a resource in a namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission<'a> {
    /// `create`, `patch`, `get`, ...
    pub verb: &'a str,
    /// API group; empty for the core group.
    pub group: &'a str,
    /// The resource (plural), e.g. `configmaps`.
    pub resource: &'a str,
    /// Where.
    pub namespace: &'a str,
    /// The object's name, when one object is meant.
    pub name: Option<&'a str>,
}

impl std::fmt::Display for Permission<'_> {
    /// As RBAC names it: `create configmaps in namespace team-a`,
    /// `patch applications.argoproj.io in namespace argocd`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        write!(f, " in namespace {}", self.namespace)
    }
}

/// The review the API server is asked to make.
pub fn review(requester: &Requester, permission: &Permission) -> SubjectAccessReview {
    SubjectAccessReview {
        metadata: ObjectMeta::default(),
        spec: SubjectAccessReviewSpec {
            user: Some(requester.username.clone()),
            uid: requester.uid.clone(),
            groups: Some(requester.groups.clone()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(permission.verb.to_string()),
                group: Some(permission.group.to_string()),
                resource: Some(permission.resource.to_string()),
                namespace: Some(permission.namespace.to_string()),
                name: permission.name.map(str::to_string),
                ..ResourceAttributes::default()
            }),
            ..SubjectAccessReviewSpec::default()
        },
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_asks_as_the_requester_for_exactly_the_permission() {
        let requester = Requester {
            username: "jane".into(),
            uid: Some("42".into()),
            groups: vec!["team-b".into(), "system:authenticated".into()],
        };
        let permission = Permission {
            verb: "create",
            group: "argoproj.io",
            resource: "applications",
            namespace: "argocd",
            name: Some("web"),
        };
        let review = review(&requester, &permission);
        assert_eq!(review.spec.user.as_deref(), Some("jane"));
        assert_eq!(review.spec.uid.as_deref(), Some("42"));
        assert_eq!(review.spec.groups.as_ref().unwrap().len(), 2);
        let attributes = review.spec.resource_attributes.unwrap();
        assert_eq!(attributes.verb.as_deref(), Some("create"));
        assert_eq!(attributes.group.as_deref(), Some("argoproj.io"));
        assert_eq!(attributes.resource.as_deref(), Some("applications"));
        assert_eq!(attributes.namespace.as_deref(), Some("argocd"));
        assert_eq!(attributes.name.as_deref(), Some("web"));
        assert_eq!(
            permission.to_string(),
            "create applications.argoproj.io in namespace argocd"
        );
        let core = Permission {
            group: "",
            resource: "configmaps",
            ..permission
        };
        assert_eq!(core.to_string(), "create configmaps in namespace argocd");
    }
}
