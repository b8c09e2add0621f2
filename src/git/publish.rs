//! Publishing: a file tree as the first commit of a new branch, or a
//! change as one commit on top of a base branch, each idempotent and never
//! overwriting a branch someone else wrote.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use git2::{ErrorCode, Repository, Signature};

use super::cache::scratch_repository;
use super::error::local_error;
use super::remote::{RemoteSpec, configure_libgit2};
use super::tree::{build_tree, build_tree_over};
use super::{Credentials, DEFAULT_BRANCH, GitError, GitIdentity};
use crate::engine::files::FileTree;

/// What to publish, and where.
#[derive(Clone, Copy, Debug)]
pub struct PublishRequest<'a> {
    /// `https://`, `http://` or `file://` URL, or a local path, of the
    /// repository to publish to. It must exist; the branch need not.
    pub remote_url: &'a str,
    /// Branch to create; [`DEFAULT_BRANCH`] unless the template says.
    pub branch: &'a str,
    /// The complete content of the branch's first commit; for
    /// [`publish_change`], the files written over the base's, by their path
    /// in the repository.
    pub files: &'a FileTree,
    /// Commit message.
    pub message: &'a str,
    /// Author and committer.
    pub identity: &'a GitIdentity,
    /// Credentials for an HTTP(S) remote; `None` for anonymous access or
    /// when the URL carries them.
    pub credentials: Option<&'a Credentials>,
    /// Who publishes (a request's UID): recorded as a trailer of the commit,
    /// and then the push goes only to a repository without branches or one
    /// whose commits carry the same trailer, never into someone else's.
    /// `None` publishes anywhere (the CLI's own local repositories).
    pub marker: Option<&'a str>,
}

impl<'a> PublishRequest<'a> {
    /// A request to publish to [`DEFAULT_BRANCH`] without credentials.
    pub fn new(
        remote_url: &'a str,
        files: &'a FileTree,
        message: &'a str,
        identity: &'a GitIdentity,
    ) -> Self {
        PublishRequest {
            remote_url,
            branch: DEFAULT_BRANCH,
            files,
            message,
            identity,
            credentials: None,
            marker: None,
        }
    }
}

/// The outcome of a successful [`publish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The branch's tip commit, full hex id.
    pub commit: String,
    /// False when the branch already held exactly these files and nothing
    /// was pushed (a retried or resumed publish).
    pub pushed: bool,
}

/// Publish `files` as the first commit of a branch, or confirm that the
/// branch already holds exactly them.
///
/// - branch missing (or an empty repository): push one root commit;
///   `pushed: true`;
/// - branch whose tip has the same tree: push nothing, return its tip;
///   `pushed: false`;
/// - branch with other content: [`GitError::DifferentContent`], nothing
///   pushed.
///
/// The push never forces, so a concurrent writer is never overwritten; if one
/// wins the race the result is a transient [`GitError::Conflict`].
pub fn publish(request: &PublishRequest<'_>) -> Result<Published, GitError> {
    let (remote, branch_ref, signature) = start(request)?;
    let branch = request.branch;
    remote.check_local()?;
    if let Some(path) = &remote.local_path {
        return publish_in_place(path, &remote, request, &branch_ref, &signature);
    }

    let (scratch, repo) = scratch_repository("goldpath-publish-")?;
    let local = |e: git2::Error| local_error(scratch.path(), &e);
    let tree_id = build_tree(&repo, request.files)?;

    // A private ref name, so the fetched tip cannot collide with anything.
    let remote_tip_ref = "refs/goldpath/remote-tip";
    match remote.fetch(
        &repo,
        &[format!("+{branch_ref}:{remote_tip_ref}")],
        remote.is_http(),
    ) {
        // Servers such as Soft Serve create a repository on its first push
        // and answer 404 until then: there is no branch yet.
        Err(GitError::RepositoryNotFound { .. }) if remote.is_http() => {}
        other => other?,
    }
    match repo.find_reference(remote_tip_ref) {
        Ok(reference) => {
            let tip = reference.peel_to_commit().map_err(local)?;
            let commit = tip.id().to_string();
            check_marker(&tip, request.marker, &remote.display, || {
                format!("the branch {branch}")
            })?;
            if tip.tree_id() == tree_id {
                tracing::info!(url = %remote.display, branch, commit, "branch already holds these files; nothing to push");
                Ok(Published {
                    commit,
                    pushed: false,
                })
            } else {
                Err(GitError::DifferentContent {
                    url: remote.display.clone(),
                    branch: branch.to_owned(),
                    commit,
                })
            }
        }
        Err(e) if e.code() == ErrorCode::NotFound => {
            if let Some(marker) = request.marker {
                remote.check_other_branches(&repo, marker)?;
            }
            let commit = commit_and_push(&repo, &remote, request, &branch_ref, &signature, tree_id, &[])?;
            tracing::info!(url = %remote.display, branch, commit, "pushed a new branch");
            Ok(Published { commit, pushed: true })
        }
        Err(e) => Err(local(e)),
    }
}

