//! The objects the operator's `kubernetesApply.allow` lists, which
//! `kubernetes:apply` writes and `wait:condition` reads: the one place that
//! refuses a kind the list does not name for a namespace, finds how the
//! cluster serves a kind, and refuses a cluster-scoped one. Each caller
//! decides the order: `wait:condition` asks the list before it reads
//! anything, `kubernetes:apply` after it has found the kind.

use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{self, Scope};

use super::{ClusterEffects, api_failure};
use crate::actions::ActionError;

/// What a step does with a listed kind's object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ListedUse {
    /// `kubernetes:apply` writes it.
    Apply,
    /// `wait:condition` reads it.
    WaitCondition,
}

impl ListedUse {
    /// Why the list refuses `kind` of `group` in `namespace`.
    fn unlisted(self, group: &str, kind: &str, namespace: &str) -> String {
        let (action, verb) = match self {
            ListedUse::Apply => ("kubernetes:apply", "write"),
            ListedUse::WaitCondition => ("wait:condition", "read"),
        };
        let group = if group.is_empty() {
            String::new()
        } else {
            format!(".{group}")
        };
        format!(
            "{action} may not {verb} {kind}{group} in namespace {namespace}: the operator's \
             configuration (kubernetesApply.allow) does not allow it"
        )
    }

    /// What was being done when discovery failed, naming the input it read.
    fn finding(self, api_version: &str, kind: &str) -> String {
        match self {
            ListedUse::Apply => format!("input.manifest: finding {api_version} {kind}"),
            ListedUse::WaitCondition => format!("finding {api_version} {kind}"),
        }
    }

    /// Why a cluster-scoped `kind` is refused, naming the input it read.
    fn cluster_scoped(self, kind: &str) -> String {
        match self {
            ListedUse::Apply => format!(
                "input.manifest: {kind} is cluster-scoped; kubernetes:apply only writes namespaced objects"
            ),
            ListedUse::WaitCondition => {
                format!("input.kind: {kind} is cluster-scoped; wait:condition reads namespaced objects only")
            }
        }
    }
}

/// The API group and version of `api_version`: `apps/v1` is `apps` and
/// `v1`, the core group's `v1` is `""` and `v1`.
pub(super) fn group_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

impl ClusterEffects<'_> {
    /// Refuses `to` an object of `kind` in `group` in `namespace` unless the
    /// operator's `kubernetesApply.allow` lists it for this request's
    /// namespace.
    pub(super) fn require_listed(
        &self,
        to: ListedUse,
        group: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<(), ActionError> {
        let rules = &self.context.config.kubernetes_apply;
        if rules.allows(group, kind, namespace, &self.namespace) {
            Ok(())
        } else {
            Err(ActionError::permanent(to.unlisted(group, kind, namespace)))
        }
    }

    /// How the cluster serves `kind` of `api_version`, found by discovery;
    /// a cluster-scoped kind is refused, as goldpath touches namespaced
    /// objects only.
    pub(super) fn namespaced_kind(
        &self,
        to: ListedUse,
        api_version: &str,
        kind: &str,
    ) -> Result<ApiResource, ActionError> {
        let (group, version) = group_version(api_version);
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, capabilities) = self
            .handle
            .block_on(discovery::pinned_kind(&self.context.client, &gvk))
            .map_err(|e| api_failure(&to.finding(api_version, kind), e))?;
        if capabilities.scope == Scope::Cluster {
            return Err(ActionError::permanent(to.cluster_scoped(kind)));
        }
        Ok(resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_action_what_it_does_the_kind_and_the_namespace() {
        assert_eq!(
            ListedUse::Apply.unlisted("", "Secret", "team-a"),
            "kubernetes:apply may not write Secret in namespace team-a: the operator's configuration \
             (kubernetesApply.allow) does not allow it"
        );
        assert_eq!(
            ListedUse::WaitCondition.unlisted("tekton.dev", "PipelineRun", "team-a"),
            "wait:condition may not read PipelineRun.tekton.dev in namespace team-a: the operator's \
             configuration (kubernetesApply.allow) does not allow it"
        );
    }

    #[test]
    fn a_cluster_scoped_kind_or_a_failed_discovery_names_the_input_read() {
        assert_eq!(
            ListedUse::Apply.cluster_scoped("Namespace"),
            "input.manifest: Namespace is cluster-scoped; kubernetes:apply only writes namespaced objects"
        );
        assert_eq!(
            ListedUse::WaitCondition.cluster_scoped("Namespace"),
            "input.kind: Namespace is cluster-scoped; wait:condition reads namespaced objects only"
        );
        assert_eq!(
            ListedUse::Apply.finding("v1", "Widget"),
            "input.manifest: finding v1 Widget"
        );
        assert_eq!(
            ListedUse::WaitCondition.finding("v1", "Widget"),
            "finding v1 Widget"
        );
    }

    #[test]
    fn an_api_version_splits_into_group_and_version() {
        assert_eq!(group_version("apps/v1"), ("apps", "v1"));
        assert_eq!(group_version("v1"), ("", "v1"));
        assert_eq!(group_version("tekton.dev/v1beta1"), ("tekton.dev", "v1beta1"));
    }
}
