//! Git: publishing a workspace to a remote, and reading a template's files
//! from a repository, with git2.
//!
//! Everything here blocks (libgit2 does network and disk I/O on the calling
//! thread); async callers run it under `spawn_blocking`.
//!
//! Commits are built straight from an in-memory [`FileTree`] in a bare
//! repository: no working tree is ever checked out, so file modes and
//! symlinks survive exactly and nothing on the operator's disk can leak into
//! a commit. Publishing is idempotent by comparing tree ids, never by
//! trusting the operator's own records, so a request that crashed after
//! pushing resumes without a second commit.

use std::cell::{Cell, RefCell};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once, OnceLock, PoisonError};

use git2::{
    AutotagOption, Cred, CredentialType, Direction, ErrorClass, ErrorCode, FetchOptions, Oid, ProxyOptions,
    PushOptions, RemoteCallbacks, Repository, Signature,
};
use sha2::{Digest, Sha256};

use crate::config::TemplateSourceLimits;
use crate::engine::files::{FileEntry, FileTree};

/// The branch a request publishes to when its template does not name one.
pub const DEFAULT_BRANCH: &str = "main";

const MODE_TREE: i32 = 0o040000;
const MODE_FILE: i32 = 0o100644;
const MODE_EXECUTABLE: i32 = 0o100755;
const MODE_SYMLINK: i32 = 0o120000;
const MODE_SUBMODULE: i32 = 0o160000;

/// libgit2 waits forever by default; a git server that accepts a connection
/// and then hangs would otherwise pin a blocking thread for good.
const CONNECT_TIMEOUT_MS: i32 = 30_000;
const IO_TIMEOUT_MS: i32 = 120_000;

/// Server output kept for a rejected push's message: enough for a hook's
/// explanation, bounded so a chatty server cannot grow an error unboundedly.
const MAX_REMOTE_MESSAGE: usize = 2048;

/// Who commits, and how the commit is signed off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitIdentity {
    /// Author and committer name.
    pub author_name: String,
    /// Author and committer email.
    pub author_email: String,
}

/// A username and password (or access token) for an HTTP(S) remote.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name; for token-only hosts any non-empty name works.
    pub username: String,
    /// The password or token. Never printed: see the `Debug` impl.
    pub password: String,
}

impl Credentials {
    /// Credentials from a username and a password or token.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    // Credentials end up in structs that are logged with `{:?}`; the
    // password must not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// What to publish, and where.
#[derive(Clone, Copy, Debug)]
pub struct PublishRequest<'a> {
    /// `https://`, `http://` or `file://` URL, or a local path, of the
    /// repository to publish to. It must exist; the branch need not.
    pub remote_url: &'a str,
    /// Branch to create; [`DEFAULT_BRANCH`] unless the template says.
    pub branch: &'a str,
    /// The complete content of the branch's first commit.
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

/// Why a git operation failed. URLs in messages are redacted with
/// [`redact_url`] and passwords never appear.
///
/// [`GitError::is_transient`] separates what a retry can fix (network,
/// server errors, a concurrent writer, local disk) from what needs a change
/// of input (bad URL, credentials, refs, paths, conflicting content).
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The URL cannot be used.
    #[error("invalid git URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, redacted.
        url: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A branch name, ref or commit id is malformed or ambiguous.
    #[error("invalid git reference {reference:?}: {reason}")]
    InvalidReference {
        /// The reference as given.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// A path in a file tree, or a subdirectory to read, is not usable in git.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The commit author cannot be used by git.
    #[error("invalid commit author {name:?} <{email}>: {detail}; configure a non-empty name and email")]
    InvalidIdentity {
        /// Author name.
        name: String,
        /// Author email.
        email: String,
        /// git's complaint.
        detail: String,
    },
    /// The server refused the credentials, or needs some and none were given.
    #[error("authentication failed for {url}: {detail}")]
    AuthenticationFailed {
        /// The URL, redacted.
        url: String,
        /// What to check.
        detail: String,
    },
    /// No repository at that URL.
    #[error("no git repository at {url}: {detail}")]
    RepositoryNotFound {
        /// The URL, redacted.
        url: String,
        /// What was found instead.
        detail: String,
    },
    /// No branch, tag or commit of that name.
    #[error("{reference} was not found in {url}: {detail}")]
    ReferenceNotFound {
        /// The URL, redacted.
        url: String,
        /// The reference as given.
        reference: String,
        /// What was looked for.
        detail: String,
    },
    /// The commit is not (or no longer) reachable in the remote.
    #[error(
        "commit {commit} was not found in {url}: no branch or tag reaches it (was the branch rewritten?); resolve the reference again"
    )]
    CommitNotFound {
        /// The URL, redacted.
        url: String,
        /// The commit id.
        commit: String,
    },
    /// The path does not exist in the commit.
    #[error("{path} does not exist in commit {commit} of {url}")]
    PathNotFound {
        /// The URL, redacted.
        url: String,
        /// The commit id.
        commit: String,
        /// The path looked for.
        path: String,
    },
    /// The path exists in the commit but is a file, not a directory.
    #[error("{path} in commit {commit} of {url} is a file, not a directory")]
    NotADirectory {
        /// The URL, redacted.
        url: String,
        /// The commit id.
        commit: String,
        /// The path looked for.
        path: String,
    },
    /// The branch exists with other content: publishing would overwrite
    /// someone's work, so goldpath stops.
    #[error(
        "the branch {branch} of {url} already holds different content (commit {short}); goldpath does not overwrite it: publish to a new repository or another branch, or delete the branch",
        short = short_id(.commit)
    )]
    DifferentContent {
        /// The URL, redacted.
        url: String,
        /// The branch.
        branch: String,
        /// The branch's tip commit, full hex id.
        commit: String,
    },
    /// Someone else wrote the branch while goldpath was publishing; a retry
    /// compares contents again and settles it.
    #[error(
        "the branch {branch} of {url} changed while goldpath was publishing to it ({detail}); the next attempt compares its content again"
    )]
    Conflict {
        /// The URL, redacted.
        url: String,
        /// The branch.
        branch: String,
        /// What the server or libgit2 said.
        detail: String,
    },
    /// The server could not take the lock on the branch: another push to it
    /// is under way, or a git process that died on the server left its lock
    /// file behind. A retry pushes again.
    #[error(
        "{url} could not lock {reference} ({detail}); another push to it may be under way, or a git process that died on the server left its lock file behind, which the server's administrator removes"
    )]
    RefLocked {
        /// The URL, redacted.
        url: String,
        /// The ref that could not be locked.
        reference: String,
        /// What the server said.
        detail: String,
    },
    /// The server refused the push for a reason of its own (a hook, branch
    /// protection, permissions).
    #[error("{url} rejected the push to {reference}: {reason}")]
    PushRejected {
        /// The URL, redacted.
        url: String,
        /// The ref that was refused.
        reference: String,
        /// The server's reason and messages.
        reason: String,
    },
    /// The repository holds branches that the publisher (a request) did not
    /// push: goldpath never adds a branch to someone else's repository.
    #[error(
        "{url} already holds {what} that this request did not publish; goldpath publishes only to a new repository or one this request created: choose another repository name"
    )]
    NotCreatedByRequest {
        /// The URL, redacted.
        url: String,
        /// What was found: the branch, or other branches.
        what: String,
    },
    /// The files to read are more than the operator's limits allow.
    #[error("{path} in commit {commit} of {url}: the source holds {limit}")]
    TooLarge {
        /// The URL, redacted.
        url: String,
        /// The commit id.
        commit: String,
        /// Where the limit was passed, relative to the source's path.
        path: String,
        /// Which limit, and the configuration key that sets it.
        limit: String,
    },
    /// The server could not be reached or failed (network, DNS, timeout,
    /// HTTP 5xx).
    #[error("could not reach {url}: {detail}; a later attempt may succeed")]
    Unavailable {
        /// The URL, redacted.
        url: String,
        /// libgit2's message.
        detail: String,
    },
    /// The server answered, but the operation failed in a way a retry will
    /// not fix.
    #[error("git operation on {url} failed: {detail}")]
    Remote {
        /// The URL, redacted.
        url: String,
        /// libgit2's message.
        detail: String,
    },
    /// The operator's own scratch or cache repository failed (disk full,
    /// permissions, a damaged cache, which is removed so the retry refetches).
    #[error("local git storage {path} failed: {detail}")]
    Local {
        /// The directory involved.
        path: String,
        /// What failed.
        detail: String,
    },
}

impl GitError {
    /// Whether retrying the same call later can succeed without any change
    /// to its input.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            GitError::Unavailable { .. }
                | GitError::Conflict { .. }
                | GitError::RefLocked { .. }
                | GitError::Local { .. }
        )
    }
}

fn short_id(commit: &str) -> &str {
    commit.get(..7).unwrap_or(commit)
}

/// `url` with the password of its userinfo replaced by `***`
/// (`https://user:***@host/...`), for messages and logs. A userinfo without
/// a password is replaced whole (`https://***@host/...`), since hosts take
/// bare tokens there. Works on strings that are not valid URLs, so a typo
/// cannot leak a secret either.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority = rest.find(['/', '?', '#']).map_or(rest, |end| &rest[..end]);
    if let Some(at) = authority.rfind('@') {
        let userinfo = &authority[..at];
        let redacted = match userinfo.find(':') {
            Some(colon) => format!("{}:***", &userinfo[..colon]),
            None => "***".to_owned(),
        };
        return format!("{}{}{}", &url[..authority_start], redacted, &rest[at..]);
    }
    // No '@' in the authority, but a later one may end a password holding
    // an unescaped '/', '?' or '#' (`https://user:pa/ss@host`): the tell is
    // a ':' in the authority that does not start a port. Otherwise the '@'
    // belongs to the path or query (`https://host/a@b`).
    let Some(at) = rest.rfind('@') else {
        return url.to_owned();
    };
    match authority.find(':') {
        Some(colon)
            if !authority.starts_with('[') && !authority[colon + 1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!(
                "{}{}:***{}",
                &url[..authority_start],
                &authority[..colon],
                &rest[at..]
            )
        }
        _ => url.to_owned(),
    }
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
    configure_libgit2();
    let remote = RemoteSpec::parse(request.remote_url, request.credentials)?;
    let branch = request.branch;
    let branch_ref = format!("refs/heads/{branch}");
    if branch.is_empty() || !git2::Reference::is_valid_name(&branch_ref) {
        return Err(GitError::InvalidReference {
            reference: branch.to_owned(),
            reason: "not a valid git branch name".to_owned(),
        });
    }
    // Checked before any network traffic: a bad identity is a configuration
    // error, whatever the remote holds.
    let identity = request.identity;
    let signature = Signature::now(&identity.author_name, &identity.author_email).map_err(|e| {
        GitError::InvalidIdentity {
            name: identity.author_name.clone(),
            email: identity.author_email.clone(),
            detail: e.message().to_owned(),
        }
    })?;
    remote.check_local()?;
    if let Some(path) = &remote.local_path {
        return publish_in_place(path, &remote, request, &branch_ref, &signature);
    }

    let scratch = tempfile::Builder::new()
        .prefix("goldpath-publish-")
        .tempdir()
        .map_err(|e| GitError::Local {
            path: std::env::temp_dir().display().to_string(),
            detail: format!("cannot create a scratch repository: {e}"),
        })?;
    let local = |e: git2::Error| local_error(scratch.path(), &e);
    let repo = Repository::init_bare(scratch.path()).map_err(local)?;
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
            let tree = repo.find_tree(tree_id).map_err(local)?;
            let commit = repo
                .commit(
                    Some(&branch_ref),
                    &signature,
                    &signature,
                    &commit_message_marked(request.message, request.marker),
                    &tree,
                    &[],
                )
                .map_err(local)?;
            remote.push(&repo, &branch_ref, branch)?;
            let commit = commit.to_string();
            tracing::info!(url = %remote.display, branch, commit, "pushed a new branch");
            Ok(Published { commit, pushed: true })
        }
        Err(e) => Err(local(e)),
    }
}

/// What to push as a branch on top of another: a pull request's change.
#[derive(Clone, Copy, Debug)]
pub struct ChangeRequest<'a> {
    /// The repository, as for [`PublishRequest::remote_url`]; it must exist.
    pub remote_url: &'a str,
    /// The branch the change starts from.
    pub base: &'a str,
    /// The branch to create.
    pub branch: &'a str,
    /// Files to write, by their path in the repository; the base's other
    /// files stay as they are.
    pub files: &'a FileTree,
    /// Commit message.
    pub message: &'a str,
    /// Author and committer.
    pub identity: &'a GitIdentity,
    /// Credentials for an HTTP(S) remote.
    pub credentials: Option<&'a Credentials>,
    /// Who publishes (a request's UID), recorded as the commit's trailer: a
    /// branch that already carries it is this publisher's, from an earlier
    /// attempt, and is reused; any other existing branch is refused.
    pub marker: &'a str,
}

