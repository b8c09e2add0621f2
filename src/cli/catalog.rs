//! `goldpath catalog import` and `goldpath catalog export`: Backstage's
//! catalog-info.yaml in, CatalogEntities out, and back.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};

use crate::api::CatalogEntity;
use crate::catalog::backstage;
use crate::catalog::cached::CachedEntity;

#[derive(clap::Args, Debug)]
pub struct CatalogArgs {
    #[command(subcommand)]
    pub command: CatalogCommand,
}

#[derive(clap::Subcommand, Debug)]
pub enum CatalogCommand {
    /// Turn Backstage catalog-info.yaml files (multi-document) into
    /// CatalogEntities: print them as YAML, or apply them with `--apply`.
    Import(ImportArgs),
    /// Print every CatalogEntity of the cluster as a Backstage entity, with
    /// its relations, one YAML document each.
    Export(ExportArgs),
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// catalog-info.yaml files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Put every entity in this namespace; without it, each entity's own
    /// `metadata.namespace`, else `default`.
    #[arg(long, short)]
    pub namespace: Option<String>,
    /// Server-side apply the entities to the cluster of the kubeconfig
    /// instead of printing them.
    #[arg(long)]
    pub apply: bool,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Only this namespace's entities; all namespaces without it.
    #[arg(long, short)]
    pub namespace: Option<String>,
}

/// Runs `goldpath catalog ...`.
pub fn run(args: CatalogArgs, out: &mut impl Write) -> anyhow::Result<()> {
    match args.command {
        CatalogCommand::Import(args) => import(args, out),
        CatalogCommand::Export(args) => {
            let entities = block_on(list_entities(args.namespace.as_deref()))?;
            let mut out = std::io::BufWriter::new(out);
            backstage::export(&entities, &mut out)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// How many entities one list request asks for.
const PAGE: u32 = 500;

/// Every CatalogEntity, listed a page at a time, each kept as the catalog
/// keeps it: the list of a large catalog is never one response.
async fn list_entities(namespace: Option<&str>) -> anyhow::Result<Vec<std::sync::Arc<CachedEntity>>> {
    let client = client().await?;
    let api: Api<CatalogEntity> = match namespace {
        Some(namespace) => Api::namespaced(client, namespace),
        None => Api::all(client),
    };
    let mut entities = Vec::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api.list(&params).await.context("listing CatalogEntities")?;
        entities.extend(
            page.items
                .into_iter()
                .map(|entity| std::sync::Arc::new(CachedEntity::from(entity))),
        );
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => return Ok(entities),
        }
    }
}

fn import(args: ImportArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let mut entities = Vec::new();
    let mut problems = Vec::new();
    for file in &args.files {
        let text = crate::yaml::read_file(file).with_context(|| format!("reading {}", file.display()))?;
        match backstage::import(&text, args.namespace.as_deref()) {
            Ok(imported) => {
                for dropped in imported.dropped {
                    eprintln!(
                        "{}: {dropped} has no place in a CatalogEntity; left out",
                        file.display()
                    );
                }
                entities.extend(imported.entities);
            }
            Err(errors) => problems.extend(
                errors
                    .into_iter()
                    .map(|e| format!("{} document {}: {}", file.display(), e.document, e.message)),
            ),
        }
    }
    if !problems.is_empty() {
        bail!("nothing imported:\n  {}", problems.join("\n  "));
    }
    if !args.apply {
        for entity in &entities {
            let value = manifest(entity)?;
            writeln!(out, "---")?;
            out.write_all(serde_yaml_ng::to_string(&value)?.as_bytes())?;
        }
        return Ok(());
    }
    let applied = block_on(async move {
        let client = client().await?;
        let mut applied = Vec::new();
        for entity in &entities {
            let namespace = entity.namespace().unwrap_or_default();
            let api: Api<CatalogEntity> = Api::namespaced(client.clone(), &namespace);
            let value = manifest(entity)?;
            api.patch(
                &entity.name_any(),
                &PatchParams::apply(FIELD_MANAGER),
                &Patch::Apply(&value),
            )
            .await
            .with_context(|| format!("applying CatalogEntity {namespace}/{}", entity.name_any()))?;
            applied.push(format!("catalogentity {namespace}/{} applied", entity.name_any()));
        }
        Ok::<_, anyhow::Error>(applied)
    })?;
    for line in applied {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The field manager of what `import --apply` writes: its own, so that an
/// import over an entity a request registered leaves the operator's fields
/// (its request labels) alone.
const FIELD_MANAGER: &str = "goldpath-import";

/// The entity as a manifest: what it declares, no status.
fn manifest(entity: &CatalogEntity) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(entity)?;
    if let Some(object) = value.as_object_mut() {
        object.remove("status");
    }
    Ok(value)
}

async fn client() -> anyhow::Result<Client> {
    Client::try_default()
        .await
        .context("connecting to the cluster (KUBECONFIG or in-cluster config)")
}

fn block_on<T>(future: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(future)
}
