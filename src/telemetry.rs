//! What `goldpath run` tells the people who operate it: metrics in one
//! prometheus-client registry, and the HTTP endpoint that serves them with
//! the health checks and the catalog as Backstage entity YAML.
//!
//! | path | what |
//! |---|---|
//! | `/metrics` | OpenMetrics text |
//! | `/healthz` | `200` while the process serves |
//! | `/readyz` | `200` once every catalog watch has listed its objects, `503` before |
//! | `/catalog.yaml` | every CatalogEntity as a Backstage entity, with relations, one YAML document each |

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use crate::controller::Catalog;

/// Labels naming a controller.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// `Template`, `ScaffoldRequest` or `CatalogEntity`.
    pub controller: String,
}

/// Labels of a finished ScaffoldRequest.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `namespace/name` of the Template.
    pub template: String,
    /// `Succeeded` or `Failed`.
    pub outcome: String,
}

/// Labels naming an action.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// e.g. `fetch:template`, `publish:github`.
    pub action: String,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric goldpath updates as it works. Catalog figures are read from
/// the catalog at scrape time instead (see [`Telemetry::new`]).
#[derive(Debug)]
pub struct Metrics {
    /// Reconciles, by controller.
    pub reconciles: Family<ControllerLabels, Counter>,
    /// Reconciles that ended in an error, by controller.
    pub reconcile_errors: Family<ControllerLabels, Counter>,
    /// ScaffoldRequests that finished, by template and outcome.
    pub scaffold_requests: Family<RequestLabels, Counter>,
    /// From a request's creation until it finished.
    pub scaffold_duration: Histogram,
    /// How long each step ran, by action.
    pub step_duration: Histograms<ActionLabels>,
    /// How long each push to a git server took.
    pub git_push_duration: Histogram,
    /// CatalogEntity status writes.
    pub catalog_status_writes: Counter,
}

fn seconds() -> Histogram {
    // 10 ms to about 10 minutes.
    Histogram::new(exponential_buckets(0.01, 3.0, 11))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            scaffold_requests: Family::default(),
            scaffold_duration: seconds(),
            step_duration: Family::new_with_constructor(seconds),
            git_push_duration: seconds(),
            catalog_status_writes: Counter::default(),
        }
    }
}

impl Metrics {
    /// Counts one reconcile of `controller`, and whether it failed.
    pub fn reconciled(&self, controller: &str, failed: bool) {
        let labels = ControllerLabels {
            controller: controller.to_string(),
        };
        self.reconciles.get_or_create(&labels).inc();
        if failed {
            self.reconcile_errors.get_or_create(&labels).inc();
        }
    }
}

/// The registry and what the endpoint reads.
pub struct Telemetry {
    registry: Registry,
    catalog: Arc<Catalog>,
}

impl Telemetry {
    /// Registers `metrics` and the catalog's figures under the `goldpath_` prefix.
    pub fn new(metrics: &Arc<Metrics>, catalog: Arc<Catalog>) -> Telemetry {
        let mut registry = Registry::with_prefix("goldpath");
        registry.register(
            "reconciles",
            "Reconciles, by controller",
            metrics.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error, by controller",
            metrics.reconcile_errors.clone(),
        );
        registry.register(
            "scaffold_requests",
            "ScaffoldRequests that finished, by template and outcome",
            metrics.scaffold_requests.clone(),
        );
        registry.register_with_unit(
            "scaffold_duration",
            "Time from a ScaffoldRequest's creation until it finished",
            Unit::Seconds,
            metrics.scaffold_duration.clone(),
        );
        registry.register_with_unit(
            "step_duration",
            "How long each scaffolder step ran, by action",
            Unit::Seconds,
            metrics.step_duration.clone(),
        );
        registry.register_with_unit(
            "git_push_duration",
            "How long each push to a git server took",
            Unit::Seconds,
            metrics.git_push_duration.clone(),
        );
        registry.register(
            "catalog_status_writes",
            "CatalogEntity status writes",
            metrics.catalog_status_writes.clone(),
        );
        registry.register_collector(Box::new(CatalogFigures(catalog.clone())));
        Telemetry { registry, catalog }
    }

    /// The registry in OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            warn!(%error, "could not encode the metrics");
        }
        out
    }

    fn respond(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let reply = |status: StatusCode, content_type: &str, body: String| {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            if let Ok(value) = content_type.parse() {
                response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
            }
            response
        };
        const TEXT: &str = "text/plain; charset=utf-8";
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "only GET\n".into());
        }
        match request.uri().path() {
            "/metrics" => reply(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                self.encode(),
            ),
            "/healthz" => reply(StatusCode::OK, TEXT, "ok\n".into()),
            "/readyz" if self.catalog.is_synced() => reply(StatusCode::OK, TEXT, "ok\n".into()),
            "/readyz" => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                TEXT,
                "the catalog has not listed every object yet\n".into(),
            ),
            "/catalog.yaml" => match crate::catalog::backstage::export(&self.catalog.entities()) {
                Ok(yaml) => reply(StatusCode::OK, "application/yaml; charset=utf-8", yaml),
                Err(error) => reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT, format!("{error}\n")),
            },
            _ => reply(
                StatusCode::NOT_FOUND,
                TEXT,
                "not found; try /metrics, /healthz, /readyz or /catalog.yaml\n".into(),
            ),
        }
    }
}

/// Serves `/metrics`, `/healthz`, `/readyz` and `/catalog.yaml` on `listener`
/// until the task is dropped.
pub async fn serve(listener: TcpListener, telemetry: Arc<Telemetry>) {
    if let Ok(address) = listener.local_addr() {
        info!(%address, "serving /metrics, /healthz, /readyz and /catalog.yaml");
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
        let telemetry = telemetry.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = telemetry.respond(&request);
                async move { Ok::<_, Infallible>(response) }
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

/// The catalog's figures, computed at each scrape.
#[derive(Debug)]
struct CatalogFigures(Arc<Catalog>);

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EntityLabels {
    kind: String,
    lifecycle: String,
    health: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UnownedLabels {
    kind: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

impl prometheus_client::collector::Collector for CatalogFigures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let figures = self.0.figures();
        let mut family = encoder.encode_descriptor(
            "catalog_entities",
            "CatalogEntities, by kind, lifecycle and health",
            None,
            MetricType::Gauge,
        )?;
        for ((kind, lifecycle, health), count) in &figures.entities {
            let labels = EntityLabels {
                kind: kind.to_string(),
                lifecycle: lifecycle.clone(),
                health: health.clone(),
            };
            ConstGauge::new(*count as i64).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "catalog_entities_unowned",
            "Entities that need an owner and have none that resolves, by kind and reason (missing, unresolved)",
            None,
            MetricType::Gauge,
        )?;
        for ((kind, why), count) in &figures.unowned {
            let labels = UnownedLabels {
                kind: kind.to_string(),
                reason: why.as_str().to_string(),
            };
            ConstGauge::new(*count as i64).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "catalog_entities_documented",
            "Entities with a backstage.io/techdocs-ref annotation, by kind",
            None,
            MetricType::Gauge,
        )?;
        for (kind, count) in &figures.documented {
            let labels = KindLabels {
                kind: kind.to_string(),
            };
            ConstGauge::new(*count as i64).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
