//! The portal API: Backstage's own REST routes, served from goldpath's
//! resources on a listener of its own (`goldpath run --api-addr`, off by
//! default, TLS from files), so an unchanged Backstage or Red Hat Developer
//! Hub portal reads goldpath's catalog.
//!
//! Every call goes through [`Portal::respond`], in this order: CORS
//! ([`cors`]), the caller verified ([`identity`]: TokenReview, and
//! impersonation only where a SubjectAccessReview allows it), the body
//! read up to [`BODY_LIMIT`], the route, then the audit line of a call
//! that may write ([`audit`]). A route authorizes what it touches with
//! [`Portal::require`] (a SubjectAccessReview for the caller).
//!
//! Routes live one module per Backstage plugin, under `/api/<plugin>/`:
//! `catalog` serves `/api/catalog/...`, `scaffolder` `/api/scaffolder/...`. Another plugin's routes are a
//! module beside it with `pub async fn route(portal: &Portal, call:
//! &Call<'_>) -> Reply` and one line in [`Portal::route`].

pub mod audit;
mod catalog;
pub mod cors;
pub mod identity;
pub mod params;
pub mod reply;
mod scaffolder;
pub mod tls;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use kube::Client;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use crate::api::{ScaffoldRequest, Template};
use crate::catalog::cached::CachedEntity;
use crate::tenancy::review::Permission;
use cors::Cors;
use identity::{Authenticator, Caller};
use reply::Reply;

/// The largest request body read (a JSON entity, a task's parameters).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How many connections are served at once; more wait to be accepted.
pub const CONNECTION_LIMIT: usize = 512;
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the portal API reads goldpath's resources: the stores the
/// controllers keep, so a call costs no request to the API server beyond
/// its reviews.
pub trait Source: Send + Sync {
    /// Every CatalogEntity.
    fn entities(&self) -> Vec<Arc<CachedEntity>>;
    /// Every Template.
    fn templates(&self) -> Vec<Arc<Template>>;
    /// Every ScaffoldRequest, with its status as last seen.
    fn requests(&self) -> Vec<Arc<ScaffoldRequest>>;
}

/// The portal API.
pub struct Portal {
    /// The API server, as goldpath.
    pub client: Client,
    /// goldpath's resources.
    pub source: Arc<dyn Source>,
    /// goldpath's configuration: the forges autocomplete may call.
    pub config: crate::config::Config,
    authenticator: Authenticator,
    cors: Cors,
    /// What the scaffolder routes bound across calls: event streams open,
    /// dry runs rendering.
    scaffolder: scaffolder::Shared,
}

/// One verified call, as a route sees it.
pub struct Call<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path after `/api/<plugin>`, e.g. `/entities/by-name/component/default/web`.
    pub path: &'a str,
    /// The query, without `?`; empty when there is none.
    pub query: &'a str,
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// Who calls.
    pub caller: &'a Caller,
    /// The body, at most [`BODY_LIMIT`] bytes.
    pub body: Bytes,
}

impl Call<'_> {
    /// The path's segments, each percent-decoded: Backstage's clients
    /// encode what they put in a path (a task id's `:` is sent as `%3A`).
    pub fn segments(&self) -> Vec<String> {
        self.path
            .trim_start_matches('/')
            .split('/')
            .map(crate::git::percent_decode)
            .collect()
    }
}

impl Portal {
    /// The portal API over `source`, reviewing with `client`, allowing
    /// browser calls from `cors_origins`.
    pub fn new(client: Client, source: Arc<dyn Source>, cors_origins: &[String]) -> Portal {
        Portal {
            authenticator: Authenticator::new(client.clone()),
            client,
            source,
            config: crate::config::Config::default(),
            cors: Cors::new(cors_origins),
            scaffolder: scaffolder::Shared::default(),
        }
    }

    /// The same portal with goldpath's configuration (the forges
    /// autocomplete may call).
    pub fn with_config(self, config: crate::config::Config) -> Portal {
        Portal { config, ..self }
    }

    /// Succeeds when `caller` may do `permission`; otherwise the answer
    /// that refuses the call (`403`, or `503` when the API server cannot be
    /// asked).
    pub async fn require(&self, caller: &Caller, permission: &Permission<'_>) -> Result<(), Reply> {
        self.authenticator.require(caller, permission).await
    }

