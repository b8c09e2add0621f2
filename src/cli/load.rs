//! Reading what the user points the CLI at: a template (goldpath's or a
//! Backstage template.yaml) with its files, and parameter values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::actions::fetch;
use crate::api::EntityRef;
use crate::api::{Template, TemplateSpec};
use crate::engine::files::{self, TemplateFiles};

/// A template read from disk, with the files its steps fetch from.
pub struct LoadedTemplate {
    /// The template's name.
    pub name: String,
    /// Its spec.
    pub spec: TemplateSpec,
    /// Its files: `spec.source.inline`, its git source, or the directory
    /// beside the file (with what its fetch urls climb to).
    pub files: TemplateFiles,
}

/// Reads a goldpath Template or a Backstage `scaffolder.backstage.io/v1beta3`
/// template.yaml (whose `./skeleton` is next to it). Its fetch urls may
/// climb up to `root` (default: the enclosing git work tree, else the
/// template's directory).
pub fn template(path: &Path, root: Option<&Path>, git_cache: &Path) -> anyhow::Result<LoadedTemplate> {
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
        (Some(inline), _) => TemplateFiles::at_root(files::from_inline(inline)),
        (None, Some(git)) => {
            let commit = crate::git::resolve(&git.url, git.ref_.as_deref(), None)
                .with_context(|| format!("{}: spec.source.git", path.display()))?;
            let (read, dir) = fetch::source_dirs(&template.spec, git.path.as_deref().unwrap_or_default());
            let files = crate::git::read_tree(
                &git.url,
                &commit,
                Some(&read),
                None,
                git_cache,
                &crate::config::TemplateSourceLimits::default(),
            )
            .with_context(|| format!("{}: spec.source.git", path.display()))?;
            TemplateFiles::read_from(files, &read, &dir)
        }
        (None, None) => local_files(path, root, &template.spec)?,
    };
    Ok(LoadedTemplate {
        name,
        spec: template.spec,
        files,
    })
}

/// The files of a template read from its directory on disk: the
/// directory beside the file, and what its fetch urls climb to within the
/// root.
fn local_files(path: &Path, root: Option<&Path>, spec: &TemplateSpec) -> anyhow::Result<TemplateFiles> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("reading the template's directory {}", dir.display()))?;
    let root = match root {
        Some(root) => root
            .canonicalize()
            .with_context(|| format!("--root {}", root.display()))?,
        None => work_tree(&dir).unwrap_or_else(|| dir.clone()),
    };
    let Ok(within) = dir.strip_prefix(&root) else {
        bail!(
            "{}: the template is not inside --root {}",
            path.display(),
            root.display()
        );
    };
    let within: Vec<String> = within
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let (read, template_dir) = fetch::source_dirs(spec, &within.join("/"));
    let read_path = root.join(&read);
    // The same bounds as the operator's default for a Template's source.
    let limits = crate::config::TemplateSourceLimits::default();
    let bounds = files::ReadBounds {
        max_depth: limits.max_depth,
        max_files: limits.max_files,
        max_bytes: limits.max_bytes,
    };
    let files = files::read_dir(&read_path, bounds)
        .with_context(|| format!("reading the template's files in {}", read_path.display()))?;
    Ok(TemplateFiles::read_from(files, &read, &template_dir))
}

/// The git work tree `dir` lies in: the nearest ancestor holding `.git`.
fn work_tree(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|ancestor| ancestor.join(".git").exists())
        .map(Path::to_path_buf)
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
