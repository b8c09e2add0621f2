//! Sending a forge's API calls: over HTTP(S) with a token, retrying what a
//! retry can fix and naming what it cannot, or not at all (a dry run that
//! prints each call). Every loop and buffer here is bounded: attempts, the
//! wait between them, the wait a rate limit may ask for, and the size of an
//! answer that is read.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::ForgeError;

/// Attempts of one call when the forge fails with 5xx or does not answer.
pub const MAX_ATTEMPTS: u32 = 4;
/// The longest answer read; anything longer is refused, so a forge (or
/// whatever answers at its address) cannot make the operator buffer more.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The longest wait a rate limit may ask for; a longer one is cut to this,
/// and the step tries again then.
pub const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(3600);
/// How much of a forge's error text goes into a message.
const MAX_DETAIL_CHARS: usize = 300;

/// An HTTP method the forges' APIs use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Read.
    Get,
    /// Create.
    Post,
    /// Replace.
    Put,
    /// Change.
    Patch,
    /// Remove.
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// One API request, as a forge module builds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiCall {
    /// The method.
    pub method: Method,
    /// The path below the API's base URL, query included, e.g. `/repos/o/r`.
    pub path: String,
    /// The JSON body, if any.
    pub body: Option<Value>,
    /// What the call does, for messages: `create repository acme/app`.
    pub what: String,
    /// The permission the call needs, for a 401/403's message.
    pub permission: String,
    /// Whether a 5xx or a call that got no answer is sent again. Off for
    /// a call that must not take effect twice and that GitHub cannot
    /// recognise afterwards (a workflow dispatch): its failure goes to the
    /// step, whose next attempt looks for the effect first.
    pub resend: bool,
}

impl ApiCall {
    /// A call without a body.
    pub fn new(method: Method, path: String, what: String, permission: &str) -> Self {
        ApiCall {
            method,
            path,
            body: None,
            what,
            permission: permission.to_string(),
            resend: true,
        }
    }

    /// The same call, never sent twice by the transport.
    pub fn sent_once(mut self) -> Self {
        self.resend = false;
        self
    }

    /// The same call with a JSON body.
    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// A forge's answer that is not a failure of the transport: any 2xx, and
/// the 4xx a forge module interprets (404, 409, 422, ...).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ApiResponse {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body; a body that is not JSON as a string; `null` if empty.
    pub body: Value,
    /// The path (below the API's base URL) of the next page of a list, from
    /// the `Link` header's `rel="next"`; only a link below the same base
    /// URL is followed, so the token never goes anywhere else.
    pub next: Option<String>,
}

impl ApiResponse {
    /// Whether the call succeeded.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The forge's own words about a failure, for a message: its `message`
    /// field, or the start of the body.
    pub fn detail(&self) -> String {
        let text = match &self.body {
            Value::Null => return String::new(),
            Value::String(s) => s.clone(),
            other => other
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| other.to_string(), str::to_string),
        };
        let text: String = text.trim().chars().take(MAX_DETAIL_CHARS).collect();
        if text.is_empty() {
            String::new()
        } else {
            format!(": {text}")
        }
    }
}

/// Sends API calls.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// The forge's host, for messages.
    fn host(&self) -> &str;
    /// Sends `call`; 401, 403, 429, 5xx and timeouts come back as errors.
    async fn send(&self, call: &ApiCall) -> Result<ApiResponse, ForgeError>;
}

/// The error for `call` that `response` refused, with the forge's own
/// words read by `detail`.
pub fn refused(
    host: &str,
    call: &ApiCall,
    response: &ApiResponse,
    detail: fn(&ApiResponse) -> String,
) -> ForgeError {
    ForgeError::Refused {
        host: host.to_string(),
        call: call.what.clone(),
        status: response.status,
        detail: detail(response),
    }
}

