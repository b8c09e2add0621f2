//! Watches whose initial list always finishes, without holding every
//! object at once.
//!
//! A watch begins with the objects there are. kube-runtime can get them as
//! a list or, since Kubernetes 1.32 serves it by default, as the first
//! events of the watch itself (a streaming list, `sendInitialEvents`). A
//! list of a `resourceVersion=0` the API server answers from its watch cache
//! in one response: the whole catalog as one body, read and decoded at once
//! (at 100,000 entities, hundreds of megabytes on top of the cache, and
//! the managed fields of every object before they are stripped). A
//! streaming list sends the same objects one event at a time, each decoded,
//! stripped and stored before the next; so it is the rule here.
//!
//! An API server that does not stream answers the watch with `400` or `422`;
//! the watch then lists in pages of 500. While the watch cache is
//! (re)initializing the API server pages through etcd, and each page's
//! continue token names an etcd revision that compaction (every 5 minutes)
//! removes: a list that takes longer than that, because the catalog is large
//! and the machine is loaded, fails with `410 Expired` ("the provided
//! continue parameter is too old"), and the same paged list would start
//! again and expire again, forever. After that the watch lists without
//! pages: one request at one revision, with no token to expire.
//!
//! A streaming list's watch asks the API server to keep it open an hour (as
//! every later watch of the same stream), not kube-runtime's default of 290
//! seconds: cut before its last object, the initial stream would start over
//! from the first.

use futures::{Stream, StreamExt};
use kube::Api;
use kube::runtime::watcher::{self, Event, watcher};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use tracing::warn;

/// How long the API server keeps a streaming watch open, in seconds.
const STREAMING_TIMEOUT: u32 = 3600;

/// How a watch gets its first objects; each stage is left only for the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Streaming,
    Paged,
    Unpaged,
}

/// The events of a watch on `api` with `config`, as kube-runtime's
/// [`watcher`] gives them, with the initial objects streamed; listed in
/// pages where the API server does not stream, and without pages after a
/// paged list expired.
pub fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let streaming = watcher(api.clone(), stage_config(&config, Stage::Streaming)).boxed();
    futures::stream::unfold(
        (streaming, Stage::Streaming, api, config),
        |(mut events, mut stage, api, config)| async move {
            let event = events.next().await?;
            if let Err(error) = &event
                && let Some(next) = next_stage(stage, error)
            {
                warn!(
                    list = %api.resource_url(),
                    %error,
                    "{}",
                    match next {
                        Stage::Paged => "the API server does not stream the initial objects; listing them in pages",
                        _ => "a paged list outlasted its continue token; listing without pages from now on",
                    }
                );
                // The failed watcher would only start the same way again.
                stage = next;
                events = watcher(api.clone(), stage_config(&config, stage)).boxed();
            }
            Some((event, (events, stage, api, config)))
        },
    )
}

/// The stage after `stage` when `error` says the API server will not serve
/// it: a streaming list it refuses as a request it does not know, or a
/// paged list whose continue token's revision was compacted away.
fn next_stage(stage: Stage, error: &watcher::Error) -> Option<Stage> {
    let code = match error {
        watcher::Error::WatchStartFailed(kube::Error::Api(status)) => status.code,
        watcher::Error::WatchError(status) => status.code,
        watcher::Error::InitialListFailed(kube::Error::Api(status)) => status.code,
        _ => return None,
    };
    match (stage, code) {
        (Stage::Streaming, 400 | 422) => Some(Stage::Paged),
        (Stage::Paged, 410) => Some(Stage::Unpaged),
        _ => None,
    }
}

