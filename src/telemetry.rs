//! What `goldpath run` tells the people who operate it: metrics in one
//! prometheus-client registry (served by the controller's HTTP endpoint),
//! and logs whose filter can be changed while the process runs.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use tracing::warn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, reload};

use crate::catalog::figures::Figures;

/// Labels naming a controller.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// `Template`, `ScaffoldRequest` or `CatalogEntity`.
    pub controller: String,
}

/// Labels of a reconcile that failed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// `Template`, `ScaffoldRequest` or `CatalogEntity`.
    pub controller: String,
    /// What kind of error, a small fixed set (e.g. `conflict`,
    /// `unreachable`), see `controller::Error::metric_label`.
    pub error: String,
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
    /// Reconciles that ended in an error, by controller and kind of error.
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    /// How long each reconcile took, by controller.
    pub reconcile_duration: Histograms<ControllerLabels>,
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
            reconcile_duration: Family::new_with_constructor(seconds),
            scaffold_requests: Family::default(),
            scaffold_duration: seconds(),
            step_duration: Family::new_with_constructor(seconds),
            git_push_duration: seconds(),
            catalog_status_writes: Counter::default(),
        }
    }
}

impl Metrics {
    /// Counts one reconcile of `controller`, and the kind of error it
    /// ended in, if it failed.
    pub fn reconciled(&self, controller: &str, error: Option<&str>) {
        let labels = ControllerLabels {
            controller: controller.to_string(),
        };
        self.reconciles.get_or_create(&labels).inc();
        if let Some(error) = error {
            let labels = ErrorLabels {
                controller: labels.controller,
                error: error.to_string(),
            };
            self.reconcile_errors.get_or_create(&labels).inc();
        }
    }

    /// Records that a reconcile of `controller` took `elapsed`.
    pub fn reconcile_took(&self, controller: &str, elapsed: Duration) {
        let labels = ControllerLabels {
            controller: controller.to_string(),
        };
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }
}

/// The catalog's figures, asked for at each scrape.
pub type FigureSource = Arc<dyn Fn() -> Figures + Send + Sync>;

/// The registry the endpoint serves.
pub struct Telemetry {
    registry: Registry,
}

impl Telemetry {
    /// Registers `metrics` and the catalog's figures under the `goldpath_` prefix.
    pub fn new(metrics: &Arc<Metrics>, figures: FigureSource) -> Telemetry {
        let mut registry = Registry::with_prefix("goldpath");
        registry.register(
            "reconciles",
            "Reconciles, by controller",
            metrics.reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that ended in an error, by controller and kind of error",
            metrics.reconcile_errors.clone(),
        );
        registry.register_with_unit(
            "reconcile_duration",
            "How long each reconcile took, by controller",
            Unit::Seconds,
            metrics.reconcile_duration.clone(),
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
        registry.register_collector(Box::new(CatalogFigures(figures)));
        Telemetry { registry }
    }

    /// The registry in OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            warn!(%error, "could not encode the metrics");
        }
        out
    }
}

/// The catalog's figures, computed at each scrape.
struct CatalogFigures(FigureSource);

impl std::fmt::Debug for CatalogFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogFigures").finish_non_exhaustive()
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
        let figures = (self.0)();
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

/// The log filter of this process, changeable while it runs (the HTTP
/// endpoint's `/loglevel`).
#[derive(Clone)]
pub struct LogLevel {
    handle: reload::Handle<EnvFilter, tracing_subscriber::Registry>,
}

impl LogLevel {
    /// A filter of `directives` (`RUST_LOG` syntax), and the layer that
    /// applies it.
    pub fn new(
        directives: &str,
    ) -> Result<(LogLevel, reload::Layer<EnvFilter, tracing_subscriber::Registry>), String> {
        let filter = parse_filter(directives)?;
        let (layer, handle) = reload::Layer::new(filter);
        Ok((LogLevel { handle }, layer))
    }

    /// The filter in use, as `RUST_LOG` would say it.
    pub fn current(&self) -> String {
        self.handle
            .with_current(ToString::to_string)
            .unwrap_or_else(|_| "(none: the logger is gone)".into())
    }

    /// Filters logs with `directives` (`RUST_LOG` syntax) from now on.
    pub fn set(&self, directives: &str) -> Result<(), String> {
        let filter = parse_filter(directives)?;
        self.handle
            .reload(filter)
            .map_err(|error| format!("cannot change the log filter: {error}"))
    }
}

fn parse_filter(directives: &str) -> Result<EnvFilter, String> {
    EnvFilter::builder()
        .parse(directives)
        .map_err(|error| format!("invalid log filter {directives:?}: {error}"))
}

/// Logs to stderr, as JSON lines when `json`, filtered by `RUST_LOG` (or
/// `default` without it, or when it does not parse); returns the handle that
/// changes the filter.
pub fn init_logs(default: &str, json: bool) -> Result<LogLevel, String> {
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|directives| parse_filter(directives).is_ok())
        .unwrap_or_else(|| default.to_string());
    let (level, filter) = LogLevel::new(&directives)?;
    let text = (!json).then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    let json = json.then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(text)
        .with(json)
        .try_init()
        .map_err(|error| format!("cannot install the logger: {error}"))?;
    Ok(level)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconciles_are_timed_and_errors_counted_by_kind() {
        let metrics = Arc::new(Metrics::default());
        let telemetry = Telemetry::new(&metrics, Arc::new(Figures::default));
        metrics.reconciled("Template", None);
        metrics.reconciled("Template", Some("conflict"));
        metrics.reconcile_took("Template", Duration::from_millis(20));
        metrics.reconcile_took("Template", Duration::from_secs(2));
        let text = telemetry.encode();
        for line in [
            "goldpath_reconciles_total{controller=\"Template\"} 2",
            "goldpath_reconcile_errors_total{controller=\"Template\",error=\"conflict\"} 1",
            "goldpath_reconcile_duration_seconds_count{controller=\"Template\"} 2",
            "goldpath_reconcile_duration_seconds_bucket{le=\"0.03\",controller=\"Template\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