/// Sends `call`; a non-2xx answer is refused, except 404 when `missing`
/// says what it means.
pub async fn expect_ok<T: Transport>(
    transport: &T,
    call: &ApiCall,
    missing: Option<String>,
    detail: fn(&ApiResponse) -> String,
) -> Result<Value, ForgeError> {
    let response = transport.send(call).await?;
    match (response.status, missing) {
        (_, _) if response.ok() => Ok(response.body),
        (404, Some(missing)) => Err(ForgeError::NotFound(format!("{}: {missing}", transport.host()))),
        _ => Err(refused(transport.host(), call, &response, detail)),
    }
}

/// Calls over HTTP(S) with a token.
pub struct HttpTransport {
    client: reqwest::Client,
    api_url: String,
    host: String,
    token: String,
    /// How the token is presented: `token` (Gitea, GitHub) or `Bearer`
    /// (GitLab, whose personal, project, group and OAuth tokens all go so).
    scheme: &'static str,
    /// The first wait between attempts; it doubles after each.
    pub retry_delay: Duration,
}

impl std::fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpTransport")
            .field("api_url", &self.api_url)
            .field("token", &"***")
            .finish()
    }
}

impl HttpTransport {
    /// A transport to the API at `api_url` (e.g. `https://gitea.example/api/v1`)
    /// that authenticates with `token`.
    pub fn new(api_url: &str, token: &str) -> Result<Self, ForgeError> {
        let parsed = url::Url::parse(api_url)
            .map_err(|e| ForgeError::Invalid(format!("apiUrl {api_url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ForgeError::Invalid(format!(
                "apiUrl {api_url:?} must be http:// or https://"
            )));
        }
        let host = match parsed.port() {
            Some(port) => format!("{}:{port}", parsed.host_str().unwrap_or_default()),
            None => parsed.host_str().unwrap_or_default().to_string(),
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            // A redirect could carry the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("goldpath/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ForgeError::Invalid(format!("cannot make an HTTP client: {e}")))?;
        Ok(HttpTransport {
            client,
            api_url: api_url.trim_end_matches('/').to_string(),
            host,
            token: token.to_string(),
            scheme: "token",
            retry_delay: Duration::from_millis(500),
        })
    }

    /// The same transport presenting its token as `scheme <token>`.
    pub fn with_scheme(mut self, scheme: &'static str) -> Self {
        self.scheme = scheme;
        self
    }

    /// One attempt: the answer, or why there was none.
    async fn attempt(&self, call: &ApiCall) -> Result<(u16, reqwest::header::HeaderMap, Value), String> {
        let method = match call.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        };
        let mut request = self
            .client
            .request(method, format!("{}{}", self.api_url, call.path))
            .header(
                reqwest::header::AUTHORIZATION,
                format!("{} {}", self.scheme, self.token),
            )
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        // reqwest's errors name the URL, which carries no credential.
        let mut response = request.send().await.map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? {
            if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(format!("the answer is larger than {MAX_BODY_BYTES} bytes"));
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Ok((status, headers, body))
    }
}

impl Transport for HttpTransport {
    fn host(&self) -> &str {
        &self.host
    }

    async fn send(&self, call: &ApiCall) -> Result<ApiResponse, ForgeError> {
        let mut last = String::new();
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(self.retry_delay * 2u32.pow(attempt - 1)).await;
            }
            let (status, headers, body) = match self.attempt(call).await {
                Ok(answer) => answer,
                Err(detail) if call.resend => {
                    last = detail;
                    continue;
                }
                Err(detail) => {
                    return Err(ForgeError::Unavailable {
                        host: self.host.clone(),
                        call: call.what.clone(),
                        detail: format!("{detail} (not sent again)"),
                    });
                }
            };
            let response = ApiResponse {
                status,
                body,
                next: next_page(&headers, &self.api_url),
            };
            if let Some(wait) = rate_limit_wait(status, &headers, SystemTime::now()) {
                return Err(ForgeError::RateLimited {
                    host: self.host.clone(),
                    call: call.what.clone(),
                    wait,
                });
            }
            match status {
                500..=599 if !call.resend => {
                    return Err(ForgeError::Unavailable {
                        host: self.host.clone(),
                        call: call.what.clone(),
                        detail: format!("{status}{} (not sent again)", response.detail()),
                    });
                }
                401 | 403 => {
                    return Err(ForgeError::Denied {
                        host: self.host.clone(),
                        call: call.what.clone(),
                        status,
                        permission: permission_needed(call, &headers),
                        detail: response.detail(),
                    });
                }
                500..=599 => last = format!("{status}{}", response.detail()),
                _ => return Ok(response),
            }
        }
        Err(ForgeError::Unavailable {
            host: self.host.clone(),
            call: call.what.clone(),
            detail: format!("{last} (tried {MAX_ATTEMPTS} times)"),
        })
    }
}

