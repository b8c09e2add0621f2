//! What the upgrades of each request remember between reconciles, in
//! memory only: where the forge of its open pull request is and how it is
//! reached (learnt from the last rendering of the target, so a pull request
//! that waits for review is looked at without rendering again), and how
//! long the last wait before looking again was. Lost on restart, which
//! costs one rendering and a 15 s wait per request.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::config::RepositoryRoute;
use crate::forge::RepoId;

/// How many requests are remembered. Past this many, everything is
/// forgotten (each request then renders once more), so deleted requests
/// cannot grow the map without bound.
pub const LIMIT: usize = 16_384;

/// The forge a rendering of the target publishes to. Not `Debug`: it
/// holds the step's token.
#[derive(Clone)]
pub struct Access {
    /// Where the repository is and which forge serves it.
    pub route: RepositoryRoute,
    /// The publishing step's own token, if it has one.
    pub token: Option<String>,
    /// The repository on the forge.
    pub repo: RepoId,
}

/// What one request remembers.
#[derive(Clone)]
pub struct Memo {
    /// [`super::rules::fingerprint`] of the rendering `access` came from.
    pub fingerprint: u64,
    /// The forge that rendering publishes to.
    pub access: Access,
    /// The last wait before looking at the open pull request again; none
    /// since something changed.
    pub poll: Option<Duration>,
}

/// Every request's memo, by request key.
#[derive(Default)]
pub struct Memos {
    entries: Mutex<HashMap<String, Memo>>,
}

impl Memos {
    /// What `key` remembers.
    pub fn get(&self, key: &str) -> Option<Memo> {
        self.lock().get(key).cloned()
    }

    /// Remembers `memo` for `key`.
    pub fn put(&self, key: &str, memo: Memo) {
        let mut entries = self.lock();
        if entries.len() >= LIMIT && !entries.contains_key(key) {
            entries.clear();
        }
        entries.insert(key.to_string(), memo);
    }

    /// Forgets `key`: it has no open pull request.
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Memo>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forge::ForgeKind;

    fn memo(fingerprint: u64) -> Memo {
        Memo {
            fingerprint,
            access: Access {
                route: RepositoryRoute {
                    remote_url: "https://forge.test/acme/orders.git".into(),
                    contents_url: "https://forge.test/acme/orders".into(),
                    credentials_secret: None,
                    kind: ForgeKind::Gitea,
                    api_url: Some("https://forge.test/api/v1".into()),
                    token_secret: None,
                    app: None,
                },
                token: None,
                repo: RepoId {
                    owner: "acme".into(),
                    name: "orders".into(),
                },
            },
            poll: None,
        }
    }

    #[test]
    fn memos_are_bounded_and_forgotten() {
        let memos = Memos::default();
        for i in 0..LIMIT * 2 + 3 {
            memos.put(&format!("ns/r{i}"), memo(i as u64));
            assert!(memos.lock().len() <= LIMIT);
        }
        let last = format!("ns/r{}", LIMIT * 2 + 2);
        assert_eq!(
            memos.get(&last).map(|m| m.fingerprint),
            Some((LIMIT * 2 + 2) as u64)
        );
        // A key already kept is replaced, never clearing the others.
        memos.put(&last, memo(7));
        assert_eq!(memos.lock().len(), 3);
        memos.forget(&last);
        assert!(memos.get(&last).is_none());
    }
}
