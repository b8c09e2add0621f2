//! The `goldpath` command line.

mod catalog;
mod load;
mod local;
mod upgrade;

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::actions::{self, Effects, Reach};
use crate::api::StepPhase;
use crate::engine::expression::{Limits, Renderer};
use crate::engine::files;
use crate::engine::parameters::ParameterSchema;
use crate::engine::warnings::Warnings;
use crate::scaffold::{Request, Scaffold, StepOutcome};
use crate::template_check::{self, UnknownActions};

/// goldpath: golden-path templates, self-service requests and the software
/// catalog as Kubernetes resources.
#[derive(Parser, Debug)]
#[command(name = "goldpath", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print goldpath's CustomResourceDefinitions as one YAML stream.
    Crds,
    /// Print every action goldpath knows, with its inputs and outputs, as
    /// Markdown (README's action reference is this text).
    Actions,
    /// Render a template without side effects: validate it and the values,
    /// write the rendered files, and print every step with its rendered input.
    Render(RenderArgs),
    /// Run a template's steps on this machine: publish to local bare
    /// repositories and write the objects the cluster would apply as YAML.
    Scaffold(ScaffoldArgs),
    /// Backstage catalog-info.yaml to CatalogEntities and back.
    Catalog(catalog::CatalogArgs),
    /// Merge a template's change since an earlier revision into a
    /// repository made from it: conflicts are left as conflict markers and
    /// listed.
    Upgrade(upgrade::UpgradeArgs),
    /// Run the controllers against the cluster of the kubeconfig (or the
    /// one goldpath runs in) until SIGTERM.
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The operator's configuration (YAML): git hosts, Argo CD, what
    /// `kubernetes:apply` may write. Without it, the defaults.
    #[arg(long, env = "GOLDPATH_CONFIG")]
    pub config: Option<PathBuf>,
    /// The operator's namespace, where git credentials Secrets are read.
    #[arg(long, env = "POD_NAMESPACE", default_value = "goldpath-system")]
    pub namespace: String,
    /// Where template repositories are cached.
    #[arg(long, env = "GOLDPATH_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Watch only this namespace's Templates and ScaffoldRequests; all
    /// namespaces without it.
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Write logs as JSON lines instead of text.
    #[arg(long, env = "GOLDPATH_LOG_JSON")]
    pub log_json: bool,
    /// Where to serve `/metrics`, `/healthz`, `/readyz` and `/catalog.yaml`;
    /// `off` to serve nothing.
    #[arg(long, env = "GOLDPATH_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: String,
    /// Where to serve the portal API (Backstage's `/api/catalog` routes),
    /// e.g. `0.0.0.0:7007`; `off` (the default) serves none.
    #[arg(long, env = "GOLDPATH_API_ADDR", default_value = "off")]
    pub api_addr: String,
    /// The portal API's TLS certificate chain (PEM); with `--api-tls-key`.
    /// Without both the API is plain HTTP.
    #[arg(long, env = "GOLDPATH_API_TLS_CERT", requires = "api_tls_key")]
    pub api_tls_cert: Option<PathBuf>,
    /// The portal API's TLS private key (PEM).
    #[arg(long, env = "GOLDPATH_API_TLS_KEY", requires = "api_tls_cert")]
    pub api_tls_key: Option<PathBuf>,
    /// Elect a leader among replicas with a Lease in `--namespace`; only
    /// the leader reconciles.
    #[arg(long, env = "GOLDPATH_LEADER_ELECT")]
    pub leader_elect: bool,
    /// The leader election Lease's name.
    #[arg(long, default_value = "goldpath")]
    pub lease_name: String,
    /// Seconds a leader's Lease stays held without renewal (3 to 3600);
    /// another replica takes over within this time after the leader dies.
    #[arg(long, default_value_t = 15)]
    pub lease_duration: u64,
}

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// A goldpath Template, or a Backstage template.yaml (its ./skeleton next to it).
    pub template: PathBuf,
    /// Parameter values: a YAML or JSON object, or a ScaffoldRequest.
    #[arg(long)]
    pub values: Option<PathBuf>,
    /// Where to write the rendered files.
    #[arg(long)]
    pub out: PathBuf,
    /// Values for `${{ secrets.* }}`: a YAML object of strings. They are
    /// masked in everything printed.
    #[arg(long)]
    pub secrets: Option<PathBuf>,
    /// Who asks, as an entity reference (`user:default/jane`), for
    /// `${{ user.ref }}` and `${{ user.entity }}`.
    #[arg(long)]
    pub user: Option<String>,
    /// Treat warnings (what Backstage accepts but is likely a mistake) as
    /// errors: exit non-zero and write no files.
    #[arg(long)]
    pub strict: bool,
    /// How far the template's fetch urls may climb (`url: ../../shared`):
    /// up to this directory. Defaults to the git work tree the template is
    /// in, else the template's directory.
    #[arg(long)]
    pub root: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ScaffoldArgs {
    /// A goldpath Template, or a Backstage template.yaml (its ./skeleton next to it).
    pub template: PathBuf,
    /// Parameter values: a YAML or JSON object, or a ScaffoldRequest.
    #[arg(long)]
    pub values: Option<PathBuf>,
    /// Where to write the rendered files (`workspace/`) and the cluster's
    /// objects (`cluster/`).
    #[arg(long, default_value = "scaffold")]
    pub out: PathBuf,
    /// Where publish steps push: `host?owner=o&repo=r` becomes the bare
    /// repository DIR/host/o/r.git. Defaults to OUT/repos.
    #[arg(long)]
    pub repos: Option<PathBuf>,
    /// Values for `${{ secrets.* }}`: a YAML object of strings. They are
    /// masked in everything printed.
    #[arg(long)]
    pub secrets: Option<PathBuf>,
    /// Who asks, as an entity reference (`user:default/jane`), for
    /// `${{ user.ref }}` and `${{ user.entity }}`.
    #[arg(long)]
    pub user: Option<String>,
    /// Also print the forge API calls each publish step would make on a
    /// forge where its repository does not exist yet; nothing is sent.
    #[arg(long)]
    pub forge_dry_run: bool,
    /// Publish through this operator configuration's `gitHosts` instead of
    /// local bare repositories: a forge's API is called at its `apiUrl`
    /// with the token `--secrets` holds under the entry's `tokenSecret`.
    #[arg(long, conflicts_with = "forge_dry_run")]
    pub config: Option<PathBuf>,
    /// Treat warnings (what Backstage accepts but is likely a mistake) as
    /// errors: the template is rendered first as `render` does, and a
    /// warning stops the run before any step reaches outside.
    #[arg(long)]
    pub strict: bool,
    /// How far the template's fetch urls may climb (`url: ../../shared`):
    /// up to this directory. Defaults to the git work tree the template is
    /// in, else the template's directory.
    #[arg(long)]
    pub root: Option<PathBuf>,
}