/// Push `request.files` (by their path in the repository; the base's other
/// files stay as they are) over the tip of `base_branch` as one commit on the new
/// branch `request.branch`, or find that the branch already holds this
/// publisher's commit: a pull request's change. The repository must exist.
///
/// - branch missing: one commit whose parent is the base's tip, pushed;
///   `pushed: true`;
/// - branch whose tip carries the marker: its tip, from an earlier attempt;
///   `pushed: false`;
/// - branch made by anyone else: [`GitError::NotCreatedByRequest`] (without
///   a marker, an existing branch is taken as it is);
/// - base missing: [`GitError::ReferenceNotFound`].
pub fn publish_change(request: &PublishRequest<'_>, base_branch: &str) -> Result<Published, GitError> {
    publish_change_as(request, base_branch, Change::Write)
}

/// What a change does with its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Writes them over the base's.
    Write,
    /// Removes them from the base (each must be there; their content is
    /// not read).
    Remove,
}

/// As [`publish_change`], with `change` saying what the files are for;
/// [`Change::Remove`] fails with [`GitError::PathNotFound`] naming a file
/// the base does not hold.
pub fn publish_change_as(
    request: &PublishRequest<'_>,
    base_branch: &str,
    change: Change,
) -> Result<Published, GitError> {
    let Checkout {
        remote,
        branch_ref,
        signature,
        scratch,
        repo,
    } = checkout(request, Some(base_branch), false, "goldpath-change-")?;
    let local = |e: git2::Error| local_error(scratch.path(), &e);
    if let Ok(reference) = repo.find_reference(HEAD_TIP) {
        let tip = reference.peel_to_commit().map_err(local)?;
        check_marker(&tip, request.marker, &remote.display, || {
            format!("the branch {}", request.branch)
        })?;
        return Ok(Published {
            commit: tip.id().to_string(),
            pushed: false,
        });
    }
    let base = repo
        .find_reference(BASE_TIP)
        .and_then(|reference| reference.peel_to_commit())
        .map_err(|_| GitError::ReferenceNotFound {
            url: remote.display.clone(),
            reference: base_branch.to_owned(),
            detail: "the branch a pull request goes into must exist".to_owned(),
        })?;
    let base_tree = base.tree().map_err(local)?;
    let lacking = request
        .files
        .keys()
        .find(|path| base_tree.get_path(std::path::Path::new(path.as_str())).is_err());
    if let (Change::Remove, Some(path)) = (change, lacking) {
        return Err(GitError::PathNotFound {
            path: path.clone(),
            commit: base.id().to_string(),
            url: remote.display.clone(),
        });
    }
    let tree_id = match change {
        Change::Write => build_tree_over(&repo, &base_tree, request.files, [])?,
        Change::Remove => build_tree_over(
            &repo,
            &base_tree,
            &FileTree::new(),
            request.files.keys().map(String::as_str),
        )?,
    };
    let commit = commit_and_push(
        &repo,
        &remote,
        request,
        &branch_ref,
        &signature,
        tree_id,
        &[&base],
    )?;
    tracing::info!(url = %remote.display, branch = request.branch, base = base_branch, commit, "pushed a change branch");
    Ok(Published { commit, pushed: true })
}

