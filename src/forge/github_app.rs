//! GitHub App credentials: a `type: github` host may name an App (its id,
//! its installation or none, and a Secret with its private key) instead
//! of a token. goldpath signs a JSON Web Token with the App's key (RS256),
//! finds the installation for a repository's owner when the entry names
//! none, and mints an installation token, which it keeps until shortly
//! before it expires. The key and the tokens go into no message, Event or
//! log: only the `Authorization` header carries them.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

use super::ForgeError;
use super::gitea::segment;
use super::transport::{ApiCall, HttpTransport, Method, Transport};

/// How long before it expires a kept token is replaced: longer than any
/// step's calls take with it.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(10 * 60);
/// Most installation tokens kept (one per App installation, or per owner
/// whose installation is looked up); past it the one nearest its expiry
/// is dropped.
pub const MAX_KEPT_TOKENS: usize = 256;
/// How long a JSON Web Token is valid: GitHub takes at most 10 minutes.
const JWT_LIFETIME: i64 = 9 * 60;
/// How far back a JWT's issue time is set, for a clock a little ahead of
/// GitHub's.
const JWT_CLOCK_DRIFT: i64 = 60;

/// What permission the App's own calls need, for a 401/403's message.
const APP: &str = "a GitHub App's JWT (check appId and the private key)";

/// An App's id and private key.
pub struct AppKey {
    app_id: u64,
    key: RsaKeyPair,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppKey").field("app_id", &self.app_id).finish()
    }
}

impl AppKey {
    /// The App `app_id` with the private key `pem` (PKCS#1, as GitHub
    /// gives it, or PKCS#8).
    pub fn new(app_id: u64, pem: &str) -> Result<AppKey, ForgeError> {
        let invalid = |why: &str| {
            ForgeError::Invalid(format!(
                "the private key of GitHub App {app_id} {why} (privateKeySecret's key privateKey holds the \
                 PEM file GitHub gave)"
            ))
        };
        let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| invalid("is not a PEM key"))?;
        let key = match &der {
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            _ => return Err(invalid("is not an RSA key")),
        }
        .map_err(|_| invalid("is not an RSA key ring accepts"))?;
        Ok(AppKey { app_id, key })
    }

    /// A JSON Web Token for the App's own calls, issued at `now` (seconds
    /// since the Unix epoch).
    pub fn jwt(&self, now: i64) -> Result<String, ForgeError> {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "JWT"}).to_string());
        let claims = URL_SAFE_NO_PAD.encode(
            json!({
                "iat": now - JWT_CLOCK_DRIFT,
                "exp": now + JWT_LIFETIME,
                "iss": self.app_id.to_string(),
            })
            .to_string(),
        );
        let signed = format!("{header}.{claims}");
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| {
                ForgeError::Invalid(format!("cannot sign a token for GitHub App {}", self.app_id))
            })?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// The installation of the App on `owner`: an organisation's, else a
/// user's.
pub async fn find_installation<T: Transport>(app: &T, owner: &str) -> Result<u64, ForgeError> {
    for kind in ["orgs", "users"] {
        let call = ApiCall::new(
            Method::Get,
            format!("/{kind}/{}/installation", segment(owner)),
            format!("find the GitHub App's installation on {owner}"),
            APP,
        );
        let response = app.send(&call).await?;
        if response.ok() {
            return response.body.get("id").and_then(Value::as_u64).ok_or_else(|| {
                ForgeError::Invalid(format!("{}: the installation on {owner} has no id", app.host()))
            });
        }
        if response.status != 404 {
            return Err(ForgeError::Refused {
                host: app.host().to_string(),
                call: call.what,
                status: response.status,
                detail: response.detail(),
            });
        }
    }
    Err(ForgeError::NotFound(format!(
        "{}: the GitHub App is not installed on {owner}; install it there, or name installationId",
        app.host()
    )))
}

