//! `argocd:create-resources`: the Argo CD Application for a new repository,
//! with Roadie's input names (`appName`, `argoInstance`, `namespace`,
//! `repoUrl`, `path`, `projectName`, `labelValue`), and whether a
//! namespace's request may make it.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ActionError, optional_str, required_str};
use crate::config::{ArgoCd, TenantRules, pattern_matches};

/// Builds the Application a step asks for; `default_project` when the step
/// names none.
pub fn application(input: &Value, settings: &ArgoCd, default_project: &str) -> Result<Value, ActionError> {
    let name = required_str(input, "appName")?;
    let destination_namespace = required_str(input, "namespace")?;
    let repo_url = required_str(input, "repoUrl")?;
    let path = optional_str(input, "path")?.unwrap_or(".");
    let project = optional_str(input, "projectName")?.unwrap_or(default_project);
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
pub fn output(application: &Value) -> Value {
    json!({
        "appName": application["metadata"]["name"],
        "namespace": application["metadata"]["namespace"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn made(project: Option<&str>, destination: &str, repo: &str) -> Value {
        let mut input = json!({"appName": "web", "namespace": destination, "repoUrl": repo});
        if let Some(project) = project {
            input["projectName"] = json!(project);
        }
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
