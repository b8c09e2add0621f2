//! The controllers `goldpath run` starts: Templates are resolved and
//! checked, ScaffoldRequests run their steps. Each reconciles from the
//! object's status, so an operator that restarts picks up where it stopped.

mod access;
mod catalog;
mod effects;
mod guard;
mod http;
mod instrumented;
mod leader;
mod request;
mod status;
mod template;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{PredicateConfig, WatchStreamExt, predicates, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{info, warn};

use crate::api::{ScaffoldRequest, Template};
use crate::config::Config;

pub use catalog::Catalog;
use instrumented::{Shared, instrumented};
pub use leader::{Leadership, LeaseOptions};

use crate::telemetry::{LogLevel, Metrics, Telemetry};

/// Field manager of everything goldpath writes with server-side apply.
pub const FIELD_MANAGER: &str = "goldpath";

/// What every reconcile shares.
pub struct Context {
    /// The API server.
    pub client: Client,
    /// The operator's configuration.
    pub config: Config,
    /// The operator's own namespace, where git credentials Secrets live.
    pub namespace: String,
    /// Where fetched template repositories are cached.
    pub git_cache: PathBuf,
    /// This process's name in Events.
    instance: String,
    /// Whether this replica may reconcile.
    leadership: Leadership,
    /// What the operator counts.
    pub metrics: Arc<Metrics>,
    templates: template::Cache,
    retries: Retries,
    /// What upgrades remember of each request between reconciles.
    upgrades: request::UpgradeMemos,
    /// GitHub App installation tokens, kept until shortly before expiry.
    pub app_tokens: crate::forge::github_app::TokenCache,
}

/// How many times in a row each object's work failed transiently, for its backoff.
#[derive(Default)]
struct Retries {
    counts: Mutex<HashMap<String, u32>>,
}

/// How many objects' retry counts are kept. An object deleted while
/// retrying leaves its count behind; past this many, all counts start over
/// (each object then waits 1 s once more), so deleted objects cannot grow
/// the map without bound.
const RETRIES_LIMIT: usize = 4096;

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

impl Retries {
    /// The delay before the next attempt at `key` after a transient
    /// failure: 1 s, doubling to a minute.
    fn next(&self, key: &str) -> Duration {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.len() >= RETRIES_LIMIT && !counts.contains_key(key) {
            counts.clear();
        }
        let attempt = counts.entry(key.to_string()).or_insert(0);
        *attempt = attempt.saturating_add(1);
        Duration::from_secs(1u64 << (*attempt - 1).min(6)).min(MAX_BACKOFF)
    }

    /// `key` succeeded (or failed for good): its next failure waits 1 s.
    fn reset(&self, key: &str) {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }
}

impl Context {
    /// Publishes an Event about `object`; `action` says which part of the
    /// work it is about (e.g. `Step publish`). See [`publish_event`].
    async fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        publish_event(
            &self.client,
            &self.instance,
            object.object_ref(&()),
            type_,
            reason,
            action,
            note,
        )
        .await;
    }

    /// The delay before the next attempt at `key` after a transient
    /// failure: 1 s, doubling to a minute.
    fn backoff(&self, key: &str) -> Duration {
        self.retries.next(key)
    }

    fn succeeded(&self, key: &str) {
        self.retries.reset(key);
    }
}

/// Publishes an Event about the object `regarding`. A failure to publish
/// is logged, not returned: Events are best effort. Events are written
/// directly, not kept to be counted as series, so the operator's memory
/// does not grow with the requests it has run.
async fn publish_event(
    client: &Client,
    instance: &str,
    regarding: ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let now = Timestamp::now();
    let namespace = regarding.namespace.clone().unwrap_or_else(|| "default".into());
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!(
                "{}.{:x}",
                regarding.name.as_deref().unwrap_or("goldpath"),
                now.as_nanosecond()
            )),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        action: Some(truncate(action.to_string(), 128)),
        reason: Some(reason.to_string()),
        note: Some(truncate(note, 1000)),
        type_: Some(match type_ {
            EventType::Normal => "Normal".into(),
            EventType::Warning => "Warning".into(),
        }),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding),
        reporting_controller: Some("goldpath".into()),
        reporting_instance: Some(instance.to_owned()),
        ..Event::default()
    };
    if let Err(error) = Api::<Event>::namespaced(client.clone(), &namespace)
        .create(&PostParams::default(), &event)
        .await
    {
        warn!(%error, reason, "could not publish an Event");
    }
}