/// Runs the command line; the binary's `main` is only this.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Crds => stdout.write_all(crate::api::crds_yaml()?.as_bytes())?,
        Command::Actions => stdout.write_all(crate::actions::reference::markdown().as_bytes())?,
        Command::Run(args) => run_operator(args)?,
        Command::Catalog(args) => catalog::run(args, &mut stdout)?,
        Command::Upgrade(args) => upgrade::run(&args, &mut stdout)?,
        Command::Render(args) => {
            let template = load_template(&args.template, args.root.as_deref(), UnknownActions::ShowNotRun)?;
            warn(&args.template, &template.warnings, args.strict)?;
            let inputs = load::inputs(
                args.values.as_deref(),
                args.secrets.as_deref(),
                args.user.as_deref(),
            )?;
            let report = scaffold(&template, inputs, &mut actions::PlannedEffects)?;
            warn(&args.template, &report.warnings, args.strict)?;
            write_workspace(&report.workspace, &args.out)?;
            print_steps(&mut stdout, &report, true)?;
            writeln!(
                stdout,
                "wrote {} files to {}",
                report.workspace.len(),
                args.out.display()
            )?;
            report.result?;
        }
        Command::Scaffold(args) => {
            let repos = args.repos.clone().unwrap_or_else(|| args.out.join("repos"));
            let repos = absolute(&repos)?;
            let template = load_template(&args.template, args.root.as_deref(), UnknownActions::Refuse)?;
            warn(&args.template, &template.warnings, args.strict)?;
            let template_ref = format!("template:default/{}", template.loaded.name);
            let request = format!(
                "default/{}",
                template_stem(&args.values.clone().unwrap_or_default())
            );
            let mut effects =
                local::LocalEffects::new(&repos, &args.out.join("cluster"), &template_ref, &request);
            effects.forge_dry_run = args.forge_dry_run;
            let inputs = || {
                load::inputs(
                    args.values.as_deref(),
                    args.secrets.as_deref(),
                    args.user.as_deref(),
                )
            };
            if let Some(path) = &args.config {
                let config = crate::config::Config::load(path)?;
                effects.publish_through(&config, inputs()?.secrets);
            }
            if args.strict {
                let planned = scaffold(&template, inputs()?, &mut actions::PlannedEffects)?;
                warn(&args.template, &planned.warnings, true)?;
            }
            let report = scaffold(&template, inputs()?, &mut effects)?;
            warn(&args.template, &report.warnings, args.strict)?;
            write_workspace(&report.workspace, &args.out.join("workspace"))?;
            print_steps(&mut stdout, &report, false)?;
            for call in &effects.forge_calls {
                writeln!(stdout, "forge: {call}")?;
            }
            for path in &effects.written {
                writeln!(stdout, "wrote {}", path.display())?;
            }
            report.result?;
            for link in &report.links {
                writeln!(stdout, "{link}")?;
            }
        }
    }
    Ok(())
}

