//! `goldpath upgrade`: a template's change since an earlier revision of
//! its git repository, merged into a repository made from it, on this
//! machine, so an author sees what an upgrade would do before publishing it.
//!
//! The old revision is the template file at a git revision (`--from`) of
//! the repository the template's file is in; the new one is the file as
//! it is on disk. Both render with the same values; the change between the
//! two renderings is three-way merged into the committed files of `--repo`
//! (its `HEAD`) and written into its work tree, which must be clean, so
//! `git diff` there shows exactly what the upgrade changes.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{CheckedTemplate, load, load_template, scaffold, warn};
use crate::actions;
use crate::config::TemplateSourceLimits;
use crate::engine::files::{self, FileTree};
use crate::git::{ConflictKind, MergeLabels, Merged};
use crate::template_check::UnknownActions;

#[derive(clap::Args, Debug)]
pub struct UpgradeArgs {
    /// The template, as it is now: a goldpath Template or a Backstage
    /// template.yaml, inside a git work tree.
    pub template: PathBuf,
    /// The revision the repository was made from: a commit, tag or branch
    /// of the git repository the template is in.
    #[arg(long)]
    pub from: String,
    /// The repository made from the template: a git work tree without
    /// uncommitted changes; the merge is written into it.
    #[arg(long)]
    pub repo: PathBuf,
    /// Parameter values the repository was made with: a YAML or JSON
    /// object, or a ScaffoldRequest.
    #[arg(long)]
    pub values: Option<PathBuf>,
    /// Values for `${{ secrets.* }}`: a YAML object of strings.
    #[arg(long)]
    pub secrets: Option<PathBuf>,
    /// Who asks, as an entity reference (`user:default/jane`).
    #[arg(long)]
    pub user: Option<String>,
}

/// Renders both revisions, merges, writes the result into `--repo` and
/// reports each changed path and each conflict. Conflicts are a result,
/// not a failure: they are listed and the exit status is 0.
pub fn run(args: &UpgradeArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let template_path = args
        .template
        .canonicalize()
        .with_context(|| format!("cannot read {}", args.template.display()))?;
    let repo_dir = args.repo.as_path();
    let ours = committed_files(repo_dir)?;
    let old_checkout = tempfile::tempdir().context("creating a temporary directory")?;
    let old_path = checkout_template_at(&template_path, &args.from, old_checkout.path())?;
    let old = load_template(&old_path, Some(old_checkout.path()), UnknownActions::ShowNotRun)
        .with_context(|| format!("the template at {}", args.from))?;
    let new = load_template(&template_path, None, UnknownActions::ShowNotRun)?;
    warn(&args.template, &new.warnings, false)?;
    let base = render(&old, args).with_context(|| format!("rendering the template at {}", args.from))?;
    let theirs = render(&new, args).context("rendering the template")?;

    let labels = MergeLabels {
        base: format!("template at {}", args.from),
        ours: format!("{} (HEAD)", repo_dir.display()),
        theirs: "template".to_owned(),
    };
    let merged =
        crate::git::merge_trees(&base, &ours, &theirs, &labels).context("merging the template's change")?;
    let changes = write_merge(repo_dir, &ours, &merged)?;
    for line in &changes {
        writeln!(out, "{line}")?;
    }
    for conflict in &merged.conflicts {
        writeln!(out, "conflict: {}: {}", conflict.path, conflict.kind.describe())?;
    }
    let content_conflicts = merged
        .conflicts
        .iter()
        .filter(|c| c.kind == ConflictKind::Content)
        .count();
    writeln!(
        out,
        "upgraded {} from {}: {} paths changed, {} conflicts ({} with conflict markers)",
        repo_dir.display(),
        args.from,
        changes.len(),
        merged.conflicts.len(),
        content_conflicts
    )?;
    Ok(())
}

/// Renders `template` with the values, without any effect outside the
/// workspace; what its steps leave in the workspace is what it makes.
fn render(template: &CheckedTemplate, args: &UpgradeArgs) -> anyhow::Result<FileTree> {
    let inputs = load::inputs(
        args.values.as_deref(),
        args.secrets.as_deref(),
        args.user.as_deref(),
    )?;
    let report = scaffold(template, inputs, &mut actions::PlannedEffects)?;
    report.result?;
    Ok(report.workspace)
}

