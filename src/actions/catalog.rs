//! `catalog:write`, and turning Backstage entities (catalog-info.yaml) into
//! CatalogEntities and back, for `catalog:register` and the catalog.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{ActionError, optional_str};
use crate::api::CatalogEntity;
use crate::engine::files::{FileEntry, FileTree};
use crate::engine::workspace;

/// `catalog:write`: writes `input.entity` as YAML to `input.filePath`
/// (default `catalog-info.yaml`).
pub fn write(input: &Value, files: &mut FileTree) -> Result<Value, ActionError> {
    let file_path = optional_str(input, "filePath")?.unwrap_or("catalog-info.yaml");
    let path =
        workspace::join("", file_path).map_err(|e| ActionError::permanent(format!("input.filePath: {e}")))?;
    if path.is_empty() || files.keys().any(|p| workspace::is_within(p, &path) && *p != path) {
        return Err(ActionError::permanent(format!(
            "input.filePath: {file_path:?} names a directory of the workspace, not a file; \
             write e.g. {:?}",
            workspace::join(&path, "catalog-info.yaml").unwrap_or_default()
        )));
    }
    let entity = input.get("entity").filter(|e| e.is_object()).ok_or_else(|| {
        ActionError::permanent("input.entity is required: the entity to write, as an object")
    })?;
    let yaml =
        serde_yaml_ng::to_string(entity).map_err(|e| ActionError::permanent(format!("input.entity: {e}")))?;
    files.insert(path, FileEntry::text(yaml));
    Ok(json!({}))
}

/// The catalog-info file `catalog:register` registers: `catalogInfoUrl`, or
/// `catalogInfoPath` (default `/catalog-info.yaml`) under `repoContentsUrl`.
pub fn catalog_info_url(input: &Value) -> Result<String, ActionError> {
    if let Some(url) = optional_str(input, "catalogInfoUrl")? {
        return Ok(url.to_string());
    }
    let contents = optional_str(input, "repoContentsUrl")?.ok_or_else(|| {
        ActionError::permanent("input.repoContentsUrl (or input.catalogInfoUrl) is required")
    })?;
    let path = optional_str(input, "catalogInfoPath")?.unwrap_or("/catalog-info.yaml");
    Ok(format!(
        "{}/{}",
        contents.trim_end_matches('/'),
        path.trim_start_matches('/')
    ))
}

/// Which of the repositories a run published (keyed by contents URL) holds
/// `url`, and the file's path within it.
pub fn locate<'a, T>(
    published: &'a BTreeMap<String, T>,
    url: &str,
) -> Result<(&'a String, &'a T, String), ActionError> {
    published
        .iter()
        .find(|(prefix, _)| url.starts_with(prefix.as_str()))
        .map(|(contents_url, repository)| {
            let path = url[contents_url.len()..].trim_start_matches('/').to_string();
            (contents_url, repository, path)
        })
        .ok_or_else(|| ActionError::permanent(format!("{url} is not in a repository this request published")))
}

/// The entities of catalog-info file `url` (its `text`), as
/// `catalog:register` registers them: in `namespace`, annotated with the
/// repository at `contents_url`, the template and the Application.
pub fn to_register(
    text: &str,
    url: &str,
    namespace: &str,
    contents_url: &str,
    template_ref: &str,
    application: Option<&str>,
) -> Result<Vec<CatalogEntity>, ActionError> {
    let mut entities = Vec::new();
    let documents: Vec<Value> = crate::yaml::documents(text)
        .map_err(|e| ActionError::permanent(format!("{url}: invalid YAML: {e}")))?;
    for document in documents {
        if document.is_null() {
            continue;
        }
        let entity = crate::catalog::backstage::from_backstage(&document, namespace)
            .map_err(|e| ActionError::permanent(format!("{url}: {e}")))?;
        entities.push(registered(entity, contents_url, template_ref, application));
    }
    if entities.is_empty() {
        return Err(ActionError::permanent(format!("{url} holds no entity")));
    }
    Ok(entities)
}

/// The entity's full reference, `kind:namespace/name`, lowercase as
/// Backstage writes it.
pub fn entity_ref(entity: &CatalogEntity) -> String {
    crate::catalog::relations::entity_ref(
        entity.spec.kind,
        entity.metadata.namespace.as_deref().unwrap_or("default"),
        entity.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// Annotations Backstage reads to link an entity to where it came from.
pub const SOURCE_LOCATION: &str = "backstage.io/source-location";
/// The template an entity was made from.
pub const SOURCE_TEMPLATE: &str = "backstage.io/source-template";
/// The Argo CD Application whose status rolls up into the entity.
pub use crate::catalog::lookup::ARGOCD_APP_NAME;

/// An entity as `catalog:register` registers it: annotated with its source
/// repository, the template that made it and its Argo CD Application, and
/// linked to the repository, so its page and its status roll-up work without
/// anyone editing it.
pub fn registered(
    mut entity: CatalogEntity,
    contents_url: &str,
    template_ref: &str,
    application: Option<&str>,
) -> CatalogEntity {
    let annotations = entity.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(
        SOURCE_LOCATION.into(),
        format!("url:{}/", contents_url.trim_end_matches('/')),
    );
    annotations.insert(SOURCE_TEMPLATE.into(), template_ref.to_string());
    if let Some(application) = application {
        annotations
            .entry(ARGOCD_APP_NAME.into())
            .or_insert_with(|| application.to_string());
    }
    if !entity.spec.links.iter().any(|link| link.url == contents_url) {
        entity.spec.links.push(crate::api::EntityLink {
            url: contents_url.to_string(),
            title: Some("Repository".into()),
            icon: Some("github".into()),
            type_: Some("repository".into()),
        });
    }
    entity
}