    /// Whether `caller` may do `permission`.
    pub async fn allowed(&self, caller: &Caller, permission: &Permission<'_>) -> Result<bool, Reply> {
        self.authenticator.allowed(&caller.user, permission).await
    }

    /// Answers one request.
    pub async fn respond<B>(&self, request: Request<B>) -> Response<reply::Body>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let method = request.method().clone();
        let url = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        let preflight = method == Method::OPTIONS;
        // The request is consumed by its route; CORS needs its `Origin` after.
        let origin = request.headers().get(hyper::header::ORIGIN).cloned();
        let (reply, caller) = if self.cors.refuses(request.headers()) {
            let reply = Reply::error(
                StatusCode::FORBIDDEN,
                "this page's origin may not call goldpath's API; list it in the configuration's \
                 portal.corsOrigins",
            );
            (reply, None)
        } else if preflight {
            (Reply::no_content(), None)
        } else {
            self.verified(request).await
        };
        let status = reply.status;
        let mut response = reply.into_response(&method, &url);
        self.cors
            .decorate(origin.as_ref(), response.headers_mut(), preflight);
        if audit::audited(&method) {
            let path = url.split('?').next().unwrap_or_default();
            audit::record(caller.as_deref(), &method, path, status);
        }
        response
    }

    /// The answer to a request that passed CORS, and its verified caller.
    async fn verified<B>(&self, request: Request<B>) -> (Reply, Option<Arc<Caller>>)
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let caller = match self.authenticator.authenticate(request.headers()).await {
            Ok(caller) => caller,
            Err(reply) => return (reply, None),
        };
        let (parts, body) = request.into_parts();
        let body = match Limited::new(body, BODY_LIMIT).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                let reply = Reply::error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {BODY_LIMIT} bytes, or was cut off"),
                );
                return (reply, Some(caller));
            }
        };
        let call = Call {
            method: &parts.method,
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or_default(),
            headers: &parts.headers,
            caller: &caller,
            body,
        };
        (self.route(call).await, Some(caller))
    }

    /// The route of `call`, by the plugin its path names.
    async fn route(&self, call: Call<'_>) -> Reply {
        let Some((plugin, rest)) = call.path.strip_prefix("/api/").map(|p| {
            p.split_once('/')
                .map_or((p, ""), |(plugin, _)| (plugin, &p[plugin.len()..]))
        }) else {
            return Reply::not_found("goldpath serves Backstage's /api/catalog and /api/scaffolder routes");
        };
        let call = Call { path: rest, ..call };
        match plugin {
            "catalog" => catalog::route(self, &call).await,
            "scaffolder" => scaffolder::route(self, &call).await,
            _ => Reply::not_found(format!(
                "goldpath does not serve /api/{plugin}; it serves /api/catalog and /api/scaffolder"
            )),
        }
    }
}

/// Serves the portal API on `listener`, over TLS when `tls` is given,
/// until the task is dropped.
pub async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>, portal: Arc<Portal>) {
    if let Ok(address) = listener.local_addr() {
        let scheme = if tls.is_some() { "https" } else { "http" };
        info!(%address, scheme, "serving the portal API (/api/catalog, /api/scaffolder)");
    }
    let connections = Arc::new(Semaphore::new(CONNECTION_LIMIT));
    loop {
        let Ok(permit) = connections.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer): (_, SocketAddr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "could not accept a connection to the portal API");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let portal = portal.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(stream, peer, portal).await,
                Some(tls) => match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
                    Ok(Ok(stream)) => connection(stream, peer, portal).await,
                    Ok(Err(error)) => debug!(%peer, %error, "TLS handshake failed"),
                    Err(_) => debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
}