fn truncate(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut end = limit.saturating_sub(3);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

/// Why a reconcile stopped early; it is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or could not be reached.
    #[error("{context}: {source}")]
    Kube {
        /// What was being done.
        context: String,
        /// The client's error.
        source: kube::Error,
    },
    /// A blocking task did not finish.
    #[error("a worker failed: {0}")]
    Worker(String),
}

impl Error {
    /// A small, fixed label for the kind of error, for the error counter:
    /// the API server's answer by class, or what failed before one came.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube {
                source: kube::Error::Api(status),
                ..
            } => match status.code {
                403 => "forbidden",
                404 => "not_found",
                409 => "conflict",
                422 => "invalid",
                429 => "throttled",
                500.. => "server_error",
                _ => "refused",
            },
            Error::Kube {
                source: kube::Error::SerdeError(_),
                ..
            } => "decode",
            Error::Kube {
                source: kube::Error::Discovery(_),
                ..
            } => "discovery",
            Error::Kube { .. } => "unreachable",
            Error::Worker(_) => "worker",
        }
    }
}

fn kube_error(context: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let context = context.into();
    move |source| Error::Kube { context, source }
}

/// Whether a failed API call may pass when tried again: the server could
/// not be reached, was overloaded or conflicted, rather than refusing the
/// request for what it says.
pub fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 409 | 429) || status.code >= 500,
        // Discovery that does not find a group, version or kind answers
        // what the cluster serves; retrying asks the same question again.
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) | kube::Error::Discovery(_) => false,
        _ => true,
    }
}

/// Options of `goldpath run` besides the configuration file.
pub struct RunOptions {
    /// The operator's namespace.
    pub namespace: String,
    /// Where to cache template repositories.
    pub git_cache: PathBuf,
    /// This process's name in Events, e.g. the pod name.
    pub instance: Option<String>,
    /// Watch only this namespace; `None` watches all.
    pub watch_namespace: Option<String>,
    /// Where to serve `/metrics`, `/healthz`, `/readyz` and `/catalog.yaml`.
    pub http_address: Option<std::net::SocketAddr>,
    /// Where to serve the portal API, and its TLS files; `None` serves none.
    pub api: Option<ApiOptions>,
    /// Elect a leader with this Lease; `None` reconciles without election.
    pub lease: Option<LeaseOptions>,
    /// The log filter `/loglevel` changes, when the caller installed one.
    pub log_level: Option<LogLevel>,
}

/// Where the portal API listens.
pub struct ApiOptions {
    /// The address.
    pub address: std::net::SocketAddr,
    /// The certificate and key; `None` serves plain HTTP.
    pub tls: Option<crate::portal::tls::TlsFiles>,
}