/// Push `files` over the tip of `base` as one commit on a new branch, or
/// find that the branch already holds this publisher's commit.
///
/// - branch missing: one commit whose parent is the base's tip, pushed;
///   `pushed: true`;
/// - branch whose tip carries the marker: its tip; `pushed: false`;
/// - branch made by anyone else: [`GitError::NotCreatedByRequest`];
/// - base missing: [`GitError::ReferenceNotFound`].
pub fn publish_change(request: &ChangeRequest<'_>) -> Result<Published, GitError> {
    configure_libgit2();
    let remote = RemoteSpec::parse(request.remote_url, request.credentials)?;
    let branch_ref = format!("refs/heads/{}", request.branch);
    for (name, reference) in [
        (request.branch, branch_ref.clone()),
        (request.base, format!("refs/heads/{}", request.base)),
    ] {
        if name.is_empty() || !git2::Reference::is_valid_name(&reference) {
            return Err(GitError::InvalidReference {
                reference: name.to_owned(),
                reason: "not a valid git branch name".to_owned(),
            });
        }
    }
    let identity = request.identity;
    let signature = Signature::now(&identity.author_name, &identity.author_email).map_err(|e| {
        GitError::InvalidIdentity {
            name: identity.author_name.clone(),
            email: identity.author_email.clone(),
            detail: e.message().to_owned(),
        }
    })?;
    remote.check_local()?;
    let scratch = tempfile::Builder::new()
        .prefix("goldpath-change-")
        .tempdir()
        .map_err(|e| GitError::Local {
            path: std::env::temp_dir().display().to_string(),
            detail: format!("cannot create a scratch repository: {e}"),
        })?;
    let local = |e: git2::Error| local_error(scratch.path(), &e);
    let repo = Repository::init_bare(scratch.path()).map_err(local)?;
    let (base_tip, head_tip) = ("refs/goldpath/base", "refs/goldpath/head");
    remote.fetch(
        &repo,
        &[
            format!("+refs/heads/{}:{base_tip}", request.base),
            format!("+{branch_ref}:{head_tip}"),
        ],
        remote.is_http(),
    )?;
    if let Ok(reference) = repo.find_reference(head_tip) {
        let tip = reference.peel_to_commit().map_err(local)?;
        check_marker(&tip, Some(request.marker), &remote.display, || {
            format!("the branch {}", request.branch)
        })?;
        return Ok(Published {
            commit: tip.id().to_string(),
            pushed: false,
        });
    }
    let base = repo
        .find_reference(base_tip)
        .and_then(|reference| reference.peel_to_commit())
        .map_err(|_| GitError::ReferenceNotFound {
            url: remote.display.clone(),
            reference: request.base.to_owned(),
            detail: "the branch a pull request goes into must exist".to_owned(),
        })?;
    let mut index = git2::Index::new().map_err(local)?;
    index.read_tree(&base.tree().map_err(local)?).map_err(local)?;
    for (path, entry) in request.files {
        split_tree_path(path)?;
        let (contents, mode) = match entry {
            FileEntry::File { contents, executable } => (
                contents.as_slice(),
                if *executable { MODE_EXECUTABLE } else { MODE_FILE },
            ),
            FileEntry::Symlink { target } => (target.as_bytes(), MODE_SYMLINK),
        };
        let id = repo.blob(contents).map_err(local)?;
        index
            .add(&git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: mode as u32,
                uid: 0,
                gid: 0,
                file_size: u32::try_from(contents.len()).unwrap_or(u32::MAX),
                id,
                flags: u16::try_from(path.len().min(0xfff)).unwrap_or(0xfff),
                flags_extended: 0,
                path: path.as_bytes().to_vec(),
            })
            .map_err(local)?;
    }
    let tree_id = index.write_tree_to(&repo).map_err(local)?;
    let tree = repo.find_tree(tree_id).map_err(local)?;
    let commit = repo
        .commit(
            Some(&branch_ref),
            &signature,
            &signature,
            &commit_message_marked(request.message, Some(request.marker)),
            &tree,
            &[&base],
        )
        .map_err(local)?;
    remote.push(&repo, &branch_ref, request.branch)?;
    let commit = commit.to_string();
    tracing::info!(url = %remote.display, branch = request.branch, base = request.base, commit, "pushed a change branch");
    Ok(Published { commit, pushed: true })
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

/// Resolve `reference` of a remote to a commit id (full hex).
///
/// `reference` may be a branch or tag name (tags win over branches of the
/// same name, as in git), a full ref (`refs/heads/x`), `HEAD`, or a full or
/// abbreviated commit id; `None` (or empty) means the remote's default
/// branch. Annotated tags resolve to the commit they tag.
pub fn resolve(
    url: &str,
    reference: Option<&str>,
    credentials: Option<&Credentials>,
) -> Result<String, GitError> {
    configure_libgit2();
    let remote = RemoteSpec::parse(url, credentials)?;
    remote.check_local()?;
    let refs = remote.list_refs()?;
    let wanted = reference.map(str::trim).filter(|r| !r.is_empty());
    let Some(wanted) = wanted else {
        return peeled(&refs, "HEAD")
            .map(|oid| oid.to_string())
            .ok_or_else(|| GitError::ReferenceNotFound {
                url: remote.display.clone(),
                reference: "HEAD".to_owned(),
                detail: "the repository has no default branch; is it empty?".to_owned(),
            });
    };
    let candidates = if wanted == "HEAD" || wanted.starts_with("refs/") {
        vec![wanted.to_owned()]
    } else {
        vec![
            format!("refs/{wanted}"),
            format!("refs/tags/{wanted}"),
            format!("refs/heads/{wanted}"),
        ]
    };
    if let Some(oid) = candidates.iter().find_map(|name| peeled(&refs, name)) {
        return Ok(oid.to_string());
    }
    if (4..=40).contains(&wanted.len()) && wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        return remote.resolve_commit_id(&refs, &wanted.to_ascii_lowercase());
    }
    Err(GitError::ReferenceNotFound {
        url: remote.display.clone(),
        reference: wanted.to_owned(),
        detail: "no branch or tag has that name".to_owned(),
    })
}

/// Read the files under `path` (`None` or empty: the whole tree) of
/// `commit` (a full commit id, as [`resolve`] returns) of a remote, with
/// paths relative to `path`, executable bits and symlinks kept. Submodules
/// are left out. A tree past `limits` is refused with
/// [`GitError::TooLarge`] naming the limit and the path where it was passed.
///
/// Objects are cached in a bare repository under `cache_dir`, one per
/// remote; a commit already there is read without touching the network, so
/// each commit is fetched once.
pub fn read_tree(
    url: &str,
    commit: &str,
    path: Option<&str>,
    credentials: Option<&Credentials>,
    cache_dir: &Path,
    limits: &TemplateSourceLimits,
) -> Result<FileTree, GitError> {
    configure_libgit2();
    let remote = RemoteSpec::parse(url, credentials)?;
    let oid = parse_full_commit_id(commit)?;
    let subdir = normalize_subdir(path.unwrap_or(""))?;

    let repo_dir = cache_dir.join(format!("{}.git", remote.cache_name()));
    let lock = cache_lock(&repo_dir);
    let _guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
    let repo = open_cache(cache_dir, &repo_dir)?;

    remote.check_local()?;
    if find_commit(&repo, oid).is_none() {
        remote.fetch_commit(&repo, oid)?;
    } else {
        // The cache is shared by every reader naming this URL: a commit in
        // it is served only once these credentials have proven access.
        remote.list_refs()?;
    }
    let Some(found) = find_commit(&repo, oid) else {
        return Err(GitError::CommitNotFound {
            url: remote.display.clone(),
            commit: oid.to_string(),
        });
    };
    // Keeps the commit's objects referenced even if the branch that brought
    // them is rewritten and anyone ever runs `git gc` on the cache.
    repo.reference(
        &format!("refs/goldpath/commits/{oid}"),
        found,
        true,
        "goldpath: read",
    )
    .map_err(|e| local_error(&repo_dir, &e))?;

    let result = read_commit(&repo, found, &subdir, &remote.display, limits);
    if let Err(GitError::Local { .. }) = &result {
        // A damaged cache would fail the same way forever; dropping it makes
        // the retry fetch afresh.
        drop(repo);
        if let Err(e) = std::fs::remove_dir_all(&repo_dir) {
            tracing::warn!(path = %repo_dir.display(), error = %e, "cannot remove a damaged git cache");
        }
    }
    result
}

fn read_commit(
    repo: &Repository,
    oid: Oid,
    subdir: &str,
    display_url: &str,
    limits: &TemplateSourceLimits,
) -> Result<FileTree, GitError> {
    let local = |e: git2::Error| local_error(repo.path(), &e);
    let commit = repo.find_commit(oid).map_err(local)?;
    let root = commit.tree().map_err(local)?;
    let tree = if subdir.is_empty() {
        root
    } else {
        let entry = match root.get_path(Path::new(subdir)) {
            Ok(entry) => entry,
            Err(e) if e.code() == ErrorCode::NotFound => {
                return Err(GitError::PathNotFound {
                    url: display_url.to_owned(),
                    commit: oid.to_string(),
                    path: subdir.to_owned(),
                });
            }
            Err(e) => return Err(local(e)),
        };
        if entry.filemode() != MODE_TREE {
            return Err(GitError::NotADirectory {
                url: display_url.to_owned(),
                commit: oid.to_string(),
                path: subdir.to_owned(),
            });
        }
        repo.find_tree(entry.id()).map_err(local)?
    };
    let over = |path: &str, limit: String| GitError::TooLarge {
        url: display_url.to_owned(),
        commit: oid.to_string(),
        path: shorten_path(path),
        limit,
    };
    collect_tree(repo, tree.id(), limits, over)
}

/// Reads every file under `root`. The walk is iterative (a stack of
/// directories still to read) and each limit is checked before what it
/// limits is read: a directory's depth before it is opened, the count before
/// a path is added, a blob's size (from the object's header) before its
/// contents are inflated. Trees that share subtrees therefore cost at most
/// `max_files` steps however many paths they would expand to.
fn collect_tree(
    repo: &Repository,
    root: Oid,
    limits: &TemplateSourceLimits,
    over: impl Fn(&str, String) -> GitError,
) -> Result<FileTree, GitError> {
    let local = |e: git2::Error| local_error(repo.path(), &e);
    let odb = repo.odb().map_err(local)?;
    let mut files = FileTree::new();
    let mut paths = 0usize;
    let mut bytes = 0u64;
    // (tree, its path, its depth below the root)
    let mut pending = vec![(root, String::new(), 0usize)];
    while let Some((tree_id, prefix, depth)) = pending.pop() {
        let tree = repo.find_tree(tree_id).map_err(local)?;
        for entry in tree.iter() {
            let name = String::from_utf8_lossy(entry.name_bytes());
            let path = if prefix.is_empty() {
                name.into_owned()
            } else {
                format!("{prefix}/{name}")
            };
            if std::str::from_utf8(entry.name_bytes()).is_err() {
                return Err(GitError::InvalidPath {
                    path,
                    reason: "the file name is not valid UTF-8".to_owned(),
                });
            }
            paths += 1;
            if paths > limits.max_files {
                return Err(over(
                    &path,
                    format!(
                        "more than {} files and directories (templateSourceLimits.maxFiles)",
                        limits.max_files
                    ),
                ));
            }
            let mode = entry.filemode();
            if mode == MODE_TREE {
                if depth + 1 > limits.max_depth {
                    return Err(over(
                        &path,
                        format!(
                            "directories nested more than {} deep (templateSourceLimits.maxDepth)",
                            limits.max_depth
                        ),
                    ));
                }
                pending.push((entry.id(), path, depth + 1));
                continue;
            }
            if mode == MODE_SUBMODULE {
                // A submodule is a pointer into another repository; there
                // are no files here to render.
                tracing::debug!(path, "leaving out a submodule");
                continue;
            }
            let (size, _) = odb.read_header(entry.id()).map_err(local)?;
            bytes = bytes.saturating_add(size as u64);
            if bytes > limits.max_bytes {
                return Err(over(
                    &path,
                    format!(
                        "more than {} bytes of files (templateSourceLimits.maxBytes)",
                        limits.max_bytes
                    ),
                ));
            }
            let blob = repo.find_blob(entry.id()).map_err(local)?;
            let file = if mode == MODE_SYMLINK {
                let target =
                    String::from_utf8(blob.content().to_vec()).map_err(|_| GitError::InvalidPath {
                        path: path.clone(),
                        reason: "the symlink's target is not valid UTF-8".to_owned(),
                    })?;
                FileEntry::Symlink { target }
            } else {
                FileEntry::File {
                    contents: blob.content().to_vec(),
                    executable: mode & 0o111 != 0,
                }
            };
            files.insert(path, file);
        }
    }
    Ok(files)
}

