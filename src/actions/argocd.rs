//! `argocd:create-resources`: the Argo CD Application for a new repository,
//! with Roadie's input names (`appName`, `argoInstance`, `namespace`,
//! `repoUrl`, `path`, `projectName`, `labelValue`).

use serde_json::{Value, json};

use super::{ActionError, optional_str, required_str};
use crate::config::ArgoCd;

/// Builds the Application a step asks for.
pub fn application(input: &Value, settings: &ArgoCd) -> Result<Value, ActionError> {
    let name = required_str(input, "appName")?;
    let destination_namespace = required_str(input, "namespace")?;
    let repo_url = required_str(input, "repoUrl")?;
    let path = optional_str(input, "path")?.unwrap_or(".");
    let project = optional_str(input, "projectName")?.unwrap_or(&settings.default_project);
    let label = optional_str(input, "labelValue")?.unwrap_or(name);
    let mut annotations = serde_json::Map::new();
    if let Some(instance) = optional_str(input, "argoInstance")? {
        annotations.insert("goldpath.dev/argo-instance".into(), instance.into());
    }
    Ok(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": { "backstage-name": label },
            "annotations": annotations,
        },
        "spec": {
            "project": project,
            "source": { "repoURL": repo_url, "path": path, "targetRevision": "HEAD" },
            "destination": { "server": settings.destination_server, "namespace": destination_namespace },
            "syncPolicy": {
                "automated": { "prune": true, "selfHeal": true },
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }))
}

/// The step's output: where the Application is.
pub fn output(application: &Value) -> Value {
    json!({
        "appName": application["metadata"]["name"],
        "namespace": application["metadata"]["namespace"],
    })
}
