//! Who calls the portal API, never as the caller claims it: the bearer
//! token of every call is verified with a TokenReview, and a portal that
//! acts for a user names the user the way Kubernetes does
//! (`Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid`) and is
//! believed only where a SubjectAccessReview says its own identity may
//! `impersonate` that user, those groups and that UID. goldpath itself is
//! not granted `impersonate`: it asks, it does not act as anyone.
//!
//! Answers (who a token is, and what they may do) are kept for [`TTL`] in
//! caches of at most [`CACHE_LIMIT`] entries each, keyed by a SHA-256 of
//! what was asked, so a portal's burst of calls costs one review of each
//! kind, and no token is held in memory past its call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hyper::header::AUTHORIZATION;
use hyper::{HeaderMap, StatusCode};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use kube::api::{Api, PostParams};
use kube::{Client, core::ObjectMeta};
use sha2::{Digest, Sha256};

use super::reply::Reply;
use crate::api::Requester;
use crate::tenancy::review::{Permission, review};

/// How long a verified (or refused) identity is reused.
pub const TTL: Duration = Duration::from_secs(10);
/// How many identities are kept; past this, expired ones are dropped and,
/// when none has expired, all are.
pub const CACHE_LIMIT: usize = 1024;
/// The longest bearer token read; Kubernetes' own are a few kilobytes.
pub const TOKEN_LIMIT: usize = 16 * 1024;
/// The most `Impersonate-Group` headers one call may carry.
pub const GROUPS_LIMIT: usize = 64;

const IMPERSONATE_USER: &str = "impersonate-user";
const IMPERSONATE_GROUP: &str = "impersonate-group";
const IMPERSONATE_UID: &str = "impersonate-uid";
const IMPERSONATE_EXTRA: &str = "impersonate-extra-";

/// A verified caller.
#[derive(Clone, Debug, PartialEq)]
pub struct Caller {
    /// Whom the call is for: the token's user, or the user a portal acts for.
    pub user: Requester,
    /// The portal's own user name, when it acts for `user`.
    pub portal: Option<String>,
}

/// What a call presents: its token, and whom it says it acts for.
#[derive(Debug, PartialEq)]
pub(super) struct Credentials<'a> {
    token: &'a str,
    /// The impersonated user, groups and UID.
    acting_for: Option<(String, Vec<String>, Option<String>)>,
}

impl Credentials<'_> {
    /// The cache key: a digest, so the cache holds no token.
    pub(super) fn key(&self) -> [u8; 32] {
        let mut digest = Sha256::new();
        digest.update(self.token.as_bytes());
        if let Some((user, groups, uid)) = &self.acting_for {
            for part in std::iter::once(user).chain(groups).chain(uid) {
                digest.update([0]);
                digest.update(part.as_bytes());
            }
        }
        digest.finalize().into()
    }
}

/// Reads the credentials of a call's `headers`, or the reason they are
/// not usable (`401` without a bearer token, `400` for a malformed
/// impersonation).
pub(super) fn credentials(headers: &HeaderMap) -> Result<Credentials<'_>, Reply> {
    let unauthorized = |message: &str| Reply::error(StatusCode::UNAUTHORIZED, message);
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(unauthorized(
            "no Authorization header: every call carries `Authorization: Bearer <token>`, a token the \
             cluster's API server accepts",
        ));
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header is not `Bearer <token>`"))?;
    if token.len() > TOKEN_LIMIT {
        return Err(unauthorized(&format!(
            "the bearer token is longer than {TOKEN_LIMIT} bytes"
        )));
    }
    if headers
        .keys()
        .any(|name| name.as_str().starts_with(IMPERSONATE_EXTRA))
    {
        return Err(Reply::bad_request(
            "Impersonate-Extra-* headers are not supported; name the user with Impersonate-User, \
             Impersonate-Group and Impersonate-Uid",
        ));
    }
    let text = |name: &str, value: &hyper::header::HeaderValue| {
        value
            .to_str()
            .map(str::to_string)
            .map_err(|_| Reply::bad_request(format!("the {name} header is not text")))
    };
    let users: Vec<_> = headers.get_all(IMPERSONATE_USER).iter().collect();
    let groups: Vec<_> = headers.get_all(IMPERSONATE_GROUP).iter().collect();
    let uids: Vec<_> = headers.get_all(IMPERSONATE_UID).iter().collect();
    let acting_for = match users.as_slice() {
        [] if groups.is_empty() && uids.is_empty() => None,
        [] => {
            return Err(Reply::bad_request(
                "Impersonate-Group and Impersonate-Uid need an Impersonate-User",
            ));
        }
        [user] => {
            if groups.len() > GROUPS_LIMIT {
                return Err(Reply::bad_request(format!(
                    "more than {GROUPS_LIMIT} Impersonate-Group headers"
                )));
            }
            if uids.len() > 1 {
                return Err(Reply::bad_request("more than one Impersonate-Uid header"));
            }
            let user = text("Impersonate-User", user)?;
            if user.is_empty() {
                return Err(Reply::bad_request("the Impersonate-User header is empty"));
            }
            let groups = groups
                .iter()
                .map(|g| text("Impersonate-Group", g))
                .collect::<Result<Vec<_>, _>>()?;
            let uid = uids.first().map(|u| text("Impersonate-Uid", u)).transpose()?;
            Some((user, groups, uid))
        }
        _ => return Err(Reply::bad_request("more than one Impersonate-User header")),
    };
    Ok(Credentials { token, acting_for })
}