/// A path for a message: a path nested thousands deep is cut in the middle.
fn shorten_path(path: &str) -> String {
    const KEEP: usize = 80;
    if path.len() <= 2 * KEEP + 3 {
        return path.to_owned();
    }
    let mut head = KEEP;
    while !path.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = path.len() - KEEP;
    while !path.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}...{}", &path[..head], &path[tail..])
}

/// Sets process-wide libgit2 options before the first git operation.
fn configure_libgit2() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: these write libgit2 globals that are read when a
        // connection opens. Every git operation of goldpath goes through this
        // module and calls this first; `Once` makes them wait until the
        // write is done, so no read races it.
        unsafe {
            if let Err(e) = git2::opts::set_server_connect_timeout_in_milliseconds(CONNECT_TIMEOUT_MS) {
                tracing::warn!(error = %e, "cannot set the git connect timeout");
            }
            if let Err(e) = git2::opts::set_server_timeout_in_milliseconds(IO_TIMEOUT_MS) {
                tracing::warn!(error = %e, "cannot set the git I/O timeout");
            }
        }
        // Trees are built only from blobs written just before them, so
        // looking each one up again on every tree write checks nothing.
        git2::opts::strict_object_creation(false);
    });
}

fn local_error(path: &Path, error: &git2::Error) -> GitError {
    GitError::Local {
        path: path.display().to_string(),
        detail: error.message().to_owned(),
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
fn check_marker(
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

fn parse_full_commit_id(commit: &str) -> Result<Oid, GitError> {
    let commit = commit.trim();
    // `Oid::from_str` pads short input with zeros; only a full id is a pin.
    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(GitError::InvalidReference {
            reference: commit.to_owned(),
            reason: "expected a full 40-character commit id, as resolve returns".to_owned(),
        });
    }
    Oid::from_str(commit).map_err(|e| GitError::InvalidReference {
        reference: commit.to_owned(),
        reason: e.message().to_owned(),
    })
}

fn find_commit(repo: &Repository, oid: Oid) -> Option<Oid> {
    let object = repo.find_object(oid, None).ok()?;
    let commit = object.peel_to_commit().ok()?;
    Some(commit.id())
}

/// Splits a tree path into components, refusing what git would refuse or
/// what could escape or corrupt a checkout.
fn split_tree_path(path: &str) -> Result<Vec<&str>, GitError> {
    let invalid = |reason: &str| GitError::InvalidPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.is_empty() {
        return Err(invalid("the path is empty"));
    }
    if path.contains('\0') {
        return Err(invalid("the path contains a NUL byte"));
    }
    if path.starts_with('/') {
        return Err(invalid("the path must be relative"));
    }
    let components: Vec<&str> = path.split('/').collect();
    for component in &components {
        match *component {
            "" => {
                return Err(invalid(
                    "the path has an empty component (`//` or a trailing `/`)",
                ));
            }
            "." | ".." => return Err(invalid("the path must not contain `.` or `..` components")),
            c if c.eq_ignore_ascii_case(".git") => {
                return Err(invalid("git refuses `.git` inside a tree"));
            }
            _ => {}
        }
    }
    Ok(components)
}

/// A subdirectory as templates write it (`./skeleton/`, `/skeleton`) in the
/// form git trees use (`skeleton`); empty for the root.
fn normalize_subdir(path: &str) -> Result<String, GitError> {
    let mut trimmed = path.trim();
    while let Some(rest) = trimmed.strip_prefix("./") {
        trimmed = rest;
    }
    let trimmed = trimmed.trim_matches('/');
    if trimmed.is_empty() || trimmed == "." {
        return Ok(String::new());
    }
    let components: Vec<&str> = trimmed
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    if components.contains(&"..") {
        return Err(GitError::InvalidPath {
            path: path.to_owned(),
            reason: "the path must stay inside the repository (no `..`)".to_owned(),
        });
    }
    Ok(components.join("/"))
}

enum Node {
    Leaf { oid: Oid, mode: i32 },
    Dir(BTreeMap<String, Node>),
}

/// Writes `files` as blobs and nested trees; returns the root tree's id.
fn build_tree(repo: &Repository, files: &FileTree) -> Result<Oid, GitError> {
    let local = |e: git2::Error| local_error(repo.path(), &e);
    let mut root = BTreeMap::new();
    for (path, entry) in files {
        let components = split_tree_path(path)?;
        let (oid, mode) = match entry {
            FileEntry::File { contents, executable } => (
                repo.blob(contents).map_err(local)?,
                if *executable { MODE_EXECUTABLE } else { MODE_FILE },
            ),
            FileEntry::Symlink { target } => (repo.blob(target.as_bytes()).map_err(local)?, MODE_SYMLINK),
        };
        insert_node(&mut root, path, &components, Node::Leaf { oid, mode })?;
    }
    write_dir(repo, &root).map_err(local)
}

fn insert_node(
    root: &mut BTreeMap<String, Node>,
    path: &str,
    components: &[&str],
    leaf: Node,
) -> Result<(), GitError> {
    let conflict = || GitError::InvalidPath {
        path: path.to_owned(),
        reason: "another entry uses a part of this path as a file".to_owned(),
    };
    let Some((last, parents)) = components.split_last() else {
        return Err(GitError::InvalidPath {
            path: path.to_owned(),
            reason: "the path is empty".to_owned(),
        });
    };
    let mut dir = root;
    for name in parents {
        let node = dir
            .entry((*name).to_owned())
            .or_insert_with(|| Node::Dir(BTreeMap::new()));
        dir = match node {
            Node::Dir(children) => children,
            Node::Leaf { .. } => return Err(conflict()),
        };
    }
    match dir.entry((*last).to_owned()) {
        Entry::Vacant(slot) => {
            slot.insert(leaf);
            Ok(())
        }
        Entry::Occupied(_) => Err(GitError::InvalidPath {
            path: path.to_owned(),
            reason: "the path is both a file and a directory".to_owned(),
        }),
    }
}

fn write_dir(repo: &Repository, dir: &BTreeMap<String, Node>) -> Result<Oid, git2::Error> {
    let mut builder = repo.treebuilder(None)?;
    for (name, node) in dir {
        let (oid, mode) = match node {
            Node::Leaf { oid, mode } => (*oid, *mode),
            Node::Dir(children) => (write_dir(repo, children)?, MODE_TREE),
        };
        builder.insert(name.as_str(), oid, mode)?;
    }
    builder.write()
}

/// A ref as the remote advertised it.
struct AdvertisedRef {
    name: String,
    oid: Oid,
}

/// The value of a ref, peeled: an annotated tag's `^{}` entry names the
/// commit it tags.
fn peeled(refs: &[AdvertisedRef], name: &str) -> Option<Oid> {
    let peeled_name = format!("{name}^{{}}");
    refs.iter()
        .find(|r| r.name == peeled_name)
        .or_else(|| refs.iter().find(|r| r.name == name))
        .map(|r| r.oid)
}

fn cache_lock(repo_dir: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    locks.entry(repo_dir.to_path_buf()).or_default().clone()
}

/// Opens the cache repository, creating it atomically (init aside, then
/// rename) so that a crash or another process never leaves a half-made one
/// in place; one that no longer opens is replaced.
fn open_cache(cache_dir: &Path, repo_dir: &Path) -> Result<Repository, GitError> {
    let io_error = |path: &Path, what: &str, e: std::io::Error| GitError::Local {
        path: path.display().to_string(),
        detail: format!("{what}: {e}"),
    };
    if repo_dir.exists() {
        match Repository::open_bare(repo_dir) {
            Ok(repo) => return Ok(repo),
            Err(e) => {
                tracing::warn!(path = %repo_dir.display(), error = %e, "replacing a git cache that does not open");
                std::fs::remove_dir_all(repo_dir)
                    .map_err(|e| io_error(repo_dir, "cannot remove a damaged cache", e))?;
            }
        }
    }
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| io_error(cache_dir, "cannot create the cache directory", e))?;
    let staging = tempfile::Builder::new()
        .prefix(".init-")
        .tempdir_in(cache_dir)
        .map_err(|e| io_error(cache_dir, "cannot create a directory", e))?;
    Repository::init_bare(staging.path()).map_err(|e| local_error(staging.path(), &e))?;
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, repo_dir) {
        // Another process may have won the race; its repository is as good.
        if let Err(cleanup) = std::fs::remove_dir_all(&staged) {
            tracing::debug!(path = %staged.display(), error = %cleanup, "cannot remove a staging directory");
        }
        if !repo_dir.exists() {
            return Err(io_error(repo_dir, "cannot create the cache repository", e));
        }
    }
    Repository::open_bare(repo_dir).map_err(|e| local_error(repo_dir, &e))
}

/// A remote, parsed once: what libgit2 is given, what messages show, and
/// which strings must never appear in them.
struct RemoteSpec {
    /// Given to libgit2: the password is taken out of the URL and handed
    /// over by the credentials callback instead, so libgit2 cannot echo it.
    url: String,
    /// The caller's URL, redacted.
    display: String,
    /// The caller's URL exactly, only to scrub it out of libgit2 messages.
    raw: String,
    /// The URL without any userinfo: a rotated token keeps its cache.
    cache_key: String,
    local_path: Option<PathBuf>,
    credentials: Option<Credentials>,
    secrets: Vec<String>,
}

impl RemoteSpec {
    fn parse(url: &str, credentials: Option<&Credentials>) -> Result<Self, GitError> {
        let display = redact_url(url);
        let invalid = |reason: String| GitError::InvalidUrl {
            url: display.clone(),
            reason,
        };
        let mut secrets = Vec::new();
        if let Some(c) = credentials.filter(|c| !c.password.is_empty()) {
            secrets.push(c.password.clone());
        }
        if url.trim().is_empty() {
            return Err(invalid("the URL is empty".to_owned()));
        }
        let ssh_unsupported =
            "SSH is not supported; use the repository's https:// URL with a username and token";
        let mut spec = RemoteSpec {
            url: url.to_owned(),
            display: display.clone(),
            raw: url.to_owned(),
            cache_key: url.to_owned(),
            local_path: None,
            credentials: credentials.cloned(),
            secrets,
        };
        if !url.contains("://") {
            if let Some(colon) = url.find(':') {
                let host = &url[..colon];
                if host.len() > 1 && !host.contains('/') {
                    return Err(invalid(format!(
                        "{ssh_unsupported} (this looks like an scp-style SSH address)"
                    )));
                }
            }
            spec.local_path = Some(PathBuf::from(url));
            return Ok(spec);
        }
        let parsed = url::Url::parse(url).map_err(|e| {
            invalid(format!(
                "{e}; expected https://host/owner/repo, http://..., file:///path or a local path"
            ))
        })?;
        match parsed.scheme() {
            "http" | "https" => {
                if parsed.host_str().is_none_or(str::is_empty) {
                    return Err(invalid("the URL has no host".to_owned()));
                }
                if let Some(password) = parsed.password() {
                    let decoded = percent_decode(password);
                    spec.secrets.push(password.to_owned());
                    spec.secrets.push(decoded.clone());
                    if spec.credentials.is_none() {
                        spec.credentials = Some(Credentials::new(percent_decode(parsed.username()), decoded));
                    }
                }
                let mut for_libgit2 = parsed.clone();
                // Fails only for URLs that cannot have userinfo, which an
                // http(s) URL with a host always can.
                let _ = for_libgit2.set_password(None);
                spec.url = for_libgit2.to_string();
                let mut key = for_libgit2;
                let _ = key.set_username("");
                spec.cache_key = key.to_string();
                Ok(spec)
            }
            "file" => {
                let path = parsed.to_file_path().map_err(|()| {
                    invalid("a file:// URL needs an absolute path on this machine".to_owned())
                })?;
                spec.url = path
                    .to_str()
                    .ok_or_else(|| invalid("the path is not valid UTF-8".to_owned()))?
                    .to_owned();
                spec.local_path = Some(path);
                Ok(spec)
            }
            "ssh" | "git+ssh" | "ssh+git" => Err(invalid(ssh_unsupported.to_owned())),
            other => Err(invalid(format!(
                "the {other}:// scheme is not supported; use https://, http://, file:// or a local path"
            ))),
        }
    }