/// The permission a refused call needs: what goldpath knows it needs, and
/// what the forge says it accepts (GitHub's
/// `X-Accepted-GitHub-Permissions`, e.g. `administration=write`).
fn permission_needed(call: &ApiCall, headers: &reqwest::header::HeaderMap) -> String {
    match headers
        .get("x-accepted-github-permissions")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        Some(accepted) => {
            let accepted: String = accepted.chars().take(MAX_DETAIL_CHARS).collect();
            format!("{} (GitHub accepts: {accepted})", call.permission)
        }
        None => call.permission.clone(),
    }
}

/// The `rel="next"` link of a `Link` header (GitHub's and Gitea's paging),
/// as a path below `api_url`; `None` for the last page, or a link anywhere
/// else.
pub fn next_page(headers: &reqwest::header::HeaderMap, api_url: &str) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|param| param.trim().replace(' ', "") == "rel=\"next\"");
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let path = target.strip_prefix(api_url)?;
        (is_next && path.starts_with('/')).then(|| path.to_string())
    })
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        error.to_string()
    }
}

/// How long a rate-limited answer asks to wait: 429, or 403 with no
/// requests left (GitHub's primary limit) or with `Retry-After` (its
/// secondary limit), by `Retry-After` seconds or the `X-RateLimit-Reset`
/// (GitLab: `RateLimit-Reset`) epoch second, one minute when it says
/// neither; at most
/// [`MAX_RATE_LIMIT_WAIT`]. `None` for any other answer.
pub fn rate_limit_wait(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let exhausted = header("x-ratelimit-remaining") == Some(0);
    let asked = header("retry-after").is_some();
    if status != 429 && !(status == 403 && (exhausted || asked)) {
        return None;
    }
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let wait = header("retry-after")
        .or_else(|| {
            header("x-ratelimit-reset")
                .or_else(|| header("ratelimit-reset"))
                .map(|reset| reset.saturating_sub(now))
        })
        .unwrap_or(60)
        .max(1);
    Some(Duration::from_secs(wait).min(MAX_RATE_LIMIT_WAIT))
}

/// A transport that sends nothing: it records each call and answers as a
/// forge would where nothing exists yet (a read finds nothing but the
/// namespace a GitLab project is made in, a write succeeds), for
/// `goldpath scaffold --forge-dry-run`.
#[derive(Debug)]
pub struct DryRun {
    host: String,
    api_url: String,
    calls: Mutex<Vec<String>>,
}

impl DryRun {
    /// A dry run of the API at `api_url`.
    pub fn new(host: &str, api_url: &str) -> Self {
        DryRun {
            host: host.to_string(),
            api_url: api_url.trim_end_matches('/').to_string(),
            calls: Mutex::new(Vec::new()),
        }
    }

    /// Records a step taken between calls (a push), in its place among them.
    pub fn note(&self, line: String) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(line);
        }
    }

    /// The calls made so far, one line each: method, URL, body.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|calls| calls.clone()).unwrap_or_default()
    }
}