/// A new token of `installation`, and when it expires (seconds since the
/// Unix epoch).
pub async fn mint<T: Transport>(app: &T, installation: u64) -> Result<(String, i64), ForgeError> {
    let call = ApiCall::new(
        Method::Post,
        format!("/app/installations/{installation}/access_tokens"),
        format!("make a token of GitHub App installation {installation}"),
        APP,
    );
    let response = app.send(&call).await?;
    if !response.ok() {
        return Err(ForgeError::Refused {
            host: app.host().to_string(),
            call: call.what,
            status: response.status,
            detail: response.detail(),
        });
    }
    let token = response.body.get("token").and_then(Value::as_str);
    let expires = response
        .body
        .get("expires_at")
        .and_then(Value::as_str)
        .and_then(|at| at.parse::<k8s_openapi::jiff::Timestamp>().ok());
    match (token, expires) {
        (Some(token), Some(expires)) => Ok((token.to_string(), expires.as_second())),
        _ => Err(ForgeError::Invalid(format!(
            "{}: {} answered without a token and its expiry",
            app.host(),
            call.what
        ))),
    }
}

/// Which installation a token is for: the one a host names, or the one
/// looked up for an owner.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Installation {
    /// `installationId`.
    Id(u64),
    /// Looked up for this owner.
    Owner(String),
}

/// Which token: the API's URL, the App's id and the installation.
type TokenKey = (String, u64, Installation);

/// Installation tokens kept until [`REFRESH_BEFORE`] their expiry, at most
/// [`MAX_KEPT_TOKENS`]. One token is minted at a time: a caller holds the
/// lock while it mints, so concurrent steps wait and take the same token.
#[derive(Default)]
pub struct TokenCache {
    kept: tokio::sync::Mutex<HashMap<TokenKey, (String, i64)>>,
}

impl TokenCache {
    /// A token of `installation` of `key`'s App on the API at `api_url`, kept
    /// or minted; `now` is the time in seconds since the Unix epoch.
    pub async fn token(
        &self,
        api_url: &str,
        key: &AppKey,
        installation: Installation,
        now: i64,
    ) -> Result<String, ForgeError> {
        let index = (api_url.to_string(), key.app_id, installation);
        let owner = match &index.2 {
            Installation::Id(_) => None,
            Installation::Owner(owner) => Some(owner.clone()),
        };
        let id = match &index.2 {
            Installation::Id(id) => Some(*id),
            Installation::Owner(_) => None,
        };
        self.kept_or(index, now, || async move {
            let app = HttpTransport::new(api_url, &key.jwt(now)?)?.with_scheme("Bearer");
            let id = match (id, owner) {
                (Some(id), _) => id,
                (None, owner) => find_installation(&app, &owner.unwrap_or_default()).await?,
            };
            mint(&app, id).await
        })
        .await
    }

    /// The token kept for `index` while it is fresh at `now`, else the one
    /// `mint` makes, kept in its place.
    async fn kept_or<F, Fut>(&self, index: TokenKey, now: i64, mint: F) -> Result<String, ForgeError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(String, i64), ForgeError>>,
    {
        // Held while minting: one refresh at a time.
        let mut kept = self.kept.lock().await;
        let fresh = |expires: i64| expires - now > REFRESH_BEFORE.as_secs() as i64;
        if let Some((token, expires)) = kept.get(&index)
            && fresh(*expires)
        {
            return Ok(token.clone());
        }
        let (token, expires) = mint().await?;
        kept.retain(|_, (_, expires)| fresh(*expires));
        if kept.len() >= MAX_KEPT_TOKENS
            && let Some(nearest) = kept.iter().min_by_key(|(_, (_, e))| *e).map(|(k, _)| k.clone())
        {
            kept.remove(&nearest);
        }
        kept.insert(index, (token.clone(), expires));
        Ok(token)
    }