/// `goldpath run`: logging, the cluster client, then the controllers.
fn run_operator(args: RunArgs) -> anyhow::Result<()> {
    let log_level =
        crate::telemetry::init_logs("info,kube=warn", args.log_json).map_err(anyhow::Error::msg)?;
    let config = match &args.config {
        Some(path) => crate::config::Config::load(path)?,
        None => crate::config::Config::default(),
    };
    let options =
        crate::controller::RunOptions {
            namespace: args.namespace.clone(),
            git_cache: args
                .cache_dir
                .unwrap_or_else(|| std::env::temp_dir().join("goldpath-git-cache")),
            instance: std::env::var("POD_NAME").ok(),
            watch_namespace: args.watch_namespace.filter(|n| !n.is_empty()),
            http_address: match args.http_addr.as_str() {
                "off" | "" => None,
                address => Some(address.parse().with_context(|| {
                    format!("--http-addr {address:?} is not an address like 0.0.0.0:8080")
                })?),
            },
            api: match args.api_addr.as_str() {
                "off" | "" => None,
                address => Some(crate::controller::ApiOptions {
                    address: address.parse().with_context(|| {
                        format!("--api-addr {address:?} is not an address like 0.0.0.0:7007")
                    })?,
                    tls: args
                        .api_tls_cert
                        .zip(args.api_tls_key)
                        .map(|(certificate, key)| crate::portal::tls::TlsFiles { certificate, key }),
                }),
            },
            lease: args.leader_elect.then(|| crate::controller::LeaseOptions {
                name: args.lease_name.clone(),
                namespace: args.namespace.clone(),
                identity: identity(),
                duration: std::time::Duration::from_secs(args.lease_duration.clamp(3, 3600)),
            }),
            log_level: Some(log_level),
        };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("connecting to the cluster (KUBECONFIG or in-cluster config)")?;
        crate::controller::run(client, config, options).await
    });
    if outcome.is_err() {
        // A replica that lost the Lease must not finish steps it started:
        // the new leader may run them again.
        runtime.shutdown_timeout(std::time::Duration::ZERO);
    }
    outcome
}

/// Who this replica is in leader election: the pod's name, else the host's
/// with the process id and start time, so two processes never share one.
fn identity() -> String {
    if let Some(pod) = std::env::var("POD_NAME").ok().filter(|name| !name.is_empty()) {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "goldpath".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() % 1_000_000_000)
        .unwrap_or_default();
    format!("{host}-{}-{started:09}", std::process::id())
}

/// Prints `warnings` on stderr, each naming the template file and the
/// step, field, file and line; with `strict`, fails instead.
fn warn(template: &Path, warnings: &Warnings, strict: bool) -> anyhow::Result<()> {
    let lines = warnings.lines();
    if strict && !lines.is_empty() {
        bail!(
            "{}: warnings are errors with --strict:\n  {}",
            template.display(),
            lines.join("\n  ")
        );
    }
    let mut stderr = std::io::stderr().lock();
    for line in lines {
        writeln!(stderr, "warning: {}: {line}", template.display())?;
    }
    Ok(())
}

/// What a run did.
struct Report {
    steps: Vec<StepOutcome>,
    workspace: files::FileTree,
    links: Vec<String>,
    /// What rendering found likely wrong.
    warnings: Warnings,
    result: anyhow::Result<()>,
}

/// A template read from disk and checked, with its compiled parameter
/// schema and a renderer that already holds its compiled skeleton files.
struct CheckedTemplate {
    loaded: load::LoadedTemplate,
    schema: ParameterSchema,
    warnings: Warnings,
    renderer: Renderer,
}