    fn is_http(&self) -> bool {
        self.local_path.is_none()
    }

    /// A missing local directory is a wrong URL, not a network hiccup; say
    /// so before libgit2 reports it as an OS error.
    fn check_local(&self) -> Result<(), GitError> {
        match &self.local_path {
            Some(path) if !path.exists() => Err(GitError::RepositoryNotFound {
                url: self.display.clone(),
                detail: format!("the directory {} does not exist", path.display()),
            }),
            _ => Ok(()),
        }
    }

    fn cache_name(&self) -> String {
        let digest = Sha256::digest(self.cache_key.as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn scrub(&self, message: &str) -> String {
        let mut message = message.replace(&self.raw, &self.display);
        for secret in self.secrets.iter().filter(|s| !s.is_empty()) {
            message = message.replace(secret.as_str(), "***");
        }
        message
    }

    /// Maps a libgit2 failure talking to this remote to what the caller
    /// should do about it.
    fn remote_error(&self, error: &git2::Error, auth: &AuthState<'_>) -> GitError {
        let url = self.display.clone();
        let detail = self.scrub(error.message());
        if error.code() == ErrorCode::Auth || auth.calls.get() > 1 {
            return GitError::AuthenticationFailed {
                url,
                detail: auth.explain(&detail),
            };
        }
        if error.code() == ErrorCode::Certificate {
            return GitError::Remote {
                url,
                detail: format!("the server's TLS certificate is not trusted ({detail}); install its CA"),
            };
        }
        if let Some(status) = http_status(error.message()) {
            return match status {
                401 | 407 => GitError::AuthenticationFailed {
                    url,
                    detail: auth.explain(&detail),
                },
                403 => GitError::AuthenticationFailed {
                    url,
                    detail: format!(
                        "the server refused access (HTTP 403); check that the credentials may {} this repository",
                        if auth.pushing { "push to" } else { "read" }
                    ),
                },
                404 | 410 => GitError::RepositoryNotFound {
                    url,
                    detail: format!(
                        "the server answered HTTP {status}; check the URL, and that the repository exists and the credentials can see it"
                    ),
                },
                408 | 429 | 500..=599 => GitError::Unavailable { url, detail },
                _ => GitError::Remote { url, detail },
            };
        }
        if self.local_path.is_some()
            && error.class() == ErrorClass::Repository
            && (error.code() == ErrorCode::NotFound || error.message().contains("could not find repository"))
        {
            return GitError::RepositoryNotFound { url, detail };
        }
        match error.class() {
            ErrorClass::Net | ErrorClass::Http | ErrorClass::Ssl | ErrorClass::Os => {
                GitError::Unavailable { url, detail }
            }
            _ => GitError::Remote { url, detail },
        }
    }

    fn fetch(&self, repo: &Repository, refspecs: &[String], shallow: bool) -> Result<(), GitError> {
        let auth = AuthState::new(self.credentials.as_ref(), false);
        let mut remote = repo
            .remote_anonymous(&self.url)
            .map_err(|e| self.remote_error(&e, &auth))?;
        let mut options = FetchOptions::new();
        options
            .remote_callbacks(auth.callbacks())
            .proxy_options(proxy_options())
            .download_tags(AutotagOption::None)
            .update_fetchhead(false);
        if shallow {
            // Only the tip is ever looked at; its history can be large.
            options.depth(1);
        }
        tracing::debug!(url = %self.display, ?refspecs, "fetching");
        remote
            .fetch(refspecs, Some(&mut options), None)
            .map_err(|e| self.remote_error(&e, &auth))
    }

    /// Fetches one commit into `repo`: by id where the server allows that,
    /// else every branch and tag (one of which reached it when it was
    /// resolved).
    fn fetch_commit(&self, repo: &Repository, oid: Oid) -> Result<(), GitError> {
        let direct = self.fetch(repo, &[format!("{oid}:refs/goldpath/commits/{oid}")], false);
        match direct {
            Ok(()) if find_commit(repo, oid).is_some() => return Ok(()),
            Ok(()) => {}
            Err(
                e @ (GitError::AuthenticationFailed { .. }
                | GitError::RepositoryNotFound { .. }
                | GitError::Unavailable { .. }),
            ) => return Err(e),
            Err(e) => {
                tracing::debug!(url = %self.display, error = %e, "fetching a commit by id failed; fetching all branches and tags");
            }
        }
        self.fetch(
            repo,
            &[
                "+refs/heads/*:refs/goldpath/heads/*".to_owned(),
                "+refs/tags/*:refs/goldpath/tags/*".to_owned(),
            ],
            false,
        )
    }

    fn push(&self, repo: &Repository, branch_ref: &str, branch: &str) -> Result<(), GitError> {
        let auth = AuthState::new(self.credentials.as_ref(), true);
        let rejections: RefCell<Vec<(String, String)>> = RefCell::new(Vec::new());
        let server_output = RefCell::new(String::new());
        let mut callbacks = auth.callbacks();
        callbacks.push_update_reference(|reference, status| {
            if let Some(status) = status {
                rejections
                    .borrow_mut()
                    .push((reference.to_owned(), status.to_owned()));
            }
            Ok(())
        });
        callbacks.sideband_progress(|data| {
            let mut output = server_output.borrow_mut();
            if output.len() < MAX_REMOTE_MESSAGE {
                output.push_str(&String::from_utf8_lossy(data));
            }
            true
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks).proxy_options(proxy_options());
        let mut remote = repo
            .remote_anonymous(&self.url)
            .map_err(|e| self.remote_error(&e, &auth))?;
        // No `+`: the server refuses to move a branch someone else created.
        let refspec = format!("{branch_ref}:{branch_ref}");
        let pushed = remote.push(&[refspec.as_str()], Some(&mut options));
        drop(options);
        if let Err(e) = pushed {
            if e.code() == ErrorCode::NotFastForward {
                return Err(GitError::Conflict {
                    url: self.display.clone(),
                    branch: branch.to_owned(),
                    detail: self.scrub(e.message()),
                });
            }
            return Err(self.remote_error(&e, &auth));
        }
        let rejections = rejections.into_inner();
        let Some((reference, status)) = rejections.into_iter().next() else {
            return Ok(());
        };
        let output = server_output.into_inner();
        let output = output.trim();
        let status = self.scrub(&status);
        // Git reports a lock it cannot take as the ref's status (older
        // servers) or on its error stream, with the status "failed to update
        // ref".
        let locked = std::iter::once(status.as_str())
            .chain(output.lines())
            .map(str::trim)
            .find(|line| {
                let line = line.to_ascii_lowercase();
                ["cannot lock ref", "unable to lock", "failed to lock"]
                    .iter()
                    .any(|s| line.contains(s))
            });
        if let Some(line) = locked {
            return Err(GitError::RefLocked {
                url: self.display.clone(),
                reference,
                detail: self.scrub(line.trim_start_matches("error: ")),
            });
        }
        let lowered = status.to_ascii_lowercase();
        let raced = ["fetch first", "non-fast-forward", "stale", "already exists"]
            .iter()
            .any(|s| lowered.contains(s));
        if raced {
            return Err(GitError::Conflict {
                url: self.display.clone(),
                branch: branch.to_owned(),
                detail: status,
            });
        }
        let reason = if output.is_empty() {
            status
        } else {
            format!("{status}; the server said: {}", self.scrub(output))
        };
        Err(GitError::PushRejected {
            url: self.display.clone(),
            reference,
            reason,
        })
    }

    /// Before a new branch is pushed with `marker`: refuses a repository
    /// that has branches unless the one its HEAD names (or its first) was
    /// published with the same marker. A repository the server does not
    /// have yet has none.
    fn check_other_branches(&self, repo: &Repository, marker: &str) -> Result<(), GitError> {
        let refs = match self.list_refs() {
            Err(GitError::RepositoryNotFound { .. }) => return Ok(()),
            other => other?,
        };
        let head = peeled(&refs, "HEAD");
        let mut heads = refs.iter().filter(|r| r.name.starts_with("refs/heads/"));
        let Some(first) = heads.next() else {
            return Ok(());
        };
        let probe = std::iter::once(first)
            .chain(heads)
            .find(|r| Some(r.oid) == head)
            .unwrap_or(first);
        let probe_ref = "refs/goldpath/probe";
        self.fetch(repo, &[format!("+{}:{probe_ref}", probe.name)], true)?;
        let tip = repo
            .find_reference(probe_ref)
            .and_then(|r| r.peel_to_commit())
            .map_err(|e| local_error(repo.path(), &e))?;
        check_marker(&tip, Some(marker), &self.display, || "other branches".to_owned())
    }

    fn list_refs(&self) -> Result<Vec<AdvertisedRef>, GitError> {
        let auth = AuthState::new(self.credentials.as_ref(), false);
        let mut remote =
            git2::Remote::create_detached(self.url.as_str()).map_err(|e| self.remote_error(&e, &auth))?;
        let connection = remote
            .connect_auth(Direction::Fetch, Some(auth.callbacks()), Some(proxy_options()))
            .map_err(|e| self.remote_error(&e, &auth))?;
        let heads = connection.list().map_err(|e| self.remote_error(&e, &auth))?;
        Ok(heads
            .iter()
            .map(|head| AdvertisedRef {
                name: head.name().to_owned(),
                oid: head.oid(),
            })
            .collect())
    }

    /// A (possibly abbreviated) commit id: from the advertised tips when one
    /// matches, else from the remote's full history.
    fn resolve_commit_id(&self, refs: &[AdvertisedRef], prefix: &str) -> Result<String, GitError> {
        let names: HashSet<&str> = refs.iter().map(|r| r.name.as_str()).collect();
        // Tag objects are not commits: only peeled values count.
        let tips: HashSet<Oid> = refs
            .iter()
            .filter(|r| r.name.ends_with("^{}") || !names.contains(format!("{}^{{}}", r.name).as_str()))
            .map(|r| r.oid)
            .filter(|oid| oid.to_string().starts_with(prefix))
            .collect();
        if tips.len() == 1
            && let Some(oid) = tips.iter().next()
        {
            return Ok(oid.to_string());
        }
        let ambiguous = |reference: &str| GitError::InvalidReference {
            reference: reference.to_owned(),
            reason: "the abbreviated commit id matches several objects; give more characters".to_owned(),
        };
        if tips.len() > 1 {
            return Err(ambiguous(prefix));
        }
        let scratch = tempfile::Builder::new()
            .prefix("goldpath-resolve-")
            .tempdir()
            .map_err(|e| GitError::Local {
                path: std::env::temp_dir().display().to_string(),
                detail: format!("cannot create a scratch repository: {e}"),
            })?;
        let repo = Repository::init_bare(scratch.path()).map_err(|e| local_error(scratch.path(), &e))?;
        self.fetch(
            &repo,
            &[
                "+refs/heads/*:refs/goldpath/heads/*".to_owned(),
                "+refs/tags/*:refs/goldpath/tags/*".to_owned(),
            ],
            false,
        )?;
        let object = match repo.find_object_by_prefix(prefix, None) {
            Ok(object) => object,
            Err(e) if e.code() == ErrorCode::Ambiguous => return Err(ambiguous(prefix)),
            Err(_) => {
                return Err(GitError::ReferenceNotFound {
                    url: self.display.clone(),
                    reference: prefix.to_owned(),
                    detail: "no branch, tag or commit reachable from them has that name or id".to_owned(),
                });
            }
        };
        let commit = object.peel_to_commit().map_err(|_| GitError::InvalidReference {
            reference: prefix.to_owned(),
            reason: "the object is not a commit".to_owned(),
        })?;
        Ok(commit.id().to_string())
    }
}

/// State shared with the credentials callback of one operation.
struct AuthState<'a> {
    credentials: Option<&'a Credentials>,
    /// libgit2 asks again, forever, as long as the server says 401; the
    /// second ask means the first answer was refused.
    calls: Cell<u32>,
    pushing: bool,
}

impl<'a> AuthState<'a> {
    fn new(credentials: Option<&'a Credentials>, pushing: bool) -> Self {
        AuthState {
            credentials,
            calls: Cell::new(0),
            pushing,
        }
    }

    fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        callbacks.credentials(move |_url, username_from_url, allowed| {
            let calls = self.calls.get() + 1;
            self.calls.set(calls);
            let refuse = |message: &str| Err(git2::Error::new(ErrorCode::Auth, ErrorClass::Http, message));
            if calls > 1 {
                return refuse("the server rejected the credentials");
            }
            let Some(credentials) = self.credentials else {
                return refuse("the server requires credentials and none are configured");
            };
            if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                return refuse(
                    "the server asks for a kind of authentication other than username and password",
                );
            }
            let username = if credentials.username.is_empty() {
                username_from_url.unwrap_or("git")
            } else {
                credentials.username.as_str()
            };
            Cred::userpass_plaintext(username, &credentials.password)
        });
        callbacks
    }