/// Pushes `request.branch` again as one new commit over `tip`, with the
/// same tree and message, once `tip` was committed more than `settle` ago:
/// for a forge that lost the record of the push that made `tip` (the push
/// was cut while the forge was taking it, so the forge's hook never ran and
/// it does not show the branch), which records a branch only when a push
/// changes it. A forge still recording a push it took (seconds) is given
/// `settle`, so this pushes at most once per `settle`.
///
/// - `tip` younger than `settle`: nothing pushed, `pushed: false`;
/// - branch whose tip is not `tip`: [`GitError::Conflict`], transient
///   (someone, or another attempt, moved it; look again), nothing pushed;
/// - tip without `request.marker`: [`GitError::NotCreatedByRequest`].
pub fn push_again(request: &PublishRequest<'_>, tip: &str, settle: Duration) -> Result<Published, GitError> {
    let Checkout {
        remote,
        branch_ref,
        signature,
        scratch: _scratch,
        repo,
    } = checkout(request, None, false, "goldpath-again-")?;
    let current = repo
        .find_reference(HEAD_TIP)
        .and_then(|reference| reference.peel_to_commit())
        .ok()
        .filter(|current| current.id().to_string() == tip)
        .ok_or_else(|| GitError::Conflict {
            url: remote.display.clone(),
            branch: request.branch.to_owned(),
            detail: format!("it is no longer at {tip}, the commit to push again"),
        })?;
    check_marker(&current, request.marker, &remote.display, || {
        format!("the branch {}", request.branch)
    })?;
    let committed = UNIX_EPOCH + Duration::from_secs(u64::try_from(current.time().seconds()).unwrap_or(0));
    if SystemTime::now().duration_since(committed).unwrap_or_default() < settle {
        return Ok(Published {
            commit: tip.to_owned(),
            pushed: false,
        });
    }
    let tree_id = current.tree_id();
    let commit = commit_and_push(
        &repo,
        &remote,
        request,
        &branch_ref,
        &signature,
        tree_id,
        &[&current],
    )?;
    tracing::info!(url = %remote.display, branch = request.branch, commit, "pushed a branch again for the forge to record it");
    Ok(Published { commit, pushed: true })
}

/// Pushes one commit on `request.branch` whose parents are the branch's
/// tip (when it exists) and `base_commit`, the commit of `base_branch` the
/// change was made against, and whose tree is `base_commit`'s with
/// `removed` taken out and `request.files` written over it: a proposal,
/// such as a template upgrade, brought up to date with new commits, so the
/// branch keeps every commit it had and no push is forced. What the change
/// does not name (submodules, files nobody changed) stays exactly as the
/// base has it.
///
/// - branch missing: one commit over `base_commit`; `pushed: true`;
/// - branch whose tip carries the marker and already holds these files
///   over `base_commit`: its tip, `pushed: false`;
/// - branch whose tip carries the marker otherwise: a new commit on it;
/// - branch whose tip anyone else made (a reviewer's fix):
///   [`GitError::NotCreatedByRequest`], nothing pushed;
/// - `base_commit` no longer on `base_branch`'s history: a transient
///   [`GitError::Conflict`] (read the base again).
pub fn propose(
    request: &PublishRequest<'_>,
    base_branch: &str,
    base_commit: &str,
    removed: &[String],
) -> Result<Published, GitError> {
    // The whole history: whether `base_commit` is still on the base's.
    let Checkout {
        remote,
        branch_ref,
        signature,
        scratch,
        repo,
    } = checkout(request, Some(base_branch), true, "goldpath-propose-")?;
    let local = |e: git2::Error| local_error(scratch.path(), &e);
    let moved = || GitError::Conflict {
        url: remote.display.clone(),
        branch: base_branch.to_owned(),
        detail: format!("commit {base_commit} is no longer on the branch"),
    };
    let base = git2::Oid::from_str(base_commit)
        .ok()
        .and_then(|oid| repo.find_commit(oid).ok())
        .ok_or_else(moved)?;
    let base_tree = base.tree().map_err(local)?;
    let tree_id = build_tree_over(
        &repo,
        &base_tree,
        request.files,
        removed.iter().map(String::as_str),
    )?;
    let head = match repo.find_reference(HEAD_TIP) {
        Ok(reference) => Some(reference.peel_to_commit().map_err(local)?),
        Err(e) if e.code() == ErrorCode::NotFound => None,
        Err(e) => return Err(local(e)),
    };
    if let Some(tip) = &head {
        check_marker(tip, request.marker, &remote.display, || {
            format!("the branch {} (its last commit)", request.branch)
        })?;
        // Over the base also when a push made again for a forge that lost
        // the record of the first (`push_again`) stands between them.
        let over_base =
            tip.id() == base.id() || repo.graph_descendant_of(tip.id(), base.id()).map_err(local)?;
        if tip.tree_id() == tree_id && over_base {
            return Ok(Published {
                commit: tip.id().to_string(),
                pushed: false,
            });
        }
    }
    let parents: Vec<&git2::Commit<'_>> = head.iter().chain(std::iter::once(&base)).collect();
    let commit = commit_and_push(
        &repo,
        &remote,
        request,
        &branch_ref,
        &signature,
        tree_id,
        &parents,
    )?;
    tracing::info!(url = %remote.display, branch = request.branch, base = base_branch, commit, "pushed a proposal");
    Ok(Published { commit, pushed: true })
}

