//! Git: publishing a workspace to a remote, and reading a template's files
//! from a repository, with git2.
//!
//! Everything here blocks (libgit2 does network and disk I/O on the calling
//! thread); async callers run it under `spawn_blocking`.
//!
//! Commits are built straight from an in-memory [`FileTree`](crate::engine::files::FileTree) in a bare
//! repository: no working tree is ever checked out, so file modes and
//! symlinks survive exactly and nothing on the operator's disk can leak into
//! a commit. Publishing is idempotent by comparing tree ids, never by
//! trusting the operator's own records, so a request that crashed after
//! pushing resumes without a second commit.
//!
//! - `remote`: URLs, credentials and talking to a server (fetch, push, refs);
//! - `publish`: a new branch from a file tree, and a change branch on a base;
//! - `read`: resolving references and reading a template's files;
//! - `tree`: file trees written as git trees;
//! - `merge`: the three-way merge of file trees behind template upgrades,
//!   in memory;
//! - `cache`: the on-disk repositories that reads share;
//! - `error`: what failed, and whether a retry can help.

use std::fmt;

mod cache;
mod error;
mod merge;
mod publish;
mod read;
mod remote;
mod tree;

#[cfg(test)]
mod test_support;

pub use error::{GitError, redact_url};
pub use merge::{Conflict, ConflictKind, MergeLabels, Merged, merge_trees};
pub use publish::{
    Change, PublishRequest, Published, propose, publish, publish_change, publish_change_as, push_again,
};
pub use read::{read_repository, read_tree, read_tree_in, resolve};
pub use remote::{percent_decode, scp_address};

/// The branch a request publishes to when its template does not name one.
pub const DEFAULT_BRANCH: &str = "main";

/// Who commits, and how the commit is signed off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitIdentity {
    /// Author and committer name.
    pub author_name: String,
    /// Author and committer email.
    pub author_email: String,
}

/// A username and password (or access token) for an HTTP(S) remote, or
/// for an ssh remote a private key and the host keys the server must show.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name; for token-only hosts any non-empty name works.
    pub username: String,
    /// The password or token. Never printed: see the `Debug` impl.
    pub password: String,
    /// For an ssh remote: the key that logs in and the host keys trusted.
    pub ssh: Option<SshIdentity>,
}

/// What an ssh remote needs: a private key (OpenSSH or PEM text) and the
/// host keys (as `known_hosts` holds them, decoded) the server may present.
/// A server presenting any other key is refused: there is no "accept any".
#[derive(Clone, PartialEq, Eq)]
pub struct SshIdentity {
    /// The private key. Never printed.
    pub private_key: String,
    /// The trusted host keys, in ssh wire format.
    pub host_keys: Vec<Vec<u8>>,
}

impl Credentials {
    /// Credentials from a username and a password or token.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
            ssh: None,
        }
    }

    /// Credentials for an ssh remote: log in as `username` (the URL's user
    /// when empty) with `private_key`, trusting only `host_keys`.
    pub fn ssh(username: impl Into<String>, private_key: impl Into<String>, host_keys: Vec<Vec<u8>>) -> Self {
        Credentials {
            username: username.into(),
            password: String::new(),
            ssh: Some(SshIdentity {
                private_key: private_key.into(),
                host_keys,
            }),
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
            .field(
                "ssh",
                &self
                    .ssh
                    .as_ref()
                    .map(|s| format!("key ***, {} host keys", s.host_keys.len())),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::files::FileTree;
    use test_support::{PASSWORD, identity};

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
}
