//! The operator's HTTP endpoint, for the people and the kubelet that watch
//! it:
//!
//! | path | what |
//! |---|---|
//! | `/metrics` | OpenMetrics text |
//! | `/healthz` | `200` while the process serves |
//! | `/readyz` | `200` once every catalog watch has listed its objects, `503` before |
//! | `/catalog.yaml` | every CatalogEntity as a Backstage entity, with relations, one YAML document each |
//! | `/loglevel` | `GET`: the log filter in use; `PUT` from the pod itself: a new one |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use super::Catalog;
use crate::telemetry::{LogLevel, Telemetry};

/// The longest log filter `PUT /loglevel` reads.
pub const LOG_FILTER_LIMIT: usize = 1024;

const TEXT: &str = "text/plain; charset=utf-8";

/// A response body: whole, or streamed as it is made.
type Reply = UnsyncBoxBody<Bytes, std::io::Error>;

/// How many bytes of `/catalog.yaml` are sent at a time, and how many such
/// chunks wait for a slow reader before the export waits for it.
const CHUNK: usize = 64 * 1024;
const CHUNKS_AHEAD: usize = 2;

/// What the endpoint serves.
pub struct Endpoint {
    /// The metrics.
    pub telemetry: Telemetry,
    /// The catalog, for `/readyz` and `/catalog.yaml`.
    pub catalog: Arc<Catalog>,
    /// The log filter, when this process installed one.
    pub log_level: Option<LogLevel>,
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Reply> {
    with_type(
        status,
        content_type,
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed_unsync(),
    )
}

fn with_type(status: StatusCode, content_type: &str, body: Reply) -> Response<Reply> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

impl Endpoint {
    async fn respond<B>(&self, request: Request<B>, peer: SocketAddr) -> Response<Reply>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        if request.uri().path() == "/loglevel" {
            return log_level(self.log_level.as_ref(), request, peer).await;
        }
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                TEXT,
                "only GET, and PUT to /loglevel\n".into(),
            );
        }
        match request.uri().path() {
            "/metrics" => reply(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                self.telemetry.encode(),
            ),
            "/healthz" => reply(StatusCode::OK, TEXT, "ok\n".into()),
            "/readyz" if self.catalog.is_synced() => reply(StatusCode::OK, TEXT, "ok\n".into()),
            "/readyz" => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                "the catalog has not listed every object yet\n".into(),
            ),
            "/catalog.yaml" => with_type(
                StatusCode::OK,
                "application/yaml; charset=utf-8",
                catalog_yaml(self.catalog.entities()),
            ),
            _ => reply(
                StatusCode::NOT_FOUND,
                TEXT,
                "not found; try /metrics, /healthz, /readyz, /catalog.yaml or /loglevel\n".into(),
            ),
        }
    }
}

/// `/catalog.yaml`, streamed: the documents are written on a blocking
/// thread into chunks sent as the client reads them, so serving a large
/// catalog holds a few chunks, not the whole text. A failure part way ends
/// the body with an error, which the client sees as a broken response
/// rather than a short catalog.
fn catalog_yaml(entities: Vec<Arc<crate::catalog::cached::CachedEntity>>) -> Reply {
    let (chunks, mut receiver) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
    tokio::task::spawn_blocking(move || {
        let mut writer = ChunkWriter {
            chunk: Vec::with_capacity(CHUNK),
            chunks,
        };
        let written = crate::catalog::backstage::export(&entities, &mut writer).and_then(|()| writer.send());
        if let Err(error) = written {
            // Gone when the client went away; then nobody is left to tell.
            let _ = writer.chunks.blocking_send(Err(error));
        }
    });
    let stream = futures::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    StreamBody::new(futures::StreamExt::map(stream, |chunk| chunk.map(Frame::data))).boxed_unsync()
}

/// Collects what is written into chunks of [`CHUNK`] bytes and sends each,
/// waiting while the client has [`CHUNKS_AHEAD`] unread.
struct ChunkWriter {
    chunk: Vec<u8>,
    chunks: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        self.chunks
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.chunk.extend_from_slice(bytes);
        if self.chunk.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// `/loglevel`: `GET` answers the filter in use, `PUT` sets the one in the
/// body, only from the pod itself (`kubectl port-forward` arrives on
/// loopback), since a `trace` filter from anyone who reaches the port would
/// fill the logs.
async fn log_level<B>(level: Option<&LogLevel>, request: Request<B>, peer: SocketAddr) -> Response<Reply>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let Some(level) = level else {
        return no_log_level();
    };
    match *request.method() {
        Method::GET | Method::HEAD => return reply(StatusCode::OK, TEXT, format!("{}\n", level.current())),
        Method::PUT => {}
        _ => return reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "GET or PUT\n".into()),
    }
    if !peer.ip().is_loopback() {
        return reply(
            StatusCode::FORBIDDEN,
            TEXT,
            "the log level is changed only from the pod itself, e.g. through kubectl port-forward\n".into(),
        );
    }
    let Ok(body) = Limited::new(request.into_body(), LOG_FILTER_LIMIT)
        .collect()
        .await
    else {
        return reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            TEXT,
            format!("a log filter is at most {LOG_FILTER_LIMIT} bytes\n"),
        );
    };
    let body = body.to_bytes();
    let Ok(filter) = std::str::from_utf8(&body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            TEXT,
            "the log filter is not UTF-8\n".into(),
        );
    };
    match level.set(filter.trim()) {
        Ok(()) => {
            info!(filter = %level.current(), "log filter changed");
            reply(StatusCode::OK, TEXT, format!("{}\n", level.current()))
        }
        Err(error) => reply(StatusCode::BAD_REQUEST, TEXT, format!("{error}\n")),
    }
}