/// Commits `tree_id` over `parents` on `branch_ref` as the request's commit
/// (its message carrying the marker) and pushes `request.branch`: the one
/// way both a publish and a pull request's change put a commit on a remote.
fn commit_and_push(
    repo: &Repository,
    remote: &RemoteSpec,
    request: &PublishRequest<'_>,
    branch_ref: &str,
    signature: &Signature<'_>,
    tree_id: git2::Oid,
    parents: &[&git2::Commit<'_>],
) -> Result<String, GitError> {
    let local = |e: git2::Error| local_error(repo.path(), &e);
    let tree = repo.find_tree(tree_id).map_err(local)?;
    let message = commit_message_marked(request.message, request.marker);
    let commit = repo
        .commit(Some(branch_ref), signature, signature, &message, &tree, parents)
        .map_err(local)?;
    remote.push(repo, branch_ref, request.branch)?;
    Ok(commit.to_string())
}

/// Where a fetched branch's tip is kept in a [`Checkout`].
const HEAD_TIP: &str = "refs/goldpath/head";
/// Where a fetched base branch's tip is kept in a [`Checkout`].
const BASE_TIP: &str = "refs/goldpath/base";

/// What a push onto a branch that may exist starts from: the publish's
/// remote, branch reference and signature (see [`start`]) and a scratch
/// repository holding the branch's tip as [`HEAD_TIP`] when it exists and
/// the base branch's as [`BASE_TIP`] when one is asked for.
struct Checkout {
    remote: RemoteSpec,
    branch_ref: String,
    signature: Signature<'static>,
    /// Removed when dropped.
    scratch: tempfile::TempDir,
    repo: Repository,
}

/// Checks `request` (and `base_branch`) and fetches the tips into a new
/// scratch repository named after `prefix`; with their `history` when
/// asked, only the tips otherwise (shallow, where the remote is HTTP).
fn checkout(
    request: &PublishRequest<'_>,
    base_branch: Option<&str>,
    history: bool,
    prefix: &str,
) -> Result<Checkout, GitError> {
    let (remote, branch_ref, signature) = start(request)?;
    let mut refspecs = Vec::with_capacity(2);
    if let Some(base_branch) = base_branch {
        valid_branch_ref(base_branch)?;
        refspecs.push(format!("+refs/heads/{base_branch}:{BASE_TIP}"));
    }
    refspecs.push(format!("+{branch_ref}:{HEAD_TIP}"));
    remote.check_local()?;
    let (scratch, repo) = scratch_repository(prefix)?;
    remote.fetch(&repo, &refspecs, !history && remote.is_http())?;
    Ok(Checkout {
        remote,
        branch_ref,
        signature,
        scratch,
        repo,
    })
}

/// The remote, the branch's reference and the commit's signature of a
/// publish, checked before any network traffic: a bad branch name or
/// identity is a template or configuration error, whatever the remote holds.
fn start(request: &PublishRequest<'_>) -> Result<(RemoteSpec, String, Signature<'static>), GitError> {
    configure_libgit2();
    let remote = RemoteSpec::parse(request.remote_url, request.credentials)?;
    let branch_ref = valid_branch_ref(request.branch)?;
    let signature = signature(request.identity)?;
    Ok((remote, branch_ref, signature))
}

/// `refs/heads/{branch}`, for a name git accepts as a branch.
fn valid_branch_ref(branch: &str) -> Result<String, GitError> {
    let reference = format!("refs/heads/{branch}");
    if branch.is_empty() || !git2::Reference::is_valid_name(&reference) {
        return Err(GitError::InvalidReference {
            reference: branch.to_owned(),
            reason: "not a valid git branch name".to_owned(),
        });
    }
    Ok(reference)
}

/// The author and committer of a new commit, made now.
fn signature(identity: &GitIdentity) -> Result<Signature<'static>, GitError> {
    Signature::now(&identity.author_name, &identity.author_email).map_err(|e| GitError::InvalidIdentity {
        name: identity.author_name.clone(),
        email: identity.author_email.clone(),
        detail: e.message().to_owned(),
    })
}

