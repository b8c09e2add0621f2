//! Reading what the user points the CLI at: a template (goldpath's or a
//! Backstage template.yaml) with its files, and parameter values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::api::EntityRef;
use crate::api::{Template, TemplateSpec};
use crate::engine::files::{self, FileTree};

/// A template read from disk, with the files its steps fetch from.
pub struct LoadedTemplate {
    /// The template's name.
    pub name: String,
    /// Its spec.
    pub spec: TemplateSpec,
    /// Its files: `spec.source.inline`, its git source, or the directory
    /// beside the file.
    pub files: FileTree,
}

/// Reads a goldpath Template or a Backstage `scaffolder.backstage.io/v1beta3`
/// template.yaml (whose `./skeleton` is next to it).
pub fn template(path: &Path, git_cache: &Path) -> anyhow::Result<LoadedTemplate> {
    let document = yaml_file(path)?;
    let api_version = document
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = document.get("kind").and_then(Value::as_str).unwrap_or_default();
    if kind != "Template" {
        bail!("{}: kind is {kind:?}; expected a Template", path.display());
    }
    let template = match api_version {
        "goldpath.dev/v1alpha1" => serde_json::from_value::<Template>(document)
            .with_context(|| format!("{}: not a valid goldpath Template", path.display()))?,
        crate::api::BACKSTAGE_API_VERSION => Template::from_backstage(document)
            .with_context(|| format!("{}: not a valid Backstage template", path.display()))?,
        other => bail!(
            "{}: apiVersion {other:?} is neither goldpath.dev/v1alpha1 nor scaffolder.backstage.io/v1beta3",
            path.display()
        ),
    };
    let name = template.metadata.name.clone().unwrap_or_default();
    let source = template.spec.source.as_ref();
    let files = match (
        source.and_then(|s| s.inline.as_ref()),
        source.and_then(|s| s.git.as_ref()),
    ) {
        (Some(inline), _) => files::from_inline(inline),
        (None, Some(git)) => {
            let commit = crate::git::resolve(&git.url, git.ref_.as_deref(), None)
                .with_context(|| format!("{}: spec.source.git", path.display()))?;
            crate::git::read_tree(
                &git.url,
                &commit,
                git.path.as_deref(),
                None,
                git_cache,
                &crate::config::TemplateSourceLimits::default(),
            )
            .with_context(|| format!("{}: spec.source.git", path.display()))?
        }
        (None, None) => {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
                _ => PathBuf::from("."),
            };
            files::read_dir(&dir)
                .with_context(|| format!("reading the template's files in {}", dir.display()))?
        }
    };
    Ok(LoadedTemplate {
        name,
        spec: template.spec,
        files,
    })
}

/// What a request brings besides the template.
pub struct Inputs {
    /// Parameter values.
    pub values: Value,
    /// Secret values.
    pub secrets: BTreeMap<String, String>,
    /// `{ref, entity}` of who asks, or null.
    pub user: Value,
}

/// Reads the values and secrets files and the user reference.
pub fn inputs(
    values_file: Option<&Path>,
    secrets_file: Option<&Path>,
    user: Option<&str>,
) -> anyhow::Result<Inputs> {
    let user = match user {
        None => Value::Null,
        Some(reference) => {
            let parsed = EntityRef::parse(reference, Some("user"), None)
                .map_err(|e| anyhow::anyhow!("--user: {e}"))?;
            serde_json::json!({
                "ref": parsed.to_string(),
                "entity": {
                    "apiVersion": "backstage.io/v1alpha1",
                    "kind": "User",
                    "metadata": { "name": parsed.name, "namespace": parsed.namespace },
                },
            })
        }
    };
    Ok(Inputs {
        values: values(values_file)?,
        secrets: secrets(secrets_file)?,
        user,
    })
}

/// Parameter values: a YAML or JSON object, or a ScaffoldRequest whose
/// `spec.parameters` are taken.
fn values(path: Option<&Path>) -> anyhow::Result<Value> {
    let Some(path) = path else {
        return Ok(Value::Object(Default::default()));
    };
    let document = yaml_file(path)?;
    let values = if document.get("kind").and_then(Value::as_str) == Some("ScaffoldRequest") {
        document
            .pointer("/spec/parameters")
            .cloned()
            .unwrap_or_else(|| Value::Object(Default::default()))
    } else {
        document
    };
    if !values.is_object() {
        bail!(
            "{}: expected an object of parameter values (or a ScaffoldRequest)",
            path.display()
        );
    }
    Ok(values)
}

/// Secret values for `${{ secrets.* }}`: a YAML object of strings.
fn secrets(path: Option<&Path>) -> anyhow::Result<BTreeMap<String, String>> {
    let Some(path) = path else {
        return Ok(BTreeMap::new());
    };
    serde_json::from_value(yaml_file(path)?).map_err(|_| {
        anyhow::anyhow!(
            "{}: expected an object of secret names to string values",
            path.display()
        )
    })
}

fn yaml_file(path: &Path) -> anyhow::Result<Value> {
    let text = crate::yaml::read_file(path).with_context(|| format!("cannot read {}", path.display()))?;
    crate::yaml::document(&text).map_err(|e| anyhow::anyhow!("{}: invalid YAML: {e}", path.display()))
}