fn no_log_level() -> Response<Reply> {
    reply(
        StatusCode::NOT_FOUND,
        TEXT,
        "this process did not install a log filter it can change\n".into(),
    )
}

/// Serves the endpoint on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>) {
    if let Ok(address) = listener.local_addr() {
        info!(%address, "serving /metrics, /healthz, /readyz, /catalog.yaml and /loglevel");
    }
    loop {
        let (stream, peer): (_, SocketAddr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "could not accept a connection");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let endpoint = endpoint.clone();
                async move { Ok::<_, Infallible>(endpoint.respond(request, peer).await) }
            });
            // The timer turns on hyper's limit on reading a request's headers.
            if let Err(error) = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);

    async fn call(level: &LogLevel, method: Method, body: &str, peer: SocketAddr) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri("/loglevel")
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let response = log_level(Some(level), request, peer).await;
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    fn entities(count: usize) -> Vec<Arc<crate::catalog::cached::CachedEntity>> {
        (0..count)
            .map(|i| {
                let entity = serde_json::json!({
                    "apiVersion": "goldpath.dev/v1alpha1", "kind": "CatalogEntity",
                    "metadata": {"name": format!("c-{i}"), "namespace": "default"},
                    "spec": {"kind": "Component", "type": "service", "lifecycle": "production", "owner": "g"},
                });
                let entity: crate::api::CatalogEntity = serde_json::from_value(entity).unwrap();
                Arc::new(entity.into())
            })
            .collect()
    }

    #[tokio::test]
    async fn the_catalog_is_served_in_chunks_holding_the_whole_export() {
        let entities = entities(3000);
        let mut whole = Vec::new();
        crate::catalog::backstage::export(&entities, &mut whole).unwrap();
        let mut body = catalog_yaml(entities);
        let mut served = Vec::new();
        let mut chunks = 0;
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            assert!(data.len() < 2 * CHUNK, "{}", data.len());
            served.extend_from_slice(&data);
            chunks += 1;
        }
        assert!(chunks > 2, "{chunks} chunks of {} bytes", whole.len());
        assert_eq!(served, whole);
    }

    #[tokio::test]
    async fn a_client_going_away_stops_the_export() {
        let entities = entities(3000);
        let first = entities[0].clone();
        let mut body = catalog_yaml(entities);
        assert!(body.frame().await.is_some());
        drop(body);
        // The export lets go of the entities once its next send fails.
        for _ in 0..1000 {
            if Arc::strong_count(&first) == 1 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the export went on after the client went away");
    }

    #[tokio::test]
    async fn the_log_level_changes_while_the_process_runs() {
        let (level, layer) = LogLevel::new("info").unwrap();
        let subscriber = tracing_subscriber::registry().with(layer);
        let _installed = tracing::subscriber::set_default(subscriber);
        assert!(!tracing::enabled!(tracing::Level::DEBUG));
        assert_eq!(
            call(&level, Method::GET, "", LOOPBACK).await,
            (StatusCode::OK, "info\n".into())
        );

        let (status, body) = call(&level, Method::PUT, "debug,kube=warn\n", LOOPBACK).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "kube=warn,debug\n"));
        assert!(tracing::enabled!(tracing::Level::DEBUG));
        assert!(!tracing::enabled!(target: "kube::client", tracing::Level::INFO));

        let (status, body) = call(&level, Method::PUT, "debug=what", LOOPBACK).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("invalid log filter"), "{body}");
        assert!(
            tracing::enabled!(tracing::Level::DEBUG),
            "a bad filter changes nothing"
        );
    }

    #[tokio::test]
    async fn only_the_pod_itself_changes_the_log_level() {
        let (level, _layer) = LogLevel::new("info").unwrap();
        let elsewhere: SocketAddr = "10.0.0.7:40000".parse().unwrap();
        let (status, _) = call(&level, Method::PUT, "trace", elsewhere).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(level.current(), "info");
        let (status, _) = call(&level, Method::GET, "", elsewhere).await;
        assert_eq!(status, StatusCode::OK, "anyone may read it");
        let (status, _) = call(&level, Method::DELETE, "", LOOPBACK).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn a_log_filter_is_read_up_to_its_limit() {
        let (level, _layer) = LogLevel::new("info").unwrap();
        let (status, _) = call(&level, Method::PUT, &"a".repeat(LOG_FILTER_LIMIT + 1), LOOPBACK).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(level.current(), "info");
        let longest = format!("{}=debug", "a".repeat(LOG_FILTER_LIMIT - "=debug".len()));
        let (status, body) = call(&level, Method::PUT, &longest, LOOPBACK).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