async fn connection<S>(stream: S, peer: SocketAddr, portal: Arc<Portal>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let portal = portal.clone();
        async move { Ok::<_, Infallible>(portal.respond(request).await) }
    });
    // The timer turns on hyper's limit on reading a request's headers.
    if let Err(error) = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        debug!(%peer, %error, "portal API connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Full};
    use hyper::header::{ACCESS_CONTROL_ALLOW_ORIGIN, AUTHORIZATION, ORIGIN, WWW_AUTHENTICATE};

    use super::*;

    struct Empty;

    impl Source for Empty {
        fn entities(&self) -> Vec<Arc<CachedEntity>> {
            Vec::new()
        }

        fn templates(&self) -> Vec<Arc<Template>> {
            Vec::new()
        }

        fn requests(&self) -> Vec<Arc<ScaffoldRequest>> {
            Vec::new()
        }
    }

    /// A portal whose API server does not answer: only what is decided
    /// before any review is asked can succeed.
    fn portal() -> Portal {
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = Client::try_from(config).unwrap();
        Portal::new(client, Arc::new(Empty), &["https://portal.example.com".into()])
    }

    async fn call(portal: &Portal, request: Request<Full<Bytes>>) -> (StatusCode, HeaderMap, String) {
        let response = portal.respond(request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    fn get(path: &str) -> hyper::http::request::Builder {
        Request::builder().method(Method::GET).uri(path)
    }

    #[test]
    fn each_path_segment_is_decoded_on_its_own() {
        let caller = Caller {
            user: crate::api::Requester {
                username: "jane".into(),
                ..Default::default()
            },
            portal: None,
        };
        let headers = HeaderMap::new();
        let call = Call {
            method: &Method::GET,
            path: "/v2/tasks/team-a%3Aweb/a%2Fb/100%",
            query: "",
            headers: &headers,
            caller: &caller,
            body: Bytes::new(),
        };
        assert_eq!(call.segments(), ["v2", "tasks", "team-a:web", "a/b", "100%"]);
    }

    #[tokio::test]
    async fn a_call_without_a_token_is_refused_before_any_route() {
        let portal = portal();
        let (status, headers, body) = call(
            &portal,
            get("/api/catalog/entities").body(Full::default()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[WWW_AUTHENTICATE], "Bearer");
        assert!(body.contains("AuthenticationError"), "{body}");
    }

    #[tokio::test]
    async fn a_token_that_cannot_be_verified_is_not_believed_and_not_repeated() {
        let portal = portal();
        let request = get("/api/catalog/entities")
            .header(AUTHORIZATION, "Bearer very-secret-token")
            .body(Full::default())
            .unwrap();
        let (status, _, body) = call(&portal, request).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(body.contains("TokenReview"), "{body}");
        assert!(!body.contains("very-secret-token"), "{body}");
        assert_eq!(
            portal.authenticator.cached_len(),
            0,
            "an unanswered review is not cached"
        );
    }

    #[tokio::test]
    async fn a_body_is_read_up_to_its_limit() {
        let portal = portal();
        let headers = {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, "Bearer known".parse().unwrap());
            headers
        };
        let caller = Arc::new(Caller {
            user: crate::api::Requester {
                username: "jane".into(),
                ..Default::default()
            },
            portal: None,
        });
        let key = identity::credentials(&headers).unwrap().key();
        portal.authenticator.remember(key, Ok(caller));
        let post = |size: usize| {
            Request::builder()
                .method(Method::POST)
                .uri("/api/catalog/validate-entity")
                .header(AUTHORIZATION, "Bearer known")
                .body(Full::new(Bytes::from(vec![b' '; size])))
                .unwrap()
        };
        let (status, _, body) = call(&portal, post(BODY_LIMIT + 1)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        let (status, _, body) = call(&portal, post(BODY_LIMIT)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "read, and not JSON: {body}");
        assert!(body.contains("not JSON"), "{body}");
    }

    #[tokio::test]
    async fn a_browser_preflight_is_answered_for_the_configured_origin_only() {
        let portal = portal();
        let preflight = |origin: &str| {
            Request::builder()
                .method(Method::OPTIONS)
                .uri("/api/catalog/entities")
                .header(ORIGIN, origin)
                .body(Full::default())
                .unwrap()
        };
        let (status, headers, _) = call(&portal, preflight("https://portal.example.com")).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "https://portal.example.com");

        let (status, headers, body) = call(&portal, preflight("https://evil.example.com")).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(headers.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert!(body.contains("portal.corsOrigins"), "{body}");

        // A refused call still carries the CORS headers, so the page can
        // read why.
        let request = get("/api/catalog/entities")
            .header(ORIGIN, "https://portal.example.com")
            .body(Full::default())
            .unwrap();
        let (status, headers, _) = call(&portal, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "https://portal.example.com");
    }
}