/// Runs the controllers until SIGTERM or SIGINT; then in-flight reconciles
/// finish and it returns. With a Lease, every replica watches and serves the
/// catalog and only the leader reconciles; losing the Lease ends the run
/// with an error.
pub async fn run(client: Client, config: Config, options: RunOptions) -> anyhow::Result<()> {
    let watch_namespace = options.watch_namespace.clone();
    let shutdown = shutdown_signal();
    let metrics = Arc::new(Metrics::default());
    // The Lease is released only once the controllers have stopped, so no
    // other replica starts on what this one is still finishing.
    let (stopped, controllers_stopped) = tokio::sync::oneshot::channel::<()>();
    let (leadership, election) = lead(&client, options.lease, &shutdown, controllers_stopped);
    let instance = options.instance.unwrap_or_else(|| "goldpath".into());
    let reporter = guard::Reporter::new(client.clone(), instance.clone(), leadership.clone());
    let (catalog, catalog_controller) = catalog::catalog(
        client.clone(),
        catalog::CatalogOptions {
            watch_namespace: watch_namespace.clone(),
            config: Arc::new(config.clone()),
            deadline: Duration::from_secs(config.catalog.progress_deadline_seconds),
            concurrency: config.concurrency,
        },
        metrics.clone(),
        leadership.clone(),
        reporter.clone(),
        shutdown.clone(),
    );
    let server = match options.http_address {
        Some(address) => Some(serve_http(address, &metrics, &catalog, options.log_level).await?),
        None => None,
    };
    let portal_config = config.clone();
    let context = Arc::new(Context {
        client: client.clone(),
        namespace: options.namespace,
        git_cache: options.git_cache,
        instance,
        leadership,
        metrics: metrics.clone(),
        templates: template::Cache::default(),
        retries: Retries::default(),
        upgrades: Default::default(),
        app_tokens: Default::default(),
        config,
    });
    let (templates, template_controller) = template_controller(
        &client,
        watch_namespace.as_deref(),
        reporter.clone(),
        shutdown.clone(),
        context.clone(),
    );
    let (requests, request_controller) =
        request_controller(&client, watch_namespace.as_deref(), reporter, shutdown, context);
    let stores = (catalog.clone(), templates, requests);
    let api = match options.api {
        Some(api) => Some(serve_portal(api, &client, stores, &portal_config).await?),
        None => None,
    };

    info!(
        namespace = watch_namespace.as_deref().unwrap_or("(all)"),
        "goldpath is running"
    );
    let controllers = async {
        tokio::join!(template_controller, request_controller, catalog_controller);
        let _ = stopped.send(());
    };
    // The election ends early only when leadership is lost; otherwise it
    // ends after the controllers, releasing the Lease.
    tokio::pin!(election);
    let outcome = tokio::select! {
        () = controllers => election.await,
        lost = &mut election => lost,
    };
    for server in [server, api].into_iter().flatten() {
        server.abort();
    }
    match &outcome {
        Ok(()) => info!("goldpath stopped"),
        Err(error) => warn!(%error, "goldpath stopped"),
    }
    outcome
}

/// This process's leadership, and the election that ends when leadership is
/// lost or, after `controllers_stopped`, releases the Lease. Without a Lease
/// the process always leads.
fn lead(
    client: &Client,
    lease: Option<LeaseOptions>,
    shutdown: &leader::Stopping,
    controllers_stopped: tokio::sync::oneshot::Receiver<()>,
) -> (
    Leadership,
    futures::future::BoxFuture<'static, anyhow::Result<()>>,
) {
    let controllers_stopped = async move {
        let _ = controllers_stopped.await;
    };
    match lease {
        Some(lease) => {
            let (leadership, election) =
                leader::elect(client.clone(), lease, shutdown.clone(), controllers_stopped);
            (leadership, election.boxed())
        }
        None => (
            Leadership::always(shutdown.clone()),
            controllers_stopped.map(Ok).boxed(),
        ),
    }
}

/// A store of `K`'s objects, and the stream of those whose spec changed
/// (their generation). A controller is woken by that, not by the status it
/// writes itself: otherwise each status write would wake it at once and
/// override the backoff of a failed attempt.
fn spec_changes<K>(
    client: &Client,
    namespace: Option<&str>,
    reporter: Arc<guard::Reporter>,
) -> (
    reflector::Store<K>,
    impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
)
where
    K: guard::Stand
        + Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let trigger = reflector::reflector(
        writer,
        guard::watch(
            guard::api::<K>(client, namespace),
            watcher::Config::default().any_semantic(),
            reporter,
        ),
    )
    .applied_objects()
    .predicate_filter(predicates::generation, PredicateConfig::default());
    (store, trigger)
}

