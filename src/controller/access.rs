//! Whether the user who created a request may themselves do what one of its
//! steps is about to do: a SubjectAccessReview as that user (from
//! `spec.requester`, which the API server stamped), asked before every
//! write to the cluster and every catalog read a step makes. The
//! operator's own rights and its configuration stay the outer limit; this
//! keeps a tenant within its own rights inside it.

use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use kube::Client;
use kube::api::{Api, PostParams};

use super::is_transient;
use crate::actions::ActionError;
use crate::api::Requester;
pub use crate::tenancy::review::{Permission, review};

/// Succeeds when `requester` may do `permission`; otherwise the step's
/// error names the user and the missing permission. A review that cannot
/// be made (the API server down) is retried; one the operator may not make
/// fails, saying so.
pub async fn require(
    client: &Client,
    requester: Option<&Requester>,
    permission: &Permission<'_>,
) -> Result<(), ActionError> {
    let Some(requester) = requester else {
        return Err(ActionError::permanent(format!(
            "the request has no spec.requester, so whether its creator may {permission} is unknown; \
             nothing was written"
        )));
    };
    let api: Api<SubjectAccessReview> = Api::all(client.clone());
    let answer = api
        .create(&PostParams::default(), &review(requester, permission))
        .await
        .map_err(|error| {
            let message = format!(
                "asking the API server whether {} may {permission}: {error}",
                requester.username
            );
            if is_transient(&error) {
                ActionError::transient(message)
            } else {
                ActionError::permanent(message)
            }
        })?;
    let status = answer.status.unwrap_or_default();
    if status.allowed && !status.denied.unwrap_or(false) {
        return Ok(());
    }
    Err(ActionError::permanent(format!(
        "{} (the request's creator, spec.requester) may not {permission}, so goldpath does not do it \
         for them; nothing was written. Their RBAC needs that permission",
        requester.username
    )))
}