/// Writes the files of the git repository holding `template` at
/// `revision` into `into`; returns where the template file is there.
fn checkout_template_at(template: &Path, revision: &str, into: &Path) -> anyhow::Result<PathBuf> {
    let repo = git2::Repository::discover(template)
        .with_context(|| format!("{}: the template is not in a git repository", template.display()))?;
    let Some(work_tree) = repo.workdir().and_then(|dir| dir.canonicalize().ok()) else {
        bail!(
            "{}: the template's repository has no work tree",
            template.display()
        );
    };
    let within = template
        .strip_prefix(&work_tree)
        .with_context(|| format!("{} is outside {}", template.display(), work_tree.display()))?;
    let commit = repo
        .revparse_single(revision)
        .and_then(|object| object.peel_to_commit())
        .map_err(|e| {
            anyhow::anyhow!(
                "--from {revision}: not a revision of {}: {}",
                work_tree.display(),
                e.message()
            )
        })?;
    let tree = crate::git::read_tree_in(
        &repo,
        &commit.id().to_string(),
        None,
        &TemplateSourceLimits::default(),
    )
    .with_context(|| format!("reading {} at {revision}", work_tree.display()))?;
    files::write_dir(&tree, into)
        .with_context(|| format!("writing the template at {revision} to {}", into.display()))?;
    let old = into.join(within);
    if !old.is_file() {
        bail!(
            "--from {revision}: {} did not exist at that revision",
            within.display()
        );
    }
    Ok(old)
}

/// The files committed at `HEAD` of the work tree `dir`, which must have
/// no uncommitted changes: the merge is written over them.
fn committed_files(dir: &Path) -> anyhow::Result<FileTree> {
    let repo = git2::Repository::open(dir)
        .map_err(|e| anyhow::anyhow!("--repo {}: not a git work tree: {}", dir.display(), e.message()))?;
    if repo.is_bare() {
        bail!("--repo {}: a bare repository; give its work tree", dir.display());
    }
    let head = repo
        .head()
        .and_then(|head| head.peel_to_commit())
        .map_err(|e| anyhow::anyhow!("--repo {}: no commit at HEAD: {}", dir.display(), e.message()))?;
    // Read first, within the limits: the status walk below compares the
    // work tree with this same tree.
    let files = crate::git::read_tree_in(
        &repo,
        &head.id().to_string(),
        None,
        &TemplateSourceLimits::default(),
    )
    .with_context(|| format!("reading --repo {}", dir.display()))?;
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).include_ignored(false);
    let statuses = repo
        .statuses(Some(&mut options))
        .map_err(|e| anyhow::anyhow!("--repo {}: {}", dir.display(), e.message()))?;
    if let Some(dirty) = statuses.iter().next() {
        bail!(
            "--repo {}: has uncommitted changes (first: {}); commit or stash them, so the upgrade's own changes can be told apart",
            dir.display(),
            String::from_utf8_lossy(dirty.path_bytes())
        );
    }
    Ok(files)
}

/// Writes into `dir` what the merge changed against `ours` and removes
/// what it dropped; files it did not touch are left alone. Returns one line
/// per changed path.
fn write_merge(dir: &Path, ours: &FileTree, merged: &Merged) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut changed = FileTree::new();
    for (path, entry) in &merged.files {
        match ours.get(path) {
            Some(existing) if existing == entry => {}
            Some(_) => {
                lines.push(format!("updated {path}"));
                changed.insert(path.clone(), entry.clone());
            }
            None => {
                lines.push(format!("added {path}"));
                changed.insert(path.clone(), entry.clone());
            }
        }
    }
    files::write_dir(&changed, dir).with_context(|| format!("writing the merge into {}", dir.display()))?;
    for path in ours.keys().filter(|path| !merged.files.contains_key(*path)) {
        // The path came from the repository's own tree, checked by git:
        // it stays inside `dir`.
        let file = dir.join(path);
        std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        lines.push(format!("removed {path}"));
    }
    lines.sort_by(|a, b| {
        let path = |line: &str| {
            line.split_once(' ')
                .map(|(_, p)| p.to_owned())
                .unwrap_or_default()
        };
        path(a).cmp(&path(b))
    });
    Ok(lines)
}
