//! A remote: its URL parsed once (what libgit2 is given, what messages
//! show, which secrets to scrub), credentials handed over by callback, and
//! fetch, push and ref listing with libgit2's failures mapped to what the
//! caller can do about them.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Once;

use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, Direction, ErrorClass, ErrorCode,
    FetchOptions, Oid, ProxyOptions, PushOptions, RemoteCallbacks, Repository,
};
use sha2::{Digest, Sha256};

use super::cache::scratch_repository;
use super::error::{local_error, redact_url};
use super::publish::check_marker;
use super::read::find_commit;
use super::{Credentials, GitError};

/// libgit2 waits forever by default; a git server that accepts a connection
/// and then hangs would otherwise pin a blocking thread for good.
const CONNECT_TIMEOUT_MS: i32 = 30_000;
const IO_TIMEOUT_MS: i32 = 120_000;

/// Server output kept for a rejected push's message: enough for a hook's
/// explanation, bounded so a chatty server cannot grow an error unboundedly.
const MAX_REMOTE_MESSAGE: usize = 2048;

/// Sets process-wide libgit2 options before the first git operation.
pub(super) fn configure_libgit2() {
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

/// A ref as the remote advertised it.
pub(super) struct AdvertisedRef {
    name: String,
    oid: Oid,
}

/// The value of a ref, peeled: an annotated tag's `^{}` entry names the
/// commit it tags.
pub(super) fn peeled(refs: &[AdvertisedRef], name: &str) -> Option<Oid> {
    let peeled_name = format!("{name}^{{}}");
    refs.iter()
        .find(|r| r.name == peeled_name)
        .or_else(|| refs.iter().find(|r| r.name == name))
        .map(|r| r.oid)
}

/// A remote, parsed once: what libgit2 is given, what messages show, and
/// which strings must never appear in them.
pub(super) struct RemoteSpec {
    /// Given to libgit2: the password is taken out of the URL and handed
    /// over by the credentials callback instead, so libgit2 cannot echo it.
    url: String,
    /// The caller's URL, redacted.
    pub(super) display: String,
    /// The caller's URL exactly, only to scrub it out of libgit2 messages.
    raw: String,
    /// The URL without any userinfo: a rotated token keeps its cache.
    cache_key: String,
    pub(super) local_path: Option<PathBuf>,
    /// For an ssh remote, its host (and port), which messages name.
    ssh_host: Option<String>,
    credentials: Option<Credentials>,
    secrets: Vec<String>,
}

impl RemoteSpec {
    pub(super) fn parse(url: &str, credentials: Option<&Credentials>) -> Result<Self, GitError> {
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
        let mut spec = RemoteSpec {
            url: url.to_owned(),
            display: display.clone(),
            raw: url.to_owned(),
            cache_key: url.to_owned(),
            local_path: None,
            ssh_host: None,
            credentials: credentials.cloned(),
            secrets,
        };
        if !url.contains("://") {
            if let Some((host, _)) = scp_address(url) {
                spec.ssh_host = Some(host.to_owned());
                spec.check_ssh_identity().map_err(invalid)?;
                return Ok(spec);
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
                spec.take_userinfo(&parsed);
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
            "ssh" | "git+ssh" | "ssh+git" => {
                let host = parsed.host_str().filter(|h| !h.is_empty());
                let host = host.ok_or_else(|| invalid("the URL has no host".to_owned()))?;
                if parsed.password().is_some() {
                    return Err(invalid(
                        "an ssh URL carries no password; log in with a private key".to_owned(),
                    ));
                }
                spec.ssh_host = Some(match parsed.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_owned(),
                });
                spec.check_ssh_identity().map_err(invalid)?;
                let mut key = parsed;
                let _ = key.set_username("");
                spec.cache_key = key.to_string();
                Ok(spec)
            }
            other => Err(invalid(format!(
                "the {other}:// scheme is not supported; use https://, ssh://, http://, file:// or a local path"
            ))),
        }
    }

    /// For an http(s) URL: its password becomes the credentials (unless
    /// some were given) and a secret to scrub, and leaves the URL libgit2 is
    /// given; the cache key drops the user name too.
    fn take_userinfo(&mut self, parsed: &url::Url) {
        if let Some(password) = parsed.password() {
            let decoded = percent_decode(password);
            self.secrets.push(password.to_owned());
            self.secrets.push(decoded.clone());
            if self.credentials.is_none() {
                self.credentials = Some(Credentials::new(percent_decode(parsed.username()), decoded));
            }
        }
        let mut for_libgit2 = parsed.clone();
        // Fails only for URLs that cannot have userinfo, which an
        // http(s) URL with a host always can.
        let _ = for_libgit2.set_password(None);
        self.url = for_libgit2.to_string();
        let mut key = for_libgit2;
        let _ = key.set_username("");
        self.cache_key = key.to_string();
    }

    /// Whether the remote is a server (http(s) or ssh), not a local path.
    pub(super) fn is_http(&self) -> bool {
        self.local_path.is_none()
    }

    /// An ssh remote is contacted only with a private key and the host
    /// keys it must present: never trusting whatever key answers.
    fn check_ssh_identity(&self) -> Result<(), String> {
        match self.credentials.as_ref().and_then(|c| c.ssh.as_ref()) {
            None => Err(
                "an ssh remote needs credentials with a private key (a Secret of type \
                 kubernetes.io/ssh-auth) and the host's known keys"
                    .to_owned(),
            ),
            Some(ssh) if ssh.host_keys.is_empty() => Err(format!(
                "no known host key is configured for ssh host {}, so goldpath does not connect to it",
                self.ssh_host.as_deref().unwrap_or_default()
            )),
            Some(_) => Ok(()),
        }
    }

    /// A missing local directory is a wrong URL, not a network hiccup; say
    /// so before libgit2 reports it as an OS error.
    pub(super) fn check_local(&self) -> Result<(), GitError> {
        match &self.local_path {
            Some(path) if !path.exists() => Err(GitError::RepositoryNotFound {
                url: self.display.clone(),
                detail: format!("the directory {} does not exist", path.display()),
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn cache_name(&self) -> String {
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
        if error.code() == ErrorCode::Certificate
            && let Some(host) = &self.ssh_host
        {
            return GitError::Remote {
                url,
                detail: format!(
                    "the ssh server {host} presented a host key that is not one of the known keys configured \
                     for it; goldpath did not log in"
                ),
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

    pub(super) fn fetch(
        &self,
        repo: &Repository,
        refspecs: &[String],
        shallow: bool,
    ) -> Result<(), GitError> {
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
    pub(super) fn fetch_commit(&self, repo: &Repository, oid: Oid) -> Result<(), GitError> {
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

    pub(super) fn push(&self, repo: &Repository, branch_ref: &str, branch: &str) -> Result<(), GitError> {
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
        Err(self.push_refused(reference, &status, &server_output.into_inner(), branch))
    }

    /// What a ref the server refused to update (`status`, with the server's
    /// `output`) means: a lock it could not take, a lost race, or a refusal
    /// of its own.
    fn push_refused(&self, reference: String, status: &str, output: &str, branch: &str) -> GitError {
        let output = output.trim();
        let status = self.scrub(status);
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
            return GitError::RefLocked {
                url: self.display.clone(),
                reference,
                detail: self.scrub(line.trim_start_matches("error: ")),
            };
        }
        // A hook that failed inside the server (Gitea's answers 500 from its
        // own API, e.g. while the repository is being made again) is the
        // server failing, not a rule refusing the push.
        let failed = output.lines().map(str::to_ascii_lowercase).find(|line| {
            [
                "internal server error",
                "unable to read current working directory",
            ]
            .iter()
            .any(|s| line.contains(s))
        });
        if failed.is_some() {
            return GitError::Unavailable {
                url: self.display.clone(),
                detail: format!("{status}; the server failed: {}", self.scrub(output)),
            };
        }
        let lowered = status.to_ascii_lowercase();
        let raced = ["fetch first", "non-fast-forward", "stale", "already exists"]
            .iter()
            .any(|s| lowered.contains(s));
        if raced {
            return GitError::Conflict {
                url: self.display.clone(),
                branch: branch.to_owned(),
                detail: status,
            };
        }
        let reason = if output.is_empty() {
            status
        } else {
            format!("{status}; the server said: {}", self.scrub(output))
        };
        GitError::PushRejected {
            url: self.display.clone(),
            reference,
            reason,
        }
    }

    /// Before a new branch is pushed with `marker`: refuses a repository
    /// that has branches unless the one its HEAD names (or its first) was
    /// published with the same marker. A repository the server does not
    /// have yet has none.
    pub(super) fn check_other_branches(&self, repo: &Repository, marker: &str) -> Result<(), GitError> {
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

    pub(super) fn list_refs(&self) -> Result<Vec<AdvertisedRef>, GitError> {
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
    pub(super) fn resolve_commit_id(&self, refs: &[AdvertisedRef], prefix: &str) -> Result<String, GitError> {
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
        let (_scratch, repo) = scratch_repository("goldpath-resolve-")?;
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
            let username = if credentials.username.is_empty() {
                username_from_url.unwrap_or("git")
            } else {
                credentials.username.as_str()
            };
            if let Some(ssh) = &credentials.ssh {
                if allowed == CredentialType::USERNAME {
                    // ssh asks for the user name first, then for the key.
                    self.calls.set(calls - 1);
                    return Cred::username(username);
                }
                if !allowed.contains(CredentialType::SSH_KEY) {
                    return refuse("the ssh server asks for a kind of authentication other than a key");
                }
                return Cred::ssh_key_from_memory(username, None, &ssh.private_key, None);
            }
            if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                return refuse(
                    "the server asks for a kind of authentication other than username and password",
                );
            }
            Cred::userpass_plaintext(username, &credentials.password)
        });
        let host_keys = self
            .credentials
            .and_then(|c| c.ssh.as_ref())
            .map(|ssh| ssh.host_keys.as_slice());
        callbacks.certificate_check(move |cert, host| {
            let Some(presented) = cert.as_hostkey() else {
                // TLS: libgit2's own verification against the CA store.
                return Ok(CertificateCheckStatus::CertificatePassthrough);
            };
            let known = host_keys.unwrap_or_default();
            match presented.hostkey() {
                Some(key) if known.iter().any(|k| k.as_slice() == key) => {
                    Ok(CertificateCheckStatus::CertificateOk)
                }
                _ => Err(git2::Error::new(
                    ErrorCode::Certificate,
                    ErrorClass::Ssh,
                    format!("the host key of {host} is not a known one"),
                )),
            }
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

/// The host and path of an scp-style ssh address (`[user@]host:path`), as
/// git reads one: a colon before any slash, after a host of two or more
/// characters (`C:` stays a Windows drive).
pub fn scp_address(url: &str) -> Option<(&str, &str)> {
    let (before, path) = url.split_once(':')?;
    let host = before.rsplit_once('@').map_or(before, |(_, host)| host);
    (before.len() > 1 && !before.contains('/') && !host.is_empty()).then_some((host, path))
}

fn proxy_options<'a>() -> ProxyOptions<'a> {
    // Honours http.proxy and the usual *_proxy variables, as git does.
    let mut options = ProxyOptions::new();
    options.auto();
    options
}

/// The status of libgit2's "unexpected http status code: 404" and
/// "proxy returned unexpected status: 502" messages.
pub(super) fn http_status(message: &str) -> Option<u16> {
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

/// `text` with each `%XX` replaced by the byte it encodes; a `%` not
/// followed by two hex digits is kept as it is.
pub fn percent_decode(text: &str) -> String {
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
mod tests;
