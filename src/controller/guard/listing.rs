//! Watches whose initial list always finishes.
//!
//! kube-runtime's watcher lists in pages of 500. The API server serves a
//! `resourceVersion=0` list from its watch cache in one response, but while
//! that cache is (re)initializing it pages through etcd, and each page's
//! continue token names an etcd revision that compaction (every 5 minutes)
//! removes. A list that takes longer than that, because the catalog is large
//! and the machine is loaded, fails with `410 Expired` ("the provided
//! continue parameter is too old"); the watcher then starts the same paged
//! list again, which expires again, and the operator never becomes ready.
//! Here a watch whose paged list expired lists without pages from then on:
//! one request at one revision, with no token to expire. It costs the whole
//! list in memory at once, which is why it is the fallback and not the rule.

use futures::{Stream, StreamExt};
use kube::Api;
use kube::runtime::watcher::{self, Event, watcher};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use tracing::warn;

/// The events of a watch on `api` with `config`, as kube-runtime's
/// [`watcher`] gives them, except that after a paged list expired every
/// later list is unpaged.
pub fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send + 'static
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let paged = watcher(api.clone(), config.clone()).boxed();
    futures::stream::unfold(
        (paged, Some((api, config))),
        |(mut events, mut paged)| async move {
            let event = events.next().await?;
            if let Err(error) = &event
                && expired(error)
                && let Some((api, config)) = paged.take()
            {
                warn!(
                    list = %api.resource_url(),
                    "a paged list outlasted its continue token; listing without pages from now on"
                );
                // The failed watcher would only list from the start again;
                // this one does so without pages.
                events = watcher(api, unpaged(config)).boxed();
            }
            Some((event, (events, paged)))
        },
    )
}

/// Whether a list failed because its continue token's revision was
/// compacted away.
fn expired(error: &watcher::Error) -> bool {
    matches!(error, watcher::Error::InitialListFailed(kube::Error::Api(status)) if status.code == 410)
}

fn unpaged(config: watcher::Config) -> watcher::Config {
    watcher::Config {
        page_size: None,
        ..config
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
            let (status, body) = if query.contains("continue=") {
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
        assert!(asked[0].contains("limit=500"), "{asked:?}");
        assert!(asked[1].contains("continue=token"), "{asked:?}");
        assert!(!asked[2].contains("limit="), "then unpaged: {asked:?}");
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