/// A refusal kept in the cache: its status and message.
pub(super) type Refusal = (StatusCode, String);

/// Answers kept for [`TTL`], at most [`CACHE_LIMIT`] of them: when full,
/// expired answers are dropped and, when none has expired, all are.
struct Expiring<V> {
    entries: Mutex<HashMap<[u8; 32], (Instant, V)>>,
}

impl<V> Default for Expiring<V> {
    fn default() -> Self {
        Expiring {
            entries: Mutex::default(),
        }
    }
}

impl<V: Clone> Expiring<V> {
    fn get(&self, key: &[u8; 32]) -> Option<V> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (at, value) = entries.get(key)?;
        (at.elapsed() < TTL).then(|| value.clone())
    }

    fn insert(&self, key: [u8; 32], value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CACHE_LIMIT {
            entries.retain(|_, (at, _)| at.elapsed() < TTL);
            if entries.len() >= CACHE_LIMIT {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// The cache key of a SubjectAccessReview of `user` for `permission`.
fn review_key(user: &Requester, permission: &Permission<'_>) -> [u8; 32] {
    let mut digest = Sha256::new();
    let parts = [
        Some(user.username.as_str()),
        user.uid.as_deref(),
        Some(permission.verb),
        Some(permission.group),
        Some(permission.resource),
        Some(permission.namespace),
        permission.name,
    ];
    for part in parts
        .into_iter()
        .chain(user.groups.iter().map(|g| Some(g.as_str())))
    {
        // A separator that no part holds, and a mark for a part not given.
        digest.update(part.map_or(&[1u8][..], str::as_bytes));
        digest.update([0]);
    }
    digest.finalize().into()
}

/// Verifies callers, and asks whether they may do things.
pub struct Authenticator {
    client: Client,
    /// Who each set of credentials is.
    callers: Expiring<Result<Arc<Caller>, Refusal>>,
    /// What each user may do.
    reviews: Expiring<bool>,
}

impl Authenticator {
    /// Reviews with `client`, whose identity needs `create` on
    /// `tokenreviews` and `subjectaccessreviews`.
    pub fn new(client: Client) -> Authenticator {
        Authenticator {
            client,
            callers: Expiring::default(),
            reviews: Expiring::default(),
        }
    }

    /// The verified caller of a call with `headers`, or the answer that
    /// refuses it: `401` for a missing or rejected token, `403` for a portal
    /// that may not act for the user it names, `503` when the API server
    /// cannot be asked.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Caller>, Reply> {
        let credentials = credentials(headers)?;
        let key = credentials.key();
        if let Some(known) = self.cached(&key) {
            return known.map_err(|(status, message)| Reply::error(status, message));
        }
        let outcome = self.verify(&credentials).await;
        match &outcome {
            Ok(caller) => self.remember(key, Ok(caller.clone())),
            Err(reply) if matches!(reply.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                let message = reply
                    .body
                    .as_ref()
                    .and_then(|b| b.pointer("/error/message"))
                    .and_then(|m| m.as_str())
                    .unwrap_or_default()
                    .to_string();
                self.remember(key, Err((reply.status, message)));
            }
            Err(_) => {}
        }
        outcome
    }

    fn cached(&self, key: &[u8; 32]) -> Option<Result<Arc<Caller>, Refusal>> {
        self.callers.get(key)
    }

    pub(super) fn remember(&self, key: [u8; 32], outcome: Result<Arc<Caller>, Refusal>) {
        self.callers.insert(key, outcome);
    }

    /// How many identities are cached now.
    pub fn cached_len(&self) -> usize {
        self.callers.len()
    }

    async fn verify(&self, credentials: &Credentials<'_>) -> Result<Arc<Caller>, Reply> {
        let holder = self.token_user(credentials.token).await?;
        let Some((username, groups, uid)) = &credentials.acting_for else {
            return Ok(Arc::new(Caller {
                user: holder,
                portal: None,
            }));
        };
        let mut asked = vec![Permission {
            verb: "impersonate",
            group: "",
            resource: "users",
            namespace: "",
            name: Some(username),
        }];
        asked.extend(groups.iter().map(|group| Permission {
            verb: "impersonate",
            group: "",
            resource: "groups",
            namespace: "",
            name: Some(group),
        }));
        asked.extend(uid.iter().map(|uid| Permission {
            verb: "impersonate",
            group: "authentication.k8s.io",
            resource: "uids",
            namespace: "",
            name: Some(uid),
        }));
        for permission in &asked {
            if !self.allowed(&holder, permission).await? {
                return Err(Reply::error(
                    StatusCode::FORBIDDEN,
                    format!(
                        "{} may not act for another user: it may not impersonate {} {:?} (RBAC: verb \
                         impersonate on {}{})",
                        holder.username,
                        permission.resource.trim_end_matches('s'),
                        permission.name.unwrap_or_default(),
                        permission.resource,
                        if permission.group.is_empty() {
                            String::new()
                        } else {
                            format!(".{}", permission.group)
                        },
                    ),
                ));
            }
        }
        // As the API server does for an impersonated user.
        let mut groups = groups.clone();
        if !groups.iter().any(|g| g == "system:authenticated") {
            groups.push("system:authenticated".into());
        }
        Ok(Arc::new(Caller {
            user: Requester {
                username: username.clone(),
                uid: uid.clone(),
                groups,
            },
            portal: Some(holder.username),
        }))
    }

    /// The user a token belongs to, by a TokenReview.
    async fn token_user(&self, token: &str) -> Result<Requester, Reply> {
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let asked = TokenReview {
            metadata: ObjectMeta::default(),
            spec: TokenReviewSpec {
                token: token.to_string(),
                audiences: None,
            },
            status: None,
        };
        let answer = api
            .create(&PostParams::default(), &asked)
            .await
            .map_err(|error| unavailable("verifying the bearer token (TokenReview)", &error))?;
        let status = answer.status.unwrap_or_default();
        match status.user.filter(|_| status.authenticated == Some(true)) {
            Some(user) if user.username.as_deref().is_some_and(|n| !n.is_empty()) => Ok(Requester {
                username: user.username.unwrap_or_default(),
                uid: user.uid.filter(|u| !u.is_empty()),
                groups: user.groups.unwrap_or_default(),
            }),
            _ => Err(Reply::error(
                StatusCode::UNAUTHORIZED,
                "the bearer token was not accepted by the cluster's API server (TokenReview): it is \
                 expired, revoked or not a token of this cluster",
            )),
        }
    }

    /// Whether `user` may do `permission`, by a SubjectAccessReview; `Err`
    /// (`503`) when the API server cannot be asked.
    pub async fn allowed(&self, user: &Requester, permission: &Permission<'_>) -> Result<bool, Reply> {
        let key = review_key(user, permission);
        if let Some(known) = self.reviews.get(&key) {
            return Ok(known);
        }
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let answer = api
            .create(&PostParams::default(), &review(user, permission))
            .await
            .map_err(|error| {
                unavailable(
                    &format!("asking whether {} may {permission}", user.username),
                    &error,
                )
            })?;
        let status = answer.status.unwrap_or_default();
        let allowed = status.allowed && !status.denied.unwrap_or(false);
        self.reviews.insert(key, allowed);
        Ok(allowed)
    }

    /// Succeeds when `caller` may do `permission`; otherwise `403` naming
    /// the user and the permission.
    pub async fn require(&self, caller: &Caller, permission: &Permission<'_>) -> Result<(), Reply> {
        if self.allowed(&caller.user, permission).await? {
            return Ok(());
        }
        Err(Reply::error(
            StatusCode::FORBIDDEN,
            format!("{} may not {permission}", caller.user.username),
        ))
    }
}

/// `503`: the API server could not answer a review. The error is the
/// client's, never the token.
fn unavailable(doing: &str, error: &kube::Error) -> Reply {
    tracing::warn!(%error, "{doing}");
    Reply::error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("{doing}: the cluster's API server did not answer; try again"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    fn refused(pairs: &[(&str, &str)]) -> (StatusCode, String) {
        let reply = credentials(&headers(pairs)).unwrap_err();
        let message = reply.body.unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        (reply.status, message)
    }

    #[test]
    fn a_call_without_a_bearer_token_is_unauthorized() {
        let (status, message) = refused(&[]);
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(message.contains("Authorization: Bearer"), "{message}");
        assert_eq!(
            refused(&[("authorization", "Basic YTpi")]).0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            refused(&[("authorization", "Bearer   ")]).0,
            StatusCode::UNAUTHORIZED
        );
        let long = format!("Bearer {}", "a".repeat(TOKEN_LIMIT + 1));
        assert_eq!(refused(&[("authorization", &long)]).0, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn a_portal_names_its_user_the_way_kubernetes_does() {
        let read = headers(&[
            ("authorization", "Bearer portal-token"),
            ("impersonate-user", "jane@example.com"),
            ("impersonate-group", "team-a"),
            ("impersonate-group", "devs"),
            ("impersonate-uid", "42"),
        ]);
        let credentials = credentials(&read).unwrap();
        assert_eq!(credentials.token, "portal-token");
        assert_eq!(
            credentials.acting_for,
            Some((
                "jane@example.com".into(),
                vec!["team-a".into(), "devs".into()],
                Some("42".into())
            ))
        );

        let (status, message) = refused(&[("authorization", "Bearer t"), ("impersonate-group", "admins")]);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.contains("need an Impersonate-User"), "{message}");
        let (status, _) = refused(&[
            ("authorization", "Bearer t"),
            ("impersonate-user", "a"),
            ("impersonate-user", "b"),
        ]);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, message) = refused(&[
            ("authorization", "Bearer t"),
            ("impersonate-user", "a"),
            ("impersonate-extra-scopes", "view"),
        ]);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(message.contains("Impersonate-Extra"), "{message}");
        let mut many = vec![("authorization", "Bearer t"), ("impersonate-user", "a")];
        many.extend(std::iter::repeat_n(("impersonate-group", "g"), GROUPS_LIMIT + 1));
        assert_eq!(refused(&many).0, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_cache_key_holds_no_token_and_tells_users_apart() {
        let plain = headers(&[("authorization", "Bearer secret-token")]);
        let jane = headers(&[
            ("authorization", "Bearer secret-token"),
            ("impersonate-user", "jane"),
        ]);
        let joe = headers(&[
            ("authorization", "Bearer secret-token"),
            ("impersonate-user", "joe"),
        ]);
        let keys: Vec<_> = [&plain, &jane, &joe]
            .iter()
            .map(|h| credentials(h).unwrap().key())
            .collect();
        assert_ne!(keys[0], keys[1]);
        assert_ne!(keys[1], keys[2]);
        assert!(!keys[0].windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn a_review_is_kept_per_user_and_permission() {
        let jane = Requester {
            username: "jane".into(),
            uid: None,
            groups: vec!["team-a".into()],
        };
        let list = Permission {
            verb: "list",
            group: "goldpath.dev",
            resource: "catalogentities",
            namespace: "team-a",
            name: None,
        };
        let key = review_key(&jane, &list);
        let other_namespace = Permission {
            namespace: "team-b",
            ..list.clone()
        };
        let other_groups = Requester {
            groups: vec!["team-b".into()],
            ..jane.clone()
        };
        assert_ne!(key, review_key(&jane, &other_namespace));
        assert_ne!(key, review_key(&other_groups, &list));
        let named = Permission {
            name: Some(""),
            ..list.clone()
        };
        assert_ne!(key, review_key(&jane, &named), "no name and an empty name differ");
        let reviews = Expiring::default();
        for i in 0..(CACHE_LIMIT * 2) {
            let namespace = format!("ns-{i}");
            reviews.insert(
                review_key(
                    &jane,
                    &Permission {
                        namespace: &namespace,
                        ..list.clone()
                    },
                ),
                true,
            );
            assert!(reviews.len() <= CACHE_LIMIT);
        }
    }

    #[tokio::test]
    async fn the_cache_is_bounded() {
        let client = Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap())).unwrap();
        let authenticator = Authenticator::new(client);
        let caller = Arc::new(Caller {
            user: Requester {
                username: "jane".into(),
                ..Requester::default()
            },
            portal: None,
        });
        for i in 0..(CACHE_LIMIT * 3) {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            authenticator.remember(key, Ok(caller.clone()));
            assert!(authenticator.cached_len() <= CACHE_LIMIT);
        }
        let mut last = [0u8; 32];
        last[..8].copy_from_slice(&((CACHE_LIMIT * 3 - 1) as u64).to_le_bytes());
        assert_eq!(authenticator.cached(&last), Some(Ok(caller)));
    }
}