/// `body` as printed: a `secret` (a webhook's) is a credential, shown as
/// `***`.
fn masked(body: &Value) -> Value {
    match body {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| {
                    let value = if key == "secret" {
                        json!("***")
                    } else {
                        masked(value)
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

impl Transport for DryRun {
    fn host(&self) -> &str {
        &self.host
    }

    async fn send(&self, call: &ApiCall) -> Result<ApiResponse, ForgeError> {
        let line = match &call.body {
            Some(body) => format!(
                "{} {}{} {}",
                call.method.as_str(),
                self.api_url,
                call.path,
                masked(body)
            ),
            None => format!("{} {}{}", call.method.as_str(), self.api_url, call.path),
        };
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(line);
        }
        Ok(match call.method {
            // GitLab makes a project in a namespace that must be there
            // already: a dry run takes the one named to be.
            Method::Get if call.path.starts_with("/namespaces/") => ApiResponse {
                status: 200,
                body: json!({"id": 0, "kind": "group"}),
                next: None,
            },
            Method::Get => ApiResponse {
                status: 404,
                ..ApiResponse::default()
            },
            _ => ApiResponse {
                status: 201,
                body: call.body.clone().unwrap_or_else(|| json!({})),
                next: None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on loopback that answers each connection with the next of
    /// `answers` (raw HTTP responses) and counts the requests.
    async fn scripted(answers: Vec<String>) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            for answer in answers {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut buffer = vec![0u8; 65536];
                let _ = stream.read(&mut buffer).await;
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            }
        });
        (format!("http://{address}/api/v1"), count)
    }

    fn answer(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}\r\n{body}",
            body.len()
        )
    }

    fn call() -> ApiCall {
        ApiCall::new(
            Method::Post,
            "/orgs/acme/repos".into(),
            "create repository acme/app".into(),
            "write:organization",
        )
        .with_body(json!({"name": "app"}))
    }

    fn transport(url: &str) -> HttpTransport {
        let mut transport = HttpTransport::new(url, "s3cr3t-token").unwrap();
        transport.retry_delay = Duration::from_millis(1);
        transport
    }

    #[tokio::test]
    async fn server_errors_are_retried_a_bounded_number_of_times() {
        let (url, count) = scripted(vec![
            answer("503 Service Unavailable", "", ""),
            answer("502 Bad Gateway", "", ""),
            answer("201 Created", "", r#"{"name":"app"}"#),
        ])
        .await;
        let response = transport(&url).send(&call()).await.unwrap();
        assert_eq!(response.status, 201);
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);

        let always = (0..10)
            .map(|_| answer("500 Internal Server Error", "", r#"{"message":"db locked"}"#))
            .collect();
        let (url, count) = scripted(always).await;
        let error = transport(&url).send(&call()).await.unwrap_err();
        assert_eq!(
            count.load(std::sync::atomic::Ordering::SeqCst),
            MAX_ATTEMPTS as usize
        );
        assert!(error.is_transient());
        let message = error.to_string();
        assert!(message.contains("create repository acme/app"), "{message}");
        assert!(message.contains("db locked"), "{message}");
    }

    #[tokio::test]
    async fn a_refusal_names_the_host_the_call_and_the_permission_and_never_the_token() {
        let (url, _) = scripted(vec![answer(
            "403 Forbidden",
            "",
            r#"{"message":"token does not have scope"}"#,
        )])
        .await;
        let error = transport(&url).send(&call()).await.unwrap_err();
        assert!(!error.is_transient());
        let message = error.to_string();
        let host = url.trim_start_matches("http://").trim_end_matches("/api/v1");
        for part in [
            host,
            "create repository acme/app",
            "write:organization",
            "token does not have scope",
        ] {
            assert!(message.contains(part), "{part:?} missing from {message}");
        }
        assert!(!message.contains("s3cr3t-token"), "{message}");
    }

    #[tokio::test]
    async fn a_refusal_names_the_permission_github_says_it_accepts() {
        let (url, _) = scripted(vec![answer(
            "403 Forbidden",
            "x-accepted-github-permissions: administration=write\r\n",
            r#"{"message":"Resource not accessible by personal access token"}"#,
        )])
        .await;
        let message = transport(&url).send(&call()).await.unwrap_err().to_string();
        assert!(
            message.contains("write:organization (GitHub accepts: administration=write)"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_rate_limit_is_reported_with_its_wait_not_retried_at_once() {
        let (url, count) = scripted(vec![answer("429 Too Many Requests", "retry-after: 42\r\n", "")]).await;
        let error = transport(&url).send(&call()).await.unwrap_err();
        assert_eq!(error.retry_after(), Some(Duration::from_secs(42)));
        assert!(error.is_transient());
        assert!(error.to_string().contains("waiting 42s"), "{error}");
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_answer_larger_than_the_bound_is_not_read_whole() {
        let big = "x".repeat(MAX_BODY_BYTES + 10);
        let answers = (0..MAX_ATTEMPTS).map(|_| answer("200 OK", "", &big)).collect();
        let (url, _) = scripted(answers).await;
        let error = transport(&url).send(&call()).await.unwrap_err();
        assert!(error.to_string().contains("larger than"), "{error}");
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn a_rate_limit_waits_as_long_as_the_forge_says_and_no_longer_than_an_hour() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            rate_limit_wait(429, &headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            rate_limit_wait(
                403,
                &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1000030")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            rate_limit_wait(429, &headers(&[("retry-after", "999999")]), now),
            Some(MAX_RATE_LIMIT_WAIT)
        );
        assert_eq!(
            rate_limit_wait(429, &HeaderMap::new(), now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            rate_limit_wait(403, &headers(&[("x-ratelimit-remaining", "5")]), now),
            None
        );
        assert_eq!(rate_limit_wait(500, &headers(&[("retry-after", "7")]), now), None);
        // GitLab's 429 names its reset without the X- prefix.
        assert_eq!(
            rate_limit_wait(429, &headers(&[("ratelimit-reset", "1000090")]), now),
            Some(Duration::from_secs(90))
        );
        // GitHub's secondary limit: 403 with Retry-After, requests left.
        assert_eq!(
            rate_limit_wait(
                403,
                &headers(&[("x-ratelimit-remaining", "4000"), ("retry-after", "60")]),
                now
            ),
            Some(Duration::from_secs(60))
        );
    }

    #[test]
    fn only_a_next_page_below_the_api_url_is_followed() {
        let api = "https://ghe.example/api/v3";
        let link = |value: &str| headers(&[("link", value)]);
        assert_eq!(
            next_page(
                &link(
                    "<https://ghe.example/api/v3/repos/a/b/hooks?per_page=100&page=2>; rel=\"next\", \
                     <https://ghe.example/api/v3/repos/a/b/hooks?per_page=100&page=5>; rel=\"last\""
                ),
                api
            ),
            Some("/repos/a/b/hooks?per_page=100&page=2".to_string())
        );
        // The last page, a link to another host or outside the API, none.
        for value in [
            "<https://ghe.example/api/v3/repos/a/b/hooks?page=1>; rel=\"first\"",
            "<https://elsewhere.example/api/v3/repos/a/b/hooks?page=2>; rel=\"next\"",
            "<https://ghe.example/api/v3.evil/x>; rel=\"next\"",
            "garbage",
        ] {
            assert_eq!(next_page(&link(value), api), None, "{value}");
        }
        assert_eq!(next_page(&HeaderMap::new(), api), None);
    }

    #[tokio::test]
    async fn a_dry_run_prints_a_webhooks_secret_masked() {
        let dry = DryRun::new("api.github.com", "https://api.github.com");
        let call = ApiCall::new(Method::Post, "/repos/a/b/hooks".into(), "hook".into(), "p")
            .with_body(json!({"config": {"url": "https://x", "secret": "hunter2"}}));
        dry.send(&call).await.unwrap();
        let line = &dry.calls()[0];
        assert!(
            !line.contains("hunter2") && line.contains(r#""secret":"***""#),
            "{line}"
        );
    }

    #[test]
    fn a_forge_error_text_is_cut_short() {
        let long = ApiResponse {
            status: 422,
            body: json!({"message": "x".repeat(10_000)}),
            ..ApiResponse::default()
        };
        assert_eq!(long.detail().len(), 2 + MAX_DETAIL_CHARS);
        let plain = ApiResponse {
            status: 500,
            body: Value::String("  boom \n".into()),
            ..ApiResponse::default()
        };
        assert_eq!(plain.detail(), ": boom");
        assert_eq!(
            ApiResponse {
                status: 404,
                body: Value::Null,
                ..ApiResponse::default()
            }
            .detail(),
            ""
        );
    }
}