    /// How many tokens are kept.
    #[cfg(test)]
    async fn len(&self) -> usize {
        self.kept.lock().await.len()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use ring::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    use super::*;

    /// A 2048-bit RSA key made by `openssl genrsa -traditional`, for these
    /// tests only.
    fn test_key() -> String {
        let made = std::process::Command::new("openssl")
            .args(["genrsa", "-traditional", "2048"])
            .output()
            .unwrap();
        assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
        String::from_utf8(made.stdout).unwrap()
    }

    #[test]
    fn a_jwt_is_signed_with_the_apps_key_for_nine_minutes() {
        let key = AppKey::new(42, &test_key()).unwrap();
        let jwt = key.jwt(1_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims, json!({"iat": 999_940, "exp": 1_000_540, "iss": "42"}));
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "RS256");
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.key.public_key().as_ref());
        let signed = format!("{}.{}", parts[0], parts[1]);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert!(public.verify(signed.as_bytes(), &signature).is_ok());
        assert!(public.verify(b"something else", &signature).is_err());
    }

    #[test]
    fn a_key_that_is_not_an_rsa_pem_is_refused_without_showing_it() {
        for pem in [
            "",
            "not a key",
            "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        ] {
            let error = AppKey::new(7, pem).unwrap_err().to_string();
            assert!(error.contains("the private key of GitHub App 7"), "{error}");
            assert!(!error.contains("AAAA"), "{error}");
        }
    }

    fn index(owner: &str) -> TokenKey {
        (
            "https://api.github.com".into(),
            1,
            Installation::Owner(owner.into()),
        )
    }

    #[tokio::test]
    async fn a_token_is_kept_until_ten_minutes_before_it_expires() {
        let cache = TokenCache::default();
        let mints = Cell::new(0);
        let mint = |expires: i64| {
            mints.set(mints.get() + 1);
            let token = format!("t{}", mints.get());
            async move { Ok((token, expires)) }
        };
        let now = 1_000_000;
        assert_eq!(
            cache
                .kept_or(index("acme"), now, || mint(now + 3600))
                .await
                .unwrap(),
            "t1"
        );
        // Kept: not minted again.
        assert_eq!(
            cache
                .kept_or(index("acme"), now + 2000, || mint(0))
                .await
                .unwrap(),
            "t1"
        );
        // Ten minutes before it expires, a new one.
        let late = now + 3600 - 600;
        assert_eq!(
            cache
                .kept_or(index("acme"), late, || mint(late + 3600))
                .await
                .unwrap(),
            "t2"
        );
        assert_eq!(mints.get(), 2);
        // A failed mint keeps nothing and is the caller's error.
        let failed = cache
            .kept_or(index("other"), now, || async {
                Err(ForgeError::NotFound("no installation".into()))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(cache.len().await, 1);
    }

    #[tokio::test]
    async fn at_most_256_tokens_are_kept() {
        let cache = TokenCache::default();
        let now = 1_000_000;
        for i in 0..(MAX_KEPT_TOKENS as i64 + 50) {
            let owner = format!("owner{i}");
            cache
                .kept_or(index(&owner), now, || async move {
                    Ok((format!("t{i}"), now + 3600 + i))
                })
                .await
                .unwrap();
        }
        assert_eq!(cache.len().await, MAX_KEPT_TOKENS);
        // The newest is kept; the ones nearest their expiry went first.
        let newest = format!("owner{}", MAX_KEPT_TOKENS + 49);
        let kept = cache
            .kept_or(index(&newest), now, || async { Ok(("new".into(), 0)) })
            .await;
        assert_eq!(kept.unwrap(), format!("t{}", MAX_KEPT_TOKENS + 49));
    }

    #[tokio::test]
    async fn steps_that_need_a_token_at_once_wait_for_one_mint() {
        let cache = TokenCache::default();
        let mints = std::sync::atomic::AtomicUsize::new(0);
        let now = 1_000_000;
        let mint = || async {
            mints.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            // The other caller runs while this one mints.
            tokio::task::yield_now().await;
            Ok(("shared".to_string(), now + 3600))
        };
        let (a, b) = tokio::join!(
            cache.kept_or(index("acme"), now, mint),
            cache.kept_or(index("acme"), now, mint)
        );
        assert_eq!((a.unwrap(), b.unwrap()), ("shared".into(), "shared".into()));
        assert_eq!(mints.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