    /// What an authentication failure means, given what was tried.
    fn explain(&self, detail: &str) -> String {
        match self.credentials {
            None => "the server requires credentials and none are configured; give the request a credentials Secret with a username and password or token".to_owned(),
            Some(credentials) if self.calls.get() > 1 => format!(
                "the server rejected the credentials of user {:?}; check the username and password or token, and that they may {} this repository",
                credentials.username,
                if self.pushing { "push to" } else { "read" }
            ),
            Some(_) => detail.to_owned(),
        }
    }
}

fn proxy_options<'a>() -> ProxyOptions<'a> {
    // Honours http.proxy and the usual *_proxy variables, as git does.
    let mut options = ProxyOptions::new();
    options.auto();
    options
}

/// The status of libgit2's "unexpected http status code: 404" and
/// "proxy returned unexpected status: 502" messages.
fn http_status(message: &str) -> Option<u16> {
    [
        "unexpected http status code: ",
        "proxy returned unexpected status: ",
    ]
    .iter()
    .find_map(|prefix| {
        let start = message.find(prefix)? + prefix.len();
        let digits: String = message[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) = (
                bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            )
        {
            // Two hex digits are at most 255.
            out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};

    use tempfile::TempDir;

    use super::*;

    const PASSWORD: &str = "s3cret-Token-42";

    fn identity() -> GitIdentity {
        GitIdentity {
            author_name: "goldpath".to_owned(),
            author_email: "goldpath@example.com".to_owned(),
        }
    }

    fn sample_files() -> FileTree {
        let mut files = FileTree::new();
        files.insert("README.md".to_owned(), FileEntry::text("# hello\n"));
        files.insert(
            "bin/run.sh".to_owned(),
            FileEntry::File {
                contents: b"#!/bin/sh\necho run\n".to_vec(),
                executable: true,
            },
        );
        files.insert(
            "docs/readme-link".to_owned(),
            FileEntry::Symlink {
                target: "../README.md".to_owned(),
            },
        );
        files.insert(
            "src/deep/nested/lib.rs".to_owned(),
            FileEntry::text("pub fn f() {}\n"),
        );
        files.insert(
            "catalog-info.yaml".to_owned(),
            FileEntry::text("kind: Component\n"),
        );
        files
    }

    /// A bare repository to act as the remote, and its file:// URL.
    fn bare_remote(dir: &TempDir, name: &str) -> (PathBuf, String) {
        let path = dir.path().join(name);
        Repository::init_bare(&path).expect("init remote");
        let url = url::Url::from_file_path(&path).expect("file url").to_string();
        (path, url)
    }

    fn publish_files(url: &str, files: &FileTree) -> Result<Published, GitError> {
        let identity = identity();
        publish(&PublishRequest::new(url, files, "Initial commit", &identity))
    }

    fn tip(remote: &Path, branch: &str) -> Option<Oid> {
        let repo = Repository::open_bare(remote).expect("open remote");
        repo.refname_to_id(&format!("refs/heads/{branch}")).ok()
    }

    fn commit_count(remote: &Path, branch: &str) -> usize {
        let repo = Repository::open_bare(remote).expect("open remote");
        let mut walk = repo.revwalk().expect("revwalk");
        walk.push_ref(&format!("refs/heads/{branch}")).expect("push ref");
        walk.count()
    }

    fn git(args: &[&str], dir: &Path) -> String {
        let output = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .expect("run git");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Commits `files` straight into a bare repository, for remotes that
    /// resolve and read_tree read from.
    fn seed(repo: &Repository, files: &FileTree, parent: Option<Oid>, branch: &str) -> Oid {
        let tree = build_tree(repo, files).expect("tree");
        let tree = repo.find_tree(tree).expect("find tree");
        let signature = Signature::now("seed", "seed@example.com").expect("signature");
        let parent = parent.map(|p| repo.find_commit(p).expect("parent"));
        let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
        repo.commit(
            Some(&format!("refs/heads/{branch}")),
            &signature,
            &signature,
            "seed\n",
            &tree,
            &parents,
        )
        .expect("commit")
    }

    fn template_files() -> FileTree {
        let mut files = FileTree::new();
        files.insert("template.yaml".to_owned(), FileEntry::text("kind: Template\n"));
        files.insert(
            "skeleton/README.md".to_owned(),
            FileEntry::text("# ${{ values.name }}\n"),
        );
        files.insert(
            "skeleton/scripts/build.sh".to_owned(),
            FileEntry::File {
                contents: b"#!/bin/sh\n".to_vec(),
                executable: true,
            },
        );
        files.insert(
            "skeleton/link".to_owned(),
            FileEntry::Symlink {
                target: "README.md".to_owned(),
            },
        );
        files
    }

    fn skeleton_of(files: &FileTree) -> FileTree {
        files
            .iter()
            .filter_map(|(path, entry)| {
                path.strip_prefix("skeleton/")
                    .map(|p| (p.to_owned(), entry.clone()))
            })
            .collect()
    }

    // ---- publish over file:// ----

    #[test]
    fn first_publish_pushes_one_root_commit_with_exactly_the_files() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "remote.git");
        let files = sample_files();

        let published = publish_files(&url, &files).expect("publish");
        assert!(published.pushed);
        assert_eq!(published.commit.len(), 40);

        let repo = Repository::open_bare(&remote).expect("open");
        let commit = repo
            .find_commit(tip(&remote, "main").expect("main exists"))
            .expect("commit");
        assert_eq!(commit.id().to_string(), published.commit);
        assert_eq!(commit.parent_count(), 0, "a root commit");
        assert_eq!(commit.author().name().ok(), Some("goldpath"));
        assert_eq!(commit.committer().email().ok(), Some("goldpath@example.com"));
        assert_eq!(commit.message().ok(), Some("Initial commit\n"));

        let tree = commit.tree().expect("tree");
        let mode = |p: &str| tree.get_path(Path::new(p)).expect(p).filemode();
        assert_eq!(mode("README.md"), 0o100644);
        assert_eq!(mode("bin/run.sh"), 0o100755);
        assert_eq!(mode("docs/readme-link"), 0o120000);
        assert_eq!(mode("src/deep/nested"), 0o040000);

        // Reading it back yields exactly what was published.
        let cache = TempDir::new().expect("cache");
        let read = read_tree(
            &url,
            &published.commit,
            None,
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect("read");
        assert_eq!(read, files);

        // And git itself agrees: well-formed objects, and a checkout with
        // the modes and the symlink.
        git(&["fsck", "--strict"], &remote);
        let checkout = dir.path().join("checkout");
        git(
            // A fresh bare repository's HEAD names git's default branch,
            // which need not be main.
            &[
                "clone",
                "--quiet",
                "--branch",
                "main",
                &url,
                checkout.to_str().expect("utf-8"),
            ],
            dir.path(),
        );
        assert_eq!(
            std::fs::read_to_string(checkout.join("README.md")).expect("readme"),
            "# hello\n"
        );
        let run = std::fs::metadata(checkout.join("bin/run.sh")).expect("run.sh");
        assert_ne!(run.permissions().mode() & 0o111, 0, "run.sh is executable");
        let readme = std::fs::metadata(checkout.join("README.md")).expect("README");
        assert_eq!(readme.permissions().mode() & 0o111, 0);
        assert_eq!(
            std::fs::read_link(checkout.join("docs/readme-link")).expect("symlink"),
            PathBuf::from("../README.md")
        );
        let listed = git(&["ls-files"], &checkout);
        let mut listed: Vec<&str> = listed.lines().collect();
        listed.sort_unstable();
        let expected: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(listed, expected);
        assert_eq!(git(&["rev-list", "--count", "HEAD"], &checkout).trim(), "1");
    }

    #[test]
    fn publishing_the_same_files_again_pushes_nothing() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "remote.git");
        let files = sample_files();

        let first = publish_files(&url, &files).expect("first publish");
        let second = publish_files(&url, &files).expect("second publish");
        assert!(first.pushed);
        assert_eq!(
            second,
            Published {
                commit: first.commit.clone(),
                pushed: false
            }
        );
        assert_eq!(commit_count(&remote, "main"), 1);
        // A plain path works as well as a file:// URL.
        let third = publish_files(remote.to_str().expect("utf-8"), &files).expect("path url");
        assert_eq!(third.commit, first.commit);
        assert!(!third.pushed);
    }

    #[test]
    fn different_files_on_an_existing_branch_are_refused_and_nothing_is_pushed() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "remote.git");
        let first = publish_files(&url, &sample_files()).expect("publish");
        let before = tip(&remote, "main");

        let mut other = sample_files();
        other.insert("README.md".to_owned(), FileEntry::text("# changed\n"));
        let error = publish_files(&url, &other).expect_err("must refuse");
        assert!(
            matches!(&error, GitError::DifferentContent { commit, branch, .. }
                if *commit == first.commit && branch == "main"),
            "{error:?}"
        );
        assert!(!error.is_transient());
        let message = error.to_string();
        assert!(message.contains("the branch main of"), "{message}");
        assert!(message.contains(&url), "{message}");
        assert!(message.contains(&first.commit[..7]), "{message}");
        assert!(message.contains("does not overwrite"), "{message}");
        assert_eq!(tip(&remote, "main"), before);
        assert_eq!(commit_count(&remote, "main"), 1);

        // Only the executable bit differs: still different content.
        let mut mode_only = sample_files();
        mode_only.insert("bin/run.sh".to_owned(), FileEntry::text("#!/bin/sh\necho run\n"));
        assert!(matches!(
            publish_files(&url, &mode_only),
            Err(GitError::DifferentContent { .. })
        ));
        assert_eq!(tip(&remote, "main"), before);
    }

    #[test]
    fn another_branch_of_a_used_repository_gets_its_own_root_commit() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "remote.git");
        publish_files(&url, &sample_files()).expect("main");
        let identity = identity();
        let files = template_files();
        let mut request = PublishRequest::new(&url, &files, "docs", &identity);
        request.branch = "gh-pages";
        let published = publish(&request).expect("gh-pages");
        assert!(published.pushed);
        assert_eq!(commit_count(&remote, "gh-pages"), 1);
        assert_eq!(commit_count(&remote, "main"), 1);
    }

    #[test]
    fn a_branch_created_by_someone_else_meanwhile_is_a_transient_conflict() {
        // The moment between publish's fetch and its push: the scratch
        // repository's commit meets a branch it has never seen.
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "remote.git");
        let theirs = publish_files(&url, &sample_files()).expect("their publish");
        let scratch = TempDir::new().expect("scratch");
        let repo = Repository::init_bare(scratch.path()).expect("scratch repo");
        seed(&repo, &template_files(), None, "main");
        let spec = RemoteSpec::parse(&url, None).expect("spec");

        let error = spec
            .push(&repo, "refs/heads/main", "main")
            .expect_err("must not overwrite");
        assert!(matches!(error, GitError::Conflict { .. }), "{error:?}");
        assert!(error.is_transient());
        assert_eq!(tip(&remote, "main").map(|o| o.to_string()), Some(theirs.commit));
    }

    #[test]
    fn concurrent_reads_share_one_cache() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "templates.git");
        let files = template_files();
        let commit = {
            let repo = Repository::open_bare(&remote).expect("open");
            seed(&repo, &files, None, "main").to_string()
        };
        let cache = TempDir::new().expect("cache");
        std::thread::scope(|scope| {
            let readers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        read_tree(
                            &url,
                            &commit,
                            None,
                            None,
                            cache.path(),
                            &TemplateSourceLimits::default(),
                        )
                    })
                })
                .collect();
            for reader in readers {
                assert_eq!(reader.join().expect("thread").expect("read"), files);
            }
        });
        let entries: Vec<_> = std::fs::read_dir(cache.path())
            .expect("cache dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
    }

    #[test]
    fn an_empty_file_tree_publishes_an_empty_commit() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "remote.git");
        let published = publish_files(&url, &FileTree::new()).expect("publish");
        assert!(published.pushed);
        let again = publish_files(&url, &FileTree::new()).expect("again");
        assert!(!again.pushed);
        assert_eq!(commit_count(&remote, "main"), 1);
    }

    #[test]
    fn unusable_paths_and_branches_are_refused_before_anything_is_pushed() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "remote.git");
        for bad in [
            "../escape",
            "/absolute",
            "a//b",
            "a/./b",
            "trailing/",
            ".git/config",
            "sub/.GIT/hooks",
            "",
        ] {
            let mut files = sample_files();
            files.insert(bad.to_owned(), FileEntry::text("x"));
            let error = publish_files(&url, &files).expect_err(bad);
            assert!(
                matches!(&error, GitError::InvalidPath { path, .. } if path == bad),
                "{bad}: {error:?}"
            );
            assert!(!error.is_transient());
        }
        let mut clash = FileTree::new();
        clash.insert("a".to_owned(), FileEntry::text("file"));
        clash.insert("a/b".to_owned(), FileEntry::text("under a file"));
        assert!(matches!(
            publish_files(&url, &clash),
            Err(GitError::InvalidPath { .. })
        ));

        let identity = identity();
        let files = sample_files();
        for branch in ["", "bad branch", "a..b", "-x/"] {
            let mut request = PublishRequest::new(&url, &files, "m", &identity);
            request.branch = branch;
            assert!(
                matches!(publish(&request), Err(GitError::InvalidReference { .. })),
                "{branch:?}"
            );
        }
        let nobody = GitIdentity {
            author_name: String::new(),
            author_email: String::new(),
        };
        assert!(matches!(
            publish(&PublishRequest::new(&url, &files, "m", &nobody)),
            Err(GitError::InvalidIdentity { .. })
        ));
        assert_eq!(tip(&remote, "main"), None);
    }

    #[test]
    fn a_missing_repository_directory_is_a_permanent_error() {
        let dir = TempDir::new().expect("tempdir");
        let missing = dir.path().join("nope.git");
        let url = url::Url::from_file_path(&missing).expect("url").to_string();
        let error = publish_files(&url, &sample_files()).expect_err("missing");
        assert!(matches!(error, GitError::RepositoryNotFound { .. }), "{error:?}");
        assert!(!error.is_transient());
        assert!(error.to_string().contains("nope.git"), "{error}");

        // A directory that is not a repository.
        let plain = dir.path().join("plain");
        std::fs::create_dir(&plain).expect("mkdir");
        let error =
            publish_files(plain.to_str().expect("utf-8"), &sample_files()).expect_err("not a repository");
        assert!(matches!(error, GitError::RepositoryNotFound { .. }), "{error:?}");
        assert!(!error.is_transient(), "{error:?}");
    }

    #[test]
    fn network_failures_are_transient() {
        // Nothing listens on a port just released.
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let refused = format!("http://127.0.0.1:{port}/repo.git");
        let error = publish_files(&refused, &sample_files()).expect_err("refused");
        assert!(matches!(error, GitError::Unavailable { .. }), "{error:?}");
        assert!(error.is_transient());

        let error = resolve("https://nohost.invalid/org/repo.git", None, None).expect_err("no such host");
        assert!(matches!(error, GitError::Unavailable { .. }), "{error:?}");
        assert!(error.is_transient());
        assert!(error.to_string().contains("nohost.invalid"), "{error}");
    }

    #[test]
    fn unsupported_urls_are_refused_with_what_to_use() {
        for url in [
            "",
            "ssh://git@github.com/org/repo.git",
            "git@github.com:org/repo.git",
            "ftp://host/repo",
            "https://",
            "https://user:pa ss@exa mple.com/x",
        ] {
            let error = resolve(url, None, None).expect_err(url);
            assert!(matches!(error, GitError::InvalidUrl { .. }), "{url}: {error:?}");
            assert!(!error.is_transient());
        }
        let error = resolve("ssh://git@github.com/org/repo.git", None, None).expect_err("ssh");
        assert!(error.to_string().contains("https://"), "{error}");
    }

    // ---- resolve ----

    #[test]
    fn resolve_finds_branches_tags_and_commit_ids() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "remote.git");
        let repo = Repository::open_bare(&remote).expect("open");
        let files = template_files();
        let first = seed(&repo, &files, None, "main");
        let mut changed = files.clone();
        changed.insert("CHANGELOG.md".to_owned(), FileEntry::text("v2\n"));
        let second = seed(&repo, &changed, Some(first), "main");
        let dev = seed(&repo, &sample_files(), None, "dev");
        repo.set_head("refs/heads/main").expect("HEAD");
        repo.tag_lightweight("v1", &repo.find_object(first, None).expect("obj"), false)
            .expect("tag v1");
        let signature = Signature::now("t", "t@example.com").expect("sig");
        let annotated = repo
            .tag(
                "v2",
                &repo.find_object(second, None).expect("obj"),
                &signature,
                "release 2",
                false,
            )
            .expect("tag v2");
        assert_ne!(annotated, second);

        let resolved = |r: Option<&str>| resolve(&url, r, None);
        assert_eq!(resolved(None).expect("HEAD"), second.to_string());
        assert_eq!(resolved(Some("")).expect("empty"), second.to_string());
        assert_eq!(resolved(Some("main")).expect("main"), second.to_string());
        assert_eq!(resolved(Some("dev")).expect("dev"), dev.to_string());
        assert_eq!(
            resolved(Some("refs/heads/dev")).expect("full ref"),
            dev.to_string()
        );
        assert_eq!(resolved(Some("v1")).expect("v1"), first.to_string());
        assert_eq!(
            resolved(Some("v2")).expect("v2"),
            second.to_string(),
            "an annotated tag resolves to its commit"
        );
        // Commit ids: a tip, full and short; and one no ref points at.
        let full = second.to_string();
        assert_eq!(resolved(Some(&full)).expect("full"), full);
        assert_eq!(resolved(Some(&full[..8])).expect("short"), full);
        assert_eq!(
            resolved(Some(&full[..8].to_ascii_uppercase())).expect("upper"),
            full
        );
        let old = first.to_string();
        let mut repo_without_v1 = repo;
        repo_without_v1.tag_delete("v1").expect("delete v1");
        drop(std::mem::replace(
            &mut repo_without_v1,
            Repository::open_bare(&remote).expect("reopen"),
        ));
        assert_eq!(resolved(Some(&old)).expect("old full"), old);
        assert_eq!(resolved(Some(&old[..10])).expect("old short"), old);

        let error = resolved(Some("nope")).expect_err("missing");
        assert!(matches!(error, GitError::ReferenceNotFound { .. }), "{error:?}");
        assert!(!error.is_transient());
        assert!(error.to_string().contains("nope"), "{error}");
        let error = resolved(Some("deadbeefdeadbeef")).expect_err("unknown id");
        assert!(matches!(error, GitError::ReferenceNotFound { .. }), "{error:?}");
    }

    #[test]
    fn resolve_of_an_empty_repository_says_it_is_empty() {
        let dir = TempDir::new().expect("tempdir");
        let (_, url) = bare_remote(&dir, "empty.git");
        let error = resolve(&url, None, None).expect_err("empty");
        assert!(matches!(error, GitError::ReferenceNotFound { .. }), "{error:?}");
        assert!(error.to_string().contains("empty"), "{error}");
    }

    // ---- read_tree ----

    #[test]
    fn read_tree_returns_a_subdirectory_with_modes_and_symlinks_and_caches_it() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "templates.git");
        let files = template_files();
        let commit = {
            let repo = Repository::open_bare(&remote).expect("open");
            seed(&repo, &files, None, "main").to_string()
        };
        let cache = TempDir::new().expect("cache");

        let skeleton = read_tree(
            &url,
            &commit,
            Some("skeleton"),
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect("read");
        assert_eq!(skeleton, skeleton_of(&files));
        assert_eq!(
            skeleton.get("scripts/build.sh"),
            Some(&FileEntry::File {
                contents: b"#!/bin/sh\n".to_vec(),
                executable: true
            })
        );
        assert_eq!(
            skeleton.get("link"),
            Some(&FileEntry::Symlink {
                target: "README.md".to_owned()
            })
        );
        let whole = read_tree(
            &url,
            &commit,
            None,
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect("root");
        assert_eq!(whole, files);

        for spelling in ["./skeleton/", "/skeleton", "skeleton"] {
            let again = read_tree(
                &url,
                &commit,
                Some(spelling),
                None,
                cache.path(),
                &TemplateSourceLimits::default(),
            )
            .expect(spelling);
            assert_eq!(again, skeleton, "{spelling}");
        }

        // The cached commit is served only to a reader that can still
        // reach the repository: with the remote gone, nothing is read.
        std::fs::remove_dir_all(&remote).expect("delete remote");
        let error = read_tree(
            &url,
            &commit,
            Some("skeleton"),
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect_err("gone");
        assert!(matches!(error, GitError::RepositoryNotFound { .. }), "{error:?}");
    }

    #[test]
    fn a_cached_commit_is_served_only_after_the_readers_credentials_prove_access() {
        let root = TempDir::new().expect("root");
        let remote = http_remote(&root, "private.git");
        let commit = {
            let repo = Repository::open_bare(&remote).expect("open");
            seed(&repo, &template_files(), None, "main").to_string()
        };
        let server = protected_server(&root);
        let url = format!("{}/private.git", server.base);
        let cache = TempDir::new().expect("cache");
        let owner = alice();
        let read = read_tree(
            &url,
            &commit,
            Some("skeleton"),
            Some(&owner),
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect("owner reads");
        assert!(!read.is_empty());

        // Another reader names the same URL and commit: the commit is in the
        // shared cache, but without (or with wrong) credentials no byte of it
        // is returned.
        let before = server.authorizations().len();
        let error = read_tree(
            &url,
            &commit,
            Some("skeleton"),
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect_err("anonymous");
        assert!(
            matches!(error, GitError::AuthenticationFailed { .. }),
            "{error:?}"
        );
        let wrong = Credentials::new("mallory", "guessed-password");
        let error = read_tree(
            &url,
            &commit,
            None,
            Some(&wrong),
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect_err("wrong");
        assert!(
            matches!(error, GitError::AuthenticationFailed { .. }),
            "{error:?}"
        );
        assert!(
            server.authorizations().len() > before,
            "the server was asked each time"
        );
        let again = read_tree(
            &url,
            &commit,
            Some("skeleton"),
            Some(&owner),
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect("owner again");
        assert_eq!(again, read);
    }

    #[test]
    fn a_marked_publish_goes_only_to_a_new_repository_or_one_it_created() {
        let root = TempDir::new().expect("root");
        let ours = http_remote(&root, "ours.git");
        let theirs = http_remote(&root, "theirs.git");
        {
            let repo = Repository::open_bare(&theirs).expect("open");
            seed(&repo, &template_files(), None, "main");
        }
        let server = protected_server(&root);
        let identity = identity();
        let credentials = alice();
        let files = sample_files();
        let publish_as = |url: &str, branch: &str, marker: &str| {
            let mut request = PublishRequest::new(url, &files, "Initial commit", &identity);
            request.credentials = Some(&credentials);
            request.branch = branch;
            request.marker = Some(marker);
            publish(&request)
        };
        let ours_url = format!("{}/ours.git", server.base);
        let first = publish_as(&ours_url, "main", "uid-a").expect("a new repository");
        assert!(first.pushed);
        let message = git(&["log", "-1", "--format=%B", "main"], &ours);
        assert!(message.contains("Goldpath-Request: uid-a"), "{message}");
        assert!(!publish_as(&ours_url, "main", "uid-a").expect("again").pushed);
        publish_as(&ours_url, "docs", "uid-a").expect("another branch of its own repository");

        // Another request: neither the existing branch nor a new one.
        let error = publish_as(&ours_url, "main", "uid-b").expect_err("someone else's branch");
        assert!(matches!(error, GitError::NotCreatedByRequest { .. }), "{error:?}");
        assert!(error.to_string().contains("the branch main"), "{error}");
        let error = publish_as(&ours_url, "release", "uid-b").expect_err("a new branch");
        assert!(error.to_string().contains("other branches"), "{error}");
        assert!(!error.is_transient());
        assert_eq!(tip(&ours, "release"), None);

        // A repository someone made without goldpath.
        let theirs_url = format!("{}/theirs.git", server.base);
        let before = tip(&theirs, "main");
        let error = publish_as(&theirs_url, "release", "uid-a").expect_err("their repository");
        assert!(matches!(error, GitError::NotCreatedByRequest { .. }), "{error:?}");
        assert_eq!(tip(&theirs, "release"), None);
        assert_eq!(tip(&theirs, "main"), before);
    }

    #[test]
    fn a_marked_publish_to_a_local_repository_keeps_to_its_own_too() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "local.git");
        let identity = identity();
        let files = sample_files();
        let publish_as = |branch: &str, marker: &str| {
            let mut request = PublishRequest::new(&url, &files, "m", &identity);
            request.branch = branch;
            request.marker = Some(marker);
            publish(&request)
        };
        publish_as("main", "uid-a").expect("new");
        publish_as("docs", "uid-a").expect("its own");
        for (branch, what) in [("main", "the branch main"), ("release", "other branches")] {
            let error = publish_as(branch, "uid-b").expect_err("not its own");
            assert!(error.to_string().contains(what), "{error}");
        }
        assert_eq!(tip(&remote, "release"), None);
    }

    #[test]
    fn read_tree_fetches_commits_that_are_no_branch_tip() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "templates.git");
        let files = template_files();
        let repo = Repository::open_bare(&remote).expect("open");
        let old = seed(&repo, &files, None, "main");
        let mut newer = files.clone();
        newer.remove("skeleton/link");
        let new = seed(&repo, &newer, Some(old), "main");
        let cache = TempDir::new().expect("cache");

        let read_new = read_tree(
            &url,
            &new.to_string(),
            None,
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect("new");
        assert_eq!(read_new, newer);
        let read_old = read_tree(
            &url,
            &old.to_string(),
            None,
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect("old");
        assert_eq!(read_old, files);
    }

    #[test]
    fn read_tree_names_what_is_missing() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "templates.git");
        let commit = {
            let repo = Repository::open_bare(&remote).expect("open");
            seed(&repo, &template_files(), None, "main").to_string()
        };
        let cache = TempDir::new().expect("cache");

        let error = read_tree(
            &url,
            &commit,
            Some("skeletons/web"),
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect_err("missing path");
        assert!(matches!(error, GitError::PathNotFound { .. }), "{error:?}");
        assert!(!error.is_transient());
        let message = error.to_string();
        assert!(message.contains("skeletons/web"), "{message}");
        assert!(message.contains(&commit), "{message}");

        let error = read_tree(
            &url,
            &commit,
            Some("template.yaml"),
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect_err("a file");
        assert!(matches!(error, GitError::NotADirectory { .. }), "{error:?}");

        let error = read_tree(
            &url,
            &commit,
            Some("../x"),
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect_err("escape");
        assert!(matches!(error, GitError::InvalidPath { .. }), "{error:?}");

        let unknown = "0123456789abcdef0123456789abcdef01234567";
        let error = read_tree(
            &url,
            unknown,
            None,
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect_err("unknown commit");
        assert!(matches!(error, GitError::CommitNotFound { .. }), "{error:?}");
        assert!(!error.is_transient());

        let error = read_tree(
            &url,
            &commit[..12],
            None,
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect_err("short id");
        assert!(matches!(error, GitError::InvalidReference { .. }), "{error:?}");
    }

    // ---- secrets ----

    /// Commits `root` (a tree id) as the branch `branch` of the bare
    /// repository.
    fn commit_tree(repo: &Repository, root: Oid, branch: &str) -> String {
        let tree = repo.find_tree(root).expect("tree");
        let signature = Signature::now("t", "t@example.com").expect("signature");
        let commit = repo
            .commit(None, &signature, &signature, "m", &tree, &[])
            .expect("commit");
        repo.reference(&format!("refs/heads/{branch}"), commit, true, "test")
            .expect("branch");
        commit.to_string()
    }

    /// A tree holding `entries` names, every one the same subtree `child`.
    fn fan_out(repo: &Repository, child: Oid, entries: usize) -> Oid {
        let mut builder = repo.treebuilder(None).expect("builder");
        for name in 0..entries {
            builder
                .insert(name.to_string(), child, MODE_TREE)
                .expect("insert");
        }
        builder.write().expect("write tree")
    }

    fn file_tree(repo: &Repository, files: &[(&str, &[u8])]) -> Oid {
        let mut builder = repo.treebuilder(None).expect("builder");
        for (name, contents) in files {
            let blob = repo.blob(contents).expect("blob");
            builder.insert(name, blob, MODE_FILE).expect("insert");
        }
        builder.write().expect("write tree")
    }

    fn too_large(error: GitError) -> (String, String) {
        match error {
            GitError::TooLarge { path, limit, .. } => (path, limit),
            other => panic!("expected TooLarge, got {other:?}"),
        }
    }

    #[test]
    fn thousands_of_nested_directories_are_refused_at_the_depth_limit() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "deep.git");
        let commit = {
            let repo = Repository::open_bare(&remote).expect("open");
            let mut tree = file_tree(&repo, &[("README.md", b"deep\n")]);
            for _ in 0..5000 {
                tree = fan_out(&repo, tree, 1);
            }
            commit_tree(&repo, tree, "main")
        };
        let cache = TempDir::new().expect("cache");
        let limits = TemplateSourceLimits::default();
        let error = read_tree(&url, &commit, None, None, cache.path(), &limits).expect_err("too deep");
        let message = error.to_string();
        let (path, limit) = too_large(error);
        assert_eq!(
            path,
            vec!["0"; 33].join("/"),
            "the first directory past the limit"
        );
        assert!(
            limit.contains("nested more than 32 deep (templateSourceLimits.maxDepth)"),
            "{limit}"
        );
        assert!(message.contains(&commit), "{message}");
        assert!(
            !error_is_transient(&url, &commit, &cache),
            "a limit is not retried"
        );

        // The same tree read from inside passes once the rest fits.
        let inside = vec!["0"; 4990].join("/");
        let files = read_tree(&url, &commit, Some(&inside), None, cache.path(), &limits).expect("inside");
        assert_eq!(files.len(), 1);
        assert!(files.contains_key(&format!("{}/README.md", ["0"; 10].join("/"))));
    }

    fn error_is_transient(url: &str, commit: &str, cache: &TempDir) -> bool {
        read_tree(
            url,
            commit,
            None,
            None,
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect_err("refused")
        .is_transient()
    }

    #[test]
    fn a_tree_of_shared_subtrees_is_refused_before_it_expands() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "bomb.git");
        // Nine levels of ten names for one subtree: 10^9 files from eleven
        // objects.
        let commit = {
            let repo = Repository::open_bare(&remote).expect("open");
            let mut tree = file_tree(&repo, &[("f", b"x")]);
            for _ in 0..9 {
                tree = fan_out(&repo, tree, 10);
            }
            commit_tree(&repo, tree, "main")
        };
        let cache = TempDir::new().expect("cache");
        let limits = TemplateSourceLimits {
            max_files: 5_000,
            ..TemplateSourceLimits::default()
        };
        let error = read_tree(&url, &commit, None, None, cache.path(), &limits).expect_err("bomb");
        let (path, limit) = too_large(error);
        assert_eq!(
            limit,
            "more than 5000 files and directories (templateSourceLimits.maxFiles)"
        );
        assert!(path.starts_with("9/"), "{path}");

        // Empty directories count too: 10^9 of them hold no file at all.
        let empty = {
            let repo = Repository::open_bare(&remote).expect("open");
            let mut tree = repo.treebuilder(None).expect("builder").write().expect("empty");
            for _ in 0..9 {
                tree = fan_out(&repo, tree, 10);
            }
            commit_tree(&repo, tree, "empty")
        };
        let error = read_tree(&url, &empty, None, None, cache.path(), &limits).expect_err("empty bomb");
        assert!(too_large(error).1.contains("maxFiles"));
    }

    #[test]
    fn the_byte_limit_is_checked_before_a_blob_is_read() {
        let dir = TempDir::new().expect("tempdir");
        let (remote, url) = bare_remote(&dir, "big.git");
        let commit = {
            let repo = Repository::open_bare(&remote).expect("open");
            let tree = file_tree(
                &repo,
                &[("a", &[b'a'; 1000]), ("b", &[b'b'; 1000]), ("c", &[b'c'; 1])],
            );
            commit_tree(&repo, tree, "main")
        };
        let cache = TempDir::new().expect("cache");
        let exact = TemplateSourceLimits {
            max_depth: 0,
            max_files: 3,
            max_bytes: 2001,
        };
        let files = read_tree(&url, &commit, None, None, cache.path(), &exact).expect("at the limits");
        assert_eq!(files.len(), 3);

        let smaller = TemplateSourceLimits {
            max_bytes: 1500,
            ..exact
        };
        let (path, limit) =
            too_large(read_tree(&url, &commit, None, None, cache.path(), &smaller).expect_err("bytes"));
        assert_eq!(path, "b");
        assert_eq!(
            limit,
            "more than 1500 bytes of files (templateSourceLimits.maxBytes)"
        );

        let fewer = TemplateSourceLimits {
            max_files: 2,
            ..exact
        };
        let (path, _) =
            too_large(read_tree(&url, &commit, None, None, cache.path(), &fewer).expect_err("files"));
        assert_eq!(path, "c");
    }

    #[test]
    fn long_paths_are_cut_in_the_middle_for_messages() {
        let path = vec!["directory"; 100].join("/");
        let short = shorten_path(&path);
        assert!(short.len() < 170, "{}", short.len());
        assert!(short.starts_with("directory/directory/") && short.ends_with("/directory"));
        assert!(short.contains("..."));
        assert_eq!(shorten_path("a/b"), "a/b");
    }

    #[test]
    fn credentials_debug_hides_the_password() {
        let credentials = Credentials::new("alice", PASSWORD);
        let debug = format!("{credentials:?}");
        assert!(debug.contains("alice"), "{debug}");
        assert!(!debug.contains(PASSWORD), "{debug}");
        let files = FileTree::new();
        let identity = identity();
        let mut request = PublishRequest::new("https://h/r", &files, "m", &identity);
        request.credentials = Some(&credentials);
        assert!(!format!("{request:?}").contains(PASSWORD));
    }

    #[test]
    fn redact_url_hides_passwords_and_bare_tokens() {
        let cases = [
            (
                "https://user:pass@host/org/repo.git",
                "https://user:***@host/org/repo.git",
            ),
            ("https://user:pass@host:8443/x", "https://user:***@host:8443/x"),
            ("http://user:p%40ss@host/x?y=1#z", "http://user:***@host/x?y=1#z"),
            ("https://user:pa:ss@host", "https://user:***@host"),
            ("https://user:p@ss@host/x", "https://user:***@host/x"),
            ("https://user:pa/ss@host/x", "https://user:***@host/x"),
            ("https://ghp_token@github.com/o/r", "https://***@github.com/o/r"),
            ("https://github.com/o/r", "https://github.com/o/r"),
            ("https://host/org/repo@v1", "https://host/org/repo@v1"),
            ("https://host:8443/a@b", "https://host:8443/a@b"),
            ("https://host/x?email=a@b", "https://host/x?email=a@b"),
            ("https://user:pass@host/a@b", "https://user:***@host/a@b"),
            ("https://user:pa?ss@host/x", "https://user:***@host/x"),
            ("https://user:@host/x", "https://user:***@host/x"),
            ("https://[::1]:8443/a@b", "https://[::1]:8443/a@b"),
            ("not a url user:pass@host", "not a url user:pass@host"),
            ("file:///srv/git/repo.git", "file:///srv/git/repo.git"),
            ("/srv/git/repo.git", "/srv/git/repo.git"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_url(input), expected, "{input}");
        }
    }

    #[test]
    fn errors_never_show_passwords_from_urls() {
        let url = format!("https://alice:{PASSWORD}@nohost.invalid/org/repo.git");
        let error = resolve(&url, None, None).expect_err("unreachable");
        let message = error.to_string();
        assert!(!message.contains(PASSWORD), "{message}");
        assert!(!format!("{error:?}").contains(PASSWORD));
        assert!(message.contains("alice:***@nohost.invalid"), "{message}");

        // An unparseable URL is still redacted.
        let bad = format!("https://alice:{PASSWORD}@exa mple.com/x");
        let error = resolve(&bad, None, None).expect_err("invalid");
        assert!(!error.to_string().contains(PASSWORD), "{error}");
    }

    #[test]
    fn is_transient_separates_retryable_failures() {
        let url = "https://h/r".to_owned();
        let transient = [
            GitError::Unavailable {
                url: url.clone(),
                detail: String::new(),
            },
            GitError::Conflict {
                url: url.clone(),
                branch: "main".to_owned(),
                detail: String::new(),
            },
            GitError::Local {
                path: "/tmp".to_owned(),
                detail: String::new(),
            },
        ];
        assert!(transient.iter().all(GitError::is_transient));
        let permanent = [
            GitError::AuthenticationFailed {
                url: url.clone(),
                detail: String::new(),
            },
            GitError::DifferentContent {
                url: url.clone(),
                branch: "main".to_owned(),
                commit: "abc".to_owned(),
            },
            GitError::PushRejected {
                url: url.clone(),
                reference: "refs/heads/main".to_owned(),
                reason: String::new(),
            },
            GitError::ReferenceNotFound {
                url,
                reference: "x".to_owned(),
                detail: String::new(),
            },
        ];
        assert!(!permanent.iter().any(GitError::is_transient));
        assert_eq!(http_status("unexpected http status code: 503"), Some(503));
        assert_eq!(http_status("failed to resolve address"), None);
        assert_eq!(percent_decode("p%40ss%2"), "p@ss%2");
    }

    // ---- over HTTP, through git's own http-backend ----

    enum Behaviour {
        /// Serve repositories under a root with `git http-backend`,
        /// requiring Basic credentials if given.
        Backend {
            root: PathBuf,
            credentials: Option<(String, String)>,
        },
        /// Answer every request with this status.
        Status(u16),
    }

    struct HttpServer {
        base: String,
        /// The Authorization header of every request, in order.
        seen: Arc<Mutex<Vec<Option<String>>>>,
    }

    impl HttpServer {
        fn start(behaviour: Behaviour) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("addr").port();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&seen);
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    serve(stream, &behaviour, &log);
                }
            });
            HttpServer {
                base: format!("http://127.0.0.1:{port}"),
                seen,
            }
        }

        fn authorizations(&self) -> Vec<Option<String>> {
            self.seen.lock().expect("log").clone()
        }
    }

    fn basic(user: &str, password: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let input = format!("{user}:{password}").into_bytes();
        let mut out = String::new();
        for chunk in input.chunks(3) {
            let b = [
                chunk[0],
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        format!("Basic {out}")
    }

    fn serve(stream: TcpStream, behaviour: &Behaviour, seen: &Mutex<Vec<Option<String>>>) {
        let mut writer = stream.try_clone().expect("clone stream");
        let mut reader = BufReader::new(stream);
        loop {
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                return;
            }
            let mut headers = HashMap::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
                }
            }
            let body = read_body(&mut reader, &headers);
            seen.lock()
                .expect("log")
                .push(headers.get("authorization").cloned());
            let mut parts = request_line.split_whitespace();
            let method = parts.next().unwrap_or("GET").to_owned();
            let target = parts.next().unwrap_or("/").to_owned();
            let (status, extra, content) = match behaviour {
                Behaviour::Status(status) => (format!("{status} Status"), String::new(), Vec::new()),
                Behaviour::Backend { root, credentials } => {
                    let authorized = credentials.as_ref().is_none_or(|(user, password)| {
                        headers.get("authorization") == Some(&basic(user, password))
                    });
                    if authorized {
                        http_backend(root, &method, &target, &headers, &body)
                    } else {
                        (
                            "401 Unauthorized".to_owned(),
                            "WWW-Authenticate: Basic realm=\"git\"\r\n".to_owned(),
                            Vec::new(),
                        )
                    }
                }
            };
            let head = format!(
                "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n",
                content.len()
            );
            if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&content).is_err() {
                return;
            }
        }
    }

    fn read_body(reader: &mut BufReader<TcpStream>, headers: &HashMap<String, String>) -> Vec<u8> {
        let mut body = Vec::new();
        if headers
            .get("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).expect("chunk size");
                let size = size.trim().split(';').next().unwrap_or("0");
                let size = usize::from_str_radix(size, 16).expect("hex size");
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).expect("chunk");
                if size == 0 {
                    return body;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        }
        if let Some(length) = headers.get("content-length") {
            body.resize(length.parse().expect("length"), 0);
            reader.read_exact(&mut body).expect("body");
        }
        body
    }

    /// Runs `git http-backend` as a CGI program for one request.
    fn http_backend(
        root: &Path,
        method: &str,
        target: &str,
        headers: &HashMap<String, String>,
        body: &[u8],
    ) -> (String, String, Vec<u8>) {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut child = Command::new("git")
            .arg("http-backend")
            .env("GIT_PROJECT_ROOT", root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.receivepack")
            .env("GIT_CONFIG_VALUE_0", "true")
            .env("REQUEST_METHOD", method)
            .env("PATH_INFO", path)
            .env("QUERY_STRING", query)
            .env(
                "CONTENT_TYPE",
                headers.get("content-type").map_or("", String::as_str),
            )
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("REMOTE_USER", "tester")
            .env("REMOTE_ADDR", "127.0.0.1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("git http-backend");
        let mut stdin = child.stdin.take().expect("stdin");
        let body = body.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let output = child.wait_with_output().expect("http-backend output");
        writer.join().expect("stdin writer");
        let raw = output.stdout;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| (i, 4))
            .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)))
            .expect("CGI headers");
        let head = String::from_utf8_lossy(&raw[..split.0]).into_owned();
        let content = raw[split.0 + split.1..].to_vec();
        let mut status = "200 OK".to_owned();
        let mut extra = String::new();
        for line in head.lines() {
            if let Some(value) = line.strip_prefix("Status:") {
                status = value.trim().to_owned();
            } else if !line.trim().is_empty() {
                extra.push_str(line.trim_end());
                extra.push_str("\r\n");
            }
        }
        (status, extra, content)
    }

    fn http_remote(root: &TempDir, name: &str) -> PathBuf {
        let path = root.path().join(name);
        Repository::init_bare(&path).expect("init");
        path
    }

    fn alice() -> Credentials {
        Credentials::new("alice", PASSWORD)
    }

    fn protected_server(root: &TempDir) -> HttpServer {
        HttpServer::start(Behaviour::Backend {
            root: root.path().to_path_buf(),
            credentials: Some(("alice".to_owned(), PASSWORD.to_owned())),
        })
    }

    #[test]
    fn publish_over_http_with_credentials_is_idempotent_and_refuses_other_content() {
        let root = TempDir::new().expect("root");
        let remote = http_remote(&root, "svc.git");
        let server = protected_server(&root);
        let url = format!("{}/svc.git", server.base);
        let identity = identity();
        let credentials = alice();
        let files = sample_files();
        let mut request = PublishRequest::new(&url, &files, "Initial commit", &identity);
        request.credentials = Some(&credentials);

        let first = publish(&request).expect("first");
        assert!(first.pushed);
        let second = publish(&request).expect("second");
        assert_eq!(second.commit, first.commit);
        assert!(!second.pushed);
        assert_eq!(commit_count(&remote, "main"), 1);

        let other = template_files();
        request.files = &other;
        let error = publish(&request).expect_err("different");
        assert!(matches!(error, GitError::DifferentContent { .. }), "{error:?}");
        assert_eq!(
            tip(&remote, "main").map(|o| o.to_string()),
            Some(first.commit.clone())
        );
        assert!(
            server
                .authorizations()
                .iter()
                .flatten()
                .all(|a| *a == basic("alice", PASSWORD))
        );

        // Credentials in the URL work too, and never show in messages.
        let with_password = format!(
            "http://alice:{PASSWORD}@{}/svc.git",
            server.base.trim_start_matches("http://")
        );
        let error = publish_files(&with_password, &other).expect_err("different");
        let message = error.to_string();
        assert!(matches!(error, GitError::DifferentContent { .. }), "{error:?}");
        assert!(message.contains("alice:***@127.0.0.1"), "{message}");
        assert!(!message.contains(PASSWORD), "{message}");

        // resolve and read_tree over HTTP; the server does not allow
        // fetching by commit id, so read_tree falls back to the branches.
        let resolved = resolve(&url, Some("main"), Some(&credentials)).expect("resolve");
        assert_eq!(resolved, first.commit);
        let cache = TempDir::new().expect("cache");
        let read = read_tree(
            &url,
            &resolved,
            Some("bin"),
            Some(&credentials),
            cache.path(),
            &TemplateSourceLimits::default(),
        )
        .expect("read_tree");
        assert_eq!(
            read.get("run.sh"),
            Some(&FileEntry::File {
                contents: b"#!/bin/sh\necho run\n".to_vec(),
                executable: true
            })
        );
    }

    #[test]
    fn wrong_credentials_fail_once_with_a_clear_message() {
        let root = TempDir::new().expect("root");
        let remote = http_remote(&root, "svc.git");
        let server = protected_server(&root);
        let url = format!("{}/svc.git", server.base);
        let wrong = Credentials::new("alice", "not-the-Password-99");
        let identity = identity();
        let files = sample_files();
        let mut request = PublishRequest::new(&url, &files, "m", &identity);
        request.credentials = Some(&wrong);

        let error = publish(&request).expect_err("wrong credentials");
        assert!(
            matches!(error, GitError::AuthenticationFailed { .. }),
            "{error:?}"
        );
        assert!(!error.is_transient());
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("authentication failed for {url}")),
            "{message}"
        );
        assert!(message.contains("alice"), "{message}");
        assert!(!message.contains("not-the-Password-99"), "{message}");
        assert!(!format!("{error:?}").contains("not-the-Password-99"));
        // libgit2 asked once with the wrong password and was then told to stop.
        let tries = server.authorizations();
        assert_eq!(tries.iter().flatten().count(), 1, "{tries:?}");
        assert_eq!(tip(&remote, "main"), None);

        let error = resolve(&url, None, None).expect_err("no credentials");
        assert!(
            matches!(error, GitError::AuthenticationFailed { .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("none are configured"), "{error}");

        let error = resolve(&url, None, Some(&wrong)).expect_err("wrong again");
        assert!(
            matches!(error, GitError::AuthenticationFailed { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn http_statuses_map_to_transient_or_permanent() {
        for (status, transient) in [(503, true), (500, true), (429, true), (404, false), (403, false)] {
            let server = HttpServer::start(Behaviour::Status(status));
            let url = format!("{}/svc.git", server.base);
            let error = resolve(&url, None, None).expect_err("status");
            assert_eq!(error.is_transient(), transient, "{status}: {error:?}");
        }
        let server = HttpServer::start(Behaviour::Status(404));
        let error = publish_files(&format!("{}/svc.git", server.base), &sample_files()).expect_err("404");
        assert!(matches!(error, GitError::RepositoryNotFound { .. }), "{error:?}");
    }

    #[test]
    fn a_push_refused_by_the_server_is_reported_with_its_reason() {
        let root = TempDir::new().expect("root");
        let remote = http_remote(&root, "svc.git");
        let hook = remote.join("hooks/pre-receive");
        std::fs::write(&hook, "#!/bin/sh\necho 'branch creation is frozen' >&2\nexit 1\n").expect("hook");
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let server = HttpServer::start(Behaviour::Backend {
            root: root.path().to_path_buf(),
            credentials: None,
        });
        let url = format!("{}/svc.git", server.base);
        let error = publish_files(&url, &sample_files()).expect_err("refused");
        assert!(matches!(error, GitError::PushRejected { .. }), "{error:?}");
        assert!(!error.is_transient());
        let message = error.to_string();
        assert!(message.contains("refs/heads/main"), "{message}");
        assert!(message.contains("hook declined"), "{message}");
        assert!(message.contains("branch creation is frozen"), "{message}");
        assert_eq!(tip(&remote, "main"), None);
    }

    #[test]
    fn a_lock_left_on_the_server_is_waited_out() {
        let root = TempDir::new().expect("root");
        let remote = http_remote(&root, "svc.git");
        // What a receive-pack killed while updating the branch leaves.
        let lock = remote.join("refs/heads/main.lock");
        std::fs::create_dir_all(remote.join("refs/heads")).expect("refs/heads");
        std::fs::write(&lock, "").expect("lock");
        let server = HttpServer::start(Behaviour::Backend {
            root: root.path().to_path_buf(),
            credentials: None,
        });
        let url = format!("{}/svc.git", server.base);
        let error = publish_files(&url, &sample_files()).expect_err("locked");
        assert!(matches!(error, GitError::RefLocked { .. }), "{error:?}");
        assert!(error.is_transient());
        let message = error.to_string();
        assert!(message.contains("could not lock refs/heads/main"), "{message}");
        assert!(message.contains("main.lock"), "{message}");
        assert_eq!(tip(&remote, "main"), None);

        std::fs::remove_file(&lock).expect("unlock");
        let published = publish_files(&url, &sample_files()).expect("published");
        assert_eq!(
            tip(&remote, "main").map(|id| id.to_string()),
            Some(published.commit)
        );
    }
}
