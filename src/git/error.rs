//! Why a git operation failed, in messages that never show a secret, and
//! whether a retry can help.

use std::path::Path;

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
    /// Whether the server refused the push, found no repository or could
    /// not lock the branch: what a push gets into a repository a forge lost
    /// or a killed push left locked.
    pub fn may_be_left_by_a_killed_run(&self) -> bool {
        matches!(
            self,
            GitError::AuthenticationFailed { .. }
                | GitError::RepositoryNotFound { .. }
                | GitError::RefLocked { .. }
        )
    }

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

pub(super) fn local_error(path: &Path, error: &git2::Error) -> GitError {
    GitError::Local {
        path: path.display().to_string(),
        detail: error.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::remote::{http_status, percent_decode};
    use crate::git::resolve;
    use crate::git::test_support::PASSWORD;

    // ---- secrets ----

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
}
