//! `catalog:write`, and turning Backstage entities (catalog-info.yaml) into
//! CatalogEntities and back, for `catalog:register` and the catalog.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ActionError;
use crate::api::CatalogEntity;
use crate::api::EntityRef;
use crate::engine::files::{FileEntry, FileTree};
use crate::engine::workspace;

/// The input of `catalog:write`.
#[derive(Deserialize, JsonSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct WriteInput {
    /// The file to write; `catalog-info.yaml` when not given.
    pub file_path: Option<String>,
    /// The entity to write.
    pub entity: Map<String, Value>,
}

/// The input of `catalog:register`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct RegisterInput {
    /// The catalog-info file's URL.
    pub catalog_info_url: Option<String>,
    /// Or the contents URL of a repository this request published…
    pub repo_contents_url: Option<String>,
    /// …and the file's path in it (default `/catalog-info.yaml`).
    pub catalog_info_path: Option<String>,
    /// Backstage's leave to register a location that is registered
    /// already. Registering is idempotent here, so that is never an error
    /// and this changes nothing; a catalog-info file that cannot be read
    /// still fails the step.
    pub optional: Option<bool>,
}

/// The output of `catalog:register`.
#[derive(Serialize, JsonSchema, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct RegisterOutput {
    /// The first entity registered.
    pub entity_ref: String,
    /// The file registered.
    pub catalog_info_url: String,
}

/// The input of `catalog:fetch`.
#[derive(Deserialize, JsonSchema, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct FetchEntitiesInput {
    /// The entity to fetch.
    pub entity_ref: Option<String>,
    /// Or several; the output's `entities` are in this order.
    pub entity_refs: Option<Vec<String>>,
    /// Whether a missing entity is left out (`null` in `entities`) rather
    /// than failing the step.
    pub optional: Option<bool>,
    /// The kind of references that name none (default `Component`).
    pub default_kind: Option<String>,
    /// The namespace of references that name none (default the request's).
    pub default_namespace: Option<String>,
}

/// The output of `catalog:fetch`.
#[derive(Serialize, JsonSchema, Debug, Clone, Default)]
pub struct FetchEntitiesOutput {
    /// The entity of `entityRef`, as Backstage writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity: Option<Value>,
    /// The entities of `entityRefs`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<Value>>,
}

impl FetchEntitiesInput {
    /// Fetches the entities the step names with `lookup`, which finds an
    /// entity or refuses one the requester may not read. References that
    /// name no namespace are in `namespace` unless `defaultNamespace` says.
    pub fn fetch(
        &self,
        namespace: &str,
        mut lookup: impl FnMut(&EntityRef) -> Result<Option<CatalogEntity>, ActionError>,
    ) -> Result<FetchEntitiesOutput, ActionError> {
        let default_kind = self.default_kind.as_deref().or(Some("Component"));
        let default_namespace = self.default_namespace.as_deref().unwrap_or(namespace);
        let optional = self.optional.unwrap_or(false);
        let mut fetch = |text: &str| -> Result<Option<Value>, ActionError> {
            let wanted = EntityRef::parse(text, default_kind, Some(default_namespace))
                .map_err(|e| ActionError::permanent(format!("{text:?}: {e}")))?;
            let found = lookup(&wanted)?
                .filter(|entity| entity_ref(entity).eq_ignore_ascii_case(&wanted.to_string()));
            match found {
                Some(entity) => Ok(Some(crate::catalog::backstage::to_backstage(&entity))),
                None if optional => Ok(None),
                None => Err(ActionError::permanent(format!(
                    "no entity {wanted} in the catalog"
                ))),
            }
        };
        if let Some(reference) = &self.entity_ref {
            return Ok(FetchEntitiesOutput {
                entity: fetch(reference)?,
                entities: None,
            });
        }
        let references = self.entity_refs.as_deref().unwrap_or_default();
        if references.is_empty() {
            return Err(ActionError::permanent(
                "input.entityRef or input.entityRefs is required",
            ));
        }
        let entities = references
            .iter()
            .map(|r| fetch(r).map(|e| e.unwrap_or(Value::Null)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FetchEntitiesOutput {
            entity: None,
            entities: Some(entities),
        })
    }
}

/// `catalog:write`: writes `input.entity` as YAML to `input.filePath`
/// (default `catalog-info.yaml`).
pub fn write(input: &WriteInput, files: &mut FileTree) -> Result<(), ActionError> {
    let file_path = input.file_path.as_deref().unwrap_or("catalog-info.yaml");
    let path =
        workspace::join("", file_path).map_err(|e| ActionError::permanent(format!("input.filePath: {e}")))?;
    if path.is_empty() || files.keys().any(|p| workspace::is_within(p, &path) && *p != path) {
        return Err(ActionError::permanent(format!(
            "input.filePath: {file_path:?} names a directory of the workspace, not a file; \
             write e.g. {:?}",
            workspace::join(&path, "catalog-info.yaml").unwrap_or_default()
        )));
    }
    let yaml = serde_yaml_ng::to_string(&input.entity)
        .map_err(|e| ActionError::permanent(format!("input.entity: {e}")))?;
    files.insert(path, FileEntry::text(yaml));
    Ok(())
}

/// The catalog-info file `catalog:register` registers: `catalogInfoUrl`, or
/// `catalogInfoPath` (default `/catalog-info.yaml`) under `repoContentsUrl`.
pub fn catalog_info_url(input: &RegisterInput) -> Result<String, ActionError> {
    if let Some(url) = &input.catalog_info_url {
        return Ok(url.clone());
    }
    let contents = input.repo_contents_url.as_deref().ok_or_else(|| {
        ActionError::permanent("input.repoContentsUrl (or input.catalogInfoUrl) is required")
    })?;
    let path = input.catalog_info_path.as_deref().unwrap_or("/catalog-info.yaml");
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

/// The text of the catalog-info file `url`, at `path` among the `files` of
/// the repository published at `contents_url`; returns that URL and the text.
pub fn published_text(
    contents_url: &str,
    files: &FileTree,
    url: &str,
    path: &str,
) -> Result<(String, String), ActionError> {
    match files.get(path) {
        Some(FileEntry::File { contents, .. }) => Ok((
            contents_url.to_string(),
            String::from_utf8_lossy(contents).into_owned(),
        )),
        _ => Err(ActionError::permanent(format!(
            "{url}: the published repository has no file {path}"
        ))),
    }
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

/// `catalog:register`: the entities of the catalog-info file the step
/// names, read with `read` (which returns the contents URL of the
/// published repository holding it, and its text), each passed to `write`
/// as it is registered in `namespace`.
pub fn register(
    input: &RegisterInput,
    namespace: &str,
    template_ref: &str,
    application: Option<&str>,
    read: impl FnOnce(&str) -> Result<(String, String), ActionError>,
    mut write: impl FnMut(CatalogEntity) -> Result<(), ActionError>,
) -> Result<RegisterOutput, ActionError> {
    let url = catalog_info_url(input)?;
    let (contents_url, text) = read(&url)?;
    let entities = to_register(&text, &url, namespace, &contents_url, template_ref, application)?;
    let first = entities.first().map(entity_ref).unwrap_or_default();
    for entity in entities {
        write(entity)?;
    }
    Ok(RegisterOutput {
        entity_ref: first,
        catalog_info_url: url,
    })
}
