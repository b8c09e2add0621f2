//! What a request's gated steps read in the cluster, and who may read it:
//! the Application, CatalogEntity, object or ScaffoldApprovals each waits
//! for, read once per look. The judging is [`crate::actions::gated`]'s and
//! [`crate::actions::approval`]'s.
//!
//! What a step may read: an Application this request made, or one in a
//! project the namespace may use (`tenancy.argocd`); a CatalogEntity the
//! requester may `get` themselves (as `catalog:fetch`); an object the
//! operator's `kubernetesApply.allow` lists for the request's namespace,
//! which the requester may `get` themselves (as `kubernetes:apply` asks
//! before it writes); the approvals of the request's own step, which the
//! operator reads itself (who may make one is RBAC on `scaffoldapprovals`,
//! and the API server records who did).

use kube::Api;
use kube::ResourceExt;
use kube::api::ListParams;
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::Value;

use super::{ClusterEffects, ListedUse, api_failure, group_version};
use crate::actions::approval::{self, ApprovalInput, ApprovalOutput};
use crate::actions::gated::{self, ApplicationWaitInput, ConditionWaitInput, EntityWaitInput, Gate};
use crate::actions::{ActionError, REQUEST_UID_LABEL, output};
use crate::api::{EntityRef, ScaffoldApproval};
use crate::controller::access::Permission;