fn stage_config(config: &watcher::Config, stage: Stage) -> watcher::Config {
    match stage {
        Stage::Streaming => {
            let streaming = config.clone().streaming_lists();
            match streaming.timeout {
                Some(_) => streaming,
                None => streaming.timeout(STREAMING_TIMEOUT),
            }
        }
        Stage::Paged => config.clone(),
        Stage::Unpaged => watcher::Config {
            page_size: None,
            ..config.clone()
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use http_body_util::Full;
    use hyper::body::Bytes;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::Client;
    use serde_json::json;

    use super::*;

    /// What the stub API server was asked: one query string per list.
    type Asked = Arc<Mutex<Vec<String>>>;

    /// An API server whose continue tokens have always expired, as etcd's
    /// after a compaction: a first page answers with a token, the token
    /// answers `410 Expired`, and a list without a limit answers in full.
    fn expiring_server(objects: usize) -> (Client, Asked) {
        let asked = Asked::default();
        let log = asked.clone();
        let item = |i: usize| json!({"metadata": {"name": format!("c{i}"), "namespace": "ns", "resourceVersion": "7"}});
        let service = tower::service_fn(move |request: hyper::Request<kube::client::Body>| {
            let query = request.uri().query().unwrap_or_default().to_string();
            log.lock().unwrap().push(query.clone());
            let (status, body) = if query.contains("sendInitialEvents=true") {
                // As an API server without streaming lists refuses one.
                (
                    422,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422,
                    "message": "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"}),
                )
            } else if query.contains("continue=") {
                (
                    410,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired", "code": 410,
                    "message": "The provided continue parameter is too old to display a consistent list result."}),
                )
            } else if query.contains("limit=") {
                (
                    200,
                    json!({"kind": "ConfigMapList", "apiVersion": "v1",
                    "metadata": {"resourceVersion": "7", "continue": "token"}, "items": [item(0)]}),
                )
            } else {
                (
                    200,
                    json!({"kind": "ConfigMapList", "apiVersion": "v1",
                    "metadata": {"resourceVersion": "7"}, "items": (0..objects).map(item).collect::<Vec<_>>()}),
                )
            };
            let response = hyper::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap();
            std::future::ready(Ok::<_, std::convert::Infallible>(response))
        });
        (Client::new(service, "ns"), asked)
    }

    /// The objects of the list that finished first (`true`), or of the
    /// last one begun when none finished within `limit` events.
    async fn until_listed<S>(events: S, limit: usize) -> (Vec<String>, bool)
    where
        S: Stream<Item = Result<Event<ConfigMap>, watcher::Error>>,
    {
        let mut names = Vec::new();
        let mut events = std::pin::pin!(events);
        for _ in 0..limit {
            match events.next().await {
                // A list that starts again starts from nothing, as the
                // store and the index do.
                Some(Ok(Event::Init)) => names.clear(),
                Some(Ok(Event::InitApply(object))) => names.push(object.metadata.name.unwrap_or_default()),
                Some(Ok(Event::InitDone)) => return (names, true),
                Some(_) => {}
                None => break,
            }
        }
        (names, false)
    }

    #[tokio::test]
    async fn a_list_whose_continue_token_expired_finishes_unpaged() {
        let (client, asked) = expiring_server(3);
        let api: Api<ConfigMap> = Api::namespaced(client, "ns");
        let (names, listed) = until_listed(watch(api, watcher::Config::default()), 50).await;
        assert!(listed, "the list finished: {:?}", asked.lock().unwrap());
        assert_eq!(names, ["c0", "c1", "c2"], "the unpaged list's objects, once each");
        let asked = asked.lock().unwrap().clone();
        assert!(
            asked[0].contains("sendInitialEvents=true"),
            "streaming first: {asked:?}"
        );
        assert!(asked[1].contains("limit=500"), "then paged: {asked:?}");
        assert!(asked[2].contains("continue=token"), "{asked:?}");
        assert!(!asked[3].contains("limit="), "then unpaged: {asked:?}");
    }

    /// An API server that streams a watch's initial objects, as Kubernetes
    /// does since 1.32: each object an event, then a bookmark marking the
    /// end. It answers any list with `500`, so a watch that lists fails.
    fn streaming_server(objects: usize) -> (Client, Asked) {
        let asked = Asked::default();
        let log = asked.clone();
        let service = tower::service_fn(move |request: hyper::Request<kube::client::Body>| {
            let query = request.uri().query().unwrap_or_default().to_string();
            log.lock().unwrap().push(query.clone());
            let (status, body) = if query.contains("sendInitialEvents=true") {
                let mut lines: Vec<String> = (0..objects)
                    .map(|i| {
                        json!({"type": "ADDED", "object": {"kind": "ConfigMap", "apiVersion": "v1",
                            "metadata": {"name": format!("c{i}"), "namespace": "ns", "resourceVersion": "7"}}})
                        .to_string()
                    })
                    .collect();
                lines.push(
                    json!({"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1",
                        "metadata": {"resourceVersion": "7", "annotations": {"k8s.io/initial-events-end": "true"}}}})
                    .to_string(),
                );
                (200, lines.join("\n") + "\n")
            } else if query.contains("watch=true") {
                (200, String::new())
            } else {
                (
                    500,
                    json!({"kind": "Status", "apiVersion": "v1", "code": 500, "message": "no lists here"})
                        .to_string(),
                )
            };
            let response = hyper::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap();
            std::future::ready(Ok::<_, std::convert::Infallible>(response))
        });
        (Client::new(service, "ns"), asked)
    }

    #[tokio::test]
    async fn the_initial_objects_are_streamed_one_event_at_a_time_not_listed() {
        let (client, asked) = streaming_server(3);
        let api: Api<ConfigMap> = Api::namespaced(client, "ns");
        let (names, listed) = until_listed(watch(api, watcher::Config::default().any_semantic()), 50).await;
        assert!(
            listed,
            "the stream ended its initial objects: {:?}",
            asked.lock().unwrap()
        );
        assert_eq!(names, ["c0", "c1", "c2"]);
        let asked = asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 1, "one watch, no list: {asked:?}");
        assert!(asked[0].contains("sendInitialEvents=true"), "{asked:?}");
        assert!(asked[0].contains("timeoutSeconds=3600"), "{asked:?}");
    }

    #[tokio::test]
    async fn kube_runtimes_own_watcher_never_finishes_that_list() {
        // What the fallback is for: the same server keeps the plain watcher
        // listing its first page and failing on the second, forever.
        let (client, asked) = expiring_server(3);
        let api: Api<ConfigMap> = Api::namespaced(client, "ns");
        let (_, listed) = until_listed(watcher(api, watcher::Config::default()), 50).await;
        assert!(!listed);
        let asked = asked.lock().unwrap();
        assert!(asked.len() > 4, "{asked:?}");
        assert!(asked.iter().all(|query| query.contains("limit=")), "{asked:?}");
    }
}
