//! The controllers `goldpath run` starts: Templates are resolved and
//! checked, ScaffoldRequests run their steps. Each reconciles from the
//! object's status, so an operator that restarts picks up where it stopped.

mod conditions;
mod effects;
mod request;
mod template;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::controller::{self, Action, Controller};
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use tracing::{info, warn};

use crate::api::{ScaffoldRequest, Template};
use crate::config::Config;

pub use conditions::set_condition;

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
    templates: template::Cache,
    retries: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// Publishes an Event about `object`; `action` says which part of the
    /// work it is about (e.g. `Step publish`). A failure to publish is
    /// logged, not returned: Events are best effort. Events are written
    /// directly, not kept to be counted as series, so the operator's memory
    /// does not grow with the requests it has run.
    async fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let regarding = object.object_ref(&());
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
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        };
        if let Err(error) = Api::<Event>::namespaced(self.client.clone(), &namespace)
            .create(&PostParams::default(), &event)
            .await
        {
            warn!(%error, reason, "could not publish an Event");
        }
    }

    /// The delay before the next attempt at `key` after a transient
    /// failure: 1 s, doubling to a minute.
    fn backoff(&self, key: &str) -> Duration {
        let mut retries = self.retries.lock().unwrap_or_else(PoisonError::into_inner);
        let attempt = retries.entry(key.to_string()).or_insert(0);
        *attempt = attempt.saturating_add(1);
        Duration::from_secs(1u64 << (*attempt - 1).min(6)).min(Duration::from_secs(60))
    }

    fn succeeded(&self, key: &str) {
        self.retries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
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
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) => false,
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
}

/// Runs the controllers until SIGTERM or SIGINT; then in-flight reconciles
/// finish and it returns.
pub async fn run(client: Client, config: Config, options: RunOptions) -> anyhow::Result<()> {
    let watch_namespace = options.watch_namespace.clone();
    let context = Arc::new(Context {
        client: client.clone(),
        namespace: options.namespace,
        git_cache: options.git_cache,
        instance: options.instance.unwrap_or_else(|| "goldpath".into()),
        templates: template::Cache::default(),
        retries: Mutex::default(),
        config,
    });
    let shutdown = shutdown_signal();
    let (templates, requests) = match &options.watch_namespace {
        Some(namespace) => (
            Api::<Template>::namespaced(client.clone(), namespace),
            Api::<ScaffoldRequest>::namespaced(client.clone(), namespace),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let concurrency = context.config.concurrency;

    let template_controller = Controller::new(templates.clone(), watcher::Config::default().any_semantic())
        .with_config(controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown.clone())
        .run(template::reconcile, template::error_policy, context.clone())
        .for_each(|result| async move { log_result("Template", result) });

    let request_controller = Controller::new(requests, watcher::Config::default().any_semantic());
    let store = request_controller.store();
    let request_controller = request_controller
        .watches(
            templates,
            watcher::Config::default().any_semantic(),
            move |template| request::waiting_on(&store, &template),
        )
        .with_config(controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown)
        .run(request::reconcile, request::error_policy, context)
        .for_each(|result| async move { log_result("ScaffoldRequest", result) });

    info!(
        namespace = watch_namespace.as_deref().unwrap_or("(all)"),
        "goldpath is running"
    );
    tokio::join!(template_controller, request_controller);
    info!("goldpath stopped");
    Ok(())
}

fn log_result<K: Resource, E: std::fmt::Display>(kind: &str, result: Result<(ObjectRef<K>, Action), E>) {
    if let Err(error) = result {
        warn!(kind, %error, "reconcile failed");
    }
}

/// Resolves on SIGTERM or SIGINT.
fn shutdown_signal() -> futures::future::Shared<futures::future::BoxFuture<'static, ()>> {
    use futures::FutureExt;
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
    fn long_event_notes_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("short".into(), 10), "short");
        let cut = truncate("ééééé".into(), 6);
        assert_eq!(cut, "é...");
        assert!(cut.len() <= 6);
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
        for code in [400, 403, 404, 422] {
            assert!(!is_transient(&api(code)), "{code}");
        }
    }
}