/// The store of Templates and the Template controller, until `shutdown`.
fn template_controller(
    client: &Client,
    namespace: Option<&str>,
    reporter: Arc<guard::Reporter>,
    shutdown: leader::Stopping,
    context: Arc<Context>,
) -> (reflector::Store<Template>, impl Future<Output = ()> + use<>) {
    let (store, trigger) = spec_changes::<Template>(client, namespace, reporter);
    let metrics = context.metrics.clone();
    let controller = Controller::for_stream(trigger, store.clone())
        .with_config(controller::Config::default().concurrency(context.config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(
            |template, context| instrumented("Template", template, context, template::reconcile),
            template::error_policy,
            context,
        )
        .for_each(move |result| {
            log_result("Template", &metrics, result);
            std::future::ready(())
        });
    (store, controller)
}

/// The store of ScaffoldRequests and the ScaffoldRequest controller, until
/// `shutdown`.
fn request_controller(
    client: &Client,
    namespace: Option<&str>,
    reporter: Arc<guard::Reporter>,
    shutdown: leader::Stopping,
    context: Arc<Context>,
) -> (
    reflector::Store<ScaffoldRequest>,
    impl Future<Output = ()> + use<>,
) {
    let (store, trigger) = spec_changes::<ScaffoldRequest>(client, namespace, reporter.clone());
    let waiting = store.clone();
    let requests = store.clone();
    // A Template's status (checked, Ready) is what waiting requests wait
    // for, so every change of a Template wakes them.
    let template_changes = guard::watch(
        guard::api::<Template>(client, namespace),
        watcher::Config::default().any_semantic(),
        reporter,
    )
    .applied_objects();
    let metrics = context.metrics.clone();
    let controller = Controller::for_stream(trigger, store)
        .watches_stream(template_changes, move |template| {
            request::waiting_on(&waiting, &template)
        })
        .watches(
            request::approvals(client, namespace),
            watcher::Config::default(),
            request::decided_by,
        )
        .with_config(controller::Config::default().concurrency(context.config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(
            |request, context| instrumented("ScaffoldRequest", request, context, request::reconcile),
            request::error_policy,
            context,
        )
        .for_each(move |result| {
            log_result("ScaffoldRequest", &metrics, result);
            std::future::ready(())
        });
    (requests, controller)
}

/// Starts the HTTP endpoint on `address`.
async fn serve_http(
    address: std::net::SocketAddr,
    metrics: &Arc<Metrics>,
    catalog: &Arc<Catalog>,
    log_level: Option<LogLevel>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot serve HTTP on {address}: {e}"))?;
    let figures = catalog.clone();
    let endpoint = http::Endpoint {
        telemetry: Telemetry::new(metrics, Arc::new(move || figures.figures())),
        catalog: catalog.clone(),
        log_level,
    };
    Ok(tokio::spawn(http::serve(listener, Arc::new(endpoint))))
}

/// What the portal API reads: the stores the controllers keep.
struct Stores {
    catalog: Arc<Catalog>,
    templates: reflector::Store<Template>,
    requests: reflector::Store<ScaffoldRequest>,
}

impl crate::portal::Source for Stores {
    fn entities(&self) -> Vec<Arc<crate::catalog::cached::CachedEntity>> {
        self.catalog.entities()
    }

    fn templates(&self) -> Vec<Arc<Template>> {
        self.templates.state()
    }

    fn requests(&self) -> Vec<Arc<ScaffoldRequest>> {
        self.requests.state()
    }
}

/// Starts the portal API.
async fn serve_portal(
    options: ApiOptions,
    client: &Client,
    (catalog, templates, requests): (
        Arc<Catalog>,
        reflector::Store<Template>,
        reflector::Store<ScaffoldRequest>,
    ),
    config: &Config,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let stores = Arc::new(Stores {
        catalog,
        templates,
        requests,
    });
    let tls = match options.tls.as_ref() {
        Some(files) => {
            let reloading = crate::portal::tls::Reloading::new(files)?;
            let acceptor = reloading.acceptor()?;
            tokio::spawn(reloading.watch());
            Some(acceptor)
        }
        None => None,
    };
    let address = options.address;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot serve the portal API on {address}: {e}"))?;
    let portal = crate::portal::Portal::new(client.clone(), stores, &config.portal.cors_origins)
        .with_config(config.clone());
    Ok(tokio::spawn(crate::portal::serve(
        listener,
        tls,
        Arc::new(portal),
    )))
}

impl Shared for Context {
    fn leadership(&self) -> &Leadership {
        &self.leadership
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// Counts and logs what a controller reports: a reconcile that ran, or
/// failed, or trouble of the controller's own (a watch that fails, an
/// object gone before its turn), which is logged and not counted.
fn log_result<K: Resource>(
    kind: &str,
    metrics: &Metrics,
    result: Result<(ObjectRef<K>, Action), controller::Error<Error, watcher::Error>>,
) {
    match result {
        Ok(_) => metrics.reconciled(kind, None),
        Err(controller::Error::ReconcilerFailed(error, object)) => {
            metrics.reconciled(kind, Some(error.metric_label()));
            warn!(kind, object = %object, %error, "reconcile failed");
        }
        Err(controller::Error::ObjectNotFound(object)) => {
            tracing::debug!(kind, object = %object, "gone before its reconcile");
        }
        Err(error) => warn!(kind, %error, "the controller could not watch or queue"),
    }
}

/// Resolves on SIGTERM or SIGINT.
fn shutdown_signal() -> leader::Stopping {
    async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    warn!(%error, "cannot listen for SIGTERM");
                    futures::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = terminate => info!("SIGTERM: finishing the reconciles under way"),
            _ = tokio::signal::ctrl_c() => info!("SIGINT: finishing the reconciles under way"),
        }
    }
    .boxed()
    .shared()
}

/// `<Kind> <namespace>/<name>` of an object: how messages name it, and
/// its key in the retry counts.
fn key<K: Resource<DynamicType = ()>>(object: &K) -> String {
    format!(
        "{} {}/{}",
        K::kind(&()),
        object.namespace().unwrap_or_default(),
        object.name_any()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_one_second_doubling_to_a_minute() {
        let retries = Retries::default();
        let waits: Vec<u64> = (0..9).map(|_| retries.next("a").as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // Within a minute of the first failure: attempts at 0, 1, 3, 7, 15
        // and 31 s.
        let mut at = 0;
        let fresh = Retries::default();
        let attempts = 1 + std::iter::from_fn(|| {
            at += fresh.next("b").as_secs();
            Some(at)
        })
        .take_while(|at| *at < 60)
        .count();
        assert_eq!(attempts, 6);
        assert_eq!(retries.next("other").as_secs(), 1, "counted per object");
        retries.reset("a");
        assert_eq!(retries.next("a").as_secs(), 1);
    }

    #[test]
    fn retry_counts_are_bounded() {
        let retries = Retries::default();
        for object in 0..RETRIES_LIMIT * 3 {
            retries.next(&object.to_string());
            let kept = retries.counts.lock().unwrap().len();
            assert!(kept <= RETRIES_LIMIT, "{kept}");
        }
        // An object still counted keeps its count when others are added.
        let retries = Retries::default();
        retries.next("kept");
        for object in 0..RETRIES_LIMIT - 1 {
            retries.next(&object.to_string());
        }
        assert_eq!(retries.next("kept").as_secs(), 2);
    }

    #[test]
    fn long_event_notes_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("short".into(), 10), "short");
        let cut = truncate("ééééé".into(), 6);
        assert_eq!(cut, "é...");
        assert!(cut.len() <= 6);
    }

    #[test]
    fn errors_are_counted_under_a_few_fixed_labels() {
        let api = |code| Error::Kube {
            context: "writing the status of Template a/b".into(),
            source: kube::Error::Api(Box::new(kube::core::Status {
                code,
                message: format!("a message that varies {code}"),
                ..kube::core::Status::default()
            })),
        };
        let labels: Vec<&str> = [403, 404, 409, 422, 429, 500, 503, 400]
            .into_iter()
            .map(|code| api(code).metric_label())
            .collect();
        assert_eq!(
            labels,
            [
                "forbidden",
                "not_found",
                "conflict",
                "invalid",
                "throttled",
                "server_error",
                "server_error",
                "refused"
            ]
        );
        assert_eq!(Error::Worker("panicked".into()).metric_label(), "worker");
        let missing = Error::Kube {
            context: String::new(),
            source: kube::Error::Discovery(kube::error::DiscoveryError::MissingKind("Widget".into())),
        };
        assert_eq!(missing.metric_label(), "discovery");
    }

    #[test]
    fn only_what_may_pass_later_is_transient() {
        let api = |code| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..kube::core::Status::default()
            }))
        };
        for code in [409, 429, 500, 503] {
            assert!(is_transient(&api(code)), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(!is_transient(&api(code)), "{code}");
        }
        let missing = kube::Error::Discovery(kube::error::DiscoveryError::MissingKind("Widget".into()));
        assert!(!is_transient(&missing));
    }
}