/// A repository on this machine is written directly, with the outcomes of
/// a push (new branch, same tree, different content, lost race), without
/// packing the objects only to unpack them next door.
fn publish_in_place(
    path: &Path,
    remote: &RemoteSpec,
    request: &PublishRequest<'_>,
    branch_ref: &str,
    signature: &Signature<'_>,
) -> Result<Published, GitError> {
    let repo = Repository::open(path).map_err(|e| GitError::RepositoryNotFound {
        url: remote.display.clone(),
        detail: format!("{} is not a git repository: {}", path.display(), e.message()),
    })?;
    let local = |e: git2::Error| local_error(path, &e);
    let tree_id = build_tree(&repo, request.files)?;
    match repo.find_reference(branch_ref) {
        Ok(reference) => {
            let tip = reference.peel_to_commit().map_err(local)?;
            let commit = tip.id().to_string();
            check_marker(&tip, request.marker, &remote.display, || {
                format!("the branch {}", request.branch)
            })?;
            if tip.tree_id() == tree_id {
                Ok(Published {
                    commit,
                    pushed: false,
                })
            } else {
                Err(GitError::DifferentContent {
                    url: remote.display.clone(),
                    branch: request.branch.to_owned(),
                    commit,
                })
            }
        }
        Err(e) if e.code() == ErrorCode::NotFound => {
            if let Some(marker) = request.marker {
                let head = repo
                    .head()
                    .ok()
                    .and_then(|head| head.peel_to_commit().ok())
                    .or_else(|| first_branch_tip(&repo));
                if let Some(tip) = head {
                    check_marker(&tip, Some(marker), &remote.display, || {
                        "other branches".to_owned()
                    })?;
                }
            }
            let tree = repo.find_tree(tree_id).map_err(local)?;
            let message = commit_message_marked(request.message, request.marker);
            // Creating the branch fails if another writer created it first:
            // nothing is ever overwritten.
            let commit = repo
                .commit(Some(branch_ref), signature, signature, &message, &tree, &[])
                .map_err(|e| match e.code() {
                    ErrorCode::Modified | ErrorCode::Exists => GitError::Conflict {
                        url: remote.display.clone(),
                        branch: request.branch.to_owned(),
                        detail: e.message().to_owned(),
                    },
                    _ => local(e),
                })?;
            Ok(Published {
                commit: commit.to_string(),
                pushed: true,
            })
        }
        Err(e) => Err(local(e)),
    }
}

/// The trailer that names who published a commit.
const MARKER_TRAILER: &str = "Goldpath-Request";

/// The commit message, with the publisher's trailer when there is one.
fn commit_message_marked(message: &str, marker: Option<&str>) -> String {
    let message = commit_message(message);
    match marker {
        Some(marker) => format!("{message}\n{MARKER_TRAILER}: {marker}\n"),
        None => message,
    }
}

/// Refuses `tip` unless it carries `marker`'s trailer (when there is a marker).
pub(super) fn check_marker(
    tip: &git2::Commit<'_>,
    marker: Option<&str>,
    display_url: &str,
    what: impl FnOnce() -> String,
) -> Result<(), GitError> {
    let Some(marker) = marker else { return Ok(()) };
    let trailer = format!("{MARKER_TRAILER}: {marker}");
    let message = String::from_utf8_lossy(tip.message_bytes());
    if message.lines().any(|line| line.trim_end() == trailer) {
        Ok(())
    } else {
        Err(GitError::NotCreatedByRequest {
            url: display_url.to_owned(),
            what: what(),
        })
    }
}

/// The tip of some branch of a local repository whose HEAD names none.
fn first_branch_tip(repo: &Repository) -> Option<git2::Commit<'_>> {
    let mut branches = repo.branches(Some(git2::BranchType::Local)).ok()?;
    branches
        .find_map(|branch| branch.ok())
        .and_then(|(branch, _)| branch.get().peel_to_commit().ok())
}

/// git adds a final newline to messages; tools that print them expect it.
fn commit_message(message: &str) -> String {
    let trimmed = message.trim_end();
    if trimmed.is_empty() {
        "Initial commit\n".to_owned()
    } else {
        format!("{trimmed}\n")
    }
}

#[cfg(test)]
mod tests;
