//! `argocd:create-resources`: the Argo CD Application for a new repository,
//! with Roadie's input names (`appName`, `argoInstance`, `namespace`,
//! `repoUrl`, `path`, `projectName`, `labelValue`), and whether a
//! namespace's request may make it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ActionError;
use crate::config::{ArgoCd, TenantRules, pattern_matches};

/// The input of `argocd:create-resources`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationInput {
    /// The Application's name.
    pub app_name: String,
    /// The Argo CD instance, recorded as an annotation.
    pub argo_instance: Option<String>,
    /// The namespace it deploys to.
    pub namespace: String,
    /// The repository it deploys from.
    pub repo_url: String,
    /// The directory in that repository (default `.`).
    pub path: Option<String>,
    /// The AppProject (default the namespace's first).
    pub project_name: Option<String>,
    /// The `backstage-name` label (default the name).
    pub label_value: Option<String>,
}

/// The output of `argocd:create-resources`.
#[derive(Serialize, JsonSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationOutput {
    /// The Application's name.
    pub app_name: String,
    /// Its namespace (Argo CD's).
    pub namespace: String,
}

/// Builds the Application a step asks for; `default_project` when the step
/// names none.
pub fn application(
    input: &ApplicationInput,
    settings: &ArgoCd,
    default_project: &str,
) -> Result<Value, ActionError> {
    let name = &input.app_name;
    let destination_namespace = &input.namespace;
    let repo_url = &input.repo_url;
    let path = input.path.as_deref().unwrap_or(".");
    let project = input.project_name.as_deref().unwrap_or(default_project);
    let label = input.label_value.as_deref().unwrap_or(name);
    let mut annotations = serde_json::Map::new();
    if let Some(instance) = &input.argo_instance {
        annotations.insert("goldpath.dev/argo-instance".into(), instance.as_str().into());
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

/// Whether a request of the tenant `rules` are for may make `application`:
/// its project is one of the namespace's (`project_labels`: the labels of
/// the AppProject it names, `None` when it does not exist or was not read),
/// its destination one the namespace may deploy to, and its source a
/// repository the request published (`published`: their clone URLs) or one
/// the configuration allows. The error names the field and the rule it
/// broke.
pub fn permitted(
    application: &Value,
    rules: &TenantRules,
    project_labels: Option<&BTreeMap<String, String>>,
    published: &[&str],
) -> Result<(), ActionError> {
    let namespace = &rules.namespace;
    let allowed = &rules.argocd;
    let spec = &application["spec"];
    let text = |value: &Value| value.as_str().unwrap_or_default().to_string();
    rules
        .check_project(&project(application), project_labels)
        .map_err(ActionError::permanent)?;
    let server = text(&spec["destination"]["server"]);
    let destination = text(&spec["destination"]["namespace"]);
    if !allowed
        .destinations
        .iter()
        .any(|d| pattern_matches(&d.server, &server) && pattern_matches(&d.namespace, &destination))
    {
        let listed: Vec<String> = allowed
            .destinations
            .iter()
            .map(|d| format!("{} {}", d.server, d.namespace))
            .collect();
        return Err(ActionError::permanent(format!(
            "input.namespace: Applications of namespace {namespace} may not deploy to namespace \
             {destination:?} of {server} (tenancy.argocd.destinations: {listed:?})"
        )));
    }
    let repository = text(&spec["source"]["repoURL"]);
    let ours = published.iter().any(|url| *url == repository);
    if !ours
        && !allowed
            .repositories
            .iter()
            .any(|r| pattern_matches(r, &repository))
    {
        return Err(ActionError::permanent(format!(
            "input.repoUrl: {repository:?} is neither a repository this request published nor one \
             namespace {namespace} may deploy from (tenancy.argocd.repositories: {:?})",
            allowed.repositories
        )));
    }
    Ok(())
}

/// The AppProject `application` names.
pub fn project(application: &Value) -> String {
    application["spec"]["project"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The step's output: where the Application is.
pub fn output(application: &Value) -> ApplicationOutput {
    let text = |key: &str| {
        application["metadata"][key]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    ApplicationOutput {
        app_name: text("name"),
        namespace: text("namespace"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn made(project: Option<&str>, destination: &str, repo: &str) -> Value {
        let input = ApplicationInput {
            app_name: "web".into(),
            namespace: destination.into(),
            repo_url: repo.into(),
            project_name: project.map(str::to_string),
            ..ApplicationInput::default()
        };
        application(&input, &ArgoCd::default(), "team-b").unwrap()
    }

    #[test]
    fn a_tenant_uses_its_own_project_destination_and_repository() {
        let rules = Config::default().tenant("team-b");
        let ours = "http://git/acme-web.git";
        assert_eq!(made(None, "team-b", ours)["spec"]["project"], "team-b");
        permitted(&made(None, "team-b", ours), &rules, None, &[ours]).unwrap();
    }

    #[test]
    fn another_project_destination_or_repository_is_refused_naming_the_rule() {
        let rules = Config::default().tenant("team-b");
        let ours = "http://git/acme-web.git";
        let error = |application: Value| {
            permitted(&application, &rules, None, &[ours])
                .unwrap_err()
                .message
        };
        let project = error(made(Some("default"), "team-b", ours));
        assert!(project.contains("input.projectName"), "{project}");
        assert!(project.contains("tenancy.argocd.projects"), "{project}");
        let destination = error(made(None, "kube-system", ours));
        assert!(destination.contains("\"kube-system\""), "{destination}");
        assert!(
            destination.contains("tenancy.argocd.destinations"),
            "{destination}"
        );
        let repository = error(made(None, "team-b", "http://git/team-a-secrets.git"));
        assert!(repository.contains("tenancy.argocd.repositories"), "{repository}");
        assert!(!repository.contains("  "), "{repository}");
    }

    #[test]
    fn a_project_labelled_with_the_namespace_is_allowed_and_one_of_another_refused() {
        let rules = Config::default().tenant("team-b");
        let ours = "http://git/acme-web.git";
        let labels = |namespace: &str| BTreeMap::from([("goldpath.dev/namespace".into(), namespace.into())]);
        let shared = made(Some("shared"), "team-b", ours);
        permitted(&shared, &rules, Some(&labels("team-b")), &[ours]).unwrap();
        let error = permitted(&shared, &rules, Some(&labels("team-a")), &[ours])
            .unwrap_err()
            .message;
        assert!(
            error.contains("input.projectName") && error.contains("goldpath.dev/namespace=team-b"),
            "{error}"
        );
        assert!(permitted(&shared, &rules, None, &[ours]).is_err());
    }

    #[test]
    fn configured_repositories_and_project_patterns_are_allowed() {
        let config: Config = serde_yaml_ng::from_str(
            "tenancy: {argocd: {projects: [\"{namespace}-*\"], repositories: [\"https://charts/{namespace}/*\"]}}\n",
        )
        .unwrap();
        let rules = config.tenant("team-b");
        permitted(
            &made(Some("team-b-apps"), "team-b", "https://charts/team-b/web.git"),
            &rules,
            None,
            &[],
        )
        .unwrap();
        assert!(
            permitted(
                &made(Some("team-a-apps"), "team-b", "https://charts/team-b/web.git"),
                &rules,
                None,
                &[]
            )
            .is_err()
        );
        assert!(
            permitted(
                &made(Some("team-b-apps"), "team-b", "https://charts/team-a/web.git"),
                &rules,
                None,
                &[]
            )
            .is_err()
        );
    }
}