impl ClusterEffects<'_> {
    /// Looks once at what `gate` waits for: its output when it holds.
    pub(super) fn look_once(&mut self, gate: &Gate) -> Result<Value, ActionError> {
        Ok(match gate {
            Gate::Application(input) => output(&self.wait_application(input)?),
            Gate::Entity(input) => output(&self.wait_entity(input)?),
            Gate::Condition(input) => output(&self.wait_condition(input)?),
            Gate::Approval(input) => output(&self.wait_approval(input)?),
        })
    }

    /// The approvals of this request's running step, listed by the CRD's
    /// selectable fields (at most [`approval::MAX_READ`]), decided by
    /// [`approval::decide`] counting those made for this request and this
    /// attempt of the step ([`approval::counts_from`]).
    fn wait_approval(&self, input: &ApprovalInput) -> Result<ApprovalOutput, ActionError> {
        let api: Api<ScaffoldApproval> = Api::namespaced(self.context.client.clone(), &self.namespace);
        let params = ListParams::default()
            .fields(&approval::field_selector(&self.request_name, &self.step_id))
            .limit(approval::MAX_READ);
        let listed = self.handle.block_on(api.list(&params)).map_err(|e| {
            api_failure(
                &format!(
                    "listing the ScaffoldApprovals of step {} of {}",
                    self.step_id, self.request_name
                ),
                e,
            )
        })?;
        let more = listed
            .metadata
            .continue_
            .as_deref()
            .is_some_and(|next| !next.is_empty());
        let requester = self.requester.as_ref().map(|r| r.username.as_str());
        let since = approval::counts_from(
            self.request_created.as_ref().map(|t| t.0),
            self.attempt_started.as_ref().map(|t| t.0),
        );
        let outcome = approval::decide(
            input,
            requester,
            &self.request_name,
            &self.step_id,
            since,
            &listed.items,
        );
        approval::answer(&input.approvers, &outcome, more)
    }

    fn wait_application(
        &self,
        input: &ApplicationWaitInput,
    ) -> Result<gated::ApplicationWaitOutput, ActionError> {
        let argocd_namespace = &self.context.config.argocd.namespace;
        let namespace = input
            .namespace
            .clone()
            .unwrap_or_else(|| argocd_namespace.clone());
        if namespace != *argocd_namespace && namespace != self.namespace {
            return Err(ActionError::permanent(format!(
                "input.namespace: a request of namespace {} waits only for Applications in Argo CD's \
                 namespace ({argocd_namespace}) or its own, not in {namespace}",
                self.namespace
            )));
        }
        let resource =
            ApiResource::from_gvk(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Application"));
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.context.client.clone(), &namespace, &resource);
        let name = match (&input.name, self.applications.first()) {
            (Some(name), _) => name.clone(),
            (None, Some(made)) => made.clone(),
            (None, None) => self.made_application(&api, &namespace)?,
        };
        let read = self
            .handle
            .block_on(api.get_opt(&name))
            .map_err(|e| api_failure(&format!("reading Application {namespace}/{name}"), e))?;
        if let Some(application) = &read
            && application.labels().get(REQUEST_UID_LABEL) != Some(&self.uid)
        {
            // Not this request's: only one of a project the namespace may use.
            let value = serde_json::to_value(application).unwrap_or_default();
            let project = crate::actions::argocd::project(&value);
            let labels = if self.tenant.lists_project(&project) {
                None
            } else {
                self.project_labels(&project)?
            };
            self.tenant
                .check_project(&project, labels.as_ref())
                .map_err(|_| {
                    ActionError::permanent(format!(
                        "input.name: Application {namespace}/{name} is in AppProject {project:?}, which \
                     Applications of namespace {} may not use ({}); a request waits only for its own \
                     Applications or ones of its projects",
                        self.namespace,
                        self.tenant.project_rule()
                    ))
                })?;
        }
        let value = read.map(|a| serde_json::to_value(a).unwrap_or_default());
        gated::application(&name, &namespace, value.as_ref())
    }

    /// The name of the one Application this request made, found by its
    /// label when no earlier step's output names it.
    fn made_application(&self, api: &Api<DynamicObject>, namespace: &str) -> Result<String, ActionError> {
        let selector = format!("{REQUEST_UID_LABEL}={}", self.uid);
        let made = self
            .handle
            .block_on(api.list_metadata(&kube::api::ListParams::default().labels(&selector).limit(2)))
            .map_err(|e| api_failure(&format!("listing Applications in {namespace}"), e))?;
        match made.items.as_slice() {
            [one] => Ok(one.name_any()),
            [] => Err(ActionError::permanent(format!(
                "input.name is required: this request made no Application in {namespace} to wait for"
            ))),
            _ => Err(ActionError::permanent(format!(
                "input.name is required: this request made several Applications in {namespace}"
            ))),
        }
    }

    fn wait_entity(&self, input: &EntityWaitInput) -> Result<gated::EntityWaitOutput, ActionError> {
        let text = match (&input.entity_ref, self.entities.first()) {
            (Some(text), _) => text.clone(),
            (None, Some(registered)) => registered.clone(),
            (None, None) => {
                return Err(ActionError::permanent(
                    "input.entityRef is required: this request registered no entity to wait for",
                ));
            }
        };
        let wanted = EntityRef::parse(&text, Some("Component"), Some(&self.namespace))
            .map_err(|e| ActionError::permanent(format!("input.entityRef {text:?}: {e}")))?;
        let found = self.read_entity(&wanted)?.filter(|entity| {
            crate::actions::catalog::entity_ref(entity).eq_ignore_ascii_case(&wanted.to_string())
        });
        gated::entity(&wanted.to_string(), found.as_ref())
    }

    fn wait_condition(&self, input: &ConditionWaitInput) -> Result<gated::ConditionWaitOutput, ActionError> {
        let (group, _) = group_version(&input.api_version);
        let kind = &input.kind;
        let namespace = &self.namespace;
        if input.api_version.is_empty() || kind.is_empty() || input.name.is_empty() {
            return Err(ActionError::permanent(
                "input.apiVersion, input.kind and input.name are required",
            ));
        }
        // Refused by name before anything is read, so a refusal tells
        // nothing about what exists.
        self.require_listed(ListedUse::WaitCondition, group, kind, namespace)?;
        let resource = self.namespaced_kind(ListedUse::WaitCondition, &input.api_version, kind)?;
        self.require(&Permission {
            verb: "get",
            group,
            resource: &resource.plural,
            namespace,
            name: Some(&input.name),
        })?;
        let api: Api<DynamicObject> = Api::namespaced_with(self.context.client.clone(), namespace, &resource);
        let what = format!("{kind} {namespace}/{}", input.name);
        let read = self
            .handle
            .block_on(api.get_opt(&input.name))
            .map_err(|e| api_failure(&format!("reading {what}"), e))?
            .map(|object| serde_json::to_value(object).unwrap_or_default());
        gated::condition(&what, input, read.as_ref())
    }
}