/// Reads a template and checks it, naming every problem.
fn load_template(
    path: &Path,
    root: Option<&Path>,
    unknown_actions: UnknownActions,
) -> anyhow::Result<CheckedTemplate> {
    let cache = std::env::temp_dir().join("goldpath-template-cache");
    let loaded = load::template(path, root, &cache)?;
    let renderer = Renderer::new(Limits::default());
    match template_check::check(&loaded.spec, &loaded.files, &renderer, unknown_actions) {
        Ok(checked) => Ok(CheckedTemplate {
            loaded,
            schema: checked.schema,
            warnings: checked.warnings,
            renderer,
        }),
        Err(problems) => bail!(
            "{} is not a valid template:\n  {}",
            path.display(),
            problems.join("\n  ")
        ),
    }
}

/// Validates the values and runs every step, stopping at the first failure.
fn scaffold(
    checked: &CheckedTemplate,
    inputs: load::Inputs,
    effects: &mut dyn Effects,
) -> anyhow::Result<Report> {
    let template = &checked.loaded;
    let parameters = checked.schema.validate(&inputs.values).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "the parameter values do not fit the template:\n  {}",
            lines.join("\n  ")
        )
    })?;
    let request = Request {
        template: &template.spec,
        template_files: &template.files,
        parameters,
        secrets: inputs.secrets,
        user: inputs.user,
    };
    let mut run = Scaffold::new(request, checked.renderer.clone());
    let mut steps = Vec::new();
    let mut result = Ok(());
    for index in 0..template.spec.steps.len() {
        let outcome = run.run_step(index, effects);
        let failed = !matches!(outcome.phase, StepPhase::Succeeded | StepPhase::Skipped);
        if outcome.waiting {
            // Nothing on this machine looks again later: only the operator
            // waits for what a gated step waits for.
            result = Err(anyhow::anyhow!(
                "step {} ({}) waits for {}; only the operator waits for a gated step",
                outcome.id,
                outcome.action,
                outcome.message.clone().unwrap_or_default()
            ));
        } else if failed {
            result = Err(anyhow::anyhow!("{}", outcome.message.clone().unwrap_or_default()));
        }
        steps.push(outcome);
        if failed {
            break;
        }
    }
    let mut links = Vec::new();
    if result.is_ok() {
        let output = run.output()?;
        for link in output.links {
            let target = link.url.or(link.entity_ref).unwrap_or_default();
            links.push(format!(
                "{}: {target}",
                link.title.unwrap_or_else(|| "link".into())
            ));
        }
    }
    Ok(Report {
        steps,
        workspace: run.workspace().clone(),
        links,
        warnings: checked
            .renderer
            .warnings()
            .take()
            .masked(|text| run.secrets().redact(text)),
        result,
    })
}

fn print_steps(out: &mut impl Write, report: &Report, planned: bool) -> anyhow::Result<()> {
    for (i, step) in report.steps.iter().enumerate() {
        let reach = actions::reach(&step.action);
        let not_run = planned && reach != Some(Reach::Workspace) && step.phase == StepPhase::Succeeded;
        let state = match step.phase {
            _ if not_run && reach.is_none() => "not run: goldpath does not know this action".to_string(),
            _ if not_run
                && actions::find(&step.action)
                    .is_some_and(|a| matches!(a.needs, actions::Needs::Clock | actions::Needs::Gate)) =>
            {
                "not run: it waits".to_string()
            }
            _ if not_run => "not run: reaches outside the workspace".to_string(),
            StepPhase::Succeeded => "done".to_string(),
            StepPhase::Skipped => "skipped".to_string(),
            _ => "failed".to_string(),
        };
        writeln!(out, "{:>2}. {} ({}): {state}", i + 1, step.id, step.action)?;
        if planned
            && let Some(input) = step
                .input
                .as_ref()
                .filter(|i| i.as_object().is_none_or(|o| !o.is_empty()))
        {
            for line in serde_yaml_ng::to_string(input)?.lines() {
                writeln!(out, "      {line}")?;
            }
        }
        for line in &step.log {
            writeln!(out, "      | {line}")?;
        }
    }
    Ok(())
}

fn write_workspace(workspace: &files::FileTree, dir: &Path) -> anyhow::Result<()> {
    files::write_dir(workspace, dir)
        .with_context(|| format!("writing the rendered files to {}", dir.display()))
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    path.canonicalize()
        .with_context(|| format!("resolving {}", path.display()))
}

fn template_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}
